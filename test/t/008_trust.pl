
# 008_trust.pl - the trust boundary, attacked as two independent reviews did:
# ordinary roles try to become superuser, or act with momo_worker's rights
# (which write every payment), through momo's worker, momo's functions,
# triggers on momo_payments and the tables those triggers touch, operators
# planted before or after the install, and the schema momo lives in.  Each
# attack is run with a role created for it, step by step, and the test
# asserts that the attacker gained nothing while payments still complete.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

start_sandbox();

# The worker serves "victim", a database owned by mallory, an ordinary role:
# as its owner mallory controls its schema public, may ANALYZE its tables and
# ALTER DATABASE ... SET.
my $node = momo_node('trust', database_name => 'victim');
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE ROLE app LOGIN;
	CREATE DATABASE victim OWNER mallory;
});

# 0. Before the install, mallory plants operators in public that match
# (numeric, integer) exactly, where pg_catalog's need a cast: a CHECK
# (amount > 0) would bind to them.  momo refuses to go into a schema an
# ordinary role controls; the DBA installs it into a schema of its own.
{
	my ($rc, $out, $err) = $node->psql('victim', q{
		SET ROLE mallory;
		CREATE FUNCTION public.evil_cmp(numeric, integer) RETURNS boolean LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'planted operator');
			BEGIN
				EXECUTE 'ALTER ROLE mallory SUPERUSER';
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
			RETURN true;
		END $$;
		CREATE OPERATOR public.> (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.evil_cmp);
		CREATE OPERATOR public.>= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.evil_cmp);
		CREATE OPERATOR public.<= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.evil_cmp);
		RESET ROLE;
		CREATE EXTENSION momo;
	});
	like($err, qr/momo must be installed in a schema that only superusers control.*mallory/s,
		'CREATE EXTENSION refuses schema public of a database an ordinary role owns');
}
$node->safe_psql('victim', q{
	CREATE SCHEMA momo;
	CREATE EXTENSION momo SCHEMA momo;
	ALTER DATABASE victim SET search_path = "$user", public, momo;
	-- what the attackers' code records, if it ever runs: who it ran as
	CREATE TABLE momo.pwned (ran_as name, via text);
	GRANT INSERT, SELECT ON momo.pwned TO PUBLIC;
	CREATE VIEW public.pwned AS SELECT * FROM momo.pwned;
	GRANT INSERT, SELECT ON public.pwned TO PUBLIC;
	-- the README's grants for an application role
	GRANT USAGE ON SCHEMA momo TO app;
	GRANT EXECUTE ON FUNCTION momo.momo_request_to_pay(numeric, text, text, text, text, text, text, text),
	                          momo.momo_payment_status(uuid), momo.momo_await(uuid, interval) TO app;
	GRANT SELECT ON momo.momo_payments TO app;
});
ok(wait_for_worker($node, db => 'victim', timeout => 60), 'the worker serves victim');
is($node->safe_psql('victim', q{
	SELECT count(*) FROM pg_depend d JOIN pg_operator o ON o.oid = d.refobjid
	 WHERE d.refclassid = 'pg_operator'::regclass AND o.oprnamespace <> 'pg_catalog'::regnamespace}),
	'0', 'no object of momo binds to the planted operators');

