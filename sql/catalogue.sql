--
-- catalogue: hostile and malformed input to every momo function and to the
-- settings an administrator writes.  Bad input gets an ERROR naming the field
-- (or PostgreSQL's own error before momo is reached), and leaves the payments
-- table exactly as it was; valid but unusual input (JSON metacharacters,
-- backslashes, unicode) is accepted and reaches MTN byte for byte.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- One valid payment whose texts are full of JSON and HTML metacharacters,
-- backslashes, an emoji, right-to-left marks and an SQL injection attempt.
-- It is committed, so the worker sends it.
SELECT momo_request_to_pay(12.50, 'EUR', '46733000120',
           external_id   => E'CAT-{"a":"b"}\\"</script>\\\\\'); DELETE FROM momo_payments; -- 😀\u200F',
           payer_message => E'{"a":"b"} \\" </script> \\\\ \\n \\u0041 😀 \u200Fمرحبا',
           payee_note    => E'note "quoted" & <b>bold</b> / \\') AS json_ref \gset
SELECT status, reason FROM momo_await(:'json_ref');

-- Before: nothing is in flight (so only these inputs could change the table),
-- and a fingerprint of every row; and how many exchanges the event log holds.
CREATE TEMP TABLE before AS
SELECT count(*) AS payments,
       count(*) FILTER (WHERE status IN ('queued', 'pending')) AS in_flight,
       md5(coalesce(string_agg(p::text, E'\n' ORDER BY p.reference_id), '')) AS checksum,
       (SELECT count(*) FROM momo_events) AS events
  FROM momo_payments p;
SELECT payments > 0 AS has_payments, in_flight FROM before;

-- Each statement is followed by its error: SQLSTATE, message, detail, hint.
\pset tuples_only on
\pset format unaligned

-- NULL in every position of every function, positional and named.
SELECT momo_test.try($$SELECT momo_request_to_pay(NULL, 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, NULL, '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', NULL)$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(NULL, NULL, NULL, NULL, NULL, NULL)$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(amount => NULL, currency => 'EUR', msisdn => '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(msisdn => '46733123456', currency => NULL, amount => 10)$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(currency => 'EUR', msisdn => NULL, amount => 10, payee_note => NULL)$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(amount => NULL::numeric, currency => NULL::text, msisdn => NULL::text)$$);
SELECT momo_test.try($$SELECT momo_payment_status(NULL)$$);
SELECT momo_test.try($$SELECT momo_payment_status(reference_id => NULL)$$);
SELECT momo_test.try($$SELECT momo_await(NULL)$$);
SELECT momo_test.try($$SELECT momo_await(NULL, '1 second')$$);
SELECT momo_test.try($$SELECT momo_await('00000000-0000-4000-8000-000000000000', NULL)$$);
SELECT momo_test.try($$SELECT momo_await(reference_id => NULL, timeout => NULL)$$);
SELECT momo_test.try($$SELECT momo_await(timeout => NULL, reference_id => '00000000-0000-4000-8000-000000000000')$$);
-- Required arguments left out, an argument that does not exist.
SELECT momo_test.try($$SELECT momo_request_to_pay(amount => 10, currency => 'EUR')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', payer => 'x')$$);

-- Quotes and backslashes.
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'E''R', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, E'EU\\', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'E"R', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733''123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', E'46733\\123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, 'it''s paid')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, 'l''addition')$$);

-- Control characters (CR, LF, TAB, 0x01, DEL) in every text argument.
SELECT momo_test.try($$SELECT momo_request_to_pay(10, E'EU\r', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, E'EU\n', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, E'EU\t', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, E'EU\x01', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, E'EU\x7f', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', E'46733123456\r')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', E'46733123456\n')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', E'46733\t123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', E'\x0146733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', E'46733123456\x7f')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', E'INV-1\r')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', E'INV-1\nX-Injected: 1')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', E'INV\t1')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', E'INV\x011')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', E'INV-1\x7f')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'Invoice 1\r')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'Invoice\n1')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'Invoice\t1')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'Invoice\x01')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'Invoice\x7f')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, E'\rShop')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, E'Shop\r\n\r\n{"amount":"1"}')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, E'Shop\t')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, E'Sh\x01op')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, E'\x7fShop')$$);
-- all three free texts at once: the first is the message, the others the detail
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', E'\t', E'\r\n', E'\x7f')$$);

