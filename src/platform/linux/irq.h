/* SPDX-License-Identifier: MIT */
/*
 * Interrupt affinity for the resource rebalance after a processor is added.
 *
 * Devices: each /sys/bus/pci/devices entry with their class (class Net, 0x02xxxx, is
 * opted out of rebalance by default, doc/model.md D23, L9), their MSI/MSI-X vectors
 * (the names in msi_irqs/) and their legacy INTx line (irq, 0 when none).
 * Affinity: /proc/irq/N/smp_affinity_list.  The kernel refuses to move a
 * managed interrupt (multiqueue drivers spread those themselves) with EIO:
 * that is a skip, not a failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/linux/sysfs.h"
#include "util/cpuset.h"

#define PCI_CLASS_NET 0x02u /* the base class, class >> 16 */

struct irq_pci_dev {
        char bdf[32]; /* "0000:00:03.0" */
        uint32_t pci_class;
        bool is_net;
        uint32_t legacy_irq; /* 0: none */
        uint32_t *msi_irqs;  /* ascending */
        uint32_t n_msi;
};

struct irq_pci_list {
        struct irq_pci_dev *devs; /* by bdf */
        size_t n;
};

/* Enumerate PCI devices under root.  A missing /sys/bus/pci is an empty
 * list.  -EBADMSG on a class or irq file that does not parse. */
int irq_pci_scan(const char *root, struct irq_pci_list *ret);
void irq_pci_list_deinit(struct irq_pci_list *l);

/* Read /proc/irq/N/smp_affinity_list. */
int irq_affinity_read(const char *root, uint32_t irq, struct cpuset *ret);

enum {
        /* irq_affinity_write(): the kernel manages this interrupt's
         * affinity (EIO); it was left alone. */
        IRQ_AFFINITY_MANAGED = 1,
};

/* Write set (non-empty) to /proc/irq/N/smp_affinity_list through w.
 * 0, IRQ_AFFINITY_MANAGED, -EINVAL (empty set, or none of its CPUs is
 * online), -ENOENT (no such IRQ), or another error of sysfs_write(). */
int irq_affinity_write(const struct sysfs_writer *w, const char *root, uint32_t irq, const struct cpuset *set);
