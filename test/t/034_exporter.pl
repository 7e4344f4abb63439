
# 034_exporter.pl - monitoring through the real prometheus-postgres-exporter
# (Debian's package): the exporter runs with monitoring/postgres_exporter_queries.yaml
# as a role that has exactly the grants the README gives the monitoring
# role, and after a known set of payments (successful, failed, one left
# pending at MTN) serves momo's metrics at /metrics, each with the name, type
# and value expected; momo_health_status and momo_health_value as
# momo_health() has them.  The counters move with the next payment; an
# operator's pause and an automatic one (MTN refuses the merchant) show in
# momo_paused{automatic}; the monitoring role cannot read a payer's number.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $exporter_bin = '/usr/bin/prometheus-postgres-exporter';
die "$exporter_bin is not installed: run test/install-deps.sh (package prometheus-postgres-exporter)\n"
  unless -x $exporter_bin;
my $queries = "$FindBin::RealBin/../monitoring/postgres_exporter_queries.yaml";    # run-tap.sh copies it
die "no $queries\n" unless -r $queries;

start_sandbox();
my $node = momo_node('exporter');
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'a momo worker runs');

# The monitoring role, with the grants of the README ("Monitoring with
# prometheus-postgres-exporter"), momo being in schema public here.
$node->safe_psql('postgres', q{
CREATE ROLE momo_monitor LOGIN;
GRANT pg_monitor TO momo_monitor;
GRANT USAGE ON SCHEMA public TO momo_monitor;
GRANT SELECT ON momo_payment_counts TO momo_monitor;
GRANT SELECT (status, operation, product, created_at, retries) ON momo_payments TO momo_monitor;
GRANT SELECT (at, product, operation, outcome) ON momo_events TO momo_monitor;
GRANT SELECT (product, automatic) ON momo_pauses TO momo_monitor;
GRANT EXECUTE ON FUNCTION momo_token_refreshes(), momo_worker_status(), momo_ignored_callbacks(), momo_health() TO momo_monitor;
});

############################################################################
# A known set of payments: 3 successful, 2 failed (APPROVAL_REJECTED), one
# that MTN keeps pending (the sandbox's 46733123453, for 300 s).
my @ok = map { request_payment($node, msisdn => '46733000001', external_id => "exp-ok-$_") } 1 .. 3;
my @failed = map { request_payment($node, msisdn => '46733123451', external_id => "exp-failed-$_") } 1 .. 2;
my $pending = request_payment($node, msisdn => '46733123453', external_id => 'exp-pending');
is(join(',', map { await_payment($node, $_)->{status} } @ok, @failed),
	'successful,successful,successful,failed,failed',
	'three payments succeed and two fail');
ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$pending'",
		'pending', 30),
	'one payment is pending at MTN');
# A callback with a wrong signature, ignored and counted.
$node->safe_psql('postgres',
	"SELECT momo_callback('momo_ref=$ok[0]&momo_sig=00', '{\"status\":\"SUCCESSFUL\"}')");

############################################################################
# The exporter, as a child process of this test, connected as momo_monitor.
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $dsn = sprintf('host=%s port=%d user=momo_monitor dbname=postgres sslmode=disable',
	$node->host, $node->port);
my ($exp_out, $exp_err) = ('', '');
my $exporter;
{
	local $ENV{DATA_SOURCE_NAME} = $dsn;
	$exporter = IPC::Run::start(
		[
			$exporter_bin, "--web.listen-address=127.0.0.1:$port",
			"--extend.query-path=$queries", '--disable-default-metrics',
			'--disable-settings-metrics', '--no-collector.database',
			'--no-collector.bgwriter', '--log.level=warn'
		],
		'<', \undef, '>>', \$exp_out, '2>>', \$exp_err);
}

