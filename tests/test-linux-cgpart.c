/* SPDX-License-Identifier: MIT */
/*
 * The cgroup partition (cgpart) and its watcher (cgwatch) on a fake cgroup2
 * tree in a temporary directory: every computation, every kind of change,
 * removal and bad input.  Waits are bounded polls on the watcher's fd.
 */
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake-sysfs.h"
#include "platform/linux/cgpart.h"
#include "platform/linux/cgwatch.h"
#include "util/strbuf.h"
#include "util/time.h"

#define LEAF "sys/fs/cgroup/kube.slice/pod1/ctr"
#define POD "sys/fs/cgroup/kube.slice/pod1"
#define GIB (1024ULL * 1024ULL * 1024ULL)
#define MIB (1024ULL * 1024ULL)

static void put(struct fake_sysfs *f, const char *rel, const char *content) {
        assert_int_equal(fake_sysfs_write(f, rel, content), 0);
}

static void level(struct fake_sysfs *f, const char *dir, const char *cpumax, const char *memmax, const char *memhigh,
                  const char *cpus) {
        assert_int_equal(fake_sysfs_add_cgroup(f, dir, cpumax, memmax, memhigh, cpus), 0);
}

/* A Kubernetes-like hierarchy: root, kube.slice, pod1 (4 CPUs, 2 GiB),
 * ctr (1.5 CPUs, 1 GiB, CPUs 0-3); the process lives in ctr. */
static int setup(void **state) {
        struct fake_sysfs *f = calloc(1, sizeof(*f));

        if (!f || fake_sysfs_init(f) < 0)
                return -1;
        put(f, "proc/self/mountinfo",
            "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
            "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec - cgroup2 cgroup2 rw,nsdelegate\n");
        put(f, "proc/self/cgroup", "0::/kube.slice/pod1/ctr\n");
        level(f, "sys/fs/cgroup", NULL, NULL, NULL, "0-7\n");
        level(f, "sys/fs/cgroup/kube.slice", "max 100000\n", "max\n", "max\n", "0-7\n");
        level(f, POD, "400000 100000\n", "2147483648\n", "max\n", "0-7\n");
        level(f, LEAF, "150000 100000\n", "1073741824\n", "max\n", "0-3\n");
        put(f, LEAF "/memory.current", "104857600\n");
        put(f, LEAF "/cgroup.events", "populated 1\nfrozen 0\n");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fake_sysfs_deinit(*state);
        free(*state);
        return 0;
}

