#!/usr/bin/env bash
# =============================================================================
# test/package.sh -- build the Debian package postgresql-15-momo from this
# checkout, once, and install it with apt as a user would; `make test` runs
# every suite against what it installs.
#
#   1. A copy of what the package is built from (Makefile, momo.control.in,
#      sql/, src/, debian/, LICENSE, README.md, CHANGELOG.md, META.json, as
#      they are in the working tree) goes into $MOMO_PACKAGE_DIR/momo-VERSION, and
#      `dpkg-buildpackage -us -uc -b` builds it there (pg_buildext, see
#      debian/rules) with the system's tools: nothing is written into the
#      checkout.  The .deb files and build.log stay in $MOMO_PACKAGE_DIR
#      (default /tmp/momo-deb; emptied first, if it is one this script made).
#   2. Its Depends name postgresql-15 and the libcurl and OpenSSL it links.
#   3. Its files are exactly those `make install` installs: the copy is built
#      once more with make and installed with `make install DESTDIR=...`; the
#      two lists must be equal, every file but momo.so byte for byte, and
#      momo.so must need the same libraries.  The package's own
#      /usr/share/doc/postgresql-15-momo/ (copyright, changelogs, README),
#      which Debian requires and make install has no place for, is left out.
#   4. As root (or through sudo): `apt-get install --reinstall ./<deb>`; then
#      dpkg has it installed at the version built, `dpkg --verify` finds every
#      file as the package has it, the installed momo.so is this build's, and
#      no other momo file lies in PostgreSQL's directories (left there by an
#      earlier make install, it would be tested as if packaged).
#      MOMO_PACKAGE_INSTALL=0 stops after 3.
#
# Prints "ok package NAME" or "FAILED package NAME: why" for each of build,
# depends, files and install; exits 1 if any failed.  About 10 s on 2 cores.
# Usage: bash test/package.sh
# =============================================================================
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

OUT=${MOMO_PACKAGE_DIR:-/tmp/momo-deb}
INSTALL=${MOMO_PACKAGE_INSTALL:-1}
# the system's tools, whatever PATH holds (a pg_config of another build...)
SYSPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

failed=0
ok() { echo "ok package $1"; }
fail() { echo "FAILED package $1"; failed=1; }
die() { echo "FAILED package $1"; exit 1; }

case "$OUT" in /|/tmp|/tmp/|"$REPO"|"$REPO"/*|"") die "build: refusing MOMO_PACKAGE_DIR '$OUT'" ;; esac
for tool in dpkg-buildpackage dh pg_buildext; do
    command -v "$tool" >/dev/null || die "build: $tool not found (run test/install-deps.sh)"
done

extversion=$(sed -n 's/^EXTVERSION[[:space:]]*=[[:space:]]*\([^[:space:]]*\).*/\1/p' Makefile)
debversion=$(dpkg-parsechangelog -l debian/changelog -S Version)

# --- 1. build ----------------------------------------------------------------
# emptied only if this script made it (its mark is there), or if it is empty
if [ -d "$OUT" ] && [ ! -f "$OUT/.made-by-test-package.sh" ] && [ -n "$(ls -A "$OUT")" ]; then
    die "build: $OUT is not empty and was not made by test/package.sh: set MOMO_PACKAGE_DIR"
fi
rm -rf "$OUT"
mkdir -p "$OUT/momo-$extversion"
touch "$OUT/.made-by-test-package.sh"
chmod 0755 "$OUT"               # apt's _apt user reads the .deb from here
SRC=$OUT/momo-$extversion
cp -r Makefile momo.control.in sql src debian LICENSE README.md CHANGELOG.md META.json "$SRC/"

