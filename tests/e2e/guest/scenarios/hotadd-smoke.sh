#!/bin/sh
# Hot-add one CPU and a 256 MiB DIMM with no onlining agent at all and report
# what the kernel left behind: the harness asserts the new CPU is offline and
# every new memory block is offline (doc/model.md section 7, L1).
. /e2e/lib.sh
echo offline > /sys/devices/system/memory/auto_online_blocks
mb=$(e2e_param dimm_mb 256)
run_step smoke "cpu,dimm:$mb" present none 1 "$(blocks_for_mb "$mb")" || exit 1
echo "E2E-INFO cpu-online-mask=$(cat /sys/devices/system/cpu/online)" \
	"present=$(cat /sys/devices/system/cpu/present)"
