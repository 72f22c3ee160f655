/* SPDX-License-Identifier: MIT */
/*
 * Small reads and writes of sysfs and procfs attributes under a root prefix
 * ("" on a real system, a temporary directory in tests).
 *
 * Writes go through a struct sysfs_writer: the real one opens, writes once
 * and closes; tests inject their own write and sleep functions to simulate
 * EBUSY or EIO without a kernel.  A write that fails with EBUSY or EAGAIN is
 * retried with exponential backoff, bounded in attempts and in total time:
 * the kernel answers EBUSY while a hotplug operation holds its lock.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cpuset.h"
#include "util/log.h"

/* Attributes dhp reads are tiny; this bounds every read buffer. */
#define SYSFS_VALUE_MAX 4096

/* Write the whole of value (len bytes) to path; 0 or a negative errno. */
typedef int (*sysfs_write_fn)(void *userdata, const char *path, const char *value, size_t len);
typedef void (*sysfs_sleep_fn)(void *userdata, uint64_t ns);

struct sysfs_writer {
        sysfs_write_fn write;    /* NULL: sysfs_write_file() */
        sysfs_sleep_fn sleep;    /* NULL: nanosleep */
        void *userdata;
        unsigned max_attempts;   /* 0: SYSFS_WRITE_ATTEMPTS_DEFAULT */
        uint64_t first_delay_ns; /* 0: SYSFS_WRITE_FIRST_DELAY_NS */
        uint64_t max_total_ns;   /* 0: SYSFS_WRITE_MAX_TOTAL_NS; budget for all sleeps */
        const struct logger *log;
};

#define SYSFS_WRITE_ATTEMPTS_DEFAULT 8u
#define SYSFS_WRITE_FIRST_DELAY_NS (1000ULL * 1000ULL)      /* 1 ms, doubled each retry */
#define SYSFS_WRITE_MAX_TOTAL_NS (2000ULL * 1000ULL * 1000ULL) /* 2 s */

/* root + path into buf.  -ENAMETOOLONG if it does not fit. */
int sysfs_path(char *buf, size_t size, const char *root, const char *path);
int sysfs_pathf(char *buf, size_t size, const char *root, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Read a whole small file into buf (NUL-terminated, one trailing newline
 * stripped); *ret_len is the length without it.  -EFBIG if the content does
 * not fit in size-1 bytes, otherwise the open/read errno. */
int sysfs_read(const char *root, const char *path, char *buf, size_t size, size_t *ret_len);
/* The same relative to a directory fd (used when enumerating thousands of
 * entries, to avoid rebuilding long paths). */
int sysfs_read_at(int dirfd, const char *relpath, char *buf, size_t size, size_t *ret_len);

/* Decimal or 0x-prefixed number.  -EINVAL, -ERANGE. */
int sysfs_read_u64(const char *root, const char *path, uint64_t *ret);
/* Bare hexadecimal without 0x (block_size_bytes, phys_index); 0x accepted. */
int sysfs_read_hex_u64(const char *root, const char *path, uint64_t *ret);
/* A cpu list ("0-3,8"). */
int sysfs_read_cpuset(const char *root, const char *path, struct cpuset *ret);

/* Strict bare-hex parse ("8000000", "0x8000000"): -EINVAL, -ERANGE. */
int sysfs_parse_hex_u64(const char *s, uint64_t *ret);

/* The real writer: open(O_WRONLY|O_CLOEXEC), one write(), close().  A short
 * write is -EIO. */
int sysfs_write_file(void *userdata, const char *path, const char *value, size_t len);

/* Write value to root+path through w (NULL: defaults).  EBUSY and EAGAIN are
 * retried with backoff; every other error returns at once.  *attempts (if
 * not NULL) is always set to the number of writes tried, also on failure.
 * Returns 0, or the last negative errno: -EBUSY/-EAGAIN once the attempts or
 * the time budget are spent, -EINVAL (value rejected), -EIO (the kernel
 * failed the operation), -ENOENT (no such attribute: device gone?). */
int sysfs_write(const struct sysfs_writer *w, const char *root, const char *path, const char *value,
                unsigned *attempts);

/* A short human reason for an error returned by sysfs_write(). */
const char *sysfs_write_strerror(int r);
