
# 040_health.pl - momo_health(), each check provoked for real: the worker,
# payments waiting and pending too long, MTN refusing every token, no
# successful exchange, a burst of failures, forged callbacks, a burst of
# payments from one number, amounts near momo.max_amount, a failure rate
# above the day's; and who may ask.
# Each check is polled until it says what it must (bounded), never slept for.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();
my $node = momo_node('health', databases => '*', allows_streaming => 1,
	extra_conf => "momo.callback_secret = 'health-test-secret-0123456789abcdef'");
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(defined wait_for_worker($node), 'the worker runs');

# status|value of one check
sub check_is
{
	my ($check, $want, $what) = @_;
	ok(poll_until($node, 'postgres',
			"SELECT status FROM momo_health() WHERE check_name = '$check'", $want, 30),
		"$check: $want ($what)");
}

sub reason_of
{
	my ($check) = @_;
	return $node->safe_psql('postgres', "SELECT reason FROM momo_health() WHERE check_name = '$check'");
}

# A healthy start: every check ok, and the first row says so.
ok(poll_until($node, 'postgres', "SELECT status FROM momo_health() WHERE check_name = 'momo'", 'ok', 30),
	'a fresh install is healthy');
is($node->safe_psql('postgres', 'SELECT count(*) FROM momo_health()'), '13', 'thirteen rows: momo and twelve checks');
is($node->safe_psql('postgres', "SELECT check_name FROM momo_health() LIMIT 1"), 'momo', 'the worst comes first');

# Who may ask: no one but the superuser, until granted EXECUTE; a granted role
# needs no grant on momo's tables (momo_health reads them as their owner).
$node->safe_psql('postgres', 'CREATE ROLE nobody LOGIN; CREATE ROLE oncall LOGIN');
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT * FROM momo_health()',
	extra_params => [ '-U', 'nobody' ]);
like($err, qr/permission denied for function momo_health/, 'a role without EXECUTE is refused');
$node->safe_psql('postgres', 'GRANT EXECUTE ON FUNCTION momo_health() TO oncall');
is($node->safe_psql('postgres', 'SELECT status FROM momo_health() LIMIT 1', extra_params => [ '-U', 'oncall' ]),
	'ok', 'a monitoring role with EXECUTE only gets the answer');

# Forged callbacks: ten in an hour is the default warning.
$node->safe_psql('postgres', "SELECT momo_callback('momo_ref=' || gen_random_uuid() || '&momo_sig=00', '{}') FROM generate_series(1, 10)");
check_is('forged_callbacks', 'warning', 'ten forged callbacks');
like(reason_of('forged_callbacks'), qr/^10 callback/, 'the reason counts them');
check_is('momo', 'warning', 'the first row takes the worst');

# A burst from one number: ten payments its payer declines (the sandbox
# rejects 46733123451) in five minutes.  A warning -- suspicious, not an
# outage -- and declines by payers are no failure of the service: a tenant
# whose customers decline cannot page on-call.
$node->safe_psql('postgres', "SELECT momo_request_to_pay(10, 'EUR', '46733123451', 'rej-' || i) FROM generate_series(1, 10) i");
ok(poll_until($node, 'postgres', "SELECT count(*) FROM momo_payments WHERE status = 'failed'", '10', 30),
	'ten payments declined');
check_is('payer_burst', 'warning', 'ten payments from one number in 10 minutes');
my $burst = reason_of('payer_burst');
unlike($burst, qr/46733123451/, 'the payer number is not shown');
like($burst, qr/467\*+51/, 'it is shown masked');
check_is('failure_rate_5m', 'ok', 'ten payments declined by their payer');
like(reason_of('failure_rate_5m'), qr/^0 of 10 payment\(s\) failed .*10 more were declined by their payers; reasons: APPROVAL_REJECTED 10/,
	'the reason counts the declines apart');

# Failures of the service: ten more that MTN fails (46733123450,
# INTERNAL_PROCESSING_ERROR): half of the last five minutes' payments.
$node->safe_psql('postgres', "SELECT momo_request_to_pay(10, 'EUR', '46733123450', 'ipe-' || i) FROM generate_series(1, 10) i");
check_is('failure_rate_5m', 'critical', 'ten of twenty payments failed for MTN');
like(reason_of('failure_rate_5m'), qr/^10 of 20 payment\(s\) failed .*reasons: (INTERNAL_PROCESSING_ERROR 10, APPROVAL_REJECTED 10|APPROVAL_REJECTED 10, INTERNAL_PROCESSING_ERROR 10)$/,
	'the reason names each reason once');

