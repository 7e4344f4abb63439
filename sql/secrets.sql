--
-- secrets: what an application role holding exactly README.md's grants can
-- learn of momo's secrets and settings, and what it can do to payments.
-- Everything the role sees is recorded and compared, inside SQL, with the
-- secret values, so no secret is ever printed here.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- A role of this file's own (left behind only by an interrupted run).
SET client_min_messages = warning;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'momo_secrets_app') THEN
        EXECUTE 'DROP OWNED BY momo_secrets_app';
        DROP ROLE momo_secrets_app;
    END IF;
END
$$;
RESET client_min_messages;

CREATE ROLE momo_secrets_app;
-- Exactly the grants README.md gives an application role.
GRANT USAGE ON SCHEMA public TO momo_secrets_app;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                          momo_payment_status(uuid),
                          momo_await(uuid, interval),
                          momo_changes(bigint, integer) TO momo_secrets_app;
GRANT SELECT ON momo_payments TO momo_secrets_app;

-- The secret settings: every momo setting that holds a key or a secret.
-- Their names are no secret; the role may read this list.
CREATE TEMP TABLE secret_names AS
SELECT name FROM pg_settings WHERE name LIKE 'momo.%' AND name ~ '(key|secret)';
GRANT SELECT ON secret_names TO momo_secrets_app;
SELECT name AS secret_setting FROM secret_names ORDER BY name;

-- Their values (never printed): the configured ones, and the wrong ones this
-- file configures for a while (random, so not printed either).
SELECT md5(random()::text) AS wrong_primary, md5(random()::text) AS wrong_secondary,
       md5(random()::text) AS wrong_api_key \gset
CREATE TEMP TABLE secrets (name text, value text);
INSERT INTO secrets SELECT name, current_setting(name) FROM secret_names WHERE current_setting(name) <> '';
INSERT INTO secrets VALUES ('wrong primary key', :'wrong_primary'),
                           ('wrong secondary key', :'wrong_secondary'),
                           ('wrong api key', :'wrong_api_key');
SELECT name AS configured, length(value) >= 16 AS long_enough_to_find
  FROM secrets WHERE name LIKE 'momo.%' ORDER BY name;

