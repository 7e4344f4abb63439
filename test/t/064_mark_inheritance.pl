
# 064_mark_inheritance.pl - momo's mark (MOMO_SECURITY_ACTING, the bit of the
# security context that lets momo_worker write momo's tables) belongs to
# momo's own code only, not to the application's code that momo's statements
# fire.  A red team reached it from the application's SECURITY DEFINER
# trigger on momo_payments, which PostgreSQL runs with the caller's context
# bits: (1) a function left owned by momo_worker (by a role that was a member
# of it for a moment) inserted a payout there, and the worker sent it; (2) a
# function of a CREATEROLE role granted itself momo_worker there and, as a
# member, changed momo's tables, which momo's DDL guard let pass because the
# mark was set.  Both are refused now, nothing is written or sent, and the
# payment completes once the application's trigger is fixed.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();

my $node = momo_node('mark_inheritance');
$node->safe_psql('postgres', q{
	CREATE EXTENSION momo;
	CREATE ROLE app LOGIN;
	CREATE ROLE cr LOGIN CREATEROLE;
	GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
	                          momo_payment_status(uuid), momo_await(uuid, interval) TO app;
	GRANT SELECT ON momo_payments TO app;
	CREATE SCHEMA shop AUTHORIZATION app;
	GRANT USAGE, CREATE ON SCHEMA shop TO cr;
	-- the application's trigger function: SECURITY DEFINER, its own, with
	-- SET search_path, on an AFTER trigger the DBA attached (the rules of
	-- the README's "Security model")
	SET ROLE app;
	CREATE FUNCTION shop.on_final() RETURNS trigger LANGUAGE plpgsql
	    SECURITY DEFINER SET search_path = pg_catalog AS $$BEGIN RETURN NULL; END$$;
	RESET ROLE;
	CREATE TRIGGER zz_on_final AFTER UPDATE OF status ON momo_payments
	    FOR EACH ROW WHEN (NEW.status = 'successful') EXECUTE FUNCTION shop.on_final();
});
ok(wait_for_worker($node), 'the worker runs');

sub pay
{
	my ($ext) = @_;
	return $node->safe_psql('postgres',
		"SET ROLE app; SELECT momo_request_to_pay(10, 'EUR', '46733000001', '$ext')");
}

sub set_on_final
{
	my ($body) = @_;
	$node->safe_psql('postgres', qq{SET ROLE app;
		CREATE OR REPLACE FUNCTION shop.on_final() RETURNS trigger LANGUAGE plpgsql
		    SECURITY DEFINER SET search_path = pg_catalog AS \$\$BEGIN $body RETURN NULL; END\$\$});
}

my $ref = pay('before');
is(await_payment($node, $ref)->{status}, 'successful', 'a payment completes with the application\'s trigger');

############################################################################
# 1. A function owned by momo_worker that is not momo's (a superuser makes it
# here; a member of momo_worker could, for a moment, before momo's DDL guard)
# inserts a payout, and the application's trigger calls it while the worker
# records a payment's success.
$node->safe_psql('postgres', q{
	CREATE FUNCTION shop.plant() RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
	$$INSERT INTO public.momo_payments (reference_id, external_id, amount, currency, msisdn, operation, product)
	  VALUES (gen_random_uuid(), 'PLANTED', 999, 'EUR', '46733000002', 'transfer', 'disbursement')$$;
	ALTER FUNCTION shop.plant() OWNER TO momo_worker;
	GRANT EXECUTE ON FUNCTION shop.plant() TO PUBLIC;
});
set_on_final('PERFORM shop.plant();');
my $before = sandbox_get('/_sandbox/stats');
my $pos = log_position($node);
my $planted = pay('plant');
ok(wait_for_log_count($node, qr/momo refuses to run shop\.plant\(\) with its rights/, 1, $pos, 60),
	'the worker refuses to run the function left owned by momo_worker');
is($node->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE external_id = 'PLANTED'"),
	'0', 'no payout was written');
is(sandbox_get('/_sandbox/stats')->{transfer_posts}, $before->{transfer_posts}, 'no transfer reached MTN');
isnt(payment_row($node, $planted)->{status}, 'successful',
	'the payment is not recorded successful while the trigger fails');
set_on_final('');
is(await_payment($node, $planted, seconds => 60)->{status}, 'successful',
	'once the application\'s trigger is fixed, the payment is recorded');
$node->safe_psql('postgres', 'DROP FUNCTION shop.plant()');

############################################################################
# 2. A function of a CREATEROLE role, called by the application's trigger in
# the worker's statement, grants itself momo_worker and, as its member,
# disables the guards of momo_payments.
$node->safe_psql('postgres', q{
	SET ROLE cr;
	CREATE FUNCTION shop.crfun() RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS
	$$BEGIN
	    GRANT momo_worker TO cr;
	    ALTER TABLE public.momo_payments DISABLE TRIGGER USER;
	END$$;
});
set_on_final('PERFORM shop.crfun();');
$pos = log_position($node);
my $granting = pay('grant');
ok(wait_for_log_count($node, qr/momo refuses ALTER TABLE by role "cr", a member of momo_worker/, 1, $pos, 60),
	'momo\'s DDL guard refuses the member\'s ALTER TABLE in the worker\'s statement');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_auth_members WHERE roleid = 'momo_worker'::regrole}),
	'0', 'momo_worker has no member (the GRANT rolled back with the statement)');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT tgenabled::text, '' ORDER BY tgenabled::text)
	  FROM pg_trigger WHERE tgrelid = 'momo_payments'::regclass AND tgname IN ('momo_payments_guard', 'momo_writer_guard')}),
	'AO', 'the guards of momo_payments are enabled as installed');
set_on_final('');
is(await_payment($node, $granting, seconds => 60)->{status}, 'successful',
	'once the application\'s trigger is fixed, the payment is recorded');

$node->stop;
done_testing();
