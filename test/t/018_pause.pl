
# 018_pause.pl - the pause switch (README, "Operating in production"), with
# the real worker and the sandbox, whose own counts say what reached MTN.  One
# request in flight at most, so that the order of the sends is the order of
# the sandbox's acceptances.  "Nothing is sent" is proven without a clock:
# a payment stays PENDING at MTN, and its status checks, which the worker
# claims after the payment requests (sends first), go on; after three more
# of them since the last payment was queued, a send the pause did not stop
# would have left.
#   (a) an operator pauses collection while one request is in flight and
#       the next is claimed ahead, waiting in memory: after the worker has
#       seen the pause, no POST reaches MTN; the one in flight finishes;
#   (b) payments requested while paused queue and none is sent, while the
#       status checks go on; the worker says why (one WARNING,
#       momo_worker_status, momo_stats, momo_preflight), and momo_health
#       warns, without calling the worker broken;
#   (c) the server restarts: the pause holds;
#   (d) a role with an application's grants can neither pause, resume nor
#       read the reason; the NOTIFY on momo_pause carries the product and
#       whether it is paused, nothing more, and a fake one from that role
#       resumes nothing;
#   (e) momo_resume: what queued is sent, each once, in the order requested;
#   (f) MTN answers NOT_ALLOWED_TARGET_ENVIRONMENT: the worker pauses by
#       itself, writes the row (automatic, MTN's reason; momo_health:
#       critical), sends nothing more (no probe), and stays paused when MTN takes requests again, until
#       momo_resume; then every payment completes, stored once, the refused
#       one sent again with its reference id;
#   (g) the same with HTTP 403, and with a wrong momo.target_environment: the
#       reload that fixes it does not resume, momo_resume does;
#   (h) the disbursement settings are removed while a transfer is queued:
#       the worker says that disbursement payments wait, and sends the
#       transfer once the settings are back.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

start_sandbox('--ongoing-seconds', '3600');

my $node = momo_node('pause', extra_conf => join("\n",
		'momo.max_in_flight = 1',
		'momo.poll_interval_max = 200ms',
		'momo.retry_max = 1000'));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

sub sql { return $node->safe_psql('postgres', $_[0]); }

# The worker's problem (momo_worker_status), '' when none.
sub worker_problem
{
	return sql("SELECT coalesce(problem, '') FROM momo_worker_status()");
}

# 1 once the worker's problem matches $re, 0 after 30 s.
sub wait_for_problem
{
	my ($re) = @_;
	my $deadline = time() + 30;
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

sub posts { return sandbox_get('/_sandbox/stats')->{rtp_posts}; }

# Queues a payment of each external id, each in a transaction of its own
# (so they are due in this order); returns their reference ids.
sub queue_payments
{
	return map { request_payment($node, amount => 10, msisdn => '+46733000300', external_id => $_) } @_;
}

# A payment that stays PENDING at MTN: its status checks go on.
my $pending = request_payment($node, amount => 5, msisdn => '46733123453', external_id => 'P-pending');
ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$pending'", 'pending', 30),
	'a payment is pending at MTN');

sub status_gets { my $r = sandbox_get("/_sandbox/requests/$pending"); return $r ? $r->{status_gets} : 0; }

# 1 once the pending payment has been checked $n more times, 0 after 30 s.
sub more_status_checks
{
	my ($n) = @_;
	my $target = status_gets() + $n;
	my $deadline = time() + 30;
	usleep(50_000) while status_gets() < $target && time() < $deadline;
	return status_gets() >= $target ? 1 : 0;
}

# Of @refs, those the sandbox never saw, and those still queued with no send counted.
sub unseen { return scalar grep { !defined sandbox_get("/_sandbox/requests/$_") } @_; }

sub still_queued
{
	return sql("SELECT count(*) FROM momo_payments WHERE reference_id IN ('" . join("','", @_)
		  . "') AND status = 'queued' AND attempts = 0");
}

