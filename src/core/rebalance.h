/* SPDX-License-Identifier: MIT */
/*
 * Resource rebalance after a processor add (MODEL.md section 4): devices,
 * their driver stacks and policies, and the QUERY_STOP / STOP / START
 * sequence run on the notification thread after the processor's arrival.
 * The dhp_device_* and dhp_driver_* functions of dhp.h that take a device
 * or a driver live in rebalance.c; those that take a context are the lib's,
 * over the functions below.
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
 * A mirror of devices kept by dhpd (the client library, target "unix:"):
 * every change is made there first, through these ops, called without the
 * module's lock; when they succeed it is made here too.  The mirror never
 * rebalances by itself: dhpd runs the sequence and sends each driver its
 * requests, which the library runs with rebalance_remote_begin/_run.  The
 * affinity and stopped times are dhpd's, kept by rebalance_device_mirror().
 */
struct rebalance_remote_ops {
        /* dhpd creates the device (name and class from the getters). */
        int (*device_new)(void *ud, dhp_device *dev);
        /* dhpd frees it; no request for its drivers is run after this. */
        void (*device_free)(void *ud, dhp_device *dev);
        /* what: IPC_DEVICE_SET_* (value, or cpulist for the affinity). */
        int (*device_set)(void *ud, dhp_device *dev, uint32_t what, uint32_t value, const char *cpulist);
        /* 1 or 0, as dhpd decides it now. */
        int (*device_participates)(void *ud, dhp_device *dev);
        int (*class_set_optout)(void *ud, const char *setup_class, bool optout);
        int (*class_get_optout)(void *ud, const char *setup_class, bool *ret);
        /* `level` from the bottom; UINT32_MAX: on top. */
        int (*driver_attach)(void *ud, dhp_driver *drv, uint32_t level, const char *name);
        /* No request for the driver is run after this. */
        void (*driver_detach)(void *ud, dhp_driver *drv);
};
void rebalance_set_remote(struct rebalance *rb, const struct rebalance_remote_ops *ops, void *ud);
/* dhpd's view of a device: its affinity (a CPU list) and stopped times. */
int rebalance_device_mirror(dhp_device *dev, const char *affinity, uint64_t stopped_last, uint64_t stopped_max);
dhp_device *rebalance_driver_device(dhp_driver *drv);
/* Mark the driver's device busy on this thread and keep it alive: false
 * when the device is gone.  Call with the lock that keeps `drv` from being
 * detached (the library's), then rebalance_remote_run() without it. */
bool rebalance_remote_begin(dhp_driver *drv);
/* Run the driver's handler for one request (at START the device's
 * affinity becomes new_affinity first, as in a local sequence), then end
 * what rebalance_remote_begin() began.  Returns the handler's status. */
int rebalance_remote_run(dhp_driver *drv, dhp_rebalance_request req, uint32_t processor, uint32_t vectors,
                         const char *old_affinity, const char *new_affinity);

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
