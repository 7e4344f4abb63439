
# 024_steer_leak.pl - the planner settings the worker switches off for its
#   own statements (steer_to_indexes in src/store.c: enable_hashjoin and
#   enable_mergejoin while a batch of answers is recorded) must not reach
#   the application's code that those statements fire.
#
#   The application's trigger on momo_payments (as the README's recipe
#   writes it: SECURITY DEFINER, owned by the application, SET search_path)
#   records the settings it runs with and how its own join of two tables is
#   planned.  The recording UPDATE fires it inside SPI_execute_plan, before
#   AtEOXact_GUC restores the settings: it runs with hash and merge joins
#   off, and its join becomes a nested loop (with 2,000 rows on each side
#   without an index, 4 million comparisons instead of one hash; with a
#   large table, hours, during which the worker records nothing).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();

my $node = momo_node('steer');
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

# The application: its role, its tables, its trigger function.
$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
GRANT USAGE ON SCHEMA public TO app;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                          momo_payment_status(uuid) TO app;
GRANT SELECT ON momo_payments TO app;
CREATE SCHEMA shop AUTHORIZATION app;
SET ROLE app;
CREATE TABLE shop.orders (k int, total numeric);
CREATE TABLE shop.lines (k int, amount numeric);
INSERT INTO shop.orders SELECT i, 0 FROM generate_series(1, 2000) i;
INSERT INTO shop.lines SELECT i, 1 FROM generate_series(1, 2000) i;
ANALYZE shop.orders;
ANALYZE shop.lines;
CREATE TABLE shop.seen (ref uuid, status text, hashjoin text, mergejoin text,
                        seqscan text, sort text, plan text);
CREATE FUNCTION shop.payment_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    -- the plan of the application's own join
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT o.k, sum(l.amount) FROM shop.orders o'
                     || ' JOIN shop.lines l ON l.k = o.k GROUP BY o.k' LOOP
        plan := plan || line || ' / ';
    END LOOP;
    INSERT INTO shop.seen VALUES (NEW.reference_id, NEW.status,
        current_setting('enable_hashjoin'), current_setting('enable_mergejoin'),
        current_setting('enable_seqscan'), current_setting('enable_sort'), plan);
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION shop.payment_changed() FROM PUBLIC;
RESET ROLE;
CREATE TRIGGER payment_changed AFTER UPDATE OF status ON public.momo_payments
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION shop.payment_changed();
});

# The same join, planned in an ordinary session: a hash join.
my $own = $node->safe_psql('postgres',
	'EXPLAIN (COSTS OFF) SELECT o.k, sum(l.amount) FROM shop.orders o '
	  . 'JOIN shop.lines l ON l.k = o.k GROUP BY o.k');
like($own, qr/Hash Join/, 'the application\'s join is a hash join in its own session');

my $ref = $node->safe_psql('postgres',
	"SET ROLE app; SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'steer-1')");
my $row = await_payment($node, $ref, seconds => 30);
is($row && $row->{status}, 'successful', 'the payment is successful');
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM shop.seen WHERE ref = '$ref' AND status = 'successful'", '1', 30),
	'the trigger fired when the worker recorded the outcome');

my $seen = $node->safe_psql('postgres',
	"SELECT string_agg(status || ': hashjoin=' || hashjoin || ' mergejoin=' || mergejoin "
	  . "|| ' seqscan=' || seqscan || ' sort=' || sort || ' plan=' || plan, E'\\n' ORDER BY status) "
	  . "FROM shop.seen WHERE ref = '$ref'");
note("the trigger saw:\n$seen");

# The point: the application's code runs with the server's settings.
is($node->safe_psql('postgres',
		"SELECT count(*) FROM shop.seen WHERE ref = '$ref' "
		  . "AND (hashjoin <> 'on' OR mergejoin <> 'on' OR seqscan <> 'on' OR sort <> 'on')"),
	'0', 'the application\'s trigger runs with the planner settings of the server');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM shop.seen WHERE ref = '$ref' AND plan NOT LIKE '%Hash Join%'"),
	'0', 'the application\'s join is planned as in its own session (a hash join)');

$node->stop;
done_testing();
