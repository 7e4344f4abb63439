
# 053_pooler.pl - the README's table "Connection poolers and the change
# feed", through a real PgBouncer (Debian's pgbouncer) in transaction pooling
# mode with one server connection (default_pool_size = 1) in front of the
# test cluster:
#   (a) LISTEN momo_payments through it receives nothing when a payment
#       turns final, while a LISTEN on a direct connection, beside it, gets
#       the notification (so the check can fail);
#   (b) momo_await through it holds the pooled server connection for its
#       whole wait: a second client's SELECT 1 waits (PgBouncer's own SHOW
#       POOLS and SHOW CLIENTS say so, and it has no answer) until the
#       payment turns final and the await returns; then it gets its answer;
#       and the await's client, which never listened, gets the notification
#       of (a)'s LISTEN, which stayed on the server connection;
#   (c) the README's feed-poll recipe, taken from README.md and run as
#       printed through it, returns every change of every payment: queued,
#       pending and final, each once, in order;
#   (d) the table's last column, through a second pool of the same
#       PgBouncer in statement pooling mode: momo_request_to_pay and
#       momo_changes each work as a statement on its own, and give every
#       change of the payment; a transaction of two statements is refused
#       (why a client acts on the rows it polled in a later statement).
# No sleeps: each wait is a bounded poll on a state.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::BackgroundPsql;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $pgbouncer_bin = '/usr/sbin/pgbouncer';
die "$pgbouncer_bin is not installed: run test/install-deps.sh (package pgbouncer)\n"
  unless -x $pgbouncer_bin;

# The README's feed-poll recipe, as printed (run-tap.sh copies README.md).
my $readme_file = "$FindBin::RealBin/../README.md";
open(my $fh, '<', $readme_file) or die "$readme_file: $!";
my $readme = do { local $/; <$fh> };
close $fh;
my ($recipe) = $readme =~ /^<!-- recipe: feed-poll -->\n```sql\n(.*?)^```$/ms
  or die "README.md has no feed-poll recipe";
my ($recipe_once, $recipe_poll) = split /^(?=-- Every few seconds)/m, $recipe;
die "the feed-poll recipe has no '-- Every few seconds' part" unless defined $recipe_poll;

start_sandbox();
my $node = momo_node('pooler');
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');
sub sql { return $node->safe_psql('postgres', $_[0]); }

# PgBouncer: transaction pooling, one server connection, on a free port of
# its own, to the cluster's socket; trust (the cluster trusts local
# connections too); the test's user may use the admin console.
my $user = getpwuid($<);
my $bport = PostgreSQL::Test::Cluster::get_free_port();
my $bdir = PostgreSQL::Test::Utils::tempdir('pgbouncer');
my $blog = "$PostgreSQL::Test::Utils::log_path/053_pooler_pgbouncer.log";
open(my $af, '>', "$bdir/userlist.txt") or die;
print $af qq{"$user" ""\n};
close $af;
open(my $cf, '>', "$bdir/pgbouncer.ini") or die;
print $cf join("\n",
	'[databases]',
	'postgres = host=' . $node->host . ' port=' . $node->port . ' dbname=postgres',
	'postgres_statement = host=' . $node->host . ' port=' . $node->port
	  . ' dbname=postgres pool_mode=statement pool_size=1',
	'[pgbouncer]',
	'listen_addr = 127.0.0.1',
	"listen_port = $bport",
	"unix_socket_dir = $bdir",
	'pool_mode = transaction',
	'default_pool_size = 1',
	'min_pool_size = 0',
	'reserve_pool_size = 0',
	'max_client_conn = 20',
	'auth_type = trust',
	"auth_file = $bdir/userlist.txt",
	"admin_users = $user",
	"logfile = $blog",
	"pidfile = $bdir/pgbouncer.pid",
	'');
close $cf;
my ($bout, $berr) = ('', '');
my $bouncer = IPC::Run::start([ $pgbouncer_bin, "$bdir/pgbouncer.ini" ],
	'>', \$bout, '2>', \$berr);
END { $bouncer->kill_kill if $bouncer && $bouncer->pumpable; }

my $via = "host=127.0.0.1 port=$bport dbname=postgres user=$user";
my $admin = "host=127.0.0.1 port=$bport dbname=pgbouncer user=$user";

