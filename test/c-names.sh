#!/usr/bin/env bash
# =============================================================================
# test/c-names.sh ARRAY -- the names a table of names in momo's C code holds
# (momo_status_names, momo_operation_names, momo_product_names), sorted,
# without repeats, comma-separated: what the regression test "lifecycle"
# compares with the CHECK constraints of momo_payments.  An entry written as
# a macro (MOMO_STATUS_QUEUED_NAME) is replaced by its definition in src/*.h.
# =============================================================================
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -eq 1 ] || { echo "usage: $0 ARRAY" >&2; exit 2; }

# the block "ARRAY[...] = { ... };" of the .c file that defines it
block=$(awk -v a="$1" '
    index($0, a "[") && /=[[:space:]]*\{?[[:space:]]*$/ && !/^extern/ { inside = 1 }
    inside { print; if (/\};/) exit }' src/*.c)
[ -n "$block" ] || { echo "c-names.sh: no definition of $1 in src/*.c" >&2; exit 1; }

# its entries: after "=" (designated initializers) or on their own
printf '%s\n' "$block" | sed '1s/.*=[[:space:]]*{//' | tr ',{}' '\n\n\n' |
    sed 's/.*=[[:space:]]*//; s/^[[:space:]]*//; s/[[:space:]]*$//' | grep -v '^$' |
    while read -r entry; do
        case "$entry" in
            \"*\") entry=${entry#\"}; echo "${entry%\"}" ;;
            [A-Z]*) sed -n "s/^#define[[:space:]]\{1,\}$entry[[:space:]]\{1,\}\"\([^\"]*\)\".*/\1/p" src/*.h ;;
        esac
    done | LC_ALL=C sort -u | paste -sd, -
