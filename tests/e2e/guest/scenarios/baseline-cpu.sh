#!/bin/sh
# CPU onlining latency, one hot-added CPU per method, same boot.  The first
# CPU hot-add of a boot is markedly slower (measured: ~260 ms vs ~140 ms
# under TCG: first-time kernel paths), so a warm-up CPU is added and onlined
# first and not counted.  e2e.methods=a,b,c picks and orders the methods.
. /e2e/lib.sh
rc=0
run_step warmup-cpu cpu online direct 1 0 || rc=1
for m in $(e2e_param methods kernel,shell,dhpd | tr ',' ' '); do
	run_step "cpu-$m" cpu online "$m" 1 0 || rc=1
done
exit $rc
