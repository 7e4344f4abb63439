--
-- withdraw: Collection's request to withdraw (cash-out), in MTN's version 1
-- and 2, is a payment like a request to pay: checked arguments, a row
-- written before anything is sent, the worker following it to a final
-- status on the right paths, idempotency on external_id, the event log,
-- the counters, the change feed and the privileges.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Version 1, successful; version 2, rejected by the payer (the sandbox's
-- 46733123451); version 2, successful.
SELECT momo_request_to_withdraw(25, 'EUR', '46733000025', 'WD-1', 'Cash out', 'Agent 7') AS v1 \gset
SELECT momo_request_to_withdraw(26, 'EUR', '46733123451', 'WD-2', version => 2) AS v2_rejected \gset
SELECT momo_request_to_withdraw(27.5, 'EUR', '+46 733 000 027', 'WD-3', version => 2) AS v2 \gset
SELECT v.n, p.product, p.operation, p.api_version, p.msisdn, o.status, o.reason, o.has_ftid, o.attempts,
       p.fee IS NULL AS no_fee
  FROM (VALUES (1, :'v1'::uuid), (2, :'v2_rejected'::uuid), (3, :'v2'::uuid)) v(n, ref)
  JOIN momo_payments p ON p.reference_id = v.ref
  CROSS JOIN LATERAL momo_test.outcome(v.ref) o
 ORDER BY v.n;

-- What MTN (the sandbox) received: the payer's request to withdraw, POSTed
-- to /v1_0 or /v2_0 as asked, and its status asked at /v1_0 only.
SELECT v.n, s->>'operation' AS operation, (s->>'version')::int AS version, s->>'partyRole' AS party,
       s->>'msisdn' AS msisdn, s->>'amount' AS amount, s->>'externalId' AS external_id,
       s->>'payerMessage' AS payer_message, s->>'payeeNote' AS payee_note, s->>'status' AS status
  FROM (VALUES (1, :'v1'::uuid), (2, :'v2_rejected'::uuid), (3, :'v2'::uuid)) v(n, ref)
  CROSS JOIN LATERAL momo_test.sandbox('payments/' || v.ref::text) s
 ORDER BY v.n;
SELECT v.n, r.method, r.path, r.requests > 0 AS requested
  FROM (VALUES (1, :'v1'::uuid), (2, :'v2_rejected'::uuid), (3, :'v2'::uuid)) v(n, ref)
  CROSS JOIN LATERAL momo_test.requests_of(v.ref) r
 ORDER BY v.n, r.method DESC, r.path;
-- MTN calls back with POST after version 1, with PUT after version 2.
SELECT v.n, c->>'method' AS callback_method, (c->>'body')::jsonb->>'status' AS body_says
  FROM (VALUES (1, :'v1'::uuid), (2, :'v2_rejected'::uuid), (3, :'v2'::uuid)) v(n, ref)
  CROSS JOIN LATERAL jsonb_array_elements(momo_test.sandbox('callbacks?referenceId=' || v.ref::text)) c
 ORDER BY v.n;

-- The event log, the change feed and the counters know the operation.
SELECT operation, product, http_status, outcome FROM momo_events
 WHERE reference_id = :'v1' AND operation <> 'status' ORDER BY id;
SELECT count(*) > 0 AS status_checks_logged FROM momo_events
 WHERE reference_id = :'v1' AND operation = 'status' AND product = 'collection';
SELECT status, reason FROM momo_payment_changes WHERE reference_id = :'v2_rejected' ORDER BY id;
SELECT label, value FROM momo_stats
 WHERE metric = 'payments' AND label LIKE '%/request_to_withdraw' ORDER BY label;

-- Idempotency: the same request again, in either version's spelling of the
-- same terms, returns the same payment and sends nothing more; other terms
-- under the same key are refused, naming what differs; a request to pay
-- with the same external_id is another payment.
SELECT momo_request_to_withdraw(25.00, 'EUR', '46733000025', 'WD-1', 'Cash out', 'Agent 7') = :'v1'
       AS same_payment,
       momo_request_to_withdraw(27.5, 'EUR', '46733000027', 'WD-3', version => 2) = :'v2'
       AS same_v2_payment;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_request_to_withdraw(25, 'EUR', '46733000025', 'WD-1', 'Cash out', 'Agent 7', 2)$$);
