--
-- version2: a disbursement deposit and a refund in MTN's version 2, beside
-- version 1: each POSTed to /v2_0 as asked, followed at /v1_0 to a final
-- status, the version kept with the payment (one of its terms: the same
-- for every resend, compared by idempotency, unchangeable), and a version
-- other than 1 or 2 refused naming the argument.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- A successful request to pay, to refund.
SELECT momo_request_to_pay(100, 'EUR', '46733000040', 'V2-RTP') AS rtp \gset
SELECT status FROM momo_test.outcome(:'rtp');

-- Deposits of version 1 and 2; refunds of version 1 and 2 (in part).
SELECT momo_deposit(40, 'EUR', '46733000041', 'V2-DEP-1', 'Deposit', 'Float') AS dep1 \gset
SELECT momo_deposit(41.5, 'EUR', '+46 733 000 042', 'V2-DEP-2', 'Deposit', 'Float', version => 2) AS dep2 \gset
SELECT momo_refund(:'rtp', 10, 'V2-REF-1') AS ref1 \gset
SELECT momo_refund(:'rtp', 20, 'V2-REF-2', 'Refund', 'Returned', version => 2) AS ref2 \gset
SELECT v.n, p.product, p.operation, p.api_version, p.msisdn, p.amount, p.refund_of = :'rtp' AS refunds_rtp,
       o.status, o.reason, o.has_ftid
  FROM (VALUES (1, :'dep1'::uuid), (2, :'dep2'::uuid), (3, :'ref1'::uuid), (4, :'ref2'::uuid)) v(n, ref)
  JOIN momo_payments p ON p.reference_id = v.ref
  CROSS JOIN LATERAL momo_test.outcome(v.ref) o
 ORDER BY v.n;

-- What MTN (the sandbox) received: each POSTed to its version's path, its
-- status asked at /v1_0 (the only version of the status check).
SELECT v.n, s->>'operation' AS operation, (s->>'version')::int AS version,
       s->>'msisdn' AS msisdn, s->>'amount' AS amount, s->>'externalId' AS external_id,
       s->>'payerMessage' AS payer_message, s->>'payeeNote' AS payee_note, s->>'status' AS status
  FROM (VALUES (1, :'dep1'::uuid), (2, :'dep2'::uuid), (3, :'ref1'::uuid), (4, :'ref2'::uuid)) v(n, ref)
  CROSS JOIN LATERAL momo_test.sandbox('payments/' || v.ref::text) s
 ORDER BY v.n;
SELECT v.n, r.method, r.path, r.requests > 0 AS requested
  FROM (VALUES (1, :'dep1'::uuid), (2, :'dep2'::uuid), (3, :'ref1'::uuid), (4, :'ref2'::uuid)) v(n, ref)
  CROSS JOIN LATERAL momo_test.requests_of(v.ref) r
 ORDER BY v.n, r.method DESC, r.path;
-- The body of the refund of version 2 names the refunded payment.
SELECT (r->>'body')::jsonb->>'referenceIdToRefund' = :'rtp' AS names_refunded
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'method' = 'POST' AND r->>'path' = '/disbursement/v2_0/refund'
   AND r->'headers'->>'X-Reference-Id' = :'ref2';

-- Idempotency: the same terms again return the same payment; the same key
-- with the other version is refused, naming the version.
SELECT momo_deposit(41.50, 'EUR', '46733000042', 'V2-DEP-2', 'Deposit', 'Float', version => 2) = :'dep2'
       AS same_deposit,
       momo_refund(:'rtp', 20, 'V2-REF-2', 'Refund', 'Returned', version => 2) = :'ref2'
       AS same_refund;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_deposit(41.5, 'EUR', '46733000042', 'V2-DEP-2', 'Deposit', 'Float')$$);
SELECT momo_test.try($$SELECT momo_deposit(40, 'EUR', '46733000041', 'V2-DEP-1', 'Deposit', 'Float', 2)$$);
SELECT momo_test.try(format($$SELECT momo_refund(%L, 20, 'V2-REF-2', 'Refund', 'Returned')$$, :'rtp'));
SELECT momo_test.try(format($$SELECT momo_refund(%L, 10, 'V2-REF-1', version => 2)$$, :'rtp'));
\pset tuples_only off
\pset format aligned
SELECT operation, external_id, api_version, count(*) FROM momo_payments
 WHERE external_id LIKE 'V2-%' GROUP BY 1, 2, 3 ORDER BY 1, 2;

-- Bad versions: an ERROR naming version (its column name too), nothing written.
SELECT count(*) AS payments_before FROM momo_payments \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try_column($$SELECT momo_deposit(10, 'EUR', '46733000043', version => 3)$$);
SELECT momo_test.try_column($$SELECT momo_deposit(10, 'EUR', '46733000043', version => NULL)$$);
SELECT momo_test.try_column(format($$SELECT momo_refund(%L, 1, version => 3)$$, :'rtp'));
SELECT momo_test.try_column(format($$SELECT momo_refund(%L, 1, version => 0)$$, :'rtp'));
\pset tuples_only off
\pset format aligned
SELECT count(*) - :payments_before AS written FROM momo_payments;

-- The version never changes (here of a deposit not sent yet, in a
-- transaction rolled back); a transfer has no version 2.
BEGIN;
SELECT momo_deposit(12, 'EUR', '46733000044', 'V2-DEP-3', version => 2) AS dep3 \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('UPDATE momo_payments SET api_version = 1 WHERE reference_id = %L', :'dep3'));
\pset tuples_only off
\pset format aligned
SELECT status, api_version FROM momo_payments WHERE reference_id = :'dep3';
ROLLBACK;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                  operation, product, api_version,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b001', 'V2-bad', 1, 'EUR', '46733000001',
                               'transfer', 'disbursement', 2, '2026-01-01', '2026-01-01', '2026-01-01')$$);
\pset tuples_only off
\pset format aligned
