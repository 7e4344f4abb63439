
# 029_feed_tenant_lock.pl - one tenant must not be able to stop the change
# feed of every other tenant.
#
# momo_changes once numbered the committed changes under an exclusive lock
# (on the sequence the feed numbered from, since replaced by the row of
# momo_change_numbering: t/065) that it held until its caller's transaction
# ended; a poll that finds the lock taken returns only what is numbered
# already.  A tenant
# of the README's multi-tenant recipe (EXECUTE on momo_changes, SELECT on
# momo_payments under the policy) calls momo_changes once in a transaction
# and leaves it open (idle in transaction, or PREPARE TRANSACTION, which
# keeps the lock across restarts): from then on no change of any tenant is
# numbered, by any poll or by the worker, and every other tenant's poll
# returns nothing -- no error, no hint -- for as long as it likes.
#
# Run as the attacker would: tenant_a has exactly the recipe's grants.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();
my $node = momo_node('feed');

$node->safe_psql('postgres', q{
	CREATE EXTENSION momo;
	CREATE ROLE tenant_a LOGIN;
	CREATE ROLE tenant_b LOGIN;
	ALTER TABLE momo_payments ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_payments ON momo_payments FOR SELECT TO tenant_a, tenant_b
		USING (requested_by = current_user);
	GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
		momo_payment_status(uuid), momo_await(uuid, interval),
		momo_changes(bigint, integer) TO tenant_a, tenant_b;
	GRANT SELECT ON momo_payments TO tenant_a, tenant_b;
});

# Tenant A polls once and keeps its transaction open.
my $a = $node->background_psql('postgres', extra_params => [ '-U', 'tenant_a' ]);
$a->query_safe('BEGIN');
$a->query_safe('SELECT count(*) FROM momo_changes(0, 1)');

# Tenant B requests a payment (committed) and polls the feed for it.
my $ref = $node->safe_psql('postgres',
	"SELECT momo_request_to_pay(10, 'EUR', '46733123450', 'b-1')",
	extra_params => [ '-U', 'tenant_b' ]);
ok(poll_until($node, 'postgres',
		"SET ROLE tenant_b; SELECT count(*) > 0 FROM momo_changes(0, 100) WHERE reference_id = '$ref'",
		't', 30),
	"tenant B's poll sees its committed payment while tenant A's transaction is open");

# The same with a prepared transaction, which outlives A's session.
$a->query_safe('ROLLBACK');
$a->query_safe('BEGIN');
$a->query_safe('SELECT count(*) FROM momo_changes(0, 1)');
$a->query_safe("PREPARE TRANSACTION 'a_poll'");
$a->quit;
my $ref2 = $node->safe_psql('postgres',
	"SELECT momo_request_to_pay(10, 'EUR', '46733123450', 'b-2')",
	extra_params => [ '-U', 'tenant_b' ]);
ok(poll_until($node, 'postgres',
		"SET ROLE tenant_b; SELECT count(*) > 0 FROM momo_changes(0, 100) WHERE reference_id = '$ref2'",
		't', 30),
	"tenant B's poll sees its committed payment while tenant A's poll is a prepared transaction");
$node->safe_psql('postgres', "ROLLBACK PREPARED 'a_poll'");

$node->stop;
done_testing();