my $paused_re = qr/sending collection payments is paused since [^,]+, by \S+: MTN incident 7/;

############################################################################
# (a) A pause while a request is in flight and the next is claimed ahead.
my (@ahead, $pos);
{
	sandbox_post('/_sandbox/config', { delay_ms => 1500, status_delay_ms => 1 });
	my $before = posts();
	@ahead = split /\n/, sql("SELECT momo_request_to_pay(10, 'EUR', '46733000200', 'P-ahead-' || i) "
		  . 'FROM generate_series(1, 6) AS i');
	my $deadline = time() + 30;
	usleep(10_000) while posts() < $before + 1 && time() < $deadline;
	is(posts(), $before + 1, 'one payment request is in flight (MTN answers it 1.5 s late)');

	$pos = log_position($node);
	sql("SELECT momo_pause('MTN incident 7', 'collection')");
	my $at_commit = posts();
	ok(wait_for_problem($paused_re), 'the worker sees the pause');
	my $seen = posts();
	is($seen, $at_commit, 'no request left between the commit and the worker seeing the pause');
	ok(poll_until($node, 'postgres',
			"SELECT count(*) FROM momo_payments WHERE external_id LIKE 'P-ahead-%' AND status <> 'queued'", '1', 30),
		'the request in flight finishes: its payment is at MTN');
	sandbox_post('/_sandbox/config', { delay_ms => 0, status_delay_ms => 0 });
	ok(more_status_checks(3), 'status checks go on');
	is(posts(), $seen, 'no POST reached MTN after the worker saw the pause, though 5 payments were due');
	is(still_queued(@ahead), 5, 'the other 5 wait, queued, no send counted');
	is(unseen(@ahead), 5, 'MTN never saw them');
}

############################################################################
# (b) Payments requested while paused.
my @queued;
{
	my $posts0 = posts();
	@queued = queue_payments(map { "P-queued-$_" } 1 .. 5);
	is(scalar(@queued), 5, 'momo_request_to_pay takes payments while paused');
	ok(more_status_checks(3), 'the pending payment is checked three more times');
	is(posts(), $posts0, 'no payment request reached MTN');
	is(still_queued(@queued), 5, 'the 5 wait, queued');
	is(unseen(@queued), 5, 'MTN never saw them');
	is(sql("SELECT count(*) FROM momo_payments WHERE status = 'failed'"), '0', 'none failed');

	like(sql("SELECT reason || '|' || automatic || '|' || (paused_by = current_user) FROM momo_pauses WHERE product = 'collection'"),
		qr/^MTN incident 7\|false\|true$/, 'momo_pauses: the reason, not automatic, paused by the caller');
	is(sql("SELECT string_agg(label || '=' || value, ',' ORDER BY label) FROM momo_stats WHERE metric = 'paused'"),
		'collection=1,disbursement=0,remittance=0', 'momo_stats: collection paused');
	like(sql("SELECT label FROM momo_stats WHERE metric = 'worker_problem'"), $paused_re, 'momo_stats: the worker says why');
	like(sql("SELECT ok || ' ' || detail FROM momo_preflight() WHERE check_name = 'paused'"),
		qr/^false $paused_re/, 'momo_preflight() says so');
	like(sql("SELECT status || ' ' || value || ' ' || reason FROM momo_health() WHERE check_name = 'paused'"),
		qr/^warning 1 sending collection payments is paused since [^,]+, by \S+ \(the reason is in momo_pauses\)/,
		"momo_health(): an operator's pause is a warning (its reason is not shown)");
	is(sql("SELECT status FROM momo_health() WHERE check_name = 'worker'"), 'ok',
		'momo_health(): the worker itself is ok');
	is(count_matches(log_since($node, $pos),
			qr/WARNING:  momo worker is not sending payments: sending collection payments is paused since .*, by \S+: MTN incident 7/),
		1, 'the server log says so once');
}