static void test_parsers(void **state) {
        struct cgpart_err e = { "" };
        struct cpuset s = CPUSET_INIT;
        char a[256], b[256];
        uint64_t q, p, v;
        bool pop;

        (void)state;
        assert_int_equal(cgpart_parse_cpu_max("max 100000\n", &q, &p, &e), 0);
        assert_true(q == CGPART_UNLIMITED && p == 100000);
        assert_int_equal(cgpart_parse_cpu_max("50000 100000", &q, &p, &e), 0);
        assert_true(q == 50000 && p == 100000);
        assert_int_equal(cgpart_parse_cpu_max("50000", &q, &p, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "byte 5"));
        assert_int_equal(cgpart_parse_cpu_max("max  100000", &q, &p, &e), -EINVAL);
        assert_int_equal(cgpart_parse_cpu_max("-1 100000", &q, &p, &e), -EINVAL);
        assert_int_equal(cgpart_parse_cpu_max("50000 100000 x", &q, &p, &e), -EINVAL);
        assert_int_equal(cgpart_parse_cpu_max("50000 100000\n\n", &q, &p, &e), -EINVAL);
        assert_int_equal(cgpart_parse_cpu_max("999 100000", &q, &p, &e), -ERANGE);
        assert_int_equal(cgpart_parse_cpu_max("5000 999", &q, &p, &e), -ERANGE);
        assert_int_equal(cgpart_parse_cpu_max("5000 1000001", &q, &p, &e), -ERANGE);
        assert_int_equal(cgpart_parse_cpu_max("99999999999999999999 100000", &q, &p, &e), -ERANGE);
        assert_int_equal(cgpart_parse_cpu_max("", &q, &p, &e), -EINVAL);

        assert_int_equal(cgpart_parse_memory("max\n", &v, &e), 0);
        assert_true(v == CGPART_UNLIMITED);
        assert_int_equal(cgpart_parse_memory("0", &v, &e), 0);
        assert_true(v == 0);
        assert_int_equal(cgpart_parse_memory("1073741824\n", &v, &e), 0);
        assert_true(v == GIB);
        assert_int_equal(cgpart_parse_memory("1G", &v, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "byte 1"));
        assert_int_equal(cgpart_parse_memory("0x10", &v, &e), -EINVAL);
        assert_int_equal(cgpart_parse_memory("010", &v, &e), -EINVAL);
        assert_int_equal(cgpart_parse_memory("18446744073709551615", &v, &e), -ERANGE);
        assert_int_equal(cgpart_parse_memory("maxi", &v, &e), -EINVAL);

        assert_int_equal(cgpart_parse_cpus("0-3,8\n", &s, &e), 0);
        assert_int_equal(cpuset_count(&s), 5);
        assert_int_equal(cgpart_parse_cpus("3-1", &s, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "3-1"));
        assert_int_equal(cpuset_count(&s), 5); /* untouched on error */
        cpuset_deinit(&s);

        assert_int_equal(cgpart_parse_events("populated 0\nfrozen 1\n", &pop, &e), 0);
        assert_false(pop);
        assert_int_equal(cgpart_parse_events("frozen 0\n", &pop, &e), -EINVAL);
        assert_int_equal(cgpart_parse_events("populated 2\n", &pop, &e), -EINVAL);
        assert_int_equal(cgpart_parse_events("populated\n", &pop, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "line 1"));

        assert_int_equal(cgpart_parse_proc_cgroup("12:cpu:/a\n0::/x/y\n", a, sizeof(a), &e), 0);
        assert_string_equal(a, "/x/y");
        assert_int_equal(cgpart_parse_proc_cgroup("12:cpu,cpuacct:/a\n1:name=systemd:/b\n", a, sizeof(a), &e),
                         -EOPNOTSUPP);
        assert_non_null(strstr(e.msg, "v1"));
        assert_int_equal(cgpart_parse_proc_cgroup("0::x\n", a, sizeof(a), &e), -EINVAL);
        assert_int_equal(cgpart_parse_proc_cgroup("garbage\n", a, sizeof(a), &e), -EINVAL);
        assert_int_equal(cgpart_parse_proc_cgroup("", a, sizeof(a), &e), -EINVAL);

        assert_int_equal(cgpart_parse_mountinfo("1 0 0:1 /sub /my\\040cg rw - cgroup2 none rw\n", a, sizeof(a), b,
                                                sizeof(b), &e), 0);
        assert_string_equal(a, "/my cg");
        assert_string_equal(b, "/sub");
        assert_int_equal(cgpart_parse_mountinfo("1 0 0:1 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", a,
                                                sizeof(a), b, sizeof(b), &e), -EOPNOTSUPP);
        assert_int_equal(cgpart_parse_mountinfo("1 0 0:1 / /proc rw - proc proc rw\n", a, sizeof(a), b, sizeof(b),
                                                &e), -ENOENT);
        assert_int_equal(cgpart_parse_mountinfo("1 0 0:1\n", a, sizeof(a), b, sizeof(b), &e), -EINVAL);
        assert_int_equal(cgpart_parse_mountinfo("1 0 0:1 /x\\000 /m rw - cgroup2 n rw\n", a, sizeof(a), b, sizeof(b),
                                                &e), -ENAMETOOLONG);
}

