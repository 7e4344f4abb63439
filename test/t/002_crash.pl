
# 002_crash.pl - the money rules at scale, when the worker or the whole
# server dies in the middle of sending, and when the network loses answers:
# no payment is lost, none is stored twice at MTN, a repeated request (409)
# counts as accepted, no payment fails unless MTN failed it, and every row
# ends with MTN's status.  The sandbox's counters are the witness.
#
#   1. 2,000 payments dispatched slowly; the worker is SIGKILLed 20 times at
#      pseudo-random moments (fixed seed), then the server is stopped with
#      "pg_ctl stop -m immediate" mid-batch and started again.
#   2. 1,050 payments while the sandbox drops a share of connections after
#      accepting and answers 503, 429 or 500 to another share of calls.
#   3. A crash loop while claimed requests wait to leave: no payment may
#      fail for sends that never left.
#   4. One lost answer (drop_first), and a prepared transaction across a crash.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $N     = 2000;    # payments of the crash scenario
my $KILLS = 20;      # SIGKILLs of the worker
my $N2    = 350;     # payments per fault status of the second scenario

# What the sandbox answers for these payer numbers (README); any other
# number succeeds.
my %MTN_FAILS = (
	'46733123450' => 'INTERNAL_PROCESSING_ERROR',
	'46733123451' => 'APPROVAL_REJECTED',
	'46733123457' => 'NOT_ALLOWED');

start_sandbox();

# Small batches and few requests in flight, so that a crash finds some
# payments sent, some in flight and some not yet claimed; a short retry
# backoff, so that the fault scenario ends soon.
my $node = momo_node('crash', extra_conf => join("\n",
		'momo.max_in_flight = 4',
		'momo.batch_size = 20',
		'momo.request_timeout = 2000',
		'momo.connect_timeout = 500',
		'momo.retry_max = 1000'));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
my $wpid = wait_for_worker($node);
ok($wpid, 'worker runs');

# A 31-bit linear congruential generator with a fixed seed: the same
# "random" kill moments in every run, on every machine.
my $seed = 20260601;

sub next_random
{
	$seed = (1103515245 * $seed + 12345) % 2147483648;
	return $seed / 2147483648;
}

# (queued, not queued) counts of the payments whose external id starts with $prefix.
sub counts
{
	my ($prefix) = @_;
	my $out = query_retry($node, 'postgres',
		"SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status <> 'queued') "
		  . "FROM momo_payments WHERE external_id LIKE '$prefix%'");
	return split /\|/, $out;
}

# What the worker is doing now (its query column), '' if none runs.
sub worker_activity
{
	return query_retry($node, 'postgres',
		"SELECT coalesce(max(query), '') FROM pg_stat_activity WHERE backend_type = 'momo worker'");
}

# Waits until at least $more more payments than now have left 'queued' and
# the worker is busy sending; returns (queued, not queued) at that moment.
sub wait_mid_dispatch
{
	my ($more) = @_;
	my (undef, $done0) = counts('crash-');
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		my ($queued, $done) = counts('crash-');
		return ($queued, $done)
		  if $done >= $done0 + $more && $queued > 0 && worker_activity() =~ /^momo: sending/;
		usleep(50_000);
	}
	return counts('crash-');
}

# The final payments (reference id => status) as a client sees them now.
sub finals
{
	my %f = map { split /\|/ } split /\n/, query_retry($node, 'postgres',
		"SELECT reference_id, status FROM momo_payments "
		  . "WHERE external_id LIKE 'crash-%' AND status IN ('successful', 'failed')");
	return \%f;
}

