--
-- upgrade: every version of momo that can still be installed, updated with
-- ALTER EXTENSION momo UPDATE, ends exactly as a fresh install of the
-- current version: the same objects, definitions, privileges, comments and
-- pg_dump registrations (as citus's multi_extension and pg_cron's upgrade
-- tests check).  Each install lives in a database of its own, made from a
-- template that holds the describing function, so nothing is left over
-- from one install to the next.
--
SET client_min_messages = warning;
DROP DATABASE IF EXISTS momo_upgrade_template;
DROP DATABASE IF EXISTS momo_upgrade_fresh;
DROP DATABASE IF EXISTS momo_upgrade_walked;
DROP DATABASE IF EXISTS momo_upgrade_roles;
DROP ROLE IF EXISTS momo_upgrade_app;
DROP ROLE IF EXISTS momo_upgrade_admin;
DROP ROLE IF EXISTS momo_upgrade_ops;
DROP ROLE IF EXISTS momo_upgrade_dba;
DROP ROLE IF EXISTS momo_upgrade_user;
DROP ROLE IF EXISTS momo_upgrade_installer;
DROP ROLE IF EXISTS momo_upgrade_rb;
DROP ROLE IF EXISTS momo_upgrade_rc;
DROP ROLE IF EXISTS momo_upgrade_rd;
DROP ROLE IF EXISTS momo_upgrade_re;
DROP ROLE IF EXISTS momo_upgrade_re_old;
DO $$
BEGIN
    FOR i IN 1..23 LOOP
        EXECUTE format('DROP ROLE IF EXISTS momo_upgrade_c%s', i);
    END LOOP;
END
$$;
RESET client_min_messages;
CREATE DATABASE momo_upgrade_template;
\c momo_upgrade_template
-- One line per property of each object of the extension (and of what hangs
-- off them: columns, constraints, indexes, triggers, policies, comments),
-- without OIDs, so that two databases compare line by line.
CREATE FUNCTION describe_momo() RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
WITH ext AS (
    SELECT oid, extnamespace, extrelocatable, extconfig, extcondition
    FROM pg_extension WHERE extname = 'momo'
), member AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rel AS (
    SELECT c.* FROM pg_class c JOIN member m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
)
SELECT 'member: ' || pg_describe_object(classid, objid, 0) FROM member
UNION ALL
SELECT 'extension: schema ' || extnamespace::regnamespace || ', relocatable ' || extrelocatable
    || ', dumped ' || coalesce((SELECT string_agg(c::regclass::text || ' WHERE ' || coalesce(w, ''), '; ' ORDER BY c::regclass::text)
                                FROM unnest(extconfig, extcondition) AS u(c, w)), '')
FROM ext
UNION ALL
SELECT 'schema acl: ' || coalesce(n.nspacl::text, '') FROM pg_namespace n, ext WHERE n.oid = ext.extnamespace
UNION ALL
SELECT 'function: ' || pg_get_functiondef(p.oid) || ' acl ' || coalesce(p.proacl::text, 'default')
    || ' owner ' || p.proowner::regrole || ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
UNION ALL
-- (the privileges pg_dump takes as the extension's, and so leaves out, of
-- functions: the DBA's grants on those the update recreates must not be)
SELECT 'initial privileges: ' || pg_describe_object(i.classoid, i.objoid, i.objsubid) || ' '
    || i.initprivs::text || ' ' || i.privtype::text
FROM pg_init_privs i JOIN member m ON m.classid = i.classoid AND m.objid = i.objoid
WHERE i.classoid = 'pg_proc'::regclass
UNION ALL
SELECT 'relation: ' || c.oid::regclass || ' kind ' || c.relkind::text || ' persistence ' || c.relpersistence::text
    || ' owner ' || c.relowner::regrole || ' acl '
    -- (an ACL spelled out that grants what the default grants is the default)
    || coalesce(NULLIF(c.relacl::text, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                                  c.relowner)::text), 'default')
    || ' options ' || coalesce(c.reloptions::text, '') || ' rls ' || c.relrowsecurity || '/' || c.relforcerowsecurity
    || ' replica identity ' || c.relreplident::text
    || ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '')
    || CASE WHEN c.relkind = 'v' THEN ' view ' || pg_get_viewdef(c.oid) ELSE '' END
