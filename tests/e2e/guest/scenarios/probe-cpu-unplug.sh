#!/bin/sh
# Probe (PROBES.md): ACPI CPU unplug, recorded without dhpd.  A CPU is
# hot-added and onlined (ueventwatch -o), then device_del'd; every uevent is
# recorded until its cpuN `remove`.
. /e2e/lib.sh
dump_cpus boot
run_step probe-cpu-add cpu online kernel 1 0 || exit 1
[ "$(e2e_param hotplug_cpus 1)" = 0 ] && exit 0
dump_cpus added
n=$(ls -d /sys/devices/system/cpu/cpu[0-9]* | sed 's,.*/cpu,,' | sort -n | tail -n 1)
rec_step probe-cpu-del del:cpu "remove:/devices/system/cpu/cpu$n:1" || exit 1
dump_cpus removed
