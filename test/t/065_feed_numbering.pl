
# 065_feed_numbering.pl - the change feed's numbering can be neither held up
# by a role without privileges nor set back below where pollers stand.
#
# The feed once numbered from a sequence, momo_change_seq, under a lock on
# it.  A red team found: (1) any role, even without a grant, could take a
# lock on that sequence (nextval locks before it checks privileges, to the
# end of the transaction) and so hold the numbering up for every tenant;
# (2) a member of pg_write_all_data could setval() it back below where the
# pollers stood, and they then passed over the changes numbered there.  The
# last number handed out is now kept in the row of momo_change_numbering,
# which only momo writes, whose lock only a role allowed to update it can
# take, and which is never lowered -- not when a DBA deletes the changes and
# the horizon (the numbering then goes on above them, not from the largest
# number kept), and when the row itself is deleted, the numbering starts
# again above the largest number kept or purged.
#
# Run as the attackers would: tenant_a has exactly the README's
# multi-tenant grants; bulk is a member of pg_write_all_data and
# pg_read_all_data.  No sleeps: each wait is a bounded poll.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();
my $node = momo_node('numbering', databases => '*');

$node->safe_psql('postgres', q{
	CREATE EXTENSION momo;
	CREATE ROLE tenant_a LOGIN;
	CREATE ROLE tenant_b LOGIN;
	CREATE ROLE bulk LOGIN IN ROLE pg_write_all_data, pg_read_all_data;
	ALTER TABLE momo_payments ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_payments ON momo_payments FOR SELECT TO tenant_a, tenant_b
		USING (requested_by = current_user);
	GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
		momo_changes(bigint, integer) TO tenant_a, tenant_b;
	GRANT SELECT ON momo_payments TO tenant_a, tenant_b;
});
ok(wait_for_worker($node), 'worker runs');

my $n = 0;

# Tenant B requests a payment; returns its reference id.
sub pay
{
	$n++;
	return $node->safe_psql('postgres',
		"SELECT momo_request_to_pay(10, 'EUR', '46733123450', 'b-$n')",
		extra_params => [ '-U', 'tenant_b' ]);
}

# The number of ref's first change in tenant B's feed after position $after,
# once it is there (undef if it never comes).
sub numbered_after
{
	my ($ref, $after) = @_;
	my $sql = "SET ROLE tenant_b; SELECT count(*) > 0 FROM momo_changes($after, 1000) WHERE reference_id = '$ref'";
	return undef unless poll_until($node, 'postgres', $sql, 't', 60);
	return $node->safe_psql('postgres',
		"SET ROLE tenant_b; SELECT min(seq) FROM momo_changes($after, 1000) WHERE reference_id = '$ref'");
}

sub max_seq
{
	return $node->safe_psql('postgres', 'SELECT coalesce(max(seq), 0) FROM momo_payment_changes');
}

my $r1 = pay();
my $s1 = numbered_after($r1, 0);
ok(defined $s1, 'a payment is numbered in the feed');
is($node->safe_psql('postgres', 'SELECT numbered_through FROM momo_change_numbering'),
	max_seq(), 'momo_change_numbering keeps the last number handed out');

# (2) No one but momo sets the numbering back, or deletes it.
for my $attack (
	'UPDATE momo_change_numbering SET numbered_through = 0',
	'DELETE FROM momo_change_numbering',
	'TRUNCATE momo_change_numbering',
	'INSERT INTO momo_change_numbering (numbered_through) VALUES (0) ON CONFLICT (one) DO UPDATE SET numbered_through = 0')
{
	my ($rc, $out, $err) = $node->psql('postgres', $attack, extra_params => [ '-U', 'bulk' ]);
	isnt($rc, 0, "pg_write_all_data is refused: $attack");
	like($err, qr/permission denied|only momo writes/i, "... with a refusal: $attack");
}
is($node->safe_psql('postgres', 'SELECT numbered_through FROM momo_change_numbering'),
	max_seq(), 'the numbering is where it was');
is($node->safe_psql('postgres', "SELECT to_regclass('momo_change_seq') IS NULL"), 't',
	'no sequence is left to setval()');

