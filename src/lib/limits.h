/* SPDX-License-Identifier: MIT */
/*
 * The limits notification (dhp_limits_*): the registrations of one context
 * and the snapshots they are given.  A backend that has limits (the cgroup
 * target, cgtarget.c) owns a hub, tells it every new snapshot, and the hub
 * queues one delivery per registration on the engine's queue, so limits
 * reach the application on the notification thread, in order with the
 * processor ARRIVAL and REMOVAL queued before them.
 *
 * Locks: the hub's lock is taken after the backend's and before the
 * engine's; no callback runs under it.
 */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "core/engine.h"
#include "dhp.h"
#include "platform/linux/cgpart.h"
#include "util/list.h"

struct limits_hub {
        pthread_mutex_t lock;
        pthread_cond_t idle; /* a registration's callback returned */
        struct engine *engine;
        struct list regs;     /* struct dhp_limits_reg, registration order */
        uint64_t reg_seq;
        dhp_limits *cur;      /* the current snapshot, NULL before the first */
};

void limits_hub_init(struct limits_hub *h, struct engine *e);
/* After the engine is freed (its queued deliveries refer to the hub):
 * frees the registrations left. */
void limits_hub_deinit(struct limits_hub *h);

/* A new current snapshot; queued to every registration when `broadcast`
 * (the first one is not: nobody is registered yet).  -ENOMEM. */
int limits_hub_publish(struct limits_hub *h, const struct cgpart_limits *l, bool broadcast);

int limits_hub_register(struct limits_hub *h, const char *name, uint32_t flags, dhp_limits_cb cb, void *userdata,
                        dhp_limits_reg **ret);
/* A copy of the current snapshot for dhp_limits_get(). */
int limits_hub_get(struct limits_hub *h, dhp_limits **ret);
