#!/usr/bin/env bash
# =============================================================================
# test/cluster.sh start|stop|status|env -- the throwaway test environment of
# momo under /tmp/momo-test (ports and credentials: README, "Developing offline"):
#   - a test CA + certificates in /tmp/momo-test/ca        (test/make-ca.sh)
#   - the MoMo sandbox (test/sandbox/momo-sandbox) on 127.0.0.1:18080 (HTTP)
#     and :18443 (HTTPS), log sandbox.log, pidfile sandbox.pid
#   - a PostgreSQL 15 cluster in /tmp/momo-test/pgdata, port 55432, socket in
#     /tmp/momo-test, log postgres.log, with momo preloaded and configured,
#     and the database contrib_regression
#
#   start   make/start whatever is not there or not running (harmless to repeat);
#           needs `make install` first (momo.so must be in pg_config --pkglibdir)
#   stop    stop PostgreSQL (fast) and the sandbox
#   status  say what runs; exit 0 when both run, 3 otherwise
#   env     print the exports for clients:  eval "$(test/cluster.sh env)"
#
# Runs as root (PostgreSQL and the sandbox then run as user postgres, through
# runuser) or as an ordinary user (everything runs as that user).
# Environment overrides (for debugging; the defaults are what the tests use):
#   MOMO_PRELOAD=momo        shared_preload_libraries ('' to start without momo)
#   MOMO_SANDBOX_BIN=...     the sandbox binary (default $REPO/test/sandbox/momo-sandbox)
#   MOMO_SANDBOX_VERBOSE=1   pass --verbose to the sandbox
#   MOMO_EXTRA_CONF='...'    extra postgresql.conf lines, appended after ours
#   MOMO_CORE_FILES=1        let the servers dump core (pg_ctl start -c; where to
#                            is the system's core_pattern: "core" = the data directory)
# =============================================================================
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEST_DIR=${MOMO_TEST_DIR:-/tmp/momo-test}
CA_DIR=$TEST_DIR/ca
PGDATA_DIR=$TEST_DIR/pgdata
PG_LOG=$TEST_DIR/postgres.log
PG_PORT=${MOMO_TEST_PGPORT:-55432}
HTTP_PORT=${MOMO_TEST_HTTP_PORT:-18080}
HTTPS_PORT=${MOMO_TEST_HTTPS_PORT:-18443}
DB=contrib_regression
SANDBOX_BIN=${MOMO_SANDBOX_BIN:-$REPO/test/sandbox/momo-sandbox}
SANDBOX_LOG=$TEST_DIR/sandbox.log
SANDBOX_PID=$TEST_DIR/sandbox.pid
SANDBOX_URL=http://127.0.0.1:$HTTP_PORT
PRELOAD=${MOMO_PRELOAD-momo}

# fixed test credentials (README, "Developing offline")
SUB_KEY_1=0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b01
SUB_KEY_2=0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b02
API_USER=5f9b2c7e-3c1a-4d2e-9f10-0a1b2c3d4e5f
API_KEY=6a1b2c3d4e5f40718293a4b5c6d7e8f9

CONF_BEGIN='# >>> momo test harness (written by test/cluster.sh; rewritten on each start) >>>'
CONF_END='# <<< momo test harness <<<'

die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# as_pg CMD...: run CMD as user postgres (when root), from a directory postgres
# can enter and with postgres's HOME, so nothing complains about /root.
as_pg() {
    if is_root; then
        local home
        home=$(getent passwd postgres | cut -d: -f6)
        (cd "$TEST_DIR" && runuser -u postgres -- env HOME="${home:-$TEST_DIR}" "$@")
    else
        (cd "$TEST_DIR" && "$@")
    fi
}

pgbin() {
    local bindir
    bindir=$(pg_config --bindir) || die "pg_config not found (run test/install-deps.sh)"
    echo "$bindir/$1"
}