start=$(date +%s)
if ! (cd "$SRC" && env PATH="$SYSPATH" dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1; then
    tail -n 40 "$OUT/build.log"
    die "build: dpkg-buildpackage failed (the log: $OUT/build.log)"
fi
took=$(( $(date +%s) - start ))
debs=("$OUT"/postgresql-*-momo_"$debversion"_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] ||
    die "build: expected one postgresql-*-momo_${debversion}_*.deb in $OUT, found: $(cd "$OUT" && echo *.deb)"
DEB=${debs[0]}
PKG=$(dpkg-deb -f "$DEB" Package)
PGMAJOR=$(echo "$PKG" | sed -n 's/^postgresql-\([0-9]*\)-momo$/\1/p')
[ -n "$PGMAJOR" ] || die "build: unexpected package name $PKG"
PG_CONFIG=/usr/lib/postgresql/$PGMAJOR/bin/pg_config
ok "build ($(basename "$DEB"), $took s; log: $OUT/build.log)"

# --- 2. depends --------------------------------------------------------------
depends=$(dpkg-deb -f "$DEB" Depends)
missing=()
for want in "postgresql-$PGMAJOR" libcurl4 libssl3; do
    echo ", $depends," | grep -qE ", $want( \([^)]*\))?," || missing+=("$want")
done
if [ ${#missing[@]} -eq 0 ]; then
    ok "depends ($depends)"
else
    fail "depends: Depends: $depends lacks ${missing[*]}"
fi

# --- 3. the same files as make install ---------------------------------------
# (the package build ends with make clean: this is a second build of the copy)
if ! (cd "$SRC" && env PATH="$SYSPATH" make -s -j2 PG_CONFIG="$PG_CONFIG" &&
        env PATH="$SYSPATH" make -s install PG_CONFIG="$PG_CONFIG" DESTDIR="$OUT/make-install") \
        >"$OUT/make-install.log" 2>&1; then
    cat "$OUT/make-install.log"
    fail "files: make install into $OUT/make-install failed"
else
    dpkg-deb -x "$DEB" "$OUT/deb-root"
    list() { (cd "$1" && find . ! -type d | sed 's|^\./|/|' | LC_ALL=C sort); }
    list "$OUT/make-install" >"$OUT/make-install.files"
    list "$OUT/deb-root" | grep -v "^/usr/share/doc/$PKG/" >"$OUT/deb.files" || true
    problems=()
    if ! diff -u "$OUT/make-install.files" "$OUT/deb.files" >"$OUT/files.diff"; then
        problems+=("the file lists differ (- make install, + package):")
    else
        while read -r f; do
            case "$f" in
                *.so)
                    needed() { objdump -p "$1" | awk '$1 == "NEEDED" { print $2 }' | LC_ALL=C sort; }
                    [ "$(needed "$OUT/make-install$f")" = "$(needed "$OUT/deb-root$f")" ] ||
                        problems+=("$f needs other libraries than make install's")
                    ;;
                *)
                    cmp -s "$OUT/make-install$f" "$OUT/deb-root$f" ||
                        problems+=("$f differs from make install's")
                    ;;
            esac
        done <"$OUT/deb.files"
    fi
    if [ ${#problems[@]} -eq 0 ]; then
        ok "files (the $(wc -l <"$OUT/deb.files") files make install installs: $(tr '\n' ' ' <"$OUT/deb.files"| sed 's/ $//'))"
    else
        fail "files: ${problems[*]}"
        [ -s "$OUT/files.diff" ] && sed 's/^/    /' "$OUT/files.diff"
    fi
fi

# --- 4. installed with apt ---------------------------------------------------
if [ "$INSTALL" = 0 ]; then
    echo "package: MOMO_PACKAGE_INSTALL=0, $PKG is not installed"
    exit "$failed"
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
chmod 0644 "$OUT"/*.deb
# --reinstall: the same version may be installed already, from another build
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --reinstall --no-install-recommends "$DEB" >"$OUT/install.log" 2>&1; then
    cat "$OUT/install.log"
    die "install: apt-get install $DEB failed"
fi
problems=()
status=$(dpkg-query -W -f='${Status} ${Version}' "$PKG" 2>/dev/null || true)
[ "$status" = "install ok installed $debversion" ] ||
    problems+=("dpkg says \"$status\", not \"install ok installed $debversion\"")
verify=$(dpkg --verify "$PKG" 2>&1 || true)
[ -z "$verify" ] || problems+=("dpkg --verify: $verify")
so=$("$PG_CONFIG" --pkglibdir)/momo.so
cmp -s "$OUT/deb-root$so" "$so" || problems+=("the installed $so is not this build's")
strays=$(comm -23 \
    <(ls -d "$so" "$("$PG_CONFIG" --pkglibdir)"/bitcode/momo* \
            "$("$PG_CONFIG" --sharedir)"/extension/momo[.-]* 2>/dev/null | LC_ALL=C sort) \
    <(dpkg -L "$PKG" | LC_ALL=C sort))
[ -z "$strays" ] || problems+=("not from the package (an earlier make install?): $(echo $strays)")
if [ ${#problems[@]} -eq 0 ]; then
    ok "install ($PKG $debversion installed with apt-get install ./$(basename "$DEB"))"
else
    fail "install: ${problems[*]}"
fi

exit "$failed"
