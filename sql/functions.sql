--
-- functions: momo_payment_status and momo_await, transactions (commit,
-- rollback, errors, two-phase commit), and the guards on the payments table.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Inside the requesting transaction the row exists but nothing was sent.
BEGIN;
SELECT momo_request_to_pay(30, 'EUR', '46733000030', 'FN-1') AS ref \gset
SELECT status, attempts, sent_at IS NULL AS not_sent FROM momo_payment_status(:'ref');
SELECT momo_test.try(format('SELECT momo_await(%L, %L)', :'ref', '1 second'));
COMMIT;
SELECT status, reason FROM momo_await(:'ref');
-- A final payment is returned as it is, without asking MTN again.
SELECT (momo_test.seen(:'ref')->>'status_gets')::int AS gets_before \gset
SELECT status FROM momo_payment_status(:'ref');
SELECT (momo_test.seen(:'ref')->>'status_gets')::int - :gets_before AS new_gets;

-- momo_payment_status asks MTN now and records the answer.  The worker's
-- own checks are put an hour away first (and its next check of the payment is
-- seen to be), so that the one GET counted is momo_payment_status's.
ALTER SYSTEM SET momo.poll_interval_min = '1h';
ALTER SYSTEM SET momo.poll_interval_max = '1h';
SELECT momo_test.reload() AS reloaded;
SELECT momo_request_to_pay(31, 'EUR', '46733123453', 'FN-ongoing') AS ref \gset
SELECT momo_test.wait_sent(:'ref');
SELECT next_check_at > now() + interval '50 minutes' AS worker_checks_in_an_hour
  FROM momo_payments WHERE reference_id = :'ref';
SELECT (momo_test.seen(:'ref')->>'status_gets')::int AS gets_before \gset
SELECT status, last_http_status FROM momo_payment_status(:'ref');
SELECT (momo_test.seen(:'ref')->>'status_gets')::int - :gets_before AS new_gets;
ALTER SYSTEM RESET momo.poll_interval_min;
ALTER SYSTEM RESET momo.poll_interval_max;
SELECT momo_test.reload() AS reloaded;

-- Bad arguments.
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_payment_status(NULL)$$);
SELECT momo_test.try($$SELECT momo_payment_status('7d1f9b8e-0000-4000-8000-000000000000')$$);
SELECT momo_test.try($$SELECT momo_payment_status('not a uuid')$$);
SELECT momo_test.try($$SELECT momo_await(NULL)$$);
SELECT momo_test.try(format('SELECT momo_await(%L, NULL)', :'ref'));
SELECT momo_test.try(format('SELECT momo_await(%L, %L)', :'ref', '-1 second'));
SELECT momo_test.try($$SELECT momo_await('7d1f9b8e-0000-4000-8000-000000000000')$$);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT momo_test.try(format('SELECT momo_await(%L, %L)', :'ref', '1 second'));
ROLLBACK;
\pset tuples_only off
\pset format aligned

-- A rolled-back transaction sends nothing.
BEGIN;
SELECT momo_request_to_pay(32, 'EUR', '46733000032', 'FN-rollback') AS rolled_back \gset
ROLLBACK;
-- A transaction that requests a payment and then fails sends nothing.
BEGIN;
SELECT momo_request_to_pay(33, 'EUR', '46733000033', 'FN-error') AS errored \gset
SELECT 1 / 0;
ROLLBACK;
-- Two-phase commit: ROLLBACK PREPARED sends nothing, COMMIT PREPARED sends
-- (and wakes the worker at once).
BEGIN;
SELECT momo_request_to_pay(34, 'EUR', '46733000034', 'FN-2pc-rollback') AS prepared_rollback \gset
PREPARE TRANSACTION 'momo_regress_rollback';
BEGIN;
SELECT momo_request_to_pay(35, 'EUR', '46733000035', 'FN-2pc-commit') AS prepared_commit \gset
PREPARE TRANSACTION 'momo_regress_commit';
SELECT count(*) AS visible_before_commit FROM momo_payments WHERE external_id LIKE 'FN-2pc%';
ROLLBACK PREPARED 'momo_regress_rollback';
COMMIT PREPARED 'momo_regress_commit';
SELECT status FROM momo_await(:'prepared_commit', '10 seconds');
-- Give the worker time to (wrongly) send the others, then ask the sandbox.
SELECT pg_sleep(1);
SELECT momo_test.seen(:'rolled_back') AS rolled_back_seen,
       momo_test.seen(:'errored') AS errored_seen,
       momo_test.seen(:'prepared_rollback') AS prepared_rollback_seen,
       (momo_test.seen(:'prepared_commit')->>'posts')::int AS prepared_commit_posts;
