/* SPDX-License-Identifier: MIT */
/*
 * Keep this process's threads off processors that are not yet admitted,
 * without losing the application's own pinning.  A property of the
 * process, not of a platform: only the library does it, for a context on
 * target "linux" (the in-process platform admits processors) and on target
 * "unix:" (dhpd reports the admitted ones), and only while the context
 * holds a synchronous registration (affinity_hold()): a monitor, `dhpctl
 * status` or an arrival-only client never touches a mask.
 *
 * Why at all: Linux gives a thread whose mask names a processor that
 * processor as soon as it is online, before its ADD_START has run.
 *
 * The rule (per thread, keyed by its TID):
 *   - hold: from each thread's own mask (as the kernel keeps it, offline
 *     processors included: /proc/self/task/TID/status, Cpus_allowed_list)
 *     the library removes the processors that are not admitted, and
 *     records exactly what it removed and the mask it left.  A thread
 *     pinned by the application only to processors that are not admitted
 *     is left alone (removing them would leave it nowhere to run).
 *   - admission of a processor (affinity_admit(), called once this
 *     process's ADD_COMPLETE callbacks have returned): each thread gets it
 *     back if the library had removed it from that thread, and only then:
 *     a thread pinned to CPU 1 stays on CPU 1.
 *   - release (the last synchronous registration gone, dhp_close()):
 *     each thread gets back everything still withheld; afterwards every
 *     mask is the application's.
 *   - a thread whose mask is no longer the one the library left has set
 *     its own: what it set wins; the library forgets it (gives nothing
 *     back, removes nothing more).
 *   - a thread created while processors are withheld inherits its
 *     creator's reduced mask and is not in the records: at the next pass
 *     (an admission, the release), an unknown thread whose mask equals the
 *     mask the library left on a thread it withheld something from takes
 *     that thread's record, and so gets the processors back like its
 *     creator.  (A child of an application-pinned thread whose pin equals
 *     that reduced mask cannot be told apart and widens too.)
 *   - threads that exited are dropped from the records.
 * Other processes and kernel threads are not covered (cgroups and the
 * kernel cover those).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/cpuset.h"

/* The system calls, behind a seam a test can replace. */
struct affinity_sys {
        /* The mask the kernel keeps for the thread (offline CPUs included). */
        int (*get)(void *ud, pid_t tid, struct cpuset *ret);
        int (*set)(void *ud, pid_t tid, const struct cpuset *set);
        /* The threads of this process: a malloc'ed array. */
        int (*threads)(void *ud, pid_t **ret, size_t *ret_n);
        void *userdata;
};
extern const struct affinity_sys affinity_sys_kernel;

struct affinity_thread;

struct affinity {
        pthread_mutex_t lock;
        struct affinity_sys sys;
        unsigned holds;          /* synchronous registrations */
        bool known;              /* the admitted set is known */
        struct cpuset admitted;
        struct affinity_thread *threads;
        size_t nthreads, capthreads;
};

void affinity_init(struct affinity *a);
/* Gives every withheld processor back first. */
void affinity_deinit(struct affinity *a);
/* Replace the system calls (tests), before the first hold. */
void affinity_set_sys(struct affinity *a, const struct affinity_sys *sys);

/* The admitted processors are now `set` (replaced); while held, each
 * thread gets back what it is owed, new threads are restricted. */
void affinity_set_admitted(struct affinity *a, const struct cpuset *set);
/* The admitted processors as dhp_proc_state per slot. */
void affinity_set_states(struct affinity *a, const uint8_t *state, uint32_t n);
/* One more processor admitted. */
void affinity_admit(struct affinity *a, uint32_t cpu);

/* A synchronous registration is made (before it is: no add may find a
 * thread unrestricted) / is gone.  The first hold restricts every thread,
 * the last release gives everything back. */
void affinity_hold(struct affinity *a);
void affinity_release(struct affinity *a);
