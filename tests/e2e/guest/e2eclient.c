/*
 * e2eclient: a client of dhpd in the e2e guest, using only the public API
 * (dhp.h) on dhpd's socket.  It logs every notification it receives, with the
 * guest's CLOCK_MONOTONIC and the id of the thread it ran on, as marker lines
 * on stderr (the serial console), one write(2) per line:
 *
 *   E2E-CLIENT NAME t=SEC tid=TID EVENT key=value ...
 *
 * EVENT is one of
 *   OPEN / READY / EXIT
 *   SYNC state=ADD_START|ADD_COMPLETE|ADD_FAILURE cpu=N existing=0|1 status=S
 *        online=0|1 cpuset=LIST t_ret=SEC
 *        (with -R also REMOVE_QUERY|REMOVE_COMPLETE|REMOVE_CANCEL, and
 *        surprise=0|1)
 *        (online and cpuset are read inside the callback: sysfs cpuN/online
 *        and /sys/fs/cgroup/GROUP/cpuset.cpus with -g; t_ret is the time
 *        the callback returned)
 *   VETO cpu=N rc=R
 *   ARRIVAL class=processor|memory name=DEV existing=0|1 cpu=N online=V
 *        base=0x.. size=0x.. blocks_online=K/N
 *   REMOVAL (the same keys) surprise=0|1
 *   LOST err=E / RECONNECTED tries=N
 *   DEVICE rc=E / MEMCOND name=HighMemoryCondition rc=E set=0|1
 *   REBALANCE driver=D req=QUERY_STOP|CANCEL_STOP|STOP|START cpu=N old=L new=L
 *   MEMCOND SET name=HighMemoryCondition
 *   SPIN spinner=I spin_tid=T cpu=N minphase=P first=SEC last=SEC samples=K
 *        (at exit, per spinner thread and CPU it was seen on: the lowest
 *        hot-add phase of that CPU seen while on it, see phase[] below)
 *
 * and prints on stdout, for the guest script, "READY" once registered,
 * "RECONNECTED", "COMPLETE cpuN" / "FAILURE cpuN" after a hot-add's second
 * synchronous call, "ARRIVAL CLASS NAME" for each non-existing arrival,
 * "REMOVAL CLASS NAME" for each removal, "REMOVE_QUERY cpuN" /
 * "REMOVE_COMPLETE cpuN" / "REMOVE_CANCEL cpuN" (-R),
 * "REBALANCE START cpuN new=LIST" when the device's top driver got START
 * (the last request of its rebalance) and "MEMCOND SET HighMemoryCondition"
 * when that event becomes set.
 *
 * Options:
 *   -s PATH   dhpd's socket (default /run/dhp/dhpd.sock)
 *   -n NAME   client name (default e2eclient)
 *   -S        register a synchronous processor callback
 *   -E        ... with ADD_EXISTING
 *   -P, -M    register for PROCESSOR / MEMORY arrivals
 *   -I        ... with INCLUDE_EXISTING
 *   -v N      veto processor N in ADD_START (-EBUSY); repeatable
 *   -R        the synchronous callback opts in to removal
 *             (DHP_PROC_QUERY_REMOVE; implies -S)
 *   -W N      veto the removal of processor N in REMOVE_QUERY (-EBUSY)
 *   -g GROUP  read GROUP's cpuset.cpus in every synchronous callback
 *   -k K      K spinner threads (nice 19) recording sched_getcpu()
 *   -r        reconnect (dhp_reconnect every 20 ms) when dhpd goes away
 *   -q        keep the marker lines in memory and write them at exit: no
 *             console write inside a callback (under TCG each one adds
 *             4-8 ms to the round trip being measured); the t= of each
 *             line is still the time of the event
 *   -D        a user-space Storage device "e2e-disk" with two drivers
 *             (e2e-filter over e2e-disk) taking part in rebalance, and
 *             HighMemoryCondition watched on its fd
 *
 * Runs until SIGTERM or SIGINT.  Linked statically with libdhp.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <dhp.h>

#define MAX_SPIN 16
#define MAX_CPU 64
#define MAX_VETO 16

static const char *name = "e2eclient";
static const char *cgroup;
static int vetoes[MAX_VETO], nveto;
static int remove_veto = -1;
static int registering; /* ADD_EXISTING calls happen during the register call */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
/* -q: marker lines held here (under out_lock) until exit. */
static bool deferred;
static char held[256 * 1024];
static size_t nheld;