-- pg_temp.look(statement) runs a statement as the current role and records
-- every row it returns, or its error (message, detail, hint and context),
-- in the table seen, which the role may write but not the secrets.
-- pg_temp.report() then prints, as the superuser, what was seen with any
-- secret value masked (and reference ids, the curl timing, the temporary
-- schema's number).
CREATE TEMP TABLE seen (n int, statement text, output text, context text,
                        shown boolean, printed boolean DEFAULT false);
GRANT SELECT, INSERT ON seen TO momo_secrets_app;
CREATE TEMP TABLE visible_to_role (name text);
GRANT INSERT ON visible_to_role TO momo_secrets_app;

CREATE FUNCTION pg_temp.look(stmt text, show_it boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    nrows int := 0;
    result text := '';
    state text;
    msg text;
    det text;
    hnt text;
    ctx text;
BEGIN
    BEGIN
        IF stmt ~* '^\s*(SELECT|SHOW|EXPLAIN|TABLE|WITH)\M' THEN
            FOR r IN EXECUTE stmt LOOP
                result := result || r::text || E'\n';
                nrows := nrows + 1;
            END LOOP;
            result := result || '(' || nrows || CASE nrows WHEN 1 THEN ' row)' ELSE ' rows)' END;
        ELSE
            EXECUTE stmt;
            result := 'done';
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
                                ctx = PG_EXCEPTION_CONTEXT;
        result := state || ': ' || msg
                  || coalesce(E'\nDETAIL: ' || nullif(det, ''), '')
                  || coalesce(E'\nHINT: ' || nullif(hnt, ''), '');
    END;
    INSERT INTO pg_temp.seen (n, statement, output, context, shown)
    SELECT count(*) + 1, stmt, result, ctx, show_it FROM pg_temp.seen;
END
$$;

CREATE FUNCTION pg_temp.mask(t text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    s record;
BEGIN
    FOR s IN SELECT name, value FROM pg_temp.secrets WHERE value <> '' LOOP
        t := replace(t, s.value, '<SECRET ' || s.name || '>');
    END LOOP;
    t := regexp_replace(t, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g');
    t := regexp_replace(t, 'after [0-9]+ ms', 'after N ms', 'g');
    RETURN regexp_replace(t, 'pg_temp_[0-9]+', 'pg_temp', 'g');
END
$$;

CREATE FUNCTION pg_temp.report() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    s record;
BEGIN
    FOR s IN SELECT * FROM pg_temp.seen WHERE shown AND NOT printed ORDER BY n LOOP
        RETURN NEXT '> ' || s.statement || E'\n  ' || replace(pg_temp.mask(s.output), E'\n', E'\n  ');
    END LOOP;
    UPDATE pg_temp.seen SET printed = true WHERE NOT printed;
END
$$;

-- A payment the role requests, that MTN keeps pending (CREATED) so that
-- momo_payment_status has to ask MTN for it below.
SET ROLE momo_secrets_app;
SELECT momo_request_to_pay(3, 'EUR', '46733123454', 'SEC-pending', 'Secrets test') AS pending_ref \gset
RESET ROLE;
SELECT momo_test.wait_sent(:'pending_ref') AS status;
SELECT set_config('secrets_test.pending_ref', :'pending_ref', false) IS NOT NULL AS ref_set;
-- The worker's process id, for the role to look it up in pg_stat_activity.
SELECT set_config('secrets_test.worker_pid', pid::text, false) IS NOT NULL AS worker_found
  FROM pg_stat_activity WHERE backend_type = 'momo worker';

-- From here on, pg_temp.report() prints each statement the role ran (>) and
-- what it got.
\pset tuples_only on
\pset format unaligned

-- 1. Secrets are not readable: SHOW, current_setting (with and without
-- missing_ok), pg_settings, pg_file_settings, the configuration files and
-- the server's environment, EXPLAIN, pg_stat_activity.
SET ROLE momo_secrets_app;
DO $$
DECLARE
    name text;
BEGIN
    FOR name IN SELECT s.name FROM pg_temp.secret_names s ORDER BY 1 LOOP
        PERFORM pg_temp.look('SHOW ' || name);
    END LOOP;
    PERFORM pg_temp.look($q$SHOW MOMO.API_KEY$q$);
    FOR name IN SELECT s.name FROM pg_temp.secret_names s ORDER BY 1 LOOP
        PERFORM pg_temp.look(format('SELECT current_setting(%L)', name));
        PERFORM pg_temp.look(format('SELECT current_setting(%L, true)', name));
    END LOOP;
    PERFORM pg_temp.look($q$SELECT current_setting('Momo.Api_Key', true)$q$);
    PERFORM pg_temp.look($q$SELECT * FROM pg_settings WHERE name IN (SELECT name FROM pg_temp.secret_names)$q$);
    PERFORM pg_temp.look($q$INSERT INTO pg_temp.visible_to_role SELECT name FROM pg_settings WHERE name LIKE 'momo.%'$q$, false);
    PERFORM pg_temp.look($q$SELECT * FROM pg_settings$q$, false);
    PERFORM pg_temp.look($q$SHOW ALL$q$, false);
    PERFORM pg_temp.look($q$SELECT count(*) FROM pg_file_settings$q$);
    PERFORM pg_temp.look($q$SELECT * FROM pg_show_all_file_settings()$q$);
    PERFORM pg_temp.look($q$SELECT pg_read_file('postgresql.conf')$q$);
    PERFORM pg_temp.look($q$SELECT pg_read_file('postgresql.auto.conf')$q$);
    PERFORM pg_temp.look($q$SELECT pg_read_file('/proc/self/environ')$q$);
    PERFORM pg_temp.look($q$EXPLAIN (VERBOSE) SELECT current_setting('momo.api_key')$q$);
    PERFORM pg_temp.look($q$EXPLAIN ANALYZE SELECT current_setting('momo.api_key')$q$);
    PERFORM pg_temp.look($q$EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT current_setting('momo.api_key', true)$q$);
    PERFORM pg_temp.look($q$SELECT backend_type, query FROM pg_stat_activity WHERE pid = current_setting('secrets_test.worker_pid')::int$q$);
    PERFORM pg_temp.look($q$SELECT * FROM pg_stat_activity$q$, false);
END
$$;
RESET ROLE;
SELECT pg_temp.report();
-- The momo settings that pg_settings hides from the role are exactly the
-- secret ones.
SELECT (SELECT array_agg(name ORDER BY name) FROM pg_settings
         WHERE name LIKE 'momo.%' AND name NOT IN (SELECT name FROM visible_to_role))
       = (SELECT array_agg(name ORDER BY name) FROM secret_names) AS hidden_are_the_secrets;

-- 2. No setting can be changed by the role: not for its session, not for
-- itself, not for the database.
SET ROLE momo_secrets_app;
DO $$
DECLARE
    name text;
BEGIN
    PERFORM pg_temp.look($q$SET momo.base_url = 'http://attacker.example'$q$);
    PERFORM pg_temp.look($q$SET LOCAL momo.base_url = 'http://attacker.example'$q$);
    PERFORM pg_temp.look($q$SET momo.ca_file = '/tmp/evil.pem'$q$);
    PERFORM pg_temp.look($q$SET momo.environment = 'production'$q$);
    PERFORM pg_temp.look($q$SELECT set_config('momo.base_url', 'http://attacker.example', false)$q$);
    PERFORM pg_temp.look($q$SELECT set_config('momo.ca_file', '/tmp/evil.pem', true)$q$);
    PERFORM pg_temp.look($q$SELECT set_config('momo.environment', 'sandbox', false)$q$);
    PERFORM pg_temp.look($q$SET momo.api_key = 'stolen'$q$);
    PERFORM pg_temp.look($q$SELECT set_config('momo.api_key', 'stolen', true)$q$);
    PERFORM pg_temp.look($q$RESET momo.api_key$q$);
    PERFORM pg_temp.look($q$SET momo.api_key TO DEFAULT$q$);
    PERFORM pg_temp.look($q$SET momo.not_a_setting = 'x'$q$);
    FOR name IN SELECT s.name FROM pg_temp.secret_names s ORDER BY 1 LOOP
        PERFORM pg_temp.look(format('ALTER ROLE CURRENT_USER SET %s = %L', name, 'x'));
    END LOOP;
    PERFORM pg_temp.look($q$ALTER ROLE CURRENT_USER SET momo.base_url = 'http://attacker.example'$q$);
    PERFORM pg_temp.look(format('ALTER ROLE CURRENT_USER IN DATABASE %I SET momo.ca_file = %L', current_database(), '/tmp/evil.pem'));
    PERFORM pg_temp.look(format('ALTER DATABASE %I SET momo.api_key = %L', current_database(), 'x'));
    PERFORM pg_temp.look($q$SELECT pg_reload_conf()$q$);
END
$$;
RESET ROLE;
SELECT pg_temp.report();
-- ALTER SYSTEM cannot run in a function.
SET ROLE momo_secrets_app;
ALTER SYSTEM SET momo.base_url = 'http://attacker.example';
ALTER SYSTEM SET momo.api_key = 'stolen';
RESET ROLE;
-- Not even a superuser can set a secret per role or per database.
-- (Each refusal is "55P02: parameter "<setting>" cannot be changed now".)
\pset tuples_only off
\pset format aligned
SELECT name,
       left(alter_role, 5) AS alter_role,
       left(alter_role_all_in_db, 5) AS alter_role_all_in_db,
       left(alter_database, 5) AS alter_database,
       ARRAY[alter_role, alter_role_all_in_db, alter_database]
         <@ ARRAY['55P02: parameter "' || name || '" cannot be changed now'] AS names_the_setting
  FROM (SELECT name,
               momo_test.try(format('ALTER ROLE momo_secrets_app SET %s = %L', name, 'x')) AS alter_role,
               momo_test.try(format('ALTER ROLE ALL IN DATABASE %I SET %s = %L', current_database(), name, 'x')) AS alter_role_all_in_db,
               momo_test.try(format('ALTER DATABASE %I SET %s = %L', current_database(), name, 'x')) AS alter_database
          FROM secret_names) AS t
 ORDER BY name;
-- Nothing was stored per role or database.
SELECT count(*) AS momo_role_or_database_settings
  FROM pg_db_role_setting, unnest(setconfig) AS c WHERE c ILIKE 'momo.%';

-- 3. The role has what it was granted and nothing else.
SELECT pg_describe_object(d.classid, d.objid, 0) AS object,
       CASE d.classid
           WHEN 'pg_proc'::regclass THEN
               CASE WHEN has_function_privilege('momo_secrets_app', d.objid, 'EXECUTE') THEN 'EXECUTE' ELSE '' END
           WHEN 'pg_class'::regclass THEN
               coalesce((SELECT string_agg(priv, ',' ORDER BY o)
                           FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'])
                                WITH ORDINALITY AS x(priv, o)
                          WHERE has_table_privilege('momo_secrets_app', d.objid, priv)), '')
       END AS role_may,
       CASE WHEN d.classid = 'pg_class'::regclass THEN
           coalesce((SELECT string_agg(priv, ',' ORDER BY o)
                       FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) WITH ORDINALITY AS x(priv, o)
                      WHERE has_any_column_privilege('momo_secrets_app', d.objid, priv)), '')
       END AS on_some_column
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'momo')
   AND d.deptype = 'e'
 ORDER BY 1;
\pset tuples_only on
\pset format unaligned
SET ROLE momo_secrets_app;
DO $$
BEGIN
    PERFORM pg_temp.look($q$SELECT count(*) > 0 AS can_read FROM momo_payments$q$);
    PERFORM pg_temp.look($q$INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn) VALUES (gen_random_uuid(), 'SEC-forged', 1, 'EUR', '46733000001')$q$);
    PERFORM pg_temp.look($q$UPDATE momo_payments SET status = 'failed' WHERE external_id = 'SEC-pending'$q$);
    PERFORM pg_temp.look($q$DELETE FROM momo_payments WHERE external_id = 'SEC-pending'$q$);
    PERFORM pg_temp.look($q$TRUNCATE momo_payments$q$);
    PERFORM pg_temp.look($q$SELECT status FROM momo_payments WHERE external_id = 'SEC-pending' FOR UPDATE$q$);
    PERFORM pg_temp.look($q$SELECT status FROM momo_payments WHERE external_id = 'SEC-pending' FOR NO KEY UPDATE$q$);
    PERFORM pg_temp.look($q$SELECT status FROM momo_payments WHERE external_id = 'SEC-pending' FOR SHARE$q$);
    PERFORM pg_temp.look($q$SELECT status FROM momo_payments WHERE external_id = 'SEC-pending' FOR KEY SHARE$q$);
    PERFORM pg_temp.look($q$LOCK TABLE momo_payments IN EXCLUSIVE MODE$q$);
    PERFORM pg_temp.look($q$SELECT momo_payments_guard()$q$);
    PERFORM pg_temp.look($q$SELECT momo_payments_notify()$q$);
    PERFORM pg_temp.look($q$CREATE TRIGGER sneaky BEFORE UPDATE ON momo_payments FOR EACH ROW EXECUTE FUNCTION momo_payments_guard()$q$);
    PERFORM pg_temp.look($q$ALTER TABLE momo_payments DISABLE TRIGGER momo_payments_guard$q$);
    PERFORM pg_temp.look($q$ALTER FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text) SECURITY INVOKER$q$);
    PERFORM pg_temp.look($q$CREATE OR REPLACE FUNCTION momo_await(uuid, interval) RETURNS momo_payments LANGUAGE sql AS 'SELECT NULL::momo_payments'$q$);
    PERFORM pg_temp.look($q$CREATE TABLE public.sneaky (ref uuid REFERENCES momo_payments)$q$);
    PERFORM pg_temp.look($q$DROP EXTENSION momo$q$);
    PERFORM pg_temp.look($q$SELECT count(*) FROM pg_temp.secrets$q$);
