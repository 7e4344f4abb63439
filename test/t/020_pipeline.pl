
# 020_pipeline.pl - a payment leaves at commit, whatever else is in flight:
#   50 pending payments are being checked, and MTN (the sandbox, with
#   status_delay_ms) answers each status check 3 s late.  While those 50
#   checks hang at the sandbox, a payment is committed: its POST must reach
#   the sandbox before any of the 50 checks is answered.  The witness is the
#   sandbox's own order of events (accepted_event against
#   first_status_answer_event, one sequence), not a clock: a worker that
#   works in rounds (claim, run every request to completion, claim again)
#   sends the new payment only after the slowest check of its round.
# And, when MTN's budget of status checks (momo.status_checks_per_second)
# is short, fresh payments are checked before long-pending ones (older than
# momo.attention_after), whatever their places in the schedule.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $SLOW = 50;            # payments whose status checks hang
my $LATENCY_MS = 3000;    # how long each of those checks hangs

start_sandbox();

# Room for every slow check (status checks take at most three quarters of
# momo.max_in_flight) and the new payment; the checks come due again soon
# after each answer (a first check 100 ms after acceptance: MomoTest).
my $node = momo_node('pipeline', extra_conf => join("\n",
		'momo.max_in_flight = 80',
		"momo.poll_interval_max = '200ms'",
		"momo.request_timeout = '30s'"));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

# Every status GET is answered $LATENCY_MS late from now on; POSTs at once.
my $cfg = sandbox_post('/_sandbox/config', { status_delay_ms => $LATENCY_MS });
is($cfg && $cfg->{status_delay_ms}, $LATENCY_MS, "sandbox: status checks answered $LATENCY_MS ms late");

# 50 payments that MTN keeps CREATED for ever (46733123454): accepted at
# once, then checked again and again, each check hanging.
my @slow = split /\n/, $node->safe_psql('postgres',
	"SELECT momo_request_to_pay(10, 'EUR', '46733123454', 'slow-' || i) "
	  . "FROM generate_series(1, $SLOW) AS i");
is(scalar(@slow), $SLOW, "$SLOW payments requested");
my %slow = map { $_ => 1 } @slow;

# The sandbox's records of the slow payments.
sub slow_records
{
	my $all = sandbox_get('/_sandbox/payments') // [];
	return [ grep { $slow{ $_->{referenceId} } } @$all ];
}

# Wait until the first status check of every slow payment has reached the
# sandbox; those not answered yet hang there now (all 50, unless a worker
# works in rounds and split them).
my $deadline = time() + 60;
my @hanging;
while (time() < $deadline)
{
	my $recs = slow_records();
	@hanging = map { $_->{referenceId} } grep { $_->{first_status_answer_event} == 0 } @$recs;
	last if (grep { $_->{status_gets} >= 1 } @$recs) == $SLOW;
	usleep(20_000);
}
my %hanging = map { $_ => 1 } @hanging;
ok(@hanging > 0, 'status checks hang at the sandbox');
note(scalar(@hanging) . " of the $SLOW first status checks hang at the sandbox");

# Now a payment is committed.
my $ref = request_payment($node, external_id => 'fresh');
like($ref, qr/^[0-9a-f-]{36}$/, 'a payment is committed while the checks hang');

# Wait for the sandbox to have it, and for the hanging checks to be answered.
my $fresh;
$deadline = time() + 60;
while (time() < $deadline)
{
	$fresh = sandbox_get("/_sandbox/requests/$ref");
	last if $fresh && $fresh->{accepted_event} > 0;
	usleep(20_000);
}
ok($fresh && $fresh->{accepted_event} > 0, 'the sandbox accepted the new payment');
my $first_answer;
$deadline = time() + 60;
while (time() < $deadline)
{
	my @ev = map { $_->{first_status_answer_event} }
	  grep { $hanging{ $_->{referenceId} } } @{ slow_records() };
	if (@ev == @hanging && !grep { $_ == 0 } @ev)
	{
		($first_answer) = sort { $a <=> $b } @ev;
		last;
	}
	usleep(50_000);
}
ok(defined $first_answer, 'every check that hung was answered');

