/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "platform/linux/cgpart.h"
#include "platform/linux/sysfs.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

/* cpuset.cpus.effective of a large machine with a sparse set can exceed
 * SYSFS_VALUE_MAX: "0,2,4,...,8190" is about 20 KiB. */
#define CPULIST_MAX (64u * 1024u)

/* Prefix a parser's message with the file it came from. */
static int fail_in(struct cgpart_err *e, int r, const char *path, const struct cgpart_err *inner) {
        return cgpart_fail(e, r, "%s: %s", path, inner->msg);
}

void cgpart_limits_deinit(struct cgpart_limits *l) {
        if (!l)
                return;
        cpuset_deinit(&l->cpus);
}

int cgpart_limits_copy(struct cgpart_limits *dst, const struct cgpart_limits *src) {
        struct cpuset c = CPUSET_INIT;
        int r;

        r = cpuset_copy(&c, &src->cpus);
        if (r < 0)
                return r;
        cpuset_deinit(&dst->cpus);
        *dst = *src;
        dst->cpus = c;
        return 0;
}

double cgpart_limits_bandwidth(const struct cgpart_limits *l) {
        if (l->quota_us == CGPART_UNLIMITED || l->period_us == 0)
                return -1.0;
        return (double)l->quota_us / (double)l->period_us;
}

uint32_t cgpart_limits_diff(const struct cgpart_limits *a, const struct cgpart_limits *b) {
        uint32_t m = 0;

        if (!cpuset_equal(&a->cpus, &b->cpus))
                m |= CGPART_CHANGED_CPUS;
        if (a->quota_us != b->quota_us || a->period_us != b->period_us)
                m |= CGPART_CHANGED_BANDWIDTH;
        if (a->pool_size != b->pool_size)
                m |= CGPART_CHANGED_POOL;
        if (a->memory_max != b->memory_max)
                m |= CGPART_CHANGED_MEMORY_MAX;
        if (a->memory_high != b->memory_high)
                m |= CGPART_CHANGED_MEMORY_HIGH;
        if (a->populated != b->populated)
                m |= CGPART_CHANGED_POPULATED;
        return m;
}

uint32_t cgpart_pool_size(uint32_t ncpus, uint64_t quota_us, uint64_t period_us) {
        uint64_t limit;

        if (ncpus == 0)
                ncpus = 1;
        if (quota_us == CGPART_UNLIMITED || period_us == 0)
                return ncpus;
        /* ceil(quota/period) without overflow, then Go's floor of 2. */
        limit = quota_us / period_us + (quota_us % period_us != 0);
        if (limit < 2)
                limit = 2;
        return limit < ncpus ? (uint32_t)limit : ncpus;
}

/* ---- finding the cgroup ------------------------------------------------ */

static int read_text(const char *root, const char *path, char **ret, struct cgpart_err *e) {
        size_t size = CPULIST_MAX, len;
        char *buf = malloc(size);
        int r;

        if (!buf)
                return -ENOMEM;
        r = sysfs_read(root, path, buf, size, &len);
        if (r < 0) {
                free(buf);
                return cgpart_fail(e, r, "%s: %s", path, strerror(-r));
        }
        *ret = buf;
        return 0;
}

/* No "." or ".." component: the path stays where it claims to be. */
static bool path_clean(const char *p) {
        while (*p) {
                size_t n;
                while (*p == '/')
                        p++;
                n = strcspn(p, "/");
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p += n;
        }
        return true;
}

static int join(char *buf, size_t size, const char *a, const char *b) {
        int n;

        while (*b == '/')
                b++;
        n = snprintf(buf, size, "%s%s%s", a, *b && strcmp(a, "/") != 0 ? "/" : "", b);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        /* No trailing slash: parents are found by cutting at the last one. */
        while (n > 1 && buf[n - 1] == '/')
                buf[--n] = 0;
        return 0;
}

/* Whether the list (separated by any of sep) has the word. */
static bool has_word(const char *list, size_t n, const char *sep, const char *word) {
        size_t wl = strlen(word);

        for (size_t i = 0; i < n;) {
                size_t k = i;
                while (k < n && !strchr(sep, list[k]))
                        k++;
                if (k - i == wl && memcmp(list + i, word, wl) == 0)
                        return true;
                i = k + 1;
        }
        return false;
}

/* Hybrid mode: a controller dhp reads (cpu, cpuset, memory) is on a v1
 * hierarchy ("4:memory:/x" in /proc/self/cgroup), not on the cgroup2 one:
 * the cgroup2 files would say "no limit" while v1 enforces one. */
