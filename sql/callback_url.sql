--
-- callback_url: a payment may name its own callback URL (MTN takes one per
-- request), on the host of momo.callback_url -- the host MTN has registered
-- for the API user. momo still adds the reference id and its signature, so
-- the callback it brings is checked by momo_callback like any other. The
-- URL is one of the payment's terms: kept with the row, sent on every send,
-- compared by idempotency and never changed.
--
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA momo_test;   -- dropped with momo_test by setup
RESET client_min_messages;

ALTER SYSTEM SET momo.callback_secret = 'regression-callback-secret-0123456789';
ALTER SYSTEM SET momo.remittance_subscription_key_primary = '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b01';
ALTER SYSTEM SET momo.remittance_api_user = '5f9b2c7e-3c1a-4d2e-9f10-0a1b2c3d4e5f';
ALTER SYSTEM SET momo.remittance_api_key = '6a1b2c3d4e5f40718293a4b5c6d7e8f9';
SELECT momo_test.reload() AS reloaded;
SELECT current_setting('momo.callback_url') AS callback_url,
       current_setting('momo.callback_secret') <> '' AS secret_set;

-- The X-Callback-Url MTN (the sandbox) received for a payment, with the
-- reference id shown as <ref> and the signature checked (<sig> when it is
-- the HMAC of the reference id under momo.callback_secret).
CREATE FUNCTION momo_test.callback_sent(ref uuid) RETURNS text
LANGUAGE sql AS $$
    SELECT replace(replace(r->'headers'->>'X-Callback-Url', ref::text, '<ref>'),
                   encode(momo_test.hmac(ref::text, current_setting('momo.callback_secret'), 'sha256'), 'hex'),
                   '<sig>')
      FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
     WHERE r->>'method' = 'POST' AND r->'headers'->>'X-Reference-Id' = ref::text
     ORDER BY (r->>'seq')::bigint DESC LIMIT 1
$$;

-- A request to pay with its own URL (a query string of its own kept), and
-- one without: MTN is given the payment's URL, or momo.callback_url.
SELECT momo_request_to_pay(40, 'EUR', '46733000040', 'CBU-1',
                           callback_url => 'https://localhost/shop/orders/momo/?tenant=a') AS own \gset
SELECT momo_request_to_pay(41, 'EUR', '46733000041', 'CBU-2') AS plain \gset
SELECT v.n, p.callback_url, o.status, momo_test.callback_sent(v.ref) AS sent
  FROM (VALUES (1, :'own'::uuid), (2, :'plain'::uuid)) v(n, ref)
  JOIN momo_payments p ON p.reference_id = v.ref
  CROSS JOIN LATERAL momo_test.outcome(v.ref) o
 ORDER BY v.n;

-- MTN calls back at the payment's URL; the web endpoint hands its query
-- string to momo_callback, which checks the signature as for any other.
SELECT momo_test.sandbox('config', '{"early_callbacks": true, "early_callbacks_ms": 8000}') IS NOT NULL AS configured;
SELECT momo_request_to_pay(42, 'EUR', '46733123453', 'CBU-3',
                           callback_url => 'https://localhost/shop/pending/') AS called \gset
SELECT momo_test.wait_sent(:'called');
SELECT split_part(c->>'url', '?', 1) AS called_at
  FROM jsonb_array_elements(momo_test.sandbox('callbacks?referenceId=' || :'called')) c;
SELECT momo_test.callback(split_part(c->>'url', '?', 2), c->>'body') AS verdict
  FROM jsonb_array_elements(momo_test.sandbox('callbacks?referenceId=' || :'called')) c;
SELECT momo_test.sandbox('config', '{"early_callbacks": false}') IS NOT NULL AS configured;

-- Every function that requests a payment takes one, and so does every
-- version of the request.
SELECT momo_transfer(43, 'EUR', '46733000043', 'CBU-transfer', callback_url => 'https://localhost/out/1') AS r1 \gset
SELECT momo_deposit(44, 'EUR', '46733000044', 'CBU-deposit', version => 2, callback_url => 'https://localhost/out/2') AS r2 \gset
SELECT momo_remittance_transfer(45, 'EUR', '46733000045', 'CBU-remit', callback_url => 'https://localhost/out/3') AS r3 \gset
SELECT momo_request_to_withdraw(46, 'EUR', '46733000046', 'CBU-withdraw', version => 2, callback_url => 'https://localhost/in/4') AS r4 \gset
SELECT momo_cash_transfer(47, 'EUR', '46733000047', 'CBU-cash', originating_country => 'FR',
                          callback_url => 'https://localhost/out/5') AS r5 \gset
SELECT momo_refund(:'own', 10, 'CBU-refund', version => 2, callback_url => 'https://localhost/refunds/6') AS r6 \gset
SELECT v.n, p.operation, p.api_version, o.status, momo_test.callback_sent(v.ref) AS sent
  FROM (VALUES (1, :'r1'::uuid), (2, :'r2'::uuid), (3, :'r3'::uuid), (4, :'r4'::uuid),
               (5, :'r5'::uuid), (6, :'r6'::uuid)) v(n, ref)
  JOIN momo_payments p ON p.reference_id = v.ref
  CROSS JOIN LATERAL momo_test.outcome(v.ref) o
 ORDER BY v.n;

