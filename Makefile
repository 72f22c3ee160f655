# dhp: the two commands a person runs are `make demo` and `make check`.
# Both install missing Debian build dependencies first (scripts/install-deps.sh,
# apt-get only when something is missing), configure with meson and build.

BUILD      ?= build
BUILD_SAN  ?= build-san
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 60
# make check runs each fuzz target this long after replaying its corpus.
CHECK_FUZZ_SECONDS ?= 10
MESON      ?= meson
SCENARIO   ?= examples/demo.scenario

.PHONY: all deps deps-all build build-san build-tsan build-fuzz demo check check-unit check-san check-tsan check-fuzz fuzz e2e bench clean

all: build

deps:
	@scripts/install-deps.sh build

deps-all:
	@scripts/install-deps.sh all

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --buildtype=debugoptimized

$(BUILD_SAN)/build.ninja:
	$(MESON) setup $(BUILD_SAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

# ThreadSanitizer: the concurrency tests (suite 'concurrency').
$(BUILD_TSAN)/build.ninja:
	CC=clang $(MESON) setup $(BUILD_TSAN) --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false

# libFuzzer targets (fuzz/), clang with ASan+UBSan, no unit tests.
$(BUILD_FUZZ)/build.ninja:
	CC=clang $(MESON) setup $(BUILD_FUZZ) --buildtype=debugoptimized -Db_sanitize=address,undefined \
		-Db_lundef=false -Dfuzzing=true -Dtests=false

build: deps $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

build-san: deps $(BUILD_SAN)/build.ninja
	$(MESON) compile -C $(BUILD_SAN)

build-tsan: deps $(BUILD_TSAN)/build.ninja
	$(MESON) compile -C $(BUILD_TSAN)

build-fuzz: deps $(BUILD_FUZZ)/build.ninja
	$(MESON) compile -C $(BUILD_FUZZ)

demo: build
	$(BUILD)/src/dhpctl demo $(SCENARIO)

check-unit: build
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes 2

check-san: build-san
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(MESON) test -C $(BUILD_SAN) --print-errorlogs --num-processes 2 --suite unit

check-tsan: build-tsan
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	$(MESON) test -C $(BUILD_TSAN) --print-errorlogs --num-processes 2 --suite concurrency

# Replay every committed corpus, then fuzz each target briefly.
check-fuzz: build-fuzz
	scripts/fuzz.sh $(BUILD_FUZZ) $(CHECK_FUZZ_SECONDS)

fuzz: build-fuzz
	scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

check: deps-all check-unit check-san check-tsan check-fuzz

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_TSAN) $(BUILD_FUZZ)
