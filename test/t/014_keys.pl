
# 014_keys.pl - subscription-key rotation at run time, per product.  The
# sandbox refuses a key and accepts it again (POST /_sandbox/keys) and
# counts the keys each product's calls carried; the server log shows each
# switch.  What must hold:
#   - a refused primary key sends the product to its secondary key, logged once;
#   - while the primary is still refused, a new token is asked for with the
#     primary first, refused, then the secondary: no switch, no payment held up;
#   - once MTN accepts the primary again, the next new token brings the
#     product back to it, logged once, and its calls carry the primary only;
#   - a refused secondary key sends the product back to its primary (it used
#     to stay on the refused key, and every payment of the product waited);
#   - a refusal answered to one product never changes another product's key,
#     also when SQL asks for the status of a payout;
#   - SQL's status checks of a pending remittance and a pending refund carry
#     their own product's key and token (MTN answers 200).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $K1 = $CRED{sub_key_primary};
my $K2 = $CRED{sub_key_secondary};

start_sandbox();
my $node = momo_node('keys', extra_conf => join("\n",
		"momo.disbursement_subscription_key_primary = '$K1'",
		"momo.disbursement_subscription_key_secondary = '$K2'",
		"momo.disbursement_api_user = '$CRED{api_user}'",
		"momo.disbursement_api_key = '$CRED{api_key}'",
		# Remittance's primary is collection's secondary: its calls tell by the key.
		"momo.remittance_subscription_key_primary = '$K2'",
		"momo.remittance_api_user = '$CRED{api_user}'",
		"momo.remittance_api_key = '$CRED{api_key}'"));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

my $switch_re = qr/MTN (?:refused|accepts) the (\w+) (primary|secondary) subscription key[^\n]*switching ([^\n]*)/;

# The key switches logged since $pos, as "product: what".
sub switches
{
	my ($pos) = @_;
	my @s;
	my $log = log_since($node, $pos);
	while ($log =~ /$switch_re/g)
	{
		push @s, "$1: $2 -> $3";
	}
	return join('; ', @s);
}

