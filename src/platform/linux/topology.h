/* SPDX-License-Identifier: MIT */
/*
 * What processors and memory the kernel shows in sysfs, read once at start
 * (and again on a resync after lost uevents).
 *
 * Processors: /sys/devices/system/cpu/{possible,present,online} and each
 * cpuN/online (absent for a CPU that cannot be taken offline, e.g. cpu0).
 *
 * Memory: /sys/devices/system/memory/block_size_bytes (hex) and each
 * memoryN/{state,phys_index,valid_zones,removable}.  Block N spans
 * [N * block_size, (N + 1) * block_size): phys_index is the block id, in hex.
 *
 * Grouping blocks into memory devices (what a hot-add added at once, and what
 * an arrival notification names):
 *   1. A block bound to an ACPI memory device belongs to that device.  The
 *      kernel's acpi_memhotplug driver binds every block of a PNP0C80 device
 *      (a QEMU pc-dimm, a physical DIMM) with acpi_bind_one(), which creates
 *      memoryN/firmware_node -> .../PNP0C80:XX and, in the ACPI device's
 *      directory, physical_node, physical_node1, physical_node2, ... ->
 *      .../memory/memoryN.  We read /sys/bus/acpi/devices/PNP0C80:* once and
 *      their physical_node* links: one readdir per memory device, no
 *      per-block probing.  The device is named after the ACPI device.
 *   2. Every other block joins a "run": a maximal sequence of consecutive
 *      block ids, none bound to firmware, all online or all not online.
 *      Boot memory becomes one or a few runs; memory added without ACPI
 *      (probe, virtio-mem, DLPAR) and not yet onlined becomes its own run.
 *      A run is named "memoryA-memoryB".
 * Devices are ordered by their lowest block id; each device's blocks are in
 * id order.
 *
 * Cost: one readdir of each directory, a few small reads per CPU and per
 * block, sorting; no O(n^2) step (a 4 TiB machine has 32768 blocks).
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "platform/linux/sysfs.h"
#include "util/cpuset.h"
#include "util/log.h"

struct topology_cpu {
        uint32_t id;
        bool present;
        bool online;
        bool hotpluggable; /* has cpuN/online */
};

enum memblock_state {
        MEMBLOCK_STATE_OFFLINE,
        MEMBLOCK_STATE_ONLINE,
        MEMBLOCK_STATE_GOING_OFFLINE,
};

enum memdev_kind {
        MEMDEV_KIND_ACPI, /* a PNP0C80 ACPI memory device */
        MEMDEV_KIND_RUN,  /* consecutive blocks, see the header comment */
};

#define TOPOLOGY_ZONES_MAX 64

struct topology_memblock {
        uint32_t id; /* N of memoryN */
        uint64_t start;
        enum memblock_state state;
        int removable;                        /* 1, 0, or -1 when not read/absent */
        char valid_zones[TOPOLOGY_ZONES_MAX]; /* "" when not read/absent */
        uint32_t device;                      /* index into topology.devs */
};

struct topology_memdev {
        enum memdev_kind kind;
        char name[32]; /* "PNP0C80:00", or "memory32-memory35" */
        uint64_t start, size;
        uint32_t n_blocks;
        uint32_t n_online;
        uint32_t first; /* this device's blocks: topology.dev_blocks[first .. first+n_blocks) */
};

struct topology {
        struct cpuset possible, present, online;
        struct topology_cpu *cpus; /* by id */
        uint32_t n_cpus;

        uint64_t block_size; /* 0 when the kernel has no memory hotplug */
        struct topology_memblock *blocks; /* by id */
        uint32_t n_blocks;
        struct topology_memdev *devs; /* by lowest block id */
        uint32_t n_devs;
        uint32_t *dev_blocks; /* indexes into blocks, grouped per device */
};

