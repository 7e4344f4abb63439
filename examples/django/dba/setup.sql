-- What a DBA runs once, as a superuser, before the shop's first migration:
--     psql -v ON_ERROR_STOP=1 -f examples/django/dba/setup.sql
-- (on a cluster with momo preloaded and configured; README, "A Django application").
-- recipe: django-dba-setup
-- The application's role.  CREATEDB only for Django's test runner, which
-- creates test_shop as a copy of shop_template (below).
CREATE ROLE momo_shop LOGIN CREATEDB;

-- The template of the shop's databases: momo installed (CREATE EXTENSION needs
-- a superuser), the application's schema and grants.  `public`, where momo
-- goes, stays the DBA's in every copy, also in test_shop, which the
-- application role will own.
CREATE DATABASE shop_template;
\connect shop_template
ALTER SCHEMA public OWNER TO CURRENT_USER;
CREATE EXTENSION momo;
CREATE SCHEMA shop AUTHORIZATION momo_shop;
GRANT USAGE ON SCHEMA public TO momo_shop;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                          momo_payment_status(uuid),
                          momo_await(uuid, interval),
                          momo_changes(bigint, integer),
                          momo_normalize_msisdn(text, text),
                          momo_callback(text, text) TO momo_shop;
GRANT SELECT ON momo_payments TO momo_shop;
\connect postgres
ALTER DATABASE shop_template IS_TEMPLATE true ALLOW_CONNECTIONS false;

-- The shop's database, a copy: momo's worker serves it from this commit on.
CREATE DATABASE shop TEMPLATE shop_template;
-- end recipe
