#!/bin/sh
# Probe (PROBES.md): ACPI DIMM unplug, recorded without dhpd.  A 256 MiB DIMM
# is hot-added (its add uevents recorded too), its blocks onlined movable, then device_del'd; every uevent is recorded until
# the `remove` of each of its blocks.
. /e2e/lib.sh
dump_memhp boot
n=$(blocks_for_mb 256)
# Same start on both kernels (6.12 would online them itself, in the zone
# its policy picks, which need not be movable): the kernel leaves the
# blocks offline, the probe onlines them movable, as an onliner would.
echo offline > /sys/devices/system/memory/auto_online_blocks
rec_step probe-dimm-add dimm:256 "add:/devices/system/memory/memory:$n" || exit 1
for d in /sys/devices/system/memory/memory*; do
	[ "$(cat "$d/state")" = offline ] && echo online_movable > "$d/state"
done
dump_blocks added
dump_iomem added
ls /sys/bus/acpi/devices | grep PNP0C80 | while read -r a; do
	echo "E2E-PROBE added acpi $a status=$(cat /sys/bus/acpi/devices/$a/status)" \
		"physical_node=$(readlink /sys/bus/acpi/devices/$a/physical_node 2>/dev/null | sed 's,.*/,,')"
done
rec_step probe-dimm-del del:dimm "remove:/devices/system/memory/memory:$n" || exit 1
dump_blocks removed
dump_iomem removed
