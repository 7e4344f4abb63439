
# 021_databases.pl - several databases: momo's launcher starts one worker in
# each database where momo is installed (momo.databases = '*'), and notices
# CREATE EXTENSION (a database created later, as Django's test runner does,
# is served without a restart), DROP EXTENSION (that worker exits), DROP
# DATABASE (which succeeds), ALTER DATABASE RENAME and CREATE DATABASE ...
# TEMPLATE of a served database; a database without momo gets no worker and
# no log line; momo.max_databases and max_worker_processes are limits that a
# WARNING names, and momo_health() in every database; momo.databases as a list, changed at a reload; ALTER
# DATABASE ALLOW_CONNECTIONS; the launcher's own restart; the deprecated
# momo.database_name.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();

# momo.idle_interval is long: a payment leaves at once only if its commit
# woke the worker of its own database (nothing else wakes an idle worker).
my $node = momo_node('dbs', databases => '*',
	extra_conf => "momo.max_databases = 3\nmomo.idle_interval = '10min'");

# The momo workers as "datname" sorted and joined by commas.
sub workers
{
	my ($n) = @_;
	return $n->safe_psql('postgres',
		"SELECT coalesce(string_agg(datname, ',' ORDER BY datname), '') FROM pg_stat_activity"
		  . " WHERE backend_type = 'momo worker'");
}

# 1 once the momo workers are exactly $want (see workers), 0 after 30 s.
sub workers_become
{
	my ($n, $want) = @_;
	return poll_until($n, 'postgres',
		"SELECT coalesce(string_agg(datname, ',' ORDER BY datname), '') FROM pg_stat_activity"
		  . " WHERE backend_type = 'momo worker'", $want, 30);
}

# A payment in $db ends successful, sent once; returns its reference id.
sub payment_works
{
	my ($n, $db, $what) = @_;
	my $ref = request_payment($n, db => $db);
	my $row = await_payment($n, $ref, db => $db, seconds => 30);
	is($row->{status}, 'successful', "$what: the payment in $db is successful");
	my $sb = sandbox_get("/_sandbox/payments/$ref");
	is($sb && "$sb->{posts}/$sb->{accepted}", '1/1', "$what: sent once");
	return $ref;
}

# 1 once momo_health()'s $check in $db reads "status reason" matching $re,
# 0 after 30 s (with what it last read).
sub health_becomes
{
	my ($n, $db, $check, $re) = @_;
	my $deadline = time() + 30;
	my $last;
	while (time() < $deadline)
	{
		$last = $n->safe_psql($db, "SELECT status || ' ' || reason FROM momo_health() WHERE check_name = '$check'");
		return 1 if $last =~ $re;
		select(undef, undef, undef, 0.1);
	}
	diag("momo_health() $check in $db: $last");
	return 0;
}

my $pos0 = log_position($node);

############################################################################
# Two databases with momo, one without: a worker in each of the two.
$node->safe_psql('postgres', $_) for (
	'CREATE DATABASE shop_a', 'CREATE DATABASE shop_b', 'CREATE DATABASE plain');
$node->safe_psql('shop_a', 'CREATE EXTENSION momo');
$node->safe_psql('shop_b', 'CREATE EXTENSION momo');
ok(workers_become($node, 'shop_a,shop_b'), 'one worker in each database where momo is installed');
is($node->safe_psql('postgres',
		"SELECT count(*) || '/' || count(datname) FROM pg_stat_activity WHERE backend_type = 'momo launcher'"),
	'1/0', 'one launcher, connected to no database');
my $pid_a = wait_for_worker($node, db => 'shop_a');
my $pid_b = wait_for_worker($node, db => 'shop_b');
is($node->safe_psql('shop_a', 'SELECT pid FROM momo_worker_status()'), $pid_a,
	"momo_worker_status() in shop_a shows shop_a's worker");
is($node->safe_psql('shop_b', 'SELECT pid FROM momo_worker_status()'), $pid_b,
	"momo_worker_status() in shop_b shows shop_b's worker");
is($node->safe_psql('shop_a', "SELECT ok || ' ' || detail FROM momo_preflight() WHERE check_name = 'worker'"),
	"true running, pid $pid_a, in this database", "momo_preflight() in shop_a: its own worker is alive");