# Per product, the keys its calls carried since the last count reset:
# "K1 a/r, K2 a/r" (accepted/refused), keys named K1 and K2.
sub carried
{
	my ($product) = @_;
	my $seen = sandbox_get('/_sandbox/keys')->{seen}{$product};
	my %name = ($K1 => 'K1', $K2 => 'K2');
	return join(', ',
		map { ($name{$_} // $_) . " $seen->{$_}{accepted}/$seen->{$_}{refused}" }
		  sort { ($name{$a} // $a) cmp($name{$b} // $b) } keys %$seen);
}

sub refuse
{
	sandbox_post('/_sandbox/keys', { refuse => [@_] });
	sandbox_post('/_sandbox/reset-stats');
	return;
}

sub pay
{
	my ($what) = @_;
	my $ref = request_payment($node, external_id => $what, msisdn => '46733000200');
	return await_payment($node, $ref, seconds => 30)->{status};
}

is(pay('K-1'), 'successful', 'a payment with the primary key');
like(carried('collection'), qr/^K1 [1-9]\d*\/0$/, 'collection: every call with the primary key (' . carried('collection') . ')');

############################################################################
# MTN refuses the collection primary key (the worker holds a token of it).
my $pos = log_position($node);
refuse("collection=$K1");
is(pay('K-2'), 'successful', 'primary refused: the payment goes through');
is(switches($pos), 'collection: primary -> to the secondary key', 'the switch is logged, once');
like(carried('collection'), qr/^K1 0\/[1-9]\d*, K2 [1-9]\d*\/0$/,
	'collection: refused with K1, then everything with K2 (' . carried('collection') . ')');

# A new token is needed while the primary is still refused: asked for with
# the primary first (refused), then with the secondary.  No switch.
$pos = log_position($node);
refuse("collection=$K1");
sandbox_post('/_sandbox/expire-tokens');
is(pay('K-3'), 'successful', 'primary still refused, new token: the payment goes through');
is(switches($pos), '', 'no switch logged');
like(carried('collection'), qr/^K1 0\/1, K2 [1-9]\d*\/0$/,
	'collection: one token request tried K1 (refused), the rest used K2 (' . carried('collection') . ')');

# MTN accepts the primary again: the next new token brings collection back.
$pos = log_position($node);
refuse();
is(pay('K-4'), 'successful', 'primary accepted again, old token still valid: the payment goes through');
like(carried('collection'), qr/^K2 [1-9]\d*\/0$/,
	'collection: the token of the secondary key is used until it needs replacing (' . carried('collection') . ')');
sandbox_post('/_sandbox/expire-tokens');
sandbox_post('/_sandbox/reset-stats');
is(pay('K-5'), 'successful', 'new token: the payment goes through');
is(switches($pos), 'collection: primary -> back to it', 'the switch back is logged, once');
like(carried('collection'), qr/^K1 [1-9]\d*\/0, K2 1\/0$/,
	'collection: the call that met the expired token with K2, then everything with K1 (' . carried('collection') . ')');
sandbox_post('/_sandbox/reset-stats');
is(pay('K-6'), 'successful', 'another payment');
like(carried('collection'), qr/^K1 [1-9]\d*\/0$/, 'collection: the primary key only (' . carried('collection') . ')');

############################################################################
# The secondary key is refused while collection uses it (the incident: the
# primary refused once, the secondary refused later): collection goes back
# to its primary instead of waiting for ever.
refuse("collection=$K1");
sandbox_post('/_sandbox/expire-tokens');
is(pay('K-7'), 'successful', 'primary refused again: on the secondary key');
$pos = log_position($node);
refuse("collection=$K2");
is(pay('K-8'), 'successful', 'then the secondary refused: the payment goes through');
is(switches($pos), 'collection: secondary -> back to the primary key', 'the switch back is logged, once');
like(carried('collection'), qr/^K1 [1-9]\d*\/0, K2 0\/[1-9]\d*$/,
	'collection: refused with K2, then everything with K1 (' . carried('collection') . ')');
refuse();

############################################################################
# Products do not share key state.  Disbursement's primary is refused;
# collection's (the same key) is not.
$pos = log_position($node);
refuse("disbursement=$K1");
my $payout = $node->safe_psql('postgres', "SELECT momo_transfer(5, 'EUR', '46733000201', 'K-payout')");
is(await_payment($node, $payout, seconds => 30)->{status}, 'successful', 'a payout goes through');
# A payout MTN keeps pending (CREATED), whose status SQL asks for.
my $pending = $node->safe_psql('postgres', "SELECT momo_transfer(5, 'EUR', '46733123454', 'K-pending')");
ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$pending'",
		'pending', 30), 'a payout is pending');
my ($rc, $out, $err) = $node->psql('postgres', "SELECT status FROM momo_payment_status('$pending')");
is("rc $rc, $out", 'rc 0, pending',
	'momo_payment_status asks MTN about the pending payout, with its own credentials')
  or diag($err);
is(pay('K-9'), 'successful', 'a collection payment goes through');
is(switches($pos), 'disbursement: primary -> to the secondary key',
	'only disbursement switched, once; collection did not');
is(carried('collection') =~ /K2/ ? 'K2 used' : 'K1 only', 'K1 only',
	'collection kept its primary key (' . carried('collection') . ')');
like(carried('disbursement'), qr/^K1 0\/[1-9]\d*, K2 [1-9]\d*\/0$/,
	'disbursement: refused with K1, then K2 (' . carried('disbursement') . ')');
refuse();

############################################################################
# A pending remittance and a pending refund, whose status SQL asks for: each
# is asked about with its own product's credentials (remittance's key K2 and
# token; a refund is disbursement's, on whichever of its keys it is now), and
# MTN answers 200.  With another
# product's token MTN answers 401, and the row would say so.
{
	my $remit = $node->safe_psql('postgres', "SELECT momo_remittance_transfer(5, 'EUR', '46733123454', 'K-remit-pending')");
	ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$remit'",
			'pending', 30), 'a remittance is pending');
	my $paid = $node->safe_psql('postgres', "SELECT momo_request_to_pay(7, 'EUR', '46733000202', 'K-to-refund')");
	is(await_payment($node, $paid, seconds => 30)->{status}, 'successful', 'a payment to refund');
	# MTN keeps the refund pending for ten minutes.
	sandbox_post('/_sandbox/config', { pending_ms => 600000 });
	my $refund = $node->safe_psql('postgres', "SELECT momo_refund('$paid', NULL, 'K-refund-pending')");
	ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$refund'",
			'pending', 30), 'a refund is pending');
	my $switches_pos = log_position($node);
	for my $case ([$remit, 'remittance', qr/^K2 [1-9]\d*\/0$/], [$refund, 'refund', qr/^K[12] [1-9]\d*\/0$/])
	{
		my ($ref, $what, $keys) = @$case;
		my $product = $what eq 'refund' ? 'disbursement' : $what;
		my $gets = sandbox_get("/_sandbox/requests/$ref")->{status_gets};
		sandbox_post('/_sandbox/reset-stats');
		($rc, $out, $err) = $node->psql('postgres',
			"SELECT status, last_http_status FROM momo_payment_status('$ref')");
		is("rc $rc, $out", 'rc 0, pending|200', "momo_payment_status asks MTN about the pending $what: 200")
		  or diag($err);
		unlike($err, qr/MTN gave no status/, '... and MTN gave its status');
		cmp_ok(sandbox_get("/_sandbox/requests/$ref")->{status_gets}, '>', $gets, '... MTN counted the GET');
		like(carried($product), $keys, "... with ${product}'s key only (" . carried($product) . ')');
		is(carried('collection'), '', '... none with collection\'s');
	}
	is(switches($switches_pos), '', 'no key switched');
	sandbox_post('/_sandbox/config', { pending_ms => 0 });
}

############################################################################
# momo_preflight asks the Provisioning API for the callback host MTN has
# registered with the secondary key while the primary is refused, as the
# token check does (a red team found the row failed with a bare HTTP 401).
refuse($K1);
my $host_row = $node->safe_psql('postgres',
	"SELECT ok, detail FROM momo_preflight() WHERE check_name = 'callback host (disbursement)'");
like($host_row, qr/^t\|MTN has localhost registered/,
	"the callback host row with the primary key refused: asked with the secondary ($host_row)");
like(carried('disbursement'), qr/K2 [1-9]\d*\/0/, '... which MTN accepted (' . carried('disbursement') . ')');
refuse();

$node->stop;
done_testing();
