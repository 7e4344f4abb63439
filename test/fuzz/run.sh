#!/usr/bin/env bash
# =============================================================================
# test/fuzz/run.sh [SECONDS] [TARGET...] -- builds momo's libFuzzer targets
# (test/fuzz/Makefile) and runs each for SECONDS (default $MOMO_FUZZ_SECONDS,
# else 60) on its seed corpus (corpus/<target>/) plus the reproducers of
# bugs found before (repro/<target>/), then prints, per target, executions,
# coverage and corpus size.  Exits 1 if any target crashed, leaked, timed out
# or broke an invariant; the input that did it is kept and its path, base64
# and report (stack) are printed.  Exits 2 if the targets cannot be built.
#
# Nothing is written into the checkout: the build, the growing corpus (kept
# between runs, merged with the seeds), logs and crash inputs live in
# $MOMO_FUZZ_DIR (default /tmp/momo-fuzz).
#
# Reproduce a kept input:  /tmp/momo-fuzz/build/fuzz_<target> <input file>
# =============================================================================
set -euo pipefail

FUZZ=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRATCH=${MOMO_FUZZ_DIR:-/tmp/momo-fuzz}
SECS=${MOMO_FUZZ_SECONDS:-60}
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
    SECS=$1
    shift
fi
case "$SCRATCH" in /|/tmp|"") echo "run.sh: refusing scratch directory '$SCRATCH'" >&2; exit 2 ;; esac

mkdir -p "$SCRATCH/build" "$SCRATCH/corpus" "$SCRATCH/crashes" "$SCRATCH/logs"
if ! make -s -C "$FUZZ" BUILD="$SCRATCH/build" >"$SCRATCH/logs/build.log" 2>&1; then
    cat "$SCRATCH/logs/build.log" >&2
    echo "run.sh: building the fuzz targets failed" >&2
    exit 2
fi
if grep -q 'warning:' "$SCRATCH/logs/build.log"; then
    grep 'warning:' "$SCRATCH/logs/build.log" >&2
fi

if [ $# -gt 0 ]; then
    TARGETS=("$@")
else
    read -r -a TARGETS <<<"$(make -s -C "$FUZZ" list)"
fi

# AddressSanitizer reports through llvm-symbolizer when it can find one.
for s in /usr/lib/llvm-14/bin/llvm-symbolizer "$(command -v llvm-symbolizer || true)"; do
    if [ -n "$s" ] && [ -x "$s" ]; then
        export ASAN_SYMBOLIZER_PATH=$s
        break
    fi
done
# Leaks are checked: fuzz_support.c frees each input's palloc'd memory after
# it, so anything still allocated is memory momo would leak in the backend too.
export ASAN_OPTIONS=detect_leaks=1:symbolize=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# final_stat NAME LOG: the value of libFuzzer's final "stat::NAME: value" line.
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

failed=()
summary=()
for t in "${TARGETS[@]}"; do
    bin=$SCRATCH/build/fuzz_$t
    [ -x "$bin" ] || { echo "run.sh: no fuzz target '$t' (make -C test/fuzz list)" >&2; exit 2; }
    work=$SCRATCH/corpus/$t
    log=$SCRATCH/logs/$t.log
    mkdir -p "$work"
    cp -f "$FUZZ/corpus/$t"/* "$work"/ 2>/dev/null || true
    [ -d "$FUZZ/repro/$t" ] && cp -f "$FUZZ/repro/$t"/* "$work"/ 2>/dev/null
    rm -f "$SCRATCH/crashes/$t"-*

    echo "== fuzz_$t: ${SECS}s, corpus $(ls "$work" | wc -l) inputs (log $log)"
    set +e
    "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -dict="$FUZZ/momo.dict" -print_final_stats=1 \
        -artifact_prefix="$SCRATCH/crashes/$t-" "$work" >"$log" 2>&1
    rc=$?
    set -e

    execs=$(final_stat number_of_executed_units "$log")
    rate=$(final_stat average_exec_per_sec "$log")
    last=$(grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
    line=$(printf 'fuzz_%-9s %10s execs %7s/s  cov %4s  ft %5s  corpus %s' \
        "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
    if [ "$rc" -eq 0 ]; then
        summary+=("ok      $line")
        echo "   $line"
        continue
    fi

    failed+=("$t")
    summary+=("FAILED  $line  (exit $rc)")
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "   $line  (exit $rc: a finding)"
    echo "---- report of fuzz_$t ----"
    # from the first sanitizer/libFuzzer/invariant line to the summary
    awk '/^==momo-fuzz==|^==[0-9]+==|runtime error:|^INFO: a leak|^ALARM|^MS: / { on = 1 }
         on { print }
         /^SUMMARY:/ { exit }' "$log" | head -n 80
    if [ -n "$input" ] && [ -f "$input" ]; then
        echo "---- input kept in $input ($(wc -c <"$input") bytes); base64:"
        base64 -w 76 "$input" | head -n 20
        echo "---- reproduce: $bin $input"
    fi
done

echo
echo "== fuzz summary (${SECS}s per target; cov = instrumented edges of momo's parsers + harness)"
# one line per target, "ok" or "FAILED" first (test/run-tests.sh counts them)
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in $SCRATCH/crashes)"
    exit 1
fi
echo "fuzz: all ${#TARGETS[@]} targets ran ${SECS}s without a finding"