############################################################################
# Each database's payments are sent by its own worker, woken by the commit.
{
	my $ref_a = payment_works($node, 'shop_a', 'two databases');
	my $ref_b = payment_works($node, 'shop_b', 'two databases');
	is($node->safe_psql('shop_b', "SELECT count(*) FROM momo_payments WHERE reference_id = '$ref_a'"),
		'0', "shop_a's payment is not in shop_b");
	is($node->safe_psql('shop_a', "SELECT count(*) FROM momo_payments WHERE reference_id = '$ref_b'"),
		'0', "shop_b's payment is not in shop_a");
	my ($rc, $out, $err) = $node->psql('shop_b', "SELECT momo_payment_status('$ref_a')");
	like($err, qr/ERROR:.*$ref_a/, "shop_b cannot ask about shop_a's payment");
	is(workers($node), 'shop_a,shop_b', 'still one worker in each');
}

############################################################################
# As Django's test runner: CREATE DATABASE test_shop, then a migration runs
# CREATE EXTENSION momo in a transaction; served at its commit, no restart.
{
	my $launcher = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'momo launcher'");
	$node->safe_psql('postgres', 'CREATE DATABASE test_shop');
	$node->safe_psql('test_shop', "BEGIN; CREATE TABLE shop_invoice (id int); CREATE EXTENSION momo; COMMIT");
	ok(workers_become($node, 'shop_a,shop_b,test_shop'), 'CREATE EXTENSION momo in a new database starts its worker');
	payment_works($node, 'test_shop', 'a database created later');
	is($node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'momo launcher'"),
		$launcher, 'the same launcher: nothing was restarted');
}

############################################################################
# momo.max_databases (3) are served: a fourth database is not, and a WARNING
# says so once; when a slot frees (DROP EXTENSION elsewhere) it is served.
{
	my $pos = log_position($node);
	$node->safe_psql('postgres', 'CREATE DATABASE shop_c');
	$node->safe_psql('shop_c', 'CREATE EXTENSION momo');
	ok(wait_for_log_count($node,
			qr/WARNING:  momo cannot start a worker in database "shop_c": all 3 databases of momo.max_databases are served already\n.*HINT:  Raise momo.max_databases \(and max_worker_processes/,
			1, $pos, 30),
		'a WARNING names the database left out, and the setting to raise');
	is(workers($node), 'shop_a,shop_b,test_shop', 'no more workers than momo.max_databases');
	like($node->safe_psql('shop_c', "SELECT ok || ' ' || detail FROM momo_preflight() WHERE check_name = 'worker'"),
		qr/^false no momo worker runs in this database/, "momo_preflight() in shop_c: no worker");
	# momo_health() says so in every database, with the setting to raise:
	# the database left out has no worker to report a problem of its own.
	ok(health_becomes($node, 'shop_c', 'worker',
			qr/^critical no momo worker runs in this database: payments are not sent; momo cannot start one: all databases of momo\.max_databases are served already/),
		'momo_health() in shop_c: no worker, because momo.max_databases are served');
	ok(health_becomes($node, 'shop_a', 'workers',
			qr/^warning workers of other databases do not send: shop_c: momo could start no worker there \(to serve it, or to look whether momo is installed\): all databases of momo\.max_databases are served already/),
		'momo_health() in shop_a: shop_c has no worker, and why');
	my $ref = request_payment($node, db => 'shop_c', external_id => 'x-waits');

	# DROP EXTENSION momo in shop_b: its worker exits (at once: the commit
	# wakes it), and shop_c takes the slot.
	$node->safe_psql('shop_b', 'DROP EXTENSION momo');
	ok(workers_become($node, 'shop_a,shop_c,test_shop'),
		"DROP EXTENSION stops shop_b's worker, and shop_c gets the slot");
	ok(health_becomes($node, 'shop_a', 'workers', qr/^ok /), "momo_health() in shop_a: every database's worker runs");
	is(await_payment($node, $ref, db => 'shop_c', seconds => 30)->{status}, 'successful',
		'the payment that waited in shop_c is sent');
	is(count_matches(log_since($node, $pos), qr/momo cannot start a worker in database "shop_c"/), 1,
		'the WARNING was logged once');
}

############################################################################
# A database without momo has no worker, and nothing about it is logged;
# nothing failed to connect anywhere (and no worker was stopped so far).
{
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE datname IN ('plain', 'shop_b')"),
		'0', 'no session in the databases without momo');
	my $log = log_since($node, $pos0);
	unlike($log, qr/"plain"|"shop_b"[^\n]*(started|FATAL)/, 'nothing logged about the database without momo');
	unlike($log, qr/FATAL|exited with exit code 1/, 'no worker failed to connect, or exited with an error');
}

