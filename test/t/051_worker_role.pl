
# 051_worker_role.pl - a DBA (or someone with CREATEROLE) gives momo_worker,
# the role momo's worker and functions act as, rights it must not have after
# momo was installed.  Made a superuser, it would run every trigger on
# momo_payments with a superuser's rights: the worker sends nothing and says
# so in its log, in momo_stats and in momo_preflight(); momo's functions
# refuse to act.  Given LOGIN, BYPASSRLS, CREATEROLE or REPLICATION (which
# CREATE EXTENSION refuses), momo_preflight()'s "worker role" check fails and
# names them.  And CREATE EXTENSION refuses to install while momo_worker is
# a superuser, or has BYPASSRLS, in another database of the cluster.  And
# FORCE ROW LEVEL SECURITY on momo_payments stops the worker the same way.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();

my $node = momo_node('worker_role');
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node, timeout => 60), 'the worker serves postgres');

sub preflight
{
	return $node->safe_psql('postgres',
		q{SELECT ok::text || '|' || detail FROM momo_preflight() WHERE check_name = 'worker role'});
}

sub worker_problem
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(label, '; '), 'none') FROM momo_stats WHERE metric = 'worker_problem'});
}

like(preflight(), qr/^true\|momo_worker owns momo_payments: an ordinary role, no login, with no members$/,
	'preflight: momo_worker as installed is fine');
my $ref = request_payment($node, external_id => 'before');
is(await_payment($node, $ref)->{status}, 'successful', 'a payment completes');

############################################################################
# 1. ALTER ROLE momo_worker SUPERUSER.
{
	my $pos = log_position($node);
	$node->safe_psql('postgres', 'ALTER ROLE momo_worker SUPERUSER');
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'while-superuser')");
	like($err, qr/momo refuses to act: momo_payments is owned by superuser "momo_worker"/,
		'momo_request_to_pay refuses to act as a superuser');
	# a payment written by the DBA directly: the worker must not send it
	my $posts = sandbox_get('/_sandbox/stats')->{rtp_posts};
	my $queued = $node->safe_psql('postgres', q{
		INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn)
		VALUES (gen_random_uuid(), 'written-while-superuser', 10, 'EUR', '46733000001')
		RETURNING reference_id});
	ok(wait_for_log_count($node, qr/momo worker is not sending payments: momo_payments is owned by superuser "momo_worker"/, 1, $pos, 30),
		'the worker says in its log that it will not act as a superuser');
	ok(poll_until($node, 'postgres',
			q{SELECT count(*) FROM momo_stats WHERE metric = 'worker_problem' AND label LIKE '%owned by superuser "momo_worker"%'},
			'1', 30),
		'momo_stats shows the worker_problem row');
	like(preflight(), qr/^false\|momo_payments is owned by superuser momo_worker: the worker refuses to act as it \(ALTER ROLE momo_worker NOSUPERUSER\)/,
		'momo_preflight()\'s worker role check fails');
	is($node->safe_psql('postgres',
			q{SELECT ok FROM momo_preflight() WHERE check_name = 'worker'}),
		'f', 'and so does its worker check');
	# the worker has looked at the queue and refused (the problem is set at
	# each attempt): the payment is untouched and MTN got nothing
	is(payment_row($node, $queued)->{status}, 'queued', 'the payment stays queued');
	is(payment_row($node, $queued)->{attempts}, '0', 'with no attempt made');
	is(sandbox_get('/_sandbox/stats')->{rtp_posts}, $posts, 'no request to pay reached MTN');

	$node->safe_psql('postgres', 'ALTER ROLE momo_worker NOSUPERUSER');
	request_payment($node, external_id => 'wakes-the-worker');    # a commit wakes the worker
	is(await_payment($node, $queued)->{status}, 'successful',
		'once momo_worker is an ordinary role again, the payment completes');
	ok(poll_until($node, 'postgres',
			q{SELECT count(*) FROM momo_stats WHERE metric = 'worker_problem'}, '0', 30),
		'and the worker_problem row is gone');
	like(preflight(), qr/^true\|/, 'preflight is satisfied again');
}

############################################################################
# 1b. FORCE ROW LEVEL SECURITY on momo_payments: its policies would apply to
# momo_worker, hiding payments from the worker (a tenant-style policy would
# show it none).  The worker says it will not act rather than silently
# seeing nothing, and resumes once it is gone.
{
	my $pos = log_position($node);
	$node->safe_psql('postgres', q{
		ALTER TABLE momo_payments ENABLE ROW LEVEL SECURITY;
		ALTER TABLE momo_payments FORCE ROW LEVEL SECURITY;
		CREATE POLICY nothing_for_momo ON momo_payments USING (requested_by = current_user);
	});
	my $posts = sandbox_get('/_sandbox/stats')->{rtp_posts};
	my $queued = $node->safe_psql('postgres', q{
		INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn)
		VALUES (gen_random_uuid(), 'written-under-force', 10, 'EUR', '46733000001')
		RETURNING reference_id});
	ok(wait_for_log_count($node, qr/momo worker is not sending payments: momo_payments has FORCE ROW LEVEL SECURITY/, 1, $pos, 30),
		'FORCE ROW LEVEL SECURITY: the worker says it will not act');
	ok(poll_until($node, 'postgres',
			q{SELECT count(*) FROM momo_stats WHERE metric = 'worker_problem' AND label LIKE '%FORCE ROW LEVEL SECURITY%'},
			'1', 30),
		'momo_stats shows it');
	is($node->safe_psql('postgres', q{SELECT ok FROM momo_preflight() WHERE check_name = 'triggers on momo_payments'}),
		'f', 'momo_preflight() flags it');
	is(payment_row($node, $queued)->{status}, 'queued', 'the payment stays queued');
	is(sandbox_get('/_sandbox/stats')->{rtp_posts}, $posts, 'no request to pay reached MTN');
	$node->safe_psql('postgres', q{
		DROP POLICY nothing_for_momo ON momo_payments;
		ALTER TABLE momo_payments NO FORCE ROW LEVEL SECURITY;
		ALTER TABLE momo_payments DISABLE ROW LEVEL SECURITY;
	});
	request_payment($node, external_id => 'wakes-the-worker-2');
	is(await_payment($node, $queued)->{status}, 'successful', 'without it, the payment completes');
}

