/* SPDX-License-Identifier: MIT */
/*
 * What the files of the Linux platform share: the platform's state, and
 * the entry points one file offers the others.  linux.c: lifecycle, the
 * engine's ops (with the crash markers of processor transactions), resync
 * and uevents; memdev.c: memory devices (grouping blocks, waiting for ACPI
 * binding); unplug.c: removals.
 */
#pragma once

#include <pthread.h>
#include <stdlib.h>

#include "platform/linux/linux.h"
#include "platform/linux/topology.h"
#include "platform/linux/uevent.h"
#include "util/cpuset.h"

#define ACPI_BIND_WAIT_DEFAULT_NS (2 * NSEC_PER_SEC)
#define ACPI_GAVE_UP_MAX 16

/* A virtio-mem device (unplug.c): its model device and its resize step. */
struct linux_vmem {
        char name[64]; /* "virtio-mem:virtio0" */
        uint64_t dev;  /* the engine's device id */
        uint64_t last_ns; /* its last block event */
        bool dirty;       /* a step is open: settle when quiet */
};
#define LINUX_VMEM_MAX 16
/* A set of block ids (memonline.c): appended, sorted when looked up. */
struct u32set {
        uint32_t *v;
        size_t n, cap;
        bool sorted;
};
/* A memory device whose blocks the kernel is to online (memonline.c). */
struct mem_await {
        uint64_t device;
        uint64_t deadline_ns; /* time_now_ns() */
};

/* What one drain of the socket announced. */
struct pending {
        uint32_t *cpus;
        size_t ncpus, cap_cpus;
        uint32_t *blocks;
        size_t nblocks, cap_blocks;
};

struct linux_platform {
        struct engine *engine;
        struct linux_config cfg;
        char root[4096];
        char cgroup_mount[4096];
        char cgroups[LINUX_MAX_CGROUPS][256];
        char state_dir[4096]; /* root + cfg.state_dir, "" for none */
        struct cpuset interrupted; /* marks found at start */
        struct logger log;
        struct sysfs_writer writer;
        struct uevent_monitor *mon;
        uint64_t block_size;
        struct pending pending;
        /* ACPI memory devices that stayed unbound for acpi_bind_wait_ns:
         * not waited for again. */
        char acpi_gave_up[ACPI_GAVE_UP_MAX][32];
        unsigned n_acpi_gave_up;
        pthread_mutex_t stats_lock;
        struct linux_stats stats;
        /* Removal (unplug.c): virtio-mem devices, and the DIMMs that lost
         * blocks in this drain, settled after it. */
        struct linux_vmem vmem[LINUX_VMEM_MAX];
        unsigned nvmem;
        uint64_t settle[64];
        size_t nsettle;
        /* memonline.c: the kernel onlines new blocks (its policy is set),
         * and the devices waiting for it, with their deadlines. */
        bool kernel_onlines;
        struct mem_await *awaiting;
        size_t nawaiting, cap_awaiting;
        /* New blocks held back, not grouped yet, while the kernel onlines
         * them (memonline.c), until held_deadline_ns (0: none). */
        uint32_t *held;
        size_t nheld, cap_held;
        uint64_t held_deadline_ns;
        /* Blocks not in the model yet whose online uevent was read (held
         * or pending): what the hold waits for, instead of sysfs; and the
         * held blocks whose state was read, once each. */
        struct u32set announced, probed;
        bool kernel_wait_over; /* grouping what the kernel left past its wait */
};


#define STAT_INC(lp, field)                          \
        do {                                         \
                pthread_mutex_lock(&(lp)->stats_lock); \
                (lp)->stats.field++;                 \
                pthread_mutex_unlock(&(lp)->stats_lock); \
        } while (0)


/* Count the write retries of one sysfs write that took `attempts`. */
void linux_count_retries(struct linux_platform *lp, unsigned attempts);

static inline int append_u32(uint32_t **v, size_t *n, size_t *cap, uint32_t x) {
        if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 16;
                uint32_t *p = realloc(*v, c * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                *v = p;
                *cap = c;
        }
        (*v)[(*n)++] = x;
        return 0;
}

/* Processors are few and handled in the order their events came: a linear
 * check keeps the first. */
static inline int push_u32(uint32_t **v, size_t *n, size_t *cap, uint32_t x) {
        for (size_t i = 0; i < *n; i++)
                if ((*v)[i] == x)
                        return 0;
        return append_u32(v, n, cap, x);
}

