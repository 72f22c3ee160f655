/* SPDX-License-Identifier: MIT */
/*
 * Keep every thread of this process on a set of processors.
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

#include "util/cpuset.h"
#include "util/log.h"

/* Set the affinity of every thread of this process to `set` (restricted to
 * CPUs the kernel accepts: an error on one thread is logged and the others
 * are still set).  Returns the number of threads set, or a negative errno
 * when none could be. */
int affinity_set_process(const struct cpuset *set, const struct logger *log);