FROM rel c
UNION ALL
SELECT 'column: ' || a.attrelid::regclass || '.' || a.attname || ' #' || a.attnum || ' ' || format_type(a.atttypid, a.atttypmod)
    || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
    || ' default ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
    || ' identity ' || a.attidentity::text || ' generated ' || a.attgenerated::text
    || ' collation ' || coalesce(NULLIF(a.attcollation, 0)::regcollation::text, '')
    || ' storage ' || a.attstorage::text || ' statistics ' || a.attstattarget
    || ' acl ' || coalesce(a.attacl::text, '') || ' comment ' || coalesce(col_description(a.attrelid, a.attnum), '')
FROM pg_attribute a JOIN rel c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint: ' || co.conrelid::regclass || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
    || ' deferrable ' || co.condeferrable || '/' || co.condeferred
FROM pg_constraint co JOIN rel c ON c.oid = co.conrelid
UNION ALL
SELECT 'index: ' || pg_get_indexdef(i.indexrelid) || ' options ' || coalesce(ic.reloptions::text, '')
FROM pg_index i JOIN rel c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT 'trigger: ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
FROM pg_trigger t JOIN rel c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT 'policy: ' || po.polrelid::regclass || ' ' || po.polname || ' ' || po.polcmd::text || ' ' || po.polpermissive
    || ' to ' || po.polroles::regrole[]::text || ' using ' || coalesce(pg_get_expr(po.polqual, po.polrelid), '')
    || ' check ' || coalesce(pg_get_expr(po.polwithcheck, po.polrelid), '')
FROM pg_policy po JOIN rel c ON c.oid = po.polrelid
UNION ALL
SELECT 'type: ' || t.oid::regtype || ' ' || t.typtype::text || ' acl ' || coalesce(t.typacl::text, 'default')
FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
UNION ALL
SELECT 'rule: ' || r.rulename || ' ' || pg_get_ruledef(r.oid)
FROM pg_rewrite r JOIN rel c ON c.oid = r.ev_class WHERE r.rulename <> '_RETURN'
$$;
\c contrib_regression
CREATE DATABASE momo_upgrade_fresh TEMPLATE momo_upgrade_template;
CREATE DATABASE momo_upgrade_walked TEMPLATE momo_upgrade_template;

-- The versions a database can have, and that each leads to the current one.
SELECT version FROM pg_available_extension_versions WHERE name = 'momo' ORDER BY version;
SELECT source, target, path FROM pg_extension_update_paths('momo')
WHERE target = (SELECT default_version FROM pg_available_extensions WHERE name = 'momo')
ORDER BY source;

-- A fresh install of the current version.
\c momo_upgrade_fresh
CREATE EXTENSION momo;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'momo') AS current
FROM pg_extension WHERE extname = 'momo';
SELECT json_agg(line) AS fresh FROM describe_momo() AS line \gset

