#!/bin/sh
# dhpd onlines hot-added DIMMs (256 MiB, then 1 GiB): every block online, in
# ZONE_MOVABLE (dhpd's default policy), one memory device per DIMM in dhpd's
# log (grouped by its ACPI PNP0C80 device), its arrival after its last block.
. /e2e/lib.sh
rc=0
# e2e.onlining=kernel (dhpd's default: the kernel onlines by the policy dhpd
# sets at start) or dhpd (dhpd writes every block).
printf '[memory]\nonlining = %s\n' "$(e2e_param onlining kernel)" > /run/dhpd-mode.conf
dump_memhp before
start_dhpd --config /run/dhpd-mode.conf --log-level debug || exit 1
dump_memhp ready
run_step dhpd-mem256 dimm:256 online dhpd 0 "$(blocks_for_mb 256)" || rc=1
run_step dhpd-mem1g dimm:1024 online dhpd 0 "$(blocks_for_mb 1024)" || rc=1
stop_dhpd TERM
exit $rc
