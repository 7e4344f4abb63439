#!/usr/bin/env bash
# =============================================================================
# bench/run.sh [N] -- momo's performance figures (`make bench`), each a ratio
# measured in this run against a reference measured in the same run; never a
# pass/fail test.  N (default 10000) is the size of the throughput runs.
#
# It starts the test environment (test/cluster.sh start; needs `make
# install`), creates the extension momo in contrib_regression if missing, and
# measures, in this order (BENCH_SECTIONS picks some: "enqueue throughput
# idle little slow scrape", the default):
#
#  enqueue     momo_request_to_pay against a plain INSERT of the same row
#              (bench/enqueue.sh; median of BENCH_ENQUEUE_ROUNDS rounds).
#  throughput  N payments queued in ONE transaction; the time from its commit
#              until the sandbox accepted all N (its own clock) and until the
#              table recorded the last acceptance; then bench/ceiling, a bare
#              libcurl multi client, sends N request-to-pay POSTs to the same
#              sandbox.  Rate ratio worker/ceiling, and CPU: the worker's
#              utime + stime (/proc/PID/stat) from the commit until all rows
#              are recorded, per payment, against the ceiling's per request.
#              BENCH_ROUNDS rounds (default 3); the medians are the result.
#  idle        commit-to-send latency: payments committed one at a time with
#              nothing else to do; the sandbox's accepted_us of each POST minus
#              the server's clock right after its COMMIT.  Against the fast
#              sandbox, and against a 200 ms upstream (delay_ms = 200, every
#              answer 200 ms late).  Target p99 <= 10 ms.
#  little      2000 payments against a 200 ms upstream at momo.max_in_flight =
#              32 and 256: the rate (commit to the last acceptance recorded)
#              against Little's law, max_in_flight / latency.
#  slow        commit-to-send latency while 50 pending payments are checked
#              and every status check takes 3 s (status_delay_ms = 3000): 30
#              payments committed one at a time, 200-300 ms apart.  Target p99
#              <= 50 ms.  Plotted over time with gnuplot, if installed
#              (apt-get install gnuplot-nox), to bench/out/commit-to-send.png.
#  scrape      the cost of one scrape: each query of
#              monitoring/postgres_exporter_queries.yaml (each planned and run,
#              as the exporter does), all of them together, SELECT * FROM
#              momo_health() alone and SELECT * FROM momo_stats, on an empty
#              momo_payments, then with a tenth of BENCH_SCRAPE_ROWS and with
#              BENCH_SCRAPE_ROWS finished payments (default 1,000,000;
#              10,000,000 takes about ten times as long to fill), created 3 s
#              apart up to now, as many events older than the last ten
#              minutes, and two changes each in momo_payment_changes (queued,
#              then final 2 s later; so the last day holds a day's 28,800
#              payments, which momo_health() reads), written with
#              generate_series (triggers off, the counters then set as the
#              upgrade from 1.0 sets them; VACUUM ANALYZE); the newest tenth
#              alone, then from empty the whole, so that both have the same
#              last day and differ by ten times the history.  Ratios full/tenth
#              (x10 history, target ~1) and full/empty (the cost of a day's
#              payments in the health windows, and of the history); and the
#              same for the GROUP BY over the table that momo_stats did
#              before the counters, which grows with the table.
#
# Every figure is printed on a line of its own beginning "figure", and again
# together at the end.  momo's settings changed for a section are restored
# on exit; the test cluster and sandbox are left running
# (test/cluster.sh stop) with momo_payments empty.  On a 2-core machine the
# whole run takes about 4 minutes.
#
# Environment:
#   BENCH_SECTIONS        the sections to run (see above)
#   BENCH_ROUNDS          throughput rounds of (worker run, ceiling run); default 3
#   BENCH_ENQUEUE_ROUNDS  enqueue rounds (default 5)
#   BENCH_CONCURRENCY     the ceiling's concurrency (default: the server's
#                         momo.max_in_flight, else 32)
#   BENCH_TIMEOUT         seconds to wait for the worker (default 120 + N/20)
#   BENCH_SANDBOX_CONFIG  JSON POSTed to /_sandbox/config after each reset
#                         of the throughput section
#   BENCH_BASE_URL        the ceiling's target (default: the server's
#                         momo.base_url, else https://localhost:18443)
#   BENCH_OUT             where the latency data and the plot go (bench/out)
#   BENCH_SCRAPE_ROWS     finished payments of the scrape section (default 1000000)
#   BENCH_SCRAPE_ROUNDS   scrapes timed at each size (default 100; the old GROUP BY 5)
# =============================================================================
set -euo pipefail
export LC_ALL=C     # '.' as the decimal point in $EPOCHREALTIME and awk

