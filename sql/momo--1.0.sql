/* momo--1.0.sql: the payments table, its guards and the SQL functions. */

\echo Use "CREATE EXTENSION momo" to load this file. \quit

CREATE TABLE @extschema@.momo_payments (
    reference_id             uuid PRIMARY KEY,
    external_id              text NOT NULL,
    amount                   numeric NOT NULL CHECK (amount > 0),
    currency                 text NOT NULL,
    msisdn                   text NOT NULL,
    payer_message            text,
    payee_note               text,
    status                   text NOT NULL DEFAULT 'queued'
                             CHECK (status IN ('queued', 'pending', 'successful', 'failed')),
    reason                   text,
    financial_transaction_id text,
    attempts                 integer NOT NULL DEFAULT 0,
    status_checks            integer NOT NULL DEFAULT 0,
    retries                  integer NOT NULL DEFAULT 0,
    last_http_status         integer,
    last_error               text,
    created_at               timestamptz NOT NULL DEFAULT now(),
    sent_at                  timestamptz,
    updated_at               timestamptz NOT NULL DEFAULT now(),
    completed_at             timestamptz,
    next_check_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT momo_payments_completed_iff_final
        CHECK ((status IN ('successful', 'failed')) = (completed_at IS NOT NULL))
) WITH (fillfactor = 60);   -- room for the HOT updates of a payment's short, busy life

COMMENT ON TABLE @extschema@.momo_payments IS
    'MTN MoMo payments: one row per request to pay, written before anything is sent';
COMMENT ON COLUMN @extschema@.momo_payments.reference_id IS 'X-Reference-Id sent to MTN (UUID v4); every retry reuses it';
COMMENT ON COLUMN @extschema@.momo_payments.status IS 'queued (not yet accepted by MTN), pending, successful or failed; final statuses never change';
COMMENT ON COLUMN @extschema@.momo_payments.reason IS 'MTN''s reason for a failure (e.g. APPROVAL_REJECTED), or momo''s NOT_DELIVERED';
COMMENT ON COLUMN @extschema@.momo_payments.attempts IS 'request-to-pay sends momo made (libcurl may repeat one, with the same reference id, when a kept-alive connection drops unanswered)';
COMMENT ON COLUMN @extschema@.momo_payments.retries IS 'transient failures in a row (the retry backoff grows with them); 0 after any definite answer';
COMMENT ON COLUMN @extschema@.momo_payments.next_check_at IS 'when the worker next sends or checks this payment';

-- The worker's queue: due rows in order.
CREATE INDEX momo_payments_due ON @extschema@.momo_payments (next_check_at)
    WHERE status IN ('queued', 'pending');
CREATE INDEX momo_payments_external_id ON @extschema@.momo_payments (external_id);

-- pg_dump keeps the payments.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.momo_payments', '');

-- A payment's terms are well-formed when written (momo_request_to_pay
-- checks them first; this also covers rows written by hand) and never
-- change; it never goes back to queued; a final payment never changes at
-- all; and only final payments may be deleted.
CREATE FUNCTION @extschema@.momo_payments_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.currency !~ '^[A-Z]{3}$' OR NEW.msisdn !~ '^[1-9][0-9]{7,14}$'
           OR length(NEW.payer_message) NOT BETWEEN 1 AND 160
           OR length(NEW.payee_note) NOT BETWEEN 1 AND 160
           OR NEW.external_id = '' THEN
            RAISE EXCEPTION 'momo: payment % has malformed terms', NEW.reference_id
                USING ERRCODE = 'check_violation',
                      HINT = 'Request payments with momo_request_to_pay, which explains what is wrong.';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.status NOT IN ('successful', 'failed') THEN
            RAISE EXCEPTION 'momo: payment % is % and cannot be deleted', OLD.reference_id, OLD.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Only successful or failed payments can be deleted.';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status IN ('successful', 'failed') THEN
        RAISE EXCEPTION 'momo: payment % is final (%) and cannot change', OLD.reference_id, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF (NEW.reference_id, NEW.external_id, NEW.amount, NEW.currency, NEW.msisdn,
        NEW.payer_message, NEW.payee_note, NEW.created_at)
       IS DISTINCT FROM
       (OLD.reference_id, OLD.external_id, OLD.amount, OLD.currency, OLD.msisdn,
        OLD.payer_message, OLD.payee_note, OLD.created_at) THEN
        RAISE EXCEPTION 'momo: the terms of payment % cannot change', OLD.reference_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Request a new payment instead.';
    END IF;
    IF NEW.status = 'queued' AND OLD.status <> 'queued' THEN
        RAISE EXCEPTION 'momo: payment % cannot go back from % to queued', OLD.reference_id, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER momo_payments_guard
    BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.momo_payments
    FOR EACH ROW EXECUTE FUNCTION @extschema@.momo_payments_guard();

-- NOTIFY momo_payments, '{"reference_id":…,"external_id":…,"status":…,"reason":…}'
-- when a payment becomes final.
CREATE FUNCTION @extschema@.momo_payments_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('momo_payments',
        pg_catalog.json_build_object('reference_id', NEW.reference_id,
                                     'external_id', NEW.external_id,
                                     'status', NEW.status,
                                     'reason', NEW.reason)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER momo_payments_notify
    AFTER UPDATE OF status ON @extschema@.momo_payments
    FOR EACH ROW
    WHEN (NEW.status IN ('successful', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION @extschema@.momo_payments_notify();

CREATE FUNCTION @extschema@.momo_request_to_pay(
    amount numeric,
    currency text,
    msisdn text,
    external_id text DEFAULT NULL,
    payer_message text DEFAULT NULL,
    payee_note text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_request_to_pay'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_request_to_pay(numeric, text, text, text, text, text) IS
    'queue a request to pay; sent by the momo worker when the transaction commits';

CREATE FUNCTION @extschema@.momo_payment_status(reference_id uuid)
RETURNS @extschema@.momo_payments
AS 'MODULE_PATHNAME', 'momo_payment_status'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_payment_status(uuid) IS
    'ask MTN for a payment''s status now, record it and return the row';

CREATE FUNCTION @extschema@.momo_await(reference_id uuid, timeout interval DEFAULT '30 seconds')
RETURNS @extschema@.momo_payments
AS 'MODULE_PATHNAME', 'momo_await'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_await(uuid, interval) IS
    'wait until a payment is final or the timeout passes, and return the row';

-- Nothing of momo is open to PUBLIC; see README.md for the grants an application needs.
REVOKE ALL ON TABLE @extschema@.momo_payments FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_request_to_pay(numeric, text, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_payment_status(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_await(uuid, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_payments_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_payments_notify() FROM PUBLIC;
