
# 060_schema_control.pl - momo acts only while superusers alone control the
# schema that holds its tables.
#
# A red team (2026-12-02) made the worker send a 999 EUR payout that a role
# with no grant on momo had written into a table of its own: the role owned
# database app4 after the DBA installed momo into its schema public (ALTER
# DATABASE ... OWNER TO, or CREATE DATABASE from a template1 where momo was
# installed: PostgreSQL 15 gives public to pg_database_owner), so it owned
# public, built a schema "fake" with momo's tables and swapped the two
# schemas' names in a loop.  The worker names momo's schema in its kept
# statements, which a rename re-plans from their text: one re-planning
# caught the swap and read the attacker's queue.  CREATE EXTENSION refuses
# such a schema; it was not checked afterwards.
#
# Now the worker and every function check, at each use, that only
# superusers own momo's schema or may create in it (src/owner.c,
# momo_owner_schema_problem); otherwise the worker sends nothing and says
# why, and the functions refuse.  Checked here: a database given away after
# the install, a CREATE grant on the schema, and a database copied from a
# template with momo; and that the DBA's fix lets the queued payment go.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();
my $node = momo_node('schemactl', databases => '*');

$node->safe_psql('postgres', 'CREATE ROLE cdb LOGIN CREATEDB');
$node->safe_psql('postgres', 'CREATE DATABASE app4');
$node->safe_psql('app4', 'CREATE EXTENSION momo');

# The install is accepted (the database's owner is a superuser) and served.
my $first = request_payment($node, db => 'app4', msisdn => '46733000001', external_id => 'before');
ok(poll_until($node, 'app4',
		"SELECT status FROM momo_payments WHERE reference_id = '$first'", 'successful', 60),
	'a payment of app4 is sent while superusers control schema public');

# A payment queued while the schema is not safe (momo's functions refuse
# then): written directly, as a superuser may, after the change committed.
# (Not in the change's own transaction: PostgreSQL makes a commit visible
# before it sends its catalog invalidations, and momo wakes its worker at
# commit, so a worker could act once more on what its caches knew.)
sub queue_directly
{
	my ($ext) = @_;
	return $node->safe_psql('app4', qq{
		INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn,
		                           product, operation, status, next_check_at)
		VALUES (gen_random_uuid(), '$ext', 100, 'EUR', '46733000001',
		        'collection', 'request_to_pay', 'queued', now())
		RETURNING reference_id});
}

# (1) The DBA gives the database away.
my $pos = log_position($node);
$node->safe_psql('postgres', 'ALTER DATABASE app4 OWNER TO cdb');
my $ref = queue_directly('after');
ok(wait_for_log_count($node,
		qr/momo worker is not sending payments: schema public, which holds momo's tables, is controlled by roles that are not superusers: cdb \(its owner\)/,
		1, $pos, 60),
	'the worker says it is not sending, and names the owner of schema public');
is($node->safe_psql('app4', "SELECT status FROM momo_payments WHERE reference_id = '$ref'"),
	'queued', 'a payment queued meanwhile stays queued');
ok(!defined sandbox_get("/_sandbox/requests/$ref"), 'MTN never received it');
my ($rc, $out, $err) = $node->psql('app4', "SELECT momo_payment_status('$first')");
like($err, qr/momo refuses to act: schema public, which holds momo's tables, is controlled by roles that are not superusers: cdb \(its owner\)/,
	"momo's functions refuse too, even for a superuser");
($rc, $out, $err) = $node->psql('app4', "SELECT momo_request_to_pay(1, 'EUR', '46733000001')");
isnt($rc, 0, 'no payment can be requested');
is($node->safe_psql('app4',
		"SELECT ok FROM momo_preflight() WHERE check_name = 'schema'"),
	'f', "momo_preflight()'s check \"schema\" fails");
like($node->safe_psql('app4',
		"SELECT status || ': ' || reason FROM momo_health() WHERE check_name = 'worker'"),
	qr/^critical: worker \d+ does not send: schema public, which holds momo's tables, is controlled by roles that are not superusers: cdb \(its owner\)/,
	'momo_health() pages, with the reason');
like($node->safe_psql('app4',
		"SELECT status || ': ' || reason FROM momo_health() WHERE check_name = 'schema'"),
	qr/^critical: schema public, which holds momo's tables, is controlled by roles that are not superusers: cdb \(its owner\); momo sends nothing/,
	"... and a check \"schema\" of its own, without reading momo's tables");

# The DBA takes the database back: the queued payment goes, once.
$node->safe_psql('postgres', 'ALTER DATABASE app4 OWNER TO postgres');
ok(poll_until($node, 'app4',
		"SELECT status FROM momo_payments WHERE reference_id = '$ref'", 'successful', 60),
	'once superusers control the schema again, the queued payment is sent');
is(sandbox_get("/_sandbox/requests/$ref")->{accepted}, 1, 'MTN accepted it once');

# (2) CREATE on the schema granted to an ordinary role.
$pos = log_position($node);
$node->safe_psql('app4', 'GRANT CREATE ON SCHEMA public TO cdb');
$ref = queue_directly('granted');
ok(wait_for_log_count($node,
		qr/momo worker is not sending payments: schema public, which holds momo's tables, is controlled by roles that are not superusers: cdb\n/,
		1, $pos, 60),
	'a CREATE grant on the schema to an ordinary role stops the worker too');
ok(!defined sandbox_get("/_sandbox/requests/$ref"), 'nothing was sent meanwhile');
$node->safe_psql('app4', 'REVOKE CREATE ON SCHEMA public FROM cdb');
ok(poll_until($node, 'app4',
		"SELECT status FROM momo_payments WHERE reference_id = '$ref'", 'successful', 60),
	'after the REVOKE it is sent');

# (3) momo in template1: a database an ordinary role copies from it is that
# role's, schema public with it.
$node->safe_psql('template1', 'CREATE EXTENSION momo');
$node->safe_psql('postgres', 'CREATE DATABASE evil', extra_params => [ '-U', 'cdb' ]);
($rc, $out, $err) = $node->psql('evil', "SELECT momo_request_to_pay(1, 'EUR', '46733000001')");
like($err, qr/momo refuses to act: schema public, which holds momo's tables, is controlled by roles that are not superusers: cdb \(its owner\)/,
	'in a copy of template1 owned by an ordinary role, momo refuses');
$node->safe_psql('template1', 'DROP EXTENSION momo');

$node->stop;
done_testing();
