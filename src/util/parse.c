/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/parse.h"

int parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno || end == s || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_u32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r = parse_u64(s, &v);

        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t)v;
        return 0;
}

static int split_number(const char *s, char *num, size_t numsz, const char **ret_suffix) {
        size_t n = 0;

        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                n = 2;
                while (isxdigit((unsigned char)s[n]))
                        n++;
        } else {
                while (isdigit((unsigned char)s[n]))
                        n++;
        }
        if (n == 0 || n >= numsz)
                return n == 0 ? -EINVAL : -ERANGE;
        memcpy(num, s, n);
        num[n] = 0;
        *ret_suffix = s + n;
        return 0;
}

/* A number and what follows it (its unit): "256M" -> 256, "M". */
static int parse_number_unit(const char *s, uint64_t *ret, const char **ret_unit) {
        char num[32];
        int r;

        r = split_number(s, num, sizeof(num), ret_unit);
        if (r < 0)
                return r;
        return parse_u64(num, ret);
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct { const char *sfx; unsigned shift; } units[] = {
                { "", 0 }, { "B", 0 },
                { "K", 10 }, { "KB", 10 }, { "KiB", 10 },
                { "M", 20 }, { "MB", 20 }, { "MiB", 20 },
                { "G", 30 }, { "GB", 30 }, { "GiB", 30 },
                { "T", 40 }, { "TB", 40 }, { "TiB", 40 },
        };
        const char *sfx;
        uint64_t v;
        int r;

        r = parse_number_unit(s, &v, &sfx);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcasecmp(sfx, units[i].sfx) != 0)
                        continue;
                if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
                        return -ERANGE;
                *ret = v << units[i].shift;
                return 0;
        }
        return -EINVAL;
}

int parse_duration_ns(const char *s, uint64_t *ret) {
        static const struct { const char *sfx; uint64_t mul; } units[] = {
                { "", 1000000ULL }, { "ns", 1 }, { "us", 1000ULL }, { "ms", 1000000ULL }, { "s", 1000000000ULL },
        };
        const char *sfx;
        uint64_t v;
        int r;

        r = parse_number_unit(s, &v, &sfx);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcmp(sfx, units[i].sfx) != 0)
                        continue;
                if (v > UINT64_MAX / units[i].mul)
                        return -ERANGE;
                *ret = v * units[i].mul;
                return 0;
        }
        return -EINVAL;
}

int parse_bool(const char *s, int *ret) {
        static const char *const yes[] = { "1", "yes", "true", "on" };
        static const char *const no[] = { "0", "no", "false", "off" };

        for (size_t i = 0; i < 4; i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = 1;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = 0;
                        return 0;
                }
        }
        return -EINVAL;
}

char *format_size(uint64_t bytes, char *buf, unsigned size) {
        static const char units[] = "KMGT";
        int u = -1;

        while (u < 3 && bytes >= 1024 && bytes % 1024 == 0) {
                bytes /= 1024;
                u++;
        }
        if (u < 0)
                snprintf(buf, size, "%llu", (unsigned long long)bytes);
        else
                snprintf(buf, size, "%llu%c", (unsigned long long)bytes, units[u]);
        return buf;
}
