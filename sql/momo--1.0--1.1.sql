/*
 * momo--1.0--1.1.sql: from momo 1.0 to 1.1 (ALTER EXTENSION momo UPDATE).
 *
 * Every change to momo.sql after 1.0 is also made here, so that an updated
 * database ends exactly as a fresh install of 1.1 (the regression test
 * "upgrade" compares the two, object by object).
 */

\echo Use "ALTER EXTENSION momo UPDATE TO '1.1'" to load this file. \quit

-- The whole update takes momo_payments' strongest lock first.  It changes
-- the table (triggers, indexes, columns) in several steps, each with its
-- own lock: a step that held a weaker lock and then asked for a stronger
-- one deadlocked with the worker, which reads the table in a transaction
-- and then writes it.  Waiting first for the strongest one, the update
-- lets such a worker's transaction end, then has the table to itself.
LOCK TABLE @extschema@.momo_payments IN ACCESS EXCLUSIVE MODE;

-- momo's relations and functions before the update (in a setting of this
-- transaction): at its end, what the updating role's default privileges
-- granted on those it created is revoked, as CREATE EXTENSION does.
SELECT pg_catalog.set_config('momo_upgrade.members_before',
    (SELECT pg_catalog.array_agg(d.objid)::text
       FROM pg_catalog.pg_depend d
      WHERE d.classid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.pg_class'::pg_catalog.regclass,
                                                        'pg_catalog.pg_proc'::pg_catalog.regclass])
        AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
        AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e
                                                WHERE e.extname OPERATOR(pg_catalog.=) 'momo')
        AND d.deptype OPERATOR(pg_catalog.=) 'e'),
    true);

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
-- in the order they were written (id), holding to its end the lock on the
-- row of momo_change_numbering, which keeps the last number handed out (one
-- transaction at a time).  Numbers are so handed
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
-- The last number the worker handed out, in one row it makes at its first
-- numbering, and only ever raises.  Not a sequence: any role may take a lock
-- on a sequence (nextval locks before it checks privileges, to the end of
-- the transaction), which held the numbering up, and setval() by a member of
-- pg_write_all_data set the numbers back below where pollers stood; this row
-- only momo writes (momo_writer_guard), and a role without privileges on it
-- can take no lock that the numbering's row lock waits for.
CREATE TABLE @extschema@.momo_change_numbering (
    numbered_through bigint NOT NULL,
    one              boolean PRIMARY KEY DEFAULT true CHECK (one)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.momo_payment_changes', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.momo_payment_changes_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.momo_change_numbering', '');
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
COMMENT ON TABLE @extschema@.momo_change_numbering IS
    'the last number the worker gave a change (no row: none yet): the next numbering goes on from it';

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

REVOKE ALL ON TABLE @extschema@.momo_payment_changes, @extschema@.momo_change_horizon,
    @extschema@.momo_change_numbering FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_payments_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_changes(bigint, integer) FROM PUBLIC;
ALTER TABLE @extschema@.momo_payment_changes OWNER TO momo_worker;
ALTER TABLE @extschema@.momo_change_horizon OWNER TO momo_worker;
ALTER TABLE @extschema@.momo_change_numbering OWNER TO momo_worker;

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

