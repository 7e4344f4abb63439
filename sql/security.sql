--
-- security: nothing of momo is open to PUBLIC, an application role gets
-- exactly what README.md grants, and secrets stay hidden from it.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE momo_stranger;
CREATE ROLE momo_app;

-- No privilege on momo's objects is granted to PUBLIC.
SELECT p.proname, has_function_privilege('momo_stranger', p.oid, 'EXECUTE') AS stranger_can_execute
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'momo') AND d.deptype = 'e'
 ORDER BY 1;
SELECT has_table_privilege('momo_stranger', 'momo_payments', 'SELECT') AS stranger_can_select;

-- The grants README.md gives an application role.
GRANT USAGE ON SCHEMA public TO momo_app;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                          momo_payment_status(uuid),
                          momo_await(uuid, interval),
                          momo_changes(bigint, integer) TO momo_app;
GRANT SELECT ON momo_payments TO momo_app;

-- A stranger can do nothing.
SET ROLE momo_stranger;
SELECT momo_request_to_pay(10, 'EUR', '46733123456');
SELECT count(*) FROM momo_payments;
SELECT momo_payment_status('00000000-0000-4000-8000-000000000000');
RESET ROLE;

-- Secrets: invisible to every role but superusers.
SET ROLE momo_app;
SHOW momo.api_key;
SHOW momo.subscription_key_primary;
SHOW momo.subscription_key_secondary;
SELECT current_setting('momo.api_key');
SELECT current_setting('momo.api_key', true) IS NULL AS hidden;
SELECT name FROM pg_settings WHERE name LIKE 'momo.%' AND (name LIKE '%key%') ORDER BY 1;
SELECT count(*) AS file_settings_visible FROM pg_file_settings;
-- Settings that are not secrets are visible.
SHOW momo.environment;
SHOW momo.api_user;
RESET ROLE;

-- The application role requests, reads and follows payments ...
SET ROLE momo_app;
SELECT momo_request_to_pay(25, 'EUR', '46733000001', 'ROLE-1', 'From the app role') AS ref \gset
SELECT status, reason, financial_transaction_id IS NOT NULL AS has_ftid FROM momo_await(:'ref');
SELECT status FROM momo_payment_status(:'ref');
SELECT external_id, amount, status FROM momo_payments WHERE reference_id = :'ref';
-- ... but cannot forge, change or delete them.
INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn)
VALUES (gen_random_uuid(), 'FORGED', 1, 'EUR', '46733000001');
UPDATE momo_payments SET status = 'successful' WHERE reference_id = :'ref';
DELETE FROM momo_payments WHERE reference_id = :'ref';
RESET ROLE;

-- No column of the payments table holds a secret.
SELECT count(*) AS rows_holding_a_secret
  FROM momo_payments p
 WHERE p::text LIKE '%' || current_setting('momo.api_key') || '%'
    OR p::text LIKE '%' || current_setting('momo.subscription_key_primary') || '%';

-- Several tenants in one database: row-level security on requested_by (the
-- role that asked for each payment) shows each tenant only its own; the
-- SECURITY DEFINER functions respect what the caller may SELECT.
CREATE ROLE momo_tenants IN ROLE momo_app;
CREATE ROLE momo_tenant_a IN ROLE momo_tenants;
CREATE ROLE momo_tenant_b IN ROLE momo_tenants;
GRANT USAGE ON SCHEMA momo_test TO momo_app;          -- for momo_test.try only
GRANT EXECUTE ON FUNCTION momo_test.try(text) TO momo_app;
-- README.md's recipe, as printed:
-- recipe: rls
-- The DBA, as a superuser, once: each tenant sees only the payments it requested.
SET search_path = pg_catalog, pg_temp;
ALTER TABLE public.momo_payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_payments ON public.momo_payments FOR SELECT TO momo_tenants
    USING (requested_by = current_user);
