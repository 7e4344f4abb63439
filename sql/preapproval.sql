--
-- preapproval: Collection's pre-approvals (MTN's v2) from SQL.  A
-- pre-approval is a payment without amount: a row written before anything
-- is sent, POSTed to /v2_0/preapproval with the same reference id on every
-- retry, followed by the worker to its final status (the payer's test
-- number decides it), with the expiry MTN tells kept; idempotency on
-- external_id, the event log, the counters, the change feed; the list of a
-- payer's approved pre-approvals and their cancellation, synchronous; every
-- bad argument refused with nothing written; and another role can neither
-- see nor cancel one.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
SELECT coalesce(max(id), 0) AS events_before FROM momo_events \gset
-- Approved (an ordinary number, written as people do), refused by the payer
-- (46733123451), not approved in time (46733123452), and a payer named by
-- email (without validity: MTN's default, no expiry told).
BEGIN;
SELECT momo_preapproval('+46 733 000 041', 'EUR', 'Monthly plan', interval '30 days', 'PA-1') AS approved \gset
-- The row is written before anything is sent (the worker sends it at commit).
SELECT operation, product, api_version, status, amount, currency, msisdn, payer_message, payee_note, extra_terms
  FROM momo_payments WHERE reference_id = :'approved';
COMMIT;
SELECT momo_preapproval('46733123451', 'EUR', 'Monthly plan', interval '1 day', 'PA-2') AS refused \gset
SELECT momo_preapproval('46733123452', 'EUR', NULL, interval '1 hour', 'PA-3') AS expired \gset
SELECT momo_preapproval('Jane.Doe+shop@example.com', 'EUR', 'Weekly box', external_id => 'PA-4',
                        id_type => 'EMAIL') AS by_email \gset
SELECT v.n, o.status, o.reason, o.has_ftid, o.attempts
  FROM (VALUES (1, :'approved'::uuid), (2, :'refused'::uuid), (3, :'expired'::uuid), (4, :'by_email'::uuid)) v(n, ref)
  CROSS JOIN LATERAL momo_test.outcome(v.ref) o
 ORDER BY v.n;
-- No amount, no fee; the payer's type; the expiry MTN told of the approved
-- one with validity (approval time and validityTime), none of the others.
SELECT v.n, p.amount IS NULL AS no_amount, p.fee IS NULL AS no_fee, p.msisdn,
       p.extra_terms->'payer'->>'partyIdType' AS party_type,
       (p.extra_terms->>'validityTime')::int AS validity_s,
       p.expires_at IS NOT NULL AS has_expiry,
       p.expires_at BETWEEN p.created_at + (p.extra_terms->>'validityTime')::int * interval '1 second' - interval '1 minute'
                        AND now() + (p.extra_terms->>'validityTime')::int * interval '1 second' AS expiry_as_told
  FROM (VALUES (1, :'approved'::uuid), (2, :'refused'::uuid), (3, :'expired'::uuid), (4, :'by_email'::uuid)) v(n, ref)
  JOIN momo_payments p ON p.reference_id = v.ref
 ORDER BY v.n;

-- What MTN (the sandbox) received: the POST to /v2_0/preapproval with
-- MTN's body (payer, payerCurrency, payerMessage, validityTime; no amount),
-- and status checks at /v2_0/preapproval/{referenceId}.
SELECT v.n, s->>'operation' AS operation, (s->>'version')::int AS version, s->>'partyRole' AS party,
       s->>'partyIdType' AS party_type, s->>'msisdn' AS party_id, s->>'currency' AS currency,
       s->>'payerMessage' AS payer_message, (s->>'validityTime')::int AS validity_time
  FROM (VALUES (1, :'approved'::uuid), (2, :'refused'::uuid), (3, :'expired'::uuid), (4, :'by_email'::uuid)) v(n, ref)
  CROSS JOIN LATERAL momo_test.sandbox('payments/' || v.ref::text) s
 ORDER BY v.n;
SELECT v.n, r.method, r.path, r.requests > 0 AS requested
  FROM (VALUES (1, :'approved'::uuid), (4, :'by_email'::uuid)) v(n, ref)
  CROSS JOIN LATERAL momo_test.requests_of(v.ref) r
 ORDER BY v.n, r.method DESC, r.path;
SELECT (r->>'body')::jsonb AS body
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'method' = 'POST' AND r->'headers'->>'X-Reference-Id' = :'approved'
 LIMIT 1;

-- The event log, the change feed and the counters know the operation.
SELECT operation, product, http_status, outcome FROM momo_events
 WHERE reference_id = :'approved' AND operation <> 'status' ORDER BY id;
SELECT count(*) > 0 AS status_checks_logged FROM momo_events
 WHERE reference_id = :'approved' AND operation = 'status' AND product = 'collection';
SELECT status, reason FROM momo_payment_changes WHERE reference_id = :'refused' ORDER BY id;
SELECT label, value FROM momo_stats
 WHERE metric = 'payments' AND label LIKE '%/preapproval' ORDER BY label;

-- Idempotency: the same request again (the number written otherwise, the
-- validity as another interval of the same length) returns the same
-- pre-approval and sends nothing more; other terms under the same key are
-- refused, naming what differs (an email is sent as given: in other
-- letters it is another payer); after a failure the key makes a new one.
SELECT momo_preapproval('46733000041', 'EUR', 'Monthly plan', interval '720 hours', 'PA-1') = :'approved' AS same_preapproval;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_preapproval('46733000041', 'EUR', 'Monthly plan', interval '31 days', 'PA-1')$$);
SELECT momo_test.try($$SELECT momo_preapproval('46733000042', 'EUR', 'Monthly plan', interval '30 days', 'PA-1')$$);
SELECT momo_test.try($$SELECT momo_preapproval('jane.doe+shop@example.com', 'EUR', 'Weekly box', external_id => 'PA-4', id_type => 'email')$$);
\pset tuples_only off
\pset format aligned
SELECT (momo_test.seen(:'approved')->>'posts')::int AS posts_to_mtn;
SELECT momo_request_to_pay(10, 'EUR', '46733000041', 'PA-1') <> :'approved' AS request_to_pay_is_another;
SELECT momo_preapproval('46733000043', 'EUR', 'Monthly plan', interval '1 day', 'PA-2') <> :'refused' AS new_after_failure;
SELECT count(*) FILTER (WHERE status = 'failed') AS failed, count(*) FILTER (WHERE status <> 'failed') AS not_failed
  FROM momo_payments WHERE external_id = 'PA-2';

