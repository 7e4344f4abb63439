
# 045_token_pause_race.pl - a payment request answered 401 is not repeated
# after its product was paused.
#
# A payment request answered 401 (a revoked token) waits for the token
# fetched slowly in the background; momo_pause of its product commits
# meanwhile.  When the token came, the request used to be sent again and MTN
# accepted the payment after the pause (before the token fetches moved to
# the background too: the synchronous fetch blocked the worker, then the
# 401 was repeated without a look at the pauses).  README ("Pausing and
# resuming sending"): while a product is paused no new payment request of
# it is sent.  The request is now given back unsent, as those claimed ahead
# are.
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
my $node = momo_node('token_pause_race', extra_conf => "momo.request_timeout = '30s'");
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

my $first = request_payment($node, msisdn => '46733000200', external_id => 'p-0');
is(await_payment($node, $first, seconds => 60)->{status}, 'successful', 'collection has a token');

# Every token is revoked; a new one comes 5 s late.
sandbox_post('/_sandbox/expire-tokens');
sandbox_post('/_sandbox/config', { token_delay_ms => 5000 });
my $unauthorized = sandbox_get('/_sandbox/stats')->{unauthorized};
my $ref = request_payment($node, msisdn => '46733000200', external_id => 'p-1');
my $deadline = time() + 30;
usleep(10_000) while sandbox_get('/_sandbox/stats')->{unauthorized} == $unauthorized && time() < $deadline;
ok(sandbox_get('/_sandbox/stats')->{unauthorized} > $unauthorized, 'the payment was answered 401');

# The operator pauses collection while the payment waits for the token.
$node->safe_psql('postgres', "SELECT momo_pause('incident', 'collection')");
my $paused_us = $node->safe_psql('postgres',
	"SELECT (extract(epoch FROM paused_at) * 1000000)::bigint FROM momo_pauses WHERE product = 'collection'");

# Wait for the slow token request to be answered, and a little more for a resend.
$deadline = time() + 30;
usleep(50_000) while !grep({ $_->{product} eq 'collection' && $_->{delay_ms} > 0 && $_->{answered_event} > 0 }
	@{ sandbox_get('/_sandbox/token-requests') // [] }) && time() < $deadline;
usleep(2_000_000);
my $rec = sandbox_get("/_sandbox/payments/$ref");
ok(!$rec || $rec->{accepted_us} < $paused_us,
	'MTN received no payment request of collection after the pause committed')
  or diag("accepted at $rec->{accepted_us} us, paused at $paused_us us");

is(payment_row($node, $ref)->{status}, 'queued', 'the payment waits, queued, while collection is paused');
$node->safe_psql('postgres', "SELECT momo_resume('collection')");
is(await_payment($node, $ref, seconds => 60)->{status}, 'successful', 'it goes through once collection resumes');
$node->stop;
done_testing();
