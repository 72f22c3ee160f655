#!/bin/sh
# virtio-mem as one memory device (doc/model.md R40): grow by 1 GiB, then
# shrink to 512 MiB, with dhpd and client A registered for memory arrivals:
# one ARRIVAL of 1 GiB, one REMOVAL of 512 MiB (surprise), both named after
# the virtio device, whatever the kernel's blocks did in between; dhpctl
# status shows the plugged size.
. /e2e/lib.sh
[ -x /bin/e2eclient ] || { echo "E2E-SKIP label=remove-vmem reason=no-/bin/e2eclient"; exit 0; }
rc=0
start_dhpd --log-level debug || exit 1
start_client A 4 -M || exit 1
n=$(blocks_for_mb 1024)
rec_step remove-vmem-grow vmem:1024 "online:/devices/system/memory/memory:$n" || rc=1
client_expect A 4 "ARRIVAL memory virtio-mem:*" || rc=1
dhpd_status remove-vmem-grown
rec_step remove-vmem-shrink vmem:512 "remove:/devices/system/memory/memory:$((n / 2))" || rc=1
client_expect A 4 "REMOVAL memory virtio-mem:*" || rc=1
dhpd_status remove-vmem
stop_client A 4
stop_dhpd TERM
exit $rc
