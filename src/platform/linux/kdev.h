/* SPDX-License-Identifier: MIT */
/*
 * Kernel devices in the rebalance: PCI devices with interrupts.
 *
 * Each PCI device with a legacy IRQ or MSI/MSI-X vectors becomes a rebalance
 * device named by its address (0000:00:03.0), of setup class Net (PCI base
 * class 0x02), Storage (0x01), Display (0x03) or System (anything else), with
 * one driver, "kernel-irq".  The kernel changes an interrupt's affinity
 * atomically, so QUERY_STOP and STOP have nothing to hold; START writes the
 * new affinity to /proc/irq/N/smp_affinity_list for each vector.  A vector
 * whose affinity the kernel manages refuses the write (EIO): it is skipped,
 * logged and counted, and the other vectors are still written.
 *
 * Policy: DHP_Rebalance_Policy from the configuration, by PCI address or by
 * class:NAME (an address wins over a class); otherwise the class opt-out
 * (Net opted out by default).
 */
#pragma once

#include <stddef.h>

#include "core/rebalance.h"
#include "platform/linux/sysfs.h"
#include "util/log.h"

struct kdev_policy {
        const char *match; /* "0000:00:03.0" or "class:Net" */
        int policy;        /* 1: do not participate, 2: participate */
};

struct kdevs;

struct kdev_stats {
        unsigned devices;
        uint64_t irqs_written, irqs_managed, irqs_failed;
};

/* Scan the PCI devices under root and register them with the rebalance. */
int kdevs_new(struct kdevs **ret, struct rebalance *rb, const char *root, const struct sysfs_writer *w,
              const struct kdev_policy *policies, size_t npolicies, const struct logger *log);
void kdevs_free(struct kdevs *k);
void kdevs_stats(struct kdevs *k, struct kdev_stats *ret);
/* The setup class of a PCI class code. */
const char *kdev_setup_class(uint32_t pci_class);
