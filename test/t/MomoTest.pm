
# MomoTest.pm - helpers for momo's TAP tests (test/t/*.pl).
#
#   start_sandbox(@flags)       starts test/sandbox/momo-sandbox ($ENV{MOMO_SANDBOX_BIN})
#                               on a free port with the fixed test credentials
#                               (CONTRACTS.md) plus @flags; stopped at END
#   sandbox_url() / sandbox_port() / sandbox_log()
#   sandbox_get($path)          GET  /_sandbox/...: decoded JSON, undef on 404
#   sandbox_post($path, $json)  POST /_sandbox/...: decoded JSON
#   momo_node($name, %opts)     a PostgreSQL::Test::Cluster with momo preloaded and
#                               pointed at the sandbox; started unless no_start
#   start_with_env($node, \%env)  start a node with extra environment variables
#   wait_for_worker($node, %opts) pid of the running "momo worker", or undef
#   poll_until($node, $db, $sql, $expected, $seconds)
#   request_payment($node, %args) reference id of a new payment (committed)
#   await_payment($node, $ref, %opts) hashref of the payment row after momo_await
#   payment_row($node, $ref, %opts)   hashref of the payment row as it is
#   log_position($node) / log_since($node, $pos)
#
# Every wait is a bounded poll.
package MomoTest;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(basename);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(
  %CRED start_sandbox stop_sandbox sandbox_url sandbox_port sandbox_log
  sandbox_get sandbox_post sandbox_request
  momo_node start_with_env wait_for_worker poll_until
  request_payment await_payment payment_row
  log_position log_since count_matches wait_for_log_count
);

# Fixed test credentials (CONTRACTS.md).
our %CRED = (
	sub_key_primary   => '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b01',
	sub_key_secondary => '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b02',
	api_user          => '5f9b2c7e-3c1a-4d2e-9f10-0a1b2c3d4e5f',
	api_key           => '6a1b2c3d4e5f40718293a4b5c6d7e8f9',
);

# Columns of momo_payments, in table order.
our @PAYMENT_COLUMNS = qw(
  reference_id external_id amount currency msisdn payer_message payee_note
  status reason financial_transaction_id attempts status_checks
  last_http_status last_error created_at sent_at updated_at completed_at
  next_check_at);

# No MOMO_* variable of the caller's environment may reach a test server
# (each would silently configure it); tests set the ones they want.
BEGIN
{
	for my $k (keys %ENV)
	{
		delete $ENV{$k} if $k =~ /^MOMO_/ && $k ne 'MOMO_SANDBOX_BIN';
	}
}

my ($sb_pid, $sb_port, $sb_log, $sb_owner);
my $http = HTTP::Tiny->new(timeout => 15, keep_alive => 0);

sub _test_name
{
	my $n = basename($0);
	$n =~ s/\.[^.]+$//;
	return $n;
}

sub sandbox_url  { return "http://127.0.0.1:$sb_port"; }
sub sandbox_port { return $sb_port; }
sub sandbox_log  { return $sb_log; }

# start_sandbox(@extra_flags): starts the sandbox and waits (bounded) for
# /_sandbox/health.
sub start_sandbox
{
	my (@extra) = @_;

	die "the sandbox already runs" if $sb_pid;
	my $bin = $ENV{MOMO_SANDBOX_BIN};
	BAIL_OUT('MOMO_SANDBOX_BIN is not set (run the tests through test/run-tap.sh)')
	  unless $bin;
	BAIL_OUT("sandbox binary $bin is missing: make -C test/sandbox")
	  unless -x $bin;

	$sb_port = PostgreSQL::Test::Cluster::get_free_port();
	$sb_log  = "$PostgreSQL::Test::Utils::log_path/" . _test_name() . "_sandbox.log";
	my @cmd = (
		$bin, '--listen', '127.0.0.1', '--port', $sb_port,
		'--subscription-key', $CRED{sub_key_primary},
		'--subscription-key', $CRED{sub_key_secondary},
		'--api-user', $CRED{api_user}, '--api-key', $CRED{api_key},
		'--callback-host', 'localhost', '--verbose', @extra);
	note "starting sandbox: @cmd";

	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN,  '<',  '/dev/null');
		open(STDOUT, '>>', $sb_log) or POSIX::_exit(126);
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or POSIX::_exit(127);
	}
	$sb_pid   = $pid;
	$sb_owner = $$;

	my $deadline = time() + 15;
	while (time() < $deadline)
	{
		if (waitpid($sb_pid, WNOHANG) == $sb_pid)
		{
			$sb_pid = undef;
			BAIL_OUT("the sandbox exited during start-up; see $sb_log");
		}
		my $r = $http->get(sandbox_url() . '/_sandbox/health');
		return $sb_port if $r->{status} == 200 && $r->{content} eq 'ok';
		usleep(50_000);
	}
	BAIL_OUT("the sandbox did not answer /_sandbox/health within 15 s; see $sb_log");
}

