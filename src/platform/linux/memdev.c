/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/linux/cgroup.h"
#include "platform/linux/linux-internal.h"
#include "platform/linux/meminfo.h"
#include "platform/linux/topology.h"
#include "platform/linux/uevent.h"
#include "util/cpuset.h"
#include "util/macro.h"
#include "util/strbuf.h"
#include "util/time.h"

/* Add the blocks ids[0..n) (sorted, none known to the engine) as memory
 * devices: one per run of consecutive ids.  Then online them by policy.
 * known[k], when given, is the state of ids[k] as just read from sysfs;
 * without it each block's state is its online uevent's, or read here. */
void linux_mem_add_device_blocks(struct linux_platform *lp, const uint32_t *ids, const enum memblock_state *known,
                                 size_t n, const char *origin, bool existing) {
        size_t i = 0;

        while (i < n) {
                size_t j = i + 1;
                enum memblock_state *states;
                uint64_t dev;
                bool all_online = true;
                int r;

                while (j < n && ids[j] == ids[j - 1] + 1)
                        j++;
                states = calloc(j - i, sizeof(*states));
                if (!states)
                        return;
                for (size_t k = i; k < j; k++) {
                        if (known)
                                states[k - i] = known[k];
                        else if (linux_memonline_announced_online(lp, ids[k]))
                                states[k - i] = MEMBLOCK_STATE_ONLINE; /* its uevent said so */
                        else if (topology_read_block_state(lp->root, ids[k], &states[k - i]) < 0)
                                states[k - i] = MEMBLOCK_STATE_OFFLINE;
                        if (states[k - i] != MEMBLOCK_STATE_ONLINE)
                                all_online = false;
                }
                /* Memory found fully online at start is boot memory or
                 * memory someone onlined before we ran: existing, no
                 * arrival (INCLUDE_EXISTING reports it). */
                r = engine_mem_device_add(lp->engine, ids[i], j - i, existing && all_online, &dev);
                if (r < 0) {
                        log_error(&lp->log, "memory%u-%u: cannot add to the model: %s", ids[i], ids[j - 1],
                                  strerror(-r));
                        free(states);
                        i = j;
                        continue;
                }
                if (!(existing && all_online)) {
                        /* Blocks another agent onlined count toward arrival. */
                        for (size_t k = i; k < j; k++) {
                                if (states[k - i] != MEMBLOCK_STATE_ONLINE)
                                        continue;
                                if (existing)
                                        engine_mem_block_set_online(lp->engine, ids[k], true);
                                else /* the kernel's onlining, in kernel mode */
                                        linux_memonline_block_seen(lp, ids[k], true);
                        }
                }
                /* After the arrival a device the kernel onlined has had
                 * (the last block_seen() above): a log line costs a small
                 * guest's console more than the notification itself. */
                log_info(&lp->log, "memory device %s: blocks %u-%u (%zu x %llu MiB)", origin, ids[i], ids[j - 1], j - i,
                         (unsigned long long)(lp->block_size >> 20));
                if (lp->cfg.mem_online && !all_online)
                        linux_memonline_device(lp, dev, origin, !existing);
                free(states);
                i = j;
        }
}

static bool acpi_gave_up(struct linux_platform *lp, const char *name) {
        for (unsigned i = 0; i < lp->n_acpi_gave_up; i++)
                if (strcmp(lp->acpi_gave_up[i], name) == 0)
                        return true;
        return false;
}

/* The kernel sends a DIMM's block `add` uevents before it binds the blocks
 * to their PNP0C80 device (acpi_memory_enable_device(): __add_memory() for
 * the whole range, then acpi_bind_memory_blocks()), so a block handled at
 * once has no firmware_node yet and its DIMM would be split into runs of
 * whatever blocks this drain saw (seen on 6.1 under QEMU: a 1 GiB DIMM
 * arrived as 1 + 7 blocks).  When a present PNP0C80 device has no block
 * bound yet, wait for the binding.  Nothing is lost by waiting: the kernel
 * holds the device hotplug lock until the binding is done, and writing
 * `state` needs that lock.  No uevent marks the binding, hence the short
 * polling, bounded by acpi_bind_wait_ns; a device that stays unbound that
 * long (its add failed) is given up on for good. */