SELECT momo_test.try($$SELECT momo_request_to_withdraw(99, 'EUR', '46733000025', 'WD-1', 'Cash out', 'Agent 7')$$);
SELECT momo_test.try($$SELECT momo_request_to_withdraw(25, 'EUR', '46733000099', 'WD-1')$$);
\pset tuples_only off
\pset format aligned
SELECT (momo_test.seen(:'v1')->>'posts')::int AS posts_to_mtn;
SELECT momo_request_to_pay(25, 'EUR', '46733000025', 'WD-1') <> :'v1' AS request_to_pay_is_another;
SELECT operation, api_version, count(*) FROM momo_payments WHERE external_id = 'WD-1' GROUP BY 1, 2 ORDER BY 1;
-- After a failure, the same key makes a new request to withdraw.
SELECT momo_request_to_withdraw(26, 'EUR', '46733000026', 'WD-2', version => 2) <> :'v2_rejected' AS new_after_failure;
SELECT status, api_version, count(*) FROM momo_payments
 WHERE external_id = 'WD-2' GROUP BY 1, 2 ORDER BY 1;

-- Bad arguments: an ERROR naming each (its column name too), nothing written.
SELECT count(*) AS payments_before FROM momo_payments \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(0, 'EUR', '46733000025')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(10.001, 'EUR', '46733000025')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(10, 'eur', '46733000025')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(10, 'RWF', '46733000025')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(10, 'EUR', 'abc')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(10, 'EUR', NULL)$$);
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(10, 'EUR', '46733000025', version => 3)$$);
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(10, 'EUR', '46733000025', version => 0)$$);
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(10, 'EUR', '46733000025', version => NULL)$$);
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(-1, 'eur', '46733000025', '', 'It''s', NULL, 3)$$);
\pset tuples_only off
\pset format aligned
SELECT count(*) - :payments_before AS written FROM momo_payments;

-- The version is one of the terms: it never changes, and only a request to
-- withdraw has a version 2.
SELECT reference_id AS open_ref FROM momo_payments
 WHERE external_id = 'WD-2' AND status <> 'failed' \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('UPDATE momo_payments SET api_version = 1 WHERE reference_id = %L', :'open_ref'));
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, api_version,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000a001', 'WD-bad', 1, 'EUR', '46733000001', 2,
                               '2026-01-01', '2026-01-01', '2026-01-01')$$);
\pset tuples_only off
\pset format aligned

-- Privileges: not open to PUBLIC; a role granted it requests as itself.
CREATE ROLE momo_wd_app;
GRANT USAGE ON SCHEMA public, momo_test TO momo_wd_app;
GRANT EXECUTE ON FUNCTION momo_test.try(text) TO momo_wd_app;
SET ROLE momo_wd_app;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_request_to_withdraw(10, 'EUR', '46733000028', 'WD-4')$$);
\pset tuples_only off
\pset format aligned
RESET ROLE;
GRANT EXECUTE ON FUNCTION momo_request_to_withdraw(numeric, text, text, text, text, text, integer, text, text) TO momo_wd_app;
SET ROLE momo_wd_app;
SELECT momo_request_to_withdraw(10, 'EUR', '46733000028', 'WD-4') AS app_ref \gset
RESET ROLE;
SELECT p.requested_by, p.operation, o.status FROM momo_test.outcome(:'app_ref') o
  JOIN momo_payments p ON p.reference_id = :'app_ref';
REVOKE ALL ON FUNCTION momo_request_to_withdraw(numeric, text, text, text, text, text, integer, text, text) FROM momo_wd_app;
REVOKE ALL ON FUNCTION momo_test.try(text) FROM momo_wd_app;
REVOKE ALL ON SCHEMA public, momo_test FROM momo_wd_app;
DROP ROLE momo_wd_app;
