--
-- trigger: the recipe from README.md, exactly as printed there (between the
-- "recipe" markers; test/check-readme.sh compares them).  Inserting an invoice
-- requests the payment; when the payment is final, the invoice is marked.  The
-- application role (momo_shop, owner of schema shop) runs its part, the DBA
-- runs the one statement that needs momo_payments' owner's rights.
--
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE ROLE momo_shop;
RESET client_min_messages;
CREATE SCHEMA shop AUTHORIZATION momo_shop;
GRANT USAGE ON SCHEMA public TO momo_shop;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text),
                          momo_payment_status(uuid),
                          momo_await(uuid, interval) TO momo_shop;
GRANT SELECT ON momo_payments TO momo_shop;

SET ROLE momo_shop;
-- recipe: application
CREATE TABLE shop.invoices (
    invoice_no      text PRIMARY KEY,
    customer_msisdn text NOT NULL,
    amount          numeric NOT NULL,
    payment_ref     uuid UNIQUE,
    paid_at         timestamptz,
    status          text NOT NULL DEFAULT 'open'
);

-- Request payment once the invoice is inserted: same transaction, so there is
-- no invoice without its payment and no payment for an invoice that rolled
-- back.  AFTER INSERT, so that an INSERT ... ON CONFLICT DO NOTHING that
-- inserts nothing requests nothing.
CREATE FUNCTION shop.invoices_request_payment() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE shop.invoices
       SET payment_ref = public.momo_request_to_pay(NEW.amount, 'EUR', NEW.customer_msisdn,
                                                    NEW.invoice_no, 'Invoice ' || NEW.invoice_no)
     WHERE invoice_no = NEW.invoice_no;
    RETURN NULL;
END $$;
CREATE TRIGGER invoices_request_payment AFTER INSERT ON shop.invoices
    FOR EACH ROW EXECUTE FUNCTION shop.invoices_request_payment();

-- Mark the invoice when its payment becomes final.  It runs in the transaction
-- that records the outcome (momo's worker, or momo_payment_status), and as the
-- application role (SECURITY DEFINER), never with momo's rights.
CREATE FUNCTION shop.invoices_payment_final() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE shop.invoices
       SET status  = CASE NEW.status WHEN 'successful' THEN 'paid' ELSE 'payment failed' END,
           paid_at = CASE NEW.status WHEN 'successful' THEN NEW.completed_at END
     WHERE payment_ref = NEW.reference_id;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION shop.invoices_payment_final() FROM PUBLIC;
-- end recipe
RESET ROLE;

-- recipe: DBA
-- A trigger on momo_payments needs its owner's rights: the DBA creates it,
-- for the payments of the application role only.
CREATE TRIGGER invoices_payment_final AFTER UPDATE OF status ON public.momo_payments
    FOR EACH ROW
    WHEN (NEW.status IN ('successful', 'failed') AND OLD.status <> NEW.status
          AND NEW.requested_by = 'momo_shop')
    EXECUTE FUNCTION shop.invoices_payment_final();
-- end recipe

SET ROLE momo_shop;
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount) VALUES
    ('INV-1001', '250788000001', 15.00),
    ('INV-1002', '46733123451', 7.50);

-- An invoice rolled back leaves no payment behind.
BEGIN;
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount) VALUES ('INV-1003', '250788000003', 3);
ROLLBACK;

-- An application's retry of the same insert requests nothing more.
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount) VALUES ('INV-1001', '250788000001', 15.00)
    ON CONFLICT DO NOTHING;

SELECT i.invoice_no, p.external_id, p.amount, p.msisdn, p.payer_message, p.requested_by
  FROM shop.invoices i JOIN momo_payments p ON p.reference_id = i.payment_ref ORDER BY 1;
SELECT external_id, count(*) AS payments FROM momo_payments
 WHERE external_id IN ('INV-1001', 'INV-1002', 'INV-1003') GROUP BY 1 ORDER BY 1;

SELECT invoice_no, (momo_await(payment_ref)).status FROM shop.invoices ORDER BY 1;
SELECT invoice_no, status, paid_at IS NOT NULL AS paid FROM shop.invoices ORDER BY 1;

-- A bad invoice is refused whole: no invoice, no payment.
INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount) VALUES ('INV-1004', 'not a number', 5);
SELECT count(*) AS invoices FROM shop.invoices;
SELECT count(*) AS payments FROM momo_payments WHERE external_id = 'INV-1004';
RESET ROLE;

DROP TRIGGER invoices_payment_final ON momo_payments;