END
$$;
RESET ROLE;
SELECT pg_temp.report();

-- 4. Errors the role provokes name settings and fields, never a value: bad
-- input, unknown payments, then each configuration mistake.
SET ROLE momo_secrets_app;
DO $$
BEGIN
    PERFORM pg_temp.look($q$SELECT momo_request_to_pay(-1, 'eur', 'abc', '', repeat('m', 200), 'it''s')$q$);
    PERFORM pg_temp.look($q$SELECT momo_request_to_pay(10.5, 'RWF', '46733123456')$q$);
    PERFORM pg_temp.look($q$SELECT momo_payment_status('00000000-0000-4000-8000-000000000000')$q$);
    PERFORM pg_temp.look($q$SELECT momo_await('00000000-0000-4000-8000-000000000000', '0')$q$);
    PERFORM pg_temp.look($q$SELECT status, reason FROM momo_payment_status(current_setting('secrets_test.pending_ref')::uuid)$q$);
END
$$;
RESET ROLE;

-- :reload applies postgresql.auto.conf; this session picks it up when the
-- statement (which sleeps while the postmaster signals everyone) ends.
\set reload 'SELECT momo_test.reload() AS reloaded;'
-- :request is a request the role makes; its amount is bad too, so nothing
-- is queued should the configuration be fine after all.
\set request 'SET ROLE momo_secrets_app; DO $$ BEGIN PERFORM pg_temp.look($q$SELECT momo_request_to_pay(-1, ''EUR'', ''46733123456'')$q$); END $$; RESET ROLE;'
-- :status is the role asking MTN for the pending payment.
\set status 'SET ROLE momo_secrets_app; DO $$ BEGIN PERFORM pg_temp.look($q$SELECT status FROM momo_payment_status(current_setting(''secrets_test.pending_ref'')::uuid)$q$); END $$; RESET ROLE;'
SELECT count(*) AS momo_lines_in_auto_conf FROM pg_file_settings
 WHERE name LIKE 'momo.%' AND sourcefile LIKE '%postgresql.auto.conf';
