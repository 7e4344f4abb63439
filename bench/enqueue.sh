#!/usr/bin/env bash
# =============================================================================
# bench/enqueue.sh [N] -- what momo_request_to_pay costs against a plain
# INSERT of the same row (default N = 20000 calls per measurement).
#
# In ONE session, each measurement is one transaction that is rolled back
# (so the worker never sees the rows): a PL/pgSQL loop of N
#     PERFORM momo_request_to_pay(100, 'EUR', '46733000000', 'bench-'||i, 'bench', 'bench')
# against a loop of N
#     INSERT INTO momo_bench_plain (...) VALUES (gen_random_uuid(), 'bench-'||i, 100, 'EUR', ...)
# into a table made by CREATE TABLE ... (LIKE momo_payments INCLUDING ALL):
# the same columns, defaults, CHECK constraints and indexes (the unique
# idempotency index included), without momo's triggers and without ON
# CONFLICT.  Both loops are PL/pgSQL, so both pay the same per-statement
# overhead (a saved plan, one executor start per row).  A third loop inserts
# into a copy that also has momo's guard trigger (momo_payments_guard, BEFORE
# INSERT), the trigger load every row of momo_payments carries, for
# information, and so does one INSERT ... SELECT of all N rows (one statement,
# one executor start: what a set-based bulk load costs per row, which no
# per-call function can match).  The order alternates from round to round; each round's ratio
# is printed, then the median:
#     enqueue: momo_request_to_pay X us/call, plain INSERT Y us/row, ratio X/Y = R (median of K rounds)
#
# Environment: BENCH_ENQUEUE_ROUNDS (default 5).  Needs the test environment
# (test/cluster.sh start; it is started if it is not running).
# =============================================================================
set -euo pipefail
export LC_ALL=C

N=${1:-20000}
case "$N" in ''|*[!0-9]*|0) echo "usage: $0 [N]   (N a positive integer)" >&2; exit 2 ;; esac
ROUNDS=${BENCH_ENQUEUE_ROUNDS:-5}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! bash "$REPO/test/cluster.sh" status >/dev/null 2>&1; then
    bash "$REPO/test/cluster.sh" start
fi
eval "$(bash "$REPO/test/cluster.sh" env)"
export PGDATABASE=contrib_regression PGAPPNAME=momo-bench-enqueue PGOPTIONS="-c client_min_messages=warning"
PSQL=("$(pg_config --bindir)/psql" -X -q -At -v ON_ERROR_STOP=1)

"${PSQL[@]}" -c 'CREATE EXTENSION IF NOT EXISTS momo'
SCHEMA=$("${PSQL[@]}" -c "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'momo'")

cleanup() {
    local rc=$?
    "${PSQL[@]}" -c 'DROP TABLE IF EXISTS momo_bench_plain, momo_bench_guarded' 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT

# The whole run is one psql session: the loops are a temporary function,
# each measurement a transaction rolled back.
script() {
    cat <<SQL
DROP TABLE IF EXISTS public.momo_bench_plain, public.momo_bench_guarded;
CREATE TABLE public.momo_bench_plain (LIKE $SCHEMA.momo_payments INCLUDING ALL);
CREATE TABLE public.momo_bench_guarded (LIKE $SCHEMA.momo_payments INCLUDING ALL);
CREATE TRIGGER momo_bench_guard BEFORE INSERT ON public.momo_bench_guarded
    FOR EACH ROW EXECUTE FUNCTION $SCHEMA.momo_payments_guard();
CREATE FUNCTION pg_temp.bench(kind text, n int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    IF kind = 'momo' THEN
        FOR i IN 1..n LOOP
            PERFORM $SCHEMA.momo_request_to_pay(100, 'EUR', '46733000000', 'bench-' || i, 'bench', 'bench');
        END LOOP;
    ELSIF kind = 'plain' THEN
        FOR i IN 1..n LOOP
            INSERT INTO public.momo_bench_plain (reference_id, external_id, amount, currency, msisdn,
                payer_message, payee_note, operation, product, requested_by)
            VALUES (gen_random_uuid(), 'bench-' || i, 100, 'EUR', '46733000000', 'bench', 'bench',
                'request_to_pay', 'collection', current_user);
        END LOOP;
    ELSIF kind = 'set' THEN
        INSERT INTO public.momo_bench_plain (reference_id, external_id, amount, currency, msisdn,
            payer_message, payee_note, operation, product, requested_by)
        SELECT gen_random_uuid(), 'bench-' || i, 100, 'EUR', '46733000000', 'bench', 'bench',
            'request_to_pay', 'collection', current_user
          FROM generate_series(1, n) i;
    ELSE
        FOR i IN 1..n LOOP
            INSERT INTO public.momo_bench_guarded (reference_id, external_id, amount, currency, msisdn,
                payer_message, payee_note, operation, product, requested_by)
            VALUES (gen_random_uuid(), 'bench-' || i, 100, 'EUR', '46733000000', 'bench', 'bench',
                'request_to_pay', 'collection', current_user);
        END LOOP;
    END IF;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END
\$\$;
-- warm up: plans, caches, the relations' first pages
BEGIN; SELECT 'warm', pg_temp.bench('momo', 500), pg_temp.bench('plain', 500), pg_temp.bench('guarded', 500); ROLLBACK;
SQL
    for r in $(seq 1 "$ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then order="momo plain guarded set"; else order="set guarded plain momo"; fi
        for kind in $order; do
            echo "BEGIN; SELECT 'round', $r, '$kind', pg_temp.bench('$kind', $N); ROLLBACK;"
        done
    done
}

out=$(script | "${PSQL[@]}" -F ' ')

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

momo=() plain=() guarded=() set=() ratios=() gratios=()
for r in $(seq 1 "$ROUNDS"); do
    m=$(awk -v r="$r" '$1 == "round" && $2 == r && $3 == "momo" { print $4 }' <<<"$out")
    p=$(awk -v r="$r" '$1 == "round" && $2 == r && $3 == "plain" { print $4 }' <<<"$out")
    g=$(awk -v r="$r" '$1 == "round" && $2 == r && $3 == "guarded" { print $4 }' <<<"$out")
    s=$(awk -v r="$r" '$1 == "round" && $2 == r && $3 == "set" { print $4 }' <<<"$out")
    ratio=$(awk -v m="$m" -v p="$p" 'BEGIN { printf "%.2f", m / p }')
    gratio=$(awk -v m="$m" -v g="$g" 'BEGIN { printf "%.2f", m / g }')
    printf 'enqueue round %d: momo_request_to_pay %.1f us/call, plain INSERT %.1f us/row, with the guard trigger %.1f us/row: ratio %s (%s)\n' \
        "$r" "$m" "$p" "$g" "$ratio" "$gratio"
    momo+=("$m") plain+=("$p") guarded+=("$g") set+=("$s") ratios+=("$ratio") gratios+=("$gratio")
done
printf 'enqueue: momo_request_to_pay %.1f us/call, plain INSERT %.1f us/row: ratio momo/plain = %s (median of %d rounds of %d; target <= 2)\n' \
    "$(median "${momo[@]}")" "$(median "${plain[@]}")" "$(median "${ratios[@]}")" "$ROUNDS" "$N"
printf 'enqueue: against a plain INSERT with momo'"'"'s guard trigger (%.1f us/row): ratio = %s\n' \
    "$(median "${guarded[@]}")" "$(median "${gratios[@]}")"
printf 'enqueue: for scale, one INSERT ... SELECT of %d rows: %.1f us/row\n' "$N" "$(median "${set[@]}")"
