--
-- party_id: a payment's payer or payee named by msisdn (the default), email
-- or party code, as MTN's Party takes them: id_type on every requesting
-- function, the type kept in momo_payments.party_id_type and sent as it is
-- on every send and resend, the sandbox's test accounts answering by email
-- and party code as by number, the type one of the terms (idempotency, the
-- guard), and every bad argument refused naming it before anything is
-- written.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- (Remittance, for its transfer and cash transfer, as cash_transfer sets
-- it: a session reads the reloaded file between statements only.)
ALTER SYSTEM SET momo.remittance_subscription_key_primary = '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b01';
ALTER SYSTEM SET momo.remittance_api_user = '5f9b2c7e-3c1a-4d2e-9f10-0a1b2c3d4e5f';
ALTER SYSTEM SET momo.remittance_api_key = '6a1b2c3d4e5f40718293a4b5c6d7e8f9';
SELECT momo_test.reload() AS reloaded;
SELECT current_setting('momo.remittance_api_user') <> '' AS remittance_set;

SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
SELECT count(*) AS payments_before FROM momo_payments \gset

-- A request to pay from an email payer (id_type in any case), sent after
-- MTN failed its first send (503): the resend names the payer as the first
-- send did.
SELECT momo_test.sandbox('config', '{"fail_first": 1, "fail_status": 503}') IS NOT NULL AS configured;
SELECT momo_request_to_pay(15, 'EUR', 'jane.doe+shop@example.com', 'PID-1', 'Order 1',
                           id_type => 'EMAIL') AS rtp_email \gset
SELECT status FROM momo_test.outcome(:'rtp_email');
SELECT momo_test.sandbox('config', '{"fail_first": 0}') IS NOT NULL AS configured;
-- A transfer to a party code payee (sent in small letters), a deposit v2
-- to a party code and a request to withdraw (v2) from an email that stand
-- for the sandbox's test numbers (PAYEE_NOT_FOUND, APPROVAL_REJECTED), a
-- cash transfer to an email and an invoice for a party code.
SELECT momo_transfer(16, 'EUR', '0F8FAD5B-D9CB-469F-A165-70867728950E', 'PID-2',
                     id_type => 'party_code') AS tr_code \gset
SELECT momo_deposit(17, 'EUR', '00000000-0000-4000-8000-046733123457', 'PID-3', version => 2,
                    id_type => 'Party_Code') AS dep_code \gset
SELECT momo_request_to_withdraw(18, 'EUR', '46733123451@example.com', 'PID-4', version => 2,
                                id_type => 'email') AS wd_email \gset
SELECT momo_cash_transfer(19, 'EUR', 'payee@example.org', 'PID-5', originating_country => 'SE',
                          id_type => 'email') AS ct_email \gset
SELECT momo_create_invoice(20, 'EUR', '0f8fad5b-d9cb-469f-a165-70867728950f', 'PID-6',
                           id_type => 'party_code') AS inv_code \gset
SELECT momo_remittance_transfer(21, 'EUR', '+46 733 000 021', 'PID-7') AS rem_msisdn \gset
SELECT v.n, p.operation, p.api_version, p.party_id_type, p.msisdn, o.status, o.reason
  FROM (VALUES (1, :'rtp_email'::uuid), (2, :'tr_code'::uuid), (3, :'dep_code'::uuid),
               (4, :'wd_email'::uuid), (5, :'ct_email'::uuid), (6, :'inv_code'::uuid),
               (7, :'rem_msisdn'::uuid)) v(n, ref)
  JOIN momo_payments p ON p.reference_id = v.ref
  CROSS JOIN LATERAL momo_test.outcome(v.ref, '60 seconds') o
 ORDER BY v.n;

-- A refund of the email payer's payment pays that payer back, named as
-- that payment named it.
SELECT momo_refund(:'rtp_email', 5, 'PID-8') AS refund \gset
SELECT p.operation, p.party_id_type, p.msisdn, o.status
  FROM momo_payments p CROSS JOIN LATERAL momo_test.outcome(p.reference_id) o
 WHERE p.reference_id = :'refund';

-- What MTN (the sandbox) received: every POST of each, the party as the
-- row keeps it (the request to pay twice, the same both times).
SELECT (r->>'body')::jsonb->>'externalId' AS external_id, r->>'path' AS path,
       coalesce((r->>'body')::jsonb->'payer', (r->>'body')::jsonb->'payee',
                (r->>'body')::jsonb->'intendedPayer') AS party
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'method' = 'POST' AND (r->>'body')::jsonb->>'externalId' LIKE 'PID-%'
 ORDER BY 1, (r->>'seq')::int;
SELECT v.n, s->>'partyIdType' AS party_id_type, s->>'msisdn' AS party_id
  FROM (VALUES (1, :'rtp_email'::uuid), (2, :'tr_code'::uuid), (8, :'refund'::uuid)) v(n, ref)
  CROSS JOIN LATERAL momo_test.sandbox('payments/' || v.ref::text) s
 ORDER BY v.n;

