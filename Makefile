# dhp: the two commands a person runs are `make demo` and `make check`.
# Both install missing Debian build dependencies first (scripts/install-deps.sh,
# apt-get only when something is missing), configure with meson and build.

BUILD      ?= build
BUILD_SAN  ?= build-san
BUILD_BENCH ?= build-bench
BENCH_WINDOW ?= 60
MESON      ?= meson
SCENARIO   ?= examples/demo.scenario

.PHONY: all deps deps-all build build-san demo check check-unit check-san e2e bench clean

all: build

deps:
	@scripts/install-deps.sh build

deps-all:
	@scripts/install-deps.sh all

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --buildtype=debugoptimized

$(BUILD_SAN)/build.ninja:
	$(MESON) setup $(BUILD_SAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

# Benchmarks: an optimised build of its own, not part of `make check`.
$(BUILD_BENCH)/build.ninja:
	$(MESON) setup $(BUILD_BENCH) --buildtype=release -Dtests=false

build-san: deps $(BUILD_SAN)/build.ninja
	$(MESON) compile -C $(BUILD_SAN)

demo: build
	$(BUILD)/src/dhpctl demo $(SCENARIO)

check-unit: build
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes 2

check-san: build-san
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(MESON) test -C $(BUILD_SAN) --print-errorlogs --num-processes 2 --suite unit

check: deps-all check-unit check-san

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

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_BENCH)
