/* SPDX-License-Identifier: MIT */
/*
 * Kernel devices' interrupts and irqbalance: which of the two moves which.
 *
 * After a processor add dhpd's rebalance writes the interrupt affinity of
 * the PCI devices that take part (kdev.h); irqbalance writes the same
 * /proc/irq/N files every 10 s, one processor per interrupt chosen by load,
 * and notices a new processor by itself.  Two writers undo each other, so
 * when irqbalance is found at start (coexist_irqbalance_detect()) the mode
 * (dhpd's [rebalance] irqbalance) decides:
 *   LEAVE   (default) irqbalance moves every kernel device's interrupts;
 *           no kernel device is registered and no /proc/irq file written.
 *   SHARE   dhpd moves the interrupts of the PCI addresses given policy 2
 *           by address ([rebalance] participate), irqbalance the others;
 *           the --banirq options that keep irqbalance off dhpd's are
 *           logged.
 *   IGNORE  as if irqbalance did not run (both write; a warning).
 * Devices clients register are rebalanced in every case: their resources
 * are the clients' own, not /proc/irq.  Without irqbalance the mode does
 * nothing.  The reasons are in doc/model.md (L13).
 */
#pragma once

#include <stddef.h>

#include "core/rebalance.h"
#include "platform/linux/kdev.h"
#include "util/log.h"

enum irqshare_mode { IRQSHARE_LEAVE, IRQSHARE_SHARE, IRQSHARE_IGNORE };

/* Detect irqbalance under root, log how the work is shared, and register
 * the kernel devices dhpd moves, with the policies of kdevs_new() (*ret
 * NULL when it moves none).  0, or kdevs_new()'s error. */
int irqshare_setup(struct kdevs **ret, struct rebalance *rb, const char *root, enum irqshare_mode mode,
                   const struct kdev_policy *policies, size_t npolicies, const struct logger *log);
