/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

void strbuf_deinit(struct strbuf *sb) {
        free(sb->buf);
        *sb = (struct strbuf)STRBUF_INIT;
}

static int strbuf_reserve(struct strbuf *sb, size_t extra) {
        size_t need, cap;
        char *p;

        if (extra > SIZE_MAX / 2 - sb->len - 1) {
                sb->oom = true;
                return -ENOMEM;
        }
        need = sb->len + extra + 1;
        if (need <= sb->cap)
                return 0;
        cap = sb->cap ? sb->cap : 64;
        while (cap < need)
                cap *= 2;
        p = realloc(sb->buf, cap);
        if (!p) {
                sb->oom = true;
                return -ENOMEM;
        }
        sb->buf = p;
        sb->cap = cap;
        return 0;
}

int strbuf_append(struct strbuf *sb, const char *s, size_t n) {
        int r = strbuf_reserve(sb, n);

        if (r < 0)
                return r;
        memcpy(sb->buf + sb->len, s, n);
        sb->len += n;
        sb->buf[sb->len] = 0;
        return 0;
}

int strbuf_puts(struct strbuf *sb, const char *s) {
        return strbuf_append(sb, s, strlen(s));
}

int strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap) {
        va_list aq;
        int n, r;

        va_copy(aq, ap);
        n = vsnprintf(NULL, 0, fmt, aq);
        va_end(aq);
        if (n < 0)
                return -EINVAL;
        r = strbuf_reserve(sb, (size_t)n);
        if (r < 0)
                return r;
        vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
        sb->len += (size_t)n;
        return 0;
}

int strbuf_printf(struct strbuf *sb, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = strbuf_vprintf(sb, fmt, ap);
        va_end(ap);
        return r;
}

int strbuf_json_string(struct strbuf *sb, const char *s) {
        int r = strbuf_append(sb, "\"", 1);

        for (const unsigned char *p = (const unsigned char *)s; r >= 0 && *p; p++) {
                switch (*p) {
                case '"':  r = strbuf_append(sb, "\\\"", 2); break;
                case '\\': r = strbuf_append(sb, "\\\\", 2); break;
                case '\n': r = strbuf_append(sb, "\\n", 2); break;
                case '\t': r = strbuf_append(sb, "\\t", 2); break;
                case '\r': r = strbuf_append(sb, "\\r", 2); break;
                default:
                        if (*p < 0x20)
                                r = strbuf_printf(sb, "\\u%04x", *p);
                        else
                                r = strbuf_append(sb, (const char *)p, 1);
                }
        }
        if (r >= 0)
                r = strbuf_append(sb, "\"", 1);
        return r;
}

char *strbuf_steal(struct strbuf *sb) {
        char *p = sb->buf;

        if (!p)
                p = strdup("");
        *sb = (struct strbuf)STRBUF_INIT;
        return p;
}
