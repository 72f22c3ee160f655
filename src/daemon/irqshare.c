/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "daemon/irqshare.h"
#include "platform/linux/coexist.h"
#include "platform/linux/irq.h"
#include "util/strbuf.h"

static bool is_address(const char *match) {
        return strncmp(match, "class:", 6) != 0;
}

/* "--banirq=24 --banirq=25" for the interrupts of the participating
 * addresses, as they are now. */
static void banirq_args(const char *root, const struct config *c, struct strbuf *sb) {
        struct irq_pci_list l = { 0 };

        if (irq_pci_scan(root, &l) < 0)
                return;
        for (size_t i = 0; i < l.n; i++) {
                const struct irq_pci_dev *d = &l.devs[i];
                bool ours = false;

                for (unsigned k = 0; k < c->ndevices; k++)
                        if (c->devices[k].policy == 2 && strcmp(c->devices[k].match, d->bdf) == 0)
                                ours = true;
                if (!ours)
                        continue;
                for (uint32_t v = 0; v < d->n_msi; v++)
                        strbuf_printf(sb, "%s--banirq=%u", sb->len ? " " : "", d->msi_irqs[v]);
                if (!d->n_msi && d->legacy_irq)
                        strbuf_printf(sb, "%s--banirq=%u", sb->len ? " " : "", d->legacy_irq);
        }
        irq_pci_list_deinit(&l);
}

/* share: the configured addresses that participate, every class out. */
static size_t share_policies(const struct config *c, struct kdev_policy *pol, struct strbuf *names) {
        static const char *const classes[] = { "class:System", "class:Storage", "class:Net", "class:Display" };
        size_t n = 0;

        for (unsigned i = 0; i < c->ndevices; i++)
                if (c->devices[i].policy == 2 && is_address(c->devices[i].match)) {
                        pol[n++] = (struct kdev_policy){ .match = c->devices[i].match, .policy = 2 };
                        strbuf_printf(names, "%s%s", names->len ? ", " : "", c->devices[i].match);
                }
        if (n == 0)
                return 0;
        for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
                pol[n++] = (struct kdev_policy){ .match = classes[i], .policy = 1 };
        return n;
}

int irqshare_setup(struct kdevs **ret, struct rebalance *rb, const char *root, const struct config *c,
                   const struct logger *log) {
        struct kdev_policy pol[CONFIG_MAX_DEVICE_POLICIES + 4];
        struct strbuf names = STRBUF_INIT, ban = STRBUF_INIT;
        struct coexist_irqbalance ib;
        size_t n = 0;
        int r;

        *ret = NULL;
        if (coexist_irqbalance_detect(root, &ib) < 0 || !ib.found || c->irqbalance == CONFIG_IRQBALANCE_IGNORE) {
                if (ib.found)
                        log_warning(log, "%s and [rebalance] irqbalance = ignore: both write interrupt affinity, "
                                    "dhpd after each processor add and irqbalance at its next pass, which undoes "
                                    "dhpd's", ib.why);
                for (unsigned i = 0; i < c->ndevices; i++)
                        pol[n++] = (struct kdev_policy){ .match = c->devices[i].match, .policy = c->devices[i].policy };
                return kdevs_new(ret, rb, root, NULL, pol, n, log);
        }
        if (c->irqbalance == CONFIG_IRQBALANCE_SHARE)
                n = share_policies(c, pol, &names);
        if (n == 0) {
                log_notice(log, "%s: it moves the interrupts of every kernel device and dhpd writes none "
                           "([rebalance] irqbalance = %s); devices registered by clients are still rebalanced",
                           ib.why, c->irqbalance == CONFIG_IRQBALANCE_SHARE
                                           ? "share, but participate names no PCI address"
                                           : "leave");
                return 0;
        }
        r = kdevs_new(ret, rb, root, NULL, pol, n, log);
        if (r >= 0) {
                banirq_args(root, c, &ban);
                log_notice(log, "%s: dhpd moves the interrupts of %s ([rebalance] participate), irqbalance those "
                           "of every other kernel device ([rebalance] irqbalance = share)", ib.why, strbuf_str(&names));
                if (ban.len)
                        log_notice(log, "  to keep irqbalance off dhpd's: IRQBALANCE_ARGS=\"%s\" in its "
                                   "environment file (/etc/default/irqbalance or /etc/sysconfig/irqbalance)",
                                   strbuf_str(&ban));
        }
        strbuf_deinit(&names);
        strbuf_deinit(&ban);
        return r;
}