static void test_pool_size(void **state) {
        (void)state;
        /* Go 1.25's defaultGOMAXPROCS: min(ncpu, max(2, ceil(quota/period))). */
        assert_int_equal(cgpart_pool_size(8, 50000, 100000), 2);
        assert_int_equal(cgpart_pool_size(8, 100000, 100000), 2);
        assert_int_equal(cgpart_pool_size(8, 250000, 100000), 3);
        assert_int_equal(cgpart_pool_size(8, 300000, 100000), 3);
        assert_int_equal(cgpart_pool_size(8, 300001, 100000), 4);
        assert_int_equal(cgpart_pool_size(8, CGPART_UNLIMITED, 100000), 8);
        assert_int_equal(cgpart_pool_size(4, 800000, 100000), 4);
        assert_int_equal(cgpart_pool_size(1, 50000, 100000), 1);
        assert_int_equal(cgpart_pool_size(0, CGPART_UNLIMITED, 100000), 1);
        assert_int_equal(cgpart_pool_size(UINT32_MAX, UINT64_MAX - 1, 1000), UINT32_MAX);
}

static void test_read(void **state) {
        struct fake_sysfs *f = *state;
        struct cgpart_config cfg = { .root = f->root };
        struct cgpart_limits l = { 0 };
        struct cgpart_err e = { "" };
        struct cgpart cg;

        assert_int_equal(cgpart_init(&cg, &cfg, &e), 0);
        assert_string_equal(cg.dir, "/sys/fs/cgroup/kube.slice/pod1/ctr");
        assert_int_equal(cg.depth, 3);
        assert_string_equal(cg.ancestors[0], "/sys/fs/cgroup/kube.slice/pod1");
        assert_string_equal(cg.ancestors[2], "/sys/fs/cgroup");
        assert_int_equal(cgpart_read(&cg, &l, &e), 0);
        assert_int_equal(l.ncpus, 4);
        assert_true(l.quota_us == 150000 && l.period_us == 100000);
        assert_true(cgpart_limits_bandwidth(&l) > 1.49 && cgpart_limits_bandwidth(&l) < 1.51);
        assert_int_equal(l.pool_size, 2);
        assert_true(l.memory_max == GIB);
        assert_true(l.memory_high == CGPART_UNLIMITED);
        assert_true(l.memory_current == 100 * MIB);
        assert_true(l.populated);
        assert_int_equal(l.present, CGPART_FILE_CPUSET | CGPART_FILE_CPU_MAX | CGPART_FILE_MEMORY_MAX |
                                            CGPART_FILE_MEMORY_HIGH | CGPART_FILE_MEMORY_CURRENT | CGPART_FILE_EVENTS);

        /* The tightest level wins: the pod lowered below the container. */
        put(f, POD "/cpu.max", "100000 200000\n");
        put(f, POD "/memory.max", "536870912\n");
        put(f, "sys/fs/cgroup/kube.slice/memory.high", "805306368\n");
        assert_int_equal(cgpart_read(&cg, &l, &e), 0);
        assert_true(l.quota_us == 100000 && l.period_us == 200000);
        assert_int_equal(l.pool_size, 2);
        assert_true(l.memory_max == 512 * MIB);
        assert_true(l.memory_high == 768 * MIB);

        /* No cpuset controller here: the nearest ancestor's set; none at
         * all: the online CPUs.  No cpu.max anywhere: unlimited, pool = CPUs. */
        assert_int_equal(fake_sysfs_unlink(f, LEAF "/cpuset.cpus.effective"), 0);
        assert_int_equal(fake_sysfs_unlink(f, LEAF "/cpu.max"), 0);
        assert_int_equal(fake_sysfs_unlink(f, POD "/cpu.max"), 0);
        assert_int_equal(cgpart_read(&cg, &l, &e), 0);
        assert_int_equal(l.ncpus, 8);
        assert_true(l.quota_us == CGPART_UNLIMITED);
        assert_true(cgpart_limits_bandwidth(&l) < 0);
        assert_int_equal(l.pool_size, 8);
        assert_false(l.present & (CGPART_FILE_CPUSET | CGPART_FILE_CPU_MAX));
        for (const char *d = POD; d; d = NULL) {
                char p[256];
                snprintf(p, sizeof(p), "%s/cpuset.cpus.effective", d);
                assert_int_equal(fake_sysfs_unlink(f, p), 0);
        }
        assert_int_equal(fake_sysfs_unlink(f, "sys/fs/cgroup/kube.slice/cpuset.cpus.effective"), 0);
        assert_int_equal(fake_sysfs_unlink(f, "sys/fs/cgroup/cpuset.cpus.effective"), 0);
        assert_int_equal(cgpart_read(&cg, &l, &e), -ENOENT);
        put(f, "sys/devices/system/cpu/online", "0-1\n");
        assert_int_equal(cgpart_read(&cg, &l, &e), 0);
        assert_int_equal(l.ncpus, 2);

        /* Malformed content: an error naming the file, the snapshot kept. */
        put(f, POD "/memory.max", "lots\n");
        assert_int_equal(cgpart_read(&cg, &l, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "pod1/memory.max"));
        assert_int_equal(l.ncpus, 2);
        put(f, LEAF "/cpu.max", "100 100000\n");
        assert_int_equal(cgpart_read(&cg, &l, &e), -ERANGE);
        assert_non_null(strstr(e.msg, "cpu.max"));
        cgpart_limits_deinit(&l);
        cgpart_deinit(&cg);
}

