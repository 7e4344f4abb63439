
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
