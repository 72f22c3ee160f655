#!/bin/sh
# Three CPUs added at once (three device_add back to back): the direct
# onliner (ueventwatch writes online on each add uevent, no fork) against
# dhpd, which starts the CPUs of one burst together, then runs each one's
# phases.  A warm-up CPU first, not counted.  e2e.methods picks and orders.
. /e2e/lib.sh
rc=0
warmup_cpu || rc=1
for m in $(e2e_param methods kernel,dhpd | tr ',' ' '); do
	client=
	if [ "$m" = dhpd ] && [ -x /bin/e2eclient ] && start_dhpd && start_client T 4 -S -P -M -q; then
		client=1
	fi
	run_step "cpu3-$m" cpu,cpu,cpu online "$m" 3 0 || rc=1
	if [ -n "$client" ]; then
		for i in 1 2 3; do
			client_expect T 4 "ARRIVAL processor *" || rc=1
		done
		stop_client T 4
	fi
	# dhpd would online the next method's CPUs: stopped after its step,
	# so that e2e.methods may put it anywhere (dhpd first measures it
	# with as few processors online as the first method of the default
	# order: each online write costs more with more online under TCG).
	[ "$m" = dhpd ] && stop_dhpd
done
exit $rc
