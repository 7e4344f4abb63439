--
-- callback: momo_callback as an attacker who knows the callback URL uses it.
-- A forged callback leaves nothing it carried: no row, a count in shared
-- memory (momo_ignored_callbacks) and, at most once a minute in the whole
-- cluster, a LOG line of fixed text (t/009_callback_log.pl reads the log).
-- A signed one -- which may be a replay of a real URL with any body -- that
-- schedules a status check leaves its reference id and, of its body, at most
-- one of MTN's status words; replays within the duplicate window schedule
-- nothing and are only counted. The body never decides a payment.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA momo_test;   -- dropped with momo_test by setup
RESET client_min_messages;

-- The duplicate window is 5 seconds, or the shortest polling interval if
-- longer: 10 minutes here, so that the replays below fall inside it however
-- slowly this test runs.
ALTER SYSTEM SET momo.callback_secret = 'regression-callback-secret-0123456789';
ALTER SYSTEM SET momo.poll_interval_min = '10min';
ALTER SYSTEM SET momo.poll_interval_max = '10min';
SELECT momo_test.reload() AS reloaded;
SELECT current_setting('momo.callback_secret') = 'regression-callback-secret-0123456789' AS secret_set,
       current_setting('momo.poll_interval_min') AS poll_interval_min;

-- Waits until the worker made more than checks status checks of the payment.
CREATE FUNCTION momo_test.wait_checked(ref uuid, checks integer) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..300 LOOP
        PERFORM FROM momo_payments WHERE reference_id = ref AND status_checks > checks;
        IF FOUND THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN false;
END
$$;

-- MTN (the sandbox) records the callback of a successful payment at once,
-- while its status endpoint keeps answering PENDING for 10 minutes.
SELECT momo_test.sandbox('config', '{"early_callbacks": true, "early_callbacks_ms": 600000}') IS NOT NULL AS configured;
SELECT momo_request_to_pay(19, 'EUR', '46733000019', 'CB-ATTACK') AS ref \gset
SELECT momo_test.wait_sent(:'ref');
SELECT split_part(c->>'url', '?', 2) AS qs, c->>'body' AS body
  FROM jsonb_array_elements(momo_test.sandbox('callbacks?referenceId=' || :'ref')) c \gset
SELECT :'qs' = format('momo_ref=%s&momo_sig=%s', :'ref',
                      encode(momo_test.hmac(:'ref', current_setting('momo.callback_secret'), 'sha256'), 'hex'))
       AS signed_url, (:'body')::jsonb->>'status' AS body_says;
SELECT coalesce(max(id), 0) AS before FROM momo_events \gset
CREATE TEMP TABLE ignored_before AS SELECT * FROM momo_ignored_callbacks();

-- A forged callback carrying 1 MB of attacker text.
SELECT momo_callback(repeat('momo_ref=ATTACKER&', 50000), repeat('{"status":"ATTACKER"}', 50000));

