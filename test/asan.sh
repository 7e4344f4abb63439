#!/usr/bin/env bash
# =============================================================================
# test/asan.sh -- runs the whole pg_regress suite once against a momo built
# with AddressSanitizer and UndefinedBehaviorSanitizer, and fails if a
# sanitizer reports anything or a server process crashes.
#
# Nothing shared is touched: not the installed momo.so, not the checkout's
# build output, not the shared test cluster (test/cluster.sh, port 55432).
#   1. The checkout's sources are copied to $MOMO_ASAN_DIR/src (default
#      /tmp/momo-asan) and momo.so is built there with
#      -fsanitize=address,undefined.
#   2. A private, relocated copy of the PostgreSQL installation is made in
#      $MOMO_ASAN_DIR/pg: PostgreSQL finds $libdir and its share directory
#      relative to its own binary, so a copied postgres binary with a lib/
#      directory of symlinks (momo.so: the sanitized build) and a share/
#      directory with momo's extension files loads the sanitized momo without
#      it being installed anywhere.  Its bin/postgres is a wrapper that starts
#      the real binary with LD_PRELOAD=libasan (the runtime must come first;
#      the postgres binary itself is not instrumented) plus a shim that
#      initialises it before any library constructor, and ASAN_OPTIONS /
#      UBSAN_OPTIONS writing reports to $MOMO_ASAN_DIR/reports.
#   3. test/cluster.sh starts a cluster and sandbox on their own ports and
#      directory (MOMO_TEST_DIR=$MOMO_ASAN_DIR/cluster, PostgreSQL port
#      $MOMO_ASAN_PGPORT default 55440, sandbox 18090/18453) with the
#      relocated PostgreSQL first on PATH -- the same settings as the shared
#      test cluster -- and `make installcheck` runs there, then it is stopped.
#      The copy's sql/ and expected/ name the sandbox's ports where the suite
#      spells them out (18080/18443 become the ports above).
#   4. Fails if a sanitizer reported (an asan.* / ubsan.* file, or a report
#      in the server log), a server process crashed (the postmaster's
#      crash-restart lines), or the suite failed or ran over
#      $MOMO_ASAN_TIMEOUT seconds (default 1200).
#
# Leaks are not checked here (detect_leaks=0): LeakSanitizer cannot tell
# PostgreSQL's by-design process-lifetime allocations from momo's; the TAP
# test t/007_memory.pl checks the worker's memory over thousands of payments.
# Limits: only momo.so is instrumented, and palloc'd memory is carved out of
# large malloc'd blocks, so an overrun inside a memory context is not seen;
# malloc'd memory (libcurl's, momo's own), the stack and globals of momo are.
#
# Needs: gcc's libasan/libubsan (build-essential), the packages of
# test/install-deps.sh, and the sandbox (built here if missing).
# Usage: bash test/asan.sh      (as root or as a user who can run postgres)
# =============================================================================
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${MOMO_ASAN_DIR:-/tmp/momo-asan}
PGPORT_ASAN=${MOMO_ASAN_PGPORT:-55440}
HTTP_PORT_ASAN=${MOMO_ASAN_HTTP_PORT:-18090}
HTTPS_PORT_ASAN=${MOMO_ASAN_HTTPS_PORT:-18453}
REPORTS=$WORK/reports

die() { echo "asan.sh: $*" >&2; exit 2; }
say() { echo "asan.sh: $*"; }

case "$WORK" in /|/tmp|"") die "refusing work directory '$WORK'" ;; esac
command -v pg_config >/dev/null || die "pg_config not found (run test/install-deps.sh)"
LIBASAN=$(gcc -print-file-name=libasan.so)
[ -f "$LIBASAN" ] || die "gcc's libasan.so not found (build-essential)"
start=$(date +%s)