-- The oldest release, updated along the chain.  (That the rows of a
-- database survive is test/t/019_pg_upgrade.pl's and 004_dump.pl's part.)
\c momo_upgrade_walked
-- (momo's preflight in a database without momo: an error, not a crash)
CREATE FUNCTION preflight_without_momo(OUT check_name text, OUT ok boolean, OUT detail text)
RETURNS SETOF record AS 'momo', 'momo_preflight' LANGUAGE c;
SELECT * FROM preflight_without_momo();
DROP FUNCTION preflight_without_momo();
CREATE EXTENSION momo VERSION '1.0';
-- A DBA's grants on functions of 1.0 whose signature the update changes
-- (momo_deposit and momo_refund gain a version, they and the other
-- requesting functions a callback_url): one role may call them all,
-- another may call momo_refund and momo_transfer and grant them on; and
-- momo_account_holder_active and momo_account_holder_info, which gain an
-- id_type.
CREATE ROLE momo_upgrade_app;
CREATE ROLE momo_upgrade_admin;
GRANT EXECUTE ON FUNCTION momo_deposit(numeric, text, text, text, text, text),
                          momo_refund(uuid, numeric, text, text, text),
                          momo_request_to_pay(numeric, text, text, text, text, text),
                          momo_transfer(numeric, text, text, text, text, text),
                          momo_remittance_transfer(numeric, text, text, text, text, text) TO momo_upgrade_app;
GRANT EXECUTE ON FUNCTION momo_refund(uuid, numeric, text, text, text),
                          momo_transfer(numeric, text, text, text, text, text) TO momo_upgrade_admin WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION momo_account_holder_active(text, text) TO momo_upgrade_app;
GRANT EXECUTE ON FUNCTION momo_account_holder_info(text, text) TO momo_upgrade_admin WITH GRANT OPTION;
-- ... and gives them on: grants whose grantor is the admin, not the owner.
CREATE ROLE momo_upgrade_clerk;
SET ROLE momo_upgrade_admin;
GRANT EXECUTE ON FUNCTION momo_refund(uuid, numeric, text, text, text) TO momo_upgrade_clerk;
GRANT EXECUTE ON FUNCTION momo_account_holder_info(text, text) TO momo_upgrade_clerk;
RESET ROLE;
-- The DBA's grant on a table of 1.0; and the updating role's default
-- privileges, which grant everything it creates to the application's role.
GRANT SELECT ON momo_payments TO momo_upgrade_app;
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO momo_upgrade_app;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO momo_upgrade_app;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO momo_upgrade_app, PUBLIC;
-- Until the update, the library says the schema is older than itself.
SELECT ok, detail FROM momo_preflight() WHERE check_name = 'version';
ALTER EXTENSION momo UPDATE;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM momo_upgrade_app;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON SEQUENCES FROM momo_upgrade_app;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM momo_upgrade_app, PUBLIC;
-- What the default privileges granted on what the update created is
-- revoked, as CREATE EXTENSION revokes it (the new tables would show every
-- tenant's change feed, the new functions lift a pause or queue a payout);
-- the DBA's grant on momo_payments stays.
SELECT c.oid::regclass AS relation, a.grantee::regrole AS grantee, a.privilege_type
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'public'::regnamespace AND a.grantee <> c.relowner
   AND a.grantee <> 'momo_worker'::regrole
 ORDER BY 1, 2, 3;
SELECT count(*) AS functions_granted_by_default
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.pronamespace = 'public'::regnamespace AND a.grantee <> p.proowner
   AND a.grantee <> 'momo_worker'::regrole
   AND p.proname NOT IN ('momo_deposit', 'momo_refund', 'momo_request_to_pay', 'momo_transfer',
                         'momo_remittance_transfer', 'momo_account_holder_active', 'momo_account_holder_info');
REVOKE SELECT ON momo_payments FROM momo_upgrade_app;
SELECT ok, detail FROM momo_preflight() WHERE check_name = 'version';
-- The grants hold on the new functions, each from its grantor, and nothing
-- more is granted.
SELECT p.oid::regprocedure AS function, a.grantee::regrole AS grantee, a.grantor::regrole AS grantor,
       a.privilege_type, a.is_grantable
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.proname IN ('momo_deposit', 'momo_refund', 'momo_request_to_pay', 'momo_transfer',
                     'momo_remittance_transfer', 'momo_account_holder_active', 'momo_account_holder_info')
   AND a.grantee <> p.proowner
 ORDER BY 1, 2;
SELECT r AS role, has_function_privilege(r, 'momo_deposit(numeric, text, text, text, text, text, integer, text, text)', 'EXECUTE') AS deposit,
       has_function_privilege(r, 'momo_refund(uuid, numeric, text, text, text, integer, text)', 'EXECUTE') AS refund,
       has_function_privilege(r, 'momo_request_to_pay(numeric, text, text, text, text, text, text, text)', 'EXECUTE') AS request_to_pay,
       has_function_privilege(r, 'momo_transfer(numeric, text, text, text, text, text, text, text)', 'EXECUTE') AS transfer,
       has_function_privilege(r, 'momo_remittance_transfer(numeric, text, text, text, text, text, text, text)', 'EXECUTE') AS remittance
  FROM unnest(ARRAY['momo_upgrade_app', 'momo_upgrade_admin']) r ORDER BY 1;
-- The role granted EXECUTE on the function of 1.0 calls the new one: the
-- error is momo's, whose body ran (this database is not served), not a
-- refusal to call it.
SET ROLE momo_upgrade_app;
SELECT momo_deposit(10, 'EUR', '46733000001', 'UPG-1', version => 2);
SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'UPG-2', callback_url => 'https://localhost/shop/momo/');
RESET ROLE;
REVOKE ALL ON FUNCTION momo_deposit(numeric, text, text, text, text, text, integer, text, text),
                       momo_refund(uuid, numeric, text, text, text, integer, text),
                       momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                       momo_transfer(numeric, text, text, text, text, text, text, text),
                       momo_remittance_transfer(numeric, text, text, text, text, text, text, text),
                       momo_account_holder_active(text, text, text),
                       momo_account_holder_info(text, text, text)
  FROM momo_upgrade_app, momo_upgrade_admin CASCADE;
DROP ROLE momo_upgrade_clerk;
DROP ROLE momo_upgrade_app;
DROP ROLE momo_upgrade_admin;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'momo') AS current
FROM pg_extension WHERE extname = 'momo';