# psql as a given role; (exit code, stdout, stderr).
sub as_role
{
	my ($role, $sql, $db) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql($db // 'victim', $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-U', $role ], timeout => 60);
	return ($rc, $out, $err);
}

sub is_superuser
{
	my ($role) = @_;
	return $node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = '$role'") eq 't';
}

sub pwned
{
	return $node->safe_psql('victim',
		q{SELECT coalesce(string_agg(ran_as || ' via ' || via, ', ' ORDER BY via), 'nothing') FROM public.pwned});
}

# A payment as the application role, waited for until final.
sub app_payment
{
	my ($ext, $msisdn) = @_;
	my ($rc, $ref, $err) = as_role('app',
		"SELECT momo_request_to_pay(10, 'EUR', '" . ($msisdn // '46733000001') . "', '$ext')");
	die "request failed: $err" if $rc;
	return $ref;
}

# A payment and its open invoice, in one transaction of the application (as
# an application does it): the worker, woken at commit, may complete the
# payment before a separate INSERT of the invoice would come.
sub app_payment_with_invoice
{
	my ($ext, $table) = @_;
	my ($rc, $ref, $err) = as_role('app', qq{
		WITH p AS (SELECT momo_request_to_pay(10, 'EUR', '46733000001', '$ext') AS ref)
		INSERT INTO $table SELECT ref, 'open', NULL FROM p RETURNING payment_ref});
	die "request failed: $err" if $rc;
	return $ref;
}

############################################################################
# 1. The database owner hijacks an operator of the worker's queries.  The
# worker's statements had numeric * integer and float8 < integer, which no
# pg_catalog operator matches exactly; an exact match in public won, and ran
# as the worker's user (the bootstrap superuser).  ALTER DATABASE ... SET
# search_path made any operator hijackable at the next worker start.
{
	my ($rc, $out, $err) = as_role('mallory', q{
		CREATE FUNCTION public.pwn_num(numeric, integer) RETURNS numeric
		LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'operator * (numeric, integer)');
			BEGIN
				EXECUTE 'ALTER ROLE mallory SUPERUSER';
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
			RETURN $1 * $2::numeric;
		END $$;
		CREATE OPERATOR public.* (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.pwn_num);
		CREATE FUNCTION public.pwn_lt(double precision, integer) RETURNS boolean
		LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'operator < (float8, integer)');
			BEGIN
				EXECUTE 'ALTER ROLE mallory SUPERUSER';
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
			RETURN $1 < $2::double precision;
		END $$;
		CREATE OPERATOR public.< (LEFTARG = double precision, RIGHTARG = integer, FUNCTION = public.pwn_lt);
		-- a schema named like the worker's role, first on a "$user" path
		CREATE SCHEMA momo_worker;
		CREATE FUNCTION momo_worker.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'momo_worker.now()');
			RETURN pg_catalog.now();
		END $$;
		ALTER DATABASE victim SET search_path = "$user", public, momo, pg_catalog;
	});
	is($rc, 0, 'mallory, the database owner, planted operators and a search path') or diag($err);
	# ... and an ALTER ROLE ... SET for the worker's role, as a DBA might have
	$node->safe_psql('postgres', q{ALTER ROLE momo_worker SET search_path = "$user", public})
	  if $node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'momo_worker'});
	$node->restart;    # "the next worker start"
	ok(wait_for_worker($node, db => 'victim', timeout => 60), 'the worker started again');

	# As in the original attack, mallory has the worker's queries planned
	# again with her operators in reach: a bare ANALYZE, which a database
	# owner may run on every table of her database, momo's included (and
	# which runs what index and statistics expressions call as the table's
	# owner).  analyze_count (manual ANALYZEs only) proves it reached them.
	# (The test's own queries here name pg_catalog's operator: her planted
	# >=(numeric, integer) is first on this database's search path.)
	my $analyzed = q{SELECT coalesce(sum(analyze_count), 0) FROM pg_stat_all_tables
		WHERE schemaname = 'momo' AND relname IN ('momo_payments', 'momo_events')};
	my $before = $node->safe_psql('victim', $analyzed);
	($rc, $out, $err) = as_role('mallory', 'ANALYZE;');
	is($rc, 0, 'mallory ran a bare ANALYZE') or diag($err);
	unlike($err, qr/skipping "momo_payments"/, 'it was not refused on momo_payments');
	ok(poll_until($node, 'victim', "SELECT ($analyzed) OPERATOR(pg_catalog.>=) " . ($before + 2) . '::numeric', 't', 30),
		'her ANALYZE reached momo_payments and momo_events');

	my @refs = map { app_payment("op-$_") } 1 .. 3;
	is(join(',', map { await_payment($node, $_, db => 'victim')->{status} } @refs),
		'successful,successful,successful', 'payments complete under the hijack attempt');
	ok(!is_superuser('mallory'), 'mallory did not become superuser');
	is(pwned(), 'nothing', 'no planted operator or function ran in momo');
	$node->safe_psql('victim', 'ALTER DATABASE victim SET search_path = "$user", public, momo');
	$node->safe_psql('postgres', 'ALTER ROLE momo_worker RESET search_path')
	  if $node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'momo_worker'});
}

############################################################################
# 2a. A temporary table named like the recipe's table.  The README's recipe
# once said UPDATE invoices, unqualified and SECURITY INVOKER; inside
# momo_payment_status that name found the caller's pg_temp.invoices, whose
# trigger then ran with the function's rights.  Here the DBA runs that
# legacy recipe: momo now refuses to act at all while a trigger on
# momo_payments would run with its rights, so the caller's code never runs.
{
	$node->safe_psql('victim', q{
		CREATE TABLE public.invoices (payment_ref uuid, status text, paid_at timestamptz);
		CREATE FUNCTION public.legacy_payment_final() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			UPDATE invoices
			   SET status = CASE NEW.status WHEN 'successful' THEN 'paid' ELSE 'payment failed' END,
			       paid_at = CASE NEW.status WHEN 'successful' THEN NEW.completed_at END
			 WHERE payment_ref = NEW.reference_id;
			RETURN NULL;
		END $$;
	});
	my $ref = app_payment('temp-attack');
	is(await_payment($node, $ref, db => 'victim')->{status}, 'successful', 'a payment completes first');
	$ref = app_payment('temp-attack-2', '46733123454');    # stays pending at MTN
	ok(poll_until($node, 'victim',
			"SELECT status FROM momo_payments WHERE reference_id = '$ref'", 'pending', 30),
		'a second one is pending at MTN');
	my $pos = log_position($node);
	$node->safe_psql('victim', q{
		CREATE TRIGGER legacy_payment_final AFTER UPDATE OF status ON momo_payments
			FOR EACH ROW WHEN (NEW.status IN ('successful', 'failed') AND OLD.status <> NEW.status)
			EXECUTE FUNCTION public.legacy_payment_final();
	});
	my ($rc, $out, $err) = as_role('app', qq{
		CREATE TEMP TABLE invoices (payment_ref uuid, status text, paid_at timestamptz);
		GRANT ALL ON pg_temp.invoices TO PUBLIC;   -- whoever runs the recipe may update it
		INSERT INTO pg_temp.invoices VALUES ('$ref', 'open', NULL);
		CREATE FUNCTION pg_temp.pwn() RETURNS trigger LANGUAGE plpgsql AS \$\$
		BEGIN
			RAISE NOTICE 'attacker code runs as %', current_user;
			INSERT INTO public.pwned VALUES (current_user, 'temporary table trigger');
			EXECUTE 'ALTER ROLE app SUPERUSER';
			RETURN NEW;
		END \$\$;
		CREATE TRIGGER pwn BEFORE UPDATE ON pg_temp.invoices
			FOR EACH ROW EXECUTE FUNCTION pg_temp.pwn();
		SELECT status FROM momo_payment_status('$ref');
	});
	like($err, qr/momo refuses to act: trigger legacy_payment_final on momo_payments calls .*runs as whoever fires it/,
		'momo_payment_status refuses to act while a trigger would run with its rights');
	unlike($err, qr/attacker code runs/, 'the attacker\'s trigger never ran');
	ok(wait_for_log_count($node, qr/momo worker is not sending payments: trigger legacy_payment_final/, 1, $pos, 30),
		'the worker refuses too, and says why');
	is($node->safe_psql('victim',
			q{SELECT ok FROM momo_preflight() WHERE check_name = 'triggers on momo_payments'}),
		'f', 'momo_preflight() flags the trigger');
	ok(!is_superuser('app'), 'app did not become superuser');
	is(pwned(), 'nothing', 'nothing the attackers planted ran');
	$node->safe_psql('victim', 'DROP TRIGGER legacy_payment_final ON momo_payments');
	my $ok = app_payment('after-legacy');
	is(await_payment($node, $ok, db => 'victim')->{status}, 'successful',
		'once the legacy trigger is gone, payments complete again');
}