# ---------------------------------------------------------------- sandbox --
sandbox_pid() {   # prints the pid when the pidfile names a live process
    local pid
    [ -s "$SANDBOX_PID" ] || return 1
    pid=$(tr -dc '0-9' < "$SANDBOX_PID")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

sandbox_healthy() {
    curl -fsS --max-time 2 -o /dev/null "$SANDBOX_URL/_sandbox/health" 2>/dev/null
}

sandbox_start() {
    local pid
    if pid=$(sandbox_pid); then
        sandbox_healthy || die "sandbox (pid $pid) runs but $SANDBOX_URL/_sandbox/health does not answer; see $SANDBOX_LOG"
        say "sandbox already running (pid $pid)"
        return 0
    fi
    rm -f "$SANDBOX_PID"
    if sandbox_healthy; then
        die "something else answers on $SANDBOX_URL but $SANDBOX_PID names no live process; stop it first"
    fi
    [ -x "$SANDBOX_BIN" ] || die "sandbox binary $SANDBOX_BIN is missing: build it with 'make -C test/sandbox'"
    # it runs as postgres, who may not be able to enter the checkout: run a copy
    install -m 0755 "$SANDBOX_BIN" "$TEST_DIR/momo-sandbox"

    local args=(--listen 127.0.0.1 --port "$HTTP_PORT" --tls-port "$HTTPS_PORT"
        --tls-cert "$CA_DIR/server.pem" --tls-key "$CA_DIR/server.key"
        --subscription-key "$SUB_KEY_1" --subscription-key "$SUB_KEY_2"
        --api-user "$API_USER" --api-key "$API_KEY"
        --callback-host localhost --pidfile "$SANDBOX_PID")
    [ "${MOMO_SANDBOX_VERBOSE:-0}" = 1 ] && args+=(--verbose)

    echo "--- $(date '+%F %T') cluster.sh: starting $SANDBOX_BIN" >> "$SANDBOX_LOG"
    is_root && chown postgres:postgres "$SANDBOX_LOG"
    # detached: own session, no terminal, stdio not inherited (so `make`/CI
    # pipes are not held open by it)
    as_pg setsid -w "$TEST_DIR/momo-sandbox" "${args[@]}" </dev/null >>"$SANDBOX_LOG" 2>&1 &
    local launcher=$!

    for _ in $(seq 1 150); do           # up to 15 s
        if sandbox_pid >/dev/null && sandbox_healthy; then
            say "sandbox started (pid $(sandbox_pid)), log $SANDBOX_LOG"
            return 0
        fi
        if ! kill -0 "$launcher" 2>/dev/null; then
            tail -n 20 "$SANDBOX_LOG" >&2 || true
            die "sandbox exited during start-up; see $SANDBOX_LOG"
        fi
        sleep 0.1
    done
    tail -n 20 "$SANDBOX_LOG" >&2 || true
    sandbox_pid >/dev/null || die "sandbox wrote no pidfile $SANDBOX_PID within 15 s"
    die "sandbox did not answer $SANDBOX_URL/_sandbox/health within 15 s"
}

sandbox_stop() {
    local pid
    if ! pid=$(sandbox_pid); then
        rm -f "$SANDBOX_PID"
        say "sandbox not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do            # up to 5 s
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "sandbox (pid $pid) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$SANDBOX_PID"
    say "sandbox stopped"
}

# ------------------------------------------------------------- PostgreSQL --
# postmaster_state: "running", "zombie" (killed, not yet reaped: it still
# holds postmaster.pid for pg_ctl and a new postmaster) or "none"
postmaster_state() {
    local pid state
    pid=$(head -n 1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)
    case "$pid" in ''|*[!0-9]*) echo none; return ;; esac
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
    case "$state" in
        '') echo none ;;
        Z)  echo zombie ;;
        *)  echo running ;;
    esac
}

