--
-- sandbox: helpers that let the tests ask the local MoMo sandbox
-- (test/sandbox/momo-sandbox) what it received, and inject faults.
--
-- Calls the sandbox's test-control API (/_sandbox/...) at momo_test.sandbox_url
-- (set by test/cluster.sh) and returns its JSON answer, or NULL when it
-- answers 404.
CREATE FUNCTION momo_test.sandbox(path text, body jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql
SET client_min_messages = warning AS $$
DECLARE
    answer text;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS sandbox_answer (line text);
    TRUNCATE sandbox_answer;
    EXECUTE format($c$COPY sandbox_answer FROM PROGRAM %L
                      WITH (FORMAT csv, DELIMITER E'\x01', QUOTE E'\x02')$c$,
                   format('curl -sS --max-time 10 %s %s/_sandbox/%s',
                          CASE WHEN body IS NULL THEN '-w ''\n%{http_code}'''
                               ELSE '-w ''\n%{http_code}'' -X POST -H ''Content-Type: application/json'' --data-binary '
                                    || quote_literal(body::text) END,
                          coalesce(current_setting('momo_test.sandbox_url', true),
                                   'http://127.0.0.1:18080'),
                          path));
    SELECT string_agg(line, E'\n') INTO answer FROM sandbox_answer;
    IF answer LIKE '%' || E'\n' || '404' THEN
        RETURN NULL;
    END IF;
    IF answer NOT LIKE '%' || E'\n' || '200' THEN
        RAISE EXCEPTION 'sandbox /_sandbox/% answered: %', path, answer;
    END IF;
    RETURN left(answer, length(answer) - 4)::jsonb;
END
$$;

-- What the sandbox saw of one reference id: posts, accepted, conflicts, faults, status_gets, stored.
CREATE FUNCTION momo_test.seen(ref uuid) RETURNS jsonb
LANGUAGE sql AS $$ SELECT momo_test.sandbox('requests/' || ref::text) $$;

-- Counter name of the sandbox's global statistics.
CREATE FUNCTION momo_test.stat(name text) RETURNS bigint
LANGUAGE sql AS $$ SELECT (momo_test.sandbox('stats') ->> name)::bigint $$;

-- What the sandbox recorded of a payment's requests (/_sandbox/recorded; by
-- the path, or the X-Reference-Id header): method and path, the reference
-- id shown as <ref>, and how many (a POST answered 401, for a token the
-- sandbox's reset forgot, is sent again after a new token).
CREATE FUNCTION momo_test.requests_of(ref uuid)
RETURNS TABLE (method text, path text, requests bigint)
LANGUAGE sql AS $$
    SELECT r->>'method', replace(r->>'path', ref::text, '<ref>'), count(*)
      FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
     WHERE r->>'path' LIKE '%/' || ref::text
        OR EXISTS (SELECT FROM jsonb_each_text(r->'headers') h
                    WHERE lower(h.key) = 'x-reference-id' AND h.value = ref::text)
     GROUP BY 1, 2
$$;

-- A clean sandbox: no payments, counters at zero, no faults.
SELECT momo_test.sandbox('reset', '{}') IS NOT NULL AS reset;
SELECT momo_test.stat('rtp_posts') AS rtp_posts, momo_test.stat('payments') AS payments;
