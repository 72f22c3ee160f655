/* SPDX-License-Identifier: MIT */
/*
 * The "cgroup" target through the public API, on a fake cgroup2 tree (the
 * target's root= option, for tests only): the limits notification (once at
 * registration, once per change, in order, with its sequence and mask),
 * processor ARRIVAL and REMOVAL from the effective set, memory conditions
 * relative to the cgroup, what the target refuses, removal and bad input.
 * Waits are bounded loops on dhp_wait().
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "dhp.h"
#include "fake-sysfs.h"
#include "lib/dhp-private.h"
#include "util/time.h"

#define LEAF "sys/fs/cgroup/kube.slice/pod1/ctr"
#define POD "sys/fs/cgroup/kube.slice/pod1"
#define MIB (1024ULL * 1024ULL)
#define GIB (1024ULL * MIB)

static void put(struct fake_sysfs *f, const char *rel, const char *content) {
        assert_int_equal(fake_sysfs_write(f, rel, content), 0);
}

/* Change a file while the target's thread may read it: one pwrite over
 * the old content, then the length, so that a reader never sees it empty
 * (a cgroup file's write is atomic; O_TRUNC then write is not). */
static void change(struct fake_sysfs *f, const char *rel, const char *content) {
        char p[512];
        int fd;

        assert_int_equal(fake_sysfs_path(f, rel, p, sizeof(p)), 0);
        fd = open(p, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, content, strlen(content), 0), (ssize_t)strlen(content));
        assert_int_equal(ftruncate(fd, (off_t)strlen(content)), 0);
        close(fd);
}

static void level(struct fake_sysfs *f, const char *dir, const char *cpumax, const char *memmax, const char *cpus) {
        assert_int_equal(fake_sysfs_add_cgroup(f, dir, cpumax, memmax, "max\n", cpus), 0);
}

