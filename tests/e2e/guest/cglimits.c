/*
 * cglimits: an application on the "cgroup" target in the e2e guest (issue
 * 15), public API only, linked statically.  Marker lines on stdout, one
 * write each, with the guest's CLOCK_MONOTONIC:
 *
 *   E2E-LIM t=SEC seq=N changed=0xM cpus=LIST pool=N quota=Q period=P
 *           max=BYTES high=BYTES          (limits; "max" when unlimited)
 *   E2E-LIMCPU t=SEC ARRIVAL|REMOVAL cpuN existing=0|1 cpuset=LIST
 *           (cpuset: the cgroup's cpuset.cpus read in the callback, -g)
 *   E2E-LIMSPIN cpuN cpuset=LIST     (a spinner's first time on a CPU it was
 *           not on at start, with cpuset.cpus read right then, -k)
 *   E2E-LIMERR open|register rc=E msg=...
 *   E2E-LIMEND rc=E                  (dhp_process's error: -19 = removed)
 *
 *   cglimits watch TARGET [-g CGDIR] [-k K] [-j CGDIR]
 *       -j: move itself into CGDIR first (a process in the container)
 *   cglimits bench CGDIR PARENT ROUNDS
 *       latency from each write to the limits callback, per kind of change,
 *       and the watcher's idle wake-ups (E2E-BENCH lines)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dhp.h"

static const char *cgdir;
static atomic_uint_fast64_t last_seq;
static atomic_uint_fast64_t last_ns;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (n > (int)sizeof(buf) - 2)
                n = (int)sizeof(buf) - 2;
        buf[n++] = '\n';
        (void)!write(1, buf, (size_t)n);
}

static void read_file(const char *dir, const char *name, char *buf, size_t size) {
        char p[512];
        ssize_t n;
        int fd;

        buf[0] = 0;
        if (!dir)
                return;
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        n = read(fd, buf, size - 1);
        close(fd);
        buf[n > 0 ? n : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
}

static int write_file(const char *path, const char *v) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, v, strlen(v));
        close(fd);
        return n < 0 ? -errno : 0;
}

static const char *u64_or_max(uint64_t v, char *buf, size_t size) {
        if (v == DHP_LIMITS_UNLIMITED)
                return "max";
        snprintf(buf, size, "%llu", (unsigned long long)v);
        return buf;
}

static void on_limits(void *userdata, const dhp_limits *l) {
        char a[32], b[32], c[32];
        uint64_t quota, period, t = now_ns();

        (void)userdata;
        dhp_limits_get_cpu_max(l, &quota, &period);
        atomic_store(&last_ns, t);
        atomic_store(&last_seq, dhp_limits_get_seq(l));
        if (!cgdir && userdata)
                return; /* bench: quiet */
        out("E2E-LIM t=%.6f seq=%llu changed=0x%x cpus=%s pool=%u quota=%s period=%llu max=%s high=%s",
            (double)t / 1e9, (unsigned long long)dhp_limits_get_seq(l), dhp_limits_get_changed(l),
            dhp_limits_get_cpus(l), dhp_limits_get_pool_size(l), u64_or_max(quota, a, sizeof(a)),
            (unsigned long long)period, u64_or_max(dhp_limits_get_memory_max(l), b, sizeof(b)),
            u64_or_max(dhp_limits_get_memory_high(l), c, sizeof(c)));
}

static void on_cpu(void *userdata, const dhp_device_event *ev) {
        char cs[256];

        (void)userdata;
        read_file(cgdir, "cpuset.cpus", cs, sizeof(cs));
        out("E2E-LIMCPU t=%.6f %s %s existing=%d cpuset=%s", (double)now_ns() / 1e9,
            dhp_device_event_get_event(ev) == DHP_EVENT_ARRIVAL ? "ARRIVAL" : "REMOVAL",
            dhp_device_event_get_name(ev), dhp_device_event_is_existing(ev), cs);
}

/* ---- spinners ------------------------------------------------------------ */

static atomic_bool stop_spin;
static atomic_uint_fast64_t seen_mask; /* CPUs a spinner has been on */

