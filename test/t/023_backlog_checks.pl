
# 023_backlog_checks.pl - pending payments are checked while a backlog of new
#   payments is being sent (README, "The background worker": "a quarter of
#   the free slots is offered to due checks first, so that a flood of new
#   payments does not keep pending ones from being checked").
#
#   A backlog of payments is queued in one transaction; MTN (the sandbox)
#   answers each POST 100 ms late and each status GET at once, so the backlog
#   takes seconds to send while the first payments of it, accepted at once,
#   fall due for their first status check 100 ms after their 202 (MomoTest's
#   momo.poll_interval_min).  A twentieth of them at least must be asked about
#   before the last payment of the backlog is sent: the worker before
#   claim-ahead (1a61e0c) asked about 40 to 68 of 600 by then (three runs).
#   An experimental fix that lets checks claim their quarter of the slots
#   although the slots are full of sends claimed ahead: 241 of 600.  The witness is the sandbox's own
#   order of events (first_status_answer_event against the last
#   accepted_event, one sequence), not a clock.
#
#   With payment requests claimed ahead of the free slots (CLAIM_AHEAD), the
#   slots that claim_due offered to status checks were counted after the
#   payment requests waiting in memory: during a backlog there always are
#   some, so no status check was claimed until the backlog was gone (0 or 1
#   of 600 in five runs).  Now a quarter of each claim goes to due checks
#   under a backlog, and they start before the requests claimed ahead.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $N = 600;              # payments of the backlog
my $POST_MS = 100;        # how late each POST is answered

start_sandbox();

my $node = momo_node('backlog', extra_conf => join("\n",
		'momo.max_in_flight = 8',
		"momo.poll_interval_max = '200ms'"));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

my $cfg = sandbox_post('/_sandbox/config', { delay_ms => $POST_MS, status_delay_ms => 1 });
is($cfg && $cfg->{delay_ms}, $POST_MS, "sandbox: POSTs answered $POST_MS ms late, status checks at once");

# The backlog, committed at once.
my @refs = split /\n/, $node->safe_psql('postgres',
	"SELECT momo_request_to_pay(10, 'EUR', '46733000001', 'backlog-' || i) "
	  . "FROM generate_series(1, $N) AS i");
is(scalar(@refs), $N, "a backlog of $N payments is committed");
my %mine = map { $_ => 1 } @refs;

# Wait until every one is final (each needs a status check: accepted, then
# SUCCESSFUL at its first check).
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM momo_payments WHERE external_id LIKE 'backlog-%' AND status = 'successful'",
		"$N", 300),
	"all $N payments are successful");

my @recs = grep { $mine{ $_->{referenceId} } } @{ sandbox_get('/_sandbox/payments') // [] };
is(scalar(@recs), $N, "the sandbox stored all $N");
my ($last_post) = sort { $b <=> $a } map { $_->{accepted_event} } @recs;
my @early = grep { $_->{first_status_answer_event} > 0 && $_->{first_status_answer_event} < $last_post } @recs;
my ($first_check) = sort { $a <=> $b } map { $_->{first_status_answer_event} } @recs;

note('checked before the last POST: ' . scalar(@early) . " of $N; last POST at event $last_post, first check answered at event $first_check");
# The point: status checks went on while the backlog was being sent.
ok(@early >= $N / 20, 'pending payments are checked while the backlog is sent')
  or diag("sandbox events: the last POST of the backlog was stored at event $last_post, "
	  . "the first status check was answered at event $first_check: "
	  . scalar(@early) . " of the $N were asked about before the whole backlog had been sent");
my @twice = grep { $_->{posts} != 1 } @recs;
is(scalar(@twice), 0, 'each payment was POSTed once');

$node->stop;
done_testing();