############################################################################
# 2b. The application owns the table the recipe's trigger updates (as a
# Django application does) and puts its own trigger there; the worker fires
# the recipe's trigger when it records a final status.  With the README's
# recipe (SECURITY DEFINER, owned by the application) the application's code
# runs as the application.
$node->safe_psql('victim', q{CREATE SCHEMA shop AUTHORIZATION app});
sub install_recipe
{
	my ($security) = @_;
	my ($rc, $out, $err) = as_role('app', qq{
		DROP TABLE IF EXISTS shop.invoices CASCADE;
		CREATE TABLE shop.invoices (payment_ref uuid, status text, paid_at timestamptz);
		CREATE OR REPLACE FUNCTION shop.invoices_payment_final() RETURNS trigger
		LANGUAGE plpgsql $security SET search_path = pg_catalog, pg_temp AS \$\$
		BEGIN
			UPDATE shop.invoices
			   SET status = CASE NEW.status WHEN 'successful' THEN 'paid' ELSE 'payment failed' END,
			       paid_at = CASE NEW.status WHEN 'successful' THEN NEW.completed_at END
			 WHERE payment_ref = NEW.reference_id;
			RETURN NULL;
		END \$\$;
		-- the attacker's own trigger on its own table
		CREATE OR REPLACE FUNCTION shop.pwn() RETURNS trigger LANGUAGE plpgsql AS \$\$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'trigger on the app''s table');
			BEGIN
				EXECUTE 'ALTER ROLE app SUPERUSER';
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
			RETURN NEW;
		END \$\$;
		CREATE TRIGGER pwn BEFORE UPDATE ON shop.invoices FOR EACH ROW EXECUTE FUNCTION shop.pwn();
		-- and a rule
		CREATE RULE pwn_rule AS ON UPDATE TO shop.invoices
			DO ALSO INSERT INTO public.pwned VALUES (current_user, 'rule on the app''s table');
	});
	return ($rc, $err);
}
{
	my ($rc, $err) = install_recipe('SECURITY DEFINER');
	is($rc, 0, 'the application set up its table, its recipe function and its own trigger') or diag($err);
	$node->safe_psql('victim', q{
		CREATE TRIGGER invoices_payment_final AFTER UPDATE OF status ON momo.momo_payments
			FOR EACH ROW WHEN (NEW.status IN ('successful', 'failed') AND OLD.status <> NEW.status
			                   AND NEW.requested_by = 'app')
			EXECUTE FUNCTION shop.invoices_payment_final();
	});
	my $ref = app_payment_with_invoice('table-attack', 'shop.invoices');
	is(await_payment($node, $ref, db => 'victim')->{status}, 'successful', 'the payment completes');
	ok(poll_until($node, 'victim', "SELECT status FROM shop.invoices WHERE payment_ref = '$ref'", 'paid', 30),
		'the invoice is marked paid in the worker\'s transaction');
	ok(!is_superuser('app'), 'app did not become superuser');
	is(pwned(), "app via rule on the app's table, app via trigger on the app's table",
		'the application\'s rule and trigger ran as the application');
	$node->safe_psql('victim', 'DELETE FROM momo.pwned');
}

