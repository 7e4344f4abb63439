
# MomoTest.pm - helpers for momo's TAP tests (test/t/*.pl).
#
#   start_sandbox(@flags)       starts test/sandbox/momo-sandbox ($ENV{MOMO_SANDBOX_BIN})
#                               on a free port with the fixed test credentials
#                               (README, "Developing offline") plus @flags; stopped at END
#   sandbox_url() / sandbox_port() / sandbox_log()
#   main_sandbox()              that sandbox as a MomoTest::Sandbox object
#   sandbox_get($path)          GET  /_sandbox/...: decoded JSON, undef on 404
#   sandbox_post($path, $json)  POST /_sandbox/...: decoded JSON
#   kill_sandbox($signal)       kills that sandbox (SIGKILL unless told), as a crash
#   restart_sandbox()           starts it again on the same port with the same flags
#   new_sandbox(%opts)          another sandbox (MomoTest::Sandbox object: url,
#                               port, tls_url, get, post, stats, kill, restart,
#                               stop), e.g. with HTTPS; stopped at END
#   test_ca($name)              directory of a test CA and certificates
#                               (test/make-ca.sh), made once per test file and name
#   momo_node($name, %opts)     a PostgreSQL::Test::Cluster with momo preloaded and
#                               pointed at the sandbox; started unless no_start
#   start_with_env($node, \%env)  start a node with extra environment variables
#   set_momo($node, %settings)  ALTER SYSTEM SET momo.* and reload (bounded wait
#                               until the server reports the new values)
#   wait_for_worker($node, %opts) pid of the running "momo worker", or undef
#   wait_for_worker_idle($node, %opts) 1 once the worker sleeps, 0 on timeout
#   poll_until($node, $db, $sql, $expected, $seconds)
#   request_payment($node, %args) reference id of a new payment (committed)
#   await_payment($node, $ref, %opts) hashref of the payment row after momo_await
#   payment_row($node, $ref, %opts)   hashref of the payment row as it is
#   payment_rows($node, $where, %opts) reference id => hashref of each row matching
#   log_position($node) / log_since($node, $pos)
#
# Every wait is a bounded poll.
package MomoTest;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(basename);
use FindBin;
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(
  %CRED start_sandbox stop_sandbox sandbox_url sandbox_port sandbox_log
  sandbox_get sandbox_post sandbox_request
  main_sandbox kill_sandbox restart_sandbox new_sandbox test_ca
  momo_node start_with_env set_momo wait_for_worker wait_for_worker_idle poll_until
  request_payment await_payment payment_row payment_rows
  log_position log_since count_matches wait_for_log_count query_retry
);

# Fixed test credentials (README, "Developing offline").
our %CRED = (
	sub_key_primary   => '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b01',
	sub_key_secondary => '0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b02',
	api_user          => '5f9b2c7e-3c1a-4d2e-9f10-0a1b2c3d4e5f',
	api_key           => '6a1b2c3d4e5f40718293a4b5c6d7e8f9',
);

# Columns of momo_payments, in table order.
our @PAYMENT_COLUMNS = qw(
  reference_id external_id amount currency msisdn payer_message payee_note
  status reason financial_transaction_id attempts status_checks retries
  last_http_status last_error created_at sent_at updated_at completed_at
  next_check_at);

# No MOMO_* variable of the caller's environment may reach a test server
# (each would silently configure it); tests set the ones they want.
# ($MOMO_MAKE_CA is kept aside for test_ca.)
our $MAKE_CA;

BEGIN
{
	$MAKE_CA = $ENV{MOMO_MAKE_CA};
	for my $k (keys %ENV)
	{
		delete $ENV{$k} if $k =~ /^MOMO_/ && $k ne 'MOMO_SANDBOX_BIN';
	}
}

my $http = HTTP::Tiny->new(timeout => 15, keep_alive => 0);

# The sandbox of start_sandbox(), which the sandbox_* functions talk to.
my $main_sandbox;

sub _test_name
{
	my $n = basename($0);
	$n =~ s/\.[^.]+$//;
	return $n;
}

sub main_sandbox { return $main_sandbox; }
sub sandbox_url  { return $main_sandbox ? $main_sandbox->url : undef; }
sub sandbox_port { return $main_sandbox ? $main_sandbox->port : undef; }
sub sandbox_log  { return $main_sandbox ? $main_sandbox->log : undef; }

# start_sandbox(@extra_flags): starts the sandbox and waits (bounded) for
# /_sandbox/health.
sub start_sandbox
{
	my (@extra) = @_;

	die "the sandbox already runs" if $main_sandbox && $main_sandbox->{pid};
	$main_sandbox = MomoTest::Sandbox->start(name => 'sandbox', flags => \@extra);
	return $main_sandbox->port;
}

