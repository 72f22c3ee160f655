/* SPDX-License-Identifier: MIT */
/* A set of processor indexes, of any size, with the kernel's list format
 * ("0-3,8,10-11") in and out. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/strbuf.h"

struct cpuset {
        uint64_t *bits;
        uint32_t nbits; /* capacity, a multiple of 64 */
};

#define CPUSET_INIT { NULL, 0 }
/* The largest processor index a list may name; caps what outside input can
 * make us allocate. */
#define CPUSET_MAX_CPUS 65536u

void cpuset_deinit(struct cpuset *s);
int cpuset_copy(struct cpuset *dst, const struct cpuset *src);
int cpuset_set(struct cpuset *s, uint32_t cpu);
bool cpuset_test(const struct cpuset *s, uint32_t cpu);
uint32_t cpuset_count(const struct cpuset *s);
bool cpuset_equal(const struct cpuset *a, const struct cpuset *b);
void cpuset_zero(struct cpuset *s);
/* The next member >= from, or -1. */
int64_t cpuset_next(const struct cpuset *s, uint32_t from);
/* Parse a kernel cpu list; an empty string (or "\n") is the empty set.
 * -EINVAL on malformed input, -ERANGE past CPUSET_MAX_CPUS. */
int cpuset_parse(struct cpuset *s, const char *list);
/* Append the list format ("" for empty). */
int cpuset_format(const struct cpuset *s, struct strbuf *sb);
