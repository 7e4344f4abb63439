
# 050_encoding_readonly_events.pl - what a second red team found in the
# newest parts, each attack run as the role that would do it:
#
# (1) A database in an encoding whose text PostgreSQL cannot always convert
#     to UTF-8 (WIN1252: the bytes 0x81, 0x8D, 0x8F, 0x90, 0x9D; SQL_ASCII:
#     any byte of 0x80 or more that is not UTF-8): a payer_message holding
#     such a byte was accepted, and the worker then failed to build its
#     claim once a second and sent no payment of that database any more,
#     every tenant's.  Now the call refuses it (22P05, naming the field) and
#     the table's guard refuses such a row however it is written.
# (2) A synchronous call in a READ ONLY transaction (a read replica's
#     default, Django's read-only routers): momo_cancel_invoice sent the
#     DELETE (MTN cancelled the invoice) and only then failed to log it;
#     momo_user_info_with_consent put the consent request on the phone.
#     Now nothing is sent where momo cannot record it (25006).
# (3) The events of a synchronous call whose transaction aborts reach
#     momo_events through the worker -- but only the first 64 of a
#     transaction were kept, silently.  Now a transaction keeps many more,
#     and the shared queue holds 512.
# (4) PREPARE TRANSACTION forgot the events, and ROLLBACK PREPARED then
#     lost them.  Now a transaction that asked MTN cannot be prepared: the
#     PREPARE fails, the transaction aborts, and its events are written.
# (5) momo_callback waited for the row lock of any transaction holding the
#     payment (a tenant's open cancellation or status check, an
#     application's own), holding up the callback endpoint and every
#     callback behind it.  Now it never waits: a locked payment is being
#     asked about already, and the worker asks in its turn.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);

start_sandbox();

my $node = momo_node('readonly', databases => '*');

# A tenant with an application's grants (README, "Security model").
sub tenant_grants
{
	my ($db) = @_;
	$node->safe_psql($db, q{
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenant') THEN CREATE ROLE tenant LOGIN; END IF;
END $$;
GRANT USAGE ON SCHEMA public TO tenant;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                          momo_create_invoice(numeric, text, text, text, integer, text, text, text, text),
                          momo_cancel_invoice(uuid),
                          momo_user_info_with_consent(text, text, text, interval),
                          momo_balance(text),
                          momo_account_holder_active(text, text, text),
                          momo_payment_status(uuid), momo_await(uuid, interval) TO tenant;
GRANT SELECT ON momo_payments TO tenant;
});
}

############################################################################
# (1) one payment's text stops every payment of a WIN1252 database
$node->safe_psql('postgres',
	"CREATE DATABASE w1252 ENCODING 'WIN1252' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
$node->safe_psql('w1252', 'CREATE EXTENSION momo');
tenant_grants('w1252');
ok(wait_for_worker($node, db => 'w1252'), 'a worker serves the WIN1252 database');

my ($rc, $out, $err) = $node->psql('w1252',
	"SET client_encoding = 'WIN1252'; SELECT momo_request_to_pay(1, 'EUR', '46733000004', 'poison', 'x\x81y')",
	extra_params => [ '-U', 'tenant' ]);
isnt($rc, 0, 'a payer_message MTN cannot be sent (no UTF-8 for byte 0x81) is refused at the call')
  or diag("accepted: $out");

my $plain = $node->safe_psql('w1252',
	"SELECT momo_request_to_pay(1, 'EUR', '46733000005', 'plain')", extra_params => [ '-U', 'tenant' ]);
my $row = await_payment($node, $plain, db => 'w1252', seconds => 30);
is($row->{status}, 'successful', "another tenant's plain payment of the database is still sent and completes");

# An invoice's paymentReference and invoiceId (ASCII, as MTN's) are kept in a
# database that is not in UTF-8 too, exactly as MTN's status answer gave them.
my $winv = $node->safe_psql('w1252',
	"SELECT momo_create_invoice(2, 'EUR', '46733000006', 'w1252-inv')", extra_params => [ '-U', 'tenant' ]);
$row = await_payment($node, $winv, db => 'w1252', seconds => 30);
my $winv_mtn = sandbox_get("/_sandbox/payments/$winv");
is($node->safe_psql('w1252',
		"SELECT status || ' ' || payment_reference || ' ' || invoice_id FROM momo_payments WHERE reference_id = '$winv'"),
	join(' ', 'successful', $winv_mtn->{paymentReference} // '<none>', $winv_mtn->{invoiceId} // '<none>'),
	"a WIN1252 database keeps an invoice's paymentReference and invoiceId as MTN gave them");

############################################################################
# (2) READ ONLY: MTN is asked, then momo fails to log it
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node, db => 'postgres'), 'a worker serves postgres');
tenant_grants('postgres');
my $inv = $node->safe_psql('postgres',
	"SELECT momo_create_invoice(100, 'EUR', '46733123454', 'rt12b-inv', validity_duration => 86400)",
	extra_params => [ '-U', 'tenant' ]);
ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$inv'", 'pending', 30),
	'the invoice is pending');