static void test_resolve(void **state) {
        struct fake_sysfs *f = *state;
        struct cgpart_config cfg = { .root = f->root };
        struct cgpart_err e = { "" };
        struct cgpart cg;

        /* Inside a cgroup namespace: the process sees itself at "/", the
         * mount's root is "/": the directory is the mount point. */
        put(f, "proc/self/cgroup", "0::/\n");
        assert_int_equal(cgpart_init(&cg, &cfg, &e), 0);
        assert_string_equal(cg.dir, "/sys/fs/cgroup");
        assert_int_equal(cg.depth, 0);
        cgpart_deinit(&cg);

        /* A subtree mounted (its root is a prefix of our path). */
        put(f, "proc/self/mountinfo", "30 25 0:26 /kube.slice/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        put(f, "proc/self/cgroup", "0::/kube.slice/pod1/ctr2\n");
        level(f, "sys/fs/cgroup/ctr2", "max 100000\n", NULL, NULL, NULL);
        assert_int_equal(cgpart_init(&cg, &cfg, &e), 0);
        assert_string_equal(cg.dir, "/sys/fs/cgroup/ctr2");
        cgpart_deinit(&cg);
        put(f, "proc/self/cgroup", "0::/elsewhere/x\n");
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "not under"));
        /* Moved outside the namespace's root. */
        put(f, "proc/self/cgroup", "0::/../other\n");
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -ENOENT);

        /* A path relative to the mount, and an absolute one. */
        put(f, "proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        cfg.path = "kube.slice/pod1/";
        assert_int_equal(cgpart_init(&cg, &cfg, &e), 0);
        assert_string_equal(cg.dir, "/sys/fs/cgroup/kube.slice/pod1");
        assert_int_equal(cg.depth, 2);
        cgpart_deinit(&cg);
        cfg.path = "/sys/fs/cgroup/kube.slice";
        assert_int_equal(cgpart_init(&cg, &cfg, &e), 0);
        assert_int_equal(cg.depth, 1);
        cgpart_deinit(&cg);
}

