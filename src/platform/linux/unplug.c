/* SPDX-License-Identifier: MIT */
/*
 * Removal on Linux (doc/model.md, "Removal", L14-L16): the engine's removal
 * ops over sysfs, the kernel's offline and remove uevents, and virtio-mem
 * devices.  What the kernels do is in tests/e2e/PROBES.md:
 *
 *   - an ACPI CPU eject: `offline` (the kernel offlines it), `unbind`,
 *     `remove` of /devices/system/cpu/cpuN;
 *   - an ACPI DIMM eject: `offline` of every block, then `remove` of every
 *     block, lowest first; nothing for the PNP0C80 device;
 *   - virtio-mem: blocks come and go one at a time, (add[, online]) on a
 *     grow, (offline, remove) or a bare remove on a shrink, with no end
 *     marker and no uevent naming the device.  A block belongs to the
 *     device whose top-level /proc/iomem range ("virtio0") contains it.
 *
 * So a DIMM's REMOVAL comes when its last block is removed, and a
 * virtio-mem resize step ends when its device has been quiet for
 * vmem_settle_ns (the kernel's blocks come 1-70 ms apart).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/linux/cgroup.h"
#include "platform/linux/linux-internal.h"
#include "util/macro.h"
#include "util/time.h"

#define VMEM_SETTLE_DEFAULT_NS NSEC_PER_SEC
#define VIRTIO_ID_MEM "0x0018"

/* ---- the engine's removal ops ---------------------------------------- */

/* set without cpu: the new cpuset.cpus of a group losing it. */
static int cpuset_without(const struct cpuset *set, uint32_t cpu, struct cpuset *ret) {
        int r = 0;

        for (int64_t c = cpuset_next(set, 0); c >= 0 && r >= 0; c = cpuset_next(set, (uint32_t)c + 1))
                if ((uint32_t)c != cpu)
                        r = cpuset_set(ret, (uint32_t)c);
        return r;
}

int linux_op_cpu_unadmit(void *p, uint32_t index) {
        struct linux_platform *lp = p;

        for (unsigned i = 0; i < lp->cfg.ncgroups; i++) {
                struct cpuset s = CPUSET_INIT, n = CPUSET_INIT;
                int r = cgroup_cpuset_read(lp->root, lp->cgroup_mount, lp->cgroups[i], &s);

                if (r >= 0 && cpuset_test(&s, index) && (r = cpuset_without(&s, index, &n)) >= 0) {
                        /* An empty cpuset.cpus means "the parent's": never
                         * write one, the group would widen instead. */
                        if (cpuset_count(&n) == 0)
                                log_warning(&lp->log, "cpu%u: the only CPU of managed cgroup %s; left as it is",
                                            index, lp->cgroups[i]);
                        else
                                r = cgroup_cpuset_write(&lp->writer, lp->root, lp->cgroup_mount, lp->cgroups[i], &n);
                }
                if (r < 0 && r != -ENOENT)
                        log_error(&lp->log, "cpu%u: cannot narrow cgroup %s: %s", index, lp->cgroups[i],
                                  sysfs_write_strerror(r));
                cpuset_deinit(&s);
                cpuset_deinit(&n);
        }
        if (lp->cfg.on_unadmit)
                lp->cfg.on_unadmit(lp->cfg.on_admit_userdata, index);
        return 0;
}

int linux_op_cpu_offline(void *p, uint32_t index) {
        struct linux_platform *lp = p;
        unsigned attempts = 0;
        int r;

        r = topology_cpu_set_online(&lp->writer, lp->root, index, false, &attempts);
        linux_count_retries(lp, attempts);
        if (r == -ENOENT)
                return -ENODEV; /* ejected under the query: core/removal.c */
        if (r < 0) {
                log_error(&lp->log, "cpu%u: cannot take offline: %s (after %u attempts); it stays", index,
                          sysfs_write_strerror(r), attempts);
                return r;
        }
        STAT_INC(lp, cpu_offlined);
        return 0;
}

