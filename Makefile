# dhp: the two commands a person runs are `make demo` and `make check`.
# Both install missing Debian build dependencies first (scripts/install-deps.sh,
# apt-get only when something is missing), configure with meson and build.

BUILD      ?= build
BUILD_SAN  ?= build-san
BUILD_STATIC ?= build-static
MESON      ?= meson
SCENARIO   ?= examples/demo.scenario

.PHONY: all deps deps-all deps-e2e build build-san build-static demo check check-unit check-san e2e bench clean

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

build: deps $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

build-san: deps $(BUILD_SAN)/build.ninja
	$(MESON) compile -C $(BUILD_SAN)

build-static: deps $(BUILD_STATIC)/build.ninja
	$(MESON) compile -C $(BUILD_STATIC) src/dhpd src/dhpctl tests/e2e/e2eclient

demo: build
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

check: deps-all check-unit check-san check-install e2e

# make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]
PREFIX     ?= /usr/local
install: build
	$(MESON) configure $(BUILD) -Dprefix=$(PREFIX)
	$(MESON) install -C $(BUILD) $(if $(DESTDIR),--destdir $(DESTDIR))

# Install into a temporary DESTDIR and build the example against it.
check-install: build
	tests/install/test-install.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_STATIC)
