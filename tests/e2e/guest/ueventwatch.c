/*
 * ueventwatch: the guest-side observer of the QEMU end-to-end tests.
 *
 * It listens to kernel uevents (NETLINK_KOBJECT_UEVENT) and reports on the
 * serial console, as marker lines the host harness waits for, when the CPUs
 * and memory blocks that the harness hot-adds have appeared (and, if asked,
 * come online).  It never polls: it blocks in poll(2) on the netlink socket
 * and re-reads the sysfs state of the devices it tracks after every uevent,
 * so a state change is seen at the uevent that follows it (onlining always
 * emits an "online" uevent after the state has changed).
 *
 * It can also play the onlining agent, so that the baselines can be measured
 * with a single listener whose socket is known to be bound before the harness
 * hot-adds anything (a second, separately started listener could still be
 * binding when the device_add lands):
 *   -o        write 1 to cpuN/online on the CPU's add uevent, in process:
 *             the "kernel-only" path, no fork, no shell;
 *   -M STATE  write STATE to memoryN/state on the block's add uevent;
 *   -x PROG   run PROG for every uevent with the uevent as its environment
 *             and wait for it, as busybox `uevent PROG` and `mdev -d` do and
 *             as udev does for RUN+= rules: the distribution path, where a
 *             shell is forked and exec'd per event.
 *   -k PID    kill PID with SIGKILL at the first "online" uevent of a new
 *             CPU or memory block (the onlining agent dies in the middle of
 *             a DIMM), print "E2E-KILL LABEL pid=P online=K/N", then finish
 *             once every expected device is present (-w is ignored).  The
 *             watcher runs SCHED_FIFO so that it is woken the moment the
 *             kernel broadcasts the uevent, i.e. before the agent's write
 *             returns to user space: the kill lands after exactly one
 *             onlining write, every time.
 *
 * Usage: ueventwatch [-r MARKER] [-l LABEL] [-c NCPU] [-m NBLOCKS]
 *                    [-w present|online] [-o] [-M STATE] [-x PROG]
 *                    [-k PID] [-t SECONDS] [-v]
 *
 * Output (one line each, flushed at once):
 *   MARKER                                  once the socket is bound
 *   E2E-EV LABEL t=MS ACTION DEVPATH        every cpu/memory uevent (-v)
 *   E2E LABEL cpuN present online=0|1       at the end, per tracked device
 *   E2E LABEL memoryN present state=S
 *   E2E-DONE LABEL cpus=N blocks=N first_add_ms=A done_ms=D span_ms=D-A
 *   E2E-TIMEOUT LABEL ...                   and exit status 2 on timeout
 * Times are guest CLOCK_MONOTONIC in milliseconds.  span_ms (first add
 * uevent seen -> condition met) is the guest-internal latency; the host
 * measures device_add return -> E2E-DONE on the console.
 *
 * Built statically (gcc -static) so that the busybox initramfs needs no libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#define MAX_DEV 256

struct dev {
	char name[32];   /* "cpu3" or "memory40" */
	int is_cpu;
};

static struct dev devs[MAX_DEV];
static int ndev, ncpu_seen, nmem_seen;
static const char *label = "watch";

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One write(2) per line so that lines from concurrent writers to the
 * console (the kernel, the guest script) do not interleave mid-line. */
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDOUT_FILENO, buf, n) < 0)
		return;
}

static int read_attr(const char *path, char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, out, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		n--;
	out[n] = '\0';
	return 0;
}