int linux_op_block_offline(void *p, uint64_t index) {
        struct linux_platform *lp = p;
        unsigned attempts = 0;
        int r;

        /* The writer retries EBUSY and EAGAIN with a bounded backoff: a
         * block with pages in use is often freed a moment later. */
        r = topology_block_set_state(&lp->writer, lp->root, (uint32_t)index, "offline", &attempts);
        linux_count_retries(lp, attempts);
        if (r < 0) {
                log_error(&lp->log, "memory%llu: cannot offline: %s (after %u attempts)", (unsigned long long)index,
                          sysfs_write_strerror(r), attempts);
                return r;
        }
        return 0;
}

/* ---- the kernel's uevents -------------------------------------------- */

void linux_unplug_cpu(struct linux_platform *lp, uint32_t cpu, bool gone) {
        int r = engine_cpu_remove(lp->engine, cpu, ENGINE_REMOVE_SURPRISE | (gone ? ENGINE_REMOVE_GONE : 0), NULL);

        if (r == 0)
                log_notice(&lp->log, "cpu%u: %s by the kernel or another agent; removed", cpu,
                           gone ? "ejected" : "taken offline");
        else if (r < 0 && r != -ENODEV && r != -ERANGE)
                log_error(&lp->log, "cpu%u: removal: %s", cpu, strerror(-r));
}

static struct linux_vmem *vmem_of_dev(struct linux_platform *lp, uint64_t dev) {
        for (unsigned i = 0; i < lp->nvmem; i++)
                if (lp->vmem[i].dev == dev)
                        return &lp->vmem[i];
        return NULL;
}

static void vmem_touch(struct linux_vmem *v) {
        v->last_ns = time_now_ns();
        v->dirty = true;
}

void linux_unplug_block_changed(struct linux_platform *lp, uint32_t block) {
        struct linux_vmem *v;
        uint64_t dev;

        if (engine_mem_block_get(lp->engine, block, &dev, NULL) == 0 && (v = vmem_of_dev(lp, dev)))
                vmem_touch(v);
}

void linux_unplug_block_removed(struct linux_platform *lp, uint32_t block) {
        struct linux_vmem *v;
        uint64_t dev;

        if (engine_mem_block_get(lp->engine, block, &dev, NULL) < 0)
                return; /* never known, or removed already */
        engine_mem_block_remove(lp->engine, block);
        if ((v = vmem_of_dev(lp, dev))) {
                vmem_touch(v);
                return;
        }
        /* A DIMM: settled after this drain (its REMOVAL once its last block
         * is gone).  The list is short; when full, settle at once. */
        for (size_t i = 0; i < lp->nsettle; i++)
                if (lp->settle[i] == dev)
                        return;
        if (lp->nsettle < ELEMENTSOF(lp->settle))
                lp->settle[lp->nsettle++] = dev;
        else
                engine_mem_settle(lp->engine, dev);
}

