
# 022_changes.pl - the change feed (momo_changes) never lets a poller pass
# over a change, when transactions commit in another order than they wrote:
#   (a) session A writes a change (a payment, queued) and keeps its
#       transaction open; session B writes a later one and commits; a poller
#       gets B's change and moves its position past it; A commits: the next
#       poll returns A's change.  A naive poller beside it, of a feed
#       numbered when the change is written (nextval at write time), has
#       skipped A's change for good: the test fails on that design;
#   (b) a poller that keeps its transaction open holds up no one (only the
#       worker numbers, in transactions of its own): a change committed
#       meanwhile is returned at once to another poller, and to the first
#       at its next call in the same transaction;
#   (c) every number a poll returns is after the poller's position, and the
#       polls together hold every change of each payment once, in order;
#   (d) the worker numbers committed changes without being asked; it purges
#       changes older than momo.event_retention, notes the horizon, and a
#       poller behind it gets an ERROR naming it; from the horizon on, the
#       rest.
# No sleeps: each wait is a bounded poll.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();
my $node = momo_node('changes');
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

# The poller: momo_changes after its position, in a transaction of its own
# (autocommit); returns the rows ([seq, reference_id, status]) and moves
# the position to the last number returned.
my $position = 0;
my @seen;

sub poll
{
	# A poll that waited for another poller's numbering would time out.
	my $out = $node->safe_psql('postgres',
		"SET statement_timeout = '20s'; SELECT seq, coalesce(reference_id::text, ''), coalesce(status, '')"
		  . " FROM momo_changes($position, 1000)");
	my @rows = map { [ split /\|/, $_, -1 ] } grep { length } split /\n/, $out;
	for my $r (@rows)
	{
		ok($r->[0] > $position, "number $r->[0] comes after the position $position")
		  or diag explain \@rows;
		$position = $r->[0];
		push @seen, $r if $r->[1] ne '';
	}
	return @rows;
}

sub seen_change
{
	my ($ref, $status) = @_;
	return scalar grep { $_->[1] eq $ref && $_->[2] eq $status } @seen;
}

# Settle: every change so far seen.
poll();

# A naive poller beside it, of a feed numbered when the change is written
# (the id, a nextval() at write time): it returns the rows after its
# position in that order, and moves its position to the last.
my $naive_position = $node->safe_psql('postgres',
	'SELECT coalesce(max(id), 0) FROM momo_payment_changes');
my %naive_seen;

sub naive_poll
{
	my $out = $node->safe_psql('postgres',
		"SELECT id, reference_id, status FROM momo_payment_changes WHERE id > $naive_position ORDER BY id");
	for my $r (map { [ split /\|/ ] } grep { length } split /\n/, $out)
	{
		$naive_position = $r->[0];
		$naive_seen{"$r->[1] $r->[2]"} = 1;
	}
}

# (a) A writes first and commits last.
my $a = $node->background_psql('postgres');
$a->query_safe('BEGIN');
my $ref_a = $a->query_safe("SELECT momo_request_to_pay(11, 'EUR', '46733000011', 'FEED-A')");
my $b_ref = $node->safe_psql('postgres',
	"SELECT momo_request_to_pay(12, 'EUR', '46733000012', 'FEED-B')");
poll();
naive_poll();
is(seen_change($b_ref, 'queued'), 1, '(a) the poller gets B\'s committed change');
is(seen_change($ref_a, 'queued'), 0, '(a) not A\'s, which has not committed');
my $passed = $position;
$a->query_safe('COMMIT');
$a->quit;
my ($id_a, $id_b) = split /\|/, $node->safe_psql('postgres',
	"SELECT (SELECT id FROM momo_payment_changes WHERE reference_id = '$ref_a' AND status = 'queued'),"
	  . " (SELECT id FROM momo_payment_changes WHERE reference_id = '$b_ref' AND status = 'queued')");