-- A callback URL of its own (on momo.callback_url's host): MTN is given it,
-- with momo's reference id, and PUTs its callback there (a v2 operation).
SELECT momo_preapproval('46733000047', 'EUR', 'Own callback', interval '1 day', 'PA-6',
                        callback_url => 'https://localhost/shop/preapprovals/') AS own_cb \gset
SELECT status, callback_url FROM momo_await(:'own_cb');
SELECT split_part(r->'headers'->>'X-Callback-Url', '?', 1) AS sent_url,
       strpos(r->'headers'->>'X-Callback-Url', 'momo_ref=' || :'own_cb') > 0 AS names_it
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'method' = 'POST' AND r->'headers'->>'X-Reference-Id' = :'own_cb'
 GROUP BY 1, 2;
SELECT c->>'method' AS callback_method, split_part(c->>'url', '?', 1) AS called_at,
       (c->>'body')::jsonb->>'status' AS body_says
  FROM jsonb_array_elements(momo_test.sandbox('callbacks?referenceId=' || :'own_cb')) c;

-- The payer's approved pre-approvals, asked of MTN now: MTN's details as
-- columns (the sandbox's preApprovalId is the reference id).
SELECT preapproval_id = :'approved' AS is_ours, to_fri, from_fri, from_currency,
       created_time IS NOT NULL AS has_created, approved_time IS NOT NULL AS has_approved,
       expiry_time::timestamp AT TIME ZONE 'UTC' = date_trunc('second', p.expires_at) AS expiry_as_row,
       a.status, a.message, a.frequency, a.max_debit_amount
  FROM momo_approved_preapprovals('0046 733 000 041') a
  JOIN momo_payments p ON p.reference_id = :'approved';
SELECT preapproval_id = :'by_email' AS is_ours, from_fri, status, expiry_time
  FROM momo_approved_preapprovals('Jane.Doe+shop@example.com', 'email');
-- None for a payer whose pre-approvals failed; MTN's NotFound number.
SELECT count(*) AS refused_payer_has FROM momo_approved_preapprovals('46733123451');
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT * FROM momo_approved_preapprovals('46733123450')$$);
SELECT momo_test.try_column($$SELECT * FROM momo_approved_preapprovals('0f8fad5b-d9cb-469f-a165-70867728950e', 'party_code')$$);
SELECT momo_test.try_column($$SELECT * FROM momo_approved_preapprovals('jane', 'email')$$);
SELECT momo_test.try_column($$SELECT * FROM momo_approved_preapprovals(NULL)$$);
\pset tuples_only off
\pset format aligned

-- Cancelling: MTN's DELETE, now; the pre-approval leaves the list; the row
-- stays as it was (final rows never change), the event log has it.
SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
SELECT momo_cancel_preapproval(:'approved');
SELECT r.method, r.path FROM momo_test.requests_of(:'approved') r;
SELECT count(*) AS still_listed FROM momo_approved_preapprovals('46733000041');
SELECT (momo_test.sandbox('payments/' || :'approved')->>'cancelled')::boolean AS cancelled_at_mtn;
SELECT status, expires_at IS NOT NULL AS has_expiry FROM momo_payments WHERE reference_id = :'approved';
SELECT operation, http_status, outcome FROM momo_events
 WHERE reference_id = :'approved' AND operation = 'cancel_preapproval';
\pset tuples_only on
\pset format unaligned
-- Again: MTN no longer has it.  A failed one, an unknown id, a request to
-- pay, NULL: refused, the last three before anything is sent.
SELECT momo_test.try(format('SELECT momo_cancel_preapproval(%L)', :'approved'));
SELECT momo_test.try(format('SELECT momo_cancel_preapproval(%L)', :'refused'));
SELECT momo_test.try_column($$SELECT momo_cancel_preapproval('0f8fad5b-d9cb-469f-a165-70867728950e')$$);
SELECT momo_test.try_column(format('SELECT momo_cancel_preapproval(%L)',
                                   (SELECT reference_id FROM momo_payments WHERE operation = 'request_to_pay' LIMIT 1)));
SELECT momo_test.try_column($$SELECT momo_cancel_preapproval(NULL)$$);
\pset tuples_only off
\pset format aligned
-- In a transaction that rolls back, MTN has still cancelled it: the call is
-- made at once, and its line in momo_events stays (the worker writes it
-- after the abort).
BEGIN;
SELECT momo_cancel_preapproval(:'by_email');
ROLLBACK;
SELECT momo_test.wait_for(format($$SELECT count(*) = 1 FROM momo_events
                                    WHERE reference_id = %L AND operation = 'cancel_preapproval'$$, :'by_email'))
       AS event_kept;
SELECT (momo_test.sandbox('payments/' || :'by_email')->>'cancelled')::boolean AS cancelled_at_mtn,
       http_status, outcome
  FROM momo_events WHERE reference_id = :'by_email' AND operation = 'cancel_preapproval';
-- A pre-approval moves no money: nothing to refund.
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('SELECT momo_refund(%L)', :'by_email'));
\pset tuples_only off
\pset format aligned

