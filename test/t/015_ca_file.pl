
# 015_ca_file.pl - momo.ca_file adds a CA to the system's trusted CAs; it
# does not replace them.  Two independent test CAs: "ours", named by
# momo.ca_file (a corporate proxy's CA, say), and "system", which stands
# for the system store: it is the only CA of the file that OpenSSL takes
# for the system bundle in this server's environment (SSL_CERT_FILE, which
# OpenSSL's default verify locations honour; libcurl's own default bundle
# and directory are compiled in, so the test cannot touch them without
# touching /etc/ssl).  Two MTN servers, one certificate from each CA:
#   - with momo.ca_file set, both are trusted (the system one used not to
#     be: libcurl's CURLOPT_CAINFO replaced the system bundle);
#   - a self-signed certificate is still refused;
#   - without momo.ca_file, "ours" is refused again: its trust came from
#     momo.ca_file alone.
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
my $ours   = test_ca();
my $system = test_ca('system');
my $mtn_ours   = new_sandbox(name => 'ours', tls_cert => "$ours/server.pem", tls_key => "$ours/server.key");
my $mtn_system = new_sandbox(name => 'system', tls_cert => "$system/server.pem", tls_key => "$system/server.key");
my $mtn_self   = new_sandbox(name => 'self', tls_cert => "$ours/selfsigned.pem", tls_key => "$ours/selfsigned.key");

my $node = momo_node('ca', no_start => 1, extra_conf => join("\n",
		"momo.base_url = '" . $mtn_ours->tls_url . "'",
		"momo.ca_file = '$ours/ca.pem'",
		'momo.request_timeout = 2000',
		'momo.connect_timeout = 2000',
		'momo.retry_max = 1000'));
start_with_env($node, { SSL_CERT_FILE => "$system/ca.pem" });
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

my $n = 0;

# Requests a payment; returns its row once it is final, or after $seconds.
sub pay
{
	my ($seconds) = @_;
	$n++;
	my $ref = request_payment($node, external_id => "CA-$n", msisdn => '46733000300');
	return await_payment($node, $ref, seconds => $seconds // 30);
}

# Waits (bounded) until the worker logs that it cannot get a token because
# of the certificate; returns 1 if it did.
sub refused_since
{
	my ($pos) = @_;
	return wait_for_log_count($node,
		qr/momo worker is not sending payments: no collection access token: .*certificate/i, 1, $pos, 30);
}

# Each server is first met by a token request: a refused certificate shows
# in the worker's log (no token, nothing claimed), an accepted one as a
# successful payment stored by that server.
my $row = pay();
is($row->{status}, 'successful', 'momo.ca_file set: the server with a certificate from its CA is trusted');
is($mtn_ours->get("/_sandbox/payments/$row->{reference_id}")->{status}, 'SUCCESSFUL',
	'... and it was that server that took the payment');

ok(set_momo($node, base_url => $mtn_system->tls_url), 'base URL: the server whose CA is in the system store');
$row = pay();
is($row->{status}, 'successful',
	'momo.ca_file set: the server with a certificate from a system CA is trusted too');
ok($mtn_system->get("/_sandbox/payments/$row->{reference_id}"), '... and it was that server that took the payment');

ok(set_momo($node, base_url => $mtn_ours->tls_url), 'base URL: the first server again');
is(pay()->{status}, 'successful', 'both are trusted at once: the first server still is');

my $pos = log_position($node);
ok(set_momo($node, base_url => $mtn_self->tls_url), 'base URL: a server with a self-signed certificate');
my $ref = request_payment($node, external_id => 'CA-self', msisdn => '46733000300');
ok(refused_since($pos), 'a self-signed certificate is refused (logged by the worker)');
is($mtn_self->stats->{token_requests}, 0, '... before any request reached it');

# Without momo.ca_file, the first server (restarted: no connection kept
# alive from before) is refused: its trust came from momo.ca_file only.
# (The worker still holds a token from it: the payment itself meets the
# refusal, and stays queued with the cause in last_error.)
$mtn_ours->restart;
ok(set_momo($node, ca_file => '', base_url => $mtn_ours->tls_url), 'no momo.ca_file; base URL: the first server');
my $waiting;
my $deadline = time() + 30;
while (time() < $deadline)
{
	$waiting = payment_row($node, $ref);
	last if $waiting->{retries} >= 2;
	usleep(100_000);
}
is($waiting->{status}, 'queued', 'without momo.ca_file, the payment to the first server waits');
like($waiting->{last_error} // '', qr/certificate/i,
	'... because its certificate is refused (' . ($waiting->{last_error} // 'no error') . ')');
my $st = $mtn_ours->stats;
is("$st->{rtp_posts}/$st->{token_requests}", '0/0', '... before any request reached the server');

# And the payment left waiting completes once its CA is trusted again.
ok(set_momo($node, ca_file => "$ours/ca.pem"), 'momo.ca_file set again');
is(await_payment($node, $ref, seconds => 30)->{status}, 'successful',
	'the payment that waited goes through');

$node->stop;
done_testing();