/* Sleep between polls through the writer's sleep, so that tests can act
 * at exactly that point (bind a DIMM) instead of racing a thread. */
static void poll_sleep(struct linux_platform *lp, uint64_t ns) {
        if (lp->writer.sleep)
                lp->writer.sleep(lp->writer.userdata, ns);
        else if (!ns)
                sched_yield();
        else
                nanosleep(&(struct timespec){ .tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL) },
                          NULL);
}

/* The number of blocks bound to the devices waited for: the kernel binds a
 * DIMM's blocks one by one, so the first link is not the last. */
static size_t bound_count(struct linux_platform *lp, char (*names)[32], size_t n) {
        size_t total = 0;

        for (size_t i = 0; i < n; i++) {
                uint32_t ids[1];
                size_t k = 0;
                if (topology_acpi_memdev_blocks(lp->root, names[i], ids, 0, &k) == 0)
                        total += k;
        }
        return total;
}

/* The pauses between two looks at a block's binding before falling back
 * to wait_acpi_devices(): a yield first (on one CPU, the kernel thread
 * about to bind is the one our wake-up preempted), then short sleeps for
 * a kernel binding on another CPU. */
static const uint64_t bind_pause_ns[] = { 0, 0, 0, 100000, 200000, 400000, 800000 };
#define BIND_YIELDS 3       /* the yields first in bind_pause_ns */
#define BIND_PAUSE_STEADY 3 /* where the pauses resume after progress */

static bool block_bound(struct linux_platform *lp, uint32_t id) {
        char fw[64];

        /* Bound elsewhere than to a PNP0C80 device still counts: the
         * kernel is done with it. */
        return topology_block_firmware_node(lp->root, id, fw, sizeof(fw)) != -ENOENT;
}

/* The highest block of the run ending at `top`, extended upward over the
 * blocks present that no device holds: the rest of a DIMM whose add
 * uevents this drain has not seen yet. */
static uint32_t run_top(struct linux_platform *lp, uint32_t top) {
        for (unsigned step = 0; step < 65536 && top < UINT32_MAX; step++) {
                if (engine_mem_block_get(lp->engine, top + 1, NULL, NULL) == 0 ||
                    topology_block_present(lp->root, top + 1) < 0)
                        break;
                top++;
        }
        return top;
}

/* The fast end of the wait: every block of each run of ids[0..n) (sorted)
 * bound, with the blocks above the run that no device holds (all of a
 * DIMM's blocks exist before the kernel binds the first).  Each run is
 * checked from its top down: the kernel binds a DIMM's blocks in
 * ascending order, so the highest unbound one is the one to wait for, and
 * once bound, the ones below are read once each.  False when a block makes
 * no progress through bind_pause_ns (a block no ACPI device will take, or
 * a DIMM that failed): then the devices decide. */
static bool wait_blocks_bound(struct linux_platform *lp, const uint32_t *ids, size_t n, uint64_t t0,
                              uint64_t limit, unsigned npauses) {
        size_t end = n;
        unsigned pause = 0;
        bool waited = false;

        while (end > 0) {
                size_t start = end - 1;
                uint32_t lo, top, id;

                while (start > 0 && ids[start - 1] + 1 == ids[start])
                        start--;
                lo = ids[start];
                top = id = run_top(lp, ids[end - 1]);
                for (;;) {
                        if (block_bound(lp, id)) {
                                /* Progress: the next block waited for
                                 * gets the short pauses again. */
                                if (waited && pause > BIND_PAUSE_STEADY)
                                        pause = BIND_PAUSE_STEADY;
                                waited = false;
                                if (id > lo) {
                                        id--;
                                        continue;
                                }
                                /* Blocks may have appeared above while we
                                 * waited (the kernel adds all, then binds). */
                                uint32_t t = run_top(lp, top);
                                if (t == top)
                                        break;
                                lo = top + 1;
                                top = id = t;
                                continue;
                        }
                        if (pause == npauses || time_now_ns() - t0 >= limit)
                                return false;
                        poll_sleep(lp, bind_pause_ns[pause++]);
                        waited = true;
                }
                end = start;
        }
        return true;
}