-- Bad arguments: an ERROR naming each (its column name too), nothing written.
SELECT count(*) AS payments_before FROM momo_payments \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try_column($$SELECT momo_preapproval(NULL, 'EUR')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('abc', 'EUR')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('jane', 'EUR', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'EUR', id_type => 'party_code')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'EUR', id_type => 'phone')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', NULL)$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'eur')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'RWF')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'EUR', 'It''s yours')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'EUR', repeat('x', 161))$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'EUR', validity => interval '0')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'EUR', validity => interval '-1 day')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'EUR', validity => interval '1.5 seconds')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'EUR', validity => interval '100 years')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'EUR', external_id => '')$$);
SELECT momo_test.try_column($$SELECT momo_preapproval('46733000041', 'EUR', external_id => repeat('x', 129))$$);
-- Several at once: every one named, in argument order.
SELECT momo_test.try_column($$SELECT momo_preapproval('jane', 'eur', '', interval '0', '', 'email')$$);
\pset tuples_only off
\pset format aligned
SELECT count(*) - :payments_before AS written FROM momo_payments;

-- The table's rules: only a pre-approval has no amount, and only it an
-- expiry; its terms (the payer and validity among them) never change.
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, currency, msisdn,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b001', 'PA-bad', 'EUR', '46733000001',
                               '2026-01-01', '2026-01-01', '2026-01-01')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, operation,
                                                  api_version, extra_terms,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b002', 'PA-bad', 1, 'EUR', '46733000001',
                               'preapproval', 2, '{"payer":{"partyIdType":"MSISDN","partyId":"46733000001"}}',
                               '2026-01-01', '2026-01-01', '2026-01-01')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, expires_at,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b003', 'PA-bad', 1, 'EUR', '46733000001', '2026-02-01',
                               '2026-01-01', '2026-01-01', '2026-01-01')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, currency, msisdn, operation, extra_terms,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b004', 'PA-bad', 'EUR', '46733000001',
                               'preapproval', '{"payer":{"partyIdType":"MSISDN","partyId":"46733000001"}}',
                               '2026-01-01', '2026-01-01', '2026-01-01')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b005', 'PA-bad', 1, 'EUR', 'jane@example.com',
                               '2026-01-01', '2026-01-01', '2026-01-01')$$);