############################################################################
# DROP DATABASE of a served database succeeds (its worker is stopped first);
# a DROP by someone else, which fails, does not stop it.
{
	$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN CREATEDB');
	my $pid_t = wait_for_worker($node, db => 'test_shop');
	my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE test_shop', extra_params => [ '-U', 'mallory' ]);
	like($err, qr/must be owner of database test_shop/, 'mallory may not drop test_shop');
	payment_works($node, 'test_shop', "after mallory's DROP DATABASE");
	is(wait_for_worker($node, db => 'test_shop', timeout => 5), $pid_t,
		"... and her attempt did not stop its worker (the same one sent it)");

	($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE test_shop');
	is($rc, 0, 'DROP DATABASE of a database momo serves succeeds') or diag($err);
	ok(workers_become($node, 'shop_a,shop_c'), 'its worker is gone, and not started again');

	# A rename needs the database to itself too; the worker comes back under the new name.
	($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE shop_c RENAME TO shop_d');
	is($rc, 0, 'ALTER DATABASE RENAME of a database momo serves succeeds') or diag($err);
	ok(workers_become($node, 'shop_a,shop_d'), 'it is served again under its new name');
	payment_works($node, 'shop_d', 'after a rename');

	# A copy (Django's parallel test runner clones its test database so)
	# needs its template to itself too; the copy has momo, and is served.
	($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE shop_copy TEMPLATE shop_a');
	is($rc, 0, 'CREATE DATABASE ... TEMPLATE of a database momo serves succeeds') or diag($err);
	ok(workers_become($node, 'shop_a,shop_copy,shop_d'), 'the template and the copy are served');
	payment_works($node, 'shop_copy', 'in a copy');
	$node->safe_psql('postgres', 'DROP DATABASE shop_copy');
	ok(workers_become($node, 'shop_a,shop_d'), 'the copy dropped, its worker is gone');
}

############################################################################
# momo.databases as a list, changed at a reload: a database it no longer
# lists loses its worker, and its payments are refused with a hint.
{
	ok(set_momo($node, databases => 'shop_a'), 'momo.databases = shop_a');
	ok(workers_become($node, 'shop_a'), "shop_d's worker exits");
	my ($rc, $out, $err) = $node->psql('shop_d', "SELECT momo_request_to_pay(1, 'EUR', '46733000001')");
	like($err, qr/ERROR:  momo does not serve database "shop_d": momo.databases does not list it\n.*HINT:  Add shop_d to momo.databases/s,
		'a payment in a database not listed is refused, with a hint');
	like($node->safe_psql('shop_d', "SELECT detail FROM momo_preflight() WHERE check_name = 'worker'"),
		qr/momo.databases does not list it/, 'momo_preflight() says why there is no worker');
	($rc, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET momo.databases = '*, shop_a'");
	like($err, qr/cannot be listed with names/, "'*' cannot be mixed with names");
	ok(set_momo($node, databases => '*'), "momo.databases = '*' again");
	ok(workers_become($node, 'shop_a,shop_d'), 'shop_d is served again');
}

############################################################################
# ALTER DATABASE ... ALLOW_CONNECTIONS false: the launcher stops that
# database's worker (told at commit); true again: it is served again.
{
	$node->safe_psql('postgres', 'ALTER DATABASE shop_d ALLOW_CONNECTIONS false');
	ok(workers_become($node, 'shop_a'), 'a database that refuses connections loses its worker');
	$node->safe_psql('postgres', 'ALTER DATABASE shop_d ALLOW_CONNECTIONS true');
	ok(workers_become($node, 'shop_a,shop_d'), 'and is served again once it allows them');
}

############################################################################
# The launcher terminated: its workers exit with it, the postmaster starts
# it again after 5 s, and it starts one worker per database again.
{
	my $launcher = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'momo launcher'");
	my $old = $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'momo worker'");
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
	ok(poll_until($node, 'postgres',
			"SELECT coalesce(string_agg(datname, ',' ORDER BY datname), '') FROM pg_stat_activity"
			  . " WHERE backend_type = 'momo worker' AND pid NOT IN ($old)", 'shop_a,shop_d', 30),
		'a new launcher starts a new worker in each database');
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'momo launcher' AND pid <> $launcher"),
		'1', 'one new launcher');
	is(workers($node), 'shop_a,shop_d', 'the old workers are gone: one worker per database');
	payment_works($node, 'shop_a', 'after the launcher was restarted');
}
$node->stop;

############################################################################
# The deprecated momo.database_name still restricts momo to one database;
# the log says what to set instead.
{
	my $old = momo_node('legacy', databases => '*', extra_conf => "momo.database_name = 'legacy'");
	$old->safe_psql('postgres', 'CREATE DATABASE legacy; CREATE DATABASE other');
	$old->safe_psql('legacy', 'CREATE EXTENSION momo');
	$old->safe_psql('other', 'CREATE EXTENSION momo');
	ok(workers_become($old, 'legacy'), 'momo.database_name: a worker in that database only');
	payment_works($old, 'legacy', 'momo.database_name');
	like(slurp_file($old->logfile), qr/LOG:  momo.database_name is deprecated: momo serves database "legacy" only\n.*HINT:  Set momo.databases = 'legacy' instead/,
		'the log says momo.database_name is deprecated, and what to set');
	my ($rc, $out, $err) = $old->psql('other', "SELECT momo_request_to_pay(1, 'EUR', '46733000001')");
	like($err, qr/momo does not serve database "other"/, 'a payment in another database is refused');
	$old->stop;
}

############################################################################
# Too few background worker slots: PostgreSQL's logical replication
# launcher, momo's launcher and one worker fill max_worker_processes = 3;
# the second database is named in a WARNING.
{
	my $tight = momo_node('tight', databases => '*',
		extra_conf => "max_worker_processes = 3\nmax_parallel_workers = 0");
	my $pos = log_position($tight);
	$tight->safe_psql('postgres', 'CREATE DATABASE one; CREATE DATABASE two');
	$tight->safe_psql('one', 'CREATE EXTENSION momo');
	ok(workers_become($tight, 'one'), 'the one slot left serves a database');
	$tight->safe_psql('two', 'CREATE EXTENSION momo');
	ok(wait_for_log_count($tight,
			qr/WARNING:  momo cannot start a worker in database "two": no background worker slot is free\n.*HINT:  Raise max_worker_processes \(now 3\)/,
			1, $pos, 30),
		'a WARNING names the database left out and max_worker_processes');
	is(workers($tight), 'one', 'still one worker');
	ok(health_becomes($tight, 'one', 'workers',
			qr/^warning workers of other databases do not send: two: momo could start no worker there \(to serve it, or to look whether momo is installed\): no background worker slot is free \(raise max_worker_processes/),
		'momo_health() in one: two has no worker, for want of a background worker slot');
	ok(health_becomes($tight, 'two', 'worker',
			qr/^critical no momo worker runs in this database: payments are not sent; momo cannot start one: no background worker slot is free/),
		'momo_health() in two: no worker, and why');
	$tight->stop;
}

############################################################################
# When slots are short, the databases that were there first are served:
# copies of a database with momo (as a role with CREATEDB makes of a
# template) must not take its worker's slot, at a restart either (the
# launcher once started them in its hash table's order; a red team's copies
# took the slot of the shop they were copied from).
{
	my $few = momo_node('order', databases => '*', extra_conf => 'momo.max_databases = 1');
	$few->safe_psql('postgres', 'CREATE DATABASE shop');
	$few->safe_psql('shop', 'CREATE EXTENSION momo');
	ok(workers_become($few, 'shop'), 'the shop is served');
	$few->safe_psql('postgres', "CREATE DATABASE copy$_ TEMPLATE shop") for 1 .. 6;
	ok(workers_become($few, 'shop'), 'its copies wait for a slot');
	$few->restart;
	ok(workers_become($few, 'shop'), 'after a restart, the shop gets the one slot, not a copy');
	$few->stop;
}

done_testing();
