/* SPDX-License-Identifier: MIT */
/*
 * The cgroup target (issue 15) on a fake cgroup tree (the target's root=
 * option): how long from a write of a limit file to the application's
 * limits callback, beside a bare inotify watcher of the same file woken by
 * the same write (the kernel's part); and the watcher's idle wake-ups per
 * minute with the re-read timer off and at its default 1 s, beside Go
 * 1.25's runtime, whose sysmon re-reads cpu.max at most once a second.
 * The real kernel's figures (kernfs, QEMU) are the e2e scenario
 * cgroup-resize's (tests/e2e/guest/cglimits.c bench, README.md).
 *
 *   build/bench/bench-cgroup [WRITES] [IDLE_SECONDS]
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "bench.h"
#include "dhp.h"
#include "../tests/fake-sysfs.h"

#define LEAF "sys/fs/cgroup/app"

struct run {
        struct fake_sysfs *f;
        unsigned writes;
        atomic_uint_fast64_t seq, t;
};

static void put(struct fake_sysfs *f, const char *rel, const char *v) {
        if (fake_sysfs_write(f, rel, v) < 0) {
                fprintf(stderr, "bench-cgroup: cannot write %s\n", rel);
                exit(1);
        }
}

/* One write(2) over the old content, as a cgroup file is written. */
static void write_in_place(struct fake_sysfs *f, const char *rel, const char *v) {
        char p[512];
        int fd;

        fake_sysfs_path(f, rel, p, sizeof(p));
        fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || pwrite(fd, v, strlen(v), 0) != (ssize_t)strlen(v))
                exit(1);
        close(fd);
}

static void on_limits(void *userdata, const dhp_limits *l) {
        struct run *r = userdata;

        atomic_store(&r->t, bench_now_ns());
        atomic_store(&r->seq, dhp_limits_get_seq(l));
}

/* Median write -> callback in us over r->writes writes of cpu.max. */
static double sample_dhp(void *userdata) {
        struct run *r = userdata;
        char target[512];
        dhp_limits_reg *reg;
        double v[256];
        unsigned n = 0;
        dhp *ctx;

        snprintf(target, sizeof(target), "cgroup:root=%s,interval=off,psi=no", r->f->root);
        if (dhp_open(&ctx, target) < 0 || dhp_limits_register(ctx, "bench", 0, on_limits, r, &reg) < 0)
                exit(1);
        dhp_process(ctx);
        for (unsigned i = 0; i < r->writes && i < 256; i++) {
                uint64_t seq = atomic_load(&r->seq), t0 = bench_now_ns();
                write_in_place(r->f, LEAF "/cpu.max", i % 2 ? "100000 100000\n" : "200000 100000\n");
                while (atomic_load(&r->seq) == seq && bench_now_ns() - t0 < 2000000000ull)
                        if (dhp_wait(ctx, 100) > 0)
                                dhp_process(ctx);
                if (atomic_load(&r->seq) != seq)
                        v[n++] = (double)(atomic_load(&r->t) - t0) / 1e3;
        }
        dhp_limits_unregister(reg);
        dhp_close(ctx);
        return bench_stat_of(v, n).med;
}

/* The same writes seen by a bare inotify watcher: the kernel's part. */
static double sample_inotify(void *userdata) {
        struct run *r = userdata;
        char p[512], buf[4096];
        double v[256];
        unsigned n = 0;
        int fd = inotify_init1(IN_CLOEXEC);

        fake_sysfs_path(r->f, LEAF "/cpu.max", p, sizeof(p));
        if (fd < 0 || inotify_add_watch(fd, p, IN_MODIFY) < 0)
                exit(1);
        for (unsigned i = 0; i < r->writes && i < 256; i++) {
                struct pollfd pf = { .fd = fd, .events = POLLIN };
                uint64_t t0 = bench_now_ns();
                write_in_place(r->f, LEAF "/cpu.max", i % 2 ? "100000 100000\n" : "200000 100000\n");
                if (poll(&pf, 1, 2000) == 1 && read(fd, buf, sizeof(buf)) > 0)
                        v[n++] = (double)(bench_now_ns() - t0) / 1e3;
        }
        close(fd);
        return bench_stat_of(v, n).med;
}

/* Context switches of every thread but this one. */
static unsigned long long other_switches(void) {
        unsigned long long sum = 0, x;
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
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "voluntary_ctxt_switches: %llu", &x) == 1 ||
                            sscanf(line, "nonvoluntary_ctxt_switches: %llu", &x) == 1)
                                sum += x;
                fclose(f);
        }
        closedir(dir);
        return sum;
}

static void idle(struct run *r, const char *interval, unsigned seconds) {
        char target[512], label[64];
        dhp_limits_reg *reg;
        unsigned long long a, b;
        double v[BENCH_RUNS_MAX];
        unsigned n = bench_runs();
        dhp *ctx;

        for (unsigned i = 0; i < n; i++) {
                snprintf(target, sizeof(target), "cgroup:root=%s,interval=%s", r->f->root, interval);
                if (dhp_open(&ctx, target) < 0 || dhp_limits_register(ctx, "idle", 0, on_limits, r, &reg) < 0)
                        exit(1);
                dhp_process(ctx);
                usleep(200000); /* the watcher's thread reaches its poll() */
                a = other_switches();
                sleep(seconds);
                b = other_switches();
                v[i] = (double)(b - a) * 60.0 / seconds;
                dhp_limits_unregister(reg);
                dhp_close(ctx);
        }
        snprintf(label, sizeof(label), "idle wake-ups, interval=%s", interval);
        bench_print_stat(label, bench_stat_of(v, n), "per minute");
}

int main(int argc, char **argv) {
        struct fake_sysfs f;
        struct run r = { .f = &f };
        struct bench_stat d, b, q;
        unsigned idle_s;

        r.writes = argc > 1 ? (unsigned)atoi(argv[1]) : 200;
        idle_s = argc > 2 ? (unsigned)atoi(argv[2]) : 10;
        if (fake_sysfs_init(&f) < 0)
                return 1;
        put(&f, "proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        put(&f, "proc/self/cgroup", "0::/app\n");
        put(&f, "proc/meminfo", "MemTotal: 8388608 kB\nMemAvailable: 4194304 kB\n");
        put(&f, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu memory\n");
        put(&f, "sys/fs/cgroup/cpuset.cpus.effective", "0-7\n");
        put(&f, LEAF "/cgroup.controllers", "cpuset cpu memory\n");
        put(&f, LEAF "/cpuset.cpus.effective", "0-3\n");
        put(&f, LEAF "/cpu.max", "200000 100000\n");
        put(&f, LEAF "/memory.max", "1073741824\n");

        printf("bench-cgroup: cpu.max write -> limits callback, %u writes per run (fake tree)\n", r.writes);
        bench_print_header();
        bench_pair(sample_dhp, &r, sample_inotify, &r, &d, &b, &q);
        bench_print_pair("write -> callback (baseline: bare inotify)", d, b, &q, "us");
        idle(&r, "off", idle_s);
        idle(&r, "1s", idle_s);
        printf("  Go 1.25's runtime re-reads cpu.max from sysmon at most once a second: up to 1 s, "
               "about 60 reads a minute while idle\n");
        fake_sysfs_deinit(&f);
        return 0;
}
