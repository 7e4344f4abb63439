
# 008_trust.pl - the trust boundary, attacked as an independent review did:
# ordinary roles try to become superuser through momo's worker, through
# momo's SECURITY DEFINER functions and through triggers on momo_payments and
# on the tables those triggers touch.  Each attack is run with a role created
# for it, step by step, and the test asserts that the attacker gained nothing
# (no superuser, no code of theirs run with momo's or a superuser's rights)
# while payments still complete.
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
# as its owner mallory may create in its public schema, ANALYZE its tables and
# ALTER DATABASE ... SET.  The DBA installs momo there.
my $node = momo_node('trust', database_name => 'victim');
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE ROLE app LOGIN;
	CREATE DATABASE victim OWNER mallory;
});
$node->safe_psql('victim', q{
	CREATE EXTENSION momo;
	-- what the attackers' code records, if it ever runs: who it ran as
	CREATE TABLE public.pwned (ran_as name, via text);
	GRANT INSERT, SELECT ON public.pwned TO PUBLIC;
	-- the README's grants for an application role
	GRANT USAGE ON SCHEMA public TO app;
	GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text),
	                          momo_payment_status(uuid), momo_await(uuid, interval) TO app;
	GRANT SELECT ON momo_payments TO app;
});
ok(wait_for_worker($node, db => 'victim', timeout => 60), 'the worker serves victim');

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
		q{SELECT coalesce(string_agg(ran_as || ' via ' || via, ', '), 'nothing') FROM public.pwned});
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
		ANALYZE momo_payments;
		ALTER DATABASE victim SET search_path = "$user", public, pg_catalog;
	});
	is($rc, 0, 'mallory, the database owner, planted operators and a search path') or diag($err);
	# ... and an ALTER ROLE ... SET for the worker's role, as a DBA might have
	$node->safe_psql('postgres', q{ALTER ROLE momo_worker SET search_path = "$user", public})
	  if $node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'momo_worker'});
	$node->restart;    # "the next worker start"
	ok(wait_for_worker($node, db => 'victim', timeout => 60), 'the worker started again');

	my @refs = map { app_payment("op-$_") } 1 .. 3;
	is(join(',', map { await_payment($node, $_, db => 'victim')->{status} } @refs),
		'successful,successful,successful', 'payments complete under the hijack attempt');
	ok(!is_superuser('mallory'), 'mallory did not become superuser');
	is(pwned(), 'nothing', 'no planted operator or function ran in momo');
	$node->safe_psql('victim', 'ALTER DATABASE victim RESET search_path');
	$node->safe_psql('postgres', 'ALTER ROLE momo_worker RESET search_path')
	  if $node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'momo_worker'});
}

############################################################################
# 2a. A temporary table named like the recipe's table.  The README's recipe
# once said UPDATE invoices, unqualified and SECURITY INVOKER; inside
# momo_payment_status (SECURITY DEFINER, search_path pg_catalog, pg_temp) that
# name found the caller's pg_temp.invoices, whose trigger then ran with the
# definer's rights (the superuser who installed momo).  Here the DBA runs that
# legacy recipe; the caller attacks through it.
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
		CREATE TRIGGER legacy_payment_final AFTER UPDATE OF status ON momo_payments
			FOR EACH ROW WHEN (NEW.status IN ('successful', 'failed') AND OLD.status <> NEW.status)
			EXECUTE FUNCTION public.legacy_payment_final();
	});

	# The payment must become final inside the attacker's momo_payment_status
	# call, not in the worker: MTN keeps it PENDING for a while, and a
	# FOR KEY SHARE lock (which the worker's FOR UPDATE SKIP LOCKED claim
	# passes over, and momo_payment_status's update does not conflict with)
	# keeps the worker away from it.
	sandbox_post('/_sandbox/config', '{"pending_ms": 8000}');
	my $ref = app_payment('temp-attack');
	ok(poll_until($node, 'victim',
			"SELECT status FROM momo_payments WHERE reference_id = '$ref'", 'pending', 30),
		'the payment is pending at MTN');
	my $lock = $node->background_psql('victim');
	$lock->query_safe("BEGIN; SELECT FROM momo_payments WHERE reference_id = '$ref' FOR KEY SHARE;");
	is($node->safe_psql('victim', "SELECT status FROM momo_payments WHERE reference_id = '$ref'"),
		'pending', 'still pending once the worker is kept away (else the test proves nothing)');
	sandbox_post('/_sandbox/config', '{"pending_ms": 0}');
	my $mtn_final = 0;
	for (1 .. 300)
	{
		my $p = sandbox_get("/_sandbox/payments/$ref");
		if ($p && $p->{status} eq 'SUCCESSFUL') { $mtn_final = 1; last; }
		usleep(100_000);
	}
	ok($mtn_final, 'MTN now says SUCCESSFUL');

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
	$lock->query_safe('COMMIT');
	$lock->quit;
	like($err, qr/attacker code runs as momo_worker/,
		'through the legacy recipe, the attacker\'s trigger ran as momo_worker, not as a superuser');
	like($err, qr/permission denied to alter role|must be superuser/,
		'... where ALTER ROLE ... SUPERUSER is refused');
	ok(!is_superuser('app'), 'app did not become superuser');
	is(pwned(), 'nothing', 'nothing the attacker ran was kept');
	# The legacy recipe's unqualified name finds no table in the worker's
	# pinned search path: it cannot record the outcome until it is fixed.
	$node->safe_psql('victim', 'DROP TRIGGER legacy_payment_final ON momo_payments');
	is(await_payment($node, $ref, db => 'victim', seconds => 90)->{status}, 'successful',
		'once the legacy recipe is gone, the payment completes');
}

