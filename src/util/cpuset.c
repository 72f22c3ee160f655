/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/cpuset.h"

void cpuset_deinit(struct cpuset *s) {
        free(s->bits);
        s->bits = NULL;
        s->nbits = 0;
}

static int cpuset_grow(struct cpuset *s, uint32_t cpu) {
        uint32_t words, old = s->nbits / 64;
        uint64_t *p;

        if (cpu < s->nbits)
                return 0;
        if (cpu >= CPUSET_MAX_CPUS)
                return -ERANGE;
        words = cpu / 64 + 1;
        p = realloc(s->bits, words * sizeof(uint64_t));
        if (!p)
                return -ENOMEM;
        memset(p + old, 0, (words - old) * sizeof(uint64_t));
        s->bits = p;
        s->nbits = words * 64;
        return 0;
}

int cpuset_copy(struct cpuset *dst, const struct cpuset *src) {
        uint64_t *p = NULL;

        if (src->nbits) {
                p = malloc(src->nbits / 8);
                if (!p)
                        return -ENOMEM;
                memcpy(p, src->bits, src->nbits / 8);
        }
        free(dst->bits);
        dst->bits = p;
        dst->nbits = src->nbits;
        return 0;
}

int cpuset_set(struct cpuset *s, uint32_t cpu) {
        int r = cpuset_grow(s, cpu);

        if (r < 0)
                return r;
        s->bits[cpu / 64] |= 1ULL << (cpu % 64);
        return 0;
}

bool cpuset_test(const struct cpuset *s, uint32_t cpu) {
        return cpu < s->nbits && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}

uint32_t cpuset_count(const struct cpuset *s) {
        uint32_t n = 0;

        for (uint32_t i = 0; i < s->nbits / 64; i++)
                n += (uint32_t)__builtin_popcountll(s->bits[i]);
        return n;
}

bool cpuset_equal(const struct cpuset *a, const struct cpuset *b) {
        uint32_t n = a->nbits > b->nbits ? a->nbits : b->nbits;

        for (uint32_t i = 0; i < n / 64; i++) {
                uint64_t x = i < a->nbits / 64 ? a->bits[i] : 0;
                uint64_t y = i < b->nbits / 64 ? b->bits[i] : 0;
                if (x != y)
                        return false;
        }
        return true;
}

void cpuset_zero(struct cpuset *s) {
        if (s->bits)
                memset(s->bits, 0, s->nbits / 8);
}

int64_t cpuset_next(const struct cpuset *s, uint32_t from) {
        for (uint32_t w = from / 64; w < s->nbits / 64; w++) {
                uint64_t v = s->bits[w];
                if (w == from / 64)
                        v &= ~0ULL << (from % 64);
                if (v)
                        return (int64_t)w * 64 + __builtin_ctzll(v);
        }
        return -1;
}

static int parse_cpu(const char **p, uint32_t *ret) {
        uint64_t v = 0;

        if (!isdigit((unsigned char)**p))
                return -EINVAL;
        while (isdigit((unsigned char)**p)) {
                v = v * 10 + (uint64_t)(**p - '0');
                if (v >= CPUSET_MAX_CPUS)
                        return -ERANGE;
                (*p)++;
        }
        *ret = (uint32_t)v;
        return 0;
}

int cpuset_parse(struct cpuset *s, const char *list) {
        struct cpuset t = CPUSET_INIT;
        const char *p = list;
        int r = 0;

        while (*p && *p != '\n') {
                uint32_t a, b;

                r = parse_cpu(&p, &a);
                if (r < 0)
                        goto fail;
                b = a;
                if (*p == '-') {
                        p++;
                        r = parse_cpu(&p, &b);
                        if (r < 0)
                                goto fail;
                        if (b < a) {
                                r = -EINVAL;
                                goto fail;
                        }
                }
                for (uint32_t c = a; c <= b; c++) {
                        r = cpuset_set(&t, c);
                        if (r < 0)
                                goto fail;
                }
                if (*p == ',') {
                        p++;
                        if (!*p || *p == '\n') {
                                r = -EINVAL;
                                goto fail;
                        }
                } else if (*p && *p != '\n') {
                        r = -EINVAL;
                        goto fail;
                }
        }
        if (*p == '\n' && p[1]) {
                r = -EINVAL;
                goto fail;
        }
        cpuset_deinit(s);
        *s = t;
        return 0;
fail:
        cpuset_deinit(&t);
        return r;
}

int cpuset_format(const struct cpuset *s, struct strbuf *sb) {
        int64_t c = cpuset_next(s, 0);
        bool first = true;
        int r = 0;

        while (c >= 0 && r >= 0) {
                int64_t end = c;
                while (cpuset_test(s, (uint32_t)end + 1))
                        end++;
                if (end == c)
                        r = strbuf_printf(sb, "%s%lld", first ? "" : ",", (long long)c);
                else
                        r = strbuf_printf(sb, "%s%lld-%lld", first ? "" : ",", (long long)c, (long long)end);
                first = false;
                c = cpuset_next(s, (uint32_t)end + 1);
        }
        if (r >= 0 && !sb->buf)
                r = strbuf_append(sb, "", 0);
        return r;
}
