/* SPDX-License-Identifier: MIT */
/*
 * The engine: partition model and transactions (its asynchronous queue is
 * core/queue.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine-internal.h"
#include "util/macro.h"
#include "util/time.h"

/* Caps on what a platform may declare; they bound every array here. */
#define ENGINE_MAX_CPUS 65536u
#define ENGINE_MAX_BLOCKS (1ULL << 24)

int engine_new(struct engine **ret, const struct platform_ops *ops, void *platform) {
        pthread_condattr_t ca;
        struct engine *e;

        if (!ret || !ops || !ops->cpu_start || !ops->cpu_stop || !ops->mem_block_online)
                return -EINVAL;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->ops = ops;
        e->platform = platform;
        e->t0 = time_now_ns();
        e->block_size = 128ULL << 20;
        strcpy(e->default_name, "client");
        e->sync_deadline_ns = 2 * NSEC_PER_SEC;
        pthread_mutex_init(&e->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&e->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&e->txn_lock, NULL);
        pthread_mutex_init(&e->dispatch_lock, NULL);
        pthread_mutex_init(&e->rec_lock, NULL);
        list_init(&e->monitors);
        list_init(&e->proc_regs);
        list_init(&e->arrival_regs);
        list_init(&e->snaps);
        list_init(&e->hooks);
        e->q_tail = &e->q_head;
        e->mod = &engine_modules;
        if (e->mod->attach(e) < 0) {
                engine_free(e);
                return -ENOMEM;
        }
        *ret = e;
        return 0;
}

void engine_free(struct engine *e) {
        struct engine_item *it;

        if (!e)
                return;
        /* Registrations still listed belong to a context being closed: no
         * callback can run any more, drop them without waiting. */
        reg_snaps_free_locked(e);
        list_for_each_safe(n, tmp, &e->proc_regs) {
                struct reg *r = list_entry(n, struct reg, node);
                list_remove(&r->node);
                r->dead = true;
                reg_unref_locked(r);
        }
        list_for_each_safe(n, tmp, &e->arrival_regs) {
                struct reg *r = list_entry(n, struct reg, node);
                list_remove(&r->node);
                r->dead = true;
                reg_unref_locked(r);
        }
        while ((it = e->q_head)) {
                e->q_head = it->next;
                if (it->free)
                        it->free(it);
                else
                        free(it);
        }
        while ((it = e->pool)) {
                e->pool = it->next;
                free(it);
        }
        list_for_each_safe(n, tmp, &e->monitors) {
                list_remove(n);
                free(list_entry(n, struct dhp_monitor, node));
        }
        list_for_each_safe(n, tmp, &e->hooks) {
                list_remove(n);
                free(list_entry(n, struct engine_hook, node));
        }
        if (e->mod)
                e->mod->detach(e);
        pthread_mutex_destroy(&e->lock);
        pthread_cond_destroy(&e->cond);
        pthread_mutex_destroy(&e->txn_lock);
        pthread_mutex_destroy(&e->dispatch_lock);
        pthread_mutex_destroy(&e->rec_lock);
        free(e->cpus);
        free(e->blocks);
        free(e->devices);
        free(e);
}

void engine_set_wake(struct engine *e, engine_wake_fn fn, void *userdata) {
        pthread_mutex_lock(&e->lock);
        e->wake = fn;
        e->wake_userdata = userdata;
        pthread_mutex_unlock(&e->lock);
}

void engine_set_embedder(struct engine *e, void *p) {
        e->embedder = p;
}

void *engine_embedder(struct engine *e) {
        return e->embedder;
}

void engine_set_logger(struct engine *e, const struct logger *l) {
        e->logger = l ? *l : (struct logger){ 0 };
}

int engine_set_default_name(struct engine *e, const char *name) {
        if (!name || !*name || strlen(name) >= ENGINE_NAME_MAX)
                return -EINVAL;
        pthread_mutex_lock(&e->lock);
        strcpy(e->default_name, name);
        pthread_mutex_unlock(&e->lock);
        return 0;
}

void engine_set_sync_deadline(struct engine *e, uint64_t deadline_ns, bool late_veto) {
        pthread_mutex_lock(&e->lock);
        e->sync_deadline_ns = deadline_ns;
        e->sync_late_veto = late_veto;
        pthread_mutex_unlock(&e->lock);
}