static void test_bad_input(void **state) {
        struct fake_sysfs *f = *state;
        struct cgpart_config cfg = { .root = f->root };
        struct cgpart_err e = { "" };
        struct cgpart cg;

        put(f, "proc/self/cgroup", "4:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice\n");
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -EOPNOTSUPP);
        assert_non_null(strstr(e.msg, "v1"));
        /* Hybrid: controllers on v1, a cgroup2 mount without any. */
        put(f, "proc/self/cgroup", "4:memory:/x\n1:name=systemd:/\n0::/\n");
        put(f, "sys/fs/cgroup/cgroup.controllers", "\n");
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -EOPNOTSUPP);
        assert_non_null(strstr(e.msg, "hybrid"));
        assert_non_null(strstr(e.msg, "memory"));
        put(f, "sys/fs/cgroup/cgroup.controllers", "hugetlb\n");
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -EOPNOTSUPP);
        /* The controller moved to the unified hierarchy: fine. */
        put(f, "sys/fs/cgroup/cgroup.controllers", "memory hugetlb\n");
        assert_int_equal(cgpart_init(&cg, &cfg, &e), 0);
        cgpart_deinit(&cg);
        /* Only named v1 hierarchies: the unified one is what counts. */
        put(f, "proc/self/cgroup", "1:name=systemd:/\n0::/\n");
        assert_int_equal(cgpart_init(&cg, &cfg, &e), 0);
        cgpart_deinit(&cg);
        put(f, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu memory\n");

        put(f, "proc/self/cgroup", "0::/kube.slice/pod1/ctr\n");
        put(f, "proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n");
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -EOPNOTSUPP);
        put(f, "proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");

        /* Not a cgroup: a plain directory, a file, nothing. */
        put(f, "sys/fs/cgroup/kube.slice/plain/x", "1\n");
        cfg.path = "kube.slice/plain";
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -ENOTDIR);
        assert_non_null(strstr(e.msg, "cgroup.controllers"));
        cfg.path = "kube.slice/plain/x";
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -ENOTDIR);
        cfg.path = "kube.slice/missing";
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -ENOENT);
        cfg.path = "kube.slice/../etc";
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -EINVAL);

        /* A controller required but not enabled. */
        cfg.path = "kube.slice/pod1";
        cfg.require = CGPART_FILE_MEMORY_CURRENT;
        assert_int_equal(cgpart_init(&cg, &cfg, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "memory.current"));
        cfg.require = CGPART_FILE_CPU_MAX | CGPART_FILE_MEMORY_MAX;
        assert_int_equal(cgpart_init(&cg, &cfg, &e), 0);
        cgpart_deinit(&cg);
        cgpart_deinit(NULL);
}

