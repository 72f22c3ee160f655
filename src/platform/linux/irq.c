/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform/linux/irq.h"
#include "util/macro.h"
#include "util/parse.h"
#include "util/strbuf.h"

#define PCI_DIR "/sys/bus/pci/devices"

void irq_pci_list_deinit(struct irq_pci_list *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->devs[i].msi_irqs);
        free(l->devs);
        l->devs = NULL;
        l->n = 0;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

static int cmp_dev(const void *a, const void *b) {
        return strcmp(((const struct irq_pci_dev *)a)->bdf, ((const struct irq_pci_dev *)b)->bdf);
}

static int read_msi(int devfd, struct irq_pci_dev *d) {
        DIR *dir;
        struct dirent *de;
        size_t cap = 0;
        int fd, r = 0;

        fd = openat(devfd, "msi_irqs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        dir = fdopendir(fd);
        if (!dir) {
                r = -errno;
                close(fd);
                return r;
        }
        while ((errno = 0, de = readdir(dir))) {
                uint32_t irq;

                if (de->d_name[0] == '.')
                        continue;
                if (de->d_name[0] < '0' || de->d_name[0] > '9' || parse_u32(de->d_name, &irq) < 0) {
                        r = -EBADMSG;
                        break;
                }
                if (d->n_msi == cap) {
                        size_t nc = cap ? cap * 2 : 8;
                        uint32_t *p = realloc(d->msi_irqs, nc * sizeof(*p));
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        d->msi_irqs = p;
                        cap = nc;
                }
                d->msi_irqs[d->n_msi++] = irq;
        }
        if (!r && errno)
                r = -errno;
        closedir(dir);
        if (r >= 0 && d->n_msi)
                qsort(d->msi_irqs, d->n_msi, sizeof(uint32_t), cmp_u32);
        return r;
}

static int read_dev(int pcifd, const char *name, struct irq_pci_dev *d) {
        _cleanup_close_ int devfd = -1;
        char buf[64];
        uint64_t v;
        int r;

        *d = (struct irq_pci_dev){ 0 };
        snprintf(d->bdf, sizeof(d->bdf), "%s", name);
        devfd = openat(pcifd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (devfd < 0)
                return -errno;
        r = sysfs_read_at(devfd, "class", buf, sizeof(buf), NULL);
        if (r < 0)
                return r;
        if (parse_u64(buf, &v) < 0 || v > 0xffffff)
                return -EBADMSG;
        d->pci_class = (uint32_t)v;
        d->is_net = (d->pci_class >> 16) == PCI_CLASS_NET;
        r = sysfs_read_at(devfd, "irq", buf, sizeof(buf), NULL);
        if (r >= 0) {
                if (parse_u64(buf, &v) < 0 || v > UINT32_MAX)
                        return -EBADMSG;
                d->legacy_irq = (uint32_t)v;
        } else if (r != -ENOENT)
                return r;
        return read_msi(devfd, d);
}

int irq_pci_scan(const char *root, struct irq_pci_list *ret) {
        struct irq_pci_list l = { 0 };
        char path[4096];
        DIR *dir;
        struct dirent *de;
        size_t cap = 0;
        int r = 0;

        r = sysfs_path(path, sizeof(path), root, PCI_DIR);
        if (r < 0)
                return r;
        dir = opendir(path);
        if (!dir) {
                if (errno != ENOENT)
                        return -errno;
                *ret = l;
                return 0;
        }
        while ((errno = 0, de = readdir(dir))) {
                if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(l.devs[0].bdf))
                        continue;
                if (l.n == cap) {
                        size_t nc = cap ? cap * 2 : 32;
                        struct irq_pci_dev *p = realloc(l.devs, nc * sizeof(*p));
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        l.devs = p;
                        cap = nc;
                }
                r = read_dev(dirfd(dir), de->d_name, &l.devs[l.n]);
                if (r == -ENOENT) { /* removed while we looked */
                        free(l.devs[l.n].msi_irqs);
                        r = 0;
                        continue;
                }
                l.n++; /* counted even on failure so deinit frees its vectors */
                if (r < 0)
                        break;
        }
        if (!r && errno)
                r = -errno;
        closedir(dir);
        if (r < 0) {
                irq_pci_list_deinit(&l);
                return r;
        }
        if (l.n)
                qsort(l.devs, l.n, sizeof(*l.devs), cmp_dev);
        *ret = l;
        return 0;
}

int irq_affinity_read(const char *root, uint32_t irq, struct cpuset *ret) {
        char path[128];

        snprintf(path, sizeof(path), "/proc/irq/%u/smp_affinity_list", irq);
        return sysfs_read_cpuset(root, path, ret);
}

int irq_affinity_write(const struct sysfs_writer *w, const char *root, uint32_t irq, const struct cpuset *set) {
        struct strbuf sb = STRBUF_INIT;
        char path[128];
        int r;

        if (cpuset_count(set) == 0)
                return -EINVAL;
        r = cpuset_format(set, &sb);
        if (r < 0)
                goto out;
        snprintf(path, sizeof(path), "/proc/irq/%u/smp_affinity_list", irq);
        r = sysfs_write(w, root, path, strbuf_str(&sb), NULL);
        if (r == -EIO)
                r = IRQ_AFFINITY_MANAGED;
out:
        strbuf_deinit(&sb);
        return r;
}
