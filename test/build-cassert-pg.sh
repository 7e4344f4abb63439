#!/usr/bin/env bash
# =============================================================================
# test/build-cassert-pg.sh -- makes sure a PostgreSQL 15 built with
# --enable-cassert from Debian's own source package is installed in
# $MOMO_CASSERT_PREFIX (default /opt/momo-postgresql-15-cassert), for
# test/cassert.sh.  Such a server poisons freed memory (CLOBBER_FREED_MEMORY:
# 0x7F bytes), checks its memory contexts (MEMORY_CONTEXT_CHECKING: writes past
# a chunk's end, corrupted blocks) and its assertions (TRAP:), so momo reading
# memory that SPI_finish or a memory context reset freed gives wrong results
# or a crash there instead of going unseen; ASan (test/asan.sh) cannot see
# inside PostgreSQL's allocator.
#
# Cache: a finished build leaves the stamp file $PREFIX/.momo-cassert-stamp
# naming the build recipe, the configure options and the Debian version of the
# installed postgresql-15 package it was made for.  When the stamp matches and
# the installation is complete, nothing is done (a second or so); otherwise
# the prefix is removed and built again (about 3 minutes on 2 cores).
#
# The build, when needed:
#   1. Debian's source package: a deb-src entry is added for each Debian
#      archive of Debian's own apt sources (/etc/apt/sources.list.d/
#      momo-deb-src.sources, .list for one-line sources.list entries) unless
#      apt already knows the sources of postgresql-15, then `apt-get update`
#      (root only).  `apt-get source postgresql-15=V` fetches it (checked
#      against the signed Sources index) and applies Debian's patches; V is
#      the installed postgresql-15's version, or -- when the archive no longer
#      or not yet serves that source -- the newest source version it serves,
#      said loudly (MOMO_CASSERT_EXACT=1 makes that an error instead).
#   2. configure --enable-cassert --enable-debug --enable-tap-tests
#      --with-openssl (pgcrypto needs it) without ICU, readline, NLS, LLVM or
#      any PL; `make` (server, client programs, pg_regress and the
#      PostgreSQL::Test modules: no docs), `make install`, and of contrib only
#      pgcrypto (sql/api.sql uses it), auto_explain (t/027 reads the plans
#      of the worker's claims from it) and dblink (sql/setup.sql's
#      momo_test.reload() asks a new connection whether the postmaster has
#      reloaded).
#   3. The prefix must contain "postgres" or "pgsql": Debian's patch
#      50-per-version-dirs otherwise puts the modules into
#      /usr/lib/postgresql/15/lib, over the system PostgreSQL.  Every
#      installation directory is checked to lie under the prefix before
#      anything is installed.
#
# Environment: MOMO_CASSERT_PREFIX, MOMO_CASSERT_BUILD_DIR (scratch, default
# /var/tmp/momo-cassert-pg-build, removed after a successful build unless
# MOMO_CASSERT_KEEP_BUILD=1), MOMO_CASSERT_JOBS (make -j, default 2),
# MOMO_CASSERT_NICE (niceness of the compiler, default 10: CI runs the build
# beside the other test suites), MOMO_CASSERT_EXACT (see 1).
# Needs: the packages of test/install-deps.sh; root, or a writable prefix and
# deb-src entries already in place.
# Usage: bash test/build-cassert-pg.sh
# =============================================================================
set -euo pipefail

PREFIX=${MOMO_CASSERT_PREFIX:-/opt/momo-postgresql-15-cassert}
BUILD=${MOMO_CASSERT_BUILD_DIR:-/var/tmp/momo-cassert-pg-build}
JOBS=${MOMO_CASSERT_JOBS:-2}
NICE=${MOMO_CASSERT_NICE:-10}
PKG=postgresql-15
STAMP=$PREFIX/.momo-cassert-stamp
MARKER=$PREFIX/.momo-cassert          # "this directory is ours to remove"
# Bump when the steps below change what gets installed: the cache is then rebuilt.
RECIPE=2
CONFIGURE_OPTIONS=(
    --enable-cassert           # USE_ASSERT_CHECKING, CLOBBER_FREED_MEMORY, MEMORY_CONTEXT_CHECKING
    --enable-debug             # -g: backtraces from cores name files and lines
    --enable-tap-tests         # installs PostgreSQL::Test::* (test/run-tap.sh)
    --with-openssl             # contrib/pgcrypto needs it
    --without-icu
    --without-readline         # psql runs scripts only
    --with-system-tzdata=/usr/share/zoneinfo
)
BUILD_CFLAGS="-O2 -fno-omit-frame-pointer"
CONTRIB=(pgcrypto auto_explain dblink)

die() { echo "build-cassert-pg.sh: $*" >&2; exit 2; }
say() { echo "build-cassert-pg.sh: $*"; }
is_root() { [ "$(id -u)" -eq 0 ]; }

