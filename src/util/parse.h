/* SPDX-License-Identifier: MIT */
/* Strict parsers for numbers that come from outside (sysfs, config,
 * scenarios, IPC): the whole string must be consumed, no overflow. */
#pragma once

#include <stdint.h>

/* Decimal, or hex with 0x.  -EINVAL on garbage, -ERANGE on overflow. */
int parse_u64(const char *s, uint64_t *ret);
int parse_u32(const char *s, uint32_t *ret);
/* A size: a number with an optional K, M, G, T suffix (powers of 1024,
 * optional trailing "iB" or "B"). */
int parse_size(const char *s, uint64_t *ret);
/* A duration: a number with ns, us, ms, s suffix (default ms).  Result in ns. */
int parse_duration_ns(const char *s, uint64_t *ret);
/* "1", "yes", "true", "on" / "0", "no", "false", "off". */
int parse_bool(const char *s, int *ret);
/* Format a byte count as "512M", "1G", "1536M"; returns buf. */
char *format_size(uint64_t bytes, char *buf, unsigned size);