############################################################################
# 2c. The application redefines the function the DBA's trigger calls, which
# it owns: (i) to call momo's functions from inside the worker, where the
# session's role is the bootstrap superuser, to read and refund another
# tenant's payment; (ii) flipped to SECURITY INVOKER, so that it runs as
# momo_worker in the worker and builds itself a SECURITY DEFINER door owned by
# momo_worker.  Neither gains anything.
{
	my $victim_ref = $node->safe_psql('victim',
		q{SELECT momo_request_to_pay(4321.5, 'EUR', '46733000099', 'SOMEONE-ELSES')});
	is(await_payment($node, $victim_ref, db => 'victim')->{status}, 'successful', 'another role\'s payment');
	my $pos = log_position($node);
	my ($rc, $out, $err) = as_role('app', qq{
		CREATE OR REPLACE FUNCTION shop.invoices_payment_final() RETURNS trigger
		LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS \$\$
		DECLARE
			r record;
		BEGIN
			SELECT * INTO r FROM momo.momo_payment_status('$victim_ref');
			INSERT INTO public.pwned VALUES (current_user, 'read ' || r.external_id || ' ' || r.amount);
			RETURN NULL;
		END \$\$;
	});
	is($rc, 0, 'the application redefined its recipe function') or diag($err);
	my $ref = app_payment('worker-identity');
	ok(wait_for_log_count($node, qr/momo's functions cannot be called from code that the momo worker runs/, 1, $pos, 30),
		'inside the worker, momo\'s functions refuse to run');
	is(pwned(), 'nothing', 'the other role\'s payment was not read');
	is($node->safe_psql('victim', "SELECT count(*) FROM momo_payments WHERE refund_of = '$victim_ref'"),
		'0', 'nor refunded');

	# (ii) SECURITY INVOKER, building a door owned by momo_worker
	$pos = log_position($node);
	($rc, $out, $err) = as_role('app', q{
		GRANT USAGE, CREATE ON SCHEMA shop TO momo_worker;
		CREATE OR REPLACE FUNCTION shop.invoices_payment_final() RETURNS trigger
		LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
		BEGIN
			IF current_user = 'momo_worker' THEN
				EXECUTE 'CREATE FUNCTION shop.as_worker(cmd text) RETURNS void LANGUAGE plpgsql'
				     || ' SECURITY DEFINER AS $b$ BEGIN EXECUTE cmd; END $b$';
				EXECUTE 'GRANT EXECUTE ON FUNCTION shop.as_worker(text) TO app';
			END IF;
			INSERT INTO public.pwned VALUES (current_user, 'invoker recipe');
			RETURN NULL;
		END $$;
	});
	is($rc, 0, 'the application flipped its recipe function to SECURITY INVOKER') or diag($err);
	# the worker still has to record the payment above: the moment the door would open
	ok(wait_for_log_count($node, qr/momo worker is not sending payments: trigger invoices_payment_final on momo_payments calls .*runs as whoever fires it/, 1, $pos, 30),
		'the worker refuses to act while the recipe function would run with its rights');
	is($node->safe_psql('victim', q{SELECT count(*) FROM pg_proc WHERE proname = 'as_worker'}),
		'0', 'no door was built');
	is(pwned(), 'nothing', 'the flipped function never ran');

	# (iii) the DBA makes it SECURITY DEFINER but owned by a superuser
	$node->safe_psql('victim', q{
		ALTER FUNCTION shop.invoices_payment_final() SECURITY DEFINER;
		ALTER FUNCTION shop.invoices_payment_final() OWNER TO CURRENT_USER;
	});
	is($node->safe_psql('victim',
			q{SELECT detail FROM momo_preflight() WHERE check_name = 'triggers on momo_payments'}) =~ /owned by a superuser/ ? 1 : 0,
		1, 'a superuser-owned trigger function is flagged, and refused');
	my ($rc2, $out2, $err2) = as_role('app', "SELECT momo_request_to_pay(5, 'EUR', '46733000005', 'refused-too')");
	like($err2, qr/momo refuses to act: trigger invoices_payment_final .*owned by a superuser/,
		'momo\'s functions refuse it too');
	$node->safe_psql('victim', 'DROP TRIGGER invoices_payment_final ON momo.momo_payments');
	is(await_payment($node, $ref, db => 'victim', seconds => 90)->{status}, 'successful',
		'once the trigger is gone, the waiting payments complete');
	ok(!is_superuser('app'), 'app did not become superuser');
}

############################################################################
# 2d. invoices is a VIEW of the application, with an INSTEAD OF trigger of
# the application's (SECURITY INVOKER, as such triggers usually are): the
# recipe's trigger function updates the view in the worker's transaction.
# The INSTEAD OF trigger runs as whoever updates the view -- the recipe
# function's owner, the application -- never as momo_worker or a superuser.
{
	$node->safe_psql('victim', 'DELETE FROM momo.pwned');
	my ($rc, $out, $err) = as_role('app', q{
		CREATE TABLE shop.invoice_rows (payment_ref uuid, status text, paid_at timestamptz);
		CREATE VIEW shop.invoices_view AS SELECT * FROM shop.invoice_rows;
		CREATE FUNCTION shop.invoices_view_update() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'INSTEAD OF trigger on the view');
			BEGIN
				EXECUTE 'ALTER ROLE app SUPERUSER';
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
			BEGIN
				EXECUTE 'GRANT ALL ON momo.momo_payments TO app';
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
			UPDATE shop.invoice_rows SET status = NEW.status, paid_at = NEW.paid_at
			 WHERE payment_ref = OLD.payment_ref;
			RETURN NEW;
		END $$;
		CREATE TRIGGER invoices_view_update INSTEAD OF UPDATE ON shop.invoices_view
			FOR EACH ROW EXECUTE FUNCTION shop.invoices_view_update();
		CREATE FUNCTION shop.view_payment_final() RETURNS trigger
		LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
		BEGIN
			UPDATE shop.invoices_view
			   SET status = CASE NEW.status WHEN 'successful' THEN 'paid' ELSE 'payment failed' END,
			       paid_at = CASE NEW.status WHEN 'successful' THEN NEW.completed_at END
			 WHERE payment_ref = NEW.reference_id;
			RETURN NULL;
		END $$;
	});
	is($rc, 0, 'the application made invoices a view with an INSTEAD OF trigger') or diag($err);
	$node->safe_psql('victim', q{
		CREATE TRIGGER view_payment_final AFTER UPDATE OF status ON momo.momo_payments
			FOR EACH ROW WHEN (NEW.status IN ('successful', 'failed') AND OLD.status <> NEW.status
			                   AND NEW.requested_by = 'app')
			EXECUTE FUNCTION shop.view_payment_final();
	});
	is($node->safe_psql('victim', q{SELECT ok FROM momo_preflight() WHERE check_name = 'triggers on momo_payments'}),
		't', 'the recipe trigger, updating a view, is as the README asks');
	my $ref = app_payment_with_invoice('view-attack', 'shop.invoice_rows');
	is(await_payment($node, $ref, db => 'victim')->{status}, 'successful', 'the payment completes');
	ok(poll_until($node, 'victim', "SELECT status FROM shop.invoice_rows WHERE payment_ref = '$ref'", 'paid', 30),
		'the invoice is marked paid through the view, in the worker\'s transaction');
	is(pwned(), 'app via INSTEAD OF trigger on the view',
		'the INSTEAD OF trigger ran once, as the application');
	ok(!is_superuser('app'), 'app did not become superuser');
	is($node->safe_psql('victim', q{SELECT has_table_privilege('app', 'momo.momo_payments', 'UPDATE')}), 'f',
		'the application gained no right on momo_payments');
	$node->safe_psql('victim', 'DROP TRIGGER view_payment_final ON momo.momo_payments; DELETE FROM momo.pwned');
}