static int setup(void **state) {
        struct fake_sysfs *f = calloc(1, sizeof(*f));

        if (!f || fake_sysfs_init(f) < 0)
                return -1;
        put(f, "proc/self/mountinfo",
            "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec - cgroup2 cgroup2 rw,nsdelegate\n");
        put(f, "proc/self/cgroup", "0::/kube.slice/pod1/ctr\n");
        put(f, "proc/meminfo", "MemTotal: 8388608 kB\nMemAvailable: 4194304 kB\n");
        put(f, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu memory\n");
        put(f, "sys/fs/cgroup/cpuset.cpus.effective", "0-7\n");
        level(f, "sys/fs/cgroup/kube.slice", "max 100000\n", "max\n", "0-7\n");
        level(f, POD, "400000 100000\n", "2147483648\n", "0-7\n");
        level(f, LEAF, "150000 100000\n", "1073741824\n", "0-3\n");
        put(f, LEAF "/memory.current", "104857600\n");
        put(f, LEAF "/cgroup.events", "populated 1\nfrozen 0\n");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fake_sysfs *f = *state;

        fake_sysfs_deinit(f);
        free(f);
        return 0;
}

/* What the callbacks saw, in order, as one text. */
struct seen {
        char log[4096];
        unsigned nlimits;
        uint64_t seq;
        uint32_t changed;
        uint32_t pool;
        uint64_t memory_max;
        char cpus[64];
        dhp_limits_reg *self_unregister;
};

static void seen_log(struct seen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seen_log(struct seen *s, const char *fmt, ...) {
        size_t n = strlen(s->log);
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(s->log + n, sizeof(s->log) - n, fmt, ap);
        va_end(ap);
}

static void on_limits(void *userdata, const dhp_limits *l) {
        struct seen *s = userdata;

        s->nlimits++;
        s->seq = dhp_limits_get_seq(l);
        s->changed = dhp_limits_get_changed(l);
        s->pool = dhp_limits_get_pool_size(l);
        s->memory_max = dhp_limits_get_memory_max(l);
        snprintf(s->cpus, sizeof(s->cpus), "%s", dhp_limits_get_cpus(l));
        seen_log(s, "L%llu:%x ", (unsigned long long)s->seq, s->changed);
        if (s->self_unregister) {
                dhp_limits_unregister(s->self_unregister);
                s->self_unregister = NULL;
        }
}

static void on_arrival(void *userdata, const dhp_device_event *ev) {
        struct seen *s = userdata;

        seen_log(s, "%c%s%s ", dhp_device_event_get_event(ev) == DHP_EVENT_ARRIVAL ? '+' : '-',
             dhp_device_event_get_name(ev), dhp_device_event_is_existing(ev) ? "(e)" : "");
}

static dhp *open_target(struct fake_sysfs *f, const char *extra) {
        char target[512];
        dhp *ctx = NULL;

        snprintf(target, sizeof(target), "cgroup:root=%s,interval=50ms%s", f->root, extra);
        assert_int_equal(dhp_open(&ctx, target), 0);
        return ctx;
}

/* Process until `n` limits notifications were seen (or 5 s). */
static void wait_limits(dhp *ctx, struct seen *s, unsigned n) {
        uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC;

        while (s->nlimits < n && time_now_ns() < end) {
                (void)dhp_wait(ctx, 50);
                (void)dhp_process(ctx);
        }
        assert_int_equal(s->nlimits, n);
}

static void test_initial(void **state) {
        struct fake_sysfs *f = *state;
        struct seen s = { "" };
        dhp_limits_reg *reg;
        dhp_arrival_reg *ar;
        dhp_limits *l;
        uint64_t quota, period;
        uint32_t count;
        dhp *ctx = open_target(f, "");

        assert_int_equal(dhp_arrival_register(ctx, "t", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING, on_arrival,
                                              &s, &ar),
                         0);
        assert_int_equal(dhp_limits_register(ctx, "t", 0, on_limits, &s, &reg), 0);
        wait_limits(ctx, &s, 1);
        assert_string_equal(s.log, "+cpu0(e) +cpu1(e) +cpu2(e) +cpu3(e) L1:3f ");
        assert_int_equal(s.changed, DHP_LIMITS_CPUS | DHP_LIMITS_BANDWIDTH | DHP_LIMITS_POOL_SIZE |
                                            DHP_LIMITS_MEMORY_MAX | DHP_LIMITS_MEMORY_HIGH | DHP_LIMITS_POPULATED);
        assert_string_equal(s.cpus, "0-3");
        assert_int_equal(s.pool, 2); /* 1.5 CPUs: Go's rule, ceil and at least 2 */
        assert_int_equal(s.memory_max, GIB);

        assert_int_equal(dhp_limits_get(ctx, &l), 0);
        dhp_limits_get_cpu_max(l, &quota, &period);
        assert_int_equal(quota, 150000);
        assert_int_equal(period, 100000);
        assert_true(dhp_limits_get_bandwidth(l) > 1.49 && dhp_limits_get_bandwidth(l) < 1.51);
        assert_int_equal(dhp_limits_get_cpu_count(l), 4);
        assert_true(dhp_limits_has_cpu(l, 3));
        assert_false(dhp_limits_has_cpu(l, 4));
        assert_int_equal(dhp_limits_get_memory_high(l), DHP_LIMITS_UNLIMITED);
        assert_int_equal(dhp_limits_get_memory_current(l), 100 * MIB);
        assert_true(dhp_limits_is_populated(l));
        dhp_limits_free(l);
        assert_int_equal(dhp_proc_count(ctx, &count), 0);
        assert_int_equal(count, 4);

        dhp_limits_unregister(reg);
        dhp_arrival_unregister(ar);
        dhp_close(ctx);
}

/* A runtime's in-place resize, one file at a time, also on the parent:
 * every change once, in order, with the processor events first. */
static void test_resize(void **state) {
        struct fake_sysfs *f = *state;
        struct seen s = { "" };
        dhp_limits_reg *reg;
        dhp_arrival_reg *ar;
        dhp *ctx = open_target(f, "");

        assert_int_equal(dhp_arrival_register(ctx, "t", DHP_CLASS_PROCESSOR, 0, on_arrival, &s, &ar), 0);
        assert_int_equal(dhp_limits_register(ctx, "t", 0, on_limits, &s, &reg), 0);
        wait_limits(ctx, &s, 1);

        change(f, LEAF "/cpu.max", "250000 100000\n");
        wait_limits(ctx, &s, 2);
        assert_int_equal(s.seq, 2);
        assert_int_equal(s.changed, DHP_LIMITS_BANDWIDTH | DHP_LIMITS_POOL_SIZE);
        assert_int_equal(s.pool, 3);

        change(f, LEAF "/cpuset.cpus.effective", "0-5\n");
        wait_limits(ctx, &s, 3);
        assert_int_equal(s.changed, DHP_LIMITS_CPUS);
        assert_string_equal(s.cpus, "0-5");

        /* The parent's bandwidth becomes the tightest. */
        change(f, POD "/cpu.max", "100000 100000\n");
        wait_limits(ctx, &s, 4);
        assert_int_equal(s.changed, DHP_LIMITS_BANDWIDTH | DHP_LIMITS_POOL_SIZE);
        assert_int_equal(s.pool, 2);

        change(f, LEAF "/cpuset.cpus.effective", "0-1\n");
        wait_limits(ctx, &s, 5);
        assert_int_equal(s.changed, DHP_LIMITS_CPUS);

        change(f, LEAF "/memory.max", "536870912\n");
        wait_limits(ctx, &s, 6);
        assert_int_equal(s.changed, DHP_LIMITS_MEMORY_MAX);
        assert_int_equal(s.memory_max, 512 * MIB);

        assert_string_equal(s.log, "L1:3f L2:6 +cpu4 +cpu5 L3:1 L4:6 -cpu2 -cpu3 -cpu4 -cpu5 L5:1 L6:8 ");
        dhp_limits_unregister(reg);
        dhp_arrival_unregister(ar);
        dhp_close(ctx);
}

/* Memory conditions against the cgroup's limit; thresholds follow it. */
static void test_memcond(void **state) {
        struct fake_sysfs *f = *state;
        struct seen s = { "" };
        dhp_limits_reg *reg;
        dhp_memcond *low, *high;
        uint64_t v;
        dhp *ctx = open_target(f, "");

        assert_int_equal(dhp_limits_register(ctx, "t", 0, on_limits, &s, &reg), 0);
        wait_limits(ctx, &s, 1);
        /* 1 GiB: low = 1 GiB / 32 = 32 MiB, high = 96 MiB. */
        assert_int_equal(dhp_memcond_get_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, &v), 0);
        assert_int_equal(v, 32 * MIB);
        assert_int_equal(dhp_memcond_get_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, &v), 0);
        assert_int_equal(v, 96 * MIB);
        assert_int_equal(dhp_memcond_open(ctx, "HighMemoryCondition", &high), 0);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &low), 0);
        assert_true(dhp_memcond_is_set(high)); /* 924 MiB left */
        assert_false(dhp_memcond_is_set(low));

        /* Usage near the limit: seen at the next re-read (50 ms). */
        change(f, LEAF "/memory.current", "1060000000\n");
        assert_int_equal(dhp_memcond_wait(low, 5000), 1);
        assert_false(dhp_memcond_is_set(high));

        /* The limit halves: the thresholds follow (512 MiB / 32). */
        change(f, LEAF "/memory.current", "104857600\n");
        change(f, LEAF "/memory.max", "536870912\n");
        wait_limits(ctx, &s, 2);
        assert_int_equal(dhp_memcond_get_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, &v), 0);
        assert_int_equal(v, 16 * MIB);
        /* A threshold that does not fit is refused, with a message. */
        {
                char *err = NULL;
                assert_int_equal(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, 1 * MIB, &err), -EINVAL);
                assert_non_null(err);
                free(err);
        }
        assert_int_equal(dhp_memcond_get_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, &v), 0);
        assert_int_equal(v, 16 * MIB);
        /* An application's threshold stays. */
        assert_int_equal(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, 20 * MIB, NULL), 0);
        change(f, LEAF "/memory.max", "1073741824\n");
        wait_limits(ctx, &s, 3);
        assert_int_equal(dhp_memcond_get_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, &v), 0);
        assert_int_equal(v, 20 * MIB);

        dhp_memcond_close(low);
        dhp_memcond_close(high);
        dhp_limits_unregister(reg);
        dhp_close(ctx);
}