static void *spinner(void *p) {
        (void)p;
        nice(19);
        while (!atomic_load(&stop_spin)) {
                int cpu = sched_getcpu();
                if (cpu >= 0 && cpu < 64 && !(atomic_fetch_or(&seen_mask, 1ull << cpu) & (1ull << cpu))) {
                        char cs[256];
                        read_file(cgdir, "cpuset.cpus", cs, sizeof(cs));
                        out("E2E-LIMSPIN cpu%d cpuset=%s", cpu, cs);
                }
        }
        return NULL;
}

static int watch(int argc, char **argv) {
        const char *target = NULL, *join = NULL;
        dhp_limits_reg *lr;
        dhp_arrival_reg *ar;
        pthread_t spin[8];
        int k = 0, r;
        dhp *ctx;

        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-g") == 0 && i + 1 < argc)
                        cgdir = argv[++i];
                else if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
                        k = atoi(argv[++i]);
                else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc)
                        join = argv[++i];
                else
                        target = argv[i];
        }
        if (join) {
                char p[512], pid[32];
                snprintf(p, sizeof(p), "%s/cgroup.procs", join);
                snprintf(pid, sizeof(pid), "%d", getpid());
                r = write_file(p, pid);
                if (r < 0) {
                        out("E2E-LIMERR join rc=%d", r);
                        return 1;
                }
        }
        r = dhp_open(&ctx, target);
        if (r < 0) {
                out("E2E-LIMERR open rc=%d target=%s", r, target ? target : "");
                return 1;
        }
        r = dhp_arrival_register(ctx, "cglimits", DHP_CLASS_PROCESSOR, 0, on_cpu, NULL, &ar);
        if (r >= 0)
                r = dhp_limits_register(ctx, "cglimits", 0, on_limits, NULL, &lr);
        if (r < 0) {
                out("E2E-LIMERR register rc=%d", r);
                return 1;
        }
        for (int i = 0; i < k && i < 8; i++)
                pthread_create(&spin[i], NULL, spinner, NULL);
        do {
                r = dhp_wait(ctx, -1);
                if (r >= 0)
                        r = dhp_process(ctx);
        } while (r >= 0);
        out("E2E-LIMEND rc=%d", r);
        atomic_store(&stop_spin, true);
        for (int i = 0; i < k && i < 8; i++)
                pthread_join(spin[i], NULL);
        dhp_limits_unregister(lr);
        dhp_arrival_unregister(ar);
        dhp_close(ctx);
        return r == -ENODEV ? 0 : 1;
}

/* ---- bench --------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

/* One kind: ROUNDS writes of alternating values to PATH, each timed from
 * just before write(2) to the callback (on this thread, in dhp_process). */
static void bench_kind(dhp *ctx, const char *kind, const char *path, const char *v1, const char *v2, int rounds) {
        uint64_t lat[64];
        int n = 0;

        for (int i = 0; i < rounds && i < 64; i++) {
                uint64_t seq = atomic_load(&last_seq), t0 = now_ns(), end = t0 + 5000000000ull;
                if (write_file(path, i % 2 ? v2 : v1) < 0) {
                        out("E2E-BENCH kind=%s write of %s failed: %s", kind, path, strerror(errno));
                        return;
                }
                while (atomic_load(&last_seq) == seq && now_ns() < end) {
                        dhp_wait(ctx, 100);
                        dhp_process(ctx);
                }
                if (atomic_load(&last_seq) == seq) {
                        out("E2E-BENCH kind=%s round=%d no callback within 5 s", kind, i);
                        continue;
                }
                lat[n++] = atomic_load(&last_ns) - t0;
        }
        if (!n)
                return;
        qsort(lat, (size_t)n, sizeof(lat[0]), cmp_u64);
        out("E2E-BENCH kind=%s n=%d min_us=%llu median_us=%llu max_us=%llu", kind, n,
            (unsigned long long)(lat[0] / 1000), (unsigned long long)(lat[n / 2] / 1000),
            (unsigned long long)(lat[n - 1] / 1000));
}