case "$PREFIX" in
    /*) ;;
    *) die "MOMO_CASSERT_PREFIX must be an absolute path, not '$PREFIX'" ;;
esac
case "$PREFIX" in
    *postgres*|*pgsql*) ;;
    *) die "MOMO_CASSERT_PREFIX '$PREFIX' must contain \"postgres\" or \"pgsql\": Debian's patch 50-per-version-dirs would otherwise install into /usr/lib/postgresql/15/lib" ;;
esac
case "$BUILD" in /|/tmp|/var/tmp|"") die "refusing build directory '$BUILD'" ;; esac

wanted=$(dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null || true)
[ -n "$wanted" ] || die "$PKG is not installed (run test/install-deps.sh): its version names the source to build"

# The stamp's lines that must match for a build to be reused (the version
# actually built follows on a "source=" line).
expected_stamp() {
    echo "recipe=$RECIPE"
    echo "package=$PKG"
    echo "installed=$wanted"
    echo "configure=${CONFIGURE_OPTIONS[*]} CFLAGS=$BUILD_CFLAGS"
    echo "contrib=${CONTRIB[*]}"
}

# complete: the stamp matches and every file the tests need is there.
complete() {
    local f
    [ -f "$STAMP" ] || return 1
    [ "$(grep -v '^source=' "$STAMP")" = "$(expected_stamp)" ] || return 1
    for f in bin/postgres bin/pg_ctl bin/initdb bin/psql bin/pg_config bin/pg_dump bin/pg_restore \
             bin/pg_basebackup lib/pgcrypto.so share/extension/pgcrypto.control \
             lib/dblink.so share/extension/dblink.control \
             lib/pgxs/src/makefiles/pgxs.mk lib/pgxs/src/test/regress/pg_regress \
             lib/pgxs/src/test/perl/PostgreSQL/Test/Cluster.pm include/15/server/postgres.h; do
        [ -e "$PREFIX/$f" ] || return 1
    done
    "$PREFIX/bin/postgres" -V >/dev/null 2>&1
}

cached() {
    say "reusing $PREFIX: PostgreSQL $(sed -n 's/^source=//p' "$STAMP") with assertions, built for $PKG $wanted"
}

if complete; then
    cached
    exit 0
fi

# One build at a time on this machine; a build finished meanwhile is reused.
mkdir -p "$(dirname "$PREFIX")"
exec 9>"$PREFIX.build.lock"
if ! flock -n 9; then
    say "another build of $PREFIX is under way; waiting for it (up to 30 min)"
    flock -w 1800 9 || die "timed out waiting for the lock $PREFIX.build.lock"
fi
if complete; then
    cached
    exit 0
fi

start=$(date +%s)
if [ -e "$PREFIX" ]; then
    if [ -e "$MARKER" ] || [ -z "$(ls -A "$PREFIX")" ]; then
        say "removing the stale or incomplete build in $PREFIX"
        rm -rf "$PREFIX"
    else
        die "$PREFIX exists and was not made by this script (no $MARKER); remove it or set MOMO_CASSERT_PREFIX"
    fi
fi

# --- 1. Debian's source package ------------------------------------------------
# apt knows the sources of postgresql-15 (a deb-src entry exists)
has_sources() {
    # (not grep -q: apt-cache would die of SIGPIPE, failing the pipeline)
    [ "$(apt-cache showsrc "$PKG" 2>/dev/null | grep -c "^Package: $PKG\$")" -gt 0 ]
}

# deb-src twins of the deb entries of Debian's own apt sources
add_deb_src() {
    local out=/etc/apt/sources.list.d/momo-deb-src
    is_root || die "apt has no deb-src entry for $PKG; as root this script adds one (see its header), or add one yourself and run apt-get update"
    rm -f "$out.sources" "$out.list"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        # deb822 stanzas: each enabled one whose Types include "deb", with Types: deb-src
        awk '
            function flush() {
                if (n > 0 && isdeb && !disabled) {
                    for (i = 1; i <= n; i++) print lines[i]
                    print ""
                }
                n = 0; isdeb = 0; disabled = 0
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            /^Types:/ {
                for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1
                lines[++n] = "Types: deb-src"
                next
            }
            /^Enabled:[ \t]*[Nn][Oo]/ { disabled = 1 }
            { lines[++n] = $0 }
            END { flush() }' /etc/apt/sources.list.d/debian.sources >"$out.sources"
        [ -s "$out.sources" ] || rm -f "$out.sources"
    fi
    if [ -f /etc/apt/sources.list ]; then
        sed -n 's/^[[:space:]]*deb[[:space:]]\+/deb-src /p' /etc/apt/sources.list >"$out.list"
        [ -s "$out.list" ] || rm -f "$out.list"
    fi
    [ -f "$out.sources" ] || [ -f "$out.list" ] ||
        die "found no Debian deb entries in /etc/apt/sources.list or /etc/apt/sources.list.d/debian.sources to add deb-src twins of"
    say "added deb-src entries: $(ls "$out".* | tr '\n' ' ')"
    apt_update
}

apt_update() {
    say "apt-get update"
    apt-get update -q >"$BUILD/apt-update.log" 2>&1 || { cat "$BUILD/apt-update.log" >&2; die "apt-get update failed"; }
}

# fetch VERSION: download and unpack the source package into $BUILD/src
fetch() {
    rm -rf "$BUILD/src"
    mkdir -p "$BUILD/src"
    # apt downloads as _apt when it can write there (else it warns and does it as root)
    if is_root && id _apt >/dev/null 2>&1; then
        chown _apt "$BUILD/src"
    fi
    (cd "$BUILD/src" && apt-get source -q "$PKG=$1") >"$BUILD/source.log" 2>&1
}

rm -rf "$BUILD"
mkdir -p "$BUILD"
has_sources || add_deb_src
has_sources || die "apt still knows no source of $PKG after adding deb-src entries"

source_version=
if fetch "$wanted"; then
    source_version=$wanted
else
    if is_root; then
        apt_update           # the lists may be older than the archive
        fetch "$wanted" && source_version=$wanted
    fi
fi
if [ -z "$source_version" ]; then
    [ "${MOMO_CASSERT_EXACT:-0}" = 1 ] && { cat "$BUILD/source.log" >&2; die "the source of $PKG $wanted cannot be downloaded"; }
    # newest first
    for v in $(apt-cache showsrc "$PKG" | sed -n 's/^Version: //p' | sort -rV -u); do
        [ "$v" = "$wanted" ] && continue
        if fetch "$v"; then
            source_version=$v
            break
        fi
    done
    [ -n "$source_version" ] || { cat "$BUILD/source.log" >&2; die "no source version of $PKG can be downloaded"; }
    echo "build-cassert-pg.sh: WARNING: the archive does not serve the source of the installed $PKG $wanted; building $source_version instead (same major version; momo is built against it)" >&2
fi
SRC=$(find "$BUILD/src" -mindepth 1 -maxdepth 1 -type d -name "$PKG-*" | head -n 1)
[ -n "$SRC" ] && [ -f "$SRC/configure" ] && [ -d "$SRC/debian/patches" ] ||
    { cat "$BUILD/source.log" >&2; die "apt-get source left no unpacked source tree in $BUILD/src"; }
say "building $PKG $source_version (Debian's source, patches applied) with assertions into $PREFIX"

# --- 2. configure, build -----------------------------------------------------------
LOG=$BUILD/build.log
run() {   # run STEP CMD...: CMD's output to the log; on failure its end and exit
    local step=$1
    shift
    if ! "$@" >>"$LOG" 2>&1; then
        tail -n 60 "$LOG" >&2
        die "$step failed (log $LOG)"
    fi
}
t0=$(date +%s)
run configure bash -c 'cd "$1" && shift && ./configure "$@"' - "$SRC" --prefix="$PREFIX" \
    "${CONFIGURE_OPTIONS[@]}" CFLAGS="$BUILD_CFLAGS"
t1=$(date +%s)
# PostgreSQL makes its generated headers (utils/errcodes.h, ...) first only
# at MAKELEVEL 0 (src/Makefile.global): run from `make test`, the level and
# flags of that make would be inherited, and the build fail for want of them.
run make env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS nice -n "$NICE" make -C "$SRC" -j"$JOBS" -s
for c in "${CONTRIB[@]}"; do
    run "make contrib/$c" env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS nice -n "$NICE" make -C "$SRC/contrib/$c" -j"$JOBS" -s
done
t2=$(date +%s)

# --- 3. every installation directory under the prefix, then install -----------------
# (the paths compiled into the programs, as make install uses them; the build
# tree's pg_config would answer relative to its own location)
paths=$SRC/src/port/pg_config_paths.h
[ "$(grep -c '^#define [A-Z]*DIR' "$paths")" -ge 10 ] || die "$paths does not name the installation directories"
while read -r _ name dir; do
    dir=${dir//\"/}
    case "$dir" in
        "$PREFIX"/*) ;;
        *) die "the build would install $name into $dir, outside $PREFIX; nothing installed" ;;
    esac
done < <(grep '^#define [A-Z]*DIR ' "$paths")
mkdir -p "$PREFIX"
touch "$MARKER"
run "make install" env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS make -C "$SRC" -s install
for c in "${CONTRIB[@]}"; do
    run "make -C contrib/$c install" env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS make -C "$SRC/contrib/$c" -s install
done
[ "$("$PREFIX/bin/pg_config" --pkglibdir)" = "$PREFIX/lib" ] ||
    die "$PREFIX/bin/pg_config names $("$PREFIX/bin/pg_config" --pkglibdir) as its module directory"
{
    expected_stamp
    echo "source=$source_version"
} >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
complete || die "the installation in $PREFIX is incomplete after make install"
t3=$(date +%s)
if [ "${MOMO_CASSERT_KEEP_BUILD:-0}" != 1 ]; then
    rm -rf "$BUILD"
fi
say "built and installed in $(( t3 - start )) s (download $(( t0 - start )) s, configure $(( t1 - t0 )) s, make -j$JOBS $(( t2 - t1 )) s, install $(( t3 - t2 )) s)"