-- Whatever a schema's version is called, the check answers, at once (an odd
-- one once made the comparison loop for ever, deaf to cancels), and calls
-- different versions different.
CREATE FUNCTION pg_temp.version_check(v text, OUT ok boolean, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    kept text;
BEGIN
    SELECT extversion INTO kept FROM pg_extension WHERE extname = 'momo';
    UPDATE pg_extension SET extversion = v WHERE extname = 'momo';
    SELECT p.ok, p.detail INTO ok, detail FROM momo_preflight() p WHERE p.check_name = 'version';
    UPDATE pg_extension SET extversion = kept WHERE extname = 'momo';
END
$$;
SET statement_timeout = '60s';
SELECT v AS schema_version, c.ok, c.detail
FROM unnest(ARRAY['1.1beta', '1.1 ', '1.01', '1.1.1', '1.10', '1.0', '0.9', '2', 'x', '']) AS v,
     pg_temp.version_check(v) AS c;
RESET statement_timeout;

-- The two agree, line by line, in both directions; and there was much to compare.
SELECT count(*) AS lines FROM describe_momo();
SELECT 'only after the update: ' || line AS difference
FROM describe_momo() AS line
EXCEPT ALL SELECT 'only after the update: ' || line FROM json_array_elements_text(:'fresh') AS line
UNION ALL
(SELECT 'only in a fresh install: ' || line FROM json_array_elements_text(:'fresh') AS line
 EXCEPT ALL SELECT 'only in a fresh install: ' || line FROM describe_momo() AS line)
ORDER BY 1;

-- The update run by a login role that is no superuser, after SET ROLE to a
-- superuser that did not install 1.0 (it failed: giving the grants again,
-- the update went back to the login role, which could not become the
-- installer), and the installer since made an ordinary role (it failed
-- too: the update gave the installer's grants as the installer, who may
-- no longer give them): it completes as that role, the application's grant
-- is kept, and the installer gets no EXECUTE of its own on the functions
-- recreated.
\c contrib_regression
CREATE DATABASE momo_upgrade_roles;
\c momo_upgrade_roles
SELECT current_user AS dba \gset
CREATE ROLE momo_upgrade_installer SUPERUSER LOGIN;
CREATE ROLE momo_upgrade_user;
CREATE ROLE momo_upgrade_rb;
CREATE ROLE momo_upgrade_rc;
CREATE ROLE momo_upgrade_rd;
\c - momo_upgrade_installer
CREATE EXTENSION momo VERSION '1.0';
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text) TO momo_upgrade_user;
-- A chain of grant options whose ACL lists a grant before the grant option
-- of its grantor (momo_transfer: the update failed on it), and a role's
-- grant to itself (momo_deposit: the update took that role for the owner,
-- and a REVOKE ... CASCADE from it no longer reached its grantee).  The
-- login that updates is a member of the grantors (it must be, or a
-- superuser).
\set f 'momo_transfer(numeric, text, text, text, text, text)'
GRANT EXECUTE ON FUNCTION :f TO momo_upgrade_rb WITH GRANT OPTION;
SET ROLE momo_upgrade_rb;
GRANT EXECUTE ON FUNCTION :f TO momo_upgrade_rb;
GRANT EXECUTE ON FUNCTION :f TO momo_upgrade_rd WITH GRANT OPTION;
SET ROLE momo_upgrade_rd;
GRANT EXECUTE ON FUNCTION :f TO momo_upgrade_rc;
RESET ROLE;
GRANT EXECUTE ON FUNCTION :f TO momo_upgrade_rd WITH GRANT OPTION;
REVOKE GRANT OPTION FOR EXECUTE ON FUNCTION :f FROM momo_upgrade_rb CASCADE;
SELECT proacl FROM pg_proc WHERE oid = :'f'::regprocedure;
\set g 'momo_deposit(numeric, text, text, text, text, text)'
GRANT EXECUTE ON FUNCTION :g TO momo_upgrade_rb WITH GRANT OPTION;
SET ROLE momo_upgrade_rb;
GRANT EXECUTE ON FUNCTION :g TO momo_upgrade_rb;
GRANT EXECUTE ON FUNCTION :g TO momo_upgrade_rc;
RESET ROLE;
SELECT proacl FROM pg_proc WHERE oid = :'g'::regprocedure;
-- A function of 1.0 given to an ordinary role (momo_refund): its owner
-- lost EXECUTE in the update, and what another role had given it.
\set h 'momo_refund(uuid, numeric, text, text, text)'
GRANT EXECUTE ON FUNCTION :h TO momo_upgrade_rb WITH GRANT OPTION;
SET ROLE momo_upgrade_rb;
GRANT EXECUTE ON FUNCTION :h TO momo_upgrade_rc;
RESET ROLE;
ALTER FUNCTION :h OWNER TO momo_upgrade_rc;
SELECT proacl FROM pg_proc WHERE oid = :'h'::regprocedure;
-- One given to a superuser (momo_account_holder_active): a superuser needs
-- no grant, and a fresh install gives it none.
ALTER FUNCTION momo_account_holder_active(text, text) OWNER TO :dba;
-- A chain of 21 grant options (momo_remittance_transfer): the update
-- ordered grants only 20 deep, and gave momo_upgrade_c23's before its
-- grantor held the option again (a failure, or the grant lost).
DO $$
BEGIN
    FOR i IN 1..23 LOOP
        EXECUTE format('CREATE ROLE momo_upgrade_c%s', i);
    END LOOP;