static void held_flush_locked(void)
{
	size_t off = 0;

	while (off < nheld) {
		ssize_t w = write(2, held + off, nheld - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	nheld = 0;
}
static uint64_t block_size;

/*
 * Where each CPU's hot-add stands, as this process sees it, for the
 * spinners: 0 nothing yet, 1 our ADD_START callback returned, 2 our
 * ADD_COMPLETE callback began, 3 ADD_FAILURE.  A spinner on CPU c loads
 * phase[c] right after sched_getcpu() says c: if it reads 0, the thread was
 * on c before ADD_START returned, for certain, whatever the clocks say (a
 * newly onlined CPU's clock cannot be trusted to compare across CPUs).
 */
static atomic_int phase[MAX_CPU];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static pid_t tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

#define FMT_T(ns) (unsigned long long)((ns) / 1000000000ull), (unsigned long long)((ns) % 1000000000ull)

/* One marker line on stderr, one write: lines of several processes and
 * threads never interleave mid-line. */
__attribute__((format(printf, 2, 3))) static void logf_at(uint64_t t, const char *fmt, ...)
{
	char buf[1024];
	int n;
	va_list ap;

	n = snprintf(buf, sizeof(buf), "E2E-CLIENT %s t=%llu.%09llu tid=%d ", name, FMT_T(t), (int)tid());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	pthread_mutex_lock(&out_lock);
	if (deferred && nheld + (size_t)n > sizeof(held))
		held_flush_locked();
	if (deferred) {
		memcpy(held + nheld, buf, (size_t)n);
		nheld += (size_t)n;
	} else {
		(void)!write(2, buf, (size_t)n);
	}
	pthread_mutex_unlock(&out_lock);
}

#define logf(...) logf_at(now_ns(), __VA_ARGS__)

/* A line for the guest script on stdout. */
static void say(const char *fmt, ...)
{
	char buf[256];
	int n;
	va_list ap;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!write(1, buf, (size_t)n);
}

/* The first line of a small file, without the newline; "-" if unreadable,
 * "" if empty. */
static void read_line(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	snprintf(buf, size, "-");
	if (fd < 0)
		return;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0) {
		snprintf(buf, size, "-");
		return;
	}
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

static void cpu_online(uint32_t cpu, char *buf, size_t size)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/online", cpu);
	read_line(path, buf, size);
}

static const char *state_name(dhp_proc_change_state s)
{
	switch (s) {
	case DHP_PROC_ADD_START:
		return "ADD_START";
	case DHP_PROC_ADD_COMPLETE:
		return "ADD_COMPLETE";
	case DHP_PROC_ADD_FAILURE:
		return "ADD_FAILURE";
	case DHP_PROC_REMOVE_QUERY:
		return "REMOVE_QUERY";
	case DHP_PROC_REMOVE_COMPLETE:
		return "REMOVE_COMPLETE";
	case DHP_PROC_REMOVE_CANCEL:
		return "REMOVE_CANCEL";
	}
	return "?";
}

/* A thread's affinity as a CPU list ("0-1,3"); "-" if unreadable. */
static void mask_str(pid_t t, char *buf, size_t size)
{
	cpu_set_t set;
	size_t n = 0;

	snprintf(buf, size, "-");
	if (t <= 0 || sched_getaffinity(t, sizeof(set), &set) < 0)
		return;
	buf[0] = 0;
	for (int c = 0; c < CPU_SETSIZE && n + 12 < size; c++) {
		int e = c;
		if (!CPU_ISSET(c, &set))
			continue;
		while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set))
			e++;
		n += (size_t)snprintf(buf + n, size - n, e > c ? "%s%d-%d" : "%s%d", n ? "," : "", c, e);
		c = e;
	}
}

static pid_t spin0_tid(void);

/* ---- synchronous callback -------------------------------------------------- */

