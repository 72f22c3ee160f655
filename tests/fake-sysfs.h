/* SPDX-License-Identifier: MIT */
/*
 * A fake /sys, /proc, /etc and /usr/lib tree in a mkdtemp() directory, for
 * the tests of src/platform/linux.  Pass fake_sysfs.root as the modules'
 * root prefix.  Every helper returns 0 or a negative errno.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct fake_sysfs {
        char root[256];
};

int fake_sysfs_init(struct fake_sysfs *f);
/* Remove the whole tree (no-op if never created). */
void fake_sysfs_deinit(struct fake_sysfs *f);

/* Absolute path of relpath under the fake root, in a static-free buffer. */
int fake_sysfs_path(const struct fake_sysfs *f, const char *relpath, char *buf, size_t size);
int fake_sysfs_mkdir(struct fake_sysfs *f, const char *relpath);
/* Create (with parent directories) or overwrite relpath with content. */
int fake_sysfs_write(struct fake_sysfs *f, const char *relpath, const char *content);
int fake_sysfs_printf(struct fake_sysfs *f, const char *relpath, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Read relpath back (for checking what a module wrote). */
int fake_sysfs_read(struct fake_sysfs *f, const char *relpath, char *buf, size_t size);
/* Symlink relpath -> target (target used verbatim, relative or absolute). */
int fake_sysfs_symlink(struct fake_sysfs *f, const char *target, const char *relpath);
int fake_sysfs_unlink(struct fake_sysfs *f, const char *relpath);

/* /sys/devices/system/cpu: possible = present = 0..n-1, online = the list;
 * cpuN/online for every N but 0. */
int fake_sysfs_add_cpus(struct fake_sysfs *f, uint32_t n, const char *online_list);
/* /sys/devices/system/memory: block_size_bytes (written each call),
 * memoryN for N in [first, first+n) with state, phys_index and, if zones is
 * not NULL, valid_zones and removable. */
int fake_sysfs_add_memory(struct fake_sysfs *f, uint64_t block_size, uint32_t first, uint32_t n, const char *state,
                          const char *zones);
/* An ACPI memory device (PNP0C80:XX) bound to blocks [first, first+n), as
 * acpi_bind_one() links it: device dir under /sys/devices/LNXSYSTM:00/...,
 * /sys/bus/acpi/devices/NAME symlink, physical_node{,1,..} and
 * memoryN/firmware_node. */
int fake_sysfs_add_acpi_memdev(struct fake_sysfs *f, const char *name, uint32_t first, uint32_t n);
/* A PCI device: class (e.g. 0x020000), legacy irq (0: none), MSI irqs. */
int fake_sysfs_add_pci(struct fake_sysfs *f, const char *bdf, uint32_t pci_class, uint32_t irq, const uint32_t *msi,
                       size_t n_msi);
/* /proc/irq/N/smp_affinity_list. */
int fake_sysfs_add_irq(struct fake_sysfs *f, uint32_t irq, const char *affinity);

/* A cgroup v2 directory dir (relative to the root) with the cpuset, cpu and
 * memory controllers and, for each value not NULL, its cpu.max, memory.max,
 * memory.high and cpuset.cpus.effective. */
int fake_sysfs_add_cgroup(struct fake_sysfs *f, const char *dir, const char *cpumax, const char *memmax,
                          const char *memhigh, const char *cpus);

/* cmocka group fixtures: one fake tree for the group, in *state. */
int fake_sysfs_group_setup(void **state);
int fake_sysfs_group_teardown(void **state);
