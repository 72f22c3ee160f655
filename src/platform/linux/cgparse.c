/* SPDX-License-Identifier: MIT */
/*
 * The parsers of cgpart.h: the formats of cgroup v2 files, of
 * /proc/self/cgroup and of /proc/self/mountinfo.  Strict: what the kernel
 * writes is accepted, anything else is refused with the byte it stopped at.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "platform/linux/cgpart.h"

int cgpart_fail(struct cgpart_err *e, int r, const char *fmt, ...) {
        va_list ap;

        if (e) {
                va_start(ap, fmt);
                vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
                va_end(ap);
        }
        return r;
}

/* A decimal u64 at *p, no sign, no leading zeros beyond "0"; advances *p. */
static int parse_dec(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
                return -EINVAL;
        for (; *s >= '0' && *s <= '9'; s++) {
                unsigned d = (unsigned)(*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

/* "max" (CGPART_UNLIMITED, returns 1) or a decimal u64 (returns 0) at *p;
 * advances *p. */
static int parse_max_or_dec(const char **p, uint64_t *ret) {
        if (strncmp(*p, "max", 3) == 0) {
                *p += 3;
                *ret = CGPART_UNLIMITED;
                return 1;
        }
        return parse_dec(p, ret);
}

/* The end of the content: nothing, or exactly one newline. */
static bool at_end(const char *p) {
        return p[0] == 0 || (p[0] == '\n' && p[1] == 0);
}

int cgpart_parse_cpu_max(const char *s, uint64_t *ret_quota, uint64_t *ret_period, struct cgpart_err *e) {
        const char *p = s;
        uint64_t quota, period;
        int r;

        r = parse_max_or_dec(&p, &quota);
        if (r < 0)
                return cgpart_fail(e, r, "cpu.max: byte %zu: expected 'max' or a quota in microseconds", (size_t)(p - s));
        if (r == 0 && quota < CGPART_QUOTA_MIN_US)
                return cgpart_fail(e, -ERANGE, "cpu.max: quota %llu us below the kernel's minimum %llu",
                                   (unsigned long long)quota, CGPART_QUOTA_MIN_US);
        if (*p != ' ')
                return cgpart_fail(e, -EINVAL, "cpu.max: byte %zu: expected a space before the period", (size_t)(p - s));
        p++;
        r = parse_dec(&p, &period);
        if (r < 0)
                return cgpart_fail(e, r, "cpu.max: byte %zu: expected a period in microseconds", (size_t)(p - s));
        if (period < CGPART_PERIOD_MIN_US || period > CGPART_PERIOD_MAX_US)
                return cgpart_fail(e, -ERANGE, "cpu.max: period %llu us outside the kernel's %llu..%llu",
                                   (unsigned long long)period, CGPART_PERIOD_MIN_US, CGPART_PERIOD_MAX_US);
        if (!at_end(p))
                return cgpart_fail(e, -EINVAL, "cpu.max: byte %zu: unexpected content after the period", (size_t)(p - s));
        *ret_quota = quota;
        *ret_period = period;
        return 0;
}

int cgpart_parse_memory(const char *s, uint64_t *ret, struct cgpart_err *e) {
        const char *p = s;
        uint64_t v;
        int r;

        r = parse_max_or_dec(&p, &v);
        if (r < 0)
                return cgpart_fail(e, r, "byte %zu: expected 'max' or a byte count", (size_t)(p - s));
        /* The kernel prints at most PAGE_COUNTER_MAX pages in bytes, far
         * below this: UINT64_MAX is our "max". */
        if (r == 0 && v == CGPART_UNLIMITED)
                return cgpart_fail(e, -ERANGE, "byte count %llu out of range", (unsigned long long)v);
        if (!at_end(p))
                return cgpart_fail(e, -EINVAL, "byte %zu: unexpected content after the value", (size_t)(p - s));
        *ret = v;
        return 0;
}

int cgpart_parse_cpus(const char *s, struct cpuset *ret, struct cgpart_err *e) {
        struct cpuset set = CPUSET_INIT;
        int r;

        r = cpuset_parse(&set, s);
        if (r < 0) {
                size_t n = strcspn(s, "\n");
                return cgpart_fail(e, r, "malformed CPU list '%.*s'%s", n > 64 ? 64 : (int)n, s,
                                   r == -ERANGE ? " (CPU index too large)" : "");
        }
        cpuset_deinit(ret);
        *ret = set;
        return 0;
}

int cgpart_parse_events(const char *s, bool *ret_populated, struct cgpart_err *e) {
        const char *p = s;
        int populated = -1;
        unsigned line = 1;

        while (*p) {
                size_t n = strcspn(p, "\n");
                const char *sp = memchr(p, ' ', n);
                const char *q;
                uint64_t v;

                if (!sp || sp == p)
                        return cgpart_fail(e, -EINVAL, "cgroup.events: line %u: expected 'key value'", line);
                q = sp + 1;
                if (parse_dec(&q, &v) < 0 || q != p + n)
                        return cgpart_fail(e, -EINVAL, "cgroup.events: line %u: expected a number after the key", line);
                if ((size_t)(sp - p) == strlen("populated") && strncmp(p, "populated", 9) == 0) {
                        if (v > 1)
                                return cgpart_fail(e, -EINVAL, "cgroup.events: line %u: populated is not 0 or 1", line);
                        populated = (int)v;
                }
                p += n;
                if (*p == '\n')
                        p++;
                line++;
        }
        if (populated < 0)
                return cgpart_fail(e, -EINVAL, "cgroup.events: no 'populated' line");
        *ret_populated = populated == 1;
        return 0;
}

int cgpart_parse_proc_cgroup(const char *s, char *path, size_t size, struct cgpart_err *e) {
        const char *p = s;
        unsigned line = 1;
        bool v1 = false;

        while (*p) {
                size_t n = strcspn(p, "\n");
                const char *c1 = memchr(p, ':', n);
                const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - p)) : NULL;

                if (!c1 || !c2)
                        return cgpart_fail(e, -EINVAL, "/proc/self/cgroup: line %u: expected 'id:controllers:path'", line);
                if (c1 - p == 1 && p[0] == '0' && c2 == c1 + 1) {
                        size_t len = n - (size_t)(c2 + 1 - p);
                        if (len == 0 || c2[1] != '/')
                                return cgpart_fail(e, -EINVAL, "/proc/self/cgroup: line %u: the path is not absolute", line);
                        if (len >= size)
                                return cgpart_fail(e, -ENAMETOOLONG, "/proc/self/cgroup: line %u: path too long", line);
                        memcpy(path, c2 + 1, len);
                        path[len] = 0;
                        return 0;
                }
                v1 = true;
                p += n;
                if (*p == '\n')
                        p++;
                line++;
        }
        if (v1)
                return cgpart_fail(e, -EOPNOTSUPP, "/proc/self/cgroup: only cgroup v1 hierarchies, no '0::' line "
                                   "(the cgroup target needs the unified cgroup v2 hierarchy)");
        return cgpart_fail(e, -EINVAL, "/proc/self/cgroup: empty");
}

/* Copy a mountinfo field of n bytes, undoing the kernel's \ooo escapes. */
static int unescape(const char *f, size_t n, char *buf, size_t size) {
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                char c = f[i];
                if (c == '\\' && i + 3 < n && f[i + 1] >= '0' && f[i + 1] <= '3' &&
                    f[i + 2] >= '0' && f[i + 2] <= '7' && f[i + 3] >= '0' && f[i + 3] <= '7') {
                        c = (char)(((f[i + 1] - '0') << 6) | ((f[i + 2] - '0') << 3) | (f[i + 3] - '0'));
                        i += 3;
                }
                if (c == 0 || o + 1 >= size)
                        return c == 0 ? -EINVAL : -ENAMETOOLONG;
                buf[o++] = c;
        }
        buf[o] = 0;
        return 0;
}

