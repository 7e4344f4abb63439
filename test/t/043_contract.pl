
# 043_contract.pl - every request momo sends is checked against MTN's own
# definition files (a contract test).  Every operation momo has is driven
# from SQL to its final row or answer against the sandbox, which records
# each request it receives (GET /_sandbox/recorded); then each recorded
# request is validated with MomoSpec.pm against the operation of
# t/momo-api-spec/ it is for: it must be one, with the required headers, a
# UUID v4 reference id and a body that conforms to the operation's schema.
# Deliberately broken requests prove the validator reports what it must.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Encode ();
use JSON::PP;
use MomoSpec;
use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $spec = MomoSpec->new;

start_sandbox();
my $node = momo_node('contract', extra_conf => join("\n",
		map {
			("momo.${_}_subscription_key_primary = '$CRED{sub_key_primary}'",
			 "momo.${_}_api_user = '$CRED{api_user}'",
			 "momo.${_}_api_key = '$CRED{api_key}'")
		} qw(disbursement remittance)));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'a momo worker runs');
sandbox_post('/_sandbox/recorded/reset', '{}');

my $UUID4 = qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

# Each payment operation, from SQL to its final row.
sub final_payment
{
	my ($what, $sql, $status) = @_;
	my $ref = $node->safe_psql('postgres', "SELECT $sql");
	like($ref, $UUID4, "$what: a reference id");
	my $row = await_payment($node, $ref, seconds => 30);
	is($row->{status}, $status // 'successful', "$what: the payment ends " . ($status // 'successful'));
	return $ref;
}

my $rtp = final_payment('request to pay',
	"momo_request_to_pay(1500, 'EUR', '46733000001', 'contract-rtp', 'Thanks for shopping', 'Order 42')");
final_payment('request to pay, optional arguments left out',
	"momo_request_to_pay(12.50, 'EUR', '46733000005')");
final_payment('transfer', "momo_transfer(250, 'EUR', '46733000002', 'contract-tr', 'Salary', 'June')");
final_payment('deposit', "momo_deposit(200, 'EUR', '46733000003', 'contract-dep')");
final_payment('refund', "momo_refund('$rtp', amount => 500, external_id => 'contract-ref', "
	  . "payer_message => 'Partial refund', payee_note => 'Returned item')");
final_payment('remittance transfer', "momo_remittance_transfer(100, 'EUR', '46733000004', 'contract-rem')");
my $ct = final_payment('cash transfer',
	"momo_cash_transfer(150, 'EUR', '46733000009', 'contract-ct', 'From Paris', 'Family', "
	  . "originating_country => 'FR', original_amount => 160.5, original_currency => 'USD', "
	  . "payer_identification_type => 'PASS', payer_identification_number => 'X1234567', "
	  . "payer_identity => 'Jean Dupont', payer_first_name => 'Jean', payer_surname => 'Dupont', "
	  . "payer_language_code => 'fr', payer_email => 'jean\@example.fr', payer_msisdn => '33612345678', "
	  . "payer_gender => 'M')");
my $dep2 = final_payment('deposit, version 2',
	"momo_deposit(201, 'EUR', '46733000008', 'contract-dep2', 'Float', 'Agent 8', version => 2)");
my $ref2 = final_payment('refund, version 2', "momo_refund('$rtp', amount => 50, external_id => 'contract-ref2', "
	  . "payer_message => 'Partial refund', payee_note => 'Returned item', version => 2)");
my $wd1 = final_payment('request to withdraw, version 1',
	"momo_request_to_withdraw(300, 'EUR', '46733000006', 'contract-wd1', 'Cash out', 'Agent 7')");
my $wd2 = final_payment('request to withdraw, version 2',
	"momo_request_to_withdraw(301, 'EUR', '46733000007', 'contract-wd2', 'Cash out', 'Agent 7', version => 2)");
# Pre-approvals (v2), by each of MTN's Party types.
my $pa = final_payment('pre-approval',
	"momo_preapproval('46733000010', 'EUR', 'Monthly plan', interval '30 days', 'contract-pa')");
my $pa_email = final_payment('pre-approval by email',
	"momo_preapproval('jane.doe+box\@example.com', 'EUR', external_id => 'contract-pa2', id_type => 'email')");
final_payment('pre-approval by party code',
	"momo_preapproval('0f8fad5b-d9cb-469f-a165-70867728950e', 'EUR', 'Weekly', interval '7 days', 'contract-pa3', 'party_code')");

# Collection's invoices and payments (v2 only): an invoice with every member,
# paid; one cancelled while MTN keeps it open (46733123454 stays CREATED); a
# payment to a service provider with every member.
my $inv = final_payment('invoice',
	"momo_create_invoice(120, 'EUR', '46733000010', 'contract-inv', validity_duration => 3600, "
	  . "description => 'Order 43', payee_msisdn => '46733000011')");
my $inv_cancelled;
{
	$inv_cancelled = $node->safe_psql('postgres',
		"SELECT momo_create_invoice(121, 'EUR', '46733123454', 'contract-inv-cancel')");
	poll_until($node, 'postgres',
		"SELECT status FROM momo_payments WHERE reference_id = '$inv_cancelled'", 'pending', 30)
	  or diag('the invoice did not become pending');
	is($node->safe_psql('postgres', "SELECT status || ' ' || reason FROM momo_cancel_invoice('$inv_cancelled')"),
		'failed TRANSACTION_CANCELED', 'momo_cancel_invoice cancels a pending invoice');
}
my $pay = final_payment('payment',
	"momo_create_payment(13.5, 'EUR', '46733000012', 'Airtime Co', 'contract-pay', coupon_id => 'C-1', "
	  . "product_id => 'AIR', product_offering_id => 'AIR-10', receiver_message => 'Top-up', "
	  . "sender_note => 'For mum', max_number_of_retries => 2, include_sender_charges => false)");

# Every request that names a payer or payee, with the party given by EMAIL
# and by PARTY_CODE (id_type): all queued first, then followed to the end;
# the refunds pay back payers named so.
my %party_ids = (email => 'jane.doe+momo@example.com', party_code => '0f8fad5b-d9cb-469f-a165-70867728950e');
my %party_refs;
for my $t (sort keys %party_ids)
{
	my $id = $party_ids{$t};
	my $x = "contract-$t";
	my %calls = (
		'request to pay' => "momo_request_to_pay(15, 'EUR', '$id', '$x-rtp', id_type => '$t')",
		'request to withdraw, version 1' => "momo_request_to_withdraw(16, 'EUR', '$id', '$x-wd1', id_type => '$t')",
		'request to withdraw, version 2' =>
		  "momo_request_to_withdraw(17, 'EUR', '$id', '$x-wd2', version => 2, id_type => '$t')",
		'transfer' => "momo_transfer(18, 'EUR', '$id', '$x-tr', id_type => '$t')",
		'deposit' => "momo_deposit(19, 'EUR', '$id', '$x-dep', id_type => '$t')",
		'deposit, version 2' => "momo_deposit(20, 'EUR', '$id', '$x-dep2', version => 2, id_type => '$t')",
		'remittance transfer' => "momo_remittance_transfer(21, 'EUR', '$id', '$x-rem', id_type => '$t')",
		'cash transfer' =>
		  "momo_cash_transfer(22, 'EUR', '$id', '$x-ct', originating_country => 'FR', id_type => '$t')",
		'invoice' => "momo_create_invoice(23, 'EUR', '$id', '$x-inv', id_type => '$t')");
	$party_refs{$t}{$_} = $node->safe_psql('postgres', "SELECT $calls{$_}") for keys %calls;
}
# the final status of a payment and the party id type its row keeps
sub status_and_type
{
	my ($ref) = @_;
	my $row = await_payment($node, $ref, seconds => 30);
	return ($row->{status} // '<none>') . ' '
	  . $node->safe_psql('postgres', "SELECT party_id_type FROM momo_payments WHERE reference_id = '$ref'");
}
for my $t (sort keys %party_refs)
{
	for my $what (sort keys %{ $party_refs{$t} })
	{
		is(status_and_type($party_refs{$t}{$what}), "successful $t", "$what, the party by $t: successful");
	}
	for my $v (1, 2)
	{
		my $ref = $node->safe_psql('postgres',
			"SELECT momo_refund('$party_refs{$t}{'request to pay'}', 1, 'contract-$t-ref$v', version => $v)");
		is(status_and_type($ref), "successful $t", "refund, version $v, the party by $t: successful");
		$party_refs{$t}{"refund, version $v"} = $ref;
	}
}

# A payment MTN keeps pending (46733123454 stays CREATED): momo_payment_status
# asks MTN.
{
	my $ref = $node->safe_psql('postgres', "SELECT momo_request_to_pay(100, 'EUR', '46733123454')");
	poll_until($node, 'postgres',
		"SELECT status FROM momo_payments WHERE reference_id = '$ref'", 'pending', 30)
	  or diag('the payment did not become pending');
	my $before = sandbox_get("/_sandbox/requests/$ref")->{status_gets};
	is($node->safe_psql('postgres', "SELECT status FROM momo_payment_status('$ref')"), 'pending',
		'momo_payment_status of a payment MTN keeps pending: pending');
	cmp_ok(sandbox_get("/_sandbox/requests/$ref")->{status_gets}, '>', $before,
		'MTN was asked for its status again (by momo_payment_status, or the worker meanwhile)');
}

is($node->safe_psql('postgres', "SELECT momo_delivery_notification('$rtp', 'Your order has shipped')"),
	'', 'momo_delivery_notification is taken');
is($node->safe_psql('postgres', "SELECT momo_delivery_notification('$rtp', 'Ibicuruzwa byoherejwe', 'rw')"),
	'', 'momo_delivery_notification in a language (the Language header) is taken');
for my $p (qw(collection disbursement remittance))
{
	like($node->safe_psql('postgres', "SELECT available_balance || ' ' || currency FROM momo_balance('$p')"),
		qr/^\d+(\.\d+)? EUR$/, "momo_balance('$p') answers");
	like($node->safe_psql('postgres', "SELECT available_balance || ' ' || currency FROM momo_balance('$p', 'EUR')"),
		qr/^\d+(\.\d+)? EUR$/, "momo_balance('$p', 'EUR') answers");
	is($node->safe_psql('postgres', "SELECT momo_account_holder_active('46733000001', '$p')"),
		't', "momo_account_holder_active(..., '$p') answers true");
	isnt($node->safe_psql('postgres',
			"SELECT given_name FROM momo_account_holder_info('46733000001', '$p')"),
		'', "momo_account_holder_info(..., '$p') answers");
	# an account holder named by email or party code
	is($node->safe_psql('postgres', "SELECT momo_account_holder_active('jane+shop\@example.com', '$p', 'email')"),
		't', "momo_account_holder_active(..., '$p', 'email') answers true");
	is($node->safe_psql('postgres',
			"SELECT momo_account_holder_active('0f8fad5b-d9cb-469f-a165-70867728950e', '$p', 'party_code')"),
		't', "momo_account_holder_active(..., '$p', 'party_code') answers true");
	next if $p eq 'remittance';    # its basicuserinfo takes an msisdn only
	isnt($node->safe_psql('postgres',
			"SELECT given_name FROM momo_account_holder_info('jane\@example.com', '$p', 'email')"),
		'', "momo_account_holder_info(..., '$p', 'email') answers");
}
# The consent flow of every product: bc-authorize, the OAuth2 token polled
# until the account holder consents, userinfo with that token.  Every
# statement and debug message is logged meanwhile, to look for the tokens
# in the log below.
$node->append_conf('postgresql.conf', "log_statement = 'all'\nlog_min_messages = debug1");
$node->reload;
for my $p (qw(collection disbursement remittance))
{
	is($node->safe_psql('postgres',
			"SELECT sub || ' ' || (given_name IS NOT NULL) || ' ' || phone_number "
			  . "FROM momo_user_info_with_consent('46733000001', 'profile phone', '$p')"),
		'46733000001 true +46733000001', "momo_user_info_with_consent(..., '$p') answers, with the consent");
}
$node->append_conf('postgresql.conf', "log_statement = 'none'\nlog_min_messages = warning");
$node->reload;
# A payer's approved pre-approvals, by msisdn and email; one cancelled.
is($node->safe_psql('postgres', "SELECT preapproval_id FROM momo_approved_preapprovals('46733000010')"),
	$pa, 'momo_approved_preapprovals lists the approved pre-approval of a number');
is($node->safe_psql('postgres',
		"SELECT preapproval_id FROM momo_approved_preapprovals('jane.doe+box\@example.com', 'email')"),
	$pa_email, 'momo_approved_preapprovals lists the approved pre-approval of an email');
is($node->safe_psql('postgres', "SELECT momo_cancel_preapproval('$pa')"), '', 'momo_cancel_preapproval is taken');
is($node->safe_psql('postgres', "SELECT count(*) FROM momo_approved_preapprovals('46733000010')"),
	'0', 'the cancelled pre-approval is no longer listed');
like($node->safe_psql('postgres', "SELECT api_user FROM momo_sandbox_provision('localhost')"),
	$UUID4, 'momo_sandbox_provision creates an API user (the Provisioning API)');
is($node->safe_psql('postgres', "SELECT ok FROM momo_preflight() WHERE check_name = 'callback host (collection)'"),
	't', "momo_preflight reads the API user's callback host (the Provisioning API)");

############################################################################
# Every recorded request against the definition files.
my $rec = sandbox_get('/_sandbox/recorded');
# kept beside the logs, to read what momo sent
{
	my $file = "$PostgreSQL::Test::Utils::log_path/043_contract_recorded.json";
	open my $fh, '>:raw', $file or die "cannot write $file: $!";
	print $fh JSON::PP->new->utf8->canonical->pretty->encode($rec);
	close $fh;
	note("the recorded requests are in $file");
}
is($rec->{dropped}, 0, "the sandbox kept every request ($rec->{received})");
my (%by_kind, @unknown);
for my $req (@{ $rec->{requests} })
{
	my $r = $spec->check($req);
	if (!defined $r->{operation})
	{
		push @unknown, "$req->{method} $req->{path}: @{ $r->{problems} }";
		next;
	}
	my $k = $by_kind{ $r->{operation} } //= { n => 0, problems => {}, sources => $r->{sources} };
	$k->{n}++;
	$k->{problems}{$_} //= "$req->{method} $req->{path} (request $req->{seq}): $_" for @{ $r->{problems} };
}
is(scalar @unknown, 0, 'every recorded request is an operation of the definition files')
  or diag(join("\n", @unknown));
for my $kind (sort keys %by_kind)
{
	my $k = $by_kind{$kind};
	my @p = sort values %{ $k->{problems} };
	is(scalar @p, 0, "$kind: $k->{n} request(s) conform to " . join('; ', @{ $k->{sources} }))
	  or diag(join("\n", @p));
}

# Every operation momo has was driven (so none escapes the check).
my @expected = (
	(map { ("$_ POST /token/", "$_ GET /v1_0/account/balance", "$_ GET /v1_0/account/balance/{currency}") }
	  qw(collection disbursement remittance)),
	'collection POST /v1_0/requesttopay',
	'collection GET /v1_0/requesttopay/{referenceId}',
	'collection POST /v1_0/requesttopay/{referenceId}/deliverynotification',
	'collection GET /v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/active',
	'collection GET /v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/basicuserinfo',
	'collection POST /v1_0/requesttowithdraw',
	'collection POST /v2_0/requesttowithdraw',
	'collection GET /v1_0/requesttowithdraw/{referenceId}',
	'collection POST /v2_0/invoice',
	'collection GET /v2_0/invoice/{x-referenceId}',
	'collection DELETE /v2_0/invoice/{referenceId}',
	'collection POST /v2_0/payment',
	'collection GET /v2_0/payment/{x-referenceId}',
	'collection POST /v2_0/preapproval',
	'collection GET /v2_0/preapproval/{referenceId}',
	'collection GET /v1_0/preapprovals/{accountHolderIdType}/{accountHolderId}',
	'collection DELETE /v1_0/preapproval/{preapprovalid}',
	'disbursement POST /v1_0/transfer',
	'disbursement GET /v1_0/transfer/{referenceId}',
	'disbursement POST /v1_0/deposit',
	'disbursement GET /v1_0/deposit/{referenceId}',
	'disbursement POST /v2_0/deposit',
	'disbursement POST /v1_0/refund',
	'disbursement POST /v2_0/refund',
	'disbursement GET /v1_0/refund/{referenceId}',
	'disbursement GET /v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/active',
	'disbursement GET /v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/basicuserinfo',
	'remittance POST /v1_0/transfer',
	'remittance GET /v1_0/transfer/{referenceId}',
	'remittance POST /v2_0/cashtransfer',
	'remittance GET /v2_0/cashtransfer/{referenceId}',
	'remittance GET /v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/active',
	'remittance GET /v1_0/accountholder/msisdn/{accountHolderMSISDN}/basicuserinfo',
	(map { ("$_ POST /v1_0/bc-authorize", "$_ POST /oauth2/token/", "$_ GET /oauth2/v1_0/userinfo") }
	  qw(collection disbursement remittance)),
	'provisioning POST /v1_0/apiuser',
	'provisioning POST /v1_0/apiuser/{X-Reference-Id}/apikey',
	'provisioning GET /v1_0/apiuser/{X-Reference-Id}');
my @missing = grep { !$by_kind{$_} } @expected;
is(scalar @missing, 0, 'every operation momo has was sent and checked (' . scalar(@expected) . ')')
  or diag("not seen:\n" . join("\n", @missing) . "\nseen:\n" . join("\n", sort keys %by_kind));

# The optional members were really sent, and checked.
my ($rtp_req) = grep {
	$_->{method} eq 'POST' && $_->{path} eq '/collection/v1_0/requesttopay'
	  && ($_->{headers}{'X-Reference-Id'} // '') eq $rtp
} @{ $rec->{requests} };
ok($rtp_req, 'the request to pay was recorded');
my $rtp_body = $rtp_req ? JSON::PP::decode_json(Encode::encode('UTF-8', $rtp_req->{body})) : {};
is(join('|', map { $rtp_body->{$_} // '<none>' } qw(amount currency externalId payerMessage payeeNote)),
	'1500|EUR|contract-rtp|Thanks for shopping|Order 42',
	'the request to pay carried payerMessage and payeeNote, amount as a string');
# Each request naming a party by email or party code sent it as MTN's Party
# (checked above against the definitions with the others), every time.
for my $t (sort keys %party_refs)
{
	my $type = uc $t;
	for my $what (sort keys %{ $party_refs{$t} })
	{
		my $ref = $party_refs{$t}{$what};
		my @posts = grep {
			$_->{method} eq 'POST' && ($_->{headers}{'X-Reference-Id'} // '') eq $ref
		} @{ $rec->{requests} };
		my @parties = map {
			my $b = JSON::PP::decode_json(Encode::encode('UTF-8', $_->{body}));
			my $p = $b->{payer} // $b->{payee} // $b->{intendedPayer} // {};
			($p->{partyIdType} // '<none>') . ' ' . ($p->{partyId} // '<none>')
		} @posts;
		ok(@parties && !grep({ $_ ne "$type $party_ids{$t}" } @parties),
			"$what: every POST named its party as $type $party_ids{$t}")
		  or diag(join("\n", @parties));
	}
}

# A request to withdraw went to the version asked for, with its payer, and
# its status was asked at /v1_0 (the only version of the status check).
for my $wd ([ $wd1, 1, 'contract-wd1|46733000006|300' ], [ $wd2, 2, 'contract-wd2|46733000007|301' ])
{
	my ($ref, $v, $terms) = @$wd;
	my @posts = grep {
		$_->{method} eq 'POST' && ($_->{headers}{'X-Reference-Id'} // '') eq $ref
	} @{ $rec->{requests} };
	ok(@posts && !grep({ $_->{path} ne "/collection/v${v}_0/requesttowithdraw" } @posts),
		"the request to withdraw of version $v was POSTed to /collection/v${v}_0/requesttowithdraw, every time");
	my $body = @posts ? JSON::PP::decode_json(Encode::encode('UTF-8', $posts[0]{body})) : {};
	is(join('|', map { $_ // '<none>' } $body->{externalId}, $body->{payer}{partyId}, $body->{amount},
			$body->{payerMessage}, $body->{payeeNote}, $body->{payee}),
		"$terms|Cash out|Agent 7|<none>", "the request to withdraw of version $v named its payer, no payee");
	ok((grep { $_->{method} eq 'GET' && $_->{path} eq "/collection/v1_0/requesttowithdraw/$ref" }
			@{ $rec->{requests} }),
		"the request to withdraw of version $v was followed at /collection/v1_0/requesttowithdraw/{referenceId}");
}

# A deposit and a refund of version 2 went to /v2_0, every time, with the
# body of version 1, and were followed at /v1_0.
for my $p ([ $dep2, 'deposit', 'contract-dep2|46733000008|201|<none>' ],
	[ $ref2, 'refund', "contract-ref2|46733000001|50|$rtp" ])
{
	my ($ref, $op, $terms) = @$p;
	my @posts = grep {
		$_->{method} eq 'POST' && ($_->{headers}{'X-Reference-Id'} // '') eq $ref
	} @{ $rec->{requests} };
	ok(@posts && !grep({ $_->{path} ne "/disbursement/v2_0/$op" } @posts),
		"the $op of version 2 was POSTed to /disbursement/v2_0/$op, every time");
	my $body = @posts ? JSON::PP::decode_json(Encode::encode('UTF-8', $posts[0]{body})) : {};
	is(join('|', map { $_ // '<none>' } $body->{externalId}, $body->{payee}{partyId}, $body->{amount},
			$body->{referenceIdToRefund}),
		$terms, "the $op of version 2 named its payee" . ($op eq 'refund' ? ' and the refunded payment' : ''));
	ok((grep { $_->{method} eq 'GET' && $_->{path} eq "/disbursement/v1_0/$op/$ref" } @{ $rec->{requests} }),
		"the $op of version 2 was followed at /disbursement/v1_0/$op/{referenceId}");
}

# The cash transfer carried its payee and every member of the originating
# side, and was followed at /v2_0/cashtransfer/{referenceId}.
{
	my ($post) = grep {
		$_->{method} eq 'POST' && ($_->{headers}{'X-Reference-Id'} // '') eq $ct
	} @{ $rec->{requests} };
	is($post && $post->{path}, '/remittance/v2_0/cashtransfer', 'the cash transfer was POSTed to /remittance/v2_0/cashtransfer');
	my $body = $post ? JSON::PP::decode_json(Encode::encode('UTF-8', $post->{body})) : {};
	is(join('|', map { $body->{$_} // '<none>' }
			qw(amount externalId orginatingCountry originalAmount originalCurrency payerIdentificationType
			  payerIdentificationNumber payerIdentity payerFirstName payerSurName payerLanguageCode payerEmail
			  payerMsisdn payerGender)),
		'150|contract-ct|FR|160.5|USD|PASS|X1234567|Jean Dupont|Jean|Dupont|fr|jean@example.fr|33612345678|M',
		'the cash transfer carried every member of its originating side, as strings');
	is($body->{payee} && $body->{payee}{partyId}, '46733000009', 'the cash transfer named its payee');
	ok((grep { $_->{method} eq 'GET' && $_->{path} eq "/remittance/v2_0/cashtransfer/$ct" } @{ $rec->{requests} }),
		'the cash transfer was followed at /remittance/v2_0/cashtransfer/{referenceId}');
}

# The invoice carried its intended payer and every member of its own, the
# payment its own shape; the cancellation had a reference id of its own and
# the invoice's externalId; each was followed at /v2_0/.../{referenceId}.
{
	my ($post) = grep {
		$_->{method} eq 'POST' && ($_->{headers}{'X-Reference-Id'} // '') eq $inv
	} @{ $rec->{requests} };
	is($post && $post->{path}, '/collection/v2_0/invoice', 'the invoice was POSTed to /collection/v2_0/invoice');
	my $body = $post ? JSON::PP::decode_json(Encode::encode('UTF-8', $post->{body})) : {};
	is(join('|', map { $_ // '<none>' } @$body{qw(amount currency externalId validityDuration description)},
			$body->{intendedPayer}{partyId}, $body->{payee}{partyId}, $body->{payer}),
		'120|EUR|contract-inv|3600|Order 43|46733000010|46733000011|<none>',
		'the invoice carried its intended payer, payee, validity and description');
	ok((grep { $_->{method} eq 'GET' && $_->{path} eq "/collection/v2_0/invoice/$inv" } @{ $rec->{requests} }),
		'the invoice was followed at /collection/v2_0/invoice/{referenceId}');
	my ($del) = grep { $_->{method} eq 'DELETE' && $_->{path} =~ m{/v2_0/invoice/} } @{ $rec->{requests} };
	is($del && $del->{path}, "/collection/v2_0/invoice/$inv_cancelled", 'the cancellation was a DELETE of the invoice');
	my $xref = $del ? $del->{headers}{'X-Reference-Id'} // '' : '';
	ok($xref =~ $UUID4 && $xref ne $inv_cancelled, 'the cancellation had a reference id of its own');
	is($del && $del->{body}, '{"externalId":"contract-inv-cancel"}', "the cancellation named the invoice's externalId");
	# What the payer quotes: the definition's InvoiceResult has paymentReference
	# and invoiceId, and each invoice's row keeps them as MTN's status answers
	# gave them (the paid one and the cancelled one, both final).
	my $result = do
	{
		open my $fh, '<:raw', "$FindBin::RealBin/momo-api-spec/collection.openapi3.json" or die $!;
		local $/;
		JSON::PP->new->utf8->decode(<$fh>)->{components}{schemas}{InvoiceResult}{properties};
	};
	is(join(' ', map { exists $result->{$_} ? $_ : "<no $_>" } qw(paymentReference invoiceId expiryDateTime)),
		'paymentReference invoiceId expiryDateTime', "MTN's InvoiceResult has the members momo keeps");
	for my $r ($inv, $inv_cancelled)
	{
		my $s = sandbox_get("/_sandbox/payments/$r");
		is($node->safe_psql('postgres',
				"SELECT payment_reference || ' ' || invoice_id FROM momo_payments WHERE reference_id = '$r'"),
			join(' ', $s->{paymentReference} // '<none>', $s->{invoiceId} // '<none>'),
			"the invoice's row keeps MTN's paymentReference and invoiceId ($r)");
	}
	($post) = grep {
		$_->{method} eq 'POST' && ($_->{headers}{'X-Reference-Id'} // '') eq $pay
	} @{ $rec->{requests} };
	is($post && $post->{path}, '/collection/v2_0/payment', 'the payment was POSTed to /collection/v2_0/payment');
	$body = $post ? JSON::PP::decode_json(Encode::encode('UTF-8', $post->{body})) : {};
	is(join('|', map { $_ // '<none>' } @$body{qw(externalTransactionId customerReference serviceProviderUserName
			  couponId productId productOfferingId receiverMessage senderNote maxNumberOfRetries)},
			$body->{money}{amount}, $body->{money}{currency}, JSON::PP::is_bool($body->{includeSenderCharges})
			  && !$body->{includeSenderCharges} ? 'false' : '<not false>', $body->{amount}),
		'contract-pay|46733000012|Airtime Co|C-1|AIR|AIR-10|Top-up|For mum|2|13.5|EUR|false|<none>',
		'the payment carried money, its customer reference and every optional member');
	ok((grep { $_->{method} eq 'GET' && $_->{path} eq "/collection/v2_0/payment/$pay" } @{ $rec->{requests} }),
		'the payment was followed at /collection/v2_0/payment/{referenceId}');
}

# The pre-approval carried MTN's PreApproval members (no amount), every
# time to /v2_0/preapproval, was followed at /v2_0/preapproval/{referenceId}
# and cancelled at /v1_0/preapproval/{id}.
{
	my @posts = grep {
		$_->{method} eq 'POST' && ($_->{headers}{'X-Reference-Id'} // '') eq $pa
	} @{ $rec->{requests} };
	ok(@posts && !grep({ $_->{path} ne '/collection/v2_0/preapproval' } @posts),
		'the pre-approval was POSTed to /collection/v2_0/preapproval, every time');
	my $body = @posts ? JSON::PP::decode_json(Encode::encode('UTF-8', $posts[0]{body})) : {};
	is(JSON::PP->new->canonical->encode($body),
		'{"payer":{"partyId":"46733000010","partyIdType":"MSISDN"},"payerCurrency":"EUR",'
		  . '"payerMessage":"Monthly plan","validityTime":2592000}',
		'the pre-approval carried its payer, currency, message and validityTime (an integer), no amount');
	ok((grep { $_->{method} eq 'GET' && $_->{path} eq "/collection/v2_0/preapproval/$pa" } @{ $rec->{requests} }),
		'the pre-approval was followed at /collection/v2_0/preapproval/{referenceId}');
	ok((grep { $_->{method} eq 'DELETE' && $_->{path} eq "/collection/v1_0/preapproval/$pa" } @{ $rec->{requests} }),
		'the pre-approval was cancelled with DELETE /collection/v1_0/preapproval/{preapprovalid}');
}

my ($dn_req) = grep { $_->{path} =~ m{/deliverynotification$} } @{ $rec->{requests} };
is($dn_req && $dn_req->{headers}{notificationMessage}, 'Your order has shipped',
	'the delivery notification carried the notificationMessage header the definition requires');

# No secret reached the record.
my $text = JSON::PP->new->canonical->encode($rec);
ok($text !~ /\Q$CRED{sub_key_primary}\E|\Q$CRED{api_key}\E/, 'no secret in the recorded requests');

# The consent flow: each product's bc-authorize carried the account holder
# and the scope as a form, its token requests CIBA's grant and the
# auth_req_id bc-authorize answered, polled until the consent (three polls:
# none answered slow_down); and none of the OAuth2 and refresh tokens the
# sandbox issued reached the server log, momo_events or the record.
{
	my $consent = sandbox_get('/_sandbox/consent');
	is(join(' ', map { "$_->{msisdn}:$_->{scope}:$_->{polls}:" . ($_->{granted} ? 'granted' : 'not granted') }
			sort { $a->{auth_req_id} cmp $b->{auth_req_id} } @{ $consent->{requests} }),
		join(' ', ('46733000001:profile phone:3:granted') x 3),
		'three consents, each granted at the third poll');
	for my $p (qw(collection disbursement remittance))
	{
		my ($bc) = grep { $_->{path} eq "/$p/v1_0/bc-authorize" } @{ $rec->{requests} };
		is($bc && $bc->{body}, 'login_hint=ID%3A46733000001%2FMSISDN&scope=profile%20phone&access_type=online',
			"$p: bc-authorize named the account holder and the scope, online access");
		my @polls = grep { $_->{path} eq "/$p/oauth2/token/" } @{ $rec->{requests} };
		my %ids = map { $_->{auth_req_id} => 1 } @{ $consent->{requests} };
		ok(@polls == 3 && !grep({ !($_->{body} =~ /^grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&auth_req_id=(.+)$/ && $ids{$1}) } @polls),
			"$p: three polls, each with CIBA's grant and an auth_req_id bc-authorize answered");
	}
	my @tokens = @{ $consent->{tokens} };
	is(scalar @tokens, 6, 'an OAuth2 token and a refresh token were issued for each consent');
	my $log = slurp_file($node->logfile);
	my $events = $node->safe_psql('postgres', "SELECT string_agg(e::text, E'\\n') FROM momo_events e");
	like($events, qr/consent_user_info/, 'momo_events has the consent flow\'s exchanges');
	my @leaked = grep { index($log, $_) >= 0 || index($events, $_) >= 0 || index($text, $_) >= 0 } @tokens;
	is(scalar @leaked, 0, 'no OAuth2 or refresh token in the server log, momo_events or the recorded requests');
}

############################################################################
# The validator reports malformed requests (a test that cannot fail proves
# nothing): each of these is a recorded request with one thing broken.
SKIP:
{
	skip 'no request to pay recorded', 9 unless $rtp_req;
	my $broken = sub {
		my ($what, $change, $re) = @_;
		my $req = JSON::PP::decode_json(JSON::PP::encode_json($rtp_req));
		my $body = JSON::PP::decode_json(Encode::encode('UTF-8', $req->{body}));
		$change->($req, $body);
		$req->{body} = JSON::PP->new->canonical->encode($body) if $body;
		my @p = $spec->problems($req);
		ok((grep { $_ =~ $re } @p), "a request to pay $what is reported")
		  or diag("problems: " . join("\n", @p));
	};
	is(join("\n", $spec->problems($rtp_req)), '', 'the recorded request to pay itself conforms');
	$broken->('without amount', sub { delete $_[1]{amount} }, qr/amount is missing/);
	$broken->('with a numeric amount', sub { $_[1]{amount} = 1500 }, qr/body\.amount is number, not string/);
	$broken->('with a partyIdType the definition does not know',
		sub { $_[1]{payer}{partyIdType} = 'PHONE' }, qr/partyIdType "PHONE" is not one of/);
	$broken->('with a misspelt member', sub { $_[1]{payerMesage} = 'x' }, qr/payerMesage is not a member/);
	$broken->('with an empty payeeNote', sub { $_[1]{payeeNote} = '' }, qr/payeeNote is empty/);
	$broken->('with a reference id that is not UUID v4',
		sub { $_[0]{headers}{'X-Reference-Id'} =~ s/^(.{14})4/${1}1/ }, qr/X-Reference-Id .* not a UUID version 4/);
	$broken->('without X-Target-Environment',
		sub { delete $_[0]{headers}{'X-Target-Environment'} }, qr/required header X-Target-Environment is missing/);
	$broken->('without a subscription key',
		sub { delete $_[0]{headers}{'Ocp-Apim-Subscription-Key'} }, qr/Ocp-Apim-Subscription-Key is missing/);
	my @p = $spec->problems({ method => 'POST', path => '/collection/v1_0/requesttopays',
			headers => {}, body => '{}' });
	ok((grep { /is no operation/ } @p), 'a path no definition has is reported');
}

# Other operations' own rules, broken in their recorded requests.
{
	my $mutated = sub {
		my ($what, $match, $change, $re) = @_;
		my ($orig) = grep { $match->($_) } @{ $rec->{requests} };
		ok($orig, "$what: a recorded request to break") or return;
		my $req = JSON::PP::decode_json(JSON::PP::encode_json($orig));
		$change->($req);
		my @p = $spec->problems($req);
		ok((grep { $_ =~ $re } @p), "$what is reported") or diag("problems: " . join("\n", @p));
	};
	my $body_edit = sub {
		my ($edit) = @_;
		return sub {
			my $b = JSON::PP::decode_json(Encode::encode('UTF-8', $_[0]{body}));
			$edit->($b);
			$_[0]{body} = JSON::PP->new->canonical->encode($b);
		};
	};
	$mutated->('a refund without referenceIdToRefund',
		sub { $_[0]{path} eq '/disbursement/v1_0/refund' },
		$body_edit->(sub { delete $_[0]{referenceIdToRefund} }), qr/referenceIdToRefund is missing/);
	$mutated->('a deposit naming a payer instead of a payee',
		sub { $_[0]{path} eq '/disbursement/v1_0/deposit' },
		$body_edit->(sub { $_[0]{payer} = delete $_[0]{payee} }), qr/payee is missing|payer is not a member/);
	$mutated->('a token request with a bearer token',
		sub { $_[0]{path} eq '/collection/token/' },
		sub { $_[0]{headers}{Authorization} = 'Bearer' }, qr/scheme "Bearer", not Basic/);
	$mutated->('a token request without Content-Length: 0',
		sub { $_[0]{path} eq '/remittance/token/' },
		sub { delete $_[0]{headers}{'Content-Length'} }, qr/Content-Length: 0/);
	$mutated->('a delivery notification without its notificationMessage header',
		sub { $_[0]{path} =~ m{/deliverynotification$} },
		sub { delete $_[0]{headers}{notificationMessage} }, qr/required header notificationMessage is missing/);
	$mutated->('an API user created with a reference id that is not UUID v4',
		sub { $_[0]{path} eq '/v1_0/apiuser' },
		sub { $_[0]{headers}{'X-Reference-Id'} = 'not-a-uuid' }, qr/X-Reference-Id "not-a-uuid" \(header\) is not a UUID version 4/);
	$mutated->('a status check of a reference id that is not a UUID',
		sub { $_[0]{method} eq 'GET' && $_[0]{path} =~ m{^/disbursement/v1_0/transfer/} },
		sub { $_[0]{path} =~ s{[^/]+$}{12345} }, qr/referenceId "12345" \(path\) is not a UUID version 4/);
	$mutated->('a bc-authorize whose login_hint has a "+"',
		sub { $_[0]{path} eq '/remittance/v1_0/bc-authorize' },
		sub { $_[0]{body} =~ s/ID%3A/ID%3A%2B/ }, qr/login_hint "ID:\+46733000001\/MSISDN" is not ID:\{msisdn\}\/MSISDN/);
	$mutated->('a bc-authorize sent as JSON',
		sub { $_[0]{path} eq '/collection/v1_0/bc-authorize' },
		sub { $_[0]{headers}{'Content-Type'} = 'application/json'; $_[0]{body} = '{"scope":"profile"}' },
		qr/Content-Type is "application\/json"/);
	$mutated->('a bc-authorize with a member the definition does not have',
		sub { $_[0]{path} eq '/disbursement/v1_0/bc-authorize' },
		sub { $_[0]{body} .= '&prompt=login' }, qr/body\.prompt is not a member/);
	$mutated->('a consent token request with a bearer token',
		sub { $_[0]{path} eq '/disbursement/oauth2/token/' },
		sub { $_[0]{headers}{Authorization} = 'Bearer' }, qr/scheme "Bearer", not Basic/);
	$mutated->('a consent token request without its grant type',
		sub { $_[0]{path} eq '/collection/oauth2/token/' },
		sub { $_[0]{body} =~ s/^grant_type=[^&]*&// }, qr/grant_type "" is not urn:openid/);
	$mutated->('a userinfo request with HTTP Basic',
		sub { $_[0]{path} eq '/remittance/oauth2/v1_0/userinfo' },
		sub { $_[0]{headers}{Authorization} = 'Basic' }, qr/scheme "Basic", not Bearer/);
	$mutated->('an invoice without its intended payer',
		sub { $_[0]{method} eq 'POST' && $_[0]{path} eq '/collection/v2_0/invoice' },
		$body_edit->(sub { delete $_[0]{intendedPayer} }), qr/intendedPayer is missing/);
	$mutated->('an invoice with a numeric validityDuration',
		sub { $_[0]{method} eq 'POST' && $_[0]{path} eq '/collection/v2_0/invoice' },
		$body_edit->(sub { $_[0]{validityDuration} = 3600 }), qr/body\.validityDuration is number, not string/);
	$mutated->('an invoice with a payerMessage (no member of CreateInvoice)',
		sub { $_[0]{method} eq 'POST' && $_[0]{path} eq '/collection/v2_0/invoice' },
		$body_edit->(sub { $_[0]{payerMessage} = 'x' }), qr/payerMessage is not a member/);
	$mutated->('a payment with its amount outside money',
		sub { $_[0]{method} eq 'POST' && $_[0]{path} eq '/collection/v2_0/payment' },
		$body_edit->(sub { $_[0]{amount} = delete $_[0]{money}{amount} }), qr/amount is not a member|money\.amount is missing/);
	$mutated->('a payment with a maxNumberOfRetries as a string',
		sub { $_[0]{method} eq 'POST' && $_[0]{path} eq '/collection/v2_0/payment' },
		$body_edit->(sub { $_[0]{maxNumberOfRetries} = '2' }), qr/maxNumberOfRetries is string, not integer/);
	$mutated->('a cancellation without its own X-Reference-Id',
		sub { $_[0]{method} eq 'DELETE' && $_[0]{path} =~ m{/v2_0/invoice/} },
		sub { delete $_[0]{headers}{'X-Reference-Id'} }, qr/required header X-Reference-Id is missing/);
	$mutated->('an invoice status check of a reference id that is not a UUID',
		sub { $_[0]{method} eq 'GET' && $_[0]{path} =~ m{^/collection/v2_0/invoice/} },
		sub { $_[0]{path} =~ s{[^/]+$}{12345} }, qr/x-referenceId "12345" \(path\) is not a UUID version 4/);
	$mutated->('a pre-approval without payerCurrency',
		sub { $_[0]{path} eq '/collection/v2_0/preapproval' },
		$body_edit->(sub { delete $_[0]{payerCurrency} }), qr/payerCurrency is missing/);
	$mutated->('a pre-approval whose validityTime is a string',
		sub { $_[0]{path} eq '/collection/v2_0/preapproval' && $_[0]{body} =~ /validityTime/ },
		$body_edit->(sub { $_[0]{validityTime} = "$_[0]{validityTime}" }), qr/validityTime is string, not integer/);
	$mutated->('a pre-approval whose PARTY_CODE payer is no UUID',
		sub { $_[0]{path} eq '/collection/v2_0/preapproval' && $_[0]{body} =~ /PARTY_CODE/ },
		$body_edit->(sub { $_[0]{payer}{partyId} = 'shop-7' }), qr/partyId "shop-7" is not a party code/);
	$mutated->('a transfer whose EMAIL payee is no address',
		sub { $_[0]{path} eq '/disbursement/v1_0/transfer' && $_[0]{body} =~ /"EMAIL"/ },
		$body_edit->(sub { $_[0]{payee}{partyId} = 'jane' }), qr/payee\.partyId "jane" is not an e-mail address/);
	$mutated->('a list of pre-approvals of an id type the definition does not list',
		sub { $_[0]{path} =~ m{^/collection/v1_0/preapprovals/email/} },
		sub { $_[0]{path} =~ s{/email/}{/party_code/} }, qr/accountHolderIdType "party_code" is not/);
	$mutated->('an account holder check of an id type no definition lists',
		sub { $_[0]{path} =~ m{^/collection/v1_0/accountholder/party_code/.*/active$} },
		sub { $_[0]{path} =~ s{/party_code/}{/alias/} }, qr/accountHolderIdType "alias" is not email or msisdn or party_code/);
	$mutated->('an account holder check by email of something else',
		sub { $_[0]{path} =~ m{^/disbursement/v1_0/accountholder/email/.*/active$} },
		sub { $_[0]{path} =~ s{/email/[^/]+/}{/email/jane/} }, qr/"jane" is not an e-mail address/);
	$mutated->('an account holder check with a "+" in the number',
		sub { $_[0]{path} =~ m{^/collection/v1_0/accountholder/.*/active$} },
		sub { $_[0]{path} =~ s{/msisdn/}{/msisdn/+} }, qr/is not an MSISDN/);
}

done_testing();