############################################################################
# A trigger on momo_events (the worker and momo's functions insert and purge
# it as momo_worker) that would run with their rights: refused the same way.
{
	$node->safe_psql('victim', q{
		CREATE FUNCTION public.events_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'trigger on momo_events');
			RETURN NEW;
		END $$;
		CREATE TRIGGER events_trigger AFTER INSERT ON momo.momo_events
			FOR EACH ROW EXECUTE FUNCTION public.events_trigger();
	});
	my ($rc, $out, $err) = as_role('app', "SELECT momo_request_to_pay(6, 'EUR', '46733000006', 'events-trigger')");
	like($err, qr/momo refuses to act: trigger events_trigger on momo_events calls .*runs as whoever fires it/,
		'a SECURITY INVOKER trigger on momo_events makes momo refuse to act');
	is(pwned(), 'nothing', 'and it never ran');
	$node->safe_psql('victim', 'DROP TRIGGER events_trigger ON momo.momo_events');
}

############################################################################
# The WHEN condition of a trigger is evaluated as whoever fires it: in the
# worker, momo_worker.  A database owner (mallory) plants an operator =(text,
# text) in a schema of hers and puts it first in the database's search_path;
# a DBA then creates a trigger on momo_payments in that session, whose WHEN
# condition binds to the planted operator (so a red team made momo_worker
# build a door, through Django's test database, which the application owns).
# And a trigger on momo_payment_changes, which the worker and momo's
# functions write as momo_worker too, calling an invoker's function.  momo
# refuses to act while either is there; neither runs.
{
	$node->safe_psql('victim', q{
		SET ROLE mallory;
		CREATE SCHEMA planted;
		CREATE FUNCTION planted.evil_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'planted operator in a WHEN condition');
			RETURN $1 OPERATOR(pg_catalog.=) $2;
		END $$;
		CREATE OPERATOR planted.= (LEFTARG = text, RIGHTARG = text, FUNCTION = planted.evil_eq);
		RESET ROLE;
		CREATE FUNCTION public.dba_noop() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
			SET search_path = pg_catalog, pg_temp AS $$ BEGIN RETURN NULL; END $$;
		ALTER FUNCTION public.dba_noop() OWNER TO app;
		SET search_path = planted, pg_catalog;
		CREATE TRIGGER planted_when AFTER UPDATE ON momo.momo_payments FOR EACH ROW
			WHEN (NEW.status = 'successful') EXECUTE FUNCTION public.dba_noop();
	});
	my ($rc, $out, $err) = as_role('app', "SELECT momo_request_to_pay(7, 'EUR', '46733000007', 'planted-when')");
	like($err, qr/momo refuses to act: the WHEN condition of trigger planted_when on momo_payments calls planted\.evil_eq\(text,text\)/,
		'a WHEN condition bound to a planted operator makes momo refuse to act');
	like($node->safe_psql('victim', q{SELECT detail FROM momo_preflight() WHERE check_name = 'triggers on momo_payments'}),
		qr/WHEN condition of trigger planted_when/, 'momo_preflight names it');
	$node->safe_psql('victim', 'DROP TRIGGER planted_when ON momo.momo_payments');

	# the same condition written as the README says, with pg_catalog's operator: fine
	$node->safe_psql('victim', q{
		SET search_path = pg_catalog, pg_temp;
		CREATE TRIGGER catalog_when AFTER UPDATE ON momo.momo_payments FOR EACH ROW
			WHEN (NEW.status = 'successful') EXECUTE FUNCTION public.dba_noop();
	});
	my $ref = app_payment('catalog-when');
	is(await_payment($node, $ref, db => 'victim')->{status}, 'successful',
		'the same trigger created with search_path pg_catalog is accepted');
	$node->safe_psql('victim', 'DROP TRIGGER catalog_when ON momo.momo_payments');

	$node->safe_psql('victim', q{
		CREATE FUNCTION public.changes_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'trigger on momo_payment_changes');
			RETURN NEW;
		END $$;
		CREATE TRIGGER changes_trigger AFTER INSERT ON momo.momo_payment_changes
			FOR EACH ROW EXECUTE FUNCTION public.changes_trigger();
	});
	($rc, $out, $err) = as_role('app', "SELECT momo_request_to_pay(8, 'EUR', '46733000008', 'changes-trigger')");
	like($err, qr/momo refuses to act: trigger changes_trigger on momo_payment_changes calls .*runs as whoever fires it/,
		'a SECURITY INVOKER trigger on momo_payment_changes makes momo refuse to act');
	$node->safe_psql('victim', 'DROP TRIGGER changes_trigger ON momo.momo_payment_changes');
	is(pwned(), 'nothing', 'neither ran');
	ok(!is_superuser('mallory'), 'mallory did not become superuser');
}

