
# 028_status_budget_starvation.pl - a tenant of one database must not be
# able to take every status check of the cluster.
#
# momo.status_checks_per_second is one budget for the whole cluster: every
# database's worker and every backend's momo_payment_status take from it.
# A backend waiting for its turn looks every 10 ms and takes a check as soon
# as one is there; the worker takes only when one more than it needs is left
# ("always leaves one for the backends").  So a tenant with EXECUTE on
# momo_payment_status (the README's grants) that asks about its own pending
# payment in a loop, from a couple of sessions, takes every check as it
# comes: no worker of any database checks anything any more, and every other
# payment of the cluster stays pending for as long as the loop runs.  (So it
# did, found by a red team; now the backends together take at most half the
# rate, from a bucket of their own.)
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();
my $node = momo_node('budget', databases => '*',
	extra_conf => 'momo.status_checks_per_second = 2');

# Database shop_a: a tenant with the README's grants.
$node->safe_psql('postgres', 'CREATE DATABASE shop_a');
$node->safe_psql('postgres', 'CREATE DATABASE shop_b');
$node->safe_psql('shop_a', q{
	CREATE EXTENSION momo;
	CREATE ROLE tenant_a LOGIN;
	GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
		momo_payment_status(uuid), momo_await(uuid, interval),
		momo_changes(bigint, integer) TO tenant_a;
	GRANT SELECT ON momo_payments TO tenant_a;
});
$node->safe_psql('shop_b', 'CREATE EXTENSION momo');
ok(defined wait_for_worker($node, db => 'shop_a'), 'shop_a has its worker');
ok(defined wait_for_worker($node, db => 'shop_b'), 'shop_b has its worker');

# The tenant's payment that the sandbox keeps pending (CREATED) for ever.
my $mine = $node->safe_psql('shop_a',
	"SELECT momo_request_to_pay(10, 'EUR', '46733123454', 'a-1')",
	extra_params => [ '-U', 'tenant_a' ]);
ok(poll_until($node, 'shop_a',
		"SELECT status FROM momo_payments WHERE reference_id = '$mine'", 'pending', 30),
	"the tenant's payment is pending");

# Two sessions of the tenant ask about it in a loop (each call waits a
# second at most for a check, so a loop of 600 lasts minutes).
my @loops;
for (1 .. 2)
{
	my $s = $node->background_psql('shop_a', extra_params => [ '-U', 'tenant_a' ]);
	$s->query_safe("SET client_min_messages = warning");
	$s->query_until(qr/started/, qq{
		\\echo started
		SELECT count(momo_payment_status('$mine')) FROM generate_series(1, 600);
	});
	push @loops, $s;
}

# Another database's payment, which needs one status check to complete.
my $theirs = request_payment($node, db => 'shop_b', msisdn => '46733000001');
ok(poll_until($node, 'shop_b',
		"SELECT status FROM momo_payments WHERE reference_id = '$theirs'", 'successful', 30),
	"another database's payment completes while a tenant of shop_a asks about its own in a loop");

$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = 'tenant_a'");
# The cancel ends each loop's query with an ERROR, and psql (ON_ERROR_STOP)
# with it: quitting may then write to a pipe already closed.
{
	local $SIG{PIPE} = 'IGNORE';
	eval { $_->quit; 1 } for @loops;
}
$node->stop;
done_testing();
