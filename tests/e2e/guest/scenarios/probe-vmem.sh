#!/bin/sh
# Probe (PROBES.md): virtio-mem grow by 1 GiB, then shrink to 512 MiB,
# recorded without dhpd.  e2e.vmem_policy=default keeps the kernel's
# auto_online_blocks; anything else is written there first (online_movable:
# what issue 19's kernel onlining sets).
. /e2e/lib.sh
dump_memhp boot
dump_virtio boot
policy=$(e2e_param vmem_policy default)
[ "$policy" != default ] && echo "$policy" > /sys/devices/system/memory/auto_online_blocks
read -r auto < /sys/devices/system/memory/auto_online_blocks
echo "E2E-PROBE grow auto_online_blocks=$auto"
n=$(blocks_for_mb 1024)
if [ "$auto" = offline ]; then
	rec_step probe-vmem-grow vmem:1024 "add:/devices/system/memory/memory:$n" || exit 1
else
	rec_step probe-vmem-grow vmem:1024 "online:/devices/system/memory/memory:$n" || exit 1
fi
dump_blocks grown
dump_iomem grown
dump_virtio grown
rec_step probe-vmem-shrink vmem:512 "remove:/devices/system/memory/memory:$((n / 2))" || exit 1
dump_blocks shrunk
dump_iomem shrunk
