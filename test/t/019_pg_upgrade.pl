
# 019_pg_upgrade.pl - pg_upgrade of a cluster with momo and payments in every
# state of their life cycle:
#   successful, failed (final before the upgrade);
#   pending at MTN (one that MTN will make successful, one it will fail);
#   queued after MTN answered 500 to its sends (retried later);
#   queued and never sent: a request to pay, a transfer and a refund (held
#   back by a momo.wait_for_standby that names a standby that never comes).
# The old cluster is stopped, a new one initialised with the same
# postgresql.conf, and the real pg_upgrade run (--check first, then the
# upgrade itself, in its default copy mode).  While it runs, nothing reaches
# MTN (the sandbox's counters do not move), and each server it starts logs
# that momo's worker does not start in binary-upgrade mode.  Once the new
# cluster is started, every payment reaches its final status, each stored
# once by MTN (never POSTed twice; the one MTN answered 500 before is taken
# on its next send), the final statuses from before are unchanged, the event log
# survived (and goes on from where it was), and so did the extension: its
# version, its objects, their owners and grants.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Path qw(make_path);
use IPC::Run;
use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

start_sandbox();

# The same postgresql.conf for both clusters (pg_upgrade copies none):
# disbursement credentials too, for the transfer and the refund; pending
# payments checked at least every second, so that they end soon after MTN
# makes them final.
my $conf = join("\n",
	"momo.poll_interval_max = '1s'",
	"momo.disbursement_subscription_key_primary = '$CRED{sub_key_primary}'",
	"momo.disbursement_api_user = '$CRED{api_user}'",
	"momo.disbursement_api_key = '$CRED{api_key}'");

my $old = momo_node('old', extra_conf => $conf);
$old->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($old), 'the old cluster runs a momo worker');

# 1 once the worker's problem (momo_worker_status) matches $re, 0 after
# $seconds.
sub wait_for_problem
{
	my ($node, $re, $seconds) = @_;
	my $deadline = time() + ($seconds // 30);
	my $last = '';
	while (time() < $deadline)
	{
		$last = $node->safe_psql('postgres', "SELECT coalesce(problem, '') FROM momo_worker_status()");
		return 1 if $last =~ $re;
		usleep(100_000);
	}
	diag("worker problem: '$last'");
	return 0;
}

# The sandbox's counters of requests from momo: every counter but the
# gauges, the callbacks (recorded when a payment's time is up, not at a
# request) and "requests", which counts the control calls too.
sub mtn_counters
{
	my $s = sandbox_get('/_sandbox/stats');
	my %skip = map { $_ => 1 } qw(requests payments provisioned_users tokens_active
	  hung_connections callbacks callbacks_scheduled callbacks_queued
	  callbacks_recorded callbacks_delivered callbacks_failed);
	return ($s->{requests}, { map { $_ => $s->{$_} } grep { !$skip{$_} } keys %$s });
}

# What pg_upgrade must carry over of the extension, as text: its version
# and configuration tables, every member object, the owners and grants of
# its relations and functions, and the role they belong to.
sub extension_catalog
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT e.extversion || ' ' || e.extconfig::regclass[]::text || ' ' || e.extcondition::text
		  FROM pg_extension e WHERE e.extname = 'momo'
		UNION ALL
		SELECT * FROM (
			SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
			  FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
			 WHERE e.extname = 'momo' AND d.deptype = 'e' ORDER BY 1) m
		UNION ALL
		SELECT * FROM (
			SELECT c.oid::regclass::text || ' ' || c.relkind::text || ' ' || c.relowner::regrole::text
			       || ' ' || coalesce(c.relacl::text, '')
			  FROM pg_class c WHERE c.relname LIKE 'momo%' ORDER BY 1) r
		UNION ALL
		SELECT * FROM (
			SELECT p.oid::regprocedure::text || ' ' || p.proowner::regrole::text || ' ' || coalesce(p.proacl::text, '')
			  FROM pg_proc p WHERE p.proname LIKE 'momo%' ORDER BY 1) f
		UNION ALL
		SELECT format('%s super=%s login=%s inherit=%s createrole=%s bypassrls=%s members=%s',
		              r.rolname, r.rolsuper, r.rolcanlogin, r.rolinherit, r.rolcreaterole, r.rolbypassrls,
		              (SELECT count(*) FROM pg_auth_members m WHERE m.roleid = r.oid))
		  FROM pg_roles r WHERE r.rolname = 'momo_worker'});
}

############################################################################
# The old cluster: payments in every state.
my %pay;    # name => reference id
my %want;   # name => "status/reason" it ends with

# Final before the upgrade.
$pay{successful} = request_payment($old, msisdn => '46733000501', external_id => 'U-successful');
$pay{failed}     = request_payment($old, msisdn => '46733123451', external_id => 'U-failed');
is(await_payment($old, $pay{successful})->{status}, 'successful', 'a payment is successful before the upgrade');
is(await_payment($old, $pay{failed})->{reason}, 'APPROVAL_REJECTED', 'a payment failed before the upgrade');
%want = (successful => 'successful/', failed => 'failed/APPROVAL_REJECTED');

