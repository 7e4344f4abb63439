
# 003_notify_env_log.pl - NOTIFY momo_payments as a listening client sees
# it; a server configured only through environment variables (and the GUC
# winning over the environment); no secret in any server log; a server
# without momo in shared_preload_libraries.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use JSON::PP;
use MIME::Base64 qw(encode_base64);
use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();

my @nodes;
# Secret values that must never reach a server log (more are added below).
my %secrets = (
	'API key'                    => $CRED{api_key},
	'primary subscription key'   => $CRED{sub_key_primary},
	'secondary subscription key' => $CRED{sub_key_secondary},
	'HTTP Basic credentials'     => encode_base64("$CRED{api_user}:$CRED{api_key}", ''),
	# every access token of the sandbox starts with this JWT header
	# ({"typ":"JWT","alg":"R256"})
	'an access token' => 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSMjU2In0',
);

############################################################################
# LISTEN momo_payments
my $node = momo_node('main');
push @nodes, $node;
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
my $wpid = wait_for_worker($node);
ok($wpid, 'worker runs');

{
	my ($rc, $out, $err) = $node->psql('postgres', <<'EOF', timeout => 90);
LISTEN momo_payments;
SELECT momo_request_to_pay(100, 'EUR', '46733000011', 'notify-ok') AS ok_ref \gset
SELECT momo_request_to_pay(200, 'EUR', '46733123451', 'notify-rejected') AS bad_ref \gset
SELECT 'ref', :'ok_ref', :'bad_ref';
SELECT 'await', status FROM momo_await(:'ok_ref', '30 seconds');
SELECT 'await', status FROM momo_await(:'bad_ref', '30 seconds');
SELECT 'done';
SELECT 'done';
EOF
	is($rc, 0, 'the listening psql session ran') or diag($err);
	my ($ok_ref, $bad_ref) = $out =~ /^ref\|([0-9a-f-]{36})\|([0-9a-f-]{36})$/m;
	ok($ok_ref && $bad_ref, 'two payments requested in the listening session');
	my @await = $out =~ /^await\|(\w+)$/mg;
	is("@await", 'successful failed', 'momo_await saw both final');

	my (%got, @pids);
	my $n = 0;
	while ($out =~ /^Asynchronous notification "momo_payments" with payload "(.*)" received from server process with PID (\d+)\.$/mg)
	{
		my ($payload, $pid) = ($1, $2);
		$n++;
		push @pids, $pid;
		my $j = eval { decode_json($payload) };
		ok($j, "payload is JSON: $payload");
		$got{ $j->{reference_id} } = $j if $j;
	}
	is($n, 2, 'exactly two notifications (one per final payment)') or diag($out);
	# The payload tells only what a stranger may know: listeners re-read the row.
	is_deeply($got{$ok_ref // ''},
		{ reference_id => $ok_ref, status => 'successful' },
		'payload of the successful payment: reference id and status only');
	is_deeply($got{$bad_ref // ''},
		{ reference_id => $bad_ref, status => 'failed' },
		'payload of the rejected payment: reference id and status only');
	is(scalar(grep { $_ == $wpid } @pids), 2, 'both were sent by the momo worker');
}

############################################################################
# Secrets through ALTER SYSTEM: the reload logs "parameter ... changed",
# and log_statement = all logs the statement; neither may show the value.
{
	my $new_secondary = 'fedcba9876543210fedcba9876543210';
	$secrets{'a secondary key set by ALTER SYSTEM'} = $new_secondary;
	my $pos = log_position($node);
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET momo.subscription_key_secondary = '$new_secondary'");
	$node->reload;
	ok(poll_until($node, 'postgres', 'SHOW momo.subscription_key_secondary', $new_secondary, 10),
		'new secondary key in force');
	ok(wait_for_log_count($node, qr/parameter "momo.subscription_key_secondary" changed/, 1, $pos, 10),
		'the postmaster logged the change');
	my $log = log_since($node, $pos);
	unlike($log, qr/\Q$new_secondary\E/, 'the log after ALTER SYSTEM + reload does not show the new value');
	like($log, qr/statement: \[redacted: names a momo secret setting\]/,
		'the statement is logged redacted');

	# a refused value is a secret too
	my $bad = 'p4ssw0rd with spaces';
	$secrets{'a refused api key'} = $bad;
	$pos = log_position($node);
	my ($rc, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET momo.api_key = '$bad'");
	isnt($rc, 0, 'ALTER SYSTEM refuses a key with spaces');
	like($err, qr/momo.api_key/, '... naming the setting');
	unlike(log_since($node, $pos), qr/p4ssw0rd/, 'the refused value is not in the log');

	# the setting's name may be spelled other ways in SQL
	my %spelling = (
		'MOMO.SUBSCRIPTION_KEY_SECONDARY'    => '1111222233334444aaaabbbbccccdddd',
		'momo . subscription_key_secondary'  => '5555666677778888eeeeffff00001111',
		'"momo".subscription_key_secondary'  => '9999000011112222333344445555aaaa');
	for my $name (sort keys %spelling)
	{
		my $v = $spelling{$name};
		$secrets{"a secondary key set by ALTER SYSTEM SET $name"} = $v;
		$pos = log_position($node);
		$node->safe_psql('postgres', "ALTER SYSTEM SET $name = '$v'");
		$node->reload;
		ok(poll_until($node, 'postgres', 'SHOW momo.subscription_key_secondary', $v, 10),
			"ALTER SYSTEM SET $name: in force");
		ok(wait_for_log_count($node, qr/parameter "momo.subscription_key_secondary" changed/, 1, $pos, 10),
			"ALTER SYSTEM SET $name: the postmaster logged the change");
		unlike(log_since($node, $pos), qr/\Q$v\E/, "ALTER SYSTEM SET $name: the value is not in the log");
	}

	$node->safe_psql('postgres', 'ALTER SYSTEM RESET momo.subscription_key_secondary');
	$node->reload;
	ok(poll_until($node, 'postgres', 'SHOW momo.subscription_key_secondary', $CRED{sub_key_secondary}, 10),
		'secondary key back');
	is(await_payment($node, request_payment($node, external_id => 'after-rotation'))->{status},
		'successful', 'payments still work');
}

############################################################################
# Every configured secret value, wherever a log line would show it: the
# nine credentials of the three products and the callback secret at once
# (the postmaster's "parameter changed" lines), the log-only detail of an
# error, and the STATEMENT: line of an error.
my $spell = momo_node('spell', credentials => 0,
	extra_conf => "momo.base_url = '" . sandbox_url() . "'");
push @nodes, $spell;
{
	my %all;
	my $i = 0;
	for my $product ('', 'disbursement_', 'remittance_')
	{
		for my $cred ('subscription_key_primary', 'subscription_key_secondary', 'api_key')
		{
			$all{"momo.$product$cred"} = sprintf('a11c0f1g5ecre7%04d', ++$i);
		}
	}
	$all{'momo.callback_secret'} = sprintf('a11c0f1g5ecre7%04d', ++$i);
	$secrets{"configured $_"} = $all{$_} for keys %all;

	my $pos = log_position($spell);
	$spell->safe_psql('postgres',
		join('', map { "ALTER SYSTEM SET $_ = '$all{$_}';\n" } sort keys %all));
	$spell->reload;
	ok(poll_until($spell, 'postgres',
			'SELECT ' . join(" || '|' || ", map { "current_setting('$_')" } sort keys %all),
			join('|', map { $all{$_} } sort keys %all), 10),
		'ten secret settings in force');
	ok(wait_for_log_count($spell, qr/parameter "momo\.\w+" changed to/, 10, $pos, 10),
		'the postmaster logged the ten changes');
	my $log = log_since($spell, $pos);
	for my $name (sort keys %all)
	{
		unlike($log, qr/\Q$all{$name}\E/, "the reload does not log the value of $name");
	}

	# a statement line quoting all ten values at once
	$pos = log_position($spell);
	$spell->safe_psql('postgres',
		'SELECT ' . join(', ', map { "'$all{$_}'" } sort keys %all));
	$log = log_since($spell, $pos);
	like($log, qr/statement: SELECT '\[redacted\]'/, 'the statement is logged, its values redacted');
	for my $name (sort keys %all)
	{
		unlike($log, qr/\Q$all{$name}\E/, "a statement line does not show the value of $name");
	}

	# the log-only detail of an error (the objects that depend on a table)
	my $v = $all{'momo.subscription_key_primary'};
	$pos = log_position($spell);
	my ($rc, $out, $err) = $spell->psql('postgres',
		"CREATE TABLE t_dep (); CREATE VIEW v_$v AS SELECT FROM t_dep; DROP TABLE t_dep;");
	like($err, qr/cannot drop table t_dep because other objects depend on it/,
		'DROP TABLE refused for the dependent view');
	$log = log_since($spell, $pos);
	like($log, qr/DETAIL:  view v_\[redacted\] depends on table t_dep/,
		'the log-only detail names the view, redacted');
	unlike($log, qr/\Q$v\E/, 'the log-only detail does not show the value');

	# the STATEMENT: line of an error whose statement quotes a value
	$v = $all{'momo.api_key'};
	$pos = log_position($spell);
	($rc, $out, $err) = $spell->psql('postgres', "SELECT '$v' AS pasted, 1/0");
	like($err, qr/division by zero/, 'the statement fails');
	$log = log_since($spell, $pos);
	like($log, qr/ERROR:  division by zero/, 'the error is logged');
	unlike($log, qr/\Q$v\E/, 'its STATEMENT: line does not show the value');
}

############################################################################
# A statement that names a secret setting, however SQL lets it be spelled
# (comments, quoting, Unicode escapes, case), through every statement that
# sets a setting, in both protocols: no log line may quote it.  Run once
# with log_statement = 'all' (the "statement:" and "execute" lines) and once
# with log_statement = 'none' (the statement then appears only in the
# "duration:" lines of log_min_duration_statement = 0 and the STATEMENT:
# line of an error).  Refused statements are sent by a role without
# privileges, as an attacker would; ALTER SYSTEM and ALTER DATABASE by the
# superuser, whose statements must not leak either.  Each case first proves
# that its spelling reaches the secret setting: ALTER SYSTEM puts the value
# in force, a refusal names the setting.

# run_simple($node, $role, @sql): each $sql as one simple Query message
# (psql -c, however many statements it holds), in one session:
# (exit code, stdout, stderr).
sub run_simple
{
	my ($n, $role, @sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', $n->host, '-p', $n->port,
			'-U', $role, '-d', 'postgres', map { ('-c', $_) } @sql ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return ($? >> 8, $out, $err);
}

# run_extended($node, $role, $mode, $sql, %vars): $sql through the extended
# protocol, by pgbench -M $mode (extended: the unnamed statement; prepared: a
# named one); each :var of $sql is sent as a bind parameter with the value
# given in %vars.  (psql 15 has no \bind.)  (exit code, stdout, stderr)
my $script_dir = PostgreSQL::Test::Utils::tempdir();
sub run_extended
{
	my ($n, $role, $mode, $sql, %vars) = @_;
	my $script = "$script_dir/script.sql";
	open(my $fh, '>', $script) or die "could not write $script: $!";
	print $fh "$sql;\n";
	close($fh);
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'pgbench', '-n', '-t', '1', '-M', $mode, '-f', $script,
			(map { ('-D', "$_=$vars{$_}") } sort keys %vars),
			'-h', $n->host, '-p', $n->port, '-U', $role, 'postgres' ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return ($? >> 8, $out, $err);
}

{
	$spell->safe_psql('postgres', 'CREATE ROLE attacker LOGIN');
	my $refused = qr/parameter "momo\.api_key" cannot be changed now/;

	# Each case: a name, its steps ([role, protocol, SQL, bind variables];
	# <V> stands for the case's value) and what the last step does: put
	# the value of a setting in force (show), or fail with an error (error).
	my @cases = (
		{   name => 'ALTER SYSTEM, a comment inside the name',
			steps => [ [ 'postgres', 'simple', "ALTER SYSTEM SET momo/**/.api_key = '<V>'" ] ],
			show => 'momo.api_key' },
		{   name => 'ALTER SYSTEM, a Unicode-escaped identifier',
			steps => [ [ 'postgres', 'simple', q{ALTER SYSTEM SET U&"\006Domo".api_key = '<V>'} ] ],
			show => 'momo.api_key' },
		{   name => 'ALTER SYSTEM, quoted identifiers',
			steps => [ [ 'postgres', 'simple', q{ALTER SYSTEM SET "momo"."api_key" = '<V>'} ] ],
			show => 'momo.api_key' },
		{   name => 'ALTER SYSTEM, capitals',
			steps => [ [ 'postgres', 'simple', "ALTER SYSTEM SET MOMO.API_KEY = '<V>'" ] ],
			show => 'momo.api_key' },
		{   name => 'ALTER SYSTEM, a -- comment and a newline inside the name',
			steps => [ [ 'postgres', 'simple', "ALTER SYSTEM SET momo -- the key\n.api_key = '<V>'" ] ],
			show => 'momo.api_key' },
		{   name => 'ALTER SYSTEM, one Unicode-escaped quoted identifier holding the dot',
			steps => [ [ 'postgres', 'simple',
					q{ALTER SYSTEM SET U&"momo.remittance\005fapi\005fkey" = '<V>'} ] ],
			show => 'momo.remittance_api_key' },
		{   name => 'ALTER SYSTEM, callback secret in capitals and quotes',
			steps => [ [ 'postgres', 'simple', q{ALTER SYSTEM SET "MOMO".CALLBACK_SECRET TO '<V>'} ] ],
			show => 'momo.callback_secret' },
		{   name => 'ALTER SYSTEM, a disbursement key through the extended protocol',
			steps => [ [ 'postgres', 'extended',
					q{ALTER SYSTEM SET "momo"./**/disbursement_subscription_key_primary = '<V>'} ] ],
			show => 'momo.disbursement_subscription_key_primary' },
		{   name => 'ALTER SYSTEM, a value the setting refuses',
			steps => [ [ 'postgres', 'simple', q{ALTER SYSTEM SET "MOMO".API_KEY = '<V> with spaces'} ] ],
			error => qr/invalid value for parameter "momo\.api_key"/ },
		{   name => 'ALTER SYSTEM, an unterminated string',
			steps => [ [ 'postgres', 'simple', "ALTER SYSTEM SET momo.api_key = '<V>" ] ],
			error => qr/unterminated quoted string/ },
		{   name => 'ALTER SYSTEM, a syntax error after a Unicode-escaped name',
			steps => [ [ 'postgres', 'simple', q{ALTER SYSTEM SET U&"\006Domo".api_key = '<V>' garbage} ] ],
			error => qr/syntax error/ },
		{   name => 'ALTER DATABASE SET, quoted with a comment',
			steps => [ [ 'postgres', 'simple',
					q{ALTER DATABASE postgres SET "momo"./*x*/"api_key" TO '<V>'} ] ],
			error => $refused },
		{   name => 'ALTER ROLE SET, one Unicode-escaped identifier',
			steps => [ [ 'attacker', 'simple',
					q{ALTER ROLE attacker SET U&"\006D\006F\006D\006F.api_key" = '<V>'} ] ],
			error => $refused },
		{   name => 'SET in a session',
			steps => [ [ 'attacker', 'simple', "SET momo.api_key = '<V>'" ] ],
			error => $refused },
		{   name => 'SET in a session, mixed case, quotes and a comment',
			steps => [ [ 'attacker', 'simple', q{SET "MoMo"./* */Api_Key TO '<V>'} ] ],
			error => qr/parameter "MoMo\.api_key" cannot be changed now/ },
		{   name => 'RESET refused before the SET that follows it',
			steps => [ [ 'attacker', 'simple', "RESET momo.api_key; SET momo.api_key TO '<V>'" ] ],
			error => $refused },
		{   name => 'an error before the SET that follows it',
			steps => [ [ 'attacker', 'simple', "SELECT 1/0; SET momo.api_key = '<V>'" ] ],
			error => qr/division by zero/ },
		{   name => 'set_config with a Unicode-escaped string',
			steps => [ [ 'attacker', 'simple', q{SELECT set_config(U&'\006Domo.api_key', '<V>', false)} ] ],
			error => $refused },
		{   name => 'set_config with an escape string',
			steps => [ [ 'attacker', 'simple', q{SELECT set_config(E'\x6Domo.api_key', '<V>', false)} ] ],
			error => $refused },
		{   name => 'set_config with a computed name',
			steps => [ [ 'attacker', 'simple', q{SELECT set_config(chr(109) || 'omo.api_key', '<V>', false)} ] ],
			error => $refused },
		{   name => 'set_config in a prepared statement run by EXECUTE',
			steps => [ [ 'attacker', 'simple',
					[ q{PREPARE p AS SELECT set_config('momo.api_key', '<V>', false)}, 'EXECUTE p' ] ] ],
			error => $refused },
		{   name => 'set_config in a DO block',
			steps => [ [ 'attacker', 'simple',
					q{DO $$BEGIN PERFORM set_config('momo.api_key', '<V>', false); END$$} ] ],
			error => $refused },
		{   name => 'SET run by a function',
			steps => [
				[ 'postgres', 'simple',
					q{CREATE OR REPLACE FUNCTION public.rotate_key() RETURNS void LANGUAGE plpgsql AS $$BEGIN EXECUTE 'SET momo.api_key = ' || quote_literal('<V>'); END$$} ],
				[ 'attacker', 'simple', 'SELECT public.rotate_key()' ] ],
			error => $refused },
		{   name => 'SET through the extended protocol',
			steps => [ [ 'attacker', 'extended', "SET MOMO.API_KEY = '<V>'" ] ],
			error => $refused },
		{   name => 'set_config through the extended protocol, name and value as parameters',
			steps => [ [ 'attacker', 'extended', 'SELECT set_config(:name, :value, false)',
					{ name => 'momo.api_key', value => '<V>' } ] ],
			error => $refused },
		{   name => 'set_config through a named prepared statement',
			steps => [ [ 'attacker', 'prepared', q{SELECT set_config(U&'\006Domo.api_key', '<V>', false)} ] ],
			error => $refused },
	);

	my $phase = 0;
	for my $log_statement ('all', 'none')
	{
		$phase++;
		$spell->safe_psql('postgres',
			"ALTER SYSTEM SET log_statement = '$log_statement'; "
			  . "ALTER SYSTEM SET log_min_duration_statement = 0");
		$spell->reload;
		ok(poll_until($spell, 'postgres',
				"SELECT current_setting('log_statement') || '/' || current_setting('log_min_duration_statement')",
				"$log_statement/0", 10),
			"log_statement = '$log_statement', log_min_duration_statement = 0");

		my $pos = log_position($spell);
		my %value;
		my $i = 0;
		for my $case (@cases)
		{
			my $what = "log_statement $log_statement, $case->{name}";
			my $v = sprintf('5ec2e7%d%02dzz', $phase, ++$i);
			$value{ $case->{name} } = $v;
			$secrets{$what} = $v;
			my ($rc, $out, $err);
			for my $step (@{ $case->{steps} })
			{
				my ($role, $proto, $sql, $vars) = @$step;
				my @sql = map { (my $x = $_) =~ s/<V>/$v/g; $x } (ref $sql ? @$sql : $sql);
				my %vars = map { (my $x = $vars->{$_}) =~ s/<V>/$v/g; ($_ => $x) } keys %{ $vars // {} };
				($rc, $out, $err) = $proto eq 'simple'
				  ? run_simple($spell, $role, @sql)
				  : run_extended($spell, $role, $proto, $sql[0], %vars);
				is($rc, 0, "$what: preparation") or diag($err)
				  unless $step == $case->{steps}[-1];
			}
			if ($case->{show})
			{
				is($rc, 0, "$what: accepted") or diag($err);
				$spell->reload;
				ok(poll_until($spell, 'postgres', "SHOW $case->{show}", $v, 10), "$what: in force");
			}
			else
			{
				isnt($rc, 0, "$what: refused");
				like($err, $case->{error}, "$what: refused with the expected error");
			}
		}

		# harmless statements stay in the log
		my ($rc, $out, $err) = run_simple($spell, 'attacker', "SELECT 'harmless-$phase'");
		is($rc, 0, "log_statement $log_statement: a harmless statement");
		($rc, $out, $err) = run_simple($spell, 'attacker', 'SET momo.max_in_flight = 7');
		like($err, qr/parameter "momo\.max_in_flight" cannot be changed now/,
			"log_statement $log_statement: a refused SET of a setting that is not secret");
		($rc, $out, $err) = run_extended($spell, 'attacker', 'extended', "SELECT 'harmless-ext-$phase'");
		is($rc, 0, "log_statement $log_statement: a harmless statement through the extended protocol");

		my $log = log_since($spell, $pos);
		for my $case (@cases)
		{
			unlike($log, qr/\Q$value{$case->{name}}\E/,
				"log_statement $log_statement, $case->{name}: the value is not in the log");
		}
		like($log, qr/ERROR:  invalid value for parameter "momo\.api_key": \[redacted/,
			"log_statement $log_statement: a refused value keeps the setting's name");
		like($log, qr/STATEMENT:  SET momo\.max_in_flight = 7$/m,
			"log_statement $log_statement: the STATEMENT: line of a harmless error stays");
		if ($log_statement eq 'all')
		{
			like($log, qr/LOG:  statement: \[redacted: names a momo secret setting\]$/m,
				'statement lines are logged redacted');
			like($log, qr/LOG:  execute <unnamed>: \[redacted: names a momo secret setting\]$/m,
				'execute lines are logged redacted');
			like($log, qr/LOG:  statement: EXECUTE p\n.*DETAIL:  prepare: \[redacted: names a momo secret setting\]$/m,
				'EXECUTE is logged, the statement it runs redacted');
			like($log, qr/LOG:  statement: SELECT 'harmless-1'$/m,
				'a harmless statement line stays');
			like($log, qr/LOG:  execute <unnamed>: SELECT 'harmless-ext-1';?$/m,
				'a harmless execute line stays');
		}
		else
		{
			like($log, qr/LOG:  duration: [\d.]+ ms  statement: \[redacted: names a momo secret setting\]$/m,
				'duration lines are logged redacted');
			like($log, qr/LOG:  duration: [\d.]+ ms  bind <unnamed>: \[redacted: names a momo secret setting\]$/m,
				'duration lines of a bind are logged redacted');
			like($log, qr/LOG:  duration: [\d.]+ ms  statement: SELECT 'harmless-2'$/m,
				'a harmless duration line stays');
			like($log, qr/LOG:  duration: [\d.]+ ms  execute <unnamed>: SELECT 'harmless-ext-2';?$/m,
				'a harmless duration line of the extended protocol stays');
		}
	}
	$spell->safe_psql('postgres',
		'ALTER SYSTEM RESET log_statement; ALTER SYSTEM RESET log_min_duration_statement');
	$spell->reload;
}

############################################################################
# Configured only through the postmaster's environment.
my %env = (
	MOMO_ENVIRONMENT                => 'sandbox',
	MOMO_BASE_URL                   => sandbox_url(),
	MOMO_TARGET_ENVIRONMENT         => 'sandbox',
	MOMO_SUBSCRIPTION_KEY_PRIMARY   => $CRED{sub_key_primary},
	MOMO_SUBSCRIPTION_KEY_SECONDARY => $CRED{sub_key_secondary},
	MOMO_API_USER                   => $CRED{api_user},
	MOMO_API_KEY                    => $CRED{api_key},
	MOMO_CALLBACK_URL               => 'https://localhost/momo/callback',
);
my $envnode = momo_node('envonly', credentials => 0, env => \%env);
push @nodes, $envnode;
{
	my $conf = slurp_file($envnode->data_dir . '/postgresql.conf')
	  . slurp_file($envnode->data_dir . '/postgresql.auto.conf');
	unlike($conf,
		qr/^\s*momo\.(environment|base_url|target_environment|subscription_key\w*|api_user|api_key|callback_url)\s*=/m,
		'no momo credential setting in postgresql.conf');
	is($envnode->safe_psql('postgres', 'SHOW momo.api_key'), '', 'momo.api_key GUC is empty');
	ok(!exists $ENV{MOMO_API_KEY}, 'the test\'s own environment is restored after the start');
	$envnode->safe_psql('postgres', 'CREATE EXTENSION momo');
	ok(wait_for_worker($envnode), 'worker runs');
	my $ref = request_payment($envnode, external_id => 'env-only');
	my $row = await_payment($envnode, $ref);
	is($row->{status}, 'successful', 'a payment through environment variables only');
	ok(sandbox_get("/_sandbox/payments/$ref"), 'the sandbox has it');

	# The GUC wins over the environment.
	my $wrong = 'wrongkey11111111';
	$secrets{'a wrong api key set by ALTER SYSTEM'} = $wrong;
	my $pos = log_position($envnode);
	$envnode->safe_psql('postgres', "ALTER SYSTEM SET momo.api_key = '$wrong'");
	$envnode->reload;
	ok(poll_until($envnode, 'postgres', 'SHOW momo.api_key', $wrong, 10), 'GUC set');
	$ref = request_payment($envnode, external_id => 'env-guc-wins');
	ok(wait_for_log_count($envnode,
			qr/WARNING:  momo worker is not sending payments: no collection access token/, 1, $pos, 20),
		'with a wrong momo.api_key (right MOMO_API_KEY) the worker does not send');
	$row = payment_row($envnode, $ref);
	is("$row->{status}/$row->{attempts}", 'queued/0', 'the payment stays queued');
	is(sandbox_get("/_sandbox/requests/$ref"), undef, 'the sandbox never saw it');
	unlike(log_since($envnode, $pos), qr/\Q$wrong\E/, 'the wrong key is not in the log either');

	$envnode->safe_psql('postgres', 'ALTER SYSTEM RESET momo.api_key');
	$envnode->reload;
	is(await_payment($envnode, $ref)->{status}, 'successful',
		'GUC reset: the environment\'s key applies again and the payment goes through');
	$envnode->stop;
}

############################################################################
# momo not in shared_preload_libraries.
my $plain = momo_node('nopreload', preload => 0);
push @nodes, $plain;
{
	my ($rc, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION momo');
	is($rc, 0, 'CREATE EXTENSION works without preloading') or diag($err);
	is($plain->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'momo worker'"),
		'0', 'no worker without preloading');
	($rc, $out, $err) = $plain->psql('postgres',
		"SELECT momo_request_to_pay(100, 'EUR', '46733000001')");
	isnt($rc, 0, 'momo_request_to_pay fails');
	like($err, qr/ERROR:  momo must be loaded via shared_preload_libraries/, '... saying why');
	SKIP:
	{
		skip 'the extension was not created', 1
		  unless $plain->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'momo'");
		is($plain->safe_psql('postgres', 'SELECT count(*) FROM momo_payments'), '0', 'nothing queued');
	}
	$plain->stop;
}

$spell->stop;
$node->stop;

############################################################################
# No secret in any server log.
for my $n (@nodes)
{
	my $log = slurp_file($n->logfile);
	ok(length($log) > 0, 'log of node ' . $n->name . ' read');
	for my $what (sort keys %secrets)
	{
		my $v = $secrets{$what};
		my $hits = () = $log =~ /\Q$v\E/g;
		is($hits, 0, 'log of node ' . $n->name . " does not contain $what");
	}
	unlike($log, qr/Bearer\s+\S/, 'log of node ' . $n->name . ' shows no bearer token');
}

done_testing();
