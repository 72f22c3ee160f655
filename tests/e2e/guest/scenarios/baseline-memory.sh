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
read -r auto_boot < /sys/devices/system/memory/auto_online_blocks
wmb=$(e2e_param warmup_mb "$mb")
# e2e.dhpd_warmup=1: dhpd ([memory] onlining = kernel) and a client also
# see the warm-up DIMM, then stop, so that the measured dhpd step does not
# run their code for the first time: under TCG, code run for the first time
# is translated first, milliseconds a real machine does not spend.  The
# kernel's policy dhpd set is undone for the methods that follow.
warm=
if [ "$(e2e_param dhpd_warmup 0)" = 1 ] && [ -x /bin/dhpd ] && [ -x /bin/e2eclient ]; then
	read -r auto0 < /sys/devices/system/memory/auto_online_blocks
	start_dhpd && start_client W 5 -S -P -M -q && warm=1
fi
run_step warmup-mem "dimm:$wmb" online direct 0 "$(blocks_for_mb "$wmb")" || rc=1
if [ -n "$warm" ]; then
	client_expect W 5 "ARRIVAL memory *" || rc=1
	stop_client W 5
	stop_dhpd
	echo "$auto0" > /sys/devices/system/memory/auto_online_blocks
fi
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
	# dhpd would online the next method's DIMM (and its kernel policy
	# would): stopped after its step and the boot's policy restored, so
	# that e2e.methods may put it anywhere (the harness alternates the
	# order between boots).
	if [ "$m" = dhpd ]; then
		stop_dhpd
		echo "$auto_boot" > /sys/devices/system/memory/auto_online_blocks
	fi
done
exit $rc
