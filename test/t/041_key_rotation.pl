
# 041_key_rotation.pl - the README's key rotation runbook, step by step,
# while payments flow: no payment fails, none is taken twice.
#
# MTN's Partner Portal (and the sandbox, here) stops accepting a subscription
# key the moment it is regenerated, and an API key the moment a new one is
# made.  The runbook: regenerate the secondary subscription key and set it;
# regenerate the primary and set it; make a new API key and set it -- each
# setting applied with a reload.  Tokens here last 2 seconds (refreshed 1 s
# before they expire), so every window between a regeneration and its reload
# sees token requests refused.  Payments are requested all along, each in its
# own transaction.  Then the same with the keys in the server's environment,
# the server restarted with each new one.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use HTTP::Tiny;
use JSON::PP;
use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($K1, $K2) = ($CRED{sub_key_primary}, $CRED{sub_key_secondary});
my $K3 = '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b03';    # the secondary the portal will issue
my $K4 = '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b04';    # the primary it will issue

start_sandbox('--subscription-key', $K3, '--subscription-key', $K4);
sandbox_post('/_sandbox/keys', qq({"refuse": ["$K3", "$K4"]}));    # not issued yet
sandbox_post('/_sandbox/config', '{"token_lifetime": 2}');
my $node = momo_node('rotation', extra_conf => 'momo.token_refresh_margin = 1');
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(defined wait_for_worker($node), 'the worker runs');

# Payments flow until the test says stop (a file), each committed on its
# own in a connection of its own, about 20 ms apart, however long the steps
# take on this machine (a fixed number could run out before the last step,
# and MTN would then refuse momo nothing).  start_flow($tag, $retry): with
# $retry, a request that fails (a connection refused while the server
# restarts) is made again with the same external id, as an application
# must, for up to 60 s; without, the flow stops at the first error.
my $script = "$PostgreSQL::Test::Utils::tmp_check/rotation_payments.sh";
open(my $fh, '>', $script) or die "cannot write $script: $!";
print $fh <<'SH';
connstr=$1; stop=$2; tag=$3; retry=$4
i=0
while [ ! -e "$stop" ]; do
	i=$((i + 1))
	deadline=$((SECONDS + 60))
	until psql -X -q -At -d "$connstr" -c "SELECT momo_request_to_pay(10, 'EUR', '467330' || (10000 + $i), '$tag-$i')" >/dev/null; do
		[ "$retry" = 1 ] && [ "$SECONDS" -lt "$deadline" ] || { echo "$tag-$i: not requested" >&2; exit 1; }
		sleep 0.1
	done
	sleep 0.02
done
SH
close $fh;
my ($out, $err, $stop) = ('', '', '');

sub start_flow
{
	my ($tag, $retry) = @_;
	($out, $err) = ('', '');
	$stop = "$PostgreSQL::Test::Utils::tmp_check/$tag-stop";
	return IPC::Run::start([ 'bash', $script, $node->connstr('postgres'), $stop, $tag, $retry ],
		'>', \$out, '2>', \$err);
}

# stop_flow($flow, $tag): the number of payments the flow requested, once
# it stopped without an error.
sub stop_flow
{
	my ($flow, $tag, $what) = @_;
	open(my $f, '>', $stop) or die "cannot write $stop: $!";
	close $f;
	$flow->finish;
	is($?, 0, "every payment was requested$what") or diag($err);
	my $n = $node->safe_psql('postgres', 'SELECT count(*) FROM momo_payments');
	is($node->safe_psql('postgres', "SELECT count(DISTINCT external_id) FROM momo_payments WHERE external_id LIKE '$tag-%'"),
		$n, "$n payments requested, one for each external id");
	return $n;
}

my $flow = start_flow('rot', 0);
ok(poll_until($node, 'postgres', "SELECT count(*) >= 20 FROM momo_payments WHERE status = 'successful'", 't', 30),
	'payments flow');

# The number of payments requested so far (to see each step happen while they flow).
sub requested { return $node->safe_psql('postgres', 'SELECT count(*) FROM momo_payments') }

