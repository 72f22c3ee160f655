#!/bin/sh
# Probe (PROBES.md, issue 15): which cgroup v2 files notify (inotify, poll)
# when a resize is written, and whether a child hears of an effective-set
# change made through its parent.  Two boot CPUs, no hot-add.
. /e2e/lib.sh
cg=/sys/fs/cgroup
echo "+cpuset +cpu +memory" > $cg/cgroup.subtree_control
mkdir $cg/par
echo "+cpuset +cpu +memory" > $cg/par/cgroup.subtree_control
mkdir $cg/par/child
echo "E2E-PROBE cgroup controllers par=$(cat $cg/par/cgroup.controllers)" \
	"child=$(cat $cg/par/child/cgroup.controllers)" \
	"child.effective=$(cat $cg/par/child/cpuset.cpus.effective)"
cpu1=/sys/devices/system/cpu/cpu1/online
cgprobe $cg/par $cg/par/child \
	"c/cpu.max=50000 100000" \
	"c/cpuset.cpus=0" \
	"c/cpuset.cpus=0-1" \
	"c/memory.max=268435456" \
	"c/memory.high=201326592" \
	"p/cpuset.cpus=1" \
	"p/cpuset.cpus=0-1" \
	"c/cpuset.cpus=" \
	"p/cpuset.cpus=0" \
	"p/cpuset.cpus=" \
	"p/cpu.max=50000 100000" \
	"p/memory.max=134217728" \
	"$cpu1=0" \
	"$cpu1=1"
echo "E2E-PROBE cgroup end child.effective=$(cat $cg/par/child/cpuset.cpus.effective)"
