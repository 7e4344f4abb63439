
# 011_resend.pl - what an answer to a resend may and may not decide.  A
# refusal (400, or a 500, even with a "permanent" code) answering a RESEND says
# nothing about the earlier send, which may have reached MTN and charged the
# payer: momo asks MTN about the payment instead of failing it.  And a status
# check an application asks for (momo_payment_status) never resets the
# worker's clocks (the NOT_DELIVERED age, the retry backoff).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();
my $node = momo_node('resend', extra_conf => join("\n",
		'momo.max_attempts = 2',
		"momo.disbursement_subscription_key_primary = '$CRED{sub_key_primary}'",
		"momo.disbursement_api_user = '$CRED{api_user}'",
		"momo.disbursement_api_key = '$CRED{api_key}'"));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

############################################################################
# The first send reaches MTN (stored) but its answer is lost (the connection
# drops); MTN answers the resend with 400.
sandbox_post('/_sandbox/config', '{"drop_first": 1, "conflict_status": 400}');
my $ref = request_payment($node, external_id => 'resend-400');
my $row = await_payment($node, $ref, seconds => 60);
is($row->{status}, 'successful', 'a refused resend does not fail a payment MTN holds: it is successful');
my $seen = sandbox_get("/_sandbox/requests/$ref");
is($seen->{posts}, 2, 'MTN got the first send and the refused resend');
is($seen->{accepted}, 1, '... and stored the payment once');
ok($seen->{status_gets} >= 1, 'momo asked MTN with a GET before deciding');
is($node->safe_psql('postgres', "SELECT send_refused FROM momo_payments WHERE reference_id = '$ref'"),
	't', 'the row says the resend was refused');
# (a red team found it successful with reason BAD_REQUEST, the refusal's)
is($node->safe_psql('postgres', "SELECT coalesce(reason, 'none') FROM momo_payments WHERE reference_id = '$ref'"),
	'none', '... and a successful payment has no failure reason');
sandbox_post('/_sandbox/config', '{"drop_first": 0, "conflict_status": 409}');

# The same, while MTN still answers 404 for a while after it accepted the
# first send (its lag after a 202): a refusal stands only once MTN has not
# known the payment for momo.not_delivered_after, so the payment is not
# failed -- and an application's retry under the same external_id would not
# charge the payer a second time.  (An independent audit found it failed at
# the first 404.)
sandbox_post('/_sandbox/config', '{"drop_first": 1, "conflict_status": 400, "not_found_ms": 3000}');
$ref = request_payment($node, external_id => 'resend-400-404-window');
$row = await_payment($node, $ref, seconds => 60);
is($row->{status}, 'successful', 'a refused resend during MTN\'s 404 window: successful, as MTN says');
is(sandbox_get("/_sandbox/requests/$ref")->{accepted}, 1, '... stored once by MTN');
is($node->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE external_id = 'resend-400-404-window'"),
	'1', '... one payment row');
sandbox_post('/_sandbox/config', '{"drop_first": 0, "conflict_status": 409, "not_found_ms": 0}');

# The same for a refund, whose wrong failure would let a later refund
# exceed what was collected: it ends as MTN says, and nothing more can be
# refunded.
$ref = request_payment($node, external_id => 'to-refund');
is(await_payment($node, $ref)->{status}, 'successful', 'a payment to refund');
sandbox_post('/_sandbox/config', '{"drop_first": 1, "conflict_status": 400}');
my $refund = $node->safe_psql('postgres', "SELECT momo_refund('$ref', NULL, 'refund-resend-400')");
$row = await_payment($node, $refund, seconds => 60);
sandbox_post('/_sandbox/config', '{"drop_first": 0, "conflict_status": 409}');
is($row->{status}, 'successful', 'a refund whose resend MTN refused: successful, as MTN says');
$seen = sandbox_get("/_sandbox/requests/$refund");
is("$seen->{posts} posts, $seen->{accepted} stored", '2 posts, 1 stored', '... MTN got it twice and stored it once');
my ($rc_r, $out_r, $err_r) = $node->psql('postgres', "SELECT momo_refund('$ref', NULL, 'refund-again')");
like($err_r, qr/already refunded in full/, '... and a second refund of the whole is refused');

