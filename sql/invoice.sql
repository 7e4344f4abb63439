--
-- invoice: Collection's invoices (MTN's /v2_0/invoice: create, status,
-- cancel) and payments to a service provider (MTN's /v2_0/payment: create,
-- status) are payments of momo: checked arguments, a row written before
-- anything is sent, the worker following each to a final status on MTN's
-- paths, idempotency on external_id, the event log, the counters, the
-- change feed and the privileges.  An invoice is cancelled at once, only
-- by a caller who may see it, only while it is pending.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Invoices: with every member, successful; failed by the sandbox's payer
-- 46733123451 (APPROVAL_REJECTED); unpaid (46733123454, CREATED) when its
-- validity of a second runs out (EXPIRED).
SELECT momo_create_invoice(100, 'EUR', '+46 733 000 100', 'INV-1', validity_duration => 3600,
                           description => 'Order 42', payee_msisdn => '46733000999') AS i1 \gset
SELECT momo_create_invoice(101, 'EUR', '46733123451', 'INV-2') AS i2 \gset
SELECT momo_create_invoice(102, 'EUR', '46733123454', 'INV-3', validity_duration => 1) AS i3 \gset
-- Payments: successful (a customer reference that is no phone number, and
-- one that is, with every optional member); failed by the sandbox's
-- 46733123450 (INTERNAL_PROCESSING_ERROR).
SELECT momo_create_payment(5, 'EUR', 'METER-778', 'Electricity Inc', 'PAY-1') AS p1 \gset
SELECT momo_create_payment(6.5, 'EUR', '+46733000101', 'Airtime Co', 'PAY-2', coupon_id => 'C-1',
                           product_id => 'AIR', product_offering_id => 'AIR-10', receiver_message => 'Top-up',
                           sender_note => 'For mum', max_number_of_retries => 3,
                           include_sender_charges => true) AS p2 \gset
SELECT momo_create_payment(7, 'EUR', '46733123450', 'Electricity Inc', 'PAY-3') AS p3 \gset
SELECT v.n, p.product, p.operation, p.api_version, p.msisdn, p.extra_terms, o.status, o.reason, o.has_ftid,
       p.fee IS NULL AS no_fee
  FROM (VALUES (1, :'i1'::uuid), (2, :'i2'::uuid), (3, :'i3'::uuid),
               (4, :'p1'::uuid), (5, :'p2'::uuid), (6, :'p3'::uuid)) v(n, ref)
  JOIN momo_payments p ON p.reference_id = v.ref
  CROSS JOIN LATERAL momo_test.outcome(v.ref) o
 ORDER BY v.n;

-- What MTN (the sandbox) received: POSTed to /v2_0/invoice or
-- /v2_0/payment with the same X-Reference-Id each time, followed at
-- /v2_0/.../{ref}; the body in MTN's shape, carrying the kept members.
SELECT v.n, r.method, r.path, r.requests > 0 AS requested
  FROM (VALUES (1, :'i1'::uuid), (4, :'p1'::uuid)) v(n, ref)
  CROSS JOIN LATERAL momo_test.requests_of(v.ref) r
 ORDER BY v.n, r.method DESC, r.path;
SELECT DISTINCT v.n, (r->>'body')::jsonb AS body
  FROM (VALUES (1, :'i1'::uuid), (5, :'p2'::uuid)) v(n, ref),
       jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'method' = 'POST' AND r->'headers'->>'X-Reference-Id' = v.ref::text
 ORDER BY v.n;
SELECT s->>'operation' AS operation, (s->>'version')::int AS version, s->>'msisdn' AS party
  FROM (VALUES (1, :'i1'::uuid), (5, :'p2'::uuid)) v(n, ref)
  CROSS JOIN LATERAL momo_test.sandbox('payments/' || v.ref::text) s
 ORDER BY v.n;

