
# 013_cancel.pl - an ERROR thrown in the middle of an exchange, while
# requests are in flight: the worker is cancelled (pg_cancel_backend) over
# and over while it sends and polls hundreds of payments, a few at a time.
# Each cancel aborts the exchange; the worker logs it and carries on with
# new exchanges in the same process.  The transfers in flight must leave
# libcurl's multi handle with the exchange: one left behind stays bound to a
# request whose memory is gone, and the next exchange that meets it crashes
# the worker (it did: momo_http_run's release loop read a stale copy of its
# counter, and gcc had dropped the loop on the error path).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $payments = 1000;
my $cancels  = 500;

# MTN over HTTPS, as in production: a TLS handshake for each new connection.
start_sandbox();
my $ca  = test_ca();
my $mtn = new_sandbox(name => 'tls', tls_cert => "$ca/server.pem", tls_key => "$ca/server.key");

# Few requests in flight and small batches: many exchanges, each with
# requests waiting for their turn while others are in flight.
my $node = momo_node('cancel', extra_conf => join("\n",
		"momo.base_url = '" . $mtn->tls_url . "'",
		"momo.ca_file = '$ca/ca.pem'",
		'momo.max_in_flight = 8',
		'momo.batch_size = 50'));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
my $worker = wait_for_worker($node);
ok($worker, 'worker runs');

# Slow answers (40 ms), and payments pending for 300 ms: requests to pay and
# status checks are in flight most of the time.
$mtn->post('/_sandbox/config', { delay_ms => 40, pending_ms => 300 });

my $log_pos = log_position($node);
$node->safe_psql('postgres',
	"SELECT count(momo_request_to_pay(1, 'EUR', '4673300' || lpad(g::text, 4, '0'), 'CANCEL-' || g))"
	  . " FROM generate_series(1, $payments) g");

# Cancel the worker whenever it is busy with an exchange, $cancels times, at
# random moments (up to 20 ms apart), from one session.
$node->safe_psql('postgres', q{
CREATE FUNCTION cancel_worker(times int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    sent int := 0;
BEGIN
    FOR i IN 1..100000 LOOP
        EXIT WHEN sent >= times
               OR NOT EXISTS (SELECT FROM momo_payments WHERE status NOT IN ('successful', 'failed'));
        PERFORM pg_stat_clear_snapshot();
        IF (SELECT pg_cancel_backend(pid) FROM pg_stat_activity
             WHERE backend_type = 'momo worker' AND query LIKE 'momo: sending%') THEN
            sent := sent + 1;
        END IF;
        PERFORM pg_sleep(random() * 0.02);
    END LOOP;
    RETURN sent;
END
$$});
my ($rc, $sent, $err) = $node->psql('postgres', "SELECT cancel_worker($cancels)");
is($rc, 0, 'the session that cancels the worker was never cut off') or diag($err);
$sent ||= 0;
ok($sent >= $cancels / 2, "the worker was cancelled in the middle of $sent exchanges");

ok(poll_until($node, 'postgres',
		"SELECT count(*) FILTER (WHERE status = 'successful') FROM momo_payments", "$payments", 120),
	"all $payments payments end successful");

my $log = log_since($node, $log_pos);
my $aborted = count_matches($log, qr/canceling statement due to user request/);
ok($aborted >= 10, "the worker logged $aborted aborted exchanges");
unlike($log, qr/terminated by signal/, 'no process crashed');
unlike($log, qr/lost track of an HTTP transfer/, 'the worker never met a transfer of an aborted exchange');
# A cancel that lands between two cycles is an ERROR the worker logs and
# survives, like one in the middle of an exchange.
is(wait_for_worker($node), $worker, 'the same worker process ran throughout');

# The money rule: MTN (the sandbox) stored every payment exactly once.
my $stored = $mtn->get('/_sandbox/payments');
my %seen;
$seen{ $_->{referenceId} }++ for @$stored;
is(scalar(keys %seen), $payments, "the sandbox stored $payments payments");
is(scalar(grep { $_->{accepted} != 1 } @$stored), 0, 'each of them once');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM momo_payments p WHERE p.reference_id::text NOT IN ("
		  . join(',', map { "'$_'" } keys %seen) . ')'), '0',
	'every row is one of them');

$node->stop;
done_testing();
