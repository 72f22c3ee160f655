/* SPDX-License-Identifier: MIT */
/*
 * The rebalance part of `dhpctl demo`: three devices with driver stacks and
 * I/O flowing through a dhp_ioq while processors are added.
 *
 *   disk0  Storage  filter over disk; disk holds, drains and releases its
 *                   I/O through a dhp_ioq while a thread submits requests
 *                   and a "hardware" thread completes them
 *   eth0   Net      not rebalanced: the Net class opts out by default
 *   gpu0   Display  its gpu driver refuses QUERY_STOP: the filter above it
 *                   gets CANCEL_STOP, the device keeps its affinity
 *
 * Call setup after dhp_open and before the processor adds, report after
 * the last rebalance was delivered, free before dhp_close.
 */
#pragma once

#include <stdio.h>

#include "dhp.h"

struct demo_rebalance;

/* Create the devices and start the I/O.  Prints one line per device to
 * `out` (NULL: quiet).  0 or a negative errno. */
int demo_rebalance_setup(dhp *ctx, FILE *out, struct demo_rebalance **ret);
/* Stop the I/O, wait for it to complete, and print the figures: requests
 * submitted, completed and held, and how long each device was stopped. */
void demo_rebalance_report(struct demo_rebalance *d, FILE *out);
/* Stop the I/O if running, unregister the devices, free.  NULL is a no-op. */
void demo_rebalance_free(struct demo_rebalance *d);
