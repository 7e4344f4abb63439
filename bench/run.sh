#!/usr/bin/env bash
# =============================================================================
# bench/run.sh [N] -- throughput benchmark of momo's background worker
# against its ceiling (default N = 10000).
#
#  1. starts the test environment (test/cluster.sh start; needs `make install`)
#     and creates the extension momo in contrib_regression if missing; sets
#     momo's default polling schedule for the run (restored on exit);
#  2. empties momo_payments, resets the sandbox, warms the worker up with one
#     payment (token, connections), then zeroes the sandbox's counters;
#  3. queues N payments in ONE transaction and takes the commit time;
#  4. waits, polling gently, until the sandbox has accepted N request-to-pay
#     POSTs and no row is still 'queued'; the times are the sandbox's own
#     (last_accepted_us: when it stored the last payment) and the table's
#     (when the last acceptance was recorded); prints
#        worker: N accepted in S s = R payments/s
#        worker: N all rows recorded in S s = R payments/s
#  5. empties momo_payments again, resets the sandbox, runs bench/ceiling (a
#     plain libcurl multi client) with the same N against the same sandbox
#     URL, and prints  ratio worker/ceiling = X  for both worker figures.
# It leaves the test cluster and sandbox running (stop: test/cluster.sh stop)
# and momo_payments empty.
#
# Environment:
#   BENCH_ROUNDS          rounds of (worker run, ceiling run); default 5, the
#                         median ratio is the result
#   BENCH_CONCURRENCY     the ceiling's concurrency (default: the server's
#                         momo.max_in_flight, else 32)
#   BENCH_TIMEOUT         seconds to wait for the worker (default 120 + N/20)
#   BENCH_SANDBOX_CONFIG  JSON POSTed to /_sandbox/config after each reset
#   BENCH_BASE_URL        the ceiling's target (default: the server's
#                         momo.base_url, else https://localhost:18443)
# =============================================================================
set -euo pipefail
export LC_ALL=C     # '.' as the decimal point in $EPOCHREALTIME and awk

N=${1:-10000}
case "$N" in ''|*[!0-9]*|0) echo "usage: $0 [N]   (N a positive integer)" >&2; exit 2 ;; esac
TIMEOUT=${BENCH_TIMEOUT:-$((120 + N / 20))}
ROUNDS=${BENCH_ROUNDS:-5}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$REPO/test/cluster.sh" start
eval "$(bash "$REPO/test/cluster.sh" env)"
export PGDATABASE=contrib_regression PGAPPNAME=momo-bench PGOPTIONS="-c client_min_messages=warning"
PSQL=("$(pg_config --bindir)/psql" -X -q -At -v ON_ERROR_STOP=1)

make -s -C "$REPO/bench" ceiling