static void sync_cb(void *userdata, const dhp_proc_change *c)
{
	uint64_t t = now_ns();
	dhp_proc_change_state s = dhp_proc_change_get_state(c);
	uint32_t cpu = dhp_proc_change_get_index(c);
	char online[16], cpus[128] = "-", path[256], mask[128];
	int veto_rc = 1;

	if (s >= DHP_PROC_REMOVE_QUERY) {
		cpu_online(cpu, online, sizeof(online));
		if (s == DHP_PROC_REMOVE_QUERY && (int)cpu == remove_veto)
			veto_rc = dhp_proc_change_veto(c, -EBUSY);
		logf_at(t, "SYNC state=%s cpu=%u existing=0 status=%d online=%s surprise=%d t_ret=%llu.%09llu",
			state_name(s), cpu, dhp_proc_change_get_status(c), online, dhp_proc_change_is_surprise(c),
			FMT_T(now_ns()));
		if (veto_rc != 1)
			logf("VETO cpu=%u rc=%d", cpu, veto_rc);
		say("%s cpu%u", state_name(s), cpu);
		return;
	}
	if (!registering && cpu < MAX_CPU && s == DHP_PROC_ADD_COMPLETE)
		atomic_store(&phase[cpu], 2);
	/* What the system looks like from inside the callback. */
	cpu_online(cpu, online, sizeof(online));
	if (cgroup) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/cpuset.cpus", cgroup);
		read_line(path, cpus, sizeof(cpus));
		if (!cpus[0])
			snprintf(cpus, sizeof(cpus), "(empty)");
	}
	mask_str(spin0_tid(), mask, sizeof(mask));
	if (s == DHP_PROC_ADD_START)
		for (int i = 0; i < nveto; i++)
			if ((uint32_t)vetoes[i] == cpu)
				veto_rc = dhp_proc_change_veto(c, -EBUSY);
	logf_at(t, "SYNC state=%s cpu=%u existing=%d status=%d online=%s cpuset=%s spin0_mask=%s t_ret=%llu.%09llu",
		state_name(s), cpu, registering, dhp_proc_change_get_status(c), online, cpus, mask, FMT_T(now_ns()));
	if (veto_rc != 1)
		logf("VETO cpu=%u rc=%d", cpu, veto_rc);
	if (!registering && cpu < MAX_CPU)
		atomic_store(&phase[cpu], s == DHP_PROC_ADD_START ? 1 : s == DHP_PROC_ADD_COMPLETE ? 2 : 3);
	if (!registering && s != DHP_PROC_ADD_START)
		say("%s cpu%u", s == DHP_PROC_ADD_COMPLETE ? "COMPLETE" : "FAILURE", cpu);
}

/* ---- arrivals -------------------------------------------------------------- */

static void mem_blocks(uint64_t base, uint64_t size, unsigned *ret_online, unsigned *ret_total)
{
	char path[96], st[32];

	*ret_online = *ret_total = 0;
	if (!block_size)
		return;
	for (uint64_t b = base / block_size; b < (base + size) / block_size; b++) {
		snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%llu/state", (unsigned long long)b);
		read_line(path, st, sizeof(st));
		(*ret_total)++;
		if (strcmp(st, "online") == 0)
			(*ret_online)++;
	}
}

static void arrival_cb(void *userdata, const dhp_device_event *e)
{
	uint64_t t = now_ns();
	const char *dev = dhp_device_event_get_name(e);
	int existing = dhp_device_event_is_existing(e);
	const char *ev = dhp_device_event_get_event(e) == DHP_EVENT_ARRIVAL ? "ARRIVAL" : "REMOVAL";

	if (dhp_device_event_get_class(e) == DHP_CLASS_PROCESSOR) {
		uint32_t cpu = 0;
		dhp_proc_number pn;
		char online[16];
		dhp_device_event_get_processor(e, &cpu, &pn);
		cpu_online(cpu, online, sizeof(online));
		logf_at(t, "%s class=processor name=%s existing=%d cpu=%u online=%s surprise=%d", ev, dev, existing, cpu,
			online, dhp_device_event_is_surprise(e));
		if (!existing)
			say("%s processor %s", ev, dev);
	} else {
		uint64_t base = 0, size = 0;
		unsigned on, total;
		dhp_device_event_get_memory(e, &base, &size);
		mem_blocks(base, size, &on, &total);
		logf_at(t, "%s class=memory name=%s existing=%d base=0x%llx size=0x%llx blocks_online=%u/%u surprise=%d",
			ev, dev, existing, (unsigned long long)base, (unsigned long long)size, on, total,
			dhp_device_event_is_surprise(e));
		if (!existing)
			say("%s memory %s", ev, dev);
	}
}

/* ---- spinners -------------------------------------------------------------- */

struct spinner {
	pthread_t thread;
	pid_t tid;
	uint64_t first[MAX_CPU], last[MAX_CPU], samples[MAX_CPU];
	int minphase[MAX_CPU];
};

static struct spinner spinners[MAX_SPIN];
static int nspin;
static atomic_int spin_stop, spin_started;

