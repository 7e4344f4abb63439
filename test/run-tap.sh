#!/usr/bin/env bash
# =============================================================================
# test/run-tap.sh [TEST...] -- runs momo's TAP tests (test/t/*.pl) with
# PostgreSQL's own framework (PostgreSQL::Test::Cluster).  Each test file
# starts its own clusters and its own sandbox on free ports, so this needs
# neither test/cluster.sh nor anything else running.
#
# Called as root (the tests then run as user postgres: initdb refuses root)
# or as any other user, from any directory.  Copies test/t to a fresh scratch
# directory ($MOMO_TAP_DIR, default /tmp/momo-tap) and runs
# `prove -v --timer t/*.pl` there (or only the given tests, e.g. 002_crash);
# exits with prove's status.  On failure it prints the tail of the server
# and sandbox logs (tmp_check/log) of each test file that failed.
# The PostgreSQL used is the one of the pg_config found on PATH.
# MOMO_CORE_FILES=1 raises the core file size limit of the tests to its hard
# limit, so the servers they start can dump core (runuser resets it).
#
# Needs: momo installed (make install), the sandbox built
# (make -C test/sandbox), perl with IPC::Run, prove, PostgreSQL 15's pgxs.
# =============================================================================
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRATCH=${MOMO_TAP_DIR:-/tmp/momo-tap}
SANDBOX_BIN=$REPO/test/sandbox/momo-sandbox

die() { echo "run-tap.sh: $*" >&2; exit 2; }

command -v pg_config >/dev/null || die "pg_config not found (run test/install-deps.sh)"
command -v prove >/dev/null || die "prove not found (perl)"
BINDIR=$(pg_config --bindir)
PGXSDIR=$(dirname "$(dirname "$(dirname "$(pg_config --pgxs)")")")
PERLLIB=$PGXSDIR/src/test/perl
PG_REGRESS_BIN=$PGXSDIR/src/test/regress/pg_regress
[ -f "$PERLLIB/PostgreSQL/Test/Cluster.pm" ] || die "$PERLLIB/PostgreSQL/Test/Cluster.pm is missing (postgresql-server-dev)"
[ -x "$PG_REGRESS_BIN" ] || die "$PG_REGRESS_BIN is missing"
perl -MIPC::Run -e 1 2>/dev/null || die "perl module IPC::Run is missing (libipc-run-perl)"
if [ ! -x "$SANDBOX_BIN" ]; then
    echo "run-tap.sh: building the sandbox (make -C test/sandbox)"
    make -s -C "$REPO/test/sandbox" >&2 || die "could not build $SANDBOX_BIN"
fi
[ -x "$SANDBOX_BIN" ] || die "$SANDBOX_BIN is missing: make -C $REPO/test/sandbox"
SO=$(pg_config --pkglibdir)/momo.so
[ -f "$SO" ] || die "$SO is missing: make -C $REPO install"
# installed by the package (test/package.sh), momo.so carries the package's
# timestamps: the time it was installed is that of dpkg's list of its files
owner=$(dpkg-query -S "$SO" 2>/dev/null | sed -n '1s/: .*//p' || true)
installed_at=$SO
[ -n "$owner" ] && [ -f "/var/lib/dpkg/info/$owner.list" ] && installed_at=/var/lib/dpkg/info/$owner.list
if [ -f "$REPO/momo.so" ] && [ "$REPO/momo.so" -nt "$SO" ] && [ "$REPO/momo.so" -nt "$installed_at" ]; then
    echo "run-tap.sh: warning: $REPO/momo.so is newer than the installed $SO${owner:+ (package $owner)} (make install, or test/package.sh?)" >&2
fi

if [ "$(id -u)" -eq 0 ]; then
    RUN_USER=postgres
    id "$RUN_USER" >/dev/null 2>&1 || die "user postgres does not exist (run test/install-deps.sh)"
else
    RUN_USER=$(id -un)
fi

# a fresh scratch directory owned by the user who runs the tests
case "$SCRATCH" in /|/tmp|"") die "refusing scratch directory '$SCRATCH'" ;; esac
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
cp -r "$REPO/test/t" "$SCRATCH/t"
# the tests run as postgres, who may not be able to enter the checkout
cp "$SANDBOX_BIN" "$SCRATCH/momo-sandbox"
cp "$REPO/test/make-ca.sh" "$SCRATCH/make-ca.sh"
cp -r "$REPO/monitoring" "$SCRATCH/monitoring"    # the exporter's queries file (t/034_exporter.pl)
cp "$REPO/README.md" "$SCRATCH/README.md"              # the recipes t/053_pooler.pl runs as printed
if [ "$(id -u)" -eq 0 ]; then
    chown -R "$RUN_USER:" "$SCRATCH"
    chmod 0755 "$SCRATCH"
