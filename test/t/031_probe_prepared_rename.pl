
# 031_probe_prepared_rename.pl - a database owner's prepared transaction must
# not hold momo's background worker slots for ever.
#
# ALTER DATABASE ... RENAME (allowed in a transaction block) takes the
# database's lock; momo's utility hook "holds" the database so that no worker
# starts there until the transaction ends.  PREPARE TRANSACTION used to end
# the hold (momo_launcher_xact_end at XACT_EVENT_PREPARE) and tell the
# launcher, which started a worker there at once -- while the prepared
# transaction kept the lock.  That worker waited in InitPostgres for the
# database lock for ever (it is not even in pg_stat_activity, only in ps and
# pg_locks), holding a slot of momo.max_databases and a background worker
# slot; the prepared transaction survives a restart.  A role with CREATEDB
# did it to six databases of its own: a database the DBA then installed momo
# in got no worker and its payments stayed queued, with no WARNING.
#
# momo now refuses to PREPARE a transaction that stopped a database's worker,
# as PostgreSQL refuses to prepare one that used temporary objects (README,
# "The background worker"): the rename rolls back, nothing stays locked.
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
	my ($rc, $out, $err) = $node->psql('postgres', qq{
		BEGIN;
		ALTER DATABASE own$i RENAME TO own${i}_renamed;
		PREPARE TRANSACTION 'rename$i';
	}, extra_params => [ '-U', 'dbown' ]);
	like($err, qr/cannot PREPARE a transaction that has stopped momo's worker of database "own${i}_renamed"/,
		"PREPARE TRANSACTION of the rename of own$i is refused");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0',
	'no prepared transaction is left');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_database WHERE datname ~ '^own[1-6]\$'"), '6',
	'the refused renames rolled back');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_locks WHERE locktype = 'object'"
		  . " AND classid = 'pg_database'::regclass AND NOT granted"), '0',
	'nothing waits for a database lock');

# A rename that commits directly still works (and its worker may start again).
$node->safe_psql('postgres', 'BEGIN; ALTER DATABASE own1 RENAME TO own1_renamed; COMMIT;',
	extra_params => [ '-U', 'dbown' ]);
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'own1_renamed'"),
	'1', 'a rename committed directly is not refused');

my $pos = log_position($node);
$node->safe_psql('postgres', 'CREATE DATABASE victim');
$node->safe_psql('victim', 'CREATE EXTENSION momo');
my $ref = request_payment($node, db => 'victim', msisdn => '46733123450');

my $served = defined wait_for_worker($node, db => 'victim', timeout => 30);
ok($served, "a worker serves the DBA's database after a role's prepared renames were refused");
ok(poll_until($node, 'victim',
		"SELECT status <> 'queued' FROM momo_payments WHERE reference_id = '$ref'", 't', 30),
	"the DBA's payment is sent");
ok($served || log_since($node, $pos) =~ /momo cannot start a worker in database "victim"/,
	'a database momo cannot serve is named in a WARNING (README, "Limits")');

$node->stop;
done_testing();
