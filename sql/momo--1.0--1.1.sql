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