uint64_t engine_time_ns(struct engine *e) {
        return time_now_ns() - e->t0;
}

/* ---- transactions ------------------------------------------------------ */

bool engine_txn_owned_by_self(struct engine *e) {
        bool owned;

        pthread_mutex_lock(&e->lock);
        owned = e->txn_owned && pthread_equal(e->txn_owner, pthread_self());
        pthread_mutex_unlock(&e->lock);
        return owned;
}

int engine_txn_call(struct engine *e, int (*fn)(struct engine *e, void *userdata), void *userdata) {
        int r;

        if (engine_txn_owned_by_self(e))
                return -EDEADLK;
        engine_txn_lock(e);
        r = fn(e, userdata);
        engine_txn_unlock(e);
        return r;
}

int engine_hook_add(struct engine *e, engine_hook_fn fn, void *userdata) {
        struct engine_hook *h = calloc(1, sizeof(*h));

        if (!h)
                return -ENOMEM;
        h->fn = fn;
        h->userdata = userdata;
        pthread_mutex_lock(&e->lock);
        list_append(&e->hooks, &h->node);
        pthread_mutex_unlock(&e->lock);
        return 0;
}

void engine_run_hooks(struct engine *e, enum engine_hook_kind kind, uint64_t arg) {
        /* Hooks are added at setup, before any transaction: the list is
         * stable while transactions run. */
        list_for_each(n, &e->hooks) {
                struct engine_hook *h = list_entry(n, struct engine_hook, node);
                h->fn(e, kind, arg, h->userdata);
        }
}

/* ---- the transaction steps in the stream ------------------------------ */

void engine_record_txn(struct engine *e, const char *event, uint32_t processor, int status, bool late) {
        struct dhp_record r = {
                .method = "txn",
                .event = event,
                .cls = "processor",
                .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS | (late ? REC_LATE : 0),
                .processor = processor,
                .number = engine_cpu_number(processor),
                .status = status,
        };
        e->mod->record(e, &r);
}

void engine_record_block(struct engine *e, const char *event, uint64_t block, int status) {
        struct dhp_record r = {
                .method = "txn",
                .event = event,
                .cls = "memory",
                .fields = REC_HAS_BLOCK | REC_HAS_STATUS,
                .block = block,
                .status = status,
        };
        r.base = block * e->block_size;
        r.size = e->block_size;
        r.fields |= REC_HAS_MEMORY;
        e->mod->record(e, &r);
}

/* ---- processors -------------------------------------------------------- */

int engine_cpu_slots(struct engine *e, uint32_t count) {
        struct cpu *p;

        if (count > ENGINE_MAX_CPUS)
                return -ERANGE;
        pthread_mutex_lock(&e->lock);
        if (count > e->ncpus) {
                p = realloc(e->cpus, count * sizeof(*p));
                if (!p) {
                        pthread_mutex_unlock(&e->lock);
                        return -ENOMEM;
                }
                memset(p + e->ncpus, 0, (count - e->ncpus) * sizeof(*p));
                e->cpus = p;
                e->ncpus = count;
        }
        pthread_mutex_unlock(&e->lock);
        return 0;
}

uint32_t engine_cpu_count(struct engine *e) {
        uint32_t n;

        pthread_mutex_lock(&e->lock);
        n = e->ncpus;
        pthread_mutex_unlock(&e->lock);
        return n;
}

int engine_cpu_set_state(struct engine *e, uint32_t index, dhp_proc_state state) {
        int r = 0;

        if (state > DHP_PROC_ADMITTED)
                return -EINVAL;
        pthread_mutex_lock(&e->lock);
        if (index >= e->ncpus)
                r = -ERANGE;
        else
                e->cpus[index] = (struct cpu){ .state = state };
        pthread_mutex_unlock(&e->lock);
        return r;
}

int engine_cpu_get_state(struct engine *e, uint32_t index, dhp_proc_state *ret) {
        int r = 0;

        pthread_mutex_lock(&e->lock);
        if (index >= e->ncpus)
                r = -ERANGE;
        else
                *ret = e->cpus[index].state;
        pthread_mutex_unlock(&e->lock);
        return r;
}

/* Start one processor of a batch (transaction lock held): 0 started, or
 * engine_cpu_hotadd()'s refusals. */
