/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "platform/linux/irq.h"
#include "platform/linux/kdev.h"
#include "util/cpuset.h"
#include "util/strbuf.h"

struct kdev {
        struct kdevs *owner;
        char bdf[32];
        uint32_t *irqs;
        uint32_t nirqs;
        dhp_device *dev;
        dhp_driver *drv;
};

struct kdevs {
        char root[4096];
        struct sysfs_writer writer;
        struct logger log;
        struct kdev *devs;
        size_t n;
        pthread_mutex_t lock;
        struct kdev_stats stats;
};

const char *kdev_setup_class(uint32_t pci_class) {
        switch (pci_class >> 16) {
        case 0x01: return "Storage";
        case 0x02: return "Net";
        case 0x03: return "Display";
        default: return "System";
        }
}

static int kernel_irq_driver(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        struct kdev *kd = userdata;
        struct kdevs *k = kd->owner;
        struct cpuset set = CPUSET_INIT;
        int r;

        if (req != DHP_REBALANCE_START)
                return 0; /* nothing to hold: the kernel switches a vector atomically */
        r = cpuset_parse(&set, dhp_rebalance_ctx_get_new_affinity(c));
        if (r < 0 || cpuset_count(&set) == 0) {
                log_error(&k->log, "%s: unusable new affinity '%s'", kd->bdf, dhp_rebalance_ctx_get_new_affinity(c));
                cpuset_deinit(&set);
                return r < 0 ? r : -EINVAL;
        }
        for (uint32_t i = 0; i < kd->nirqs; i++) {
                r = irq_affinity_write(&k->writer, k->root, kd->irqs[i], &set);
                pthread_mutex_lock(&k->lock);
                if (r == 0)
                        k->stats.irqs_written++;
                else if (r == IRQ_AFFINITY_MANAGED)
                        k->stats.irqs_managed++;
                else
                        k->stats.irqs_failed++;
                pthread_mutex_unlock(&k->lock);
                if (r == IRQ_AFFINITY_MANAGED)
                        log_info(&k->log, "%s: IRQ %u is managed by the kernel; skipped", kd->bdf, kd->irqs[i]);
                else if (r < 0)
                        log_warning(&k->log, "%s: IRQ %u: cannot set affinity %s: %s", kd->bdf, kd->irqs[i],
                                    dhp_rebalance_ctx_get_new_affinity(c), sysfs_write_strerror(r));
        }
        cpuset_deinit(&set);
        return 0;
}

static int policy_for(const struct irq_pci_dev *d, const struct kdev_policy *p, size_t n) {
        const char *cls = kdev_setup_class(d->pci_class);
        int by_class = 0;

        for (size_t i = 0; i < n; i++) {
                if (strcmp(p[i].match, d->bdf) == 0)
                        return p[i].policy;
                if (strncmp(p[i].match, "class:", 6) == 0 && strcasecmp(p[i].match + 6, cls) == 0)
                        by_class = p[i].policy;
        }
        return by_class;
}

static int add_device(struct kdevs *k, struct rebalance *rb, const struct irq_pci_dev *d, const struct kdev_policy *p,
                      size_t np) {
        struct kdev *kd = &k->devs[k->n];
        struct cpuset cur = CPUSET_INIT;
        struct strbuf sb = STRBUF_INIT;
        int r, pol;

        *kd = (struct kdev){ .owner = k };
        snprintf(kd->bdf, sizeof(kd->bdf), "%s", d->bdf);
        kd->nirqs = d->n_msi ? d->n_msi : 1;
        kd->irqs = calloc(kd->nirqs, sizeof(uint32_t));
        if (!kd->irqs)
                return -ENOMEM;
        if (d->n_msi)
                memcpy(kd->irqs, d->msi_irqs, d->n_msi * sizeof(uint32_t));
        else
                kd->irqs[0] = d->legacy_irq;
        r = rebalance_device_new(rb, d->bdf, kdev_setup_class(d->pci_class), &kd->dev);
        if (r < 0)
                goto fail;
        pol = policy_for(d, p, np);
        if (pol)
                dhp_device_set_policy(kd->dev, (dhp_rebalance_policy)pol);
        /* Start from what the kernel has now, so the first rebalance's
         * old affinity is true. */
        if (irq_affinity_read(k->root, kd->irqs[0], &cur) == 0 && cpuset_count(&cur) > 0 &&
            cpuset_format(&cur, &sb) == 0)
                dhp_device_set_affinity(kd->dev, strbuf_str(&sb));
        cpuset_deinit(&cur);
        strbuf_deinit(&sb);
        r = dhp_driver_attach(kd->dev, "kernel-irq", kernel_irq_driver, kd, &kd->drv);
        if (r < 0)
                goto fail;
        k->n++;
        return 0;
fail:
        dhp_device_free(kd->dev);
        free(kd->irqs);
        return r;
}

int kdevs_new(struct kdevs **ret, struct rebalance *rb, const char *root, const struct sysfs_writer *w,
              const struct kdev_policy *policies, size_t npolicies, const struct logger *log) {
        struct irq_pci_list list = { 0 };
        struct kdevs *k;
        int r;

        if (!ret || !rb || !root)
                return -EINVAL;
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        pthread_mutex_init(&k->lock, NULL);
        snprintf(k->root, sizeof(k->root), "%s", root);
        if (w)
                k->writer = *w;
        if (log)
                k->log = *log;
        k->writer.log = &k->log;
        r = irq_pci_scan(root, &list);
        if (r < 0)
                goto fail;
        k->devs = calloc(list.n ? list.n : 1, sizeof(*k->devs));
        if (!k->devs) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < list.n; i++) {
                const struct irq_pci_dev *d = &list.devs[i];
                if (!d->n_msi && !d->legacy_irq)
                        continue;
                r = add_device(k, rb, d, policies, npolicies);
                if (r < 0) {
                        log_warning(&k->log, "%s: not rebalanced: %s", d->bdf, strerror(-r));
                        continue;
                }
                log_debug(&k->log, "%s: %s device with %u interrupt(s) joins the rebalance", d->bdf,
                          kdev_setup_class(d->pci_class), k->devs[k->n - 1].nirqs);
        }
        k->stats.devices = (unsigned)k->n;
        irq_pci_list_deinit(&list);
        *ret = k;
        return 0;
fail:
        irq_pci_list_deinit(&list);
        kdevs_free(k);
        return r;
}

void kdevs_free(struct kdevs *k) {
        if (!k)
                return;
        for (size_t i = 0; i < k->n; i++) {
                dhp_device_free(k->devs[i].dev);
                free(k->devs[i].irqs);
        }
        free(k->devs);
        pthread_mutex_destroy(&k->lock);
        free(k);
}

void kdevs_stats(struct kdevs *k, struct kdev_stats *ret) {
        pthread_mutex_lock(&k->lock);
        *ret = k->stats;
        pthread_mutex_unlock(&k->lock);
}
