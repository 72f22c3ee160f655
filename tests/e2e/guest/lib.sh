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

# Start dhpd once, in the background, if it was packed.  Arguments come from
# e2e.dhpd_args=a,b,c on the kernel command line (commas become spaces, as
# the command line cannot carry them).
dhpd_started=
start_dhpd() {
	[ -x /bin/dhpd ] || return 1
	[ -n "$dhpd_started" ] && return 0
	args=$(e2e_param dhpd_args "" | tr ',' ' ')
	echo "E2E-INFO starting /bin/dhpd $args"
	# shellcheck disable=SC2086
	/bin/dhpd $args &
	dhpd_started=$!
	# TODO(dhpd): wait here for dhpd to say it is ready (its uevent socket
	# bound, initial sysfs scan done), on an event and with a timeout, e.g.
	# a readiness line on a pipe or `dhpctl wait-ready`.  Until then a
	# device_add could in principle beat dhpd's bind; dhpd's own resync from
	# sysfs at start-up would still online the device, only later.
	return 0
}

# run_step LABEL ADD WANT METHOD NCPU NBLOCKS
#   ADD: what the harness hot-adds (cpu | dimm:MB | cpu,dimm:MB)
#   WANT: online | present
run_step() {
	label=$1 add=$2 want=$3 method=$4 ncpu=$5 nblk=$6
	set -- -r "E2E-WAIT label=$label add=$add" -l "$label" -c "$ncpu" -m "$nblk" \
		-w "$want" -t "$WATCH_TIMEOUT"
	read -r auto_was < /sys/devices/system/memory/auto_online_blocks
	case "$method" in
	kernel) set -- "$@" -o
	        [ "$nblk" -gt 0 ] && echo online > /sys/devices/system/memory/auto_online_blocks ;;
	direct) set -- "$@" -o -M "$(e2e_param memstate online)" ;;
	shell)  set -- "$@" -x /e2e/onliner.sh ;;
	dhpd)   if ! start_dhpd; then
			echo "E2E-SKIP label=$label reason=no-/bin/dhpd"
			return 0
		fi ;;
	none)   ;;
	*)      echo "E2E-ERR unknown method $method"; return 1 ;;
	esac
	ueventwatch "$@"
	rc=$?
	echo "$auto_was" > /sys/devices/system/memory/auto_online_blocks
	return $rc
}