ALTER SYSTEM SET momo.api_key = '';
:reload
:request
ALTER SYSTEM RESET momo.api_key;
ALTER SYSTEM SET momo.subscription_key_primary = '';
:reload
:request
ALTER SYSTEM RESET momo.subscription_key_primary;
ALTER SYSTEM SET momo.api_user = 'not-a-uuid';
:reload
:request
ALTER SYSTEM RESET momo.api_user;
ALTER SYSTEM SET momo.environment = 'production';
:reload
:request
ALTER SYSTEM RESET momo.environment;
ALTER SYSTEM SET momo.ca_file = '/nonexistent/ca.pem';
:reload
:request
ALTER SYSTEM RESET momo.ca_file;

-- Credentials MTN refuses, and an MTN that cannot be reached, while the role
-- asks for the pending payment's status.  Meanwhile this session listens at
-- debug2 (as any role may), in case a reload announced a new value to it.
SET client_min_messages = debug2;
ALTER SYSTEM SET momo.api_key = :'wrong_api_key';
:reload
:status
ALTER SYSTEM RESET momo.api_key;
ALTER SYSTEM SET momo.subscription_key_primary = :'wrong_primary';
ALTER SYSTEM SET momo.subscription_key_secondary = :'wrong_secondary';
:reload
:status
ALTER SYSTEM RESET momo.subscription_key_primary;
ALTER SYSTEM RESET momo.subscription_key_secondary;
ALTER SYSTEM SET momo.base_url = 'https://127.0.0.1:1';
:reload
:status
ALTER SYSTEM RESET momo.base_url;
:reload
RESET client_min_messages;
SELECT pg_temp.report();

