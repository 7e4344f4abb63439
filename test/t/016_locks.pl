
# 016_locks.pl - a lock that a transaction of the application holds delays
# only what it concerns, never every payment:
#   (a) a prepared transaction holds FOR UPDATE on one invoice, which the
#       recipe's trigger (README, "Recipe") updates when its payment becomes
#       final: the other payments complete, and the locked one completes
#       after COMMIT PREPARED;
#   (b) a due payment held FOR UPDATE by a prepared transaction, and an
#       empty queue: the worker looks at momo_payments every
#       momo.idle_interval, not every 100 ms (counted as scans of the
#       table), and sends the payment after COMMIT PREPARED;
#   (c) an old event held FOR UPDATE by a prepared transaction when the
#       worker purges the event log: payments are sent meanwhile, and every
#       other old event is purged;
#   (d) a lock on the whole of momo_payments (ALTER TABLE, a migration)
#       while requests are in flight: the worker's claims fail for a while,
#       the requests in flight go on and are recorded, none is sent twice.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use MomoTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

start_sandbox();

my $node = momo_node('locks', extra_conf => join("\n",
		'momo.retry_max = 1000',
		'momo.request_timeout = 5000'));
$node->safe_psql('postgres', 'CREATE EXTENSION momo');
my $wpid = wait_for_worker($node);
ok($wpid, 'worker runs');

# The invoice recipe, as sql/trigger.sql runs it (README, "Recipe").
$node->safe_psql('postgres', q{
CREATE ROLE momo_shop;
CREATE SCHEMA shop AUTHORIZATION momo_shop;
GRANT USAGE ON SCHEMA public TO momo_shop;
GRANT EXECUTE ON FUNCTION momo_request_to_pay(numeric, text, text, text, text, text, text, text),
                          momo_payment_status(uuid),
                          momo_await(uuid, interval) TO momo_shop;
GRANT SELECT ON momo_payments TO momo_shop;
SET ROLE momo_shop;
CREATE TABLE shop.invoices (
    invoice_no      text PRIMARY KEY,
    customer_msisdn text NOT NULL,
    amount          numeric NOT NULL,
    payment_ref     uuid UNIQUE,
    paid_at         timestamptz,
    status          text NOT NULL DEFAULT 'open'
);
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
CREATE FUNCTION shop.invoices_payment_final() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE shop.invoices
       SET status  = CASE NEW.status WHEN 'successful' THEN 'paid' ELSE 'payment failed' END,
           paid_at = CASE NEW.status WHEN 'successful' THEN NEW.completed_at END
     WHERE payment_ref = NEW.reference_id;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION shop.invoices_payment_final() FROM PUBLIC;
RESET ROLE;
CREATE TRIGGER invoices_payment_final AFTER UPDATE OF status ON public.momo_payments
    FOR EACH ROW
    WHEN (NEW.status IN ('successful', 'failed') AND OLD.status <> NEW.status
          AND NEW.requested_by = 'momo_shop')
    EXECUTE FUNCTION shop.invoices_payment_final();
});

# Inserts an invoice as the application; returns its payment's reference id.
sub invoice
{
	my ($no, $msisdn) = @_;
	return $node->safe_psql('postgres',
		"SET ROLE momo_shop; INSERT INTO shop.invoices (invoice_no, customer_msisdn, amount) "
		  . "VALUES ('$no', '$msisdn', 100); "
		  . "SELECT payment_ref FROM shop.invoices WHERE invoice_no = '$no'");
}

# Scans of momo_payments so far (sequential and index), as the statistics show them.
sub table_scans
{
	return $node->safe_psql('postgres',
		"SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
		  . "WHERE relid = 'momo_payments'::regclass");
}

# Scans of momo_payments during the next $seconds (a rate, not a wait for a condition).
sub scans_during
{
	my ($seconds) = @_;
	my $before = table_scans();
	usleep($seconds * 1_000_000);
	return table_scans() - $before;
}