############################################################################
# 2. The attributes CREATE EXTENSION refuses, given afterwards.  Only a
# superuser owner makes the worker stop (it would run triggers as one);
# these open other doors (log in as momo_worker, grant oneself any role,
# read past row-level security elsewhere) that stopping payments would not
# close: momo_preflight() names them for the DBA.
for my $attr (qw(LOGIN BYPASSRLS CREATEROLE REPLICATION))
{
	$node->safe_psql('postgres', "ALTER ROLE momo_worker $attr");
	like(preflight(), qr/^false\|momo_worker, the owner of momo_payments, has $attr, which momo refuses at install/,
		"momo_preflight()'s worker role check fails for $attr");
	$node->safe_psql('postgres', "ALTER ROLE momo_worker NO$attr");
}
# A member of momo_worker could SET ROLE to it and, as the owner of momo's
# tables, write a payout the worker sends (a red team's CREATEROLE role
# granted itself momo_worker): momo's guard refuses a session that became
# momo_worker by SET ROLE, and momo refuses to act while it has members.
{
	my $pos = log_position($node);
	$node->safe_psql('postgres', 'CREATE ROLE someone; GRANT momo_worker TO someone');
	like(preflight(), qr/^false\|momo_worker, the owner of momo_payments, has members/,
		'momo_preflight()\'s worker role check fails while momo_worker has members');
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'while-member')");
	like($err, qr/momo refuses to act: role "someone" is a member of "momo_worker"/,
		'momo_request_to_pay refuses to act while momo_worker has a member');
	($rc, $out, $err) = $node->psql('postgres', q{
		SET ROLE someone; SET ROLE momo_worker;
		INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, operation, product)
		VALUES (gen_random_uuid(), 'written-by-a-member', 10, 'EUR', '46733000001', 'transfer', 'disbursement')});
	like($err, qr/only momo writes momo_payments/, 'the member, as momo_worker, cannot write a payout');
	# a payment written by the DBA directly: the worker must not send it
	my $before = sandbox_get('/_sandbox/stats');
	my $queued = $node->safe_psql('postgres', q{
		INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn)
		VALUES (gen_random_uuid(), 'written-while-member', 10, 'EUR', '46733000001')
		RETURNING reference_id});
	ok(wait_for_log_count($node, qr/momo worker is not sending payments: role "someone" is a member of "momo_worker"/, 1, $pos, 30),
		'the worker says in its log that it will not act while momo_worker has a member');
	ok(poll_until($node, 'postgres',
			q{SELECT count(*) FROM momo_stats WHERE metric = 'worker_problem' AND label LIKE '%"someone" is a member%'},
			'1', 30),
		'momo_stats shows it');
	is(payment_row($node, $queued)->{status}, 'queued', 'the payment stays queued');
	is(sandbox_get('/_sandbox/stats')->{rtp_posts}, $before->{rtp_posts}, 'no request to pay reached MTN');
	$node->safe_psql('postgres', "REVOKE momo_worker FROM someone");
	like(preflight(), qr/^true\|/, 'and is satisfied once they are gone');
	request_payment($node, external_id => 'wakes-the-worker-3');
	is(await_payment($node, $queued)->{status}, 'successful',
		'once momo_worker has no member, the payment completes');
}

############################################################################
# 3. CREATE EXTENSION in a fresh database of the cluster, where momo_worker
# exists already (roles are the cluster's): refused while it is a superuser
# or has BYPASSRLS, accepted once it is ordinary again.
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
for my $attr (qw(SUPERUSER BYPASSRLS))
{
	$node->safe_psql('postgres', "ALTER ROLE momo_worker $attr");
	my ($rc, $out, $err) = $node->psql('fresh', 'CREATE EXTENSION momo');
	isnt($rc, 0, "CREATE EXTENSION fails while momo_worker has $attr");
	like($err, qr/role momo_worker must be an ordinary role that no one can become/,
		'and says why');
	is($node->safe_psql('fresh', q{SELECT count(*) FROM pg_extension WHERE extname = 'momo'}),
		'0', 'nothing was installed');
	$node->safe_psql('postgres', "ALTER ROLE momo_worker NO$attr");
}
$node->safe_psql('fresh', 'CREATE EXTENSION momo');
is($node->safe_psql('fresh', q{SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'momo_payments'}),
	'momo_worker', 'with momo_worker ordinary again, it installs, owned by momo_worker');

is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'momo_worker'}), 'f',
	'momo_worker is no superuser at the end');

done_testing();
