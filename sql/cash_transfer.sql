--
-- cash_transfer: Remittance's cash transfer (MTN's /v2_0/cashtransfer) is a
-- payment like a remittance transfer, whose originating side (the further
-- members of MTN's body) is checked argument by argument, kept with the row
-- in extra_terms, sent as kept on every send, compared by idempotency and
-- never changed.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

ALTER SYSTEM SET momo.remittance_subscription_key_primary = '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b01';
ALTER SYSTEM SET momo.remittance_api_user = '5f9b2c7e-3c1a-4d2e-9f10-0a1b2c3d4e5f';
ALTER SYSTEM SET momo.remittance_api_key = '6a1b2c3d4e5f40718293a4b5c6d7e8f9';
SELECT momo_test.reload() AS reloaded;
SELECT current_setting('momo.remittance_api_user') AS remittance_api_user;

-- Every originating detail; and none of them.
SELECT momo_cash_transfer(75, 'EUR', '46733000090', 'CT-1', 'From Paris', 'Family',
                          originating_country => 'fr', original_amount => 80.50, original_currency => 'usd',
                          payer_identification_type => 'PASS', payer_identification_number => 'X1234567',
                          payer_identity => 'Jean O''Neil', payer_first_name => 'Jean',
                          payer_surname => 'O''Neil', payer_language_code => 'FR',
                          payer_email => 'jean@example.fr', payer_msisdn => '+33 6 12 34 56 78',
                          payer_gender => 'M') AS ct1 \gset
SELECT momo_cash_transfer(12, 'EUR', '46733000091', 'CT-2') AS ct2 \gset
SELECT v.n, p.product, p.operation, p.api_version, p.msisdn, p.extra_terms, o.status, o.has_ftid
  FROM (VALUES (1, :'ct1'::uuid), (2, :'ct2'::uuid)) v(n, ref)
  JOIN momo_payments p ON p.reference_id = v.ref
  CROSS JOIN LATERAL momo_test.outcome(v.ref) o
 ORDER BY v.n;

-- What MTN (the sandbox) received: POSTed to /v2_0/cashtransfer, followed
-- at /v2_0/cashtransfer/{ref}; the body carried every detail, as kept.
SELECT v.n, r->>'method' AS method, replace(r->>'path', v.ref::text, '<ref>') AS path, count(*) > 0 AS requested
  FROM (VALUES (1, :'ct1'::uuid), (2, :'ct2'::uuid)) v(n, ref)
  CROSS JOIN LATERAL jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'path' LIKE '%/' || v.ref::text OR r->'headers'->>'X-Reference-Id' = v.ref::text
 GROUP BY 1, 2, 3 ORDER BY 1, 2 DESC, 3;
SELECT (r->>'body')::jsonb - 'amount' - 'currency' - 'externalId' - 'payee' - 'payerMessage' - 'payeeNote'
       = p.extra_terms AS body_carried_the_details,
       (r->>'body')::jsonb->'payee' AS payee
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r, momo_payments p
 WHERE r->>'method' = 'POST' AND r->>'path' = '/remittance/v2_0/cashtransfer'
   AND r->'headers'->>'X-Reference-Id' = :'ct1' AND p.reference_id = :'ct1';

-- Idempotency: the same terms (spelled otherwise) return the same payment;
-- other originating details under the same key are refused, naming them.
SELECT momo_cash_transfer(75.00, 'EUR', '46733000090', 'CT-1', 'From Paris', 'Family',
                          originating_country => 'FR', original_amount => 80.5, original_currency => 'USD',
                          payer_identification_type => 'pass', payer_identification_number => 'X1234567',
                          payer_identity => 'Jean O''Neil', payer_first_name => 'Jean',
                          payer_surname => 'O''Neil', payer_language_code => 'fr',
                          payer_email => 'jean@example.fr', payer_msisdn => '33612345678',
                          payer_gender => 'M') = :'ct1' AS same_payment;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_cash_transfer(12, 'EUR', '46733000091', 'CT-2', originating_country => 'DE')$$);