-- Bytes that are not UTF-8, and NUL: PostgreSQL refuses them before momo runs.
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', convert_from('\xff'::bytea, 'UTF8'))$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'caf\xe9')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', convert_from('\xc0af'::bytea, 'UTF8'))$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, convert_from('\xeda080'::bytea, 'UTF8'))$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, chr(0))$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, E'a\u0000b')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, convert_from('\x4555d2'::bytea, 'UTF8'), '46733123456')$$);

-- Unicode where only ASCII fits: letters that are not A-Z, digits that are not 0-9.
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'ÉUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, E'EUR\u200F', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '４６７３３１２３４５６')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '٤٦٧٣٣١٢٣٤٥٦')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', E'\u200F46733123456')$$);
-- Direction overrides and Unicode line separators could disguise a message on the payer's screen.
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'\u202Eenilno yap')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'line\u2028break')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', E'INV\u0085')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456😀')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '+')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '4673+3123456')$$);

-- Huge values: an amount of 100,000 digits (the message quotes the amount in
-- full; shown here shortened), its negative, 16,383 decimals, more digits
-- than numeric holds, and texts of 1 MB.
SELECT regexp_replace(momo_test.try($$SELECT momo_request_to_pay(repeat('9', 100000)::numeric, 'EUR', '46733123456')$$),
                      '(\d{3})\d{14,}(\d{3})', '\1…\2');
SELECT regexp_replace(momo_test.try($$SELECT momo_request_to_pay(('-' || repeat('9', 100000))::numeric, 'EUR', '46733123456')$$),
                      '(\d{3})\d{14,}(\d{3})', '\1…\2');
SELECT momo_test.try($$SELECT momo_request_to_pay(('0.' || repeat('0', 16382) || '1')::numeric, 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay('1e131072', 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, repeat('E', 1048576), '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', repeat('4', 1048576))$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', repeat('x', 1048576))$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, repeat('m', 1048576))$$);
-- 1 MB of two-byte letters: counted in characters
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, repeat('é', 1048576))$$);