RESET search_path;
-- end recipe
SET ROLE momo_tenant_a;
SELECT momo_request_to_pay(31, 'EUR', '46733000031', 'TENANT-A') AS a_ref \gset
SELECT external_id, requested_by FROM momo_payments;
SELECT status FROM momo_await(:'a_ref');
SET ROLE momo_tenant_b;
SELECT count(*) AS seen_by_b FROM momo_payments;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('SELECT momo_payment_status(%L)', :'a_ref'));
SELECT momo_test.try(format('SELECT momo_await(%L, %L)', :'a_ref', '1 second'));
-- Tenant B can neither refund A's payment (nor learn its amount from the
-- error), nor send A's payer a notification: for B it does not exist.
RESET ROLE;
GRANT EXECUTE ON FUNCTION momo_refund(uuid, numeric, text, text, text, integer, text),
                          momo_delivery_notification(uuid, text) TO momo_app;
SET ROLE momo_tenant_b;
SELECT momo_test.try(format('SELECT momo_refund(%L)', :'a_ref'));
SELECT momo_test.try(format('SELECT momo_refund(%L, 1000000)', :'a_ref'));
SELECT momo_test.try(format('SELECT momo_delivery_notification(%L, %L)', :'a_ref', 'Hello from B'));
\pset tuples_only off
\pset format aligned
RESET ROLE;
SELECT requested_by, status FROM momo_payments WHERE reference_id = :'a_ref';
SELECT count(*) AS refunds_of_a FROM momo_payments WHERE refund_of = :'a_ref';
SELECT count(*) AS notifications_to_a_payer FROM momo_events
 WHERE reference_id = :'a_ref' AND operation = 'delivery_notification';
-- A SECURITY DEFINER function of tenant B, called by tenant A, acts for B:
-- momo's functions act for whoever is the current user when they are called
-- (here the function's owner), not for the session's role.
RESET ROLE;
GRANT EXECUTE ON FUNCTION momo_payment_status(uuid) TO momo_app;
CREATE FUNCTION momo_test.b_helper(ref uuid) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN momo_test.try(pg_catalog.format('SELECT public.momo_payment_status(%L)', ref));
END $$;
ALTER FUNCTION momo_test.b_helper(uuid) OWNER TO momo_tenant_b;
GRANT EXECUTE ON FUNCTION momo_test.b_helper(uuid) TO momo_tenant_a;
SET ROLE momo_tenant_a;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.b_helper(:'a_ref');
\pset tuples_only off
\pset format aligned
RESET ROLE;
DROP FUNCTION momo_test.b_helper(uuid);
REVOKE ALL ON FUNCTION momo_refund(uuid, numeric, text, text, text, integer, text),
                       momo_delivery_notification(uuid, text) FROM momo_app;
-- momo_stats granted to a tenant (the README says not to): the view is
-- security_invoker, so it reads momo's tables and views as the tenant, who
-- may read none behind its figures but momo_payments (under the policy):
-- refused, rather than showing every tenant's figures.
GRANT SELECT ON momo_stats TO momo_app;
SET ROLE momo_tenant_b;
SELECT metric, label, value FROM momo_stats WHERE metric = 'payments';
SELECT value FROM momo_stats WHERE metric = 'queue_depth';
RESET ROLE;
REVOKE SELECT ON momo_stats FROM momo_app;
-- A role that may SELECT some columns only is refused: momo shows whole rows.
CREATE ROLE momo_columns_only IN ROLE momo_tenants;
GRANT SELECT (reference_id, status) ON momo_payments TO momo_columns_only;
REVOKE SELECT ON momo_payments FROM momo_app;
SET ROLE momo_columns_only;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('SELECT momo_payment_status(%L)', :'a_ref'));
SELECT momo_test.try(format('SELECT momo_await(%L, %L)', :'a_ref', '1 second'));
\pset tuples_only off
\pset format aligned
-- So are momo_refund and momo_delivery_notification, on a successful payment
-- it requested itself and whose permitted columns it sees: nothing is sent.
RESET ROLE;
GRANT EXECUTE ON FUNCTION momo_refund(uuid, numeric, text, text, text, integer, text),
                          momo_delivery_notification(uuid, text) TO momo_columns_only;
