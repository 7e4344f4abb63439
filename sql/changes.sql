--
-- changes: the change feed.  Every status a payment takes is in
-- momo_changes(), numbered in commit order, once committed; each tenant sees
-- only its own payments' changes; a poller behind the purge horizon gets an
-- ERROR; and the polling recipe of README.md ("Connection poolers and the
-- change feed") runs here exactly as printed.  (The concurrency proof, two
-- sessions committing out of order, is test/t/022_changes.pl.)
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Where the feed is now, for the superuser (who sees every payment): every
-- change of the earlier tests is committed, and numbered by the worker
-- before this call returns (it asks the worker, and waits for it).
SELECT coalesce(max(seq), 0) AS start FROM momo_changes(0, 100000) \gset

-- Two tenants with README.md's grants (momo_changes among them) and its
-- row-level security recipe; a stranger with none.
CREATE ROLE momo_feed_app;
CREATE ROLE momo_feed_a IN ROLE momo_feed_app;
CREATE ROLE momo_feed_b IN ROLE momo_feed_app;
CREATE ROLE momo_feed_stranger;
GRANT USAGE ON SCHEMA public TO momo_feed_app;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                          momo_payment_status(uuid),
                          momo_await(uuid, interval),
                          momo_changes(bigint, integer) TO momo_feed_app;
GRANT SELECT ON momo_payments TO momo_feed_app;
GRANT USAGE ON SCHEMA momo_test TO momo_feed_app;          -- for momo_test.try only
GRANT EXECUTE ON FUNCTION momo_test.try(text) TO momo_feed_app, momo_feed_stranger;
GRANT EXECUTE ON FUNCTION momo_test.try_column(text) TO momo_feed_app;
GRANT USAGE ON SCHEMA momo_test TO momo_feed_stranger;
ALTER TABLE momo_payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_payments ON momo_payments FOR SELECT TO momo_feed_app
    USING (requested_by = current_user);
CREATE SCHEMA feed_a AUTHORIZATION momo_feed_a;

-- Tenant A pays: each status it takes is a change, numbered in order.
SET ROLE momo_feed_a;
SELECT momo_request_to_pay(41, 'EUR', '56733123453', 'FEED-A1') AS a1 \gset
SELECT status FROM momo_await(:'a1');
SELECT momo_request_to_pay(42, 'EUR', '46733123450', 'FEED-A2') AS a2 \gset
SELECT status FROM momo_await(:'a2');
SELECT external_id, operation, status, reason, changed_at IS NOT NULL AS has_time
  FROM momo_changes(:start) WHERE reference_id IS NOT NULL ORDER BY seq;
-- Each payment: queued, pending, then final, in that order.
SELECT external_id, array_agg(status ORDER BY seq) AS statuses
  FROM momo_changes(:start) WHERE reference_id IS NOT NULL GROUP BY external_id ORDER BY 1;
SELECT max(seq) AS a_last FROM momo_changes(:start) WHERE reference_id IS NOT NULL \gset
RESET ROLE;

-- Tenant B sees none of A's changes: only a row with a number and nothing
-- else, which moves B past them (B reads each of them once, at most).
SET ROLE momo_feed_b;
SELECT count(*) AS rows, count(reference_id) AS changes_seen_by_b,
       max(seq) >= :a_last AS moved_past_a
  FROM momo_changes(:start);
SELECT count(reference_id) AS changes_seen_by_b FROM momo_changes(:a_last);
-- ... nor by asking for one at a time.
SELECT count(reference_id) AS changes_seen_by_b FROM momo_changes(:start, 1);
RESET ROLE;

-- A stranger may not call it; a role with EXECUTE but no SELECT on
-- momo_payments gets the permission error its own SELECT would.
GRANT EXECUTE ON FUNCTION momo_changes(bigint, integer) TO momo_feed_stranger;
SET ROLE momo_feed_stranger;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('SELECT * FROM momo_changes(%s)', :start));
RESET ROLE;
REVOKE EXECUTE ON FUNCTION momo_changes(bigint, integer) FROM momo_feed_stranger;
SET ROLE momo_feed_stranger;
SELECT momo_test.try(format('SELECT * FROM momo_changes(%s)', :start));
\pset tuples_only off
\pset format aligned
RESET ROLE;