-- Amounts: negative zero, zero with decimals, minus infinity, a comma, and
-- 2 decimals in RWF in the sandbox (two problems at once).
SELECT momo_test.try($$SELECT momo_request_to_pay('-0', 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(' 0.00 ', 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay('-Infinity', 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay('1,5', 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10.25, 'RWF', '46733123456')$$);

-- Malformed reference ids (and an injection attempt through one).
SELECT momo_test.try($$SELECT momo_payment_status('not-a-uuid')$$);
SELECT momo_test.try($$SELECT momo_payment_status('')$$);
SELECT momo_test.try($$SELECT momo_payment_status('00000000-0000-4000-8000-00000000000')$$);
SELECT momo_test.try($$SELECT momo_payment_status(E'00000000-0000-4000-8000-000000000000\n')$$);
SELECT momo_test.try($$SELECT momo_payment_status('00000000-0000-4000-8000-000000000000''; DELETE FROM momo_payments; --')$$);
SELECT momo_test.try($$SELECT momo_await('00000000-0000-4000-8000-0000000000000')$$);
SELECT momo_test.try($$SELECT momo_await('g0000000-0000-4000-8000-000000000000', '1 second')$$);
-- forms PostgreSQL's uuid type accepts: they name no payment
SELECT momo_test.try($$SELECT momo_payment_status('{00000000-0000-4000-8000-000000000000}')$$);
SELECT momo_test.try($$SELECT momo_payment_status('00000000000040008000000000000000')$$);
SELECT momo_test.try($$SELECT momo_await('0000000000004000-8000-000000000000', '0')$$);

-- Timeouts of momo_await, on the final payment above (it returns at once
-- whatever the timeout, unless the timeout is refused).
SELECT momo_test.try(format($$SELECT momo_await(%L, '-1 second')$$, :'json_ref'));
SELECT momo_test.try(format($$SELECT momo_await(%L, '-178000000 years')$$, :'json_ref'));
SELECT momo_test.try(format($$SELECT momo_await(%L, '1 month -31 days')$$, :'json_ref'));
SELECT momo_test.try(format($$SELECT momo_await(%L, 'infinity')$$, :'json_ref'));
SELECT momo_test.try(format($$SELECT momo_await(%L, '-infinity')$$, :'json_ref'));
SELECT momo_test.try(format($$SELECT momo_await(%L, '1000000000 years')$$, :'json_ref'));
SELECT momo_test.try(format($$SELECT momo_await(%L, 'soon')$$, :'json_ref'));
SELECT momo_test.try(format($$SELECT momo_await(%L, '1000 years')$$, :'json_ref'));
SELECT momo_test.try(format($$SELECT momo_await(%L, '178000000 years')$$, :'json_ref'));
SELECT momo_test.try(format($$SELECT momo_await(%L, '1 month -30 days')$$, :'json_ref'));
SELECT momo_test.try(format($$SELECT momo_await(%L, 'P1000Y')$$, :'json_ref'));

\pset tuples_only off
\pset format aligned

-- After: the payments table is exactly as it was, and nothing was sent.
SELECT b.payments = a.payments AS same_count, b.checksum = a.checksum AS same_rows,
       b.events = (SELECT count(*) FROM momo_events) AS same_events
  FROM before b,
       (SELECT count(*) AS payments,
               md5(coalesce(string_agg(p::text, E'\n' ORDER BY p.reference_id), '')) AS checksum
          FROM momo_payments p) a;

-- Valid input, however unusual, is accepted.  In a transaction that rolls
-- back, so nothing is sent; each row shows what was stored (long texts
-- shortened, invisible characters as <U+XXXX>).
CREATE FUNCTION pg_temp.shown(t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    out text := '';
    c text;
BEGIN
    IF t IS NULL THEN
        RETURN NULL;
    END IF;
    IF length(t) > 70 THEN
        RETURN left(t, 3) || '… (' || length(t) || ' characters)';
    END IF;
    FOREACH c IN ARRAY regexp_split_to_array(t, '') LOOP
        out := out || CASE WHEN c ~ '[\u200b-\u200f\u2028-\u202e\u2066-\u2069]'
                           THEN '<U+' || upper(to_hex(ascii(c))) || '>' ELSE c END;
    END LOOP;
    RETURN out;
END
$$;
BEGIN;
CREATE TEMP TABLE accepted (label text PRIMARY KEY, amount numeric, msisdn text,
                            external_id text, payer_message text, payee_note text, ref uuid);
INSERT INTO accepted (label, amount, msisdn, external_id, payer_message, payee_note) VALUES
    ('amount with spaces',          '  10 ', '46733123456', NULL, NULL, NULL),
    ('amount +10',                  '+10', '46733123456', NULL, NULL, NULL),
    ('amount 1e1',                  '1e1', '46733123456', NULL, NULL, NULL),
    ('amount 10.000',               10.000, '46733123456', NULL, NULL, NULL),
    ('msisdn with +',               10, '+46733123456', NULL, NULL, NULL),
    ('msisdn as people write it',   10, '+46 (0)733-123.456', NULL, NULL, NULL),
    ('apostrophe in external_id',   10, '46733123456', 'O''Brien-42', NULL, NULL),
    ('backslashes',                 10, '46733123456', E'C:\\inv\\42', E'path \\ here', E'\\'),
    ('JSON',                        10, '46733123456', '{"a":"b"}', '{"a":"b"}', E'\\"'),
    ('HTML',                        10, '46733123456', '</script>', '<script>alert(1)</script>', '&amp; <b>'),
    ('SQL',                         10, '46733123456', '''); DELETE FROM momo_payments; --', '1; DROP TABLE x', '$$ $q$'),
    ('emoji',                       10, '46733123456', '😀', '😀 merci', '🇷🇼'),
    ('right-to-left',               10, '46733123456', E'\u200FINV-7', E'\u200Fشكرا', E'مرحبا \u200F'),
    ('160 emoji',                   10, '46733123456', NULL, repeat('😀', 160), NULL),
    ('128 two-byte letters',        10, '46733123456', repeat('é', 128), NULL, NULL),
    ('empty messages (omitted)',    10, '46733123456', NULL, '', '');
UPDATE accepted SET ref = momo_request_to_pay(amount, 'EUR', msisdn, external_id, payer_message, payee_note);
\x on
SELECT a.label, p.amount, p.msisdn,
       CASE WHEN p.external_id = p.reference_id::text THEN '(the reference id)'
            ELSE pg_temp.shown(p.external_id) END AS external_id,
       pg_temp.shown(p.payer_message) AS payer_message, pg_temp.shown(p.payee_note) AS payee_note,
       p.status,
       p.external_id IS NOT DISTINCT FROM coalesce(a.external_id, p.reference_id::text)
       AND p.payer_message IS NOT DISTINCT FROM nullif(a.payer_message, '')
       AND p.payee_note IS NOT DISTINCT FROM nullif(a.payee_note, '') AS stored_as_given
  FROM accepted a JOIN momo_payments p ON p.reference_id = a.ref
 ORDER BY a.label;
\x off
-- NULL where NULL is allowed, positional and named.
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, NULL)$$) AS positional,
       momo_test.try($$SELECT momo_request_to_pay(amount => 10, currency => 'EUR', msisdn => '46733123456',
                                                  external_id => NULL, payer_message => NULL, payee_note => NULL)$$) AS named,
       momo_test.try($$SELECT momo_request_to_pay(payee_note => NULL, msisdn => '46733123456', amount => 10, currency => 'EUR')$$) AS named_reordered;
SELECT count(*) AS queued_in_this_transaction FROM momo_payments WHERE status = 'queued';
ROLLBACK;
SELECT count(*) AS queued_after_rollback FROM momo_payments WHERE status = 'queued';

-- The committed payment: MTN (the sandbox) received exactly the stored
-- texts, so the JSON body was escaped correctly.
SELECT pg_temp.shown(s->>'externalId') AS mtn_external_id,
       pg_temp.shown(s->>'payerMessage') AS mtn_payer_message,
       pg_temp.shown(s->>'payeeNote') AS mtn_payee_note
  FROM momo_test.sandbox('payments/' || :'json_ref') s \gx
SELECT p.external_id = s->>'externalId' AS same_external_id,
       p.payer_message = s->>'payerMessage' AS same_payer_message,
       p.payee_note = s->>'payeeNote' AS same_payee_note,
       p.amount = (s->>'amount')::numeric AS same_amount,
       p.msisdn = s->>'msisdn' AS same_msisdn,
       (momo_test.seen(p.reference_id)->>'bad_requests')::int AS bad_requests
  FROM momo_payments p, momo_test.sandbox('payments/' || p.reference_id) s
 WHERE p.reference_id = :'json_ref';

-- Settings are checked when they are written: a CR or LF (header injection)
-- in a URL, a header value or a key is refused, naming the setting, and
-- nothing reaches postgresql.auto.conf.  (Secret values are not echoed.)
SELECT count(*) AS momo_lines_in_auto_conf FROM pg_file_settings
 WHERE name LIKE 'momo.%' AND sourcefile LIKE '%postgresql.auto.conf';
ALTER SYSTEM SET momo.base_url = E'https://localhost:18443\r\nX-Evil: 1';
ALTER SYSTEM SET momo.base_url = E'https://localhost:18443\r';
ALTER SYSTEM SET momo.callback_url = E'https://localhost/cb\r\nX-Evil: 1';
ALTER SYSTEM SET momo.callback_url = E'https://localhost/cb\nX-Evil: 1';
ALTER SYSTEM SET momo.target_environment = E'sandbox\r\nX-Evil: 1';
ALTER SYSTEM SET momo.target_environment = E'sandbox\n';
ALTER SYSTEM SET momo.environment = E'sandbox\r\n';
ALTER SYSTEM SET momo.api_user = E'5f9b2c7e-3c1a-4d2e-9f10-0a1b2c3d4e5f\r\nX-Evil: 1';
ALTER SYSTEM SET momo.subscription_key_primary = E'0b0b0b0b\r\nX-Evil: 1';
ALTER SYSTEM SET momo.subscription_key_secondary = E'0b0b0b0b\r\nX-Evil: 1';
ALTER SYSTEM SET momo.api_key = E'6a1b2c3d\r\nX-Evil: 1';
ALTER SYSTEM SET momo.api_key = E'6a1b2c3d\r';
-- the same for the other products' credentials and the callback secret
SELECT format('ALTER SYSTEM SET %s = %L', name, E'0b0b0b0b\r\nX-Evil: 1')
  FROM pg_settings
 WHERE name ~ '^momo\.(disbursement_|remittance_|callback_secret)' AND vartype = 'string'
 ORDER BY name \gexec
SELECT count(*) AS momo_lines_in_auto_conf FROM pg_file_settings
 WHERE name LIKE 'momo.%' AND sourcefile LIKE '%postgresql.auto.conf';
