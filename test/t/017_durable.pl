
# 017_durable.pl - nothing is sent before it is durable, and no final status
# is announced before a failover could keep it:
#   (a) requests committed with synchronous_commit = off: as soon as MTN (the
#       sandbox) has a request, the server is stopped with "pg_ctl stop -m
#       immediate" and started again; the payment's row must be there.  A
#       wal_writer_delay of 10 s keeps asynchronous commits in memory as long
#       as PostgreSQL allows, so that the race cannot hide; many rounds.
#   (b) a synchronous standby (synchronous_standby_names) is stopped: a
#       payment requested meanwhile is not sent (the sandbox's counters are
#       the witness) and the worker says why; once the standby is back the
#       payment completes.  A payment that becomes final while the standby is
#       down is not visible (nor announced) until the standby has it.
#   (c) momo.wait_for_standby names an asynchronous standby, which is
#       stopped: nothing is sent until it is back and has caught up.
#   (d) that standby stays connected but flushes nothing (its WAL receiver
#       stopped with SIGSTOP): nothing new is sent ("has not flushed them"),
#       and a final status recorded meanwhile, by the worker or by
#       momo_payment_status in a backend, is neither NOTIFYed nor returned by
#       momo_await (which says why when its timeout passes) until the standby
#       has it; then both are.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $ROUNDS = 15;    # crash rounds of (a)

start_sandbox();

my $node = momo_node('durable', allows_streaming => 1, extra_conf => join("\n",
		'wal_writer_delay = 10s',
		# (d) keeps a standby's WAL receiver stopped for half a minute: its
		# walsender must not give up on it meanwhile.
		'wal_sender_timeout = 5min',
		'momo.wait_for_standby_timeout = 2s'));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

# 1 once the sandbox has received a POST with reference id $ref, 0 after $seconds.
sub sandbox_has
{
	my ($ref, $seconds) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		my $r = sandbox_get("/_sandbox/requests/$ref");
		return 1 if $r && $r->{posts} >= 1;
		usleep(2_000);
	}
	return 0;
}

# The worker's problem (momo_worker_status), '' when none.
sub worker_problem
{
	return $node->safe_psql('postgres', 'SELECT coalesce(problem, \'\') FROM momo_worker_status()');
}

