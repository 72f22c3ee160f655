/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake-sysfs.h"

int fake_sysfs_init(struct fake_sysfs *f) {
        const char *tmp = getenv("TMPDIR");
        struct stat st;

        /* Thousands of small files: prefer tmpfs when TMPDIR is not set. */
        if (!tmp || !*tmp)
                tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                                                                         : "/tmp";
        snprintf(f->root, sizeof(f->root), "%s/dhp-fake-XXXXXX", tmp);
        if (!mkdtemp(f->root)) {
                f->root[0] = 0;
                return -errno;
        }
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path) < 0 ? -1 : 0;
}

void fake_sysfs_deinit(struct fake_sysfs *f) {
        /* Only ever a directory this helper made under a temp dir. */
        if (!f->root[0] || !strstr(f->root, "/dhp-fake-"))
                return;
        nftw(f->root, rm_one, 64, FTW_DEPTH | FTW_PHYS);
        f->root[0] = 0;
}

int fake_sysfs_path(const struct fake_sysfs *f, const char *relpath, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s/%s", f->root, relpath[0] == '/' ? relpath + 1 : relpath);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int mkdir_p(char *path) {
        for (char *p = path + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                        *p = '/';
                        return -errno;
                }
                *p = '/';
        }
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int mkdir_parent(char *path) {
        char *slash = strrchr(path, '/');
        int r;

        if (!slash || slash == path)
                return 0;
        *slash = 0;
        r = mkdir_p(path);
        *slash = '/';
        return r;
}

int fake_sysfs_mkdir(struct fake_sysfs *f, const char *relpath) {
        char p[4096];
        int r = fake_sysfs_path(f, relpath, p, sizeof(p));
        return r < 0 ? r : mkdir_p(p);
}

static int write_abs(char *p, const char *content, int parents) {
        size_t len = strlen(content);
        int fd, r = 0;

        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 && errno == ENOENT && parents) {
                r = mkdir_parent(p);
                if (r < 0)
                        return r;
                fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        }
        if (fd < 0)
                return -errno;
        if (write(fd, content, len) != (ssize_t)len)
                r = -EIO;
        close(fd);
        return r;
}

int fake_sysfs_write(struct fake_sysfs *f, const char *relpath, const char *content) {
        char p[4096];
        int r = fake_sysfs_path(f, relpath, p, sizeof(p));
        return r < 0 ? r : write_abs(p, content, 1);
}

int fake_sysfs_printf(struct fake_sysfs *f, const char *relpath, const char *fmt, ...) {
        char buf[8192];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sizeof(buf))
                return -ENOBUFS;
        return fake_sysfs_write(f, relpath, buf);
}

