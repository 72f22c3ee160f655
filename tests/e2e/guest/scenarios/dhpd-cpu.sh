#!/bin/sh
# dhpd onlines hot-added CPUs: one, then two added back to back.  dhpd logs
# at debug level, so its transaction steps (txn STARTED, txn ADMITTED) are on
# the console as E2E-DHPD lines; the harness checks their order per CPU and
# that dhpd logged no error.
. /e2e/lib.sh
rc=0
start_dhpd --log-level debug || exit 1
run_step dhpd-cpu1 cpu online dhpd 1 0 || rc=1
run_step dhpd-cpu2 cpu,cpu online dhpd 2 0 || rc=1
stop_dhpd TERM
exit $rc
