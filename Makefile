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

.PHONY: all deps deps-all deps-e2e deps-go check-go deps-python check-python build build-san build-static build-tsan build-fuzz demo check check-unit \
	check-san check-tsan check-fuzz check-install fuzz e2e bench-e2e bench bench-quick install clean

all: build

deps:
	@scripts/install-deps.sh build

deps-all:
	@scripts/install-deps.sh all

deps-e2e:
	@scripts/install-deps.sh e2e

deps-go:
	@scripts/install-deps.sh go

deps-python:
	@scripts/install-deps.sh python

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
	ninja -C $(BUILD_STATIC) src/dhpd src/dhpctl tests/e2e/e2eclient tests/e2e/cglimits

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

# Real CPU and memory hot-add in QEMU guests (tests/e2e/README.md), on each of
# E2E_KERNELS; about 3 minutes under TCG.  E2E_ARGS passes options on, e.g. E2E_ARGS='--scenario dhpd-cpu'.
E2E_KERNELS ?= 6.1,6.12
e2e: deps-e2e build-static
	tests/e2e/run.py --kernel $(E2E_KERNELS) --extra-bin $(BUILD_STATIC)/src/dhpd --extra-bin $(BUILD_STATIC)/src/dhpctl --extra-bin $(BUILD_STATIC)/tests/e2e/e2eclient --extra-bin $(BUILD_STATIC)/tests/e2e/cglimits $(E2E_ARGS)

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

# The Go package (go/, go/README.md): go test against this build's dhpd
# --platform sim, and the Go message table against the C codec (a C program
# the test builds with $(CC)).  Offline: standard library only, no module is
# downloaded.  GO_TEST_FLAGS: e.g. -run Cgroup, or empty to skip -race.
GO_TEST_FLAGS ?= -race
check-go: deps-go build
	cd go && DHPD=$(abspath $(BUILD))/src/dhpd DHP_SRC=$(abspath src) GOPROXY=off GOFLAGS= \
		GOCACHE=$${GOCACHE:-$(abspath $(BUILD))/go-cache} go test -count=1 $(GO_TEST_FLAGS) ./...

# The Python package (python/, python/README.md): pytest against this build's
# libdhp.so (DHP_LIBRARY) and dhpd --platform sim, and dhpd's state file.
# Debian's python3-pytest, for the system python3.  PYTEST_FLAGS: e.g. -k aio.
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
PYTEST_FLAGS ?= -q
check-python: deps-python build
	DHP_LIBRARY=$(abspath $(BUILD))/src/libdhp.so.0 DHPD=$(abspath $(BUILD))/src/dhpd \
	DHP_E2ECLIENT=$(abspath $(BUILD))/tests/e2e/e2eclient \
		$(PYTHON) -m pytest -p no:cacheprovider $(PYTEST_FLAGS) python/tests

check-tsan: build-tsan
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	$(MESON) test -C $(BUILD_TSAN) --print-errorlogs --num-processes 2 --suite concurrency

# Replay every committed corpus, then fuzz each target briefly.
check-fuzz: build-fuzz
	scripts/fuzz.sh $(BUILD_FUZZ) $(CHECK_FUZZ_SECONDS)

fuzz: build-fuzz
	scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

# The QEMU baselines, each repeated (median (min-max) per figure, ratios
# paired within a boot; the methods' order alternates between boots), on
# both kernels: the figures of BENCHMARKS.md.  E2E_BENCH_APPEND: guest
# command line; by default dhpd and its client also see the memory
# scenarios' warm-up DIMM, as the kernel's own onlining code does (under
# TCG code run for the first time is translated first, milliseconds a real
# machine does not spend); `make bench-e2e E2E_BENCH_APPEND=` measures
# dhpd's first run instead.
E2E_REPEAT ?= 5
E2E_BENCH_APPEND ?= e2e.dhpd_warmup=1
bench-e2e: deps-e2e build-static
	tests/e2e/run.py --kernel $(E2E_KERNELS) --repeat $(E2E_REPEAT) --timeout 300 --append "$(E2E_BENCH_APPEND)" \
		--scenario baseline-cpu --scenario baseline-cpu3 --scenario baseline-memory --scenario baseline-memory-4g \
		--extra-bin $(BUILD_STATIC)/src/dhpd --extra-bin $(BUILD_STATIC)/src/dhpctl \
		--extra-bin $(BUILD_STATIC)/tests/e2e/e2eclient $(E2E_ARGS)

