#!/bin/sh
# Processor removal through dhpd (doc/model.md, "Removal"; 6.1 only: 6.12
# under QEMU 7.2 has no hot-pluggable CPU, README.md).  Three CPUs are
# hot-added and admitted; client A opted in to removal and vetoes cpu3's,
# client B has a plain synchronous registration; both register for
# processor arrivals.  Then:
#   echo 0 > cpu2/online  (timed, wtime) another agent's offline: REMOVAL
#                         (surprise) to both; the removal benchmark's bare
#                         write
#   dhpctl cpu remove 3   A vetoes: REMOVE_QUERY, REMOVE_CANCEL; cpu3 stays
#   dhpctl cpu remove 1   REMOVE_QUERY, offline, REMOVE_COMPLETE, REMOVAL
#                         (timed, wtime)
#   device_del cpu3       the kernel ejects it (the harness deletes the last
#                         CPU it plugged): REMOVE_COMPLETE (surprise),
#                         REMOVAL (surprise) to both
. /e2e/lib.sh
[ -x /bin/e2eclient ] || { echo "E2E-SKIP label=remove-cpu reason=no-/bin/e2eclient"; exit 0; }
[ "$(e2e_param hotplug_cpus 1)" = 0 ] && { echo "E2E-SKIP label=remove-cpu reason=no-hotplug-cpus"; exit 0; }
rc=0
start_dhpd --log-level debug || exit 1
start_client A 4 -R -W 3 -P || exit 1
start_client B 5 -S -P || exit 1
run_step remove-cpu-add1 cpu online dhpd 1 0 || rc=1
client_expect A 4 "ARRIVAL processor cpu1" || rc=1
run_step remove-cpu-add2 cpu online dhpd 1 0 || rc=1
client_expect A 4 "ARRIVAL processor cpu2" || rc=1
client_expect B 5 "ARRIVAL processor cpu2" || rc=1
run_step remove-cpu-add3 cpu online dhpd 1 0 || rc=1
client_expect B 5 "ARRIVAL processor cpu3" || rc=1

wtime bare-offline-cpu2 /sys/devices/system/cpu/cpu2/online 0
client_expect A 4 "REMOVAL processor cpu2" || rc=1
client_expect B 5 "REMOVAL processor cpu2" || rc=1

/bin/dhpctl cpu remove 3
echo "E2E remove-cpu-veto rc=$? online=$(cat /sys/devices/system/cpu/cpu3/online)"
client_expect A 4 "REMOVE_CANCEL cpu3" || rc=1

out=$(wtime dhpctl-remove-cpu1 -- /bin/dhpctl cpu remove 1)
echo "$out"
echo "E2E remove-cpu-dhpctl rc=${out##*rc=} online=$(cat /sys/devices/system/cpu/cpu1/online)"
client_expect A 4 "REMOVE_COMPLETE cpu1" || rc=1
client_expect A 4 "REMOVAL processor cpu1" || rc=1
client_expect B 5 "REMOVAL processor cpu1" || rc=1

rec_step remove-cpu-eject del:cpu "remove:/devices/system/cpu/cpu3:1" || rc=1
client_expect A 4 "REMOVAL processor cpu3" || rc=1
client_expect B 5 "REMOVAL processor cpu3" || rc=1
echo "E2E remove-cpu-after present=$(cat /sys/devices/system/cpu/present) online=$(cat /sys/devices/system/cpu/online)"
dhpd_status remove-cpu
stop_client A 4
stop_client B 5
stop_dhpd TERM
exit $rc