/* The slow end: ACPI memory devices present with no block bound yet, and
 * the count of blocks bound to them holding still across one poll. */
static void wait_acpi_devices(struct linux_platform *lp, uint64_t t0, uint64_t limit) {
        bool said = false;
        char waited[8][32];
        size_t nwaited = 0;

        for (;;) {
                char names[8][32];
                size_t n = 0, waiting = 0;

                if (topology_acpi_memdev_pending(lp->root, names, ELEMENTSOF(names), &n) < 0)
                        return;
                for (size_t i = 0; i < n && i < ELEMENTSOF(names); i++)
                        if (!acpi_gave_up(lp, names[i])) {
                                waiting++;
                                bool known = false;
                                for (size_t k = 0; k < nwaited && !known; k++)
                                        known = strcmp(waited[k], names[i]) == 0;
                                if (!known && nwaited < ELEMENTSOF(waited))
                                        strcpy(waited[nwaited++], names[i]);
                        }
                if (!waiting) {
                        /* Binding began on every device: wait until it is
                         * done, i.e. the count of bound blocks holds still
                         * across one more poll (bounded by the same limit). */
                        size_t before = bound_count(lp, waited, nwaited);
                        while (nwaited && time_now_ns() - t0 < limit) {
                                poll_sleep(lp, 1000000);
                                size_t now = bound_count(lp, waited, nwaited);
                                if (now == before)
                                        break;
                                before = now;
                        }
                        if (said)
                                log_debug(&lp->log, "ACPI memory device bound after %.1f ms",
                                          (double)(time_now_ns() - t0) / 1e6);
                        return;
                }
                if (time_now_ns() - t0 >= limit) {
                        for (size_t i = 0; i < n && i < ELEMENTSOF(names); i++) {
                                if (acpi_gave_up(lp, names[i]))
                                        continue;
                                log_warning(&lp->log, "ACPI memory device %s is present but no memory block was "
                                            "bound to it within %llu ms; grouping new blocks without it",
                                            names[i], (unsigned long long)(limit / NSEC_PER_MSEC));
                                if (lp->n_acpi_gave_up < ACPI_GAVE_UP_MAX)
                                        strcpy(lp->acpi_gave_up[lp->n_acpi_gave_up++], names[i]);
                        }
                        return;
                }
                if (!said) {
                        log_debug(&lp->log, "new memory blocks: waiting for the kernel to bind them to %s", names[0]);
                        said = true;
                }
                poll_sleep(lp, 1000000);
        }
}

/* ids[0..n) sorted, not virtio-mem blocks. */
static void wait_acpi_binding(struct linux_platform *lp, const uint32_t *ids, size_t n) {
        uint64_t limit = lp->cfg.acpi_bind_wait_ns ? lp->cfg.acpi_bind_wait_ns : ACPI_BIND_WAIT_DEFAULT_NS;
        uint64_t t0 = time_now_ns();

        if (wait_blocks_bound(lp, ids, n, t0, limit, ELEMENTSOF(bind_pause_ns)))
                return;
        wait_acpi_devices(lp, t0, limit);
}

/* A run of blocks added together may have been announced across two drains
 * of the socket: extend each run of `rest` (sorted, *nrest of them) to the
 * neighbouring blocks present in sysfs that no device holds yet, so that it
 * still becomes one device.  Returns `rest`, grown and sorted again. */
static uint32_t *extend_runs(struct linux_platform *lp, uint32_t *rest, size_t *ret_nrest) {
        size_t nrest = *ret_nrest, cap = nrest, nsorted = nrest; /* rest[0..nsorted) is sorted */
        for (size_t i = 0; i < nsorted; i++) {
                for (int dir = -1; dir <= 1; dir += 2) {
                        uint32_t id = rest[i];
                        for (unsigned step = 0; step < 65536; step++) {
                                enum memblock_state st;
                                char fw[64];
                                uint32_t *grown;
                                bool dup = false;

                                if ((dir < 0 && id == 0) || (dir > 0 && id == UINT32_MAX))
                                        break;
                                id = (uint32_t)((int64_t)id + dir);
                                if (engine_mem_block_get(lp->engine, id, NULL, NULL) == 0 ||
                                    topology_read_block_state(lp->root, id, &st) < 0 ||
                                    topology_block_firmware_node(lp->root, id, fw, sizeof(fw)) == 0)
                                        break;
                                dup = bsearch(&id, rest, nsorted, sizeof(*rest), cmp_u32) != NULL;
                                for (size_t k = nsorted; k < nrest && !dup; k++)
                                        dup = rest[k] == id;
                                if (dup)
                                        break;
                                if (nrest == cap) {
                                        cap *= 2;
                                        grown = realloc(rest, cap * sizeof(*rest));
                                        if (!grown)
                                                break;
                                        rest = grown;
                                }
                                rest[nrest++] = id;
                        }
                }
        }
        qsort(rest, nrest, sizeof(*rest), cmp_u32);
        *ret_nrest = nrest;
        return rest;
}

