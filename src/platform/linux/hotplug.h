/* SPDX-License-Identifier: MIT */
/*
 * The hotplug thread of a Linux platform: it alone reads the uevent socket
 * and runs the transactions the uevents start (synchronous callbacks run
 * on it), so a slow client never stalls its embedder's other threads.
 * Used by dhpd and by a library context opened on target "linux".
 */
#pragma once

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

/* Start the thread on a started platform.  0 or a negative errno. */
int linux_hotplug_start(struct linux_hotplug **ret, const struct linux_hotplug_config *cfg);
/* Ask the thread to run on_kick and resync with sysfs. */
void linux_hotplug_kick(struct linux_hotplug *hp);
/* Stop and join the thread, free.  NULL-safe. */
void linux_hotplug_stop(struct linux_hotplug *hp);
