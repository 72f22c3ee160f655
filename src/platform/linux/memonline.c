/* SPDX-License-Identifier: MIT */
/*
 * Who onlines hot-added memory (linux.h, enum linux_mem_onlining).
 *
 * In kernel mode the kernel onlines each block during the add itself, under
 * the device hotplug lock that every user-space onliner would wait for
 * anyway, so no onliner is faster (issue 19 measured dhpd's own writes at
 * 1.5x the kernel for a 1 GiB DIMM).  virtio-mem and Hyper-V's balloon
 * expect it too.  The platform then sets the kernel's policy at start
 * (auto_online_blocks from [memory] online_policy, and
 * memory_hotplug.online_policy = auto-movable for onlinings that let the
 * kernel choose the zone), groups the new blocks into devices, hears of
 * each block's online by its uevent, and notifies once the device is
 * complete.  Nothing is restored on exit: the policy is the one dhpd is
 * configured to want, and a restarted dhpd sets it again.
 *
 * A block the kernel left offline (a kernel without auto_online_blocks, a
 * zone it refuses, a block still offline after kernel_online_wait) is
 * onlined by the platform as in dhpd mode.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/linux/linux-internal.h"
#include "util/time.h"

#define AUTO_ONLINE "/sys/devices/system/memory/auto_online_blocks"
#define ONLINE_POLICY "/sys/module/memory_hotplug/parameters/online_policy"
#define MOVABLE_RATIO "/sys/module/memory_hotplug/parameters/auto_movable_ratio"
#define KERNEL_ONLINE_WAIT_DEFAULT_NS NSEC_PER_SEC

/* Write a kernel knob unless it holds `want` already. */
static int knob_set(struct linux_platform *lp, const char *path, const char *want) {
        char cur[64];
        unsigned attempts = 0;
        int r;

        r = sysfs_read(lp->root, path, cur, sizeof(cur), NULL);
        if (r < 0)
                return r;
        /* online_policy reads back as its name; auto_online_blocks as
         * "online_movable" etc. */
        if (strcmp(cur, want) == 0)
                return 0;
        r = sysfs_write(&lp->writer, lp->root, path, want, &attempts);
        linux_count_retries(lp, attempts);
        return r < 0 ? r : 1;
}

static dhp_memory_zone policy_zone(const struct linux_platform *lp) {
        return lp->cfg.mem_policy == LINUX_MEM_KERNEL ? DHP_MEMORY_ZONE_NORMAL : DHP_MEMORY_ZONE_MOVABLE;
}

void linux_memonline_setup(struct linux_platform *lp) {
        const char *state = lp->cfg.mem_policy == LINUX_MEM_KERNEL ? "online_kernel" : "online_movable";
        int r;

        lp->kernel_onlines = false;
        if (!lp->cfg.mem_online || lp->cfg.mem_onlining != LINUX_ONLINING_KERNEL)
                return;
        r = knob_set(lp, AUTO_ONLINE, state);
        if (r == -ENOENT) {
                log_info(&lp->log, "the kernel has no %s: dhpd onlines hot-added memory itself", AUTO_ONLINE);
                return;
        }
        if (r < 0) {
                log_warning(&lp->log, "cannot set %s to %s: %s; dhpd onlines hot-added memory itself", AUTO_ONLINE,
                            state, sysfs_write_strerror(r));
                return;
        }
        lp->kernel_onlines = true;
        /* Where the kernel chooses the zone itself (an "online" write by
         * another tool): movable within the ratio.  Absent before 5.16. */
        r = knob_set(lp, ONLINE_POLICY, "auto-movable");
        if (r < 0 && r != -ENOENT)
                log_warning(&lp->log, "cannot set %s to auto-movable: %s", ONLINE_POLICY, sysfs_write_strerror(r));
        if (lp->cfg.auto_movable_ratio) {
                char v[16];
                snprintf(v, sizeof(v), "%u", lp->cfg.auto_movable_ratio);
                r = knob_set(lp, MOVABLE_RATIO, v);
                if (r < 0)
                        log_warning(&lp->log, "cannot set %s to %s: %s", MOVABLE_RATIO, v,
                                    sysfs_write_strerror(r));
        }
        log_info(&lp->log, "the kernel onlines hot-added memory: auto_online_blocks = %s, online_policy = "
                 "auto-movable", state);
}

bool linux_platform_kernel_onlines(struct linux_platform *lp) {
        return lp->kernel_onlines;
}

