/* SPDX-License-Identifier: MIT */
/*
 * The partition as the API shows it beyond the notifications: a new add
 * transaction for a processor whose add failed, and the memory devices
 * with their blocks.  In-process targets read the engine (and run the
 * transaction on the caller's thread); a "unix:" context has no model of
 * its own: dhpd runs the transaction (CPU_ONLINE) and sends the blocks
 * (STATUS_MEM_BLOCKS, protocol 1.3).
 */
#include <errno.h>
#include <stdlib.h>

#include <string.h>

#include "core/engine.h"
#include "dhp.h"
#include "lib/dhp-private.h"
#include "lib/partition.h"
#include "platform/linux/linux.h"
#include "platform/sim/sim.h"
#include "util/macro.h"

DHP_EXPORT int dhp_proc_online(dhp *ctx, uint32_t index, int *ret_status) {
        struct linux_platform *lp;
        struct sim *sim;
        int status = 0, r;

        if (!ctx)
                return -EINVAL;
        sim = dhp_internal_sim(ctx);
        lp = dhp_internal_linux(ctx);
        if (dhp_internal_remote(ctx))
                r = dhp_internal_cpu_online(ctx, index, &status);
        else if (sim)
                r = sim_cpu_retry(sim, index, &status);
        else if (lp)
                r = linux_platform_cpu_online(lp, index, &status); /* inside the crash marker */
        else
                r = engine_cpu_hotadd(dhp_internal_engine(ctx), index, 0, &status);
        if (r == 1 && ret_status)
                *ret_status = status;
        return r;
}

struct mem_dev {
        struct engine_mem_info info;
        struct engine_block_info *blocks;
};

struct dhp_memory_snapshot {
        struct mem_dev *dev;
        uint32_t n;
};

DHP_EXPORT void dhp_memory_snapshot_free(dhp_memory_snapshot *s) {
        if (!s)
                return;
        for (uint32_t i = 0; i < s->n; i++)
                free(s->dev[i].blocks);
        free(s->dev);
        free(s);
}

