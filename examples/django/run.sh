#!/usr/bin/env bash
# =============================================================================
# examples/django/run.sh test|demo -- the Django example on a real PostgreSQL
# cluster with momo and the local MoMo sandbox, in a test environment of its
# own (test/cluster.sh with its own directory and ports), prepared as the
# README tells a DBA and a developer to: dba/setup.sql (roles, shop_template,
# shop), `manage.py migrate` as momo_shop, dba/after_migrate.sql.  The sandbox
# delivers MTN's callbacks over HTTP to Django's server, signed by momo.
#
#   test   Django's test runner (`manage.py test`): it creates test_shop from
#          shop_template, migrates it and runs dba/after_migrate.sql there
#          (shop/testrunner.py); the callbacks go to LiveServerTestCase's
#          server.  Prints Django's verbose result lines ("test_... ok");
#          exits non-zero when a test failed.  `make test` runs it.
#   demo   `manage.py runserver` on http://localhost:8000/ (SHOP_PORT): the
#          checkout page, until Ctrl-C, which stops the environment.
#   demo-check
#          the demo on a free port, used as a person would (demo_check.py:
#          the form filled in, the invoice paid through MTN's callback),
#          then stopped.  `make test` runs it.
#
# Needs momo installed (make install, or the Debian package), the sandbox built
# (make -C test/sandbox), and Debian's python3-django and python3-psycopg2
# (test/install-deps.sh installs them).  Ports: MOMO_DJANGO_PGPORT (55460),
# MOMO_DJANGO_HTTP_PORT / MOMO_DJANGO_HTTPS_PORT (18190 / 18553) for the sandbox.
# =============================================================================
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
mode=${1:-test}
case "$mode" in test|demo|demo-check) ;; *) echo "usage: $0 test|demo|demo-check" >&2; exit 2 ;; esac

export MOMO_TEST_DIR=${MOMO_DJANGO_TEST_DIR:-/tmp/momo-django}
export MOMO_TEST_PGPORT=${MOMO_DJANGO_PGPORT:-55460}
export MOMO_TEST_HTTP_PORT=${MOMO_DJANGO_HTTP_PORT:-18190}
export MOMO_TEST_HTTPS_PORT=${MOMO_DJANGO_HTTPS_PORT:-18553}
if [ "$mode" != demo ]; then
    # Django's test server: a port no one used lately (its server does not
    # reuse an address that a closed connection still holds).  Status checks
    # so rare that only a callback settles a payment within a test's bounds.
    WEB_PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    POLL="momo.poll_interval_min = 600000
momo.poll_interval_max = 600000"
else
    WEB_PORT=${SHOP_PORT:-8000}
    POLL=
fi
# every database where momo is installed (shop, test_shop); callbacks to
# Django's server, signed
export MOMO_EXTRA_CONF="momo.databases = '*'
momo.callback_url = 'http://localhost:$WEB_PORT/auth/api/momo/callback/'
momo.callback_secret = '$(openssl rand -hex 32)'
$POLL"

cluster() { bash "$REPO/test/cluster.sh" "$@"; }
cleanup() { cluster stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

# a fresh environment each time: dba/setup.sql creates roles and databases
cluster stop >/dev/null 2>&1 || true
rm -rf "$MOMO_TEST_DIR"
cluster start
eval "$(cluster env)"
SANDBOX_URL=http://127.0.0.1:$MOMO_TEST_HTTP_PORT

# The DBA, once (a superuser, psql)
psql -X -q -v ON_ERROR_STOP=1 -d postgres -f "$HERE/dba/setup.sql"

cd "$HERE"
export PGUSER=momo_shop SHOP_DBA_USER=postgres SHOP_SANDBOX_URL=$SANDBOX_URL
# The application, as momo_shop; then the DBA's part of the recipe
/usr/bin/python3 manage.py migrate --noinput -v 1
psql -X -q -v ON_ERROR_STOP=1 -U postgres -d shop -f "$HERE/dba/after_migrate.sql"

if [ "$mode" = test ]; then
    SHOP_LIVE_PORT=$WEB_PORT /usr/bin/python3 manage.py test --noinput -v 2 invoices
else
    # the sandbox sends MTN's callbacks; a payer takes 5 s to approve
    curl -fsS -o /dev/null -X POST -d '{"deliver_callbacks": true, "pending_ms": 5000}' "$SANDBOX_URL/_sandbox/config"
    if [ "$mode" = demo-check ]; then
        /usr/bin/python3 manage.py runserver --noreload "localhost:$WEB_PORT" >"$MOMO_TEST_DIR/runserver.log" 2>&1 &
        server=$!
        rc=0
        /usr/bin/python3 "$HERE/demo_check.py" "http://localhost:$WEB_PORT" || rc=$?
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        [ "$rc" -eq 0 ] || tail -n 30 "$MOMO_TEST_DIR/runserver.log"
        exit "$rc"
    fi
    echo
    echo "The shop: http://localhost:$WEB_PORT/  (46733123451: the payer rejects; most other numbers approve)"
    echo "Ctrl-C stops it and its environment."
    /usr/bin/python3 manage.py runserver --noreload "localhost:$WEB_PORT"
fi
