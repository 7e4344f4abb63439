
# 047_token_outage.pl - a token outage uses up no attempt of any payment.
#
# Every token is revoked and MTN's token endpoint times out.  The revoked
# token used to stay in the shared slot: every claim sent it and got 401
# again; a 401 whose new token could not come (the fetch failed, or the
# next could not start yet) became final and counted as a send, with a
# false error ("a new access token is being fetched"), and the worker's
# problem came and went.  Now a token MTN refused is forgotten, so that
# the product waits for a new one, and a call answered 401 that gets no
# new token is given back unsent: MTN processed nothing of it.
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
my $node = momo_node('token_outage', extra_conf => "momo.request_timeout = '2s'");
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

my $first = request_payment($node, msisdn => '46733000200', external_id => 'o-0');
is(await_payment($node, $first, seconds => 60)->{status}, 'successful', 'collection has a token');

# The outage: every token revoked, token requests answered after the timeout.
sandbox_post('/_sandbox/expire-tokens');
sandbox_post('/_sandbox/config', { token_delay_ms => 5000 });
my $stats = sandbox_get('/_sandbox/stats');
my ($unauthorized, $token_requests) = @$stats{qw(unauthorized token_requests)};
my @refs = map { request_payment($node, msisdn => '46733000200', external_id => "o-$_") } 1 .. 3;

# Three token requests (each 2 s, a second apart at least) fail meanwhile.
my $deadline = time() + 60;
usleep(100_000) while sandbox_get('/_sandbox/stats')->{token_requests} < $token_requests + 4 && time() < $deadline;
$stats = sandbox_get('/_sandbox/stats');
cmp_ok($stats->{token_requests} - $token_requests, '>=', 4, 'token requests were made, and timed out');
cmp_ok($stats->{unauthorized} - $unauthorized, '<=', 3,
	'the revoked token is not sent again once MTN refused it')
  or diag($stats->{unauthorized} - $unauthorized . ' 401 answers');
for my $ref (@refs)
{
	my $row = payment_row($node, $ref);
	is("$row->{status}/$row->{attempts}", 'queued/0', "payment $ref: queued, no attempt used");
	unlike($row->{last_error} // '', qr/being fetched/, "payment $ref: no false error");
}
like($node->safe_psql('postgres', "SELECT coalesce(problem, '') FROM momo_worker_status()"),
	qr/no collection access token/, 'the worker tells that no token comes');

# The token endpoint recovers: every payment goes through.
sandbox_post('/_sandbox/config', { token_delay_ms => 0 });
for my $ref (@refs)
{
	my $row = await_payment($node, $ref, seconds => 60);
	is("$row->{status}/$row->{attempts}", 'successful/1', "payment $ref: successful, sent once");
}
is($node->safe_psql('postgres', "SELECT coalesce(problem, '') FROM momo_worker_status()"), '',
	'no problem told once tokens come');

$node->stop;
done_testing();
