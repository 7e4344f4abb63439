--
-- faults: how the worker meets MTN's failures, with the local sandbox's
-- counters as the witness.  A retry reuses the X-Reference-Id; a resend of
-- a request MTN already holds is answered 409 and counted as accepted.
--
SELECT momo_test.sandbox('reset', '{}') IS NOT NULL AS reset;

-- A normal payment: one POST, accepted once, no conflict.
SELECT momo_request_to_pay(10, 'EUR', '46733000010', 'F-normal') AS ref \gset
SELECT * FROM momo_test.outcome(:'ref');
SELECT s->'posts' AS posts, s->'accepted' AS accepted, s->'conflicts' AS conflicts
  FROM momo_test.seen(:'ref') s;

-- MTN stores the request but the connection drops before the answer: the
-- worker cannot know, resends with the same reference id, gets 409, and
-- the payer is charged once.
SELECT momo_test.sandbox('config', '{"drop_first": 1}') IS NOT NULL AS configured;
SELECT momo_request_to_pay(11, 'EUR', '46733000011', 'F-drop') AS ref \gset
-- (attempts is not shown: on a reused connection libcurl itself resends
-- once when the answer never comes, with the same headers and reference id.)
SELECT status, reason, has_ftid FROM momo_test.outcome(:'ref');
SELECT s->'posts' AS posts, s->'accepted' AS accepted, s->'conflicts' AS conflicts
  FROM momo_test.seen(:'ref') s;
SELECT momo_test.sandbox('config', '{"drop_first": 0}') IS NOT NULL AS configured;

-- 500 twice, then accepted: retried with backoff, never failed.
SELECT momo_test.sandbox('config', '{"fail_first": 2, "fail_status": 500}') IS NOT NULL AS configured;
SELECT momo_request_to_pay(12, 'EUR', '46733000012', 'F-500') AS ref \gset
SELECT * FROM momo_test.outcome(:'ref');
SELECT s->'posts' AS posts, s->'faults' AS faults, s->'accepted' AS accepted
  FROM momo_test.seen(:'ref') s;

-- 503 SERVICE_UNAVAILABLE, the same.
SELECT momo_test.sandbox('config', '{"fail_first": 1, "fail_status": 503}') IS NOT NULL AS configured;
SELECT momo_request_to_pay(13, 'EUR', '46733000013', 'F-503') AS ref \gset
SELECT * FROM momo_test.outcome(:'ref');
SELECT s->'posts' AS posts, s->'faults' AS faults FROM momo_test.seen(:'ref') s;
SELECT momo_test.sandbox('config', '{"fail_first": 0}') IS NOT NULL AS configured;

-- 429: backed off and retried.
SELECT momo_test.sandbox('config', '{"rate_limit_first": 2}') IS NOT NULL AS configured;
SELECT momo_request_to_pay(14, 'EUR', '46733000014', 'F-429') AS ref \gset
SELECT * FROM momo_test.outcome(:'ref');
SELECT s->'posts' AS posts, s->'faults' AS faults FROM momo_test.seen(:'ref') s;
SELECT momo_test.sandbox('config', '{"rate_limit_first": 0}') IS NOT NULL AS configured;

-- The access token expires: the worker gets 401, refreshes the token once
-- and the payment goes through.
SELECT momo_test.stat('tokens_issued') AS tokens_before \gset
SELECT momo_test.sandbox('expire-tokens', '{}') IS NOT NULL AS expired;
SELECT momo_request_to_pay(15, 'EUR', '46733000015', 'F-401') AS ref \gset
SELECT * FROM momo_test.outcome(:'ref');
SELECT momo_test.stat('tokens_issued') - :tokens_before AS new_tokens;
SELECT s->'posts' AS posts, s->'accepted' AS accepted FROM momo_test.seen(:'ref') s;

-- `reason` sent as an object {code, message}, as MTN's definition has it.
SELECT momo_test.sandbox('config', '{"reason_object": true}') IS NOT NULL AS configured;
SELECT momo_request_to_pay(16, 'EUR', '46733123451', 'F-reason-object') AS ref \gset
SELECT * FROM momo_test.outcome(:'ref');
SELECT momo_test.sandbox('config', '{"reason_object": false}') IS NOT NULL AS configured;

-- A status check answered 404 for a while after the 202: polled again, not failed.
SELECT momo_test.sandbox('config', '{"not_found_ms": 700}') IS NOT NULL AS configured;
SELECT momo_request_to_pay(17, 'EUR', '46733000017', 'F-404') AS ref \gset
SELECT * FROM momo_test.outcome(:'ref');
SELECT (s->>'status_gets')::int >= 2 AS polled_again FROM momo_test.seen(:'ref') s;
SELECT momo_test.sandbox('config', '{"not_found_ms": 0}') IS NOT NULL AS configured;

-- PENDING for a while, then SUCCESSFUL: polled until final.
SELECT momo_test.sandbox('config', '{"pending_ms": 800}') IS NOT NULL AS configured;
SELECT momo_request_to_pay(18, 'EUR', '46733000018', 'F-pending') AS ref \gset
SELECT * FROM momo_test.outcome(:'ref');
SELECT status_checks >= 2 AS polled_while_pending FROM momo_payments WHERE reference_id = :'ref';
SELECT momo_test.sandbox('config', '{"pending_ms": 0}') IS NOT NULL AS configured;