# Amounts near momo.max_amount: five of at least 90 % of it.
set_momo($node, max_amount => '1000');
$node->safe_psql('postgres', "SELECT momo_request_to_pay(950, 'EUR', '4673300' || (1000 + i), 'big-' || i) FROM generate_series(1, 5) i");
check_is('near_max_amount', 'warning', 'five payments of 950 with a maximum of 1000');

# An operator pauses collection: a warning, and the payments that queue
# meanwhile wait as they should -- the queue does not page, however long.
set_momo($node, health_queued_age => '1s');
$node->safe_psql('postgres', "SELECT momo_pause('planned maintenance INC-7')");
check_is('paused', 'warning', "an operator's pause");
unlike(reason_of('paused'), qr/INC-7/, "the operator's reason is not shown (it is in momo_pauses)");
my $held = request_payment($node, msisdn => '46733000066', external_id => 'held');
ok(poll_until($node, 'postgres', "SELECT now() - created_at > interval '6 seconds' FROM momo_payments WHERE reference_id = '$held'", 't', 30),
	'a payment has waited more than five times momo.health_queued_age');
is($node->safe_psql('postgres', "SELECT status || ' ' || reason FROM momo_health() WHERE check_name = 'oldest_queued'"),
	'ok no payment waits to be sent (1 wait for their product to be resumed)',
	'oldest_queued: it waits for the pause, and does not page');
$node->safe_psql('postgres', "SELECT momo_resume()");
ok(poll_until($node, 'postgres', "SELECT status <> 'queued' FROM momo_payments WHERE reference_id = '$held'", 't', 30),
	'resumed, it is sent');
set_momo($node, health_queued_age => '1min');

# Pending too long: the sandbox keeps 46733123454 CREATED for ever.
set_momo($node, health_pending_age => '1s');
my $stuck = request_payment($node, msisdn => '46733123454', external_id => 'stuck');
check_is('pending_too_long', 'warning', 'a payment pending for more than momo.health_pending_age');
check_is('pending_too_long', 'critical', 'and for more than four times it');