############################################################################
# (a) An invoice held FOR UPDATE by a prepared transaction: only its payment waits.
{
	# Nothing may be sent before the invoice is locked: the API key is wrong
	# meanwhile, so the worker gets no token.
	ok(set_momo($node, api_key => 'wrongkey00000000'), 'the API key is wrong for now');
	my $locked_ref = invoice('INV-L', '46733000101');
	$node->safe_psql('postgres', q{
		BEGIN;
		SELECT 1 FROM shop.invoices WHERE invoice_no = 'INV-L' FOR UPDATE;
		PREPARE TRANSACTION 'hold_invoice';
	});
	is(payment_row($node, $locked_ref)->{status}, 'queued', 'the locked invoice\'s payment is not sent yet');

	my $pos = log_position($node);
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET momo.api_key; SELECT pg_reload_conf()');
	ok(wait_for_log_count($node, qr/could not record MTN's answer for payment \Q$locked_ref\E: canceling statement due to lock timeout/,
			1, $pos, 60),
		'the final status of the locked invoice\'s payment cannot be recorded: lock timeout, not a wait for ever');

	my @others;
	for my $i (1 .. 5)
	{
		push @others, invoice("INV-$i", '4673300010' . $i);
	}
	push @others, request_payment($node, msisdn => '46733000110', external_id => 'L-plain');
	my $t0 = time();
	my @done = grep { (await_payment($node, $_, seconds => 30)->{status} // '') eq 'successful' } @others;
	is(scalar(@done), scalar(@others), 'every other payment completes while the invoice is locked');
	cmp_ok(time() - $t0, '<', 30, sprintf('... within %.1f s', time() - $t0));
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM shop.invoices WHERE invoice_no LIKE 'INV-_' AND status = 'paid'"),
		'5', 'their invoices are paid');
	my $row = payment_row($node, $locked_ref);
	is($row->{status}, 'pending', 'the locked invoice\'s payment waits, pending');
	is($node->safe_psql('postgres', "SELECT status FROM shop.invoices WHERE invoice_no = 'INV-L'"),
		'open', '... and its invoice is open');

	$node->safe_psql('postgres', "COMMIT PREPARED 'hold_invoice'");
	$row = await_payment($node, $locked_ref, seconds => 30);
	is($row->{status}, 'successful', 'after COMMIT PREPARED the locked invoice\'s payment completes');
	is($node->safe_psql('postgres', "SELECT status FROM shop.invoices WHERE invoice_no = 'INV-L'"),
		'paid', '... and its invoice is paid');
	my $sb = sandbox_get("/_sandbox/requests/$locked_ref");
	is($sb && "$sb->{posts}/$sb->{accepted}", '1/1', '... sent once');
	is(wait_for_worker($node, timeout => 5), $wpid, 'the same worker did it all');
}

############################################################################
# (b) No spinning while nothing can be claimed.
{
	ok(set_momo($node, idle_interval => '2s'), 'momo.idle_interval = 2s');
	ok(wait_for_worker_idle($node), 'the worker sleeps');
	my $idle = scans_during(4);
	cmp_ok($idle, '<', 20, "an empty queue: $idle scans of momo_payments in 4 s (a 100 ms loop makes over 80)");

	ok(set_momo($node, api_key => 'wrongkey00000000'), 'the API key is wrong for now');
	my $ref = request_payment($node, msisdn => '46733000120', external_id => 'L-held');
	$node->safe_psql('postgres', qq{
		BEGIN;
		SELECT 1 FROM momo_payments WHERE reference_id = '$ref' FOR UPDATE;
		PREPARE TRANSACTION 'hold_payment';
	});
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET momo.api_key; SELECT pg_reload_conf()');
	ok(poll_until($node, 'postgres', 'SHOW momo.api_key', $CRED{api_key}, 10), 'the right key again');
	my $held = scans_during(4);
	cmp_ok($held, '<', 20, "a due payment that a transaction holds: $held scans of momo_payments in 4 s");
	is(payment_row($node, $ref)->{status}, 'queued', 'it is not sent while held');
	is(sandbox_get("/_sandbox/requests/$ref"), undef, '... the sandbox never saw it');

	$node->safe_psql('postgres', "COMMIT PREPARED 'hold_payment'");
	is(await_payment($node, $ref, seconds => 30)->{status}, 'successful',
		'after COMMIT PREPARED it is sent and completes');
	ok(set_momo($node, idle_interval => '1s'), 'momo.idle_interval = 1s');
}

############################################################################
# (c) The hourly purge of old events never holds up sending.
{
	$node->safe_psql('postgres', q{
		INSERT INTO momo_events (at, product, operation, outcome)
		SELECT now() - interval '100 days', 'collection', 'status', 'pending'
		  FROM generate_series(1, 2500);
		BEGIN;
		SELECT 1 FROM momo_events WHERE at < now() - interval '99 days' ORDER BY id LIMIT 1 FOR UPDATE;
		PREPARE TRANSACTION 'hold_event';
	});
	# A new worker purges at once.
	ok(kill('TERM', $wpid), 'the worker is stopped; a new one purges the event log first');
	my $new = wait_for_worker($node, not_pid => $wpid, timeout => 30);
	ok($new, "a new worker ($new)");
	my $ref = request_payment($node, msisdn => '46733000130', external_id => 'L-purge');
	is(await_payment($node, $ref, seconds => 30)->{status}, 'successful',
		'a payment completes while an old event is held');
	ok(poll_until($node, 'postgres',
			"SELECT count(*) FROM momo_events WHERE at < now() - interval '99 days'", '1', 60),
		'every old event but the held one is purged, in batches');
	$node->safe_psql('postgres', "ROLLBACK PREPARED 'hold_event'");
}

############################################################################
# (d) A table lock while requests are in flight: claims fail, the requests
#     in flight do not (the pipeline once abandoned them all and sent them
#     again).
{
	$node->safe_psql('postgres', q{
ALTER SYSTEM SET momo.idle_interval = 200;
SELECT pg_reload_conf();});
	my $pid = wait_for_worker($node);
	sandbox_post('/_sandbox/config', { delay_ms => 3000 });
	my @refs = map { request_payment($node, msisdn => sprintf('4673301%04d', $_), external_id => "lock-table-$_") } 1 .. 10;
	ok(poll_until($node, 'postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND state = 'active'"
			  . " AND query LIKE 'momo: sending 10 payment requests%'", '1', 30),
		'(d) ten requests in flight, answered in 3 s');
	my $pos = log_position($node);
	my $locker = $node->background_psql('postgres');
	$locker->query_safe('BEGIN');
	$locker->query_safe('LOCK momo_payments IN ACCESS EXCLUSIVE MODE');
	ok(wait_for_log_count($node, qr/WARNING:  momo worker could not claim due payments: canceling statement due to lock timeout/, 1, $pos, 20),
		'(d) while the table is locked the worker cannot claim, and says so');
	$locker->query_safe('COMMIT');
	$locker->quit;
	sandbox_post('/_sandbox/config', { delay_ms => 0 });
	my %posts;
	for my $ref (@refs)
	{
		my $row = await_payment($node, $ref, seconds => 30);
		my $sb = sandbox_get("/_sandbox/requests/$ref");
		$posts{ ($row->{status} // 'none') . ' ' . ($sb ? "$sb->{posts}/$sb->{accepted}" : 'unseen') }++;
	}
	is(join(', ', map { "$_ x$posts{$_}" } sort keys %posts), 'successful 1/1 x10',
		'(d) every payment in flight completed, each POSTed once');
	is(wait_for_worker($node, timeout => 5), $pid, '(d) the same worker');
	$node->safe_psql('postgres', q{
ALTER SYSTEM RESET momo.idle_interval;
SELECT pg_reload_conf();});
}

$node->stop;
done_testing();
