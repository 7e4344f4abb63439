# 008_callback_log.pl - forged callbacks cannot fill the server log.  A web
# endpoint's role hands momo_callback 2,000 forged callbacks full of attacker
# text (bad query strings, wrong signatures, long and control-character
# bodies), then, after the logging interval (60 s), one more.  The server
# log must hold no attacker text, only short lines of fixed text, at most one
# per 60 s of the session, and those lines must account for every forged
# callback (one each, plus the counts of the ones not logged).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $FORGED   = 2000;
my $INTERVAL = 60;      # FORGED_LOG_INTERVAL_S of src/callback.c

start_sandbox();
# Cluster.pm logs every statement (log_statement = all): turned off here, as
# a production server has it, since the statements carry the attacker's text.
my $node = momo_node('main',
	extra_conf => "momo.callback_secret = 'tap-callback-secret-0123456789'\nlog_statement = none");
$node->safe_psql('postgres', <<'EOF');
CREATE EXTENSION momo;
CREATE ROLE momo_web LOGIN;
GRANT EXECUTE ON FUNCTION momo_callback(text, text) TO momo_web;
EOF
my $ref = '7d1f9b8e-0000-4000-8000-000000000001';
my $pos = log_position($node);

# One session of the web endpoint, as the attacker drives it: the forgeries
# in one statement, the time they took, the logging interval, one more.
my ($out, $err) = ('', '');
my $rc = $node->psql('postgres', <<"EOF", stdout => \$out, stderr => \$err, timeout => 300);
SET ROLE momo_web;
SELECT 'start', extract(epoch FROM clock_timestamp());
SELECT 'verdicts', v, count(*) FROM (
  SELECT momo_callback(
           CASE i % 4
             WHEN 0 THEN repeat('momo_ref=ATTACKER-' || i || '&', 200)
             WHEN 1 THEN E'momo_ref=ATTACKER\\x01\\x1b[31m\\r\\nLOG:  ATTACKER forged line ' || i
             WHEN 2 THEN 'momo_ref=$ref&momo_sig=' || repeat('0', 64) || '&ATTACKER=' || i
             ELSE 'momo_ref=$ref&momo_sig=ATTACKER'' OR 1=1 --' || i
           END,
           CASE i % 3
             WHEN 0 THEN '{"status":"ATTACKER ' || repeat('x', 100000) || '"}'
             WHEN 1 THEN E'{"status":"SUCCESSFUL\\\\r\\\\nATTACKER","externalId":"ATTACKER\\x07"}'
             ELSE repeat('[', 50000)
           END) AS v
    FROM generate_series(1, $FORGED) i) x GROUP BY v ORDER BY v;
SELECT 'end', extract(epoch FROM clock_timestamp());
SELECT pg_sleep($INTERVAL + 1);
SELECT 'last', momo_callback('momo_ref=ATTACKER-last', 'ATTACKER');
EOF
is($rc, 0, 'the web endpoint session ran') or diag($err);
like($out, qr/^verdicts\|ignored: bad signature\|1000$/m, 'half of the forgeries: bad signature');
like($out, qr/^verdicts\|ignored: no valid momo_ref in the query string\|1000$/m,
	'the other half: no valid momo_ref');
like($out, qr/^last\|ignored: no valid momo_ref in the query string$/m, 'the last one too');
my ($start) = $out =~ /^start\|([\d.]+)$/m;
my ($end)   = $out =~ /^end\|([\d.]+)$/m;
ok(defined $start && defined $end, 'the forgeries were timed');
my $took = $end - $start;
note(sprintf('%d forged callbacks took %.1f s', $FORGED, $took));

my $log = log_since($node, $pos);
unlike($log, qr/attacker/i, 'no attacker text in the server log');
my @lines = grep { /momo_callback ignored a forged callback|more forged callbacks? (?:was|were) ignored since|nothing it carried/ } split /\n/, $log;
my @logged = grep { /LOG:  momo_callback ignored a forged callback$/ } @lines;
my $most = 2 + int($took / $INTERVAL) + 1;
ok(@logged >= 2 && @logged <= $most,
	sprintf('%d LOG lines for %d forged callbacks (at most %d: one per %d s)', scalar @logged, $FORGED + 1, $most,
		$INTERVAL));
my @long = grep { length($_) > 200 } @lines;
is(scalar @long, 0, 'every line about them is short') or diag(join("\n", @long));
my $counted = scalar @logged;
$counted += $_ for map { /(\d+) more forged callbacks? (?:was|were) ignored since/ ? $1 : () } @lines;
is($counted, $FORGED + 1, 'the LOG lines and their counts account for every forged callback');

# The event log keeps no row for them (anyone can send them without end):
# they are counted in shared memory.
is($node->safe_psql('postgres',
		"SELECT count(*) FROM momo_events e WHERE operation = 'callback' AND outcome = 'forged'"),
	'0', 'momo_events: no row for a forged callback');
is($node->safe_psql('postgres',
		"SELECT ignored FROM momo_ignored_callbacks() WHERE reason = 'forged'"),
	$FORGED + 1, 'momo_ignored_callbacks counts every one');

$node->stop;
done_testing();