/* New blocks: group by ACPI memory device where sysfs shows one, else by
 * runs of consecutive ids.  ids is sorted. */
void linux_mem_handle_new_blocks(struct linux_platform *lp, uint32_t *ids, size_t n, bool existing) {
        uint32_t *rest = calloc(n ? n : 1, sizeof(*rest));
        size_t nrest = 0;

        if (!rest)
                return;
        /* Blocks of a virtio-mem device have no firmware node: theirs is
         * found in /proc/iomem (unplug.c).  Blocks bound to an ACPI device
         * are none: when all are bound after a few yields (the binding is
         * the kernel's next step after the online uevents), /proc/iomem
         * is not read. */
        if (n && !wait_blocks_bound(lp, ids, n, time_now_ns(), UINT64_MAX, BIND_YIELDS)) {
                n = linux_vmem_claim(lp, ids, NULL, n, existing);
                if (n)
                        wait_acpi_binding(lp, ids, n);
        }
        for (size_t i = 0; i < n; i++) {
                char fw[64];
                uint32_t members[4096];
                size_t nm = 0;
                enum memblock_state st;
                int r;

                if (engine_mem_block_get(lp->engine, ids[i], NULL, NULL) == 0)
                        continue; /* grouped with an earlier block of its device */
                /* A block named by an event but absent from sysfs (removed
                 * again, or a bogus index) is no device: adding it would
                 * size the model by its id and announce memory that is not
                 * there.  One with a firmware node is there. */
                r = topology_block_firmware_node(lp->root, ids[i], fw, sizeof(fw));
                if (r < 0 && topology_read_block_state(lp->root, ids[i], &st) == -ENOENT) {
                        log_notice(&lp->log, "memory%u: announced but not in sysfs (removed again?); ignored", ids[i]);
                        continue;
                }
                if (r < 0 || topology_acpi_memdev_blocks(lp->root, fw, members, ELEMENTSOF(members), &nm) < 0 ||
                    nm == 0 || nm > ELEMENTSOF(members)) {
                        rest[nrest++] = ids[i];
                        continue;
                }
                /* The whole DIMM at once, whichever of its blocks' events
                 * came first; blocks already known are skipped. */
                qsort(members, nm, sizeof(members[0]), cmp_u32);
                {
                        size_t k = 0;
                        for (size_t m = 0; m < nm; m++)
                                if (engine_mem_block_get(lp->engine, members[m], NULL, NULL) < 0)
                                        members[k++] = members[m];
                        linux_mem_add_device_blocks(lp, members, NULL, k, fw, existing);
                }
        }
        if (nrest)
                rest = extend_runs(lp, rest, &nrest);
        linux_mem_add_device_blocks(lp, rest, NULL, nrest, "(no firmware node)", existing);
        free(rest);
}

/*
 * New blocks found by a sync, grouped as linux_mem_handle_new_blocks() would, from
 * what the topology already read: the blocks of each ACPI memory device
 * together, in the order of their lowest block, then every other new block
 * in runs of consecutive ids (whatever their state, as when announced by
 * uevents).  linux_mem_handle_new_blocks() probes sysfs again for each block (its
 * firmware node, its neighbours, its state): at start on a 4 TiB machine
 * that was more than the enumeration itself.
 */