-- A callback URL of their own (on momo.callback_url's host), like every
-- function that requests a payment: kept with the row, sent as
-- X-Callback-Url with momo's reference id.
SELECT momo_create_invoice(107, 'EUR', '46733000107', 'INV-8',
                           callback_url => 'https://localhost/shop/invoices/') AS i8 \gset
SELECT momo_create_payment(8, 'EUR', 'METER-9', 'Electricity Inc', 'PAY-4',
                           callback_url => 'https://localhost/shop/bills/') AS p4 \gset
SELECT v.n, p.callback_url, o.status
  FROM (VALUES (1, :'i8'::uuid), (2, :'p4'::uuid)) v(n, ref)
  JOIN momo_payments p ON p.reference_id = v.ref
  CROSS JOIN LATERAL momo_test.outcome(v.ref) o
 ORDER BY v.n;
SELECT DISTINCT v.n, replace(split_part(r->'headers'->>'X-Callback-Url', '&', 1), v.ref::text, '<ref>') AS sent
  FROM (VALUES (1, :'i8'::uuid), (2, :'p4'::uuid)) v(n, ref),
       jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'method' = 'POST' AND r->'headers'->>'X-Reference-Id' = v.ref::text
 ORDER BY v.n;

-- The event log, the change feed and the counters know the operations.
SELECT operation, product, http_status, outcome FROM momo_events
 WHERE reference_id IN (:'i1', :'p1') AND operation <> 'status' ORDER BY operation, id;
SELECT count(*) > 0 AS status_checks_logged FROM momo_events
 WHERE reference_id IN (:'i2', :'p3') AND operation = 'status' AND product = 'collection';
SELECT status, reason FROM momo_payment_changes WHERE reference_id = :'i2' ORDER BY id;
SELECT label, value FROM momo_stats
 WHERE metric = 'payments' AND (label LIKE '%/invoice' OR label LIKE '%/payment') ORDER BY label;

-- Idempotency: the same request again (spelled otherwise) returns the same
-- payment and sends nothing more; other terms under the same key are
-- refused, naming what differs; a request to pay with the same key is
-- another payment; after a failure, the same key makes a new one.
SELECT momo_create_invoice(100.00, 'EUR', '46733000100', 'INV-1', 3600, 'Order 42', '+46 733 000 999') = :'i1'
       AS same_invoice,
       momo_create_payment(6.50, 'EUR', '+46733000101', 'Airtime Co', 'PAY-2', 'C-1', 'AIR', 'AIR-10',
                           'Top-up', 'For mum', 3, true) = :'p2' AS same_payment;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_create_invoice(100, 'EUR', '46733000100', 'INV-1', 60, 'Order 42', '46733000999')$$);
SELECT momo_test.try($$SELECT momo_create_invoice(100, 'EUR', '46733000101', 'INV-1', 3600, 'Order 42', '46733000999')$$);
SELECT momo_test.try($$SELECT momo_create_payment(5, 'EUR', 'METER-778', 'Water Ltd', 'PAY-1')$$);
\pset tuples_only off
\pset format aligned
SELECT (momo_test.seen(:'i1')->>'posts')::int AS invoice_posts_to_mtn,
       (momo_test.seen(:'p2')->>'posts')::int AS payment_posts_to_mtn;
SELECT momo_request_to_pay(100, 'EUR', '46733000100', 'INV-1') <> :'i1' AS request_to_pay_is_another;
SELECT momo_create_invoice(101, 'EUR', '46733000102', 'INV-2') <> :'i2' AS new_after_failure;
SELECT operation, status = 'failed' AS failed, count(*) FROM momo_payments
 WHERE external_id IN ('INV-1', 'INV-2') GROUP BY 1, 2 ORDER BY 1, 2;

