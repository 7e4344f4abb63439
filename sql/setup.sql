--
-- setup: install momo and wait until its worker serves this database.
--
-- Start clean, even in a database an earlier run left behind (this also
-- drops and recreates the extension under a running worker; the WARNING
-- that payments not final are discarded is for such a run only).
SET client_min_messages = error;
DROP EXTENSION IF EXISTS momo CASCADE;
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS momo_test CASCADE;
DROP EXTENSION IF EXISTS dblink;
DROP EXTENSION IF EXISTS pgcrypto;
DROP SCHEMA IF EXISTS shop CASCADE;
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['momo_tenant_a', 'momo_tenant_b', 'momo_app', 'momo_stranger', 'momo_shop', 'momo_columns_only', 'momo_idem_other', 'momo_wd_app'] LOOP
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END
$$;
DROP OPERATOR IF EXISTS public.> (numeric, integer);
DROP OPERATOR IF EXISTS public.>= (numeric, integer);
DROP OPERATOR IF EXISTS public.<= (numeric, integer);
DROP FUNCTION IF EXISTS public.planted_cmp(numeric, integer);
RESET client_min_messages;

-- Operators planted before the install, matching (numeric, integer) exactly
-- where pg_catalog needs a cast: momo's objects must not bind to them.
CREATE FUNCTION public.planted_cmp(numeric, integer) RETURNS boolean
LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.> (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.planted_cmp);
CREATE OPERATOR public.>= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.planted_cmp);
CREATE OPERATOR public.<= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.planted_cmp);

CREATE EXTENSION momo;
CREATE SCHEMA momo_test;