pg_running() {
    [ -f "$PGDATA_DIR/PG_VERSION" ] || return 1
    [ "$(postmaster_state)" = running ] || return 1
    as_pg "$(pgbin pg_ctl)" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

pg_ready() {
    "$(pgbin pg_isready)" -q -h "$TEST_DIR" -p "$PG_PORT" -U postgres -d postgres -t 2
}

settings_block() {
    cat <<EOF
$CONF_BEGIN
shared_preload_libraries = '$PRELOAD'
momo.environment = 'sandbox'
momo.base_url = 'https://localhost:$HTTPS_PORT'
momo_test.sandbox_url = '$SANDBOX_URL'
momo.target_environment = 'sandbox'
momo.subscription_key_primary = '$SUB_KEY_1'
momo.subscription_key_secondary = '$SUB_KEY_2'
momo.api_user = '$API_USER'
momo.api_key = '$API_KEY'
momo.disbursement_subscription_key_primary = '$SUB_KEY_1'
momo.disbursement_api_user = '$API_USER'
momo.disbursement_api_key = '$API_KEY'
momo.callback_url = 'https://localhost/momo/callback'
momo.ca_file = '$CA_DIR/ca.pem'
momo.databases = '$DB'
momo.poll_interval_min = 200            # ms
momo.retry_base = 200                   # ms
momo.status_checks_per_second = 0       # unlimited
port = $PG_PORT
unix_socket_directories = '$TEST_DIR'
listen_addresses = ''
logging_collector = off
log_line_prefix = '%m [%p] %q%a '
max_prepared_transactions = 10
# fsync stays on: the tests crash the server on purpose
EOF
    if [ -n "${MOMO_EXTRA_CONF:-}" ]; then
        printf '%s\n' "$MOMO_EXTRA_CONF"
    fi
    echo "$CONF_END"
}

write_settings() {   # (re)write our block at the end of postgresql.conf
    local conf=$PGDATA_DIR/postgresql.conf tmp
    tmp=$(mktemp)
    awk -v b="$CONF_BEGIN" -v e="$CONF_END" '
        $0 == b { skip = 1; next }
        $0 == e { skip = 0; next }
        !skip' "$conf" > "$tmp"
    settings_block >> "$tmp"
    cat "$tmp" > "$conf"        # in place: keeps owner and mode
    rm -f "$tmp"
}

pg_start() {
    if pg_running; then
        # it may be restarting after a crash: wait until it accepts
        # connections, or has gone away
        for _ in $(seq 1 600); do       # up to 60 s
            if pg_ready; then
                say "PostgreSQL already running (port $PG_PORT, $PGDATA_DIR)"
                return 0
            fi
            pg_running || break
            sleep 0.1
        done
        pg_running && die "PostgreSQL runs but accepts no connections after 60 s; see $PG_LOG"
        say "PostgreSQL went away; starting it again"
    fi
    # a killed postmaster not yet reaped still blocks a new one: wait for it
    for _ in $(seq 1 300); do           # up to 30 s
        [ "$(postmaster_state)" = zombie ] || break
        sleep 0.1
    done
    [ "$(postmaster_state)" != zombie ] || die "the old postmaster (a zombie) is still not reaped after 30 s"
    if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
        say "initdb $PGDATA_DIR"
        rm -rf "$PGDATA_DIR"
        if is_root; then
            install -d -m 0700 -o postgres -g postgres "$PGDATA_DIR"
        else
            install -d -m 0700 "$PGDATA_DIR"
        fi
        if ! as_pg "$(pgbin initdb)" -D "$PGDATA_DIR" -U postgres --auth=trust \
                --locale=C.UTF-8 --encoding=UTF8 --no-instructions \
                > "$TEST_DIR/initdb.log" 2>&1; then
            cat "$TEST_DIR/initdb.log" >&2
            die "initdb failed"
        fi
    fi
    write_settings

    touch "$PG_LOG"
    is_root && chown postgres:postgres "$PG_LOG"
    local core_opt=()
    [ "${MOMO_CORE_FILES:-0}" = 1 ] && core_opt=(-c)
    if ! as_pg "$(pgbin pg_ctl)" start -D "$PGDATA_DIR" -l "$PG_LOG" -w -t 60 "${core_opt[@]}" >/dev/null; then
        tail -n 30 "$PG_LOG" >&2 || true
        die "PostgreSQL did not start; see $PG_LOG"
    fi
    say "PostgreSQL started (port $PG_PORT, socket dir $TEST_DIR, log $PG_LOG, shared_preload_libraries='$PRELOAD')"
}

pg_create_db() {
    local psql exists
    psql=$(pgbin psql)
    exists=$(as_pg "$psql" -X -q -At -h "$TEST_DIR" -p "$PG_PORT" -U postgres -d postgres \
        -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")
    if [ "$exists" != 1 ]; then
        as_pg "$(pgbin createdb)" -h "$TEST_DIR" -p "$PG_PORT" -U postgres "$DB"
        say "created database $DB"
    fi
}

pg_stop() {
    if pg_running; then
        as_pg "$(pgbin pg_ctl)" stop -D "$PGDATA_DIR" -m fast -w -t 60 >/dev/null
        say "PostgreSQL stopped"
    else
        say "PostgreSQL not running"
    fi
}

# ------------------------------------------------------------------ main --
prepare_dir() {
    # world-traversable; owned by postgres, who writes its socket, log and
    # the sandbox pidfile here
    mkdir -p "$TEST_DIR"
    chmod 0755 "$TEST_DIR"
    if is_root; then
        id postgres >/dev/null 2>&1 || die "user postgres does not exist (run test/install-deps.sh)"
        chown postgres:postgres "$TEST_DIR"
    fi
}

check_momo_installed() {
    case ",${PRELOAD// /}," in
        *,momo,*) ;;
        *) return 0 ;;
    esac
    local so
    so="$(pg_config --pkglibdir)/momo.so"
    [ -f "$so" ] || die "$so is missing: run 'make install' first (shared_preload_libraries = 'momo' needs it; MOMO_PRELOAD= starts without momo)"
}

cmd_start() {
    command -v pg_config >/dev/null || die "pg_config not found (run test/install-deps.sh)"
    pg_running || check_momo_installed
    prepare_dir
    bash "$REPO/test/make-ca.sh" "$CA_DIR" >/dev/null
    sandbox_start
    pg_start
    pg_create_db
}

cmd_stop() {
    pg_stop
    sandbox_stop
}

cmd_status() {
    local rc=0 pid
    if pid=$(sandbox_pid) && sandbox_healthy; then
        say "sandbox: running (pid $pid, $SANDBOX_URL, https://localhost:$HTTPS_PORT)"
    elif pid=$(sandbox_pid); then
        say "sandbox: process $pid alive but not answering $SANDBOX_URL/_sandbox/health"; rc=3
    else
        say "sandbox: not running"; rc=3
    fi
    if pg_running; then
        say "PostgreSQL: running (port $PG_PORT, socket dir $TEST_DIR, data $PGDATA_DIR)"
    else
        say "PostgreSQL: not running"; rc=3
    fi
    return $rc
}

cmd_env() {
    echo "export PGHOST=$TEST_DIR PGPORT=$PG_PORT PGUSER=postgres MOMO_SANDBOX_URL=$SANDBOX_URL"
    echo "export MOMO_SANDBOX_TLS_URL=https://localhost:$HTTPS_PORT MOMO_CA_FILE=$CA_DIR/ca.pem MOMO_TEST_DIR=$TEST_DIR"
}

case "${1:-}" in
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    env)    cmd_env ;;
    *)      echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