SET ROLE momo_columns_only;
SELECT momo_request_to_pay(33, 'EUR', '46733000033', 'COLUMNS-ONLY') AS c_ref \gset
RESET ROLE;
SELECT status FROM momo_await(:'c_ref');
SET ROLE momo_columns_only;
SELECT status FROM momo_payments WHERE reference_id = :'c_ref';
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('SELECT momo_refund(%L)', :'c_ref'));
SELECT momo_test.try(format('SELECT momo_delivery_notification(%L, %L)', :'c_ref', 'Hello from a column'));
\pset tuples_only off
\pset format aligned
RESET ROLE;
SELECT count(*) AS refunds_of_c FROM momo_payments WHERE refund_of = :'c_ref';
SELECT count(*) AS notifications_to_c_payer FROM momo_events
 WHERE reference_id = :'c_ref' AND operation = 'delivery_notification';
REVOKE ALL ON FUNCTION momo_refund(uuid, numeric, text, text, text, integer, text),
                       momo_delivery_notification(uuid, text) FROM momo_columns_only;
GRANT SELECT ON momo_payments TO momo_app;
REVOKE ALL ON momo_payments FROM momo_columns_only;
DROP ROLE momo_columns_only;
DROP POLICY own_payments ON momo_payments;
ALTER TABLE momo_payments DISABLE ROW LEVEL SECURITY;
DROP ROLE momo_tenant_a;
DROP ROLE momo_tenant_b;
DROP ROLE momo_tenants;
REVOKE ALL ON FUNCTION momo_test.try(text) FROM momo_app;
REVOKE ALL ON SCHEMA momo_test FROM momo_app;

REVOKE ALL ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                       momo_payment_status(uuid), momo_await(uuid, interval),
                       momo_changes(bigint, integer) FROM momo_app;
REVOKE ALL ON momo_payments FROM momo_app;
REVOKE ALL ON SCHEMA public FROM momo_app;
DROP ROLE momo_app;
DROP ROLE momo_stranger;

-- momo_preflight never pastes a name into SQL. The attack: a role that owns
-- the schema momo was installed in (here in a throwaway database) renames it
-- to SQL that calls a function of its own, and waits for a superuser to run
-- momo_preflight(). The attacker's function counts its calls in a sequence,
-- which no rollback undoes (as the COPY ... TO PROGRAM of a real attack).
SET client_min_messages = warning;
DROP DATABASE IF EXISTS momo_attack WITH (FORCE);
DROP ROLE IF EXISTS momo_schema_owner;
RESET client_min_messages;
CREATE ROLE momo_schema_owner;
CREATE DATABASE momo_attack;
GRANT CREATE ON DATABASE momo_attack TO momo_schema_owner;
\c momo_attack
-- momo refuses to go into a schema an ordinary role controls ...
CREATE SCHEMA shop AUTHORIZATION momo_schema_owner;
\set VERBOSITY terse
CREATE EXTENSION momo SCHEMA shop;
\set VERBOSITY default
-- ... so here the DBA gives the schema away after installing, and
-- momo_preflight() says so (check "schema") -- without running the attack.
ALTER SCHEMA shop OWNER TO CURRENT_USER;
CREATE EXTENSION momo SCHEMA shop;
ALTER SCHEMA shop OWNER TO momo_schema_owner;
SET ROLE momo_schema_owner;
CREATE SCHEMA m;
CREATE SEQUENCE m.calls;
CREATE FUNCTION m.pwn() RETURNS boolean LANGUAGE sql
AS $$ SELECT pg_catalog.nextval('m.calls') > 0 $$;
ALTER SCHEMA shop RENAME TO "'::text IS NULL OR m.pwn() --";
RESET ROLE;
-- The superuser runs the checklist: every check answers, the two that read
-- the catalogue about momo's tables among them ...
SELECT check_name, ok FROM "'::text IS NULL OR m.pwn() --".momo_preflight()
 WHERE check_name IN ('payments in pg_dump', 'secrets closed to PUBLIC', 'schema');
