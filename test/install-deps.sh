#!/usr/bin/env bash
# =============================================================================
# test/install-deps.sh -- install the Debian 12 packages that building and
# testing momo need (compiler, PostgreSQL 15 + server headers, libcurl,
# OpenSSL, libmicrohttpd for the sandbox, Perl IPC::Run for the TAP tests,
# curl/jq for the scripts, clang's static analyzer, Django and psycopg2 for
# the Django example (examples/django), what building momo's
# Debian package needs (test/package.sh), what building PostgreSQL from Debian's source
# package with assertions needs for test/cassert.sh, gdb for backtraces,
# prometheus-postgres-exporter for test/t/034_exporter.pl, whose service it
# stops and disables, pgbouncer for test/t/053_pooler.pl, whose service it
# stops and disables too).
# The deb-src entry that build needs is added by test/build-cassert-pg.sh,
# only when it has to build.
#
# Idempotent: when every package is already installed it does nothing (no
# apt-get run at all).  Otherwise, as root, it runs `apt-get update` once and
# installs the missing ones; not as root, it names them and exits 1.
# Usage: bash test/install-deps.sh
# =============================================================================
set -euo pipefail

PACKAGES=(
    build-essential            # gcc, make, libc headers
    pkg-config
    postgresql-15              # server (initdb, pg_ctl, postgres), contrib
    postgresql-contrib
    postgresql-server-dev-15   # PGXS, pg_config, pg_regress, PostgreSQL::Test::*
    libcurl4-openssl-dev       # the worker's HTTP client (curl multi)
    libssl-dev
    openssl                    # test/make-ca.sh
    libmicrohttpd-dev          # test/sandbox (pulls in libgnutls28-dev)
    libipc-run-perl            # TAP tests (PostgreSQL::Test::Utils)
    perl
    curl                       # scripts talk to the sandbox with it
    ca-certificates
    jq
    python3-jsonschema         # test/check-meta.sh: META.json against PGXN's JSON Schema
    python3-regex              # ... whose patterns use \p{...} classes
    clang-14                   # test/fuzz: the libFuzzer targets
    libclang-rt-14-dev         # test/fuzz: libFuzzer and clang's sanitizer runtimes
    llvm-14                    # llvm-symbolizer: readable stacks in fuzz findings
    clang-tools-14             # test/scan-build.sh: clang's static analyzer (scan-build-14)
    debhelper                  # test/package.sh: the Debian package (debian/rules)
    postgresql-server-dev-all  # ... pg_buildext's debhelper sequence (dh --with pgxs_loop)
    dpkg-dev                   # ... dpkg-buildpackage; test/build-cassert-pg.sh: apt-get source unpacks with dpkg-source
    bzip2                      # ... the .orig.tar.bz2
    xz-utils                   # ... the .debian.tar.xz
    bison                      # ... in case Debian's patches touch a grammar
    flex
    zlib1g-dev                 # ... pg_dump -Fc compresses (test/t/004_dump.pl)
    gdb                        # test/cassert.sh: backtraces of crashed servers from their cores
    python3-django             # examples/django: the Django example and its tests (run.sh)
    python3-psycopg2
    prometheus-postgres-exporter  # test/t/034_exporter.pl runs it (monitoring/postgres_exporter_queries.yaml)
    pgbouncer                  # test/t/053_pooler.pl: the README's pooler table, through a real PgBouncer
)

# The exporter's package enables a service on port 9187 that the tests do not
# want (034_exporter.pl runs its own, on a free port, against its own
# cluster): stopped and disabled wherever this script finds it, also when
# nothing was missing.
# The same for pgbouncer's service (port 6432): 053_pooler.pl runs its own.
stop_service() {
    local svc=$1
    command -v systemctl >/dev/null 2>&1 || return 0
    if systemctl is-enabled --quiet "$svc" 2>/dev/null \
       || systemctl is-active --quiet "$svc" 2>/dev/null; then
        if [ "$(id -u)" -eq 0 ]; then
            systemctl disable --now "$svc" >/dev/null 2>&1 || true
            echo "install-deps: stopped and disabled the $svc service"
        else
            echo "install-deps: the $svc service is enabled; the tests do not need it:" >&2
            echo "  sudo systemctl disable --now $svc" >&2
        fi
    fi
}
stop_exporter_service() {
    stop_service prometheus-postgres-exporter
    stop_service pgbouncer
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    # dpkg -s exits 0 also for removed-but-configured packages; check the status
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    stop_exporter_service
    exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: not root; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
stop_exporter_service
echo "install-deps: installed: ${missing[*]}"
