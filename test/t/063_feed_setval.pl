
# 063_feed_setval.pl - no one can make the change feed pass over a change,
# or stop it, by moving or holding the sequence momo_change_seq.
#
# A red team (the feed's numbering) found: the worker numbered committed
# changes with nextval('momo_change_seq').  A member of pg_write_all_data
# has UPDATE on every sequence (it cannot be revoked), so may setval it:
# after numbers up to 1003 were given, setval(..., 30) had new changes
# numbered 31..., which a poller at 1003 never sees; where a number was
# still taken, the unique index failed the numbering and the feed stalled;
# setval to the largest bigint failed every nextval (the feed stalled too).
# And the numbering took an ExclusiveLock on the sequence, which conflicts
# with the RowExclusiveLock that nextval, setval, currval and
# pg_sequence_last_value take (before they check privileges, held to the
# end of the transaction even when taken in a savepoint rolled back):
# a session sitting in a transaction that touched the sequence -- a
# monitoring query on pg_sequences, or a role with no grant at all --
# stopped the feed for as long as it liked.
#
# Now the worker numbers from the largest number given (the highest kept,
# or the horizon of the purged ones), under a lock that those functions'
# lock does not conflict with.  Checked here, as a role granted
# pg_write_all_data: the sequence set backwards below the numbers given,
# forwards, back again, to its maximum, and held in an open transaction,
# each between payments; and as a role with no grant, the sequence locked
# through a rolled-back savepoint.  A poller of momo_changes(after) must get
# every change of every payment exactly once, in increasing order, and the
# worker must keep numbering.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

start_sandbox();
my $node = momo_node('feedsetval');
$node->safe_psql('postgres', q{
	CREATE EXTENSION momo;
	CREATE ROLE writer LOGIN;
	GRANT pg_write_all_data TO writer;
	GRANT USAGE ON SCHEMA public TO writer;
	CREATE ROLE nobody LOGIN;
});
ok(wait_for_worker($node), 'worker runs');
my $seqoid = $node->safe_psql('postgres', "SELECT 'public.momo_change_seq'::regclass::oid");

# The poller: momo_changes after its position (autocommit), as the README's
# recipe; every number must come after the position.
my $position = 0;
my @seen;
my $in_order = 1;

sub poll
{
	my $out = $node->safe_psql('postgres',
		"SET statement_timeout = '20s'; SELECT seq, coalesce(reference_id::text, ''), coalesce(status, '')"
		  . " FROM momo_changes($position, 1000)");
	for my $r (map { [ split /\|/, $_, -1 ] } grep { length } split /\n/, $out)
	{
		if ($r->[0] <= $position)
		{
			$in_order = 0;
			diag("number $r->[0] does not come after the position $position");
		}
		$position = $r->[0];
		push @seen, $r if $r->[1] ne '';
	}
}

sub statuses_seen
{
	my ($ref) = @_;
	return join(' ', map { $_->[2] } grep { $_->[1] eq $ref } @seen);
}

# A payment, sent to its end; then polls until the poller has its three
# changes (at most 30 s).  True if it saw them, each once, in order.
my @refs;

sub pay_and_follow
{
	my ($what) = @_;
	my $ref = request_payment($node, msisdn => '46733000063', external_id => "feed-$what");
	push @refs, $ref;
	await_payment($node, $ref);
	my $deadline = time() + 30;
	while (time() < $deadline)
	{
		poll();
		last if statuses_seen($ref) eq 'queued pending successful';
		usleep(200_000);
	}
	return is(statuses_seen($ref), 'queued pending successful',
		"$what: the poller got each change of the payment once, in order");
}

sub as_writer
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', 'writer' ]);
}

pay_and_follow('first payment');
pay_and_follow('second payment');
my $top = $position;
ok($top >= 6, "numbers given so far: up to $top");

# Backwards, below the numbers given.
as_writer("SELECT setval('public.momo_change_seq', 1)");
pay_and_follow('after setval backwards to 1');

# Forwards, then back into the numbers passed over (none taken there):
# the poller, past them, must still get what comes next.
as_writer("SELECT setval('public.momo_change_seq', 1000)");
pay_and_follow('after setval forwards to 1000');
as_writer("SELECT setval('public.momo_change_seq', " . ($top + 20) . ')');
pay_and_follow('after setval back to ' . ($top + 20));
as_writer("SELECT setval('public.momo_change_seq', " . ($position - 2) . ')');
pay_and_follow('after setval back to ' . ($position - 2));

# To its maximum: nextval would fail.
as_writer("SELECT setval('public.momo_change_seq', 9223372036854775807)");
pay_and_follow('after setval to the largest bigint');

# Held: a transaction that touched the sequence, left open.
my $w = $node->background_psql('postgres', extra_params => [ '-U', 'writer' ]);
$w->query_safe('BEGIN');
$w->query_safe("SELECT setval('public.momo_change_seq', 5)");
pay_and_follow('while a transaction that set the sequence stays open');
$w->query_safe('ROLLBACK');
$w->quit;

# Held by a role with no grant: nextval refuses it, after taking its lock,
# which the rollback to the savepoint does not release.
my $n = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'nobody' ]);
$n->query_safe('BEGIN');
$n->query_safe('SAVEPOINT s');
$n->query("SELECT nextval(${seqoid}::regclass)");
like($n->{stderr}, qr/permission denied for sequence momo_change_seq/, 'nextval refuses a role with no grant');
$n->{stderr} = '';    # (BackgroundPsql of 15 keeps it otherwise)
$n->query_safe('ROLLBACK TO SAVEPOINT s');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
		  . " WHERE l.relation = $seqoid AND a.usename = 'nobody' AND l.granted"),
	'1', 'a role with no grant holds a lock on momo_change_seq');
pay_and_follow('while a role with no grant holds a lock on the sequence');
$n->query_safe('ROLLBACK');
$n->quit;

# Once more, plainly.
pay_and_follow('last payment');

ok($in_order, 'every number the poller got came after its position');
ok(poll_until($node, 'postgres',
		'SELECT count(*) FROM momo_payment_changes WHERE seq IS NULL', '0', 30),
	'the worker numbered every change (no stall)');
my $refs = join(', ', map { "'$_'" } @refs);
is($node->safe_psql('postgres',
		"SELECT count(*) FROM momo_payment_changes WHERE reference_id IN ($refs)"),
	3 * @refs, 'three changes were written for each payment');
is(scalar(grep { my $r = $_->[1]; grep { $_ eq $r } @refs } @seen), 3 * @refs,
	'the poller got exactly those, once each');
is($node->safe_psql('postgres',
		'SELECT count(*) FROM (SELECT seq FROM momo_payment_changes ORDER BY id) s'
		  . ' WHERE seq IS NOT NULL'),
	$node->safe_psql('postgres', 'SELECT count(DISTINCT seq) FROM momo_payment_changes'),
	'no number was given twice');

$node->stop;
done_testing();
