/* SPDX-License-Identifier: MIT */
/*
 * The rebalance module's shared state, for rebalance.c (the device API)
 * and rebalance-seq.c (the stop/start sequence) only.  The locking rules
 * are at the top of rebalance-seq.c.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/engine-internal.h"
#include "core/peer.h"
#include "core/rebalance.h"
#include "util/cpuset.h"

#define REBALANCE_NAME_MAX 64
#define REBALANCE_MAX_DRIVERS 64
#define REBALANCE_MAX_CLASSES 256

struct class_optout {
        char name[REBALANCE_NAME_MAX];
        bool optout;
};

struct rebalance {
        struct engine *engine;
        pthread_mutex_t lock;
        pthread_cond_t cond; /* a device stopped being busy */
        struct list devices;
        struct class_optout *classes;
        size_t nclasses;
        uint32_t spread_seq;
        const struct peer_device_ops *peer; /* devices owned by a peer (peer.h) */
        void *peer_ud;
        /* The lane (rebalance_lane_start): processors whose sequence waits
         * for the lane's thread, in admission order; rb->cond tells it. */
        struct rebalance_lane_item *lane_head, **lane_tail;
        bool lane_on, lane_stop, lane_running;
        pthread_t lane_thread;
};

struct dhp_device {
        struct list node;
        struct rebalance *rb;
        unsigned refs; /* the list's, and one per rebalance snapshot */
        bool dead;
        bool busy;
        pthread_t busy_thread;
        char name[REBALANCE_NAME_MAX];
        char setup_class[REBALANCE_NAME_MAX];
        dhp_rebalance_policy policy;
        dhp_affinity_policy aff_policy;
        uint32_t spread_slot;
        struct cpuset affinity;
        struct list drivers; /* top first */
        unsigned ndrivers;
        uint64_t stopped_last, stopped_max;
};

struct dhp_driver {
        struct list node;
        dhp_device *dev;
        char name[REBALANCE_NAME_MAX];
        dhp_driver_cb cb;
        void *userdata;
};

struct dhp_rebalance_ctx {
        dhp_rebalance_request req;
        dhp_device *dev;
        uint32_t processor;
        const char *old_affinity, *new_affinity;
        uint32_t vectors;
};

/* rebalance.c */
bool rebalance_name_ok(const char *s);
/* Every admitted processor of the engine. */
int rebalance_admitted_cpus(struct engine *e, struct cpuset *out);
/* Drop a reference; the last frees the device and its drivers.  Lock held. */
void rebalance_device_unref_locked(dhp_device *dev);
/* Wait until no other thread rebalances the device; lock held.  Returns
 * false when this thread is the one rebalancing it. */
bool rebalance_wait_not_busy_locked(dhp_device *dev);
/* NULL when the device participates, else the reason it does not; lock
 * held. */
const char *rebalance_exclusion_locked(dhp_device *dev);

/* rebalance-seq.c: the admission hook, which queues the sequence. */
void rebalance_on_admitted(struct engine *e, enum engine_hook_kind kind, uint64_t arg, void *userdata);
