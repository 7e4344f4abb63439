--
-- interrupted: a synchronous call that acts at MTN (a cancellation, a
-- delivery notification, a consent request) interrupted before its
-- exchange is logged -- statement_timeout while MTN is slow, a cancel, a
-- client gone -- leaves an event with the outcome "unknown" in
-- momo_events (the worker writes it, as the transaction aborted): MTN may
-- have acted, and the audit trail says so.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- An open invoice (46733123454 stays CREATED), an approved pre-approval and
-- a successful request to pay.
SELECT momo_create_invoice(201, 'EUR', '46733123454', 'INT-1') AS inv \gset
SELECT momo_preapproval('46733000201', 'EUR', 'Monthly plan', interval '30 days', 'INT-2') AS pre \gset
SELECT momo_request_to_pay(202, 'EUR', '46733000202', 'INT-3') AS pay \gset
SELECT momo_test.wait_sent(:'inv') AS invoice, (momo_test.outcome(:'pre')).status AS preapproval,
       (momo_test.outcome(:'pay')).status AS payment;

-- MTN answers 5 seconds late; the application gives up after half a second.
SELECT momo_test.sandbox('config', '{"delay_ms": 5000}') IS NOT NULL AS configured;
SET statement_timeout = '500ms';
SELECT status FROM momo_cancel_invoice(:'inv');
SELECT momo_cancel_preapproval(:'pre');
SELECT momo_delivery_notification(:'pay', 'Your order has shipped');
RESET statement_timeout;
SELECT momo_test.sandbox('config', '{"delay_ms": 0}') IS NOT NULL AS configured;

-- Each call's exchange is in momo_events, its outcome unknown.
SELECT momo_test.wait_for(format($$SELECT count(*) = 3 FROM momo_events
                                   WHERE reference_id IN (%L, %L, %L)
                                     AND operation IN ('cancel_invoice', 'cancel_preapproval', 'delivery_notification')$$,
                                 :'inv', :'pre', :'pay')) AS logged;
SELECT e.operation, e.product, e.http_status, e.outcome, e.error
  FROM momo_events e
 WHERE e.reference_id IN (:'inv', :'pre', :'pay')
   AND e.operation IN ('cancel_invoice', 'cancel_preapproval', 'delivery_notification')
 ORDER BY e.operation;

-- A call that ends normally leaves its exchange only, not an unknown one
-- too.  MTN had acted on the interrupted cancellation: it refuses this one
-- (an exchange with the outcome error), and momo, asking about the
-- invoice, returns it cancelled.
SELECT status, reason FROM momo_cancel_invoice(:'inv');
SELECT e.operation, e.outcome, count(*)
  FROM momo_events e
 WHERE e.reference_id = :'inv' AND e.operation = 'cancel_invoice'
 GROUP BY 1, 2 ORDER BY 2;

-- A call refused before its request leaves asks MTN nothing, and leaves no
-- unknown exchange: in a read-only transaction, or with the subscription
-- keys refused (MTN's 401: no token, so nothing is sent).  A rolled-back
-- balance call, whose exchange the worker writes after theirs, marks when
-- any event of theirs would have been written.
SELECT count(*) AS balance_events FROM momo_events WHERE operation = 'balance' \gset
BEGIN READ ONLY;
SELECT momo_delivery_notification(:'pay', 'Your order has shipped');
ROLLBACK;
SELECT momo_create_invoice(203, 'EUR', '46733123454', 'INT-4') AS inv2 \gset
SELECT momo_test.wait_sent(:'inv2') AS invoice;
SELECT momo_test.sandbox('keys', format('{"refuse": [%s, %s]}',
         to_json('collection=' || current_setting('momo.subscription_key_primary')),
         to_json('collection=' || current_setting('momo.subscription_key_secondary')))::jsonb)
       IS NOT NULL AS keys_refused;
SELECT status FROM momo_cancel_invoice(:'inv2');
SELECT momo_test.sandbox('keys', '{"refuse": []}') IS NOT NULL AS keys_accepted;
BEGIN;
SELECT currency FROM momo_balance();
ROLLBACK;
SELECT momo_test.wait_for(format($$SELECT count(*) > %s FROM momo_events WHERE operation = 'balance'$$,
                                 :balance_events)) AS marker_written;
SELECT e.operation, e.outcome, count(*)
  FROM momo_events e
 WHERE (e.reference_id = :'pay' AND e.operation = 'delivery_notification')
    OR (e.reference_id = :'inv2' AND e.operation = 'cancel_invoice')
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT s->>'status' AS invoice_at_mtn FROM momo_test.sandbox('payments/' || :'inv2') s;