static void test_memory(void **state) {
        struct fake_sysfs *f = *state;
        struct cgpart_config cfg = { .root = f->root };
        struct cgpart_limits l = { 0 };
        struct cgpart_err e = { "" };
        enum cgpart_memcond c;
        uint64_t limit, room, low, high;
        struct cgpart cg;
        char buf[128];
        int fd;

        assert_int_equal(cgpart_init(&cg, &cfg, &e), 0);
        assert_int_equal(cgpart_read(&cg, &l, &e), 0);
        assert_int_equal(cgpart_memory_headroom(&l, &limit, &room), 0);
        assert_true(limit == GIB && room == GIB - 100 * MIB);
        /* memory.high below memory.max is where the kernel throttles. */
        l.memory_high = 512 * MIB;
        assert_int_equal(cgpart_memory_headroom(&l, &limit, &room), 0);
        assert_true(limit == 512 * MIB && room == 412 * MIB);
        l.memory_current = 600 * MIB;
        assert_int_equal(cgpart_memory_headroom(&l, &limit, &room), 0);
        assert_true(room == 0);

        cgpart_memory_default_thresholds(512 * MIB, &low, &high);
        assert_true(low == 16 * MIB && high == 48 * MIB);
        cgpart_memory_default_thresholds(64 * GIB, &low, &high);
        assert_true(low == 64 * MIB && high == 192 * MIB);
        cgpart_memory_default_thresholds(64 * MIB, &low, &high);
        assert_true(low == 4 * MIB && high == 12 * MIB);
        cgpart_memory_default_thresholds(8 * MIB, &low, &high);
        assert_true(low == 2 * MIB && high == 6 * MIB);

        assert_int_equal(cgpart_memory_condition(&l, 0, 0, &c), 0);
        assert_int_equal(c, CGPART_MEMCOND_LOW);
        l.memory_current = 512 * MIB - 30 * MIB;
        assert_int_equal(cgpart_memory_condition(&l, 0, 0, &c), 0);
        assert_int_equal(c, CGPART_MEMCOND_NONE);
        l.memory_current = 100 * MIB;
        assert_int_equal(cgpart_memory_condition(&l, 0, 0, &c), 0);
        assert_int_equal(c, CGPART_MEMCOND_HIGH);
        assert_int_equal(cgpart_memory_condition(&l, 500 * MIB, 501 * MIB, &c), 0);
        assert_int_equal(c, CGPART_MEMCOND_LOW);
        l.memory_max = l.memory_high = CGPART_UNLIMITED;
        assert_int_equal(cgpart_memory_headroom(&l, &limit, &room), -ENODATA);
        assert_int_equal(cgpart_memory_condition(&l, 0, 0, &c), -ENODATA);

        /* PSI: the trigger written once, NUL included, to the cgroup's own file. */
        assert_int_equal(cgpart_psi_open(&cg, "some", 150000, 1000000, &fd, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "memory.pressure"));
        put(f, LEAF "/memory.pressure", "");
        assert_int_equal(cgpart_psi_open(&cg, "some", 150000, 1000000, &fd, &e), 0);
        close(fd);
        assert_int_equal(fake_sysfs_read(f, LEAF "/memory.pressure", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "some 150000 1000000");
        assert_int_equal(cgpart_psi_open(&cg, "most", 150000, 1000000, &fd, &e), -EINVAL);
        assert_int_equal(cgpart_psi_open(&cg, "full", 150000, 100000, &fd, &e), -EINVAL);
        assert_int_equal(cgpart_psi_open(&cg, "full", 2000000, 1000000, &fd, &e), -EINVAL);
        assert_int_equal(cgpart_psi_open(&cg, "full", 0, 1000000, &fd, &e), -EINVAL);
        assert_int_equal(cgpart_psi_open(&cg, "full", 1, 20000000, &fd, &e), -EINVAL);
        cgpart_limits_deinit(&l);
        cgpart_deinit(&cg);
}

/* ---- watching ---------------------------------------------------------- */

struct seen {
        unsigned n;
        uint32_t changed;
        uint64_t seq;
        char added[64], removed[64];
        struct cgpart_limits last;
};

static void on_change(void *userdata, const struct cgpart_limits *l, const struct cpuset *added,
                      const struct cpuset *removed) {
        struct seen *s = userdata;
        struct strbuf a = STRBUF_INIT, r = STRBUF_INIT;

        s->n++;
        s->changed = l->changed;
        s->seq = l->seq;
        assert_int_equal(cpuset_format(added, &a), 0);
        assert_int_equal(cpuset_format(removed, &r), 0);
        snprintf(s->added, sizeof(s->added), "%s", strbuf_str(&a));
        snprintf(s->removed, sizeof(s->removed), "%s", strbuf_str(&r));
        strbuf_deinit(&a);
        strbuf_deinit(&r);
        assert_int_equal(cgpart_limits_copy(&s->last, l), 0);
}

/* Process until a change is delivered (1), the cgroup is removed
 * (-ENODEV) or an error; bounded by 10 s. */
static int wait_change(struct cgwatch *w) {
        uint64_t deadline = time_now_ns() + 10 * NSEC_PER_SEC;
        struct pollfd pfd = { .fd = cgwatch_get_fd(w), .events = POLLIN };
        int r;

        for (;;) {
                uint64_t now = time_now_ns();
                if (now >= deadline)
                        return -ETIMEDOUT;
                if (poll(&pfd, 1, (int)((deadline - now) / NSEC_PER_MSEC) + 1) < 0)
                        return -errno;
                r = cgwatch_process(w);
                if (r != 0)
                        return r;
        }
}

static struct cgwatch *watch(struct fake_sysfs *f, uint64_t reread_ms, struct seen *s) {
        struct cgpart_config cfg = { .root = f->root };
        struct cgwatch_config wc = { .reread_ms = reread_ms };
        struct cgpart_err e = { "" };
        struct cgwatch *w = NULL;

        memset(s, 0, sizeof(*s));
        assert_int_equal(cgwatch_new(&w, &cfg, &wc, on_change, s, &e), 0);
        assert_int_equal(cgwatch_limits(w)->seq, 1);
        assert_int_equal(cgwatch_limits(w)->changed, CGPART_CHANGED_ALL);
        return w;
}

static void test_watch_notify(void **state) {
        struct fake_sysfs *f = *state;
        struct seen s;
        struct cgwatch *w = watch(f, CGWATCH_REREAD_OFF, &s);

        /* Nothing pending: no callback, no blocking. */
        assert_int_equal(cgwatch_process(w), 0);

        put(f, LEAF "/cpu.max", "250000 100000\n");
        assert_int_equal(wait_change(w), 1);
        assert_int_equal(s.changed, CGPART_CHANGED_BANDWIDTH | CGPART_CHANGED_POOL);
        assert_int_equal(s.seq, 2);
        assert_int_equal(s.last.pool_size, 3);

        put(f, LEAF "/memory.max", "2147483648\n");
        assert_int_equal(wait_change(w), 1);
        assert_int_equal(s.changed, CGPART_CHANGED_MEMORY_MAX);
        assert_true(s.last.memory_max == 2 * GIB);

        /* A parent's write: watched too, and tighter. */
        put(f, POD "/memory.high", "1073741824\n");
        assert_int_equal(wait_change(w), 1);
        assert_int_equal(s.changed, CGPART_CHANGED_MEMORY_HIGH);
        assert_true(s.last.memory_high == GIB);
        put(f, POD "/cpu.max", "200000 100000\n");
        assert_int_equal(wait_change(w), 1);
        assert_int_equal(s.changed, CGPART_CHANGED_BANDWIDTH | CGPART_CHANGED_POOL);
        assert_int_equal(s.last.pool_size, 2);

        /* The CPU set grows, then shrinks: the CPUs added and removed. */
        put(f, LEAF "/cpuset.cpus.effective", "0-5\n");
        assert_int_equal(wait_change(w), 1);
        assert_int_equal(s.changed, CGPART_CHANGED_CPUS);
        assert_string_equal(s.added, "4-5");
        assert_string_equal(s.removed, "");
        put(f, LEAF "/cpuset.cpus.effective", "0-1,4-5\n");
        assert_int_equal(wait_change(w), 1);
        assert_string_equal(s.added, "");
        assert_string_equal(s.removed, "2-3");
        assert_int_equal(s.last.ncpus, 4);

        put(f, LEAF "/cgroup.events", "populated 0\nfrozen 0\n");
        assert_int_equal(wait_change(w), 1);
        assert_int_equal(s.changed, CGPART_CHANGED_POPULATED);
        assert_false(s.last.populated);
        assert_int_equal(s.seq, 8);
        assert_int_equal(s.n, 7);

        /* The same content written again: woken, no callback. */
        put(f, LEAF "/memory.max", "2147483648\n");
        {
                struct pollfd pfd = { .fd = cgwatch_get_fd(w), .events = POLLIN };
                assert_int_equal(poll(&pfd, 1, 10000), 1);
                assert_int_equal(cgwatch_process(w), 0);
        }
        assert_int_equal(s.n, 7);

        /* Malformed content: an error, the watch goes on. */
        put(f, LEAF "/cpu.max", "fast\n");
        assert_int_equal(wait_change(w), -EINVAL);
        assert_non_null(strstr(cgwatch_strerror(w), "cpu.max"));
        put(f, LEAF "/cpu.max", "100000 100000\n");
        assert_int_equal(wait_change(w), 1);
        assert_true(s.last.quota_us == 100000);
        cgpart_limits_deinit(&s.last);
        cgwatch_free(w);
        cgwatch_free(NULL);
}

/* Changes that do not notify: a file that appears (a controller enabled
 * later), the online list.  Only the re-read timer finds them. */
static void test_watch_timer(void **state) {
        struct fake_sysfs *f = *state;
        struct pollfd pfd;
        struct seen s, s_off;
        struct cgwatch *w, *off;
        uint64_t t0;

        assert_int_equal(fake_sysfs_unlink(f, LEAF "/memory.high"), 0);
        w = watch(f, 20, &s);
        off = watch(f, CGWATCH_REREAD_OFF, &s_off);
        t0 = time_now_ns();
        put(f, LEAF "/memory.high", "268435456\n"); /* a new file, in no watch */
        assert_int_equal(wait_change(w), 1);
        assert_int_equal(s.changed, CGPART_CHANGED_MEMORY_HIGH);
        assert_true(s.last.memory_high == 256 * MIB);
        assert_true(s.last.present & CGPART_FILE_MEMORY_HIGH);
        /* Found within a few periods (generous bound for a loaded machine). */
        assert_true(time_now_ns() - t0 < 10 * NSEC_PER_SEC);
        /* Proof that the timer found it: the watcher without one has no
         * event pending (inotify queues at write time). */
        pfd = (struct pollfd){ .fd = cgwatch_get_fd(off), .events = POLLIN };
        assert_int_equal(poll(&pfd, 1, 0), 0);
        assert_int_equal(cgwatch_process(off), 0);
        assert_int_equal(s_off.n, 0);

        /* After the re-read the new file is watched: a write notifies. */
        put(f, LEAF "/memory.high", "134217728\n");
        assert_int_equal(wait_change(w), 1);
        assert_true(s.last.memory_high == 128 * MIB);

        /* The cpuset controller disabled here (its file gone): the
         * parent's set applies, CPUs 4-7 arrive. */
        assert_int_equal(fake_sysfs_unlink(f, LEAF "/cpuset.cpus.effective"), 0);
        assert_int_equal(wait_change(w), 1); /* now 0-7 from pod1 */
        assert_string_equal(s.added, "4-7");
        cgpart_limits_deinit(&s.last);
        cgwatch_free(w);
        cgwatch_free(off);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path) < 0 ? -1 : 0;
}

