#!/usr/bin/env bash
# =============================================================================
# test/check-readme.sh -- the README's recipes are code: each block that
# follows a "<!-- recipe: NAME -->" marker in README.md must be, character
# for character, the text between "-- recipe: NAME" and "-- end recipe" in
# every file that has them: a regression file (sql/*.sql), which the
# regression suite runs, and the Django example's files (examples/django,
# SQL, or Python between "# recipe: NAME" and "# end recipe"), which its own
# tests run (examples/django/run.sh).  Prints "ok recipe NAME (FILE)"
# or "FAILED recipe NAME" (with a diff) for each.
#
# A Python file may also carry a part of a recipe: a string literal between
# "# recipe-part: NAME" and "# end recipe" (its first line `X = """`, its
# last `"""`), whose lines must be consecutive lines of the README's block:
# the feed-poll query that examples/django's listener runs, with a SELECT of
# its own after it.
#
# And the README's "Source layout" names, as `path`, every file of src/,
# every script of sql/ that is not a regression test (REGRESS in the
# Makefile), every test/*.sh and every file of bench/: prints "ok recipe
# source-layout" or "FAILED recipe source-layout" with the files it lacks.
#
# Exits 1 if anything failed.
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
    # every file that carries the recipe: the regression file (sql/*.sql) that
    # runs it, and the Django example's files that are it; the lines between
    # "-- recipe: NAME" and "-- end recipe" ("#" for Python)
    # the parts of it that the Django example's Python files carry
    parts=$(grep -rlE --include='*.py' -e "^# recipe-part: $name\$" examples/django || true)
    for file in $parts; do
        awk -v m="# recipe-part: $name" '
            $0 == m { inside = 1; first = 1; next }
            inside && $0 == "# end recipe" { exit }
            inside && first { first = 0; if ($0 ~ /^[A-Za-z_][A-Za-z_0-9]* = """$/) next }
            inside { print }' "$file" | sed '${/^"""$/d}' > "$tmp/part"
        if [ -s "$tmp/part" ] && python3 -c '
import sys
block = open(sys.argv[1]).read().split("\n")
part = open(sys.argv[2]).read().rstrip("\n").split("\n")
sys.exit(0 if any(block[i:i + len(part)] == part for i in range(len(block))) else 1)' "$tmp/readme" "$tmp/part"; then
            echo "ok recipe $name (part, $file)"
        else
            echo "FAILED recipe $name: $file's part is not a run of lines of README.md's block"
            diff -u "$tmp/readme" "$tmp/part" | sed 's/^/    /' || true
            failed=1
        fi
    done
    files=$( { grep -l -- "^-- recipe: $name\$" sql/*.sql || true
               grep -rlE --include='*.sql' --include='*.py' -e "^(-- |# )recipe: $name\$" examples/django || true; } )
    if [ -z "$files" ]; then
        echo "FAILED recipe $name: no sql/*.sql or examples/django file has a '-- recipe: $name' marker"
        failed=1
        continue
    fi
    for file in $files; do
        awk -v m="recipe: $name" '
            ($0 == "-- " m || $0 == "# " m) { inside = 1; next }
            inside && ($0 == "-- end recipe" || $0 == "# end recipe") { exit }
            inside { print }' "$file" > "$tmp/sql"
        if [ -s "$tmp/readme" ] && cmp -s "$tmp/readme" "$tmp/sql"; then
            echo "ok recipe $name ($file)"
        else
            echo "FAILED recipe $name: README.md and $file differ"
            diff -u "$tmp/readme" "$tmp/sql" | sed 's/^/    /' || true
            failed=1
        fi
    done
done

# The source map: the section "## Source layout" up to the next "## ".
awk '/^## Source layout$/ { inside = 1; next } inside && /^## / { exit } inside' README.md > "$tmp/layout"
regress=" $(sed -n 's/^REGRESS = //p' Makefile) "
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    files=$(git ls-files src sql bench test | grep -v '^test/.*/')
else
    files=$(find src sql bench test -maxdepth 1 -type f \( -path 'src/*' -o -path 'sql/*' -o -path 'bench/*' -o -name '*.sh' \) | sort)
fi
missing=
for f in $files; do
    case "$f" in
        src/*.o|src/*.bc|bench/.gitignore|bench/ceiling) continue ;;
        sql/momo--"$(sed -n 's/^EXTVERSION = //p' Makefile)".sql) continue ;;   # built from sql/momo.sql
        sql/*.sql) name=$(basename "$f" .sql)
                   case "$regress" in *" $name "*) continue ;; esac ;;
    esac
    grep -qF -- "\`$f\`" "$tmp/layout" || missing="$missing $f"
done
if [ -s "$tmp/layout" ] && [ -z "$missing" ]; then
    echo "ok recipe source-layout (README.md names every file of src/, sql/, test/*.sh, bench/)"
else
    echo "FAILED recipe source-layout: README.md's \"Source layout\" does not name:${missing:- (no such section)}"
    failed=1
fi
exit "$failed"