int linux_unplug_next_timeout_ms(struct linux_platform *lp) {
        uint64_t settle = lp->cfg.vmem_settle_ns ? lp->cfg.vmem_settle_ns : VMEM_SETTLE_DEFAULT_NS;
        uint64_t now = time_now_ns(), next = UINT64_MAX;

        for (unsigned i = 0; i < lp->nvmem; i++)
                if (lp->vmem[i].dirty && lp->vmem[i].last_ns + settle < next)
                        next = lp->vmem[i].last_ns + settle;
        if (next == UINT64_MAX)
                return -1;
        return next <= now ? 0 : (int)((next - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
}

void linux_unplug_tick(struct linux_platform *lp) {
        uint64_t settle = lp->cfg.vmem_settle_ns ? lp->cfg.vmem_settle_ns : VMEM_SETTLE_DEFAULT_NS;
        uint64_t now = time_now_ns();

        for (size_t i = 0; i < lp->nsettle; i++)
                engine_mem_settle(lp->engine, lp->settle[i]);
        lp->nsettle = 0;
        for (unsigned i = 0; i < lp->nvmem; i++) {
                struct linux_vmem *v = &lp->vmem[i];
                struct engine_mem_info mi;

                if (!v->dirty || now - v->last_ns < settle)
                        continue;
                v->dirty = false;
                if (engine_mem_settle(lp->engine, v->dev) > 0 && engine_mem_device_info(lp->engine, v->dev, &mi) == 0)
                        log_info(&lp->log, "%s: resized to %llu MiB", v->name,
                                 (unsigned long long)(mi.size >> 20));
        }
}

/* A resync (lost uevents, L6) finds what went while nobody listened: an
 * admitted processor no longer online, a block of the model no longer in
 * sysfs.  Each is handled as its uevent would have been. */
void linux_unplug_resync(struct linux_platform *lp, const struct topology *t) {
        uint32_t n = engine_cpu_count(lp->engine);

        for (uint32_t i = 0; i < n; i++) {
                dhp_proc_state st = DHP_PROC_ABSENT;
                bool present = cpuset_test(&t->present, i), online = cpuset_test(&t->online, i);

                engine_cpu_get_state(lp->engine, i, &st);
                if ((st == DHP_PROC_ADMITTED && !online) || (st != DHP_PROC_ABSENT && !present))
                        linux_unplug_cpu(lp, i, !present);
        }
        if (!lp->block_size)
                return;
        /* Every block the model holds and sysfs lacks (t->blocks is sorted
         * by id), device by device over each one's range. */
        for (uint64_t d = 0;; d++) {
                struct engine_mem_info mi;
                uint64_t first;

                if (engine_mem_device_info(lp->engine, d, &mi) < 0)
                        break;
                if (mi.removed)
                        continue;
                first = mi.base / lp->block_size;
                for (uint64_t b = first; b < first + mi.span_blocks && b <= UINT32_MAX; b++) {
                        uint32_t lo = 0, hi = t->n_blocks;
                        uint64_t dev;

                        if (engine_mem_block_get(lp->engine, b, &dev, NULL) < 0 || dev != d)
                                continue;
                        while (lo < hi) {
                                uint32_t mid = lo + (hi - lo) / 2;
                                if (t->blocks[mid].id < b)
                                        lo = mid + 1;
                                else
                                        hi = mid;
                        }
                        if (lo == t->n_blocks || t->blocks[lo].id != b)
                                linux_unplug_block_removed(lp, (uint32_t)b);
                }
        }
        /* The DIMMs whose last block went: their REMOVAL now. */
        for (size_t i = 0; i < lp->nsettle; i++)
                engine_mem_settle(lp->engine, lp->settle[i]);
        lp->nsettle = 0;
}

/* ---- virtio-mem devices ------------------------------------------------- */

/* The virtio-mem regions of /proc/iomem: top-level ranges named after a
 * virtio device whose device id is virtio-mem's. */
struct vmem_region {
        char dev[32];
        uint64_t start, end; /* bytes, end exclusive */
};

static size_t vmem_regions(struct linux_platform *lp, struct vmem_region *v, size_t max) {
        char path[4096], line[256];
        size_t n = 0;
        FILE *f;

        if (sysfs_path(path, sizeof(path), lp->root, "/proc/iomem") < 0 || !(f = fopen(path, "re")))
                return 0;
        while (n < max && fgets(line, sizeof(line), f)) {
                unsigned long long a, b;
                char name[32], id[32], rel[128];
                size_t len = 0;

                /* Nested ranges are indented; ours are top level. */
                if (line[0] == ' ' || sscanf(line, "%llx-%llx : %31s", &a, &b, name) != 3 ||
                    strncmp(name, "virtio", 6) != 0 || b < a)
                        continue;
                snprintf(rel, sizeof(rel), "/sys/bus/virtio/devices/%s/device", name);
                if (sysfs_read(lp->root, rel, id, sizeof(id), &len) < 0)
                        continue;
                id[strcspn(id, "\n")] = 0;
                if (strcmp(id, VIRTIO_ID_MEM) != 0)
                        continue;
                snprintf(v[n].dev, sizeof(v[n].dev), "%s", name);
                v[n].start = a;
                v[n].end = b + 1;
                n++;
        }
        fclose(f);
        return n;
}

/* The NUMA node of a block: its nodeN link; -1 when it has none. */
static int block_node(struct linux_platform *lp, uint32_t block) {
        char path[4096], rel[96];
        struct dirent *de;
        int node = -1;
        DIR *d;

        snprintf(rel, sizeof(rel), "/sys/devices/system/memory/memory%u", block);
        if (sysfs_path(path, sizeof(path), lp->root, rel) < 0 || !(d = opendir(path)))
                return -1;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "node", 4) == 0 && de->d_name[4] >= '0' && de->d_name[4] <= '9') {
                        node = atoi(de->d_name + 4);
                        break;
                }
        closedir(d);
        return node;
}