-- Bad arguments: one ERROR naming each (its column name too), nothing written.
SELECT count(*) AS payments_before FROM momo_payments \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try_column($$SELECT momo_create_invoice(0, 'EUR', '46733000103')$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'RWF', '46733000103')$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'EUR', 'abc')$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'EUR', NULL)$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'EUR', '46733000103', '')$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'EUR', '46733000103', validity_duration => 0)$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'EUR', '46733000103', description => 'It''s due')$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'EUR', '46733000103', description => repeat('x', 161))$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'EUR', '46733000103', payee_msisdn => '12')$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'EUR', '46733000103', callback_url => 'https://example.com/cb')$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(-1, 'eur', '', validity_duration => -5, payee_msisdn => 'x')$$);
SELECT momo_test.try_column($$SELECT momo_create_payment(10, 'EUR', NULL, 'Electricity Inc')$$);
SELECT momo_test.try_column($$SELECT momo_create_payment(10, 'EUR', '', 'Electricity Inc')$$);
SELECT momo_test.try_column($$SELECT momo_create_payment(10, 'EUR', repeat('9', 65), 'Electricity Inc')$$);
SELECT momo_test.try_column($$SELECT momo_create_payment(10, 'EUR', E'A\tB', 'Electricity Inc')$$);
SELECT momo_test.try_column($$SELECT momo_create_payment(10, 'EUR', 'METER-1', NULL)$$);
SELECT momo_test.try_column($$SELECT momo_create_payment(10, 'EUR', 'METER-1', 'Electricity Inc', coupon_id => '')$$);
SELECT momo_test.try_column($$SELECT momo_create_payment(10, 'EUR', 'METER-1', 'Electricity Inc', receiver_message => 'It''s')$$);
SELECT momo_test.try_column($$SELECT momo_create_payment(10, 'EUR', 'METER-1', 'Electricity Inc', max_number_of_retries => -1)$$);
SELECT momo_test.try_column($$SELECT momo_create_payment(10, 'EUR', 'METER-1', 'Electricity Inc', callback_url => 'https://localhost/cb#x')$$);
SELECT momo_test.try_column($$SELECT momo_create_payment(10.001, 'usd', '', '', product_id => E'\n')$$);
\pset tuples_only off
\pset format aligned
SELECT count(*) - :payments_before AS written FROM momo_payments;

-- Cancelling: a pending invoice (46733123454 stays CREATED) is cancelled at
-- once: MTN's DELETE with an X-Reference-Id of its own and the invoice's
-- externalId, logged, then the invoice asked about and recorded FAILED,
-- TRANSACTION_CANCELED, in the change feed too.
SELECT momo_create_invoice(103, 'EUR', '46733123454', 'INV-4') AS i4 \gset
SELECT momo_test.wait_sent(:'i4') AS i4_status;
SELECT status, reason, completed_at IS NOT NULL AS completed FROM momo_cancel_invoice(:'i4');
SELECT operation, http_status, outcome FROM momo_events
 WHERE reference_id = :'i4' AND operation = 'cancel_invoice';
SELECT r->>'method' AS method, replace(r->>'path', :'i4', '<ref>') AS path, (r->>'body')::jsonb AS body,
       r->'headers'->>'X-Reference-Id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
       AND r->'headers'->>'X-Reference-Id' <> :'i4' AS own_reference_id
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'method' = 'DELETE' AND r->>'path' LIKE '%/' || :'i4';
SELECT status, reason FROM momo_payment_changes WHERE reference_id = :'i4' ORDER BY id;
-- Cancelling it again (an application's retry) returns it as it is, and
-- sends nothing.
SELECT (momo_test.stat('invoice_deletes'))::int AS deletes_before \gset
SELECT status, reason FROM momo_cancel_invoice(:'i4');
SELECT (momo_test.stat('invoice_deletes'))::int - :deletes_before AS deletes_sent_again;
-- Only a pending invoice: not one final otherwise (MTN's reason is
-- named), not a payment of another operation, not one MTN has not
-- accepted yet, nor an unknown one.
SELECT momo_create_invoice(106, 'EUR', '46733123451', 'INV-C1') AS i7 \gset
SELECT status, reason FROM momo_test.outcome(:'i7');
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('SELECT momo_cancel_invoice(%L)', :'i7'));
SELECT momo_test.try(format('SELECT momo_cancel_invoice(%L)', :'p1'));
SELECT momo_test.try('SELECT momo_cancel_invoice(NULL)');
SELECT momo_test.try($$SELECT momo_cancel_invoice('7d1f9b8e-0000-4000-8000-00000000b001')$$);
BEGIN;
SELECT momo_test.try(format('SELECT momo_cancel_invoice(%L)',
                            momo_create_invoice(104, 'EUR', '46733123454', 'INV-5')));