# MTN refuses every subscription key: no token, payments wait, no success.
set_momo($node, health_exchange_age => '2s');
sandbox_post('/_sandbox/keys', qq({"refuse": ["$CRED{sub_key_primary}", "$CRED{sub_key_secondary}"]}));
# a new token is needed: the sandbox revokes none, so the cached one is
# forgotten by asking with a changed API key setting (a new configuration)
set_momo($node, api_key => 'ffffffffffffffffffffffffffffffff');
my $waiting = request_payment($node, msisdn => '46733000077', external_id => 'waits');
check_is('tokens', 'critical', 'MTN gives no token');
like(reason_of('tokens'), qr/collection since/, 'the reason names the product and since when');
# The payment waits: made two minutes old (as superuser, past the guard on
# created_at) against momo.health_queued_age = 1min, a warning -- past it,
# not five times past it, for three minutes whatever the clock does; then
# with 1s, critical.
$node->safe_psql('postgres', "SET session_replication_role = replica;
	UPDATE momo_payments SET created_at = now() - interval '2 minutes' WHERE reference_id = '$waiting'");
check_is('oldest_queued', 'warning', 'the payment has waited twice momo.health_queued_age');
like(reason_of('oldest_queued'), qr/^1 payment\(s\) wait to be sent, the oldest for [23] min \(momo.health_queued_age: 60 s\)$/,
	'the reason says how long, against the threshold');
ok($node->safe_psql('postgres', "SELECT value FROM momo_health() WHERE check_name = 'oldest_queued'") >= 120,
	'the value is its age in seconds');
set_momo($node, health_queued_age => '1s');
check_is('oldest_queued', 'critical', 'the payment has waited more than five times momo.health_queued_age');
check_is('last_exchange', 'critical', 'payments are open and nothing succeeded within momo.health_exchange_age');
check_is('momo', 'critical', 'the first row is critical');

# MTN takes the keys again: the payment goes, the token check warns that it
# failed within the hour, and the rest recovers.
sandbox_post('/_sandbox/keys', '{"refuse": []}');
set_momo($node, api_key => $CRED{api_key});
ok(poll_until($node, 'postgres', "SELECT status <> 'queued' FROM momo_payments WHERE reference_id = '$waiting'", 't', 30),
	'the waiting payment is sent once a token comes');
check_is('tokens', 'warning', 'a token failed within the hour, and works again');
check_is('oldest_queued', 'ok', 'nothing waits');

# The failure rate against the last day's, in a database of its own (its
# own payments and change feed): twenty payments that succeeded two hours
# ago (their changes backdated as superuser), then ten in the last minutes
# of which three fail for MTN (46733123450): 30 %, under the critical half,
# but twice the day's 0 % and ten points above it -- a warning in both
# windows.  Then the same 30 % after a day that failed as often: no warning.
$node->safe_psql('postgres', 'CREATE DATABASE rates');
$node->safe_psql('rates', 'CREATE EXTENSION momo');
ok(defined wait_for_worker($node, db => 'rates'), 'a worker serves the database rates');

# settle($ok, $failing, $tag): $ok payments the sandbox accepts, $failing
# that MTN fails, in database rates; returns once all are final.
sub settle
{
	my ($n_ok, $n_failing, $tag) = @_;
	$node->safe_psql('rates',
		"SELECT momo_request_to_pay(10, 'EUR', '4673301' || lpad(i::text, 4, '0'), '$tag-ok-' || i) FROM generate_series(1, $n_ok) i;
		 SELECT momo_request_to_pay(10, 'EUR', '46733123450', '$tag-failing-' || i) FROM generate_series(1, $n_failing) i");
	ok(poll_until($node, 'rates',
			"SELECT count(*) FILTER (WHERE status = 'successful') || ' ' || count(*) FILTER (WHERE status = 'failed')"
			  . " FROM momo_payments WHERE external_id LIKE '$tag-%'", "$n_ok $n_failing", 60),
		"$tag: $n_ok successful, $n_failing failed");
}

# backdate(): every change of the last hour in database rates, two hours earlier
sub backdate
{
	$node->safe_psql('rates',
		"UPDATE momo_payment_changes SET changed_at = changed_at - interval '2 hours' WHERE changed_at > now() - interval '1 hour'");
}

sub rate_is
{
	my ($check, $want, $what) = @_;
	ok(poll_until($node, 'rates', "SELECT status || ' ' || value FROM momo_health() WHERE check_name = '$check'", $want, 30),
		"$check: $want ($what)");
}

settle(20, 0, 'day');
backdate();
rate_is('failure_rate_5m', 'ok 0', 'nothing final in the last five minutes');
settle(7, 3, 'now');
rate_is('failure_rate_5m', 'warning 0.3', 'three of ten failed for MTN against none the rest of the day');
rate_is('failure_rate_60m', 'warning 0.3', 'the same in the last hour');
like($node->safe_psql('rates', "SELECT reason FROM momo_health() WHERE check_name = 'failure_rate_5m'"),
	qr/^3 of 10 payment\(s\) failed in the last 5 minutes for MTN's or momo's reasons \(30%; the rest of the day: 0% of 20\), 0 more were declined by their payers; reasons: INTERNAL_PROCESSING_ERROR 3$/,
	"the reason gives the rate against the rest of the day's");
like($node->safe_psql('rates', "SELECT reason FROM momo_health() WHERE check_name = 'failure_rate_60m'"),
	qr/^3 of 10 payment\(s\) failed in the last 60 minutes .*\(30%; the rest of the day: 0% of 20\)/,
	'and so does the hour');

# A day that failed as often: those ten and ten more failed, two hours ago
# -- 13 of 40 -- and again three of ten now: as usual, no warning.
backdate();
settle(0, 10, 'bad-day');
backdate();
settle(7, 3, 'again');
rate_is('failure_rate_5m', 'ok 0.3', 'three of ten failed, as 13 of 40 did the rest of the day');
rate_is('failure_rate_60m', 'ok 0.3', 'the same in the last hour');
like($node->safe_psql('rates', "SELECT reason FROM momo_health() WHERE check_name = 'failure_rate_5m'"),
	qr/\(30%; the rest of the day: 3[23]% of 40\)/, "the rest of the day's rate is the day's");

# The worker: this database no longer served.
$node->safe_psql('postgres', 'CREATE DATABASE other');
set_momo($node, databases => 'other');
check_is('worker', 'critical', 'no worker serves this database');
like(reason_of('worker'), qr/no momo worker runs in this database/, 'and it says so');

# A standby: no worker, nothing sent there -- one row that says so, never a page.
$node->backup('health_backup');
my $standby = PostgreSQL::Test::Cluster->new('health_standby');
$standby->init_from_backup($node, 'health_backup', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT status || ' . "' '" . ' || reason FROM momo_health()'),
	'ok this server is a standby: momo sends nothing here, ask the primary',
	'on a standby, one row: ok, ask the primary');
$standby->stop;

$node->stop;
done_testing();