# cluster ARGS: test/cluster.sh on the sanitized cluster's directory and ports.
cluster() {
    MOMO_TEST_DIR=$WORK/cluster MOMO_TEST_PGPORT=$PGPORT_ASAN \
    MOMO_TEST_HTTP_PORT=$HTTP_PORT_ASAN MOMO_TEST_HTTPS_PORT=$HTTPS_PORT_ASAN \
    PATH="$PGBIN:$PATH" bash "$REPO/test/cluster.sh" "$@"
}
BINDIR=$(pg_config --bindir)
PKGLIBDIR=$(pg_config --pkglibdir)
SHAREDIR=$(pg_config --sharedir)
PG=$WORK/pg
PGBIN=$PG$BINDIR
# the cluster of an earlier run may still be up
if [ -x "$PGBIN/pg_ctl" ]; then
    cluster stop >/dev/null 2>&1 || true
fi
rm -rf "$WORK"
mkdir -p "$WORK/src" "$REPORTS"
chmod 0755 "$WORK"

# --- 1. momo.so with sanitizers, built in a copy --------------------------------
say "building momo with -fsanitize=address,undefined in $WORK/src"
cp -r "$REPO/Makefile" "$REPO/momo.control.in" "$REPO/sql" "$REPO/expected" "$REPO/src" "$WORK/src/"
# the regression test lifecycle reads the C names through test/c-names.sh
mkdir -p "$WORK/src/test" && cp "$REPO/test/c-names.sh" "$WORK/src/test/"
rm -f "$WORK/src/src/"*.o "$WORK/src/"*.so
# the suite names the shared cluster's sandbox ports; this copy uses its own
sed -i -e "s|localhost:18443|localhost:$HTTPS_PORT_ASAN|g" \
       -e "s|localhost:18080|localhost:$HTTP_PORT_ASAN|g" \
       -e "s|127.0.0.1:18080|127.0.0.1:$HTTP_PORT_ASAN|g" \
       -e "s|127.0.0.1:18443|127.0.0.1:$HTTPS_PORT_ASAN|g" \
       "$WORK/src/sql/"*.sql "$WORK/src/expected/"*.out
if ! make -s -C "$WORK/src" \
        PG_CFLAGS='-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g' \
        >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2
    die "building the sanitized momo.so failed"
fi
ldd "$WORK/src/momo.so" | grep -q libasan || die "$WORK/src/momo.so is not linked with libasan"

# --- 2. a relocated PostgreSQL that loads it --------------------------------------
say "relocated PostgreSQL in $PG"
mkdir -p "$PGBIN" "$PG$PKGLIBDIR" "$PG$SHAREDIR/extension"
for f in "$BINDIR"/*; do
    ln -s "$f" "$PGBIN/$(basename "$f")"
done
# binaries that locate lib/ and share/ from their own path must be copies
for f in pg_ctl initdb pg_config; do
    rm -f "$PGBIN/$f"
    cp "$BINDIR/$f" "$PGBIN/$f"
done
rm -f "$PGBIN/postgres" "$PGBIN/postmaster"
cp "$BINDIR/postgres" "$PGBIN/postgres.bin"
# The sanitizer runtime initialises on its first malloc; preloaded, that can
# be inside a library constructor holding glibc's gettext lock (libgpg-error's
# bindtextdomain), and its initialisation then deadlocks on that lock.  This
# shim, marked to be initialised before every other object, initialises it
# first, as the .preinit_array of a sanitized executable would.
cat >"$WORK/asan-first.c" <<'EOF'
/* asan-first.so: initialises AddressSanitizer before any library constructor runs. */
extern void __asan_init(void);
static void asan_first(void) __attribute__((constructor));

/* Constructor run first (-z initfirst): starts the sanitizer runtime. */
static void
asan_first(void)
{
	__asan_init();
}
EOF
gcc -shared -fPIC -Wall -o "$WORK/asan-first.so" "$WORK/asan-first.c" -Wl,-z,initfirst "$LIBASAN" ||
    die "could not build $WORK/asan-first.so"
