"""The checkout: a form that creates an invoice (its insert requests the
payment), the invoice's status page, and the endpoint MTN calls back.

The form is the shop's: in a real site the amount and the invoice number come
from the order, behind a login; here a visitor types them, to try momo.  The
status page is reached by a signed link, not by the (guessable) number."""
from django.core import signing
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .forms import InvoiceForm
from .models import Invoice


def invoice_url(invoice_no):
    """The invoice's status page: a signed link (any characters, unguessable)."""
    return reverse("invoice", args=[signing.dumps(invoice_no, salt="invoice")])


def invoice_new(request):
    form = InvoiceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        invoice = form.save(commit=False)
        try:
            with transaction.atomic():          # the invoice and its payment, or neither
                invoice.save(force_insert=True)
        except IntegrityError as e:
            if getattr(e.__cause__, "pgcode", None) != "23505":
                raise
            # A browser's retry of the same checkout shows the invoice; other
            # terms under a taken number are the field's error.  No second payment.
            existing = Invoice.objects.filter(pk=invoice.invoice_no).first()
            if existing and (existing.customer_msisdn, existing.amount, existing.currency) == \
                    (invoice.customer_msisdn, invoice.amount, invoice.currency):
                return redirect(invoice_url(existing.invoice_no))
            form.add_error("invoice_no", "An invoice with this number exists.")
        except DatabaseError as e:
            if not form.add_momo_errors(e):
                raise
        else:
            return redirect(invoice_url(invoice.invoice_no))
    return render(request, "invoices/new.html", {"form": form}, status=400 if form.errors else 200)


def invoice_detail(request, token):
    try:
        invoice_no = signing.loads(token, salt="invoice")
    except signing.BadSignature:
        raise Http404("no such invoice")
    invoice = get_object_or_404(Invoice, pk=invoice_no)
    return invoice_page(request, invoice)


def invoice_page(request, invoice, error=None, status=200):
    payment = None
    if invoice.payment_ref:
        with connection.cursor() as cur:
            cur.execute("SELECT status, reason, updated_at FROM momo_payments WHERE reference_id = %s",
                        [invoice.payment_ref])
            payment = dict(zip(("status", "reason", "updated_at"), cur.fetchone() or ()))
    number = invoice.customer_msisdn
    masked = number[:3] + "*" * max(len(number) - 5, 0) + number[-2:]
    return render(request, "invoices/detail.html",
                  {"invoice": invoice, "payment": payment, "payer": masked, "error": error,
                   "pay_again": reverse("invoice_pay_again", args=[signing.dumps(invoice.invoice_no, salt="invoice")])},
                  status=status)


@require_http_methods(["POST"])                 # it asks the payer again: never on a GET
def invoice_pay_again(request, token):
    """The README's "pay again": after a failure, the invoice goes back to open,
    with no payment, and its trigger asks the payer (the number given, or the
    same one) for a new payment.  One UPDATE, in the README's words; a second
    click finds the invoice open and changes nothing."""
    try:
        invoice_no = signing.loads(token, salt="invoice")
    except signing.BadSignature:
        raise Http404("no such invoice")
    invoice = get_object_or_404(Invoice, pk=invoice_no)
    msisdn = request.POST.get("customer_msisdn", "").strip() or invoice.customer_msisdn
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("""UPDATE shop.invoices SET customer_msisdn = %s, status = 'open', payment_ref = NULL
 WHERE invoice_no = %s AND status = 'payment failed'""", [msisdn, invoice_no])
    except DatabaseError as e:
        cause = e.__cause__
        if getattr(cause, "pgcode", None) is None or not cause.pgcode.startswith("22"):
            raise
        return invoice_page(request, invoice, error=cause.diag.message_primary, status=400)
    return redirect(invoice_url(invoice_no))


# recipe: callback-view
@csrf_exempt                                     # MTN cannot send Django's CSRF token
@require_http_methods(["PUT", "POST"])           # MTN sends PUT or POST; anything else: 405
def momo_callback(request):
    query = request.META.get("QUERY_STRING", "")
    body = request.body.decode("utf-8", "replace")
    if "\x00" in query or "\x00" in body:        # PostgreSQL's text cannot hold NUL
        return HttpResponseBadRequest("NUL byte in callback")
    with connection.cursor() as cur:
        cur.execute("SELECT momo_callback(%s, %s)", [query, body])
        answer = cur.fetchone()[0]               # 'scheduled' or 'ignored: <why>'
    return HttpResponse(answer, content_type="text/plain")   # 200 either way
# end recipe