sub stop_sandbox
{
	$main_sandbox->stop if $main_sandbox;
	return;
}

# kill_sandbox($signal): kills the sandbox (default SIGKILL, as a crash) and
# waits until it is gone; its port stays reserved for restart_sandbox.
sub kill_sandbox
{
	my ($sig) = @_;
	die "start_sandbox() first" unless $main_sandbox;
	$main_sandbox->kill($sig);
	return;
}

# restart_sandbox(): starts the sandbox again, on the same port with the same
# flags (its payments and counters start empty, as after a real restart).
sub restart_sandbox
{
	die "start_sandbox() first" unless $main_sandbox;
	$main_sandbox->restart;
	return $main_sandbox->port;
}

# new_sandbox(%opts): another sandbox; see MomoTest::Sandbox::start.
sub new_sandbox
{
	return MomoTest::Sandbox->start(@_);
}

END
{
	my $rc = $?;
	MomoTest::Sandbox::stop_all();
	$? = $rc;
}

# sandbox_request($method, $path, $body): (HTTP status, decoded JSON or text).
sub sandbox_request
{
	die "start_sandbox() first" unless $main_sandbox;
	return $main_sandbox->request(@_);
}

# sandbox_get($path): decoded JSON, or undef when the sandbox answers 404.
sub sandbox_get
{
	die "start_sandbox() first" unless $main_sandbox;
	return $main_sandbox->get(@_);
}

# sandbox_post($path, $json): decoded JSON; dies unless the answer is 200.
sub sandbox_post
{
	die "start_sandbox() first" unless $main_sandbox;
	return $main_sandbox->post(@_);
}

# test_ca($name): the directory holding a test CA and the certificates that
# test/make-ca.sh makes (ca.pem, server.pem/.key, wronghost.pem/.key,
# selfsigned.pem/.key), made once per test file and name; dies if it
# cannot.  Without a name, the test CA; each name makes another CA,
# independent of it (e.g. one a test puts in the server's system store).
# make-ca.sh is found through $MOMO_MAKE_CA or next to the test directory
# (test/make-ca.sh in the checkout, or a copy in run-tap.sh's scratch
# directory).
my %ca_dirs;

sub test_ca
{
	my ($name) = @_;
	my $key = $name // '';
	return $ca_dirs{$key} if $ca_dirs{$key};
	my @candidates = grep { defined $_ && -f $_ }
	  ($MAKE_CA, "$FindBin::RealBin/../make-ca.sh");
	die 'test/make-ca.sh not found: set MOMO_MAKE_CA, or let run-tap.sh copy '
	  . "test/make-ca.sh next to the test directory ($FindBin::RealBin/..)\n"
	  unless @candidates;
	my $dir = "$PostgreSQL::Test::Utils::tmp_check/ca_" . _test_name() . (defined $name ? "_$name" : '');
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'bash', $candidates[0], $dir ], '<', \undef, '>', \$out, '2>', \$err);
	die "$candidates[0] $dir failed: $out$err\n" unless $ok;
	for my $f (qw(ca.pem server.pem server.key wronghost.pem wronghost.key selfsigned.pem selfsigned.key))
	{
		die "make-ca.sh made no $dir/$f\n" unless -s "$dir/$f";
	}
	$ca_dirs{$key} = $dir;
	return $dir;
}

