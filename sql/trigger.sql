--
-- trigger: the recipe from README.md, exactly as printed there (between the
-- "recipe" markers; test/check-readme.sh compares them).  Inserting an invoice
-- requests the payment; when the payment is final, the invoice is marked, with
-- the reason of a failure.  An open invoice cannot change its terms or be
-- deleted, and a failed one is paid again.  The application role (momo_shop,
-- owner of schema shop) runs its part and what the tests do, the DBA the one
-- statement that needs momo_payments' owner's rights.
--
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE ROLE momo_shop;
RESET client_min_messages;
CREATE SCHEMA shop AUTHORIZATION momo_shop;
GRANT USAGE ON SCHEMA public TO momo_shop;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                          momo_payment_status(uuid),
                          momo_await(uuid, interval) TO momo_shop;
GRANT SELECT ON momo_payments TO momo_shop;

SET ROLE momo_shop;
-- recipe: application
CREATE TABLE shop.invoices (
    invoice_no      text PRIMARY KEY,
    customer_msisdn text NOT NULL,
    amount          numeric NOT NULL,
    currency        text NOT NULL,
    payment_ref     uuid UNIQUE,
    paid_at         timestamptz,
    status          text NOT NULL DEFAULT 'open',     -- 'open', 'paid' or 'payment failed'
    failure_reason  text                               -- momo's reason, when it failed
);

-- Request payment once the invoice is inserted: same transaction, so there is
-- no invoice without its payment and no payment for an invoice that rolled
-- back.  AFTER INSERT, so that an INSERT ... ON CONFLICT DO NOTHING that
-- inserts nothing requests nothing.  SECURITY DEFINER: the payment is the
-- application role's whoever inserts the invoice (a DBA in psql too), so
-- the DBA's trigger below marks it and momo's idempotency sees one payer.
CREATE FUNCTION shop.invoices_request_payment() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE shop.invoices
       SET payment_ref = public.momo_request_to_pay(NEW.amount, NEW.currency, NEW.customer_msisdn,
                                                    NEW.invoice_no, 'Invoice ' || NEW.invoice_no)
     WHERE invoice_no = NEW.invoice_no;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION shop.invoices_request_payment() FROM PUBLIC;
CREATE TRIGGER invoices_request_payment AFTER INSERT ON shop.invoices
    FOR EACH ROW EXECUTE FUNCTION shop.invoices_request_payment();

-- A new invoice is open and has no payment yet: its status and payment are
-- momo's to set (an invoice inserted 'paid' would claim money not taken).
CREATE FUNCTION shop.invoices_before_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM 'open' OR NEW.payment_ref IS NOT NULL
       OR NEW.paid_at IS NOT NULL OR NEW.failure_reason IS NOT NULL THEN
        RAISE EXCEPTION 'invoice % must be inserted open, without payment_ref, paid_at or failure_reason', NEW.invoice_no
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Insert its number, payer, amount and currency: its payment sets the rest.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER invoices_before_insert BEFORE INSERT ON shop.invoices
    FOR EACH ROW EXECUTE FUNCTION shop.invoices_before_insert();