SELECT count(*) AS checks FROM "'::text IS NULL OR m.pwn() --".momo_preflight();
-- While an ordinary role owns the schema, momo's functions refuse to act
-- (that role could swap another schema in under the name:
-- t/060_schema_control.pl) ...
\set VERBOSITY terse
SELECT "'::text IS NULL OR m.pwn() --".momo_payment_status('00000000-0000-4000-8000-000000000000');
\set VERBOSITY default
-- ... so the DBA takes the schema back, under the attacker's name, and then
-- they answer: so do the functions whose statements name momo's tables from the
-- schema's name (quoted as an identifier, then as a literal for regclass):
-- a payment (written by the DBA: momo does not serve this database), with
-- its change recorded by the feed's trigger; the feed (which only a worker
-- numbers, and none serves this database: it has nothing to show yet); a
-- status; the caller's view of every payment (asked by
-- momo_approved_preapprovals).  (The worker's own statements are run under
-- such a name by t/008_trust.pl.)
ALTER SCHEMA "'::text IS NULL OR m.pwn() --" OWNER TO CURRENT_USER;
\set VERBOSITY terse
INSERT INTO "'::text IS NULL OR m.pwn() --".momo_payments (reference_id, external_id, amount, currency, msisdn)
VALUES (gen_random_uuid(), 'RENAMED', 12, 'EUR', '46733000012') RETURNING reference_id AS renamed_ref \gset
SELECT count(*) AS changes_recorded FROM "'::text IS NULL OR m.pwn() --".momo_payment_changes;
SELECT external_id, status FROM "'::text IS NULL OR m.pwn() --".momo_changes(0, 10);
SELECT external_id, status FROM "'::text IS NULL OR m.pwn() --".momo_payment_status(:'renamed_ref');
SELECT "'::text IS NULL OR m.pwn() --".momo_payment_status('00000000-0000-4000-8000-000000000000');
SELECT count(*) >= 0 AS answered FROM "'::text IS NULL OR m.pwn() --".momo_approved_preapprovals('46733000012');
\set VERBOSITY default
-- ... and the attacker's function never ran.
SELECT is_called AS attacker_function_ran FROM m.calls;
-- (Dropping momo here warns that it discards the payment above, which is
-- not final: MTN might still collect it, and one requested again after
-- CREATE EXTENSION would be another.)
BEGIN;
DROP EXTENSION momo;
ROLLBACK;
-- So does dropping its schema with CASCADE, which drops momo with it.
SET client_min_messages = warning;
BEGIN;
DROP SCHEMA "'::text IS NULL OR m.pwn() --" CASCADE;
ROLLBACK;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE momo_attack WITH (FORCE);
DROP ROLE momo_schema_owner;

-- Default privileges of the installing role grant none of momo's objects to
-- anyone: a red team's role, granted ALL ON TABLES and EXECUTE ON FUNCTIONS
-- by ALTER DEFAULT PRIVILEGES, wrote a payout into momo_payments (which
-- the worker sent) and called momo_transfer.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS momo_defaults WITH (FORCE);
DROP ROLE IF EXISTS momo_default_grantee;
RESET client_min_messages;
CREATE ROLE momo_default_grantee;
CREATE DATABASE momo_defaults;
\c momo_defaults
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO momo_default_grantee;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO momo_default_grantee;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO momo_default_grantee;
CREATE EXTENSION momo;
SELECT count(*) FILTER (WHERE a.grantee = 'momo_default_grantee'::regrole) AS granted_to_the_role,
       count(*) FILTER (WHERE a.grantee = 0) AS granted_to_public
  FROM pg_depend d
  JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
  CROSS JOIN LATERAL aclexplode(c.relacl) a
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'momo') AND d.deptype = 'e';
SELECT count(*) FILTER (WHERE a.grantee = 'momo_default_grantee'::regrole) AS functions_granted_to_the_role,
       count(*) FILTER (WHERE a.grantee = 0) AS functions_granted_to_public
  FROM pg_depend d
  JOIN pg_proc p ON p.oid = d.objid AND d.classid = 'pg_proc'::regclass
  CROSS JOIN LATERAL aclexplode(p.proacl) a
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'momo') AND d.deptype = 'e';
SET ROLE momo_default_grantee;
\set VERBOSITY terse
INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn)
VALUES (gen_random_uuid(), 'DEFAULTS', 5000, 'EUR', '46733000001');
SELECT momo_transfer(7000, 'EUR', '46733000001', 'DEFAULTS');
RESET ROLE;
-- Nor does a role that may write every table (pg_write_all_data), or any
-- other role given a write privilege: only momo writes payments (its
-- functions and worker act as momo_worker; a superuser may).  A red team's
-- such role queued a payout that the worker sent, and marked a queued
-- payment successful that MTN never had.
SET client_min_messages = warning;
DROP ROLE IF EXISTS momo_all_writer;
RESET client_min_messages;
CREATE ROLE momo_all_writer;
GRANT pg_write_all_data, pg_read_all_data TO momo_all_writer;
INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn)
VALUES ('00000000-0000-4000-8000-00000000beef', 'QUEUED', 10, 'EUR', '46733000001');
SET ROLE momo_all_writer;
INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn)
VALUES (gen_random_uuid(), 'WRITER', 5000, 'EUR', '46733000001');
UPDATE momo_payments SET status = 'successful', completed_at = now()
 WHERE reference_id = '00000000-0000-4000-8000-00000000beef';