ROLLBACK;
\pset tuples_only off
\pset format aligned
SELECT (momo_test.stat('invoice_deletes'))::int AS deletes_sent;
-- In a transaction rolled back, the cancellation still reached MTN: the
-- row's update is undone, and the worker records the outcome at its next
-- check; its event, which the rollback took away, the worker writes again
-- (momo_events says MTN was asked).
SELECT momo_create_invoice(105, 'EUR', '46733123454', 'INV-6') AS i6 \gset
SELECT momo_test.wait_sent(:'i6') AS i6_status;
BEGIN;
SELECT status, reason FROM momo_cancel_invoice(:'i6');
ROLLBACK;
SELECT momo_test.wait_for(format($$SELECT count(*) = 1 FROM momo_events
                                     WHERE reference_id = %L AND operation = 'cancel_invoice'$$, :'i6'))
       AS cancel_event_kept;
SELECT status, reason FROM momo_test.outcome(:'i6');
-- A cancellation repeated after one whose transaction rolled back, before
-- anyone recorded the outcome (the row lock keeps the worker out): MTN
-- refuses the second DELETE (the invoice is not open any more), momo asks
-- about the invoice, records it cancelled and returns it.
SELECT momo_create_invoice(108, 'EUR', '46733123454', 'INV-C2') AS i8 \gset
SELECT momo_test.wait_sent(:'i8') AS i8_status;
SELECT (momo_test.stat('invoice_deletes'))::int AS deletes_before \gset
BEGIN;
SELECT status AS locked_while FROM momo_payments WHERE reference_id = :'i8' FOR UPDATE;
SAVEPOINT first_cancel;
SELECT status, reason FROM momo_cancel_invoice(:'i8');
ROLLBACK TO first_cancel;
SELECT status, reason FROM momo_cancel_invoice(:'i8');
COMMIT;
SELECT (momo_test.stat('invoice_deletes'))::int - :deletes_before AS deletes_sent;
SELECT status, reason FROM momo_payments WHERE reference_id = :'i8';

-- What the payer is shown to pay later: MTN's invoiceId and paymentReference
-- (and, with a validity, its expiryDateTime) come with the invoice's status
-- while it is pending (46733123454 stays CREATED): the worker keeps them in
-- the row at once, as MTN says them, and an application reads them there
-- (README's recipe).
SELECT momo_create_invoice(108, 'EUR', '46733123454', 'INV-9', validity_duration => 86400) AS i9 \gset
SELECT momo_test.wait_for(format($$SELECT payment_reference IS NOT NULL FROM momo_payments
                                    WHERE reference_id = %L$$, :'i9')) AS reference_kept;
-- recipe: invoice-reference
-- What the shop shows a customer who pays an invoice later: the reference to quote,
-- MTN's invoice id and until when, once MTN has told them (the invoice is unpaid).
CREATE VIEW shop_invoices_to_pay WITH (security_invoker = true) AS
SELECT reference_id, external_id, amount, currency, payment_reference, invoice_id, expires_at
  FROM momo_payments
 WHERE operation = 'invoice' AND status = 'pending' AND payment_reference IS NOT NULL;
-- end recipe
SELECT i.external_id, i.amount, i.currency,
       i.payment_reference = s->>'paymentReference' AS reference_as_mtn_says,
       i.invoice_id = s->>'invoiceId' AS invoice_id_as_mtn_says,
       i.expires_at = to_timestamp((s->>'accepted_us')::bigint / 1000000 + 86400) AS expiry_as_mtn_says
  FROM shop_invoices_to_pay i, momo_test.sandbox('payments/' || :'i9') s
 WHERE i.reference_id = :'i9';
SELECT payment_reference AS i9_reference FROM momo_payments WHERE reference_id = :'i9' \gset
-- A status check asked for (momo_payment_status) keeps them too: in a
-- transaction that holds the row (the worker skips it), they are taken away
-- and the synchronous answer brings them back.
BEGIN;
UPDATE momo_payments SET payment_reference = NULL, invoice_id = NULL, expires_at = NULL
 WHERE reference_id = :'i9';
SELECT status, payment_reference = :'i9_reference' AS same_reference, invoice_id IS NOT NULL AS has_invoice_id,
       expires_at IS NOT NULL AS has_expiry
  FROM momo_payment_status(:'i9');
COMMIT;
-- The first reference kept is kept for good: the payer may have been shown
-- it.  A row holding another (as if MTN had given another before) keeps it
-- through a later answer; the expiry is MTN's latest.
BEGIN;
UPDATE momo_payments SET payment_reference = 'SHOWN-TO-PAYER', invoice_id = 'FIRST-ID',
                         expires_at = '2001-01-01 00:00:00+00'
 WHERE reference_id = :'i9';
SELECT payment_reference, invoice_id, expires_at > '2001-01-01 00:00:00+00' AS expiry_taken
  FROM momo_payment_status(:'i9');
ROLLBACK;
-- Kept in the final row: cancelled, it leaves the view, its reference stays.
SELECT status, reason, payment_reference = :'i9_reference' AS same_reference, invoice_id IS NOT NULL AS has_invoice_id,
       expires_at IS NOT NULL AS has_expiry
  FROM momo_cancel_invoice(:'i9');
SELECT count(*) AS still_to_pay FROM shop_invoices_to_pay WHERE reference_id = :'i9';
-- The reference is no change of status: the change feed has none of its own.
SELECT status, reason FROM momo_payment_changes WHERE reference_id = :'i9' ORDER BY id;
-- Every final invoice kept them (paid, failed, expired; an expiry only with a
-- validity); a payment has none.
SELECT v.n, p.operation, p.status, p.payment_reference = s->>'paymentReference' AS reference_as_mtn_says,
       p.invoice_id = s->>'invoiceId' AS invoice_id_as_mtn_says, p.expires_at IS NOT NULL AS has_expiry
  FROM (VALUES (1, :'i1'::uuid), (2, :'i2'::uuid), (3, :'i3'::uuid), (4, :'p1'::uuid)) v(n, ref)
  JOIN momo_payments p ON p.reference_id = v.ref
  CROSS JOIN LATERAL momo_test.sandbox('payments/' || v.ref::text) s
 ORDER BY v.n;
-- The row takes no reference for another operation, nor one too long.
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                  operation, api_version, extra_terms, payment_reference,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b00a', 'PAY-bad', 1, 'EUR', 'METER-1',
                               'payment', 2, '{}', 'PR1', '2026-01-01', '2026-01-01', '2026-01-01')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                  operation, api_version, extra_terms, payment_reference,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b00b', 'INV-bad', 1, 'EUR', '46733000001',
                               'invoice', 2, '{}', repeat('9', 101), '2026-01-01', '2026-01-01', '2026-01-01')$$);