static inline int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}


/* linux.c: a processor transaction's mark (STATE_DIR/cpu-txn-N), made
 * (begin) or removed. */
void linux_cpu_txn_mark(struct linux_platform *lp, uint32_t cpu, bool begin);
/* cpuadmit.c: the engine's admission op (the ops table is in linux.c); the
 * managed groups with an empty cpuset.cpus pinned to their CPUs (start,
 * reconfigure); the marks a previous dhpd left, into lp->interrupted. */
int linux_op_cpu_admit(void *p, uint32_t index);
void linux_cpu_pin_managed_cgroups(struct linux_platform *lp);
void linux_cpu_txn_marks_load(struct linux_platform *lp);

/* unplug.c: the removal ops, the kernel's offline and remove uevents, and
 * virtio-mem devices. */
int linux_op_cpu_unadmit(void *p, uint32_t index);
int linux_op_cpu_offline(void *p, uint32_t index);
int linux_op_block_offline(void *p, uint64_t index);
/* A processor went offline (gone: removed) without dhp taking it away. */
void linux_unplug_cpu(struct linux_platform *lp, uint32_t cpu, bool gone);
/* A known block went online, offline (a virtio-mem step goes on) or away. */
void linux_unplug_block_changed(struct linux_platform *lp, uint32_t block);
void linux_unplug_block_removed(struct linux_platform *lp, uint32_t block);
/* After a loss of uevents: what sysfs no longer has, removed (L6). */
void linux_unplug_resync(struct linux_platform *lp, const struct topology *t);
/* Take the blocks of ids[0..n) that lie in a virtio-mem region into their
 * device (known[k]: the block's state as read, or NULL); the others are
 * moved to the front, in order.  Returns how many are left. */
size_t linux_vmem_claim(struct linux_platform *lp, uint32_t *ids, enum memblock_state *known, size_t n,
                        bool existing);
/* memonline.c: set the kernel's onlining policy (start, reconfigure);
 * have a device's offline blocks onlined, by the kernel (awaited) or now;
 * a block the kernel onlined: its zone, then the model. */
void linux_memonline_setup(struct linux_platform *lp);
void linux_memonline_device(struct linux_platform *lp, uint64_t device, const char *origin, bool kernel_may);
int linux_memonline_block_seen(struct linux_platform *lp, uint32_t block, bool online);
void linux_memonline_deinit(struct linux_platform *lp);
/* Kernel mode: hold new blocks ids[0..n) (sorted) back while the kernel
 * has not onlined them all, as their uevents tell (true: held, in
 * lp->held); false: group them now. */
bool linux_memonline_hold(struct linux_platform *lp, const uint32_t *ids, size_t n);
/* An online/offline uevent of a block not in the model yet; whether its
 * last one said online; forget them all (the blocks were grouped). */
void linux_memonline_note(struct linux_platform *lp, uint32_t block, bool online);
bool linux_memonline_announced_online(struct linux_platform *lp, uint32_t block);
void linux_memonline_forget(struct linux_platform *lp);
/* linux.c: group and handle lp->pending.blocks, with the held ones. */
void linux_mem_pending_run(struct linux_platform *lp);

/* memdev.c */
void linux_mem_add_device_blocks(struct linux_platform *lp, const uint32_t *ids, const enum memblock_state *known,
                                 size_t n, const char *origin, bool existing);
void linux_mem_handle_new_blocks(struct linux_platform *lp, uint32_t *ids, size_t n, bool existing);
/* The blocks of topology t flagged new, as devices (resync, start). */
void linux_mem_add_new_from(struct linux_platform *lp, const struct topology *t, const bool *is_new,
                                bool existing);

/* The platform's timers, each file its own: a virtio-mem resize step that
 * went quiet and the DIMMs that lost blocks (unplug.c), memory the kernel
 * was to online (memonline.c).  ms until due (0: due), -1: none. */
int linux_unplug_next_timeout_ms(struct linux_platform *lp);
void linux_unplug_tick(struct linux_platform *lp);
int linux_memonline_next_timeout_ms(struct linux_platform *lp);
void linux_memonline_tick(struct linux_platform *lp);

/* memdev.c: the engine's memory ops (the platform's ops table is in
 * linux.c): online one block by the zone policy; the memory levels from
 * /proc/meminfo. */
int linux_op_block_online(void *p, uint64_t index);
int linux_op_mem_levels_read(void *p, struct mem_levels *ret);