static struct linux_vmem *vmem_get(struct linux_platform *lp, const struct vmem_region *rg, uint32_t block) {
        uint64_t first = rg->start / lp->block_size, span = (rg->end - rg->start) / lp->block_size;
        struct linux_vmem *v;
        char name[64];
        int r;

        snprintf(name, sizeof(name), "virtio-mem:%.31s", rg->dev);
        for (unsigned i = 0; i < lp->nvmem; i++)
                if (strcmp(lp->vmem[i].name, name) == 0)
                        return &lp->vmem[i];
        if (lp->nvmem == ELEMENTSOF(lp->vmem) || span == 0)
                return NULL;
        v = &lp->vmem[lp->nvmem];
        *v = (struct linux_vmem){ 0 };
        snprintf(v->name, sizeof(v->name), "%s", name);
        r = engine_mem_vdev_add(lp->engine, name, block_node(lp, block), first, span, &v->dev);
        if (r < 0) {
                log_error(&lp->log, "%s: cannot add to the model: %s", name, strerror(-r));
                return NULL;
        }
        lp->nvmem++;
        log_info(&lp->log, "%s: a virtio-mem device, region 0x%llx-0x%llx", name, (unsigned long long)rg->start,
                 (unsigned long long)(rg->end - 1));
        return v;
}

/* Whether the kernel onlines hot-added memory itself (auto_online_blocks
 * not "offline": 6.12's default).  Then it onlines virtio-mem blocks as
 * the driver adds them, and a write of ours would only race it (EINVAL on
 * a block it onlined meanwhile). */
static bool kernel_onlines(struct linux_platform *lp) {
        char v[32];
        size_t len = 0;

        if (sysfs_read(lp->root, "/sys/devices/system/memory/auto_online_blocks", v, sizeof(v), &len) < 0)
                return false;
        v[strcspn(v, "\n")] = 0;
        return strcmp(v, "offline") != 0;
}

/* Plug one block into its device; online it by policy, unless the kernel
 * does (its online uevent then counts it). */
static void vmem_plug(struct linux_platform *lp, struct linux_vmem *v, uint32_t block, enum memblock_state st,
                      bool existing) {
        bool online = st == MEMBLOCK_STATE_ONLINE;
        int r = engine_mem_vdev_plug(lp->engine, v->dev, block, existing && online);

        if (r < 0) {
                log_error(&lp->log, "memory%u (%s): cannot add to the model: %s", block, v->name, strerror(-r));
                return;
        }
        if (existing && online)
                return;
        if (online)
                engine_mem_block_set_online(lp->engine, block, true);
        else if (lp->cfg.mem_online && !kernel_onlines(lp) && (r = engine_mem_hotadd(lp->engine, v->dev)) < 0)
                log_error(&lp->log, "%s: memory%u: not online (%s)", v->name, block, strerror(-r));
        vmem_touch(v);
}

size_t linux_vmem_claim(struct linux_platform *lp, uint32_t *ids, enum memblock_state *known, size_t n,
                        bool existing) {
        struct vmem_region rg[16];
        size_t nrg, k = 0;

        if (!lp->block_size || n == 0 || (nrg = vmem_regions(lp, rg, ELEMENTSOF(rg))) == 0)
                return n;
        for (size_t i = 0; i < n; i++) {
                uint64_t addr = (uint64_t)ids[i] * lp->block_size;
                struct linux_vmem *v = NULL;
                enum memblock_state st;

                for (size_t j = 0; j < nrg && !v; j++)
                        if (addr >= rg[j].start && addr < rg[j].end)
                                v = vmem_get(lp, &rg[j], ids[i]);
                if (!v) {
                        ids[k] = ids[i];
                        if (known)
                                known[k] = known[i];
                        k++;
                        continue;
                }
                if (known)
                        st = known[i];
                else if (topology_read_block_state(lp->root, ids[i], &st) < 0)
                        continue; /* gone again */
                vmem_plug(lp, v, ids[i], st, existing);
        }
        return k;
}
