
# 054_pause_failover.pl - the pause survives a failover (issue 13: "the
# pause survives a restart and a failover (it lives in a table, not in
# memory)").  A primary with collection paused and payments queued behind
# the pause fails; its streaming standby is promoted.  The new primary's
# worker reads the pause and sends nothing -- proven without a clock, as
# t/018 proves it: a payment PENDING at MTN goes on being checked by the new
# worker, which claims sends before status checks, so after three more
# checks a send the pause did not stop would have left -- and momo_health(),
# momo_preflight() and momo_worker_status() say why.  momo_resume() on the
# new primary sends what queued: each payment accepted by MTN once, and
# completed.
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

my $primary = momo_node('pf_primary', allows_streaming => 1, extra_conf => join("\n",
		'momo.max_in_flight = 1',
		'momo.poll_interval_max = 200ms'));
$primary->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($primary), 'the primary runs a worker');

sub posts { return sandbox_get('/_sandbox/stats')->{rtp_posts}; }

# A payment that stays PENDING at MTN (the sandbox keeps 46733123453 so for
# an hour here): its status checks go on while sending is paused.
my $pending = request_payment($primary, amount => 5, msisdn => '46733123453', external_id => 'F-pending');
ok(poll_until($primary, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$pending'", 'pending', 30),
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

# The pause, and three payments queued behind it, on the primary.
$primary->safe_psql('postgres', "SELECT momo_pause('failover drill INC-9', 'collection')");
ok(poll_until($primary, 'postgres', "SELECT coalesce(problem, '') ~ 'collection payments is paused' FROM momo_worker_status()", 't', 30),
	'the primary\'s worker sees the pause');
my $posts0 = posts();
my @queued = map {
	request_payment($primary, amount => 10, msisdn => '46733000400', external_id => "F-queued-$_")
} 1 .. 3;
ok(more_status_checks(3), 'the primary goes on checking the pending payment');
is(posts(), $posts0, 'the primary sent none of the queued payments');

# A streaming standby, caught up; then the primary fails (immediate stop)
# and the standby is promoted.
$primary->backup('pf_backup');
my $standby = PostgreSQL::Test::Cluster->new('pf_standby');
$standby->init_from_backup($primary, 'pf_backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE status = 'queued'"), '3',
	'the standby has the queued payments');
$primary->stop('immediate');
my $log_pos = -s $standby->logfile;
$standby->promote;
ok(poll_until($standby, 'postgres', 'SELECT pg_is_in_recovery()', 'f', 30), 'the standby is promoted');
ok(wait_for_worker($standby), 'the new primary runs a worker');

sub sql { return $standby->safe_psql('postgres', $_[0]); }

my $paused_re = qr/sending collection payments is paused since [^,]+, by \S+: failover drill INC-9/;
ok(poll_until($standby, 'postgres', "SELECT coalesce(problem, '') ~ 'collection payments is paused' FROM momo_worker_status()", 't', 30),
	'the new primary\'s worker reads the pause');
like(sql("SELECT problem FROM momo_worker_status()"), $paused_re, 'momo_worker_status() says why');
is(sql("SELECT product || ' ' || automatic || ' ' || reason FROM momo_pauses"), 'collection false failover drill INC-9',
	'momo_pauses: the pause as it was set');
ok(more_status_checks(3), 'the new worker checks the pending payment three times');
is(posts(), $posts0, 'the new primary sent none of the queued payments');
is(sql("SELECT count(*) FROM momo_payments WHERE status = 'queued' AND attempts = 0"), '3', 'they wait, queued');
is(scalar(grep { !defined sandbox_get("/_sandbox/requests/$_") } @queued), 3, 'MTN never saw them');
like(sql("SELECT status || ' ' || value || ' ' || reason FROM momo_health() WHERE check_name = 'paused'"),
	qr/^warning 1 sending collection payments is paused since [^,]+, by \S+ \(the reason is in momo_pauses\)/,
	'momo_health() on the new primary: paused');
is(sql("SELECT status || ' ' || reason FROM momo_health() WHERE check_name = 'oldest_queued'"),
	'ok no payment waits to be sent (3 wait for their product to be resumed)',
	'momo_health(): the queue waits for the pause');
like(sql("SELECT ok || ' ' || detail FROM momo_preflight() WHERE check_name = 'paused'"),
	qr/^false $paused_re/, 'momo_preflight() on the new primary: paused');
like(slurp_file($standby->logfile, $log_pos),
	qr/WARNING:  momo worker is not sending payments: sending collection payments is paused/,
	'the new worker logs the pause');

# Resumed on the new primary: what queued is sent, once each, and completes.
sql("SELECT momo_resume()");
ok(poll_until($standby, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE external_id LIKE 'F-queued-%' AND status = 'successful'", '3', 60),
	'after momo_resume() the queued payments complete');
is(posts(), $posts0 + 3, 'three payment requests reached MTN');
is(join(',', map { sandbox_get("/_sandbox/requests/$_")->{posts} } @queued), '1,1,1',
	'each was sent once');
is(sql("SELECT status FROM momo_health() WHERE check_name = 'paused'"), 'ok', 'momo_health(): no longer paused');

$standby->stop;
done_testing();
