"""The checkout: a form that creates an invoice (its insert requests the
payment), the invoice's status page, and the endpoint MTN calls back."""
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .forms import InvoiceForm
from .models import Invoice


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
            form.add_error("invoice_no", "An invoice with this number exists.")
        except DatabaseError as e:
            if not form.add_momo_errors(e):
                raise
        else:
            return redirect("invoice", invoice_no=invoice.invoice_no)
    return render(request, "invoices/new.html", {"form": form}, status=400 if form.errors else 200)


def invoice_detail(request, invoice_no):
    invoice = get_object_or_404(Invoice, pk=invoice_no)
    payment = None
    if invoice.payment_ref:
        with connection.cursor() as cur:
            cur.execute("SELECT status, reason, updated_at FROM momo_payments WHERE reference_id = %s",
                        [invoice.payment_ref])
            payment = dict(zip(("status", "reason", "updated_at"), cur.fetchone() or ()))
    return render(request, "invoices/detail.html", {"invoice": invoice, "payment": payment})


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
