
# 027_check_claim_plan.pl - the claim of status checks does not read the
#   whole of momo_payments each time once the table has grown.
#
#   The worker's statements are prepared as generic plans
#   (CURSOR_OPT_GENERIC_PLAN, src/store.c): planned once, at their first
#   use, and again only when something invalidates them (an ANALYZE of the
#   table, DDL).  The claim of payments to send is steered to
#   momo_payments_due (no seqscan), but the claim of status checks is "left
#   to the planner": planned while the table is small, it is a sequential
#   scan, and it stays one however large the table grows until autovacuum
#   comes round.  On a live cluster: 2,000,000 final payments loaded after
#   the worker had planned it, then 5,000 payments; each claim of checks
#   read all 2,000,000 rows (0.3 to 0.6 s, auto_explain), and the 5,000
#   first status checks took 90 s, until autovacuum's ANALYZE replaced the
#   plan and the last 1,344 took 5 s.
#
#   Here autovacuum is off (as it is in effect until it comes round): the
#   worker checks 2,000 pending payments on a table of nothing else, then
#   300,000 final payments are loaded, and 200 payments are requested and
#   checked.  The witness is
#   the plan of each claim, logged by auto_explain.
#
#   Nor does it read the payments waiting to be sent.  One statement that
#   sorted every due check by class read every due row of momo_payments_due
#   (a bitmap scan, then a sort) for each claim of a few: with 60,000
#   payments queued in one transaction, 20 ms a claim, and the worker spent
#   40 times the CPU per payment it spends on a backlog of 10,000.  Here
#   5,000 payments wait, queued (sending is paused), while the 2,000 pending
#   ones are checked: no claim of checks may sort or bitmap-scan, nor pass
#   over as many rows as wait to be sent (auto_explain's actual rows).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The plans of the claims of status checks $node logged after log position $pos
# (auto_explain): each entry begins with "duration:" and holds the
# statement and its plan.
sub check_claims
{
	my ($node, $pos) = @_;
	return grep { /attempts >= \$2 OR send_refused/ && /FOR UPDATE SKIP LOCKED/ }
	  split /LOG:  duration: /, log_since($node, $pos);
}

my $OLD = 300000;
my $N = 200;

start_sandbox();

# auto_explain logs the plan of each statement of the worker's claims.
my $node = momo_node('checkplan', extra_conf => join("\n",
		'autovacuum = off',
		"shared_preload_libraries = 'momo,auto_explain'",
		'auto_explain.log_min_duration = 0',
		'auto_explain.log_analyze = on',
		'auto_explain.log_nested_statements = on'));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

# The claim of checks is planned on a small table of open payments: 2,000
# payments that MTN keeps pending (46733123454), analyzed (which invalidates
# the worker's plans), then checked.
$node->safe_psql('postgres',
	"SELECT count(momo_request_to_pay(10, 'EUR', '46733123454', 'pending-' || i)) "
	  . "FROM generate_series(1, 2000) AS i");
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE status = 'pending'", '2000', 60),
	'2,000 payments are pending');
$node->safe_psql('postgres', 'ANALYZE momo_payments');
my $checks = $node->safe_psql('postgres', 'SELECT sum(status_checks) FROM momo_payments');
ok(poll_until($node, 'postgres',
		"SELECT sum(status_checks) > $checks + 100 FROM momo_payments", 't', 60),
	'they are checked again after the ANALYZE');

$node->safe_psql('postgres', qq{
INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, status,
                           completed_at, created_at, updated_at, next_check_at, attempts)
SELECT gen_random_uuid(), 'old-' || i, 100, 'EUR', '46733000001', 'successful',
       now() - interval '1 day', now() - interval '2 days', now() - interval '1 day',
       now() - interval '1 day', 1
  FROM generate_series(1, $OLD) i;
});

my $pos = log_position($node);

$node->safe_psql('postgres',
	"SELECT count(momo_request_to_pay(10, 'EUR', '46733000001', 'new-' || i)) "
	  . "FROM generate_series(1, $N) AS i");
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE reference_id IN "
		  . "(SELECT reference_id FROM momo_events) AND status = 'successful' "
		  . "AND created_at > now() - interval '1 hour'",
		$N, 120),
	"the $N new payments are checked and successful");

# The plans of the claims of status checks since the load (auto_explain):
# each entry begins with "duration:" and holds the statement and its plan.
my @plans = check_claims($node, $pos);
my @seq = grep { /Seq Scan on momo_payments p/ } @plans;
note(scalar(@plans) . " claims of status checks since the load, " . scalar(@seq)
	  . " of them sequential scans of the $OLD-row table");
ok(@plans > 0, 'status checks were claimed');
is(scalar(@seq), 0, 'no claim of status checks reads the whole table');

# A backlog waiting to be sent, while pending payments are checked.
my $WAITING = 5000;
$node->safe_psql('postgres', "SELECT momo_pause('test: a backlog waits', 'collection')");
$node->safe_psql('postgres',
	"SELECT count(momo_request_to_pay(10, 'EUR', '46733000002', 'waiting-' || i)) "
	  . "FROM generate_series(1, $WAITING) AS i");
$pos = log_position($node);
$checks = $node->safe_psql('postgres', 'SELECT sum(status_checks) FROM momo_payments');
ok(poll_until($node, 'postgres',
		"SELECT sum(status_checks) > $checks + 100 FROM momo_payments", 't', 120),
	"the pending payments are checked while $WAITING wait to be sent");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM momo_payments WHERE external_id LIKE 'waiting-%' AND status = 'queued' AND attempts = 0"),
	$WAITING, "the $WAITING payments still wait, unsent");
@plans = check_claims($node, $pos);
my @wide = grep { /Bitmap Heap Scan|Sort/ } @plans;
my ($most) = sort { $b <=> $a } map { /Rows Removed by Filter: (\d+)/g } @plans;
$most //= 0;
note(scalar(@plans) . " statements claiming status checks; the most rows one passed over: $most");
ok(@plans > 0, 'status checks were claimed');
is(scalar(@wide), 0, 'no claim of status checks sorts or bitmap-scans the due payments')
  or diag($wide[0]);
cmp_ok($most, '<', $WAITING, "no claim of status checks passes over the $WAITING payments waiting to be sent");

$node->stop;
done_testing();