fi

# tests may be named as t/NAME.pl, test/t/NAME.pl, NAME.pl or NAME
TESTS=()
for t in "$@"; do
    t=$(basename "$t" .pl)
    [ -f "$SCRATCH/t/$t.pl" ] || die "no test t/$t.pl"
    TESTS+=("t/$t.pl")
done
if [ ${#TESTS[@]} -eq 0 ]; then
    # prove looks for *.t by default; ours are *.pl, as in PostgreSQL
    TESTS=($(cd "$SCRATCH" && ls t/*.pl))
fi

run_env=(env
    HOME="$SCRATCH"
    PATH="$BINDIR:/usr/local/bin:/usr/bin:/bin"
    LANG=C.UTF-8 LC_ALL=C.UTF-8
    TESTDIR="$SCRATCH"
    PERL5LIB="$PERLLIB${PERL5LIB:+:$PERL5LIB}"
    PG_REGRESS="$PG_REGRESS_BIN"
    MOMO_SANDBOX_BIN="$SCRATCH/momo-sandbox")
[ -n "${PG_TEST_NOCLEAN:-}" ] && run_env+=(PG_TEST_NOCLEAN="$PG_TEST_NOCLEAN")

core_limit=()
if [ "${MOMO_CORE_FILES:-0}" = 1 ]; then
    core_limit=(bash -c 'ulimit -S -c "$(ulimit -H -c)" 2>/dev/null; exec "$@"' core-limit)
fi

rc=0
start=$(date +%s)
set +e
if [ "$(id -u)" -eq 0 ]; then
    (cd "$SCRATCH" && runuser -u "$RUN_USER" -- "${core_limit[@]}" "${run_env[@]}" prove -v --timer "${TESTS[@]}") 2>&1 | tee "$SCRATCH/prove.out"
else
    (cd "$SCRATCH" && "${core_limit[@]}" "${run_env[@]}" prove -v --timer "${TESTS[@]}") 2>&1 | tee "$SCRATCH/prove.out"
fi
rc=${PIPESTATUS[0]}
set -e
echo "run-tap.sh: prove exited with $rc after $(( $(date +%s) - start )) s (scratch dir $SCRATCH)"

if [ "$rc" -ne 0 ]; then
    # the server and sandbox logs of the test files that failed (all of
    # them if prove's summary names none, e.g. when it was interrupted)
    failed=$(sed -n 's|^t/\([^ ]*\)\.pl *(Wstat.*|\1|p' "$SCRATCH/prove.out" | sort -u)
    shopt -s nullglob
    logs=()
    if [ -n "$failed" ]; then
        for t in $failed; do
            logs+=("$SCRATCH/tmp_check/log/${t}"_*.log)
        done
    else
        logs=("$SCRATCH"/tmp_check/log/*.log)
    fi
    for log in "${logs[@]}"; do
        echo
        echo "======== tail of $log ========"
        tail -n 60 "$log"
    done
    # last, what the failed test files said themselves (the part of a CI
    # log that is shown is its end): the end of each one's own log, where
    # a die's message is, then every failed assertion and why prove failed
    for t in $failed; do
        log=$SCRATCH/tmp_check/log/regress_log_$t
        [ -f "$log" ] || continue
        echo
        echo "======== tail of $log ========"
        tail -n 40 "$log" | sed 's/^/| /'    # indented: run-tests.sh counts "not ok" lines
    done
    echo
    echo "======== failed assertions and test files (prove) ========"
    grep -E '^not ok [0-9]+|^#   Failed test|^#   at |^# Looks like|^Dubious|^t/.*(Wstat|Failed)' \
        "$SCRATCH/prove.out" | grep -v '# TODO' | tail -n 60 | sed 's/^/| /' || true
    echo
    echo "run-tap.sh: failed: ${failed:-?}; full logs in $SCRATCH/tmp_check/log (regress_log_* = each test's own log)"
fi
exit "$rc"
