/* SPDX-License-Identifier: MIT */
/*
 * An index of names to their position in a caller's array: the duplicate
 * check of an arrival registration's known devices (client-registry.c) in
 * constant time, where a scan of the array made an INCLUDE_EXISTING answer
 * of n devices cost n^2 / 2 string compares (10 000 devices: 50 million).
 * Open addressing, linear probing, tombstones; the names are copied.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/ipcmsg.h"

struct nameidx_slot;

struct nameidx {
        struct nameidx_slot *slots;
        size_t cap;  /* a power of two, or 0 */
        size_t n;    /* names held */
        size_t dead; /* tombstones */
};

/* The position of `name`, or -1. */
ssize_t nameidx_find(const struct nameidx *x, const char *name);
/* Add a name not held yet at `pos`: 0 or -ENOMEM (the index unchanged). */
int nameidx_add(struct nameidx *x, const char *name, size_t pos);
/* Forget `name`, held at `pos`, and move every position after it down by
 * one, as the caller's array closes the gap.  O(capacity), like the
 * array's memmove. */
void nameidx_remove(struct nameidx *x, const char *name, size_t pos);
void nameidx_deinit(struct nameidx *x);