static int check_hybrid(const char *root, const char *mnt, const char *proc_text, struct cgpart_err *e) {
        static const char *const ctl[] = { "cpu", "cpuset", "memory" };
        char p[8192], v2[SYSFS_VALUE_MAX];
        size_t len;

        if (snprintf(p, sizeof(p), "%s/cgroup.controllers", mnt) >= (int)sizeof(p) ||
            sysfs_read(root, p, v2, sizeof(v2), &len) < 0)
                return 0;
        for (const char *l = proc_text; *l;) {
                size_t n = strcspn(l, "\n");
                const char *c1 = memchr(l, ':', n);
                const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - l)) : NULL;

                for (size_t i = 0; c2 && i < sizeof(ctl) / sizeof(ctl[0]); i++)
                        if (has_word(c1 + 1, (size_t)(c2 - c1 - 1), ",", ctl[i]) && !has_word(v2, len, " ", ctl[i]))
                                return cgpart_fail(e, -EOPNOTSUPP, "the %s controller is on a cgroup v1 hierarchy "
                                                   "(hybrid mode), not on the cgroup2 one at %s; the cgroup target "
                                                   "needs the unified hierarchy", ctl[i], mnt);
                l += n;
                if (*l == '\n')
                        l++;
        }
        return 0;
}

/* The directory of the process's own cgroup, or of a path relative to the
 * cgroup2 mount. */
static int resolve(const char *root, const char *rel, char *dir, size_t size, struct cgpart_err *e) {
        char mnt[4096], mroot[4096], self[4096];
        char *text = NULL;
        const char *sub;
        size_t n;
        int r;

        r = read_text(root, "/proc/self/mountinfo", &text, e);
        if (r < 0)
                return r;
        r = cgpart_parse_mountinfo(text, mnt, sizeof(mnt), mroot, sizeof(mroot), e);
        free(text);
        if (r < 0)
                return r;
        if (!path_clean(mnt) || !path_clean(mroot))
                return cgpart_fail(e, -EINVAL, "/proc/self/mountinfo: cgroup2 mount %s (root %s) has '.' or '..'", mnt, mroot);
        if (rel)
                return join(dir, size, mnt, rel) < 0 ? cgpart_fail(e, -ENAMETOOLONG, "%s: path too long", rel) : 0;

        r = read_text(root, "/proc/self/cgroup", &text, e);
        if (r < 0)
                return r;
        r = cgpart_parse_proc_cgroup(text, self, sizeof(self), e);
        if (r >= 0)
                r = check_hybrid(root, mnt, text, e);
        free(text);
        if (r < 0)
                return r;
        /* A cgroup outside our namespace's root shows as "/../x". */
        if (!path_clean(self))
                return cgpart_fail(e, -ENOENT, "/proc/self/cgroup: %s is outside this cgroup namespace", self);
        /* A mount of a subtree: its root is a prefix of our path. */
        sub = self;
        n = strlen(mroot);
        if (strcmp(mroot, "/") != 0) {
                if (strncmp(self, mroot, n) != 0 || (self[n] != '/' && self[n] != 0))
                        return cgpart_fail(e, -ENOENT, "cgroup %s is not under the cgroup2 mount's root %s", self, mroot);
                sub = self + n;
        }
        return join(dir, size, mnt, sub) < 0 ? cgpart_fail(e, -ENAMETOOLONG, "%s: path too long", self) : 0;
}