DELETE FROM momo_payments WHERE reference_id = '00000000-0000-4000-8000-00000000beef';
RESET ROLE;
-- ... nor any other table momo writes: not the audit trail, the change feed,
-- the counters or the pauses, and not by TRUNCATE either (granted here).
SELECT momo_pause('the DBA keeps payouts paused', 'disbursement') IS NOT NULL AS paused;
GRANT TRUNCATE ON momo_payments, momo_events TO momo_all_writer;
SET ROLE momo_all_writer;
INSERT INTO momo_events (reference_id, product, operation, http_status, outcome)
VALUES ('00000000-0000-4000-8000-00000000beef', 'collection', 'status', 200, 'successful');
UPDATE momo_payment_changes SET status = 'successful';
DELETE FROM momo_payment_counts;
DELETE FROM momo_pauses;
TRUNCATE momo_payments;
TRUNCATE momo_events;
-- ... nor MTN's fees, which the worker writes into every successful payment.
INSERT INTO momo_fee_schedule (currency, free_up_to, percent) VALUES ('XAF', 0, 100);
RESET ROLE;
-- ... and not with session_replication_role = replica, which skips triggers
-- of the default kind (momo's row guard among them): a red team's role,
-- granted SET on it, wrote a payout that the worker sent, lifted a pause
-- and set a fee.  The writer guards fire ALWAYS.
GRANT SET ON PARAMETER session_replication_role TO momo_all_writer;
SET ROLE momo_all_writer;
SET session_replication_role = replica;
INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, operation, product)
VALUES (gen_random_uuid(), 'REPLICA', 5000, 'EUR', '46733000001', 'transfer', 'disbursement');
UPDATE momo_payments SET status = 'successful', completed_at = now()
 WHERE reference_id = '00000000-0000-4000-8000-00000000beef';
DELETE FROM momo_pauses;
INSERT INTO momo_fee_schedule (currency, free_up_to, percent) VALUES ('XAF', 0, 100);
RESET session_replication_role;
RESET ROLE;
REVOKE SET ON PARAMETER session_replication_role FROM momo_all_writer;
SELECT product FROM momo_pauses;
SELECT count(*) AS fee_rows_of_xaf FROM momo_fee_schedule WHERE currency = 'XAF';
\set VERBOSITY default
SELECT external_id FROM momo_payments ORDER BY 1;
\c contrib_regression
DROP DATABASE momo_defaults WITH (FORCE);
DROP ROLE momo_default_grantee;
-- momo's own functions refuse to run with session_replication_role =
-- replica, where their triggers (the row guard, the change feed, the
-- counters) would not fire.
\set VERBOSITY terse
SET session_replication_role = replica;
SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'REPLICA');
RESET session_replication_role;
-- A member of momo_worker could SET ROLE to it and write as momo, or change
-- momo's triggers as their owner (in PostgreSQL 15 any role with CREATEROLE
-- may grant it): momo refuses to act while momo_worker has members.
GRANT momo_worker TO momo_all_writer;
SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'MEMBER');
-- Nor may a role with momo_worker's rights change momo's tables as their
-- owner (an event trigger refuses its DDL): a red team's member disabled
-- their guards for a moment, granted itself INSERT, and left a function
-- momo's statements trusted, then revoked its membership; the worker sent
-- the payouts it wrote.
SET ROLE momo_all_writer;
ALTER TABLE momo_payments DISABLE TRIGGER USER;
GRANT INSERT ON momo_payments TO momo_all_writer;
SET ROLE momo_worker;
CREATE FUNCTION pg_temp.door() RETURNS void LANGUAGE sql AS 'SELECT';
COMMENT ON TABLE momo_payments IS 'mine';
RESET ROLE;
REVOKE momo_worker FROM momo_all_writer;
SELECT count(*) AS guards_enabled FROM pg_trigger
 WHERE tgrelid = 'momo_payments'::regclass AND tgname IN ('momo_payments_guard', 'momo_writer_guard')
   AND tgenabled IN ('O', 'A');
