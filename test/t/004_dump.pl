
# 004_dump.pl - pg_dump keeps the payments: a dump of a database with
# payments in every status, restored into a new database of another node,
# has every row identical, column by column.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();

my $src = momo_node('src');
$src->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($src), 'worker runs');

my %ref;
$ref{successful} = $src->safe_psql('postgres',
	"SELECT momo_request_to_pay(1234.50, 'EUR', '46733000031', 'dump-ok', 'Invoice 42', 'Thanks')");
$ref{rejected} = request_payment($src, msisdn => '46733123451', external_id => 'dump-rejected', amount => 7);
$ref{failed} = request_payment($src, msisdn => '46733123450', external_id => 'dump-failed', amount => 8);
$ref{pending} = request_payment($src, msisdn => '46733123453', external_id => 'dump-ongoing', amount => 9);

is(await_payment($src, $ref{successful})->{status}, 'successful', 'a successful payment');
is(await_payment($src, $ref{rejected})->{status}, 'failed', 'a rejected payment');
is(await_payment($src, $ref{failed})->{status}, 'failed', 'a failed payment');
ok(poll_until($src, 'postgres',
		"SELECT status = 'pending' AND status_checks > 0 FROM momo_payments WHERE reference_id = '$ref{pending}'",
		't', 30),
	'a pending payment (46733123453), checked at least once');

# and one that stays queued: the worker cannot get a token
$src->safe_psql('postgres', "ALTER SYSTEM SET momo.api_key = 'wrongkey22222222'");
$src->reload;
ok(poll_until($src, 'postgres', 'SHOW momo.api_key', 'wrongkey22222222', 10), 'wrong key in force');
$ref{queued} = request_payment($src, external_id => 'dump-queued', amount => 10);

is($src->safe_psql('postgres',
		'SELECT string_agg(DISTINCT status, \',\' ORDER BY status) FROM momo_payments'),
	'failed,pending,queued,successful', 'payments in every status');

# The rows as the dump sees them: the dump runs in a snapshot exported by a
# session that reads the rows in the same snapshot (the worker keeps
# polling the pending payment meanwhile).
my $rows_sql = "SET TimeZone = 'UTC'; SET extra_float_digits = 3; "
  . 'SELECT p::text FROM momo_payments p ORDER BY reference_id';
my $dumpfile = $PostgreSQL::Test::Utils::tmp_check . '/momo.dump';
my $session = $src->background_psql('postgres');
$session->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $snapshot = $session->query_safe('SELECT pg_export_snapshot()');
my $before = $session->query_safe($rows_sql);
my $mark_sql = "SELECT coalesce(max(numbered_through)::text, 'none') FROM momo_change_numbering";
my $mark = $session->query_safe($mark_sql);
$src->command_ok(
	[ 'pg_dump', '-Fc', '--snapshot', $snapshot, '-f', $dumpfile, '-d', 'postgres' ],
	'pg_dump of the source database');
$session->query_safe('COMMIT');
$session->quit;

my @before = split /\n/, $before;
is(scalar(@before), 5, 'five rows in the snapshot');

# Restore into a new database on another node (whose worker serves another
# database, so it leaves the restored rows alone).
my $dst = momo_node('dst');
$dst->safe_psql('postgres', 'CREATE DATABASE restored');
$dst->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'restored', $dumpfile ],
	'pg_restore into a new database of another node');
is($dst->safe_psql('restored', "SELECT extversion FROM pg_extension WHERE extname = 'momo'"),
	$dst->safe_psql('restored', "SELECT default_version FROM pg_available_extensions WHERE name = 'momo'"),
	'the dump created the extension, at the version it had');
my $after = $dst->safe_psql('restored', $rows_sql);
is($after, $before, 'every restored row is identical to the dumped one, column by column');

for my $what (sort keys %ref)
{
	my $want = $what eq 'rejected' ? 'failed' : $what;
	is($dst->safe_psql('restored', "SELECT status FROM momo_payments WHERE reference_id = '$ref{$what}'"),
		$want, "restored $what payment has status $want");
}
is($dst->safe_psql('restored',
		"SELECT reason FROM momo_payments WHERE reference_id = '$ref{rejected}'"),
	'APPROVAL_REJECTED', 'the reason survives');
is($dst->safe_psql('restored',
		"SELECT financial_transaction_id = '"
		  . (sandbox_get("/_sandbox/payments/$ref{successful}")->{financialTransactionId} // 'none')
		  . "' FROM momo_payments WHERE reference_id = '$ref{successful}'"),
	't', 'the financial transaction id survives');
# momo_payment_counts is not dumped: the restore counts the final payments
# it inserts, so momo_stats says what the restored table holds.
is($dst->safe_psql('restored', q{
	SELECT (SELECT string_agg(label || '=' || value, ',' ORDER BY label) FROM momo_stats WHERE metric = 'payments')
	    || ' ' || (SELECT string_agg(k || '=' || n, ',' ORDER BY k)
	               FROM (SELECT status || '/' || operation AS k, count(*) AS n FROM momo_payments GROUP BY 1) g)}) =~ s/^(\S+) \1$/same/r,
	'same', 'momo_stats counts the restored payments as the table has them');

# The change feed goes on from where it was: the last number handed out is
# restored (numbering from below it would hide what follows from pollers).
is($dst->safe_psql('restored', $mark_sql), $mark, 'the restored feed keeps its last number');
isnt($mark, 'none', '... which the source had');

# The restored table keeps its guard: a final payment cannot change.
my ($rc, $out, $err) = $dst->psql('restored',
	"UPDATE momo_payments SET amount = 1 WHERE reference_id = '$ref{successful}'");
like($err, qr/is final \(successful\) and cannot change/, 'the restored table keeps its guard trigger');

$dst->stop;
$src->stop;
done_testing();
