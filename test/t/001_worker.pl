
# 001_worker.pl - the momo worker's life: start, payments end to end, SIGTERM
# (restart by the launcher), SIGKILL (crash restart), SIGHUP with changed
# credentials, a database in momo.databases that does not exist yet, a
# streaming standby before and after promotion, and DROP/CREATE EXTENSION
# under a running worker.
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

# A node whose momo.databases lists a database that does not exist yet.
my $later = momo_node('later', database_name => 'momo_later');
my $later_pos = 0;

my $node = momo_node('primary', allows_streaming => 1);
$node->safe_psql('postgres', 'CREATE EXTENSION momo');

# Checks that a payment from $n (database $db) ends successful, with a
# financial transaction id that the sandbox agrees on, after exactly one
# POST; returns the reference id.
sub payment_works
{
	my ($n, $what, %o) = @_;
	my $db = $o{db} // 'postgres';
	my $ref = request_payment($n, db => $db, msisdn => $o{msisdn} // '46733000001',
		external_id => $o{external_id});
	like($ref, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
		"$what: momo_request_to_pay returns a UUID v4");
	my $row = await_payment($n, $ref, db => $db, seconds => 30);
	is($row->{status}, 'successful', "$what: payment is successful");
	my $sb = sandbox_get("/_sandbox/payments/$ref");
	ok($sb, "$what: the sandbox stored the payment");
	ok(defined $row->{financial_transaction_id}
		  && $sb && defined $sb->{financialTransactionId}
		  && $row->{financial_transaction_id} eq $sb->{financialTransactionId},
		"$what: financial_transaction_id is MTN's ("
		  . ($row->{financial_transaction_id} // 'NULL') . ")");
	is($sb && "$sb->{posts}/$sb->{accepted}/$sb->{conflicts}", '1/1/0',
		"$what: one POST, accepted, no conflict");
	return $ref;
}

sub postmaster_pid
{
	my ($n) = @_;
	open my $fh, '<', $n->data_dir . '/postmaster.pid' or return undef;
	my $pid = <$fh>;
	chomp $pid;
	return $pid;
}

############################################################################
# The worker runs, connected to the database momo.databases lists.
my $wpid = wait_for_worker($node);
ok($wpid, 'a momo worker runs');
# (it names itself in application_name once connected and attached, a
# moment after pg_stat_activity first shows it)
ok(poll_until($node, 'postgres',
		"SELECT datname || '/' || coalesce(application_name, '') FROM pg_stat_activity WHERE backend_type = 'momo worker'",
		'postgres/momo worker', 30),
	'exactly one momo worker, connected to the database momo.databases lists (postgres)');
like(slurp_file($node->logfile), qr/momo worker started in database "postgres"/,
	'the worker logs its start');

payment_works($node, 'first payment', external_id => 'w-first');

############################################################################
# SIGTERM: the worker exits, the server stays up, and the launcher starts a
# new worker after 5 s.
{
	my $pos = log_position($node);
	my $session = $node->background_psql('postgres');
	my $backend = $session->query_safe('SELECT pg_backend_pid()');
	my $t0 = time();
	ok(kill('TERM', $wpid), "SIGTERM sent to worker $wpid");
	my $new = wait_for_worker($node, not_pid => $wpid, timeout => 20);
	my $gap = time() - $t0;
	ok($new, "a new worker ($new) replaces the terminated one");
	cmp_ok($gap, '>=', 4, sprintf('it came back after the restart interval (%.1f s)', $gap));
	like(log_since($node, $pos), qr/terminating background worker "momo worker" due to administrator command/,
		'the log shows the worker terminated by SIGTERM');
	unlike(log_since($node, $pos), qr/terminating any other active server processes/,
		'SIGTERM of the worker does not crash-restart the server');
	is($session->query_safe('SELECT pg_backend_pid()'), $backend,
		'a session open across the SIGTERM survives');
	$session->quit;
	$wpid = $new;
	payment_works($node, 'after SIGTERM');
}

############################################################################
# SIGKILL: the postmaster crash-restarts everything, the worker comes back.
{
	my $pos = log_position($node);
	my $pm = postmaster_pid($node);
	ok(kill('KILL', $wpid), "SIGKILL sent to worker $wpid");
	ok(wait_for_log_count($node, qr/all server processes terminated; reinitializing/, 1, $pos, 30),
		'the postmaster crash-restarts');
	ok(poll_until($node, 'postgres', 'SELECT 1', '1', 60), 'the server accepts connections again');
	my $new = wait_for_worker($node, not_pid => $wpid, timeout => 30);
	ok($new, "a new worker ($new) after the crash restart");
	like(log_since($node, $pos), qr/background worker "momo worker" \(PID $wpid\) was terminated by signal 9/,
		'the log names the killed worker');
	is(postmaster_pid($node), $pm, 'same postmaster (crash restart, not a new start)');
	$wpid = $new;
	payment_works($node, 'after SIGKILL');
}

############################################################################
# SIGHUP with a wrong API key: nothing is sent, the worker says why; the
# right key again: the same payment goes through, with no new call.
{
	my $pos = log_position($node);
	my $stats0 = sandbox_get('/_sandbox/stats');
	$node->safe_psql('postgres', "ALTER SYSTEM SET momo.api_key = 'wrongkey00000000'");
	$node->reload;
	ok(poll_until($node, 'postgres', 'SHOW momo.api_key', 'wrongkey00000000', 10),
		'new sessions see the wrong key');
	my $ref = request_payment($node, external_id => 'w-hup');
	ok(wait_for_log_count($node,
			qr/WARNING:  momo worker is not sending payments: no collection access token/, 1, $pos, 20),
		'the worker logs a WARNING that it is not sending');
	my $stats1 = sandbox_get('/_sandbox/stats');
	cmp_ok($stats1->{token_rejected}, '>', $stats0->{token_rejected},
		'the sandbox refused a token request with the wrong key');
	# give it a few more retries (retry interval ~1 s) before looking
	ok(poll_until($node, 'postgres',
			"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'momo worker'", 't', 5),
		'the worker still runs');
	usleep(1_500_000);
	my $row = payment_row($node, $ref);
	is("$row->{status}/$row->{attempts}", 'queued/0', 'the payment stays queued, never sent');
	is(sandbox_get("/_sandbox/requests/$ref"), undef, 'the sandbox never saw the payment');
	is($stats1->{rtp_posts}, $stats0->{rtp_posts}, 'no request to pay was posted with the wrong key');
	is(wait_for_worker($node, timeout => 5), $wpid, 'the worker was not restarted by the reload');

	$pos = log_position($node);
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET momo.api_key');
	$node->reload;
	$row = await_payment($node, $ref, seconds => 30);
	is($row->{status}, 'successful', 'after restoring the key the same payment goes through');
	my $sb = sandbox_get("/_sandbox/requests/$ref");
	is($sb && "$sb->{posts}/$sb->{accepted}", '1/1', 'sent once');
	like(log_since($node, $pos), qr/momo worker problem solved: sending payments again/,
		'the worker logs that it sends again');
}

############################################################################
# momo.databases lists a database that did not exist: nothing tried to
# connect to it (no FATAL, no restart every 5 s), one LOG line said so, and
# once it exists with momo installed it is served without a restart.
{
	ok(wait_for_log_count($later,
			qr/LOG:  momo does not serve database "momo_later", which momo.databases lists: it does not exist/,
			1, $later_pos, 20),
		'the launcher says that the listed database does not exist');
	$later->safe_psql('postgres', 'CREATE DATABASE momo_later');
	$later->safe_psql('momo_later', 'CREATE EXTENSION momo');
	my $lpid = wait_for_worker($later, db => 'momo_later', timeout => 20);
	ok($lpid, 'once momo is installed in it, a worker serves it (no restart)');
	payment_works($later, 'database created late', db => 'momo_later');
	my $log = slurp_file($later->logfile);
	unlike($log, qr/FATAL|background worker "momo worker" \(PID \d+\) exited with exit code 1/,
		'no worker failed to connect meanwhile');
	is(count_matches($log, qr/which momo.databases lists: it does not exist/), 1,
		'the missing database was logged once');
	my ($rc, $out, $err) = $later->psql('postgres',
		"CREATE EXTENSION momo; SELECT momo_request_to_pay(1, 'EUR', '46733000001')");
	like($err, qr/momo does not serve database "postgres": momo.databases does not list it/,
		'momo_request_to_pay refuses a database that momo.databases does not list');

	# A synchronous call there still asks MTN; if its transaction aborts,
	# no worker would ever write its events: they are dropped at once, with
	# a LOG line saying why, and do not take the shared queue's room from
	# the databases momo serves, whose aborted calls' events still arrive.
	my $pos = -s $later->logfile;
	($rc, $out, $err) = $later->psql('postgres',
		'BEGIN; SELECT (momo_balance()).currency; ROLLBACK;');
	is($out, 'EUR', 'a synchronous call works in a database momo.databases does not list')
	  or diag($err);
	ok(wait_for_log_count($later,
			qr/LOG:  momo could not keep 1 exchanges with MTN of an aborted transaction for momo_events\n.*DETAIL:  No momo worker serves this database\./,
			1, $pos, 20),
		'its aborted transaction\'s exchange is dropped, and the log says no worker serves the database');
	$later->safe_psql('momo_later', 'BEGIN; SELECT momo_balance(); ROLLBACK;');
	ok(poll_until($later, 'momo_later',
			"SELECT count(*) FROM momo_events WHERE operation = 'balance'", '1', 20),
		'the aborted call of a served database still reaches its momo_events');
	$later->stop;
}

############################################################################
# A streaming standby runs no worker; once promoted it runs one.
{
	$node->backup('bk');
	my $standby = PostgreSQL::Test::Cluster->new('standby');
	$standby->init_from_backup($node, 'bk', has_streaming => 1);
	$standby->start;
	$node->safe_psql('postgres', 'CREATE TABLE after_backup AS SELECT 1 AS x');
	$node->wait_for_catchup($standby);
	is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
	is($standby->safe_psql('postgres', 'SELECT x FROM after_backup'), '1', 'standby replays');
	my $seen = 0;
	for (1 .. 10)
	{
		$seen += $standby->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'momo worker'");
		usleep(100_000);
	}
	is($seen, 0, 'no momo worker on the standby');
	unlike(slurp_file($standby->logfile), qr/momo worker started/, 'the standby log shows no worker start');
	my ($rc, $out, $err) = $standby->psql('postgres',
		"SELECT momo_request_to_pay(1, 'EUR', '46733000001')");
	isnt($rc, 0, 'momo_request_to_pay fails on the standby');
	like($err, qr/read-only/, '... as a read-only transaction');

	$standby->promote;
	ok(poll_until($standby, 'postgres', 'SELECT pg_is_in_recovery()', 'f', 30), 'standby promoted');
	my $spid = wait_for_worker($standby, timeout => 30);
	ok($spid, 'the promoted standby runs a momo worker');
	payment_works($standby, 'promoted standby', external_id => 'w-promoted');
	$standby->stop;
}

############################################################################
# DROP EXTENSION: the worker exits; CREATE EXTENSION: a new one serves the
# new table.  Both in one transaction: the same worker goes on.
{
	my $pos = log_position($node);
	is(wait_for_worker($node, timeout => 5), $wpid, 'worker before DROP EXTENSION');
	$node->safe_psql('postgres', 'DROP EXTENSION momo');
	ok(poll_until($node, 'postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'momo worker'", '0', 20),
		'after DROP EXTENSION the worker exits');
	$node->safe_psql('postgres', 'CREATE EXTENSION momo');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM momo_payments'), '0', 'a new, empty table');
	payment_works($node, 'after DROP/CREATE EXTENSION', external_id => 'w-recreated');
	$wpid = wait_for_worker($node, not_pid => $wpid, timeout => 5);
	ok($wpid, 'a new worker serves it');
	# and once more, both in one transaction
	$node->safe_psql('postgres', 'BEGIN; DROP EXTENSION momo; CREATE EXTENSION momo; COMMIT');
	payment_works($node, 'after a second DROP/CREATE EXTENSION');
	is(wait_for_worker($node, timeout => 5), $wpid, 'the same worker survived DROP and CREATE in one transaction');
	my $log = log_since($node, $pos);
	unlike($log, qr/ERROR|FATAL|could not record/, 'no error in the log meanwhile')
	  or diag(join("\n", grep { /ERROR|FATAL|could not record/ } split /\n/, $log));
}

############################################################################
# A schema older than the library (between installing a new momo.so and
# ALTER EXTENSION momo UPDATE): the worker says so once, goes on sending,
# and says when the schema is updated.
{
	my $pos = log_position($node);
	$node->safe_psql('postgres', "DROP EXTENSION momo; CREATE EXTENSION momo VERSION '1.0'");
	payment_works($node, 'with the 1.0 schema under the newer library', external_id => 'w-old-schema');
	ok(wait_for_log_count($node,
			qr/WARNING:  momo's schema in this database is version "1\.0", older than its library \([0-9.]+\)\n.*HINT:  Run ALTER EXTENSION momo UPDATE/,
			1, $pos, 10),
		'the worker warns that the schema is older than its library, and says what to do');
	is($node->safe_psql('postgres', "SELECT ok FROM momo_preflight() WHERE check_name = 'version'"),
		'f', 'momo_preflight() shows the old schema');
	$node->safe_psql('postgres', 'ALTER EXTENSION momo UPDATE');
	is($node->safe_psql('postgres',
			"SELECT finished || '/' || merged FROM momo_payment_counts WHERE status = 'successful' AND operation = 'request_to_pay'"),
		'1/true', 'the update counts the payment made under 1.0 as finished');
	payment_works($node, 'after ALTER EXTENSION momo UPDATE', external_id => 'w-updated');
	is($node->safe_psql('postgres',
			"SELECT (SELECT value FROM momo_stats WHERE metric = 'payments' AND label = 'successful/request_to_pay')"
			  . " || '/' || (SELECT count(*) FROM momo_payments WHERE status = 'successful')"),
		'2/2', 'momo_stats counts it and the next one, as the table has them');
	ok(wait_for_log_count($node, qr/LOG:  momo's schema in this database is now version [0-9.]+, as its library/,
			1, $pos, 10),
		'the worker notes the update');
	is(count_matches(log_since($node, $pos), qr/older than its library/), 1,
		'the warning was logged once, not at every cycle');
}

############################################################################
# Asking MTN from SQL leaves pg_stat_activity showing the application's own
# statement: momo_payment_status once replaced it with a label of its own,
# kept for as long as the session stayed idle.
{
	# a payment MTN keeps pending (the sandbox's "ongoing" number): it is asked about
	my $ref = request_payment($node, msisdn => '46733123453', external_id => 'w-activity');
	ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$ref'", 'pending', 30),
		'a payment pending at MTN');
	my $session = $node->background_psql('postgres');
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	$session->query_safe("SELECT status FROM momo_payment_status('$ref') /* the app's statement */");
	like($node->safe_psql('postgres', "SELECT state || ': ' || query FROM pg_stat_activity WHERE pid = $pid"),
		qr/^idle: SELECT status FROM momo_payment_status\('\Q$ref\E'\) \/\* the app's statement \*\//,
		"an idle session's last statement is still the application's after momo_payment_status");
	$session->quit;
}

$node->stop;
done_testing();
