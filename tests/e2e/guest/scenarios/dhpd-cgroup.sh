#!/bin/sh
# cgroup v2 groups managed by dhpd ([cpu] cgroup = ...) gain the hot-added
# CPU in cpuset.cpus: test.slice has an explicit list, pinned.slice an empty
# one (dhpd pins it at start, else the kernel would give it the CPU at
# online, before admission).  Unmanaged groups: other.slice (explicit list)
# must not gain it; empty.slice (empty list) is only reported, it shows what
# the kernel does with a group that follows its parent.
. /e2e/lib.sh
cg=/sys/fs/cgroup
groups="test.slice pinned.slice other.slice empty.slice"
echo +cpuset > $cg/cgroup.subtree_control || exit 1
for g in $groups; do
	mkdir -p $cg/$g || exit 1
done
echo 0 > $cg/test.slice/cpuset.cpus
echo 0 > $cg/other.slice/cpuset.cpus
printf '[cpu]\ncgroup = test.slice\ncgroup = pinned.slice\n' > /run/dhpd.conf
cgroups() {
	for g in $groups; do
		echo "E2E-CGROUP $1 $g cpus=$(cat $cg/$g/cpuset.cpus) effective=$(cat $cg/$g/cpuset.cpus.effective)"
	done
}
cgroups before
start_dhpd --config /run/dhpd.conf --log-level debug || exit 1
cgroups ready
rc=0
run_step dhpd-cgroup cpu online dhpd 1 0 || rc=1
# dhpd finishes the transaction under way before it exits on SIGTERM.
stop_dhpd TERM
cgroups after
exit $rc
