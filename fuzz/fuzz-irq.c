/* SPDX-License-Identifier: MIT */
/*
 * The PCI/IRQ sysfs values of the rebalance (src/platform/linux/irq.c):
 * irq_pci_scan() over a small fake tree whose files come from the input,
 * then irq_affinity_read() for each interrupt found.  Pieces separated by
 * FUZZ_SEP, each "RELPATH\nCONTENT" (a file) or "RELPATH\n/" (an empty
 * directory), RELPATH under sys/bus/pci/devices/ or proc/irq/ of a
 * temporary root.  (fuzz-sysfs-values covers the number parsers alone;
 * this covers what irq.c makes of the files: class, irq, msi_irqs/ names,
 * smp_affinity_list.)  Whatever the tree says, the list is sorted, each
 * device's vectors ascending, and the class within 24 bits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "platform/linux/irq.h"

static char root[64];

static void cleanup(void) {
        fuzz_rm_tree(root);
}

static int path_ok(const char *p) {
        if (strncmp(p, "sys/bus/pci/devices/", 20) != 0 && strncmp(p, "proc/irq/", 9) != 0)
                return 0;
        if (strstr(p, "..") || strstr(p, "//") || p[strlen(p) - 1] == '/')
                return 0;
        for (const char *c = p; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '/' ||
                      *c == '_' || *c == ':' || *c == '.' || *c == '-'))
                        return 0;
        return 1;
}

static void make_entry(const uint8_t *piece, size_t len) {
        char abs[512];

        if (!fuzz_tree_entry(root, piece, len, path_ok, abs, sizeof(abs), &piece, &len))
                return;
        if (len == 1 && piece[0] == '/') {
                mkdir(abs, 0755);
        } else {
                int fd = open(abs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd >= 0) {
                        (void)!write(fd, piece, len);
                        close(fd);
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *p = data, *end = data + size, *piece;
        struct irq_pci_list l = { 0 };
        size_t len;
        int n = 0, r;

        if (!root[0])
                fuzz_mkdtemp(root, sizeof(root), "irq", cleanup);
        cleanup();
        if (mkdir(root, 0755) < 0 && errno != EEXIST)
                abort();
        while (n++ < 64 && fuzz_next_piece(&p, end, &piece, &len))
                make_entry(piece, len);

        r = irq_pci_scan(root, &l);
        if (r < 0) {
                FUZZ_CHECK(l.n == 0 && l.devs == NULL);
                return 0;
        }
        for (size_t i = 0; i < l.n; i++) {
                const struct irq_pci_dev *d = &l.devs[i];
                FUZZ_CHECK(memchr(d->bdf, 0, sizeof(d->bdf)) && d->bdf[0]);
                FUZZ_CHECK(i == 0 || strcmp(l.devs[i - 1].bdf, d->bdf) < 0);
                FUZZ_CHECK(d->pci_class <= 0xffffff && d->is_net == ((d->pci_class >> 16) == PCI_CLASS_NET));
                for (uint32_t k = 1; k < d->n_msi; k++)
                        FUZZ_CHECK(d->msi_irqs[k - 1] <= d->msi_irqs[k]);
                for (uint32_t k = 0; k < d->n_msi + 1 && k < 8; k++) {
                        struct cpuset set = CPUSET_INIT;
                        uint32_t irq = k < d->n_msi ? d->msi_irqs[k] : d->legacy_irq;
                        if (irq_affinity_read(root, irq, &set) == 0)
                                FUZZ_CHECK(cpuset_count(&set) <= CPUSET_MAX_CPUS);
                        cpuset_deinit(&set);
                }
        }
        irq_pci_list_deinit(&l);
        return 0;
}