-- max_rows: at most that many, and the next call goes on where it stopped.
SET ROLE momo_feed_a;
SELECT count(*) AS first_two FROM momo_changes(:start, 2);
SELECT array_agg(status ORDER BY seq) AS next
  FROM momo_changes((SELECT max(seq) FROM momo_changes(:start, 2)), 1000)
 WHERE reference_id IS NOT NULL;

-- A transaction does not see the changes it wrote itself in the feed: only
-- the worker numbers them, in transactions of its own, once they have
-- committed (other sessions see a change as soon as it has committed:
-- t/022_changes.pl).  A rollback takes the change away: it never gets a
-- number.
BEGIN;
SELECT momo_request_to_pay(43, 'EUR', '56733123453', 'FEED-ROLLED-BACK') AS rolled_back \gset
SELECT count(*) AS own_change_seen FROM momo_changes(:a_last) WHERE reference_id = :'rolled_back';
ROLLBACK;
SELECT count(*) AS rolled_back_seen FROM momo_changes(:a_last) WHERE reference_id = :'rolled_back';
SELECT momo_request_to_pay(43, 'EUR', '56733123453', 'FEED-A3') AS a3 \gset
SELECT external_id, status, seq > :a_last AS after_a_last
  FROM momo_changes(:a_last) WHERE reference_id = :'a3' AND status = 'queued';
SELECT status FROM momo_await(:'a3');