END
$$;
\set r 'momo_remittance_transfer(numeric, text, text, text, text, text)'
GRANT EXECUTE ON FUNCTION :r TO momo_upgrade_c1 WITH GRANT OPTION;
DO $$
BEGIN
    FOR i IN 1..20 LOOP
        EXECUTE format('SET ROLE momo_upgrade_c%s', i);
        EXECUTE format('GRANT EXECUTE ON FUNCTION momo_remittance_transfer(numeric, text, text, text, text, text)'
                       ' TO momo_upgrade_c%s WITH GRANT OPTION', i + 1);
        RESET ROLE;
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION :r TO momo_upgrade_c22 WITH GRANT OPTION;
SET ROLE momo_upgrade_c22;
GRANT EXECUTE ON FUNCTION :r TO momo_upgrade_c23;
SET ROLE momo_upgrade_c21;
GRANT EXECUTE ON FUNCTION :r TO momo_upgrade_c22 WITH GRANT OPTION;
RESET ROLE;
REVOKE GRANT OPTION FOR EXECUTE ON FUNCTION :r FROM momo_upgrade_c22;
SELECT count(*) AS grants FROM pg_proc p, aclexplode(p.proacl) a WHERE p.oid = :'r'::regprocedure;
-- momo_worker gave a grant in 1.0 (momo_account_holder_info): in 1.1
-- momo's DDL guard refuses its GRANT, and the update failed.
\set i 'momo_account_holder_info(text, text)'
GRANT EXECUTE ON FUNCTION :i TO momo_worker WITH GRANT OPTION;
SET ROLE momo_worker;
GRANT EXECUTE ON FUNCTION :i TO momo_upgrade_user;
RESET ROLE;
-- A grantee renamed, and another role made with its name, while the update
-- runs (here by an event trigger, after the grants were saved): the grant
-- went to the new role of that name.
CREATE ROLE momo_upgrade_re;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text) TO momo_upgrade_re;
CREATE FUNCTION public.momo_upgrade_rename() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'momo_upgrade_re_old') THEN
        ALTER ROLE momo_upgrade_re RENAME TO momo_upgrade_re_old;
        CREATE ROLE momo_upgrade_re;
    END IF;
