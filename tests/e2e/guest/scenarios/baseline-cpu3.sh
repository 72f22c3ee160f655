#!/bin/sh
# Three CPUs added at once (three device_add back to back): the direct
# onliner (ueventwatch writes online on each add uevent, no fork) against
# dhpd, which starts the CPUs of one burst together, then runs each one's
# phases.  A warm-up CPU first, not counted.  e2e.methods picks and orders.
. /e2e/lib.sh
rc=0
# e2e.dhpd_warmup=1: dhpd and a client bring the warm-up CPU online, so
# that the measured dhpd step does not run their code for the first time
# (under TCG code run for the first time is translated first, milliseconds
# a real machine does not spend; the kernel's own paths are warm by then
# whoever onlined the warm-up CPU).
if [ "$(e2e_param dhpd_warmup 0)" = 1 ] && [ -x /bin/dhpd ] && [ -x /bin/e2eclient ] &&
	start_dhpd && start_client W 5 -S -P -M -q; then
	run_step warmup-cpu cpu online dhpd 1 0 || rc=1
	client_expect W 5 "ARRIVAL processor *" || rc=1
	stop_client W 5
	stop_dhpd
else
	run_step warmup-cpu cpu online direct 1 0 || rc=1
fi
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