int fake_sysfs_read(struct fake_sysfs *f, const char *relpath, char *buf, size_t size) {
        char p[4096];
        ssize_t n;
        int fd, r = fake_sysfs_path(f, relpath, p, sizeof(p));

        if (r < 0)
                return r;
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        close(fd);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

int fake_sysfs_symlink(struct fake_sysfs *f, const char *target, const char *relpath) {
        char p[4096];
        int r = fake_sysfs_path(f, relpath, p, sizeof(p));

        if (r < 0)
                return r;
        unlink(p);
        if (symlink(target, p) == 0)
                return 0;
        if (errno != ENOENT)
                return -errno;
        r = mkdir_parent(p);
        if (r < 0)
                return r;
        return symlink(target, p) < 0 ? -errno : 0;
}

int fake_sysfs_unlink(struct fake_sysfs *f, const char *relpath) {
        char p[4096];
        int r = fake_sysfs_path(f, relpath, p, sizeof(p));
        return r < 0 ? r : (unlink(p) < 0 ? -errno : 0);
}

int fake_sysfs_add_cpus(struct fake_sysfs *f, uint32_t n, const char *online_list) {
        char rel[128];
        int r;

        if (n == 0)
                return -EINVAL;
        r = fake_sysfs_printf(f, "sys/devices/system/cpu/possible", n > 1 ? "0-%u\n" : "0\n", n - 1);
        if (r >= 0)
                r = fake_sysfs_printf(f, "sys/devices/system/cpu/present", n > 1 ? "0-%u\n" : "0\n", n - 1);
        if (r >= 0)
                r = fake_sysfs_printf(f, "sys/devices/system/cpu/online", "%s\n", online_list);
        for (uint32_t i = 0; r >= 0 && i < n; i++) {
                snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u", i);
                r = fake_sysfs_mkdir(f, rel);
                if (r < 0 || i == 0)
                        continue;
                /* Tests give simple lists; online unless named offline is
                 * decided by the caller afterwards with fake_sysfs_write. */
                snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/online", i);
                r = fake_sysfs_write(f, rel, "1\n");
        }
        return r;
}

int fake_sysfs_add_memory(struct fake_sysfs *f, uint64_t block_size, uint32_t first, uint32_t n, const char *state,
                          const char *zones) {
        char dir[4096], p[4200], buf[64];
        size_t dl;
        int r;

        r = fake_sysfs_printf(f, "sys/devices/system/memory/block_size_bytes", "%llx\n",
                              (unsigned long long)block_size);
        if (r < 0)
                return r;
        r = fake_sysfs_path(f, "sys/devices/system/memory", dir, sizeof(dir));
        if (r < 0)
                return r;
        dl = strlen(dir);
        for (uint32_t i = first; i < first + n; i++) {
                snprintf(p, sizeof(p), "%.*s/memory%u", (int)dl, dir, i);
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                snprintf(p, sizeof(p), "%.*s/memory%u/state", (int)dl, dir, i);
                snprintf(buf, sizeof(buf), "%s\n", state);
                if ((r = write_abs(p, buf, 0)) < 0)
                        return r;
                snprintf(p, sizeof(p), "%.*s/memory%u/phys_index", (int)dl, dir, i);
                snprintf(buf, sizeof(buf), "%08x\n", i);
                if ((r = write_abs(p, buf, 0)) < 0)
                        return r;
                if (!zones)
                        continue;
                snprintf(p, sizeof(p), "%.*s/memory%u/valid_zones", (int)dl, dir, i);
                snprintf(buf, sizeof(buf), "%s\n", zones);
                if ((r = write_abs(p, buf, 0)) < 0)
                        return r;
                snprintf(p, sizeof(p), "%.*s/memory%u/removable", (int)dl, dir, i);
                if ((r = write_abs(p, "1\n", 0)) < 0)
                        return r;
        }
        return 0;
}

int fake_sysfs_add_acpi_memdev(struct fake_sysfs *f, const char *name, uint32_t first, uint32_t n) {
        char dev[256], rel[512], target[512];
        int r;

        snprintf(dev, sizeof(dev), "sys/devices/LNXSYSTM:00/LNXSYBUS:00/%s", name);
        snprintf(rel, sizeof(rel), "%s/hid", dev);
        r = fake_sysfs_write(f, rel, "PNP0C80\n");
        if (r < 0)
                return r;
        snprintf(rel, sizeof(rel), "sys/bus/acpi/devices/%s", name);
        snprintf(target, sizeof(target), "../../../devices/LNXSYSTM:00/LNXSYBUS:00/%s", name);
        r = fake_sysfs_symlink(f, target, rel);
        for (uint32_t i = 0; r >= 0 && i < n; i++) {
                if (i == 0)
                        snprintf(rel, sizeof(rel), "%s/physical_node", dev);
                else
                        snprintf(rel, sizeof(rel), "%s/physical_node%u", dev, i);
                snprintf(target, sizeof(target), "../../../system/memory/memory%u", first + i);
                r = fake_sysfs_symlink(f, target, rel);
                if (r < 0)
                        break;
                snprintf(rel, sizeof(rel), "sys/devices/system/memory/memory%u/firmware_node", first + i);
                snprintf(target, sizeof(target), "../../../LNXSYSTM:00/LNXSYBUS:00/%s", name);
                r = fake_sysfs_symlink(f, target, rel);
        }
        return r;
}

int fake_sysfs_add_pci(struct fake_sysfs *f, const char *bdf, uint32_t pci_class, uint32_t irq, const uint32_t *msi,
                       size_t n_msi) {
        char dev[256], rel[512], target[256];
        int r;

        snprintf(dev, sizeof(dev), "sys/devices/pci0000:00/%s", bdf);
        snprintf(rel, sizeof(rel), "%s/class", dev);
        r = fake_sysfs_printf(f, rel, "0x%06x\n", pci_class);
        if (r >= 0) {
                snprintf(rel, sizeof(rel), "%s/irq", dev);
                r = fake_sysfs_printf(f, rel, "%u\n", irq);
        }
        for (size_t i = 0; r >= 0 && i < n_msi; i++) {
                snprintf(rel, sizeof(rel), "%s/msi_irqs/%u", dev, msi[i]);
                r = fake_sysfs_write(f, rel, "msix\n");
        }
        if (r >= 0) {
                snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s", bdf);
                snprintf(target, sizeof(target), "../../../devices/pci0000:00/%s", bdf);
                r = fake_sysfs_symlink(f, target, rel);
        }
        return r;
}

int fake_sysfs_add_irq(struct fake_sysfs *f, uint32_t irq, const char *affinity) {
        char rel[128];

        snprintf(rel, sizeof(rel), "proc/irq/%u/smp_affinity_list", irq);
        return fake_sysfs_printf(f, rel, "%s\n", affinity);
}

int fake_sysfs_add_cgroup(struct fake_sysfs *f, const char *dir, const char *cpumax, const char *memmax,
                          const char *memhigh, const char *cpus) {
        static const char *const names[] = { "cpu.max", "memory.max", "memory.high", "cpuset.cpus.effective" };
        const char *values[] = { cpumax, memmax, memhigh, cpus };
        char rel[512];
        int r;

        snprintf(rel, sizeof(rel), "%s/cgroup.controllers", dir);
        r = fake_sysfs_write(f, rel, "cpuset cpu memory\n");
        for (size_t i = 0; r >= 0 && i < sizeof(names) / sizeof(names[0]); i++) {
                if (!values[i])
                        continue;
                snprintf(rel, sizeof(rel), "%s/%s", dir, names[i]);
                r = fake_sysfs_write(f, rel, values[i]);
        }
        return r;
}

int fake_sysfs_group_setup(void **state) {
        static struct fake_sysfs f;

        if (fake_sysfs_init(&f) < 0)
                return -1;
        *state = &f;
        return 0;
}

int fake_sysfs_group_teardown(void **state) {
        fake_sysfs_deinit(*state);
        return 0;
}
