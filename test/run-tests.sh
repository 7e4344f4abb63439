#!/usr/bin/env bash
# =============================================================================
# test/run-tests.sh -- `make test`: from a fresh Debian 12 machine to every
# test of momo.  Installs what is missing, builds and installs the extension
# and the local MoMo sandbox, starts the throwaway test environment
# (test/cluster.sh), runs the pg_regress suite against it, the TAP suite
# (test/run-tap.sh), the fuzzers (test/fuzz/run.sh, 60 s per parser) and the
# regression suite once more under AddressSanitizer (test/asan.sh), and ends
# with one line "N passed, N failed".
# =============================================================================
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

bash test/install-deps.sh
make -s
if [ "$(id -u)" -eq 0 ]; then
    make -s install
else
    sudo make -s install
fi
make -s -C test/sandbox

test/cluster.sh start
eval "$(test/cluster.sh env)"

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# count PATTERN: lines of the last suite's output that match.
count() { grep -cE "$1" "$log" || true; }
# tap_failures: the "not ok N" lines of the last suite's output, without
# those of TODO tests (known failures, which prove does not count either).
tap_failures() { grep -E '^not ok [0-9]+' "$log" | grep -cv '# TODO' || true; }

echo "== the README's recipes are what the regression suite runs (test/check-readme.sh) =="
set +e
bash test/check-readme.sh 2>&1 | tee "$log"
set -e
passed=$((passed + $(count '^ok recipe ')))
failed=$((failed + $(count '^FAILED recipe')))

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

echo "== fuzzing of the parsers of network data (test/fuzz/run.sh) =="
set +e
bash test/fuzz/run.sh 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
passed=$((passed + $(count '^ok +fuzz_')))
failed=$((failed + $(count '^FAILED +fuzz_')))
if [ "$rc" -ne 0 ] && [ "$(count '^FAILED +fuzz_')" -eq 0 ]; then
    failed=$((failed + 1))
fi

echo "== regression suite under AddressSanitizer and UBSan (test/asan.sh) =="
set +e
bash test/asan.sh 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