\pset tuples_only off
\pset format aligned
DROP VIEW shop_invoices_to_pay;

-- The terms never change; only an invoice or a payment has their shape.
SELECT momo_create_invoice(106, 'EUR', '46733123454', 'INV-7') AS i7 \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format($$UPDATE momo_payments SET extra_terms = '{"validityDuration": "1"}' WHERE reference_id = %L$$, :'i7'));
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                  operation, api_version, created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b002', 'INV-bad', 1, 'EUR', '46733000001',
                               'invoice', 2, '2026-01-01', '2026-01-01', '2026-01-01')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                  operation, extra_terms, created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b003', 'PAY-bad', 1, 'EUR', 'METER-1',
                               'payment', '{}', '2026-01-01', '2026-01-01', '2026-01-01')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                  operation, api_version, extra_terms, created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b004', 'INV-bad', 1, 'EUR', 'METER-1',
                               'invoice', 2, '{}', '2026-01-01', '2026-01-01', '2026-01-01')$$);
-- Extra terms repeating a member momo writes from the row (an invoice's
-- intendedPayer or amount, a payment's money or customerReference) are
-- refused, by the table's owner too; an invoice's payee is its own (in a
-- transaction rolled back: no such row is ever sent).
BEGIN;
SELECT momo_test.try(format($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                         operation, api_version, extra_terms)
                              VALUES (%L, 'INV-bad', 1, 'EUR', %L, %L, 2, %L)$$, v.ref, v.msisdn, v.op, v.extra))
  FROM (VALUES ('7d1f9b8e-0000-4000-8000-00000000b005'::uuid, '46733000001', 'invoice',
                '{"intendedPayer": {"partyIdType": "MSISDN", "partyId": "46733000666"}}'),
               ('7d1f9b8e-0000-4000-8000-00000000b006', '46733000001', 'invoice', '{"amount": "900000"}'),
               ('7d1f9b8e-0000-4000-8000-00000000b007', 'METER-1', 'payment',
                '{"money": {"amount": "900000", "currency": "EUR"}}'),
               ('7d1f9b8e-0000-4000-8000-00000000b008', 'METER-1', 'payment', '{"customerReference": "METER-2"}'),
               ('7d1f9b8e-0000-4000-8000-00000000b009', '46733000001', 'invoice',
                '{"payee": {"partyIdType": "MSISDN", "partyId": "46733000998"}}')) v(ref, msisdn, op, extra);