-- What is asked is what is marked paid: the amount, currency and payer cannot
-- change while the payment is open, nor once the invoice is paid.  After a
-- failure they may, and setting the status back to 'open' with payment_ref
-- NULL pays again: a new payment with the same invoice_no (momo allows it
-- once the last one failed).
-- Nothing else changes the invoice's payment, a paid invoice stays paid
-- (a stale copy saved by an ORM would undo them), and the status is its
-- payment's: set by hand to anything else it is refused.  SECURITY DEFINER,
-- as above.
CREATE FUNCTION shop.invoices_before_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.invoice_no IS DISTINCT FROM OLD.invoice_no THEN
        RAISE EXCEPTION 'invoice %''s number cannot change: it names its payments at MTN', OLD.invoice_no
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Its payments have it as external_id; insert another invoice instead.';
    ELSIF OLD.status = 'payment failed' AND NEW.status = 'open' THEN
        IF NEW.payment_ref IS NOT NULL THEN     -- a stale copy of the invoice, saved whole
            RAISE EXCEPTION 'invoice % is paid again only with its payment_ref set to NULL', OLD.invoice_no
                  USING ERRCODE = 'object_not_in_prerequisite_state',
                        HINT = 'SET status = ''open'', payment_ref = NULL asks the payer again.';
        END IF;
        NEW.payment_ref    := public.momo_request_to_pay(NEW.amount, NEW.currency, NEW.customer_msisdn,
                                                         NEW.invoice_no, 'Invoice ' || NEW.invoice_no);
        NEW.failure_reason := NULL;
    ELSIF OLD.payment_ref IS NOT NULL AND NEW.payment_ref IS DISTINCT FROM OLD.payment_ref THEN
        RAISE EXCEPTION 'invoice %''s payment cannot be changed', OLD.invoice_no
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Set its status back to ''open'' after a failure to pay again; '
                           'an ORM saving a stale copy of the invoice does this: save the fields you changed only.';
    ELSIF OLD.status = 'paid' AND (NEW.status, NEW.paid_at) IS DISTINCT FROM (OLD.status, OLD.paid_at) THEN
        RAISE EXCEPTION 'invoice % is paid: it cannot be set back to %', OLD.invoice_no, NEW.status
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'A payment that succeeded stays successful; refund it if need be.';
    ELSIF NEW.status IS DISTINCT FROM OLD.status
          AND NEW.status IS DISTINCT FROM
              (SELECT CASE p.status WHEN 'successful' THEN 'paid' WHEN 'failed' THEN 'payment failed'
                                    ELSE 'open' END
                 FROM public.momo_payments p WHERE p.reference_id = OLD.payment_ref) THEN
        RAISE EXCEPTION 'invoice %''s status is its payment''s: it cannot be set to % by hand', OLD.invoice_no, NEW.status
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'The invoice is marked when its payment is final; after a failure, '
                           'status = ''open'' with payment_ref = NULL pays again.';
    ELSIF OLD.status <> 'payment failed'
          AND (NEW.amount, NEW.currency, NEW.customer_msisdn)
              IS DISTINCT FROM (OLD.amount, OLD.currency, OLD.customer_msisdn) THEN
        RAISE EXCEPTION 'invoice % is %: its amount, currency and payer cannot change', OLD.invoice_no,
                        CASE OLD.status WHEN 'open' THEN 'being paid' ELSE OLD.status END
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'They may change once its payment has failed, before paying again.';
    END IF;
    RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION shop.invoices_before_update() FROM PUBLIC;
CREATE TRIGGER invoices_before_update BEFORE UPDATE ON shop.invoices
    FOR EACH ROW EXECUTE FUNCTION shop.invoices_before_update();

-- An invoice whose payment is open cannot be deleted: momo would still
-- collect.  Nor can a paid one: it is the record of money taken.
CREATE FUNCTION shop.invoices_before_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.status <> 'payment failed' THEN
        RAISE EXCEPTION 'invoice % is %: it cannot be deleted', OLD.invoice_no,
                        CASE OLD.status WHEN 'open' THEN 'being paid' ELSE OLD.status END
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Only an invoice whose payment failed may be deleted.';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER invoices_before_delete BEFORE DELETE ON shop.invoices
    FOR EACH ROW EXECUTE FUNCTION shop.invoices_before_delete();

-- TRUNCATE fires no row trigger: refused too while any invoice is open or paid.
CREATE FUNCTION shop.invoices_before_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT FROM shop.invoices WHERE status <> 'payment failed') THEN
        RAISE EXCEPTION 'shop.invoices has invoices being paid or paid: it cannot be truncated'
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Only invoices whose payment failed may be removed.';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER invoices_before_truncate BEFORE TRUNCATE ON shop.invoices
    FOR EACH STATEMENT EXECUTE FUNCTION shop.invoices_before_truncate();

