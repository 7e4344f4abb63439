--
-- trigger: the recipe from README.md.  Inserting an invoice requests the
-- payment; when the payment succeeds, the invoice is marked paid.
--
CREATE TABLE invoices (
    invoice_no  text PRIMARY KEY,
    customer_msisdn text NOT NULL,
    amount      numeric NOT NULL,
    payment_ref uuid UNIQUE,
    paid_at     timestamptz,
    status      text NOT NULL DEFAULT 'open'
);

-- Request payment as the invoice is inserted (in the same transaction: no
-- invoice without its payment row, no payment for an invoice rolled back).
CREATE FUNCTION invoices_request_payment() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.payment_ref := momo_request_to_pay(NEW.amount, 'EUR', NEW.customer_msisdn,
                                           NEW.invoice_no, 'Invoice ' || NEW.invoice_no,
                                           'Shop invoice');
    RETURN NEW;
END
$$;
CREATE TRIGGER invoices_request_payment BEFORE INSERT ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_request_payment();

-- Mark the invoice when its payment becomes final.
CREATE FUNCTION invoices_payment_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE invoices
       SET status = CASE NEW.status WHEN 'successful' THEN 'paid' ELSE 'payment failed' END,
           paid_at = CASE NEW.status WHEN 'successful' THEN NEW.completed_at END
     WHERE payment_ref = NEW.reference_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER invoices_payment_final AFTER UPDATE OF status ON momo_payments
    FOR EACH ROW WHEN (NEW.status IN ('successful', 'failed') AND OLD.status <> NEW.status)
    EXECUTE FUNCTION invoices_payment_final();

INSERT INTO invoices (invoice_no, customer_msisdn, amount) VALUES
    ('INV-1001', '250788000001', 15.00),
    ('INV-1002', '46733123451', 7.50);

-- An invoice rolled back leaves no payment behind.
BEGIN;
INSERT INTO invoices (invoice_no, customer_msisdn, amount) VALUES ('INV-1003', '250788000003', 3);
ROLLBACK;

SELECT i.invoice_no, p.external_id, p.amount, p.msisdn, p.payer_message
  FROM invoices i JOIN momo_payments p ON p.reference_id = i.payment_ref ORDER BY 1;

SELECT invoice_no, (momo_await(payment_ref)).status FROM invoices ORDER BY 1;
SELECT invoice_no, status, paid_at IS NOT NULL AS paid FROM invoices ORDER BY 1;
SELECT count(*) AS payments_for_rolled_back_invoice FROM momo_payments WHERE external_id = 'INV-1003';

-- A bad invoice is refused whole: no invoice, no payment.
INSERT INTO invoices (invoice_no, customer_msisdn, amount) VALUES ('INV-1004', 'not a number', 5);
SELECT count(*) AS invoices FROM invoices;
SELECT count(*) AS payments FROM momo_payments WHERE external_id = 'INV-1004';

DROP TRIGGER invoices_payment_final ON momo_payments;
