#!/bin/sh
# dhpd is killed (SIGKILL) in the middle of onlining a 1 GiB DIMM, right
# after its first block went online (ueventwatch -k: see ueventwatch.c), and
# restarted: its start-up resync from sysfs must online every other block of
# the DIMM before it says READY.
. /e2e/lib.sh
# dhpd onlines the blocks itself ([memory] onlining = dhpd): with the kernel
# onlining them the DIMM is complete before any kill.
printf '[memory]\nonlining = dhpd\n' > /run/dhpd-mode.conf
n=$(blocks_for_mb 1024)
ls /sys/devices/system/memory | grep '^memory' > /run/blocks.before
start_dhpd --config /run/dhpd-mode.conf --log-level debug || exit 1
WATCH_EXTRA="-k $dhpd_pid"
run_step restart-kill dimm:1024 present dhpd 0 "$n" || exit 1
WATCH_EXTRA=
stop_dhpd KILL
ls /sys/devices/system/memory | grep '^memory' | grep -vxF -f /run/blocks.before > /run/blocks.new
echo "E2E-INFO new blocks: $(tr '\n' ' ' < /run/blocks.new)"
start_dhpd --config /run/dhpd-mode.conf --log-level debug || exit 1
# READY comes after the resync: the state now is what the resync left.
# shellcheck disable=SC2046
report_devices restart-after $(cat /run/blocks.new)
stop_dhpd TERM
exit 0
