#!/bin/sh
# CPU onlining latency, one hot-added CPU per method, same boot.
. /e2e/lib.sh
rc=0
for m in kernel shell dhpd; do
	run_step "cpu-$m" cpu online "$m" 1 0 || rc=1
done
exit $rc
