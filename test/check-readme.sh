#!/usr/bin/env bash
# =============================================================================
# test/check-readme.sh -- the README's recipes are code: each SQL block that
# follows a "<!-- recipe: NAME -->" marker in README.md must be, character
# for character, the text between "-- recipe: NAME" and "-- end recipe" in a
# regression file (sql/*.sql), which the regression suite runs.  Prints
# "ok recipe NAME" or "FAILED recipe NAME" (with a diff) for each, and exits
# 1 if any differs or is missing.
# =============================================================================
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

names=$(sed -n 's/^<!-- recipe: \(.*\) -->$/\1/p' README.md)
[ -n "$names" ] || { echo "FAILED recipes: README.md has no <!-- recipe: ... --> marker"; exit 1; }
for name in $names; do
    # README: the fenced block after the marker, without its fences
    awk -v m="<!-- recipe: $name -->" '
        $0 == m { want = 1; next }
        want && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' README.md > "$tmp/readme"
    # regression file: the lines between the markers
    file=$(grep -l -- "^-- recipe: $name\$" sql/*.sql | head -n 1 || true)
    if [ -z "$file" ]; then
        echo "FAILED recipe $name: no sql/*.sql has a '-- recipe: $name' marker"
        failed=1
        continue
    fi
    awk -v m="-- recipe: $name" '
        $0 == m { inside = 1; next }
        inside && $0 == "-- end recipe" { exit }
        inside { print }' "$file" > "$tmp/sql"
    if [ -s "$tmp/readme" ] && cmp -s "$tmp/readme" "$tmp/sql"; then
        echo "ok recipe $name ($file)"
    else
        echo "FAILED recipe $name: README.md and $file differ"
        diff -u "$tmp/readme" "$tmp/sql" | sed 's/^/    /' || true
        failed=1
    fi
done
exit "$failed"
