#!/bin/sh
# Memory onlining latency, one hot-added DIMM (default 1 GiB) per method,
# same boot.  "kernel" sets auto_online_blocks=online for its step, which is
# the same kernel setting that memhp_default_state=online sets at boot.
. /e2e/lib.sh
mb=$(e2e_param dimm_mb 1024)
n=$(blocks_for_mb "$mb")
rc=0
for m in kernel direct shell dhpd; do
	run_step "mem-$m" "dimm:$mb" online "$m" 0 "$n" || rc=1
done
exit $rc
