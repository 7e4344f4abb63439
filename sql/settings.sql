--
-- settings: what momo reads, and how configuration mistakes are reported
-- (at the first call, naming the setting, with a hint).
--
\set SHOW_CONTEXT never

SELECT name, context, vartype, unit
  FROM pg_settings WHERE name LIKE 'momo.%' ORDER BY name;

-- (the sandbox's URL, whatever port the test environment gave it, is kept
-- for later)
SELECT current_setting('momo.base_url') AS sandbox_url \gset
SELECT current_setting('momo.environment') AS environment,
       :'sandbox_url' ~ '^https://localhost:[0-9]+$' AS base_url_is_the_local_sandbox,
       current_setting('momo.target_environment') AS target_environment,
       current_setting('momo.databases') AS databases;

-- Secrets are readable by superusers (this session), without printing them here.
SELECT current_setting('momo.api_key') <> '' AS api_key_set,
       current_setting('momo.subscription_key_primary') <> '' AS primary_key_set;

-- From here on, each statement's result (mostly an error: SQLSTATE, message,
-- detail, hint) follows it unadorned.
\pset tuples_only on
\pset format unaligned

-- No setting can be changed per session, role or database: they would be
-- readable or forgeable by whoever holds them.
SELECT momo_test.try($$SET momo.api_key = 'stolen'$$);
SELECT momo_test.try($$SET momo.base_url = 'http://attacker.example'$$);
SELECT momo_test.try($$SET momo.ca_file = '/tmp/evil.pem'$$);
SELECT momo_test.try($$ALTER ROLE CURRENT_USER SET momo.api_key = 'x'$$);
SELECT momo_test.try($$ALTER DATABASE contrib_regression SET momo.subscription_key_primary = 'x'$$);

-- Values are checked when they are set.
ALTER SYSTEM SET momo.base_url = 'ftp://example.com';
ALTER SYSTEM SET momo.callback_url = E'https://example.com/cb\r\nX-Evil: 1';
ALTER SYSTEM SET momo.environment = 'staging';
ALTER SYSTEM SET momo.api_user = 'has space';

-- :reload applies postgresql.auto.conf; the session picks it up when the
-- statement (which sleeps while the postmaster signals everyone) ends.
\set reload 'SELECT momo_test.reload() AS reloaded;'

-- Missing credentials.
ALTER SYSTEM SET momo.api_key = '';
:reload
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456')$$);
ALTER SYSTEM RESET momo.api_key;
ALTER SYSTEM SET momo.subscription_key_primary = '';
:reload
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456')$$);
ALTER SYSTEM RESET momo.subscription_key_primary;
ALTER SYSTEM SET momo.api_user = 'not-a-uuid';
:reload
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'EUR', '46733123456')$$);
ALTER SYSTEM RESET momo.api_user;

-- Production needs its own target environment, an https callback on a domain name.
ALTER SYSTEM SET momo.environment = 'production';
:reload
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'RWF', '250788123456')$$);
ALTER SYSTEM SET momo.target_environment = '';
:reload
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'RWF', '250788123456')$$);
ALTER SYSTEM SET momo.target_environment = 'mtnrwanda';
ALTER SYSTEM SET momo.callback_url = 'http://shop.example.rw/momo/callback';
:reload
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'RWF', '250788123456')$$);
ALTER SYSTEM SET momo.callback_url = 'https://192.0.2.10/momo/callback';
:reload
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'RWF', '250788123456')$$);
ALTER SYSTEM SET momo.callback_url = '';
:reload
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'RWF', '250788123456')$$);
ALTER SYSTEM SET momo.base_url = 'http://localhost:18080';
ALTER SYSTEM SET momo.callback_url = 'https://shop.example.rw/momo/callback';
:reload
SELECT momo_test.try($$SELECT momo_request_to_pay(10, 'RWF', '250788123456')$$);
-- In production RWF is fine, and whole francs only.
ALTER SYSTEM SET momo.base_url = :'sandbox_url';
:reload
BEGIN;
SELECT momo_test.try($$SELECT momo_request_to_pay(10.5, 'RWF', '250788123456')$$);
ROLLBACK;
BEGIN;
SELECT momo_test.try($$SELECT momo_request_to_pay(5000, 'RWF', '250788123456') IS NOT NULL AS accepted_for_queueing$$);
ROLLBACK;
-- Production has no Provisioning API.
SELECT momo_test.try($$SELECT momo_sandbox_provision('shop.example.rw')$$);
-- The Go Live preflight of this production configuration: what is not ready yet.
SELECT check_name || ': ' || detail FROM momo_preflight() WHERE NOT ok ORDER BY 1;

-- Back to the test configuration.
ALTER SYSTEM RESET momo.environment;
ALTER SYSTEM RESET momo.target_environment;
ALTER SYSTEM RESET momo.callback_url;
ALTER SYSTEM RESET momo.base_url;
:reload
SELECT current_setting('momo.base_url') = :'sandbox_url' AS base_url_restored,
       current_setting('momo.target_environment') AS target_environment;

SELECT count(*) AS payments FROM momo_payments;