sub stop_sandbox
{
	return unless $sb_pid && defined $sb_owner && $sb_owner == $$;
	kill 'TERM', $sb_pid;
	my $deadline = time() + 5;
	while (time() < $deadline)
	{
		if (waitpid($sb_pid, WNOHANG) != 0)
		{
			$sb_pid = undef;
			return;
		}
		usleep(20_000);
	}
	kill 'KILL', $sb_pid;
	waitpid($sb_pid, 0);
	$sb_pid = undef;
	return;
}

END
{
	my $rc = $?;
	stop_sandbox();
	$? = $rc;
}

# sandbox_request($method, $path, $body): (HTTP status, decoded JSON or text).
sub sandbox_request
{
	my ($method, $path, $body) = @_;
	my %o;
	if (defined $body)
	{
		$body = encode_json($body) if ref $body;
		%o = (content => $body, headers => { 'Content-Type' => 'application/json' });
	}
	my $r = $http->request($method, sandbox_url() . $path, \%o);
	die "sandbox $method $path: $r->{status} $r->{content}" if $r->{status} == 599;
	my $data = $r->{content};
	if (($r->{headers}{'content-type'} // '') =~ /json/ && length $data)
	{
		$data = decode_json($data);
	}
	return ($r->{status}, $data);
}

# sandbox_get($path): decoded JSON, or undef when the sandbox answers 404.
sub sandbox_get
{
	my ($path) = @_;
	my ($status, $data) = sandbox_request('GET', $path);
	return undef if $status == 404;
	die "sandbox GET $path answered $status" unless $status == 200;
	return $data;
}

sub sandbox_post
{
	my ($path, $body) = @_;
	my ($status, $data) = sandbox_request('POST', $path, $body // '{}');
	die "sandbox POST $path answered $status: "
	  . (ref $data ? encode_json($data) : $data)
	  unless $status == 200;
	return $data;
}

# momo_node($name, %opts): a new node configured for momo and the sandbox.
#   allows_streaming => 1   init for streaming replication
#   preload => 0            no momo in shared_preload_libraries
#   credentials => 0        no momo.* connection settings in postgresql.conf
#                           (base URL, environment, keys, API user, callback)
#   database_name => 'db'   momo.database_name (default postgres)
#   extra_conf => '...'     appended last
#   env => { K => V }       environment of the postmaster at start
#   no_start => 1
sub momo_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => $opts{allows_streaming} ? 1 : 0);

	my @conf = (
		'# momo test settings (MomoTest.pm)',
		'restart_after_crash = on',    # Cluster.pm turns it off
		'max_prepared_transactions = 10');
	push @conf, "shared_preload_libraries = 'momo'"
	  unless defined $opts{preload} && !$opts{preload};
	push @conf, "momo.database_name = '" . ($opts{database_name} // 'postgres') . "'";
	unless (defined $opts{credentials} && !$opts{credentials})
	{
		die "start_sandbox() first" unless $sb_port;
		push @conf,
		  "momo.environment = 'sandbox'",
		  "momo.base_url = '" . sandbox_url() . "'",
		  "momo.target_environment = 'sandbox'",
		  "momo.subscription_key_primary = '$CRED{sub_key_primary}'",
		  "momo.subscription_key_secondary = '$CRED{sub_key_secondary}'",
		  "momo.api_user = '$CRED{api_user}'",
		  "momo.api_key = '$CRED{api_key}'",
		  "momo.callback_url = 'https://localhost/momo/callback'";
	}
	push @conf,
	  'momo.poll_interval_min = 100',
	  'momo.retry_base = 100',
	  'momo.status_checks_per_second = 0';
	push @conf, $opts{extra_conf} if defined $opts{extra_conf};
	$node->append_conf('postgresql.conf', join("\n", @conf));

	start_with_env($node, $opts{env}) unless $opts{no_start};
	return $node;
}

# start_with_env($node, \%env): Cluster.pm's start takes no environment, but
# copies %ENV; so %ENV holds the extra variables during the start only.
sub start_with_env
{
	my ($node, $env) = @_;
	$env //= {};
	local @ENV{ keys %$env } = values %$env;
	return $node->start;
}

# psql that never dies: (exit code, stdout, stderr).
sub _psql
{
	my ($node, $db, $sql) = @_;
	my ($out, $err, $timed_out) = ('', '', 0);
	my $rc = $node->psql($db, $sql, stdout => \$out, stderr => \$err,
		timeout => 20, timed_out => \$timed_out);
	return (($timed_out ? -1 : $rc), $out // '', $err // '');
}

# wait_for_worker($node, db => 'postgres', not_pid => N, timeout => S):
# the pid of the momo worker once one runs (connected to db, and other than
# not_pid), or undef when none did within timeout seconds.
sub wait_for_worker
{
	my ($node, %o) = @_;
	my $db = $o{db} // 'postgres';
	my $deadline = time() + ($o{timeout} // 30);
	my $last = '';
	while (time() < $deadline)
	{
		my ($rc, $out) = _psql($node, 'postgres',
			"SELECT pid, datname FROM pg_stat_activity WHERE backend_type = 'momo worker'");
		$last = $out;
		if ($rc == 0 && $out =~ /^(\d+)\|(.*)$/m)
		{
			my ($pid, $dat) = ($1, $2);
			return $pid if $dat eq $db && (!$o{not_pid} || $pid != $o{not_pid});
		}
		usleep(100_000);
	}
	diag("no momo worker (db $db) within the timeout; last pg_stat_activity: $last");
	return undef;
}

# poll_until($node, $db, $sql, $expected, $seconds): 1 once $sql returns
# $expected, 0 after $seconds (default 60).
sub poll_until
{
	my ($node, $db, $sql, $expected, $seconds) = @_;
	my $deadline = time() + ($seconds // 60);
	my ($rc, $out, $err);
	while (time() < $deadline)
	{
		($rc, $out, $err) = _psql($node, $db, $sql);
		return 1 if $rc == 0 && $out eq $expected;
		usleep(100_000);
	}
	diag("poll_until timed out: $sql\nexpected: $expected\nlast output: $out\nstderr: $err");
	return 0;
}

# request_payment($node, msisdn => ..., external_id => ..., amount => ...,
# db => ...): commits a momo_request_to_pay and returns its reference id.
sub request_payment
{
	my ($node, %a) = @_;
	my $amount = $a{amount} // '100';
	my $msisdn = $a{msisdn} // '46733000001';
	my $ext = defined $a{external_id} ? "'$a{external_id}'" : 'NULL';
	return $node->safe_psql($a{db} // 'postgres',
		"SELECT momo_request_to_pay($amount, 'EUR', '$msisdn', $ext)");
}

sub _row
{
	my ($node, $db, $from) = @_;
	my $cols = join(', ', map { "coalesce(${_}::text, '<null>')" } @PAYMENT_COLUMNS);
	my $out = $node->safe_psql($db, "SELECT $cols FROM $from");
	return undef if $out eq '';
	my @v = split /\|/, $out, -1;
	my %row;
	@row{@PAYMENT_COLUMNS} = map { $_ eq '<null>' ? undef : $_ } @v;
	return \%row;
}

# await_payment($node, $ref, seconds => 30, db => ...): the row after momo_await.
sub await_payment
{
	my ($node, $ref, %o) = @_;
	my $secs = $o{seconds} // 30;
	return _row($node, $o{db} // 'postgres',
		"momo_await('$ref', '$secs seconds')");
}

# payment_row($node, $ref, db => ...): the row as stored (undef if none).
sub payment_row
{
	my ($node, $ref, %o) = @_;
	return _row($node, $o{db} // 'postgres',
		"momo_payments WHERE reference_id = '$ref'");
}

sub log_position
{
	my ($node) = @_;
	return -s $node->logfile // 0;
}

sub log_since
{
	my ($node, $pos) = @_;
	return slurp_file($node->logfile, $pos // 0);
}

sub count_matches
{
	my ($text, $re) = @_;
	my $n = () = $text =~ /$re/g;
	return $n;
}

# wait_for_log_count($node, $re, $n, $pos, $seconds): 1 once the log after
# $pos matches $re at least $n times, 0 after $seconds.
sub wait_for_log_count
{
	my ($node, $re, $n, $pos, $seconds) = @_;
	my $deadline = time() + ($seconds // 30);
	while (time() < $deadline)
	{
		return 1 if count_matches(log_since($node, $pos), $re) >= $n;
		usleep(100_000);
	}
	diag("log of " . $node->name . " did not match $re $n times in time");
	return 0;
}

1;
