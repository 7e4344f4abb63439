/*
 * momo--1.0--1.1.sql: from momo 1.0 to 1.1 (ALTER EXTENSION momo UPDATE).
 *
 * Every change to momo.sql after 1.0 is also made here, so that an updated
 * database ends exactly as a fresh install of 1.1 (the regression test
 * "upgrade" compares the two, object by object).
 */

\echo Use "ALTER EXTENSION momo UPDATE TO '1.1'" to load this file. \quit

-- The event log's guard: messages in PostgreSQL's style (no "momo: "
-- prefix), with a hint.
CREATE OR REPLACE FUNCTION @extschema@.momo_events_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'the momo event log is append-only'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'The worker deletes events older than momo.event_retention.';
    END IF;
    IF OLD.at > pg_catalog.now() - pg_catalog.current_setting('momo.event_retention')::interval THEN
        RAISE EXCEPTION 'momo event % is younger than momo.event_retention and cannot be deleted', OLD.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'The worker deletes events older than momo.event_retention.';
    END IF;
    RETURN OLD;
END
$$;