############################################################################
# Everything else that runs code when momo writes its tables, or when VACUUM
# and ANALYZE read them as their owner, each added by a DBA with a function
# the application owns, which it later flips to SECURITY INVOKER (a red team
# got write rights on momo_payments through the first three): a trigger on
# momo_payment_counts, a rule on momo_payment_changes, a CHECK constraint, a
# column default, an index expression, an extended statistics expression.
# momo refuses to act while any is there; none runs.
{
	$node->safe_psql('victim', q{
		CREATE FUNCTION public.app_code() RETURNS boolean LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'code in an expression on momo''s tables');
			RETURN true;
		END $$;
		CREATE FUNCTION public.app_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'trigger on momo_payment_counts');
			RETURN NULL;
		END $$;
		-- (an index or statistics expression must be IMMUTABLE; what it would
		-- do once flipped is the others' business: it is refused before)
		CREATE FUNCTION public.app_code_imm() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
		BEGIN
			RETURN true;
		END $$;
		ALTER FUNCTION public.app_code() OWNER TO app;
		ALTER FUNCTION public.app_code_imm() OWNER TO app;
		ALTER FUNCTION public.app_trigger() OWNER TO app;
		CREATE TABLE public.audit (x int);
		GRANT ALL ON public.audit TO PUBLIC;
	});
	my @doors = (
		[ 'a trigger on momo_payment_counts',
		  'CREATE TRIGGER audit AFTER INSERT ON momo.momo_payment_counts FOR EACH ROW EXECUTE FUNCTION public.app_trigger()',
		  'DROP TRIGGER audit ON momo.momo_payment_counts',
		  qr/trigger audit on momo_payment_counts calls public\.app_trigger\(\), which runs as whoever fires it/ ],
		[ 'a rule on momo_payment_changes',
		  'CREATE RULE audit AS ON INSERT TO momo.momo_payment_changes DO ALSO INSERT INTO public.audit SELECT 1 WHERE public.app_code()',
		  'DROP RULE audit ON momo.momo_payment_changes',
		  qr/momo_payment_changes has a rule/ ],
		[ 'a CHECK constraint',
		  'ALTER TABLE momo.momo_payment_changes ADD CONSTRAINT audit CHECK (public.app_code()) NOT VALID',
		  'ALTER TABLE momo.momo_payment_changes DROP CONSTRAINT audit',
		  qr/constraint audit on momo_payment_changes calls public\.app_code\(\)/ ],
		[ 'a column default',
		  'ALTER TABLE momo.momo_events ADD COLUMN audit boolean DEFAULT public.app_code()',
		  'ALTER TABLE momo.momo_events DROP COLUMN audit',
		  qr/the default of column audit on momo_events calls public\.app_code\(\)/ ],
		[ 'an index expression',
		  'CREATE INDEX audit ON momo.momo_pauses ((public.app_code_imm()))',
		  'DROP INDEX momo.audit',
		  qr/index audit on momo_pauses calls public\.app_code_imm\(\)/ ],
		[ 'an extended statistics expression',
		  'CREATE STATISTICS momo.audit ON (public.app_code_imm()), product FROM momo.momo_payments',
		  'DROP STATISTICS momo.audit',
		  qr/statistics object audit on momo_payments calls public\.app_code_imm\(\)/ ]);
	for my $d (@doors)
	{
		my ($what, $create, $drop, $re) = @$d;
		$node->safe_psql('victim', 'DELETE FROM public.pwned');
		my ($crc, $cout, $cerr) = $node->psql('victim', $create);
		if ($crc != 0)
		{
			# building an index evaluates its expression as the table's owner
			like($cerr, qr/momo refuses to run public\.app_code_imm\(\) with its rights/,
				"$what is refused when it is created (it runs as momo_worker)");
			next;
		}
		my ($rc, $out, $err) = as_role('app', "SELECT momo_request_to_pay(9, 'EUR', '46733000009', 'door-" . length($what) . "')");
		like($err, qr/momo refuses to act: .*$re/, "$what makes momo refuse to act");
		like($node->safe_psql('victim', q{SELECT string_agg(detail, ' ') FROM momo_preflight() WHERE check_name = 'triggers on momo_payments'}),
			$re, "momo_preflight names $what");
		$node->safe_psql('victim', $drop);
		is($node->safe_psql('victim', q{SELECT count(*) FROM public.pwned WHERE via LIKE 'code in%' OR via LIKE 'trigger on momo_payment_counts'}),
			'0', "$what: the application's code never ran")
		  unless $what =~ /index|default|statistics/;    # creating those evaluates the function once, as the DBA
	}
	my $ref = app_payment('doors-gone');
	is(await_payment($node, $ref, db => 'victim')->{status}, 'successful', 'with them gone, payments complete');
	$node->safe_psql('victim', 'DELETE FROM public.pwned');
	ok(!is_superuser('app'), 'app did not become superuser');
	is($node->safe_psql('victim', q{SELECT has_table_privilege('app', 'momo.momo_payments', 'INSERT')}), 'f',
		'app gained no right on momo_payments');
}

