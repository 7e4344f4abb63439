--
-- counts: the counters of final payments (momo_payment_counts) that
-- momo_stats reads instead of counting the whole table.  They agree with the
-- table whoever writes it -- the worker, a session's statement, a rolled back
-- savepoint, a delete, a TRUNCATE -- and a session's count never waits for
-- another's: it inserts a row of its own, which the worker folds in.
--
\set VERBOSITY terse

-- What momo_stats says of the payments, against a GROUP BY of the table.
CREATE FUNCTION pg_temp.stats_agree() RETURNS boolean LANGUAGE sql AS $$
    SELECT coalesce((SELECT jsonb_object_agg(label, value) FROM momo_stats WHERE metric = 'payments'), '{}')
         = coalesce((SELECT jsonb_object_agg(status || '/' || operation, n)
                       FROM (SELECT status, operation, count(*)::numeric AS n FROM momo_payments
                              GROUP BY status, operation) g), '{}')
$$;
-- Final payments per key, as the counters have them.
CREATE FUNCTION pg_temp.finished(s text) RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(sum(finished), 0)::bigint FROM momo_payment_counts
     WHERE product = 'collection' AND operation = 'request_to_pay' AND status = s
$$;
CREATE FUNCTION pg_temp.deleted(s text) RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(sum(deleted), 0)::bigint FROM momo_payment_counts
     WHERE product = 'collection' AND operation = 'request_to_pay' AND status = s
$$;
-- n final payments written by hand in one statement, as a restore would,
-- completed long ago.
CREATE FUNCTION pg_temp.final_rows(s text, ext text, n integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, status,
                               completed_at, created_at, updated_at)
    SELECT gen_random_uuid(), ext || i, 5, 'EUR', '46733000001', s,
           now() - interval '200 days', now() - interval '200 days', now() - interval '200 days'
      FROM generate_series(1, n) i
$$;

SELECT pg_temp.stats_agree() AS agree_before;
SELECT pg_temp.finished('successful') AS s0, pg_temp.finished('failed') AS f0 \gset

-- The worker counts what it records: one successful, one failed.
SELECT momo_request_to_pay(7, 'EUR', '46733000001', 'counts-ok') AS ok_ref \gset
SELECT momo_request_to_pay(7, 'EUR', '46733123451', 'counts-failed') AS failed_ref \gset
SELECT status FROM momo_await(:'ok_ref');
SELECT status FROM momo_await(:'failed_ref');
SELECT pg_temp.finished('successful') - :s0 AS successful_added,
       pg_temp.finished('failed') - :f0 AS failed_added;
SELECT pg_temp.stats_agree() AS agree_after_worker;

-- A statement of a session's: one row of its own per key and statement (it
-- never updates a row another transaction may hold), several payments in one.
BEGIN;
SELECT pg_temp.final_rows('successful', 'counts-hand-', 3);
SELECT count(*) AS own_rows, sum(finished) AS finished FROM momo_payment_counts WHERE NOT merged;
-- What a rolled back savepoint wrote is not counted; what a released one wrote is.
SAVEPOINT a;
SELECT pg_temp.final_rows('failed', 'counts-hand-rolled-back-', 1);
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
SELECT pg_temp.final_rows('failed', 'counts-hand-released-', 1);
RELEASE SAVEPOINT b;
-- A statement that fails after the counting row trigger ran, before the
-- statement trigger writes: what it noted goes with it, not into the next
-- statement's count.
SAVEPOINT c;
CREATE FUNCTION pg_temp.boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'boom after the count of %', NEW.external_id;
END
$$;
CREATE TRIGGER zz_boom AFTER INSERT ON momo_payments FOR EACH ROW EXECUTE FUNCTION pg_temp.boom();
SELECT pg_temp.final_rows('failed', 'counts-boom-', 2);
ROLLBACK TO SAVEPOINT c;
SELECT pg_temp.final_rows('failed', 'counts-after-boom-', 1);
COMMIT;
SELECT pg_temp.finished('successful') - :s0 AS successful_added,
       pg_temp.finished('failed') - :f0 AS failed_added;
SELECT pg_temp.stats_agree() AS agree_after_session;

-- Deleting final payments: the counters since install stay, the deleted
-- ones are counted apart, and momo_stats still says what the table holds.
DELETE FROM momo_payments WHERE external_id LIKE 'counts-hand-%' AND status = 'successful';
SELECT pg_temp.finished('successful') - :s0 AS successful_added,
       pg_temp.deleted('successful') AS successful_deleted;
SELECT pg_temp.stats_agree() AS agree_after_delete;

-- The next payment the worker records folds the sessions' rows into its own.
SELECT momo_request_to_pay(7, 'EUR', '46733000001', 'counts-fold') AS fold_ref \gset
SELECT status FROM momo_await(:'fold_ref');
SELECT count(*) AS own_rows_left FROM momo_payment_counts WHERE NOT merged;
SELECT count(*) = count(DISTINCT (product, operation, status)) AS one_merged_row_per_key
  FROM momo_payment_counts WHERE merged;
SELECT pg_temp.stats_agree() AS agree_after_fold;

-- TRUNCATE (rolled back here): every payment left counts as deleted.
BEGIN;
TRUNCATE momo_payments CASCADE;
SELECT count(*) AS metrics FROM momo_stats WHERE metric = 'payments';
SELECT pg_temp.stats_agree() AS agree_after_truncate;
ROLLBACK;
SELECT pg_temp.stats_agree() AS agree_after_rollback;

-- Nothing of it is open to PUBLIC.
SELECT has_table_privilege('public', 'momo_payment_counts', 'SELECT') AS public_reads;
