--
-- preapproval_tenants: what a red team tried with pre-approvals under the
-- README's multi-tenant row-level security recipe, run as the attacker
-- would (roles created for it, the exact calls):
-- 1. tenant B lists the approved pre-approvals of a payer that tenant A
--    has: B must not learn A's pre-approval (its reference id, approval
--    and expiry time), which row-level security hides from B everywhere
--    else ("for anyone else the payment does not exist");
-- 2. a role that may see every row (a support role with a policy of its
--    own) may cancel A's pre-approval, as it may refund A's payment: momo
--    acts for whoever may SELECT the row (the README said "made and may
--    see"; it now says what momo does);
-- 3. with a trigger on momo_payments that makes momo refuse to act, the
--    list of approved pre-approvals is refused before anything reaches MTN
--    (as momo_user_info_with_consent does): an exchange momo cannot log
--    must not happen.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE momo_rt_a;
CREATE ROLE momo_rt_b;
CREATE ROLE momo_rt_support;
GRANT USAGE ON SCHEMA public, momo_test TO momo_rt_a, momo_rt_b, momo_rt_support;
GRANT EXECUTE ON FUNCTION momo_test.try(text) TO momo_rt_a, momo_rt_b, momo_rt_support;
GRANT EXECUTE ON FUNCTION momo_preapproval(text, text, text, interval, text, text, text),
                          momo_approved_preapprovals(text, text),
                          momo_cancel_preapproval(uuid) TO momo_rt_a, momo_rt_b, momo_rt_support;
GRANT SELECT ON momo_payments TO momo_rt_a, momo_rt_b, momo_rt_support;
ALTER TABLE momo_payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY rt_own ON momo_payments FOR SELECT TO momo_rt_a, momo_rt_b
    USING (requested_by = current_user);
CREATE POLICY rt_support ON momo_payments FOR SELECT TO momo_rt_support USING (true);

SET ROLE momo_rt_a;
SELECT momo_preapproval('46733000071', 'EUR', 'Plan of A', interval '7 days', 'RT-A1') AS a_ref \gset
RESET ROLE;
SELECT status FROM momo_test.outcome(:'a_ref');

-- 1. A sees its own pre-approval in the list; B, asking about the same
-- payer, sees nothing of A's (MTN's list is the merchant's: it showed B who
-- approved A, and until when); the merchant's role, which RLS does not
-- restrict, sees all of it.
SET ROLE momo_rt_a;
SELECT count(*) FILTER (WHERE preapproval_id = :'a_ref') AS a_lists_its_own
  FROM momo_approved_preapprovals('46733000071');
RESET ROLE;
SET ROLE momo_rt_b;
SELECT count(*) AS b_sees_rows FROM momo_payments WHERE reference_id = :'a_ref';
SELECT count(*) FILTER (WHERE preapproval_id = :'a_ref') AS b_lists_a_s
  FROM momo_approved_preapprovals('46733000071');
RESET ROLE;
SELECT count(*) FILTER (WHERE preapproval_id = :'a_ref') AS merchant_lists_a_s
  FROM momo_approved_preapprovals('46733000071');

-- 2. The support role sees A's row: it may cancel it, as it may refund.
SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
SET ROLE momo_rt_support;
SELECT count(*) AS support_sees_rows FROM momo_payments WHERE reference_id = :'a_ref';
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try(format('SELECT momo_cancel_preapproval(%L)', :'a_ref'));
\pset tuples_only off
\pset format aligned
RESET ROLE;
SELECT count(*) AS deletes_sent
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'method' = 'DELETE';
SELECT coalesce((momo_test.sandbox('payments/' || :'a_ref')->>'cancelled')::boolean, false) AS cancelled_at_mtn;

-- 3. A SECURITY INVOKER trigger on momo_payments: momo refuses to act, and
-- nothing is asked of MTN.
CREATE FUNCTION public.rt_invoker_trigger() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER rt_invoker AFTER UPDATE ON momo_payments
    FOR EACH ROW EXECUTE FUNCTION public.rt_invoker_trigger();
SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
SET ROLE momo_rt_a;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT count(*) FROM momo_approved_preapprovals('46733000071')$$);
\pset tuples_only off
\pset format aligned
RESET ROLE;
SELECT count(*) AS requests_sent
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'path' LIKE '%/preapprovals/%';
DROP TRIGGER rt_invoker ON momo_payments;
DROP FUNCTION public.rt_invoker_trigger();

DROP POLICY rt_own ON momo_payments;
DROP POLICY rt_support ON momo_payments;
ALTER TABLE momo_payments DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON momo_payments FROM momo_rt_a, momo_rt_b, momo_rt_support;
REVOKE ALL ON FUNCTION momo_preapproval(text, text, text, interval, text, text, text),
                       momo_approved_preapprovals(text, text),
                       momo_cancel_preapproval(uuid),
                       momo_test.try(text) FROM momo_rt_a, momo_rt_b, momo_rt_support;
REVOKE ALL ON SCHEMA public, momo_test FROM momo_rt_a, momo_rt_b, momo_rt_support;
DROP ROLE momo_rt_a;
DROP ROLE momo_rt_b;
DROP ROLE momo_rt_support;
