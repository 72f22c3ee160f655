/* SPDX-License-Identifier: MIT */
/*
 * A strict parser for one flat JSON object per line, as dhp prints its
 * records (`dhpctl demo --json`, `dhpctl monitor --json`): members whose
 * values are strings, integers, true, false or null.  Nested objects,
 * arrays, fractions and duplicate keys are refused: this reads our own
 * output back, not JSON at large.  Pure: no syscalls.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum flatjson_type { FLATJSON_STRING, FLATJSON_INTEGER, FLATJSON_BOOL, FLATJSON_NULL };

struct flatjson_member {
        const char *key;
        enum flatjson_type type;
        const char *str;  /* FLATJSON_STRING: the decoded text (UTF-8, no NUL inside) */
        bool negative;    /* FLATJSON_INTEGER: the value is -u */
        uint64_t u;       /* FLATJSON_INTEGER: the magnitude */
        bool b;           /* FLATJSON_BOOL */
};

struct flatjson {
        size_t n;
        struct flatjson_member *members;
        char *pool; /* the decoded keys and strings */
};

/*
 * flatjson_parse - parse text[0..len) (one object, blanks around it allowed).
 * Returns 0, -ENOMEM, or -EBADMSG with *ret_offset (the byte offset of the
 * fault, from 0) and *ret_message (a static sentence) set.  *ret is
 * written only on success; free it with flatjson_deinit().
 */
int flatjson_parse(const char *text, size_t len, struct flatjson *ret, size_t *ret_offset, const char **ret_message);
void flatjson_deinit(struct flatjson *o);

const struct flatjson_member *flatjson_get(const struct flatjson *o, const char *key);
/* The string member `key`, or NULL when absent or not a string. */
const char *flatjson_get_string(const struct flatjson *o, const char *key);
/* The non-negative integer member `key`: 0, -ENOENT (absent), -EINVAL (another type). */
int flatjson_get_u64(const struct flatjson *o, const char *key, uint64_t *ret);
/* True when `key` is the literal true. */
bool flatjson_get_true(const struct flatjson *o, const char *key);