-- Mark the invoice when its payment becomes final.  It runs in the transaction
-- that records the outcome (momo's worker, or momo_payment_status), and as the
-- application role (SECURITY DEFINER), never with momo's rights.
CREATE FUNCTION shop.invoices_payment_final() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE shop.invoices
       SET status  = CASE NEW.status WHEN 'successful' THEN 'paid' ELSE 'payment failed' END,
           paid_at = CASE NEW.status WHEN 'successful' THEN NEW.completed_at END,
           failure_reason = NEW.reason
     WHERE payment_ref = NEW.reference_id;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION shop.invoices_payment_final() FROM PUBLIC;
-- end recipe
RESET ROLE;

-- recipe: DBA
-- A trigger on momo_payments needs its owner's rights: the DBA creates it,
-- for the payments of the application role only, with pg_catalog's
-- operators in its WHEN condition (they bind now, and the condition runs
-- with momo's rights: momo refuses any other).  OR REPLACE: it can be run again.
SET search_path = pg_catalog, pg_temp;
CREATE OR REPLACE TRIGGER invoices_payment_final AFTER UPDATE OF status ON public.momo_payments
    FOR EACH ROW
    WHEN (NEW.status IN ('successful', 'failed') AND OLD.status <> NEW.status
          AND NEW.requested_by = 'momo_shop')
    EXECUTE FUNCTION shop.invoices_payment_final();
-- end recipe
RESET search_path;
-- Run again (the DBA's script, a second time): nothing changes.
SET search_path = pg_catalog, pg_temp;
CREATE OR REPLACE TRIGGER invoices_payment_final AFTER UPDATE OF status ON public.momo_payments
    FOR EACH ROW
    WHEN (NEW.status IN ('successful', 'failed') AND OLD.status <> NEW.status
          AND NEW.requested_by = 'momo_shop')
    EXECUTE FUNCTION shop.invoices_payment_final();
RESET search_path;

SET ROLE momo_shop;
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency) VALUES
    ('INV-1001', '250788000001', 15.00, 'EUR'),
    ('INV-1002', '46733123451', 7.50, 'EUR');

-- An invoice rolled back leaves no payment behind.
BEGIN;
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency) VALUES ('INV-1003', '250788000003', 3, 'EUR');
ROLLBACK;

-- An application's retry of the same insert requests nothing more.
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency) VALUES ('INV-1001', '250788000001', 15.00, 'EUR')
    ON CONFLICT DO NOTHING;

SELECT i.invoice_no, p.external_id, p.amount, p.currency, p.msisdn, p.payer_message, p.requested_by
  FROM shop.invoices i JOIN momo_payments p ON p.reference_id = i.payment_ref ORDER BY 1;
SELECT external_id, count(*) AS payments FROM momo_payments
 WHERE external_id IN ('INV-1001', 'INV-1002', 'INV-1003') GROUP BY 1 ORDER BY 1;

SELECT invoice_no, (momo_await(payment_ref)).status FROM shop.invoices ORDER BY 1;
-- A failure's reason is copied onto the invoice.
SELECT invoice_no, status, paid_at IS NOT NULL AS paid, failure_reason FROM shop.invoices ORDER BY 1;

-- An invoice is inserted open, without a payment: inserted 'paid', it would
-- claim money not taken; inserted 'payment failed', it could be deleted
-- while its payment goes on.
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency, status, paid_at)
    VALUES ('INV-1010', '46733123453', 100, 'EUR', 'paid', now());
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency, status)
    VALUES ('INV-1010', '46733123453', 100, 'EUR', 'payment failed');
SELECT count(*) AS payments FROM momo_payments WHERE external_id = 'INV-1010';
-- The recipe's SECURITY DEFINER functions are the application's alone: no
-- other role may put them on a table of its own and request payments as it.
SELECT p.proname, pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
  FROM pg_proc p WHERE p.pronamespace = 'shop'::regnamespace AND p.prosecdef ORDER BY 1;
