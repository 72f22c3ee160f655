/* SPDX-License-Identifier: MIT */
/*
 * Watching a cgroup's limits (cgpart.h) for changes, in the library's
 * style: one epoll fd for the caller's loop (cgwatch_get_fd), work done in
 * cgwatch_process(), no thread of its own.
 *
 * What wakes it, all in the one epoll fd:
 *   - inotify IN_MODIFY on cpu.max, memory.max, memory.high, cpuset.cpus
 *     and cpuset.cpus.effective of the cgroup and of every visible
 *     ancestor, and on cgroup.events.  A write(2) to a cgroup file reaches
 *     fsnotify_modify() in vfs_write() like any file's, so every write to a
 *     limit by whoever (a runtime, systemctl, a parent's manager) is seen at
 *     once; files the kernel changes itself notify only where it calls
 *     cgroup_file_notify() (kernfs_notify: cgroup.events, memory.events,
 *     the kernel documentation's "generates a file modified event");
 *   - poll (EPOLLPRI) on cgroup.events, the kernel's documented way to
 *     learn of "populated" changes; on a plain file (the tests' fake tree)
 *     epoll refuses it (EPERM) and inotify carries the change alone;
 *   - a re-read timer (timerfd), every reread_ms (default
 *     CGWATCH_REREAD_MS_DEFAULT, 1 s), for what does not notify: an
 *     effective CPU set recomputed by the kernel after a parent's cpuset
 *     changed or a CPU went offline, a controller enabled later, a removal
 *     kernfs does not report.  The period bounds the latency of those
 *     changes; CGWATCH_REREAD_OFF disables it (then only the notifying
 *     kinds are seen, and watching costs no wake-up while idle).
 *
 * Each wake-up re-reads the whole snapshot (a handful of small files per
 * level) and compares: one callback per change, whatever woke it, with
 * the new snapshot, its changed mask and the CPUs added and removed.  A
 * cgroup removed (directory gone, or replaced by another of the same name)
 * gives one last callback with CGPART_CHANGED_REMOVED and every CPU
 * removed; cgwatch_process() returns -ENODEV from then on.  A malformed
 * file does not stop the watch: process() returns its error (message in
 * cgwatch_strerror) and the next wake-up tries again.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "platform/linux/cgpart.h"

#define CGWATCH_REREAD_MS_DEFAULT 1000u
#define CGWATCH_REREAD_OFF UINT64_MAX

struct cgwatch;

/* l is the new snapshot (l->changed, l->seq set); added and removed are the
 * CPUs that entered and left the set (empty unless CGPART_CHANGED_CPUS).
 * All valid during the call only. */
typedef void (*cgwatch_fn)(void *userdata, const struct cgpart_limits *l, const struct cpuset *added,
                           const struct cpuset *removed);

struct cgwatch_config {
        uint64_t reread_ms; /* 0: CGWATCH_REREAD_MS_DEFAULT; CGWATCH_REREAD_OFF */
        /* A PSI trigger on the cgroup's memory.pressure in the same epoll
         * set (cgpart_psi_open): "some" or "full", NULL for none.  Its
         * POLLPRI wakes the caller (cgwatch_process() returns 0 and
         * cgwatch_pressure_take() says so); a trigger the kernel refuses
         * (no PSI, no memory controller, an unprivileged 1 s window) is no
         * error: cgwatch_psi_active() says whether it is set. */
        const char *psi_kind;
        uint64_t psi_stall_us, psi_window_us;
};

/*
 * cgwatch_new - open the cgroup (cgpart_init), take the first snapshot (seq
 * 1, changed CGPART_CHANGED_ALL, cgwatch_limits(); no callback for it) and
 * set the watches.  Errors: those of cgpart_init and cgpart_read, with e
 * filled; -EMFILE and the like from inotify/epoll/timerfd.
 */
int cgwatch_new(struct cgwatch **ret, const struct cgpart_config *pcfg, const struct cgwatch_config *wcfg,
                cgwatch_fn cb, void *userdata, struct cgpart_err *e);
void cgwatch_free(struct cgwatch *w);
/* In a child after fork(): close this process's copies of the watcher's
 * descriptors, and nothing else (the memory stays, unused). */
void cgwatch_abandon(struct cgwatch *w);

/* The epoll fd: readable when cgwatch_process() has work. */
int cgwatch_get_fd(const struct cgwatch *w);
/*
 * cgwatch_process - handle what is pending, never blocks.  1 when a change
 * was delivered, 0 when none, -ENODEV once the cgroup is removed (after
 * its REMOVED callback), or the error of a re-read (the watch goes on).
 */
int cgwatch_process(struct cgwatch *w);
/* The current snapshot. */
const struct cgpart_limits *cgwatch_limits(const struct cgwatch *w);
const struct cgpart *cgwatch_cgroup(const struct cgwatch *w);
/* Whether the PSI trigger is set; whether it fired since the last call
 * (and forget it). */
bool cgwatch_psi_active(const struct cgwatch *w);
bool cgwatch_pressure_take(struct cgwatch *w);
/* The message of the last error ("" if none). */
const char *cgwatch_strerror(const struct cgwatch *w);
