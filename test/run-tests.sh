#!/usr/bin/env bash
# =============================================================================
# test/run-tests.sh -- `make test`: from a fresh Debian 12 machine to every
# test of momo.  Installs what is missing, builds momo with -Wall -Wextra
# -Werror, builds the Debian package postgresql-15-momo and installs it with
# apt (test/package.sh), builds the local MoMo sandbox, starts the throwaway
# test environment (test/cluster.sh), runs clang's static analyzer
# (test/scan-build.sh), the pg_regress suite against the test environment,
# the TAP suite (test/run-tap.sh), the Django example's tests
# (examples/django/run.sh test) and its demo used as a person would (run.sh
# demo-check), the fuzzers (test/fuzz/run.sh, 60 s per parser), the
# regression suite once more under AddressSanitizer (test/asan.sh), the
# regression and TAP suites once more against PostgreSQL built with
# --enable-cassert (test/cassert.sh), and ends with one line "N passed, N failed".
#
# test/cassert.sh runs in the background beside the other suites (its own
# PostgreSQL build in /opt, directories and ports; the build, about 3 minutes
# on 2 cores the first time on a machine, runs at a lower CPU priority); its
# output is shown and counted at the end.  MOMO_CASSERT_SERIAL=1 runs it after
# the others instead.
# =============================================================================
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

bash test/install-deps.sh
# momo with every warning an error (the Makefile's default only warns); -B
# rebuilds what an earlier plain `make` built without -Werror.  This build is
# a check: what the suites run against is the package below, built as Debian
# builds it.
make -s -B PG_CFLAGS='-Wall -Wextra -Werror'

passed=0
failed=0
log=$(mktemp)
failures=$(mktemp)
trap 'rm -f "$log" "$failures"' EXIT

# count PATTERN: lines of the last suite's output that match.
count() { grep -cE "$1" "$log" || true; }
# note_failures TITLE: keeps what the last suite's output says of its
# failures, to be shown again at the end (a CI log shows its end).
note_failures() {
    local found
    found=$(grep -E '^not ok [0-9]+|^FAILED|\.\.\. FAILED|^\| |^run-tap\.sh: failed|^cassert\.sh: +(- |FAILED)|\.\.\. (FAIL|ERROR)$' "$log" |
            grep -v '# TODO' | tail -n 60 || true)
    if [ -n "$found" ]; then
        { echo "---- $1"; echo "$found"; } >>"$failures"
    fi
}
# tap_failures: the "not ok N" lines of the last suite's output, without
# those of TODO tests (known failures, which prove does not count either).
tap_failures() { grep -E '^not ok [0-9]+' "$log" | grep -cv '# TODO' || true; }

# run_suite TITLE OK_RE FAILED_RE COMMAND...: runs a suite that prints one
# "ok ..." or "FAILED ..." line per check, shows its output, and counts those
# lines; a suite that exits non-zero without a FAILED line (it died before
# reporting) counts as one failure.  Its output stays in $log.
run_suite() {
    local title=$1 ok_re=$2 failed_re=$3 rc
    shift 3
    echo "== $title =="
    set +e
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    passed=$((passed + $(count "$ok_re")))
    failed=$((failed + $(count "$failed_re")))
    if [ "$rc" -ne 0 ] && [ "$(count "$failed_re")" -eq 0 ]; then
        failed=$((failed + 1))
    fi
    [ "$rc" -eq 0 ] || note_failures "$title"
    return 0
}

# momo is installed as a user of Debian installs it: the package, built once
# from this checkout and installed with apt; every suite below runs against
# its files.  Should that fail, make install puts momo in place instead, so
# that the suites still say what they can (the failure is counted).
run_suite "the Debian package, built once and installed with apt (test/package.sh)" \
    '^ok package ' '^FAILED package' bash test/package.sh
if [ "$(count '^ok package install')" -eq 0 ]; then
    echo "run-tests.sh: the package is not installed; the suites run against make install instead"
    if [ "$(id -u)" -eq 0 ]; then
        make -s install
    else
        sudo make -s install
    fi
fi
make -s -C test/sandbox

cassert_pid=
cassert_out=$(mktemp)
if [ "${MOMO_CASSERT_SERIAL:-0}" != 1 ]; then
    echo "== started in the background: the suites against PostgreSQL with --enable-cassert (test/cassert.sh) =="
    bash test/cassert.sh >"$cassert_out" 2>&1 &
    cassert_pid=$!
