--
-- idempotency: an application that repeats a request gets the same payment,
-- never a second charge.  The key is (requesting role, operation,
-- external_id) among payments that have not failed; a failed payment may be
-- tried again; different terms under the same key are refused.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- The same request twice, in two transactions: one payment.
SELECT momo_request_to_pay(40, 'EUR', '46733000040', 'IDEM-1', 'Order 1') AS first \gset
SELECT momo_request_to_pay(40, 'EUR', '46733000040', 'IDEM-1', 'Order 1') AS second \gset
SELECT :'first' = :'second' AS same_payment;
SELECT count(*) AS payments FROM momo_payments WHERE external_id = 'IDEM-1';
-- ... and while it is pending, and once it is successful.
SELECT status FROM momo_await(:'first');
SELECT momo_request_to_pay(40.00, 'EUR', '46733000040', 'IDEM-1', 'Order 1') = :'first' AS same_after_success;
SELECT count(*) AS payments FROM momo_payments WHERE external_id = 'IDEM-1';
SELECT (momo_test.seen(:'first')->>'posts')::int AS posts_to_mtn;

-- Twice in one transaction: one payment.
BEGIN;
SELECT momo_request_to_pay(41, 'EUR', '46733000041', 'IDEM-2') AS a \gset
SELECT momo_request_to_pay(41, 'EUR', '46733000041', 'IDEM-2') = :'a' AS same_in_one_transaction;
COMMIT;
SELECT count(*) AS payments FROM momo_payments WHERE external_id = 'IDEM-2';

-- Other terms under the same key are refused, saying what differs; nothing
-- is written.
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_request_to_pay(99, 'EUR', '46733000040', 'IDEM-1', 'Order 1')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(40, 'EUR', '46733000099', 'IDEM-1', 'Order 1')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(40, 'EUR', '46733000040', 'IDEM-1', 'Order one')$$);
\pset tuples_only off
\pset format aligned
SELECT count(*) AS payments FROM momo_payments WHERE external_id = 'IDEM-1';

-- Another operation with the same external_id is another payment.
SELECT momo_transfer(40, 'EUR', '46733000040', 'IDEM-1', 'Order 1') <> :'first' AS transfer_is_another;
SELECT operation, count(*) FROM momo_payments WHERE external_id = 'IDEM-1' GROUP BY 1 ORDER BY 1;

-- After a failure, the same external_id may be tried again: a new payment.
SELECT momo_request_to_pay(42, 'EUR', '46733123451', 'IDEM-3') AS failed_one \gset
SELECT status, reason FROM momo_await(:'failed_one');
SELECT momo_request_to_pay(42, 'EUR', '46733000042', 'IDEM-3') AS retry \gset
SELECT :'retry' <> :'failed_one' AS new_payment_after_failure;
SELECT status FROM momo_await(:'retry');
-- ... and that one is now the payment the key returns.
SELECT momo_request_to_pay(42, 'EUR', '46733000042', 'IDEM-3') = :'retry' AS same_as_the_retry;
SELECT status, count(*) FROM momo_payments WHERE external_id = 'IDEM-3' GROUP BY 1 ORDER BY 1;

-- Another role's payment with the same external_id is no match: each role
-- has its own keys, and learns nothing of the other's.
CREATE ROLE momo_idem_other;
GRANT USAGE ON SCHEMA public TO momo_idem_other;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text) TO momo_idem_other;
SET ROLE momo_idem_other;
SELECT momo_request_to_pay(77, 'EUR', '46733000077', 'IDEM-1') <> :'first' AS other_role_other_payment;
RESET ROLE;
SELECT requested_by = current_user AS by_me, count(*) FROM momo_payments
 WHERE external_id = 'IDEM-1' AND operation = 'request_to_pay' GROUP BY 1 ORDER BY 1;
REVOKE ALL ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text) FROM momo_idem_other;
REVOKE ALL ON SCHEMA public FROM momo_idem_other;

-- A refund repeated with its external_id returns the same refund, also when
-- it refunded everything that was left; a different amount is refused.
BEGIN;
SELECT momo_refund(:'first', 10, 'IDEM-RF-1') AS refund \gset
SELECT momo_refund(:'first', 10, 'IDEM-RF-1') = :'refund' AS same_refund;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('SELECT momo_refund(%L, 11, %L)', :'first', 'IDEM-RF-1'));
\pset tuples_only off
\pset format aligned
COMMIT;
SELECT momo_refund(:'first', 10, 'IDEM-RF-1') = :'refund' AS same_refund_once_committed;
SELECT momo_refund(:'first', NULL, 'IDEM-RF-2') AS rest \gset
SELECT momo_refund(:'first', NULL, 'IDEM-RF-2') = :'rest' AS same_refund_of_the_rest;
SELECT external_id, amount FROM momo_payments WHERE refund_of = :'first' ORDER BY 1;
SELECT status FROM momo_await(:'refund');
SELECT status FROM momo_await(:'rest');
SELECT momo_refund(:'first', NULL, 'IDEM-RF-2') = :'rest' AS same_refund_once_successful;

-- momo_refund once read its arguments into memory that SPI_finish freed:
-- refunds with an external_id of 64 to 127 characters were stored and sent
-- as a garbage byte.  Every length from 1 to 128 (the longest allowed), as
-- stored and as MTN received it: 128 refunds of 1 out of 200.
SELECT momo_request_to_pay(200, 'EUR', '46733000043', 'IDEM-LONG') AS paid \gset
SELECT status FROM momo_await(:'paid');
CREATE TEMP TABLE long_refunds AS
SELECT n, repeat(chr(97 + n % 26), n) AS ext,
       momo_refund(:'paid', 1, repeat(chr(97 + n % 26), n), 'Refund ' || n) AS ref
  FROM generate_series(1, 128) n;
SELECT count(*) AS refunds,
       count(*) FILTER (WHERE p.external_id = l.ext AND p.payer_message = 'Refund ' || l.n) AS stored_as_asked
  FROM long_refunds l JOIN momo_payments p ON p.reference_id = l.ref;
SELECT count(*) FILTER (WHERE (momo_await(l.ref)).status = 'successful') AS successful,
       count(*) FILTER (WHERE momo_test.sandbox('payments/' || l.ref::text)->>'externalId' = l.ext) AS sent_as_asked
  FROM long_refunds l;