-- The configuration is whole again: nothing of momo is left in
-- postgresql.auto.conf, and MTN answers the role's status check.
SELECT count(*) AS momo_lines_in_auto_conf FROM pg_file_settings
 WHERE name LIKE 'momo.%' AND sourcefile LIKE '%postgresql.auto.conf';
SET ROLE momo_secrets_app;
SELECT status FROM momo_payment_status(:'pending_ref');
RESET ROLE;

-- 5. After all of it: nothing the role saw holds a secret (nor the Basic
-- credentials momo sends for a token), no backend's query text does, no
-- row of the payments table does (last_error and reason included), and no
-- row of the event log.
INSERT INTO secrets
SELECT name || ' (Basic credentials)',
       replace(encode(convert_to(current_setting('momo.api_user') || ':' || value, 'UTF8'), 'base64'), E'\n', '')
  FROM secrets WHERE name IN ('momo.api_key', 'wrong api key');
\pset tuples_only off
\pset format aligned
SELECT count(*) AS statements_seen,
       count(*) FILTER (WHERE EXISTS (SELECT FROM secrets s
                                       WHERE strpos(seen.output || coalesce(seen.context, ''), s.value) > 0)) AS holding_a_secret
  FROM seen;
SELECT count(*) AS backends_showing_a_secret
  FROM pg_stat_activity a, secrets s WHERE strpos(a.query, s.value) > 0;
SELECT count(*) > 0 AS has_payments,
       count(*) FILTER (WHERE EXISTS (SELECT FROM secrets s WHERE strpos(p::text, s.value) > 0)) AS rows_holding_a_secret,
       count(*) FILTER (WHERE EXISTS (SELECT FROM secrets s WHERE strpos(p.last_error, s.value) > 0)) AS in_last_error,
       count(*) FILTER (WHERE EXISTS (SELECT FROM secrets s WHERE strpos(p.reason, s.value) > 0)) AS in_reason
  FROM momo_payments p;
SELECT count(*) > 0 AS has_events,
       count(*) FILTER (WHERE EXISTS (SELECT FROM secrets s WHERE strpos(e::text, s.value) > 0)) AS events_holding_a_secret
  FROM momo_events e;

DROP OWNED BY momo_secrets_app;
DROP ROLE momo_secrets_app;