# (1) Locks anyone may try, held in open transactions, hold up nothing.
# The old attack, aimed at what is left: a refused nextval in a savepoint
# rolled back keeps its lock on the sequence (PostgreSQL gives it to the
# top transaction) -- here on momo_payment_changes' id sequence, which the
# trigger draws from; a refused locking read of the row in a savepoint
# (which keeps nothing); and a pg_write_all_data member's table lock that
# its privileges allow, on both tables the numbering writes.
my $a = $node->background_psql('postgres', extra_params => [ '-U', 'tenant_a' ], on_error_stop => 0);
$a->query('BEGIN');
$a->query('SAVEPOINT s');
$a->query("SELECT nextval('momo_payment_changes_id_seq')");
$a->query('ROLLBACK TO SAVEPOINT s');
$a->query('SELECT numbered_through FROM momo_change_numbering FOR UPDATE');
$a->query('ROLLBACK TO SAVEPOINT s');
my $bulk = $node->background_psql('postgres', extra_params => [ '-U', 'bulk' ]);
$bulk->query_safe('BEGIN');
$bulk->query_safe('LOCK TABLE momo_change_numbering, momo_payment_changes IN ROW EXCLUSIVE MODE');
is($node->safe_psql('postgres',
		"SELECT string_agg(held, ', ' ORDER BY held)
		   FROM (SELECT a.usename || ' ' || l.relation::regclass || ' ' || l.mode AS held
		           FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		          WHERE l.relation IN ('momo_change_numbering'::regclass, 'momo_payment_changes'::regclass,
		                               'momo_payment_changes_id_seq'::regclass)
		            AND a.usename IN ('tenant_a', 'bulk')) h"),
	'bulk momo_change_numbering RowExclusiveLock, bulk momo_payment_changes RowExclusiveLock, '
	  . 'tenant_a momo_payment_changes_id_seq RowExclusiveLock',
	'the sessions hold their locks');
my $r2 = pay();
my $s2 = numbered_after($r2, $s1);
ok(defined $s2 && $s2 > $s1, 'changes are numbered while they hold them');
$a->quit;
$bulk->query_safe('ROLLBACK');
$bulk->quit;

# A DBA's cleanup: every change deleted, the horizon noted and then
# deleted too (as examples/django's horizon test does).  The numbering goes
# on above the numbers handed out, so a poller at $s2 sees what follows.
my $before = max_seq();
$node->safe_psql('postgres', qq{
	DELETE FROM momo_payment_changes;
	INSERT INTO momo_change_horizon (purged_through) VALUES ($before)
		ON CONFLICT (one) DO UPDATE SET purged_through = excluded.purged_through;
	DELETE FROM momo_change_horizon;
});
my $r3 = pay();
my $s3 = numbered_after($r3, $s2);
ok(defined $s3, 'after the cleanup, a poller at its position sees the next change');
cmp_ok($s3 // 0, '>', $before, '... numbered above every number handed out before');

# The row itself deleted by a superuser: the numbering starts again above
# the largest number kept.
$before = max_seq();
$node->safe_psql('postgres', 'DELETE FROM momo_change_numbering');
my $r4 = pay();
my $s4 = numbered_after($r4, $s3);
ok(defined $s4, 'with the row deleted, a poller at its position sees the next change');
cmp_ok($s4 // 0, '>', $before, '... numbered above the largest number kept');
is($node->safe_psql('postgres', 'SELECT numbered_through FROM momo_change_numbering'),
	max_seq(), 'the row is made again');

# A restore.  pg_restore creates the extension -- and the worker of the
# restored database starts -- before it loads the row it dumped: a row the
# worker made in between (from nothing kept yet: 0) made the dumped one
# fail, a duplicate key, and the numbers start again below the pollers'.
# The worker makes the row only when there are changes to number; the
# restored ones come after the row.
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE status IN ('queued', 'pending')
		  UNION ALL SELECT count(*) FROM momo_payment_changes WHERE seq IS NULL", "0\n0", 60),
	'every payment is final and every change numbered before the dump');
my $mark = $node->safe_psql('postgres', 'SELECT numbered_through FROM momo_change_numbering');
my $kept = $node->safe_psql('postgres', 'SELECT count(*) FROM momo_payment_changes');
my $payments = $node->safe_psql('postgres', 'SELECT count(*) FROM momo_payments');
my $dump = "$PostgreSQL::Test::Utils::tmp_check/numbering.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--section=pre-data', '--exit-on-error',
		'-d', $node->connstr('restored'), $dump ], 'pg_restore of the schema');
ok(wait_for_worker($node, db => 'restored'), 'the restored database has its worker');
# Make sure the worker had a numbering pass: a poll that finds a change
# without a number (its own transaction's, rolled back after) asks the
# worker and waits for its answer, at most 2 s -- an answer sooner is the
# worker's, after its pass.
ok(poll_until($node, 'restored', q{
	BEGIN;
	SELECT momo_request_to_pay(10, 'EUR', '46733123450', 'probe') IS NOT NULL AS queued \gset
	SELECT clock_timestamp() AS t0 \gset
	SELECT count(*) AS polled FROM momo_changes(0, 1) \gset
	SELECT clock_timestamp() - :'t0'::timestamptz < interval '1500 ms';
	ROLLBACK;
}, 't', 60), "the restored database's worker answered a poll");
is($node->safe_psql('restored', 'SELECT count(*) FROM momo_change_numbering'), '0',
	'... and made no row: it had nothing to number');
$node->command_ok([ 'pg_restore', '--section=data', '--section=post-data', '--exit-on-error',
		'-d', $node->connstr('restored'), $dump ], 'pg_restore of the data, without an error');
ok(poll_until($node, 'restored', 'SELECT count(*) FROM momo_payment_changes WHERE seq IS NULL', '0', 60),
	'the restored database numbers its changes');
is($node->safe_psql('restored', "SELECT count(*) FROM momo_payment_changes WHERE seq <= $mark"), $kept,
	'the restored changes keep their numbers');
is($node->safe_psql('restored', "SELECT count(*) FROM momo_payment_changes WHERE seq > $mark"), $payments,
	"the restore's own changes (each payment's status, once more) are numbered after them");

# A row left behind the changes kept (a restore into a database whose row
# was behind the restored changes failed to load its own row, and every
# numbering after it failed on a duplicate number, for good): the
# numbering goes on above the largest number kept.
my $top = $node->safe_psql('restored', 'SELECT max(seq) FROM momo_payment_changes');
$node->safe_psql('restored', 'UPDATE momo_change_numbering SET numbered_through = 1');
my $r5 = $node->safe_psql('restored', "SELECT momo_request_to_pay(10, 'EUR', '46733123450', 'after-restore')");
ok(poll_until($node, 'restored',
		"SELECT min(seq) > $top FROM momo_payment_changes WHERE reference_id = '$r5'", 't', 60),
	'a row behind the changes kept: the next change is numbered above them');

$node->stop;
done_testing();
