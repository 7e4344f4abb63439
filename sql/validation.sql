--
-- validation: bad input gets a clear ERROR naming the field, with a proper
-- SQLSTATE, and leaves nothing queued.  The error's column name
-- (PG_DIAG_COLUMN_NAME, psycopg2's diag.column_name) is the argument it is
-- about; where several are wrong, all of them, comma-separated, in argument
-- order.
--
SELECT count(*) AS payments_before FROM momo_payments;

-- Like momo_test.try, and the error's column name, as an application reads it.
CREATE FUNCTION momo_test.try_column(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    column_name text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS column_name = COLUMN_NAME;
    -- momo_test.try raises it again, in a subtransaction of its own.
    RETURN momo_test.try(statement) || E'\n  COLUMN: ' || coalesce(nullif(column_name, ''), '(none)');
END
$$;

-- Each line below the statement is its error: SQLSTATE, message, detail,
-- hint, and column name.
\pset tuples_only on
\pset format unaligned

-- amount
SELECT momo_test.try_column($$SELECT momo_request_to_pay(0, 'EUR', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(-10, 'EUR', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay('NaN', 'EUR', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay('Infinity', 'EUR', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(NULL, 'EUR', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10.005, 'EUR', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(1e30, 'EUR', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(100000000.01, 'EUR', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(0.001, 'EUR', '46733123456')$$);

-- currency
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EURO', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'E1R', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'eur', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, '', '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, NULL, '46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'RWF', '46733123456')$$);

-- msisdn (the phone-number forms: test "msisdn")
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '4673312345a')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46 733 123 456 ext 12')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '1234567')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '1234567890123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '0788123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', NULL)$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '++46733123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733+123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '+0788123456')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '2507881234')$$);

-- external id and messages
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', '')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', repeat('x', 129))$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', E'INV\n42')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, repeat('m', 161))$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, repeat('n', 161))$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, 'Jean''s order')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'line\r\nX-Injected: 1')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, E'tab\there')$$);
-- 160 characters counted as characters, not bytes: 161 two-byte letters are too many
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, repeat('é', 161))$$);

-- every problem at once: the first is the message, the rest the detail; the
-- column name lists every wrong argument
SELECT momo_test.try_column($$SELECT momo_request_to_pay(-1, 'eur', 'abc', '', repeat('m', 200), 'it''s')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '0788 123', NULL, NULL, E'a\tb')$$);
SELECT momo_test.try_column($$SELECT momo_transfer(10.555, 'XYZ', '+250 788 12')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_active('07', 'savings')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('abc', '999')$$);

-- the other functions' arguments, and the errors that depend on settings or data
SELECT momo_test.try_column($$SELECT momo_account_holder_info(NULL)$$);
SELECT momo_test.try_column($$SELECT momo_balance(NULL)$$);
SELECT momo_test.try_column($$SELECT momo_balance('savings')$$);
SELECT momo_test.try_column($$SELECT momo_balance('collection', 'euro')$$);
SELECT momo_test.try_column($$SELECT momo_balance(NULL, 'EUR')$$);
SELECT momo_test.try_column($$SELECT momo_delivery_notification(gen_random_uuid(), 'hi', 'english')$$);
SELECT momo_test.try_column($$SELECT momo_await(NULL)$$);
SELECT momo_test.try_column($$SELECT momo_await(gen_random_uuid(), '-1 second')$$);
SELECT momo_test.try_column($$SELECT momo_payment_status(NULL)$$);
SELECT momo_test.try_column($$SELECT momo_refund(NULL)$$);
SELECT momo_test.try_column($$SELECT momo_delivery_notification(gen_random_uuid(), '')$$);
SELECT momo_test.try_column($$SELECT momo_delivery_notification(gen_random_uuid(), NULL)$$);
SELECT momo_test.try_column($$SELECT momo_sandbox_provision('https://shop.example.rw/')$$);
SELECT momo_test.try_column($$SELECT momo_callback(NULL, '{}')$$);
SELECT momo_test.try_column($$SELECT momo_fee(NULL)$$);
SELECT momo_test.try_column($$SELECT momo_fee(10, NULL)$$);
SELECT momo_test.try_column($$SELECT momo_fee(-1, 'RWF')$$);
SELECT momo_test.try_column($$SELECT momo_fee(10, 'XYZ')$$);
-- Invisible characters that only hide something on the payer's screen: a
-- byte order mark, a word joiner, a zero-width space.  (Direction marks and
-- joiners are text: catalogue sends them.)
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'\uFEFF')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'pay\u2060me')$$);
SELECT momo_test.try_column($$SELECT momo_create_invoice(10, 'EUR', '46733123456', description => E'a\u200Bb')$$);
-- A language code with a line break is not echoed as one.
SELECT momo_test.try_column($$SELECT momo_delivery_notification(gen_random_uuid(), 'hi', E'en\r\nX: y')$$);

\pset tuples_only off
\pset format aligned
SELECT count(*) AS payments_after FROM momo_payments;
