--
-- msisdn: phone numbers as people write them.  Spaces, dashes, dots,
-- parentheses, a leading + or 00, a trunk 0 and "(0)" are normalised to what
-- MTN wants (country code and national number, digits only); a number
-- without country code is of momo.msisdn_country (by default the country of
-- momo.target_environment; none in the sandbox); a national number of the
-- wrong length for its country is refused, naming the field, with a hint.
--
\set SHOW_CONTEXT never

-- The forms people write, for Rwanda (trunk 0, 9 digits), Uganda (trunk 0,
-- 9 digits) and Ivory Coast (no trunk prefix: its 10-digit numbers start
-- with 0).
SELECT c.country, w.written, momo_normalize_msisdn(w.written, c.country) AS msisdn
  FROM (VALUES ('250', ARRAY['0788 123 456', '0788-123-456', '0788.123.456', '(0788) 123 456',
                             '788123456', '250788123456', '+250 788 123 456', '+250788123456',
                             '00250 788 123 456', '+250 (0)788 123 456', '(+250) 788-123-456']),
               ('256', ARRAY['0772 123 456', '0772-123-456', '0772.123.456', '(0772) 123456',
                             '772123456', '256772123456', '+256 772 123 456', '00256772123456',
                             '+256 (0)772 123 456']),
               ('225', ARRAY['05 01 23 45 67', '05-01-23-45-67', '05.01.23.45.67', '0501234567',
                             '2250501234567', '+225 05 01 23 45 67', '00225 0501234567'])) c(country, forms),
       unnest(c.forms) WITH ORDINALITY w(written, n)
 ORDER BY c.country DESC, w.n;

-- One number of every market in the table, written locally and with +.
SELECT m.country, m.local_form, momo_normalize_msisdn(m.local_form, m.country) AS from_local,
       momo_normalize_msisdn('+' || m.country || ' ' || m.local_form, m.country) AS from_plus
  FROM (VALUES ('250', '0788 123 456'), ('256', '0772 123 456'), ('233', '024 123 4567'),
               ('225', '05 01 23 45 67'), ('260', '096 123 4567'), ('237', '6 71 23 45 67'),
               ('229', '01 96 12 34 56'), ('242', '06 123 4567'), ('268', '7612 3456'),
               ('224', '661 23 45 67'), ('27', '083 123 4567'), ('231', '088 612 3456')) m(country, local_form);

-- A number with the country code of another market is that market's,
-- whatever the country of local numbers; a number of a country not in the
-- table keeps E.164's bounds (8 to 15 digits).
SELECT momo_normalize_msisdn('256772123456', '250') AS uganda_from_rwanda,
       momo_normalize_msisdn('+256 772 123 456', '250') AS uganda_with_plus,
       momo_normalize_msisdn('+46 (0)733 123 456', '250') AS sweden_with_trunk,
       momo_normalize_msisdn('+1 (415) 555-0100', '250') AS usa,
       momo_normalize_msisdn(NULL, '250') AS null_is_null;

-- The sandbox's test numbers (../shared/momo-api/README.md) are taken as
-- they are with the sandbox's default (no country of local numbers); with a
-- market as the country of local numbers they are numbers of another
-- country, which need their + (or 00): bare, they are refused (as a local
-- number with a digit too many is, instead of going abroad).
WITH test_numbers(msisdn) AS (
    SELECT '467331234' || lpad(g::text, 2, '0') FROM generate_series(50, 64) g
    UNION ALL SELECT '56733123453'
)
SELECT count(*) AS test_numbers,
       count(*) FILTER (WHERE momo_normalize_msisdn(t.msisdn) = t.msisdn) AS unchanged_by_default,
       count(*) FILTER (WHERE (SELECT bool_and(momo_normalize_msisdn('+' || t.msisdn, c) = t.msisdn)
                                 FROM unnest(ARRAY['250', '256', '233', '225', '260', '237', '229',
                                                   '242', '268', '224', '27', '231']) c)) AS with_plus_in_every_market
  FROM test_numbers t;

