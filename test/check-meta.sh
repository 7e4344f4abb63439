#!/usr/bin/env bash
# =============================================================================
# test/check-meta.sh -- the release metadata is valid and names one version.
#
#   ok meta schema       META.json is valid against PGXN's Meta Spec v1, the
#                        JSON Schema vendored in test/meta-schema/v1/ (checked
#                        offline with Debian's python3-jsonschema; the
#                        schemas' \p{...} patterns with python3-regex)
#   ok meta version      META.json's version and each extension's version in
#                        "provides" are the Makefile's EXTVERSION as SemVer
#                        (1.1 -> 1.1.0)
#   ok meta files        the files META.json names (file, docfile) exist
#   ok meta debian       debian/changelog's upstream version is EXTVERSION
#   ok meta readme       the package file README.md names is of that version
#   ok meta changelog    CHANGELOG.md has a section "## EXTVERSION"
#
# or "FAILED meta NAME: why" for each that does not hold; exits 1 if any
# failed.  Usage: test/check-meta.sh [META.json]  (another file in its place:
# to see what the checks catch).
# =============================================================================
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

META=${1:-META.json}
SCHEMA_DIR=test/meta-schema/v1
failed=0
ok() { echo "ok meta $1"; }
fail() { echo "FAILED meta $1"; failed=1; }

# the one place the version is written
extversion=$(sed -n 's/^EXTVERSION[[:space:]]*=[[:space:]]*\([^[:space:]]*\).*/\1/p' Makefile)
[ -n "$extversion" ] || { fail "version: no EXTVERSION in the Makefile"; exit 1; }
# as SemVer: two numbers get a third
case "$extversion" in
    *.*.*) semver=$extversion ;;
    *.*) semver=$extversion.0 ;;
    *) semver=$extversion.0.0 ;;
esac

# --- META.json against the schema --------------------------------------------
# Python from Debian (/usr/bin/python3), whatever python3 is first on PATH.
if out=$(/usr/bin/python3 - "$SCHEMA_DIR" "$META" 2>&1 <<'PY'
import glob, json, os, sys

import regex                                   # python3-regex
from jsonschema import Draft202012Validator, FormatChecker, RefResolver
from jsonschema.exceptions import ValidationError

schema_dir, meta = sys.argv[1], sys.argv[2]

# every schema by its $id, so that "$ref": "term.schema.json" resolves here
store = {}
for path in sorted(glob.glob(os.path.join(schema_dir, "*.schema.json"))):
    with open(path) as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    store[schema["$id"]] = schema
root = store["https://pgxn.org/meta/v1/distribution.schema.json"]

def no_network(uri):
    raise RuntimeError("schema %s is not in %s" % (uri, schema_dir))

# PGXN writes its patterns for a regex engine with \p{Cntrl}, \p{lower} and
# [[:digit:]], which Python's re lacks (it fails on \p, and reads
# [[:digit:]] as a different set); the regex module has them all.
def pattern(validator, patrn, instance, schema):
    if validator.is_type(instance, "string") and not regex.search(patrn, instance):
        yield ValidationError("%r does not match %r" % (instance, patrn))

# (in Draft202012Validator itself: a $ref to a schema that names its dialect
# is checked by the class registered for that dialect, not by a subclass)
Draft202012Validator.VALIDATORS["pattern"] = pattern
resolver = RefResolver(base_uri=root["$id"], referrer=root, store=store,
                       handlers={"http": no_network, "https": no_network})
validator = Draft202012Validator(root, resolver=resolver, format_checker=FormatChecker())

try:
    with open(meta) as f:
        doc = json.load(f)
except ValueError as e:
    print("%s is not JSON: %s" % (meta, e))
    sys.exit(1)
errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
# a property whose value is invalid is also reported as "unevaluated" by
# unevaluatedProperties: that report only when nothing else is wrong
if any(e.validator != "unevaluatedProperties" for e in errors):
    errors = [e for e in errors if e.validator != "unevaluatedProperties"]
for e in errors:
    where = "/" + "/".join(str(p) for p in e.absolute_path)
    print("%s at %s: %s" % (meta, where, e.message))
    # for oneOf/anyOf, the alternatives' own complaints
    for sub in sorted(e.context, key=lambda s: list(s.absolute_path))[:4]:
        print("    (%s)" % sub.message)
sys.exit(1 if errors else 0)
PY
); then
    ok "schema ($META against PGXN Meta Spec v1)"
else
    fail "schema: $META is not valid PGXN Meta Spec v1:"
    printf '%s\n' "$out" | sed 's/^/    /'
fi

# --- the versions ------------------------------------------------------------
if ! jq -e . "$META" >/dev/null 2>&1; then
    fail "version: $META is not JSON"
    fail "files: $META is not JSON"
else
    wrong=$(jq -r --arg v "$semver" '
        (if .version != $v then "version \(.version | tojson)" else empty end),
        ((.provides // {}) | to_entries[] | select(.value.version != $v)
            | "provides.\(.key).version \(.value.version | tojson)")' "$META")
    if [ -z "$wrong" ]; then
        ok "version ($META says $semver, EXTVERSION = $extversion)"
    else
        fail "version: EXTVERSION is $extversion, so $META must say $semver, not: $(echo $wrong)"
    fi

    missing=()
    while IFS= read -r f; do
        [ -f "$f" ] || missing+=("$f")
    done < <(jq -r '(.provides // {})[] | (.file, .docfile) | select(. != null)' "$META")
    if [ ${#missing[@]} -eq 0 ]; then
        ok "files (those $META names exist)"
    else
        fail "files: $META names files that do not exist: ${missing[*]}"
    fi
fi

debversion=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${debversion#*:}           # no epoch
upstream=${upstream%-*}             # no Debian revision
if [ "$upstream" = "$extversion" ]; then
    ok "debian (debian/changelog: $debversion)"
else
    fail "debian: debian/changelog's version $debversion is not EXTVERSION $extversion (add an entry: $extversion-1)"
fi

# the README's instructions name the package file
stale=$(grep -oE 'postgresql-[0-9]+-momo_[^_ ]+_' README.md | sed 's/^[^_]*_//; s/_$//' | grep -vxF "$debversion" | sort -u || true)
if [ -z "$stale" ]; then
    ok "readme (README.md names the package file of $debversion)"
else
    fail "readme: README.md names a package of version $(echo $stale), not $debversion"
fi

if grep -qE "^## $(printf '%s' "$extversion" | sed 's/\./\\./g')( |$)" CHANGELOG.md; then
    ok "changelog (CHANGELOG.md has ## $extversion)"
else
    fail "changelog: CHANGELOG.md has no section \"## $extversion\""
fi

exit "$failed"
