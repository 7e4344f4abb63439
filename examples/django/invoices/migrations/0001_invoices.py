"""The application's part of the invoice recipe, as the application role.

The DBA's part (a trigger on momo_payments) is dba/after_migrate.sql: the DBA
runs it once after this migration.
"""
from pathlib import Path

from django.db import migrations, models

RECIPE = (Path(__file__).resolve().parents[2] / "sql" / "application.sql").read_text()


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.RunSQL(RECIPE, reverse_sql=migrations.RunSQL.noop),
        migrations.CreateModel(
            name="Invoice",
            fields=[
                ("invoice_no", models.TextField(primary_key=True, serialize=False)),
                ("customer_msisdn", models.TextField()),
                ("amount", models.DecimalField(decimal_places=2, max_digits=14)),
                ("currency", models.TextField()),
                ("payment_ref", models.UUIDField(editable=False, null=True, unique=True)),
                ("paid_at", models.DateTimeField(editable=False, null=True)),
                ("status", models.TextField(default="open", editable=False)),
                ("failure_reason", models.TextField(editable=False, null=True)),
            ],
            options={"db_table": "invoices", "managed": False},
        ),
    ]
