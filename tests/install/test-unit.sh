#!/bin/sh
# The systemd unit as configured: `systemd-analyze verify` accepts it and
# `systemd-analyze security` rates it 3.0 or better; it keeps what dhpd
# needs (CAP_SYS_RESOURCE for the PSI trigger, /run/dhp across restarts).
# The man pages of Documentation= are checked once installed
# (test-install.sh).  Skips (77) only when systemd-analyze is absent.
#   test-unit.sh BUILD/dist/dhpd.service DHPD
set -eu
unit=$1
dhpd=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
if ! command -v systemd-analyze > /dev/null; then
        echo "SKIP: systemd-analyze is not installed (Debian: apt install systemd)"
        exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "not ok: $*"; }

# verify checks that ExecStart= exists: point it at the built dhpd.
sed "s|^ExecStart=[^ ]*/dhpd|ExecStart=$dhpd|" "$unit" > "$tmp/dhpd.service"
if (cd "$tmp" && systemd-analyze verify --man=no dhpd.service) > "$tmp/verify" 2>&1; then ok; else bad "verify: $(cat "$tmp/verify")"; fi

(cd "$tmp" && systemd-analyze security --offline=true dhpd.service) > "$tmp/security" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for dhpd.service: \([0-9.]*\).*/\1/p' "$tmp/security")
echo "systemd-analyze security: ${score:-?}"
if [ -n "$score" ] && awk "BEGIN { exit !($score <= 3.0) }"; then ok; else bad "exposure '${score:-?}' above 3.0: $(tail -3 "$tmp/security")"; fi

grep -q '^CapabilityBoundingSet=.*CAP_SYS_RESOURCE' "$unit" && ok || bad "CAP_SYS_RESOURCE dropped: the 1 s PSI window needs it"
grep -q '^RuntimeDirectoryPreserve=yes' "$unit" && ok || bad "/run/dhp (crash markers) not preserved across restarts"
grep -q '^ProtectSystem=strict' "$unit" && ok || bad "ProtectSystem=strict"
for p in /sys/devices/system/cpu /sys/devices/system/memory /sys/fs/cgroup /proc/irq; do
        grep -q "^ReadWritePaths=.*-$p\( \|\$\)" "$unit" && ok || bad "ReadWritePaths lacks $p"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