int cgpart_file_path(const struct cgpart *cg, const char *file, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s%s/%s", cg->root, cg->dir, file);

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static bool has_file(const char *root, const char *dir, const char *file) {
        char p[8192];
        int n = snprintf(p, sizeof(p), "%s%s/%s", root, dir, file);

        return n > 0 && (size_t)n < sizeof(p) && access(p, F_OK) == 0;
}

/* The directory must exist, be cgroup v2, and be one (cgroup.controllers is
 * in every cgroup v2 directory, the root included). */
static int check_dir(const char *root, const char *dir, struct cgpart_err *e) {
        char p[8192];
        struct statfs sfs;
        struct stat st;
        int n = snprintf(p, sizeof(p), "%s%s", root, dir);

        if (n < 0 || (size_t)n >= sizeof(p))
                return cgpart_fail(e, -ENAMETOOLONG, "%s: path too long", dir);
        if (stat(p, &st) < 0)
                return cgpart_fail(e, -errno, "%s: %s", dir, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return cgpart_fail(e, -ENOTDIR, "%s: not a directory, hence not a cgroup", dir);
        if (statfs(p, &sfs) == 0 && sfs.f_type == CGROUP_SUPER_MAGIC)
                return cgpart_fail(e, -EOPNOTSUPP, "%s: a cgroup v1 hierarchy (the cgroup target needs cgroup v2)", dir);
        if (!has_file(root, dir, "cgroup.controllers"))
                return cgpart_fail(e, -ENOTDIR, "%s: not a cgroup v2 directory (no cgroup.controllers)", dir);
        return 0;
}

static const struct {
        uint32_t bit;
        const char *name;
} files[] = {
        { CGPART_FILE_CPUSET, "cpuset.cpus.effective" },
        { CGPART_FILE_CPU_MAX, "cpu.max" },
        { CGPART_FILE_MEMORY_MAX, "memory.max" },
        { CGPART_FILE_MEMORY_HIGH, "memory.high" },
        { CGPART_FILE_MEMORY_CURRENT, "memory.current" },
        { CGPART_FILE_EVENTS, "cgroup.events" },
};

/* The ancestors: every parent directory that is a cgroup, nearest first. */
static int find_ancestors(struct cgpart *cg, struct cgpart_err *e) {
        char cur[4096];

        memcpy(cur, cg->dir, sizeof(cur));
        for (;;) {
                char *slash = strrchr(cur, '/');
                if (!slash || slash == cur)
                        return 0;
                *slash = 0;
                if (!has_file(cg->root, cur, "cgroup.controllers"))
                        return 0;
                if (cg->depth == CGPART_MAX_DEPTH)
                        return cgpart_fail(e, -ELOOP, "%s: more than %u ancestors", cg->dir, CGPART_MAX_DEPTH);
                memcpy(cg->ancestors[cg->depth++], cur, sizeof(cur));
        }
}

int cgpart_init(struct cgpart *cg, const struct cgpart_config *cfg, struct cgpart_err *e) {
        const char *root = cfg && cfg->root ? cfg->root : "";
        const char *path = cfg ? cfg->path : NULL;
        int r;

        memset(cg, 0, sizeof(*cg));
        if (strlen(root) >= sizeof(cg->root))
                return cgpart_fail(e, -ENAMETOOLONG, "root prefix too long");
        strcpy(cg->root, root);
        if (path && !path_clean(path))
                return cgpart_fail(e, -EINVAL, "%s: '.' and '..' components are refused", path);
        if (path && path[0] == '/')
                r = join(cg->dir, sizeof(cg->dir), "/", path) < 0 ? cgpart_fail(e, -ENAMETOOLONG, "path too long") : 0;
        else
                r = resolve(root, path, cg->dir, sizeof(cg->dir), e);
        if (r < 0)
                return r;
        r = check_dir(root, cg->dir, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
                if ((cfg ? cfg->require : 0) & files[i].bit && !has_file(root, cg->dir, files[i].name))
                        return cgpart_fail(e, -ENOENT, "%s: no %s (controller not enabled in the parent's "
                                           "cgroup.subtree_control?)", cg->dir, files[i].name);
        cg->ancestors = calloc(CGPART_MAX_DEPTH, sizeof(*cg->ancestors));
        if (!cg->ancestors)
                return -ENOMEM;
        r = find_ancestors(cg, e);
        if (r < 0)
                cgpart_deinit(cg);
        return r;
}

void cgpart_deinit(struct cgpart *cg) {
        if (!cg)
                return;
        free(cg->ancestors);
        cg->ancestors = NULL;
        cg->depth = 0;
}

/* ---- reading ----------------------------------------------------------- */

/* The content of dir/file: 0, 1 when absent, or an error. */
static int read_file(const struct cgpart *cg, const char *dir, const char *file, char *buf, size_t size,
                     struct cgpart_err *e) {
        char p[8192];
        size_t len;
        int r, n = snprintf(p, sizeof(p), "%s/%s", dir, file);

        if (n < 0 || (size_t)n >= sizeof(p))
                return cgpart_fail(e, -ENAMETOOLONG, "%s/%s: path too long", dir, file);
        r = sysfs_read(cg->root, p, buf, size, &len);
        /* ENODEV: kernfs answers it for a file of a removed cgroup still
         * open; ENOENT: the file or the cgroup is not there. */
        if (r == -ENOENT || r == -ENODEV)
                return 1;
        if (r < 0)
                return cgpart_fail(e, r, "%s: %s", p, strerror(-r));
        if (memchr(buf, 0, len))
                return cgpart_fail(e, -EINVAL, "%s: NUL byte in the content", p);
        return 0;
}

static int read_level(const struct cgpart *cg, const char *dir, bool leaf, struct cgpart_limits *l,
                      char *buf, struct cgpart_err *e) {
        struct cgpart_err pe;
        uint64_t q, per, v;
        int r;

        r = read_file(cg, dir, "cpu.max", buf, SYSFS_VALUE_MAX, e);
        if (r < 0)
                return r;
        if (r == 0) {
                r = cgpart_parse_cpu_max(buf, &q, &per, &pe);
                if (r < 0)
                        return fail_in(e, r, dir, &pe);
                if (leaf)
                        l->present |= CGPART_FILE_CPU_MAX;
                /* Tighter: q/per < quota/period, compared exactly. */
                if (q != CGPART_UNLIMITED &&
                    (l->quota_us == CGPART_UNLIMITED ||
                     (unsigned __int128)q * l->period_us < (unsigned __int128)l->quota_us * per)) {
                        l->quota_us = q;
                        l->period_us = per;
                }
        }
        for (int i = 0; i < 2; i++) {
                const char *f = i == 0 ? "memory.max" : "memory.high";
                uint64_t *dst = i == 0 ? &l->memory_max : &l->memory_high;

                r = read_file(cg, dir, f, buf, SYSFS_VALUE_MAX, e);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                r = cgpart_parse_memory(buf, &v, &pe);
                if (r < 0)
                        return cgpart_fail(e, r, "%s/%s: %s", dir, f, pe.msg);
                if (leaf)
                        l->present |= i == 0 ? CGPART_FILE_MEMORY_MAX : CGPART_FILE_MEMORY_HIGH;
                if (v < *dst)
                        *dst = v;
        }
        return 0;
}

/* The effective CPU set: the cgroup's own, else the nearest ancestor's
 * (without the cpuset controller a cgroup runs on its parent's set), else
 * the online CPUs. */
static int read_cpus(const struct cgpart *cg, struct cgpart_limits *l, char *big, struct cgpart_err *e) {
        struct cgpart_err pe;
        int r = 1;

        for (uint32_t i = 0; r == 1 && i <= cg->depth; i++) {
                r = read_file(cg, i == 0 ? cg->dir : cg->ancestors[i - 1], "cpuset.cpus.effective", big,
                              CPULIST_MAX, e);
                if (r == 0 && i == 0)
                        l->present |= CGPART_FILE_CPUSET;
        }
        if (r == 1)
                r = read_file(cg, "/sys/devices/system/cpu", "online", big, CPULIST_MAX, e);
        if (r < 0)
                return r;
        if (r == 1)
                return cgpart_fail(e, -ENOENT, "%s: no cpuset.cpus.effective here or above, no online CPU list", cg->dir);
        r = cgpart_parse_cpus(big, &l->cpus, &pe);
        if (r < 0)
                return cgpart_fail(e, r, "%s: cpuset.cpus.effective: %s", cg->dir, pe.msg);
        l->ncpus = cpuset_count(&l->cpus);
        return 0;
}

static int read_leaf(const struct cgpart *cg, struct cgpart_limits *l, char *buf, struct cgpart_err *e) {
        struct cgpart_err pe;
        int r;

        r = read_file(cg, cg->dir, "cgroup.events", buf, SYSFS_VALUE_MAX, e);
        if (r < 0)
                return r;
        if (r == 0) {
                r = cgpart_parse_events(buf, &l->populated, &pe);
                if (r < 0)
                        return cgpart_fail(e, r, "%s: %s", cg->dir, pe.msg);
                l->present |= CGPART_FILE_EVENTS;
        }
        r = read_file(cg, cg->dir, "memory.current", buf, SYSFS_VALUE_MAX, e);
        if (r < 0)
                return r;
        if (r == 0) {
                r = cgpart_parse_memory(buf, &l->memory_current, &pe);
                if (r == 0 && l->memory_current == CGPART_UNLIMITED)
                        r = -EINVAL;
                if (r < 0)
                        return cgpart_fail(e, r, "%s/memory.current: %s", cg->dir, r == -EINVAL ? "not a number" : pe.msg);
                l->present |= CGPART_FILE_MEMORY_CURRENT;
        }
        return 0;
}

int cgpart_read(const struct cgpart *cg, struct cgpart_limits *ret, struct cgpart_err *e) {
        struct cgpart_limits l = {
                .quota_us = CGPART_UNLIMITED,
                .memory_max = CGPART_UNLIMITED,
                .memory_high = CGPART_UNLIMITED,
                .populated = true,
        };
        char *buf = malloc(CPULIST_MAX);
        int r;

        if (!buf)
                return -ENOMEM;
        r = check_dir(cg->root, cg->dir, NULL);
        if (r == -ENOENT || r == -ENOTDIR) {
                r = cgpart_fail(e, -ENODEV, "%s: the cgroup was removed", cg->dir);
                goto out;
        }
        if (r < 0) {
                r = check_dir(cg->root, cg->dir, e);
                goto out;
        }
        r = read_leaf(cg, &l, buf, e);
        for (uint32_t i = 0; r >= 0 && i <= cg->depth; i++)
                r = read_level(cg, i == 0 ? cg->dir : cg->ancestors[i - 1], i == 0, &l, buf, e);
        if (r >= 0)
                r = read_cpus(cg, &l, buf, e);
        if (r < 0)
                goto out;
        /* Files read while the cgroup went away are "absent": only a
         * directory still there makes the snapshot valid. */
        if (check_dir(cg->root, cg->dir, NULL) < 0) {
                r = cgpart_fail(e, -ENODEV, "%s: the cgroup was removed", cg->dir);
                goto out;
        }
        l.pool_size = cgpart_pool_size(l.ncpus, l.quota_us, l.period_us);
        cpuset_deinit(&ret->cpus);
        *ret = l;
        l.cpus = (struct cpuset)CPUSET_INIT;
out:
        cpuset_deinit(&l.cpus);
        free(buf);
        return r;
}

/* ---- memory conditions ------------------------------------------------- */

int cgpart_memory_headroom(const struct cgpart_limits *l, uint64_t *ret_limit, uint64_t *ret_headroom) {
        uint64_t limit = l->memory_max < l->memory_high ? l->memory_max : l->memory_high;

        if (limit == CGPART_UNLIMITED)
                return -ENODATA;
        if (ret_limit)
                *ret_limit = limit;
        if (ret_headroom)
                *ret_headroom = l->memory_current < limit ? limit - l->memory_current : 0;
        return 0;
}

#define MIB (1024ULL * 1024ULL)

void cgpart_memory_default_thresholds(uint64_t limit, uint64_t *ret_low, uint64_t *ret_high) {
        uint64_t low = limit / 32;

        if (low < 4 * MIB)
                low = 4 * MIB;
        if (low > 64 * MIB)
                low = 64 * MIB;
        /* A tiny cgroup: keep the band inside the limit. */
        if (low > limit / 4)
                low = limit / 4;
        *ret_low = low;
        *ret_high = low * 3;
}

int cgpart_memory_condition(const struct cgpart_limits *l, uint64_t low, uint64_t high, enum cgpart_memcond *ret) {
        uint64_t limit, headroom, dlow, dhigh;
        int r = cgpart_memory_headroom(l, &limit, &headroom);

        if (r < 0)
                return r;
        cgpart_memory_default_thresholds(limit, &dlow, &dhigh);
        if (!low)
                low = dlow;
        if (!high)
                high = dhigh;
        if (headroom < low)
                *ret = CGPART_MEMCOND_LOW;
        else if (headroom > high)
                *ret = CGPART_MEMCOND_HIGH;
        else
                *ret = CGPART_MEMCOND_NONE;
        return 0;
}

int cgpart_psi_open(const struct cgpart *cg, const char *kind, uint64_t stall_us, uint64_t window_us, int *ret_fd,
                    struct cgpart_err *e) {
        char p[8192], trig[64];
        ssize_t w;
        int fd, n;

        if (!kind || (strcmp(kind, "some") != 0 && strcmp(kind, "full") != 0))
                return cgpart_fail(e, -EINVAL, "PSI trigger: kind must be 'some' or 'full'");
        /* The kernel's bounds (kernel/sched/psi.c, psi_trigger_create). */
        if (window_us < 500000 || window_us > 10000000 || stall_us == 0 || stall_us > window_us)
                return cgpart_fail(e, -EINVAL, "PSI trigger: window 500ms..10s and 0 < stall <= window");
        if (cgpart_file_path(cg, "memory.pressure", p, sizeof(p)) < 0)
                return cgpart_fail(e, -ENAMETOOLONG, "memory.pressure: path too long");
        fd = open(p, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return cgpart_fail(e, -errno, "%s/memory.pressure: %s", cg->dir, strerror(errno));
        /* One write, NUL included: the kernel parses the buffer as a
         * string. */
        n = snprintf(trig, sizeof(trig), "%s %llu %llu", kind, (unsigned long long)stall_us,
                     (unsigned long long)window_us);
        w = write(fd, trig, (size_t)n + 1);
        if (w != n + 1) {
                int r = w < 0 ? -errno : -EIO;
                close(fd);
                return cgpart_fail(e, r, "%s/memory.pressure: trigger '%s' refused: %s", cg->dir, trig, strerror(-r));
        }
        *ret_fd = fd;
        return 0;
}
