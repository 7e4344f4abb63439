
# 033_probe_starvation.pl - a role with CREATEDB must not be able to keep
# momo from serving somebody else's database.
#
# The launcher starts a worker in every database to look whether momo is
# installed there (momo_launcher_attach).  That worker connects as the
# bootstrap superuser with the settings ALTER DATABASE ... SET gave the
# database, and opens a transaction to look -- before it pins anything.  The
# owner of a database (no superuser) sets
#     default_transaction_isolation = serializable
#     default_transaction_read_only = on
#     default_transaction_deferrable = on
# so the looking transaction waits for a safe snapshot (SafeSnapshot), which
# never comes while any serializable read-write transaction stays open
# anywhere in the cluster (any login role can keep one).  Each such worker
# holds a slot of momo.max_databases and a background worker slot for ever,
# and counts as "only looking", so no WARNING is logged.  A role with
# CREATEDB makes enough such databases to take every background worker
# slot: a database the DBA then installs momo in gets no worker, and its
# payments stay queued.
#
# The attack is run as the attacker would: a role with CREATEDB only, and an
# ordinary login role holding the serializable transaction.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();

# The defaults of a fresh server: max_worker_processes = 8 (the logical
# replication launcher and momo's launcher take two), momo.max_databases = 8.
my $node = momo_node('probe', databases => '*');

$node->safe_psql('postgres', q{
	CREATE ROLE dbown LOGIN CREATEDB;
	CREATE ROLE plain LOGIN;
});

# An ordinary role keeps a serializable read-write transaction open.
my $holder = $node->background_psql('postgres', extra_params => [ '-U', 'plain' ]);
$holder->query_safe('BEGIN ISOLATION LEVEL SERIALIZABLE');
$holder->query_safe('SELECT 1');

# The owner of six databases makes momo's look at each of them wait.
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', "CREATE DATABASE evil$i", extra_params => [ '-U', 'dbown' ]);
	$node->safe_psql('postgres', qq{
		ALTER DATABASE evil$i SET default_transaction_isolation = 'serializable';
		ALTER DATABASE evil$i SET default_transaction_read_only = on;
		ALTER DATABASE evil$i SET default_transaction_deferrable = on;
		ALTER DATABASE evil$i CONNECTION LIMIT 100;
	}, extra_params => [ '-U', 'dbown' ]);
}

# What the attacker achieved so far, for the record (not asserted: it is the
# victim's database below that matters).
my $stuck = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'momo worker'"
	  . " AND datname LIKE 'evil%' AND wait_event = 'SafeSnapshot'");
note("momo workers waiting for a safe snapshot in the attacker's databases: $stuck");

# The DBA installs momo in a database of its own and queues a payment.
my $pos = log_position($node);
$node->safe_psql('postgres', 'CREATE DATABASE victim');
$node->safe_psql('victim', 'CREATE EXTENSION momo');
my $ref = request_payment($node, db => 'victim', msisdn => '46733123450');

my $served = defined wait_for_worker($node, db => 'victim', timeout => 30);
ok($served,
	"a worker serves the DBA's database although a CREATEDB role's databases make momo's look wait");
ok(poll_until($node, 'victim',
		"SELECT status <> 'queued' FROM momo_payments WHERE reference_id = '$ref'", 't', 30),
	"the DBA's payment is sent");
ok($served || log_since($node, $pos) =~ /momo cannot start a worker in database "victim"/,
	'a database momo cannot serve is named in a WARNING (README, "Limits")');

$holder->query_safe('COMMIT');
$holder->quit;
$node->stop;
done_testing();