static int cpu_start_one(struct engine *e, uint32_t index, bool late) {
        dhp_proc_state st;
        int r;

        r = engine_cpu_get_state(e, index, &st);
        if (r < 0)
                return r;
        if (st == DHP_PROC_ADMITTED)
                return -EALREADY;
        if (st == DHP_PROC_ABSENT)
                return -ENODEV;
        if (e->ops->cpu_txn_begin)
                e->ops->cpu_txn_begin(e->platform, index, late);
        if (!late && st == DHP_PROC_PRESENT) {
                r = e->ops->cpu_start(e->platform, index);
                if (r < 0) {
                        engine_record_txn(e, "START_FAILED", index, r, late);
                        log_debug(&e->logger, "cpu%u: start failed: %s", index, strerror(-r));
                        return r;
                }
        }
        engine_cpu_set_state(e, index, DHP_PROC_STARTED);
        engine_record_txn(e, "STARTED", index, 0, late);
        return 0;
}

/* The notification phases of one started processor: 0 admitted, 1 failed. */
static int cpu_notify_one(struct engine *e, struct engine_cpu_add *a) {
        bool late = a->flags & ENGINE_CPU_LATE, admitted = false;
        int r;

        r = e->mod->sync_run(e, a->index, late, &a->status, &admitted);
        if (r < 0)
                return r;
        if (!admitted)
                return 1;
        /* Existing from here on: before the arrival is queued, so that a
         * registration made in between learns of it at least once (as
         * existing, or from the arrival: R15). */
        pthread_mutex_lock(&e->lock);
        e->cpus[a->index].completing = false;
        pthread_mutex_unlock(&e->lock);
        e->mod->arrival_cpu(e, a->index, DHP_EVENT_ARRIVAL);
        engine_run_hooks(e, ENGINE_HOOK_CPU_ADMITTED, a->index);
        return 0;
}

int engine_cpu_hotadd_batch_more(struct engine *e, struct engine_cpu_add **adds, size_t *n, engine_cpu_more_fn more,
                                 void *userdata) {
        size_t started = 0;

        if (engine_txn_owned_by_self(e))
                return -EDEADLK;
        engine_txn_lock(e);
        /* Every start first: the kernel brings them up back to back, and
         * none is admitted (nor told) before its own ADD_START (R2, R6).
         * Those announced while the others were being started join the
         * batch: an online write takes the kernel long enough (150-200 ms
         * under TCG) for the next add to come in meanwhile, and running
         * the phases first would put them between two writes. */
        for (;;) {
                for (; started < *n; started++) {
                        struct engine_cpu_add *a = &(*adds)[started];

                        a->status = 0;
                        a->result = cpu_start_one(e, a->index, a->flags & ENGINE_CPU_LATE);
                }
                if (!more)
                        break;
                more(userdata, adds, n);
                if (started == *n)
                        break;
        }
        for (size_t i = 0; i < *n; i++)
                if ((*adds)[i].result == 0)
                        (*adds)[i].result = cpu_notify_one(e, &(*adds)[i]);
        engine_txn_unlock(e);
        return 0;
}

int engine_cpu_hotadd_batch(struct engine *e, struct engine_cpu_add *adds, size_t n) {
        return engine_cpu_hotadd_batch_more(e, &adds, &n, NULL, NULL);
}

int engine_cpu_hotadd(struct engine *e, uint32_t index, uint32_t flags, int *ret_status) {
        struct engine_cpu_add a = { .index = index, .flags = flags };
        int r;

        r = engine_cpu_hotadd_batch(e, &a, 1);
        if (r < 0)
                return r;
        if (a.result >= 0 && ret_status)
                *ret_status = a.status;
        return a.result;
}

int engine_cpu_present(struct engine *e, uint32_t index, uint32_t flags, int *ret_status) {
        dhp_proc_state st;
        int r;

        if (index >= engine_cpu_count(e) && (r = engine_cpu_slots(e, index + 1)) < 0)
                return r;
        r = engine_cpu_get_state(e, index, &st);
        if (r < 0)
                return r;
        if (st == DHP_PROC_ADMITTED || st == DHP_PROC_STARTED)
                return -EALREADY;
        if (st == DHP_PROC_ABSENT)
                engine_cpu_set_state(e, index, DHP_PROC_PRESENT);
        if (flags & ENGINE_CPU_NO_ADD)
                return 0;
        return engine_cpu_hotadd(e, index, flags, ret_status);
}

