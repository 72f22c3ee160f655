/* SPDX-License-Identifier: MIT */
/*
 * The hotplug thread of a Linux platform: it alone reads the uevent socket
 * and runs the transactions the uevents start (synchronous callbacks run
 * on it), so a slow client never stalls its embedder's other threads.
 * Used by dhpd and by a library context opened on target "linux".
 */
#pragma once

#include <stdbool.h>

#include "platform/linux/linux.h"
#include "util/log.h"

struct linux_hotplug;

struct linux_hotplug_config {
        struct linux_platform *lp;
        /* Non-NULL: the memory conditions' fallback timer is the poll
         * timeout (dhpd has no other periodic wake-up). */
        struct engine *memcond_engine;
        /* A PSI memory trigger (POLLPRI: re-evaluate now), or -1. */
        int psi_fd;
        /* Called on the hotplug thread at each linux_hotplug_kick(), before
         * the resync: the place to apply a reloaded configuration, since
         * only this thread runs the platform's transactions.  May be NULL. */
        void (*on_kick)(void *userdata);
        void *userdata;
        /* Why the thread stopped early; NULL: silent (the library). */
        const struct logger *log;
};

/* Work for the hotplug thread (linux_hotplug_submit()): embed it in the
 * caller's structure. */
struct linux_hotplug_work {
        struct linux_hotplug_work *next;
        /* Called once: on the hotplug thread, or with `cancelled` true (run
         * nothing, answer only) from linux_hotplug_stop() or from submit on
         * a stopped thread.  The work is the caller's again after it. */
        void (*fn)(struct linux_hotplug_work *w, bool cancelled);
};

/* Start the thread on a started platform.  0 or a negative errno. */
int linux_hotplug_start(struct linux_hotplug **ret, const struct linux_hotplug_config *cfg);
/* Ask the thread to run on_kick and resync with sysfs. */
void linux_hotplug_kick(struct linux_hotplug *hp);
/* Queue w for the hotplug thread, which alone runs the platform's
 * transactions, and wake it; never waits.  Works run in the order queued. */
void linux_hotplug_submit(struct linux_hotplug *hp, struct linux_hotplug_work *w);
/* Stop and join the thread, cancel the works left, free.  NULL-safe. */
void linux_hotplug_stop(struct linux_hotplug *hp);