# Everything CI runs: plain and sanitized unit and process tests, the
# ThreadSanitizer concurrency suite, the fuzz corpora, the Go and Python
# packages, the install, and real hot-add in QEMU.
check: deps-all check-unit check-san check-tsan check-fuzz check-go check-python check-install e2e

# Every figure beside its baseline, each taken BENCH_RUNS times (at least 5:
# median and min-max; BENCHMARKS.md).  Prints, never asserts.  BENCH_WINDOW:
# seconds dhpd is watched idle per run.  bench-quick: one short run of each,
# a smoke test, no figure (the same runs as `meson test --suite bench`).
BENCH_RUNS ?= 5
bench: deps $(BUILD_BENCH)/build.ninja
	$(MESON) compile -C $(BUILD_BENCH)
	BENCH_RUNS=$(BENCH_RUNS) $(BUILD_BENCH)/bench/bench-dispatch
	BENCH_RUNS=$(BENCH_RUNS) $(BUILD_BENCH)/bench/bench-uevent
	BENCH_RUNS=$(BENCH_RUNS) $(BUILD_BENCH)/bench/bench-resync
	BENCH_RUNS=$(BENCH_RUNS) $(BUILD_BENCH)/bench/bench-hotadd
	BENCH_RUNS=$(BENCH_RUNS) $(BUILD_BENCH)/bench/bench-rebalance
	BENCH_RUNS=$(BENCH_RUNS) $(BUILD_BENCH)/bench/bench-idle $(BUILD_BENCH)/src/dhpd $(BENCH_WINDOW)
	BENCH_RUNS=$(BENCH_RUNS) $(BUILD_BENCH)/bench/bench-ipc $(BUILD_BENCH)/src/dhpd 200
	BENCH_RUNS=$(BENCH_RUNS) $(BUILD_BENCH)/bench/bench-cgroup 200 10
	cd go && GOPROXY=off GOCACHE=$${GOCACHE:-$(abspath $(BUILD_BENCH))/go-cache} go run ./cmd/dhp-bench-arrivals \
		-dhpd $(abspath $(BUILD_BENCH))/src/dhpd -c $(abspath $(BUILD_BENCH))/bench/bench-arrivals -reps $(BENCH_RUNS)
	$(PYTHON) bench/bench-python.py --build $(BUILD_BENCH) --reps $(BENCH_RUNS)

bench-quick: deps $(BUILD_BENCH)/build.ninja
	$(MESON) compile -C $(BUILD_BENCH)
	BENCH_RUNS=1 $(BUILD_BENCH)/bench/bench-dispatch 100 20000
	BENCH_RUNS=1 $(BUILD_BENCH)/bench/bench-uevent 20000
	BENCH_RUNS=1 $(BUILD_BENCH)/bench/bench-resync 1024
	BENCH_RUNS=1 $(BUILD_BENCH)/bench/bench-hotadd 256
	BENCH_RUNS=1 $(BUILD_BENCH)/bench/bench-rebalance 200 20000
	BENCH_RUNS=1 $(BUILD_BENCH)/bench/bench-idle $(BUILD_BENCH)/src/dhpd 1
	BENCH_RUNS=1 $(BUILD_BENCH)/bench/bench-ipc $(BUILD_BENCH)/src/dhpd 20 10
	BENCH_RUNS=1 $(BUILD_BENCH)/bench/bench-cgroup 20 1

clean:
	rm -rf $(BUILD) build-install-* $(BUILD_SAN) $(BUILD_STATIC) $(BUILD_TSAN) $(BUILD_FUZZ) $(BUILD_BENCH)