-- A bad invoice is refused whole: no invoice, no payment.
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency) VALUES ('INV-1004', 'not a number', 5, 'EUR');
-- The currency is the invoice's: the sandbox takes EUR only, and refuses an
-- invoice in RWF the same way.
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency) VALUES ('INV-1005', '250788000005', 1500, 'RWF');
SELECT count(*) AS invoices FROM shop.invoices;
SELECT count(*) AS payments FROM momo_payments WHERE external_id IN ('INV-1004', 'INV-1005');

-- A paid invoice's terms cannot change (it would claim an amount never collected).
UPDATE shop.invoices SET amount = 1 WHERE invoice_no = 'INV-1001';
-- A stale copy of the invoice, loaded while it was open and saved whole by an
-- ORM after it was paid, cannot undo the payment: not its status, not its
-- payment, and a paid invoice is not deleted.
UPDATE shop.invoices SET status = 'open', paid_at = NULL WHERE invoice_no = 'INV-1001';
UPDATE shop.invoices SET status = 'payment failed' WHERE invoice_no = 'INV-1001';
UPDATE shop.invoices SET payment_ref = NULL WHERE invoice_no = 'INV-1001';
DELETE FROM shop.invoices WHERE invoice_no = 'INV-1001';
SELECT invoice_no, status, paid_at IS NOT NULL AS paid FROM shop.invoices WHERE invoice_no = 'INV-1001';

-- Paying again after a failure: the payer gives another number; one UPDATE
-- corrects it and asks for a new payment of the same invoice.
-- recipe: pay-again
UPDATE shop.invoices SET customer_msisdn = '250788000002', status = 'open', payment_ref = NULL
 WHERE invoice_no = 'INV-1002' AND status = 'payment failed';
-- end recipe
SELECT invoice_no, status, failure_reason FROM shop.invoices WHERE invoice_no = 'INV-1002';
SELECT (momo_await(payment_ref)).status FROM shop.invoices WHERE invoice_no = 'INV-1002';
SELECT invoice_no, status, paid_at IS NOT NULL AS paid, failure_reason FROM shop.invoices WHERE invoice_no = 'INV-1002';
-- Two payments with the same external_id: the failed one, and the new one the
-- invoice now points to.
SELECT p.msisdn, p.status, p.reason, p.reference_id = i.payment_ref AS current
  FROM momo_payments p JOIN shop.invoices i ON i.invoice_no = p.external_id
 WHERE p.external_id = 'INV-1002' ORDER BY p.created_at;

-- A second failure replaces the first's reason.
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency) VALUES ('INV-1006', '46733123450', 4, 'EUR');
SELECT (momo_await(payment_ref)).reason FROM shop.invoices WHERE invoice_no = 'INV-1006';
SELECT status, failure_reason FROM shop.invoices WHERE invoice_no = 'INV-1006';
-- A stale copy of the invoice, loaded while it was open and saved whole after
-- the failure, does not ask the payer again: paying again clears payment_ref.
UPDATE shop.invoices SET status = 'open' WHERE invoice_no = 'INV-1006';
UPDATE shop.invoices SET customer_msisdn = '46733123452', status = 'open', payment_ref = NULL WHERE invoice_no = 'INV-1006';
SELECT (momo_await(payment_ref)).reason FROM shop.invoices WHERE invoice_no = 'INV-1006';
SELECT status, failure_reason FROM shop.invoices WHERE invoice_no = 'INV-1006';

