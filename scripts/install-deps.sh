#!/bin/sh
# Install the Debian packages dhp needs to build and test, only when one is
# missing.  Idempotent: a machine that has everything runs no apt-get at all.
#
#   scripts/install-deps.sh [build|e2e|go|python|all]
#
# "build" is what `make demo` and the unit tests need (clang and its
# sanitizer/libFuzzer runtimes for `make check-tsan` and `make check-fuzz`;
# lld, which lays dhpd's start-to-idle functions out together, src/meson.build,
# so that `make bench`'s idle figure is the same on every machine); "e2e" adds what the
# QEMU end-to-end tests need; "go" the Go package's tests (`make check-go`);
# "python" the Python package's tests (`make check-python`, pytest);
# "all" (the default for `make check`) is every set.
set -eu

what=${1:-all}

build_pkgs="gcc clang libclang-rt-dev lld make meson ninja-build pkg-config libcmocka-dev libinih-dev python3 scdoc"
e2e_pkgs="qemu-system-x86 busybox-static cpio gzip python3"
go_pkgs="golang-go"
python_pkgs="python3 python3-pytest"

case "$what" in
build) pkgs=$build_pkgs ;;
e2e)   pkgs=$e2e_pkgs ;;
go)    pkgs="$build_pkgs $go_pkgs" ;;
python) pkgs="$build_pkgs $python_pkgs" ;;
all)   pkgs="$build_pkgs $e2e_pkgs $go_pkgs $python_pkgs" ;;
*)     echo "install-deps.sh: unknown set '$what' (expected build, e2e, go, python or all)" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

echo "install-deps.sh: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "install-deps.sh: need root to install:$missing" >&2
		exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
