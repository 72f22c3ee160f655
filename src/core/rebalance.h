/* SPDX-License-Identifier: MIT */
/*
 * Resource rebalance after a processor add (doc/model.md section 4): devices,
 * their driver stacks and policies, and the QUERY_STOP / STOP / START
 * sequence run on the notification thread after the processor's arrival.
 * The dhp_device_* and dhp_driver_* functions of dhp.h that take a device
 * or a driver live in rebalance.c (the device API), the dhp_rebalance_ctx_*
 * ones in rebalance-seq.c (the sequence); those that take a context are the
 * lib's, over the functions below.
 */
#pragma once

#include <stdbool.h>

#include "core/engine.h"

struct rebalance;

/* Create the module for an engine and hook it after processor admission.
 * The engine keeps the hook: free the module only after the engine. */
int rebalance_new(struct engine *e, struct rebalance **ret);
/* Free every device left.  No rebalance may run (the engine is gone). */
void rebalance_free(struct rebalance *rb);

int rebalance_device_new(struct rebalance *rb, const char *name, const char *setup_class, dhp_device **ret);
int rebalance_class_set_optout(struct rebalance *rb, const char *setup_class, bool optout);
int rebalance_class_get_optout(struct rebalance *rb, const char *setup_class, bool *ret);
/* The device named `name`, or NULL (the sim's scenario looks them up). */
dhp_device *rebalance_device_find(struct rebalance *rb, const char *name);

/*
 * Devices owned by a peer (core/peer.h; the client library's mirror of
 * dhpd's devices): every change is made there first, through `ops`; the
 * module never rebalances by itself.
 */
struct peer_device_ops;
struct cpuset;
void rebalance_set_peer(struct rebalance *rb, const struct peer_device_ops *ops, void *ud);
/* The peer's view of a device: its affinity (taken: swapped with the
 * device's; NULL keeps it) and its stopped times. */
void rebalance_device_sync(dhp_device *dev, struct cpuset *affinity, uint64_t stopped_last, uint64_t stopped_max);
dhp_device *rebalance_driver_device(dhp_driver *drv);
/* A request decided elsewhere (the peer runs the sequence): mark the
 * driver's device busy on this thread and keep it alive: false when the
 * device is gone.  Call with the lock that keeps `drv` from being detached
 * (the caller's), then rebalance_driver_run() without it. */
bool rebalance_driver_begin(dhp_driver *drv);
/* Run the driver's handler for one request (at START the device's
 * affinity becomes *affinity first, swapped, unless NULL, as in a local
 * sequence), then end what rebalance_driver_begin() began.  Returns the
 * handler's status. */
int rebalance_driver_run(dhp_driver *drv, dhp_rebalance_request req, uint32_t processor, uint32_t vectors,
                         const char *old_affinity, const char *new_affinity, struct cpuset *affinity);

/*
 * For dhpd, whose main thread must never wait for a rebalance (the
 * sequence waits for answers that thread reads): take a device or a driver
 * out of the lists now (the name is free, the next sequence leaves it out),
 * and free it later on a thread that may wait for the sequence in flight.
 */
void rebalance_device_unlist(dhp_device *dev);
void rebalance_driver_unlist(dhp_driver *drv);
/* Wait for the sequence of its device and free an unlisted driver; its
 * device must still exist (free drivers before their device). */
void rebalance_driver_free_unlisted(dhp_driver *drv);
