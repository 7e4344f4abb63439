--
-- consent: an account holder's information with their consent (MTN's
-- consent flow: bc-authorize, the OAuth2 token polled until the account
-- holder decides, userinfo), each outcome driven from SQL against the
-- sandbox's test numbers; the OAuth2 tokens never reach momo_events; bad
-- arguments; privileges.
--
\set SHOW_CONTEXT never
-- Fresh access tokens first (a sandbox reset forgets them, and a call with
-- a forgotten one is sent twice), so that what is recorded is one try each.
SELECT currency FROM momo_balance('collection') UNION ALL SELECT currency FROM momo_balance('disbursement');
SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
SELECT coalesce(max(id), 0) AS events_before FROM momo_events \gset

-- Consent given (any ordinary number: the sandbox answers
-- authorization_pending twice, then the token).
SELECT sub, name, given_name, family_name, gender, locale, birthdate, status,
       phone_number, email, updated_at IS NOT NULL AS has_updated_at
  FROM momo_user_info_with_consent('46733000001');
-- Another product and scope: the members MTN shows are those consented to.
SELECT sub, given_name IS NOT NULL AS has_profile, phone_number, phone_number_verified,
       email, email_verified
  FROM momo_user_info_with_consent('+46 733 000 002', 'profile phone email', 'disbursement');

-- What was sent, in order: bc-authorize with the product's access token and
-- a form body, then the token endpoint (HTTP Basic) at MTN's interval until
-- the account holder consented (twice pending: three polls, none answered
-- slow_down), then userinfo with the OAuth2 token (the sandbox keeps only
-- the scheme of Authorization).
SELECT r->>'method' AS method, r->>'path' AS path, r->'headers'->>'Authorization' AS auth,
       r->'headers'->>'Content-Type' AS content_type,
       regexp_replace(r->>'body', '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<auth_req_id>') AS body
  FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'path' LIKE '%bc-authorize' OR r->>'path' LIKE '%oauth2%'
 ORDER BY (r->>'seq')::bigint;
SELECT c->>'msisdn' AS msisdn, c->>'scope' AS scope, c->>'polls' AS polls, c->>'granted' AS granted
  FROM jsonb_array_elements(momo_test.sandbox('consent')->'requests') c
 ORDER BY 1;

-- Each exchange is in momo_events, with the CIBA error code as the reason.
SELECT product, operation, http_status, outcome, reason
  FROM momo_events WHERE id > :events_before AND operation LIKE 'consent%' ORDER BY id;
-- No OAuth2 token, nor refresh token, reached momo_events (every token the
-- sandbox issued, looked for in every column of every row).
SELECT count(*) AS tokens_issued,
       count(*) FILTER (WHERE EXISTS (SELECT FROM momo_events e WHERE e::text LIKE '%' || t || '%'))
         AS tokens_in_momo_events
  FROM jsonb_array_elements_text(momo_test.sandbox('consent')->'tokens') t;

\pset tuples_only on
\pset format unaligned
-- Refused: access_denied after two polls.
SELECT momo_test.try($$SELECT * FROM momo_user_info_with_consent('46733123451')$$);
-- Expired: MTN answers expired_token.
SELECT momo_test.try($$SELECT * FROM momo_user_info_with_consent('46733123452')$$);
-- Unknown: bc-authorize answers unknown_user_id.
SELECT momo_test.try($$SELECT * FROM momo_user_info_with_consent('46733123450')$$);
-- Never decides: momo stops at the timeout ...
SELECT momo_test.try($$SELECT * FROM momo_user_info_with_consent('46733123453', timeout => '2 seconds')$$);
-- A timeout shorter than MTN's interval (a second here): the request is on
-- the phone, so it is asked about once, at the timeout.
SELECT momo_test.try($$SELECT * FROM momo_user_info_with_consent('46733000009', timeout => '500 ms')$$);
SELECT c->>'msisdn' || ': ' || (c->>'polls') || ' poll(s), granted ' || (c->>'granted')
  FROM jsonb_array_elements(momo_test.sandbox('consent')->'requests') c
 WHERE c->>'msisdn' = '46733000009';
-- ... and statement_timeout (or a cancel) interrupts the wait.
SET statement_timeout = '1500ms';
SELECT * FROM momo_user_info_with_consent('46733123453');
RESET statement_timeout;
-- The refusal came after two pending polls, the expiry at the first; no
-- token was granted to either.
SELECT c->>'msisdn' || ': ' || (c->>'polls') || ' poll(s), granted ' || (c->>'granted')
  FROM jsonb_array_elements(momo_test.sandbox('consent')->'requests') c
 WHERE c->>'msisdn' IN ('46733123451', '46733123452')
 ORDER BY c->>'msisdn';

-- Bad arguments: every one at once, each named as the column.
SELECT momo_test.try_column($$SELECT * FROM momo_user_info_with_consent(NULL)$$);
SELECT momo_test.try_column($$SELECT * FROM momo_user_info_with_consent('46733000001', NULL, NULL, NULL)$$);
SELECT momo_test.try_column($$SELECT * FROM momo_user_info_with_consent('12', 'profile  phone', 'savings', '0 s')$$);
SELECT momo_test.try_column($$SELECT * FROM momo_user_info_with_consent('46733000001', 'profile&access_type=offline')$$);
SELECT momo_test.try_column($$SELECT * FROM momo_user_info_with_consent('46733000001', ' profile')$$);
SELECT momo_test.try_column($$SELECT * FROM momo_user_info_with_consent('46733000001', repeat('p', 201))$$);
SELECT momo_test.try_column($$SELECT * FROM momo_user_info_with_consent('46733000001', timeout => '2 hours')$$);
-- A product without credentials says which setting is missing.
SELECT momo_test.try($$SELECT * FROM momo_user_info_with_consent('46733000001', product => 'remittance')$$);

\pset tuples_only off
\pset format aligned

-- Privileges: like momo_account_holder_info, for the roles granted it only;
-- nothing is sent for a role without the grant.  (Only the consent flow's
-- requests are counted: the worker may meanwhile ask about an earlier test's
-- payments.)
CREATE ROLE consent_stranger;
SELECT momo_test.sandbox('recorded/reset', '{}') IS NOT NULL AS recording_reset;
SET ROLE consent_stranger;
SELECT * FROM momo_user_info_with_consent('46733000001');
RESET ROLE;
SELECT count(*) AS requests_sent FROM jsonb_array_elements(momo_test.sandbox('recorded')->'requests') r
 WHERE r->>'path' ~ '/(bc-authorize|oauth2/)';
DROP ROLE consent_stranger;
