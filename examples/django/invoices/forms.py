"""The checkout form: an invoice, whose insert requests the payment."""
from django import forms
from django.db import DatabaseError, connection, transaction

from .models import Invoice

# momo_request_to_pay's arguments, as the recipe's trigger passes the invoice's
# columns to them: an error's diag.column_name names arguments.
MOMO_ARGUMENT_FIELDS = {
    "amount": "amount",
    "currency": "currency",
    "msisdn": "customer_msisdn",
    "external_id": "invoice_no",
}


class InvoiceForm(forms.ModelForm):
    class Meta:
        model = Invoice
        fields = ["invoice_no", "customer_msisdn", "amount", "currency"]
        widgets = {"invoice_no": forms.TextInput, "customer_msisdn": forms.TextInput,
                   "currency": forms.TextInput}
        labels = {"invoice_no": "Invoice number", "customer_msisdn": "Mobile money number"}

    def validate_unique(self):
        """The database decides, at the insert (a retry is then recognised)."""

    def clean_customer_msisdn(self):
        """The number as people write it ('0788 123 456'), as momo will send it.
        In a savepoint: with ATOMIC_REQUESTS the request's transaction goes on."""
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SELECT momo_normalize_msisdn(%s)", [self.cleaned_data["customer_msisdn"]])
                return cur.fetchone()[0]
        except DatabaseError as e:
            raise forms.ValidationError(momo_message(e)) from e

    def add_momo_errors(self, error):
        """Puts the errors of a momo validation ERROR next to the fields it is
        about, and says whether there was any.  diag.column_name names the
        wrong arguments, comma-separated; the first has the message (and
        hint), the others are in the detail."""
        diag = getattr(error.__cause__, "diag", None)
        columns = (diag.column_name or "").split(",") if diag else []
        fields = [MOMO_ARGUMENT_FIELDS[c] for c in columns if c in MOMO_ARGUMENT_FIELDS]
        for i, field in enumerate(fields):
            self.add_error(field, momo_message(error) if i == 0 else diag.message_detail)
        return bool(fields)


def momo_message(error):
    """The message of a PostgreSQL error, with its hint."""
    diag = error.__cause__.diag
    return " ".join(m for m in (diag.message_primary, diag.message_hint) if m)
