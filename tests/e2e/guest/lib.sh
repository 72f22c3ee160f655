# Shared helpers for the guest scenario scripts (sourced, busybox ash).
#
# Each step starts one ueventwatch that binds its netlink socket, prints
# "E2E-WAIT label=L add=WHAT" (the harness hot-adds WHAT on seeing it and
# times from device_add's return to the E2E-DONE line) and exits once its
# condition holds.  The step's METHOD says who onlines the new hardware:
#   kernel  CPU: written online by ueventwatch itself on the add uevent (no
#           fork, no shell: the floor for any user-space agent).
#           memory: the kernel onlines blocks as it adds them
#           (auto_online_blocks=online, i.e. memhp_default_state=online).
#   direct  memory: ueventwatch writes the state on each add uevent.
#   shell   a helper shell script forked per uevent, as distributions' udev
#           rules and busybox mdev/uevent do (/e2e/onliner.sh).
#   dhpd    /bin/dhpd (packed with --extra-bin) onlines; ueventwatch only
#           observes.  Skipped when the initramfs has no dhpd.
#   none    nobody onlines: wait for the devices to be present.

WATCH_TIMEOUT=${WATCH_TIMEOUT:-60}

e2e_param() { cat "/run/e2e/$1" 2>/dev/null || echo "$2"; }

# Number of memory blocks in a DIMM of $1 MiB.
blocks_for_mb() {
	read -r bs < /sys/devices/system/memory/block_size_bytes   # hex, no 0x
	echo $(( $1 * 1048576 / 0x$bs ))
}

# Start dhpd once, in the background, if it was packed, and wait for its
# READY line (printed on stdout once its uevent socket is bound and its
# start-up resync from sysfs is done).  Arguments: e2e.dhpd_args=a,b,c on the
# kernel command line (commas become spaces, as the command line cannot carry
# them; default --foreground), then start_dhpd's own arguments.  dhpd's log
# (stderr) is copied to the console as "E2E-DHPD <line>", for the harness.
# Returns 1 if there is no /bin/dhpd, 2 if it did not become ready.
dhpd_pid=
DHPD_READY_TIMEOUT=${DHPD_READY_TIMEOUT:-30}
start_dhpd() {
	[ -x /bin/dhpd ] || return 1
	[ -n "$dhpd_pid" ] && return 0
	args=$(e2e_param dhpd_args --foreground | tr ',' ' ')
	[ -p /run/dhpd.err ] || mkfifo /run/dhpd.err /run/dhpd.out
	echo "E2E-INFO starting /bin/dhpd $args $*"
	# One write per line (sed's stdout, the console, is line-buffered), so
	# lines never interleave mid-line.  Not a shell read loop: busybox's
	# read takes a line one byte (one syscall) at a time, which under TCG
	# cost the guest more than dhpd's own work during a measured step.
	sed 's/^/E2E-DHPD /' < /run/dhpd.err &
	dhpd_relay=$!
	# shellcheck disable=SC2086
	/bin/dhpd $args "$@" > /run/dhpd.out 2> /run/dhpd.err &
	dhpd_pid=$!
	# Opening the FIFO waits for dhpd to open its end; the read waits for
	# READY (or EOF if dhpd exits first), at most DHPD_READY_TIMEOUT s.
	exec 3< /run/dhpd.out
	if ! IFS= read -r -t "$DHPD_READY_TIMEOUT" l <&3 || [ "$l" != READY ]; then
		echo "E2E-ERR dhpd did not print READY (got '$l')"
		return 2
	fi
	echo "E2E-INFO dhpd ready pid=$dhpd_pid"
	return 0
}

# Kill dhpd (SIGNAL, default TERM) and wait for it.
stop_dhpd() {
	[ -n "$dhpd_pid" ] || return 0
	kill "-${1:-TERM}" "$dhpd_pid" 2>/dev/null
	wait "$dhpd_pid" 2>/dev/null
	echo "E2E-INFO dhpd pid=$dhpd_pid exited status=$?"
	# Its last lines relayed before anything else is said.
	wait "$dhpd_relay" 2>/dev/null
	dhpd_pid=
	exec 3<&-
}