END
$$;
CREATE EVENT TRIGGER momo_upgrade_rename ON ddl_command_end WHEN TAG IN ('DROP FUNCTION')
    EXECUTE FUNCTION public.momo_upgrade_rename();
-- The grantors' USAGE on momo's schema taken away (GRANT needs it to find
-- the function: the update failed); the schema's privileges and initial
-- privileges come out of the update as they went in.
REVOKE USAGE ON SCHEMA public FROM PUBLIC;
CREATE TABLE momo_upgrade_schema_privileges AS
SELECT n.nspacl, (SELECT i.initprivs FROM pg_init_privs i
                   WHERE i.objoid = n.oid AND i.classoid = 'pg_namespace'::regclass) AS initprivs
  FROM pg_namespace n WHERE n.nspname = 'public';
SELECT * FROM momo_upgrade_schema_privileges;
\c - :dba
ALTER ROLE momo_upgrade_installer NOSUPERUSER;
CREATE ROLE momo_upgrade_dba SUPERUSER NOLOGIN;
CREATE ROLE momo_upgrade_ops LOGIN IN ROLE momo_upgrade_dba, momo_upgrade_rb, momo_upgrade_rd;
DO $$
BEGIN
    FOR i IN 1..22 LOOP
        EXECUTE format('GRANT momo_upgrade_c%s TO momo_upgrade_ops', i);
    END LOOP;
END
$$;
\c - momo_upgrade_ops
SET ROLE momo_upgrade_dba;
ALTER EXTENSION momo UPDATE;
SELECT current_user AS after_the_update;
RESET ROLE;
\c - :dba
SELECT a.grantee::regrole AS grantee, a.grantor::regrole AS grantor, a.privilege_type
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = 'momo_request_to_pay(numeric, text, text, text, text, text, text, text)'::regprocedure
 ORDER BY 1::text;
\set f 'momo_transfer(numeric, text, text, text, text, text, text, text)'
SELECT a.grantee::regrole AS grantee, a.grantor::regrole AS grantor, a.is_grantable
  FROM pg_proc p, aclexplode(p.proacl) a WHERE p.oid = :'f'::regprocedure ORDER BY 1::text, 2::text;
-- each grant by its grantor: a REVOKE ... CASCADE reaches what it gave
REVOKE EXECUTE ON FUNCTION :f FROM momo_upgrade_rd CASCADE;
REVOKE EXECUTE ON FUNCTION :f FROM momo_upgrade_rb CASCADE;
SELECT a.grantee::regrole AS grantee FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = :'f'::regprocedure ORDER BY 1::text;
\set g 'momo_deposit(numeric, text, text, text, text, text, integer, text, text)'
SELECT a.grantee::regrole AS grantee, a.grantor::regrole AS grantor, a.is_grantable
  FROM pg_proc p, aclexplode(p.proacl) a WHERE p.oid = :'g'::regprocedure ORDER BY 1::text, 2::text;
