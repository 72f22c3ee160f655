/* SPDX-License-Identifier: MIT */
/*
 * The cgroup v2 parsers of src/platform/linux/cgpart.h, and cgpart_read()
 * over a fake cgroup tree made from the input.
 *
 * The first byte picks the mode, the rest is the input:
 *   0 cpu.max, 1 memory value, 2 cpu list, 3 cgroup.events,
 *   4 /proc/self/cgroup, 5 /proc/self/mountinfo: one parser, whose success
 *     must give a value that survives formatting and parsing again, and
 *     whose failure must say why and leave the outputs alone;
 *   6 a tree: pieces separated by FUZZ_SEP, in order /proc/self/cgroup,
 *     /proc/self/mountinfo, then the cgroup's cpu.max, memory.max,
 *     memory.high, memory.current, cpuset.cpus.effective, cgroup.events and
 *     its parent's cpu.max, memory.max; cgpart_init() and cgpart_read()
 *     must fail cleanly or give a consistent snapshot.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "platform/linux/cgpart.h"
#include "util/strbuf.h"

enum { M_CPU_MAX, M_MEMORY, M_CPUS, M_EVENTS, M_PROC_CGROUP, M_MOUNTINFO, M_TREE, M_MAX };

static char root[64];

static void cleanup(void) {
        fuzz_rm_tree(root);
}

static void put(const char *rel, const void *data, size_t len) {
        char abs[512];
        int fd;

        snprintf(abs, sizeof(abs), "%s/%s", root, rel);
        fd = open(abs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                abort();
        if (len)
                (void)!write(fd, data, len);
        close(fd);
}

static void make_tree(void) {
        static const char *const dirs[] = { "proc", "proc/self", "sys", "sys/fs", "sys/fs/cgroup",
                                            "sys/fs/cgroup/a", "sys/fs/cgroup/a/b" };
        char abs[512];

        fuzz_mkdtemp(root, sizeof(root), "cgroup", cleanup);
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                snprintf(abs, sizeof(abs), "%s/%s", root, dirs[i]);
                if (mkdir(abs, 0755) < 0 && errno != EEXIST)
                        abort();
        }
        put("sys/fs/cgroup/cgroup.controllers", "cpu\n", 4);
        put("sys/fs/cgroup/a/cgroup.controllers", "cpu\n", 4);
        put("sys/fs/cgroup/a/b/cgroup.controllers", "cpu\n", 4);
}

static void fuzz_tree(const uint8_t *data, size_t size) {
        static const char *const files[] = {
                "proc/self/cgroup", "proc/self/mountinfo", "sys/fs/cgroup/a/b/cpu.max",
                "sys/fs/cgroup/a/b/memory.max", "sys/fs/cgroup/a/b/memory.high", "sys/fs/cgroup/a/b/memory.current",
                "sys/fs/cgroup/a/b/cpuset.cpus.effective", "sys/fs/cgroup/a/b/cgroup.events",
                "sys/fs/cgroup/a/cpu.max", "sys/fs/cgroup/a/memory.max",
        };
        const uint8_t *p = data, *end = data + size, *piece;
        struct cgpart_config cfg = { .root = root };
        struct cgpart_limits l = { 0 };
        struct cgpart_err e = { "" };
        struct cgpart cg;
        size_t i = 0, len;
        char abs[512];

        if (!root[0])
                make_tree();
        for (; i < sizeof(files) / sizeof(files[0]) && fuzz_next_piece(&p, end, &piece, &len); i++)
                put(files[i], piece, len);
        /* The files the input did not give are absent. */
        for (; i < sizeof(files) / sizeof(files[0]); i++) {
                snprintf(abs, sizeof(abs), "%s/%s", root, files[i]);
                unlink(abs);
        }
        if (cgpart_init(&cg, &cfg, &e) < 0) {
                FUZZ_CHECK(e.msg[0]);
                return;
        }
        FUZZ_CHECK(cg.depth <= CGPART_MAX_DEPTH);
        if (cgpart_read(&cg, &l, &e) == 0) {
                FUZZ_CHECK(l.ncpus == cpuset_count(&l.cpus));
                FUZZ_CHECK(l.pool_size >= 1 && l.pool_size <= (l.ncpus ? l.ncpus : 1));
                FUZZ_CHECK(l.quota_us == CGPART_UNLIMITED || (l.period_us >= CGPART_PERIOD_MIN_US &&
                                                               l.period_us <= CGPART_PERIOD_MAX_US));
                FUZZ_CHECK(cgpart_limits_diff(&l, &l) == 0);
        } else {
                FUZZ_CHECK(e.msg[0]);
        }
        cgpart_limits_deinit(&l);
        cgpart_deinit(&cg);
}

