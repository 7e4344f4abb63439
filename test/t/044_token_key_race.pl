
# 044_token_key_race.pl - a token fetch in flight does not undo a switch of
# subscription key.
#
# A token fetch begun in the background with the primary key lands after a
# call's 401 ("key refused") switched the product to its secondary key.  It
# used to switch the product back to the refused primary key ("MTN accepts
# the collection primary subscription key again"): the call parked for that
# fetch was repeated with the refused key, answered 401 again, and that
# counted a send of the payment.  A fetch overtaken by a switch is now
# dropped (no token stored, no key switched, no failure counted) and made
# again with the key the product uses.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $K1 = $CRED{sub_key_primary};

start_sandbox();
my $node = momo_node('token_key_race', extra_conf => "momo.request_timeout = '30s'");
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

sub token_log { return sandbox_get('/_sandbox/token-requests') // [] }

sub status_of
{
	my ($ref) = @_;
	my $row = await_payment($node, $ref, seconds => 60);
	return $row ? $row->{status} : 'none';
}

# Tokens of 20 s, due for refresh halfway through their life.
sandbox_post('/_sandbox/config', { token_delay_ms => 0, token_lifetime => 20 });
is(status_of(request_payment($node, msisdn => '46733000200', external_id => 'k-0')), 'successful',
	'a collection payment with the primary key');

# A refresh with the primary key, answered 3 s late: the next payment
# starts it once the token, fetched before k-0 was sent, is over 10 s old.
my $due_at = time() + 10.5;
sandbox_post('/_sandbox/config', { token_delay_ms => 3000 });
usleep(100_000) while time() < $due_at;
my $mark = scalar @{ token_log() };
my $k1 = request_payment($node, msisdn => '46733000200', external_id => 'k-1');
my $in_flight = 0;
my $deadline = time() + 30;
while (!$in_flight && time() < $deadline)
{
	my @log = @{ token_log() };
	$in_flight = grep { $_->{product} eq 'collection' && $_->{answered_event} == 0 } @log[ $mark .. $#log ];
	usleep(20_000) unless $in_flight;
}
ok($in_flight, 'a collection token refresh (primary key) is in flight');

# MTN now refuses the primary key; a payment goes out with it meanwhile.
my $pos = log_position($node);
sandbox_post('/_sandbox/keys', { refuse => [$K1] });
my $k2 = request_payment($node, msisdn => '46733000200', external_id => 'k-2');
is(status_of($k2), 'successful', 'the payment that met the refused key is successful');
my $row = payment_row($node, $k2);
is("$row->{attempts}/$row->{retries}", '1/0',
	'one attempt, no retry: its 401 was repeated with the secondary key');
my $log = log_since($node, $pos);
is(count_matches($log, qr/accepts the collection primary subscription key again/), 0,
	'no switch back to the primary key MTN just refused');

$node->stop;
done_testing();
