/* SPDX-License-Identifier: MIT */
/*
 * Kernel devices' interrupts and irqbalance: which of the two moves which.
 *
 * After a processor add dhpd's rebalance writes the interrupt affinity of
 * the PCI devices that take part (src/platform/linux/kdev.h); irqbalance
 * writes the same /proc/irq/N files every 10 s, one processor per
 * interrupt chosen by load, and notices a new processor by itself.  Two
 * writers undo each other, so when irqbalance is found at start
 * (coexist_irqbalance_detect()) [rebalance] irqbalance decides:
 *   leave   (default) irqbalance moves every kernel device's interrupts;
 *           dhpd registers no kernel device and writes no /proc/irq file.
 *   share   dhpd moves the interrupts of the PCI addresses [rebalance]
 *           participate names, irqbalance the others; dhpd logs the
 *           --banirq options that keep irqbalance off dhpd's.
 *   ignore  as if irqbalance did not run (both write).
 * Devices clients register are rebalanced by dhpd in every case: their
 * resources are the clients' own, not /proc/irq.  Without irqbalance the
 * setting does nothing.  The reasons are in doc/model.md (L13).
 */
#pragma once

#include "core/rebalance.h"
#include "daemon/config.h"
#include "platform/linux/kdev.h"
#include "util/log.h"

/* Detect irqbalance under root, log how the work is shared, and register
 * the kernel devices dhpd moves (*ret NULL when it moves none).  0, or
 * kdevs_new()'s error. */
int irqshare_setup(struct kdevs **ret, struct rebalance *rb, const char *root, const struct config *c,
                   const struct logger *log);