enum {
        /* Also read valid_zones and removable of each block (two more reads
         * per block; valid_zones is slow in the kernel for large blocks).
         * Not while memory may be being hot-added: on Linux 6.1 (Debian
         * 6.1.192, QEMU e2e) reading valid_zones of an offline block
         * between its add uevent and the registration of its node oopses
         * the kernel (zone_for_pfn_range() with NUMA_NO_NODE). */
        TOPOLOGY_LOAD_ZONES = 1 << 0,
};

/* Enumerate under root.  -ENOENT if the cpu directory or its lists are
 * missing; a missing memory directory is not an error (block_size 0).
 * -EBADMSG on content that does not parse. */
int topology_load(struct topology **ret, const char *root, unsigned flags, const struct logger *log);
void topology_free(struct topology *t);

/* Binary search by id; NULL if absent. */
const struct topology_memblock *topology_find_block(const struct topology *t, uint32_t id);
const struct topology_cpu *topology_find_cpu(const struct topology *t, uint32_t id);

/* "online", "offline", "going-offline". -EBADMSG otherwise. */
int memblock_state_from_string(const char *s, enum memblock_state *ret);
const char *memblock_state_to_string(enum memblock_state s);

/* Current state of one CPU / block (for events after the load).  The CPU
 * ones are inline: they are on every processor add (doc/architecture.md,
 * the add path), a path and one sysfs read or write each. */
static inline int topology_read_cpu_online(const char *root, uint32_t cpu, bool *ret) {
        char p[4096], buf[16];
        int r;

        r = sysfs_pathf(p, sizeof(p), root, "/sys/devices/system/cpu/cpu%u/online", cpu);
        if (r < 0)
                return r;
        r = sysfs_read_at(AT_FDCWD, p, buf, sizeof(buf), NULL);
        if (r < 0)
                return r;
        if ((buf[0] != '0' && buf[0] != '1') || buf[1])
                return -EBADMSG;
        *ret = buf[0] == '1';
        return 0;
}
int topology_read_block_state(const char *root, uint32_t id, enum memblock_state *ret);

/* 0 if memoryN exists in sysfs, -ENOENT if not: one access(2), for the
 * blocks above a burst that may belong to the same DIMM. */
int topology_block_present(const char *root, uint32_t id);

/* The ACPI memory device a block is bound to (basename of
 * memoryN/firmware_node, e.g. "PNP0C80:00").  -ENOENT if not bound,
 * -ENOMEDIUM if bound to something that is not a PNP0C80 device. */
int topology_block_firmware_node(const char *root, uint32_t id, char *buf, size_t size);

/* The block ids an ACPI memory device spans (its physical_node* links), in
 * no particular order; at most cap written.  *ret_n is the total count. */
int topology_acpi_memdev_blocks(const char *root, const char *acpi_name, uint32_t *ids, size_t cap, size_t *ret_n);

/* ACPI memory devices being hot-added: present (bit 0 of their _STA,
 * the ACPI device's `status`) but no memory block bound yet.  The kernel
 * creates a DIMM's memory blocks (their `add` uevents) first and binds them
 * to the PNP0C80 device (firmware_node, physical_node*) only after every
 * block was added, and onlined if auto_online_blocks says so; a device in
 * that window is listed here.  Devices without a `status` file are not.
 * At most cap names written; *ret_n is the total count. */
int topology_acpi_memdev_pending(const char *root, char (*names)[32], size_t cap, size_t *ret_n);

/* Online or offline a CPU: write "1"/"0" to cpuN/online. */
static inline int topology_cpu_set_online(const struct sysfs_writer *w, const char *root, uint32_t cpu, bool online,
                                          unsigned *attempts) {
        char p[128];

        snprintf(p, sizeof(p), "/sys/devices/system/cpu/cpu%u/online", cpu);
        return sysfs_write(w, root, p, online ? "1" : "0", attempts);
}
/* Write state ("online", "online_movable", "online_kernel", "offline";
 * anything else is -EINVAL before touching sysfs) to memoryN/state. */
int topology_block_set_state(const struct sysfs_writer *w, const char *root, uint32_t id, const char *state,
                             unsigned *attempts);
