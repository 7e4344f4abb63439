
# 002_crash.pl - the money rules when the worker or the whole server dies in
# the middle of sending: no payment is lost, none is stored twice at MTN, a
# repeated request (409) counts as accepted, and every row ends with MTN's
# status.  The sandbox is the witness.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $N = 300;
my $REJECTED = '46733123451';    # FAILED, APPROVAL_REJECTED

start_sandbox();

# Small batches and few requests in flight, so that a crash finds some
# payments sent, some in flight and some not yet claimed; short timeouts,
# so that a claim lost in a crash lapses soon (its lease is
# 2 * request_timeout + connect_timeout + 10 s).
my $node = momo_node('crash', extra_conf => join("\n",
		'momo.max_in_flight = 4',
		'momo.batch_size = 20',
		'momo.request_timeout = 2000',
		'momo.connect_timeout = 500'));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
my $wpid = wait_for_worker($node);
ok($wpid, 'worker runs');

sub counts
{
	my $out = $node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status <> 'queued') "
		  . "FROM momo_payments WHERE external_id LIKE 'crash-%'");
	return split /\|/, $out;
}

# Waits until at least $more more payments than now have left 'queued' and
# the worker is busy sending; returns (queued, not queued) at that moment.
sub wait_mid_dispatch
{
	my ($more) = @_;
	my (undef, $done0) = counts();
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		my ($queued, $done) = counts();
		if ($done >= $done0 + $more && $queued > 0)
		{
			my $busy = $node->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'momo worker' "
				  . "AND state = 'active' AND query LIKE 'momo: sending%'");
			return ($queued, $done) if $busy;
		}
		usleep(50_000);
	}
	return counts();
}

# The final payments (reference id => status) as a client sees them now.
sub finals
{
	my %f = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
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

############################################################################
# ~300 payments in one transaction, sent slowly.
sandbox_post('/_sandbox/config', { delay_ms => 300 });
my @refs = split /\n/, $node->safe_psql('postgres',
	"SELECT momo_request_to_pay(10 + i % 7, 'EUR', "
	  . "CASE WHEN i % 10 = 0 THEN '$REJECTED' ELSE (46733000000 + i)::text END, "
	  . "'crash-' || i) FROM generate_series(1, $N) AS i");
is(scalar(@refs), $N, "$N payments queued in one transaction");

# SIGKILL the worker three times, at different stages of the batch.
for my $round (1 .. 3)
{
	my ($queued, $done) = wait_mid_dispatch(25);
	ok($queued > 0 && $done > 0,
		"round $round: killing the worker mid-dispatch ($done sent or final, $queued queued)");
	my $final = finals();
	my $pos = log_position($node);
	kill 'KILL', $wpid;
	ok(wait_for_log_count($node, qr/all server processes terminated; reinitializing/, 1, $pos, 30),
		"round $round: crash restart");
	ok(poll_until($node, 'postgres', 'SELECT 1', '1', 60), "round $round: server back");
	my $new = wait_for_worker($node, not_pid => $wpid, timeout => 30);
	ok($new, "round $round: new worker $new");
	$wpid = $new // $wpid;
	finals_kept($final, "round $round");
}

# An immediate shutdown of the whole server, mid-batch, and a fresh start.
{
	my ($queued, $done) = wait_mid_dispatch(25);
	ok($queued > 0 && $done > 0,
		"immediate stop mid-dispatch ($done sent or final, $queued queued)");
	my $final = finals();
	$node->stop('immediate');
	$node->start;
	$wpid = wait_for_worker($node, timeout => 30);
	ok($wpid, 'worker runs after the restart');
	finals_kept($final, 'immediate stop');
}

# No more delay: everything must end (claims lost in the crashes lapse
# within ~15 s).
sandbox_post('/_sandbox/config', { delay_ms => 0 });
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE status IN ('queued', 'pending')", '0', 120),
	'every payment is final in the end');

############################################################################
# The witness.
my %row;
for my $line (split /\n/, $node->safe_psql('postgres',
		"SELECT reference_id, external_id, amount, status, coalesce(reason, ''), "
		  . "coalesce(financial_transaction_id, ''), attempts "
		  . "FROM momo_payments WHERE external_id LIKE 'crash-%'"))
{
	my @f = split /\|/, $line, -1;
	$row{ $f[0] } = { ext => $f[1], amount => $f[2], status => $f[3],
		reason => $f[4], ftid => $f[5], attempts => $f[6] };
}
is(scalar(keys %row), $N, "all $N rows still exist");
is(scalar(grep { !$row{$_} } @refs), 0, 'every reference id returned by momo_request_to_pay has its row');

my @sb = grep { ($_->{externalId} // '') =~ /^crash-/ } @{ sandbox_get('/_sandbox/payments') };
is(scalar(@sb), $N, "the sandbox stored exactly $N payments, one per row");

my %ext_refs;
push @{ $ext_refs{ $_->{externalId} } }, $_->{referenceId} for @sb;
my @twice = grep { @{ $ext_refs{$_} } > 1 } sort keys %ext_refs;
is(scalar(@twice), 0, 'no external id was stored under two reference ids (nobody charged twice)')
  or diag("charged twice: @twice[0 .. ($#twice < 9 ? $#twice : 9)]");

my (@unknown, @mismatch, @over_accepted, @conflict_failed);
my ($conflicts, $conflict_refs) = (0, 0);
for my $p (@sb)
{
	my $r = $row{ $p->{referenceId} };
	push @over_accepted, $p->{referenceId} if $p->{accepted} > 1;
	if (!$r)
	{
		push @unknown, $p->{referenceId};
		next;
	}
	my $want = lc $p->{status};
	my $ok = $r->{status} eq $want && $r->{ext} eq $p->{externalId}
	  && $r->{amount} == $p->{amount};
	$ok &&= $r->{ftid} eq ($p->{financialTransactionId} // '') if $want eq 'successful';
	$ok &&= $r->{reason} eq ($p->{reason} // '') if $want eq 'failed';
	push @mismatch, "$p->{referenceId}: row $r->{status}/$r->{reason}/$r->{ftid}, sandbox $p->{status}/"
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
is(scalar(@unknown), 0, 'every payment the sandbox stored has its row') or diag("@unknown");
is(scalar(@over_accepted), 0, 'no reference id accepted more than once');
is(scalar(@mismatch), 0, "every row's status (and reason, financial transaction id) is the sandbox's")
  or diag(join("\n", @mismatch[0 .. ($#mismatch < 9 ? $#mismatch : 9)]));
ok($conflict_refs > 0, "the crashes left requests to repeat: $conflict_refs payments answered 409 ($conflicts times)");
is(scalar(@conflict_failed), 0, 'a 409 counts as accepted: those payments have MTN\'s status, not a failure');
is(scalar(grep { $row{$_}{status} eq 'failed' && $row{$_}{ext} !~ /0$/ } keys %row), 0,
	'only the rejected test number failed');
is(scalar(grep { $row{$_}{status} eq 'failed' && $row{$_}{reason} eq 'APPROVAL_REJECTED' } keys %row), $N / 10,
	'every payment from the rejecting number failed with APPROVAL_REJECTED');

my $stats = sandbox_get('/_sandbox/stats');
is($stats->{rtp_accepted}, $N, "the sandbox answered 202 exactly $N times");

############################################################################
# A lost answer (the connection dropped after MTN stored the request): the
# worker repeats it, gets 409, and the payment succeeds.
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
