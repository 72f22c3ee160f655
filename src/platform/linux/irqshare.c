/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "platform/linux/coexist.h"
#include "platform/linux/irq.h"
#include "platform/linux/irqshare.h"
#include "util/strbuf.h"

/* A device dhpd owns under SHARE: given policy 2 by its address. */
static bool owned(const struct kdev_policy *p, size_t n, const char *bdf) {
        for (size_t i = 0; i < n; i++)
                if (p[i].policy == 2 && strcmp(p[i].match, bdf) == 0)
                        return true;
        return false;
}

/* "--banirq=24 --banirq=25" for the interrupts of dhpd's devices, as they
 * are numbered now. */
static void banirq_args(const char *root, const struct kdev_policy *p, size_t n, struct strbuf *sb) {
        struct irq_pci_list l = { 0 };

        if (irq_pci_scan(root, &l) < 0)
                return;
        for (size_t i = 0; i < l.n; i++) {
                const struct irq_pci_dev *d = &l.devs[i];

                if (!owned(p, n, d->bdf))
                        continue;
                for (uint32_t v = 0; v < d->n_msi; v++)
                        strbuf_printf(sb, "%s--banirq=%u", sb->len ? " " : "", d->msi_irqs[v]);
                if (!d->n_msi && d->legacy_irq)
                        strbuf_printf(sb, "%s--banirq=%u", sb->len ? " " : "", d->legacy_irq);
        }
        irq_pci_list_deinit(&l);
}

/* SHARE: the addresses that participate, every class out (an address wins
 * over a class in kdevs_new()).  Their number, 0 when there is none. */
static size_t share_policies(const struct kdev_policy *p, size_t n, struct kdev_policy *out,
                             struct strbuf *names) {
        static const char *const classes[] = { "class:System", "class:Storage", "class:Net", "class:Display" };
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                if (p[i].policy == 2 && strncmp(p[i].match, "class:", 6) != 0) {
                        out[k++] = p[i];
                        strbuf_printf(names, "%s%s", names->len ? ", " : "", p[i].match);
                }
        if (k == 0)
                return 0;
        for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
                out[k++] = (struct kdev_policy){ .match = classes[i], .policy = 1 };
        return k;
}

int irqshare_setup(struct kdevs **ret, struct rebalance *rb, const char *root, enum irqshare_mode mode,
                   const struct kdev_policy *policies, size_t npolicies, const struct logger *log) {
        struct strbuf names = STRBUF_INIT, ban = STRBUF_INIT;
        struct coexist_irqbalance ib = { 0 };
        struct kdev_policy *pol;
        size_t n = 0;
        int r;

        *ret = NULL;
        if (coexist_irqbalance_detect(root, &ib) < 0 || !ib.found || mode == IRQSHARE_IGNORE) {
                if (ib.found)
                        log_warning(log, "%s and [rebalance] irqbalance = ignore: both write interrupt affinity, "
                                    "dhpd after each processor add and irqbalance at its next pass, which undoes "
                                    "dhpd's", ib.why);
                return kdevs_new(ret, rb, root, NULL, policies, npolicies, log);
        }
        pol = calloc(npolicies + 4, sizeof(*pol));
        if (!pol)
                return -ENOMEM;
        if (mode == IRQSHARE_SHARE)
                n = share_policies(policies, npolicies, pol, &names);
        if (n == 0) {
                log_notice(log, "%s: it moves the interrupts of every kernel device and dhpd writes none "
                           "([rebalance] irqbalance = %s); devices registered by clients are still rebalanced",
                           ib.why, mode == IRQSHARE_SHARE ? "share, but participate names no PCI address" : "leave");
                r = 0;
                goto out;
        }
        r = kdevs_new(ret, rb, root, NULL, pol, n, log);
        if (r < 0)
                goto out;
        banirq_args(root, pol, n, &ban);
        log_notice(log, "%s: dhpd moves the interrupts of %s ([rebalance] participate), irqbalance those of every "
                   "other kernel device ([rebalance] irqbalance = share)", ib.why, strbuf_str(&names));
        if (ban.len)
                log_notice(log, "  to keep irqbalance off dhpd's: IRQBALANCE_ARGS=\"%s\" in its environment file "
                           "(/etc/default/irqbalance or /etc/sysconfig/irqbalance)", strbuf_str(&ban));
out:
        free(pol);
        strbuf_deinit(&names);
        strbuf_deinit(&ban);
        return r;
}