static void check_cpu_max(const char *s) {
        struct cgpart_err e = { "" };
        uint64_t q = 7, p = 7, q2, p2;
        char buf[64];

        if (cgpart_parse_cpu_max(s, &q, &p, &e) < 0) {
                FUZZ_CHECK(e.msg[0] && q == 7 && p == 7);
                return;
        }
        if (q == CGPART_UNLIMITED)
                snprintf(buf, sizeof(buf), "max %" PRIu64, p);
        else
                snprintf(buf, sizeof(buf), "%" PRIu64 " %" PRIu64, q, p);
        FUZZ_CHECK(cgpart_parse_cpu_max(buf, &q2, &p2, NULL) == 0 && q2 == q && p2 == p);
        FUZZ_CHECK(cgpart_pool_size(8, q, p) >= 1 && cgpart_pool_size(8, q, p) <= 8);
}

static void check_memory(const char *s) {
        struct cgpart_err e = { "" };
        uint64_t v = 7, w;
        char buf[32];

        if (cgpart_parse_memory(s, &v, &e) < 0) {
                FUZZ_CHECK(e.msg[0] && v == 7);
                return;
        }
        if (v == CGPART_UNLIMITED)
                snprintf(buf, sizeof(buf), "max");
        else
                snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
        FUZZ_CHECK(cgpart_parse_memory(buf, &w, NULL) == 0 && w == v);
}

static void check_cpus(const char *s) {
        struct cgpart_err e = { "" };
        struct cpuset a = CPUSET_INIT, b = CPUSET_INIT;
        struct strbuf sb = STRBUF_INIT;

        if (cgpart_parse_cpus(s, &a, &e) < 0) {
                FUZZ_CHECK(e.msg[0] && a.bits == NULL);
                return;
        }
        FUZZ_CHECK(cpuset_format(&a, &sb) >= 0);
        FUZZ_CHECK(cgpart_parse_cpus(strbuf_str(&sb), &b, NULL) == 0 && cpuset_equal(&a, &b));
        strbuf_deinit(&sb);
        cpuset_deinit(&a);
        cpuset_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct cgpart_err e = { "" };
        char a[4096], b[4096];
        bool pop;
        char *s;
        int r;

        if (size == 0)
                return 0;
        if (data[0] % M_MAX == M_TREE) {
                fuzz_tree(data + 1, size - 1);
                return 0;
        }
        s = fuzz_strndup(data + 1, size - 1);
        switch (data[0] % M_MAX) {
        case M_CPU_MAX:
                check_cpu_max(s);
                break;
        case M_MEMORY:
                check_memory(s);
                break;
        case M_CPUS:
                check_cpus(s);
                break;
        case M_EVENTS:
                r = cgpart_parse_events(s, &pop, &e);
                FUZZ_CHECK(r == 0 || (r == -EINVAL && e.msg[0]));
                break;
        case M_PROC_CGROUP:
                r = cgpart_parse_proc_cgroup(s, a, sizeof(a), &e);
                FUZZ_CHECK(r < 0 ? e.msg[0] != 0 : a[0] == '/' && strlen(a) < sizeof(a));
                break;
        case M_MOUNTINFO:
                r = cgpart_parse_mountinfo(s, a, sizeof(a), b, sizeof(b), &e);
                FUZZ_CHECK(r < 0 ? e.msg[0] != 0 : a[0] == '/' && b[0] == '/');
                break;
        }
        free(s);
        return 0;
}