void linux_mem_add_new_from(struct linux_platform *lp, const struct topology *t, const bool *is_new,
                            bool existing) {
        uint32_t *ids = calloc(t->n_blocks ? t->n_blocks : 1, sizeof(*ids));
        uint32_t *rest = calloc(t->n_blocks ? t->n_blocks : 1, sizeof(*rest));
        enum memblock_state *st = calloc(t->n_blocks ? t->n_blocks : 1, sizeof(*st));
        enum memblock_state *rest_st = calloc(t->n_blocks ? t->n_blocks : 1, sizeof(*rest_st));
        size_t nrest = 0;

        if (!ids || !rest || !st || !rest_st)
                goto out;
        for (uint32_t d = 0; d < t->n_devs; d++) {
                const struct topology_memdev *dv = &t->devs[d];
                size_t k = 0;

                for (uint32_t i = dv->first; i < dv->first + dv->n_blocks; i++) {
                        uint32_t bi = t->dev_blocks[i];
                        if (!is_new[bi])
                                continue;
                        if (dv->kind == MEMDEV_KIND_ACPI) {
                                ids[k] = t->blocks[bi].id;
                                st[k++] = t->blocks[bi].state;
                        } else {
                                rest[nrest] = t->blocks[bi].id;
                                rest_st[nrest++] = t->blocks[bi].state;
                        }
                }
                if (k)
                        linux_mem_add_device_blocks(lp, ids, st, k, dv->name, existing);
        }
        /* Runs are ordered by their lowest block and each in id order, so
         * rest is sorted (and stays so without the virtio-mem blocks). */
        nrest = linux_vmem_claim(lp, rest, rest_st, nrest, existing);
        linux_mem_add_device_blocks(lp, rest, rest_st, nrest, "(no firmware node)", existing);
out:
        free(ids);
        free(rest);
        free(st);
        free(rest_st);
}

/* ---- the engine's memory ops (linux.c's ops table) --------------------- */

int linux_op_block_online(void *p, uint64_t index) {
        struct linux_platform *lp = p;
        unsigned attempts = 0;
        const char *state = lp->cfg.mem_policy == LINUX_MEM_KERNEL ? "online_kernel" : "online_movable";
        bool kernel = lp->cfg.mem_policy == LINUX_MEM_KERNEL;
        int r;

        r = topology_block_set_state(&lp->writer, lp->root, (uint32_t)index, state, &attempts);
        linux_count_retries(lp, attempts);
        if (r == -EINVAL && lp->cfg.mem_policy == LINUX_MEM_AUTO) {
                /* The kernel refuses ZONE_MOVABLE for some blocks (e.g.
                 * next to kernel memory); the kernel zone still works. */
                log_notice(&lp->log, "memory%llu: online_movable refused; onlining in the kernel zone",
                           (unsigned long long)index);
                r = topology_block_set_state(&lp->writer, lp->root, (uint32_t)index, "online_kernel", &attempts);
                linux_count_retries(lp, attempts);
                if (r == 0)
                        STAT_INC(lp, blocks_kernel_fallback);
                kernel = true;
        }
        if (r < 0) {
                STAT_INC(lp, blocks_failed);
                log_error(&lp->log, "memory%llu: cannot online: %s; the block stays offline and its device does not "
                          "arrive", (unsigned long long)index, sysfs_write_strerror(r));
                return r;
        }
        STAT_INC(lp, blocks_onlined);
        /* The zone, for dhp_memory_snapshot_get_block() (no engine lock is
         * held in an op). */
        engine_mem_block_set_zone(lp->engine, index, kernel ? DHP_MEMORY_ZONE_NORMAL : DHP_MEMORY_ZONE_MOVABLE);
        return 0;
}

/* Memory levels for the memory condition events: /proc/meminfo, read at
 * every evaluation (memory online/offline, PSI trigger, slow timer). */
int linux_op_mem_levels_read(void *p, struct mem_levels *ret) {
        struct linux_platform *lp = p;
        struct meminfo mi;
        int r;

        r = meminfo_read(lp->root, &mi);
        if (r < 0) {
                log_debug(&lp->log, "cannot read /proc/meminfo: %s", strerror(-r));
                return r;
        }
        *ret = (struct mem_levels){ .total = mi.total, .available = mi.available, .commit_charge = mi.committed_as,
                                    .commit_limit = mi.commit_limit };
        return 0;
}