/* Called by the synchronous phases (sync_run) between the two phases, transaction lock held:
 * admit, or undo the start.  Returns the admission status. */
int engine_cpu_admit(struct engine *e, uint32_t index, bool late) {
        int r = e->ops->cpu_admit ? e->ops->cpu_admit(e->platform, index) : 0;

        if (r < 0) {
                engine_record_txn(e, "ADMIT_FAILED", index, r, late);
                return r;
        }
        /* Admitted, not yet existing: ADD_COMPLETE runs next (R12). */
        pthread_mutex_lock(&e->lock);
        e->cpus[index] = (struct cpu){ .state = DHP_PROC_ADMITTED, .completing = true };
        pthread_mutex_unlock(&e->lock);
        engine_record_txn(e, "ADMITTED", index, 0, late);
        return 0;
}

void engine_cpu_reject(struct engine *e, uint32_t index, int status, bool late) {
        int r = e->ops->cpu_stop(e->platform, index);

        if (r < 0) {
                /* The platform could not take it back: it stays started
                 * but unadmitted, which is what the status says. */
                log_debug(&e->logger, "cpu%u: stop after failed add: %s", index, strerror(-r));
                engine_cpu_set_state(e, index, DHP_PROC_STARTED);
        } else {
                engine_cpu_set_state(e, index, r > 0 ? DHP_PROC_STARTED : DHP_PROC_PRESENT);
        }
        engine_record_txn(e, "REJECTED", index, status, late);
}

/* ---- memory ------------------------------------------------------------ */

int engine_mem_set_block_size(struct engine *e, uint64_t bytes) {
        if (bytes == 0 || (bytes & (bytes - 1)))
                return -EINVAL;
        pthread_mutex_lock(&e->lock);
        e->block_size = bytes;
        pthread_mutex_unlock(&e->lock);
        return 0;
}

uint64_t engine_mem_block_size(struct engine *e) {
        uint64_t v;

        pthread_mutex_lock(&e->lock);
        v = e->block_size;
        pthread_mutex_unlock(&e->lock);
        return v;
}

static int blocks_grow_locked(struct engine *e, uint64_t end) {
        struct mem_block *p;
        uint64_t n;

        if (end <= e->nblocks)
                return 0;
        if (end > ENGINE_MAX_BLOCKS)
                return -ERANGE;
        n = e->nblocks ? e->nblocks : 64;
        while (n < end)
                n *= 2;
        if (n > ENGINE_MAX_BLOCKS)
                n = ENGINE_MAX_BLOCKS;
        p = realloc(e->blocks, n * sizeof(*p));
        if (!p)
                return -ENOMEM;
        memset(p + e->nblocks, 0, (n - e->nblocks) * sizeof(*p));
        e->blocks = p;
        e->nblocks = n;
        return 0;
}

void engine_mem_device_range(struct engine *e, const struct mem_device *d, uint64_t *ret_base, uint64_t *ret_size) {
        *ret_base = d->first_block * e->block_size;
        *ret_size = d->present_blocks * e->block_size;
}

int engine_mem_device_add(struct engine *e, uint64_t first_block, uint64_t nblocks, bool online,
                          uint64_t *ret_id) {
        struct mem_device *d;
        uint64_t id;
        int r;

        if (nblocks == 0 || first_block > ENGINE_MAX_BLOCKS || nblocks > ENGINE_MAX_BLOCKS - first_block)
                return -ERANGE;
        pthread_mutex_lock(&e->lock);
        r = blocks_grow_locked(e, first_block + nblocks);
        if (r < 0)
                goto out;
        for (uint64_t b = first_block; b < first_block + nblocks; b++)
                if (e->blocks[b].device) {
                        r = -EEXIST;
                        goto out;
                }
        if (e->ndevices == e->devices_cap) {
                /* Doubling: a sim adding devices one by one stays linear. */
                uint64_t cap = e->devices_cap ? e->devices_cap * 2 : 16;
                d = realloc(e->devices, cap * sizeof(*d));
                if (!d) {
                        r = -ENOMEM;
                        goto out;
                }
                e->devices = d;
                e->devices_cap = cap;
        }
        id = e->ndevices++;
        if (first_block + nblocks > e->mem_end_block)
                e->mem_end_block = first_block + nblocks;
        e->devices[id] = (struct mem_device){ .id = id, .first_block = first_block, .nblocks = nblocks,
                                              .present_blocks = nblocks, .online_blocks = online ? nblocks : 0,
                                              .arrived = online, .node = -1 };
        snprintf(e->devices[id].name, sizeof(e->devices[id].name), "memory@0x%llx",
                 (unsigned long long)(first_block * e->block_size));
        for (uint64_t b = first_block; b < first_block + nblocks; b++)
                e->blocks[b] = (struct mem_block){ .device = id + 1, .online = online };
        if (ret_id)
                *ret_id = id;
out:
        pthread_mutex_unlock(&e->lock);
        return r;
}