-- While a payment is open (46733123454 stays pending at MTN), the invoice's
-- amount, currency and payer cannot change, and it cannot be deleted.
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency) VALUES ('INV-1007', '46733123454', 20, 'EUR');
SELECT payment_ref AS open_ref FROM shop.invoices WHERE invoice_no = 'INV-1007' \gset
RESET ROLE;
SELECT momo_test.wait_sent(:'open_ref');
SET ROLE momo_shop;
\set VERBOSITY default
\set SHOW_CONTEXT never
UPDATE shop.invoices SET amount = 2 WHERE invoice_no = 'INV-1007';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM shop.invoices WHERE invoice_no = 'INV-1007';
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
UPDATE shop.invoices SET currency = 'USD' WHERE invoice_no = 'INV-1007';
UPDATE shop.invoices SET customer_msisdn = '250788000007' WHERE invoice_no = 'INV-1007';
-- Setting an open invoice's status to 'open' again asks for nothing more.
UPDATE shop.invoices SET status = 'open' WHERE invoice_no = 'INV-1007';
-- Nor does pointing it at another payment (a stale copy saved after paying
-- again, double-clicked, would point it back at the failed one).
UPDATE shop.invoices SET payment_ref = gen_random_uuid() WHERE invoice_no = 'INV-1007';
SELECT i.amount, i.currency, i.customer_msisdn, i.status, p.amount AS asked, p.status AS payment
  FROM shop.invoices i JOIN momo_payments p ON p.reference_id = i.payment_ref
 WHERE i.invoice_no = 'INV-1007';
SELECT count(*) AS payments FROM momo_payments WHERE external_id = 'INV-1007';
-- Nor may its number change (the payments' external_id: a red team renamed
-- an invoice and paid it again under the new number, twice charged).
UPDATE shop.invoices SET invoice_no = 'INV-1007b' WHERE invoice_no = 'INV-1007';
-- Its status is its payment's: not 'paid' by hand while the payment is
-- pending (the invoice would show paid for money not taken), nor 'payment
-- failed' (which would let it be deleted, and momo collect for no invoice).
UPDATE shop.invoices SET status = 'paid', paid_at = now() WHERE invoice_no = 'INV-1007';
UPDATE shop.invoices SET status = 'payment failed' WHERE invoice_no = 'INV-1007';
DELETE FROM shop.invoices WHERE invoice_no = 'INV-1007';
SELECT status FROM shop.invoices WHERE invoice_no = 'INV-1007';
-- TRUNCATE, which fires no row trigger, is refused while any invoice is open or paid.
TRUNCATE shop.invoices;
SELECT count(*) AS invoices FROM shop.invoices;
-- An invoice whose payment failed may be deleted.
DELETE FROM shop.invoices WHERE invoice_no = 'INV-1006';
SELECT count(*) AS invoices FROM shop.invoices WHERE invoice_no = 'INV-1006';

-- A DBA (a superuser, in psql) pays the application's failed invoice
-- INV-1008 again, and inserts INV-1009: the payments are still the
-- application role's, so the invoices follow them and momo's idempotency
-- sees one payer (a payment of the DBA's own was once left unseen by the
-- DBA's trigger, and the application, seeing an open invoice, had the payer
-- charged a second time).
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency) VALUES ('INV-1008', '46733123450', 6, 'EUR');
RESET ROLE;
SELECT (momo_await(payment_ref)).status FROM shop.invoices WHERE invoice_no = 'INV-1008';
UPDATE shop.invoices SET customer_msisdn = '46733000008', status = 'open', payment_ref = NULL
 WHERE invoice_no = 'INV-1008' AND status = 'payment failed';
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount, currency) VALUES ('INV-1009', '46733000009', 9, 'EUR');
SELECT invoice_no, (momo_await(payment_ref)).status FROM shop.invoices WHERE invoice_no IN ('INV-1008', 'INV-1009') ORDER BY 1;
SELECT i.invoice_no, i.status, p.requested_by, p.status AS payment
  FROM shop.invoices i JOIN momo_payments p ON p.reference_id = i.payment_ref
 WHERE i.invoice_no IN ('INV-1008', 'INV-1009') ORDER BY 1;
SELECT external_id, count(*) FILTER (WHERE status = 'successful') AS successful, count(*) AS payments
  FROM momo_payments WHERE external_id IN ('INV-1008', 'INV-1009') GROUP BY 1 ORDER BY 1;

DROP TRIGGER invoices_payment_final ON momo_payments;
