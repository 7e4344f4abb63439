--
-- pause: the pause switch from SQL.  The arguments of momo_pause and
-- momo_resume (each error names its argument as its column name), who may
-- call them and read momo_pauses, what they write, what momo_stats,
-- momo_worker_status() and momo_preflight() say, and that a payment
-- requested while paused queues and is sent after the resume.  What the
-- worker does meanwhile (nothing sent, status checks go on, the pause
-- outlives a restart, the order after a resume, the automatic pause) is
-- proven with the sandbox's own counts in test/t/018_pause.pl.
--
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['momo_pause_oncall', 'momo_pause_stranger'] LOOP
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END
$$;
RESET client_min_messages;
SELECT count(*) AS paused_before FROM momo_pauses;

-- Each line below the statement is its error: SQLSTATE, message, detail,
-- hint, and column name (momo_test.try_column, from the test validation).
\pset tuples_only on
\pset format unaligned

-- reason: required, one line, at most 500 characters.
SELECT momo_test.try_column($$SELECT momo_pause(NULL)$$);
SELECT momo_test.try_column($$SELECT momo_pause('')$$);
SELECT momo_test.try_column($$SELECT momo_pause(E' \t ')$$);
SELECT momo_test.try_column($$SELECT momo_pause(repeat('x', 501))$$);
SELECT momo_test.try_column($$SELECT momo_pause(E'MTN incident\nsecond line')$$);
SELECT momo_test.try_column($$SELECT momo_pause(E'MTN incident \u202Enruter')$$);
-- product: one of the three, or NULL for every product.
SELECT momo_test.try_column($$SELECT momo_pause('maintenance', 'Collection')$$);
SELECT momo_test.try_column($$SELECT momo_pause('maintenance', '')$$);
SELECT momo_test.try_column($$SELECT momo_resume('payouts')$$);
SELECT momo_test.try_column($$SELECT momo_resume(product => 'all')$$);
-- Both wrong: the first is the message, the other the detail; both columns.
SELECT momo_test.try_column($$SELECT momo_pause(NULL, 'all')$$);
-- No argument at all: PostgreSQL's own error (reason has no default).
SELECT momo_test.try($$SELECT momo_pause()$$);
\pset tuples_only off
\pset format aligned
SELECT count(*) AS paused_after_errors FROM momo_pauses;

-- Who may pause: nothing of momo is granted to PUBLIC.  A role with an
-- application's grants (and LISTEN, which no one can be refused) can neither
-- pause, resume nor read why sending is paused.
CREATE ROLE momo_pause_stranger;
GRANT USAGE ON SCHEMA momo_test TO momo_pause_stranger;
GRANT EXECUTE ON FUNCTION momo_test.try(text) TO momo_pause_stranger;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text) TO momo_pause_stranger;
GRANT SELECT ON momo_payments TO momo_pause_stranger;
SET ROLE momo_pause_stranger;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_pause('let me in')$$);
SELECT momo_test.try($$SELECT momo_resume()$$);
SELECT momo_test.try($$SELECT * FROM momo_pauses$$);
SELECT momo_test.try($$INSERT INTO momo_pauses (product, reason) VALUES ('collection', 'let me in')$$);
SELECT momo_test.try($$SELECT * FROM momo_stats$$);
\pset tuples_only off
\pset format aligned
RESET ROLE;
SELECT count(*) AS paused_by_the_stranger FROM momo_pauses;

-- An operator: a role the superuser grants the two functions, and SELECT on
-- momo_pauses to read the reasons.
CREATE ROLE momo_pause_oncall;
GRANT EXECUTE ON FUNCTION momo_pause(text, text), momo_resume(text) TO momo_pause_oncall;
GRANT SELECT ON momo_pauses TO momo_pause_oncall;
SET ROLE momo_pause_oncall;
SELECT momo_pause('MTN incident 42: payouts double-debited', 'disbursement');
SELECT product, reason, paused_by, automatic, now() - paused_at < interval '1 minute' AS paused_just_now FROM momo_pauses;
-- Pausing every product: the one already paused takes the new reason.
SELECT momo_pause('MTN maintenance window');
SELECT product, reason, paused_by, automatic FROM momo_pauses ORDER BY product;
-- Its writes go through momo's own role: the operator cannot write the table.
INSERT INTO momo_pauses (product, reason) VALUES ('remittance', 'by hand');
RESET ROLE;

-- The worker sees the pauses (its latch is set at the commit): its problem
-- names each paused product, and momo_stats and momo_preflight() say so.
SELECT momo_test.wait_for(
    $$SELECT problem LIKE '%sending collection payments is paused since %, by momo_pause_oncall: MTN maintenance window%'
             AND problem LIKE '%sending disbursement payments is paused%'
             AND problem LIKE '%sending remittance payments is paused%'
        FROM momo_worker_status()$$) AS worker_sees_the_pause;
SELECT label, value FROM momo_stats WHERE metric = 'paused' ORDER BY label;
SELECT ok, detail ~ '^sending collection payments is paused since .*, by momo_pause_oncall: MTN maintenance window; sending disbursement payments is paused since .*; sending remittance payments is paused since .*$' AS detail_lists_them
  FROM momo_preflight() WHERE check_name = 'paused';

-- Payments queue while paused: momo_request_to_pay takes them.
SELECT momo_request_to_pay(7, 'EUR', '46733000050', 'PAUSE-QUEUED-1') AS queued_ref \gset
SELECT status, attempts FROM momo_payments WHERE reference_id = :'queued_ref';

-- Resuming one product leaves the others paused.
SET ROLE momo_pause_oncall;
SELECT momo_resume('remittance');
SELECT product FROM momo_pauses ORDER BY product;
-- Resuming what is not paused says so.
SELECT momo_resume('remittance');
-- And every product: the queued payment is sent and completes.
SELECT momo_resume();
SELECT momo_resume();
RESET ROLE;
SELECT count(*) AS paused_after_resume FROM momo_pauses;
SELECT status, reason, has_ftid, attempts FROM momo_test.outcome(:'queued_ref');
SELECT momo_test.wait_for($$SELECT problem IS NULL FROM momo_worker_status()$$) AS worker_sends_again;
SELECT label, value FROM momo_stats WHERE metric = 'paused' ORDER BY label;
SELECT ok, detail FROM momo_preflight() WHERE check_name = 'paused';

-- A trigger a DBA puts on momo_pauses would run as momo_worker when momo
-- writes the table: momo refuses to act while it is not SECURITY DEFINER,
-- as for momo_payments (README, "Security model").
CREATE FUNCTION momo_test.pause_spy() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER pause_spy AFTER INSERT ON momo_pauses
    FOR EACH ROW EXECUTE FUNCTION momo_test.pause_spy();
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_pause('spied on')$$);
\pset tuples_only off
\pset format aligned
SELECT ok FROM momo_preflight() WHERE check_name = 'triggers on momo_payments';
DROP TRIGGER pause_spy ON momo_pauses;
DROP FUNCTION momo_test.pause_spy();
SELECT count(*) AS paused_at_the_end FROM momo_pauses;

DROP OWNED BY momo_pause_oncall;
DROP ROLE momo_pause_oncall;
DROP OWNED BY momo_pause_stranger;
DROP ROLE momo_pause_stranger;