-- A pre-approval written by hand whose extra terms would send another
-- payer than the row shows, or a member the row's columns write, or any
-- other member: refused by the guard.
SELECT momo_test.try(format($$INSERT INTO momo_payments (reference_id, external_id, currency, msisdn, operation,
                                                         api_version, extra_terms, created_at, updated_at, next_check_at)
                              VALUES ('7d1f9b8e-0000-4000-8000-00000000b006', 'PA-bad', 'EUR', '46733000001',
                                      'preapproval', 2, %L, '2026-01-01', '2026-01-01', '2026-01-01')$$, t))
  FROM unnest(ARRAY['{"payer":{"partyIdType":"MSISDN","partyId":"46733000099"}}',
                    '{"payer":{"partyIdType":"PHONE","partyId":"46733000001"}}',
                    '{"payer":{"partyIdType":"MSISDN","partyId":"46733000001"},"payerCurrency":"XAF"}',
                    '{"payer":{"partyIdType":"MSISDN","partyId":"46733000001"},"amount":"900000"}',
                    '{"payer":{"partyIdType":"MSISDN","partyId":"46733000001"},"validityTime":"60"}',
                    '{"payer":{"partyIdType":"MSISDN","partyId":"46733000001"},"validityTime":9999999999}',
                    '{"payer":{"partyIdType":"MSISDN","partyId":"46733000001","extra":1}}',
                    '{"validityTime":60}',
                    '[]']) t;
