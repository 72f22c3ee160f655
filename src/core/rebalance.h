/* SPDX-License-Identifier: MIT */
/*
 * Resource rebalance after a processor add (doc/model.md section 4): devices,
 * their driver stacks and policies, and the QUERY_STOP / STOP / START
 * sequence run after the processor's arrival, on the notification thread or
 * on the rebalance lane (rebalance_lane_start).
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

/*
 * The rebalance lane: sequences on a thread of their own instead of the
 * notification thread.  A sequence waits for drivers, through dhpd for a
 * client's driver up to a deadline per request; on the notification thread
 * it would hold every arrival queued behind it, other clients' included.
 * With the lane started, the queue item that follows a processor's arrival
 * (R22: after its ARRIVAL callbacks returned) only hands the processor to
 * the lane, which runs the sequences one at a time, in admission order.
 * Without it (the library: a process's drivers and arrivals are its own)
 * the sequence runs on the notification thread, as before.  Stop joins
 * the thread after the sequence it runs; sequences not begun are dropped
 * with a FAILED record (-ESHUTDOWN).  Start: 0 or -errno.
 */
int rebalance_lane_start(struct rebalance *rb);
void rebalance_lane_stop(struct rebalance *rb);
/* Wait up to timeout_ms until the lane has nothing to run (a scenario's
 * settle: every rebalance handed over has ended).  0 (also without a
 * lane), or -ETIMEDOUT. */
int rebalance_lane_wait_idle(struct rebalance *rb, int timeout_ms);

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