\pset tuples_only off
\pset format aligned
-- A remittance transfer with the same key is another payment.
SELECT momo_remittance_transfer(12, 'EUR', '46733000091', 'CT-2') AS rt \gset
SELECT :'rt' <> :'ct2' AS another_payment, o.status FROM momo_test.outcome(:'rt') o;
SELECT operation, count(*) FROM momo_payments WHERE external_id IN ('CT-1', 'CT-2') GROUP BY 1 ORDER BY 1;
-- A disbursement transfer with that key and the same terms is not that
-- remittance transfer (another account pays): refused, not answered with
-- the remittance transfer's reference id.
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_transfer(12, 'EUR', '46733000091', 'CT-2')$$);
\pset tuples_only off
\pset format aligned
SELECT product, operation, count(*) FROM momo_payments WHERE external_id = 'CT-2' GROUP BY 1, 2 ORDER BY 1, 2;

-- Bad arguments: one ERROR naming each (its column name too), nothing written.
SELECT count(*) AS payments_before FROM momo_payments \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', originating_country => 'FRA')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', originating_country => 'ZZ')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', original_amount => 0, original_currency => 'USD')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', original_amount => 5)$$);
-- (a red team found these accepted: no bound, no minor unit)
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', original_amount => 1e60, original_currency => 'USD')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', original_amount => 0.0000001, original_currency => 'jpy')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', original_amount => 10.5, original_currency => 'RWF')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', original_currency => 'US$')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', payer_identification_type => 'PASSPORT1')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', payer_first_name => '')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', payer_first_name => '   ')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', payer_surname => E'A\nB')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', payer_identity => repeat('x', 161))$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', payer_language_code => 'french')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', payer_email => 'jean.example.fr')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', payer_msisdn => '0612345678')$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(10, 'EUR', '46733000092', payer_gender => repeat('x', 17))$$);
SELECT momo_test.try_column($$SELECT momo_cash_transfer(0, 'EUR', NULL, originating_country => '1', payer_email => '@')$$);
\pset tuples_only off
\pset format aligned
SELECT count(*) - :payments_before AS written FROM momo_payments;

-- The originating details never change (here of a cash transfer not sent
-- yet, in a transaction rolled back); only a cash transfer has them.
BEGIN;
SELECT momo_cash_transfer(13, 'EUR', '46733000093', 'CT-3', originating_country => 'BE') AS ct3 \gset
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format($$UPDATE momo_payments SET extra_terms = '{"orginatingCountry": "DE"}' WHERE reference_id = %L$$, :'ct3'));
\pset tuples_only off
\pset format aligned
SELECT status, extra_terms FROM momo_payments WHERE reference_id = :'ct3';
ROLLBACK;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                  operation, product, extra_terms,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000c001', 'CT-bad', 1, 'EUR', '46733000001',
                               'transfer', 'remittance', '{}', '2026-01-01', '2026-01-01', '2026-01-01')$$);
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                  operation, product, api_version, extra_terms,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000c002', 'CT-bad', 1, 'EUR', '46733000001',
                               'cash_transfer', 'remittance', 1, '{}', '2026-01-01', '2026-01-01', '2026-01-01')$$);
-- Extra terms that repeat a member the row writes itself (the body would
-- carry "amount" twice, and a reader that takes the last one would pay
-- another amount to another payee than the row says), or that are no
-- object: refused on insert, by the table's owner too.
SELECT momo_test.try(format($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
                                                         operation, product, api_version, extra_terms)
                              VALUES ('7d1f9b8e-0000-4000-8000-00000000c003', 'CT-bad', 1, 'EUR', '46733000001',
                                      'cash_transfer', 'remittance', 2, %L)$$, t))
  FROM unnest(ARRAY['{"amount": "900000", "payee": {"partyIdType": "MSISDN", "partyId": "46733000666"}}',
                    '{"payerFirstName": "Jean", "externalId": "other"}', '["amount"]', '"amount"']) t;
\pset tuples_only off
\pset format aligned

ALTER SYSTEM RESET momo.remittance_subscription_key_primary;
ALTER SYSTEM RESET momo.remittance_api_user;
ALTER SYSTEM RESET momo.remittance_api_key;
SELECT momo_test.reload() AS reloaded;