-- Bad arguments (the error's column name is the argument), and isolation
-- levels whose snapshot could miss a numbering.
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try_column('SELECT * FROM momo_changes(NULL)');
SELECT momo_test.try_column('SELECT * FROM momo_changes(-1)');
SELECT momo_test.try_column('SELECT * FROM momo_changes(0, 0)');
SELECT momo_test.try_column('SELECT * FROM momo_changes(0, NULL)');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT momo_test.try('SELECT * FROM momo_changes(0)');
ROLLBACK;
\pset tuples_only off
\pset format aligned
RESET ROLE;

-- Any writer of a status is in the feed: here the DBA, by hand, as a
-- superuser, fails a payment MTN keeps pending (the worker and momo's
-- functions wrote the changes above; a session acting as the table's owner,
-- momo_worker, by SET ROLE may not write it).
SELECT momo_request_to_pay(44, 'EUR', '46733123454', 'FEED-DBA') AS dba \gset
SELECT momo_test.wait_sent(:'dba') AS dba_sent;
BEGIN;
UPDATE momo_payments SET status = 'failed', reason = 'CANCELLED_BY_DBA', completed_at = now()
 WHERE reference_id = :'dba' AND status IN ('queued', 'pending');
COMMIT;
SELECT status, reason FROM momo_changes(:a_last) WHERE reference_id = :'dba' ORDER BY seq;

-- Purged changes: a poller whose position is below the horizon (the highest
-- number the worker purged after momo.event_retention) gets an ERROR that
-- says where to start again, never a silent gap.  (The worker's purge itself
-- waits momo.event_retention, an hour at least; the horizon is set here.)
SELECT count(*) AS purged_yet FROM momo_change_horizon;
INSERT INTO momo_change_horizon (purged_through) VALUES (:a_last);
\pset tuples_only on
\pset format unaligned
SELECT regexp_replace(momo_test.try(format('SELECT * FROM momo_changes(%s)', :start)),
                      '(after|to) [0-9]+', '\1 N', 'g');
\pset tuples_only off
\pset format aligned
SELECT count(*) > 0 AS from_the_horizon FROM momo_changes(:a_last);
DELETE FROM momo_change_horizon;

-- The polling recipe of README.md, exactly as printed, run by tenant A in a
-- schema of its own.
SET ROLE momo_feed_a;
SET search_path = feed_a, public;
-- recipe: feed-poll
-- Once: where this consumer has got to, in a table of the application's.
CREATE TABLE feed_position (consumer text PRIMARY KEY, after bigint NOT NULL DEFAULT 0);
INSERT INTO feed_position (consumer) VALUES ('shop');

-- Every few seconds, in one short transaction (no LISTEN, no session state):
-- the changes after the position, and the position moved past them.
BEGIN;
WITH pos AS (
    SELECT after FROM feed_position WHERE consumer = 'shop' FOR UPDATE
), changes AS (
    SELECT c.* FROM pos, momo_changes(pos.after, 100) AS c
), moved AS (
    UPDATE feed_position SET after = (SELECT max(seq) FROM changes)
     WHERE consumer = 'shop' AND EXISTS (SELECT FROM changes)
)
SELECT external_id, status, reason FROM changes
 WHERE reference_id IS NOT NULL      -- a row with only a number just moves the position
 ORDER BY seq;
-- ... act on each row here (mark the invoice paid, ...), then:
COMMIT;
-- end recipe
-- Run again, it has nothing new.
BEGIN;
WITH pos AS (
    SELECT after FROM feed_position WHERE consumer = 'shop' FOR UPDATE
), changes AS (
    SELECT c.* FROM pos, momo_changes(pos.after, 100) AS c
), moved AS (
    UPDATE feed_position SET after = (SELECT max(seq) FROM changes)
     WHERE consumer = 'shop' AND EXISTS (SELECT FROM changes)
)
SELECT external_id, status, reason FROM changes
 WHERE reference_id IS NOT NULL      -- a row with only a number just moves the position
 ORDER BY seq;
COMMIT;
SELECT after >= (SELECT max(seq) FROM momo_changes(0, 100000) WHERE reference_id IS NOT NULL)
       AS position_past_every_change FROM feed_position;
RESET search_path;
RESET ROLE;

DROP SCHEMA feed_a CASCADE;
DROP POLICY own_payments ON momo_payments;
ALTER TABLE momo_payments DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                       momo_payment_status(uuid), momo_await(uuid, interval),
                       momo_changes(bigint, integer) FROM momo_feed_app;
REVOKE ALL ON momo_payments FROM momo_feed_app;
REVOKE ALL ON FUNCTION momo_test.try(text) FROM momo_feed_app, momo_feed_stranger;
REVOKE ALL ON FUNCTION momo_test.try_column(text) FROM momo_feed_app;
REVOKE ALL ON SCHEMA momo_test FROM momo_feed_app, momo_feed_stranger;
REVOKE ALL ON SCHEMA public FROM momo_feed_app;
DROP ROLE momo_feed_a;
DROP ROLE momo_feed_b;
DROP ROLE momo_feed_app;
DROP ROLE momo_feed_stranger;

-- The feed's trigger keeps its insert for one schema; called again from
-- within that insert for another schema (a trigger on one feed table that
-- writes a payment of another schema, which only a superuser can set up:
-- the function is not PUBLIC's), it once freed the statement it was still
-- running and crashed the server.  Each feed now has its rows.
BEGIN;
CREATE SCHEMA feed_x;
CREATE SCHEMA feed_y;
CREATE TABLE feed_x.momo_payments (reference_id uuid, status text, reason text);
CREATE TABLE feed_y.momo_payments (reference_id uuid, status text, reason text);
CREATE TABLE feed_x.momo_payment_changes (id bigserial, seq bigint, reference_id uuid, status text,
                                          reason text, changed_at timestamptz DEFAULT now());
CREATE TABLE feed_y.momo_payment_changes (LIKE feed_x.momo_payment_changes INCLUDING DEFAULTS);
CREATE TRIGGER c AFTER INSERT ON feed_x.momo_payments FOR EACH ROW EXECUTE FUNCTION momo_payments_change();
CREATE TRIGGER c AFTER INSERT ON feed_y.momo_payments FOR EACH ROW EXECUTE FUNCTION momo_payments_change();
CREATE FUNCTION feed_x.bounce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO feed_y.momo_payments VALUES (NEW.reference_id, 'queued', 'bounced');
    RETURN NULL;
END $$;
CREATE TRIGGER b AFTER INSERT ON feed_x.momo_payment_changes FOR EACH ROW EXECUTE FUNCTION feed_x.bounce();
INSERT INTO feed_x.momo_payments VALUES ('7d1f9b8e-0000-4000-8000-0000000000f1', 'queued', NULL);
INSERT INTO feed_x.momo_payments VALUES ('7d1f9b8e-0000-4000-8000-0000000000f2', 'queued', NULL);
SELECT 'x' AS feed, reference_id, status, reason FROM feed_x.momo_payment_changes
UNION ALL
SELECT 'y', reference_id, status, reason FROM feed_y.momo_payment_changes ORDER BY 1, 2;
ROLLBACK;
