# Makefile for the mlops extension (PGXS).
#
#   make && make install     build and install into the PostgreSQL of $(PG_CONFIG)
#   make test                everything: pg_regress (sql/) and pgTAP (test/) on a throwaway cluster
#   make demo                the end-to-end example on a throwaway cluster
#   make bench               the performance benchmarks (bench/) on a throwaway cluster
#   make test-citus          test/citus/ on a throwaway Citus cluster (needs Citus; not in CI)
#   make bench-citus         bench/citus/: local and distributed figures in one run (needs Citus)
#   make check-structure     layering, call cycles and function length of src/ (python3)
#   make fuzz                the libFuzzer targets (fuzz/), FUZZ_SECONDS (600) each; not part of test
#   make fuzz-build          build the libFuzzer targets only (needs clang)
#
# test, demo, bench and fuzz install missing Debian packages first; see tools/pgtmp.sh.

EXTENSION   = mlops
EXTVERSION  = 0.1

MODULE_big  = mlops
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))

# The install script is assembled from the commented pieces in src/sql/, in
# file-name order, so that each feature keeps its SQL beside its C code.
DATA_built  = mlops--$(EXTVERSION).sql

REGRESS      = $(basename $(notdir $(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=mlops

ifndef PG_CONFIG
PG_CONFIG := $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
endif

# OpenBLAS must be the single-threaded build: threads started in the
# postmaster do not survive fork().  Prefer Debian's serial variant
# explicitly, whatever the alternatives system points at.
OPENBLAS_SERIAL := $(firstword $(wildcard /usr/lib/$(shell gcc -print-multiarch 2>/dev/null)/openblas-serial))
ifneq ($(OPENBLAS_SERIAL),)
SHLIB_LINK += -L$(OPENBLAS_SERIAL) -Wl,-rpath,$(OPENBLAS_SERIAL)
endif
SHLIB_LINK += -lopenblas -llapacke -lm

# XGBoost (Debian libxgboost-dev) trains the tree models; its library file
# is named libxgboost.so.1.6.0 although it is release 1.7.4, so link by the
# plain name.  libgomp is XGBoost's OpenMP runtime, whose team size we set.
SHLIB_LINK += -lxgboost -lgomp

PG_CPPFLAGS = -I$(srcdir)/src -Werror=implicit-function-declaration -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
EXTRA_CLEAN = results regression.diffs regression.out fuzz/build

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when a header of
# ours changes (a changed struct would otherwise be read two ways).
$(OBJS): $(wildcard src/*/*.h)

mlops--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql))
	cat $^ > $@

FUZZ_SECONDS ?= 600

.PHONY: test demo bench test-citus bench-citus check-structure fuzz fuzz-build
test:
	PG_CONFIG=$(PG_CONFIG) tools/pgtmp.sh test
demo:
	PG_CONFIG=$(PG_CONFIG) tools/pgtmp.sh demo
bench:
	PG_CONFIG=$(PG_CONFIG) tools/pgtmp.sh bench
test-citus:
	PG_CONFIG=$(PG_CONFIG) tools/citus.sh test
bench-citus:
	PG_CONFIG=$(PG_CONFIG) tools/citus.sh bench
check-structure: all
	python3 tools/check_structure.py
fuzz:
	PG_CONFIG=$(PG_CONFIG) FUZZ_SECONDS=$(FUZZ_SECONDS) tools/pgtmp.sh fuzz
fuzz-build:
	$(MAKE) -C fuzz PG_CONFIG=$(PG_CONFIG)
