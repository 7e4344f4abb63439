
# 018_pause.pl - what says nothing about a payment fails none, and what
# holds payments up is told: the disbursement settings are removed while a
# transfer is queued: the worker says that disbursement payments wait, and
# sends the transfer once the settings are back.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

start_sandbox();

my $node = momo_node('pause', extra_conf => 'momo.retry_max = 1000');
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

############################################################################
# The disbursement settings removed while a transfer is queued.
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
