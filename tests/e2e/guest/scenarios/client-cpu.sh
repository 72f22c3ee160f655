#!/bin/sh
# Clients of dhpd in the guest (issue #7): two e2eclient processes on dhpd's
# socket while CPUs are hot-added.
#   A: sync callback with ADD_EXISTING, PROCESSOR arrivals (INCLUDE_EXISTING),
#      3 spinner threads recording the CPU they run on, and -D: a user-space
#      Storage device with two drivers, rebalanced after each admitted CPU's
#      arrival (START carries the new affinity, with the new CPU).
#   B: sync callback that vetoes processor 2, PROCESSOR arrivals.
# Both read, inside each callback, cpuN/online and the managed group
# test.slice's cpuset.cpus.  Steps: cpu1 alone; cpu2 (vetoed by B: it must
# end offline, A and B get ADD_FAILURE); cpu3 and cpu4 back to back.
. /e2e/lib.sh
[ -x /bin/e2eclient ] || { echo "E2E-SKIP label=client-cpu reason=no-/bin/e2eclient"; exit 0; }
cg=/sys/fs/cgroup
echo +cpuset > $cg/cgroup.subtree_control || exit 1
mkdir -p $cg/test.slice || exit 1
echo 0 > $cg/test.slice/cpuset.cpus
printf '[cpu]\ncgroup = test.slice\n' > /run/dhpd.conf
echo "E2E-INFO clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
start_dhpd --config /run/dhpd.conf --log-level debug || exit 1
start_client A 4 -E -P -I -g test.slice -k 3 -D || exit 1
start_client B 5 -S -P -v 2 -g test.slice || exit 1
rc=0
run_step client-cpu1 cpu online dhpd 1 0 || rc=1
client_expect A 4 "ARRIVAL processor cpu1" || rc=1
client_expect A 4 "REBALANCE START cpu1 new=0-1" || rc=1
client_expect B 5 "ARRIVAL processor cpu1" || rc=1
run_step client-veto cpu present dhpd 1 0 || rc=1
client_expect A 4 "FAILURE cpu2" || rc=1
client_expect B 5 "FAILURE cpu2" || rc=1
run_step client-cpu2 cpu,cpu online dhpd 2 0 || rc=1
# Each admitted CPU: its arrival, then the device's rebalance (none for the
# vetoed cpu2).
# Each processor's rebalance after its own ARRIVAL (doc/model.md R22); cpu4's
# ARRIVAL may come before cpu3's rebalance ends (dhpd's rebalance thread).
client_expect_all A 4 "$CLIENT_TIMEOUT" "ARRIVAL processor cpu3" "REBALANCE START cpu3 new=0-1,3" \
	"ARRIVAL processor cpu4" "REBALANCE START cpu4 new=0-1,3-4" || rc=1
[ "$E2E_SEEN_1" -lt "$E2E_SEEN_2" ] && [ "$E2E_SEEN_3" -lt "$E2E_SEEN_4" ] ||
	{ echo "E2E-ERR client A: a processor's rebalance before its ARRIVAL (R22)"; rc=1; }
# dhpd handles uevents in order: cpu2's transaction ended before cpu3's.
report_devices client-veto-after cpu2
dhpd_status client-cpu
stop_client A 4
stop_client B 5
echo "E2E-INFO clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource) $(dmesg | grep -i -m3 "tsc\|clocksource" | tr "\n" " ")"
stop_dhpd TERM
exit $rc