-- Runs a statement and returns its error as "SQLSTATE: message" (with
-- detail and hint), or 'no error': the tests show each error's code.
-- Nothing the statement did survives an error (it runs in a subtransaction).
CREATE FUNCTION momo_test.try(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    detail text;
    hint text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    -- Reference ids are random: shown as <uuid>.
    RETURN regexp_replace(state || ': ' || message
                          || coalesce(E'\n  DETAIL: ' || nullif(detail, ''), '')
                          || coalesce(E'\n  HINT: ' || nullif(hint, ''), ''),
                          '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g');
END
$$;

-- Reloads the configuration (after ALTER SYSTEM) and returns only once
-- (a) this session will run its next statement with it and (b) every
-- running momo process (the launcher, each database's worker) has loaded
-- it; an ERROR naming what did not reload after the timeout. No sleep is
-- the synchronisation: a backend reloads only between statements, so (a)
-- is told by a NEW connection (dblink), which inherits the postmaster's
-- configuration: once it is newer than the moment before pg_reload_conf(),
-- the postmaster has reloaded, and had signalled every process, this one
-- included, before it forked that connection. (b) is momo_config_loaded().
CREATE EXTENSION dblink SCHEMA momo_test;
CREATE FUNCTION momo_test.reload(timeout interval DEFAULT '60 seconds') RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    before timestamptz := clock_timestamp();
    deadline timestamptz := clock_timestamp() + timeout;
    conn text := format('host=%s port=%s dbname=%s user=%s',
                        split_part(current_setting('unix_socket_directories'), ',', 1),
                        current_setting('port'), quote_literal(current_database()),
                        quote_literal(current_user));
    postmaster timestamptz;
    lagging text;
BEGIN
    PERFORM pg_reload_conf();
    LOOP
        SELECT t INTO postmaster
          FROM momo_test.dblink(conn, 'SELECT pg_conf_load_time()') AS d(t timestamptz);
        EXIT WHEN postmaster > before;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'the postmaster did not reload its configuration in %', timeout;
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    LOOP
        SELECT string_agg(coalesce('the worker of ' || database, 'the launcher')
                          || ' (pid ' || pid || ', configuration of '
                          || coalesce(loaded_at::text, 'unknown') || ')', ', ' ORDER BY database NULLS FIRST)
          INTO lagging
          FROM momo_config_loaded()
         WHERE loaded_at IS NULL OR loaded_at <= before;
        EXIT WHEN lagging IS NULL;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'momo did not reload its configuration in %: %', timeout, lagging;
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN true;
END
$$;

-- Waits until the payment is final and returns its row (a test's outcome).
CREATE FUNCTION momo_test.outcome(ref uuid, timeout interval DEFAULT '30 seconds')
RETURNS TABLE (status text, reason text, has_ftid boolean, attempts integer)
LANGUAGE sql AS $$
    SELECT p.status, p.reason, p.financial_transaction_id IS NOT NULL, p.attempts
      FROM momo_await(ref, timeout) p
$$;

-- Waits until the worker recorded something for the payment (it left queued).
CREATE FUNCTION momo_test.wait_sent(ref uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    s text;
BEGIN
    FOR i IN 1..300 LOOP
        SELECT status INTO s FROM momo_payments WHERE reference_id = ref;
        IF s <> 'queued' THEN
            RETURN s;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN s;
END
$$;

-- momo_callback(query, body) as MTN's retries would deliver it: again while
-- it answers that the worker is updating the payment at that moment (it
-- never waits for the row's lock), at most 30 seconds.  Returns the verdict.
CREATE FUNCTION momo_test.callback(query text, body text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    verdict text;
BEGIN
    FOR i IN 1..300 LOOP
        verdict := momo_callback(query, body);
        IF verdict NOT LIKE 'ignored: the payment is being updated%' THEN
            RETURN verdict;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN verdict;
END
$$;

-- Waits (at most 30 seconds) until query returns true; returns whether it did.
CREATE FUNCTION momo_test.wait_for(query text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    FOR i IN 1..300 LOOP
        EXECUTE query INTO ok;
        IF ok THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN false;
END
$$;

-- The launcher starts this database's worker when CREATE EXTENSION momo
-- commits (momo.databases lists it); it may still be starting (it names
-- itself in application_name once connected and attached).
DO $$
BEGIN
    FOR i IN 1..600 LOOP
        PERFORM 1 FROM pg_stat_activity
         WHERE backend_type = 'momo worker' AND datname = current_database()
           AND application_name = 'momo worker';
        IF FOUND THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.1);
        PERFORM pg_stat_clear_snapshot();   -- see backends that started meanwhile
    END LOOP;
    RAISE EXCEPTION 'the momo worker did not start in database %', current_database();
END
$$;

SELECT backend_type, datname = current_database() AS in_this_database,
       application_name
  FROM pg_stat_activity WHERE backend_type = 'momo worker';

-- momo_test.reload() really waits: when it returns, this session and every
-- momo process (the launcher and this database's worker, at least) have
-- loaded a configuration newer than the moment before it was called; the
-- half-second sleep it replaces promised neither.
SELECT clock_timestamp() AS before_reload \gset
SELECT momo_test.reload() AS reloaded;
SELECT pg_conf_load_time() > :'before_reload' AS this_session_reloaded;
SELECT count(*) FILTER (WHERE database IS NULL) AS launchers,
       count(*) FILTER (WHERE database = current_database()) AS workers_here,
       bool_and(loaded_at > :'before_reload') AS all_reloaded
  FROM momo_config_loaded();

-- Everything momo installed.
SELECT pg_describe_object(classid, objid, objsubid) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'momo')
   AND deptype = 'e'
 ORDER BY 1;

-- Every operator momo's constraints, indexes, views and triggers use is
-- pg_catalog's: none could bind to one a role planted before the install.
SELECT count(*) AS operators_outside_pg_catalog
  FROM pg_depend d JOIN pg_operator o ON o.oid = d.refobjid
 WHERE d.refclassid = 'pg_operator'::regclass
   AND o.oprnamespace <> 'pg_catalog'::regnamespace;
DROP OPERATOR public.> (numeric, integer);
DROP OPERATOR public.>= (numeric, integer);
DROP OPERATOR public.<= (numeric, integer);
DROP FUNCTION public.planted_cmp(numeric, integer);

-- pg_dump keeps the payments.
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'momo';