# One scrape: metric (with its labels sorted, as name{a="x",b="y"}) => value,
# and the TYPE of each metric family.
sub scrape
{
	my ($body, $rc) = ('', 0);
	my ($cout, $cerr) = ('', '');
	IPC::Run::run([ 'curl', '-sS', '--max-time', '10', "http://127.0.0.1:$port/metrics" ],
		'<', \undef, '>', \$body, '2>', \$cerr, IPC::Run::timeout(20));
	my (%v, %type);
	for my $line (split /\n/, $body)
	{
		if ($line =~ /^# TYPE (\S+) (\S+)$/) { $type{$1} = $2; next; }
		next if $line =~ /^#/ || $line eq '';
		next unless $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
		my ($name, $labels, $value) = ($1, $2 // '', $3);
		# (the exporter adds server="host:port" to its queries' metrics)
		my @l = sort grep { !/^server=/ } ($labels =~ /([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")/g);
		$v{ @l ? "$name\{" . join(',', @l) . '}' : $name } = $value;
	}
	return (\%v, \%type, $body);
}

# Scrapes until $cond->(\%values) holds, at most $secs seconds; returns the
# last scrape.
sub scrape_until
{
	my ($cond, $secs) = @_;
	my $deadline = time() + $secs;
	my @s;
	while (time() < $deadline)
	{
		@s = scrape();
		return @s if $cond->($s[0]);
		$exporter->pump_nb;
		usleep(200_000);
	}
	diag("exporter stderr: $exp_err");
	diag("last scrape:\n" . ($s[2] // ''));
	return @s;
}

my $coll = 'operation="request_to_pay",product="collection"';
# The key of momo_exchanges_last_5m for a collection operation and outcome.
sub ex
{
	my ($operation, $outcome) = @_;
	return "momo_exchanges_last_5m{operation=\"$operation\",outcome=\"$outcome\",product=\"collection\"}";
}
my ($m, $type) = scrape_until(sub { defined $_[0]{"momo_payments_total{$coll,status=\"failed\"}"} }, 60);

is($m->{pg_up}, 1, 'the exporter reaches the database as momo_monitor');
my @load_errors = grep { /^pg_exporter_user_queries_load_error\{/ } keys %$m;
is(scalar(@load_errors), 1, 'the exporter loaded one queries file');
is(join(',', map { $m->{$_} } @load_errors), '0', '... without an error');
is($m->{pg_exporter_last_scrape_error}, 0, 'the last scrape had no error (every query ran with these grants)');

is($m->{"momo_payments_total{$coll,status=\"successful\"}"}, 3, 'momo_payments_total: 3 successful');
is($m->{"momo_payments_total{$coll,status=\"failed\"}"}, 2, 'momo_payments_total: 2 failed');
is($type->{momo_payments_total}, 'counter', 'momo_payments_total is a counter');
is($m->{"momo_open_payments{$coll,status=\"pending\"}"}, 1, 'momo_open_payments: 1 pending');
ok(!defined $m->{"momo_open_payments{$coll,status=\"queued\"}"}, 'momo_open_payments: none queued');
is($type->{momo_open_payments}, 'gauge', 'momo_open_payments is a gauge');
is($m->{momo_queue_depth}, 0, 'momo_queue_depth: 0');
is($m->{momo_queue_pending}, 1, 'momo_queue_pending: 1');
is($m->{momo_queue_oldest_queued_age_seconds}, 0, 'momo_queue_oldest_queued_age_seconds: 0 (none queued)');
my $age = $node->safe_psql('postgres',
	"SELECT extract(epoch FROM now() - created_at) FROM momo_payments WHERE reference_id = '$pending'");
ok($m->{momo_queue_oldest_open_age_seconds} > 0 && $m->{momo_queue_oldest_open_age_seconds} <= $age + 0.001,
	"momo_queue_oldest_open_age_seconds: the pending payment's age ($m->{momo_queue_oldest_open_age_seconds} <= $age)");
is($m->{momo_queue_needing_attention}, 0, 'momo_queue_needing_attention: 0 (younger than momo.attention_after)');
is($m->{momo_queue_retrying}, 0, 'momo_queue_retrying: 0');

# The last five minutes' exchanges, by outcome, as momo_events has them:
# 6 requests accepted, exactly one status answer per final payment (the
# pending payment's checks go on, and are compared apart).
is($m->{ex('request_to_pay', 'accepted')}, 6, 'momo_exchanges_last_5m: 6 requests to pay accepted');
is($m->{ex('status', 'successful')}, 3, 'momo_exchanges_last_5m: 3 status answers successful');
is($m->{ex('status', 'failed')}, 2, 'momo_exchanges_last_5m: 2 status answers failed');
my $events = $node->safe_psql('postgres', q{
	SELECT string_agg(format('momo_exchanges_last_5m{operation="%s",outcome="%s",product="%s"}=%s',
	                         operation, outcome, product, n), ' ' ORDER BY operation, outcome, product)
	  FROM (SELECT operation, outcome, product, count(*) AS n FROM momo_events
	         WHERE at > now() - interval '5 minutes' AND outcome <> 'pending' GROUP BY 1, 2, 3) e});
my %ev = map { split /=(?=[^=]*$)/ } split / /, $events;
is_deeply({ map { $_ => $m->{$_} } grep { /^momo_exchanges_last_5m\{/ && !/outcome="pending"/ } keys %$m }, \%ev,
	'momo_exchanges_last_5m: every (operation, outcome) as momo_events has it');
ok(($m->{ex('status', 'pending')} // 0) >= 1,
	'momo_exchanges_last_5m: the pending payment\'s checks answered pending');
is($m->{"momo_exchange_error_ratio_last_5m{$coll}"}, 0, 'momo_exchange_error_ratio_last_5m: no request failed');

my $tokens = $node->safe_psql('postgres', "SELECT refreshes FROM momo_token_refreshes() WHERE product = 'collection'");
ok($tokens >= 1, "a token was obtained ($tokens)");
is($m->{'momo_token_refreshes_total{product="collection"}'}, $tokens, 'momo_token_refreshes_total: as momo_token_refreshes()');
is($type->{momo_token_refreshes_total}, 'counter', 'momo_token_refreshes_total is a counter');
is($m->{momo_worker_up}, 1, 'momo_worker_up: 1');
is($m->{momo_worker_sending}, 1, 'momo_worker_sending: 1');

my %cb = map { split /\|/ } split /\n/, $node->safe_psql('postgres', 'SELECT reason, ignored FROM momo_ignored_callbacks()');
my $ignored = 0;
$ignored += $_ for values %cb;
is($ignored, 1, 'the forged callback was ignored');
is_deeply({ map { /reason="(.*)"/; $1 => $m->{$_} } grep { /^momo_callbacks_ignored_total\{/ } keys %$m }, \%cb,
	'momo_callbacks_ignored_total: every reason, as momo_ignored_callbacks()');
is($type->{momo_callbacks_ignored_total}, 'counter', 'momo_callbacks_ignored_total is a counter');

# Health: each check's status as momo_health() gives it (0 ok, 1 warning,
# 2 critical), the first row "momo" the worst; and no product paused.
my %health = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
	"SELECT check_name, CASE status WHEN 'ok' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END FROM momo_health()");
is_deeply({ map { /check_name="(.*)"/; $1 => $m->{$_} } grep { /^momo_health_status\{/ } keys %$m }, \%health,
	'momo_health_status: every check, as momo_health() has it');
is($m->{'momo_paused{automatic="",product="collection"}'}, 0, 'momo_paused: collection is not paused');

# The figure behind each check, as momo_health() has it: scraped until the
# scrape and a momo_health() right after it agree (bounded), every check
# compared but last_exchange, an age in seconds that moves between the two.
sub health_values
{
	return { map { split /\|/ } split /\n/, $node->safe_psql('postgres',
			"SELECT check_name, coalesce(value, 0) FROM momo_health() WHERE check_name <> 'last_exchange'") };
}
my $want;
($m) = scrape_until(sub {
		my ($v) = @_;
		$want = health_values();
		my %got = map { /check_name="(.*)"/; $1 => $v->{$_} } grep { /^momo_health_value\{/ && !/"last_exchange"/ } keys %$v;
		return keys(%got) == keys(%$want) && !grep { !defined $got{$_} || $got{$_} != $want->{$_} } keys %$want;
	}, 30);
is_deeply({ map { /check_name="(.*)"/; $1 => $m->{$_} + 0 } grep { /^momo_health_value\{/ && !/"last_exchange"/ } keys %$m },
	{ map { $_ => $want->{$_} + 0 } keys %$want },
	'momo_health_value: every check\'s figure, as momo_health() has it');
is(scalar(keys %$want), 12, 'twelve checks compared (all but last_exchange)');
ok(defined $m->{'momo_health_value{check_name="last_exchange"}'}
	  && $m->{'momo_health_value{check_name="last_exchange"}'} >= -1,
	'momo_health_value: last_exchange is served');
is($m->{'momo_health_value{check_name="worker"}'},
	$node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'momo worker'"),
	'momo_health_value{check_name="worker"}: the worker\'s pid');

# Every metric the queries file names is served.
my @names = qw(momo_payments_total momo_open_payments momo_queue_depth momo_queue_pending
  momo_queue_oldest_queued_age_seconds momo_queue_oldest_open_age_seconds momo_queue_needing_attention
  momo_queue_retrying momo_exchanges_last_5m momo_exchange_error_ratio_last_5m momo_token_refreshes_total
  momo_worker_up momo_worker_sending momo_callbacks_ignored_total momo_health_status momo_health_value
  momo_paused);
is(join(' ', grep { !defined $type->{$_} } @names), '', 'every metric of the queries file is served');

############################################################################
# The counters move with the next payment; the pending one stays open.
my $next = request_payment($node, msisdn => '46733000001', external_id => 'exp-ok-4');
is(await_payment($node, $next)->{status}, 'successful', 'a fourth payment succeeds');
($m) = scrape_until(sub { ($_[0]{"momo_payments_total{$coll,status=\"successful\"}"} // 0) == 4 }, 30);
is($m->{"momo_payments_total{$coll,status=\"successful\"}"}, 4, 'momo_payments_total: now 4 successful');
is($m->{momo_queue_pending}, 1, 'momo_queue_pending: still 1');

# An operator pauses collection: the exporter says so, and health warns.
$node->safe_psql('postgres', "SELECT momo_pause('exporter test')");
($m) = scrape_until(sub { ($_[0]{'momo_paused{automatic="false",product="collection"}'} // 0) == 1
		  && ($_[0]{momo_worker_sending} // 1) == 0 }, 30);
is($m->{'momo_paused{automatic="false",product="collection"}'}, 1, 'momo_paused: 1 once an operator pauses');
is($m->{'momo_health_status{check_name="paused"}'}, 1, 'momo_health_status: the paused check warns');
is($m->{momo_worker_sending}, 0, 'momo_worker_sending: 0 while paused');
unlike(join("\n", keys %$m), qr/exporter test/, "the operator's reason is in no series");
$node->safe_psql('postgres', "SELECT momo_resume()");
($m) = scrape_until(sub { ($_[0]{'momo_paused{automatic="",product="collection"}'} // 1) == 0 }, 30);
is($m->{'momo_paused{automatic="",product="collection"}'}, 0, 'momo_paused: 0 once resumed');

# MTN refuses the merchant (NOT_ALLOWED_TARGET_ENVIRONMENT): the worker
# pauses collection by itself; the exporter says it was automatic, and
# health pages.  Resumed once MTN takes requests again, the payment goes.
sandbox_post('/_sandbox/config', { refuse_posts => 'target_environment' });
my $refused = request_payment($node, msisdn => '46733000001', external_id => 'exp-refused');
($m) = scrape_until(sub { ($_[0]{'momo_paused{automatic="true",product="collection"}'} // 0) == 1 }, 30);
is($m->{'momo_paused{automatic="true",product="collection"}'}, 1, 'momo_paused{automatic="true"}: 1 after MTN refused the merchant');
is($node->safe_psql('postgres', "SELECT automatic FROM momo_pauses WHERE product = 'collection'"), 't',
	'momo_pauses: the pause is automatic');
is($m->{'momo_health_status{check_name="paused"}'}, 2, 'momo_health_status: an automatic pause is critical');
is($m->{'momo_health_status{check_name="momo"}'}, 2, 'momo_health_status{check_name="momo"}: page');
is($m->{momo_worker_sending}, 0, 'momo_worker_sending: 0');
sandbox_post('/_sandbox/config', { refuse_posts => 'none' });
$node->safe_psql('postgres', "SELECT momo_resume()");
is(await_payment($node, $refused)->{status}, 'successful', 'resumed, the refused payment is sent again and succeeds');
($m) = scrape_until(sub { ($_[0]{'momo_paused{automatic="",product="collection"}'} // 1) == 0 }, 30);
is($m->{'momo_paused{automatic="",product="collection"}'}, 0, 'momo_paused: 0 once resumed');

############################################################################
# The monitoring role sees figures, not payments: no payer's number, amount
# or error text.
my ($rc, $out, $err) = (0, '', '');
$rc = $node->psql('postgres', 'SELECT msisdn, amount FROM momo_payments LIMIT 1',
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'momo_monitor' ]);
like($err, qr/permission denied for table momo_payments/, 'momo_monitor cannot read payers\' numbers or amounts');
$rc = $node->psql('postgres', 'SELECT error FROM momo_events LIMIT 1',
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'momo_monitor' ]);
like($err, qr/permission denied for table momo_events/, '... nor the event log\'s errors');

$exporter->kill_kill;
$exporter->finish;
unlike($exp_err, qr/level=error/, 'the exporter logged no error') or diag($exp_err);

$node->stop;
done_testing();