/* The i-th space-separated field of [p, p+n): sets *f and *len. */
static bool field(const char *p, size_t n, unsigned i, const char **f, size_t *len) {
        size_t at = 0;

        for (unsigned k = 0;; k++) {
                size_t start = at;
                while (at < n && p[at] != ' ')
                        at++;
                if (k == i) {
                        *f = p + start;
                        *len = at - start;
                        return at > start;
                }
                if (at >= n)
                        return false;
                at++;
        }
}

int cgpart_parse_mountinfo(const char *s, char *mnt, size_t mnt_size, char *root, size_t root_size,
                           struct cgpart_err *e) {
        const char *p = s;
        unsigned line = 1;
        bool v1 = false;

        while (*p) {
                size_t n = strcspn(p, "\n");
                const char *sep = NULL, *f, *fr, *fm;
                size_t len, lr, lm;

                /* "... - fstype source opts": the separator field is " - ". */
                for (size_t i = 0; i + 2 < n; i++)
                        if (p[i] == ' ' && p[i + 1] == '-' && p[i + 2] == ' ') {
                                sep = p + i + 3;
                                break;
                        }
                if (!sep || !field(p, n, 3, &fr, &lr) || !field(p, n, 4, &fm, &lm) ||
                    fm >= sep || fr >= sep)
                        return cgpart_fail(e, -EINVAL, "/proc/self/mountinfo: line %u: malformed", line);
                if (field(sep, n - (size_t)(sep - p), 0, &f, &len)) {
                        if (len == 7 && memcmp(f, "cgroup2", 7) == 0) {
                                if (unescape(fm, lm, mnt, mnt_size) < 0 || unescape(fr, lr, root, root_size) < 0)
                                        return cgpart_fail(e, -ENAMETOOLONG,
                                                           "/proc/self/mountinfo: line %u: bad or long path", line);
                                if (mnt[0] != '/' || root[0] != '/')
                                        return cgpart_fail(e, -EINVAL,
                                                           "/proc/self/mountinfo: line %u: path not absolute", line);
                                return 0;
                        }
                        if (len == 6 && memcmp(f, "cgroup", 6) == 0)
                                v1 = true;
                }
                p += n;
                if (*p == '\n')
                        p++;
                line++;
        }
        if (v1)
                return cgpart_fail(e, -EOPNOTSUPP, "/proc/self/mountinfo: only cgroup v1 is mounted, no cgroup2");
        return cgpart_fail(e, -ENOENT, "/proc/self/mountinfo: no cgroup2 mount");
}