# The state of the devices named, as the watcher prints it:
# "E2E LABEL cpuN present online=V" / "E2E LABEL memoryN present state=S".
report_devices() {
	label=$1
	shift
	for d in "$@"; do
		case "$d" in
		cpu*) echo "E2E $label $d present online=$(cat /sys/devices/system/cpu/$d/online)" ;;
		memory*) # valid_zones of an offline block: see ueventwatch.c (oops).
			st=$(cat /sys/devices/system/memory/$d/state) z=-
			[ "$st" = online ] && z=$(cat /sys/devices/system/memory/$d/valid_zones)
			echo "E2E $label $d present state=$st zones=$z" ;;
		esac
	done
}

# run_step LABEL ADD WANT METHOD NCPU NBLOCKS
#   ADD: what the harness hot-adds (cpu | dimm:MB | cpu,dimm:MB)
#   WANT: online | present
run_step() {
	label=$1 add=$2 want=$3 method=$4 ncpu=$5 nblk=$6
	# A kernel that allows no CPU hot-add (6.12 under QEMU 7.2: README.md)
	# skips the CPU part of the step, saying so; the harness prints it.
	if [ "$(e2e_param hotplug_cpus 1)" = 0 ]; then
		case "$add" in
		cpu) echo "E2E-SKIP label=$label reason=no-hotplug-cpus"; return 0 ;;
		cpu,*) echo "E2E-SKIP label=$label-cpu reason=no-hotplug-cpus"
		       add=${add#cpu,} ncpu=0 ;;
		esac
	fi
	set -- -r "E2E-WAIT label=$label add=$add" -l "$label" -c "$ncpu" -m "$nblk" \
		-w "$want" -t "$WATCH_TIMEOUT"
	# WATCH_EXTRA: more ueventwatch options for this step (e.g. -k PID).
	# shellcheck disable=SC2086
	[ -n "${WATCH_EXTRA:-}" ] && set -- "$@" $WATCH_EXTRA
	read -r auto_was < /sys/devices/system/memory/auto_online_blocks
	case "$method" in
	kernel) set -- "$@" -o
	        [ "$nblk" -gt 0 ] && echo online > /sys/devices/system/memory/auto_online_blocks ;;
	direct) set -- "$@" -o -M "$(e2e_param memstate online)" ;;
	shell)  set -- "$@" -x /e2e/onliner.sh ;;
	dhpd)   start_dhpd
		case $? in
		1) echo "E2E-SKIP label=$label reason=no-/bin/dhpd"; return 0 ;;
		2) return 1 ;;
		esac
		# dhpd may have set the kernel's policy ([memory] onlining =
		# kernel): it is dhpd's, not to be undone after the step.
		read -r auto_was < /sys/devices/system/memory/auto_online_blocks ;;
	none)   ;;
	*)      echo "E2E-ERR unknown method $method"; return 1 ;;
	esac
	ueventwatch "$@"
	rc=$?
	echo "$auto_was" > /sys/devices/system/memory/auto_online_blocks
	return $rc
}

# The warm-up CPU of a baseline, not counted.  With e2e.dhpd_warmup=1 dhpd
# and a client bring it online, so that the measured dhpd step does not run
# their code for the first time (under TCG code run for the first time is
# translated first, milliseconds a real machine does not spend; the
# kernel's own paths are warm by then whoever onlined the warm-up CPU);
# otherwise the direct onliner.  Returns 1 if a step failed.
warmup_cpu() {
	if [ "$(e2e_param dhpd_warmup 0)" = 1 ] && [ -x /bin/dhpd ] && [ -x /bin/e2eclient ] &&
		start_dhpd && start_client W 5 -S -P -M -q; then
		wrc=0
		run_step warmup-cpu cpu online dhpd 1 0 || wrc=1
		client_expect W 5 "ARRIVAL processor *" || wrc=1
		stop_client W 5
		stop_dhpd
		return $wrc
	fi
	run_step warmup-cpu cpu online direct 1 0
}