-- Refusals of the merchant's configuration fail nothing: they pause sending
-- (the payment waits, queued, its send not counted, the worker writes its
-- pause in momo_pauses and says why), and the payment goes through with the
-- same reference id once the configuration is fixed and an operator has
-- resumed sending (momo_resume).  A wrong target environment (HTTP 500
-- NOT_ALLOWED_TARGET_ENVIRONMENT) ...
CREATE FUNCTION momo_test.wait_paused(code text, ref uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    p text;
BEGIN
    -- the pause is published when the answer comes, the answer recorded
    -- just after: wait for both
    FOR i IN 1..300 LOOP
        SELECT w.problem INTO p FROM momo_worker_status() w;
        EXIT WHEN p LIKE '%(' || code || ')%'
              AND (SELECT last_http_status IS NOT NULL FROM momo_payments WHERE reference_id = ref);
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN regexp_replace(p, ' since [^,]+,', ' since <time>,');
END
$$;
ALTER SYSTEM SET momo.target_environment = 'mtnrwanda';
SELECT momo_test.reload() AS reloaded;
-- (the sandbox's number is one of another country now: it needs its +)
SELECT momo_request_to_pay(19, 'EUR', '+46733000019', 'F-target') AS ref \gset
SELECT momo_test.wait_paused('NOT_ALLOWED_TARGET_ENVIRONMENT', :'ref') AS problem;
SELECT status, reason, send_refused, attempts, last_http_status, last_error
  FROM momo_payments WHERE reference_id = :'ref';
SELECT momo_test.sandbox('payments/' || :'ref') IS NULL AS not_stored_by_mtn;
SELECT product, reason, paused_by, automatic FROM momo_pauses;
ALTER SYSTEM RESET momo.target_environment;
SELECT momo_test.reload() AS reloaded;
-- The pause holds until an operator resumes it.
SELECT momo_resume();
SELECT * FROM momo_test.outcome(:'ref');
SELECT s->'posts' AS posts, s->'accepted' AS accepted FROM momo_test.seen(:'ref') s;
-- ... and a callback URL whose host is not the API user's (INVALID_CALLBACK_URL_HOST).
ALTER SYSTEM SET momo.callback_url = 'https://elsewhere.example/cb';
SELECT momo_test.reload() AS reloaded;
SELECT momo_request_to_pay(20, 'EUR', '46733000020', 'F-callback') AS ref \gset
SELECT momo_test.wait_paused('INVALID_CALLBACK_URL_HOST', :'ref') AS problem;
SELECT status, attempts, last_http_status FROM momo_payments WHERE reference_id = :'ref';
ALTER SYSTEM RESET momo.callback_url;
SELECT momo_test.reload() AS reloaded;
SELECT momo_resume('collection');
SELECT * FROM momo_test.outcome(:'ref');
SELECT problem FROM momo_worker_status();

-- Key rotation: MTN refuses the primary subscription key (the API gateway's
-- 401), and the secondary key takes over.
ALTER SYSTEM SET momo.subscription_key_primary = '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0bff';
SELECT momo_test.reload() AS reloaded;
SELECT momo_request_to_pay(21, 'EUR', '46733000021', 'F-key-rotation') AS ref \gset
SELECT * FROM momo_test.outcome(:'ref');
-- Without a secondary key nothing is sent: the payment waits, queued, until
-- the configuration is fixed, then goes through.
ALTER SYSTEM SET momo.subscription_key_secondary = '';
SELECT momo_test.reload() AS reloaded;
SELECT momo_request_to_pay(22, 'EUR', '46733000022', 'F-key-refused') AS ref \gset
SELECT status FROM momo_await(:'ref', '1 second');
SELECT status, attempts, momo_test.seen(:'ref') IS NULL AS unseen_by_mtn
  FROM momo_payments WHERE reference_id = :'ref';
ALTER SYSTEM RESET momo.subscription_key_primary;
ALTER SYSTEM RESET momo.subscription_key_secondary;
SELECT momo_test.reload() AS reloaded;
SELECT * FROM momo_test.outcome(:'ref');

-- Over the whole file: every reference id reached the sandbox's store at
-- most once, and every row is in the state the sandbox reports.
SELECT count(*) AS payments,
       count(*) FILTER (WHERE (momo_test.seen(p.reference_id)->>'accepted')::int > 1) AS stored_twice
  FROM momo_payments p WHERE p.external_id LIKE 'F-%';
-- (A request MTN refused was never stored there, and is failed here.)
SELECT count(*) AS disagreeing_with_sandbox
  FROM momo_payments p, LATERAL momo_test.sandbox('payments/' || p.reference_id) s
 WHERE p.external_id LIKE 'F-%'
   AND CASE WHEN s IS NULL THEN p.status <> 'failed'
            ELSE upper(p.status) <> s->>'status' END;
