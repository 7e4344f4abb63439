
# 031_probe_prepared_rename.pl - a database owner's prepared transaction must
# not hold momo's background worker slots for ever.
#
# ALTER DATABASE ... RENAME (allowed in a transaction block) takes the
# database's lock; momo's utility hook "holds" the database so that no worker
# starts there until the transaction ends.  PREPARE TRANSACTION ends the
# hold (momo_launcher_xact_end at XACT_EVENT_PREPARE) and tells the
# launcher, which starts a worker there at once -- while the prepared
# transaction keeps the lock.  That worker waits in InitPostgres for the
# database lock for ever (it is not even in pg_stat_activity, only in ps and
# pg_locks), holding a slot of momo.max_databases and a background worker
# slot; the prepared transaction survives a restart.  A role with CREATEDB
# does it to six databases of its own: a database the DBA then installs momo
# in gets no worker and its payments stay queued, with no WARNING.
#
# Needs max_prepared_transactions > 0 (momo supports COMMIT PREPARED).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();
my $node = momo_node('prep', databases => '*');    # max_prepared_transactions = 10

$node->safe_psql('postgres', 'CREATE ROLE dbown LOGIN CREATEDB');

for my $i (1 .. 6)
{
	$node->safe_psql('postgres', "CREATE DATABASE own$i", extra_params => [ '-U', 'dbown' ]);
	$node->safe_psql('postgres', qq{
		BEGIN;
		ALTER DATABASE own$i RENAME TO own${i}_renamed;
		PREPARE TRANSACTION 'rename$i';
	}, extra_params => [ '-U', 'dbown' ]);
}
my $waiting = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_locks WHERE locktype = 'object'"
	  . " AND classid = 'pg_database'::regclass AND NOT granted");
note("processes waiting for a database lock of the attacker's: $waiting");

my $pos = log_position($node);
$node->safe_psql('postgres', 'CREATE DATABASE victim');
$node->safe_psql('victim', 'CREATE EXTENSION momo');
my $ref = request_payment($node, db => 'victim', msisdn => '46733123450');

my $served = defined wait_for_worker($node, db => 'victim', timeout => 30);
ok($served, "a worker serves the DBA's database although a role's prepared renames hold its databases");
ok(poll_until($node, 'victim',
		"SELECT status <> 'queued' FROM momo_payments WHERE reference_id = '$ref'", 't', 30),
	"the DBA's payment is sent");
ok($served || log_since($node, $pos) =~ /momo cannot start a worker in database "victim"/,
	'a database momo cannot serve is named in a WARNING (README, "Limits")');

$node->safe_psql('postgres', "ROLLBACK PREPARED 'rename$_'") for 1 .. 6;
$node->stop;
done_testing();
