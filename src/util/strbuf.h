/* SPDX-License-Identifier: MIT */
/* A growable, always NUL-terminated string. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
        char *buf;
        size_t len;
        size_t cap;
        bool oom; /* an append failed; buf holds what fit */
};

#define STRBUF_INIT { NULL, 0, 0, false }

void strbuf_deinit(struct strbuf *sb);
int strbuf_append(struct strbuf *sb, const char *s, size_t n);
int strbuf_puts(struct strbuf *sb, const char *s);
int strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap);
/* Append `s` as a JSON string literal, quotes included. */
int strbuf_json_string(struct strbuf *sb, const char *s);
/* Hand the buffer to the caller (malloc'ed, never NULL unless OOM). */
char *strbuf_steal(struct strbuf *sb);
static inline const char *strbuf_str(const struct strbuf *sb) {
        return sb->buf ? sb->buf : "";
}
