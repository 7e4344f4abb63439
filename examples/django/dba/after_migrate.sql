-- What the DBA runs in the application's database after its first migration
-- (it needs the rights of momo_payments' owner): the recipe's DBA part.
-- The test runner (shop/testrunner.py) runs it in test_shop the same way.
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