############################################################################
# (c) The pause outlives a restart.
{
	my $posts0 = posts();
	$pos = log_position($node);
	$node->restart;
	ok(wait_for_worker($node), 'the worker runs again');
	ok(wait_for_problem($paused_re), 'the new worker reads the pause');
	ok(more_status_checks(3), 'status checks go on');
	is(posts(), $posts0, 'no payment request reached MTN after the restart');
	is(still_queued(@ahead, @queued), 10, 'the 10 wait, queued');
	like(log_since($node, $pos), qr/WARNING:  momo worker is not sending payments: sending collection payments is paused/,
		'the new worker logs the pause');
}

############################################################################
# (d) A role with an application's grants; the notification.
{
	sql(q{CREATE ROLE app LOGIN;
		GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
		                          momo_payment_status(uuid), momo_await(uuid, interval) TO app;
		GRANT SELECT ON momo_payments TO app;});
	my $as_app = sub {
		my ($stmt) = @_;
		my ($out, $err) = ('', '');
		$node->psql('postgres', $stmt, stdout => \$out, stderr => \$err, extra_params => [ '-U', 'app' ]);
		return "$out$err";
	};
	like($as_app->("SELECT momo_resume('collection')"), qr/permission denied for function momo_resume/, 'app cannot resume');
	like($as_app->("SELECT momo_pause('mine', 'disbursement')"), qr/permission denied for function momo_pause/, 'app cannot pause');
	like($as_app->('SELECT reason FROM momo_pauses'), qr/permission denied for table momo_pauses/, 'app cannot read the reason');
	like($as_app->("DELETE FROM momo_pauses"), qr/permission denied for table momo_pauses/, 'app cannot delete the pause');
	like($as_app->('SELECT * FROM momo_worker_status()'), qr/permission denied for function momo_worker_status/,
		"app cannot read the worker's problem");
	like($as_app->('SELECT * FROM momo_stats'), qr/permission denied for view momo_stats/, 'app cannot read momo_stats');
	like($as_app->("SELECT * FROM momo_preflight()"), qr/permission denied for function momo_preflight/,
		'app cannot run momo_preflight()');

	# LISTEN is open to every role (app listens): the payload tells nothing
	# more than the product.
	my ($out, $err) = ('', '');
	$node->psql('postgres', "SET ROLE app; LISTEN momo_pause; RESET ROLE;\n"
		  . "SELECT momo_pause('secret reason XYZ', 'remittance');\nSELECT momo_resume('remittance');\nSELECT 1;",
		stdout => \$out, stderr => \$err);
	my @payloads = $out =~ /Asynchronous notification "momo_pause" with payload "(.*?)" received/g;
	is_deeply(\@payloads, [ '{"product":"remittance","paused":true}', '{"product":"remittance","paused":false}' ],
		'a listener is told the product and whether it is paused')
	  or diag("psql said: $out$err");
	unlike($out, qr/XYZ/, '... and not the reason');

	# A fake resume notification: the worker does not listen.
	my $posts0 = posts();
	$as_app->(q{NOTIFY momo_pause, '{"product":"collection","paused":false}'});
	ok(more_status_checks(3), 'status checks go on');
	is(posts(), $posts0, 'a fake notification resumes nothing');
	like(worker_problem(), $paused_re, 'still paused');
}