work=$(mktemp -d /tmp/momo-bench.XXXXXX)
restore_settings() { :; }
cleanup() {
    local rc=$?
    "${PSQL[@]}" -c 'TRUNCATE momo_payments' 2>/dev/null || true
    restore_settings
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

say() { echo "bench: $*"; }

# sandbox_stat NAME: a counter from /_sandbox/stats (0 when absent)
sandbox_stat() {
    local json
    json=$(curl -fsS --max-time 2 "$MOMO_SANDBOX_URL/_sandbox/stats") || return 1
    if [[ $json =~ \"$1\"[[:space:]]*:[[:space:]]*([0-9]+) ]]; then
        echo "${BASH_REMATCH[1]}"
    else
        echo 0
    fi
}

sandbox_reset() {
    curl -fsS --max-time 5 -o /dev/null -X POST "$MOMO_SANDBOX_URL/_sandbox/reset"
    if [ -n "${BENCH_SANDBOX_CONFIG:-}" ]; then
        curl -fsS --max-time 5 -o /dev/null -X POST -H 'Content-Type: application/json' \
            --data "$BENCH_SANDBOX_CONFIG" "$MOMO_SANDBOX_URL/_sandbox/config"
    fi
}

rate()  { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }
delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# --- set up ------------------------------------------------------------------
"${PSQL[@]}" -c 'CREATE EXTENSION IF NOT EXISTS momo'
C=${BENCH_CONCURRENCY:-$("${PSQL[@]}" -c "SELECT current_setting('momo.max_in_flight', true)")}
C=${C:-32}
BASE_URL=${BENCH_BASE_URL:-$("${PSQL[@]}" -c "SELECT current_setting('momo.base_url', true)")}
BASE_URL=${BASE_URL:-https://localhost:18443}
say "N=$N, ceiling concurrency $C, sandbox $BASE_URL, timeout ${TIMEOUT}s"

# The worker runs with momo's default schedule (the test cluster polls much
# faster); restored on exit.
"${PSQL[@]}" <<'SQL'
ALTER SYSTEM SET momo.status_checks_per_second = 10;
ALTER SYSTEM SET momo.poll_interval_min = '2s';
ALTER SYSTEM SET momo.retry_base = '1s';
SELECT pg_reload_conf();
SQL
restore_settings() {
    "${PSQL[@]}" -c 'ALTER SYSTEM RESET momo.status_checks_per_second' \
        -c 'ALTER SYSTEM RESET momo.poll_interval_min' -c 'ALTER SYSTEM RESET momo.retry_base' \
        -c 'SELECT pg_reload_conf()' >/dev/null 2>&1 || true
}

# One round: the worker's run, then the ceiling's, back to back, so both see
# the same machine; the ratio of each round is reported, and the median.
ratios_acc=()
ratios_rec=()
one_round() {
"${PSQL[@]}" -c 'TRUNCATE momo_payments'
sandbox_reset
# Warm up: the worker gets its access token and opens its connections, as it
# would have long before a real burst of payments.
"${PSQL[@]}" >/dev/null <<'SQL'
SELECT momo_request_to_pay(1, 'EUR', '46733000000', 'bench-warm-up') AS ref \gset
SELECT momo_await(:'ref', '30 seconds');
SQL
"${PSQL[@]}" -c 'TRUNCATE momo_payments'
curl -fsS --max-time 5 -o /dev/null -X POST "$MOMO_SANDBOX_URL/_sandbox/reset-stats"

# --- the worker ----------------------------------------------------------------
t_queue=$EPOCHREALTIME
out=$("${PSQL[@]}" <<SQL
BEGIN;
SELECT count(momo_request_to_pay(100, 'EUR', '46733000000', 'bench-'||i, 'bench', 'bench'))
  FROM generate_series(1, $N) i;
COMMIT;
SELECT extract(epoch FROM clock_timestamp());
SQL
)
queued=$(sed -n 1p <<<"$out")
t_commit=$(sed -n 2p <<<"$out")    # the server's clock right after COMMIT
[ "$queued" = "$N" ] || { echo "bench: queued $queued payments, not $N" >&2; exit 1; }
say "queued $N payments in one transaction in $(delta "$t_queue" "$t_commit") s"
deadline=$(awk -v t="$t_commit" -v d="$TIMEOUT" 'BEGIN { printf "%d", t + d }')

# Wait, polling gently (every 100 ms) so as not to compete with the worker;
# the times themselves come from the sandbox (when it stored the last
# payment) and from the table (when the last acceptance was recorded).
while :; do
    acc=$(sandbox_stat rtp_accepted || echo 0)
    left=$("${PSQL[@]}" -c "SELECT count(*) FROM momo_payments WHERE status = 'queued'")
    [ "$acc" -ge "$N" ] && [ "$left" -eq 0 ] && break
    now=$EPOCHREALTIME
    if [ "${now%.*}" -ge "$deadline" ]; then
        echo "bench: timed out after ${TIMEOUT}s: $left rows still queued, sandbox accepted $acc of $N" >&2
        "${PSQL[@]}" -c "SELECT status, count(*) FROM momo_payments GROUP BY 1 ORDER BY 1" >&2 || true
        curl -fsS "$MOMO_SANDBOX_URL/_sandbox/stats" >&2 || true
        exit 1
    fi
    sleep 0.1
done
last_us=$(sandbox_stat last_accepted_us)
t_accepted=$(awk -v u="$last_us" 'BEGIN { printf "%.6f", u / 1e6 }')
t_recorded=$("${PSQL[@]}" -c "SELECT extract(epoch FROM max(updated_at)) FROM momo_payments WHERE status_checks = 0")

s_acc=$(delta "$t_commit" "$t_accepted")
s_rec=$(delta "$t_commit" "$t_recorded")
r_acc=$(rate "$N" "$s_acc")
r_rec=$(rate "$N" "$s_rec")
echo "worker: $N accepted in $s_acc s = $r_acc payments/s"
echo "worker: $N all rows recorded in $s_rec s = $r_rec payments/s"
say "sandbox stats after the worker run: $(curl -fsS "$MOMO_SANDBOX_URL/_sandbox/stats" || echo '?')"

# --- the ceiling ---------------------------------------------------------------
# empty the table so the worker has no status checks left to compete with
"${PSQL[@]}" -c 'TRUNCATE momo_payments'
sleep 1
sandbox_reset
ceiling_out=$("$REPO/bench/ceiling" --url "$BASE_URL" --cacert "$MOMO_CA_FILE" \
    --requests "$N" --concurrency "$C") || { echo "$ceiling_out"; echo "bench: ceiling run failed" >&2; exit 1; }
echo "$ceiling_out"
gets=$(sandbox_stat status_gets || echo 0)
[ "$gets" -eq 0 ] || say "note: the worker still sent $gets status GETs to the sandbox during the ceiling run"
r_ceil=$(sed -n 's/^ceiling: .* = \([0-9.]*\) req\/s$/\1/p' <<<"$ceiling_out")
[ -n "$r_ceil" ] || { echo "bench: could not read the ceiling's rate" >&2; exit 1; }

ratio_acc=$(awk -v w="$r_acc" -v c="$r_ceil" 'BEGIN { printf "%.3f", w / c }')
ratio_rec=$(awk -v w="$r_rec" -v c="$r_ceil" 'BEGIN { printf "%.3f", w / c }')
echo "round $round: ratio worker/ceiling = $ratio_acc (accepted), $ratio_rec (all rows recorded)"
ratios_acc+=("$ratio_acc")
ratios_rec+=("$ratio_rec")
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for round in $(seq 1 "$ROUNDS"); do
    one_round
done
echo "ratio worker/ceiling = $(median "${ratios_acc[@]}") (accepted; median of $ROUNDS rounds)"
echo "ratio worker/ceiling = $(median "${ratios_rec[@]}") (all rows recorded; median of $ROUNDS rounds)"
say "done; the test cluster and sandbox still run (test/cluster.sh stop)"
