/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <time.h>

#define NSEC_PER_USEC 1000ULL
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC 1000000000ULL

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t time_now_ns(void);
/* CLOCK_REALTIME in nanoseconds since the Unix epoch (wall-clock time, for
 * people; never for intervals). */
uint64_t time_realtime_ns(void);
/* An absolute CLOCK_MONOTONIC deadline `ms` from now, for pthread_cond_timedwait
 * on a condvar created with CLOCK_MONOTONIC. */
struct timespec time_deadline_ms(int64_t ms);