cat >"$PGBIN/postgres" <<EOF
#!/bin/sh
# postgres with the AddressSanitizer runtime preloaded (written by test/asan.sh)
LD_PRELOAD="$LIBASAN $WORK/asan-first.so"
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:log_path=$REPORTS/asan:disable_coredump=1
UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$REPORTS/ubsan
export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
exec "$PGBIN/postgres.bin" "\$@"
EOF
chmod 0755 "$PGBIN/postgres"
for f in "$PKGLIBDIR"/*; do
    ln -s "$f" "$PG$PKGLIBDIR/$(basename "$f")"
done
rm -f "$PG$PKGLIBDIR/momo.so"
install -m 0755 "$WORK/src/momo.so" "$PG$PKGLIBDIR/momo.so"
for f in "$SHAREDIR"/*; do
    [ "$(basename "$f")" = extension ] && continue
    ln -s "$f" "$PG$SHAREDIR/$(basename "$f")"
done
for f in "$SHAREDIR"/extension/*; do
    ln -s "$f" "$PG$SHAREDIR/extension/$(basename "$f")"
done
rm -f "$PG$SHAREDIR"/extension/momo.control "$PG$SHAREDIR"/extension/momo--*.sql
install -m 0644 "$WORK/src/momo.control" "$WORK/src/sql/"momo--*.sql "$PG$SHAREDIR/extension/"
[ "$("$PGBIN/pg_config" --pkglibdir)" = "$PG$PKGLIBDIR" ] ||
    die "this PostgreSQL is not relocatable: $PGBIN/pg_config --pkglibdir says $("$PGBIN/pg_config" --pkglibdir)"
timeout 30 "$PGBIN/postgres" -V >/dev/null || die "the relocated postgres does not run under the sanitizer runtime"
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "user postgres does not exist"
    chown postgres: "$REPORTS"
fi

# --- 3. cluster + sandbox on their own ports, then the regression suite ---------
if [ ! -x "$REPO/test/sandbox/momo-sandbox" ]; then
    make -s -C "$REPO/test/sandbox" >/dev/null || die "could not build the sandbox"
fi
say "starting the sanitized cluster (port $PGPORT_ASAN, sandbox $HTTP_PORT_ASAN/$HTTPS_PORT_ASAN)"
rc=0
cluster start || rc=$?
if [ "$rc" -eq 0 ]; then
    say "make installcheck against it"
    set +e
    timeout "${MOMO_ASAN_TIMEOUT:-1200}" \
        make -C "$WORK/src" installcheck PG_CONFIG="$PGBIN/pg_config" PGHOST="$WORK/cluster" \
        PGPORT="$PGPORT_ASAN" PGUSER=postgres 2>&1 | tee "$WORK/installcheck.log"
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" -ne 0 ] && [ -f "$WORK/src/regression.diffs" ] && head -n 200 "$WORK/src/regression.diffs"
    # fast shutdown: the worker's and backends' exit paths run sanitized too
    cluster stop || true
fi

# --- 4. verdict: reports, crashes, the suite's result ------------------------------
problems=0
shopt -s nullglob
reports=("$REPORTS"/asan.* "$REPORTS"/ubsan.*)
for r in "${reports[@]}"; do
    echo "======== sanitizer report $r"
    head -n 80 "$r"
    problems=$((problems + 1))
done
log=$WORK/cluster/postgres.log
# UBSan of gcc reports on stderr (the server log) whatever its log_path
if [ -f "$log" ] && grep -E -A 12 'runtime error:|ERROR: AddressSanitizer|Sanitizer:' "$log"; then
    echo "asan.sh: a sanitizer reported in the server log $log"
    problems=$((problems + 1))
fi
# a sanitizer stops the process; the postmaster then restarts every process
if [ -f "$log" ] && grep -E 'terminated by signal|terminating any other active server processes|all server processes terminated; reinitializing' "$log"; then
    echo "asan.sh: a server process crashed (see $log)"
    problems=$((problems + 1))
fi
if [ "$rc" -ne 0 ]; then
    echo "asan.sh: the regression suite failed under the sanitizers (exit $rc; $WORK/installcheck.log)"
    problems=$((problems + 1))
fi
say "took $(( $(date +%s) - start )) s"
if [ "$problems" -gt 0 ]; then
    say "FAILED: ${#reports[@]} sanitizer report(s); server log $log"
    exit 1
fi
say "passed: the regression suite ran clean under AddressSanitizer and UBSan"
