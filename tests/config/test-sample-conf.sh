#!/bin/sh
# The shipped dist/dhpd.conf passes `dhpd --check-config` as shipped and
# with every "# key = value" line uncommented (the sample's promise: each
# such line is a valid setting as written).
#
#   tests/config/test-sample-conf.sh DHPD SAMPLE
set -eu

dhpd=${1:?usage: test-sample-conf.sh DHPD SAMPLE}
sample=${2:?usage: test-sample-conf.sh DHPD SAMPLE}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dhp-sample-conf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

"$dhpd" --config "$sample" --check-config >"$tmp/out" 2>&1 || fail "the sample as shipped: $(cat "$tmp/out")"

# "# key = value" -> "key = value"; prose comments stay comments.
sed -E 's/^#[[:space:]]*([a-z_]+[[:space:]]*=)/\1/' "$sample" >"$tmp/dhpd.conf"
"$dhpd" --config "$tmp/dhpd.conf" --check-config >"$tmp/out" 2>&1 ||
	fail "the sample uncommented: $(cat "$tmp/out")"

# Every key of doc/dhpd.conf.md's table is in the sample, uncommented.
keys=$(grep -cE '^[a-z_]+[[:space:]]*=' "$tmp/dhpd.conf")
[ "$keys" -eq 28 ] || fail "expected the 28 documented keys uncommented, found $keys"
# No key left behind a comment sign (a line the sed above did not catch).
if grep -nE '^[#;][[:space:]]*[a-z_]+[[:space:]]*=' "$tmp/dhpd.conf" >&2; then
	fail "commented settings the uncommenting missed"
fi

# A sample with a trailing note, as the old one had, is refused with its line.
printf '[daemon]\nlog_level = info   # err, warning\n' >"$tmp/bad.conf"
if "$dhpd" --config "$tmp/bad.conf" --check-config >"$tmp/out" 2>&1; then
	fail "a trailing comment passed --check-config"
fi
grep -q "bad.conf:2: comments go on lines of their own" "$tmp/out" || fail "unexpected error: $(cat "$tmp/out")"

# Not a regular file: refused at once (a FIFO used to hang).
mkfifo "$tmp/fifo"
if timeout 10 "$dhpd" --config "$tmp/fifo" --check-config >"$tmp/out" 2>&1; then
	fail "a FIFO passed --check-config"
fi
grep -q "not a regular file (a FIFO)" "$tmp/out" || fail "FIFO: $(cat "$tmp/out")"
if timeout 10 "$dhpd" --config "$tmp" --check-config >"$tmp/out" 2>&1; then
	fail "a directory passed --check-config"
fi
grep -q "not a regular file (a directory)" "$tmp/out" || fail "directory: $(cat "$tmp/out")"
echo "ok: dist/dhpd.conf as shipped and uncommented; trailing comment, FIFO and directory refused"
