# Sibyl build. Plain GNU Make: every .c under src/ is part of the program,
# every tests/unit/<subsystem>/test_*.c is one unit-test executable, every
# tests/sim/test_*.c one simulator-test executable (deterministic cluster
# simulation over src/dsim/fixture.h), every tests/fuzz/fuzz_*.c is one
# libFuzzer target. Nothing needs listing here.
#
#   make            release build: build/sibyl
#   make asan       ASan+UBSan build: build/asan/sibyl (tests run against it)
#   make web        the dashboard only: web/ -> build/web/ (make builds and embeds it)
#   make drivers    the Go and Node.js driver check programs (tests/drivers/)
#   make test       install deps, build everything, run every test
#   make demo       install deps, build, start a node and the simulator
#   make bench      run the benchmarks in bench/
#   make fuzz FUZZ_SECONDS=600   run each fuzz target for longer

CC      ?= cc
FUZZCC  ?= clang
DEPS_OK := build/.deps-ok

WARN    := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter
INC     := -Isrc -Ibuild/gen
LIBS    := -lraft -lrocksdb -lh2o -luv -lyaml -ljansson -lz -llz4 -lsnappy -lssl -lcrypto -lpthread -lm -ldl -ledit
TLIBS   := -lcmocka
# The release binary links RocksDB statically with --gc-sections: the shared
# library's start-up touches ~3 MB more code pages, which an idle node would
# keep resident (see docs/benchmarks.md, idle RSS).
REL_LIBS := -Wl,--gc-sections -Wl,-Bstatic -lrocksdb -Wl,-Bdynamic \
            $(filter-out -lrocksdb,$(LIBS)) -lzstd -lbz2 -lstdc++

REL_CFLAGS  := $(WARN) $(INC) -O2 -g
ASAN_CFLAGS := $(WARN) $(INC) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
FUZZ_CFLAGS := $(WARN) $(INC) -O1 -g -fsanitize=fuzzer-no-link,address,undefined

SRC     := $(shell find src -name '*.c' | sort)
LEMON_Y := $(shell find src -name '*.y' | sort)
RE2C_RE := $(shell find src -name '*.re' | sort)
GEN_C   := $(patsubst src/%.y,build/gen/%.c,$(LEMON_Y)) $(patsubst src/%.re,build/gen/%.c,$(RE2C_RE)) \
           build/gen/web/assets.c
GEN_H   := $(patsubst src/%.y,build/gen/%.h,$(LEMON_Y))
LIB_SRC := $(filter-out src/main.c,$(SRC)) $(GEN_C)

objs = $(patsubst build/gen/%.c,build/obj/$(1)/gen/%.o,$(patsubst src/%.c,build/obj/$(1)/%.o,$(2)))
REL_OBJ  := $(call objs,rel,$(LIB_SRC))
ASAN_OBJ := $(call objs,asan,$(LIB_SRC))
FUZZ_OBJ := $(call objs,fuzz,$(LIB_SRC))

UNIT_SRC  := $(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort)
UNIT_BIN  := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))
# Simulator tests land beside the unit tests (build/asan/tests/sim-dsim/),
# so scripts/run-tests.sh runs and counts them with the unit suites.
SIM_SRC   := $(shell find tests/sim -name 'test_*.c' 2>/dev/null | sort)
SIM_BIN   := $(patsubst tests/sim/%.c,build/asan/tests/sim-dsim/%,$(SIM_SRC))
FUZZ_SRC  := $(shell find tests/fuzz -name 'fuzz_*.c' 2>/dev/null | sort)
FUZZ_BIN  := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
BENCH_SRC := $(shell find bench -name '*.c' 2>/dev/null | sort)
BENCH_BIN := $(patsubst bench/%.c,build/bench/%,$(BENCH_SRC))

.PHONY: all asan test unit fuzz demo bench deps clean format web sim drivers
.SECONDARY:

all: build/sibyl

$(DEPS_OK): scripts/deps.sh
	@mkdir -p build
	bash scripts/deps.sh
	@touch $@

deps: $(DEPS_OK)

# --- generated parsers --------------------------------------------------
build/gen/%.c build/gen/%.h: src/%.y | $(DEPS_OK)
	@mkdir -p $(dir $@)
	lemon -q -d$(dir $@) -T/usr/share/lemon/lempar.c $<

build/gen/%.c: src/%.re $(GEN_H) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	re2c -W --no-generation-date -o $@ $<

# --- web dashboard (docs/dashboard.md) -----------------------------------
# npm ci only when node_modules is missing or the lock changed; the build
# (tsc --noEmit strict, then esbuild) when a web source changed; then every
# file of build/web/ becomes a C array in build/gen/web/assets.c.
WEB_SRC := $(shell find web/src -type f 2>/dev/null | sort) web/build.mjs web/tsconfig.json

