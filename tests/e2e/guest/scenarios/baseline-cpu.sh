#!/bin/sh
# CPU onlining latency, one hot-added CPU per method, same boot.  The first
# CPU hot-add of a boot is markedly slower (measured: ~260 ms vs ~140 ms
# under TCG: first-time kernel paths), so a warm-up CPU is added and onlined
# first and not counted.  e2e.methods=a,b,c picks and orders the methods.
. /e2e/lib.sh
rc=0
warmup_cpu || rc=1
for m in $(e2e_param methods kernel,shell,dhpd | tr ',' ' '); do
	# The dhpd step has a client (e2eclient T: sync callback, arrivals of
	# both classes) whose marker lines give the "client told" column; -q:
	# written at its exit, not on the console inside the callbacks.
	client=
	if [ "$m" = dhpd ] && [ -x /bin/e2eclient ] && start_dhpd && start_client T 4 -S -P -M -q; then
		client=1
	fi
	run_step "cpu-$m" cpu online "$m" 1 0 || rc=1
	if [ -n "$client" ]; then
		client_expect T 4 "ARRIVAL processor *" || rc=1
		stop_client T 4
	fi
	# dhpd would online the next method's CPUs: stopped after its step,
	# so that e2e.methods may put it anywhere (dhpd first measures it
	# with as few processors online as the first method of the default
	# order: each online write costs more with more online under TCG).
	[ "$m" = dhpd ] && stop_dhpd
done
exit $rc
