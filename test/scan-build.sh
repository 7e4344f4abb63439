#!/usr/bin/env bash
# =============================================================================
# test/scan-build.sh -- clang's static analyzer (scan-build, from Debian's
# clang-tools-14) over momo (every src/*.c, built by the Makefile as PGXS
# builds it) and over the local sandbox (test/sandbox), in a scratch copy:
# the work tree's objects are left alone.  About 20 s on 2 cores.
#
# Prints the analyzer's findings, if any, and ends with one line:
# "ok scan-build" when it analysed every .c file and found nothing, else
# "FAILED scan-build" (also when a file was not analysed: a file clang cannot
# parse would otherwise pass unseen).  Exits 0 or 1 accordingly.
#
# Checkers: scan-build's default set (core, deadcode, unix, nullability,
# apiModeling, the basic security.insecureAPI ones) and the stable opt-in
# ones that apply to C: optin.portability.UnixAPI, valist,
# security.FloatLoopCounter.  No alpha.* (experimental) checker: they report
# code after PostgreSQL's SPI_processed checks as unreachable.
#
# How it reaches a PGXS build: PGXS sets CC itself (from pg_config), so the
# CC that scan-build puts in the environment would be ignored; but for a
# `make` command scan-build also adds CC=ccc-analyzer to the command line,
# which wins.  ccc-analyzer runs the real compiler (--use-cc: PostgreSQL's)
# and clang's analyzer on each file; -v -v makes it print an "ANALYZE" line
# per function, from which the analysed files are counted.
#
# Usage: bash test/scan-build.sh
#        MOMO_SCAN_KEEP=1 keeps the scratch directory (HTML reports, logs).
# =============================================================================
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}

failed() { echo "scan-build: $*" >&2; echo "FAILED scan-build"; exit 1; }

SCAN_BUILD=${SCAN_BUILD:-$(command -v scan-build-14 || command -v scan-build || true)}
[ -n "$SCAN_BUILD" ] || failed "scan-build not found (test/install-deps.sh installs clang-tools-14)"
command -v "$PG_CONFIG" >/dev/null || failed "$PG_CONFIG not found"
REAL_CC=$("$PG_CONFIG" --cc | awk '{print $1}')

WORK=$(mktemp -d /tmp/momo-scan-build.XXXXXX)
if [ "${MOMO_SCAN_KEEP:-0}" = 1 ]; then
    echo "scan-build: keeping $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK/momo"
cp -r "$REPO/Makefile" "$REPO"/momo.control* "$REPO/sql" "$REPO/src" "$WORK/momo/"
cp -r "$REPO/test/sandbox" "$WORK/sandbox"
rm -f "$WORK/momo/src/"*.o "$WORK/momo/"*.so "$WORK/sandbox/"*.o "$WORK/sandbox/momo-sandbox"

CHECKERS=(-enable-checker optin.portability.UnixAPI
          -enable-checker valist
          -enable-checker security.FloatLoopCounter)

bad=0

# scan NAME DIR: analyses the build of DIR; reports its findings and the .c
# files of DIR (or DIR/src) that were not analysed.
scan() {
    local name=$1 dir=$2 log="$WORK/$1.log" rc expected analysed missing findings
    "$SCAN_BUILD" -v -v --status-bugs --use-cc="$REAL_CC" -o "$WORK/reports-$name" \
        "${CHECKERS[@]}" make -C "$dir" -j2 PG_CONFIG="$PG_CONFIG" >"$log" 2>&1
    rc=$?
    expected=$(cd "$dir" && ls src/*.c 2>/dev/null || ls *.c)
    analysed=$(grep -oE '^ANALYZE \([A-Za-z]+\): [^ ]+\.c ' "$log" | awk '{print $3}' | sort -u)
    missing=$(comm -23 <(echo "$expected" | sort -u) <(echo "$analysed"))
    # the analyzer's warnings end with their checker's name, gcc's with -Wname
    findings=$(grep -E 'warning: .*\[[a-z][A-Za-z]*\.[A-Za-z.]+\]$' "$log" | sort -u)
    echo "scan-build: $name: $(echo "$analysed" | grep -c .) of $(echo "$expected" | grep -c .) files analysed," \
         "$(grep -E '^scan-build: ' "$log" | grep -E 'bugs? found|No bugs' | sed 's/^scan-build: //')"
    if [ -n "$findings" ]; then
        echo "$findings"
        echo "scan-build: $name: HTML reports in $WORK/reports-$name (kept with MOMO_SCAN_KEEP=1)"
    fi
    if [ -n "$missing" ]; then
        echo "scan-build: $name: not analysed: $(echo $missing)"
    fi
    if [ "$rc" -ne 0 ] || [ -n "$missing" ] || [ -z "$analysed" ]; then
        [ -n "$findings" ] || tail -n 30 "$log"
        bad=1
    fi
}

scan momo "$WORK/momo"
scan sandbox "$WORK/sandbox"

if [ "$bad" -eq 0 ]; then
    echo "ok scan-build"
else
    echo "FAILED scan-build"
    exit 1
fi