web/node_modules/.ci-stamp: web/package-lock.json web/package.json | $(DEPS_OK)
	cd web && npm ci --no-audit --no-fund
	@touch $@

build/web/.stamp: web/node_modules/.ci-stamp $(WEB_SRC)
	cd web && npm run --silent build
	@touch $@

build/gen/web/assets.c: build/web/.stamp scripts/embed-assets.py
	/usr/bin/python3 scripts/embed-assets.py build/web $@

web: build/web/.stamp

# --- driver checks (tests/drivers/README.md) ----------------------------
# gocql comes from Debian (golang-github-gocql-gocql-dev, under
# /usr/share/gocode), so the Go program builds in GOPATH mode with modules
# off: nothing is fetched. The Node.js driver is pinned in
# tests/drivers/node/package-lock.json; npm ci runs once per lock change.
DRIVERS_GO := $(wildcard tests/drivers/go/*.go)

build/drivers/gocql-check: $(DRIVERS_GO) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE=$(CURDIR)/build/drivers/go-cache \
		go build -o $@ ./tests/drivers/go

tests/drivers/node/node_modules/.ci-stamp: tests/drivers/node/package-lock.json tests/drivers/node/package.json | $(DEPS_OK)
	cd tests/drivers/node && npm ci --no-audit --no-fund
	@touch $@

drivers: build/drivers/gocql-check tests/drivers/node/node_modules/.ci-stamp

# --- objects ------------------------------------------------------------
build/obj/rel/%.o: src/%.c $(GEN_H) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -MMD -MP -c $< -o $@
build/obj/rel/gen/%.o: build/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -Wno-unused-variable -Wno-unused-but-set-variable -MMD -MP -c $< -o $@
build/obj/asan/%.o: src/%.c $(GEN_H) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -MMD -MP -c $< -o $@
build/obj/asan/gen/%.o: build/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Wno-unused-variable -Wno-unused-but-set-variable -MMD -MP -c $< -o $@
build/obj/fuzz/%.o: src/%.c $(GEN_H) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
build/obj/fuzz/gen/%.o: build/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_CFLAGS) -Wno-unused-variable -Wno-unused-but-set-variable -Wno-unused-but-set-variable -MMD -MP -c $< -o $@

# --- programs -----------------------------------------------------------
build/sibyl: build/obj/rel/main.o $(REL_OBJ)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(REL_LIBS)

build/asan/sibyl: build/obj/asan/main.o $(ASAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(LIBS)

# Tests, fuzz targets and benchmarks link against static archives, so each
# pulls in only the modules it uses.
build/%/libsibyl.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
build/rel/libsibyl.a: $(REL_OBJ)
build/asan/libsibyl.a: $(ASAN_OBJ)
build/fuzz/libsibyl.a: $(FUZZ_OBJ)

build/asan/tests/sim-dsim/%: tests/sim/%.c build/asan/libsibyl.a
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Itests/unit -o $@ $< build/asan/libsibyl.a $(LIBS) $(TLIBS)

build/asan/tests/%: tests/unit/%.c build/asan/libsibyl.a
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Itests/unit -o $@ $< build/asan/libsibyl.a $(LIBS) $(TLIBS)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libsibyl.a
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libsibyl.a $(LIBS)

build/bench/%: bench/%.c $(wildcard bench/*.h) build/rel/libsibyl.a
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -o $@ $< build/rel/libsibyl.a $(LIBS)

asan: build/asan/sibyl $(UNIT_BIN) $(SIM_BIN)

# --- entry points -------------------------------------------------------
test: $(DEPS_OK) build/sibyl build/asan/sibyl $(UNIT_BIN) $(SIM_BIN) $(FUZZ_BIN) drivers
	bash scripts/run-tests.sh

unit: $(UNIT_BIN) $(SIM_BIN)
	bash scripts/run-tests.sh unit

fuzz: $(FUZZ_BIN)
	bash scripts/run-tests.sh fuzz $(or $(FUZZ_SECONDS),600)

# Deterministic cluster simulation soak: seeds 1..SEEDS (default 1000).
sim: $(DEPS_OK) build/sibyl build/asan/tests/sim-dsim/test_raft build/asan/tests/sim-dsim/test_lwt_nemesis
	build/sibyl dsim --count $(or $(SEEDS),1000)
	SB_RAFT_SEEDS=$(or $(SEEDS),1000) build/asan/tests/sim-dsim/test_raft
	SB_LWT_SEEDS=$(or $(SEEDS),1000) build/asan/tests/sim-dsim/test_lwt_nemesis

demo: $(DEPS_OK) build/sibyl
	bash scripts/demo.sh

bench: $(DEPS_OK) build/sibyl $(BENCH_BIN)
	bash bench/run.sh $(BENCH)

format:
	clang-format -i $$(find src tests bench -name '*.[ch]')

clean:
	rm -rf build

-include $(shell find build/obj -name '*.d' 2>/dev/null)