# 1 once the worker's problem matches $re, 0 after $seconds.
sub wait_for_problem
{
	my ($re, $seconds) = @_;
	my $deadline = time() + ($seconds // 30);
	my $last = '';
	while (time() < $deadline)
	{
		$last = worker_problem();
		return 1 if $last =~ $re;
		usleep(100_000);
	}
	diag("worker problem: '$last'");
	return 0;
}

############################################################################
# (a) An asynchronous requester, MTN has the request, the server crashes.
{
	my @lost;
	my $rounds = 0;
	for my $i (1 .. $ROUNDS)
	{
		my $ref = $node->safe_psql('postgres',
			"SET synchronous_commit = off; SELECT momo_request_to_pay(100, 'EUR', '46733000201', 'D-crash-$i')");
		if (!sandbox_has($ref, 20))
		{
			diag("round $i: the sandbox never saw $ref");
			next;
		}
		$node->stop('immediate');
		$node->start;
		$rounds++;
		push @lost, $ref
		  unless $node->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE reference_id = '$ref'") eq '1';
	}
	is($rounds, $ROUNDS, "$ROUNDS rounds: MTN had the request, then an immediate shutdown");
	is(scalar(@lost), 0, 'every payment MTN had is still there after the crash')
	  or diag('lost: ' . join(' ', @lost));
	ok(wait_for_worker($node), 'worker runs');
	ok(poll_until($node, 'postgres',
			"SELECT count(*) FROM momo_payments WHERE external_id LIKE 'D-crash-%' AND status = 'successful'",
			$ROUNDS, 60),
		'and every one completes');
	my @twice = grep { $_->{accepted} != 1 }
	  map { sandbox_get("/_sandbox/requests/$_") }
	  split /\n/, $node->safe_psql('postgres', "SELECT reference_id FROM momo_payments WHERE external_id LIKE 'D-crash-%'");
	is(scalar(@twice), 0, 'each stored once by MTN (resends were answered 409)');
}

############################################################################
# (b) A synchronous standby.
my $standby;
{
	$node->backup('bk');
	$standby = PostgreSQL::Test::Cluster->new('sync1');
	$standby->init_from_backup($node, 'bk', has_streaming => 1);
	$standby->start;
	$node->safe_psql('postgres', "ALTER SYSTEM SET synchronous_standby_names = 'sync1'");
	$node->reload;
	ok(poll_until($node, 'postgres',
			"SELECT sync_state FROM pg_stat_replication WHERE application_name = 'sync1'", 'sync', 30),
		'standby sync1 is synchronous');
	my $ref = request_payment($node, msisdn => '46733000202', external_id => 'D-sync-up');
	is(await_payment($node, $ref, seconds => 30)->{status}, 'successful', 'with the standby up, a payment completes');

	$standby->stop;
	my $posts0 = sandbox_get('/_sandbox/stats')->{rtp_posts};
	# The requester does not wait for the standby; the worker must.
	$ref = $node->safe_psql('postgres',
		"SET synchronous_commit = local; SELECT momo_request_to_pay(100, 'EUR', '46733000203', 'D-sync-down')");
	ok(wait_for_problem(qr/synchronous standbys .* have not confirmed them/, 30),
		'the worker says it waits for the synchronous standbys');
	is(payment_row($node, $ref)->{status}, 'queued', 'the payment is queued');
	is(sandbox_get("/_sandbox/requests/$ref"), undef, 'MTN never saw it');
	is(sandbox_get('/_sandbox/stats')->{rtp_posts}, $posts0, 'no request to pay was posted at all');

	$standby->start;
	is(await_payment($node, $ref, seconds => 60)->{status}, 'successful',
		'once the standby is back the payment completes');
	my $sb = sandbox_get("/_sandbox/requests/$ref");
	is($sb && "$sb->{posts}/$sb->{accepted}", '1/1', '... sent once');
	ok(poll_until($node, 'postgres', 'SELECT coalesce(problem, \'\') FROM momo_worker_status()', '', 30),
		'the problem is gone');
	$node->wait_for_catchup($standby);
	is($standby->safe_psql('postgres', "SELECT status FROM momo_payments WHERE reference_id = '$ref'"),
		'successful', 'the standby has the final status');

	# A final status while the standby is down: committed, but neither
	# visible nor announced before the standby has it.  The sandbox answers
	# 4 s late, so that the standby stops while the status check that will
	# say SUCCESSFUL is in flight (its claim was confirmed).
	sandbox_post('/_sandbox/config', { delay_ms => 4000 });
	$ref = request_payment($node, msisdn => '46733000204', external_id => 'D-sync-final');
	my $deadline = time() + 30;
	usleep(20_000) while time() < $deadline
	  && !(sandbox_get("/_sandbox/requests/$ref") // {})->{status_gets};
	ok((sandbox_get("/_sandbox/requests/$ref") // {})->{status_gets},
		'MTN accepted a payment and is asked for its status');
	$standby->stop;
	ok(poll_until($node, 'postgres',
			"SELECT wait_event FROM pg_stat_activity WHERE backend_type = 'momo worker'", 'SyncRep', 30),
		'MTN says successful: the worker commits it and waits for the synchronous standby');
	my $row = payment_row($node, $ref);
	is($row->{status}, 'pending', 'meanwhile the final status is not visible');
	$row = await_payment($node, $ref, seconds => 1);
	is($row->{status}, 'pending', '... and momo_await is not woken for it');
	sandbox_post('/_sandbox/config', { delay_ms => 0 });
	$standby->start;
	is(await_payment($node, $ref, seconds => 60)->{status}, 'successful',
		'once the standby has it, the payment is successful');
	$node->safe_psql('postgres', "ALTER SYSTEM RESET synchronous_standby_names");
	$node->reload;
}

############################################################################
# (c) momo.wait_for_standby: an asynchronous standby.
{
	ok(poll_until($node, 'postgres',
			"SELECT sync_state FROM pg_stat_replication WHERE application_name = 'sync1'", 'async', 30),
		'standby sync1 is asynchronous now');
	ok(set_momo($node, wait_for_standby => 'sync1'), 'momo.wait_for_standby = sync1');
	my $ref = request_payment($node, msisdn => '46733000205', external_id => 'D-async-up');
	is(await_payment($node, $ref, seconds => 30)->{status}, 'successful', 'with the standby up, a payment completes');

	$standby->stop;
	my $posts0 = sandbox_get('/_sandbox/stats')->{rtp_posts};
	$ref = request_payment($node, msisdn => '46733000206', external_id => 'D-async-down');
	ok(wait_for_problem(qr/standby "sync1" \(momo\.wait_for_standby\) is not connected/, 30),
		'the worker says it waits for standby sync1');
	like(slurp_file($node->logfile), qr/WARNING:  momo worker is not sending payments: payments are durable here but standby "sync1"/,
		'... and logs it');
	is(payment_row($node, $ref)->{status}, 'queued', 'the payment is queued');
	is(sandbox_get("/_sandbox/requests/$ref"), undef, 'MTN never saw it');
	is(sandbox_get('/_sandbox/stats')->{rtp_posts}, $posts0, 'no request to pay was posted at all');

	$standby->start;
	is(await_payment($node, $ref, seconds => 60)->{status}, 'successful',
		'once the standby has caught up the payment completes');
	my $sb = sandbox_get("/_sandbox/requests/$ref");
	is($sb && "$sb->{posts}/$sb->{accepted}", '1/1', '... sent once');
	ok(poll_until($node, 'postgres', 'SELECT coalesce(problem, \'\') FROM momo_worker_status()', '', 30),
		'the problem is gone');

	ok(set_momo($node, wait_for_standby => 'nosuchstandby'), 'momo.wait_for_standby names no connected standby');
	$ref = request_payment($node, msisdn => '46733000207', external_id => 'D-async-none');
	ok(wait_for_problem(qr/standby "nosuchstandby" \(momo\.wait_for_standby\) is not connected/, 30),
		'the worker says so');
	is(sandbox_get("/_sandbox/requests/$ref"), undef, 'MTN never saw the payment');
	ok(set_momo($node, wait_for_standby => ''), 'momo.wait_for_standby unset');
	is(await_payment($node, $ref, seconds => 30)->{status}, 'successful', 'then it completes');
}

############################################################################
# (d) momo.wait_for_standby names a standby that is connected but flushes
# nothing (its WAL receiver is stopped with SIGSTOP): a final status, whether
# the worker records it or momo_payment_status in a backend, is committed and
# visible here (an asynchronous standby cannot prevent that), but neither
# NOTIFY nor momo_await tells of it until the standby has flushed it.
{
	# Sets momo settings and waits until this database's worker has them.
	my $set_worker = sub {
		my %set = @_;
		my $t0 = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
		ok(set_momo($node, %set), 'set ' . join(', ', map { "momo.$_ = '$set{$_}'" } sort keys %set));
		ok(poll_until($node, 'postgres',
				"SELECT count(*) FROM momo_config_loaded() WHERE database = 'postgres' AND loaded_at > '$t0'",
				'1', 30),
			'... and the worker has reloaded');
	};
	$set_worker->(wait_for_standby => 'sync1');
	ok(poll_until($node, 'postgres',
			"SELECT state FROM pg_stat_replication WHERE application_name = 'sync1'", 'streaming', 30),
		'standby sync1 streams');

	my $listener = $node->background_psql('postgres');
	$listener->query_safe('LISTEN momo_payments');
	my $heard = '';
	# Whether the listener has heard of payment $ref (it reads what came with a query).
	my $notified = sub {
		my ($ref) = @_;
		$heard .= $listener->query_safe('SELECT 1');
		return $heard =~ /Asynchronous notification "momo_payments" with payload "[^\n]*\Q$ref\E[^\n]*" received/;
	};
	my $wait_notified = sub {
		my ($ref) = @_;
		my $deadline = time() + 60;
		while (time() < $deadline)
		{
			return 1 if $notified->($ref);
			usleep(50_000);
		}
		return 0;
	};
	# momo_await's answer: the status, or its error.
	my $await = sub {
		my ($ref, $secs) = @_;
		my ($rc, $out, $err) = $node->psql('postgres', "SELECT status FROM momo_await('$ref', '$secs seconds')");
		return $rc == 0 ? $out : $err;
	};
	my $receiver;
	my $pause_receiver = sub {
		$receiver = $standby->safe_psql('postgres', 'SELECT pid FROM pg_stat_wal_receiver');
		ok($receiver =~ /^\d+$/ && kill('STOP', $receiver), "the standby's WAL receiver ($receiver) is stopped");
	};
	my $resume_receiver = sub {
		ok(kill('CONT', $receiver), "the standby's WAL receiver goes on");
	};

	# The worker: its status check is in flight (answered 4 s late) when
	# the standby stops flushing; MTN answers SUCCESSFUL.
	sandbox_post('/_sandbox/config', { status_delay_ms => 4000 });
	my $ref = request_payment($node, msisdn => '46733000208', external_id => 'D-lag-worker');
	my $deadline = time() + 30;
	usleep(20_000) while time() < $deadline
	  && !(sandbox_get("/_sandbox/requests/$ref") // {})->{status_gets};
	ok((sandbox_get("/_sandbox/requests/$ref") // {})->{status_gets},
		'MTN accepted a payment and is asked for its status');
	$pause_receiver->();
	ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$ref'",
			'successful', 30),
		'the worker records MTN\'s SUCCESSFUL: visible here');
	like($await->($ref, 1), qr/payment \Q$ref\E is final, but standby "sync1" \(momo\.wait_for_standby\) has not flushed it yet/,
		'momo_await does not return it: an error says why when its timeout passes');
	ok(!$notified->($ref), 'no NOTIFY told of it');

	# A momo_await waiting for the standby looks every 10 ms: a thousand
	# wake-ups and more of one call leave nothing behind (the bytes used in
	# its memory contexts, pg_log_backend_memory_contexts, do not grow).
	{
		my $waiter = $node->background_psql('postgres', on_error_stop => 0);
		$waiter->query_until(qr/started/, "\\echo started\nSELECT status FROM momo_await('$ref', '25 seconds');\n");
		my $pid;
		my $deadline = time() + 30;
		while (time() < $deadline && !$pid)
		{
			$pid = $node->safe_psql('postgres',
				"SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT status FROM momo_await%' AND state = 'active'");
			usleep(50_000) unless $pid;
		}
		ok($pid, 'a momo_await waits for the standby');
		my $used = sub {
			my $pos = log_position($node);
			$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
			my $re = qr/\[$pid\][^\n]*Grand total: \d+ bytes in \d+ blocks; \d+ free[^;]*; (\d+) used/;
			return undef unless wait_for_log_count($node, $re, 1, $pos, 30);
			my ($u) = log_since($node, $pos) =~ $re;
			return $u;
		};
		usleep(2_000_000);    # past its first wake-ups
		my $used1 = $used->();
		usleep(15_000_000);   # some 1500 wake-ups
		my $used2 = $used->();
		ok(defined $used1 && defined $used2, "its memory measured twice, 15 s apart: $used1, $used2 bytes used");
		cmp_ok($used2 - $used1, '<', 8192, '... it did not grow');
		$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
		$waiter->quit;
	}

	# Meanwhile nothing is sent: the standby is connected but behind.
	my $ref2 = request_payment($node, msisdn => '46733000209', external_id => 'D-lag-new');
	ok(wait_for_problem(qr/standby "sync1" \(momo\.wait_for_standby\) has not flushed them/, 30),
		'a new payment is not sent: the worker says the standby has not flushed it');
	is(sandbox_get("/_sandbox/requests/$ref2"), undef, 'MTN never saw it');
	ok(!$notified->($ref), 'still no NOTIFY');

	$resume_receiver->();
	is($await->($ref, 60), 'successful', 'once the standby has caught up, momo_await returns it');
	ok($wait_notified->($ref), '... and a NOTIFY tells of it');
	is(await_payment($node, $ref2, seconds => 60)->{status}, 'successful', 'the new payment completes');
	ok($wait_notified->($ref2), '... and is told too');
	sandbox_post('/_sandbox/config', { status_delay_ms => 0 });

	# A backend: momo_payment_status records MTN's SUCCESSFUL itself.  The
	# worker polls hourly, and cannot check while the standby is behind.
	$set_worker->(poll_interval_min => '1h', poll_interval_max => '1h');
	sandbox_post('/_sandbox/config', { pending_ms => 1000 });
	$ref = request_payment($node, msisdn => '46733000210', external_id => 'D-lag-backend');
	ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$ref'",
			'pending', 30),
		'a payment is pending');
	$deadline = time() + 30;
	usleep(50_000) while time() < $deadline
	  && (sandbox_get("/_sandbox/payments/$ref") // {})->{status} ne 'SUCCESSFUL';
	is((sandbox_get("/_sandbox/payments/$ref") // {})->{status}, 'SUCCESSFUL', 'MTN has it SUCCESSFUL');
	$pause_receiver->();
	is($node->safe_psql('postgres', "SELECT status FROM momo_payment_status('$ref')"), 'successful',
		'momo_payment_status records it final, and commits');
	like($await->($ref, 1), qr/payment \Q$ref\E is final, but standby "sync1" \(momo\.wait_for_standby\) has not flushed it yet/,
		'momo_await does not return it');
	ok(!$notified->($ref), 'no NOTIFY told of it');
	$resume_receiver->();
	is($await->($ref, 60), 'successful', 'once the standby has caught up, momo_await returns it');
	ok($wait_notified->($ref), '... and a NOTIFY tells of it');
	is(scalar(() = $heard =~ /\Q$ref\E/g), 1, '... once');

	sandbox_post('/_sandbox/config', { pending_ms => 0 });
	$node->safe_psql('postgres',
		'ALTER SYSTEM RESET momo.poll_interval_min; ALTER SYSTEM RESET momo.poll_interval_max; ALTER SYSTEM RESET momo.wait_for_standby');
	$node->reload;
	$listener->quit;
	$standby->stop;
}

$node->stop;
done_testing();
