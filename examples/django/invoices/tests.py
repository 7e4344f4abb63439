"""The shop on momo, end to end: Django's test runner against test_shop (a copy
of the DBA's shop_template), momo's real worker and the local MoMo sandbox,
which calls back over HTTP to the real server LiveServerTestCase runs.

examples/django/run.sh prepares the cluster (momo.databases = '*',
momo.callback_url pointing at this server's port, status checks so rare --
momo.poll_interval_min = 10 min -- that only a callback can settle a payment
within a test's bounds) and sets SHOP_LIVE_PORT and SHOP_SANDBOX_URL.
"""
import io
import json
import os
import re
import threading
import time
import urllib.request
import uuid

import psycopg2
from django.conf import settings
from django.core import signing
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.test import LiveServerTestCase
from django.urls import reverse

from .models import Invoice
from .views import invoice_url

SANDBOX_URL = os.environ.get("SHOP_SANDBOX_URL", "http://127.0.0.1:18080")
APPROVES = "+46 733 123 999"       # the sandbox: pending, then successful
REJECTS = "46733123451"            # the sandbox: failed, APPROVAL_REJECTED
PENDS = "46733123454"              # the sandbox: CREATED (pending) for a long time
BOUND = 30                         # seconds: the longest wait for anything


def sandbox(path, body=None):
    req = urllib.request.Request(SANDBOX_URL + path, method="POST" if body is not None else "GET",
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def wait_for(what, check):
    """check() until it returns something true, for at most BOUND seconds."""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {BOUND} s: {what}")


def fetch(sql, args=()):
    with connection.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


class ShopTest(LiveServerTestCase):
    host = "localhost"                          # the callback URL's host (momo.callback_url)
    port = int(os.environ.get("SHOP_LIVE_PORT", "18199"))

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the sandbox sends the callbacks MTN would send (PUT or POST, to X-Callback-Url)
        sandbox("/_sandbox/config", {"deliver_callbacks": True, "pending_ms": 300})

    def new_invoice_no(self):
        return "INV-" + uuid.uuid4().hex[:10]

    def checkout(self, **fields):
        data = {"invoice_no": self.new_invoice_no(), "customer_msisdn": APPROVES,
                "amount": "1500", "currency": "EUR"}
        data.update(fields)
        return data, self.client.post("/", data)

    def assertRedirectsToInvoice(self, r, invoice_no):
        """r redirects to the invoice's status page.  The signed link carries
        the time it was signed (django.core.signing), so it is compared by
        what it says, not with a link signed now, which differs when the
        second has turned."""
        self.assertEqual(r.status_code, 302)
        m = re.fullmatch(r"/invoices/([^/]+)/", r.url)
        self.assertIsNotNone(m, r.url)
        self.assertEqual(signing.loads(m.group(1), salt="invoice"), invoice_no)
        self.assertEqual(self.client.get(r.url).status_code, 200)

    def final_invoice(self, invoice_no):
        return wait_for(f"invoice {invoice_no} final",
                        lambda: Invoice.objects.exclude(status="open").filter(pk=invoice_no).first())

    def test_checkout_is_paid_through_the_callback(self):
        data, r = self.checkout()
        self.assertRedirectsToInvoice(r, data["invoice_no"])
        invoice = Invoice.objects.get(pk=data["invoice_no"])
        self.assertEqual(invoice.customer_msisdn, "46733123999")          # normalised by the form
        self.assertIsNotNone(invoice.payment_ref)
        self.assertEqual(invoice.status, "open")

        invoice = self.final_invoice(invoice.invoice_no)
        self.assertEqual((invoice.status, invoice.failure_reason), ("paid", None))
        self.assertIsNotNone(invoice.paid_at)
        self.assertEqual(fetch("SELECT status, external_id, amount FROM momo_payments WHERE reference_id = %s",
                               [invoice.payment_ref]),
                         [("successful", invoice.invoice_no, 1500)])
        # MTN's callback reached this server and momo scheduled the status check
        # that settled it (with checks every 10 minutes, nothing else could have)
        callbacks = sandbox(f"/_sandbox/callbacks?referenceId={invoice.payment_ref}")
        self.assertTrue(any(c["delivery"] == "delivered" and c["http_status"] == 200 for c in callbacks),
                        callbacks)
        page = self.client.get(invoice_url(invoice.invoice_no))
        self.assertContains(page, '<strong id="invoice-status">paid</strong>', html=False)
        self.assertContains(page, '<span id="payment-status">successful</span>', html=False)
        self.assertNotContains(page, "46733123999")                     # the payer's number, masked
        self.assertContains(page, "467******99")
        # the page is reached by its signed link only, not by the number
        self.assertEqual(self.client.get(f"/invoices/{invoice.invoice_no}/").status_code, 404)

    def test_failed_payment_is_paid_again_from_the_invoice(self):
        data, r = self.checkout(customer_msisdn=REJECTS)
        self.assertEqual(r.status_code, 302)
        invoice = self.final_invoice(data["invoice_no"])
        self.assertEqual((invoice.status, invoice.failure_reason), ("payment failed", "APPROVAL_REJECTED"))
        first_ref = invoice.payment_ref
        page = self.client.get(invoice_url(invoice.invoice_no))
        self.assertContains(page, '<span id="failure-reason">APPROVAL_REJECTED</span>', html=False)

        # the page's "Pay again" button (a POST: a GET asks no one), with another
        # number: the README's UPDATE, and the invoice's trigger asks for a new payment
        pay_again = reverse("invoice_pay_again", args=[signing.dumps(invoice.invoice_no, salt="invoice")])
        self.assertContains(page, f'<form method="post" action="{pay_again}" id="pay-again">', html=False)
        self.assertEqual(self.client.get(pay_again).status_code, 405)
        r = self.client.post(pay_again, {"customer_msisdn": "12"})     # not a number: nothing changes
        self.assertContains(r, "msisdn is too short", status_code=400)
        self.assertEqual(Invoice.objects.get(pk=invoice.invoice_no).payment_ref, first_ref)
        r = self.client.post(pay_again, {"customer_msisdn": "46733123999"})
        self.assertRedirectsToInvoice(r, invoice.invoice_no)
        invoice = Invoice.objects.get(pk=invoice.invoice_no)
        self.assertNotEqual(invoice.payment_ref, first_ref)
        self.assertEqual(invoice.customer_msisdn, "46733123999")
        # a second click finds the invoice open: nothing more is asked
        self.assertEqual(self.client.post(pay_again, {}).status_code, 302)
        invoice = self.final_invoice(invoice.invoice_no)
        self.assertEqual((invoice.status, invoice.failure_reason), ("paid", None))
        self.assertEqual(fetch("SELECT status FROM momo_payments WHERE external_id = %s ORDER BY created_at",
                               [invoice.invoice_no]),
                         [("failed",), ("successful",)])
        self.assertNotContains(self.client.get(invoice_url(invoice.invoice_no)), 'id="pay-again"')

    def test_open_invoice_keeps_its_terms_and_is_not_deleted(self):
        data, _ = self.checkout()
        for change in ({"amount": 1}, {"currency": "RWF"}, {"customer_msisdn": "46733123998"}):
            with self.assertRaises(DatabaseError) as e:
                Invoice.objects.filter(pk=data["invoice_no"]).update(**change)
            self.assertEqual(e.exception.__cause__.pgcode, "55000")
        with self.assertRaises(DatabaseError) as e:
            Invoice.objects.filter(pk=data["invoice_no"]).delete()
        self.assertEqual(e.exception.__cause__.pgcode, "55000")
        self.assertEqual(self.final_invoice(data["invoice_no"]).status, "paid")
        self.assertEqual(fetch("SELECT amount, currency FROM momo_payments WHERE external_id = %s",
                               [data["invoice_no"]]), [(1500, "EUR")])

    def test_form_puts_momo_errors_next_to_their_fields(self):
        # the number: the form asks momo_normalize_msisdn
        data, r = self.checkout(customer_msisdn="0788 12")
        self.assertEqual(r.status_code, 400)
        self.assertEqual(list(r.context["form"].errors), ["customer_msisdn"])
        # two wrong arguments of momo_request_to_pay, in one ERROR: diag.column_name
        # names both, and each field gets its message
        data, r = self.checkout(amount="-5", currency="EURO")
        self.assertEqual(r.status_code, 400)
        errors = r.context["form"].errors
        self.assertEqual(sorted(errors), ["amount", "currency"])
        self.assertIn("amount", errors["amount"][0])
        self.assertIn("currency", errors["currency"][0])
        self.assertContains(r, 'id="error-amount"', status_code=400)
        # nothing half-written: no invoice, no payment
        self.assertFalse(Invoice.objects.filter(pk=data["invoice_no"]).exists())
        self.assertEqual(fetch("SELECT count(*) FROM momo_payments WHERE external_id = %s",
                               [data["invoice_no"]]), [(0,)])
        # an invoice number taken, other terms: the field's error, the first payment only
        data, r = self.checkout()
        _, r = self.checkout(invoice_no=data["invoice_no"], amount="99")
        self.assertEqual(r.status_code, 400)
        self.assertEqual(list(r.context["form"].errors), ["invoice_no"])
        # a browser's retry of the same checkout: the same invoice, no second payment
        _, r = self.checkout(invoice_no=data["invoice_no"])
        self.assertRedirectsToInvoice(r, data["invoice_no"])
        self.assertEqual(fetch("SELECT amount FROM momo_payments WHERE external_id = %s",
                               [data["invoice_no"]]), [(1500,)])
        # any characters in a number: its page is reached all the same
        data, r = self.checkout(invoice_no="INV/2026/" + uuid.uuid4().hex[:6])
        self.assertRedirectsToInvoice(r, data["invoice_no"])
        # with ATOMIC_REQUESTS (each request one transaction), a wrong number is
        # still the field's error, not a 500
        connection.settings_dict["ATOMIC_REQUESTS"] = True
        try:
            _, r = self.checkout(customer_msisdn="12")
        finally:
            connection.settings_dict["ATOMIC_REQUESTS"] = False
        self.assertEqual(r.status_code, 400)
        self.assertEqual(list(r.context["form"].errors), ["customer_msisdn"])

    def test_stale_copy_cannot_undo_a_payment(self):
        # A Django object loaded while its invoice was open and saved whole
        # after it was paid (or after paying again) is refused, not applied.
        data, _ = self.checkout(customer_msisdn=REJECTS)
        stale = Invoice.objects.get(pk=data["invoice_no"])
        self.final_invoice(data["invoice_no"])
        # the stale copy (loaded while open) saved whole after the failure
        # would ask the payer again: refused
        with self.assertRaises(DatabaseError) as e:
            stale.save()
        self.assertEqual(e.exception.__cause__.pgcode, "55000")
        self.assertEqual(fetch("SELECT count(*) FROM momo_payments WHERE external_id = %s",
                               [data["invoice_no"]]), [(1,)])
        # pay again, the ORM way (payment_ref cleared); a double click saves
        # that copy once more: it would point the invoice back at the failed one
        again = Invoice.objects.get(pk=data["invoice_no"])
        again.customer_msisdn, again.status, again.payment_ref = "46733123999", "open", None
        again.save()
        with self.assertRaises(DatabaseError) as e:
            again.save()
        self.assertEqual(e.exception.__cause__.pgcode, "55000")
        paid = self.final_invoice(data["invoice_no"])
        self.assertEqual(paid.status, "paid")
        for status in ("open", "payment failed"):
            stale = Invoice.objects.get(pk=data["invoice_no"])
            stale.status = status
            with self.assertRaises(DatabaseError) as e:
                stale.save()
            self.assertEqual(e.exception.__cause__.pgcode, "55000")
        with self.assertRaises(DatabaseError) as e:
            paid.delete()
        self.assertEqual(e.exception.__cause__.pgcode, "55000")
        self.assertEqual(Invoice.objects.get(pk=data["invoice_no"]).status, "paid")

    def test_callback_endpoint(self):
        url = self.live_server_url + "/auth/api/momo/callback/"

        def call(method, query="", body=b""):
            req = urllib.request.Request(url + query, data=body if method != "GET" else None, method=method)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        self.assertEqual(call("GET")[0], 405)
        self.assertEqual(call("DELETE")[0], 405)
        self.assertEqual(call("POST", "?momo_ref=x", b'{"status":"SUCCESSFUL\x00"}'),
                         (400, "NUL byte in callback"))
        # a forgery: answered 200 (MTN must not retry), and momo says what it did
        ref = str(uuid.uuid4())
        status, answer = call("PUT", f"?momo_ref={ref}&momo_sig={'0' * 64}", b'{"status":"SUCCESSFUL"}')
        self.assertEqual(status, 200)
        self.assertTrue(answer.startswith("ignored: "), answer)
        self.assertEqual(call("POST", "", b"not json")[0], 200)

    def test_listener_catches_up_on_what_it_missed(self):
        invoices = [self.checkout()[0]["invoice_no"], self.checkout(customer_msisdn=REJECTS)[0]["invoice_no"]]
        for no in invoices:
            self.final_invoice(no)
        # the listener was not running while they were paid: it catches up
        call_command("momo_listen", "--once", stdout=open(os.devnull, "w"))
        notices = dict(fetch("SELECT invoice_no, status FROM shop.payment_notices WHERE invoice_no = ANY(%s)",
                             [invoices]))
        self.assertEqual(notices, {invoices[0]: "successful", invoices[1]: "failed"})
        position = fetch("SELECT after FROM shop.feed_position WHERE consumer = 'shop'")[0][0]
        # and again: nothing is noticed twice, the position stays
        call_command("momo_listen", "--once", stdout=open(os.devnull, "w"))
        self.assertEqual(fetch("SELECT count(*) FROM shop.payment_notices WHERE invoice_no = ANY(%s)",
                               [invoices]), [(2,)])
        self.assertGreaterEqual(fetch("SELECT after FROM shop.feed_position WHERE consumer = 'shop'")[0][0],
                                position)

    def listener(self, *args):
        """momo_listen in LISTEN loop mode, in a thread of its own (with its own
        connection): returns the thread and its output, once it listens."""
        out = io.StringIO()

        def run():
            try:
                call_command("momo_listen", "--timeout", str(BOUND), *args, verbosity=2, stdout=out)
            finally:
                connection.close()
        thread = threading.Thread(target=run)
        thread.start()
        wait_for("the listener listens", lambda: "listening" in out.getvalue() or not thread.is_alive())
        return thread, out

    def test_fake_notification_marks_nothing_paid(self):
        # Anyone who may connect may pg_notify on momo_payments: the listener
        # takes a notification only as a hint to read the feed, whose rows are
        # the payments' own, and a fake "successful" marks nothing.
        data, _ = self.checkout(customer_msisdn=PENDS)
        no = data["invoice_no"]
        ref = str(Invoice.objects.get(pk=no).payment_ref)
        db = connection.settings_dict["NAME"]
        dba = psycopg2.connect(dbname=db, user=settings.MOMO_DBA_USER)
        try:
            dba.autocommit = True
            dba.cursor().execute("DO $$ BEGIN CREATE ROLE shop_stranger LOGIN; "
                                 "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        finally:
            dba.close()
        thread, out = self.listener("--wakeups", "1")
        self.assertIn("listening", out.getvalue())
        stranger = psycopg2.connect(dbname=db, user="shop_stranger")
        try:
            stranger.autocommit = True
            stranger.cursor().execute("SELECT pg_notify('momo_payments', %s)",
                                      [json.dumps({"reference_id": ref, "status": "successful"})])
        finally:
            stranger.close()
        thread.join(BOUND)
        self.assertFalse(thread.is_alive(), "the listener did not stop after its wake-up")
        self.assertIn("woken by 1 notification(s)", out.getvalue())
        # it read the feed after the wake-up: the payment is not final, nothing is marked
        self.assertEqual(Invoice.objects.get(pk=no).status, "open")
        self.assertEqual(fetch("SELECT count(*) FROM shop.payment_notices WHERE invoice_no = %s", [no]), [(0,)])
        self.assertNotEqual(fetch("SELECT status FROM momo_payments WHERE reference_id = %s", [ref]),
                            [("successful",)])

    def test_listener_loop_is_woken_by_a_payment(self):
        # momo_listen's LISTEN loop: caught up, it sleeps until a payment's
        # notification wakes it, then reads the feed and acts on the change.
        thread, out = self.listener("--interval", str(BOUND), "--wakeups", "1")
        data, _ = self.checkout()
        thread.join(BOUND)
        self.assertFalse(thread.is_alive(), "no notification woke the listener")
        lines = out.getvalue().splitlines()
        self.assertIn(f"invoice {data['invoice_no']}: payment successful", lines)
        self.assertLess(lines.index("woken by 1 notification(s)"),
                        lines.index(f"invoice {data['invoice_no']}: payment successful"))
        self.assertEqual(fetch("SELECT status FROM shop.payment_notices WHERE invoice_no = %s",
                               [data["invoice_no"]]), [("successful",)])

    def test_listener_behind_the_feeds_horizon(self):
        # A listener down for longer than momo.event_retention: the changes it
        # missed were purged, momo_changes refuses (55000, "no longer kept"), and
        # the listener re-reads the payments from momo_payments, as the hint says,
        # then goes on from the horizon.  The purge is made here, as the worker
        # makes it (the changes deleted, the horizon noted), by the DBA.
        data, _ = self.checkout()
        no = data["invoice_no"]
        ref = str(self.final_invoice(no).payment_ref)
        self.assertEqual(Invoice.objects.get(pk=no).status, "paid")
        dba = psycopg2.connect(dbname=connection.settings_dict["NAME"], user=settings.MOMO_DBA_USER)
        dba.autocommit = True                   # each statement its own transaction
        cur = dba.cursor()
        try:
            def numbered():
                cur.execute("SELECT max(seq) FROM momo_changes(0, 100000) WHERE reference_id = %s"
                            " AND status = 'successful'", [ref])
                return cur.fetchone()[0]
            horizon = wait_for("the payment's final change numbered", numbered)
            position = fetch("SELECT after FROM shop.feed_position WHERE consumer = 'shop'")[0][0]
            self.assertLess(position, horizon)
            cur.execute("DELETE FROM momo_payment_changes WHERE seq <= %s", [horizon])
            cur.execute("INSERT INTO momo_change_horizon (purged_through) VALUES (%s)"
                        " ON CONFLICT (one) DO UPDATE SET purged_through = excluded.purged_through", [horizon])
            try:
                out, err = io.StringIO(), io.StringIO()
                call_command("momo_listen", "--once", stdout=out, stderr=err)
                self.assertIn(f"the feed's changes up to {horizon} were purged", err.getvalue())
                self.assertIn(f"invoice {no}: payment successful", out.getvalue())
                self.assertEqual(fetch("SELECT status, seq FROM shop.payment_notices WHERE invoice_no = %s", [no]),
                                 [("successful", horizon)])
                self.assertGreaterEqual(
                    fetch("SELECT after FROM shop.feed_position WHERE consumer = 'shop'")[0][0], horizon)
                # and from there on, the feed again: nothing re-read, nothing noticed twice
                err = io.StringIO()
                call_command("momo_listen", "--once", stdout=io.StringIO(), stderr=err)
                self.assertEqual(err.getvalue(), "")
                self.assertEqual(fetch("SELECT count(*) FROM shop.payment_notices WHERE invoice_no = %s", [no]),
                                 [(1,)])
            finally:
                cur.execute("DELETE FROM momo_change_horizon")
        finally:
            dba.close()