sub wait_more
{
	my ($since, $what) = @_;
	ok(poll_until($node, 'postgres', "SELECT count(*) > $since + 20 FROM momo_payments", 't', 30),
		"payments are requested after: $what");
}

# What the sandbox refused so far: token requests, and calls with a refused
# key or token.
sub refusals
{
	my $st = sandbox_get('/_sandbox/stats');
	return ($st->{token_rejected}, $st->{unauthorized});
}

# Waits (bounded) until the sandbox has refused momo something more than
# before (a token request, with $tokens_only) -- the window between a
# regeneration and its setting is exercised, whatever the timing -- and
# returns what was refused.
sub wait_refused
{
	my ($what, $tokens_only, @before) = @_;
	my $deadline = time() + 30;
	my @now;
	while (time() < $deadline)
	{
		@now = refusals();
		return @now if $now[0] > $before[0] || (!$tokens_only && $now[1] > $before[1]);
		select(undef, undef, undef, 0.05);
	}
	fail("the sandbox refused momo nothing after: $what");
	return @now;
}

# 1. The portal regenerates the secondary key: K2 stops working, K3 is issued.
sandbox_post('/_sandbox/keys', qq({"refuse": ["$K2", "$K4"]}));
my $n = requested();
wait_more($n, 'the secondary key is regenerated');
# 2. momo.subscription_key_secondary is set to it, and reloaded.
ok(set_momo($node, subscription_key_secondary => $K3), 'the new secondary key is set');
# 3. The portal regenerates the primary key: K1 stops working, K4 is issued
#    (momo goes to the secondary meanwhile: MTN refuses it the old primary).
my @before = refusals();
sandbox_post('/_sandbox/keys', qq({"refuse": ["$K1", "$K2"]}));
$n = requested();
my @after = wait_refused('the primary key is regenerated', 0, @before);
pass('MTN refused the old primary key to momo');
wait_more($n, 'the primary key is regenerated');
# 4. momo.subscription_key_primary is set to it, and reloaded.
ok(set_momo($node, subscription_key_primary => $K4), 'the new primary key is set');
$n = requested();
wait_more($n, 'the new primary key is set');

# 5. A new API key (the old one stops working at once), then set and reloaded.
my $r = HTTP::Tiny->new(timeout => 15)->post(sandbox_url() . "/v1_0/apiuser/$CRED{api_user}/apikey",
	{ headers => { 'Ocp-Apim-Subscription-Key' => $K4, 'Content-Type' => 'application/json' }, content => '' });
is($r->{status}, 201, 'a new API key is made');
my $new_key = decode_json($r->{content})->{apiKey};
@before = refusals();
# the next token (they last 2 s) is asked for with the old API key
@after = wait_refused('the API key is regenerated', 1, @before);
cmp_ok($after[0], '>', $before[0], 'MTN refused a token request with the old API key');
$n = requested();
ok(set_momo($node, api_key => $new_key), 'the new API key is set');
wait_more($n, 'the new API key is set');

my $N = stop_flow($flow, 'rot', ' without an error');

