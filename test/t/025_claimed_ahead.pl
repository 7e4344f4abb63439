
# 025_claimed_ahead.pl - nothing is sent for a payment that is no longer
#   there to send once a committed transaction has made it final or removed
#   it.
#
#   Payment requests are claimed ahead of the free slots (CLAIM_AHEAD in
#   src/worker.c) and wait in memory, unlocked (the claim's locks went with
#   its commit), until a slot is free: for as long as the requests in flight
#   take (up to momo.request_timeout).  Meanwhile:
#   1. the owner of momo_payments marks the queued payments failed (the
#      guard allows queued -> failed: stopping a batch an application queued
#      by mistake);
#   2. DROP EXTENSION momo removes them (README, "Installing from a
#      package": drop the extension before removing the package).
#   After either has committed, the sandbox must receive no POST: a payment
#   sent then is one MTN may charge while the database says it failed, or
#   has no row for it at all.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $IN_FLIGHT = 4;
my $POST_MS = 2000;

start_sandbox();

my $node = momo_node('ahead', extra_conf => "momo.max_in_flight = $IN_FLIGHT");
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

my $cfg = sandbox_post('/_sandbox/config', { delay_ms => $POST_MS });
is($cfg && $cfg->{delay_ms}, $POST_MS, "sandbox: every call answered $POST_MS ms late");

sub posts { return sandbox_get('/_sandbox/stats')->{rtp_posts}; }

# Queues 40 payments and waits until the first $IN_FLIGHT POSTs have reached
# the sandbox (they hang there $POST_MS ms); returns the reference ids.
sub queue_and_wait
{
	my ($prefix) = @_;
	my $before = posts();
	my @refs = split /\n/, $node->safe_psql('postgres',
		"SELECT momo_request_to_pay(10, 'EUR', '46733000001', '$prefix' || i) "
		  . "FROM generate_series(1, 40) AS i");
	my $deadline = time() + 30;
	usleep(10_000) while posts() < $before + $IN_FLIGHT && time() < $deadline;
	return @refs;
}

# 1. The owner marks the queued payments failed.
my @refs = queue_and_wait('cancel-');
my $cancelled = $node->safe_psql('postgres',
	"UPDATE momo_payments SET status = 'failed', reason = 'CANCELLED', completed_at = now() "
	  . "WHERE external_id LIKE 'cancel-%' AND status = 'queued'");
my $at_cancel = posts();
note("$at_cancel POSTs had reached the sandbox when the cancel committed");
ok($at_cancel >= $IN_FLIGHT, 'requests were in flight when the payments were cancelled');
ok(wait_for_worker_idle($node, timeout => 60), 'the worker is idle again');
my $after = posts();
is($after, $at_cancel, 'no payment was sent after the cancel committed')
  or diag(($after - $at_cancel) . ' payments marked failed were POSTed after the commit');
my %failed = map { $_ => 1 } @refs;
my @charged = grep { $failed{ $_->{referenceId} } && $_->{status} eq 'SUCCESSFUL' }
  @{ sandbox_get('/_sandbox/payments') // [] };
note(scalar(@charged) . ' payments that the table says failed are SUCCESSFUL at MTN '
	  . "($IN_FLIGHT were in flight at the cancel)");

# 2. DROP EXTENSION.
sandbox_post('/_sandbox/config', { delay_ms => $POST_MS });
@refs = queue_and_wait('drop-');
$node->safe_psql('postgres', 'DROP EXTENSION momo CASCADE');
my $at_drop = posts();
note("$at_drop POSTs had reached the sandbox when DROP EXTENSION committed");
# The worker goes idle, or (one worker per database) exits once it holds no
# payment any more.
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'momo worker' AND state = 'active'",
		'0', 60),
	'the worker is idle, or gone');
$after = posts();
is($after, $at_drop, 'no payment was sent after DROP EXTENSION committed')
  or diag(($after - $at_drop) . ' payments were POSTed after their rows were dropped');

$node->stop;
done_testing();