-- The pause switch (README, "Operating in production"): a product with a
-- row here is not sent: its payments queue, status checks of those already
-- at MTN go on.
-- momo_pause writes rows, momo_resume deletes them; the worker writes one
-- itself (automatic) when MTN refuses the merchant's configuration.  A
-- table, not memory: the pause outlives a restart, is replicated to the
-- standbys (a failover keeps it) and is kept by pg_dump (a restore does not
-- start sending what an operator stopped).  Its trigger notifies
-- momo_pause, and has the worker look at the table again at commit.
CREATE TABLE @extschema@.momo_pauses (
    product   text PRIMARY KEY CHECK (product IN ('collection', 'disbursement', 'remittance')),
    reason    text NOT NULL,
    paused_by name NOT NULL DEFAULT current_user,
    paused_at timestamptz NOT NULL DEFAULT now(),
    automatic boolean NOT NULL DEFAULT false
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.momo_pauses', '');

COMMENT ON TABLE @extschema@.momo_pauses IS
    'products whose sending is paused (momo_pause, momo_resume): their payments queue, status checks go on';
COMMENT ON COLUMN @extschema@.momo_pauses.paused_by IS
    'the role that paused (the current user of momo_pause), or momo_worker for an automatic pause';
COMMENT ON COLUMN @extschema@.momo_pauses.automatic IS
    'paused by the worker, because MTN refused the merchant''s configuration (reason says how); momo_resume ends it too';

CREATE FUNCTION @extschema@.momo_pauses_change() RETURNS trigger
AS 'MODULE_PATHNAME', 'momo_pauses_change'
LANGUAGE C;

-- ALWAYS: also under session_replication_role = replica (a logical
-- replication apply, a restore with it set).
CREATE TRIGGER momo_pauses_change
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.momo_pauses
    FOR EACH ROW EXECUTE FUNCTION @extschema@.momo_pauses_change();
CREATE TRIGGER momo_pauses_truncate
    AFTER TRUNCATE ON @extschema@.momo_pauses
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_pauses_change();
ALTER TABLE @extschema@.momo_pauses ENABLE ALWAYS TRIGGER momo_pauses_change;
ALTER TABLE @extschema@.momo_pauses ENABLE ALWAYS TRIGGER momo_pauses_truncate;

CREATE FUNCTION @extschema@.momo_pause(reason text, product text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'momo_pause'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_pause(text, text) IS
    'pause sending of product (NULL: every product) for reason: its payments queue, status checks go on, until momo_resume';

CREATE FUNCTION @extschema@.momo_resume(product text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'momo_resume'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_resume(text) IS
    'end the pause of product (NULL: every product), whoever paused it: what queued is sent, in order';

REVOKE ALL ON TABLE @extschema@.momo_pauses FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_pauses_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_pause(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_resume(text) FROM PUBLIC;
ALTER TABLE @extschema@.momo_pauses OWNER TO momo_worker;

-- Counters of final payments (src/counts.c), per product, operation and
-- status: how many became successful or failed since momo was installed
-- (finished; the upgrade from 1.0 counted those it found) and how many of
-- them were deleted since.  momo_stats and the exporter read them instead
-- of counting the whole table: their cost does not grow with history.
-- Triggers keep them, one row written per statement: the worker adds to
-- the merged rows (one per key, which only it updates); any other
-- transaction inserts a row of its own, never waiting for another, and the
-- worker folds those into the merged rows.  Not dumped: a restore counts
-- the payments it inserts.
CREATE TABLE @extschema@.momo_payment_counts (
    product   text NOT NULL,
    operation text NOT NULL,
    status    text NOT NULL CHECK (status IN ('successful', 'failed')),
    finished  bigint NOT NULL DEFAULT 0,
    deleted   bigint NOT NULL DEFAULT 0,
    merged    boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX momo_payment_counts_merged
    ON @extschema@.momo_payment_counts (product, operation, status) WHERE merged;

COMMENT ON TABLE @extschema@.momo_payment_counts IS
    'payments that became final since momo was installed (finished) and those of them deleted since, per product, operation and status: sum the rows of a key';

CREATE FUNCTION @extschema@.momo_payments_count() RETURNS trigger
AS 'MODULE_PATHNAME', 'momo_payments_count'
LANGUAGE C;

CREATE FUNCTION @extschema@.momo_payments_count_flush() RETURNS trigger
AS 'MODULE_PATHNAME', 'momo_payments_count_flush'
LANGUAGE C;

CREATE TRIGGER momo_payments_count_insert
    AFTER INSERT ON @extschema@.momo_payments
    FOR EACH ROW
    WHEN (NEW.status IN ('successful', 'failed'))
    EXECUTE FUNCTION @extschema@.momo_payments_count();

CREATE TRIGGER momo_payments_count_update
    AFTER UPDATE OF status ON @extschema@.momo_payments
    FOR EACH ROW
    WHEN (NEW.status IN ('successful', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION @extschema@.momo_payments_count();

CREATE TRIGGER momo_payments_count_delete
    AFTER DELETE ON @extschema@.momo_payments
    FOR EACH ROW
    WHEN (OLD.status IN ('successful', 'failed'))
    EXECUTE FUNCTION @extschema@.momo_payments_count();

CREATE TRIGGER momo_payments_count_flush
    AFTER INSERT OR UPDATE OF status OR DELETE ON @extschema@.momo_payments
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_payments_count_flush();

CREATE TRIGGER momo_payments_count_truncate
    AFTER TRUNCATE ON @extschema@.momo_payments
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_payments_count_flush();

-- The payments of 1.0 that are final are counted as finished, after the
-- triggers exist (creating them waited for every transaction writing
-- payments, and holds the others off until the update commits).
INSERT INTO @extschema@.momo_payment_counts (product, operation, status, finished, deleted, merged)
SELECT p.product, p.operation, p.status, count(*), 0, true
  FROM @extschema@.momo_payments p
 WHERE p.status IN ('successful', 'failed')
 GROUP BY p.product, p.operation, p.status;

-- momo_stats counts final payments from the counters, and shows which
-- products are paused.
CREATE OR REPLACE VIEW @extschema@.momo_stats WITH (security_invoker = true) AS
    -- Final payments from their counters, open ones from the worker's queue
    -- index: neither grows with history.
    SELECT 'payments'::text AS metric, c.status || '/' || c.operation AS label,
           (sum(c.finished) - sum(c.deleted))::numeric AS value
      FROM @extschema@.momo_payment_counts c GROUP BY c.status, c.operation
    HAVING sum(c.finished) - sum(c.deleted) > 0::numeric
    UNION ALL
    SELECT 'payments', p.status || '/' || p.operation, count(*)
      FROM @extschema@.momo_payments p WHERE p.status IN ('queued', 'pending')
     GROUP BY p.status, p.operation
    UNION ALL
    SELECT 'queue_depth', NULL, count(*) FROM @extschema@.momo_payments WHERE status = 'queued'
    UNION ALL
    SELECT 'oldest_pending_seconds', NULL,
           coalesce(extract(epoch FROM now() - min(created_at)), 0)::numeric
      FROM @extschema@.momo_payments WHERE status IN ('queued', 'pending')
    UNION ALL
    SELECT 'retrying_payments', NULL, count(*) FROM @extschema@.momo_payments
     WHERE status IN ('queued', 'pending') AND retries > 0
    UNION ALL
    SELECT 'needing_attention', NULL, count(*) FROM @extschema@.momo_attention
    UNION ALL
    SELECT 'token_refreshes', t.product, t.refreshes FROM @extschema@.momo_token_refreshes() t
    UNION ALL
    SELECT 'callbacks_ignored', c.reason, c.ignored FROM @extschema@.momo_ignored_callbacks() c
    UNION ALL
    SELECT 'worker_running', NULL, (w.pid IS NOT NULL)::integer::numeric FROM @extschema@.momo_worker_status() w
    UNION ALL
    SELECT 'worker_problem', w.problem, 1 FROM @extschema@.momo_worker_status() w WHERE w.problem IS NOT NULL
    UNION ALL
    SELECT 'paused', pr.product, (pa.product IS NOT NULL)::integer::numeric
      FROM (VALUES ('collection'), ('disbursement'), ('remittance')) pr(product)
      LEFT JOIN @extschema@.momo_pauses pa ON pa.product = pr.product
    UNION ALL
    SELECT 'exchanges_last_hour', e.operation || '/' || e.outcome, count(*)
      FROM @extschema@.momo_events e WHERE e.at > now() - interval '1 hour'
     GROUP BY e.operation, e.outcome
    UNION ALL
    SELECT 'error_rate_last_hour', e.operation,
           round(avg(CASE WHEN e.outcome IN ('retry', 'unauthorized', 'not_found', 'error', 'rejected', 'merchant_refused') THEN 1 ELSE 0 END), 4)
      FROM @extschema@.momo_events e WHERE e.at > now() - interval '1 hour' GROUP BY e.operation
    UNION ALL
    SELECT 'latency_ms_last_hour', e.operation || '/p' || q.p::text,
           round(percentile_cont(q.p::numeric / 100.0) WITHIN GROUP (ORDER BY e.latency_ms)::numeric, 1)
      FROM @extschema@.momo_events e CROSS JOIN (VALUES (50), (90), (99)) AS q(p)
     WHERE e.at > now() - interval '1 hour' AND e.latency_ms IS NOT NULL
     GROUP BY e.operation, q.p;

COMMENT ON VIEW @extschema@.momo_stats IS
    'momo''s figures for monitoring: payments by status and operation, queue depth, oldest open payment, retries, token refreshes, the worker and its problem, products paused, exchange outcomes, error rates and latency percentiles';

REVOKE ALL ON TABLE @extschema@.momo_payment_counts FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_payments_count() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_payments_count_flush() FROM PUBLIC;
ALTER TABLE @extschema@.momo_payment_counts OWNER TO momo_worker;

-- The status checks the worker claims, class by class (src/store.c,
-- prepare_plans), each walking its index in order: payments a callback
-- announced, and every payment a check may be due for (pending, or queued
-- after a send that may have arrived) -- not the payments waiting to be
-- sent, however many a backlog holds.  The claims repeat these predicates
-- word for word, and order by both columns: only these indexes give that
-- order, so the planner (sorts off) walks them and not momo_payments_due.
CREATE INDEX momo_payments_checks ON @extschema@.momo_payments (next_check_at, reference_id)
    WHERE status = 'pending' OR (status = 'queued' AND (send_refused OR attempts > 0));
CREATE INDEX momo_payments_announced ON @extschema@.momo_payments (next_check_at, reference_id)
    WHERE status IN ('queued', 'pending') AND callback_at >= next_check_at;
-- momo_health's checks of recent payments (bursts to one number, amounts
-- near momo.max_amount) read them by the time they were requested: the
-- newest entries of this index, however long the history.
CREATE INDEX momo_payments_created_at ON @extschema@.momo_payments (created_at);

-- The balance in a given currency (GET /v1_0/account/balance/{currency}).
CREATE FUNCTION @extschema@.momo_balance(product text, currency text,
                                        OUT available_balance numeric, OUT currency text)
AS 'MODULE_PATHNAME', 'momo_balance'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_balance(text, text) IS
    'the available balance of the product''s account in the given currency, asked of MTN now';
REVOKE ALL ON FUNCTION @extschema@.momo_balance(text, text) FROM PUBLIC;

-- A delivery notification in a given language (MTN's Language header).
CREATE FUNCTION @extschema@.momo_delivery_notification(reference_id uuid, message text, language text)
RETURNS void
AS 'MODULE_PATHNAME', 'momo_delivery_notification'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_delivery_notification(uuid, text, text) IS
    'send the payer of a request to pay a notification (at most 160 characters), in a language (ISO 639 code; NULL: MTN''s default)';
REVOKE ALL ON FUNCTION @extschema@.momo_delivery_notification(uuid, text, text) FROM PUBLIC;

-- An account holder's information with their consent (MTN's consent flow).
CREATE FUNCTION @extschema@.momo_user_info_with_consent(msisdn text, scope text DEFAULT 'profile',
    product text DEFAULT 'collection', timeout interval DEFAULT '2 minutes',
    OUT sub text, OUT name text, OUT given_name text, OUT family_name text, OUT middle_name text,
    OUT email text, OUT email_verified boolean, OUT gender text, OUT locale text,
    OUT phone_number text, OUT phone_number_verified boolean, OUT address text,
    OUT updated_at timestamptz, OUT status text, OUT birthdate text, OUT credit_score text,
    OUT active boolean, OUT country_of_birth text, OUT region_of_birth text, OUT city_of_birth text,
    OUT occupation text, OUT employer_name text, OUT identification_type text,
    OUT identification_value text)
AS 'MODULE_PATHNAME', 'momo_user_info_with_consent'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_user_info_with_consent(text, text, text, interval) IS
    'what MTN shows of the account holder msisdn once they consent to scope on their phone (MTN''s consent flow: bc-authorize, the OAuth2 token, userinfo); waits for their answer';

REVOKE ALL ON FUNCTION @extschema@.momo_user_info_with_consent(text, text, text, interval) FROM PUBLIC;

-- Collection's request to withdraw (momo_request_to_withdraw), in MTN's
-- version 1 or 2: a payment's API version is one of its terms, so that
-- every resend goes to the same path.
ALTER TABLE @extschema@.momo_payments
    DROP CONSTRAINT momo_payments_operation_check,
    ADD CONSTRAINT momo_payments_operation_check
        CHECK (operation IN ('request_to_pay', 'transfer', 'deposit', 'refund',
                             'request_to_withdraw', 'cash_transfer',
                             'invoice', 'payment',
                             'preapproval')),
    ADD COLUMN api_version smallint NOT NULL DEFAULT 1,
    ADD COLUMN extra_terms jsonb,
    ADD CONSTRAINT momo_payments_api_version
        CHECK ((api_version = 1 AND operation <> 'cash_transfer'
                AND operation NOT IN ('invoice', 'payment')
                AND operation <> 'preapproval')
               OR (api_version = 2 AND operation IN ('request_to_withdraw', 'deposit', 'refund', 'cash_transfer'))
               OR (api_version = 2 AND operation IN ('invoice', 'payment'))
               OR (api_version = 2 AND operation = 'preapproval')),
    ADD CONSTRAINT momo_payments_extra_terms
        CHECK ((operation = 'cash_transfer'
                OR operation IN ('invoice', 'payment')
                OR operation = 'preapproval') = (extra_terms IS NOT NULL)),
    ADD COLUMN callback_url text,
    ADD CONSTRAINT momo_payments_callback_url
        CHECK (pg_catalog.octet_length(callback_url) OPERATOR(pg_catalog.<=) 2000),
    ADD COLUMN expires_at timestamptz,
    -- a pre-approval has no amount; every other payment has one
    ALTER COLUMN amount DROP NOT NULL,
    ADD CONSTRAINT momo_payments_amount_given
        CHECK ((amount IS NULL) = (operation = 'preapproval')),
    ADD CONSTRAINT momo_payments_expires_at
        CHECK (expires_at IS NULL OR operation IN ('preapproval', 'invoice')),
    ADD COLUMN invoice_id text,
    ADD COLUMN payment_reference text,
    ADD CONSTRAINT momo_payments_invoice_refs
        CHECK ((invoice_id IS NULL AND payment_reference IS NULL) OR operation = 'invoice'),
    ADD CONSTRAINT momo_payments_invoice_refs_length
        CHECK (pg_catalog.octet_length(invoice_id) OPERATOR(pg_catalog.<=) 100
               AND pg_catalog.octet_length(payment_reference) OPERATOR(pg_catalog.<=) 100),
    -- payers and payees named by msisdn, email or party code
    ADD COLUMN party_id_type text NOT NULL DEFAULT 'msisdn'
        CHECK (party_id_type IN ('msisdn', 'email', 'party_code')),
    ADD CONSTRAINT momo_payments_party_id_type
        CHECK (party_id_type = 'msisdn' OR operation <> 'payment');

COMMENT ON COLUMN @extschema@.momo_payments.product IS 'MoMo product: collection (request to pay or to withdraw, invoice, payment, pre-approval) or disbursement/remittance (payouts)';
COMMENT ON COLUMN @extschema@.momo_payments.operation IS 'request_to_pay, request_to_withdraw or invoice (money in), transfer, deposit or cash_transfer (money out), refund (of refund_of), payment (to a service provider), preapproval (no money: the payer''s consent to later debits)';
COMMENT ON COLUMN @extschema@.momo_payments.api_version IS 'the version of MTN''s API the payment is sent with (/v1_0 or /v2_0), the same for every resend; 2 only for a request to withdraw, a deposit or a refund, and always for a cash transfer, an invoice, a payment or a pre-approval';
COMMENT ON COLUMN @extschema@.momo_payments.extra_terms IS 'the further terms of an operation, as the members of MTN''s body: a cash transfer''s originating side, an invoice''s or a payment''s own members, a pre-approval''s payer and validityTime (NULL for the others); they never change';
COMMENT ON COLUMN @extschema@.momo_payments.callback_url IS 'the URL MTN is asked to call back for this payment (momo adds the reference id and its signature), on the host of momo.callback_url; NULL: momo.callback_url';
COMMENT ON COLUMN @extschema@.momo_payments.amount IS 'the amount, in currency; NULL for a pre-approval, which has none';
COMMENT ON COLUMN @extschema@.momo_payments.expires_at IS 'when MTN says a pre-approval (its expirationDateTime) or an invoice (its expiryDateTime) expires, once MTN tells it; NULL for other operations';
COMMENT ON COLUMN @extschema@.momo_payments.invoice_id IS 'MTN''s invoiceId of an invoice, once MTN tells it (while pending); NULL for other operations';
COMMENT ON COLUMN @extschema@.momo_payments.payment_reference IS 'MTN''s paymentReference of an invoice, the reference its payer quotes to pay it, once MTN tells it (while pending); NULL for other operations';
COMMENT ON COLUMN @extschema@.momo_payments.party_id_type IS 'how msisdn names the payer or payee: msisdn (a number), email or party_code (MTN''s partyIdType MSISDN, EMAIL or PARTY_CODE), sent as it is on every resend; msisdn for a payment to a service provider, whose msisdn is the customer reference';

CREATE FUNCTION @extschema@.momo_request_to_withdraw(
    amount numeric,
    currency text,
    msisdn text,
    external_id text DEFAULT NULL,
    payer_message text DEFAULT NULL,
    payee_note text DEFAULT NULL,
    version integer DEFAULT 1,
    id_type text DEFAULT 'msisdn',
    callback_url text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_request_to_withdraw'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_request_to_withdraw(numeric, text, text, text, text, text, integer, text, text) IS
    'queue a request to withdraw (cash-out) from msisdn, with MTN''s API version 1 or 2; sent by the momo worker when the transaction commits';

REVOKE ALL ON FUNCTION @extschema@.momo_request_to_withdraw(numeric, text, text, text, text, text, integer, text, text) FROM PUBLIC;

-- Deposits and refunds in MTN's version 1 or 2 (momo_deposit and momo_refund
-- take a version), and a callback URL per payment (every function that
-- requests one takes a callback_url): a new argument changes each
-- function's signature, so the function of 1.0 is dropped and the new one
-- created.  DROP would lose the EXECUTE a DBA granted on the old function:
-- its grants are saved first (in a setting of this transaction), and given
-- again on the new one after it is created and revoked from PUBLIC as a
-- fresh install does.  (A view or a SQL-standard function body that calls
-- one of them makes the DROP, and so the update, fail: it names the object.)
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT * FROM (VALUES
            ('momo_upgrade.deposit', '@extschema@.momo_deposit(numeric, text, text, text, text, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.refund', '@extschema@.momo_refund(uuid, numeric, text, text, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.request_to_pay', '@extschema@.momo_request_to_pay(numeric, text, text, text, text, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.transfer', '@extschema@.momo_transfer(numeric, text, text, text, text, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.remittance_transfer', '@extschema@.momo_remittance_transfer(numeric, text, text, text, text, text)'::pg_catalog.regprocedure)) AS v(setting, fn)
    LOOP
        -- each EXECUTE grant as "grantor grantee grantable position", roles by
        -- oid: a role renamed while the update runs keeps what it had
        PERFORM pg_catalog.set_config(f.setting || '_acl',
            coalesce((SELECT pg_catalog.string_agg(pg_catalog.concat_ws(' ', a.grantor, a.grantee, a.is_grantable, i.n),
                                                   ',' ORDER BY i.n)
                        FROM pg_catalog.pg_proc p,
                             pg_catalog.unnest(p.proacl) WITH ORDINALITY AS i(item, n),
                             LATERAL pg_catalog.aclexplode(ARRAY[i.item]) AS a
                       WHERE p.oid OPERATOR(pg_catalog.=) f.fn
                         AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'), ''),
            true);
        PERFORM pg_catalog.set_config(f.setting || '_owner',
            coalesce((SELECT p.proowner::text FROM pg_catalog.pg_proc p
                       WHERE p.oid OPERATOR(pg_catalog.=) f.fn), ''),
            true);
    END LOOP;
END
$$;

DROP FUNCTION @extschema@.momo_deposit(numeric, text, text, text, text, text);
DROP FUNCTION @extschema@.momo_refund(uuid, numeric, text, text, text);
DROP FUNCTION @extschema@.momo_request_to_pay(numeric, text, text, text, text, text);
DROP FUNCTION @extschema@.momo_transfer(numeric, text, text, text, text, text);
DROP FUNCTION @extschema@.momo_remittance_transfer(numeric, text, text, text, text, text);

CREATE FUNCTION @extschema@.momo_request_to_pay(
    amount numeric,
    currency text,
    msisdn text,
    external_id text DEFAULT NULL,
    payer_message text DEFAULT NULL,
    payee_note text DEFAULT NULL,
    id_type text DEFAULT 'msisdn',
    callback_url text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_request_to_pay'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_request_to_pay(numeric, text, text, text, text, text, text, text) IS
    'queue a request to pay; sent by the momo worker when the transaction commits';

REVOKE ALL ON FUNCTION @extschema@.momo_request_to_pay(numeric, text, text, text, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.momo_transfer(
    amount numeric,
    currency text,
    msisdn text,
    external_id text DEFAULT NULL,
    payer_message text DEFAULT NULL,
    payee_note text DEFAULT NULL,
    id_type text DEFAULT 'msisdn',
    callback_url text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_transfer'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_transfer(numeric, text, text, text, text, text, text, text) IS
    'queue a disbursement transfer (pay out to msisdn); sent by the momo worker when the transaction commits';

REVOKE ALL ON FUNCTION @extschema@.momo_transfer(numeric, text, text, text, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.momo_remittance_transfer(
    amount numeric,
    currency text,
    msisdn text,
    external_id text DEFAULT NULL,
    payer_message text DEFAULT NULL,
    payee_note text DEFAULT NULL,
    id_type text DEFAULT 'msisdn',
    callback_url text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_remittance_transfer'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_remittance_transfer(numeric, text, text, text, text, text, text, text) IS
    'queue a remittance transfer to msisdn (needs the momo.remittance_* settings)';

REVOKE ALL ON FUNCTION @extschema@.momo_remittance_transfer(numeric, text, text, text, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.momo_deposit(
    amount numeric,
    currency text,
    msisdn text,
    external_id text DEFAULT NULL,
    payer_message text DEFAULT NULL,
    payee_note text DEFAULT NULL,
    version integer DEFAULT 1,
    id_type text DEFAULT 'msisdn',
    callback_url text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_deposit'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_deposit(numeric, text, text, text, text, text, integer, text, text) IS
    'queue a disbursement deposit to msisdn, with MTN''s API version 1 or 2; sent by the momo worker when the transaction commits';

CREATE FUNCTION @extschema@.momo_refund(
    reference_id uuid,
    amount numeric DEFAULT NULL,
    external_id text DEFAULT NULL,
    payer_message text DEFAULT NULL,
    payee_note text DEFAULT NULL,
    version integer DEFAULT 1,
    callback_url text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_refund'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_refund(uuid, numeric, text, text, text, integer, text) IS
    'queue a refund of a successful request to pay, whole (amount NULL) or in part; never more than is left; with MTN''s API version 1 or 2';

REVOKE ALL ON FUNCTION @extschema@.momo_deposit(numeric, text, text, text, text, text, integer, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_refund(uuid, numeric, text, text, text, integer, text) FROM PUBLIC;


-- Remittance's cash transfer (momo_cash_transfer), MTN's /v2_0/cashtransfer:
-- its originating side is kept in extra_terms (see above).
CREATE FUNCTION @extschema@.momo_cash_transfer(
    amount numeric,
    currency text,
    msisdn text,
    external_id text DEFAULT NULL,
    payer_message text DEFAULT NULL,
    payee_note text DEFAULT NULL,
    originating_country text DEFAULT NULL,
    original_amount numeric DEFAULT NULL,
    original_currency text DEFAULT NULL,
    payer_identification_type text DEFAULT NULL,
    payer_identification_number text DEFAULT NULL,
    payer_identity text DEFAULT NULL,
    payer_first_name text DEFAULT NULL,
    payer_surname text DEFAULT NULL,
    payer_language_code text DEFAULT NULL,
    payer_email text DEFAULT NULL,
    payer_msisdn text DEFAULT NULL,
    payer_gender text DEFAULT NULL,
    id_type text DEFAULT 'msisdn',
    callback_url text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_cash_transfer'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_cash_transfer(numeric, text, text, text, text, text, text, numeric, text, text, text, text, text, text, text, text, text, text, text, text) IS
    'queue a remittance cash transfer (MTN''s /v2_0/cashtransfer) to msisdn, with its originating side; sent by the momo worker when the transaction commits';

REVOKE ALL ON FUNCTION @extschema@.momo_cash_transfer(numeric, text, text, text, text, text, text, numeric, text, text, text, text, text, text, text, text, text, text, text, text) FROM PUBLIC;

-- Collection's invoices (momo_create_invoice, momo_cancel_invoice) and
-- payments (momo_create_payment), MTN's /v2_0/invoice and /v2_0/payment:
-- their own members are kept in extra_terms (see above).
CREATE FUNCTION @extschema@.momo_create_invoice(
    amount numeric,
    currency text,
    msisdn text,
    external_id text DEFAULT NULL,
    validity_duration integer DEFAULT NULL,
    description text DEFAULT NULL,
    payee_msisdn text DEFAULT NULL,
    id_type text DEFAULT 'msisdn',
    callback_url text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_create_invoice'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_create_invoice(numeric, text, text, text, integer, text, text, text, text) IS
    'queue a collection invoice (MTN''s /v2_0/invoice) that the payer msisdn can pay later, valid for validity_duration seconds; sent by the momo worker when the transaction commits';

CREATE FUNCTION @extschema@.momo_cancel_invoice(reference_id uuid)
RETURNS @extschema@.momo_payments
AS 'MODULE_PATHNAME', 'momo_cancel_invoice'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_cancel_invoice(uuid) IS
    'ask MTN now to cancel a pending invoice (DELETE /v2_0/invoice/{ref}), then ask about it and return its row';

CREATE FUNCTION @extschema@.momo_create_payment(
    amount numeric,
    currency text,
    customer_reference text,
    service_provider_user_name text,
    external_id text DEFAULT NULL,
    coupon_id text DEFAULT NULL,
    product_id text DEFAULT NULL,
    product_offering_id text DEFAULT NULL,
    receiver_message text DEFAULT NULL,
    sender_note text DEFAULT NULL,
    max_number_of_retries integer DEFAULT NULL,
    include_sender_charges boolean DEFAULT NULL,
    callback_url text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_create_payment'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_create_payment(numeric, text, text, text, text, text, text, text, text, text, integer, boolean, text) IS
    'queue a collection payment to a service provider (MTN''s /v2_0/payment: a bill, air time) for customer_reference; sent by the momo worker when the transaction commits';

REVOKE ALL ON FUNCTION @extschema@.momo_create_invoice(numeric, text, text, text, integer, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_cancel_invoice(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_create_payment(numeric, text, text, text, text, text, text, text, text, text, integer, boolean, text) FROM PUBLIC;

-- Account holders named by msisdn, email or party code: the account holder
-- functions take id_type, a new argument, so the functions of 1.0 are
-- dropped and the new ones created, their EXECUTE grants kept as for
-- momo_deposit above.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT * FROM (VALUES
            ('momo_upgrade.active', '@extschema@.momo_account_holder_active(text, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.info', '@extschema@.momo_account_holder_info(text, text)'::pg_catalog.regprocedure)) AS v(setting, fn)
    LOOP
        PERFORM pg_catalog.set_config(f.setting || '_acl',
            coalesce((SELECT pg_catalog.string_agg(pg_catalog.concat_ws(' ', a.grantor, a.grantee, a.is_grantable, i.n),
                                                   ',' ORDER BY i.n)
                        FROM pg_catalog.pg_proc p,
                             pg_catalog.unnest(p.proacl) WITH ORDINALITY AS i(item, n),
                             LATERAL pg_catalog.aclexplode(ARRAY[i.item]) AS a
                       WHERE p.oid OPERATOR(pg_catalog.=) f.fn
                         AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'), ''),
            true);
        PERFORM pg_catalog.set_config(f.setting || '_owner',
            coalesce((SELECT p.proowner::text FROM pg_catalog.pg_proc p
                       WHERE p.oid OPERATOR(pg_catalog.=) f.fn), ''),
            true);
    END LOOP;
END
$$;

DROP FUNCTION @extschema@.momo_account_holder_active(text, text);
DROP FUNCTION @extschema@.momo_account_holder_info(text, text);

CREATE FUNCTION @extschema@.momo_account_holder_active(msisdn text, product text DEFAULT 'collection',
                                                      id_type text DEFAULT 'msisdn')
RETURNS boolean
AS 'MODULE_PATHNAME', 'momo_account_holder_active'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_account_holder_active(text, text, text) IS
    'whether the account holder msisdn (or the email or party code id_type says) is registered and active, asked of MTN now';

CREATE FUNCTION @extschema@.momo_account_holder_info(msisdn text, product text DEFAULT 'collection',
    id_type text DEFAULT 'msisdn',
    OUT given_name text, OUT family_name text, OUT birthdate text, OUT locale text,
    OUT gender text, OUT status text)
AS 'MODULE_PATHNAME', 'momo_account_holder_info'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_account_holder_info(text, text, text) IS
    'basic information MTN holds on the account holder msisdn (or the email id_type says), asked now';

REVOKE ALL ON FUNCTION @extschema@.momo_account_holder_active(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_account_holder_info(text, text, text) FROM PUBLIC;


-- Pre-approvals (MTN's /v2_0/preapproval, its status, the list of a payer's
-- approved ones, and their cancellation): a pre-approval is a row of
-- momo_payments without amount (see momo_payments_amount_given above),
-- its payer and validityTime kept in extra_terms, its expiry in expires_at.

CREATE FUNCTION @extschema@.momo_preapproval(
    msisdn text,
    currency text,
    payer_message text DEFAULT NULL,
    validity interval DEFAULT NULL,
    external_id text DEFAULT NULL,
    id_type text DEFAULT 'msisdn',
    callback_url text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'momo_preapproval'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_preapproval(text, text, text, interval, text, text, text) IS
    'queue a pre-approval (MTN''s /v2_0/preapproval): the payer msisdn (or email or party code, id_type) is asked to let the merchant debit later, for validity; sent by the momo worker when the transaction commits';

CREATE FUNCTION @extschema@.momo_approved_preapprovals(msisdn text, id_type text DEFAULT 'msisdn',
    OUT preapproval_id text, OUT to_fri text, OUT from_fri text, OUT from_currency text,
    OUT created_time text, OUT approved_time text, OUT expiry_time text, OUT status text,
    OUT message text, OUT frequency text, OUT start_date text, OUT last_used_date text,
    OUT offer text, OUT external_id text, OUT max_debit_amount text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'momo_approved_preapprovals'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_approved_preapprovals(text, text) IS
    'the pre-approvals the account holder msisdn (or email, id_type) approved for this merchant, asked of MTN now';

CREATE FUNCTION @extschema@.momo_cancel_preapproval(preapproval_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'momo_cancel_preapproval'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.momo_cancel_preapproval(uuid) IS
    'cancel an approved pre-approval the caller made (MTN''s DELETE /v1_0/preapproval/{id}), now: not undone by a rollback';

REVOKE ALL ON FUNCTION @extschema@.momo_preapproval(text, text, text, interval, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_approved_preapprovals(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.momo_cancel_preapproval(uuid) FROM PUBLIC;

CREATE FUNCTION @extschema@.momo_config_loaded(OUT database text, OUT pid integer, OUT loaded_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'momo_config_loaded'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.momo_config_loaded() IS
    'each running momo process (the launcher with a NULL database, and each database''s worker) and when the configuration it runs with was loaded (its last reload)';

REVOKE ALL ON FUNCTION @extschema@.momo_config_loaded() FROM PUBLIC;

-- NOTIFY momo_payments, '{"reference_id":…,"status":…}' when a payment becomes
-- final.  Any role may LISTEN, and any role may NOTIFY on any channel: the
-- payload tells only what a stranger may know, and a listener re-reads the row
-- (README, "Security model").  With momo.wait_for_standby the worker sends it
-- instead, once that standby has flushed the commit (it finds the final
-- statuses in the change feed): a NOTIFY sent at commit would tell of a status
-- that a failover to that standby could still lose.
CREATE OR REPLACE FUNCTION @extschema@.momo_payments_notify() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('momo.wait_for_standby', true) <> '' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_notify('momo_payments',
        pg_catalog.json_build_object('reference_id', NEW.reference_id,
                                     'status', NEW.status)::text);
    RETURN NULL;
END
$$;

-- Only momo writes its tables (src/guard.c, momo_writer_guard): any role but
-- momo_worker (as which momo's functions and worker act) and superusers is
-- refused, whatever privileges it holds -- a member of pg_write_all_data
-- could otherwise forge the audit trail or the change feed, lift a pause,
-- set MTN's fees, or empty the payments with TRUNCATE (which fires no row
-- trigger).  ALWAYS: also under session_replication_role = replica, which
-- skips triggers of the default kind, the row guard of momo_payments among
-- them (a role granted SET on it had the worker send a payout it wrote).
CREATE FUNCTION @extschema@.momo_writer_guard() RETURNS trigger
AS 'MODULE_PATHNAME', 'momo_writer_guard'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.momo_writer_guard() FROM PUBLIC;
CREATE TRIGGER momo_writer_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.momo_payments
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_writer_guard();
CREATE TRIGGER momo_writer_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.momo_fee_schedule
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_writer_guard();
CREATE TRIGGER momo_writer_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.momo_events
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_writer_guard();
CREATE TRIGGER momo_writer_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.momo_payment_changes
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_writer_guard();
CREATE TRIGGER momo_writer_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.momo_change_horizon
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_writer_guard();
CREATE TRIGGER momo_writer_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.momo_change_numbering
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_writer_guard();
CREATE TRIGGER momo_writer_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.momo_payment_counts
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_writer_guard();
CREATE TRIGGER momo_writer_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.momo_pauses
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.momo_writer_guard();
ALTER TABLE @extschema@.momo_payments ENABLE ALWAYS TRIGGER momo_writer_guard;
ALTER TABLE @extschema@.momo_fee_schedule ENABLE ALWAYS TRIGGER momo_writer_guard;
ALTER TABLE @extschema@.momo_events ENABLE ALWAYS TRIGGER momo_writer_guard;
ALTER TABLE @extschema@.momo_payment_changes ENABLE ALWAYS TRIGGER momo_writer_guard;
ALTER TABLE @extschema@.momo_change_horizon ENABLE ALWAYS TRIGGER momo_writer_guard;
ALTER TABLE @extschema@.momo_change_numbering ENABLE ALWAYS TRIGGER momo_writer_guard;
ALTER TABLE @extschema@.momo_payment_counts ENABLE ALWAYS TRIGGER momo_writer_guard;
ALTER TABLE @extschema@.momo_pauses ENABLE ALWAYS TRIGGER momo_writer_guard;

-- No DDL by a role with momo_worker's rights (momo_worker by SET ROLE, or a
-- member of it, NOINHERIT or not; src/guard.c, momo_ddl_guard), and no
-- exception for momo's own code, which runs none: as the owner of momo's
-- tables such a role could disable their guards for a moment, grant itself
-- INSERT, or leave a function that momo's statements would trust.
-- ALWAYS: also under session_replication_role = replica.
CREATE FUNCTION @extschema@.momo_ddl_guard() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'momo_ddl_guard'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.momo_ddl_guard() FROM PUBLIC;
CREATE EVENT TRIGGER momo_ddl_guard ON ddl_command_start
    EXECUTE FUNCTION @extschema@.momo_ddl_guard();
ALTER EVENT TRIGGER momo_ddl_guard ENABLE ALWAYS;

-- What the updating role's default privileges (ALTER DEFAULT PRIVILEGES ...
-- GRANT ALL ON TABLES / EXECUTE ON FUNCTIONS TO ...) granted on the objects
-- the update created, to roles other than momo_worker and superusers, is
-- revoked, as CREATE EXTENSION revokes it (see momo.sql): such a role
-- could otherwise read every tenant's change feed, lift a pause, or queue a
-- payout with a function new in 1.1.  The grants on objects of 1.0 are the
-- DBA's and stay; those on the functions the update recreated are given
-- again below, as they were.
DO $momo$
DECLARE
    g record;
    before pg_catalog.oid[] := pg_catalog.current_setting('momo_upgrade.members_before')::pg_catalog.oid[];
BEGIN
    FOR g IN
        SELECT pg_catalog.format('%s %s', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                                 c.oid::pg_catalog.regclass) AS object, a.grantee
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
          CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e
                                                   WHERE e.extname OPERATOR(pg_catalog.=) 'momo')
           AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND NOT d.objid OPERATOR(pg_catalog.=) ANY (before)
           AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
        UNION ALL
        SELECT pg_catalog.format('FUNCTION %s', p.oid::pg_catalog.regprocedure), a.grantee
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
          CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e
                                                   WHERE e.extname OPERATOR(pg_catalog.=) 'momo')
           AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND NOT d.objid OPERATOR(pg_catalog.=) ANY (before)
           AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
    LOOP
        CONTINUE WHEN g.grantee OPERATOR(pg_catalog.=) 'momo_worker'::pg_catalog.regrole
                   OR EXISTS (SELECT FROM pg_catalog.pg_roles r
                               WHERE r.oid OPERATOR(pg_catalog.=) g.grantee AND r.rolsuper);
        EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s', g.object,
                                  CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END);
    END LOOP;
    PERFORM pg_catalog.set_config('momo_upgrade.members_before', '', true);
END
$momo$;

-- The EXECUTE each role (or PUBLIC) had on the functions of 1.0 that the
-- update dropped and created anew (momo_deposit, momo_refund, ...; their
-- grants and owners saved above), with its grant option, each by its
-- grantor (a role that had the grant option gives again what it gave:
-- REVOKE ... CASCADE from it still reaches them).  Not the new owner's own
-- entry (a fresh install has none), nor a role's grant to itself -- but an
-- old owner that is not the new one, nor a superuser (ALTER FUNCTION ...
-- OWNER TO, or an installer no longer superuser), keeps its EXECUTE, given
-- by the new owner, and what others gave it.  The old owner's grants are given as the new
-- owner's; a role's grants are given as that role (SET LOCAL ROLE; the
-- session's login role must be a superuser, or a member of it), after the
-- grant that gave it its grant option (the ACL need not list them in that
-- order), and then the update becomes again the role it ran as (RESET ROLE
-- would be the session's login role, which may be no superuser).  A
-- grantor that has lost USAGE on momo's schema (which GRANT needs to find
-- the function) is lent it for its grants, and the schema's privileges are
-- put back after.  A superuser's grant is recorded as the owner's whoever
-- gives it, so none is given as a superuser; nor any as momo_worker (momo's
-- DDL guard refuses its GRANT), whose grants are given as the owner's.
-- PostgreSQL records what an extension's script grants as the object's
-- initial privileges (pg_init_privs), which pg_dump leaves out: these
-- grants are the DBA's, so the initial privileges are set back to what the
-- function had before them, as after a fresh install, and a dump keeps
-- them (they were lost in a restore).
DO $$
DECLARE
    f record;
    g record;
    owner oid;
    old_owner oid;
    old_super boolean;
    ran_as text := pg_catalog.current_setting('role');
    before pg_catalog.aclitem[];
    switched boolean;
    lent boolean;
    schema_init pg_catalog.aclitem[];
    schema_had_init boolean;
    schema_lent boolean := false;
BEGIN
    -- GRANT on the schema records its privileges as initial ones while an
    -- extension's script runs: those of before are put back at the end
    SELECT i.initprivs INTO schema_init FROM pg_catalog.pg_init_privs i
     WHERE i.objoid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
       AND i.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
       AND i.objsubid OPERATOR(pg_catalog.=) 0;
    schema_had_init := FOUND;
    FOR f IN SELECT * FROM (VALUES
            ('momo_upgrade.deposit', '@extschema@.momo_deposit(numeric, text, text, text, text, text, integer, text, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.refund', '@extschema@.momo_refund(uuid, numeric, text, text, text, integer, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.request_to_pay', '@extschema@.momo_request_to_pay(numeric, text, text, text, text, text, text, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.transfer', '@extschema@.momo_transfer(numeric, text, text, text, text, text, text, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.remittance_transfer', '@extschema@.momo_remittance_transfer(numeric, text, text, text, text, text, text, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.active', '@extschema@.momo_account_holder_active(text, text, text)'::pg_catalog.regprocedure),
            ('momo_upgrade.info', '@extschema@.momo_account_holder_info(text, text, text)'::pg_catalog.regprocedure)) AS v(setting, fn)
    LOOP
        SELECT p.proowner, p.proacl INTO owner, before
          FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) f.fn;
        old_owner := NULLIF(pg_catalog.current_setting(f.setting || '_owner'), '')::pg_catalog.oid;
        old_super := EXISTS (SELECT FROM pg_catalog.pg_roles r
                              WHERE r.oid OPERATOR(pg_catalog.=) old_owner AND r.rolsuper);
        FOR g IN
            WITH RECURSIVE item AS (
                SELECT pg_catalog.split_part(e, ' ', 1)::pg_catalog.oid AS grantor,
                       pg_catalog.split_part(e, ' ', 2)::pg_catalog.oid AS grantee,
                       pg_catalog.split_part(e, ' ', 3)::pg_catalog.bool AS is_grantable,
                       pg_catalog.split_part(e, ' ', 4)::pg_catalog.int8 AS n
                  FROM pg_catalog.unnest(pg_catalog.string_to_array(
                           NULLIF(pg_catalog.current_setting(f.setting || '_acl'), ''), ',')) AS e),
            -- how far each holder of the grant option is from the old owner
            -- (a chain is no longer than the grants; grants may go round)
            reach(holder, depth) AS (
                SELECT old_owner, 0::pg_catalog.int8
                UNION
                SELECT item.grantee, reach.depth OPERATOR(pg_catalog.+) 1
                  FROM item JOIN reach ON item.grantor OPERATOR(pg_catalog.=) reach.holder
                 WHERE item.is_grantable
                   AND reach.depth OPERATOR(pg_catalog.<) (SELECT pg_catalog.count(*) FROM item))
            SELECT item.grantor, item.grantee, item.is_grantable,
                   (SELECT pg_catalog.min(reach.depth) FROM reach
                     WHERE reach.holder OPERATOR(pg_catalog.=) item.grantor) AS depth, item.n
              FROM item
             WHERE item.grantee OPERATOR(pg_catalog.<>) owner
               AND CASE WHEN item.grantee OPERATOR(pg_catalog.=) old_owner THEN NOT old_super
                        ELSE item.grantee OPERATOR(pg_catalog.<>) item.grantor END
             ORDER BY 4 NULLS LAST, 5
        LOOP
            switched := g.grantor IS DISTINCT FROM old_owner
                        AND g.grantor OPERATOR(pg_catalog.<>) owner
                        AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                                         WHERE r.oid OPERATOR(pg_catalog.=) g.grantor
                                           AND (r.rolsuper OR r.rolname OPERATOR(pg_catalog.=) 'momo_worker'));
            lent := switched AND NOT pg_catalog.has_schema_privilege(g.grantor, '@extschema@'::pg_catalog.regnamespace, 'USAGE');
            IF lent THEN
                EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %s TO %I', '@extschema@'::pg_catalog.regnamespace,
                                          pg_catalog.pg_get_userbyid(g.grantor));
                schema_lent := true;
            END IF;
            IF switched THEN
                EXECUTE pg_catalog.format('SET LOCAL ROLE %I', pg_catalog.pg_get_userbyid(g.grantor));
            END IF;
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', f.fn,
                CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                     ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
                CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
            IF switched THEN
                IF ran_as OPERATOR(pg_catalog.=) 'none' THEN
                    SET LOCAL ROLE NONE;
                ELSE
                    EXECUTE pg_catalog.format('SET LOCAL ROLE %I', ran_as);
                END IF;
            END IF;
            IF lent THEN
                EXECUTE pg_catalog.format('REVOKE USAGE ON SCHEMA %s FROM %I', '@extschema@'::pg_catalog.regnamespace,
                                          pg_catalog.pg_get_userbyid(g.grantor));
            END IF;
        END LOOP;
        IF before IS NULL THEN
            DELETE FROM pg_catalog.pg_init_privs
             WHERE objoid OPERATOR(pg_catalog.=) f.fn
               AND classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
               AND objsubid OPERATOR(pg_catalog.=) 0;
        ELSE
            UPDATE pg_catalog.pg_init_privs SET initprivs = before
             WHERE objoid OPERATOR(pg_catalog.=) f.fn
               AND classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
               AND objsubid OPERATOR(pg_catalog.=) 0;
        END IF;
        PERFORM pg_catalog.set_config(f.setting || '_acl', '', true);
        PERFORM pg_catalog.set_config(f.setting || '_owner', '', true);
    END LOOP;
    IF schema_lent AND schema_had_init THEN
        UPDATE pg_catalog.pg_init_privs SET initprivs = schema_init
         WHERE objoid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
           AND classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
           AND objsubid OPERATOR(pg_catalog.=) 0;
    ELSIF schema_lent THEN
        DELETE FROM pg_catalog.pg_init_privs
         WHERE objoid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
           AND classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
           AND objsubid OPERATOR(pg_catalog.=) 0;
    END IF;
END
$$;
