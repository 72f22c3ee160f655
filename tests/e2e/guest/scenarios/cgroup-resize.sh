#!/bin/sh
# The "cgroup" target on a real kernel (issue 15): a container's cgroup
# (pod/ctr, +cpuset +cpu +memory) resized the way a runtime does an
# in-place resize, one write at a time, also on the parent and by CPU
# offline/online; /bin/cglimits runs inside ctr on its own cgroup and must
# report every change once, in order (the harness checks the values).  Each
# write waits, bounded, for the application's line before the next one, so
# that no two changes fold into one.  Then: a watched cgroup removed, the
# bad inputs, and the latency bench (E2E-BENCH lines).
. /e2e/lib.sh
cg=/sys/fs/cgroup
pod=$cg/pod
ctr=$pod/ctr
[ -x /bin/cglimits ] || { echo "E2E-ERR no /bin/cglimits"; exit 1; }
echo "+cpuset +cpu +memory" > $cg/cgroup.subtree_control || exit 1
mkdir $pod && echo "+cpuset +cpu +memory" > $pod/cgroup.subtree_control || exit 1
mkdir $ctr || exit 1
echo "200000 100000" > $ctr/cpu.max
echo 536870912 > $ctr/memory.max
echo 0-1 > $ctr/cpuset.cpus
log=/run/lim.log
: > $log
# Inside the container (-j), on its own cgroup ("cgroup"), re-read every 100 ms.
/bin/cglimits watch cgroup:interval=100ms -j $ctr -g $ctr >> $log 2>&1 &
app=$!

# wait_lim PATTERN: the application printed a line matching PATTERN (grep -E),
# within 10 s.
wait_lim() {
	i=0
	while ! grep -qE "$1" $log; do
		if grep -q E2E-LIMERR $log || ! kill -0 $app 2>/dev/null; then
			echo "E2E-ERR cgroup-resize: the application failed: $(cat $log)"
			return 1
		fi
		i=$((i + 1))
		[ $i -le 200 ] || { echo "E2E-ERR cgroup-resize: no line '$1' within 10 s"; return 1; }
		usleep 50000
	done
}
# step N FILE VALUE: write, then wait for seq N.
rc=0
step() {
	[ $rc = 0 ] || return 0
	echo "E2E-INFO cgroup-resize seq=$1 write $2=$3"
	echo "$3" > "$2" || { echo "E2E-ERR cgroup-resize: write $2=$3 failed"; rc=1; }
	wait_lim "seq=$1 " || rc=1
}
wait_lim "seq=1 " || rc=1
step 2 $ctr/cpu.max "50000 100000"
step 3 $ctr/memory.max 268435456
step 4 $ctr/memory.high 201326592
step 5 $ctr/cpuset.cpus 0
step 6 $ctr/cpuset.cpus 0-1
step 7 $pod/cpu.max "30000 100000"
step 8 $pod/memory.max 134217728
step 9 $pod/cpuset.cpus 1
step 10 $pod/cpuset.cpus 0-1
step 11 /sys/devices/system/cpu/cpu1/online 0
step 12 /sys/devices/system/cpu/cpu1/online 1
# Nothing more comes: a write that changes nothing is no change.
echo "50000 100000" > $ctr/cpu.max
usleep 500000
kill $app
wait $app
echo "E2E-INFO cgroup-resize app exited"

# A watched cgroup removed: REMOVAL of every CPU, a last notification
# flagged removed (0x40), then the application ends (rc=-19, ENODEV).
mkdir $pod/gone
: > /run/gone.log
/bin/cglimits watch "cgroup:$pod/gone" >> /run/gone.log 2>&1 &
gone=$!
i=0
while ! grep -q "seq=1 " /run/gone.log; do
	i=$((i + 1)); [ $i -le 200 ] || { echo "E2E-ERR gone: no first line"; rc=1; break; }; usleep 50000
done
rmdir $pod/gone
i=0
while kill -0 $gone 2>/dev/null; do
	i=$((i + 1)); [ $i -le 200 ] || { echo "E2E-ERR gone: still running 10 s after rmdir"; kill $gone; rc=1; break; }
	usleep 50000
done
wait $gone
echo "E2E-INFO gone exited status=$?"
sed 's/^/E2E-GONE /' /run/gone.log

# Bad input: not a cgroup, no such cgroup, a missing controller.
mkdir $pod/bare
/bin/dhpctl limits --cgroup /proc > /dev/null 2> /run/bad1 ; echo "E2E-BAD notcgroup rc=$? msg=$(cat /run/bad1)"
/bin/dhpctl limits --cgroup $pod/nosuch > /dev/null 2> /run/bad2 ; echo "E2E-BAD nosuch rc=$? msg=$(cat /run/bad2)"
/bin/dhpctl limits --cgroup $ctr --json 2> /run/bad3 | sed 's/^/E2E-DHPCTL /'

sed 's/^/E2E-APP /' $log
# The latency of each kind of change, and the idle cost (about 50 s).
mkdir $pod/bench
echo 0-1 > $pod/cpuset.cpus
echo max > $pod/cpu.max
echo max > $pod/memory.max
/bin/cglimits bench $pod/bench $pod 10
exit $rc