void linux_memonline_device(struct linux_platform *lp, uint64_t device, const char *origin, bool kernel_may) {
        uint64_t wait = lp->cfg.kernel_online_wait_ns ? lp->cfg.kernel_online_wait_ns : KERNEL_ONLINE_WAIT_DEFAULT_NS;
        int r;

        if (lp->kernel_wait_over) {
                STAT_INC(lp, kernel_left_offline);
                log_notice(&lp->log, "memory device %s: blocks still offline after the kernel's wait; dhpd onlines "
                           "them", origin);
        } else if (lp->kernel_onlines && kernel_may) {
                if (lp->nawaiting == lp->cap_awaiting) {
                        size_t cap = lp->cap_awaiting ? lp->cap_awaiting * 2 : 8;
                        struct mem_await *p = realloc(lp->awaiting, cap * sizeof(*p));
                        if (!p)
                                goto now; /* not waited for: onlined at once */
                        lp->awaiting = p;
                        lp->cap_awaiting = cap;
                }
                lp->awaiting[lp->nawaiting++] = (struct mem_await){ .device = device,
                                                                    .deadline_ns = time_now_ns() + wait };
                log_debug(&lp->log, "memory device %s: waiting up to %llu ms for the kernel to online it", origin,
                          (unsigned long long)(wait / NSEC_PER_MSEC));
                return;
        }
now:
        r = engine_mem_hotadd(lp->engine, device);
        if (r < 0)
                log_error(&lp->log, "memory device %s: not every block online (%s); it has not arrived", origin,
                          strerror(-r));
}

static void u32set_add(struct u32set *s, uint32_t x) {
        /* On failure a block is only held until the deadline. */
        if (append_u32(&s->v, &s->n, &s->cap, x) == 0)
                s->sorted = false;
}

static bool u32set_has(struct u32set *s, uint32_t x) {
        if (!s->n)
                return false;
        if (!s->sorted) {
                qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
                s->sorted = true;
        }
        return bsearch(&x, s->v, s->n, sizeof(*s->v), cmp_u32) != NULL;
}

static void u32set_free(struct u32set *s) {
        free(s->v);
        *s = (struct u32set){ 0 };
}

void linux_memonline_note(struct linux_platform *lp, uint32_t block, bool online) {
        struct u32set *s = &lp->announced;
        size_t k = 0;

        if (online) {
                u32set_add(s, block);
                return;
        }
        /* Offline again (another agent, or the kernel's eject): no longer
         * what the hold waits for.  Rare: a linear pass. */
        for (size_t i = 0; i < s->n; i++)
                if (s->v[i] != block)
                        s->v[k++] = s->v[i];
        s->n = k;
}

bool linux_memonline_announced_online(struct linux_platform *lp, uint32_t block) {
        return u32set_has(&lp->announced, block);
}

void linux_memonline_forget(struct linux_platform *lp) {
        lp->announced.n = lp->probed.n = 0;
}

