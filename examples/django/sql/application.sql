-- The application's part of the invoice recipe (README, "Recipe: request payment
-- when an invoice is inserted"), run by migration 0001 as the application role.
-- test/check-readme.sh checks that it is, character for character, the README's.
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