# A payment that was final (and announced) before a crash is still final,
# with the same status, after it: final statuses are committed durably.
sub finals_kept
{
	my ($before, $what) = @_;
	my $after = finals();
	my @lost = grep { ($after->{$_} // 'not final') ne $before->{$_} } sort keys %$before;
	is(scalar(@lost), 0, "$what: the " . scalar(keys %$before) . ' payments final before the crash still are')
	  or diag("no longer final: @lost[0 .. ($#lost < 9 ? $#lost : 9)]");
}

# The status and reason MTN gives a payment from $msisdn.
sub expected_outcome
{
	my ($msisdn) = @_;
	return $MTN_FAILS{$msisdn} ? ('failed', $MTN_FAILS{$msisdn}) : ('successful', '');
}

# The first ten items of a list, for diagnostics.
sub first10
{
	return join("\n", grep { defined } @_[0 .. ($#_ < 9 ? $#_ : 9)]);
}

# Checks the rows of the payments with external ids "$prefix<n>" against
# the sandbox (see the file header); $refs are the reference ids
# momo_request_to_pay returned.  Returns the sandbox's per-payment records.
sub witness
{
	my ($what, $prefix, $refs) = @_;
	my $n    = scalar @$refs;
	my $rows = payment_rows($node, "external_id LIKE '$prefix%'");

	is(scalar(keys %$rows), $n, "$what: all $n rows exist");
	is(scalar(grep { !$rows->{$_} } @$refs), 0,
		"$what: every reference id momo_request_to_pay returned has its row");
	is(scalar(grep { $_->{status} =~ /^(queued|pending)$/ } values %$rows), 0,
		"$what: every payment is final");

	my @sb = grep { ($_->{externalId} // '') =~ /^\Q$prefix\E/ } @{ sandbox_get('/_sandbox/payments') };
	is(scalar(@sb), $n, "$what: the sandbox stored exactly $n payments, one per row");
	is(sandbox_get('/_sandbox/stats')->{rtp_accepted}, $n,
		"$what: the sandbox accepted (stored) exactly $n requests to pay");

	my %ext_refs;
	push @{ $ext_refs{ $_->{externalId} } }, $_->{referenceId} for @sb;
	my @twice = grep { @{ $ext_refs{$_} } > 1 } sort keys %ext_refs;
	is(scalar(@twice), 0, "$what: no external id was stored under two reference ids (nobody charged twice)")
	  or diag(first10(@twice));

	my (@unknown, @mismatch, @over_accepted, @conflict_failed, @wrong_outcome);
	my ($conflicts, $conflict_refs) = (0, 0);
	for my $p (@sb)
	{
		my $r = $rows->{ $p->{referenceId} };
		push @over_accepted, $p->{referenceId} if $p->{accepted} != 1;
		if (!$r)
		{
			push @unknown, $p->{referenceId};
			next;
		}
		my $want = lc $p->{status};
		my $ok = $r->{status} eq $want && $r->{external_id} eq $p->{externalId}
		  && $r->{amount} == $p->{amount} && $r->{msisdn} eq $p->{msisdn};
		$ok &&= ($r->{financial_transaction_id} // '') eq ($p->{financialTransactionId} // '')
		  if $want eq 'successful';
		$ok &&= ($r->{reason} // '') eq ($p->{reason} // '') if $want eq 'failed';
		push @mismatch, "$p->{referenceId}: row $r->{status}/" . ($r->{reason} // '') . '/'
		  . ($r->{financial_transaction_id} // '') . ", sandbox $p->{status}/"
		  . ($p->{reason} // '') . '/' . ($p->{financialTransactionId} // '')
		  unless $ok;
		if ($p->{conflicts} > 0)
		{
			$conflicts += $p->{conflicts};
			$conflict_refs++;
			push @conflict_failed, $p->{referenceId}
			  if $r->{status} ne $want || ($r->{reason} // '') =~ /RESOURCE_ALREADY_EXIST/;
		}
	}
	for my $r (values %$rows)
	{
		my ($status, $reason) = expected_outcome($r->{msisdn});
		push @wrong_outcome, "$r->{reference_id} ($r->{msisdn}): $r->{status}/" . ($r->{reason} // '')
		  unless $r->{status} eq $status && ($r->{reason} // '') eq $reason;
	}
	is(scalar(@unknown), 0, "$what: every payment the sandbox stored has its row") or diag(first10(@unknown));
	is(scalar(@over_accepted), 0, "$what: no reference id was accepted more than once");
	is(scalar(@mismatch), 0, "$what: every row's status (and reason, financial transaction id) is the sandbox's")
	  or diag(first10(@mismatch));
	is(scalar(@wrong_outcome), 0,
		"$what: every payment ends as its payer number decides: none failed that MTN did not fail")
	  or diag(first10(@wrong_outcome));
	ok($conflict_refs > 0, "$what: requests were repeated: $conflict_refs payments answered 409 ($conflicts times)");
	is(scalar(@conflict_failed), 0, "$what: a 409 counts as accepted: those payments have MTN's status")
	  or diag(first10(@conflict_failed));
	return \@sb;
}

############################################################################
# 1. 2,000 payments in one transaction, sent slowly (every answer 200 ms
# late, 4 in flight), while the worker is killed again and again.
sandbox_post('/_sandbox/config', { delay_ms => 200 });
my @refs = split /\n/, $node->safe_psql('postgres',
	"SELECT momo_request_to_pay(10 + i % 7, 'EUR', "
	  . "CASE WHEN i % 10 = 0 THEN '46733123451' ELSE (46733000000 + i)::text END, "
	  . "'crash-' || i) FROM generate_series(1, $N) AS i");
is(scalar(@refs), $N, "$N payments queued in one transaction");

# SIGKILL the worker $KILLS times, each time 0.1 to 2 s (pseudo-random)
# after a new worker showed up: in its first claim, mid-send, or while it
# records answers.
my ($queued_at_kills, $sending_at_kills, $final_lost) = (0, 0, 0);
my @waits;
for my $round (1 .. $KILLS)
{
	my $wait_ms = 100 + int(next_random() * 1900);
	push @waits, $wait_ms;
	usleep($wait_ms * 1000);
	my ($queued, $done) = counts('crash-');
	$queued_at_kills++ if $queued > 0;
	$sending_at_kills++ if worker_activity() =~ /^momo: sending/;
	my $final = finals();
	my $pos = log_position($node);
	kill 'KILL', $wpid;
	ok(wait_for_log_count($node, qr/all server processes terminated; reinitializing/, 1, $pos, 60),
		"kill $round (after $wait_ms ms; $done sent or final, $queued queued): crash restart");
	my $new = wait_for_worker($node, not_pid => $wpid, timeout => 60);
	ok($new, "kill $round: a new worker runs");
	$wpid = $new // $wpid;
	my $after = finals();
	$final_lost += grep { ($after->{$_} // 'not final') ne $final->{$_} } keys %$final;
}
note("waits before the kills (ms): @waits");
is($queued_at_kills, $KILLS, "every one of the $KILLS kills came while payments were still queued");
ok($sending_at_kills > 0, "$sending_at_kills of the kills found the worker sending");
is($final_lost, 0, 'no payment that was final before a crash is final no longer (or differently) after it');

# An immediate shutdown of the whole server, mid-batch, and a fresh start.
{
	my ($queued, $done) = wait_mid_dispatch(20);
	ok($queued > 0 && $done > 0,
		"immediate stop mid-dispatch ($done sent or final, $queued queued)");
	my $final = finals();
	$node->stop('immediate');
	$node->start;
	$wpid = wait_for_worker($node, timeout => 30);
	ok($wpid, 'worker runs after the restart');
	finals_kept($final, 'immediate stop');
}

# No more delay: everything must end.
sandbox_post('/_sandbox/config', { delay_ms => 0 });
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE status IN ('queued', 'pending')", '0', 180),
	'every payment is final in the end');

my $sb = witness('crashes', 'crash-', \@refs);
# Without injected faults, every POST after a payment's first was answered 409.
my @odd = grep { $_->{posts} != 1 + $_->{conflicts} || $_->{faults} != 0 } @$sb;
is(scalar(@odd), 0, 'crashes: every POST of a payment after the first was answered 409')
  or diag(first10(map { "$_->{referenceId}: posts $_->{posts}, conflicts $_->{conflicts}, faults $_->{faults}" } @odd));

############################################################################
# 2. Lost answers and transient errors: 15 % of the requests to pay are
# processed and then their connection is dropped; 20 % of the requests to
# pay and status checks are answered 503, then 429, then 500 (one batch of
# payments each), with no effect.
sandbox_post('/_sandbox/reset-stats');
sandbox_post('/_sandbox/config', { drop_share => 15, fail_share => 20 });
my @refs2;
my $i0 = 0;
for my $status (503, 429, 500)
{
	sandbox_post('/_sandbox/config', { fail_status => $status });
	my @batch = split /\n/, $node->safe_psql('postgres',
		"SELECT momo_request_to_pay(20 + i % 5, 'EUR', "
		  . "CASE i % 10 WHEN 0 THEN '46733123451' WHEN 3 THEN '46733123450' WHEN 6 THEN '46733123457' "
		  . "ELSE (46733000000 + i)::text END, 'fault-' || i) "
		  . "FROM generate_series($i0 + 1, $i0 + $N2) AS i");
	is(scalar(@batch), $N2, "faults: $N2 payments queued while the sandbox fails with $status");
	ok(poll_until($node, 'postgres',
			"SELECT count(*) FROM momo_payments WHERE external_id LIKE 'fault-%' "
			  . "AND status IN ('queued', 'pending')", '0', 120),
		"faults ($status): every payment is final");
	push @refs2, @batch;
	$i0 += $N2;
}
my $stats = sandbox_get('/_sandbox/stats');
sandbox_post('/_sandbox/config', { drop_share => 0, fail_share => 0, fail_status => 500 });
ok($stats->{rtp_faults} > 0 && $stats->{get_faults} > 0,
	"faults were injected: $stats->{rtp_faults} on requests to pay, $stats->{get_faults} on status checks");

my $sb2  = witness('faults', 'fault-', \@refs2);
my $rows = payment_rows($node, "external_id LIKE 'fault-%'");
my @miscount = grep {
	my $r = $rows->{ $_->{referenceId} };
	$r && ($r->{attempts} < 1 || $r->{attempts} > $_->{posts});
} @$sb2;
is(scalar(@miscount), 0,
	'faults: every payment counts between 1 attempt and as many as the POSTs the sandbox received')
  or diag(first10(map { "$_->{referenceId}: posts $_->{posts}, attempts $rows->{$_->{referenceId}}{attempts}" } @miscount));
ok((grep { $_->{faults} > 0 } @$sb2) > 0, 'faults: some payments got a fault and were sent again');

############################################################################
# 3. A crash loop: the worker dies again and again while most of the
# requests it claimed still wait to leave (one request in flight, answered
# 2 s late; the timeout is longer, since each new worker must first fetch a
# token, just as late).  A send that never left is no failed send, and a
# crash is no answer from MTN: once the worker lives, every payment goes
# through.
{
	my $what = 'crash loop';
	ok(set_momo($node, max_attempts => '3', max_in_flight => '1', request_timeout => '10s'),
		"$what: momo.max_attempts = 3, momo.max_in_flight = 1, momo.request_timeout = 10s");
	sandbox_post('/_sandbox/config', { delay_ms => 2000 });
	my @loop = split /\n/, $node->safe_psql('postgres',
		"SELECT momo_request_to_pay(30, 'EUR', (46733000000 + i)::text, 'loop-' || i) "
		  . "FROM generate_series(1, 10) AS i");
	my $kills = 0;
	for my $k (1 .. 6)
	{
		# Half a second after the new worker claimed its batch (its claim
		# is on disk by then: the WAL writer writes every 200 ms).
		last unless poll_until($node, 'postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'momo worker' "
			  . "AND query LIKE 'momo: sending%'", '1', 30);
		usleep(500_000);
		my $pos = log_position($node);
		kill 'KILL', $wpid;
		last unless wait_for_log_count($node, qr/all server processes terminated; reinitializing/, 1, $pos, 60);
		my $new = wait_for_worker($node, not_pid => $wpid, timeout => 60);
		last unless $new;
		$wpid = $new;
		$kills++;
	}
	is($kills, 6, "$what: the worker was killed 6 times mid-batch");
	sandbox_post('/_sandbox/config', { delay_ms => 0 });
	ok(poll_until($node, 'postgres',
			"SELECT count(*) FROM momo_payments WHERE external_id LIKE 'loop-%' "
			  . "AND status IN ('queued', 'pending')", '0', 60),
		"$what: every payment is final");
	my $rows = payment_rows($node, "external_id LIKE 'loop-%'");
	my @failed = grep { $_->{status} ne 'successful' } values %$rows;
	is(scalar(@failed), 0, "$what: every payment is successful: none failed (NOT_DELIVERED) "
		  . 'for sends that never left')
	  or diag(first10(map { "$_->{reference_id}: $_->{status} " . ($_->{reason} // '')
			  . " attempts $_->{attempts}; " . ($_->{last_error} // '') } @failed));
	my $stored = grep { ($_->{externalId} // '') =~ /^loop-/ } @{ sandbox_get('/_sandbox/payments') };
	is($stored, scalar(keys %$rows) - @failed, "$what: the sandbox holds exactly the successful ones");
	ok(set_momo($node, max_attempts => '10', max_in_flight => '4', request_timeout => '2s'),
		"$what: settings back");
}

############################################################################
# 4. A lost answer (the connection dropped after MTN stored the request):
# the worker repeats it, gets 409, and the payment succeeds.
sandbox_post('/_sandbox/config', { drop_first => 1 });
my $ref = request_payment($node, external_id => 'dropped-answer');
my $r = await_payment($node, $ref, seconds => 30);
is($r->{status}, 'successful', 'drop_first: payment successful');
my $q = sandbox_get("/_sandbox/requests/$ref");
is($q && "posts=$q->{posts} conflicts=$q->{conflicts} accepted=$q->{accepted}",
	'posts=2 conflicts=1 accepted=1', 'drop_first: two POSTs, the second answered 409');

############################################################################
# A payment in a prepared transaction survives a crash, is not sent while
# prepared, and is sent once COMMIT PREPARED publishes it.
sandbox_post('/_sandbox/config', { drop_first => 0 });
my $prepared = $node->safe_psql('postgres',
	"BEGIN; SELECT momo_request_to_pay(55, 'EUR', '46733000999', 'prepared-1'); PREPARE TRANSACTION 'pay1';");
like($prepared, qr/^[0-9a-f-]{36}$/, 'payment requested in a prepared transaction');
$node->stop('immediate');
$node->start;
ok(wait_for_worker($node), 'worker runs after the restart');
is($node->safe_psql('postgres', "SELECT gid FROM pg_prepared_xacts"), 'pay1',
	'the prepared transaction survived the crash');
is(payment_row($node, $prepared), undef, 'its payment is not visible yet');
is(sandbox_get("/_sandbox/requests/$prepared"), undef, 'and was not sent');
$node->safe_psql('postgres', "COMMIT PREPARED 'pay1'");
$r = await_payment($node, $prepared, seconds => 30);
is($r->{status}, 'successful', 'after COMMIT PREPARED the payment goes through');
$q = sandbox_get("/_sandbox/requests/$prepared");
is($q && "$q->{posts}/$q->{accepted}", '1/1', 'sent once');

$node->stop;
done_testing();