# momo_node($name, %opts): a new node configured for momo and the sandbox.
#   allows_streaming => 1   init for streaming replication
#   preload => 0            no momo in shared_preload_libraries
#   credentials => 0        no momo.* connection settings in postgresql.conf
#                           (base URL, environment, keys, API user, callback)
#   databases => 'a, b'     momo.databases (default postgres; '*' for every
#                           database where momo is installed)
#   database_name => 'db'   the same, for one database
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
	push @conf, "momo.databases = '" . ($opts{databases} // $opts{database_name} // 'postgres') . "'";
	unless (defined $opts{credentials} && !$opts{credentials})
	{
		die "start_sandbox() first" unless $main_sandbox;
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

# query_retry($node, $db, $sql, $seconds): the output of $sql, asked again
# (with a diag) while it fails -- a connection refused during a crash
# restart the test caused, say -- for up to $seconds (default 60); dies
# with psql's last error after that.  For queries that must be answered,
# in tests that crash the server on purpose.
sub query_retry
{
	my ($node, $db, $sql, $seconds) = @_;
	my $deadline = time() + ($seconds // 60);
	while (1)
	{
		my ($rc, $out, $err) = _psql($node, $db, $sql);
		return $out if $rc == 0;
		die "query_retry: $sql\nfailed (exit $rc) until the deadline: $err\n" if time() >= $deadline;
		diag("query_retry: $sql\nfailed (exit $rc), asking again: $err");
		usleep(200_000);
	}
}

# set_momo($node, name => value, ...): ALTER SYSTEM SET each momo setting
# (names without the "momo." prefix) and reload; returns 1 once a new session
# shows every new value, 0 after 30 s.  Give values as the server displays
# them (e.g. '10min', '100ms', '1s'), since that is what is compared.  The
# postmaster signals the worker before it answers that new session, so the
# worker applies the values at its next wake-up at the latest.
sub set_momo
{
	my ($node, %set) = @_;
	for my $name (sort keys %set)
	{
		(my $v = $set{$name}) =~ s/'/''/g;
		$node->safe_psql('postgres', "ALTER SYSTEM SET momo.$name = '$v'");
	}
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	my $sql = join(" || '|' || ", map { "current_setting('momo.$_')" } sort keys %set);
	return poll_until($node, 'postgres', "SELECT $sql",
		join('|', map { $set{$_} } sort keys %set), 30);
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
		for my $line ($rc == 0 ? split(/\n/, $out) : ())
		{
			next unless $line =~ /^(\d+)\|(.*)$/;
			my ($pid, $dat) = ($1, $2);
			return $pid if $dat eq $db && (!$o{not_pid} || $pid != $o{not_pid});
		}
		usleep(100_000);
	}
	diag("no momo worker (db $db) within the timeout; last pg_stat_activity: $last");
	return undef;
}

# wait_for_worker_idle($node, timeout => S): 1 once the momo worker sleeps
# (state idle in pg_stat_activity), 0 after timeout seconds (default 30).
sub wait_for_worker_idle
{
	my ($node, %o) = @_;
	return poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'momo worker' AND state = 'idle'",
		'1', $o{timeout} // 30);
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

# payment_rows($node, $where, db => ...): reference id => hashref of the row
# (every column, read as JSON) for each payment matching the SQL condition.
sub payment_rows
{
	my ($node, $where, %o) = @_;
	my $out = $node->safe_psql($o{db} // 'postgres',
		"SELECT coalesce(json_agg(p), '[]') FROM momo_payments p WHERE $where");
	return { map { $_->{reference_id} => $_ } @{ decode_json($out) } };
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

############################################################################
# MomoTest::Sandbox - one running momo-sandbox process.
package MomoTest::Sandbox;

use strict;
use warnings;

use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

# Every sandbox this process started, for stop_all.
my @started;

# MomoTest::Sandbox->start(%opts): starts a sandbox with the fixed test
# credentials and waits (bounded) for /_sandbox/health.
#   name => 'x'             names its log, tmp_check/log/<test>_<name>.log
#   flags => [...]          extra command-line flags
#   tls_cert => F, tls_key => K   also serve HTTPS (on tls_port, a free
#                           port unless given), with that certificate
# Plain HTTP always listens too (port, a free port unless given): the
# control endpoints are reached through it.
sub start
{
	my ($class, %o) = @_;
	my $self = bless {
		name     => $o{name} // 'sandbox',
		port     => $o{port} // PostgreSQL::Test::Cluster::get_free_port(),
		flags    => [ @{ $o{flags} // [] } ],
		tls_cert => $o{tls_cert},
		tls_key  => $o{tls_key},
		owner    => $$,
	}, $class;
	$self->{tls_port} = $o{tls_port} // PostgreSQL::Test::Cluster::get_free_port()
	  if $o{tls_cert};
	$self->{log} = "$PostgreSQL::Test::Utils::log_path/" . MomoTest::_test_name()
	  . "_$self->{name}.log";
	$self->_spawn;
	push @started, $self;
	return $self;
}

sub url      { return "http://127.0.0.1:$_[0]{port}"; }
sub port     { return $_[0]{port}; }
sub tls_port { return $_[0]{tls_port}; }
sub tls_url  { return "https://localhost:$_[0]{tls_port}"; }
sub log      { return $_[0]{log}; }
sub pid      { return $_[0]{pid}; }

# Starts the process and waits for its health endpoint; BAIL_OUT if it does
# not come up within 15 s.
sub _spawn
{
	my ($self) = @_;
	my $bin = $ENV{MOMO_SANDBOX_BIN};
	BAIL_OUT('MOMO_SANDBOX_BIN is not set (run the tests through test/run-tap.sh)')
	  unless $bin;
	BAIL_OUT("sandbox binary $bin is missing: make -C test/sandbox")
	  unless -x $bin;

	my @cmd = (
		$bin, '--listen', '127.0.0.1', '--port', $self->{port},
		'--subscription-key', $MomoTest::CRED{sub_key_primary},
		'--subscription-key', $MomoTest::CRED{sub_key_secondary},
		'--api-user', $MomoTest::CRED{api_user}, '--api-key', $MomoTest::CRED{api_key},
		'--callback-host', 'localhost', '--verbose');
	push @cmd, '--tls-port', $self->{tls_port}, '--tls-cert', $self->{tls_cert},
	  '--tls-key', $self->{tls_key}
	  if $self->{tls_cert};
	push @cmd, @{ $self->{flags} };
	note "starting sandbox $self->{name}: @cmd";

	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN,  '<',  '/dev/null');
		open(STDOUT, '>>', $self->{log}) or POSIX::_exit(126);
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or POSIX::_exit(127);
	}
	$self->{pid} = $pid;

	my $deadline = time() + 15;
	while (time() < $deadline)
	{
		if (waitpid($pid, WNOHANG) == $pid)
		{
			$self->{pid} = undef;
			BAIL_OUT("sandbox $self->{name} exited during start-up; see $self->{log}");
		}
		my $r = $http->get($self->url . '/_sandbox/health');
		return if $r->{status} == 200 && $r->{content} eq 'ok';
		usleep(50_000);
	}
	BAIL_OUT("sandbox $self->{name} did not answer /_sandbox/health within 15 s; see $self->{log}");
}

# Waits (at most $seconds) for the process to exit; 1 if it did.
sub _reap
{
	my ($self, $seconds) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		if (waitpid($self->{pid}, WNOHANG) != 0)
		{
			$self->{pid} = undef;
			return 1;
		}
		usleep(20_000);
	}
	return 0;
}

# stop(): SIGTERM, then SIGKILL after 5 s.  Only the process that started
# the sandbox stops it (not a forked child).
sub stop
{
	my ($self) = @_;
	return unless $self->{pid} && $self->{owner} == $$;
	CORE::kill('TERM', $self->{pid});
	return if $self->_reap(5);
	CORE::kill('KILL', $self->{pid});
	waitpid($self->{pid}, 0);
	$self->{pid} = undef;
	return;
}

# kill($signal): sends $signal (default KILL) and waits for the exit.
sub kill
{
	my ($self, $sig) = @_;
	die "sandbox $self->{name} is not running" unless $self->{pid};
	CORE::kill($sig // 'KILL', $self->{pid});
	die "sandbox $self->{name} did not exit after SIG" . ($sig // 'KILL')
	  unless $self->_reap(10);
	return;
}

# restart(%opts): stops the sandbox if it runs and starts it again on the
# same ports, with the same flags unless flags, tls_cert or tls_key are
# given anew.
sub restart
{
	my ($self, %o) = @_;
	$self->stop if $self->{pid};
	$self->{flags} = [ @{ $o{flags} } ] if $o{flags};
	$self->{tls_cert} = $o{tls_cert} if $o{tls_cert};
	$self->{tls_key}  = $o{tls_key}  if $o{tls_key};
	$self->_spawn;
	return $self;
}

# request($method, $path, $body): (HTTP status, decoded JSON or text).
sub request
{
	my ($self, $method, $path, $body) = @_;
	my %o;
	if (defined $body)
	{
		$body = encode_json($body) if ref $body;
		%o = (content => $body, headers => { 'Content-Type' => 'application/json' });
	}
	my $r = $http->request($method, $self->url . $path, \%o);
	die "sandbox $method $path: $r->{status} $r->{content}" if $r->{status} == 599;
	my $data = $r->{content};
	if (($r->{headers}{'content-type'} // '') =~ /json/ && length $data)
	{
		$data = decode_json($data);
	}
	return ($r->{status}, $data);
}

# get($path): decoded JSON, or undef when the sandbox answers 404.
sub get
{
	my ($self, $path) = @_;
	my ($status, $data) = $self->request('GET', $path);
	return undef if $status == 404;
	die "sandbox GET $path answered $status" unless $status == 200;
	return $data;
}

# post($path, $json): decoded JSON; dies unless the answer is 200.
sub post
{
	my ($self, $path, $body) = @_;
	my ($status, $data) = $self->request('POST', $path, $body // '{}');
	die "sandbox POST $path answered $status: "
	  . (ref $data ? encode_json($data) : $data)
	  unless $status == 200;
	return $data;
}

# stats(): the counters of /_sandbox/stats.
sub stats
{
	my ($self) = @_;
	return $self->get('/_sandbox/stats');
}

# stop_all(): stops every sandbox this process started (at END).
sub stop_all
{
	$_->stop for @started;
	return;
}

1;
