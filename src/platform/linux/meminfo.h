/* SPDX-License-Identifier: MIT */
/*
 * Available memory and commit charge from /proc/meminfo, and PSI memory
 * pressure triggers (/proc/pressure/memory), for the memory condition events.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* All in bytes. */
struct meminfo {
        uint64_t total;        /* MemTotal */
        uint64_t available;    /* MemAvailable */
        uint64_t commit_limit; /* CommitLimit */
        uint64_t committed_as; /* Committed_AS */
};

#define MEMINFO_FILE_MAX 16384

/*
 * Parse the text of /proc/meminfo.  Every line must be "Key: <number>" with
 * an optional " kB" unit; other keys are checked for form and ignored.
 * -EBADMSG on a malformed line or a repeated wanted key, -ERANGE when a
 * value overflows in bytes, -ENODATA when a wanted key is missing (kernels
 * before 3.14 have no MemAvailable).
 */
int meminfo_parse(const char *text, size_t len, struct meminfo *ret);
/* Read and parse root/proc/meminfo. */
int meminfo_read(const char *root, struct meminfo *ret);

/*
 * Open a PSI trigger on root/proc/pressure/memory: wake (POLLPRI) when tasks
 * stall stall_us in any window_us ("some"; full: "full").  Returns the fd
 * (O_RDWR|O_NONBLOCK|O_CLOEXEC) in *ret_fd.  -EOPNOTSUPP when the kernel has
 * no PSI (file missing, or psi=0), -EINVAL for a window outside
 * 500 ms..10 s or stall > window (the kernel's limits).
 */
int meminfo_psi_open(const char *root, bool full, uint64_t stall_us, uint64_t window_us, int *ret_fd);