# Pending at MTN: MTN keeps them pending for 15 s after it takes them, time
# enough to hold them back (below) before they end.
sandbox_post('/_sandbox/config', { pending_ms => 15000, ongoing_seconds => 15 });
$pay{pending_ok}   = request_payment($old, msisdn => '46733000502', external_id => 'U-pending-ok');
$pay{pending_fail} = request_payment($old, msisdn => '46733123453', external_id => 'U-pending-fail');
ok(poll_until($old, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE reference_id IN ('$pay{pending_ok}', '$pay{pending_fail}') AND status = 'pending'",
		'2', 20),
	'two payments are pending at MTN');
$want{pending_ok}   = 'successful/';
$want{pending_fail} = 'failed/EXPIRED';

# Queued after MTN answered 500 to its sends: retried with backoff.
sandbox_post('/_sandbox/config', { pending_ms => 0, ongoing_seconds => 300, fail_first => 1000 });
$pay{retrying} = request_payment($old, msisdn => '46733000503', external_id => 'U-retrying');
ok(poll_until($old, 'postgres',
		"SELECT status = 'queued' AND retries >= 2 FROM momo_payments WHERE reference_id = '$pay{retrying}'",
		't', 20),
	'a payment is queued after MTN answered 500 to two sends');
$want{retrying} = 'successful/';

# Hold the rest back: a standby that must confirm each claim, and never
# connects.  (ALTER SYSTEM writes postgresql.auto.conf, which pg_upgrade
# does not carry over.)
ok(set_momo($old, wait_for_standby => 'pg-upgrade-hold', wait_for_standby_timeout => '1s'),
	'momo.wait_for_standby names a standby that never connects');
ok(wait_for_problem($old, qr/standby "pg-upgrade-hold" \(momo.wait_for_standby\) is not connected/),
	'the worker sends nothing, waiting for that standby');

# Queued and never sent.
$pay{queued}   = request_payment($old, msisdn => '46733000504', external_id => 'U-queued');
$pay{transfer} = $old->safe_psql('postgres', "SELECT momo_transfer(7, 'EUR', '46733000505', 'U-transfer')");
$pay{refund}   = $old->safe_psql('postgres', "SELECT momo_refund('$pay{successful}', 40, 'U-refund')");
$want{$_} = 'successful/' for qw(queued transfer refund);

my $rows = payment_rows($old, 'true');
is(join(',', map { "$_=" . $rows->{ $pay{$_} }{status} } sort keys %pay),
	'failed=failed,pending_fail=pending,pending_ok=pending,queued=queued,refund=queued,'
	  . 'retrying=queued,successful=successful,transfer=queued',
	'before the upgrade: payments in every state');
is($old->safe_psql('postgres', "SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM momo_payments"),
	'failed,pending,queued,successful', '... every status momo_payments allows');
is(join(',', map { $rows->{ $pay{$_} }{attempts} } qw(queued transfer refund)), '0,0,0',
	'... three never sent');
is(join(',', map { defined sandbox_get("/_sandbox/requests/$pay{$_}") ? 'seen' : 'unseen' } qw(queued transfer refund)),
	'unseen,unseen,unseen', '... and MTN never saw them');
my $retrying_before = sandbox_get("/_sandbox/requests/$pay{retrying}");
ok($retrying_before->{faults} >= 2 && $retrying_before->{accepted} == 0,
	"... one sent $retrying_before->{faults} times, refused each time");

my %final_before = map { $_ => $old->safe_psql('postgres',
		"SELECT row_to_json(p)::text FROM momo_payments p WHERE reference_id = '$pay{$_}'") }
  qw(successful failed);
my ($events_max, $events_digest) = split /\|/, $old->safe_psql('postgres',
	"SELECT max(id), md5(string_agg(e::text, E'\\n' ORDER BY id)) FROM momo_events e");
cmp_ok($events_max, '>', 0, "the event log has $events_max events");
my $catalog_before = extension_catalog($old);
like($catalog_before, qr/^1\.\d+ \{momo_payments,momo_fee_schedule,momo_events,momo_events_id_seq[^}]*\} .*^table momo_payments\n.*^momo_payments r momo_worker .*^momo_request_to_pay\(.*^momo_worker super=f\w* login=f/ms,
	'momo ' . (split / /, $catalog_before)[0] . ' in the old cluster, with its objects, owners and grants');

$old->stop;

############################################################################
# pg_upgrade into a new cluster with the same postgresql.conf.
my $new = momo_node('new', extra_conf => $conf, no_start => 1);
my $bindir = $old->config_data('--bindir');
my $workdir = "$PostgreSQL::Test::Utils::tmp_check/pg_upgrade_cwd";
make_path($workdir);

