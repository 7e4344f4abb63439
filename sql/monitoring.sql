--
-- monitoring: the monitoring role of the README ("Monitoring with
-- prometheus-postgres-exporter"), exactly as printed there (between the
-- recipe markers; test/check-readme.sh compares them), reads what the
-- exporter's queries read (t/034_exporter.pl runs them through the real
-- exporter as this role) and nothing of a payment's terms.
--
\set VERBOSITY terse
SET client_min_messages = warning;
-- recipe: monitoring-role
CREATE ROLE momo_monitor LOGIN PASSWORD 'choose-one';
GRANT pg_monitor TO momo_monitor;            -- the exporter's own PostgreSQL metrics
GRANT USAGE ON SCHEMA public TO momo_monitor;    -- the schema momo was installed in
GRANT SELECT ON momo_payment_counts TO momo_monitor;
GRANT SELECT (status, operation, product, created_at, retries) ON momo_payments TO momo_monitor;
GRANT SELECT (at, product, operation, outcome) ON momo_events TO momo_monitor;
GRANT SELECT (product, automatic) ON momo_pauses TO momo_monitor;
GRANT EXECUTE ON FUNCTION momo_token_refreshes(), momo_worker_status(),
                          momo_ignored_callbacks(), momo_health() TO momo_monitor;
-- end recipe
RESET client_min_messages;

SET ROLE momo_monitor;
-- What the exporter's queries read.
SELECT count(*) >= 0 AS counts FROM (
    SELECT c.product, c.operation, c.status, sum(c.finished) FROM momo_payment_counts c GROUP BY 1, 2, 3) s;
SELECT count(*) >= 0 AS open_payments FROM (
    SELECT p.product, p.operation, p.status, count(*) FILTER (WHERE p.retries > 0),
           min(p.created_at) FROM momo_payments p WHERE p.status IN ('queued', 'pending') GROUP BY 1, 2, 3) s;
SELECT count(*) >= 0 AS events FROM (
    SELECT e.product, e.operation, e.outcome, count(*) FROM momo_events e
     WHERE e.at > now() - interval '5 minutes' GROUP BY 1, 2, 3) s;
SELECT count(*) = 3 AS token_products FROM momo_token_refreshes();
SELECT count(*) = 1 AS worker_row FROM momo_worker_status();
SELECT count(*) = 5 AS callback_reasons FROM momo_ignored_callbacks();
SELECT current_setting('momo.attention_after') IS NOT NULL AS attention_after_readable;
SELECT check_name FROM momo_health() LIMIT 1;
SELECT p.product, x.automatic IS NOT NULL AS paused
  FROM unnest(ARRAY['collection', 'disbursement', 'remittance']) AS p(product)
  LEFT JOIN momo_pauses x ON x.product = p.product ORDER BY 1;
-- (not why, nor who: the reason may name an incident)
SELECT reason FROM momo_pauses;
-- Nothing of a payment's terms or of the event log's errors.
SELECT msisdn FROM momo_payments LIMIT 1;
SELECT amount FROM momo_payments LIMIT 1;
SELECT reference_id FROM momo_payments LIMIT 1;
SELECT error FROM momo_events LIMIT 1;
SELECT * FROM momo_payments LIMIT 1;
-- Nor any payment function, nor the change feed.
SELECT momo_request_to_pay(1, 'EUR', '46733000001');
SELECT * FROM momo_changes(0);
RESET ROLE;

DROP OWNED BY momo_monitor;
DROP ROLE momo_monitor;
