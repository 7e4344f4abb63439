# momo: MTN Mobile Money payments from inside PostgreSQL.
#
#   make                  build the extension
#   make install          install it into the PostgreSQL that pg_config names
#   make demo             fresh machine -> a payment taken from SQL against the local sandbox
#   make test             fresh machine -> every test (regression + TAP) against the local sandbox
#   make installcheck     regression tests against a running cluster (see test/cluster.sh)
#   make prove-tap        TAP tests in test/t/ (each starts its own cluster and sandbox)
#   make installcheck-live  the regression outcomes against MTN's real sandbox (needs credentials)
#   make fuzz             libFuzzer targets of the network-data parsers, 60 s each (test/fuzz/)
#   make asan             the regression suite against momo built with ASan + UBSan (test/asan.sh)
#   make cassert          regression + TAP suites against PostgreSQL built with --enable-cassert (test/cassert.sh)
#   make django-test      the Django example's tests against its own cluster and sandbox (examples/django/run.sh)
#   make django-demo      the Django example's checkout page on http://localhost:8000/
#   make bench            performance figures, each a ratio measured in the same run (bench/)

EXTENSION = momo
# The one place that holds momo's version: the control file's
# default_version, the name of the install script built from sql/momo.sql
# and the library's (User-Agent, the schema check) come from it.  Released
# install scripts stay as they are; upgrade scripts lead from each to it.
EXTVERSION = 1.1
MODULE_big = momo
DATA = sql/momo--1.0.sql $(wildcard sql/momo--*--*.sql)
DATA_built = sql/momo--$(EXTVERSION).sql
EXTRA_CLEAN = momo.control

OBJS = \
	src/momo.o \
	src/settings.o \
	src/http.o \
	src/json.o \
	src/protocol.o \
	src/answers.o \
	src/api.o \
	src/msisdn.o \
	src/validate.o \
	src/lifecycle.o \
	src/spi_util.o \
	src/store.o \
	src/events.o \
	src/functions.o \
	src/calls.o \
	src/callback.o \
	src/changes.o \
	src/counts.o \
	src/preflight.o \
	src/health.o \
	src/guard.o \
	src/pause.o \
	src/owner.o \
	src/redact.o \
	src/version.o \
	src/worker.o \
	src/launcher.o

PG_CPPFLAGS = -I$(srcdir)/src $(shell pkg-config --cflags libcurl 2>/dev/null) -DMOMO_VERSION='"$(EXTVERSION)"'
SHLIB_LINK = -lcurl -lssl -lcrypto

# Regression tests: SQL in sql/, expected output in expected/.
REGRESS = setup sandbox validation msisdn settings security catalogue secrets outcomes faults functions idempotency trigger api callback lifecycle changes pause counts monitoring withdraw version2 cash_transfer callback_url consent invoice account_holder_ids preapproval preapproval_tenants interrupted party_id upgrade
REGRESS_OPTS = --inputdir=. --use-existing --dbname=contrib_regression

# No LLVM bitcode: JIT inlining of momo buys nothing, and clang need not be installed.
override with_llvm = no

# Warnings.  PGXS appends PG_CFLAGS to the CFLAGS PostgreSQL was built with
# (which have -Wall -Wmissing-prototypes); `make PG_CFLAGS=...` replaces this
# default.  momo's code is -Wall -Wextra clean, and CI keeps it so: it builds
# with PG_CFLAGS='-Wall -Wextra -Werror' (test/run-tests.sh).
PG_CFLAGS ?= -Wall -Wextra -Werror=implicit-function-declaration
# PostgreSQL's headers are system headers to the compiler (-isystem, which
# takes precedence over PGXS's -I for the same directory): -Wextra finds
# unused parameters in their inline functions (lib/ilist.h, storage/bufpage.h
# in 15), which are not momo's to fix, and this keeps -Wunused-parameter on
# for momo's own code.
PG_CPPFLAGS += -isystem $(includedir_server)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/momo--$(EXTVERSION).sql: sql/momo.sql
	cp $< $@

momo.control: momo.control.in Makefile
	sed 's/@EXTVERSION@/$(EXTVERSION)/' $< >$@

# the version is compiled in
src/http.o src/version.o: Makefile

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS): $(wildcard src/*.h)

SANDBOX = test/sandbox/momo-sandbox

$(SANDBOX):
	$(MAKE) -C test/sandbox

.PHONY: sandbox demo test prove-tap installcheck-live bench fuzz asan cassert django-test django-demo
sandbox: $(SANDBOX)

demo:
	test/demo.sh

test:
	test/run-tests.sh

prove-tap: $(SANDBOX)
	test/run-tap.sh

installcheck-live:
	test/live.sh

bench: $(SANDBOX)
	bench/run.sh

fuzz:
	test/fuzz/run.sh

asan: $(SANDBOX)
	test/asan.sh

cassert: $(SANDBOX)
	test/cassert.sh

django-test: $(SANDBOX)
	examples/django/run.sh test

django-demo: $(SANDBOX)
	examples/django/run.sh demo

clean: clean-momo
clean-momo:
	$(MAKE) -C test/sandbox clean 2>/dev/null || true
	$(MAKE) -C test/fuzz clean 2>/dev/null || true
	rm -rf results regression.diffs regression.out tmp_check test/tmp_check
