"""Settings of the shop example: a Django checkout on momo.

The database connection comes from the environment (libpq's PGHOST and PGPORT,
and SHOP_DB_*), so that the same project runs against a local cluster, the
test environment of examples/django/run.sh, or production.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SHOP_SECRET_KEY", "only-for-the-example-never-in-production")
DEBUG = os.environ.get("SHOP_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("SHOP_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = ["invoices"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "shop.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
}]
WSGI_APPLICATION = "shop.wsgi.application"
STATIC_URL = "/static/"            # none is served; Django's test server wants the setting

# The application's role, momo_shop (examples/django/dba/setup.sql makes it):
# its own tables are in schema shop, momo's functions in public.  Django's test
# runner creates test_shop as a copy of shop_template, which the DBA prepared
# with momo installed (CREATE EXTENSION needs a superuser).
# recipe: django-settings
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("SHOP_DB_NAME", "shop"),
        "USER": os.environ.get("SHOP_DB_USER", "momo_shop"),
        "PASSWORD": os.environ.get("SHOP_DB_PASSWORD", ""),
        "HOST": os.environ.get("PGHOST", ""),
        "PORT": os.environ.get("PGPORT", ""),
        "OPTIONS": {"options": "-c search_path=shop,public"},
        "TEST": {"TEMPLATE": "shop_template"},
    }
}
# end recipe

# The DBA's part of the recipe (dba/after_migrate.sql) needs momo_payments'
# owner's rights: Django's test runner (shop/testrunner.py) runs it in the test
# database as this role, over the same host and port.  Tests only.
MOMO_DBA_USER = os.environ.get("SHOP_DBA_USER", "postgres")
TEST_RUNNER = "shop.testrunner.MomoTestRunner"

USE_TZ = True
TIME_ZONE = "Africa/Kigali"
LANGUAGE_CODE = "en"
USE_I18N = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"invoices": {"handlers": ["console"], "level": "INFO"}},
}
