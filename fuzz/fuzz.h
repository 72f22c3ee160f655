/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets: a NUL-terminated copy of the input, and
 * splitting one input into several pieces (datagrams, files) at a separator
 * that real inputs do not contain; the temporary /sys and /proc trees of
 * the targets that read one.
 */
#pragma once

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        remove(path);
        return 0;
}

/* Remove the tree at root, root itself included. */
static inline void fuzz_rm_tree(const char *root) {
        nftw(root, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Make the target's temporary root, /tmp/dhp-fuzz-NAME-XXXXXX, into root;
 * cleanup (which removes it) runs at exit. */
static inline void fuzz_mkdtemp(char *root, size_t size, const char *name, void (*cleanup)(void)) {
        snprintf(root, size, "/tmp/dhp-fuzz-%s-XXXXXX", name);
        if (!mkdtemp(root))
                abort();
        atexit(cleanup);
}

/* Make the parent directories of abs below root (root exists). */
static inline void fuzz_mkparents(const char *root, char *abs) {
        for (char *s = abs + strlen(root) + 1; (s = strchr(s, '/')); s++) {
                *s = 0;
                mkdir(abs, 0755);
                *s = '/';
        }
}

/* A piece that describes one entry of a tree: its first line a path that
 * path_ok accepts, the rest the entry's content.  Writes the path below
 * root into abs and makes its parent directories; 0 when the piece is no
 * entry. */
static inline int fuzz_tree_entry(const char *root, const uint8_t *piece, size_t len, int (*path_ok)(const char *rel),
                                  char *abs, size_t size, const uint8_t **ret_content, size_t *ret_len) {
        const uint8_t *nl = memchr(piece, '\n', len);
        char rel[256];
        size_t rl;

        if (!nl || (rl = (size_t)(nl - piece)) == 0 || rl >= sizeof(rel))
                return 0;
        memcpy(rel, piece, rl);
        rel[rl] = 0;
        if (!path_ok(rel))
                return 0;
        snprintf(abs, size, "%s/%s", root, rel);
        fuzz_mkparents(root, abs);
        *ret_content = nl + 1;
        *ret_len = len - rl - 1;
        return 1;
}

#define FUZZ_CHECK(cond)                                                                   \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
                        abort();                                                           \
                }                                                                          \
        } while (0)