int memory_snapshot_alloc(dhp_memory_snapshot **ret) {
        dhp_memory_snapshot *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int memory_snapshot_append(dhp_memory_snapshot *s, const struct engine_mem_info *info,
                           const struct engine_block_info *blocks) {
        struct engine_block_info *copy;
        struct mem_dev *p;

        if (s->n == UINT32_MAX)
                return -ENOSPC;
        copy = calloc(info->nblocks ? info->nblocks : 1, sizeof(*copy));
        if (!copy)
                return -ENOMEM;
        memcpy(copy, blocks, info->nblocks * sizeof(*copy));
        p = reallocarray(s->dev, s->n + 1, sizeof(*p));
        if (!p) {
                free(copy);
                return -ENOMEM;
        }
        s->dev = p;
        s->dev[s->n++] = (struct mem_dev){ .info = *info, .blocks = copy };
        return 0;
}

/* The engine's device `id` into s; 1 when there is none (the end). */
static int snapshot_one(struct engine *e, dhp_memory_snapshot *s, uint64_t id) {
        struct engine_block_info *blocks;
        struct engine_mem_info info;
        int r;

        if (engine_mem_device_info(e, id, &info) < 0)
                return 1;
        /* A device never changes size; its blocks can change state between
         * the two calls: the second one reads both under one lock. */
        blocks = calloc(info.nblocks ? info.nblocks : 1, sizeof(*blocks));
        if (!blocks)
                return -ENOMEM;
        r = engine_mem_device_blocks(e, id, &info, blocks, info.nblocks);
        r = r < 0 ? 1 : memory_snapshot_append(s, &info, blocks);
        free(blocks);
        return r;
}

/* One STATUS_MEM and its runs (runs[*k...]) into s.  A run that does not
 * fit the device is dhpd's error: -EPROTO. */
static int snapshot_remote_one(dhp_memory_snapshot *s, const struct remote_mem *mem,
                               const struct remote_mem_run *runs, size_t nruns, size_t *k) {
        const uint64_t id = mem->status_mem.id, nblocks = mem->status_mem.nblocks;
        struct engine_mem_info info = { .base = mem->status_mem.base, .size = mem->status_mem.size,
                                        .nblocks = nblocks, .online_blocks = mem->status_mem.online_blocks };
        _cleanup_free_ struct engine_block_info *blocks = calloc(nblocks ? nblocks : 1, sizeof(*blocks));
        uint64_t n = 0, online = 0;

        if (!blocks)
                return -ENOMEM;
        for (; *k < nruns && runs[*k].device == id; (*k)++) {
                const struct remote_mem_run *run = &runs[*k];
                if (run->count > nblocks - n || run->state > DHP_MEMORY_BLOCK_ONLINE ||
                    run->zone > DHP_MEMORY_ZONE_MOVABLE)
                        return -EPROTO;
                for (uint32_t i = 0; i < run->count; i++)
                        blocks[n++] = (struct engine_block_info){ .index = run->first_block + i,
                                                                  .online = run->state == DHP_MEMORY_BLOCK_ONLINE,
                                                                  .zone = (dhp_memory_zone)run->zone };
                if (run->state == DHP_MEMORY_BLOCK_ONLINE)
                        online += run->count;
        }
        if (n != nblocks)
                return -EPROTO;
        /* The runs are the truth: dhpd read them with the device, under one lock. */
        info.online_blocks = online;
        info.arrived = nblocks > 0 && online == nblocks;
        return memory_snapshot_append(s, &info, blocks);
}

/* dhpd's devices and blocks, from its STATUS reply. */
static int snapshot_remote(dhp *ctx, dhp_memory_snapshot *s) {
        struct remote_status st;
        size_t k = 0;
        int r;

        r = dhp_internal_status(ctx, &st);
        if (r < 0)
                return r;
        if (!st.has_blocks)
                r = -EOPNOTSUPP; /* a dhpd older than protocol 1.3 */
        for (size_t i = 0; r == 0 && i < st.nmem; i++)
                r = snapshot_remote_one(s, &st.mem[i], st.runs, st.nruns, &k);
        if (r == 0 && k != st.nruns)
                r = -EPROTO;
        remote_status_deinit(&st);
        return r;
}

DHP_EXPORT int dhp_memory_snapshot_new(dhp *ctx, dhp_memory_snapshot **ret) {
        dhp_memory_snapshot *s;
        struct engine *e;
        int r;

        if (!ctx || !ret)
                return -EINVAL;
        e = dhp_internal_engine(ctx);
        r = memory_snapshot_alloc(&s);
        if (r < 0)
                return r;
        if (dhp_internal_remote(ctx))
                r = snapshot_remote(ctx, s);
        else
                for (uint64_t id = 0;; id++) {
                        r = snapshot_one(e, s, id);
                        if (r != 0)
                                break;
                }
        if (r < 0) {
                dhp_memory_snapshot_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

DHP_EXPORT uint32_t dhp_memory_snapshot_get_count(const dhp_memory_snapshot *s) {
        return s ? s->n : 0;
}

DHP_EXPORT int dhp_memory_snapshot_get_device(const dhp_memory_snapshot *s, uint32_t i, uint64_t *ret_base,
                                              uint64_t *ret_size, uint32_t *ret_nblocks,
                                              uint32_t *ret_online_blocks) {
        const struct engine_mem_info *m;

        if (!s)
                return -EINVAL;
        if (i >= s->n)
                return -ERANGE;
        m = &s->dev[i].info;
        if (ret_base)
                *ret_base = m->base;
        if (ret_size)
                *ret_size = m->size;
        if (ret_nblocks)
                *ret_nblocks = (uint32_t)m->nblocks;
        if (ret_online_blocks)
                *ret_online_blocks = (uint32_t)m->online_blocks;
        return m->arrived && !m->removed;
}

DHP_EXPORT int dhp_memory_snapshot_get_block(const dhp_memory_snapshot *s, uint32_t i, uint32_t k,
                                             uint64_t *ret_index, dhp_memory_block_state *ret_state,
                                             dhp_memory_zone *ret_zone) {
        const struct engine_block_info *b;

        if (!s)
                return -EINVAL;
        if (i >= s->n || k >= s->dev[i].info.nblocks)
                return -ERANGE;
        b = &s->dev[i].blocks[k];
        if (ret_index)
                *ret_index = b->index;
        if (ret_state)
                *ret_state = b->online ? DHP_MEMORY_BLOCK_ONLINE : DHP_MEMORY_BLOCK_OFFLINE;
        if (ret_zone)
                *ret_zone = b->zone;
        return 0;
}
