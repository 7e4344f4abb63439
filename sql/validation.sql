--
-- validation: bad input gets a clear ERROR naming the field, with a proper
-- SQLSTATE, and leaves nothing queued.
--
SELECT count(*) AS payments_before FROM momo_payments;

-- Each line below the statement is its error: SQLSTATE, message, detail, hint.
\pset tuples_only on
\pset format unaligned

-- amount
SELECT momo_test.try($$SELECT momo_request_to_pay(0, 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(-10, 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay('NaN', 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay('Infinity', 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(NULL, 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10.005, 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(1e30, 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(100000000.01, 'EUR', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(0.001, 'EUR', '46733123456')$$);

-- currency
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EURO', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'E1R', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'eur', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, '', '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, NULL, '46733123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'RWF', '46733123456')$$);

-- msisdn
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '4673312345a')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46 733 123 456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '1234567')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '1234567890123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '0788123456')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', NULL)$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '++46733123456')$$);

-- external id and messages
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', '')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', repeat('x', 129))$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', E'INV\n42')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, repeat('m', 161))$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, repeat('n', 161))$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, 'Jean''s order')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, E'line\r\nX-Injected: 1')$$);
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, NULL, E'tab\there')$$);
-- 160 characters counted as characters, not bytes: 161 two-byte letters are too many
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456', NULL, repeat('é', 161))$$);

-- every problem at once: the first is the message, the rest the detail
SELECT momo_test.try($$SELECT momo_request_to_pay(-1, 'eur', 'abc', '', repeat('m', 200), 'it''s')$$);

\pset tuples_only off
\pset format aligned
SELECT count(*) AS payments_after FROM momo_payments;
