
# 026_record_plan.pl - a batch of answers finds its payments by primary key
#   (src/store.c, steer_to_indexes: "a batch of answers finds its rows by
#   primary key (no hash or merge join)"), also in the case that steering
#   was made for: a backlog queued in one transaction, long before
#   autovacuum analyzes the table again.
#
#   momo_payments holds 20,000 final payments and was analyzed while none
#   was open; autovacuum is off, as it is in effect until it comes round.
#   A backlog of 2,000 payments is then queued in one transaction.  The
#   statement that records a batch of answers is a generic plan, planned
#   once with those statistics and with hash and merge joins off: the
#   planner takes momo_payments_due (estimated at one open row) as the outer
#   side of a nested loop and rescans the batch for each open payment, so
#   each batch reads every open payment (0.5 s a batch with 20,000 open
#   rows, 2,000,000 final ones and 64 in flight: about 115 payments a second,
#   the worker's loop blocked meanwhile).  The witness is PostgreSQL's
#   statistics: each answer recorded by primary key is a scan of
#   momo_payments_pkey.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $N = 2000;

start_sandbox();

my $node = momo_node('record', extra_conf => 'autovacuum = off');
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

# 20,000 final payments (as a superuser may write them: the guard checks
# only the terms of an INSERT), then statistics that say so.
$node->safe_psql('postgres', q{
INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, status,
                           completed_at, created_at, updated_at, next_check_at, attempts)
SELECT gen_random_uuid(), 'old-' || i, 100, 'EUR', '46733000001', 'successful',
       now() - interval '1 day', now() - interval '2 days', now() - interval '1 day',
       now() - interval '1 day', 1
  FROM generate_series(1, 20000) i;
ANALYZE momo_payments;
});

# One payment first, so that the worker plans its statements with these
# statistics (ANALYZE invalidated the plans it had).
my $first = request_payment($node, external_id => 'first');
my $row = await_payment($node, $first, seconds => 30);
is($row && $row->{status}, 'successful', 'a first payment is successful');
ok(wait_for_worker_idle($node), 'the worker is idle');

sub pkey_scans
{
	return $node->safe_psql('postgres',
		"SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'momo_payments_pkey'");
}
my $before = pkey_scans();

$node->safe_psql('postgres',
	"SELECT count(momo_request_to_pay(10, 'EUR', '46733000001', 'backlog-' || i)) "
	  . "FROM generate_series(1, $N) AS i");
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE external_id LIKE 'backlog-%' AND status = 'successful'",
		"$N", 300),
	"all $N payments of the backlog are successful");
# The worker flushes its statistics when it goes idle.
ok(wait_for_worker_idle($node), 'the worker is idle again');
my $scans;
ok(poll_until($node, 'postgres',
		"SELECT idx_scan - $before >= $N FROM pg_stat_user_indexes "
		  . "WHERE indexrelname = 'momo_payments_pkey'", 't', 10),
	"the $N payments' answers ($N sends and $N status checks) were found by primary key")
  or diag('scans of momo_payments_pkey while they were recorded: ' . (pkey_scans() - $before)
	  . '; of momo_payments_due: '
	  . $node->safe_psql('postgres',
		  "SELECT idx_scan || ' scans reading ' || idx_tup_read || ' entries' FROM pg_stat_user_indexes "
			. "WHERE indexrelname = 'momo_payments_due'"));

$node->stop;
done_testing();