# One psql run to completion through PgBouncer: (rc, stdout, stderr).
sub psql_via
{
	my ($conn, $query) = @_;
	my ($out, $err) = ('', '');
	# as a script (-f -): statement by statement, as printed
	IPC::Run::run([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $conn, '-f', '-' ],
		'<', \$query, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	chomp $out;
	return ($? >> 8, $out, $err);
}

# A psql started in the background through PgBouncer (its answer comes later).
sub psql_via_start
{
	my ($query) = @_;
	my %h = (out => '', err => '');
	$h{h} = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $via, '-c', $query ],
		'>', \$h{out}, '2>', \$h{err}, IPC::Run::timeout(120));
	return \%h;
}

# A column of PgBouncer's SHOW POOLS for the postgres pool.
sub pool
{
	my ($col) = @_;
	my ($rc, $out, $err) = (1, '', '');
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		my ($out2, $err2) = ('', '');
		IPC::Run::run([ 'psql', '-X', '-A', '-F', '|', '-d', $admin, '-c', 'SHOW POOLS' ],
			'>', \$out2, '2>', \$err2, IPC::Run::timeout(30));
		if ($? == 0)
		{
			my @lines = split /\n/, $out2;
			my @head = split /\|/, shift @lines;
			for my $l (@lines)
			{
				my %r;
				@r{@head} = split /\|/, $l, -1;
				return $r{$col} if defined $r{database} && $r{database} eq 'postgres';
			}
			return undef;
		}
		usleep(100_000);
	}
	die "SHOW POOLS through PgBouncer failed: $err";
}

sub wait_pool
{
	my ($col, $want, $what) = @_;
	my $deadline = time() + 60;
	my $v;
	while (time() < $deadline)
	{
		$v = pool($col);
		return 1 if defined $v && $v eq $want;
		usleep(100_000);
	}
	diag("SHOW POOLS $col: " . ($v // 'undef') . ", not $want ($what)");
	return 0;
}

# A background psql session with a connection string of our own (through
# PgBouncer): BackgroundPsql takes its callers only from Cluster.pm.
{
	package PostgreSQL::Test::Cluster;
	sub momo_psql_session
	{
		return PostgreSQL::Test::BackgroundPsql->new(0, $_[0], undef, 1);
	}
}

# PgBouncer answers once it listens.
my $up = 0;
for (1 .. 300)
{
	my ($rc) = psql_via($via, 'SELECT 1');
	if ($rc == 0) { $up = 1; last; }
	usleep(100_000);
}
ok($up, 'PgBouncer (transaction pooling, one server connection) answers') or BAIL_OUT("pgbouncer: $berr");
is(pool('pool_mode'), 'transaction', 'the pool is in transaction mode');

# (a) LISTEN through PgBouncer, and on a direct connection beside it.
my $through = PostgreSQL::Test::Cluster::momo_psql_session(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $via, '-f', '-' ]);
my $direct = $node->background_psql('postgres');
$through->query_safe('LISTEN momo_payments');
$direct->query_safe('LISTEN momo_payments');
my $ref_a = request_payment($node, external_id => 'POOL-A', msisdn => '46733000101');
my $row = await_payment($node, $ref_a);
is($row->{status}, 'successful', '(a) the payment turned final');
# psql prints the notifications a connection has received after each
# command: the direct one shows it at once.
my $notified = qr/Asynchronous notification "momo_payments" with payload ".*\Q$ref_a\E/;
my $direct_out = '';
my $deadline = time() + 30;
while (time() < $deadline)
{
	$direct_out .= $direct->query_safe('SELECT 1');
	last if $direct_out =~ $notified;
	usleep(100_000);
}
like($direct_out, $notified, '(a) a direct LISTEN got the notification');
# Through PgBouncer: the LISTEN was run on the one server connection, which
# went back to the pool when its transaction ended; however many commands
# the client runs after the payment is final, no notification comes.
my $through_out = '';
for (1 .. 5)
{
	$through_out .= $through->query_safe('SELECT 1');
}
unlike($through_out, qr/Asynchronous notification/,
	'(a) LISTEN through PgBouncer (transaction pooling) received nothing');
# The server connection, idle in the pool, did get it: PgBouncer dropped it
# (and logs so, maybe a moment later).
my $dropped = qr/got packet 'A' from server when not linked/;
$deadline = time() + 30;
usleep(100_000) while slurp_file($blog) !~ $dropped && time() < $deadline;
like(slurp_file($blog), $dropped,
	'(a) PgBouncer dropped the notification that came to the idle server connection');
$through->quit;
$direct->quit;

# (b) momo_await through PgBouncer holds the pool's server connection.  The
# payment cannot turn final while collection is paused.
sql("SELECT momo_pause('053_pooler: hold a payment queued', 'collection')");
my $ref_b = request_payment($node, external_id => 'POOL-B', msisdn => '46733000102');
my $await = psql_via_start("SELECT status FROM momo_await('$ref_b', '5 minutes')");
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT status FROM momo_await(%' AND state = 'active'",
		'1', 60),
	'(b) the await runs on the server');