static pid_t spin0_tid(void)
{
	return atomic_load(&spin_started) ? spinners[0].tid : 0;
}

/* Busy: record, per CPU, when this thread was first and last seen on it.
 * The time is read before sched_getcpu(): a recorded time is never later
 * than a moment the thread was on that CPU, so "first" is a lower bound. */
static void *spin_main(void *arg)
{
	struct spinner *s = arg;

	s->tid = tid();
	if (s == &spinners[0])
		atomic_store(&spin_started, 1);
	setpriority(PRIO_PROCESS, (id_t)s->tid, 19);
	while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) {
		uint64_t t = now_ns();
		int cpu = sched_getcpu(), ph;
		if (cpu < 0 || cpu >= MAX_CPU)
			continue;
		ph = atomic_load(&phase[cpu]);
		if (!s->samples[cpu]++) {
			s->first[cpu] = t;
			s->minphase[cpu] = ph;
		}
		if (ph < s->minphase[cpu])
			s->minphase[cpu] = ph;
		s->last[cpu] = t;
	}
	return NULL;
}

/* ---- main ------------------------------------------------------------------ */

/* Its own copy of proto_request_name()'s table: this client is an
 * application of the public API only (tests/e2e/meson.build), dhp.h names
 * no request, and src/proto is internal to dhp. */
static const char *const request_names[] = { "?", "QUERY_STOP", "CANCEL_STOP", "STOP", "START" };

/* A driver of the user-space device: logs every request; the top driver's
 * START ends the device's rebalance. */
