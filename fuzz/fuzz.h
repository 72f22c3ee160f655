/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets: a NUL-terminated copy of the input, and
 * splitting one input into several pieces (datagrams, files) at a separator
 * that real inputs do not contain.
 */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Pieces of a multi-part input are separated by this line. */
#define FUZZ_SEP "\n--8<--\n"
#define FUZZ_SEP_LEN (sizeof(FUZZ_SEP) - 1)

/* A malloc'ed NUL-terminated copy (the input may contain NULs: C-string
 * parsers then see its first part, as they would from a file). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}

/* The next piece of [*p, end): sets *ret and *ret_len, advances *p past the
 * separator.  0 when nothing is left. */
static inline int fuzz_next_piece(const uint8_t **p, const uint8_t *end, const uint8_t **ret, size_t *ret_len) {
        const uint8_t *s;

        if (*p >= end)
                return 0;
        s = memmem(*p, (size_t)(end - *p), FUZZ_SEP, FUZZ_SEP_LEN);
        *ret = *p;
        if (!s) {
                *ret_len = (size_t)(end - *p);
                *p = end;
        } else {
                *ret_len = (size_t)(s - *p);
                *p = s + FUZZ_SEP_LEN;
        }
        return 1;
}

#define FUZZ_CHECK(cond)                                                                   \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
                        abort();                                                           \
                }                                                                          \
        } while (0)