############################################################################
# Code that changes while momo's statement runs (a second red team): three
# triggers the DBA put on momo_payments, each calling a SECURITY DEFINER
# function of the application, as the README asks -- the guard's check
# before the statement passes.  The application then makes the first flip
# the second to SECURITY INVOKER (and the third flip it back), so that the
# second runs as momo_worker when the worker records a status; and a WHEN
# condition that calls only pg_catalog's functions runs the application's
# SQL through query_to_xml.  The function manager's hook refuses, at the
# call, any function of another role run as momo_worker: nothing runs, the
# worker records nothing until they are gone, and the payment completes.
{
	$node->safe_psql('victim', 'DELETE FROM public.pwned');
	for my $f (qw(t1 t2 t3))
	{
		as_role('app', qq{CREATE FUNCTION shop.flip_$f() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
			SET search_path = pg_catalog, pg_temp AS \$\$ BEGIN RETURN NULL; END \$\$;});
	}
	$node->safe_psql('victim', q{
		CREATE TRIGGER flip_a AFTER UPDATE ON momo.momo_payments FOR EACH ROW EXECUTE FUNCTION shop.flip_t1();
		CREATE TRIGGER flip_b AFTER UPDATE ON momo.momo_payments FOR EACH ROW EXECUTE FUNCTION shop.flip_t2();
		CREATE TRIGGER flip_c AFTER UPDATE ON momo.momo_payments FOR EACH ROW EXECUTE FUNCTION shop.flip_t3();
	});
	is($node->safe_psql('victim', q{SELECT ok FROM momo_preflight() WHERE check_name = 'triggers on momo_payments'}),
		't', 'three triggers as the README asks: nothing to flag');
	my ($rc, $out, $err) = as_role('app', q{
		CREATE OR REPLACE FUNCTION shop.flip_t1() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
			SET search_path = pg_catalog, pg_temp AS $$ BEGIN ALTER FUNCTION shop.flip_t2() SECURITY INVOKER; RETURN NULL; END $$;
		CREATE OR REPLACE FUNCTION shop.flip_t2() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
			SET search_path = pg_catalog, pg_temp AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'flipped trigger');
			IF current_user <> 'app' THEN
				EXECUTE 'GRANT ALL ON momo.momo_payments TO app';
			END IF;
			RETURN NULL;
		END $$;
		CREATE OR REPLACE FUNCTION shop.flip_t3() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
			SET search_path = pg_catalog, pg_temp AS $$ BEGIN ALTER FUNCTION shop.flip_t2() SECURITY DEFINER; RETURN NULL; END $$;
	});
	is($rc, 0, 'the application rewrote its functions') or diag($err);
	my $pos = log_position($node);
	my $ref = app_payment('flip');
	ok(wait_for_log_count($node, qr/momo refuses to run shop\.flip_t2\(\) with its rights/, 1, $pos, 30),
		'the flipped function is refused at its call, as momo_worker');
	is($node->safe_psql('victim', q{SELECT coalesce(string_agg(ran_as, ','), 'none') FROM public.pwned WHERE ran_as <> 'app'}),
		'none', 'it never ran as anyone but the application');
	is($node->safe_psql('victim', q{SELECT has_table_privilege('app', 'momo.momo_payments', 'UPDATE')}), 'f',
		'the application gained no right on momo_payments');
	$node->safe_psql('victim', q{
		DROP TRIGGER flip_a ON momo.momo_payments; DROP TRIGGER flip_b ON momo.momo_payments;
		DROP TRIGGER flip_c ON momo.momo_payments;
	});
	is(await_payment($node, $ref, db => 'victim', seconds => 60)->{status}, 'successful',
		'once they are gone, the payment completes');

	# a WHEN condition of pg_catalog's functions only, that runs SQL
	$node->safe_psql('victim', 'DELETE FROM public.pwned');
	as_role('app', q{CREATE FUNCTION shop.xml_payload() RETURNS boolean LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, 'query_to_xml in a WHEN condition');
			RETURN true;
		END $$;});
	$node->safe_psql('victim', q{
		SET search_path = pg_catalog, pg_temp;
		CREATE TRIGGER xml_when AFTER UPDATE ON momo.momo_payments FOR EACH ROW
			WHEN (pg_catalog.query_to_xml('SELECT shop.xml_payload()', true, false, '') IS NOT NULL)
			EXECUTE FUNCTION public.dba_noop();
	});
	$pos = log_position($node);
	$ref = app_payment('xml-when');
	ok(wait_for_log_count($node, qr/momo refuses to run shop\.xml_payload\(\) with its rights/, 1, $pos, 30),
		'the SQL a WHEN condition runs cannot call the application\'s code as momo_worker');
	is(pwned(), 'nothing', 'it never ran');
	$node->safe_psql('victim', 'DROP TRIGGER xml_when ON momo.momo_payments');
	is(await_payment($node, $ref, db => 'victim', seconds => 60)->{status}, 'successful',
		'once it is gone, the payment completes');
	ok(!is_superuser('app'), 'app did not become superuser');
}