ok(wait_pool('sv_active', '1', 'the await holds the server connection'),
	'(b) PgBouncer: the one server connection is in use');
my $select1 = psql_via_start('SELECT 1');
ok(wait_pool('cl_waiting', '1', 'a second client waits'),
	'(b) PgBouncer: a second client\'s SELECT 1 waits for a server connection');
ok($select1->{h}->pumpable && $select1->{out} eq '', '(b) and has had no answer');
$select1->{h}->pump_nb;
is($select1->{out}, '', '(b) still none while the await waits');
is(pool('sv_idle') + 0, 0, '(b) no idle server connection is left for it');
ok($await->{h}->pumpable && $await->{out} eq '', '(b) the await has not returned');
# The payment turns final: the await returns, and the SELECT 1 gets its turn.
sql("SELECT momo_resume('collection')");
$await->{h}->finish;
like($await->{out}, qr/\Asuccessful\n/, '(b) once the payment is final, the await returns');
# And the LISTEN of (a) is still on the one server connection, which the
# await held when B turned final: its notification went to the await's
# client, which never listened.
like($await->{out}, qr/Asynchronous notification "momo_payments" with payload ".*\Q$ref_b\E/,
	'(b) the await\'s client, which never listened, got the notification of (a)\'s LISTEN');
$select1->{h}->finish;
is($select1->{out}, "1\n", '(b) and then the waiting SELECT 1 gets its answer');
ok(wait_pool('cl_waiting', '0', 'no client waits'), '(b) no client waits any more');

# (c) The README's feed-poll recipe, as printed, through PgBouncer: every
# change of every payment (queued, pending, final), each once, in order.
# Payments made while polling, so that polls see them at every stage.
my ($rc, $out, $err) = psql_via($via, $recipe_once);
is($rc, 0, '(c) the recipe\'s table, made through PgBouncer') or diag $err;
my @changes;    # [external_id, status]
sub feed_poll
{
	my ($prc, $pout, $perr) = psql_via($via, $recipe_poll);
	die "the feed-poll recipe failed through PgBouncer: $perr" if $prc;
	push @changes, map { [ (split /\|/, $_, -1)[ 0, 1 ] ] } grep { length } split /\n/, $pout;
}
my @ext;
for my $i (1 .. 5)
{
	my $ext = "POOL-C$i";
	push @ext, $ext;
	request_payment($node, external_id => $ext, msisdn => "4673300020$i");
	feed_poll();
}
sub statuses
{
	my ($ext) = @_;
	return join ' ', map { $_->[1] } grep { $_->[0] eq $ext } @changes;
}
$deadline = time() + 60;
while (time() < $deadline)
{
	feed_poll();
	last unless grep { statuses($_) !~ /successful/ } @ext;
	usleep(100_000);
}
for my $ext (@ext)
{
	is(statuses($ext), 'queued pending successful', "(c) $ext: every change once, in order, through PgBouncer");
}
# And the earlier payments, made before the position was kept: from 0.
is(statuses('POOL-A'), 'queued pending successful', '(c) POOL-A\'s changes too');
is(statuses('POOL-B'), 'queued pending successful', '(c) POOL-B\'s changes too');

# (d) Statement pooling: each statement on its own.
my $via_statement = "host=127.0.0.1 port=$bport dbname=postgres_statement user=$user";
($rc, $out, $err) = psql_via($via_statement, 'BEGIN; SELECT 1; COMMIT;');
isnt($rc, 0, '(d) statement pooling refuses a transaction of several statements');
like($err, qr/transaction blocks not allowed in statement pooling mode/, '(d) ... as PgBouncer says');
($rc, my $ref_d, $err) = psql_via($via_statement,
	"SELECT momo_request_to_pay(10, 'EUR', '46733000301', 'POOL-D')");
is($rc, 0, '(d) momo_request_to_pay through statement pooling') or diag $err;
my $seen = '';
$deadline = time() + 60;
while (time() < $deadline)
{
	($rc, $seen, $err) = psql_via($via_statement,
		"SELECT string_agg(status, ' ' ORDER BY seq) FROM momo_changes(0, 1000)"
		  . " WHERE reference_id = '$ref_d'");
	last if $rc != 0 || $seen eq 'queued pending successful';
	usleep(100_000);
}
is($seen, 'queued pending successful', '(d) momo_changes through statement pooling: every change, in order')
  or diag $err;

$bouncer->kill_kill;
$bouncer->finish;
$node->stop;
done_testing();