($rc, $out, $err) = $node->psql('postgres',
	"BEGIN READ ONLY; SELECT status FROM momo_cancel_invoice('$inv'); COMMIT;",
	extra_params => [ '-U', 'tenant' ]);
my $sb = sandbox_get("/_sandbox/payments/$inv");
ok(!($sb && $sb->{cancelled}) || $rc == 0,
	'momo_cancel_invoice in a READ ONLY transaction either succeeds or sends nothing')
  or diag("MTN cancelled the invoice; the caller got: $err");
unlike($err, qr/INSERT INTO/, 'no error quotes momo\'s own INSERT');

($rc, $out, $err) = $node->psql('postgres',
	"BEGIN READ ONLY; SELECT given_name FROM momo_user_info_with_consent('46733555001', timeout => '10 seconds'); COMMIT;",
	extra_params => [ '-U', 'tenant' ]);
my $consent = sandbox_get('/_sandbox/consent');
my @asked = grep { $_->{msisdn} eq '46733555001' } @{ $consent->{requests} // [] };
ok($rc == 0 || !@asked,
	'momo_user_info_with_consent in a READ ONLY transaction either answers or puts nothing on the phone')
  or diag("a consent request reached the account holder; the caller got: $err");

############################################################################
# (3) more than 64 events in an aborted transaction
my $before = $node->safe_psql('postgres', "SELECT count(*) FROM momo_events WHERE operation = 'balance'");
$node->safe_psql('postgres', q{
BEGIN;
SELECT count(*) FROM (SELECT (momo_balance()).available_balance FROM generate_series(1, 70)) s;
ROLLBACK;
}, extra_params => [ '-U', 'tenant' ]);
ok(poll_until($node, 'postgres',
		"SELECT count(*) - $before FROM momo_events WHERE operation = 'balance'", '70', 30),
	'the 70 exchanges of a rolled-back transaction are all in momo_events');

############################################################################
# (4) PREPARE TRANSACTION of a transaction that asked MTN
($rc, $out, $err) = $node->psql('postgres', q{
BEGIN;
SELECT momo_account_holder_active('46733555002');
PREPARE TRANSACTION 'rt12b';
}, extra_params => [ '-U', 'tenant' ]);
like($err, qr/cannot PREPARE a transaction that asked MTN/, 'a transaction that asked MTN cannot be prepared');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0', '... and nothing is left prepared');
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_events WHERE operation = 'account_holder_active'", '1', 15),
	'the exchange of that transaction is in momo_events');

############################################################################
# (5) a callback for a payment whose row another transaction holds
{
	my $secret = 'rt12e-callback-secret-0123456789';
	$node->safe_psql('postgres', "ALTER SYSTEM SET momo.callback_secret = '$secret'; SELECT pg_reload_conf();");
	my $cb_inv = $node->safe_psql('postgres',
		"SELECT momo_create_invoice(101, 'EUR', '46733123454', 'rt12e-cb', validity_duration => 86400)");
	ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$cb_inv'",
			'pending', 30), 'callback: the invoice is pending');
	ok(poll_until($node, 'postgres', "SELECT current_setting('momo.callback_secret') <> ''", 't', 30),
		'callback: the secret is set');
	my $query = "momo_ref=$cb_inv&momo_sig=" . hmac_sha256_hex($cb_inv, $secret);
	my $holder = $node->background_psql('postgres');
	$holder->query_safe('BEGIN');
	$holder->query_safe("SELECT FROM momo_payments WHERE reference_id = '$cb_inv' FOR UPDATE");
	my ($cb_rc, $cb_out, $cb_err) = $node->psql('postgres',
		"SET statement_timeout = '10s'; SELECT momo_callback('$query', '{\"status\":\"SUCCESSFUL\"}')");
	is("$cb_rc/$cb_out", '0/ignored: the payment is being updated; the worker asks MTN in its turn',
		'callback: a payment another transaction holds is not waited for')
	  or diag($cb_err);
	$holder->query_safe('COMMIT');
	$holder->quit;
	is($node->safe_psql('postgres', "SELECT momo_callback('$query', '{\"status\":\"SUCCESSFUL\"}')"),
		'scheduled', 'callback: once the holder is gone, the callback schedules a check');
}

$node->stop;
done_testing();