static void nop_proc(void *userdata, const dhp_proc_change *change) {
}

/* What the target refuses, and the limits API on a target without limits. */
static void test_refused(void **state) {
        struct fake_sysfs *f = *state;
        dhp_proc_reg *preg;
        dhp_limits_reg *reg;
        dhp_memcond *ev;
        char *err = NULL;
        uint64_t v;
        dhp_limits *l;
        dhp *ctx = open_target(f, ",psi=no");
        dhp *sim;

        assert_int_equal(dhp_proc_register(ctx, "t", 0, nop_proc, NULL, &preg), -EOPNOTSUPP);
        assert_int_equal(dhp_memcond_open(ctx, "LowCommitCondition", &ev), -EOPNOTSUPP);
        assert_int_equal(dhp_memcond_open(ctx, "HighCommitCondition", &ev), -EOPNOTSUPP);
        assert_int_equal(dhp_memcond_open(ctx, "MaximumCommitCondition", &ev), -EOPNOTSUPP);
        assert_int_equal(dhp_memcond_open(ctx, "NoSuchCondition", &ev), -ENOENT);
        assert_int_equal(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_HIGH_COMMIT, 80, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err, "commit"));
        free(err);
        assert_int_equal(dhp_memcond_get_threshold(ctx, DHP_MEMCOND_LOW_COMMIT, &v), -EOPNOTSUPP);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), -EOPNOTSUPP);
        assert_int_equal(dhp_reconnect(ctx), -EOPNOTSUPP);
        assert_int_equal(dhp_limits_register(ctx, "t", 1u << 5, on_limits, NULL, &reg), -EINVAL);
        assert_int_equal(dhp_limits_register(ctx, "t", 0, NULL, NULL, &reg), -EINVAL);
        dhp_close(ctx);

        assert_int_equal(dhp_open(&sim, "sim"), 0);
        assert_int_equal(dhp_limits_register(sim, "t", 0, on_limits, NULL, &reg), -EOPNOTSUPP);
        assert_int_equal(dhp_limits_get(sim, &l), -EOPNOTSUPP);
        dhp_close(sim);
        assert_int_equal(dhp_limits_get(NULL, &l), -EINVAL);
        /* A child after fork(): the parent's context refuses, its close
         * only closes the child's descriptors. */
        ctx = open_target(f, "");
        {
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        int ok = dhp_process(ctx) == -ECHILD && dhp_limits_get(ctx, &l) == -ECHILD;
                        dhp_close(ctx);
                        _exit(ok ? 0 : 1);
                }
                int st;
                assert_int_equal(waitpid(pid, &st, 0), pid);
                assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        assert_int_equal(dhp_limits_get(ctx, &l), 0);
        dhp_limits_free(l);
        dhp_close(ctx);
        dhp_limits_unregister(NULL);
        dhp_limits_free(NULL);
}