# Runs pg_upgrade (with @extra) in $workdir; returns (ok, output, the text
# of the server logs it kept).
sub pg_upgrade
{
	my (@extra) = @_;
	my @cmd = (
		"$bindir/pg_upgrade", '--no-sync', '--retain',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $bindir, '-B', $bindir,
		'-s', $new->host, '-p', $old->port, '-P', $new->port, @extra);
	my $outdir = $new->data_dir . '/pg_upgrade_output.d';
	my %before = map { $_ => 1 } glob("$outdir/*");
	my $out = '';
	note "running @cmd";
	my $ok = IPC::Run::run(\@cmd, '<', \undef, '>&', \$out,
		init => sub { chdir $workdir or die "chdir $workdir: $!" },
		IPC::Run::timeout(600));
	note $out;
	my $logs = '';
	for my $dir (grep { !$before{$_} } glob("$outdir/*"))
	{
		$logs .= slurp_file($_) for glob("$dir/log/pg_upgrade_server*.log");
	}
	return ($ok, $out, $logs);
}

# Checks what the servers pg_upgrade started logged about momo's worker.
sub servers_quiet
{
	my ($what, $logs) = @_;
	my $starts = count_matches($logs, qr/database system is ready to accept connections/);
	cmp_ok($starts, '>=', 2, "$what: pg_upgrade started the servers $starts times");
	is(count_matches($logs, qr/LOG:  momo worker not started: the server runs in binary-upgrade mode \(pg_upgrade\)/),
		$starts, "$what: each of them logged that momo's worker does not start in binary-upgrade mode");
	unlike($logs, qr/momo worker started|background worker "momo worker"/, "$what: no momo worker ran");
}

my ($requests0, $counters0) = mtn_counters();

my ($ok, $out, $logs) = pg_upgrade('--check');
ok($ok, 'pg_upgrade --check passes') or diag($out);
like($out, qr/\*Clusters are compatible\*/, 'pg_upgrade --check: the clusters are compatible');
servers_quiet('pg_upgrade --check', $logs);
my ($requests1, $counters1) = mtn_counters();
is_deeply($counters1, $counters0, 'pg_upgrade --check: nothing reached MTN');
is($requests1 - $requests0, 1, '... not a single request (but this count of them)');

($ok, $out, $logs) = pg_upgrade();
ok($ok, 'pg_upgrade upgrades the cluster') or diag($out);
like($out, qr/Upgrade Complete/, 'pg_upgrade: upgrade complete');
servers_quiet('pg_upgrade', $logs);
my ($requests2, $counters2) = mtn_counters();
is_deeply($counters2, $counters0, 'pg_upgrade: nothing reached MTN while it ran');
is($requests2 - $requests1, 1, '... not a single request (but this count of them)');

############################################################################
# The new cluster: every payment completes, none is sent twice.
sandbox_post('/_sandbox/config', { fail_first => 0 });
$new->start;
ok(wait_for_worker($new), 'the new cluster runs a momo worker');
is(extension_catalog($new), $catalog_before,
	'the extension is the same: version, objects, owners, grants, and its role');

my %got = map {
	my $r = await_payment($new, $pay{$_}, seconds => 60);
	$_ => ($r->{status} // '?') . '/' . ($r->{reason} // '')
} sort keys %pay;
is_deeply(\%got, \%want, 'every payment reaches its final status');
is($new->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE status IN ('queued', 'pending')"),
	'0', 'none is left queued or pending');

my @twice;
for my $name (sort keys %pay)
{
	my $r = sandbox_get("/_sandbox/requests/$pay{$name}");
	my $posts = $name eq 'retrying' ? $retrying_before->{faults} + 1 : 1;
	push @twice, "$name: " . ($r ? "$r->{posts} posts, $r->{accepted} accepted, $r->{conflicts} conflicts" : 'never sent')
	  unless $r && $r->{stored} && $r->{accepted} == 1 && $r->{conflicts} == 0 && $r->{posts} == $posts;
}
is(join('; ', @twice), '', 'MTN took each payment once: each POSTed once (the refused one once more), no conflict');
my $retrying_after = sandbox_get("/_sandbox/requests/$pay{retrying}");
is($retrying_after->{faults}, $retrying_before->{faults},
	'the payment MTN refused before was refused no more times since');

for my $name (sort keys %final_before)
{
	is($new->safe_psql('postgres',
			"SELECT row_to_json(p)::text FROM momo_payments p WHERE reference_id = '$pay{$name}'"),
		$final_before{$name}, "the $name payment's row did not change");
}

is($new->safe_psql('postgres',
		"SELECT md5(string_agg(e::text, E'\\n' ORDER BY id)) FROM momo_events e WHERE id <= $events_max"),
	$events_digest, 'the event log from before the upgrade survived');
my @since = grep { $_ ne 'successful' && $_ ne 'failed' } sort keys %pay;
is($new->safe_psql('postgres',
		"SELECT count(DISTINCT reference_id) FROM momo_events WHERE id > $events_max AND reference_id IN ('"
		  . join("', '", @pay{@since}) . "')"),
	scalar(@since), '... and goes on after it, with the exchanges of the payments completed since');

$new->stop;
done_testing();
