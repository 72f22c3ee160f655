#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate src/daemon/dhpd.order: the functions dhpd runs from its start to
# idle (every configuration bench-idle starts), which dhpd's link places
# first (src/meson.build, with lld) so that an idle dhpd keeps only their
# pages of text resident, not the transaction and client paths it has not
# run yet.  A stale list costs nothing but a little resident text.
#
#   bench/dhpd-order.sh BUILD_DIR   (a release build, valgrind installed)
#
# Each dhpd idles 32 s: one tick of the memory conditions' 30 s timer, the
# only thing an idle dhpd runs, is in the list too.
set -eu
build=${1:?usage: bench/dhpd-order.sh BUILD_DIR}
out=$(cd "$(dirname "$0")/.." && pwd)/src/daemon/dhpd.order
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dhpd=$(cd "$build" && pwd)/src/dhpd
cat > "$tmp/dhpd" <<WRAP
#!/bin/sh
exec valgrind -q --tool=callgrind --callgrind-out-file=$tmp/cg.%p "$dhpd" "\$@"
WRAP
chmod +x "$tmp/dhpd"
BENCH_RUNS=1 "$build/bench/bench-idle" "$tmp/dhpd" 32 >/dev/null
{
        echo "# dhpd's functions from start to idle, first in its text: bench/dhpd-order.sh"
        for f in "$tmp"/cg.*; do
                callgrind_annotate --threshold=100 "$f" | sed -n 's/.*???:\([A-Za-z_][A-Za-z0-9_.]*\) \[.*\/src\/dhpd\]$/\1/p'
        done | grep -v "^__" | sort -u
} > "$out"
echo "$out: $(($(wc -l < "$out") - 1)) functions"
