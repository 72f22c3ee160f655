#!/bin/sh
# Memory removal through dhpd (doc/model.md, "Removal"): two 256 MiB DIMMs
# onlined by dhpd; client A registered for memory arrivals.  Then
#   dhpctl memory remove   the first DIMM: every block offline, REMOVAL
#   device_del             the second DIMM: the kernel offlines and removes
#                          its blocks; one REMOVAL (surprise), after the last
# and dhpctl status --json lists neither afterwards.
. /e2e/lib.sh
[ -x /bin/e2eclient ] || { echo "E2E-SKIP label=remove-dimm reason=no-/bin/e2eclient"; exit 0; }
rc=0
start_dhpd --log-level debug || exit 1
start_client A 4 -M || exit 1
n=$(blocks_for_mb 256)
run_step remove-dimm-add1 dimm:256 online dhpd 0 "$n" || rc=1
client_expect A 4 "ARRIVAL memory *" || rc=1
run_step remove-dimm-add2 dimm:256 online dhpd 0 "$n" || rc=1
client_expect A 4 "ARRIVAL memory *" || rc=1
dhpd_status remove-dimm-before

# The first DIMM: its lowest block above boot memory (the DIMMs are the only
# memory above 4 GiB in this guest: -m 512M, hot-plug region at 4 GiB).
read -r bs < /sys/devices/system/memory/block_size_bytes
first=$(( 0x100000000 / 0x$bs ))
name=$(printf 'memory@0x%x' $(( first * 0x$bs )))
/bin/dhpctl memory remove "$name"
echo "E2E remove-dimm-dhpctl rc=$? name=$name state=$(cat /sys/devices/system/memory/memory$first/state)"
client_expect A 4 "REMOVAL memory $name" || rc=1

rec_step remove-dimm-eject del:dimm "remove:/devices/system/memory/memory:$n" || rc=1
client_expect A 4 "REMOVAL memory *" || rc=1
dhpd_status remove-dimm
stop_client A 4
stop_dhpd TERM
exit $rc