# MTN answers every resend with HTTP 500, and a code no retry cures
# (NOT_ALLOWED), while it holds the first send: a permanent refusal of the
# resend says nothing of the first send either.  Not failed, not charged
# twice: momo asks MTN, which says successful.  The same with a 500 whose
# code is transient (INTERNAL_PROCESSING_ERROR) on every resend, until the
# sends (momo.max_attempts = 2) are used up.
for my $case (['permanent', 'true', 'NOT_ALLOWED'], ['internal', 'false', 'INTERNAL_PROCESSING_ERROR'])
{
	my ($name, $permanent, $code) = @$case;
	sandbox_post('/_sandbox/config', qq({"drop_first": 1, "conflict_status": 500, "conflict_permanent": $permanent}));
	$ref = request_payment($node, external_id => "resend-500-$name");
	$row = await_payment($node, $ref, seconds => 60);
	sandbox_post('/_sandbox/config', '{"drop_first": 0, "conflict_status": 409, "conflict_permanent": false}');
	is($row->{status}, 'successful', "a resend answered 500 $code: successful, as MTN says");
	$seen = sandbox_get("/_sandbox/requests/$ref");
	is($seen->{accepted}, 1, '... MTN stored the payment once');
	# A refusal stands at once, so the permanent one ends the sending; a
	# transient 500 is tried again while sends are left.
	my $posts = $name eq 'permanent' ? 2 : 3;
	is($seen->{posts}, $posts, "... $posts POSTs: the first send and the resends MTN refused");
	ok($seen->{status_gets} >= 1, '... momo asked MTN with a GET before deciding');
	is($node->safe_psql('postgres', "SELECT coalesce(reason, 'none') FROM momo_payments WHERE reference_id = '$ref'"),
		'none', '... no failure reason');
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM momo_events WHERE reference_id = '$ref' AND http_status = 500"),
		$posts - 1, "... each 500 $code is in momo_events");
}

# Without a resend, conflict_status changes nothing.
sandbox_post('/_sandbox/config', '{"conflict_status": 400}');
$ref = request_payment($node, external_id => 'first-send-fine');
is(await_payment($node, $ref)->{status}, 'successful', 'conflict_status alone changes nothing for a first send');
sandbox_post('/_sandbox/config', '{"conflict_status": 409}');

############################################################################
# Every send fails (MTN stores nothing), so after momo.max_attempts the
# worker asks, and MTN answers 404: the NOT_DELIVERED clock starts.  An
# application's momo_payment_status must not restart it.
sandbox_post('/_sandbox/config', '{"fail_first": 1000000}');
$ref = request_payment($node, external_id => 'never-delivered');
ok(poll_until($node, 'postgres',
		"SELECT not_found_since IS NOT NULL FROM momo_payments WHERE reference_id = '$ref'", 't', 60),
	'the worker ran out of sends and MTN does not know the payment');
my $before = $node->safe_psql('postgres',
	"SELECT not_found_since, retries, attempts FROM momo_payments WHERE reference_id = '$ref'");
my ($rc, $out, $err) = $node->psql('postgres', "SELECT status FROM momo_payment_status('$ref')");
is($out, 'queued', 'momo_payment_status: still queued (MTN answers 404)');
like($err, qr/MTN gave no status/, 'momo_payment_status says MTN gave no status');
my $after = $node->safe_psql('postgres',
	"SELECT not_found_since, retries, attempts FROM momo_payments WHERE reference_id = '$ref'");
my ($since_b) = split /\|/, $before;
my ($since_a) = split /\|/, $after;
is($since_a, $since_b, 'momo_payment_status left the NOT_DELIVERED clock alone');
# The same when MTN answers the application's check with a transient error
# (500), which says nothing of the payment: the clock and the retry count
# stay as the worker left them.  The worker's own next check is put an hour
# away first, so that only the application's check can change the row.
ok(set_momo($node, poll_interval_min => '1h', poll_interval_max => '1h'), 'the worker checks hourly');
ok(poll_until($node, 'postgres',
		"SELECT next_check_at > now() + interval '50 minutes' FROM momo_payments WHERE reference_id = '$ref'",
		't', 60),
	'the worker\'s next check of it is an hour away');
