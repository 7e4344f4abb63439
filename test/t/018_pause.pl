
# 018_pause.pl - what says nothing about a payment fails none:
#   (a) MTN (the sandbox) answers every request to pay with 500
#       NOT_ALLOWED_TARGET_ENVIRONMENT, a refusal of the merchant's
#       configuration: sending pauses (a few requests, then one probe now
#       and then), no payment fails, the worker says why once; when MTN
#       takes requests again a probe finds out, and every queued payment
#       completes, each stored once under the reference id it was sent with;
#   (b) the same with HTTP 403;
#   (c) a wrong momo.target_environment: paused, and sending resumes at the
#       reload that fixes it, without waiting for a probe;
#   (d) the disbursement settings are removed while a transfer is queued:
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

my $N = 20;    # payments queued while MTN refuses

start_sandbox();

# Two requests in flight at most, so that a pause shows before every payment is sent.
my $node = momo_node('pause', extra_conf => join("\n",
		'momo.max_in_flight = 2',
		'momo.retry_max = 1000'));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

# The worker's problem (momo_worker_status), '' when none.
sub worker_problem
{
	return $node->safe_psql('postgres', "SELECT coalesce(problem, '') FROM momo_worker_status()");
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

# Queues $n payments in one transaction; returns their reference ids.  The
# numbers have their +: under (c)'s target environment, mtnrwanda, a bare
# sandbox number would be a Rwandan number of the wrong length.
sub queue_payments
{
	my ($prefix, $n) = @_;
	return split /\n/, $node->safe_psql('postgres',
		"SELECT momo_request_to_pay(10, 'EUR', '+' || (46733000300 + i)::text, '$prefix' || i) "
		  . "FROM generate_series(1, $n) AS i");
}

# Distinct reference ids the sandbox got a POST of, among @refs.
sub posted
{
	return scalar grep { my $r = sandbox_get("/_sandbox/requests/$_"); $r && $r->{posts} > 0 } @_;
}

# Checks that every payment of @refs completes, each stored once by MTN, and
# that those the sandbox refused were sent again with the same reference id.
sub all_complete
{
	my ($what, @refs) = @_;
	my @done = grep { (await_payment($node, $_, seconds => 30)->{status} // '') eq 'successful' } @refs;
	is(scalar(@done), scalar(@refs), "$what: every payment completes");
	my (@twice, $resent);
	for my $ref (@refs)
	{
		my $r = sandbox_get("/_sandbox/requests/$ref");
		push @twice, $ref unless $r && $r->{accepted} == 1 && $r->{stored};
		$resent++ if $r && $r->{faults} > 0 && $r->{posts} == $r->{faults} + 1;
	}
	is(scalar(@twice), 0, "$what: each stored once by MTN");
	ok($resent, "$what: $resent refused payments were sent again with the same reference id, and taken");
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM momo_payments WHERE reference_id IN ('" . join("','", @refs) . "') AND attempts <> 1"),
		'0', "$what: each counts one send, the one MTN took");
}

############################################################################
# (a) NOT_ALLOWED_TARGET_ENVIRONMENT to every request to pay.
{
	my $pos = log_position($node);
	sandbox_post('/_sandbox/config', { refuse_posts => 'target_environment' });
	my @refs = queue_payments('P-env-', $N);
	ok(wait_for_problem(qr/MTN refuses collection requests for the merchant's configuration \(NOT_ALLOWED_TARGET_ENVIRONMENT\): sending them is paused/),
		'the worker says that sending is paused, and why');
	like($node->safe_psql('postgres', "SELECT label FROM momo_stats WHERE metric = 'worker_problem'"),
		qr/NOT_ALLOWED_TARGET_ENVIRONMENT/, 'momo_stats shows it as worker_problem');
	# A rate, over 2.5 s: while paused, only a probe now and then (the
	# pause between probes doubles from 100 ms to 1 s), and the requests
	# that were in flight, go out.
	my $posts0 = sandbox_get('/_sandbox/stats')->{rtp_posts};
	usleep(2_500_000);
	my $stats = sandbox_get('/_sandbox/stats');
	my $sent = $stats->{rtp_posts} - $posts0;
	cmp_ok($sent, '<=', 8, "while paused, only probes are sent ($sent in 2.5 s)");
	cmp_ok(posted(@refs), '<', $N / 2, 'most payments were never sent (' . posted(@refs) . " of $N)");
	is($stats->{rtp_accepted}, 0, 'MTN stored none');
	is($node->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE external_id LIKE 'P-env-%' AND status = 'queued' AND attempts = 0"),
		$N, "all $N payments wait, queued, no send counted");
	is($node->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE status = 'failed'"), '0', 'none failed');
	is(count_matches(log_since($node, $pos), qr/WARNING:  momo worker is not sending payments: MTN refuses collection requests/),
		1, 'the WARNING is logged once');

	sandbox_post('/_sandbox/config', { refuse_posts => 'none' });
	all_complete('after MTN takes requests again', @refs);
	ok(wait_for_log_count($node, qr/sending collection payments again: MTN took a payment sent to find out/, 1, $pos, 10),
		'a probe found out, and the worker says it sends again');
	ok(poll_until($node, 'postgres', "SELECT coalesce(problem, '') FROM momo_worker_status()", '', 10),
		'no problem left');
}

############################################################################
# (b) HTTP 403 to every request to pay.
{
	sandbox_post('/_sandbox/config', { refuse_posts => 'forbidden' });
	my @refs = queue_payments('P-403-', 5);
	ok(wait_for_problem(qr/MTN refuses collection requests for the merchant's configuration \(FORBIDDEN\)/),
		'HTTP 403 pauses sending too');
	is($node->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE external_id LIKE 'P-403-%' AND status = 'queued'"),
		'5', 'the payments wait, queued');
	sandbox_post('/_sandbox/config', { refuse_posts => 'none' });
	all_complete('after the 403s', @refs);
}

############################################################################
# (c) A wrong target environment: fixed by a reload.
{
	my $pos = log_position($node);
	ok(set_momo($node, target_environment => 'mtnrwanda', retry_max => '10min'),
		'momo.target_environment = mtnrwanda; probes far apart');
	my @refs = queue_payments('P-cfg-', 3);
	ok(wait_for_problem(qr/\(NOT_ALLOWED_TARGET_ENVIRONMENT\): sending them is paused/), 'paused');
	is($node->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE external_id LIKE 'P-cfg-%' AND status = 'queued'"),
		'3', 'the payments wait, queued');
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET momo.target_environment; SELECT pg_reload_conf()');
	my @done = grep { (await_payment($node, $_, seconds => 30)->{status} // '') eq 'successful' } @refs;
	is(scalar(@done), 3, 'the reload that fixes it resumes sending: every payment completes');
	like(log_since($node, $pos), qr/sending collection payments again: its configuration changed/,
		'... because the configuration changed');
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET momo.retry_max; SELECT pg_reload_conf()');
}

############################################################################
# (d) The disbursement settings removed while a transfer is queued.
{
	my %d = (
		disbursement_subscription_key_primary => $CRED{sub_key_primary},
		disbursement_api_user                 => $CRED{api_user},
		disbursement_api_key                  => $CRED{api_key});
	ok(set_momo($node, %d), 'disbursement configured');
	my $ref = $node->safe_psql('postgres', "SELECT momo_transfer(5, 'EUR', '46733000400', 'P-payout-1')");
	is(await_payment($node, $ref, seconds => 30)->{status}, 'successful', 'a transfer completes');

	my $pos = log_position($node);
	$node->safe_psql('postgres', q{
		BEGIN;
		SELECT momo_transfer(6, 'EUR', '46733000401', 'P-payout-2');
		PREPARE TRANSACTION 'payout';
	});
	$node->safe_psql('postgres', join('; ', map { "ALTER SYSTEM RESET momo.$_" } sort keys %d)
		  . '; SELECT pg_reload_conf()');
	ok(poll_until($node, 'postgres', "SELECT current_setting('momo.disbursement_api_user')", '', 10),
		'the disbursement settings are gone');
	$node->safe_psql('postgres', "COMMIT PREPARED 'payout'");
	$ref = $node->safe_psql('postgres', "SELECT reference_id FROM momo_payments WHERE external_id = 'P-payout-2'");
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

$node->stop;
done_testing();