/* Context switches of every thread but the main one: the watcher's
 * wake-ups while the main thread sleeps. */
static unsigned long long other_switches(void) {
        unsigned long long sum = 0;
        char p[300], line[256];
        struct dirent *d;
        DIR *dir = opendir("/proc/self/task");

        if (!dir)
                return 0;
        while ((d = readdir(dir))) {
                if (d->d_name[0] == '.' || atoi(d->d_name) == getpid())
                        continue;
                snprintf(p, sizeof(p), "/proc/self/task/%s/status", d->d_name);
                FILE *f = fopen(p, "re");
                if (!f)
                        continue;
                while (fgets(line, sizeof(line), f)) {
                        unsigned long long v;
                        if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
                            sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
                                sum += v;
                }
                fclose(f);
        }
        closedir(dir);
        return sum;
}

static void bench_idle(const char *cg, const char *interval, int seconds) {
        char target[600];
        dhp_limits_reg *lr;
        unsigned long long a, b;
        dhp *ctx;

        snprintf(target, sizeof(target), "cgroup:%s,interval=%s", cg, interval);
        if (dhp_open(&ctx, target) < 0)
                return;
        dhp_limits_register(ctx, "idle", 0, on_limits, (void *)1, &lr);
        dhp_process(ctx);
        /* Let the watcher thread reach its poll() first. */
        sleep(1);
        a = other_switches();
        sleep((unsigned)seconds);
        b = other_switches();
        out("E2E-BENCH idle interval=%s seconds=%d wakeups_per_min=%.1f", interval, seconds,
            (double)(b - a) * 60.0 / seconds);
        dhp_limits_unregister(lr);
        dhp_close(ctx);
}

static int bench(const char *cg, const char *parent, int rounds) {
        char target[600], p[600], q[600];
        dhp_limits_reg *lr;
        dhp *ctx;

        snprintf(target, sizeof(target), "cgroup:%s,interval=100ms", cg);
        if (dhp_open(&ctx, target) < 0 || dhp_limits_register(ctx, "bench", 0, on_limits, (void *)1, &lr) < 0) {
                out("E2E-LIMERR bench open");
                return 1;
        }
        dhp_process(ctx);
#define F(dir, file) (snprintf(p, sizeof(p), "%s/%s", dir, file), p)
        bench_kind(ctx, "cpu.max", F(cg, "cpu.max"), "50000 100000", "100000 100000", rounds);
        bench_kind(ctx, "memory.max", F(cg, "memory.max"), "268435456", "536870912", rounds);
        bench_kind(ctx, "memory.high", F(cg, "memory.high"), "201326592", "402653184", rounds);
        bench_kind(ctx, "cpuset.cpus", F(cg, "cpuset.cpus"), "0", "0-1", rounds);
        write_file(F(cg, "cpuset.cpus"), "");
        dhp_process(ctx);
        bench_kind(ctx, "parent-cpuset.cpus", F(parent, "cpuset.cpus"), "1", "0-1", rounds);
        bench_kind(ctx, "parent-cpu.max", F(parent, "cpu.max"), "30000 100000", "40000 100000", rounds);
        snprintf(q, sizeof(q), "/sys/devices/system/cpu/cpu1/online");
        bench_kind(ctx, "cpu-offline-online(timer 100ms)", q, "0", "1", rounds);
#undef F
        dhp_limits_unregister(lr);
        dhp_close(ctx);
        bench_idle(cg, "off", 20);
        bench_idle(cg, "1s", 20);
        return 0;
}

int main(int argc, char **argv) {
        if (argc >= 2 && strcmp(argv[1], "watch") == 0)
                return watch(argc - 2, argv + 2);
        if (argc >= 5 && strcmp(argv[1], "bench") == 0)
                return bench(argv[2], argv[3], atoi(argv[4]));
        fprintf(stderr, "usage: cglimits watch TARGET [-g CGDIR] [-k K] [-j CGDIR] | bench CGDIR PARENT ROUNDS\n");
        return 2;
}