-- Nor does a session that became momo_worker by SET ROLE (a superuser's
-- here, or a member's, which may outlive its membership) write momo's
-- tables: only momo's own code acting as momo_worker does.
SET ROLE momo_worker;
INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, operation, product)
VALUES (gen_random_uuid(), 'SET_ROLE', 5000, 'EUR', '46733000001', 'transfer', 'disbursement');
DELETE FROM momo_pauses;
RESET ROLE;
-- An application's BEFORE ROW trigger on momo's tables would run after
-- momo's guard checked the row, and could change it (a red team's turned a
-- payout of 10 into 1,000 to another payee): momo refuses to act while one
-- is there, whoever owns it.  (AFTER triggers, as the invoice recipe's, it
-- allows under the rules of the README's "Security model".)
CREATE FUNCTION public.momo_regress_before_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$BEGIN RETURN NEW; END$$;
ALTER FUNCTION public.momo_regress_before_row() OWNER TO momo_all_writer;
CREATE TRIGGER zz_rewrite BEFORE INSERT OR UPDATE ON momo_payments
    FOR EACH ROW EXECUTE FUNCTION public.momo_regress_before_row();
SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'BEFORE_ROW');
DROP TRIGGER zz_rewrite ON momo_payments;
DROP FUNCTION public.momo_regress_before_row();
-- A data-only pg_restore --disable-triggers ends with ALTER TABLE ...
-- ENABLE TRIGGER ALL, which makes momo's ALWAYS triggers fire in origin
-- mode only: its writer guards would no longer fire under
-- session_replication_role = replica.  momo refuses to act until they do
-- again (and says how), on momo_fee_schedule too.
ALTER TABLE momo_payment_changes ENABLE TRIGGER ALL;
ALTER TABLE momo_fee_schedule ENABLE TRIGGER ALL;
SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'TRIGGERS_ALL');
SELECT check_name, detail FROM momo_preflight() WHERE NOT ok AND check_name NOT IN ('worker', 'callback signing');
ALTER TABLE momo_payment_changes ENABLE ALWAYS TRIGGER momo_writer_guard;
ALTER TABLE momo_fee_schedule ENABLE ALWAYS TRIGGER momo_writer_guard;
-- Nor does momo act while one of its triggers is gone (only a superuser can
-- drop one): the writer guard of its feed's numbering, the guard of a
-- payment's terms.
BEGIN;
DROP TRIGGER momo_writer_guard ON momo_change_numbering;
DROP TRIGGER momo_payments_guard ON momo_payments;
SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'TRIGGER_GONE');
ROLLBACK;
BEGIN;
DROP TRIGGER momo_pauses_truncate ON momo_pauses;
SELECT check_name, detail FROM momo_preflight() WHERE NOT ok AND check_name NOT IN ('worker', 'callback signing');
ROLLBACK;
-- Nor while one is there under its name but not as momo made it: a writer
-- guard re-created AFTER the writes it should stop, the terms guard
-- re-created for fewer events.
BEGIN;
DROP TRIGGER momo_writer_guard ON momo_payment_counts;
CREATE TRIGGER momo_writer_guard AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON momo_payment_counts
    FOR EACH STATEMENT EXECUTE FUNCTION momo_writer_guard();
ALTER TABLE momo_payment_counts ENABLE ALWAYS TRIGGER momo_writer_guard;
DROP TRIGGER momo_payments_guard ON momo_payments;
CREATE TRIGGER momo_payments_guard BEFORE INSERT OR DELETE ON momo_payments
    FOR EACH ROW EXECUTE FUNCTION momo_payments_guard();
SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'TRIGGER_GONE');
ROLLBACK;
\set VERBOSITY default
SELECT count(*) AS requested FROM momo_payments WHERE external_id IN ('REPLICA', 'MEMBER', 'SET_ROLE', 'BEFORE_ROW', 'TRIGGERS_ALL', 'TRIGGER_GONE');
DROP ROLE momo_all_writer;