$before = $node->safe_psql('postgres',
	"SELECT not_found_since, retries, attempts, next_check_at FROM momo_payments WHERE reference_id = '$ref'");
sandbox_post('/_sandbox/config', '{"fail_share": 100}');
($rc, $out, $err) = $node->psql('postgres', "SELECT status FROM momo_payment_status('$ref')");
sandbox_post('/_sandbox/config', '{"fail_share": 0}');
is($out, 'queued', 'momo_payment_status answered 500: still queued');
like($err, qr/MTN gave no status/, '... and says MTN gave no status');
$after = $node->safe_psql('postgres',
	"SELECT not_found_since, retries, attempts, next_check_at FROM momo_payments WHERE reference_id = '$ref'");
is($after, $before, '... the NOT_DELIVERED clock, retries, sends and schedule unchanged');
$node->safe_psql('postgres',
	'ALTER SYSTEM RESET momo.poll_interval_min; ALTER SYSTEM RESET momo.poll_interval_max; SELECT pg_reload_conf()');
ok(poll_until($node, 'postgres', "SELECT current_setting('momo.poll_interval_min')", '100ms', 30),
	'checks as before');
sandbox_post('/_sandbox/config', '{"fail_first": 0}');

############################################################################
# A payment MTN keeps pending (46733123454 stays CREATED) is checked on the
# long tail once it is older than momo.attention_after, shows up in
# momo_attention and momo_stats, and is never failed for its age.
ok(set_momo($node, attention_after => '2s', long_tail_interval => '1h'), 'long-tail settings');
$ref = request_payment($node, msisdn => '46733123454', external_id => 'stays-pending');
ok(poll_until($node, 'postgres',
		"SELECT status FROM momo_attention WHERE reference_id = '$ref'", 'pending', 30),
	'a payment pending past momo.attention_after is listed in momo_attention');
ok(poll_until($node, 'postgres',
		"SELECT next_check_at > now() + interval '50 minutes' FROM momo_payments WHERE reference_id = '$ref'",
		't', 30),
	'its next status check is on the long tail (about an hour away)');
is($node->safe_psql('postgres', "SELECT value >= 1 FROM momo_stats WHERE metric = 'needing_attention'"),
	't', 'momo_stats counts it');
is($node->safe_psql('postgres', "SELECT status FROM momo_payments WHERE reference_id = '$ref'"),
	'pending', 'and it is still pending, not failed');
ok(set_momo($node, attention_after => '1h'), 'settings back');

############################################################################
# MTN counts every status check.  An application polling momo_payment_status
# in a loop spends the same budget (momo.status_checks_per_second) as the
# worker: 20 calls in a row reach MTN no faster than that rate (each waits a
# second at most for its turn, and is answered from the table with a NOTICE
# if none comes).
ok(set_momo($node, status_checks_per_second => '2'), 'status checks limited to 2 per second');
$ref = request_payment($node, msisdn => '46733123454', external_id => 'polled-in-a-loop');
ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$ref'", 'pending', 30),
	'a pending payment');
my $gets_before = sandbox_get("/_sandbox/requests/$ref")->{status_gets};
my $loop = q{
	SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
	DO $$ BEGIN FOR i IN 1..20 LOOP PERFORM momo_payment_status('REF'); END LOOP; END $$;
	SELECT extract(epoch FROM clock_timestamp()) - :t0;
};
$loop =~ s/REF/$ref/;
($rc, $out, $err) = $node->psql('postgres', $loop);
my $secs = $out;
my $gets = sandbox_get("/_sandbox/requests/$ref")->{status_gets} - $gets_before;
cmp_ok($gets, '<=', 2 * $secs + 3,
	sprintf('%d status GETs reached MTN in %.1f s of polling, at most 2 a second (+ the worker\'s)', $gets, $secs));
is($rc, 0, 'every call answered') or diag($err);
ok(set_momo($node, status_checks_per_second => '0'), 'no limit again');

done_testing();
