/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "platform/linux/sysfs.h"
#include "util/macro.h"
#include "util/parse.h"

int sysfs_path(char *buf, size_t size, const char *root, const char *path) {
        int n = snprintf(buf, size, "%s%s", root ? root : "", path);

        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}

int sysfs_pathf(char *buf, size_t size, const char *root, const char *fmt, ...) {
        size_t rl = root ? strlen(root) : 0;
        va_list ap;
        int n;

        if (rl >= size)
                return -ENAMETOOLONG;
        memcpy(buf, root ? root : "", rl);
        va_start(ap, fmt);
        n = vsnprintf(buf + rl, size - rl, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= size - rl)
                return -ENAMETOOLONG;
        return 0;
}

static int read_fd(int fd, char *buf, size_t size, size_t *ret_len) {
        size_t len = 0;

        if (size < 2)
                return -EINVAL;
        /* Read until EOF: one byte more than fits tells us it was too big. */
        for (;;) {
                ssize_t n = read(fd, buf + len, size - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len >= size)
                        return -EFBIG;
        }
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        buf[len] = 0;
        *ret_len = len;
        return 0;
}

int sysfs_read_at(int dirfd, const char *relpath, char *buf, size_t size, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        size_t len = 0;
        int r;

        fd = openat(dirfd, relpath, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        r = read_fd(fd, buf, size, &len);
        if (r < 0)
                return r;
        if (ret_len)
                *ret_len = len;
        return 0;
}

int sysfs_read(const char *root, const char *path, char *buf, size_t size, size_t *ret_len) {
        char p[4096];
        int r = sysfs_path(p, sizeof(p), root, path);

        if (r < 0)
                return r;
        return sysfs_read_at(AT_FDCWD, p, buf, size, ret_len);
}

/* A small attribute holding one number, parsed by `parse`. */
static int read_number(const char *root, const char *path, int (*parse)(const char *, uint64_t *), uint64_t *ret) {
        char buf[64];
        uint64_t v;
        int r;

        r = sysfs_read(root, path, buf, sizeof(buf), NULL);
        if (r < 0)
                return r;
        r = parse(buf, &v);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int sysfs_read_u64(const char *root, const char *path, uint64_t *ret) {
        return read_number(root, path, parse_u64, ret);
}

int sysfs_parse_hex_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        const char *p = s;

        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
                p += 2;
        if (!*p)
                return -EINVAL;
        for (; *p; p++) {
                unsigned d;
                if (*p >= '0' && *p <= '9')
                        d = (unsigned)(*p - '0');
                else if (*p >= 'a' && *p <= 'f')
                        d = (unsigned)(*p - 'a' + 10);
                else if (*p >= 'A' && *p <= 'F')
                        d = (unsigned)(*p - 'A' + 10);
                else
                        return -EINVAL;
                if (v > (UINT64_MAX >> 4))
                        return -ERANGE;
                v = v << 4 | d;
        }
        *ret = v;
        return 0;
}

int sysfs_read_hex_u64(const char *root, const char *path, uint64_t *ret) {
        return read_number(root, path, sysfs_parse_hex_u64, ret);
}

int sysfs_read_cpuset(const char *root, const char *path, struct cpuset *ret) {
        char buf[SYSFS_VALUE_MAX];
        int r;

        r = sysfs_read(root, path, buf, sizeof(buf), NULL);
        if (r < 0)
                return r;
        return cpuset_parse(ret, buf);
}

int sysfs_write_file(void *userdata, const char *path, const char *value, size_t len) {
        _cleanup_close_ int fd = -1;
        ssize_t n;

        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        /* A sysfs store sees exactly one write; never split or retry a
         * partial one. */
        do
                n = write(fd, value, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if ((size_t)n != len)
                return -EIO;
        if (close(TAKE_FD(fd)) < 0 && errno != EINTR)
                return -errno;
        return 0;
}

static void sleep_real(void *userdata, uint64_t ns) {
        struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int sysfs_write(const struct sysfs_writer *w, const char *root, const char *path, const char *value,
                unsigned *attempts) {
        static const struct sysfs_writer defaults = { 0 };
        char p[4096];
        unsigned max, n = 0;
        uint64_t delay, budget, slept = 0;
        sysfs_write_fn fn;
        sysfs_sleep_fn sl;
        size_t len = strlen(value);
        int r;

        if (!w)
                w = &defaults;
        fn = w->write ? w->write : sysfs_write_file;
        sl = w->sleep ? w->sleep : sleep_real;
        max = w->max_attempts ? w->max_attempts : SYSFS_WRITE_ATTEMPTS_DEFAULT;
        delay = w->first_delay_ns ? w->first_delay_ns : SYSFS_WRITE_FIRST_DELAY_NS;
        budget = w->max_total_ns ? w->max_total_ns : SYSFS_WRITE_MAX_TOTAL_NS;

        r = sysfs_path(p, sizeof(p), root, path);
        if (r < 0)
                goto out;
        for (;;) {
                n++;
                r = fn(w->userdata, p, value, len);
                if (r >= 0) {
                        r = 0;
                        break;
                }
                if (r != -EBUSY && r != -EAGAIN)
                        break;
                if (n >= max || slept >= budget)
                        break;
                if (delay > budget - slept)
                        delay = budget - slept;
                log_debug(w->log, "write %s to %s: %s, retry %u in %llu us", value, p, strerror(-r), n,
                          (unsigned long long)(delay / 1000));
                sl(w->userdata, delay);
                slept += delay;
                delay *= 2;
        }
out:
        if (attempts)
                *attempts = n;
        return r;
}

const char *sysfs_write_strerror(int r) {
        switch (-r) {
        case 0:
                return "success";
        case EBUSY:
        case EAGAIN:
                return "the kernel stayed busy (another hotplug operation in progress); retries exhausted";
        case EINVAL:
                return "the kernel rejected the value";
        case EIO:
                return "the kernel failed the operation";
        case ENOENT:
                return "no such attribute (device removed, or feature not built in)";
        case EACCES:
        case EPERM:
                return "permission denied (needs root)";
        case ENAMETOOLONG:
                return "path too long";
        default:
                return strerror(-r);
        }
}