-- Forgeries carrying attacker text: in the query string (long, control
-- characters, SQL, repeated and odd parameters, wrong or foreign
-- signatures) and in the body (long, control characters, SQL, huge and deep
-- JSON, a claimed success). Each gets the verdict README.md documents.
CREATE TEMP TABLE attacks (n serial, query_string text, body text);
INSERT INTO attacks (query_string, body) VALUES
    -- no valid momo_ref
    ('', 'ATTACKER not json'),
    ('?', NULL),
    (E'momo_ref=ATTACKER\x01\x07\x1b[31m\r\nLOG:  ATTACKER fake line', E'{"status":"ATTACKER\x01\x1b[2J\r\n"}'),
    (format($$momo_ref=%s'); DROP TABLE momo_payments; --ATTACKER&momo_sig=%s$$, :'ref', repeat('0', 64)),
     $${"status":"'); DELETE FROM momo_events; --ATTACKER"}$$),
    (format('momo_ref=%s&momo_ref=%s&momo_sig=%s', :'ref', :'ref', split_part(:'qs', 'momo_sig=', 2)), :'body'),
    (format('momo_ref=%s&momo_ref=ATTACKER&momo_sig=%s', :'ref', split_part(:'qs', 'momo_sig=', 2)), :'body'),
    (:'qs' || '&momo_sig=ATTACKER', :'body'),
    (format('momo_ref=%s&momo_sig=%s', upper(:'ref'), split_part(:'qs', 'momo_sig=', 2)), :'body'),
    (replace(:'qs', '-', '%2D'), :'body'),
    ('momo_ref=------------------------------------&momo_sig=ATTACKER', '{"status":"SUCCESSFUL"}'),
    ('momo_ref=' || repeat('a', 36) || '&momo_sig=ATTACKER', NULL),
    ('&&&=&momo_ref&momo_sig&momo_ref=&ATTACKER=ATTACKER&&', '{}'),
    ('momo_ref =' || :'ref' || '&momo_sig=ATTACKER', NULL),
    ('momo_ref=' || :'ref' || ';ATTACKER', NULL),
    -- a well-formed momo_ref, but a wrong, missing or foreign signature
    (format('momo_ref=%s&momo_sig=%s', :'ref', repeat('0', 64)), '{"status":"SUCCESSFUL","financialTransactionId":"ATTACKER"}'),
    (format('momo_ref=%s', :'ref'), '{"status":"SUCCESSFUL"}'),
    (format('momo_ref=%s&momo_sig=', :'ref'), '{"status":"FAILED","reason":"ATTACKER"}'),
    (format('momo_ref=%s&momo_sig=ATTACKER%s', :'ref', repeat('f', 56)), repeat('ATTACKER', 250000)),
    (format('momo_ref=%s&momo_sig=%s', :'ref',
            encode(momo_test.hmac(:'ref', 'ATTACKER-secret', 'sha256'), 'hex')), '{"status":"SUCCESSFUL"}'),
    (format('momo_ref=%s&momo_sig=%s', '7d1f9b8e-0000-4000-8000-000000000000', split_part(:'qs', 'momo_sig=', 2)), :'body'),
    (format('momo_sig=%s&note=%s&momo_ref=%s', repeat('1', 64), repeat('ATTACKER', 10000), :'ref'),
     '{"status":"' || repeat('ATTACKER', 250000) || '"}'),
    (format('momo_ref=%s&momo_sig=%s', :'ref', repeat('2', 64)),
     repeat('{"status":"ATTACKER","a":', 100000) || '1' || repeat('}', 100000)),
    (format('momo_ref=%s&momo_sig=%s', :'ref', repeat('3', 64)), repeat('[', 200000));
SELECT n, momo_callback(query_string, body) AS verdict FROM attacks ORDER BY n;

-- The signed URL itself, delivered: a status check is due now (seen before
-- the commit that wakes the worker).
SELECT status_checks AS checks_before FROM momo_payments WHERE reference_id = :'ref' \gset
BEGIN;
SELECT momo_callback(:'qs', :'body') AS verdict;
SELECT status, callback_at IS NOT NULL AS called_back, next_check_at <= now() AS due
  FROM momo_payments WHERE reference_id = :'ref';
COMMIT;
-- Once the worker has asked MTN (still PENDING), the next check is 10 minutes away.
SELECT momo_test.wait_checked(:'ref', :checks_before);
SELECT callback_at AS called_back_at, next_check_at AS next_check FROM momo_payments WHERE reference_id = :'ref' \gset
SELECT status, next_check_at > now() + interval '5 minutes' AS next_check_far FROM momo_payments
 WHERE reference_id = :'ref';

-- Replays of the signed URL, as MTN repeats it or as an attacker does, with
-- its body or with any other: duplicates; nothing is scheduled.
SELECT b.n, momo_callback(q.qs, b.body) AS verdict
  FROM (VALUES ('?' || :'qs'), (:'qs'), (:'qs' || '&other=ATTACKER')) q(qs),
       (VALUES (1, :'body'), (2, NULL), (3, '{"status":"ATTACKER free text"}'),
               (4, E'{"status":"SUCCESSFUL\x01ATTACKER"}'), (5, '{"status":"FAILED","reason":"ATTACKER"}'),
               (6, '{"status":"' || repeat('ATTACKER', 250000) || '"}'),
               (7, repeat('{"status":"ATTACKER","a":', 100000) || '1' || repeat('}', 100000)),
               (8, '{"status":"pending"}'), (9, '{"status":"SUCCESSFUL","status":"ATTACKER"}'),
               (10, '{"status":"CREATED"}'), (11, '{"status":"PENDING"}'), (12, 'ATTACKER not json'),
               (13, repeat('[', 60000)),
               (14, repeat('{"status":"ATTACKER","a":', 2000) || '1' || repeat('}', 2000))) b(n, body)
 ORDER BY b.n, q.qs;
SELECT callback_at = :'called_back_at' AS callback_at_unchanged,
       next_check_at = :'next_check' AS next_check_unchanged,
       status, reason, financial_transaction_id
  FROM momo_payments WHERE reference_id = :'ref';

-- What the event log kept of all this: only the callbacks that scheduled a
-- check, with the reference id the signature proved, and no claimed status
-- but MTN's words; the others were counted.
SELECT c.reason, c.ignored - b.ignored AS ignored_here
  FROM momo_ignored_callbacks() c JOIN ignored_before b USING (reason) ORDER BY 1;
SELECT outcome, reference_id = :'ref' AS proven_ref, reason, http_status, error, count(*)
  FROM momo_events WHERE id > :before AND operation = 'callback'
 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3;
SELECT count(*) FILTER (WHERE e::text ~* 'attacker') AS events_with_attacker_text,
       count(*) FILTER (WHERE e.operation = 'callback' AND e::text ~ '[^ -~]') AS callback_events_with_control_characters,
       max(length(e::text)) FILTER (WHERE e.operation = 'callback') < 150 AS callback_events_short
  FROM momo_events e WHERE id > :before;

-- The body never decided: MTN's status endpoint still says PENDING.
SELECT status, reason, financial_transaction_id FROM momo_payment_status(:'ref');

SELECT momo_test.sandbox('config', '{"early_callbacks": false}') IS NOT NULL AS configured;
ALTER SYSTEM RESET momo.callback_secret;
ALTER SYSTEM RESET momo.poll_interval_min;
ALTER SYSTEM RESET momo.poll_interval_max;
SELECT momo_test.reload() AS reloaded;