static bool uevents_queued(struct linux_platform *lp) {
        struct pollfd p = { .fd = lp->mon ? uevent_monitor_get_fd(lp->mon) : -1, .events = POLLIN };

        return p.fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Whether the kernel has yet to online a held block the model does not
 * know: its online uevent not read, and its state, read once (a kernel
 * that onlined it before we heard of it), not online. */
static bool held_offline(struct linux_platform *lp, uint32_t id) {
        enum memblock_state st;

        if (engine_mem_block_get(lp->engine, id, NULL, NULL) == 0 || linux_memonline_announced_online(lp, id))
                return false;
        if (u32set_has(&lp->probed, id))
                return true;
        u32set_add(&lp->probed, id);
        if (topology_read_block_state(lp->root, id, &st) < 0)
                return false; /* gone: grouping says so */
        if (st != MEMBLOCK_STATE_ONLINE)
                return true;
        u32set_add(&lp->announced, id);
        return false;
}

bool linux_memonline_hold(struct linux_platform *lp, const uint32_t *ids, size_t n) {
        uint64_t wait = lp->cfg.kernel_online_wait_ns ? lp->cfg.kernel_online_wait_ns : KERNEL_ONLINE_WAIT_DEFAULT_NS;
        bool offline = false;

        if (!lp->kernel_onlines)
                return false;
        /* The kernel adds a DIMM's blocks, then onlines them, then binds
         * them to their ACPI device, all under the device hotplug lock:
         * grouping now would poll sysfs for the binding on the CPUs the
         * kernel is onlining with.  Their online uevents wake us instead.
         * The uevents say which blocks are online: the kernel sends a
         * block's add before it can online it, and its online once it has
         * (the deadline covers a block it never onlines, a lost uevent
         * means a resync).  A block's state is read once at most, not at
         * every uevent of the burst: that was O(n^2) reads while the
         * kernel was onlining on the one CPU of a small guest. */
        for (size_t i = 0; i < n && !offline; i++)
                offline = held_offline(lp, ids[i]);
        /* Every block online, but more uevents came meanwhile: the add
         * uevents of the rest of the DIMM, when this drain was ahead of
         * the kernel and the kernel onlined its first block before we
         * read it.  Grouping now would wait for the binding of blocks the
         * kernel is still onlining; the next drain comes at once. */
        if (!offline && !uevents_queued(lp))
                return false;
        if (n > lp->cap_held) {
                uint32_t *p = realloc(lp->held, n * sizeof(*p));
                if (!p)
                        return false; /* grouped now, as without holding */
                lp->held = p;
                lp->cap_held = n;
        }
        memcpy(lp->held, ids, n * sizeof(*ids));
        lp->nheld = n;
        if (!lp->held_deadline_ns)
                lp->held_deadline_ns = time_now_ns() + wait;
        return true;
}

int linux_memonline_block_seen(struct linux_platform *lp, uint32_t block, bool online) {
        bool was;

        /* The kernel onlined it by the policy dhpd set: the zone follows
         * from it (online_movable can only mean ZONE_MOVABLE), so no
         * valid_zones read on the way to the arrival.  Set before the
         * block counts, so the arrival's snapshot has it. */
        if (online && lp->kernel_onlines && engine_mem_block_get(lp->engine, block, NULL, &was) == 0 && !was)
                engine_mem_block_set_zone(lp->engine, block, policy_zone(lp));
        return engine_mem_block_set_online(lp->engine, block, online);
}

/* The deadline passed with blocks still offline: re-read them (an online
 * uevent may still be unread), then online the rest as in dhpd mode. */
static void kernel_left_offline(struct linux_platform *lp, uint64_t device, const struct engine_mem_info *info) {
        uint64_t bs = lp->block_size ? lp->block_size : engine_mem_block_size(lp->engine);
        uint64_t first = info->base / bs, left = 0;
        int r;

        for (uint64_t b = first; b < first + info->nblocks; b++) {
                enum memblock_state st;
                bool online;

                if (engine_mem_block_get(lp->engine, b, NULL, &online) < 0 || online)
                        continue;
                if (topology_read_block_state(lp->root, (uint32_t)b, &st) == 0 && st == MEMBLOCK_STATE_ONLINE)
                        linux_memonline_block_seen(lp, (uint32_t)b, true);
                else
                        left++;
        }
        if (!left)
                return;
        STAT_INC(lp, kernel_left_offline);
        log_notice(&lp->log, "memory%llu-%llu: %llu block(s) still offline after the kernel's wait; dhpd onlines "
                   "them", (unsigned long long)first, (unsigned long long)(first + info->nblocks - 1),
                   (unsigned long long)left);
        r = engine_mem_hotadd(lp->engine, device);
        if (r < 0)
                log_error(&lp->log, "memory%llu-%llu: not every block online (%s); it has not arrived",
                          (unsigned long long)first, (unsigned long long)(first + info->nblocks - 1), strerror(-r));
}

void linux_memonline_tick(struct linux_platform *lp) {
        uint64_t now = time_now_ns();
        size_t k = 0, n;

        if (lp->nheld && now >= lp->held_deadline_ns) {
                /* Held past the wait: grouped now, the rest onlined here. */
                lp->pending.nblocks = 0;
                linux_mem_pending_run(lp);
        }
        n = lp->nawaiting;

        for (size_t i = 0; i < n; i++) {
                struct mem_await a = lp->awaiting[i];
                struct engine_mem_info info;

                if (engine_mem_device_info(lp->engine, a.device, &info) < 0 || info.removed ||
                    info.online_blocks == info.nblocks)
                        continue; /* done: the kernel onlined it */
                if (now < a.deadline_ns) {
                        lp->awaiting[k++] = a;
                        continue;
                }
                kernel_left_offline(lp, a.device, &info);
        }
        /* Only this thread appends, and not from the loop above. */
        lp->nawaiting = k;
}

int linux_memonline_next_timeout_ms(struct linux_platform *lp) {
        uint64_t first = lp->nheld ? lp->held_deadline_ns : UINT64_MAX, now;

        for (size_t i = 0; i < lp->nawaiting; i++)
                if (lp->awaiting[i].deadline_ns < first)
                        first = lp->awaiting[i].deadline_ns;
        if (first == UINT64_MAX)
                return -1;
        now = time_now_ns();
        if (now >= first)
                return 0;
        /* Round up: waking a little late is fine, early would spin. */
        return (int)((first - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
}

void linux_memonline_deinit(struct linux_platform *lp) {
        free(lp->awaiting);
        lp->awaiting = NULL;
        lp->nawaiting = lp->cap_awaiting = 0;
        free(lp->held);
        lp->held = NULL;
        lp->nheld = lp->cap_held = 0;
        u32set_free(&lp->announced);
        u32set_free(&lp->probed);
}