############################################################################
# A superuser-owned momo_payments: the worker refuses to act as it (and says
# so), rather than run triggers with a superuser's rights.
{
	my $pos = log_position($node);
	$node->safe_psql('victim', 'ALTER TABLE momo_payments OWNER TO CURRENT_USER');
	# (momo's functions act as momo_worker, who may no longer write the
	# table: the DBA writes the row)
	my $ref = $node->safe_psql('victim', q{
		INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn)
		VALUES (gen_random_uuid(), 'owned-by-superuser', 10, 'EUR', '46733000001')
		RETURNING reference_id});
	ok(wait_for_log_count($node, qr/momo worker is not sending payments: momo_payments is owned by superuser/, 1, $pos, 30),
		'the worker says it will not act as a superuser');
	is(payment_row($node, $ref, db => 'victim')->{status}, 'queued', 'and sends nothing meanwhile');
	$node->safe_psql('victim', 'ALTER TABLE momo_payments OWNER TO momo_worker');
	app_payment('wakes-the-worker');    # a commit wakes the worker at once
	is(await_payment($node, $ref, db => 'victim')->{status}, 'successful',
		'once momo_worker owns the table again, the payment completes');
}

############################################################################
# momo's schema under a hostile name: the worker builds its statements from
# the schema's name (quoted as an identifier, and that as a literal where a
# regclass is named: numbering the change feed, recording a status).  Here
# the DBA renames it to SQL that would call mallory's function -- as the
# owner of a schema could (sql/security.sql runs the backends' side); the
# function counts its calls in a sequence, which no rollback undoes.
# (Under a renamed schema the worker cannot record a final status: the
# bodies of momo's SQL and PL/pgSQL functions name the schema as it was at
# CREATE EXTENSION, as @extschema@ is in every extension; so the test
# renames it back to see the payment complete.)
{
	my $hostile = q{"'::text IS NULL OR public.pwn_rename() --"};
	my ($rc, $out, $err) = as_role('mallory', q{
		CREATE SEQUENCE public.rename_calls;
		GRANT USAGE, SELECT ON SEQUENCE public.rename_calls TO PUBLIC;
		CREATE FUNCTION public.pwn_rename() RETURNS boolean LANGUAGE plpgsql AS $$
		BEGIN
			PERFORM pg_catalog.nextval('public.rename_calls');
			INSERT INTO public.pwned VALUES (current_user, 'hostile schema name');
			RETURN true;
		END $$;
	});
	is($rc, 0, 'mallory planted the function a hostile name would call') or diag($err);
	$node->safe_psql('victim', "ALTER SCHEMA momo RENAME TO $hostile");
	my $ref = $node->safe_psql('victim',
		"SELECT $hostile.momo_request_to_pay(11, 'EUR', '46733000011', 'hostile-schema')");
	ok(poll_until($node, 'victim',
			"SELECT count(*) FROM $hostile.momo_changes(0, 100000) WHERE reference_id = '$ref' AND status = 'queued'",
			'1', 30),
		'under the hostile name the worker numbers the change feed');
	ok(poll_until($node, 'victim', "SELECT status FROM $hostile.momo_payments WHERE reference_id = '$ref'",
			'pending', 30),
		'and sends the payment, and records it pending');
	is($node->safe_psql('victim', 'SELECT is_called FROM public.rename_calls'), 'f',
		'the hostile name never called the planted function');
	$node->safe_psql('victim', "ALTER SCHEMA $hostile RENAME TO momo");
	is(await_payment($node, $ref, db => 'victim', seconds => 90)->{status}, 'successful',
		'renamed back, the payment completes');
	is($node->safe_psql('victim', 'SELECT is_called FROM public.rename_calls'), 'f',
		'the planted function never ran');
	is(pwned(), 'nothing', 'nothing planted ran');
}

ok(!is_superuser($_), "$_ is no superuser at the end") for qw(mallory app momo_worker);

done_testing();