static void rm_tree(struct fake_sysfs *f, const char *rel) {
        char p[512];

        assert_int_equal(fake_sysfs_path(f, rel, p, sizeof(p)), 0);
        assert_int_equal(nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void test_watch_removed(void **state) {
        struct fake_sysfs *f = *state;
        struct seen s;
        struct cgwatch *w = watch(f, CGWATCH_REREAD_OFF, &s);

        rm_tree(f, LEAF);
        assert_int_equal(wait_change(w), -ENODEV);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.changed, CGPART_CHANGED_REMOVED);
        assert_string_equal(s.removed, "0-3");
        assert_string_equal(s.added, "");
        assert_int_equal(cgwatch_process(w), -ENODEV);
        assert_int_equal(s.n, 1);
        cgpart_limits_deinit(&s.last);
        cgwatch_free(w);

        /* Removed and made again under the same name: still a removal (the
         * old cgroup is gone), found by the timer. */
        level(f, LEAF, "150000 100000\n", "1073741824\n", "max\n", "0-3\n");
        w = watch(f, 20, &s);
        rm_tree(f, LEAF);
        level(f, LEAF, "150000 100000\n", "1073741824\n", "max\n", "0-3\n");
        assert_int_equal(wait_change(w), -ENODEV);
        assert_int_equal(s.changed, CGPART_CHANGED_REMOVED);
        cgpart_limits_deinit(&s.last);
        cgwatch_free(w);

        /* Opening a cgroup that is gone. */
        {
                struct cgpart_config cfg = { .root = f->root, .path = "kube.slice/pod1/gone" };
                struct cgpart_err e = { "" };
                assert_int_equal(cgwatch_new(&w, &cfg, NULL, on_change, &s, &e), -ENOENT);
                assert_int_equal(cgwatch_new(&w, &cfg, NULL, NULL, &s, &e), -EINVAL);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parsers),
                cmocka_unit_test(test_pool_size),
                cmocka_unit_test_setup_teardown(test_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watch_notify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watch_timer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watch_removed, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