static int driver_cb(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c)
{
	const char *drv = userdata;
	const char *old = dhp_rebalance_ctx_get_old_affinity(c), *new = dhp_rebalance_ctx_get_new_affinity(c);
	uint32_t cpu = dhp_rebalance_ctx_get_processor(c);

	logf("REBALANCE driver=%s req=%s cpu=%u old=%s new=%s", drv, req <= 4 ? request_names[req] : "?", cpu,
	     old ? old : "-", new ? new : "-");
	if (req == DHP_REBALANCE_START && strcmp(drv, "e2e-filter") == 0)
		say("REBALANCE START cpu%u new=%s", cpu, new ? new : "-");
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: e2eclient [-s PATH] [-n NAME] [-S] [-E] [-R] [-W N] [-P] [-M] [-I] [-v N]... [-g GROUP] [-k K]"
			" [-r] [-D] [-q]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *sock = "/run/dhp/dhpd.sock";
	bool sync = false, existing = false, proc = false, mem = false, include = false, reconnect = false,
	     extras = false, removal = false;
	char target[160], bs[32];
	dhp *ctx = NULL;
	dhp_proc_reg *preg = NULL;
	dhp_arrival_reg *areg_p = NULL, *areg_m = NULL;
	dhp_device *dev = NULL;
	dhp_memcond *high = NULL;
	dhp_driver *drv_bottom = NULL, *drv_top = NULL;
	int high_set = 0;
	sigset_t mask;
	int opt, r, sfd;

	while ((opt = getopt(argc, argv, "s:n:SERW:PMIv:g:k:rDq")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'n': name = optarg; break;
		case 'S': sync = true; break;
		case 'E': sync = existing = true; break;
		case 'R': sync = removal = true; break;
		case 'W': remove_veto = atoi(optarg); break;
		case 'P': proc = true; break;
		case 'M': mem = true; break;
		case 'I': include = true; break;
		case 'v':
			if (nveto == MAX_VETO)
				usage();
			vetoes[nveto++] = atoi(optarg);
			break;
		case 'g': cgroup = optarg; break;
		case 'k':
			nspin = atoi(optarg);
			if (nspin < 0 || nspin > MAX_SPIN)
				usage();
			break;
		case 'r': reconnect = true; break;
		case 'D': extras = true; break;
		case 'q': deferred = true; break;
		default: usage();
		}
	}
	read_line("/sys/devices/system/memory/block_size_bytes", bs, sizeof(bs));
	block_size = strtoull(bs, NULL, 16);

	/* Signals as events, blocked in every thread (they inherit the mask). */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);

	snprintf(target, sizeof(target), "unix:%s", sock);
	r = dhp_open(&ctx, target);
	logf("OPEN target=%s rc=%d", target, r);
	if (r < 0)
		return 1;
	dhp_set_name(ctx, name);
	if (sync) {
		registering = existing;
		r = dhp_proc_register(ctx, name,
				      (existing ? DHP_PROC_ADD_EXISTING : 0) | (removal ? DHP_PROC_QUERY_REMOVE : 0), sync_cb,
				      NULL, &preg);
		registering = 0;
		logf("REGISTER sync existing=%d removal=%d rc=%d", existing, removal, r);
		if (r < 0)
			return 1;
	}
	if (proc) {
		r = dhp_arrival_register(ctx, name, DHP_CLASS_PROCESSOR, include ? DHP_ARRIVAL_INCLUDE_EXISTING : 0,
					 arrival_cb, NULL, &areg_p);
		logf("REGISTER arrival class=processor include_existing=%d rc=%d", include, r);
		if (r < 0)
			return 1;
	}
	if (mem) {
		r = dhp_arrival_register(ctx, name, DHP_CLASS_MEMORY, include ? DHP_ARRIVAL_INCLUDE_EXISTING : 0,
					 arrival_cb, NULL, &areg_m);
		logf("REGISTER arrival class=memory include_existing=%d rc=%d", include, r);
		if (r < 0)
			return 1;
	}
	if (extras) {
		/* A user-space rebalance device and a memory condition event:
		 * logged as the library answers, whatever it is. */
		r = dhp_device_new(ctx, "e2e-disk", "Storage", &dev);
		if (r == 0)
			r = dhp_driver_attach(dev, "e2e-disk", driver_cb, (void *)"e2e-disk", &drv_bottom);
		if (r == 0)
			r = dhp_driver_attach(dev, "e2e-filter", driver_cb, (void *)"e2e-filter", &drv_top);
		logf("DEVICE rc=%d", r);
		r = dhp_memcond_open(ctx, "HighMemoryCondition", &high);
		logf("MEMCOND name=HighMemoryCondition rc=%d set=%d", r, r == 0 && dhp_memcond_is_set(high));
	}
	/* Spinners after the connection: they start with the admitted set. */
	for (int i = 0; i < nspin; i++)
		pthread_create(&spinners[i].thread, NULL, spin_main, &spinners[i]);
	/* Arrivals already queued (INCLUDE_EXISTING) before READY. */
	dhp_process(ctx);
	{
		char m0[128];
		mask_str(tid(), m0, sizeof(m0));
		logf("READY spinners=%d vetoes=%d main_mask=%s", nspin, nveto, m0);
	}
	say("READY");

	for (int lost = 0, tries = 0;;) {
		/* The memory event's fd is readable while it is set: watched
		 * only until it is seen set. */
		struct pollfd p[3] = { { .fd = sfd, .events = POLLIN }, { .fd = dhp_get_fd(ctx), .events = POLLIN },
				       { .fd = high && !high_set ? dhp_memcond_get_fd(high) : -1, .events = POLLIN } };
		if (poll(p, lost ? 1 : 3, lost ? 20 : -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (lost) {
			tries++;
			if (dhp_reconnect(ctx) == 0) {
				logf("RECONNECTED tries=%d", tries);
				say("RECONNECTED");
				lost = 0;
				dhp_process(ctx);
			}
			continue;
		}
		r = dhp_process(ctx);
		if (high && !high_set && dhp_memcond_is_set(high)) {
			high_set = 1;
			logf("MEMCOND SET name=HighMemoryCondition");
			say("MEMCOND SET HighMemoryCondition");
		}
		if (r == -ECONNRESET) {
			logf("LOST err=%d", r);
			if (!reconnect)
				break;
			lost = 1;
			tries = 0;
		}
	}

	atomic_store(&spin_stop, 1);
	for (int i = 0; i < nspin; i++) {
		struct spinner *s = &spinners[i];
		pthread_join(s->thread, NULL);
		for (int c = 0; c < MAX_CPU; c++)
			if (s->samples[c])
				logf("SPIN spinner=%d spin_tid=%d cpu=%d minphase=%d first=%llu.%09llu last=%llu.%09llu samples=%llu",
				     i, (int)s->tid, c, s->minphase[c], FMT_T(s->first[c]), FMT_T(s->last[c]),
				     (unsigned long long)s->samples[c]);
	}
	dhp_memcond_close(high);
	dhp_device_free(dev);
	dhp_proc_deregister(preg);
	dhp_arrival_unregister(areg_p);
	dhp_arrival_unregister(areg_m);
	dhp_close(ctx);
	logf("EXIT");
	pthread_mutex_lock(&out_lock);
	held_flush_locked();
	pthread_mutex_unlock(&out_lock);
	return 0;
}
