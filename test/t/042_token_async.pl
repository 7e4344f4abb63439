
# 042_token_async.pl - the worker never waits for an access token.  MTN's
# token endpoint (the sandbox, with token_delay_ms) answers 5 s late; the
# worker fetches tokens on its multi handle with the payments' requests,
# so that:
#   - a product without a valid token (its credentials just changed) is
#     left aside until its token comes, while the other product's payments
#     go out: a payout's POST reaches the sandbox before the slow
#     collection token request is answered, and the collection payment goes
#     out once it has been;
#   - a token due for refresh is still used while the new one is fetched:
#     a payment committed then reaches the sandbox before the slow refresh
#     is answered;
#   - the subscription-key rules hold for those fetches: a refused primary
#     key sends collection to its secondary (logged once), and once MTN
#     accepts the primary again the next refresh brings it back (logged
#     once), its calls carrying the primary only;
#   - a fetch that fails is told (momo_worker_status) as before, and the
#     product's payments wait, queued, until a token comes;
#   - a payment answered 401 (a revoked token) waits for the new token and
#     is repeated with it: no failed attempt.
# The witness is the sandbox's own order of events (the payments'
# accepted_event against the token requests' answered_event, one sequence:
# /_sandbox/token-requests), not a clock: a worker that fetches tokens
# synchronously sends nothing while it waits for one.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $K1 = $CRED{sub_key_primary};
my $K2 = $CRED{sub_key_secondary};
my $K3 = '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b03';    # never sent: only the primary is used
my $K4 = '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b04';    # the same
my $SLOW_MS = 5000;

start_sandbox();
my $node = momo_node('token_async', extra_conf => join("\n",
		"momo.disbursement_subscription_key_primary = '$K1'",
		"momo.disbursement_subscription_key_secondary = '$K2'",
		"momo.disbursement_api_user = '$CRED{api_user}'",
		"momo.disbursement_api_key = '$CRED{api_key}'",
		"momo.request_timeout = '30s'"));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

# The token requests the sandbox received, in order (see its README).
sub token_log { return sandbox_get('/_sandbox/token-requests') // [] }

# The first collection token request after the first $mark ones that was
# answered late (token_delay_ms), once it has been answered (undef after 60 s).
sub slow_token_request
{
	my ($mark) = @_;
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		my @log = @{ token_log() };
		my ($t) = grep { $_->{product} eq 'collection' && $_->{delay_ms} > 0 } @log[ $mark .. $#log ];
		return $t if $t && $t->{answered_event} > 0;
		usleep(50_000);
	}
	return undef;
}

# The sandbox's record of a payment once it accepted it (undef after 60 s).
sub accepted
{
	my ($ref) = @_;
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		my $rec = sandbox_get("/_sandbox/requests/$ref");
		return $rec if $rec && $rec->{accepted_event} > 0;
		usleep(20_000);
	}
	return undef;
}

sub payout
{
	my ($ext) = @_;
	return $node->safe_psql('postgres', "SELECT momo_transfer(5, 'EUR', '46733000201', '$ext')");
}

sub status_of
{
	my ($ref) = @_;
	my $row = await_payment($node, $ref, seconds => 60);
	return $row ? $row->{status} : 'none';
}

# Waits until a token of 20 s fetched before $since (the success of a
# payment sent with it) is due for refresh: halfway through its life.
sub wait_until_due
{
	my ($since) = @_;
	usleep(100_000) while time() < $since + 10.5;
}

############################################################################
# 1. Collection has no valid token (its credentials changed) and its token
# endpoint is slow; disbursement has a fresh token.
is(status_of(payout('payout-0')), 'successful', 'a payout: disbursement has a token');
is(status_of(request_payment($node, msisdn => '46733000200', external_id => 'c-0')), 'successful',
	'a collection payment: collection has a token');
sandbox_post('/_sandbox/config', { token_delay_ms => $SLOW_MS });
my $mark = scalar @{ token_log() };
ok(set_momo($node, subscription_key_secondary => $K3), "collection's credentials change: its token is no longer valid");

