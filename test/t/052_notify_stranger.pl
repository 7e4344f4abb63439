
# 052_notify_stranger.pl - LISTEN and NOTIFY have no privileges: any role
# that can connect may listen on momo_payments, and may send there.  A role
# with no grants at all listens while two tenants (the README's RLS recipe)
# complete payments: each payload it receives has exactly the keys
# reference_id and status, and nothing else of either tenant (no external
# id, amount, msisdn, message).  It then sends a fake "successful" for a
# tenant's failed payment: the tenant's listener receives it, and doing what
# the README says (re-read the row before acting) it sees the truth.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use JSON::PP;
use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

start_sandbox();

my $node = momo_node('notify_stranger');
$node->safe_psql('postgres', q{
	CREATE EXTENSION momo;
	CREATE ROLE tenant_a LOGIN;
	CREATE ROLE tenant_b LOGIN;
	CREATE ROLE stranger LOGIN;
	GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
	                          momo_payment_status(uuid), momo_await(uuid, interval) TO tenant_a, tenant_b;
	GRANT SELECT ON momo_payments TO tenant_a, tenant_b;
	ALTER TABLE momo_payments ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_payments ON momo_payments FOR SELECT TO tenant_a, tenant_b
	    USING (requested_by = current_user);
});
my $wpid = wait_for_worker($node, timeout => 60);
ok($wpid, 'the worker runs');

sub session_as
{
	my ($role) = @_;
	return $node->background_psql('postgres', extra_params => [ '-U', $role ]);
}

# Runs a trivial query in $session until its output (notifications
# included) has $n "momo_payments" notifications, or 30 s pass; returns them
# as [payload, sender pid] pairs.
sub notifications
{
	my ($session, $n) = @_;
	my $out = '';
	my @got;
	my $deadline = time() + 30;
	while (time() < $deadline)
	{
		$out .= $session->query_safe('SELECT 1') . "\n";
		@got = ();
		while ($out =~ /Asynchronous notification "momo_payments" with payload "(.*)" received from server process with PID (\d+)\./g)
		{
			push @got, [ $1, $2 ];
		}
		last if @got >= $n;
		usleep(100_000);
	}
	return @got;
}

my $stranger = session_as('stranger');
$stranger->query_safe('LISTEN momo_payments');

my %ref;
for my $p ([ 'tenant_a', 'A-order-SECRET-1', '46733000001', '123.45', 'Groceries for Alice' ],
	[ 'tenant_b', 'B-order-SECRET-2', '46733123451', '678.90', 'Rent for Bob' ])
{
	my ($role, $ext, $msisdn, $amount, $message) = @$p;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT momo_request_to_pay($amount, 'EUR', '$msisdn', '$ext', payer_message => '$message')",
		extra_params => [ '-U', $role ]);
	is($rc, 0, "$role requested a payment") or diag($err);
	$ref{$role} = $out;
}
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT status FROM momo_await('$ref{tenant_a}', '30 seconds')", extra_params => [ '-U', 'tenant_a' ]);
is($out, 'successful', "tenant A's payment succeeded");
($rc, $out, $err) = $node->psql('postgres',
	"SELECT status FROM momo_await('$ref{tenant_b}', '30 seconds')", extra_params => [ '-U', 'tenant_b' ]);
is($out, 'failed', "tenant B's payment failed");

my @got = notifications($stranger, 2);
is(scalar(@got), 2, 'the stranger received two notifications');
my %status;
for my $g (@got)
{
	my ($payload, $pid) = @$g;
	my $j = eval { decode_json($payload) };
	ok(ref $j eq 'HASH', "payload is a JSON object: $payload");
	is(join(',', sort keys %$j), 'reference_id,status', 'its keys are exactly reference_id and status');
	is($pid, $wpid, 'sent by the momo worker');
	$status{ $j->{reference_id} } = $j->{status};
	unlike($payload, qr/SECRET|Alice|Bob|123\.45|678\.90|46733|tenant_/,
		'it carries no external id, message, amount, msisdn or role');
}
is_deeply(\%status, { $ref{tenant_a} => 'successful', $ref{tenant_b} => 'failed' },
	'one per payment, with its final status');
my ($src, undef, $serr) = $node->psql('postgres',
	"SELECT external_id FROM momo_payments WHERE reference_id = '$ref{tenant_a}'",
	extra_params => [ '-U', 'stranger' ]);
like($serr, qr/permission denied for table momo_payments/, 'the stranger cannot read the row');

# The fake: "tenant B's failed payment succeeded", and one for no payment.
my $listener = session_as('tenant_b');
$listener->query_safe('LISTEN momo_payments');
my $nowhere = '00000000-0000-4000-8000-000000000000';
$stranger->query_safe(qq{
	SELECT pg_notify('momo_payments', json_build_object('reference_id', '$ref{tenant_b}', 'status', 'successful')::text);
	SELECT pg_notify('momo_payments', json_build_object('reference_id', '$nowhere', 'status', 'successful')::text);
});
@got = notifications($listener, 2);
is(scalar(@got), 2, 'tenant B\'s listener received both fakes (any role may NOTIFY)');
isnt($got[0][1], $wpid, 'they did not come from the momo worker');
for my $g (@got)
{
	my $j = decode_json($g->[0]);
	is($j->{status}, 'successful', "the fake claims success for $j->{reference_id}");
	# what the README tells a listener to do: re-read the row before acting
	my $row = $listener->query_safe(
		"SELECT coalesce((SELECT status FROM momo_payments WHERE reference_id = '$j->{reference_id}'), 'no payment')");
	$row =~ s/\s+$//;
	is($row, $j->{reference_id} eq $nowhere ? 'no payment' : 'failed',
		're-reading the row shows the truth, not the payload');
}
is(payment_row($node, $ref{tenant_b})->{status}, 'failed', 'the fake changed nothing');
# and tenant A, re-reading tenant B's payment, does not see it at all
($rc, $out, $err) = $node->psql('postgres',
	"SELECT count(*) FROM momo_payments WHERE reference_id = '$ref{tenant_b}'", extra_params => [ '-U', 'tenant_a' ]);
is($out, '0', 'another tenant re-reading the row sees nothing');

$stranger->quit;
$listener->quit;
done_testing();
