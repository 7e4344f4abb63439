
# 005_outage.pl - MTN out of reach, tokens that expire, and how fast the
# worker reacts to commits:
#   (a) the sandbox is down for over a minute while payments are queued and
#       comes back on the same port: every payment ends successful, none
#       failed or NOT_DELIVERED, and sends that could not connect used up no
#       attempt (attempts ends at 1); (a2) the same when connection
#       attempts go unanswered (time out) rather than being refused;
#   (b) every access token expires while a large batch is in flight: all
#       payments succeed and only a few new tokens are fetched;
#   (c) with momo.idle_interval = 10min, COMMIT PREPARED (from another
#       session) and a plain COMMIT wake the worker at once;
#   (d) a prepared transaction that is rolled back sends nothing.
use strict;
use warnings;

use FindBin;
use IO::Socket::INET;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $OUTAGE_S     = 60;    # the sandbox stays down at least this long
my $MAX_ATTEMPTS = 10;    # momo.max_attempts (its default)

start_sandbox();

# A short retry backoff cap, so that the worker keeps trying all through the
# outage and notices the sandbox soon after it is back.
my $node = momo_node('outage', extra_conf => join("\n",
		'momo.max_in_flight = 8',
		'momo.connect_timeout = 1000',
		'momo.request_timeout = 5000',
		'momo.retry_max = 2000',
		"momo.max_attempts = $MAX_ATTEMPTS"));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

