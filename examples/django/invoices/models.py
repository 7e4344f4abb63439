"""The shop's invoices: the table of the invoice recipe (sql/application.sql).

The table, its triggers and its constraints are the recipe's SQL, which
migration 0001 runs; Django only reads and writes the rows (managed = False).
"""
from django.db import models


class Invoice(models.Model):
    invoice_no = models.TextField(primary_key=True)
    customer_msisdn = models.TextField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.TextField()
    payment_ref = models.UUIDField(null=True, unique=True, editable=False)
    paid_at = models.DateTimeField(null=True, editable=False)
    status = models.TextField(default="open", editable=False)        # open, paid, payment failed
    failure_reason = models.TextField(null=True, editable=False)

    class Meta:
        managed = False
        db_table = "invoices"          # shop.invoices: the role's search_path is shop, public

    def __str__(self):
        return self.invoice_no
