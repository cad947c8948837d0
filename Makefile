# webhook: PostgreSQL extension that POSTs committed row changes to URLs
EXTENSION = webhook
MODULE_big = webhook
OBJS = \
	src/webhook.o \
	src/settings.o \
	src/wake.o \
	src/capture.o \
	src/eventlog.o \
	src/cursor.o \
	src/rotate.o \
	src/rowjson.o \
	src/worker.o \
	src/claim.o \
	src/load.o \
	src/admit.o \
	src/record.o \
	src/outcome.o \
	src/dispatch.o \
	src/window.o \
	src/txn.o \
	src/retry.o \
	src/plans.o \
	src/launcher.o \
	src/slots.o \
	src/http.o \
	src/sign.o \
	src/guard.o \
	src/body.o \
	src/filter.o \
	src/views.o
# every released script: the full ones and the upgrades (webhook--A--B.sql)
DATA = $(wildcard webhook--*.sql)
PGFILEDESC = "webhook - HTTP POST for every committed row change"

REGRESS = register capture lifecycle replay filters readme_examples
# make installcheck runs the suite in a temporary instance of the installed
# PostgreSQL with regress.conf, so it needs no server of yours (as a user
# other than root: initdb refuses root).  The Debian build runs it on the
# cluster pg_virtualenv makes with the same settings: REGRESS_INSTANCE=.
REGRESS_INSTANCE = --temp-instance=./tmp_check --temp-config=./regress.conf
REGRESS_OPTS = --inputdir=. --outputdir=. $(REGRESS_INSTANCE)

PG_CONFIG ?= pg_config
PKG_CONFIG ?= pkg-config

PG_CPPFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl)
SHLIB_LINK = $(shell $(PKG_CONFIG) --libs libcurl)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object depends on every header
$(OBJS): $(wildcard src/*.h)

.PHONY: deps test demo bench

# Install the Debian packages the build and the tests need (as root).
deps:
	tools/deps.sh

# Build, install, and run pg_regress, pgTAP and the crash tests against a
# throwaway cluster.
test:
	tools/deps.sh
	$(MAKE) all
	$(MAKE) install
	tools/test.sh

# A throwaway cluster, a receiver, and events flowing between them.
demo:
	@echo "== make demo builds the extension and installs it into the PostgreSQL of"
	@echo "   $$($(PG_CONFIG) --bindir) (the pg_config first in PATH), then runs it there"
	@echo "   in a throwaway cluster; set PATH to use another installation."
	tools/deps.sh
	$(MAKE) all
	$(MAKE) install
	tools/demo.sh

# The benchmark suite (BENCHMARKS.md): a throwaway cluster, nginx, and the
# comparisons, printed as one table.  About 11 minutes.
bench:
	tools/deps.sh
	$(MAKE) all
	$(MAKE) install
	bench/run.sh

# What a webhook's condition costs the writer (README, Filters).  About a minute.
.PHONY: bench-filter
bench-filter:
	tools/deps.sh
	$(MAKE) all
	$(MAKE) install
	bench/filter.sh

# Ten minutes of steady writes with webhook.retention = 1min: the queue's
# size every 30 s, printed as one table (BENCHMARKS.md).  About 11 minutes.
.PHONY: bench-steady
bench-steady:
	tools/deps.sh
	$(MAKE) all
	$(MAKE) install
	bench/steady.sh

# What reading the views costs with 1,000,000 events in the log (BENCHMARKS.md).
# About three minutes.
.PHONY: bench-views
bench-views:
	tools/deps.sh
	$(MAKE) all
	$(MAKE) install
	bench/views.sh

# The PGXN distribution: webhook-<version>.zip of the committed tree (HEAD),
# all under webhook-<version>/, once the version and META.json check out.
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" webhook.control)
.PHONY: dist
dist:
	tools/check-version.sh
	tools/check-meta.py
	@git diff --quiet HEAD -- || echo "dist: uncommitted changes are not in the zip, which is made from HEAD"
	git archive --format=zip --prefix=webhook-$(EXTVERSION)/ --output=webhook-$(EXTVERSION).zip HEAD
	@echo "dist: webhook-$(EXTVERSION).zip"