# Every payment completes, successful, taken once.
sub all_taken_once
{
	my ($node, $N) = @_;
	ok(poll_until($node, 'postgres', "SELECT count(*) FROM momo_payments WHERE status <> 'successful'", '0', 120),
		'every payment is successful');
	is($node->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE status = 'failed'"), '0', 'none failed');
	my $stored = sandbox_get('/_sandbox/payments');
	my %ours = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', 'SELECT reference_id FROM momo_payments');
	my @taken = grep { $ours{ $_->{referenceId} } } @$stored;
	is(scalar(@taken), $N, 'MTN holds each payment once');
	is(scalar(grep { $_->{accepted} != 1 } @taken), 0, 'each was accepted once');
	my %ext;
	$ext{ $_->{externalId} }++ for @taken;
	is(scalar(grep { $_ > 1 } values %ext), 0, 'no external id was charged twice');
}
all_taken_once($node, $N);
$node->stop;

############################################################################
# The same runbook with the secrets in the server's environment (README:
# change the file, restart PostgreSQL): each new key goes into the
# environment the server is restarted with, while payments flow.  The
# application here does what one must across a restart: a request that
# fails to connect is made again, with the same external id (momo returns
# the payment the first made, if it committed).
sandbox_post('/_sandbox/reset', '{}');
sandbox_post('/_sandbox/keys', qq({"refuse": ["$K3", "$K4"]}));
sandbox_post('/_sandbox/config', '{"token_lifetime": 2}');
my %env = (
	MOMO_SUBSCRIPTION_KEY_PRIMARY => $K1,
	MOMO_SUBSCRIPTION_KEY_SECONDARY => $K2,
	MOMO_API_USER => $CRED{api_user},
	MOMO_API_KEY => $CRED{api_key});
$node = momo_node('rotation_env', credentials => 0, env => \%env, extra_conf => join("\n",
		"momo.environment = 'sandbox'",
		"momo.base_url = '" . sandbox_url() . "'",
		"momo.target_environment = 'sandbox'",
		"momo.callback_url = 'https://localhost/momo/callback'",
		'momo.token_refresh_margin = 1'));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(defined wait_for_worker($node), 'the worker runs, its keys from the environment');
is($node->safe_psql('postgres', "SELECT current_setting('momo.api_key') || current_setting('momo.subscription_key_primary')"),
	'', 'no key is set in the configuration');

# restarted_with(what, name => value, ...): the server restarted (fast, as
# systemctl restart does) with those variables changed in its environment.
sub restarted_with
{
	my ($what, %set) = @_;
	@env{ keys %set } = values %set;
	$node->stop('fast');
	start_with_env($node, \%env);
	ok(defined wait_for_worker($node), "restarted with $what in the environment");
}

$flow = start_flow('env', 1);
ok(poll_until($node, 'postgres', "SELECT count(*) >= 20 FROM momo_payments WHERE status = 'successful'", 't', 30),
	'payments flow');

# 1. The secondary key is regenerated; the server restarted with it.
sandbox_post('/_sandbox/keys', qq({"refuse": ["$K2", "$K4"]}));
$n = requested();
wait_more($n, 'the secondary key is regenerated');
restarted_with('the new secondary key', MOMO_SUBSCRIPTION_KEY_SECONDARY => $K3);
$n = requested();
wait_more($n, 'the restart with the new secondary key');
# 2. The primary is regenerated: MTN refuses it, momo takes the new
#    secondary; then the server is restarted with the new primary.
@before = refusals();
sandbox_post('/_sandbox/keys', qq({"refuse": ["$K1", "$K2"]}));
@after = wait_refused('the primary key is regenerated', 0, @before);
pass('MTN refused the old primary key to momo');
$n = requested();
wait_more($n, 'the primary key is regenerated');
restarted_with('the new primary key', MOMO_SUBSCRIPTION_KEY_PRIMARY => $K4);
$n = requested();
wait_more($n, 'the restart with the new primary key');
# 3. A new API key: the old one is refused at the next token; the server is
#    restarted with the new one.
$r = HTTP::Tiny->new(timeout => 15)->post(sandbox_url() . "/v1_0/apiuser/$CRED{api_user}/apikey",
	{ headers => { 'Ocp-Apim-Subscription-Key' => $K4, 'Content-Type' => 'application/json' }, content => '' });
is($r->{status}, 201, 'a new API key is made');
$new_key = decode_json($r->{content})->{apiKey};
@before = refusals();
@after = wait_refused('the API key is regenerated', 1, @before);
cmp_ok($after[0], '>', $before[0], 'MTN refused a token request with the old API key');
restarted_with('the new API key', MOMO_API_KEY => $new_key);
$n = requested();
wait_more($n, 'the restart with the new API key');

$N = stop_flow($flow, 'env', ' (connections refused during the restarts asked again)');
all_taken_once($node, $N);
$node->stop;
done_testing();
