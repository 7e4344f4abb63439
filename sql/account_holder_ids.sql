--
-- account_holder_ids: an account holder named by msisdn (the default, a
-- number normalised as everywhere), email or party code, as MTN takes them:
-- id_type in any case, the id escaped in the path, the sandbox's test
-- accounts deciding the answer, and every bad argument refused with an
-- error naming it before anything is sent.
--
\set SHOW_CONTEXT never

SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
SELECT coalesce(max(id), 0) AS events_before FROM momo_events \gset
-- An msisdn as before, positionally and by id_type; an email (escaped in
-- the path: its "?", "#" and "%" arrive as part of it, the sandbox records
-- the path decoded); a party code (any case, sent in small letters).
SELECT momo_account_holder_active('+46 733 000 001') AS by_msisdn,
       momo_account_holder_active('46733000001', 'collection', 'MSISDN') AS by_msisdn_type,
       momo_account_holder_active('jane+shop@example.com', id_type => 'email') AS by_email,
       momo_account_holder_active('j?a#n%e@example.com', id_type => 'email') AS by_odd_email,
       momo_account_holder_active('0F8FAD5B-D9CB-469F-A165-70867728950E', 'disbursement', 'Party_Code') AS by_party_code;
-- The sandbox's test accounts: an email whose name is a test number, a
-- party code whose last group is 0 and the number, answer as that number.
SELECT momo_account_holder_active('46733123451@example.com', id_type => 'email') AS email_not_active,
       momo_account_holder_active('46733123450@example.com', id_type => 'email') AS email_unknown,
       momo_account_holder_active('00000000-0000-4000-8000-046733123451', id_type => 'party_code') AS code_not_active;
SELECT * FROM momo_account_holder_info('46733000001@example.com', id_type => 'email');
SELECT given_name, status FROM momo_account_holder_info('46733123451@example.com', 'disbursement', 'EMAIL');
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try($$SELECT momo_account_holder_info('46733123450@example.com', id_type => 'email')$$);
SELECT momo_test.try($$SELECT momo_account_holder_active('46733123454@example.com', id_type => 'email')$$);
\pset tuples_only off
\pset format aligned
-- What MTN received (each path once: a request answered 401 for a token
-- the sandbox forgot is repeated): the type in small letters, the id whole.
SELECT r->>'method' AS method, r->>'path' AS path
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'path' LIKE '%/accountholder/%'
 GROUP BY 1, 2 ORDER BY min((r->>'seq')::int);
-- Each question is logged, those MTN refused too (their ERROR rolled the
-- caller's subtransaction back: the worker writes them).
SELECT momo_test.wait_for(format($$SELECT count(*) = 12 FROM momo_events
                                    WHERE operation LIKE 'account_holder%%' AND id > %s$$, :events_before))
       AS all_logged;
SELECT operation, http_status, outcome, count(*) FROM momo_events
 WHERE operation LIKE 'account_holder%' AND id > :events_before
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- Bad arguments: an ERROR naming each (the column name too), before
-- anything is sent.
SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
\pset tuples_only on
\pset format unaligned
SELECT momo_test.try_column($$SELECT momo_account_holder_active('46733000001', id_type => 'phone')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_active('46733000001', id_type => NULL)$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_active('jane', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_active('jane@example', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_active('jane doe@example.com', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_active('a/b@example.com', id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_active(NULL, id_type => 'email')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_active('46733000001', id_type => 'party_code')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_active('jane@example.com', id_type => 'msisdn')$$);
-- MTN's basic information takes no party code, and Remittance's an msisdn only.
SELECT momo_test.try_column($$SELECT momo_account_holder_info('0f8fad5b-d9cb-469f-a165-70867728950e', id_type => 'party_code')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_info('jane@example.com', 'remittance', 'email')$$);
-- Several at once: every one named, in argument order.
SELECT momo_test.try_column($$SELECT momo_account_holder_active('jane', 'savings', 'phone')$$);
SELECT momo_test.try_column($$SELECT momo_account_holder_info('jane', 'collection', 'party_code')$$);
\pset tuples_only off
\pset format aligned
-- (the worker may meanwhile follow other tests' payments: only account
-- holder requests count)
SELECT count(*) AS requests_sent
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'path' LIKE '%/accountholder/%';
