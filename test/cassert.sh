#!/usr/bin/env bash
# =============================================================================
# test/cassert.sh -- runs the regression suite (pg_regress) and the TAP suite
# (test/run-tap.sh) once more against a PostgreSQL 15 built with
# --enable-cassert (test/build-cassert-pg.sh: Debian's source package, in
# $MOMO_CASSERT_PREFIX, default /opt/momo-postgresql-15-cassert).  There
# freed memory is overwritten with 0x7F bytes (CLOBBER_FREED_MEMORY), memory
# contexts are checked (MEMORY_CONTEXT_CHECKING) and PostgreSQL's assertions
# are on -- in momo too, built against it -- so momo reading palloc'd memory
# after SPI_finish or a context reset freed it fails here, where the normal
# build and ASan (which cannot see inside PostgreSQL's allocator) see nothing.
#
# Nothing shared is touched: not the system PostgreSQL, not the checkout's
# build output, not the shared test cluster.
#   1. test/build-cassert-pg.sh: reuses the cached build or makes it.
#   2. The checkout's sources are copied to $MOMO_CASSERT_DIR/src (default
#      /tmp/momo-cassert), momo is built there against the cassert
#      PostgreSQL's pg_config and installed into its prefix.  The copy's sql/
#      and expected/ name this run's sandbox ports where the suite spells
#      them out (18080/18443 become the ports below).
#   3. test/cluster.sh starts a cluster and sandbox with the cassert
#      PostgreSQL first on PATH, in $MOMO_CASSERT_DIR/cluster on its own ports
#      ($MOMO_CASSERT_PGPORT default 55450, sandbox $MOMO_CASSERT_HTTP_PORT
#      18100 / $MOMO_CASSERT_HTTPS_PORT 18463), `make installcheck` runs
#      there, then it is stopped.
#   4. test/run-tap.sh with the cassert PostgreSQL first on PATH, in
#      $MOMO_CASSERT_DIR/tap (its clusters and sandboxes take free ports).
#   5. The server logs of both are searched for what only the server log
#      shows: failed assertions (TRAP:), processes killed by a signal other
#      than SIGKILL (the tests' own kills), the memory context checks'
#      warnings (problem in alloc set, detected write past chunk end),
#      leaked resources (... leak, snapshots still active) and SPI_connect
#      without SPI_finish (left non-empty SPI stack).  Core files of crashed
#      processes (core dumps are enabled for the servers started here) get a
#      gdb backtrace.
# So both suites can run beside the normal ones (test/run-tests.sh), all of
# this uses its own directories and ports; one run at a time per prefix.
#
# Output: pg_regress's and prove's own lines, then one line
# "ok     cassert-logs: ..." or "FAILED cassert-logs: ..." and a summary.
# Exits 0 when everything passed, 1 when a suite or the log check failed, 2
# when it could not run.
# Timeouts: MOMO_CASSERT_TIMEOUT seconds for each suite (default 1800).
# Usage: bash test/cassert.sh      (as root or as a user who can run postgres
#        and write the prefix)
# =============================================================================
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${MOMO_CASSERT_PREFIX:-/opt/momo-postgresql-15-cassert}
WORK=${MOMO_CASSERT_DIR:-/tmp/momo-cassert}
PGPORT_C=${MOMO_CASSERT_PGPORT:-55450}
HTTP_PORT_C=${MOMO_CASSERT_HTTP_PORT:-18100}
HTTPS_PORT_C=${MOMO_CASSERT_HTTPS_PORT:-18463}
TIMEOUT=${MOMO_CASSERT_TIMEOUT:-1800}
export MOMO_CASSERT_PREFIX=$PREFIX
PGBIN=$PREFIX/bin
PG_CONFIG_C=$PGBIN/pg_config
CLUSTER_DIR=$WORK/cluster
TAP_DIR=$WORK/tap

die() { echo "cassert.sh: $*" >&2; exit 2; }
say() { echo "cassert.sh: $*"; }

case "$WORK" in /|/tmp|"") die "refusing work directory '$WORK'" ;; esac
start=$(date +%s)