static int write_attr(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

static void dev_path(const struct dev *d, const char *attr, char *out, size_t len)
{
	snprintf(out, len, "/sys/devices/system/%s/%.31s/%.15s",
		 d->is_cpu ? "cpu" : "memory", d->name, attr);
}

static int dev_online(const struct dev *d)
{
	char path[128], val[32];

	dev_path(d, d->is_cpu ? "online" : "state", path, sizeof(path));
	if (read_attr(path, val, sizeof(val)) < 0)
		return 0;
	return d->is_cpu ? strcmp(val, "1") == 0 : strcmp(val, "online") == 0;
}

static void report_devices(void)
{
	char path[128], val[32];

	for (int i = 0; i < ndev; i++) {
		const struct dev *d = &devs[i];

		dev_path(d, d->is_cpu ? "online" : "state", path, sizeof(path));
		if (read_attr(path, val, sizeof(val)) < 0)
			snprintf(val, sizeof(val), "?");
		if (d->is_cpu) {
			say("E2E %s %s present online=%s", label, d->name, val);
			continue;
		}
		/* An online block's valid_zones is its zone (Normal,
		 * Movable).  Never read it for an offline block: on 6.1
		 * (Debian 6.1.192) reading valid_zones of a block just added,
		 * before the kernel has set its node, oopses
		 * (zone_for_pfn_range on NUMA_NO_NODE), seen in hotadd-smoke. */
		char zones[64] = "-", *p;
		dev_path(d, "valid_zones", path, sizeof(path));
		if (strcmp(val, "online") == 0 && read_attr(path, zones, sizeof(zones)) < 0)
			snprintf(zones, sizeof(zones), "?");
		for (p = zones; *p; p++)
			if (*p == ' ')
				*p = '+';
		say("E2E %s %s present state=%s zones=%s", label, d->name, val, zones);
	}
}

/* Run PROG with the uevent's KEY=VALUE pairs as its environment and wait,
 * like busybox uevent: events are handled one at a time, in order. */
static void run_helper(const char *prog, char **env)
{
	pid_t pid = fork();

	if (pid == 0) {
		char *argv[] = { (char *)prog, NULL };

		execve(prog, argv, env);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

static void usage(void)
{
	fprintf(stderr, "usage: ueventwatch [-r MARKER] [-l LABEL] [-c NCPU] [-m NBLOCKS]\n"
		"                   [-w present|online] [-o] [-M STATE] [-x PROG] [-k PID] [-t SEC] [-v]\n");
	exit(64);
}

int main(int argc, char **argv)
{
	/* "ueventwatch --drain": wait until the console has sent what was
	 * written to it (the guest's init, before powering off: a power-off
	 * drops what is still queued, the scenario's last lines with it). */
	if (argc == 2 && strcmp(argv[1], "--drain") == 0)
		return tcdrain(1) < 0;

	const char *marker = NULL, *mem_state = NULL, *helper = NULL;
	int want_cpu = 0, want_mem = 0, want_online = 0, online_cpu = 0;
	int verbose = 0, timeout_s = 60, opt, kill_pid = 0, killed = 0;
	double first_add = -1, deadline;

	while ((opt = getopt(argc, argv, "r:l:c:m:w:oM:x:k:t:v")) != -1) {
		switch (opt) {
		case 'r': marker = optarg; break;
		case 'l': label = optarg; break;
		case 'c': want_cpu = atoi(optarg); break;
		case 'm': want_mem = atoi(optarg); break;
		case 'w':
			if (strcmp(optarg, "online") == 0)
				want_online = 1;
			else if (strcmp(optarg, "present") != 0)
				usage();
			break;
		case 'o': online_cpu = 1; break;
		case 'M': mem_state = optarg; break;
		case 'x': helper = optarg; break;
		case 'k': kill_pid = atoi(optarg); break;
		case 't': timeout_s = atoi(optarg); break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}

	if (kill_pid > 0) {
		struct sched_param sp = { .sched_priority = 50 };

		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
			say("E2E-ERR %s sched_setscheduler: %s", label, strerror(errno));
	}

	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (fd < 0) {
		perror("ueventwatch: socket");
		return 1;
	}
	/* A 1 GiB DIMM is 8 add + 8 online events, plus whatever else the
	 * kernel says; a large buffer makes ENOBUFS (lost events) implausible.
	 * FORCE needs CAP_NET_ADMIN, which the guest's root has. */
	int rcvbuf = 4 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("ueventwatch: bind");
		return 1;
	}
	/* Only now can no event of interest be missed: tell the harness. */
	if (marker)
		say("%s", marker);

	deadline = now_ms() + timeout_s * 1e3;
	for (;;) {
		double left = deadline - now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (left <= 0) {
			say("E2E-TIMEOUT %s cpus=%d/%d blocks=%d/%d", label,
			    ncpu_seen, want_cpu, nmem_seen, want_mem);
			report_devices();
			return 2;
		}
		int r = poll(&pfd, 1, (int)left + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("ueventwatch: poll");
			return 1;
		}
		if (r == 0)
			continue;

		char buf[8192 + 1];
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			if (errno == ENOBUFS) {
				/* Lost events: say so loudly; a test seeing
				 * this must not trust its figures. */
				say("E2E-ENOBUFS %s", label);
				continue;
			}
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("ueventwatch: recv");
			return 1;
		}
		buf[n] = '\0';
		double t = now_ms();

		/* "ACTION@DEVPATH\0KEY=VAL\0KEY=VAL\0..." */
		char *env[64];
		int nenv = 0;
		const char *action = NULL, *devpath = NULL, *subsys = NULL;
		for (char *p = buf + strlen(buf) + 1; p < buf + n && nenv < 63; p += strlen(p) + 1) {
			env[nenv++] = p;
			if (strncmp(p, "ACTION=", 7) == 0)
				action = p + 7;
			else if (strncmp(p, "DEVPATH=", 8) == 0)
				devpath = p + 8;
			else if (strncmp(p, "SUBSYSTEM=", 10) == 0)
				subsys = p + 10;
		}
		env[nenv] = NULL;
		if (!action || !devpath || !subsys)
			continue;

		int is_cpu = strcmp(subsys, "cpu") == 0;
		int is_mem = strcmp(subsys, "memory") == 0;
		const char *base = strrchr(devpath, '/');
		base = base ? base + 1 : devpath;
		/* Only the per-CPU and per-block devices, not e.g. cpu/cpufreq. */
		int is_dev = (is_cpu && strncmp(base, "cpu", 3) == 0 && base[3] >= '0' && base[3] <= '9') ||
			     (is_mem && strncmp(base, "memory", 6) == 0 && base[6] >= '0' && base[6] <= '9');

		if (verbose && (is_cpu || is_mem))
			say("E2E-EV %s t=%.3f %s %s", label, t, action, devpath);

		if (is_dev && strcmp(action, "add") == 0 && ndev < MAX_DEV) {
			struct dev *d = &devs[ndev++];

			snprintf(d->name, sizeof(d->name), "%s", base);
			d->is_cpu = is_cpu;
			if (first_add < 0)
				first_add = t;
			if (is_cpu)
				ncpu_seen++;
			else
				nmem_seen++;
			char path[128];
			if (is_cpu && online_cpu) {
				dev_path(d, "online", path, sizeof(path));
				int e = write_attr(path, "1");
				if (e)
					say("E2E-ERR %s online %s: %s", label, d->name, strerror(-e));
			}
			if (is_mem && mem_state) {
				dev_path(d, "state", path, sizeof(path));
				int e = write_attr(path, mem_state);
				/* EINVAL: the kernel onlined it already (auto-online). */
				if (e && e != -EINVAL)
					say("E2E-ERR %s %s %s: %s", label, mem_state, d->name, strerror(-e));
			}
		}
		if (helper)
			run_helper(helper, env);

		if (kill_pid > 0 && !killed && is_dev && strcmp(action, "online") == 0) {
			int known = 0, on = 0;

			for (int i = 0; i < ndev; i++) {
				known |= strcmp(devs[i].name, base) == 0;
				on += dev_online(&devs[i]);
			}
			if (known) {
				int e = kill(kill_pid, SIGKILL) < 0 ? errno : 0;

				killed = 1;
				say("E2E-KILL %s pid=%d online=%d/%d t=%.3f%s%s", label, kill_pid, on, ndev, now_ms(),
				    e ? " error=" : "", e ? strerror(e) : "");
			}
		}
		if (kill_pid > 0) {
			if (!killed || ncpu_seen < want_cpu || nmem_seen < want_mem)
				continue;
			double done = now_ms();
			report_devices();
			say("E2E-DONE %s cpus=%d blocks=%d first_add_ms=%.3f done_ms=%.3f span_ms=%.3f",
			    label, ncpu_seen, nmem_seen, first_add, done, done - first_add);
			return 0;
		}

		if (ncpu_seen < want_cpu || nmem_seen < want_mem)
			continue;
		int all = 1;
		for (int i = 0; want_online && i < ndev; i++)
			all &= dev_online(&devs[i]);
		if (!all)
			continue;

		double done = now_ms();
		report_devices();
		say("E2E-DONE %s cpus=%d blocks=%d first_add_ms=%.3f done_ms=%.3f span_ms=%.3f",
		    label, ncpu_seen, nmem_seen, first_add, done, done - first_add);
		return 0;
	}
}
