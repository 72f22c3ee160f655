#!/bin/sh
# Processor removal through dhpd (doc/model.md, "Removal"; 6.1 only: 6.12
# under QEMU 7.2 has no hot-pluggable CPU, README.md).  Two CPUs are
# hot-added and admitted; client A opted in to removal and vetoes cpu2's,
# client B has a plain synchronous registration; both register for
# processor arrivals.  Then:
#   dhpctl cpu remove 2   A vetoes: REMOVE_QUERY, REMOVE_CANCEL; cpu2 stays
#   dhpctl cpu remove 1   REMOVE_QUERY, offline, REMOVE_COMPLETE, REMOVAL
#   device_del cpu2       the kernel ejects it: REMOVE_COMPLETE (surprise),
#                         REMOVAL (surprise) to both
. /e2e/lib.sh
[ -x /bin/e2eclient ] || { echo "E2E-SKIP label=remove-cpu reason=no-/bin/e2eclient"; exit 0; }
[ "$(e2e_param hotplug_cpus 1)" = 0 ] && { echo "E2E-SKIP label=remove-cpu reason=no-hotplug-cpus"; exit 0; }
rc=0
start_dhpd --log-level debug || exit 1
start_client A 4 -R -W 2 -P || exit 1
start_client B 5 -S -P || exit 1
run_step remove-cpu-add1 cpu online dhpd 1 0 || rc=1
client_expect A 4 "ARRIVAL processor cpu1" || rc=1
run_step remove-cpu-add2 cpu online dhpd 1 0 || rc=1
client_expect A 4 "ARRIVAL processor cpu2" || rc=1
client_expect B 5 "ARRIVAL processor cpu2" || rc=1

/bin/dhpctl cpu remove 2
echo "E2E remove-cpu-veto rc=$? online=$(cat /sys/devices/system/cpu/cpu2/online)"
client_expect A 4 "REMOVE_CANCEL cpu2" || rc=1

/bin/dhpctl cpu remove 1
echo "E2E remove-cpu-dhpctl rc=$? online=$(cat /sys/devices/system/cpu/cpu1/online)"
client_expect A 4 "REMOVE_COMPLETE cpu1" || rc=1
client_expect A 4 "REMOVAL processor cpu1" || rc=1
client_expect B 5 "REMOVAL processor cpu1" || rc=1

rec_step remove-cpu-eject del:cpu "remove:/devices/system/cpu/cpu2:1" || rc=1
client_expect A 4 "REMOVAL processor cpu2" || rc=1
client_expect B 5 "REMOVAL processor cpu2" || rc=1
echo "E2E remove-cpu-after present=$(cat /sys/devices/system/cpu/present) online=$(cat /sys/devices/system/cpu/online)"
dhpd_status remove-cpu
stop_client A 4
stop_client B 5
stop_dhpd TERM
exit $rc