/* Unregistering from inside the callback: no call after it. */
static void test_unregister_in_callback(void **state) {
        struct fake_sysfs *f = *state;
        struct seen a = { "" }, b = { "" };
        dhp_limits_reg *ra, *rb;
        dhp *ctx = open_target(f, "");

        assert_int_equal(dhp_limits_register(ctx, "a", 0, on_limits, &a, &ra), 0);
        a.self_unregister = ra;
        assert_int_equal(dhp_limits_register(ctx, "b", 0, on_limits, &b, &rb), 0);
        wait_limits(ctx, &b, 1);
        change(f, LEAF "/memory.max", "536870912\n");
        wait_limits(ctx, &b, 2);
        assert_int_equal(a.nlimits, 1);
        dhp_limits_unregister(rb);
        dhp_close(ctx);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

/* The cgroup removed while watched: REMOVAL of every CPU, a last limits
 * change flagged removed, then -ENODEV, never a silent stop. */
static void test_removed(void **state) {
        struct fake_sysfs *f = *state;
        struct seen s = { "" };
        dhp_limits_reg *reg;
        dhp_arrival_reg *ar;
        char p[512], gone[512];
        int r = 0;
        dhp *ctx = open_target(f, "");

        assert_int_equal(dhp_arrival_register(ctx, "t", DHP_CLASS_PROCESSOR, 0, on_arrival, &s, &ar), 0);
        assert_int_equal(dhp_limits_register(ctx, "t", 0, on_limits, &s, &reg), 0);
        wait_limits(ctx, &s, 1);
        /* Away in one step, as rmdir takes a real cgroup's files at once;
         * removing the fake files one by one would show a cgroup without
         * its cpuset (the parent's CPUs) for a moment. */
        assert_int_equal(fake_sysfs_path(f, LEAF, p, sizeof(p)), 0);
        assert_int_equal(fake_sysfs_path(f, "gone", gone, sizeof(gone)), 0);
        assert_int_equal(rename(p, gone), 0);
        assert_int_equal(nftw(gone, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        for (uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC; r != -ENODEV && time_now_ns() < end;) {
                (void)dhp_wait(ctx, 50);
                r = dhp_process(ctx);
        }
        assert_int_equal(r, -ENODEV);
        assert_string_equal(s.log, "L1:3f -cpu0 -cpu1 -cpu2 -cpu3 L2:40 ");
        assert_int_equal(s.changed, DHP_LIMITS_REMOVED);
        assert_int_equal(dhp_process(ctx), -ENODEV);
        assert_int_equal(dhp_wait(ctx, 0), 1); /* stays readable */
        dhp_limits_unregister(reg);
        dhp_arrival_unregister(ar);
        dhp_close(ctx);
}

static void expect_open_error(struct fake_sysfs *f, const char *opts, int err, const char *words) {
        char target[512], msg[512] = "";
        dhp *ctx = NULL;

        snprintf(target, sizeof(target), "cgroup:root=%s%s", f->root, opts);
        assert_int_equal(dhp_internal_open(&ctx, target, msg, sizeof(msg)), err);
        assert_null(ctx);
        if (words && !strstr(msg, words))
                fail_msg("'%s': message '%s' lacks '%s'", opts, msg, words);
}

static void test_bad_input(void **state) {
        struct fake_sysfs *f = *state;

        expect_open_error(f, ",interval=1us", -EINVAL, "interval");
        expect_open_error(f, ",bogus=1", -EINVAL, "bogus");
        expect_open_error(f, ",require=gpu", -EINVAL, "require");
        expect_open_error(f, ",a,b", -EINVAL, NULL);
        /* Not a cgroup, no such cgroup, a missing controller. */
        assert_int_equal(fake_sysfs_mkdir(f, "sys/fs/cgroup/plain"), 0);
        assert_int_equal(fake_sysfs_mkdir(f, "srv"), 0);
        expect_open_error(f, ",/srv", -ENOTDIR, "cgroup");
        expect_open_error(f, ",nosuch", -ENOENT, NULL);
        put(f, "sys/fs/cgroup/bare/cgroup.controllers", "\n");
        expect_open_error(f, ",bare,require=cpu", -ENOENT, "cpu.max");
        /* cgroup v1 only, and hybrid mode (this build machine's). */
        put(f, "proc/self/cgroup", "4:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice\n");
        expect_open_error(f, "", -EOPNOTSUPP, "v1");
        /* Through the public API: dhp_strerror() has the same reason. */
        {
                char target[512];
                dhp *ctx = NULL;
                snprintf(target, sizeof(target), "cgroup:root=%s", f->root);
                assert_int_equal(dhp_open(&ctx, target), -EOPNOTSUPP);
                assert_non_null(strstr(dhp_strerror(-EOPNOTSUPP), "v1"));
        }
        put(f, "proc/self/cgroup", "4:memory:/x\n1:name=systemd:/\n0::/\n");
        put(f, "sys/fs/cgroup/cgroup.controllers", "\n");
        expect_open_error(f, "", -EOPNOTSUPP, "hybrid");
        /* Malformed content. */
        put(f, "proc/self/cgroup", "0::/kube.slice/pod1/ctr\n");
        put(f, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu memory\n");
        put(f, LEAF "/cpu.max", "fifty 100000\n");
        expect_open_error(f, "", -EINVAL, "cpu.max");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_initial, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memcond, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unregister_in_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_removed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
