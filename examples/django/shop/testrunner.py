"""Django's test runner, plus the DBA's step of the invoice recipe.

Django creates test_shop as a copy of shop_template (settings.DATABASES TEST
TEMPLATE: the DBA's template, with momo installed) and runs the migrations as
the application role.  The trigger on momo_payments that marks invoices paid
needs the rights of momo_payments' owner, so in production the DBA runs
dba/after_migrate.sql after the first migration; here the runner does it in
the test database, connected as settings.MOMO_DBA_USER, with search_path
pg_catalog whatever the database's owner (the application, here) set: the
trigger's WHEN condition binds its operators when it is created.  With
--parallel, Django clones test_shop before this runs: each clone gets it too.
"""
import psycopg2
from django.conf import settings
from django.db import connection
from django.test.runner import DiscoverRunner


class MomoTestRunner(DiscoverRunner):
    def setup_databases(self, **kwargs):
        old_config = super().setup_databases(**kwargs)
        sql = (settings.BASE_DIR / "dba" / "after_migrate.sql").read_text()
        names = [connection.settings_dict["NAME"]]
        if self.parallel > 1:
            names += [connection.creation.get_test_db_clone_settings(str(i))["NAME"]
                      for i in range(1, self.parallel + 1)]
        for name in names:
            self.run_as_dba(name, sql)
        return old_config

    @staticmethod
    def run_as_dba(dbname, sql):
        db = connection.settings_dict
        dba = psycopg2.connect(dbname=dbname, user=settings.MOMO_DBA_USER,
                               host=db["HOST"] or None, port=db["PORT"] or None,
                               options="-c search_path=pg_catalog,pg_temp")
        try:
            with dba, dba.cursor() as cur:     # one transaction, committed
                cur.execute(sql)
        finally:
            dba.close()
