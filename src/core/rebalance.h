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
