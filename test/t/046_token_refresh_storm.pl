
# 046_token_refresh_storm.pl - a token that is due for refresh as it comes
# does not make the worker ask for tokens in a loop.
#
# With momo.token_refresh_margin at its maximum (3600 s) and MTN's tokens
# of an hour, every new token was due for refresh as soon as it came; each
# token that came made the worker claim at once, and while a payment waited
# that it could not send (of a paused product) each claim found the token
# due and started another fetch: thousands of token requests a second.  A
# token now falls due at the margin before it expires or halfway through its
# life, whichever comes later; and a product's next fetch starts a second
# (momo.retry_base, if longer) after the last one ended, at the earliest,
# also with tokens that last one second.
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
my $node = momo_node('token_storm', extra_conf => "momo.token_refresh_margin = 3600");
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

sub token_requests { return sandbox_get('/_sandbox/stats')->{token_requests} }

# Tokens of one second: due half a second after they come.
sandbox_post('/_sandbox/config', { token_lifetime => 1 });
my $first = request_payment($node, msisdn => '46733000200', external_id => 's-0');
is(await_payment($node, $first, seconds => 60)->{status}, 'successful', 'collection has a token');

# A payment the worker cannot send: collection is paused.
$node->safe_psql('postgres', "SELECT momo_pause('storm', 'collection')");
request_payment($node, msisdn => '46733000200', external_id => 's-1');
usleep(2_000_000);
my $before = token_requests();
usleep(5_000_000);
my $n = token_requests() - $before;
cmp_ok($n, '>=', 1, 'tokens of one second are refreshed');
cmp_ok($n, '<=', 6, 'at most one token request a second, with tokens of one second')
  or diag("$n token requests in 5 s");

# Tokens of an hour, with a margin of an hour: due after half an hour.
# (The token log says which lifetime each answer carried: a request may come
# between the change and any mark the test could take.)
my $mark = scalar @{ sandbox_get('/_sandbox/token-requests') };
sandbox_post('/_sandbox/config', { token_lifetime => 3600 });
my $deadline = time() + 30;
sub answered_since
{
	my @log = @{ sandbox_get('/_sandbox/token-requests') };
	return grep { $_->{answered_event} > 0 && $_->{lifetime} == 3600 } @log[ $mark .. $#log ];
}
usleep(50_000) while !answered_since() && time() < $deadline;
ok(answered_since(), 'a token of an hour came');
usleep(2_000_000);
$before = token_requests();
usleep(5_000_000);
$n = token_requests() - $before;
cmp_ok($n, '==', 0, 'a token of an hour is not due at once with a margin of an hour')
  or diag("$n token requests in 5 s");

$node->safe_psql('postgres', "SELECT momo_resume('collection')");
$node->stop;
done_testing();
