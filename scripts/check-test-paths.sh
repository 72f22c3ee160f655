#!/bin/sh
# No test may start dhpd on the host's socket (/run/dhp/dhpd.sock, dhpd's
# default) or otherwise touch a system path (issue 17, item 13).  A dhpd
# started without --socket takes the default one: it fails whenever the
# host runs dhpd, and would talk to the host's.
#
#   scripts/check-test-paths.sh [SOURCE_ROOT]        (default: the repository)
#
# The rules, one line per violation, exit 1 if any:
#   - a Python test builds dhpd's command line with faketree.dhpd_argv()
#     (which puts --socket inside the test's directory), never by hand;
#   - a shell test that starts dhpd (anything but --check-config, --version,
#     --help) passes
#     --socket "$tmp/...";
#   - a C test execs dhpd with --socket (tests/ipc-daemon.c asserts that the
#     socket is inside its temporary directory);
#   - no test names the host's socket, except test-config.c, which checks
#     the compiled-in default as a value.
# tests/e2e is not scanned: its guest is a virtual machine of its own.
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
bad=0

say() {
	echo "$*"
	bad=1
}

for f in "$root"/tests/*/*.py; do
	grep -n '\[DHPD\b' "$f" | while IFS= read -r l; do
		echo "${f#"$root"/}:${l%%:*}: dhpd's argv by hand (use faketree.dhpd_argv)"
	done
done | grep . && bad=1

for f in "$root"/tests/*/*.sh; do
	grep -n '"\$dhpd"' "$f" | grep -v -e '--check-config' -e '--version' -e '--help' -e '^[0-9]*:[[:space:]]*#' |
		grep -v -e '--socket "\$tmp' -e '"\$dhpd" ]' | while IFS= read -r l; do
		echo "${f#"$root"/}:${l%%:*}: dhpd started without --socket \"\$tmp/...\""
	done
done | grep . && bad=1

for f in "$root"/tests/*.c; do
	# The exec and its next line (the argument list goes on).
	grep -n -A1 'exec[lv]p\{0,1\}(dhpd' "$f" | paste - - | grep -v -e '--socket' | while IFS= read -r l; do
		echo "${f#"$root"/}:${l%%:*}: dhpd exec'd without --socket"
	done
done | grep . && bad=1

grep -rn '/run/dhp/dhpd\.sock' "$root"/tests --include='*.c' --include='*.h' --include='*.py' --include='*.sh' |
	grep -v -e '^[^:]*/tests/test-config\.c:' -e '^[^:]*/tests/e2e/' | while IFS= read -r l; do
	echo "${l#"$root"/}: a system path in a test"
done | grep . && bad=1

exit $bad
