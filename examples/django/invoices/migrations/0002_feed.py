"""Where the listener (manage.py momo_listen) has got to in momo's change
feed, and what it has told about each payment (once each)."""
from django.db import migrations

SQL = """
CREATE TABLE shop.feed_position (consumer text PRIMARY KEY, after bigint NOT NULL DEFAULT 0);
INSERT INTO shop.feed_position (consumer) VALUES ('shop');
CREATE TABLE shop.payment_notices (
    reference_id uuid PRIMARY KEY,
    invoice_no   text NOT NULL,
    status       text NOT NULL,
    reason       text,
    seq          bigint NOT NULL,
    noticed_at   timestamptz NOT NULL DEFAULT now()
);
"""


class Migration(migrations.Migration):
    dependencies = [("invoices", "0001_invoices")]
    operations = [migrations.RunSQL(SQL, reverse_sql=migrations.RunSQL.noop)]