-- Idempotency: the same request returns the same payment (the type in any
-- case); the same external_id with another id type is other terms,
-- refused, naming the type.
SELECT momo_request_to_pay(15, 'EUR', 'jane.doe+shop@example.com', 'PID-1', 'Order 1',
                           id_type => 'email') = :'rtp_email' AS same_payment,
       momo_transfer(16, 'EUR', '0f8fad5b-d9cb-469f-a165-70867728950e', 'PID-2',
                     id_type => 'PARTY_CODE') = :'tr_code' AS same_transfer;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_request_to_pay(15, 'EUR', '46733000015', 'PID-1', 'Order 1')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(15, 'EUR', '46733000015@example.com', 'PID-1', 'Order 1', id_type => 'email')$$);
SELECT momo_test.try($$SELECT momo_transfer(16, 'EUR', 'jane@example.com', 'PID-2', id_type => 'email')$$);
\pset tuples_only off
\pset format aligned

-- The type is one of the terms: it never changes (in a transaction rolled
-- back, so nothing is sent); a pre-approval records its payer's type too.
BEGIN;
SELECT momo_request_to_pay(10, 'EUR', 'jane@example.com', 'PID-10', id_type => 'email') AS open_ref \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('UPDATE momo_payments SET party_id_type = %L WHERE reference_id = %L',
                            'party_code', :'open_ref'));
\pset tuples_only off
\pset format aligned
SELECT momo_preapproval('jane@example.com', 'EUR', external_id => 'PID-11', id_type => 'email') AS pa_ref \gset
SELECT operation, party_id_type, msisdn, extra_terms FROM momo_payments WHERE reference_id = :'pa_ref';
ROLLBACK;
-- A row written by hand must name its party as its type says (and a
-- pre-approval's payer in extra_terms by the same type; a payment to a
-- provider by number).
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, party_id_type)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b001', 'PID-bad', 1, 'EUR', '46733000001', 'email')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, party_id_type)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b002', 'PID-bad', 1, 'EUR', 'jane@example.com', 'msisdn')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, party_id_type)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b003', 'PID-bad', 1, 'EUR', '0F8FAD5B-D9CB-469F-A165-70867728950E', 'party_code')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, party_id_type)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b004', 'PID-bad', 1, 'EUR', '46733000001', 'phone')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, operation,
                                                  api_version, extra_terms, party_id_type)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b005', 'PID-bad', NULL, 'EUR', 'jane@example.com',
                               'preapproval', 2, '{"payer": {"partyIdType": "MSISDN", "partyId": "jane@example.com"}}',
                               'email')$$);
-- ... a pre-approval's payer of its type: not a party code that is none.
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, operation,
                                                  api_version, extra_terms, party_id_type)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b007', 'PID-bad', NULL, 'EUR', 'NOT-A-UUID',
                               'preapproval', 2, '{"payer": {"partyIdType": "PARTY_CODE", "partyId": "NOT-A-UUID"}}',
                               'party_code')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, operation,
                                                  api_version, extra_terms, party_id_type)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000b006', 'PID-bad', 1, 'EUR', 'jane@example.com',
                               'payment', 2, '{}', 'email')$$);
\pset tuples_only off
\pset format aligned

-- Bad arguments: an ERROR naming each (the column name too), nothing
-- written, nothing sent.
SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
SELECT count(*) AS payments_before FROM momo_payments \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733000001', id_type => 'phone')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733000001', id_type => NULL)$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', 'jane@example', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', 'jane doe@example.com', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', NULL, id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', 'jane@example.com')$$);
SELECT momo_test.try_column($$SELECT momo_transfer(10, 'EUR', '46733000001', id_type => 'party_code')$$);
SELECT momo_test.try_column($$SELECT momo_deposit(10, 'EUR', 'not-a-code', version => 2, id_type => 'party_code')$$);
SELECT momo_test.try_column($$SELECT momo_remittance_transfer(10, 'EUR', 'jane@', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_withdraw(10, 'EUR', '46733000001', id_type => '')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000001', id_type => 'msisdn ')$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'EUR', 'jane@example.com', id_type => 'party_code')$$);
-- Addresses MTN would refuse: a dot at an end of the name or two in a row,
-- a name of more than 64 characters, a domain label starting with a
-- hyphen.  A party code given as a number, and a callback URL where id_type
-- now is (positionally), say how to pass them.
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '.jane@example.com', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', 'jane.@example.com', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', 'ja..ne@example.com', id_type => 'email')$$);
SELECT momo_test.try_column(format($$SELECT momo_request_to_pay(10, 'EUR', '%s@example.com', id_type => 'email')$$, repeat('j', 65)));
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', 'jane@-example.com', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '0f8fad5b-d9cb-469f-a165-70867728950e')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733000001', NULL, NULL, NULL, 'https://localhost/cb')$$);
-- Several at once: every one named, in argument order (id_type where it is,
-- before callback_url).
SELECT momo_test.try_column($$SELECT momo_request_to_pay(0, 'EUR', 'jane', 'PID-9', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_deposit(0, 'EUR', 'jane', 'PID-9', NULL, NULL, 3, 'email', 'ftp://x')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(0, 'eur', 'jane', 'PID-9', NULL, NULL, 'phone')$$);
\pset tuples_only off
\pset format aligned
SELECT count(*) - :payments_before AS written FROM momo_payments;
SELECT count(*) AS requests_sent
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'method' = 'POST';

ALTER SYSTEM RESET momo.remittance_subscription_key_primary;
ALTER SYSTEM RESET momo.remittance_api_user;
ALTER SYSTEM RESET momo.remittance_api_key;
SELECT momo_test.reload() AS reloaded;
SELECT current_setting('momo.remittance_api_user') = '' AS remittance_reset;