SELECT external_id FROM momo_payments WHERE external_id LIKE 'FN-%' ORDER BY 1;

-- The table guards a payment: terms never change, a final status never
-- changes, nothing goes back to queued, and only final payments are deleted.
SELECT reference_id AS final_ref FROM momo_payments WHERE external_id = 'FN-1' \gset
SELECT reference_id AS open_ref FROM momo_payments WHERE external_id = 'FN-ongoing' \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('UPDATE momo_payments SET status = %L WHERE reference_id = %L', 'failed', :'final_ref'));
SELECT momo_test.try(format('UPDATE momo_payments SET last_error = %L WHERE reference_id = %L', 'x', :'final_ref'));
SELECT momo_test.try(format('UPDATE momo_payments SET amount = 1 WHERE reference_id = %L', :'open_ref'));
SELECT momo_test.try(format('UPDATE momo_payments SET msisdn = %L WHERE reference_id = %L', '46733000099', :'open_ref'));
-- The guard remembers where its columns are, but never trusts a position
-- whose column was renamed: it looks again (and here finds no msisdn).
BEGIN;
ALTER TABLE momo_payments RENAME COLUMN msisdn TO payer_number;
SELECT momo_test.try(format('UPDATE momo_payments SET payer_number = %L WHERE reference_id = %L', '46733000099', :'open_ref'));
ROLLBACK;
SELECT momo_test.try(format('UPDATE momo_payments SET status = %L WHERE reference_id = %L', 'queued', :'open_ref'));
-- (a NULL status is refused by the constraint; the guard once crashed the server on it)
\set VERBOSITY terse
UPDATE momo_payments SET status = NULL WHERE reference_id = :'open_ref';
\set VERBOSITY default
SELECT momo_test.try(format('DELETE FROM momo_payments WHERE reference_id = %L', :'open_ref'));
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-000000000001', 'FN-bad', -1, 'EUR', '46733000001',
                               '2026-01-01', '2026-01-01', '2026-01-01')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, status,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-000000000002', 'FN-bad', 1, 'EUR', '46733000001', 'successful',
                               '2026-01-01', '2026-01-01', '2026-01-01')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn)
                       VALUES ('7d1f9b8e-0000-4000-8000-000000000003', 'FN-bad', 1, 'EUR', '+46733000001')$$);
\pset tuples_only off
\pset format aligned
SELECT status, amount FROM momo_payments WHERE reference_id = :'final_ref';
SELECT count(*) AS forged FROM momo_payments WHERE external_id = 'FN-bad';

-- Final payments may be deleted (archiving), by the table's owner, once
-- they are older than momo.event_retention: until then their external_id
-- is an idempotency key, and refunds count against what was collected.
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('DELETE FROM momo_payments WHERE reference_id = %L', :'final_ref'));
\pset tuples_only off
\pset format aligned
ALTER TABLE momo_payments DISABLE TRIGGER momo_payments_guard;
UPDATE momo_payments SET completed_at = completed_at - interval '91 days' WHERE reference_id = :'final_ref';
ALTER TABLE momo_payments ENABLE TRIGGER momo_payments_guard;
BEGIN;
DELETE FROM momo_payments WHERE reference_id = :'final_ref' RETURNING status;
ROLLBACK;