fi
# an early exit does not leave it running
stop_cassert() {
    if [ -n "$cassert_pid" ] && kill -0 "$cassert_pid" 2>/dev/null; then
        kill -TERM "$cassert_pid" 2>/dev/null || true
    fi
    rm -f "$cassert_out"
}
trap 'rm -f "$log"; stop_cassert' EXIT

test/cluster.sh start
eval "$(test/cluster.sh env)"

run_suite "the README's recipes are what the regression suite runs (test/check-readme.sh)" \
    '^ok recipe ' '^FAILED recipe' bash test/check-readme.sh

run_suite "clang's static analyzer over momo and the sandbox (test/scan-build.sh)" \
    '^ok scan-build$' '^FAILED scan-build$' bash test/scan-build.sh

run_suite "release metadata: META.json against PGXN's spec, one version everywhere (test/check-meta.sh)" \
    '^ok meta ' '^FAILED meta' bash test/check-meta.sh

echo "== regression tests (pg_regress) =="
set +e
make -s installcheck PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
passed=$((passed + $(count '\.\.\. ok ')))
failed=$((failed + $(count '\.\.\. FAILED')))
if [ "$rc" -ne 0 ]; then
    [ -f regression.diffs ] && cat regression.diffs
    [ "$(count '\.\.\. FAILED')" -gt 0 ] || failed=$((failed + 1))
    note_failures "regression tests (pg_regress)"
fi

echo "== TAP tests (prove) =="
set +e
bash test/run-tap.sh 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# each TAP assertion counts ("ok N" / "not ok N" in prove's verbose output;
# a TODO test's "not ok" is no failure)
passed=$((passed + $(count '^ok [0-9]+')))
failed=$((failed + $(tap_failures)))
if [ "$rc" -ne 0 ] && [ "$(tap_failures)" -eq 0 ]; then
    failed=$((failed + 1))      # a test file died before reporting
fi
[ "$rc" -eq 0 ] || note_failures "TAP tests (prove)"

run_suite "the Django example: Django's test runner against its own cluster and sandbox (examples/django/run.sh test)" \
    '^test_[a-z_]+ \(.*\) \.\.\. ok$' '^[a-zA-Z_]+ \(.*\) \.\.\. (FAIL|ERROR)$' bash examples/django/run.sh test

run_suite "the Django example's demo, used as a person would (examples/django/run.sh demo-check)" \
    '^ok demo ' '^FAILED demo' bash examples/django/run.sh demo-check

run_suite "fuzzing of the parsers of network data (test/fuzz/run.sh)" \
    '^ok +fuzz_' '^FAILED +fuzz_' bash test/fuzz/run.sh

echo "== regression suite under AddressSanitizer and UBSan (test/asan.sh) =="
set +e
bash test/asan.sh 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); note_failures "AddressSanitizer (test/asan.sh)"; fi

echo "== regression and TAP suites against PostgreSQL with --enable-cassert (test/cassert.sh) =="
set +e
if [ -n "$cassert_pid" ]; then
    wait_start=$(date +%s)
    wait "$cassert_pid"
    rc=$?
    cassert_pid=
    echo "(ran in the background; waited $(( $(date +%s) - wait_start )) s for it here)"
    cp "$cassert_out" "$log"
    cat "$log"
else
    bash test/cassert.sh 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
fi
set -e
# pg_regress's tests, TAP assertions, and the check of the server logs
passed=$((passed + $(count '\.\.\. ok ') + $(count '^ok [0-9]+') + $(count '^ok +cassert-logs')))
cassert_failed=$(( $(count '\.\.\. FAILED') + $(tap_failures) + $(count '^FAILED +cassert-logs') ))
failed=$((failed + cassert_failed))
if [ "$rc" -ne 0 ] && [ "$cassert_failed" -eq 0 ]; then
    failed=$((failed + 1))      # it could not run, or a suite died before reporting
fi
[ "$rc" -eq 0 ] || note_failures "--enable-cassert (test/cassert.sh)"

if [ -s "$failures" ]; then
    echo "== what failed, suite by suite (the details are above) =="
    cat "$failures"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
