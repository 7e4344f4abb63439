
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
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

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
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text),
                          momo_create_invoice(numeric, text, text, text, integer, text, text, text),
                          momo_cancel_invoice(uuid),
                          momo_user_info_with_consent(text, text, text, interval),
                          momo_balance(text),
                          momo_account_holder_active(text, text),
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

$node->stop;
done_testing();
