#!/bin/sh
# SPDX-License-Identifier: MIT
# Smoke test of bench-arrivals (the C client that go/cmd/dhp-bench-arrivals
# runs beside the Go one): one short run against a dhpd --platform sim on a
# private socket.  Measures nothing; fails when the client does.
#   smoke-arrivals.sh DHPD BENCH-ARRIVALS [N]
set -eu
dhpd=$1 client=$2 n=${3:-100}
dir=$(mktemp -d /tmp/dhp-bench-smoke-XXXXXX)
pid=
cleanup() {
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        rm -rf "$dir"
}
trap cleanup EXIT
mkfifo "$dir/out"
"$dhpd" --platform sim --sim "cpus=1,maxcpus=$((n + 1))" --foreground --socket "$dir/dhpd.sock" \
        --log-level err -c /dev/null >"$dir/out" &
pid=$!
# Kept open (fd 3) so that dhpd's stdout never becomes a broken pipe.
exec 3<"$dir/out"
read -r ready <&3
[ "$ready" = READY ] || { echo "smoke-arrivals: dhpd did not start" >&2; exit 1; }
"$client" "unix:$dir/dhpd.sock" "$n"
