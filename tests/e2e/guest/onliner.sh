#!/bin/sh
# The distribution way of onlining hot-added hardware, as a shell helper run
# once per uevent (ueventwatch -x, like busybox `uevent PROG` or udev RUN+=).
# Same tests as Red Hat's 40-redhat.rules:
#   SUBSYSTEM=="cpu", ACTION=="add", TEST=="online", ATTR{online}=="0", ATTR{online}="1"
#   SUBSYSTEM=="memory", ACTION=="add", ATTR{state}=="offline", ATTR{state}="online"
# Only shell builtins below, so the cost measured is one fork+exec of sh per
# uevent, which is what a RUN+="/bin/sh -c 'echo 1 > ...'" rule costs too.
# The memory state written is e2e.memstate= (default online; online_movable
# is what some distributions use for hot-pluggable memory).
[ "$ACTION" = add ] || exit 0
case "$SUBSYSTEM" in
cpu)
	f=/sys$DEVPATH/online
	[ -e "$f" ] || exit 0
	read -r v < "$f"
	[ "$v" = 0 ] && echo 1 > "$f"
	;;
memory)
	f=/sys$DEVPATH/state
	read -r v < "$f"
	[ "$v" = offline ] || exit 0
	state=online
	[ -r /run/e2e/memstate ] && read -r state < /run/e2e/memstate
	echo "$state" > "$f"
	;;
esac
exit 0