# start_client NAME FD ARGS...: run /bin/e2eclient -n NAME ARGS against
# dhpd's socket.  Its marker lines (stderr, "E2E-CLIENT NAME ...") go
# straight to the console, one write each, so that the harness can time
# them; its stdout (READY, COMPLETE cpuN, FAILURE cpuN, ARRIVAL CLASS DEV,
# RECONNECTED) comes back on a FIFO read through file descriptor FD (4-9),
# which client_expect reads.  Waits, bounded, for READY.
# Returns 1 if there is no /bin/e2eclient, 2 if it did not become ready.
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-20}
start_client() {
	[ -x /bin/e2eclient ] || return 1
	cname=$1 cfd=$2
	shift 2
	rm -f "/run/client.$cname.out"
	mkfifo "/run/client.$cname.out"
	echo "E2E-INFO starting /bin/e2eclient -n $cname $*"
	/bin/e2eclient -n "$cname" "$@" > "/run/client.$cname.out" &
	eval "client_pid_$cname=$!"
	eval "exec $cfd< /run/client.$cname.out"
	client_expect "$cname" "$cfd" READY || return 2
	echo "E2E-INFO client $cname ready pid=$(eval echo "\$client_pid_$cname")"
}

# client_expect NAME FD PATTERN [TIMEOUT]: read the client's stdout lines
# until one matches the shell pattern PATTERN; E2E-ERR after TIMEOUT s
# (default CLIENT_TIMEOUT) without one.
client_expect() {
	while IFS= read -r -t "${4:-$CLIENT_TIMEOUT}" l <&"$2"; do
		case "$l" in
		$3) return 0 ;;
		esac
	done
	echo "E2E-ERR client $1: no '$3' within ${4:-$CLIENT_TIMEOUT} s"
	return 1
}

# client_expect_all NAME FD TIMEOUT PATTERN...: every pattern once, in any
# order (the model orders each processor's own events, not one processor's
# rebalance against the next one's arrival: dhpd runs rebalances on a thread
# of their own); E2E_SEEN_k is the line at which pattern k matched, for the
# order checks a scenario makes.  TIMEOUT bounds each read, as in
# client_expect.
client_expect_all() {
	_n=$1 _fd=$2 _t=$3
	shift 3
	_k=0
	for _p in "$@"; do _k=$((_k + 1)); eval "E2E_SEEN_$_k=0"; done
	_left=$# _line=0
	while [ "$_left" -gt 0 ] && IFS= read -r -t "$_t" l <&"$_fd"; do
		_line=$((_line + 1)) _k=0
		for _p in "$@"; do
			_k=$((_k + 1))
			eval "_s=\$E2E_SEEN_$_k"
			[ "$_s" = 0 ] || continue
			case "$l" in
			$_p) eval "E2E_SEEN_$_k=$_line"; _left=$((_left - 1)) ;;
			esac
		done
	done
	_k=0 _rc=0
	for _p in "$@"; do
		_k=$((_k + 1))
		eval "_s=\$E2E_SEEN_$_k"
		[ "$_s" != 0 ] || { echo "E2E-ERR client $_n: no '$_p' within $_t s"; _rc=1; }
	done
	return $_rc
}

# stop_client NAME FD: SIGTERM (the client then prints its SPIN summary and
# EXIT), wait for it, close its FIFO.
stop_client() {
	pid=$(eval echo "\$client_pid_$1")
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	echo "E2E-INFO client $1 pid=$pid exited status=$?"
	eval "client_pid_$1="
	eval "exec $2<&-"
}

