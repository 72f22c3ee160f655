#!/bin/sh
# Memory onlining latency, one hot-added DIMM (default 1 GiB) per method,
# same boot.  "kernel" sets auto_online_blocks=online for its step, which is
# the kernel setting memhp_default_state=online sets at boot.  As for CPUs, a
# warm-up DIMM goes first and is not counted.  e2e.methods=a,b,c picks and
# orders the methods.
. /e2e/lib.sh
mb=$(e2e_param dimm_mb 1024)
n=$(blocks_for_mb "$mb")
rc=0
wmb=$(e2e_param warmup_mb "$mb")
run_step warmup-mem "dimm:$wmb" online direct 0 "$(blocks_for_mb "$wmb")" || rc=1
for m in $(e2e_param methods kernel,direct,shell,dhpd | tr ',' ' '); do
	# The dhpd step has a client (e2eclient T: sync callback, arrivals of
	# both classes) whose marker lines give the "client told" column; -q:
	# written at its exit, not on the console inside the callbacks.
	client=
	if [ "$m" = dhpd ] && [ -x /bin/e2eclient ] && start_dhpd && start_client T 4 -S -P -M -q; then
		client=1
	fi
	run_step "mem-$m" "dimm:$mb" online "$m" 0 "$n" || rc=1
	if [ -n "$client" ]; then
		client_expect T 4 "ARRIVAL memory *" || rc=1
		stop_client T 4
	fi
done
exit $rc