void engine_mem_event(struct engine *e, struct dhp_device_event *ev, const struct mem_device *d, dhp_event event,
                      bool existing) {
        *ev = (struct dhp_device_event){ .cls = DHP_CLASS_MEMORY, .event = event, .existing = existing };
        engine_mem_device_range(e, d, &ev->base, &ev->size);
        snprintf(ev->name, sizeof(ev->name), "%s", d->name);
}

/* Mark one block; when its device becomes complete, queue the arrival
 * (for a virtio-mem device: the step's, at engine_mem_settle()).
 * `record`: the block's ONLINE/OFFLINE record, before that arrival (R31 in
 * the stream).  Returns 1 when the device arrived with this block, 3 when
 * the block went online and its device has not arrived yet, 0 for another
 * change, 2 for none. */
int engine_block_set_online(struct engine *e, uint64_t block, bool online, bool record) {
        struct dhp_device_event ev;
        struct mem_device *d;
        bool arrived = false, incomplete;

        pthread_mutex_lock(&e->lock);
        if (block >= e->nblocks || !e->blocks[block].device) {
                pthread_mutex_unlock(&e->lock);
                return -ENOENT;
        }
        d = &e->devices[e->blocks[block].device - 1];
        if (e->blocks[block].online == online) {
                /* Our own write coming back as a uevent, or a repeat. */
                pthread_mutex_unlock(&e->lock);
                return 2;
        }
        e->blocks[block].online = online;
        if (!online)
                e->blocks[block].zone = DHP_MEMORY_ZONE_UNKNOWN;
        if (online)
                d->online_blocks++;
        else
                d->online_blocks--;
        if (online && d->virtio) {
                /* doc/model.md R40: the step's ARRIVAL comes at
                 * engine_mem_settle(), once per resize step. */
                if (!d->in_blocks || block < d->in_first)
                        d->in_first = block;
                d->in_blocks++;
        } else if (online && !d->arrived && d->online_blocks == d->present_blocks) {
                /* Also a device removed by dhp whose blocks someone onlined
                 * again: it arrives again. */
                d->arrived = true;
                d->removed = false;
                arrived = true;
                engine_mem_event(e, &ev, d, DHP_EVENT_ARRIVAL, false);
        }
        incomplete = online && !d->arrived;
        pthread_mutex_unlock(&e->lock);
        if (record)
                engine_record_block(e, online ? "ONLINE" : "OFFLINE", block, 0);
        if (arrived)
                e->mod->arrival_event(e, &ev);
        return arrived ? 1 : incomplete ? 3 : 0;
}

int engine_mem_block_set_online(struct engine *e, uint64_t block, bool online) {
        int r = engine_block_set_online(e, block, online, true);

        if (r < 0)
                return r;
        /* A block of a device not complete yet: the conditions are
         * re-evaluated after the device's arrival (R19, R31), i.e. with
         * its last block. */
        if (r == 2 || r == 3)
                return 0;
        engine_run_hooks(e, ENGINE_HOOK_MEM_CHANGED, block);
        return 0;
}