# cluster ARGS: test/cluster.sh on this run's directory and ports, cassert PostgreSQL.
cluster() {
    MOMO_TEST_DIR=$CLUSTER_DIR MOMO_TEST_PGPORT=$PGPORT_C \
    MOMO_TEST_HTTP_PORT=$HTTP_PORT_C MOMO_TEST_HTTPS_PORT=$HTTPS_PORT_C \
    PATH="$PGBIN:$PATH" bash "$REPO/test/cluster.sh" "$@"
}
# stopped however this ends (on SIGTERM, once the step under way is over)
cluster_up=
cleanup() {
    if [ -n "$cluster_up" ]; then
        cluster stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM

# --- 1. the cassert PostgreSQL ------------------------------------------------------
bash "$REPO/test/build-cassert-pg.sh" || die "no cassert PostgreSQL in $PREFIX (test/build-cassert-pg.sh failed)"
grep -q '^#define USE_ASSERT_CHECKING 1' "$PREFIX/include/15/server/pg_config.h" ||
    die "$PREFIX is not built with --enable-cassert"

# one run at a time: momo.so is installed into the shared prefix
exec 8>"$PREFIX.run.lock"
if ! flock -n 8; then
    say "another cassert run uses $PREFIX; waiting for it (up to 60 min)"
    flock -w 3600 8 || die "timed out waiting for the lock $PREFIX.run.lock"
fi

# the cluster of an earlier run may still be up
if [ -f "$CLUSTER_DIR/pgdata/postmaster.pid" ] || [ -f "$CLUSTER_DIR/sandbox.pid" ]; then
    cluster stop >/dev/null 2>&1 || true
fi
rm -rf "$WORK"
mkdir -p "$WORK/src"
chmod 0755 "$WORK"

# --- 2. momo built against it, in a copy ------------------------------------------
say "building momo against $PG_CONFIG_C in $WORK/src"
cp -r "$REPO/Makefile" "$REPO/momo.control.in" "$REPO/sql" "$REPO/expected" "$REPO/src" "$WORK/src/"
# the regression test lifecycle reads the C names through test/c-names.sh
mkdir -p "$WORK/src/test" && cp "$REPO/test/c-names.sh" "$WORK/src/test/"
rm -f "$WORK/src/src/"*.o "$WORK/src/"*.so
sed -i -e "s|localhost:18443|localhost:$HTTPS_PORT_C|g" \
       -e "s|localhost:18080|localhost:$HTTP_PORT_C|g" \
       -e "s|127.0.0.1:18080|127.0.0.1:$HTTP_PORT_C|g" \
       -e "s|127.0.0.1:18443|127.0.0.1:$HTTPS_PORT_C|g" \
       "$WORK/src/sql/"*.sql "$WORK/src/expected/"*.out
if ! make -s -C "$WORK/src" -j2 PG_CONFIG="$PG_CONFIG_C" >"$WORK/build.log" 2>&1 ||
   ! make -s -C "$WORK/src" install PG_CONFIG="$PG_CONFIG_C" >>"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2
    die "building or installing momo against the cassert PostgreSQL failed"
fi
[ -f "$PREFIX/lib/momo.so" ] || die "$PREFIX/lib/momo.so is missing after make install"
if [ ! -x "$REPO/test/sandbox/momo-sandbox" ]; then
    make -s -C "$REPO/test/sandbox" >/dev/null || die "could not build the sandbox"
fi

# the servers of both suites may dump core (test/cluster.sh, test/run-tap.sh;
# the system's core_pattern decides where: "core" = the data directory)
export MOMO_CORE_FILES=1

# --- 3. regression suite ---------------------------------------------------------------
regress_rc=0
say "starting the cassert cluster (port $PGPORT_C, sandbox $HTTP_PORT_C/$HTTPS_PORT_C)"
cluster_up=1
cluster start || regress_rc=$?
if [ "$regress_rc" -eq 0 ]; then
    say "make installcheck against it"
    set +e
    timeout "$TIMEOUT" \
        make -C "$WORK/src" installcheck PG_CONFIG="$PG_CONFIG_C" PGHOST="$CLUSTER_DIR" \
        PGPORT="$PGPORT_C" PGUSER=postgres 2>&1 | tee "$WORK/installcheck.log"
    regress_rc=${PIPESTATUS[0]}
    set -e
    if [ "$regress_rc" -ne 0 ] && [ -f "$WORK/src/regression.diffs" ]; then
        echo "======== $WORK/src/regression.diffs (first 200 lines)"
        head -n 200 "$WORK/src/regression.diffs"
    fi
    cluster stop || true
    cluster_up=
else
    say "the cassert cluster did not start"
fi

# --- 4. TAP suite -------------------------------------------------------------------------
say "TAP suite (test/run-tap.sh) against the cassert PostgreSQL"
set +e
PATH="$PGBIN:$PATH" MOMO_TAP_DIR=$TAP_DIR timeout "$TIMEOUT" bash "$REPO/test/run-tap.sh"
tap_rc=$?
set -e

# --- 5. server logs and cores -------------------------------------------------------------
shopt -s nullglob
logs=("$CLUSTER_DIR/postgres.log" "$TAP_DIR"/tmp_check/log/*.log "$TAP_DIR"/tmp_check/log/regress_log_*)
# failed assertions, crashes, memory context checks, resources left at commit
# ("relcache reference leak", "buffer refcount leak", ...), SPI_connect
# without SPI_finish, snapshots left registered
PATTERN='TRAP:|was terminated by signal|problem in alloc set|detected write past chunk end'
PATTERN+='|WARNING: +[a-zA-Z ]*leak|left non-empty SPI stack|WARNING: +snapshot .* still active'
findings=$WORK/log-findings.txt
: >"$findings"
for log in "${logs[@]}"; do
    [ -f "$log" ] || continue
    # SIGKILL is what the TAP tests send on purpose (002_crash, 001_worker)
    grep -n -E "$PATTERN" "$log" |
        grep -v -E 'terminated by signal 9: Killed' |
        sed "s|^|$log:|" >>"$findings" || true
done
cores=()
while IFS= read -r -d '' c; do
    cores+=("$c")
done < <(find "$WORK" -type f \( -name core -o -name 'core.[0-9]*' \) -print0 2>/dev/null)
if [ -s "$findings" ] || [ ${#cores[@]} -gt 0 ]; then
    echo "======== what the server logs show (cassert run)"
    head -n 100 "$findings"
    for c in "${cores[@]}"; do
        echo "======== backtrace of $c"
        if command -v gdb >/dev/null; then
            timeout 120 gdb -q -batch -ex 'bt full' "$PGBIN/postgres" "$c" 2>&1 | head -n 150 || true
        else
            echo "(gdb is not installed)"
        fi
    done
    echo "FAILED cassert-logs: $(wc -l <"$findings") line(s) in the server logs, ${#cores[@]} core file(s)"
    logs_ok=0
else
    echo "ok     cassert-logs: no failed assertion, crash, memory context warning or leak in ${#logs[@]} server logs"
    logs_ok=1
fi

# --- verdict --------------------------------------------------------------------------
problems=()
if [ "$regress_rc" -ne 0 ]; then
    failed_tests=$(sed -n 's/^test \([^ ]*\) .*\.\.\. FAILED.*/\1/p' "$WORK/installcheck.log" 2>/dev/null | tr '\n' ' ')
    problems+=("regression suite (exit $regress_rc${failed_tests:+; failed: ${failed_tests% }}; diffs $WORK/src/regression.diffs, server log $CLUSTER_DIR/postgres.log)")
fi
if [ "$tap_rc" -ne 0 ]; then
    problems+=("TAP suite (exit $tap_rc; logs $TAP_DIR/tmp_check/log)")
fi
[ "$logs_ok" -eq 1 ] || problems+=("server logs ($findings)")
say "took $(( $(date +%s) - start )) s"
if [ ${#problems[@]} -gt 0 ]; then
    say "FAILED against PostgreSQL with assertions and freed-memory poisoning ($PREFIX):"
    for p in "${problems[@]}"; do
        echo "cassert.sh:   - $p"
    done
    say "a test that passes against the normal build but fails here usually means momo read memory after it was freed (poisoned with 0x7F) or overran a palloc'd chunk"
    exit 1
fi
say "passed: the regression and TAP suites ran clean against PostgreSQL with --enable-cassert"