ok($id_a < $id_b, "(a) A's change was written before B's (id $id_a < $id_b)");
poll();
naive_poll();
is(seen_change($ref_a, 'queued'), 1, '(a) after A commits, the next poll returns A\'s change');
ok($naive_seen{"$b_ref queued"} && !$naive_seen{"$ref_a queued"},
	'(a) where the naive poller, numbered at write time, has skipped it for good');
my ($seq_a) = map { $_->[0] } grep { $_->[1] eq $ref_a && $_->[2] eq 'queued' } @seen;
ok($seq_a > $passed, "(a) A's change is numbered $seq_a, after the position $passed");

# (b) A poller that keeps its transaction open, as a tenant may.
my $p1 = $node->background_psql('postgres');
$p1->query_safe('BEGIN');
$p1->query_safe("SELECT count(*) FROM momo_changes($position, 1000)");
my $ref_c = $node->safe_psql('postgres',
	"SELECT momo_request_to_pay(13, 'EUR', '46733000013', 'FEED-C')");
# The second poller does not wait for the first (its statement timeout
# would fail it), and gets C's committed change at once.
poll();
is(seen_change($ref_c, 'queued'), 1, '(b) another poller gets C\'s change while the first keeps its transaction open');
my ($seq_c) = map { $_->[0] } grep { $_->[1] eq $ref_c && $_->[2] eq 'queued' } @seen;
is($p1->query_safe(
		"SELECT seq FROM momo_changes($passed, 1000) WHERE reference_id = '$ref_c' AND status = 'queued'"),
	$seq_c, '(b) and so does the first, at its next call in the same transaction');
$p1->query_safe('ROLLBACK');
$p1->quit;

# (c) Once every payment is final, the polls together hold each change of
# each payment exactly once: queued, pending, final.
for my $ref ($ref_a, $b_ref, $ref_c)
{
	await_payment($node, $ref);
}
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payment_changes WHERE reference_id IN ('$ref_a', '$b_ref', '$ref_c')",
		'9', 30),
	'(c) nine changes written');
poll();
for my $ref ($ref_a, $b_ref, $ref_c)
{
	my @statuses = map { $_->[2] } grep { $_->[1] eq $ref } @seen;
	is("@statuses", 'queued pending successful', "(c) $ref: each change once, in order");
}

# (d) The worker numbers what commits, with no poll to ask it; the purge:
# changes older than momo.event_retention go; a poller behind them gets an
# ERROR that names the horizon, and from the horizon on it gets the rest.
my $ref_d = $node->safe_psql('postgres',
	"SELECT momo_request_to_pay(14, 'EUR', '46733000014', 'FEED-D')");
await_payment($node, $ref_d);
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payment_changes WHERE reference_id = '$ref_d'", '3', 30),
	'(d) D\'s three changes written');
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payment_changes WHERE reference_id = '$ref_d' AND seq IS NULL", '0', 30),
	'(d) the worker numbered them, with no poll since');
# Everything but D's changes is made old; the worker purges when it starts.
$node->safe_psql('postgres',
	"UPDATE momo_payment_changes SET changed_at = now() - interval '400 days' WHERE reference_id <> '$ref_d'");
$node->restart;
ok(poll_until($node, 'postgres', 'SELECT count(*) FROM momo_change_horizon', '1', 60),
	'(d) the worker purged old changes and noted the horizon');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM momo_payment_changes WHERE reference_id <> '$ref_d'"),
	'0', '(d) every old change is gone');
my $horizon = $node->safe_psql('postgres', 'SELECT purged_through FROM momo_change_horizon');
is($horizon, $position, '(d) the horizon is the last number purged, where the poller is');
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT * FROM momo_changes(0)');
like($err, qr/changes of payments after 0 are no longer kept.*Changes up to $horizon were purged/s,
	'(d) a poller from 0 gets an ERROR naming the horizon');
poll();
my @statuses = map { $_->[2] } grep { $_->[1] eq $ref_d } @seen;
is("@statuses", 'queued pending successful', '(d) the poller at the horizon gets D\'s changes');

$node->stop;
done_testing();