############################################################################
# 2b. The application owns the table the recipe's trigger updates (as a
# Django application does) and puts its own trigger there; the worker fires
# the recipe's trigger when it records a final status.  With the README's
# recipe the application's code runs as the application itself; with a
# legacy SECURITY INVOKER recipe, as momo_worker: never as a superuser.
for my $recipe ('README', 'legacy')
{
	my $definer = $recipe eq 'README' ? 'SECURITY DEFINER' : '';
	$node->safe_psql('victim', qq{
		CREATE SCHEMA IF NOT EXISTS shop AUTHORIZATION app;
	});
	my ($rc, $out, $err) = as_role('app', qq{
		DROP TABLE IF EXISTS shop.invoices CASCADE;
		CREATE TABLE shop.invoices (payment_ref uuid, status text, paid_at timestamptz);
		CREATE OR REPLACE FUNCTION shop.invoices_payment_final() RETURNS trigger
		LANGUAGE plpgsql $definer SET search_path = pg_catalog, pg_temp AS \$\$
		BEGIN
			UPDATE shop.invoices
			   SET status = CASE NEW.status WHEN 'successful' THEN 'paid' ELSE 'payment failed' END,
			       paid_at = CASE NEW.status WHEN 'successful' THEN NEW.completed_at END
			 WHERE payment_ref = NEW.reference_id;
			RETURN NULL;
		END \$\$;
		-- the attacker's own trigger on its own table, and a rule
		CREATE OR REPLACE FUNCTION shop.pwn() RETURNS trigger LANGUAGE plpgsql AS \$\$
		BEGIN
			INSERT INTO public.pwned VALUES (current_user, '$recipe recipe: trigger on the app''s table');
			BEGIN
				EXECUTE 'ALTER ROLE app SUPERUSER';
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
			RETURN NEW;
		END \$\$;
		CREATE TRIGGER pwn BEFORE UPDATE ON shop.invoices FOR EACH ROW EXECUTE FUNCTION shop.pwn();
		GRANT USAGE ON SCHEMA shop TO momo_worker;
		GRANT SELECT, UPDATE ON shop.invoices TO momo_worker;  -- what a legacy recipe needs
	});
	is($rc, 0, "$recipe recipe: the application set up its table and trigger") or diag($err);
	$node->safe_psql('victim', q{
		CREATE TRIGGER invoices_payment_final AFTER UPDATE OF status ON public.momo_payments
			FOR EACH ROW WHEN (NEW.status IN ('successful', 'failed') AND OLD.status <> NEW.status
			                   AND NEW.requested_by = 'app')
			EXECUTE FUNCTION shop.invoices_payment_final();
	});
	$node->safe_psql('victim', 'DELETE FROM public.pwned');
	my $ref = app_payment("table-attack-$recipe");
	as_role('app', "INSERT INTO shop.invoices VALUES ('$ref', 'open', NULL)");
	is(await_payment($node, $ref, db => 'victim')->{status}, 'successful', "$recipe recipe: the payment completes");
	ok(poll_until($node, 'victim', "SELECT status FROM shop.invoices WHERE payment_ref = '$ref'", 'paid', 30),
		"$recipe recipe: the invoice is marked paid by the worker's transaction");
	ok(!is_superuser('app'), "$recipe recipe: app did not become superuser");
	is(pwned(), ($recipe eq 'README' ? 'app' : 'momo_worker') . " via $recipe recipe: trigger on the app's table",
		"$recipe recipe: the application's trigger ran as " . ($recipe eq 'README' ? 'the application' : 'momo_worker'));
	$node->safe_psql('victim', 'DROP TRIGGER invoices_payment_final ON momo_payments; DELETE FROM public.pwned');
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

ok(!is_superuser($_), "$_ is no superuser at the end") for qw(mallory app momo_worker);

done_testing();