int engine_mem_hotadd(struct engine *e, uint64_t device_id) {
        struct mem_device d;
        int r = 0, first_error = 0;
        bool changed = false;

        if (engine_txn_owned_by_self(e))
                return -EDEADLK;
        engine_txn_lock(e);
        pthread_mutex_lock(&e->lock);
        if (device_id >= e->ndevices) {
                pthread_mutex_unlock(&e->lock);
                engine_txn_unlock(e);
                return -ENOENT;
        }
        d = e->devices[device_id];
        pthread_mutex_unlock(&e->lock);

        for (uint64_t b = d.first_block; b < d.first_block + d.nblocks; b++) {
                bool skip;

                /* Blocks of the device only: a virtio-mem region has holes. */
                pthread_mutex_lock(&e->lock);
                skip = e->blocks[b].device != device_id + 1 || e->blocks[b].online;
                pthread_mutex_unlock(&e->lock);
                if (skip)
                        continue;
                r = e->ops->mem_block_online(e->platform, b);
                if (r < 0) {
                        /* Reported, never dropped: the block stays offline,
                         * the device does not arrive, the caller learns it. */
                        engine_record_block(e, "ONLINE_FAILED", b, r);
                        log_debug(&e->logger, "memory block %llu: online failed: %s", (unsigned long long)b,
                                  strerror(-r));
                        if (!first_error)
                                first_error = r;
                        continue;
                }
                engine_record_block(e, "ONLINE", b, 0);
                engine_block_set_online(e, b, true, false);
                changed = true;
        }
        if (changed)
                engine_run_hooks(e, ENGINE_HOOK_MEM_CHANGED, device_id);
        engine_txn_unlock(e);
        return first_error;
}

int engine_mem_block_get(struct engine *e, uint64_t block, uint64_t *ret_device, bool *ret_online) {
        int r = 0;

        pthread_mutex_lock(&e->lock);
        if (block >= e->nblocks || !e->blocks[block].device)
                r = -ENOENT;
        else {
                if (ret_device)
                        *ret_device = e->blocks[block].device - 1;
                if (ret_online)
                        *ret_online = e->blocks[block].online;
        }
        pthread_mutex_unlock(&e->lock);
        return r;
}

/* What engine_mem_info says of device d; lock held. */
static void mem_info_locked(struct engine *e, const struct mem_device *d, struct engine_mem_info *ret) {
        engine_mem_device_range(e, d, &ret->base, &ret->size);
        ret->nblocks = d->present_blocks;
        ret->online_blocks = d->online_blocks;
        ret->arrived = d->arrived;
        ret->removed = d->removed;
        ret->span_blocks = d->nblocks;
        ret->virtio = d->virtio;
        ret->node = d->node;
        snprintf(ret->name, sizeof(ret->name), "%s", d->name);
}

int engine_mem_device_info(struct engine *e, uint64_t id, struct engine_mem_info *ret) {
        int r = 0;

        pthread_mutex_lock(&e->lock);
        if (id >= e->ndevices)
                r = -ENOENT;
        else
                mem_info_locked(e, &e->devices[id], ret);
        pthread_mutex_unlock(&e->lock);
        return r;
}

int engine_mem_device_blocks(struct engine *e, uint64_t id, struct engine_mem_info *ret,
                             struct engine_block_info *blocks, uint64_t cap) {
        const struct mem_device *d;

        pthread_mutex_lock(&e->lock);
        if (id >= e->ndevices) {
                pthread_mutex_unlock(&e->lock);
                return -ENOENT;
        }
        d = &e->devices[id];
        mem_info_locked(e, d, ret);
        /* The blocks it holds: all of its range for a DIMM, the plugged
         * ones of a virtio-mem region. */
        for (uint64_t b = d->first_block, k = 0; b < d->first_block + d->nblocks && k < cap; b++) {
                const struct mem_block *mb = &e->blocks[b];
                if (mb->device != id + 1)
                        continue;
                blocks[k++] = (struct engine_block_info){ .index = b, .online = mb->online,
                                                          .zone = mb->online ? (dhp_memory_zone)mb->zone
                                                                             : DHP_MEMORY_ZONE_UNKNOWN };
        }
        pthread_mutex_unlock(&e->lock);
        return 0;
}

int engine_mem_block_set_zone(struct engine *e, uint64_t block, dhp_memory_zone zone) {
        int r = 0;

        if (zone != DHP_MEMORY_ZONE_UNKNOWN && zone != DHP_MEMORY_ZONE_NORMAL && zone != DHP_MEMORY_ZONE_MOVABLE)
                return -EINVAL;
        pthread_mutex_lock(&e->lock);
        if (block >= e->nblocks || !e->blocks[block].device)
                r = -ENOENT;
        else
                e->blocks[block].zone = (uint8_t)zone;
        pthread_mutex_unlock(&e->lock);
        return r;
}

uint64_t engine_mem_end(struct engine *e) {
        uint64_t end;

        pthread_mutex_lock(&e->lock);
        end = e->mem_end_block * e->block_size;
        pthread_mutex_unlock(&e->lock);
        return end;
}