# The point: the new payment's POST came before the first answer to any of
# the checks that were hanging when it was committed.
ok(defined $first_answer && $fresh && $fresh->{accepted_event} < $first_answer,
	'the new payment reached MTN before any of the hanging status checks was answered')
  or diag('sandbox events: new payment accepted at '
	  . ($fresh ? $fresh->{accepted_event} : '?')
	  . ', first answer to a check that hung at ' . ($first_answer // '?')
	  . ' (' . scalar(@hanging) . ' checks hung)');

# And everything ends as MTN says: the new payment successful, the slow ones
# still pending (CREATED), checked again, none failed or sent twice.
sandbox_post('/_sandbox/config', { status_delay_ms => 0 });
my $row = await_payment($node, $ref, seconds => 30);
is($row && $row->{status}, 'successful', 'the new payment is successful');
my $rows = payment_rows($node, "external_id LIKE 'slow-%'");
my @not_pending = grep { $_->{status} ne 'pending' } values %$rows;
is(scalar(@not_pending), 0, 'the slow payments are all still pending');
my @twice = grep { $_->{posts} != 1 } @{ slow_records() };
is(scalar(@twice), 0, 'each slow payment was POSTed once');

############################################################################
# The budget of status checks goes to fresh payments before long-pending
# ones.  Two payments that MTN keeps CREATED, accepted, their first checks an
# hour away; then, in one transaction (as superuser, past the table's guard),
# one is made two hours old and due 10 s ago, the other (fresh) due 5 s ago.
# With 2 checks a second (one for the worker at a time, one left for the
# backends), the fresh one is asked about first.
sandbox_post('/_sandbox/config', { status_delay_ms => 0 });
ok(set_momo($node, poll_interval_min => '1h', poll_interval_max => '1h'),
	'status checks an hour apart');
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'momo worker' "
		  . "AND state = 'active' AND query LIKE 'momo: sending%'", '0', 30),
	'no check in flight');
$node->safe_psql('postgres',
	"SET session_replication_role = replica; DELETE FROM momo_payments WHERE external_id LIKE 'slow-%'");
my $old = request_payment($node, msisdn => '46733123454', external_id => 'long-pending');
my $new = request_payment($node, msisdn => '46733123454', external_id => 'fresh-pending');
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE reference_id IN ('$old', '$new') AND status = 'pending'",
		'2', 30),
	'both payments are pending');
ok(set_momo($node, status_checks_per_second => '2'), 'status checks limited to 2 per second');
$node->safe_psql('postgres', "SET session_replication_role = replica; BEGIN; "
	  . "UPDATE momo_payments SET created_at = now() - interval '2 hours', "
	  . "next_check_at = now() - interval '10 seconds' WHERE reference_id = '$old'; "
	  . "UPDATE momo_payments SET next_check_at = now() - interval '5 seconds' WHERE reference_id = '$new'; "
	  . "COMMIT");
my ($first, $both) = ('', 0);
$deadline = time() + 30;
while (time() < $deadline)
{
	my $o = sandbox_get("/_sandbox/requests/$old");
	my $n = sandbox_get("/_sandbox/requests/$new");
	my @got = (($n && $n->{status_gets} > 0) ? 'fresh' : (), ($o && $o->{status_gets} > 0) ? 'long-pending' : ());
	$first = join(' and ', @got) if $first eq '' && @got;
	if (@got == 2) { $both = 1; last; }
	usleep(10_000);
}
is($first, 'fresh', 'the fresh payment is checked first, alone');
ok($both, 'the long-pending payment is checked too, after it');

############################################################################
# Balance and account holder GETs come out of the same budget (MTN counts
# them with status checks).  At 2 a second, a backend asks for 12 in a
# tight loop: each waits for its turn (a second at most, else it is refused
# with SQLSTATE 53400 and nothing is sent).  However fast or slow the
# machine, the sandbox can have received no more than the bucket held at
# the start (2) plus what refilled while the loop ran; without the budget
# all 12 would leave within milliseconds.
ok(set_momo($node, poll_interval_min => '1h', poll_interval_max => '1h', status_checks_per_second => '2'),
	'the budget is 2 per second, and the worker has nothing to check');
my $before = sandbox_get('/_sandbox/stats');
my $t0 = time();
my $out = $node->safe_psql('postgres', q{
CREATE TEMP TABLE outcome (ok int, refused int);
DO $$
DECLARE ok int := 0; refused int := 0;
BEGIN
  FOR i IN 1..12 LOOP
    BEGIN
      IF i % 3 = 0 THEN PERFORM momo_balance('collection');
      ELSIF i % 3 = 1 THEN PERFORM momo_account_holder_active('46733000001', 'collection');
      ELSE PERFORM momo_account_holder_info('46733000001', 'collection');
      END IF;
      ok := ok + 1;
    EXCEPTION WHEN configuration_limit_exceeded THEN
      refused := refused + 1;
    END;
  END LOOP;
  INSERT INTO outcome VALUES (ok, refused);
END $$;
SELECT ok || ' ' || refused FROM outcome});
my $elapsed = time() - $t0;
my $after = sandbox_get('/_sandbox/stats');
my $sent = 0;
$sent += ($after->{$_} // 0) - ($before->{$_} // 0) for qw(balance_gets active_gets userinfo_gets);
my ($ok_n, $refused_n) = $out =~ /^(\d+) (\d+)$/m;
is($sent, $ok_n, 'each call that was not refused sent one GET, and a refused one none');
is($ok_n + $refused_n, 12, 'every call either went or was refused');
cmp_ok($sent, '<=', 2 + 2 * ($elapsed + 1),
	"no more GETs than the budget allows ($sent in about $elapsed s at 2 a second)");

$node->stop;
done_testing();
