/* SPDX-License-Identifier: MIT */
/*
 * Keep every thread of this process on a set of processors.  A property of
 * the process, not of a platform: only the library does it, for a context
 * on target "linux" (the in-process platform admits processors) and on
 * target "unix:" (dhpd reports the admitted ones).
 *
 * Linux gives a thread whose affinity is "every CPU" a hot-added CPU as soon
 * as it is online.  To hold a process off a new CPU until its ADD_START has
 * run, its threads' affinity is restricted to the admitted CPUs and widened
 * at admission.  What this guarantees: every thread listed in
 * /proc/self/task when affinity_set_process() runs; a thread created
 * afterwards inherits its creator's mask, so it is covered too.  What it does
 * not: a thread that sets its own affinity later, other processes, kernel
 * threads (cgroups and the kernel cover those).
 */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "util/cpuset.h"
#include "util/log.h"

/* Set the affinity of every thread of this process to `set` (restricted to
 * CPUs the kernel accepts: an error on one thread is logged and the others
 * are still set).  Returns the number of threads set, or a negative errno
 * when none could be. */
int affinity_set_process(const struct cpuset *set, const struct logger *log);

/* Restrict the process to the slots whose state (dhp_proc_state) is
 * DHP_PROC_ADMITTED.  Nothing admitted: the threads keep their mask. */
void affinity_apply_states(const uint8_t *state, uint32_t n);

/* The admitted processors of an in-process platform, widened at each
 * admission (from the platform's hotplug thread). */
struct affinity_admitted {
        pthread_mutex_t lock;
        struct cpuset set;
};
void affinity_admitted_init(struct affinity_admitted *a);
void affinity_admitted_deinit(struct affinity_admitted *a);
/* Replace the set and restrict the process to it (if not empty). */
void affinity_admitted_reset(struct affinity_admitted *a, struct cpuset *set);
/* Add one processor and widen the process to the set. */
int affinity_admitted_add(struct affinity_admitted *a, uint32_t cpu);