# The first ten items of a list, for diagnostics.
sub first10
{
	return join("\n", grep { defined } @_[0 .. ($#_ < 9 ? $#_ : 9)]);
}

# Queues $n payments (payer numbers that succeed) with external ids
# "$prefix<i>" in one transaction; returns their reference ids.
sub queue_payments
{
	my ($prefix, $n) = @_;
	return split /\n/, $node->safe_psql('postgres',
		"SELECT momo_request_to_pay(10 + i % 9, 'EUR', (46733000000 + i)::text, '$prefix' || i) "
		  . "FROM generate_series(1, $n) AS i");
}

# 1 once every payment with an external id "$prefix..." is final, 0 after $seconds.
sub wait_final
{
	my ($prefix, $seconds) = @_;
	return poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE external_id LIKE '$prefix%' "
		  . "AND status IN ('queued', 'pending')", '0', $seconds);
}

# Checks that the payments with external ids "$prefix..." all ended
# successful, each stored once by the sandbox with the financial transaction
# id the row holds; returns their rows.
sub all_successful
{
	my ($what, $prefix, $refs) = @_;
	my $rows = payment_rows($node, "external_id LIKE '$prefix%'");
	is(scalar(keys %$rows), scalar(@$refs), "$what: every payment has its row");
	my @not_ok = map { "$_->{reference_id}: $_->{status} " . ($_->{reason} // '') }
	  grep { $_->{status} ne 'successful' } values %$rows;
	is(scalar(@not_ok), 0, "$what: every payment is successful (none failed, none NOT_DELIVERED)")
	  or diag(first10(@not_ok));
	my %sb = map { $_->{referenceId} => $_ }
	  grep { ($_->{externalId} // '') =~ /^\Q$prefix\E/ } @{ sandbox_get('/_sandbox/payments') };
	my @wrong = grep {
		my $p = $sb{$_};
		!$p || $p->{accepted} != 1 || $p->{status} ne 'SUCCESSFUL'
		  || ($rows->{$_}{financial_transaction_id} // '') ne ($p->{financialTransactionId} // '-');
	} @$refs;
	is(scalar(@wrong), 0, "$what: the sandbox stored each payment once, SUCCESSFUL, with the row's financial transaction id")
	  or diag(first10(@wrong));
	return $rows;
}

############################################################################
# (a) The sandbox goes down for over a minute.

# First a payment in normal operation, so that the worker holds an access
# token when the sandbox disappears (as it would in production): its sends
# then really try to connect, rather than stopping at the token.
my $warm = request_payment($node, external_id => 'before-outage');
is(await_payment($node, $warm, seconds => 30)->{status}, 'successful', 'a payment before the outage succeeds');

kill_sandbox('KILL');
my $down_at = time();
my @outage = queue_payments('outage-', 50);
is(scalar(@outage), 50, '50 payments queued while the sandbox is down');

# While it is down: every payment stays queued and never has more than the
# one attempt a send in progress holds; poll until the outage has lasted
# $OUTAGE_S seconds and every payment was tried more than max_attempts times
# (so a counted attempt per failed connection would have run out).
my (%violations, $rows, $min_retries);    # reference id => its first violation
my $polls = 0;
while (1)
{
	$rows = payment_rows($node, "external_id LIKE 'outage-%'");
	$polls++;
	for my $r (values %$rows)
	{
		$violations{ $r->{reference_id} } //= "$r->{reference_id} at " . int(time() - $down_at)
		  . " s: $r->{status}, attempts $r->{attempts}"
		  if $r->{status} ne 'queued' || $r->{attempts} > 1;
	}
	($min_retries) = sort { $a <=> $b } map { $_->{retries} } values %$rows;
	last if time() - $down_at >= $OUTAGE_S && $min_retries > $MAX_ATTEMPTS;
	last if time() - $down_at >= $OUTAGE_S + 120;
	usleep(1_000_000);
}
my $outage_s = time() - $down_at;
ok($outage_s >= $OUTAGE_S, sprintf('the sandbox was down for %.0f s', $outage_s));
is(scalar(keys %violations), 0,
	"during the outage ($polls looks) every payment stayed queued with at most the attempt in progress")
  or diag(first10(sort values %violations));
ok($min_retries > $MAX_ATTEMPTS,
	"every payment was tried more than max_attempts ($MAX_ATTEMPTS) times during the outage (fewest: $min_retries)");
my @unexplained = grep { ($_->{last_error} // '') !~ /connect/i || defined $_->{last_http_status} } values %$rows;
is(scalar(@unexplained), 0, 'last_error says the sandbox could not be reached, and there is no HTTP status')
  or diag(first10(map { "$_->{reference_id}: " . ($_->{last_error} // 'NULL') . ' / ' . ($_->{last_http_status} // 'NULL') } @unexplained));
note('last_error during the outage: ' . ((values %$rows)[0]{last_error} // 'NULL'));

restart_sandbox();
ok(wait_final('outage-', 90), 'after the sandbox is back every payment becomes final');
$rows = all_successful('outage', 'outage-', \@outage);
my @attempts = grep { $_->{attempts} != 1 } values %$rows;
is(scalar(@attempts), 0, 'attempts is 1 for every payment: the sends that could not connect were not counted')
  or diag(first10(map { "$_->{reference_id}: attempts $_->{attempts}" } @attempts));
my @posts = grep { $_->{posts} != 1 }
  grep { ($_->{externalId} // '') =~ /^outage-/ } @{ sandbox_get('/_sandbox/payments') };
is(scalar(@posts), 0, 'the sandbox received exactly one POST per payment');
is(sandbox_get('/_sandbox/stats')->{rtp_accepted}, 50, 'the restarted sandbox accepted exactly the 50 payments');

############################################################################
# (a2) MTN unreachable the other common way: connection attempts go
# unanswered (a firewall or a dead route drops them) instead of being
# refused.  A listener on the sandbox's port whose backlog is full plays
# that part: the kernel drops new SYNs, so each connect times out.  Such a
# send never left either (no connection), so it must not use up an attempt.
kill_sandbox('KILL');
{
	my $what = 'unanswered connection attempts';
	my $port = sandbox_port();
	my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
		Listen => 0, ReuseAddr => 1, Proto => 'tcp')
	  or die "cannot listen on port $port: $!";
	my @fillers = map {
		IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Blocking => 0)
	} 1 .. 20;
	# Bounded: until a connection attempt of our own goes unanswered.
	my $dropped = 0;
	for (1 .. 20)
	{
		my $probe = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
			Proto => 'tcp', Timeout => 1);
		if (!$probe)
		{
			$dropped = 1;
			last;
		}
		close($probe);
		usleep(250_000);
	}
	ok($dropped, "$what: connection attempts to port $port now go unanswered");
  SKIP:
	{
		skip "$what: could not make connection attempts go unanswered", 6 unless $dropped;
		my @refs = queue_payments('unanswered-', 20);
		my (%bad, $r2, $fewest);    # reference id => its first violation
		my $since = time();
		while (time() - $since < 120)
		{
			$r2 = payment_rows($node, "external_id LIKE 'unanswered-%'");
			$bad{ $_->{reference_id} } //= "$_->{reference_id}: $_->{status}, attempts $_->{attempts}, "
			  . "retries $_->{retries}"
			  for grep { $_->{status} ne 'queued' || $_->{attempts} > 1 } values %$r2;
			($fewest) = sort { $a <=> $b } map { $_->{retries} } values %$r2;
			last if $fewest > $MAX_ATTEMPTS;
			usleep(1_000_000);
		}
		ok($fewest > $MAX_ATTEMPTS, "$what: every payment was tried more than max_attempts times (fewest: $fewest)");
		my @why = grep { ($_->{last_error} // '') !~ /timed out|timeout/i } values %$r2;
		is(scalar(@why), 0, "$what: last_error says the connection timed out ("
			  . ((values %$r2)[0]{last_error} // 'NULL') . ')');
		is(scalar(keys %bad), 0, "$what: every payment stayed queued with at most the attempt in progress")
		  or diag(first10(sort values %bad));
		close($_) for grep { defined } @fillers, $listener;
		restart_sandbox();
		ok(wait_final('unanswered-', 90), "$what: after the sandbox is back every payment becomes final");
		my $rows2 = all_successful($what, 'unanswered-', \@refs);
		my @counted = grep { $_->{attempts} != 1 } values %$rows2;
		is(scalar(@counted), 0, "$what: attempts is 1 for every payment: the timed-out connects were not counted")
		  or diag(first10(map { "$_->{reference_id}: attempts $_->{attempts}" } @counted));
	}
	unless (main_sandbox()->pid)
	{
		close($_) for grep { defined } @fillers, $listener;
		restart_sandbox();
	}
}

############################################################################
# (b) Every token expires while a large batch is in flight.
sandbox_post('/_sandbox/config', { delay_ms => 100 });
sandbox_post('/_sandbox/reset-stats');
my @batch = queue_payments('token-', 800);
is(scalar(@batch), 800, '800 payments queued');
my $mid = poll_until($node, 'postgres',
	"SELECT count(*) FILTER (WHERE status <> 'queued') >= 50 AND count(*) FILTER (WHERE status = 'queued') >= 200 "
	  . "FROM momo_payments WHERE external_id LIKE 'token-%'", 't', 60);
ok($mid, 'the batch is under way: some payments accepted, many still queued');
sandbox_post('/_sandbox/expire-tokens');
ok(wait_final('token-', 180), 'every payment of the batch becomes final');
my $stats = sandbox_get('/_sandbox/stats');
sandbox_post('/_sandbox/config', { delay_ms => 0 });
all_successful('token expiry', 'token-', \@batch);
ok($stats->{unauthorized} > 0, "the expired token was refused ($stats->{unauthorized} answers 401)");
ok($stats->{tokens_issued} >= 1 && $stats->{tokens_issued} <= 3,
	"a new token was fetched, not one per payment: $stats->{tokens_issued} issued for 800 payments");
is($stats->{rtp_accepted}, 800, 'the sandbox accepted exactly the 800 payments');

$node->stop;

############################################################################
# (c) The worker is woken at commit, also by COMMIT PREPARED from another
# session, even when it would otherwise sleep for ten minutes.  A node of
# its own, configured so from the start: no reload races with the sleep.
my $wake = momo_node('wake', extra_conf => join("\n",
		"momo.idle_interval = '10min'",
		"momo.poll_interval_min = '100ms'"));
$wake->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($wake), 'worker runs (momo.idle_interval = 10min)');
$node = $wake;
ok(wait_final('', 60), 'nothing is due');
ok(wait_for_worker_idle($node), 'the worker sleeps');

# Control: a row written directly, past the table's triggers (a superuser
# may; nothing wakes the worker at its commit: the change feed's trigger,
# which wakes it to number the change, does not fire) is not sent while the
# worker sleeps.
my $control = $node->safe_psql('postgres',
	"SET session_replication_role = replica; "
	  . "INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn) "
	  . "VALUES (gen_random_uuid(), 'sleep-control', 5, 'EUR', '46733000777') RETURNING reference_id");
usleep(3_000_000);
is(sandbox_get("/_sandbox/requests/$control"), undef,
	'control: a due payment that woke no one is not sent while the worker sleeps (3 s)');

my $prepared = $node->safe_psql('postgres',
	"BEGIN; SELECT momo_request_to_pay(42, 'EUR', '46733000042', 'wake-prepared'); PREPARE TRANSACTION 'wake1';");
like($prepared, qr/^[0-9a-f-]{36}$/, 'a payment requested in a transaction now prepared');
is(sandbox_get("/_sandbox/requests/$prepared"), undef, 'it is not sent while prepared');
$node->safe_psql('postgres', "COMMIT PREPARED 'wake1'");    # a session of its own
my $row = await_payment($node, $prepared, seconds => 20);
is($row->{status}, 'successful',
	'COMMIT PREPARED from another session woke the worker: the payment is final within 20 s');
is(await_payment($node, $control, seconds => 20)->{status}, 'successful',
	'that wake-up also sent the control payment');

ok(wait_final('', 60), 'nothing is due again');
ok(wait_for_worker_idle($node), 'the worker sleeps again');
my $plain = request_payment($node, external_id => 'wake-plain', msisdn => '46733000043');
is(await_payment($node, $plain, seconds => 20)->{status}, 'successful',
	'a plain COMMIT woke the worker: the payment is final within 20 s');

############################################################################
# (d) A prepared transaction that is rolled back sends nothing.
ok(wait_for_worker_idle($node), 'the worker sleeps');
my $posts_before = sandbox_get('/_sandbox/stats')->{rtp_posts};
my $rolled = $node->safe_psql('postgres',
	"BEGIN; SELECT momo_request_to_pay(43, 'EUR', '46733000044', 'rolled-back'); PREPARE TRANSACTION 'rb1';");
like($rolled, qr/^[0-9a-f-]{36}$/, 'a payment requested in a transaction now prepared');
$node->safe_psql('postgres', "ROLLBACK PREPARED 'rb1'");
# A later payment wakes the worker for a whole cycle after the rollback.
my $later = request_payment($node, external_id => 'after-rollback', msisdn => '46733000045');
is(await_payment($node, $later, seconds => 20)->{status}, 'successful', 'a later payment goes through');
is(payment_row($node, $rolled), undef, 'the rolled-back payment has no row');
is(sandbox_get("/_sandbox/requests/$rolled"), undef, 'the sandbox never heard of the rolled-back payment');
is(sandbox_get('/_sandbox/stats')->{rtp_posts} - $posts_before, 1,
	'the only request to pay sent was the later payment\'s');

$node->stop;
done_testing();
