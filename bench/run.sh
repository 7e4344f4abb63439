#!/usr/bin/env bash
# =============================================================================
# bench/run.sh [N] -- throughput benchmark of momo's background worker
# against its ceiling (default N = 10000).
#
#  1. starts the test environment (test/cluster.sh start; needs `make install`)
#     and creates the extension momo in contrib_regression if missing;
#  2. empties momo_payments, resets the sandbox's counters;
#  3. queues N payments in ONE transaction and takes the commit time;
#  4. waits until the sandbox has accepted N request-to-pay POSTs (polling
#     /_sandbox/stats every 20 ms) and, separately, until no row is still
#     'queued' (polling the table every 20 ms over one psql session); prints
#        worker: N accepted in S s = R payments/s
#        worker: N all rows recorded in S s = R payments/s
#  5. empties momo_payments again, resets the sandbox, runs bench/ceiling (a
#     plain libcurl multi client) with the same N against the same sandbox
#     URL, and prints  ratio worker/ceiling = X  for both worker figures.
# It leaves the test cluster and sandbox running (stop: test/cluster.sh stop)
# and momo_payments empty.
#
# Environment:
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

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$REPO/test/cluster.sh" start
eval "$(bash "$REPO/test/cluster.sh" env)"
export PGDATABASE=contrib_regression PGAPPNAME=momo-bench PGOPTIONS="-c client_min_messages=warning"
PSQL=("$(pg_config --bindir)/psql" -X -q -At -v ON_ERROR_STOP=1)

make -s -C "$REPO/bench" ceiling

work=$(mktemp -d /tmp/momo-bench.XXXXXX)
poller=""
cleanup() {
    local rc=$?
    if [ -n "$poller" ]; then kill "$poller" 2>/dev/null || true; fi
    "${PSQL[@]}" -c 'TRUNCATE momo_payments' 2>/dev/null || true
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

"${PSQL[@]}" -c 'TRUNCATE momo_payments'
sandbox_reset

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

# sandbox poller: writes the time it first saw rtp_accepted >= N
(
    while :; do
        now=$EPOCHREALTIME
        acc=$(sandbox_stat rtp_accepted || echo 0)
        if [ "$acc" -ge "$N" ]; then
            echo "$now" > "$work/accepted"
            exit 0
        fi
        [ "${now%.*}" -lt "$deadline" ] || exit 1
        sleep 0.02
    done
) &
poller=$!

# database poller, over one psql session: until no row is still queued
coproc PQ { "${PSQL[@]}" 2>&1; }
# shellcheck disable=SC2153  # PQ_PID is set by coproc
pq_in=${PQ[1]} pq_out=${PQ[0]} pq_pid=$PQ_PID
t_recorded=""
last_report=${t_commit%.*}
while :; do
    echo "SELECT count(*) FROM momo_payments WHERE status = 'queued';" >&"$pq_in"
    read -r -t 10 left <&"$pq_out" || { echo "bench: the polling psql session did not answer" >&2; exit 1; }
    now=$EPOCHREALTIME
    case "$left" in *[!0-9]*|'') echo "bench: psql said: $left" >&2; exit 1 ;; esac
    if [ "$left" -eq 0 ]; then
        t_recorded=$now
        break
    fi
    if [ "${now%.*}" -ge "$deadline" ]; then
        echo "bench: timed out after ${TIMEOUT}s: $left rows still queued, sandbox accepted $(sandbox_stat rtp_accepted || echo '?')" >&2
        "${PSQL[@]}" -c "SELECT status, count(*) FROM momo_payments GROUP BY 1 ORDER BY 1" >&2 || true
        curl -fsS "$MOMO_SANDBOX_URL/_sandbox/stats" >&2 || true
        exit 1
    fi
    if [ $(( ${now%.*} - last_report )) -ge 5 ]; then
        say "... $left rows still queued, sandbox accepted $(sandbox_stat rtp_accepted || echo '?')"
        last_report=${now%.*}
    fi
    sleep 0.02
done
exec {pq_in}>&-
wait "$pq_pid" 2>/dev/null || true

if ! wait "$poller"; then
    poller=""
    echo "bench: timed out after ${TIMEOUT}s: the sandbox accepted $(sandbox_stat rtp_accepted || echo '?') of $N" >&2
    curl -fsS "$MOMO_SANDBOX_URL/_sandbox/stats" >&2 || true
    exit 1
fi
poller=""
t_accepted=$(cat "$work/accepted")

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

awk -v w="$r_acc" -v c="$r_ceil" 'BEGIN { printf "ratio worker/ceiling = %.3f (accepted)\n", w / c }'
awk -v w="$r_rec" -v c="$r_ceil" 'BEGIN { printf "ratio worker/ceiling = %.3f (all rows recorded)\n", w / c }'
say "done; the test cluster and sandbox still run (test/cluster.sh stop)"
