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

-- Errors name the argument they are about (PG_DIAG_COLUMN_NAME).
CREATE OR REPLACE FUNCTION @extschema@.momo_fee(amount numeric, currency text DEFAULT 'RWF')
RETURNS numeric
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fee numeric;
BEGIN
    IF amount IS NULL THEN
        RAISE EXCEPTION 'amount must not be null' USING ERRCODE = 'null_value_not_allowed', COLUMN = 'amount';
    END IF;
    IF currency IS NULL THEN
        RAISE EXCEPTION 'currency must not be null' USING ERRCODE = 'null_value_not_allowed', COLUMN = 'currency';
    END IF;
    IF amount = 'NaN' OR amount < 0 THEN
        RAISE EXCEPTION 'amount must be zero or more, not %', amount
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'amount';
    END IF;
    fee := @extschema@.momo_fee_lookup(amount, currency);
    IF fee IS NULL THEN
        RAISE EXCEPTION 'no fee schedule for currency %', currency
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'currency',
                  HINT = format('Add one: INSERT INTO momo_fee_schedule (currency, free_up_to, percent) VALUES (%L, ..., ...);', currency);
    END IF;
    RETURN fee;
END
$$;

-- Phone numbers as people write them: the normaliser of momo's functions.
CREATE FUNCTION @extschema@.momo_normalize_msisdn(msisdn text, country text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'momo_normalize_msisdn'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_normalize_msisdn(text, text) IS
    'a phone number as momo''s functions send it to MTN (country code and national number, digits only), or the error they raise; a number without country code is of country (a calling code), by default of momo.msisdn_country';

REVOKE ALL ON FUNCTION @extschema@.momo_normalize_msisdn(text, text) FROM PUBLIC;

-- The change feed (README, "Connection poolers and the change feed"): a row
-- for every status a payment takes -- queued when it is written, then
-- pending, successful or failed -- written by a trigger whatever writes the
-- payment (momo's functions, the worker, a callback's status check, a DBA).
-- A row gets its number (seq) only after it has committed: the worker, in
-- short transactions of its own (never a transaction of momo_changes'
-- caller, which could hold it), numbers the committed rows that have none,
-- in the order they were written (id), holding a lock on momo_change_seq
-- that only one transaction holds at a time, to its end.  Numbers are so handed
-- out in the order the numbering transactions commit: once a poller sees
-- number n, every smaller number is already visible, and a change that
-- commits later gets a number larger than any already handed out.  A
-- nextval() taken when the change is written would not do: a transaction
-- that took 10 can commit after one that took 11, and a poller already past
-- 11 would never see 10.
CREATE TABLE @extschema@.momo_payment_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY,    -- the order they were written in
    seq          bigint,
    reference_id uuid NOT NULL,
    status       text NOT NULL,
    reason       text,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE @extschema@.momo_change_seq;
-- The feed reads by number; the numberer finds the rows without one.
CREATE UNIQUE INDEX momo_payment_changes_seq ON @extschema@.momo_payment_changes (seq)
    WHERE seq IS NOT NULL;
CREATE INDEX momo_payment_changes_unnumbered ON @extschema@.momo_payment_changes (id)
    WHERE seq IS NULL;
CREATE INDEX momo_payment_changes_changed_at ON @extschema@.momo_payment_changes USING brin (changed_at);
-- The highest number the worker has purged (changes older than
-- momo.event_retention go with the events), in one row once it has purged
-- any: momo_changes refuses to answer a poller that asks for changes after
-- an older number, whose missed changes it can no longer return.
CREATE TABLE @extschema@.momo_change_horizon (
    purged_through bigint NOT NULL DEFAULT 0,
    one            boolean PRIMARY KEY DEFAULT true CHECK (one)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.momo_payment_changes', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.momo_payment_changes_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.momo_change_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.momo_change_horizon', '');

-- The payments of 1.0 enter the feed as they are: one change each, their
-- present status, as of their last update, numbered in that order by the
-- first momo_changes call.
INSERT INTO @extschema@.momo_payment_changes (reference_id, status, reason, changed_at)
SELECT p.reference_id, p.status, p.reason, p.updated_at
  FROM @extschema@.momo_payments p
 ORDER BY p.updated_at, p.reference_id;

COMMENT ON TABLE @extschema@.momo_payment_changes IS
    'every status a payment took, numbered (seq) in commit order for momo_changes(); purged after momo.event_retention';
COMMENT ON COLUMN @extschema@.momo_payment_changes.seq IS
    'the change''s number in the feed: NULL until the worker numbers it, after it committed';
COMMENT ON TABLE @extschema@.momo_change_horizon IS
    'the highest number of a change the worker purged (no row: none purged): momo_changes refuses to answer from before it';

CREATE FUNCTION @extschema@.momo_payments_change() RETURNS trigger
AS 'MODULE_PATHNAME', 'momo_payments_change'
LANGUAGE C;

CREATE TRIGGER momo_payments_change_insert
    AFTER INSERT ON @extschema@.momo_payments
    FOR EACH ROW EXECUTE FUNCTION @extschema@.momo_payments_change();

CREATE TRIGGER momo_payments_change_update
    AFTER UPDATE OF status ON @extschema@.momo_payments
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION @extschema@.momo_payments_change();

CREATE FUNCTION @extschema@.momo_changes(after bigint, max_rows integer DEFAULT 1000,
    OUT seq bigint, OUT reference_id uuid, OUT external_id text, OUT operation text,
    OUT status text, OUT reason text, OUT changed_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'momo_changes'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_changes(bigint, integer) IS
    'the status changes numbered after "after" of the payments the caller may see, in order (at most max_rows)';

REVOKE ALL ON TABLE @extschema@.momo_payment_changes, @extschema@.momo_change_horizon FROM PUBLIC;
REVOKE ALL ON SEQUENCE @extschema@.momo_change_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_payments_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_changes(bigint, integer) FROM PUBLIC;
ALTER TABLE @extschema@.momo_payment_changes OWNER TO momo_worker;
ALTER TABLE @extschema@.momo_change_horizon OWNER TO momo_worker;
ALTER SEQUENCE @extschema@.momo_change_seq OWNER TO momo_worker;

-- momo_health (README, "Health"): one answer for an on-call engineer.
CREATE FUNCTION @extschema@.momo_health(OUT check_name text, OUT status text,
    OUT value double precision, OUT reason text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'momo_health'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_health() IS
    'is momo healthy now: one row per check (ok, warning or critical) with its figure and reason, first "momo", the worst of them';

REVOKE ALL ON FUNCTION @extschema@.momo_health() FROM PUBLIC;