# dhpd's view, one console line: E2E-STATUS LABEL {json}
dhpd_status() {
	echo "E2E-STATUS $1 $(/bin/dhpctl status --json 2>&1 | tr -d '\n')"
}

# rec_step LABEL ACTION UNTIL...: record every uevent (uevrec) while the
# harness does ACTION (del:cpu | del:dimm | vmem:MB | cpu | dimm:MB), until
# each UNTIL (ACTION:DEVPATH-SUBSTRING:COUNT) has been seen, plus uevrec's
# settle window.  The probes (PROBES.md) are built from these.
rec_step() {
	label=$1 add=$2
	shift 2
	set -- $(for u in "$@"; do echo "-u $u"; done)
	# shellcheck disable=SC2086
	uevrec -r "E2E-WAIT label=$label add=$add" -l "$label" -t "$WATCH_TIMEOUT" \
		-s "$(e2e_param settle_ms 1000)" "$@"
}

# Memory-hotplug state, one E2E-PROBE line per fact.
dump_memhp() {
	echo "E2E-PROBE $1 auto_online_blocks=$(cat /sys/devices/system/memory/auto_online_blocks)"
	for f in /sys/module/memory_hotplug/parameters/*; do
		[ -e "$f" ] && echo "E2E-PROBE $1 param ${f##*/}=$(cat "$f" 2>&1)"
	done
	[ -e /sys/module/memory_hotplug/parameters ] ||
		echo "E2E-PROBE $1 param (no /sys/module/memory_hotplug/parameters)"
}

# Every memory block above boot memory (or all with -a): state, zones (only
# when online: valid_zones of an offline, just-added block oopsed 6.1),
# phys_device, node, and where its links point.
dump_blocks() {
	lbl=$1
	read -r bs < /sys/devices/system/memory/block_size_bytes
	for d in /sys/devices/system/memory/memory*; do
		b=${d##*/memory}
		[ "$b" -lt "$(( 0x20000000 / 0x$bs ))" ] && [ "${2:-}" != -a ] && continue
		st=$(cat "$d/state") z=-
		[ "$st" = online ] && z=$(cat "$d/valid_zones")
		node=$(ls -d "$d"/node* 2>/dev/null | sed 's,.*/,,' | tr '\n' ,)
		links=
		for l in "$d"/*; do
			[ -L "$l" ] && links="$links ${l##*/}->$(readlink "$l" | sed 's,^\(\.\./\)*,,')"
		done
		echo "E2E-PROBE $lbl block memory$b state=$st zones=$z phys_device=$(cat "$d/phys_device")" \
			"removable=$(cat "$d/removable" 2>/dev/null || echo -) node=${node:--}" \
			"links:$links"
	done
}

dump_iomem() {
	grep -n -i -e 'System RAM' -e virtio -e 'hotplug' /proc/iomem |
		while IFS= read -r l; do echo "E2E-PROBE $1 iomem $l"; done
}

dump_virtio() {
	for d in /sys/bus/virtio/devices/*; do
		[ -e "$d" ] || continue
		echo "E2E-PROBE $1 virtio ${d##*/} -> $(readlink "$d" | sed 's,^\(\.\./\)*,/sys/,')" \
			"device=$(cat "$d/device") vendor=$(cat "$d/vendor")" \
			"driver=$(readlink "$d/driver" | sed 's,.*/,,') status=$(cat "$d/status" 2>/dev/null)" \
			"files=$(ls "$d" | tr '\n' ,)"
	done
}

dump_cpus() {
	echo "E2E-PROBE $1 cpu possible=$(cat /sys/devices/system/cpu/possible)" \
		"present=$(cat /sys/devices/system/cpu/present) online=$(cat /sys/devices/system/cpu/online)" \
		"dirs=$(ls -d /sys/devices/system/cpu/cpu[0-9]* | sed 's,.*/,,' | tr '\n' ,)"
}