N=${1:-10000}
case "$N" in ''|*[!0-9]*|0) echo "usage: $0 [N]   (N a positive integer)" >&2; exit 2 ;; esac
TIMEOUT=${BENCH_TIMEOUT:-$((120 + N / 20))}
ROUNDS=${BENCH_ROUNDS:-3}
SECTIONS=" ${BENCH_SECTIONS:-enqueue throughput idle little slow scrape} "

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${BENCH_OUT:-$REPO/bench/out}
mkdir -p "$OUT"
bash "$REPO/test/cluster.sh" start
eval "$(bash "$REPO/test/cluster.sh" env)"
export PGDATABASE=contrib_regression PGAPPNAME=momo-bench PGOPTIONS="-c client_min_messages=warning"
PSQL=("$(pg_config --bindir)/psql" -X -q -At -v ON_ERROR_STOP=1)

make -s -C "$REPO/bench" ceiling

work=$(mktemp -d /tmp/momo-bench.XXXXXX)
changed_settings=()
figures=()
restore_settings() {
    local s args=()
    for s in "${changed_settings[@]}"; do
        args+=(-c "ALTER SYSTEM RESET $s")
    done
    [ ${#args[@]} -eq 0 ] || "${PSQL[@]}" "${args[@]}" -c 'SELECT pg_reload_conf()' >/dev/null 2>&1 || true
}
cleanup() {
    local rc=$?
    "${PSQL[@]}" -c 'TRUNCATE momo_payments' 2>/dev/null || true
    curl -fsS --max-time 5 -o /dev/null -X POST "$MOMO_SANDBOX_URL/_sandbox/reset" 2>/dev/null || true
    restore_settings
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

say() { echo "bench: $*"; }
# figure TEXT: prints a result line and keeps it for the summary
figure() { echo "figure $*"; figures+=("$*"); }

# settings NAME=VALUE...: ALTER SYSTEM SET each (restored on exit), reload,
# and wait until this session sees them (the worker reloads at its next wake-up)
settings() {
    local kv name value args=()
    for kv in "$@"; do
        name=${kv%%=*} value=${kv#*=}
        args+=(-c "ALTER SYSTEM SET $name = '$value'")
        [[ " ${changed_settings[*]} " == *" $name "* ]] || changed_settings+=("$name")
    done
    "${PSQL[@]}" "${args[@]}" -c 'SELECT pg_reload_conf()' >/dev/null
    sleep 0.2
}

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

# sandbox_reset [JSON]: resets the sandbox, then applies JSON to its configuration
sandbox_reset() {
    curl -fsS --max-time 5 -o /dev/null -X POST "$MOMO_SANDBOX_URL/_sandbox/reset"
    if [ -n "${1:-}" ]; then
        curl -fsS --max-time 5 -o /dev/null -X POST -H 'Content-Type: application/json' \
            --data "$1" "$MOMO_SANDBOX_URL/_sandbox/config"
    fi
}

rate()  { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }
delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# worker_cpu: the momo worker's CPU seconds so far (utime + stime of /proc/PID/stat)
CLK_TCK=$(getconf CLK_TCK)
worker_cpu() {
    local pid
    pid=$("${PSQL[@]}" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'momo worker'")
    [ -n "$pid" ] || { echo "bench: the momo worker is not running" >&2; return 1; }
    # the fields after "(comm) ": state is $1, utime $12, stime $13
    sed 's/^.*) //' "/proc/$pid/stat" | awk -v hz="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / hz }'
}

# warm_up: the worker gets its access token and opens a connection, as it
# would have long before the measured payments; then the table is emptied.
warm_up() {
    "${PSQL[@]}" >/dev/null <<'SQL'
SELECT momo_request_to_pay(1, 'EUR', '46733000000', 'bench-warm-up') AS ref \gset
SELECT momo_await(:'ref', '30 seconds');
SQL
    "${PSQL[@]}" -c 'TRUNCATE momo_payments'
}

# wait_until DESCRIPTION SECONDS COMMAND...: polls COMMAND every 100 ms until it succeeds
wait_until() {
    local what=$1 limit=$2 deadline
    shift 2
    deadline=$(( ${EPOCHREALTIME%.*} + limit ))
    until "$@"; do
        if [ "${EPOCHREALTIME%.*}" -ge "$deadline" ]; then
            echo "bench: gave up after ${limit}s waiting for $what" >&2
            return 1
        fi
        sleep 0.1
    done
}
accepted_at_least() { [ "$(sandbox_stat rtp_accepted || echo 0)" -ge "$1" ]; }
status_gets_at_least() { [ "$(sandbox_stat status_gets || echo 0)" -ge "$1" ]; }

# commit_one_at_a_time K PREFIX MIN_GAP MAX_GAP: commits K payments, each in
# its own transaction, a random MIN_GAP..MAX_GAP seconds apart; writes
# "reference_id commit_epoch" lines to $work/commits (the epoch is the
# server's clock right after the COMMIT).
commit_one_at_a_time() {
    local k=$1 prefix=$2 lo=$3 hi=$4 i
    for i in $(seq 1 "$k"); do
        cat <<SQL
SELECT momo_request_to_pay(100, 'EUR', '46733000000', '$prefix-$i', 'bench', 'bench') AS ref \gset
SELECT :'ref', extract(epoch FROM clock_timestamp());
SELECT pg_sleep($lo + random() * ($hi - $lo)) \g /dev/null
SQL
    done | "${PSQL[@]}" -F ' ' >"$work/commits"
}

# latency LABEL TARGET_MS DATA_FILE WAIT_S: waits (at most WAIT_S seconds) until
# the sandbox has every payment of $work/commits, then prints the figure.
latency() {
    local label=$1 target=$2 data=$3 wait_s=$4 k
    k=$(wc -l <"$work/commits")
    wait_until "the sandbox to accept $k payments" "$wait_s" accepted_at_least "$k" || true
    curl -fsS --max-time 10 "$MOMO_SANDBOX_URL/_sandbox/payments" >"$work/payments.json"
    figure "$(perl "$REPO/bench/latency.pl" "$work/commits" "$work/payments.json" "$data" "$label" "$target")"
}

# --- set up ------------------------------------------------------------------
"${PSQL[@]}" -c 'CREATE EXTENSION IF NOT EXISTS momo'
C=${BENCH_CONCURRENCY:-$("${PSQL[@]}" -c "SELECT current_setting('momo.max_in_flight', true)")}
C=${C:-32}
BASE_URL=${BENCH_BASE_URL:-$("${PSQL[@]}" -c "SELECT current_setting('momo.base_url', true)")}
BASE_URL=${BASE_URL:-https://localhost:18443}
say "sections:$SECTIONS; N=$N, ceiling concurrency $C, sandbox $BASE_URL"
say "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
"${PSQL[@]}" -c 'TRUNCATE momo_payments'

# The worker runs with momo's default schedule (the test cluster polls much
# faster), unless a section says otherwise; restored on exit.
settings momo.status_checks_per_second=10 momo.poll_interval_min=2s momo.retry_base=1s

# --- enqueue -------------------------------------------------------------------
if [[ $SECTIONS == *" enqueue "* ]]; then
    say "enqueue: momo_request_to_pay against a plain INSERT (bench/enqueue.sh)"
    enq=$(bash "$REPO/bench/enqueue.sh")
    echo "$enq"
    figure "$(grep '^enqueue: momo_request_to_pay' <<<"$enq")"
fi

# --- throughput ----------------------------------------------------------------
# One round: the worker's run, then the ceiling's, back to back, so both see
# the same machine; the ratio of each round is reported, and the median.
ratios_acc=() ratios_rec=() cpu_worker=() cpu_ceiling=() cpu_ratios=()
one_round() {
"${PSQL[@]}" -c 'TRUNCATE momo_payments'
sandbox_reset "${BENCH_SANDBOX_CONFIG:-}"
warm_up
curl -fsS --max-time 5 -o /dev/null -X POST "$MOMO_SANDBOX_URL/_sandbox/reset-stats"

# --- the worker ----------------------------------------------------------------
cpu0=$(worker_cpu)
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
cpu1=$(worker_cpu)
gets_during=$(sandbox_stat status_gets || echo 0)
last_us=$(sandbox_stat last_accepted_us)
t_accepted=$(awk -v u="$last_us" 'BEGIN { printf "%.6f", u / 1e6 }')
t_recorded=$("${PSQL[@]}" -c "SELECT extract(epoch FROM max(updated_at)) FROM momo_payments WHERE status_checks = 0")

s_acc=$(delta "$t_commit" "$t_accepted")
s_rec=$(delta "$t_commit" "$t_recorded")
r_acc=$(rate "$N" "$s_acc")
r_rec=$(rate "$N" "$s_rec")
w_us=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$N" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
echo "worker: $N accepted in $s_acc s = $r_acc payments/s"
echo "worker: $N all rows recorded in $s_rec s = $r_rec payments/s"
echo "worker: cpu $(delta "$cpu0" "$cpu1") s (user + system) = $w_us us/payment ($gets_during status GETs in that time)"
say "sandbox stats after the worker run: $(curl -fsS "$MOMO_SANDBOX_URL/_sandbox/stats" || echo '?')"

# --- the ceiling ---------------------------------------------------------------
# empty the table so the worker has no status checks left to compete with
"${PSQL[@]}" -c 'TRUNCATE momo_payments'
sleep 1
sandbox_reset "${BENCH_SANDBOX_CONFIG:-}"
ceiling_out=$("$REPO/bench/ceiling" --url "$BASE_URL" --cacert "$MOMO_CA_FILE" \
    --requests "$N" --concurrency "$C") || { echo "$ceiling_out"; echo "bench: ceiling run failed" >&2; exit 1; }
echo "$ceiling_out"
gets=$(sandbox_stat status_gets || echo 0)
[ "$gets" -eq 0 ] || say "note: the worker still sent $gets status GETs to the sandbox during the ceiling run"
r_ceil=$(sed -n 's/^ceiling: .* = \([0-9.]*\) req\/s$/\1/p' <<<"$ceiling_out")
c_us=$(sed -n 's/^ceiling: cpu .* = \([0-9.]*\) us\/request$/\1/p' <<<"$ceiling_out")
[ -n "$r_ceil" ] && [ -n "$c_us" ] || { echo "bench: could not read the ceiling's rate and CPU" >&2; exit 1; }

ratio_acc=$(awk -v w="$r_acc" -v c="$r_ceil" 'BEGIN { printf "%.3f", w / c }')
ratio_rec=$(awk -v w="$r_rec" -v c="$r_ceil" 'BEGIN { printf "%.3f", w / c }')
ratio_cpu=$(awk -v w="$w_us" -v c="$c_us" 'BEGIN { printf "%.2f", w / c }')
echo "round $round: ratio worker/ceiling = $ratio_acc (accepted), $ratio_rec (all rows recorded); cpu $w_us / $c_us us = $ratio_cpu"
ratios_acc+=("$ratio_acc") ratios_rec+=("$ratio_rec")
cpu_worker+=("$w_us") cpu_ceiling+=("$c_us") cpu_ratios+=("$ratio_cpu")
}

if [[ $SECTIONS == *" throughput "* ]]; then
    say "throughput: $N payments, $ROUNDS rounds of (worker, ceiling), timeout ${TIMEOUT}s"
    for round in $(seq 1 "$ROUNDS"); do
        one_round
    done
    figure "throughput: ratio worker/ceiling = $(median "${ratios_acc[@]}") (accepted), $(median "${ratios_rec[@]}") (all rows recorded); median of $ROUNDS rounds of $N; target >= 0.7"
    figure "cpu: worker $(median "${cpu_worker[@]}") us/payment, bare libcurl client $(median "${cpu_ceiling[@]}") us/request: ratio $(median "${cpu_ratios[@]}") (median of $ROUNDS rounds; target <= 2)"
    "${PSQL[@]}" -c 'TRUNCATE momo_payments'
fi

# --- idle commit-to-send latency -------------------------------------------------
if [[ $SECTIONS == *" idle "* ]]; then
    say "idle: 40 payments committed one at a time, 50-150 ms apart, fast sandbox"
    sandbox_reset
    warm_up
    curl -fsS --max-time 5 -o /dev/null -X POST "$MOMO_SANDBOX_URL/_sandbox/reset-stats"
    commit_one_at_a_time 40 idle 0.05 0.15
    latency "commit-to-send, idle, fast sandbox" 10 "$OUT/idle-fast.dat" 30

    say "idle: 30 payments committed one at a time, 250-350 ms apart, every answer 200 ms late"
    "${PSQL[@]}" -c 'TRUNCATE momo_payments'
    sandbox_reset '{"delay_ms": 200}'
    warm_up
    curl -fsS --max-time 5 -o /dev/null -X POST "$MOMO_SANDBOX_URL/_sandbox/reset-stats"
    commit_one_at_a_time 30 idle200 0.25 0.35
    latency "commit-to-send, idle, 200 ms upstream" 10 "$OUT/idle-200ms.dat" 30
    "${PSQL[@]}" -c 'TRUNCATE momo_payments'
fi

# --- Little's law against a 200 ms upstream ----------------------------------------
little() {
    local inflight=$1 n=$2 out t_commit t_recorded s r bound
    settings momo.max_in_flight="$inflight"
    "${PSQL[@]}" -c 'TRUNCATE momo_payments'
    sandbox_reset '{"delay_ms": 200}'
    warm_up
    out=$("${PSQL[@]}" <<SQL
BEGIN;
SELECT count(momo_request_to_pay(100, 'EUR', '46733000000', 'little-'||i, 'bench', 'bench'))
  FROM generate_series(1, $n) i;
COMMIT;
SELECT extract(epoch FROM clock_timestamp());
SQL
)
    t_commit=$(sed -n 2p <<<"$out")
    wait_until "the worker to send $n payments" 120 all_sent "$n"
    t_recorded=$("${PSQL[@]}" -c "SELECT extract(epoch FROM max(updated_at)) FROM momo_payments WHERE status_checks = 0")
    s=$(delta "$t_commit" "$t_recorded")
    r=$(rate "$n" "$s")
    bound=$(awk -v c="$inflight" 'BEGIN { printf "%.1f", c / 0.2 }')
    # when the first POST arrived: a late start weighs on the rate
    first=$(curl -fsS --max-time 10 "$MOMO_SANDBOX_URL/_sandbox/payments" |
        perl -MJSON::PP -e 'my ($min) = sort { $a <=> $b } map { $_->{externalId} =~ /^little-/ ? $_->{accepted_us} : () } @{ decode_json(join "", <STDIN>) }; printf "%.3f", $min / 1e6 - $ARGV[0]' "$t_commit")
    figure "little $inflight: $n payments in $s s = $r payments/s; bound max_in_flight/latency = $inflight/0.2 s = $bound/s: ratio $(awk -v r="$r" -v b="$bound" 'BEGIN { printf "%.2f", r / b }') (target >= 0.9; the first POST left $first s after the commit)"
}
all_sent() {
    [ "$(sandbox_stat rtp_accepted || echo 0)" -ge "$1" ] &&
        [ "$("${PSQL[@]}" -c "SELECT count(*) FROM momo_payments WHERE status = 'queued'")" -eq 0 ]
}
if [[ $SECTIONS == *" little "* ]]; then
    say "little: 2000 payments against a 200 ms upstream, at 32 and 256 in flight"
    little 32 2000
    little 256 2000
    settings momo.max_in_flight="$C"
    "${PSQL[@]}" -c 'TRUNCATE momo_payments'
fi

# --- commit-to-send latency while slow status checks are in flight --------------------
if [[ $SECTIONS == *" slow "* ]]; then
    say "slow: 50 pending payments whose status checks take 3 s; 30 payments committed one at a time, 200-300 ms apart"
    # Every pending payment is checked as soon as it is due, as often as the
    # schedule allows: the checks stay in flight.
    settings momo.status_checks_per_second=0 momo.poll_interval_min=200ms
    "${PSQL[@]}" -c 'TRUNCATE momo_payments'
    sandbox_reset
    warm_up
    # payments stay PENDING (so they are checked again and again), each check 3 s
    curl -fsS --max-time 5 -o /dev/null -X POST -H 'Content-Type: application/json' \
        --data '{"status_delay_ms": 3000, "pending_ms": 600000}' "$MOMO_SANDBOX_URL/_sandbox/config"
    curl -fsS --max-time 5 -o /dev/null -X POST "$MOMO_SANDBOX_URL/_sandbox/reset-stats"
    "${PSQL[@]}" -c "SELECT count(momo_request_to_pay(100, 'EUR', '46733000000', 'slow-'||i, 'bench', 'bench')) FROM generate_series(1, 50) i" >/dev/null
    wait_until "50 status checks in flight" 60 status_gets_at_least 50
    curl -fsS --max-time 5 -o /dev/null -X POST "$MOMO_SANDBOX_URL/_sandbox/reset-stats"
    commit_one_at_a_time 30 fresh 0.2 0.3
    latency "commit-to-send, 50 status checks of 3 s in flight" 50 "$OUT/slow-checks.dat" 30
    say "status GETs during the slow run: $(sandbox_stat status_gets || echo '?')"
    if command -v gnuplot >/dev/null; then
        gnuplot <<GP
set terminal pngcairo size 720,360 font ",10"
set output "$OUT/commit-to-send.png"
set title "commit-to-send latency, one payment at a time, while 50 status checks of 3 s are in flight"
set xlabel "seconds since the first commit"
set ylabel "commit-to-send (ms)"
set logscale y
set grid
set key off
plot "$OUT/slow-checks.dat" using 1:2 with linespoints pt 7 ps 0.6
GP
        say "plot: $OUT/commit-to-send.png"
    else
        say "plot skipped: gnuplot is not installed (apt-get install gnuplot-nox)"
    fi
    settings momo.status_checks_per_second=10 momo.poll_interval_min=2s
    "${PSQL[@]}" -c 'TRUNCATE momo_payments'
fi

# --- the cost of a scrape, empty and with history ------------------------------------
# scrape_ms: milliseconds (median of 5 batches of SCRAPE_ROUNDS/5; the old
# GROUP BY, which takes seconds at 10 million rows, 5 single runs) of each
# query of the exporter's file, of them all, of SELECT * FROM momo_health()
# alone, of momo_stats and of the old GROUP BY; prints one "name ms" line each
scrape_ms() {
    "${PSQL[@]}" -F ' ' -f "$work/scrape.sql" -c "SELECT * FROM pg_temp.scrape_ms($SCRAPE_ROUNDS)"
}
if [[ $SECTIONS == *" scrape "* ]]; then
    SCRAPE_ROWS=${BENCH_SCRAPE_ROWS:-1000000}
    SCRAPE_ROUNDS=${BENCH_SCRAPE_ROUNDS:-100}
    say "scrape: the exporter's queries, momo_health() and momo_stats, empty and with $SCRAPE_ROWS finished payments"
    # The queries of the exporter's file, as an array of dollar-quoted
    # strings, and their names (the file's keys), as an array of strings.
    queries=$(perl -ne '
        if (/^(\w+):\s*$/) { push @k, $1; next }
        if (/^  query: \|/) { $in = 1; next }
        if ($in && /^    (.*)$/) { $q .= "$1\n"; next }
        if ($in) { push @q, $q; $q = ""; $in = 0 }
        END { print join(",\n", map { "\$q\$$_\$q\$" } @q) }' "$REPO/monitoring/postgres_exporter_queries.yaml")
    names=$(perl -ne 'print "$1\n" if /^(\w+):\s*$/' "$REPO/monitoring/postgres_exporter_queries.yaml")
    nq=$(grep -c '^  query: |' "$REPO/monitoring/postgres_exporter_queries.yaml")
    [ "$nq" -eq "$(wc -l <<<"$names")" ] || { echo "bench: $nq queries but $(wc -l <<<"$names") keys in the queries file" >&2; exit 1; }
    names_sql=$(sed "s/.*/'&'/" <<<"$names" | paste -sd, -)
    cat > "$work/scrape.sql" <<SQL
CREATE FUNCTION pg_temp.time_ms(qs text[], rounds integer) RETURNS float8 LANGUAGE plpgsql AS \$f\$
DECLARE
    q text;
    t timestamptz;
    batch float8[] := '{}';
BEGIN
    FOREACH q IN ARRAY qs LOOP EXECUTE q; END LOOP;     -- warm the caches
    FOR b IN 1..5 LOOP
        t := clock_timestamp();
        FOR i IN 1..greatest(rounds / 5, 1) LOOP
            FOREACH q IN ARRAY qs LOOP EXECUTE q; END LOOP;
        END LOOP;
        batch := batch || extract(epoch FROM clock_timestamp() - t)::float8 * 1000 / greatest(rounds / 5, 1);
    END LOOP;
    RETURN (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(batch) x);
END
\$f\$;
CREATE FUNCTION pg_temp.scrape_ms(rounds integer) RETURNS TABLE (name text, ms numeric) LANGUAGE sql AS \$f\$
    SELECT n, round(pg_temp.time_ms(ARRAY[q], rounds)::numeric, 3)
      FROM unnest(ARRAY[$names_sql], ARRAY[$queries]) WITH ORDINALITY AS x(n, q, i)
    UNION ALL
    SELECT * FROM (VALUES
        ('all', round(pg_temp.time_ms(ARRAY[$queries], rounds)::numeric, 3)),
        ('momo_health()', round(pg_temp.time_ms(ARRAY['SELECT * FROM momo_health()'], rounds)::numeric, 3)),
        ('momo_stats', round(pg_temp.time_ms(ARRAY['SELECT * FROM momo_stats'], rounds)::numeric, 3)),
        ('groupby', round(pg_temp.time_ms(ARRAY['SELECT status, operation, count(*) FROM momo_payments GROUP BY status, operation'], 5)::numeric, 3))) v
\$f\$;
SQL
    # The worker purges changes and events older than momo.event_retention
    # (90 days) hourly; the history below reaches further back (3 s apart),
    # and must not be deleted under the measurement.
    settings momo.event_retention=3650d
    "${PSQL[@]}" -c 'TRUNCATE momo_payments, momo_events, momo_payment_changes'
    "${PSQL[@]}" -c 'VACUUM ANALYZE momo_payments, momo_events, momo_payment_counts, momo_payment_changes'
    declare -A empty tenth_ms full
    while read -r n ms; do empty[$n]=$ms; done <<<"$(scrape_ms)"
    say "empty: all $nq queries ${empty[all]} ms, momo_health() ${empty[momo_health()]} ms, momo_stats ${empty[momo_stats]} ms, GROUP BY ${empty[groupby]} ms"
    # fill FROM TO: payments FROM..TO of SCRAPE_ROWS, final, created 3 s
    # apart up to now, as many events, and two changes each (queued when
    # created, final 2 s later) in the order they were made, so that the
    # last day holds a day's changes (28,800 payments) and the last five
    # minutes a hundred, one in ten failed; all written as a restore or an
    # old release would have them, without momo's triggers (the changes
    # numbered from momo_change_seq, as the worker numbers them); then
    # counted as the upgrade from 1.0 counts them.  Payer numbers cycle
    # through 1,000.
    fill() {
        "${PSQL[@]}" -c 'SET session_replication_role = replica' -c "
            INSERT INTO momo_payments (reference_id, external_id, amount, currency, msisdn, status, reason,
                                       attempts, status_checks, created_at, sent_at, updated_at, completed_at,
                                       next_check_at)
            SELECT uuid_in(md5('bench-scrape-' || i)::cstring), 'bench-scrape-' || i, 100 + i % 1000, 'EUR',
                   (46733000000 + i % 1000)::text,
                   CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'successful' END,
                   CASE WHEN i % 10 = 0 THEN 'APPROVAL_REJECTED' END, 1, 1, t, t, t + interval '2 seconds',
                   t + interval '2 seconds', t
              FROM generate_series($1, $2) i,
                   LATERAL (SELECT now() - interval '5 seconds' - ($SCRAPE_ROWS - i) * interval '3 seconds' AS t) c" \
          -c "
            INSERT INTO momo_payment_changes (seq, reference_id, status, reason, changed_at)
            SELECT nextval('momo_change_seq'), uuid_in(md5('bench-scrape-' || i)::cstring), s.status, s.reason,
                   now() - interval '5 seconds' - ($SCRAPE_ROWS - i) * interval '3 seconds' + s.after
              FROM generate_series($1, $2) i,
                   LATERAL (VALUES (1, 'queued', NULL, interval '0'),
                                   (2, CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'successful' END,
                                       CASE WHEN i % 10 = 0 THEN 'APPROVAL_REJECTED' END, interval '2 seconds'))
                           AS s(k, status, reason, after)
             ORDER BY i, s.k" \
          -c "
            INSERT INTO momo_events (at, reference_id, product, operation, http_status, outcome, latency_ms)
            SELECT now() - interval '10 minutes' - ($SCRAPE_ROWS - i) * interval '3 seconds', NULL,
                   'collection', 'status', 200, 'successful', 20
              FROM generate_series($1, $2) i" \
          -c "
            DELETE FROM momo_payment_counts;
            INSERT INTO momo_payment_counts (product, operation, status, finished, deleted, merged)
            SELECT p.product, p.operation, p.status, count(*), 0, true
              FROM momo_payments p WHERE p.status IN ('successful', 'failed')
             GROUP BY p.product, p.operation, p.status"
        "${PSQL[@]}" -c 'VACUUM ANALYZE momo_payments, momo_events, momo_payment_counts, momo_payment_changes'
    }
    # The newest tenth alone: the same last day (the health windows) as the
    # full table, a tenth of its history; then, from empty, the whole in
    # the order it was made (as a table grows, so that the planner sees the
    # correlation of time and place that a real table has).
    tenth=$((SCRAPE_ROWS / 10))
    t0=$EPOCHREALTIME
    fill $((SCRAPE_ROWS - tenth + 1)) "$SCRAPE_ROWS"
    say "filled $tenth in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"
    while read -r n ms; do tenth_ms[$n]=$ms; done <<<"$(scrape_ms)"
    say "with the newest $tenth: all $nq queries ${tenth_ms[all]} ms, momo_health() ${tenth_ms[momo_health()]} ms, momo_stats ${tenth_ms[momo_stats]} ms, GROUP BY ${tenth_ms[groupby]} ms"
    "${PSQL[@]}" -c 'TRUNCATE momo_payments, momo_events, momo_payment_changes'
    t0=$EPOCHREALTIME
    fill 1 "$SCRAPE_ROWS"
    say "filled in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s: $("${PSQL[@]}" -c "SELECT pg_size_pretty(pg_total_relation_size('momo_payments')) || ' of payments, ' || pg_size_pretty(pg_total_relation_size('momo_payment_changes')) || ' of changes, ' || pg_size_pretty(pg_total_relation_size('momo_events')) || ' of events'")"
    while read -r n ms; do full[$n]=$ms; done <<<"$(scrape_ms)"
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
    for n in $names all 'momo_health()' momo_stats groupby; do
        case $n in
            all) what="the exporter's $nq queries together" ;;
            'momo_health()') what="SELECT * FROM momo_health()" ;;
            momo_stats) what="SELECT * FROM momo_stats" ;;
            groupby) what="the GROUP BY momo_stats did before the counters" ;;
            *) what="the exporter's query $n" ;;
        esac
        figure "scrape: $what: ${empty[$n]} ms empty, ${tenth_ms[$n]} ms with the newest $tenth finished payments, ${full[$n]} ms with $SCRAPE_ROWS: ratio $(ratio "${tenth_ms[$n]}" "${full[$n]}") x10 history (target ~1), $(ratio "${empty[$n]}" "${full[$n]}") against empty"
    done
    "${PSQL[@]}" -c 'TRUNCATE momo_payments, momo_events, momo_payment_changes'
fi

echo
echo "=== momo bench: every figure of this run ==="
for f in "${figures[@]}"; do
    echo "figure $f"
done
say "done; the test cluster and sandbox still run (test/cluster.sh stop)"