\pset tuples_only off
\pset format aligned
SELECT count(*) AS invoice_with_payee_written FROM momo_payments
 WHERE reference_id = '7d1f9b8e-0000-4000-8000-00000000b009';
ROLLBACK;
SELECT momo_test.wait_sent(:'i7') AS i7_status;
SELECT status, reason FROM momo_cancel_invoice(:'i7');

-- Privileges and row-level security: not open to PUBLIC; a role granted
-- them creates as itself; another role, which may not see the invoice
-- under row-level security, can neither cancel it nor learn about it.
CREATE ROLE momo_inv_app;
CREATE ROLE momo_inv_a IN ROLE momo_inv_app;
CREATE ROLE momo_inv_b IN ROLE momo_inv_app;
GRANT USAGE ON SCHEMA public, momo_test TO momo_inv_app;
GRANT EXECUTE ON FUNCTION momo_test.try(text), momo_test.wait_sent(uuid) TO momo_inv_app;
GRANT SELECT ON momo_payments TO momo_inv_app;
SET ROLE momo_inv_a;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_create_invoice(10, 'EUR', '46733123454', 'INV-A')$$);
SELECT momo_test.try($$SELECT momo_create_payment(10, 'EUR', 'METER-A', 'Electricity Inc', 'PAY-A')$$);
\pset tuples_only off
\pset format aligned
RESET ROLE;
GRANT EXECUTE ON FUNCTION momo_create_invoice(numeric, text, text, text, integer, text, text, text, text),
                          momo_create_payment(numeric, text, text, text, text, text, text, text, text, text, integer, boolean, text),
                          momo_cancel_invoice(uuid) TO momo_inv_app;
ALTER TABLE momo_payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY momo_inv_own ON momo_payments FOR SELECT TO momo_inv_app
    USING (requested_by = current_user);
SET ROLE momo_inv_a;
SELECT momo_create_invoice(10, 'EUR', '46733123454', 'INV-A') AS a_ref \gset
SELECT momo_create_payment(10, 'EUR', 'METER-A', 'Electricity Inc', 'PAY-A') AS a_pay \gset
SELECT momo_test.wait_sent(:'a_ref') AS a_status;
SET ROLE momo_inv_b;
SELECT count(*) AS seen_by_b FROM momo_payments;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('SELECT momo_cancel_invoice(%L)', :'a_ref'));
\pset tuples_only off
\pset format aligned
RESET ROLE;
SELECT p.requested_by, p.operation, o.status FROM momo_payments p
  CROSS JOIN LATERAL momo_test.outcome(p.reference_id, CASE WHEN p.operation = 'invoice' THEN '0' ELSE '30 s' END::interval) o
 WHERE p.reference_id IN (:'a_ref', :'a_pay') ORDER BY 2;
SELECT count(*) AS cancels_of_a FROM momo_events WHERE reference_id = :'a_ref' AND operation = 'cancel_invoice';
SELECT s->>'status' AS status_at_mtn, s->>'cancelled' AS cancelled_at_mtn
  FROM momo_test.sandbox('payments/' || :'a_ref') s;
SET ROLE momo_inv_a;
SELECT status, reason FROM momo_cancel_invoice(:'a_ref');
RESET ROLE;
DROP POLICY momo_inv_own ON momo_payments;
ALTER TABLE momo_payments DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON FUNCTION momo_create_invoice(numeric, text, text, text, integer, text, text, text, text),
                       momo_create_payment(numeric, text, text, text, text, text, text, text, text, text, integer, boolean, text),
                       momo_cancel_invoice(uuid) FROM momo_inv_app;
REVOKE ALL ON FUNCTION momo_test.try(text), momo_test.wait_sent(uuid) FROM momo_inv_app;
REVOKE ALL ON momo_payments FROM momo_inv_app;
REVOKE ALL ON SCHEMA public, momo_test FROM momo_inv_app;
DROP ROLE momo_inv_a, momo_inv_b, momo_inv_app;