my $c1 = request_payment($node, msisdn => '46733000200', external_id => 'c-1');
my $d1 = payout('payout-1');
my $d1_rec = accepted($d1);
my $c1_rec = accepted($c1);
my $t1 = slow_token_request($mark);
ok($d1_rec && $c1_rec && $t1, 'the sandbox accepted both payments, and answered the slow collection token request');
ok($t1 && $d1_rec && $d1_rec->{accepted_event} < $t1->{answered_event},
	'the payout reached MTN before the slow collection token request was answered')
  or diag('sandbox events: payout accepted at ' . ($d1_rec ? $d1_rec->{accepted_event} : '?')
	  . ', token request received at ' . ($t1 ? $t1->{received_event} : '?')
	  . ', answered at ' . ($t1 ? $t1->{answered_event} : '?'));
ok($t1 && $c1_rec && $c1_rec->{accepted_event} > $t1->{answered_event},
	'the collection payment went out once its token came')
  or diag('collection payment accepted at ' . ($c1_rec ? $c1_rec->{accepted_event} : '?'));
is($t1 && $t1->{status}, 200, 'the slow token request was answered 200');
is(status_of($d1), 'successful', 'the payout is successful');
is(status_of($c1), 'successful', 'the collection payment is successful');

############################################################################
# 2. Collection's token is valid but due for refresh (tokens of 20 s are due
# halfway through their life, after 10 s), and its token endpoint is slow:
# the old token is used meanwhile.
sandbox_post('/_sandbox/config', { token_delay_ms => 0, token_lifetime => 20 });
ok(set_momo($node, subscription_key_secondary => $K4), 'new credentials again');
is(status_of(request_payment($node, msisdn => '46733000200', external_id => 'c-2')), 'successful',
	'a collection payment: collection has a token of 20 s');
wait_until_due(time());
sandbox_post('/_sandbox/config', { token_delay_ms => $SLOW_MS });
$mark = scalar @{ token_log() };
my $c3 = request_payment($node, msisdn => '46733000200', external_id => 'c-3');
my $c3_rec = accepted($c3);
my $t3 = slow_token_request($mark);
ok($c3_rec && $t3, 'the sandbox accepted the payment and answered the slow refresh');
ok($t3 && $c3_rec && $c3_rec->{accepted_event} < $t3->{answered_event},
	'the payment reached MTN before the slow refresh was answered')
  or diag('sandbox events: payment accepted at ' . ($c3_rec ? $c3_rec->{accepted_event} : '?')
	  . ', refresh received at ' . ($t3 ? $t3->{received_event} : '?')
	  . ', answered at ' . ($t3 ? $t3->{answered_event} : '?'));
