/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "platform/linux/meminfo.h"
#include "platform/linux/sysfs.h"
#include "util/macro.h"

#define PSI_WINDOW_MIN_US 500000ULL
#define PSI_WINDOW_MAX_US 10000000ULL

static const struct {
        const char *key;
        size_t offset;
} wanted[] = {
        { "MemTotal", offsetof(struct meminfo, total) },
        { "MemAvailable", offsetof(struct meminfo, available) },
        { "CommitLimit", offsetof(struct meminfo, commit_limit) },
        { "Committed_AS", offsetof(struct meminfo, committed_as) },
};

/* One line without its newline: "Key:   123 kB". */
static int parse_line(const char *p, size_t n, const char **ret_colon, uint64_t *ret_bytes) {
        const char *end = p + n, *colon = memchr(p, ':', n);
        uint64_t v = 0;
        bool digits = false;

        if (!colon || colon == p)
                return -EBADMSG;
        for (const char *k = p; k < colon; k++)
                if (*k == ' ' || *k == '\t')
                        return -EBADMSG;
        p = colon + 1;
        if (p >= end || *p != ' ')
                return -EBADMSG;
        while (p < end && *p == ' ')
                p++;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned)(*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
                digits = true;
        }
        if (!digits)
                return -EBADMSG;
        if (p < end) {
                if ((size_t)(end - p) != 3 || memcmp(p, " kB", 3) != 0)
                        return -EBADMSG;
                if (v > UINT64_MAX / 1024)
                        return -ERANGE;
                v *= 1024;
        }
        *ret_colon = colon;
        *ret_bytes = v;
        return 0;
}

int meminfo_parse(const char *text, size_t len, struct meminfo *ret) {
        struct meminfo m = { 0 };
        unsigned seen = 0;
        const char *p = text, *end = text + len;

        if (len == 0 || text[len - 1] != '\n')
                return -EBADMSG;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *colon;
                size_t klen;
                uint64_t v;
                int r;

                r = parse_line(p, (size_t)(nl - p), &colon, &v);
                if (r < 0)
                        return r;
                klen = (size_t)(colon - p);
                for (size_t i = 0; i < ELEMENTSOF(wanted); i++) {
                        if (strlen(wanted[i].key) != klen || memcmp(wanted[i].key, p, klen) != 0)
                                continue;
                        if (seen & (1u << i))
                                return -EBADMSG;
                        seen |= 1u << i;
                        *(uint64_t *)((char *)&m + wanted[i].offset) = v;
                }
                p = nl + 1;
        }
        if (seen != (1u << ELEMENTSOF(wanted)) - 1)
                return -ENODATA;
        *ret = m;
        return 0;
}

int meminfo_read(const char *root, struct meminfo *ret) {
        char buf[MEMINFO_FILE_MAX];
        size_t len;
        int r;

        r = sysfs_read(root, "/proc/meminfo", buf, sizeof(buf), &len);
        if (r < 0)
                return r;
        /* sysfs_read() strips the final newline; the parser wants it. */
        buf[len++] = '\n';
        return meminfo_parse(buf, len, ret);
}

int meminfo_psi_open(const char *root, bool full, uint64_t stall_us, uint64_t window_us, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        char path[4096], trig[64];
        ssize_t n;
        int r, len;

        if (window_us < PSI_WINDOW_MIN_US || window_us > PSI_WINDOW_MAX_US || stall_us == 0 || stall_us > window_us)
                return -EINVAL;
        r = sysfs_path(path, sizeof(path), root, "/proc/pressure/memory");
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT || errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
        len = snprintf(trig, sizeof(trig), "%s %llu %llu", full ? "full" : "some", (unsigned long long)stall_us,
                       (unsigned long long)window_us);
        /* The kernel expects the terminating NUL to be written too. */
        n = write(fd, trig, (size_t)len + 1);
        if (n < 0)
                return errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
        if (n != len + 1)
                return -EIO;
        *ret_fd = TAKE_FD(fd);
        return 0;
}
