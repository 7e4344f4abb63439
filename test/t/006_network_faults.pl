
# 006_network_faults.pl - one network fault at a time, each with an
# asserted outcome while it lasts (the payment stays queued or pending and
# is retried: never successful without MTN's SUCCESSFUL, never failed on a
# transient error; last_error and last_http_status show the cause), then
# the fault is removed and the payment completes with MTN's outcome:
#   answers later than momo.request_timeout (also on the status checks
#   after momo.max_attempts sends); a request accepted but never answered
#   (and, meanwhile, the worker's wait event in pg_stat_activity);
#   answers lost while MTN's status endpoint still answers 404 for the
#   payment; malformed, truncated and oversized status answers (also asked
#   for from SQL); a redirect on every call (never followed); a
#   self-signed TLS certificate and one for another host name (refused
#   before anything is sent, also before a token is had, and the refused
#   sends use up no attempt).
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

# One-second request timeout; max_attempts high, so that no test runs out
# of sends by accident (the timeout test lowers it on purpose).
my $node = momo_node('faults', extra_conf => join("\n",
		'momo.request_timeout = 1000',
		'momo.connect_timeout = 1000',
		'momo.retry_max = 1000',
		'momo.max_attempts = 100'));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

my $ext = 0;

# Requests a payment with a fresh external id "$what-<n>"; returns its reference id.
sub new_payment
{
	my ($what, %o) = @_;
	$ext++;
	return request_payment($node, external_id => "$what-$ext", msisdn => $o{msisdn} // '46733000100');
}

# Polls the payment row (bounded) until $cond->($row) holds; returns that
# row (one snapshot, so what it says held at one moment), or the last row
# seen when the time ran out (with a diagnostic).
sub row_when
{
	my ($ref, $cond, $seconds) = @_;
	my $deadline = time() + ($seconds // 60);
	my $row;
	while (time() < $deadline)
	{
		$row = payment_row($node, $ref);
		return $row if $row && $cond->($row);
		usleep(100_000);
	}
	diag('row_when timed out; last row: '
		  . join(', ', map { "$_=" . ($row->{$_} // 'NULL') } sort keys %{ $row // {} }));
	return $row;
}

# Checks that payment $ref ends successful (within 30 s), with the sandbox's
# financial transaction id, stored once; returns the sandbox's counters of it.
sub completes
{
	my ($what, $ref, $sandbox) = @_;
	$sandbox //= main_sandbox();
	my $row = await_payment($node, $ref, seconds => 30);
	is($row->{status}, 'successful', "$what: once the fault is gone the payment is successful");
	my $p = $sandbox->get("/_sandbox/payments/$ref");
	ok($p && $p->{status} eq 'SUCCESSFUL' && $p->{accepted} == 1
		  && ($row->{financial_transaction_id} // '') eq ($p->{financialTransactionId} // '-'),
		"$what: the sandbox stored it once, SUCCESSFUL, with the row's financial transaction id");
	return ($row, $p);
}

# The common checks of a payment seen while a fault lasts.
sub while_faulty
{
	my ($what, $row, %want) = @_;
	is($row->{status}, $want{status}, "$what: the payment is still $want{status}");
	like($row->{last_error} // 'NULL', $want{error}, "$what: last_error shows the cause ("
		  . ($row->{last_error} // 'NULL') . ')');
	is($row->{last_http_status}, $want{http}, "$what: last_http_status is " . ($want{http} // 'NULL'));
}

# A first payment: the worker now holds an access token, so the faults
# below meet requests to pay and status checks, not the token request.
my $first = new_payment('first');
is(await_payment($node, $first, seconds => 30)->{status}, 'successful', 'a payment before any fault succeeds');

############################################################################
# Answers after the client timeout.  The request to pay takes effect at
# MTN, but its answer comes too late, every time; after max_attempts sends
# the worker asks for the status instead, and those answers come too late
# too.  The payment stays queued.
{
	my $what = 'late answers';
	ok(set_momo($node, max_attempts => '3'), "$what: momo.max_attempts = 3");
	sandbox_post('/_sandbox/config', { delay_ms => 2500 });
	my $ref = new_payment('late');
	my $row = row_when($ref, sub { $_[0]{status_checks} >= 2 });
	while_faulty($what, $row, status => 'queued', error => qr/timed out/i, http => undef);
	is($row->{attempts}, 3, "$what: sent max_attempts (3) times, then only status checks");
	my $q = sandbox_get("/_sandbox/requests/$ref");
	is($q && "$q->{posts}/$q->{accepted}/$q->{conflicts}", '3/1/2',
		"$what: MTN got 3 POSTs: stored once, the repeats answered 409 (too late)");
	ok($q && $q->{status_gets} >= 2, "$what: the status checks reached MTN and were answered too late");
	is(sandbox_get("/_sandbox/payments/$ref")->{status}, 'SUCCESSFUL',
		"$what: (MTN holds it as SUCCESSFUL, but no answer said so in time)");
	sandbox_post('/_sandbox/config', { delay_ms => 0 });
	ok(set_momo($node, max_attempts => '100'), "$what: momo.max_attempts = 100 again");
	completes($what, $ref);
}

############################################################################
# A request to pay accepted by the server and never answered (twice).
{
	my $what = 'hung requests';
	sandbox_post('/_sandbox/config', { hang_first => 2 });
	my $ref = new_payment('hang');
	my $row = row_when($ref, sub { $_[0]{retries} >= 1 });
	while_faulty($what, $row, status => 'queued', error => qr/timed out/i, http => undef);
	my ($done, $q) = completes($what, $ref);
	sandbox_post('/_sandbox/config', { hang_first => 0 });
	is($q && "$q->{posts}/$q->{faults}", '3/2', "$what: retried: 3 POSTs, the first 2 hung");
	is($done->{attempts}, 3, "$what: 3 attempts");
}

############################################################################
# While a request hangs, pg_stat_activity shows the worker waiting on the
# network: wait_event_type Extension, and wait_event MomoNetwork on
# PostgreSQL 17 and later (custom wait events), Extension before.  Every
# POST hangs until the fault is removed, so the wait lasts as long as the
# test looks for it.
{
	my $what = 'wait event';
	my $event = $node->safe_psql('postgres', 'SHOW server_version_num') >= 170000
	  ? 'MomoNetwork' : 'Extension';
	sandbox_post('/_sandbox/config', { hang_first => 1000000 });
	my $ref = new_payment('wait-event');
	ok(poll_until($node, 'postgres',
			"SELECT wait_event_type || '/' || wait_event FROM pg_stat_activity"
			  . " WHERE backend_type = 'momo worker' AND state = 'active'"
			  . " AND query LIKE 'momo: sending %'",
			"Extension/$event", 30),
		"$what: while its request hangs, the sending worker waits on Extension/$event");
	sandbox_post('/_sandbox/config', { hang_first => 0 });
	completes($what, $ref);
}

############################################################################
# Answers lost, and MTN's status endpoint does not show the payment yet (it
# answers 404 "briefly right after a 202"): every request to pay is stored
# and its connection dropped; after max_attempts (3) sends the worker asks,
# and MTN answers 404 for 15 s more.  MTN holds the payment, and will
# charge the payer: momo must not call it failed (NOT_DELIVERED).
{
	my $what = 'lost answers, then 404 while MTN catches up';
	ok(set_momo($node, max_attempts => '3'), "$what: momo.max_attempts = 3");
	sandbox_post('/_sandbox/config', { drop_first => 20, not_found_ms => 15000 });
	my $ref = new_payment('not-found-window');
	my $row = row_when($ref, sub { $_[0]{status_checks} >= 1 || $_[0]{status} !~ /^(queued|pending)$/ });
	my $p = sandbox_get("/_sandbox/payments/$ref");
	ok($p && $p->{accepted} == 1 && !$p->{visible},
		"$what: MTN stored the payment (its status endpoint does not show it yet)");
	is($row->{status}, 'queued', "$what: after the first 404 the payment is still queued ("
		  . $row->{status} . ' ' . ($row->{reason} // '') . ')');
	sandbox_post('/_sandbox/config', { drop_first => 0, not_found_ms => 0 });
	my $final = row_when($ref, sub { $_[0]{status} !~ /^(queued|pending)$/ }, 60);
	is($final->{status} . ' ' . ($final->{reason} // ''), 'successful ',
		"$what: the payment ends with MTN's SUCCESSFUL");
	ok(set_momo($node, max_attempts => '100'), "$what: momo.max_attempts = 100 again");
}

############################################################################
# Status answers that cannot be read: the payment is accepted (pending), and
# MTN holds it as SUCCESSFUL, but only a readable SUCCESSFUL makes it so.
for my $case (
	[ 'malformed', qr/unreadable status answer/, 200 ],
	[ 'truncated', qr/partial|closed|transfer/i, undef ],
	[ 'oversized', qr/larger than \d+ bytes|file size exceeded/i, undef ])
{
	my ($mode, $error, $http) = @$case;
	my $what = "$mode status body";
	sandbox_post('/_sandbox/config', { status_body => $mode });
	my $ref = new_payment($mode);
	my $row = row_when($ref, sub { $_[0]{status_checks} >= 2 });
	while_faulty($what, $row, status => 'pending', error => $error, http => $http);
	is(sandbox_get("/_sandbox/payments/$ref")->{status}, 'SUCCESSFUL',
		"$what: (MTN holds it as SUCCESSFUL)");
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT status FROM momo_payment_status('$ref')");
	is("$rc/$out", '0/pending', "$what: a status check asked for from SQL leaves it pending")
	  or diag($err);
	sandbox_post('/_sandbox/config', { status_body => 'normal' });
	completes($what, $ref);
}

# The same for a pre-approval's status answer (MTN's own shape, without
# amount): an oversized one is not read either.
{
	my $what = 'oversized pre-approval status body';
	sandbox_post('/_sandbox/config', { status_body => 'oversized' });
	my $ref = $node->safe_psql('postgres',
		"SELECT momo_preapproval('46733000061', 'EUR', 'Plan', interval '1 day', 'oversized-pa')");
	my $row = row_when($ref, sub { $_[0]{status_checks} >= 2 });
	while_faulty($what, $row, status => 'pending', error => qr/larger than \d+ bytes|file size exceeded/i,
		http => undef);
	sandbox_post('/_sandbox/config', { status_body => 'normal' });
	is(await_payment($node, $ref, seconds => 30)->{status}, 'successful',
		"$what: once the fault is gone the pre-approval is successful");
}

############################################################################
# A redirect on every call (token included), to a second sandbox: never
# followed.  A status check of a pending payment is redirected too.
{
	my $what   = 'redirect';
	my $target = new_sandbox(name => 'redirect_target');
	my $seen0  = $target->stats->{requests};    # its start-up's and this one
	my $pending = new_payment('redirect-pending', msisdn => '46733123454');    # CREATED for ever
	row_when($pending, sub { $_[0]{status} eq 'pending' && $_[0]{status_checks} >= 1 });
	sandbox_post('/_sandbox/config', { redirect => $target->url . '/collection/v1_0/requesttopay' });
	my $ref = new_payment('redirect');
	my $row = row_when($ref, sub { $_[0]{retries} >= 2 });
	while_faulty($what, $row, status => 'queued', error => qr/302/, http => 302);
	my $prow = row_when($pending, sub { ($_[0]{last_http_status} // 0) == 302 });
	while_faulty("$what (status check)", $prow, status => 'pending', error => qr/302/, http => 302);
	ok(sandbox_get('/_sandbox/stats')->{redirects} >= 3, "$what: the sandbox answered 302");
	my $ts = $target->stats;
	is("$ts->{rtp_posts}/$ts->{status_gets}/$ts->{token_requests}", '0/0/0',
		"$what: the redirect target received no request to pay, status check or token request");
	sandbox_post('/_sandbox/config', { redirect => undef });
	completes($what, $ref);
	# Every request the target saw since $seen0 was one of the test's 2 stats calls.
	is($target->stats->{requests} - $seen0, 2, "$what: the target saw no other request at all");
	$target->stop;
}

############################################################################
# TLS: a second sandbox serves HTTPS with the test CA's certificates;
# momo.ca_file trusts the test CA.
my $ca  = test_ca();
my $tls = new_sandbox(name => 'tls', tls_cert => "$ca/selfsigned.pem", tls_key => "$ca/selfsigned.key");

# No access token yet for this base URL: the token request itself meets the
# self-signed certificate.  Nothing is claimed, so nothing is counted; the
# server log says why (the rows cannot: nothing was tried for them).
{
	my $what = 'self-signed certificate, no token';
	my $pos = log_position($node);
	ok(set_momo($node, base_url => $tls->tls_url, ca_file => "$ca/ca.pem"),
		"momo.base_url = " . $tls->tls_url . ", momo.ca_file = the test CA");
	my $ref = new_payment('tls-cold');
	ok(wait_for_log_count($node, qr/momo worker is not sending payments: .*access token.*certificate/i, 1, $pos, 30),
		"$what: the worker logs that the token request met a bad certificate");
	my $row = payment_row($node, $ref);
	is("$row->{status}/$row->{attempts}", 'queued/0', "$what: the payment waits, queued, no attempt counted");
	my $ts = $tls->stats;
	is("$ts->{rtp_posts}/$ts->{token_requests}", '0/0', "$what: nothing reached the server");
	$tls->restart(tls_cert => "$ca/server.pem", tls_key => "$ca/server.key");
	my ($done) = completes("$what, then a good certificate", $ref, $tls);
	is($done->{attempts}, 1, "$what: one attempt in all");
}

# The worker now holds a token for this server; the server comes back with
# a wrong certificate: every send is refused in the TLS handshake, before
# any request leaves, and uses up no attempt.
for my $case (
	[ 'self-signed certificate', 'selfsigned', qr/certificate/i ],
	[ 'certificate for another host', 'wronghost', qr/host ?name|subject name|does not match/i ])
{
	my ($what, $cert, $error) = @$case;
	$tls->restart(tls_cert => "$ca/$cert.pem", tls_key => "$ca/$cert.key");
	my $ref = new_payment("tls-$cert");
	my $row = row_when($ref, sub { $_[0]{retries} >= 3 });
	while_faulty($what, $row, status => 'queued', error => $error, http => undef);
	ok($row->{attempts} <= 1, "$what: after $row->{retries} refused sends, attempts is $row->{attempts} "
		  . '(at most the send in progress)');
	my $ts = $tls->stats;
	is("$ts->{rtp_posts}/$ts->{token_requests}/$ts->{status_gets}", '0/0/0',
		"$what: nothing reached the server");
	$tls->restart(tls_cert => "$ca/server.pem", tls_key => "$ca/server.key");
	my ($done, $p) = completes("$what, then the right one", $ref, $tls);
	is($done->{attempts}, 1, "$what: attempts is 1: the refused sends were not counted");
	is($p && $p->{posts}, 1, "$what: the server got one POST");
}

$node->stop;
done_testing();