-- Refused: SQLSTATE, message, detail, hint, column name.
\pset tuples_only on
\pset format unaligned
-- too short, too long, letters: Rwanda
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('0788 123 45', '250')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('78812345', '250')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('+250 788 123 4567', '250')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('0788 123 4567', '250')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('0788 12E 456', '250')$$);
-- Uganda
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('0772 12345', '256')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('256 772 123 4567', '256')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('0772 ABC 456', '256')$$);
-- Ivory Coast: its numbers of 8 digits became 10 in 2021
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('01 23 45 67', '225')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('+225 01 23 45 67', '225')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('05 01 23 45 67 8', '225')$$);
-- a local number typed with a digit too many, without its trunk 0: refused
-- as too long, not read as a number of another country (788 123 4567 would
-- have gone to country code 7, a Ghanaian 24 123 45678 to Gabon, 241)
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('788 123 4567', '250')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('772 123 4567', '256')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('24 123 45678', '233')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('83 123 45678', '27')$$);
-- ... while a number of another country with its + or 00 is taken
\pset tuples_only off
\pset format aligned
SELECT momo_normalize_msisdn('+7 788 123 4567', '250') AS plus, momo_normalize_msisdn('007 788 123 4567', '250') AS double_zero;
\pset tuples_only on
\pset format unaligned
-- another market's number, written with its country code: that market's length
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('+256 772 123', '250')$$);
-- +1 and +7 numbers have one length, with + or 00 too; and "(0)" right after
-- the + leaves no country code (a red team's '+(0)788123456', meant as a
-- Rwandan number, went to country code 7)
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('+(0)788123456', '250')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('+788123456', '250')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('00 1 415 555 010')$$);
-- no country code, and no country of local numbers
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('0788 123 456')$$);
-- bare digits, and no country of local numbers (the sandbox's default): a
-- length that no number of the country code they begin with has is
-- refused, where momo knows that country's lengths (MTN's markets, +1 and
-- +7: 11 digits in all); 788123456, a Rwandan number without its 0, is no
-- number of +7
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('788123456')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('788 123 4567')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('7 788 123 45678')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('1 415 555 010')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('25078812345')$$);
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '788123456')$$);
-- ... and taken with a length of theirs (the sandbox's test numbers too)
\pset tuples_only off
\pset format aligned
SELECT momo_normalize_msisdn('7 788 123 4567') AS russia_kazakhstan,
       momo_normalize_msisdn('1 415 555 0100') AS nanp,
       momo_normalize_msisdn('250 788 123 456') AS rwanda,
       momo_normalize_msisdn('46733123450') AS sandbox_test_number,
       momo_normalize_msisdn('56733123453') AS sandbox_test_number_2;
\pset tuples_only on
\pset format unaligned
-- a country that is not one of MTN's markets, or not a calling code (the
-- number, which lacks only its country code, is not wrong too)
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('0788 123 456', '44')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('0788 123 456', 'RW')$$);
SELECT momo_test.try_column($$SELECT momo_normalize_msisdn('788123456', '44')$$);

-- The payment functions normalise the same way, and refuse the same way:
-- nothing is written.
SELECT count(*) AS payments_before FROM momo_payments \gset
SELECT momo_test.try_column($$SELECT momo_request_to_pay(10, 'EUR', '0788 123 456')$$);
SELECT momo_test.try_column($$SELECT momo_transfer(10, 'EUR', '+250 788 123 45')$$);
SELECT momo_test.try_column($$SELECT momo_deposit(10, 'EUR', '+250 788 123 45')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_active('+250 788 123 45')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_info('+250 788 123 45')$$);
SELECT count(*) = :payments_before AS nothing_written FROM momo_payments;
\pset tuples_only off
\pset format aligned

-- The setting: empty by default, and nothing in the sandbox.
SELECT current_setting('momo.msisdn_country') AS msisdn_country,
       current_setting('momo.target_environment') AS target_environment;
-- Only a market's calling code, or nothing.
ALTER SYSTEM SET momo.msisdn_country = '44';
ALTER SYSTEM SET momo.msisdn_country = 'RW';
\set reload 'SELECT momo_test.reload() AS reloaded;'

-- By default, the country of momo.target_environment ...
ALTER SYSTEM SET momo.target_environment = 'mtnuganda';
:reload
SELECT momo_normalize_msisdn('0772 123 456') AS uganda_by_default,
       momo_normalize_msisdn('0788 123 456', '250') AS rwanda_when_asked;
-- ... unless momo.msisdn_country says otherwise.
ALTER SYSTEM SET momo.msisdn_country = '250';
:reload
SELECT momo_normalize_msisdn('0788 123 456') AS rwanda_by_setting;
ALTER SYSTEM RESET momo.target_environment;
:reload

-- Every function that takes an msisdn uses it: the number reaches the table
-- and MTN as country code and national number (the local sandbox answers
-- basicuserinfo with the locale of the number's country code).
BEGIN;
SELECT momo_request_to_pay(10, 'EUR', '0788 123 456', 'MSISDN-1') AS r1 \gset
SELECT momo_transfer(10, 'EUR', '(0788) 123-456', 'MSISDN-2') AS r2 \gset
SELECT momo_deposit(10, 'EUR', '+250 788 123 456', 'MSISDN-3') AS r3 \gset
SELECT operation, msisdn FROM momo_payments
 WHERE reference_id IN (:'r1', :'r2', :'r3') ORDER BY external_id;
-- The same payment, asked again with the number written otherwise: the
-- idempotency key finds it.
SELECT momo_request_to_pay(10, 'EUR', '250788123456', 'MSISDN-1') = :'r1' AS same_payment;
ROLLBACK;
SELECT momo_account_holder_active('0788 123 456') AS active;
SELECT locale FROM momo_account_holder_info('0788 123 456');
SELECT locale FROM momo_account_holder_info('+256 772 123 456');

ALTER SYSTEM RESET momo.msisdn_country;
:reload
SELECT current_setting('momo.msisdn_country') AS msisdn_country;
