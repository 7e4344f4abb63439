
# 010_idempotency.pl - an application's retry never charges twice, also when
# the two requests run in two sessions at once: the second waits for the
# first and gets its payment (or, after the first rolled back, makes the
# only one).  The same for the README's invoice recipe under a concurrent
# INSERT ... ON CONFLICT DO NOTHING, and for two cancellations of one
# invoice.  MTN (the sandbox) is the witness.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

start_sandbox();
my $node = momo_node('idem');
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
ok(wait_for_worker($node), 'worker runs');

# Number of POSTs MTN received for the payments with external_id $ext.
sub posts_for
{
	my ($ext) = @_;
	my $n = 0;
	for my $p (@{ sandbox_get('/_sandbox/payments') // [] })
	{
		$n += $p->{posts} if ($p->{externalId} // '') eq $ext;
	}
	return $n;
}

for my $ending ('COMMIT', 'ROLLBACK')
{
	my $ext = "CONCURRENT-$ending";
	my $a = $node->background_psql('postgres');
	my $b = $node->background_psql('postgres');
	$a->query_safe('BEGIN');
	my $ref_a = $a->query_safe("SELECT momo_request_to_pay(55, 'EUR', '46733000055', '$ext')");
	my $b_pid = $b->query_safe('SELECT pg_backend_pid()');
	# B asks for the same payment while A's is uncommitted: it must wait.
	$b->{stdin} .= "SELECT 'ref:' || momo_request_to_pay(55, 'EUR', '46733000055', '$ext');\n";
	$b->{run}->pump_nb;
	ok(poll_until($node, 'postgres',
			"SELECT wait_event_type FROM pg_stat_activity WHERE pid = $b_pid", 'Lock', 30),
		"$ending: the second request waits for the first");
	$a->query_safe($ending);
	# returns once B's request is done, with its output before
	my ($ref_b) = $b->query_safe('SELECT 1') =~ /ref:([0-9a-f-]{36})/;
	$a->quit;
	$b->quit;
	if ($ending eq 'COMMIT')
	{
		is($ref_b, $ref_a, 'COMMIT: the second session gets the first session\'s payment');
	}
	else
	{
		ok($ref_b && $ref_b ne $ref_a, 'ROLLBACK: the second session makes the only payment');
	}
	is($node->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE external_id = '$ext'"),
		'1', "$ending: one payment row");
	is(await_payment($node, $ref_b // $ref_a)->{status}, 'successful', "$ending: it succeeds");
	is(posts_for($ext), 1, "$ending: MTN received one request");
}

# The README's recipe (AFTER INSERT) under two concurrent upserts of one invoice.
$node->safe_psql('postgres', q{
	CREATE SCHEMA shop;
	CREATE TABLE shop.invoices (invoice_no text PRIMARY KEY, customer_msisdn text NOT NULL,
	                            amount numeric NOT NULL, payment_ref uuid UNIQUE);
	CREATE FUNCTION shop.invoices_request_payment() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
	BEGIN
	    UPDATE shop.invoices
	       SET payment_ref = public.momo_request_to_pay(NEW.amount, 'EUR', NEW.customer_msisdn,
	                                                    NEW.invoice_no, 'Invoice ' || NEW.invoice_no)
	     WHERE invoice_no = NEW.invoice_no;
	    RETURN NULL;
	END $$;
	CREATE TRIGGER invoices_request_payment AFTER INSERT ON shop.invoices
	    FOR EACH ROW EXECUTE FUNCTION shop.invoices_request_payment();
});
{
	my $a = $node->background_psql('postgres');
	my $b = $node->background_psql('postgres');
	my $upsert = q{INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount)
	               VALUES ('INV-77', '46733000077', 77) ON CONFLICT DO NOTHING;};
	$a->query_safe('BEGIN');
	$a->query_safe($upsert);
	my $b_pid = $b->query_safe('SELECT pg_backend_pid()');
	$b->{stdin} .= "$upsert\n";
	$b->{run}->pump_nb;
	ok(poll_until($node, 'postgres',
			"SELECT wait_event_type FROM pg_stat_activity WHERE pid = $b_pid", 'Lock', 30),
		'recipe: the second upsert waits for the first');
	$a->query_safe('COMMIT');
	$b->query_safe('SELECT 1');
	$a->quit;
	$b->quit;
	my $ref = $node->safe_psql('postgres', "SELECT payment_ref FROM shop.invoices WHERE invoice_no = 'INV-77'");
	is($node->safe_psql('postgres', "SELECT count(*) FROM momo_payments WHERE external_id = 'INV-77'"),
		'1', 'recipe: one payment for the invoice');
	is(await_payment($node, $ref)->{status}, 'successful', 'recipe: it succeeds');
	is(posts_for('INV-77'), 1, 'recipe: MTN received one request');
}

# Two cancellations of one invoice at once (an application's retry while the
# first is still running): the second waits for the first and returns the
# invoice it cancelled; MTN is asked once.
{
	my $inv = $node->safe_psql('postgres',
		"SELECT momo_create_invoice(78, 'EUR', '46733123454', 'INV-78', validity_duration => 86400)");
	ok(poll_until($node, 'postgres', "SELECT status FROM momo_payments WHERE reference_id = '$inv'",
			'pending', 30), 'cancel: the invoice is pending');
	my $deletes = sandbox_get('/_sandbox/stats')->{invoice_deletes};
	my $a = $node->background_psql('postgres');
	my $b = $node->background_psql('postgres');
	$a->query_safe('BEGIN');
	is($a->query_safe("SELECT status || '/' || reason FROM momo_cancel_invoice('$inv')"),
		'failed/TRANSACTION_CANCELED', 'cancel: the first cancellation cancels it');
	my $b_pid = $b->query_safe('SELECT pg_backend_pid()');
	$b->{stdin} .= "SELECT 'row:' || status || '/' || reason FROM momo_cancel_invoice('$inv');\n";
	$b->{run}->pump_nb;
	ok(poll_until($node, 'postgres',
			"SELECT wait_event_type FROM pg_stat_activity WHERE pid = $b_pid", 'Lock', 30),
		'cancel: the second cancellation waits for the first');
	$a->query_safe('COMMIT');
	my ($row_b) = $b->query_safe('SELECT 1') =~ /row:(\S+)/;
	$a->quit;
	$b->quit;
	is($row_b, 'failed/TRANSACTION_CANCELED', 'cancel: the second returns the invoice cancelled');
	is(sandbox_get('/_sandbox/stats')->{invoice_deletes} - $deletes, 1, 'cancel: MTN was asked once');
}

done_testing();
