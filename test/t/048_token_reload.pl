
# 048_token_reload.pl - no token request is made with credentials a reload
# removed.
#
# The worker resolves its configuration anew at a reload; payment requests
# it claimed before (waiting for a slot) are started after it.  Their
# product's token belonged to the old credentials, so a new one was fetched
# at once -- with an API key that was no longer set: the token request
# carried "(null)".  Now no fetch starts unless the product's configuration
# is complete (momo_settings_check); the payments are given back unsent.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

start_sandbox();
my $node = momo_node('token_reload', extra_conf => "momo.max_in_flight = 1\nmomo.request_timeout = '30s'");
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

my $first = request_payment($node, msisdn => '46733000200', external_id => 'r-0');
is(await_payment($node, $first, seconds => 60)->{status}, 'successful', 'collection has a token');

# One payment request at a time, each answered 5 s late: the others wait.
sandbox_post('/_sandbox/config', { delay_ms => 5000 });
my @refs = split /\n/, $node->safe_psql('postgres',
	"SELECT momo_request_to_pay(100, 'EUR', '46733000200', 'r-' || i) FROM generate_series(1, 4) i");
my $deadline = time() + 30;
my @posted;
while (time() < $deadline)
{
	@posted = grep { defined sandbox_get("/_sandbox/requests/$_") } @refs;
	last if @posted;
	usleep(50_000);
}
is(scalar @posted, 1, 'one payment request is in flight, the others wait');

# The API key is removed while it is in flight.
my $mark = scalar @{ sandbox_get('/_sandbox/token-requests') };
$node->safe_psql('postgres', "ALTER SYSTEM SET momo.api_key = ''");
$node->reload;
ok(poll_until($node, 'postgres',
		"SELECT coalesce(problem, '') LIKE '%momo.api_key is not set%' FROM momo_worker_status()", 't', 30),
	'the worker tells that momo.api_key is not set');
my $row = await_payment($node, $posted[0], seconds => 30);
is($row->{attempts}, 1, 'the payment request in flight was answered');

my @log = @{ sandbox_get('/_sandbox/token-requests') };
is(scalar(@log) - $mark, 0, 'no token request was made without an API key')
  or diag(explain([ @log[ $mark .. $#log ] ]));
for my $ref (grep { $_ ne $posted[0] } @refs)
{
	my $r = payment_row($node, $ref);
	is("$r->{status}/$r->{attempts}", 'queued/0', "payment $ref: queued, never sent");
}

# The key comes back: every payment goes through.
sandbox_post('/_sandbox/config', { delay_ms => 0 });
$node->safe_psql('postgres', 'ALTER SYSTEM RESET momo.api_key');
$node->reload;
for my $ref (@refs)
{
	is(await_payment($node, $ref, seconds => 60)->{status}, 'successful', "payment $ref: successful");
}

$node->stop;
done_testing();