REVOKE EXECUTE ON FUNCTION :g FROM momo_upgrade_rb CASCADE;
SELECT a.grantee::regrole AS grantee FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = :'g'::regprocedure ORDER BY 1::text;
-- the old owner keeps EXECUTE, given by the new one, and what rb gave it
\set h 'momo_refund(uuid, numeric, text, text, text, integer, text)'
SELECT a.grantee::regrole AS grantee, a.grantor::regrole AS grantor, a.is_grantable
  FROM pg_proc p, aclexplode(p.proacl) a WHERE p.oid = :'h'::regprocedure ORDER BY 1::text, 2::text;
SELECT has_function_privilege('momo_upgrade_rc', :'h', 'EXECUTE') AS old_owner_executes;
SELECT count(*) FILTER (WHERE a.grantee = :'dba'::regrole) AS grants_to_the_superuser, count(*) AS grants
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = 'momo_account_holder_active(text, text, text)'::regprocedure;
-- the whole chain, c23's grant by c22 among it
\set r 'momo_remittance_transfer(numeric, text, text, text, text, text, text, text)'
SELECT count(*) AS grants,
       count(*) FILTER (WHERE a.grantee = 'momo_upgrade_c23'::regrole AND a.grantor = 'momo_upgrade_c22'::regrole) AS c23_by_c22
  FROM pg_proc p, aclexplode(p.proacl) a WHERE p.oid = :'r'::regprocedure;
REVOKE EXECUTE ON FUNCTION :r FROM momo_upgrade_c1 CASCADE;
SELECT a.grantee::regrole AS still_granted FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = :'r'::regprocedure ORDER BY 1::text;
-- momo_worker's grant given as the owner's
SELECT a.grantee::regrole AS grantee, a.grantor::regrole AS grantor, a.is_grantable
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = 'momo_account_holder_info(text, text, text)'::regprocedure ORDER BY 1::text, 2::text;
-- the grant stays with the role it was given to, under its new name
SELECT has_function_privilege('momo_upgrade_re_old', 'momo_request_to_pay(numeric, text, text, text, text, text, text, text)', 'EXECUTE') AS renamed_role,
       has_function_privilege('momo_upgrade_re', 'momo_request_to_pay(numeric, text, text, text, text, text, text, text)', 'EXECUTE') AS role_of_that_name;
DROP EVENT TRIGGER momo_upgrade_rename;
DROP FUNCTION public.momo_upgrade_rename();
-- the schema's privileges as before the update
SELECT n.nspacl = s.nspacl AS same_acl,
       (SELECT i.initprivs FROM pg_init_privs i
         WHERE i.objoid = n.oid AND i.classoid = 'pg_namespace'::regclass) IS NOT DISTINCT FROM s.initprivs AS same_initprivs
  FROM pg_namespace n, momo_upgrade_schema_privileges s WHERE n.nspname = 'public';
\c contrib_regression
DROP DATABASE momo_upgrade_roles;
DROP ROLE momo_upgrade_user;
DROP ROLE momo_upgrade_installer;
DROP ROLE momo_upgrade_ops;
DROP ROLE momo_upgrade_rb;
DROP ROLE momo_upgrade_rc;
DROP ROLE momo_upgrade_rd;
DROP ROLE momo_upgrade_dba;
DROP ROLE momo_upgrade_re;
DROP ROLE momo_upgrade_re_old;
DO $$
BEGIN
    FOR i IN 1..23 LOOP
        EXECUTE format('DROP ROLE momo_upgrade_c%s', i);
    END LOOP;
END
$$;
DROP DATABASE momo_upgrade_fresh;
DROP DATABASE momo_upgrade_walked;
DROP DATABASE momo_upgrade_template;
