# dhp: the two commands a person runs are `make demo` and `make check`.
# Both install missing Debian build dependencies first (scripts/install-deps.sh,
# apt-get only when something is missing), configure with meson and build.

BUILD      ?= build
BUILD_SAN  ?= build-san
BUILD_STATIC ?= build-static
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 60
# make check runs each fuzz target this long after replaying its corpus.
CHECK_FUZZ_SECONDS ?= 10
BUILD_BENCH ?= build-bench
BENCH_WINDOW ?= 60
MESON      ?= meson
SCENARIO   ?= examples/demo.scenario

.PHONY: all deps deps-all deps-e2e build build-san build-static build-tsan build-fuzz demo check check-unit \
	check-san check-tsan check-fuzz check-install fuzz e2e bench install clean

all: build

deps:
	@scripts/install-deps.sh build

deps-all:
	@scripts/install-deps.sh all

deps-e2e:
	@scripts/install-deps.sh e2e

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --buildtype=debugoptimized

$(BUILD_SAN)/build.ninja:
	$(MESON) setup $(BUILD_SAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

# dhpd and dhpctl linked with -static, for the QEMU guest (busybox, no libc).
$(BUILD_STATIC)/build.ninja:
	$(MESON) setup $(BUILD_STATIC) --buildtype=debugoptimized -Dstatic_bins=true -Dtests=false
# ThreadSanitizer: the concurrency tests (suite 'concurrency').
$(BUILD_TSAN)/build.ninja:
	CC=clang $(MESON) setup $(BUILD_TSAN) --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false

# libFuzzer targets (fuzz/), clang with ASan+UBSan, no unit tests.
$(BUILD_FUZZ)/build.ninja:
	CC=clang $(MESON) setup $(BUILD_FUZZ) --buildtype=debugoptimized -Db_sanitize=address,undefined \
		-Db_lundef=false -Dfuzzing=true -Dtests=false

build: deps $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

# Benchmarks: an optimised build of its own, not part of `make check`.
$(BUILD_BENCH)/build.ninja:
	$(MESON) setup $(BUILD_BENCH) --buildtype=release -Dtests=false

build-san: deps $(BUILD_SAN)/build.ninja
	$(MESON) compile -C $(BUILD_SAN)

build-static: deps $(BUILD_STATIC)/build.ninja
	ninja -C $(BUILD_STATIC) src/dhpd src/dhpctl tests/e2e/e2eclient

build-tsan: deps $(BUILD_TSAN)/build.ninja
	$(MESON) compile -C $(BUILD_TSAN)

build-fuzz: deps $(BUILD_FUZZ)/build.ninja
	$(MESON) compile -C $(BUILD_FUZZ)

# Only dhpctl and what it links (libdhp-internal), not every test: a fresh
# clone reaches the demo in a fraction of `make build`'s time.
demo: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) src/dhpctl
	$(BUILD)/src/dhpctl demo $(SCENARIO)

check-unit: build
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes 2

check-san: build-san
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(MESON) test -C $(BUILD_SAN) --print-errorlogs --num-processes 2

# Real CPU and memory hot-add in QEMU guests (tests/e2e/README.md); about a
# minute under TCG.  E2E_ARGS passes options on, e.g. E2E_ARGS='--scenario dhpd-cpu'.
e2e: deps-e2e build-static
	tests/e2e/run.py --extra-bin $(BUILD_STATIC)/src/dhpd --extra-bin $(BUILD_STATIC)/src/dhpctl --extra-bin $(BUILD_STATIC)/tests/e2e/e2eclient $(E2E_ARGS)

# make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]
# From a build directory of its own per prefix (the prefix is compiled into
# dhpd: its default configuration path), so that build/ keeps its own.
PREFIX     ?= /usr/local
BUILD_INSTALL ?= build-install-$(shell printf '%s' '$(PREFIX)' | cksum | cut -d' ' -f1)
install: deps
	@if [ -f $(BUILD_INSTALL)/build.ninja ]; then \
		$(MESON) configure $(BUILD_INSTALL) -Dprefix=$(PREFIX); \
	else \
		$(MESON) setup $(BUILD_INSTALL) --buildtype=release -Dprefix=$(PREFIX) -Dtests=false; \
	fi
	$(MESON) compile -C $(BUILD_INSTALL)
	$(MESON) install -C $(BUILD_INSTALL) --no-rebuild $(if $(DESTDIR),--destdir $(DESTDIR))

# Install into a temporary DESTDIR and build the example against it.
check-install: build
	CHECK_MAKE_INSTALL=1 tests/install/test-install.sh $(BUILD)

check-tsan: build-tsan
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	$(MESON) test -C $(BUILD_TSAN) --print-errorlogs --num-processes 2 --suite concurrency

# Replay every committed corpus, then fuzz each target briefly.
check-fuzz: build-fuzz
	scripts/fuzz.sh $(BUILD_FUZZ) $(CHECK_FUZZ_SECONDS)

fuzz: build-fuzz
	scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

# Everything CI runs: plain and sanitized unit and process tests, the
# ThreadSanitizer concurrency suite, the fuzz corpora, the install, and real
# hot-add in QEMU.
check: deps-all check-unit check-san check-tsan check-fuzz check-install e2e

# Every figure beside its baseline, each repeated until stable (BENCHMARKS.md).
# Prints, never asserts.  BENCH_WINDOW: seconds dhpd is watched idle.
bench: deps $(BUILD_BENCH)/build.ninja
	$(MESON) compile -C $(BUILD_BENCH)
	$(BUILD_BENCH)/bench/bench-dispatch
	$(BUILD_BENCH)/bench/bench-uevent
	$(BUILD_BENCH)/bench/bench-resync
	$(BUILD_BENCH)/bench/bench-hotadd
	$(BUILD_BENCH)/bench/bench-rebalance
	$(BUILD_BENCH)/bench/bench-idle $(BUILD_BENCH)/src/dhpd $(BENCH_WINDOW)
	$(BUILD_BENCH)/bench/bench-ipc $(BUILD_BENCH)/src/dhpd 200

clean:
	rm -rf $(BUILD) build-install-* $(BUILD_SAN) $(BUILD_STATIC) $(BUILD_TSAN) $(BUILD_FUZZ) $(BUILD_BENCH)