-- A term like the others: the same request gets the same payment, another
-- URL with the same key is refused, and the row's URL never changes.
SELECT momo_request_to_pay(40, 'EUR', '46733000040', 'CBU-1',
                           callback_url => 'https://localhost/shop/orders/momo/?tenant=a') = :'own' AS same_payment;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_request_to_pay(40, 'EUR', '46733000040', 'CBU-1',
                                                  callback_url => 'https://localhost/elsewhere/')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(40, 'EUR', '46733000040', 'CBU-1')$$);
SELECT momo_test.try(format('UPDATE momo_payments SET callback_url = NULL WHERE reference_id = %L', :'called'));
SELECT momo_test.try($$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, callback_url,
                                                  created_at, updated_at, next_check_at)
                       VALUES ('7d1f9b8e-0000-4000-8000-00000000d001', 'CBU-bad', 1, 'EUR', '46733000001',
                               'https://localhost/' || repeat('x', 1990), '2026-01-01', '2026-01-01', '2026-01-01')$$);

-- What is refused, each with its field and nothing written: another host
-- (MTN would refuse the payment: INVALID_CALLBACK_URL_HOST), not http(s),
-- spaces, control characters, non-ASCII, a fragment, momo's own
-- parameters, credentials, too long; several problems at once.
SELECT momo_test.try(format('SELECT momo_request_to_pay(1, %L, %L, %L, callback_url => %L)',
                            'EUR', '46733000001', 'CBU-bad', u))
  FROM unnest(ARRAY['https://evil.example/momo', 'https://LOCALHOST.evil.example/', 'ftp://localhost/x',
                    'localhost/momo', 'https://localhost/a b', E'https://localhost/a\r\nX-Evil: 1',
                    'https://localhost/café', 'https://localhost/momo#frag',
                    'https://localhost/momo?momo_ref=7d1f9b8e-0000-4000-8000-000000000000',
                    'https://localhost/momo?a=1&momo_sig', 'https://user:pw@localhost/momo', '',
                    'https://localhost:0/x', 'https://localhost:/x', 'https://localhost:99999/x',
                    'https://localhost/' || repeat('x', 2000)]) u;
SELECT momo_test.try($$SELECT momo_request_to_pay(-1, 'EUR', '46733000001', 'CBU-bad', callback_url => 'https://other.example/')$$);
SELECT count(*) AS written FROM momo_payments WHERE external_id = 'CBU-bad';
-- The host is compared case-insensitively, as DNS does.
SELECT momo_test.try($$SELECT momo_request_to_pay(1, 'EUR', '46733000001', 'CBU-case', callback_url => 'https://LocalHost/x')$$);

-- With no momo.callback_url there is no registered host to be on.
ALTER SYSTEM SET momo.callback_url = '';
SELECT momo_test.reload() AS reloaded;
SELECT momo_test.try($$SELECT momo_request_to_pay(1, 'EUR', '46733000001', 'CBU-bad', callback_url => 'https://localhost/x')$$);
ALTER SYSTEM RESET momo.callback_url;
\pset tuples_only off
\pset format aligned

-- A payment's own URL that MTN refuses (its host is not the one registered
-- for the API user: here momo.callback_url moved to another host while the
-- payment waited, as a DBA may move it) fails that payment; sending goes on,
-- unpaused.  (A red team found the product paused for every tenant, and
-- paused again at each resume, by one tenant's URL.)
ALTER SYSTEM SET momo.callback_url = 'https://shop.example/momo/callback';
SELECT momo_test.reload() AS reloaded;
SELECT momo_request_to_pay(48, 'EUR', '46733000048', 'CBU-refused',
                           callback_url => 'https://shop.example/own/') AS refused \gset
ALTER SYSTEM RESET momo.callback_url;
SELECT momo_test.reload() AS reloaded;
-- (Refused at its first send, it is asked about before the refusal stands,
-- as any refused send is: an earlier send might have arrived.)
SELECT momo_test.wait_for(format($$SELECT send_refused FROM momo_payments WHERE reference_id = %L$$, :'refused'))
       AS refusal_recorded;
SELECT status, reason FROM momo_payments WHERE reference_id = :'refused';
SELECT count(*) AS pauses FROM momo_pauses;
SELECT momo_request_to_pay(49, 'EUR', '46733000049', 'CBU-after') AS after \gset
SELECT status FROM momo_test.outcome(:'after');

-- The error names the argument for a form (PG_DIAG_COLUMN_NAME).
DO $$
DECLARE
    col text;
BEGIN
    PERFORM momo_request_to_pay(-1, 'EUR', '46733000001', 'CBU-bad', callback_url => 'https://other.example/');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS col = COLUMN_NAME;
    RAISE NOTICE 'column_name: %', col;
END
$$;

ALTER SYSTEM RESET momo.callback_secret;
ALTER SYSTEM RESET momo.remittance_subscription_key_primary;
ALTER SYSTEM RESET momo.remittance_api_user;
ALTER SYSTEM RESET momo.remittance_api_key;
SELECT momo_test.reload() AS reloaded;
DROP FUNCTION momo_test.callback_sent(uuid);