############################################################################
# (e) Resuming sends what queued, in order.
{
	$pos = log_position($node);
	sql("SELECT momo_resume('collection')");
	my @done = grep { (await_payment($node, $_, seconds => 30)->{status} // '') eq 'successful' } @ahead[1 .. 5], @queued;
	is(scalar(@done), 10, 'after momo_resume, every queued payment completes');
	my %rec = map { $_ => sandbox_get("/_sandbox/requests/$_") } @ahead, @queued;
	is(scalar(grep { $rec{$_} && $rec{$_}{posts} == 1 && $rec{$_}{accepted} == 1 } @ahead, @queued), 11,
		'each was POSTed once, and stored');
	my @order = map { $rec{$_}{accepted_event} } @queued;
	is_deeply(\@order, [ sort { $a <=> $b } @order ], 'the payments requested while paused were sent in the order requested');
	my ($last_ahead) = sort { $b <=> $a } map { $rec{$_}{accepted_event} } @ahead;
	cmp_ok($last_ahead, '<', $order[0], '... after those queued before them');
	is(sql("SELECT count(*) FROM momo_pauses"), '0', 'momo_pauses is empty');
	ok(poll_until($node, 'postgres', "SELECT coalesce(problem, '') FROM momo_worker_status()", '', 10), 'no problem left');
	like(log_since($node, $pos), qr/LOG:  momo worker is sending collection payments again: its pause was ended/,
		'the server log says so');
	is(sql("SELECT value FROM momo_stats WHERE metric = 'paused' AND label = 'collection'"), '0', 'momo_stats: not paused');
	is(sql("SELECT status FROM momo_health() WHERE check_name = 'paused'"), 'ok', 'momo_health(): ok');
}

# (f) and (g): MTN refuses the merchant's configuration, after break
# (the sandbox's refuse_posts, or a wrong setting) until fix; reason is
# MTN's; resent: the sandbox counts the refusal as a fault of the payment;
# checks_refused: MTN refuses the status checks too until fix.
sub automatic_pause
{
	my (%o) = @_;
	my $what = $o{what};
	$o{break}->();
	my @refs = queue_payments(map { "P-$o{tag}-$_" } 1 .. 3);
	ok(wait_for_problem(qr/sending collection payments is paused since [^,]+, automatically: MTN refuses collection requests for the merchant's configuration \($o{reason}\)/),
		"$what: the worker pauses by itself, and says why");
	like(sql("SELECT automatic || '|' || paused_by || '|' || reason FROM momo_pauses WHERE product = 'collection'"),
		qr/^true\|momo_worker\|MTN refuses collection requests for the merchant's configuration \($o{reason}\)$/,
		"$what: the pause is in momo_pauses, automatic, with MTN's reason");
	is(sql("SELECT status FROM momo_health() WHERE check_name = 'paused'"), 'critical',
		"$what: momo_health() says it is critical");
	my $posts0 = posts();
	# (MTN refuses the status checks too while the target environment is wrong.)
	if (!$o{checks_refused})
	{
		ok(more_status_checks(3), "$what: status checks go on");
		is(posts(), $posts0, "$what: nothing more is sent, no probe either");
	}
	is(sql("SELECT count(*) FROM momo_payments WHERE status = 'failed'"), '0', "$what: none failed");
	$o{fix}->();
	ok(more_status_checks(3), "$what: once MTN would take requests again, status checks go on");
	is(posts(), $posts0, "$what: ... and the pause holds: nothing is sent");
	is(still_queued(@refs), 3, "$what: the payments wait, queued (the refused one's send not counted either)");
	sql("SELECT momo_resume()");
	my @done = grep { (await_payment($node, $_, seconds => 30)->{status} // '') eq 'successful' } @refs;
	is(scalar(@done), 3, "$what: after momo_resume every payment completes");
	my @once = grep { my $r = sandbox_get("/_sandbox/requests/$_"); $r && $r->{accepted} == 1 } @refs;
	is(scalar(@once), 3, "$what: each stored once by MTN");
	if ($o{resent})
	{
		my $r = sandbox_get("/_sandbox/requests/$refs[0]");
		ok($r && $r->{faults} == 1 && $r->{posts} == 2, "$what: the refused payment was sent again with its reference id");
	}
	ok(poll_until($node, 'postgres', "SELECT coalesce(problem, '') FROM momo_worker_status()", '', 10),
		"$what: no problem left");
}

############################################################################
# (f) NOT_ALLOWED_TARGET_ENVIRONMENT.
automatic_pause(what => 'NOT_ALLOWED_TARGET_ENVIRONMENT', tag => 'env', resent => 1, reason => 'NOT_ALLOWED_TARGET_ENVIRONMENT',
	break => sub { sandbox_post('/_sandbox/config', { refuse_posts => 'target_environment' }) },
	fix   => sub { sandbox_post('/_sandbox/config', { refuse_posts => 'none' }) });

############################################################################
# (g) HTTP 403, and a wrong target environment fixed by a reload.
automatic_pause(what => 'HTTP 403', tag => '403', resent => 1, reason => 'FORBIDDEN',
	break => sub { sandbox_post('/_sandbox/config', { refuse_posts => 'forbidden' }) },
	fix   => sub { sandbox_post('/_sandbox/config', { refuse_posts => 'none' }) });
automatic_pause(what => 'a wrong target environment', tag => 'cfg', reason => 'NOT_ALLOWED_TARGET_ENVIRONMENT',
	checks_refused => 1,
	break => sub { ok(set_momo($node, target_environment => 'mtnrwanda'), 'momo.target_environment = mtnrwanda') },
	fix => sub {
		sql('ALTER SYSTEM RESET momo.target_environment; SELECT pg_reload_conf()');
		ok(poll_until($node, 'postgres', "SELECT current_setting('momo.target_environment')", 'sandbox', 10),
			'the reload fixes the target environment');
	});

############################################################################
# (h) The disbursement settings removed while a transfer is queued.
{
	my %d = (
		disbursement_subscription_key_primary => $CRED{sub_key_primary},
		disbursement_api_user                 => $CRED{api_user},
		disbursement_api_key                  => $CRED{api_key});
	ok(set_momo($node, %d), 'disbursement configured');
	my $ref = sql("SELECT momo_transfer(5, 'EUR', '46733000400', 'P-payout-1')");
	is(await_payment($node, $ref, seconds => 30)->{status}, 'successful', 'a transfer completes');

	$pos = log_position($node);
	sql(q{
		BEGIN;
		SELECT momo_transfer(6, 'EUR', '46733000401', 'P-payout-2');
		PREPARE TRANSACTION 'payout';
	});
	sql(join('; ', map { "ALTER SYSTEM RESET momo.$_" } sort keys %d) . '; SELECT pg_reload_conf()');
	ok(poll_until($node, 'postgres', "SELECT current_setting('momo.disbursement_api_user')", '', 10),
		'the disbursement settings are gone');
	sql("COMMIT PREPARED 'payout'");
	$ref = sql("SELECT reference_id FROM momo_payments WHERE external_id = 'P-payout-2'");
	ok(wait_for_problem(qr/disbursement payments are waiting, but no disbursement credentials are set/),
		'the worker says that disbursement payments wait without credentials');
	ok(wait_for_log_count($node, qr/WARNING:  momo worker is not sending payments: disbursement payments are waiting/, 1, $pos, 10),
		'... and logs it');
	is(payment_row($node, $ref)->{status}, 'queued', 'the transfer waits, queued');
	is(sandbox_get("/_sandbox/requests/$ref"), undef, 'MTN never saw it');

	ok(set_momo($node, %d), 'disbursement configured again');
	is(await_payment($node, $ref, seconds => 30)->{status}, 'successful', 'the transfer completes');
	ok(poll_until($node, 'postgres', "SELECT coalesce(problem, '') FROM momo_worker_status()", '', 10),
		'no problem left');
	is(count_matches(log_since($node, $pos), qr/WARNING:  momo worker is not sending payments: disbursement payments are waiting/),
		1, 'the WARNING was logged once');
}

############################################################################
# (i) Every operation of a paused product waits, while another product
# sends (so the worker claims payments meanwhile, and must pass these
# over): a request to withdraw (collection, /v1_0 and /v2_0) and a cash
# transfer (remittance) while disbursement sends; then a deposit and a
# refund of /v2_0 (disbursement) while collection sends.
{
	ok(set_momo($node,
			remittance_subscription_key_primary => $CRED{sub_key_primary},
			remittance_api_user                 => $CRED{api_user},
			remittance_api_key                  => $CRED{api_key}),
		'remittance configured');
	my $collected = sql("SELECT momo_request_to_pay(20, 'EUR', '46733000500', 'P-to-refund')");
	is(await_payment($node, $collected, seconds => 30)->{status}, 'successful', 'a payment to refund is collected');

	# Sends of what is paused: the sandbox's counters, and the payments.
	my $sent = sub { my $st = sandbox_get('/_sandbox/stats'); return join(',', map { $st->{$_} } @_); };
	my $waits = sub {
		my ($what, $counters, $before, $sending, @refs) = @_;
		is(await_payment($node, $sending, seconds => 30)->{status}, 'successful',
			"$what: a payment of a product not paused, requested after them, is sent and completes");
		ok(more_status_checks(3), "$what: status checks go on");
		is($sent->(@$counters), $before, "$what: none of them reached MTN");
		is(still_queued(@refs), scalar(@refs), "$what: they wait, queued");
		is(unseen(@refs), scalar(@refs), "$what: MTN never saw them");
	};

	sql("SELECT momo_pause('MTN incident 9', 'collection'); SELECT momo_pause('MTN incident 9', 'remittance')");
	ok(wait_for_problem(qr/sending collection payments is paused.*sending remittance payments is paused/),
		'the worker sees collection and remittance paused');
	my $before = $sent->(qw(withdraw_posts cashtransfer_posts));
	my @in = split /\n/, sql(q{
		SELECT momo_request_to_withdraw(5, 'EUR', '46733000501', 'P-withdraw-1');
		SELECT momo_request_to_withdraw(5, 'EUR', '46733000502', 'P-withdraw-2', version => 2);
		SELECT momo_cash_transfer(5, 'EUR', '46733000504', 'P-cash-1');
	});
	is(scalar(@in), 3, 'requests to withdraw and a cash transfer are taken while paused');
	$waits->('requests to withdraw (v1, v2) and a cash transfer', [qw(withdraw_posts cashtransfer_posts)], $before,
		sql("SELECT momo_transfer(5, 'EUR', '46733000505', 'P-payout-3')"), @in);

	sql("SELECT momo_pause('MTN incident 10', 'disbursement'); SELECT momo_resume('collection'); SELECT momo_resume('remittance')");
	ok(wait_for_problem(qr/^sending disbursement payments is paused since [^;]*$/), 'the worker sees only disbursement paused');
	$before = $sent->(qw(deposit_posts refund_posts));
	my @out = split /\n/, sql(qq{
		SELECT momo_deposit(5, 'EUR', '46733000503', 'P-deposit-2', version => 2);
		SELECT momo_refund('$collected', 5, 'P-refund-2', version => 2);
	});
	is(scalar(@out), 2, 'a deposit and a refund of /v2_0 are taken while paused');
	$waits->('a deposit and a refund of /v2_0', [qw(deposit_posts refund_posts)], $before,
		sql("SELECT momo_request_to_pay(5, 'EUR', '46733000506', 'P-in-3')"), @out);

	sql('SELECT momo_resume()');
	my @refs = (@in, @out);
	my @done = grep { (await_payment($node, $_, seconds => 30)->{status} // '') eq 'successful' } @refs;
	is(scalar(@done), 5, 'after momo_resume, each completes');
	is(scalar(grep { my $r = sandbox_get("/_sandbox/requests/$_"); $r && $r->{posts} == 1 && $r->{accepted} == 1 } @refs),
		5, 'each was POSTed once, and stored');
}

$node->stop;
done_testing();
