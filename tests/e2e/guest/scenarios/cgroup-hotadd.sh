#!/bin/sh
# dhpd and containers together (issue 15): app.slice is a cgroup managed by
# dhpd ([cpu] cgroup = app.slice, cpuset.cpus 0); /bin/cglimits runs inside
# it on its own cgroup with the re-read timer off (interval=off), so only a
# notification can tell it, and with 2 spinner threads.  A CPU hot-added to
# the VM and admitted by dhpd (which writes app.slice/cpuset.cpus) must
# reach the application as a processor ARRIVAL and a limits change, after
# dhpd's admission: in the callback app.slice/cpuset.cpus already has the
# CPU, and no spinner of the container ran on it before (E2E-LIMSPIN shows
# cpuset.cpus as read on the new CPU).
. /e2e/lib.sh
cg=/sys/fs/cgroup
app=$cg/app.slice
[ -x /bin/cglimits ] || { echo "E2E-ERR no /bin/cglimits"; exit 1; }
echo "+cpuset +cpu +memory" > $cg/cgroup.subtree_control || exit 1
mkdir $app || exit 1
echo 0 > $app/cpuset.cpus
printf '[cpu]\ncgroup = app.slice\n' > /run/dhpd.conf
start_dhpd --config /run/dhpd.conf --log-level debug || exit 1
log=/run/lim.log
: > $log
/bin/cglimits watch cgroup:interval=off -j $app -g $app -k 2 >> $log 2>&1 &
pid=$!
i=0
while ! grep -q "seq=1 " $log; do
	i=$((i + 1)); [ $i -le 200 ] || { echo "E2E-ERR cgroup-hotadd: the application did not start"; exit 1; }
	usleep 50000
done
rc=0
run_step cgroup-hotadd cpu online dhpd 1 0 || rc=1
# The application's lines for the new CPU, bounded.
i=0
while ! grep -q "seq=2 " $log; do
	i=$((i + 1)); [ $i -le 200 ] || { echo "E2E-ERR cgroup-hotadd: no limits change within 10 s"; rc=1; break; }
	usleep 50000
done
# Give the spinners time to reach the new CPU.
i=0
while ! grep -q "E2E-LIMSPIN cpu1" $log; do
	i=$((i + 1)); [ $i -le 100 ] || break
	usleep 50000
done
echo "E2E-CGROUP after $(cat $app/cpuset.cpus) effective=$(cat $app/cpuset.cpus.effective)"
kill $pid
wait $pid
stop_dhpd TERM
sed 's/^/E2E-APP /' $log
exit $rc