is(status_of($c3), 'successful', 'the payment is successful');
my @during = grep { $_->{product} eq 'collection' && $_->{received_event} < ($t3 ? $t3->{answered_event} : 0) }
  @{ token_log() }[ $mark .. $#{ token_log() } ];
is(scalar(@during), 1, 'one refresh at a time: no other collection token request while it was under way');

############################################################################
# 3. The key rules, on tokens fetched in the background: collection's
# primary key is refused, and its token (of other credentials) not valid.
sandbox_post('/_sandbox/config', { token_delay_ms => 0 });
sandbox_post('/_sandbox/keys', { refuse => ["collection=$K1"] });
my $pos = log_position($node);
ok(set_momo($node, subscription_key_secondary => $K2), 'collection has its secondary key again');
is(status_of(request_payment($node, msisdn => '46733000200', external_id => 'c-4')), 'successful',
	'primary refused: the payment goes through');
my $log = log_since($node, $pos);
is(count_matches($log, qr/MTN refused the collection primary subscription key; switching to the secondary key/),
	1, 'the switch to the secondary key is logged, once');
my @c4 = grep { $_->{product} eq 'collection' } @{ token_log() };
ok((grep { $_->{status} == 401 } @c4) && (grep { $_->{status} == 200 } @c4),
	'a token request was refused (the primary), another answered (the secondary)');

# MTN accepts the primary again: the next refresh, once the token is due,
# tries it first, and brings collection back to it.
wait_until_due(time());
$pos = log_position($node);
sandbox_post('/_sandbox/keys', { refuse => [] });
is(status_of(request_payment($node, msisdn => '46733000200', external_id => 'c-5')), 'successful',
	'primary accepted again: the payment goes through');
ok(wait_for_log_count($node, qr/MTN accepts the collection primary subscription key again; switching back to it/,
		1, $pos, 30), 'the switch back to the primary is logged');
sandbox_post('/_sandbox/reset-stats');
is(status_of(request_payment($node, msisdn => '46733000200', external_id => 'c-6')), 'successful',
	'another payment');
my $seen = sandbox_get('/_sandbox/keys')->{seen}{collection};
is(join(',', sort keys %$seen), $K1, 'collection: every call and token request with the primary key since');
is(count_matches(log_since($node, $pos), qr/switching/), 1, 'one switch logged since');
unlike(log_since($node, 0), qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:/,
	'no API user and key in the server log');

############################################################################
# 4. A fetch in the background that fails is told as a fetch that failed was
# told before (momo_worker_status), while the other product goes on; with
# the right credentials again, the payment that waited goes through and the
# problem is gone.
my $problem = "SELECT coalesce(problem, '') FROM momo_worker_status()";
ok(set_momo($node, api_key => '00000000000000000000000000000000'), 'a wrong collection API key');
my $c7 = request_payment($node, msisdn => '46733000200', external_id => 'c-7');
ok(poll_until($node, 'postgres', "SELECT ($problem) LIKE '%no collection access token: %'", 't', 30),
	'the worker tells that no collection token comes');
is(status_of(payout('payout-2')), 'successful', 'a payout goes through meanwhile');
is(payment_row($node, $c7)->{status}, 'queued', 'the collection payment waits, queued');
ok(set_momo($node, api_key => $CRED{api_key}), 'the right API key again');
is(status_of($c7), 'successful', 'the collection payment goes through');
ok(poll_until($node, 'postgres', "SELECT ($problem) LIKE '%access token%'", 'f', 30),
	'the problem is gone');

############################################################################
# 5. MTN refuses a token before it expires (the sandbox revokes them all):
# the payment answered 401 waits for the new token, fetched slowly in the
# background, and is repeated with it, as the synchronous path did; the
# 401 is no failed attempt of the payment.
sandbox_post('/_sandbox/config', { token_delay_ms => 0, token_lifetime => 3600 });
ok(set_momo($node, subscription_key_secondary => $K3), 'new credentials: a token of an hour');
is(status_of(request_payment($node, msisdn => '46733000200', external_id => 'c-8')), 'successful',
	'a collection payment');
sandbox_post('/_sandbox/config', { token_delay_ms => 2000 });
sandbox_post('/_sandbox/expire-tokens');
$mark = scalar @{ token_log() };
my $unauthorized = sandbox_get('/_sandbox/stats')->{unauthorized};
my $c9 = request_payment($node, msisdn => '46733000200', external_id => 'c-9');
is(status_of($c9), 'successful', 'the payment that met the revoked token is successful');
ok(sandbox_get('/_sandbox/stats')->{unauthorized} > $unauthorized, 'the sandbox answered 401 on the way');
my $t9 = slow_token_request($mark);
my $c9_rec = accepted($c9);
ok($t9 && $c9_rec && $c9_rec->{accepted_event} > $t9->{answered_event},
	'the payment was accepted with the token fetched after the 401');
my $c9_row = payment_row($node, $c9);
is("$c9_row->{attempts}/$c9_row->{retries}", '1/0', 'one attempt, no retry: the 401 was repeated with the new token');

$node->stop;
done_testing();
