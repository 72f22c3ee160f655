#!/bin/sh
# dhpd SIGKILLed while a 1 GiB DIMM's blocks are being onlined (right after
# the first one, ueventwatch -k), with a client connected that reconnects
# (e2eclient -r: dhp_reconnect every 20 ms) and so re-registers.  The
# restarted dhpd onlines the other blocks in its start-up resync; the client
# must still be told of the DIMM's arrival.
. /e2e/lib.sh
# dhpd onlines the blocks itself ([memory] onlining = dhpd): with the kernel
# onlining them the DIMM is complete before any kill.
printf '[memory]\nonlining = dhpd\n' > /run/dhpd-mode.conf
[ -x /bin/e2eclient ] || { echo "E2E-SKIP label=client-restart reason=no-/bin/e2eclient"; exit 0; }
n=$(blocks_for_mb 1024)
ls /sys/devices/system/memory | grep '^memory' > /run/blocks.before
start_dhpd --config /run/dhpd-mode.conf --log-level debug || exit 1
start_client A 4 -P -M -r || exit 1
WATCH_EXTRA="-k $dhpd_pid"
run_step client-restart-kill dimm:1024 present dhpd 0 "$n" || exit 1
WATCH_EXTRA=
stop_dhpd KILL
ls /sys/devices/system/memory | grep '^memory' | grep -vxF -f /run/blocks.before > /run/blocks.new
start_dhpd --config /run/dhpd-mode.conf --log-level debug || exit 1
rc=0
client_expect A 4 RECONNECTED || rc=1
client_expect A 4 "ARRIVAL memory *" 10 || rc=1
# shellcheck disable=SC2046
report_devices client-restart-after $(cat /run/blocks.new)
dhpd_status client-restart
stop_client A 4
stop_dhpd TERM
exit $rc