\pset tuples_only off
\pset format aligned
BEGIN;
SELECT momo_preapproval('46733000046', 'EUR', 'Not sent', interval '1 day', 'PA-5') AS open_ref \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format($$UPDATE momo_payments SET extra_terms = '{"payer":{"partyId":"46733000099","partyIdType":"MSISDN"}}' WHERE reference_id = %L$$, :'open_ref'));
SELECT momo_test.try(format($$UPDATE momo_payments SET amount = 1 WHERE reference_id = %L$$, :'open_ref'));
\pset tuples_only off
\pset format aligned
ROLLBACK;

-- Privileges: nothing is open to PUBLIC.  Two roles with the grants and
-- README's row-level security recipe: each sees only its own
-- pre-approvals, and cannot cancel another's (nothing is sent to MTN).
CREATE ROLE momo_pa_a;
CREATE ROLE momo_pa_b;
GRANT USAGE ON SCHEMA public, momo_test TO momo_pa_a, momo_pa_b;
GRANT EXECUTE ON FUNCTION momo_test.try(text), momo_test.try_column(text) TO momo_pa_a, momo_pa_b;
SET ROLE momo_pa_a;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_preapproval('46733000044', 'EUR', external_id => 'PA-A1')$$);
SELECT momo_test.try($$SELECT * FROM momo_approved_preapprovals('46733000044')$$);
SELECT momo_test.try($$SELECT momo_cancel_preapproval('0f8fad5b-d9cb-469f-a165-70867728950e')$$);
\pset tuples_only off
\pset format aligned
RESET ROLE;
GRANT EXECUTE ON FUNCTION momo_preapproval(text, text, text, interval, text, text, text),
                          momo_approved_preapprovals(text, text),
                          momo_cancel_preapproval(uuid),
                          momo_await(uuid, interval) TO momo_pa_a, momo_pa_b;
GRANT SELECT ON momo_payments TO momo_pa_a, momo_pa_b;
ALTER TABLE momo_payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY pa_own ON momo_payments FOR SELECT TO momo_pa_a, momo_pa_b
    USING (requested_by = current_user);
SET ROLE momo_pa_a;
SELECT momo_preapproval('46733000044', 'EUR', 'Plan of A', interval '7 days', 'PA-A1') AS a_ref \gset
RESET ROLE;
SELECT status, requested_by FROM momo_await(:'a_ref');
SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
SET ROLE momo_pa_b;
SELECT count(*) AS b_sees FROM momo_payments WHERE operation = 'preapproval';
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try_column(format('SELECT momo_cancel_preapproval(%L)', :'a_ref'));
\pset tuples_only off
\pset format aligned
-- B may use the same external_id: keys are per role.
SELECT momo_preapproval('46733000045', 'EUR', NULL, NULL, 'PA-A1') <> :'a_ref' AS b_has_its_own;
RESET ROLE;
SELECT count(*) AS requests_for_a FROM momo_test.requests_of(:'a_ref');
SELECT (momo_test.sandbox('payments/' || :'a_ref')->>'cancelled')::boolean AS cancelled_at_mtn;
SET ROLE momo_pa_a;
SELECT count(*) AS a_sees FROM momo_payments WHERE operation = 'preapproval';
SELECT momo_cancel_preapproval(:'a_ref');
RESET ROLE;
SELECT (momo_test.sandbox('payments/' || :'a_ref')->>'cancelled')::boolean AS cancelled_at_mtn;
DROP POLICY pa_own ON momo_payments;
ALTER TABLE momo_payments DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON momo_payments FROM momo_pa_a, momo_pa_b;
REVOKE ALL ON FUNCTION momo_preapproval(text, text, text, interval, text, text, text),
                       momo_approved_preapprovals(text, text),
                       momo_cancel_preapproval(uuid),
                       momo_await(uuid, interval),
                       momo_test.try(text), momo_test.try_column(text) FROM momo_pa_a, momo_pa_b;
REVOKE ALL ON SCHEMA public, momo_test FROM momo_pa_a, momo_pa_b;
DROP ROLE momo_pa_a;
DROP ROLE momo_pa_b;
