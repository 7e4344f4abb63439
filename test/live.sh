#!/usr/bin/env bash
# =============================================================================
# test/live.sh -- `make installcheck-live`: the outcome tests (sql/setup.sql,
# sql/outcomes.sql) against MTN's real sandbox instead of the local one.
#
# Needs MOMO_SUBSCRIPTION_KEY_PRIMARY (a Collection key from the MoMo developer
# portal) in the environment, and either MOMO_API_USER + MOMO_API_KEY or
# nothing else: an API user and key are then provisioned for this run.
# Without the key it says it skipped and exits 0.  Needs `make install`.
# Runs its own throwaway cluster (port 55433, /tmp/momo-live) as user postgres.
# =============================================================================
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE=${MOMO_BASE_URL:-https://sandbox.momodeveloper.mtn.com}
DIR=/tmp/momo-live
PORT=55433

if [ -z "${MOMO_SUBSCRIPTION_KEY_PRIMARY:-}" ]; then
    echo "live: skipped (set MOMO_SUBSCRIPTION_KEY_PRIMARY, and MOMO_API_USER and MOMO_API_KEY or nothing else, to run against MTN's sandbox)"
    exit 0
fi

if [ -z "${MOMO_API_USER:-}" ] || [ -z "${MOMO_API_KEY:-}" ]; then
    MOMO_API_USER=$(cat /proc/sys/kernel/random/uuid)
    echo "live: provisioning API user $MOMO_API_USER"
    curl -fsS -X POST "$BASE/v1_0/apiuser" -H "X-Reference-Id: $MOMO_API_USER" \
        -H "Ocp-Apim-Subscription-Key: $MOMO_SUBSCRIPTION_KEY_PRIMARY" \
        -H 'Content-Type: application/json' -d '{"providerCallbackHost":"localhost"}'
    answer=$(curl -fsS -X POST "$BASE/v1_0/apiuser/$MOMO_API_USER/apikey" \
        -H "Ocp-Apim-Subscription-Key: $MOMO_SUBSCRIPTION_KEY_PRIMARY" -H 'Content-Length: 0')
    MOMO_API_KEY=$(sed -n 's/.*"apiKey" *: *"\([^"]*\)".*/\1/p' <<<"$answer")
    [ -n "$MOMO_API_KEY" ] || { echo "live: provisioning answered: $answer" >&2; exit 1; }
fi
export MOMO_SUBSCRIPTION_KEY_PRIMARY MOMO_API_USER MOMO_API_KEY MOMO_BASE_URL="$BASE"

bin=$(pg_config --bindir)
as_pg() { (cd "$DIR" && runuser -u postgres -- env HOME="$DIR" "$@"); }
if [ "$(id -u)" -ne 0 ]; then as_pg() { (cd "$DIR" && "$@"); }; fi

rm -rf "$DIR"
mkdir -p "$DIR"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$DIR"
as_pg "$bin/initdb" -D "$DIR/pgdata" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$DIR/pgdata/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$DIR'
listen_addresses = ''
shared_preload_libraries = 'momo'
momo.databases = 'contrib_regression'
momo.poll_interval_min = 1000
momo.request_timeout = 60000
CONF
# The credentials reach the server through its environment, as in production.
as_pg env MOMO_SUBSCRIPTION_KEY_PRIMARY="$MOMO_SUBSCRIPTION_KEY_PRIMARY" \
    MOMO_API_USER="$MOMO_API_USER" MOMO_API_KEY="$MOMO_API_KEY" MOMO_BASE_URL="$BASE" \
    "$bin/pg_ctl" -D "$DIR/pgdata" -l "$DIR/postgres.log" -w start >/dev/null
trap 'as_pg "$bin/pg_ctl" -D "$DIR/pgdata" -m fast stop >/dev/null 2>&1 || true' EXIT
as_pg "$bin/createdb" -h "$DIR" -p "$PORT" contrib_regression

cd "$REPO"
make -s installcheck REGRESS="setup outcomes" PGHOST="$DIR" PGPORT="$PORT" PGUSER=postgres
