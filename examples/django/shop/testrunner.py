"""Django's test runner, plus the DBA's step of the invoice recipe.

Django creates test_shop as a copy of shop_template (settings.DATABASES TEST
TEMPLATE: the DBA's template, with momo installed) and runs the migrations as
the application role.  The trigger on momo_payments that marks invoices paid
needs the rights of momo_payments' owner, so in production the DBA runs
dba/after_migrate.sql after the first migration; here the runner does it in
the test database, connected as settings.MOMO_DBA_USER.
"""
import psycopg2
from django.conf import settings
from django.db import connection
from django.test.runner import DiscoverRunner


class MomoTestRunner(DiscoverRunner):
    def setup_databases(self, **kwargs):
        old_config = super().setup_databases(**kwargs)
        db = connection.settings_dict
        sql = (settings.BASE_DIR / "dba" / "after_migrate.sql").read_text()
        dba = psycopg2.connect(dbname=db["NAME"], user=settings.MOMO_DBA_USER,
                               host=db["HOST"] or None, port=db["PORT"] or None)
        try:
            with dba, dba.cursor() as cur:     # one transaction, committed
                cur.execute(sql)
        finally:
            dba.close()
        return old_config
