#!/bin/sh
# Memory arrivals to clients of dhpd: a 256 MiB and a 1 GiB DIMM.  Client A
# registers for both classes with INCLUDE_EXISTING and -D (watches
# HighMemoryCondition on its fd), client B for MEMORY only.  In each arrival
# callback the client reads the state of every block of the device.
# The high memory threshold is set to 1 GiB: the 512 MiB guest starts below
# it and stays below after the 256 MiB DIMM, so HighMemoryCondition must be
# set after the 1 GiB DIMM's arrival, and not before.
. /e2e/lib.sh
[ -x /bin/e2eclient ] || { echo "E2E-SKIP label=client-mem reason=no-/bin/e2eclient"; exit 0; }
rc=0
printf '[memory]\nlow_threshold = 16M\nhigh_threshold = 1G\n' > /run/dhpd.conf
start_dhpd --config /run/dhpd.conf --log-level debug || exit 1
start_client A 4 -P -M -I -D || exit 1
start_client B 5 -M || exit 1
for mb in 256 1024; do
	run_step "client-mem$mb" "dimm:$mb" online dhpd 0 "$(blocks_for_mb $mb)" || rc=1
	client_expect A 4 "ARRIVAL memory *" || rc=1
	client_expect B 5 "ARRIVAL memory *" || rc=1
done
# After the last arrival (client_expect reads A's lines in order: a SET
# printed before that ARRIVAL would have been skipped and not found now).
client_expect A 4 "MEMCOND SET HighMemoryCondition" || rc=1
dhpd_status client-memory
stop_client A 4
stop_client B 5
stop_dhpd TERM
exit $rc
