/* SPDX-License-Identifier: MIT */
/*
 * Removal (doc/model.md, "Removal (dhp extension)", R32-R41, D30-D35): the
 * mirror of a hot-add.  A processor: REMOVE_QUERY to the synchronous
 * registrations that opted in, unadmit, offline, REMOVE_COMPLETE, REMOVAL.
 * Memory: QUERY_REMOVE to the arrival registrations that opted in, every
 * block offline (or all back online), REMOVAL, memory conditions.  A
 * removal the platform did by itself skips the query and the offline step
 * and is flagged surprise.  Every removal runs under the transaction lock,
 * so it never interleaves with an add (R29).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine-internal.h"
#include "util/log.h"
#include "util/time.h"

/* ---- processors --------------------------------------------------------- */

/* The registrations of the synchronous method, whether each opted in
 * (procnotify_removal_part: an external participant opts in for its
 * process, peer_set_query_remove), and what each phase received. */
struct cpu_removal {
        struct engine *e;
        uint32_t index;
        struct reg_snap *snap;
        bool *part, *queried, *got;
        uint64_t *sent_at;
};

static void cpu_removal_free(struct cpu_removal *rm) {
        free(rm->part);
        free(rm->queried);
        free(rm->got);
        free(rm->sent_at);
        if (rm->snap)
                procnotify_snapshot_free(rm->e, rm->snap);
}

static int cpu_removal_init(struct cpu_removal *rm, struct engine *e, uint32_t index) {
        size_t n;

        *rm = (struct cpu_removal){ .e = e, .index = index };
        rm->snap = procnotify_snapshot(e);
        if (!rm->snap)
                return -ENOMEM;
        n = rm->snap->n ? rm->snap->n : 1;
        rm->part = procnotify_removal_part(e, rm->snap);
        rm->queried = calloc(n, sizeof(bool));
        rm->got = calloc(n, sizeof(bool));
        rm->sent_at = calloc(n, sizeof(uint64_t));
        if (!rm->part || !rm->queried || !rm->got || !rm->sent_at) {
                cpu_removal_free(rm);
                return -ENOMEM;
        }
        return 0;
}

/* The processor is gone from the model: REMOVAL to every processor arrival
 * registration (R33), then the hooks.  Transaction lock held. */
static void cpu_gone(struct engine *e, uint32_t index, uint32_t flags) {
        struct dhp_device_event ev = { .cls = DHP_CLASS_PROCESSOR, .event = DHP_EVENT_REMOVAL, .index = index,
                                       .surprise = flags & ENGINE_REMOVE_SURPRISE };

        engine_cpu_set_state(e, index, (flags & ENGINE_REMOVE_GONE) ? DHP_PROC_ABSENT : DHP_PROC_PRESENT);
        engine_record_txn(e, (flags & ENGINE_REMOVE_SURPRISE) ? "REMOVED_SURPRISE" : "REMOVED", index, 0, false);
        snprintf(ev.name, sizeof(ev.name), "cpu%u", index);
        e->mod->arrival_event(e, &ev);
        engine_run_hooks(e, ENGINE_HOOK_CPU_REMOVED, index);
}

/* Unadmit (narrow the managed sets first, R35); a failure is logged, not
 * fatal: the processor is going away whether or not a cpuset follows. */
static void cpu_unadmit(struct engine *e, uint32_t index) {
        int r = e->ops->cpu_unadmit ? e->ops->cpu_unadmit(e->platform, index) : 0;

        if (r < 0) {
                engine_record_txn(e, "UNADMIT_FAILED", index, r, false);
                log_debug(&e->logger, "cpu%u: unadmit: %s", index, strerror(-r));
        }
}

/* A removal the platform did: no query, REMOVE_COMPLETE (status -ENODEV,
 * is_surprise) to the opted-in registrations, REMOVAL (surprise). */
static int cpu_remove_surprise(struct engine *e, uint32_t index, uint32_t flags, dhp_proc_state st) {
        struct cpu_removal rm;
        int status = -ENODEV;

        if (st != DHP_PROC_ADMITTED) {
                /* Never arrived (or already removed): no REMOVAL without
                 * an ARRIVAL (R33), only the model follows. */
                engine_cpu_set_state(e, index, (flags & ENGINE_REMOVE_GONE) ? DHP_PROC_ABSENT : DHP_PROC_PRESENT);
                return -ENODEV;
        }
        cpu_unadmit(e, index);
        if (cpu_removal_init(&rm, e, index) == 0) {
                procnotify_phase(e, rm.snap, DHP_PROC_REMOVE_COMPLETE, index, &status, false, rm.part, rm.got,
                                 rm.sent_at);
                cpu_removal_free(&rm);
        }
        cpu_gone(e, index, flags | ENGINE_REMOVE_SURPRISE);
        return 0;
}

static int cpu_remove_locked(struct engine *e, uint32_t index, uint32_t flags, int *ret_status) {
        struct cpu_removal rm;
        dhp_proc_state st;
        uint32_t admitted = 0;
        int r, status = 0;

        r = engine_cpu_get_state(e, index, &st);
        if (r < 0)
                return r;
        if (flags & ENGINE_REMOVE_SURPRISE)
                return cpu_remove_surprise(e, index, flags, st);
        if (st != DHP_PROC_ADMITTED)
                return -ENODEV;
        pthread_mutex_lock(&e->lock);
        for (uint32_t i = 0; i < e->ncpus; i++)
                admitted += e->cpus[i].state == DHP_PROC_ADMITTED;
        pthread_mutex_unlock(&e->lock);
        if (admitted <= 1)
                return -EBUSY; /* D31: a partition keeps one processor */
        r = cpu_removal_init(&rm, e, index);
        if (r < 0)
                return r;

        /* R34: every opted-in registration is asked, even after a veto. */
        procnotify_phase(e, rm.snap, DHP_PROC_REMOVE_QUERY, index, &status, false, rm.part, rm.queried,
                         rm.sent_at);
        if (status == 0) {
                cpu_unadmit(e, index);
                r = e->ops->cpu_offline ? e->ops->cpu_offline(e->platform, index) : -EOPNOTSUPP;
                if (r == -ENODEV) {
                        /* R39: it vanished under the query (an eject): the
                         * removal completes as the platform's. */
                        flags |= ENGINE_REMOVE_SURPRISE | ENGINE_REMOVE_GONE;
                } else if (r < 0) {
                        /* D32: it stays; admitted again, as before the query. */
                        status = r;
                        engine_record_txn(e, "OFFLINE_FAILED", index, r, false);
                        if (e->ops->cpu_admit)
                                e->ops->cpu_admit(e->platform, index);
                }
        }
        if (status != 0) {
                procnotify_phase(e, rm.snap, DHP_PROC_REMOVE_CANCEL, index, &status, false, rm.queried, rm.got,
                                 rm.sent_at);
                engine_record_txn(e, "REMOVE_CANCELLED", index, status, false);
                cpu_removal_free(&rm);
                *ret_status = status;
                return 1;
        }
        if (flags & ENGINE_REMOVE_SURPRISE)
                status = -ENODEV;
        procnotify_phase(e, rm.snap, DHP_PROC_REMOVE_COMPLETE, index, &status, false, rm.queried, rm.got,
                         rm.sent_at);
        cpu_removal_free(&rm);
        cpu_gone(e, index, flags);
        *ret_status = 0;
        return 0;
}

int engine_cpu_remove(struct engine *e, uint32_t index, uint32_t flags, int *ret_status) {
        int r, status = 0;

        if (!e)
                return -EINVAL;
        if (engine_txn_owned_by_self(e))
                return -EDEADLK;
        engine_txn_lock(e);
        r = cpu_remove_locked(e, index, flags, &status);
        engine_txn_unlock(e);
        if (r >= 0 && ret_status)
                *ret_status = status;
        return r;
}

/* ---- memory ------------------------------------------------------------- */

/* One synchronous call of a memory arrival registration (QUERY_REMOVE,
 * REMOVE_CANCEL), recorded like an arrival.  Whether it is still alive the
 * caller checked (struct runner). */
static void query_call(struct engine *e, const struct reg_slot *sl, struct dhp_device_event *ev) {
        const struct reg *r = sl->reg;
        int before = *ev->status;
        uint64_t t0;

        ev->reg = (struct dhp_arrival_reg *)sl->reg; /* dhp_device_event_get_reg() names the one called */
        t0 = engine_time_ns(e);
        sl->cb.arrival(sl->userdata, ev);
        if (engine_monitored(e)) {
                struct dhp_record rec = {
                        .method = "async",
                        .event = arrival_event_name(ev->event),
                        .cls = "memory",
                        .fields = REC_HAS_CLIENT | REC_HAS_DURATION | REC_HAS_MEMORY | REC_HAS_STATUS |
                                  (ev->event == DHP_EVENT_QUERY_REMOVE && before == 0 && *ev->status ? REC_VETO : 0),
                        .base = ev->base,
                        .size = ev->size,
                        .status = *ev->status,
                        .client = r->name, /* alive: the snapshot holds a reference */
                        .name = ev->name,
                        .dur_ns = engine_time_ns(e) - t0,
                };
                record_emit(e, &rec);
        }
}

/* The memory arrival registrations (the snapshot the dispatcher shares),
 * whether each opted in (part) and which the query reached (queried). */
struct mem_query {
        struct engine *e;
        struct reg_snap *snap;
        bool *part, *queried;
};

static void mem_query_free(struct mem_query *q) {
        if (q->snap) {
                pthread_mutex_lock(&q->e->lock);
                reg_snap_unref_locked(q->e, q->snap);
                pthread_mutex_unlock(&q->e->lock);
        }
        free(q->part);
        free(q->queried);
}

static int mem_query_init(struct mem_query *q, struct engine *e) {
        *q = (struct mem_query){ .e = e };
        pthread_mutex_lock(&e->lock);
        q->snap = reg_snap_get_locked(e, REG_ARRIVAL_MEM);
        if (q->snap) {
                q->part = calloc(q->snap->n ? q->snap->n : 1, sizeof(bool));
                q->queried = calloc(q->snap->n ? q->snap->n : 1, sizeof(bool));
        }
        if (q->part)
                for (size_t i = 0; i < q->snap->n; i++)
                        q->part[i] = q->snap->v[i].reg->flags & DHP_ARRIVAL_QUERY_REMOVE;
        pthread_mutex_unlock(&e->lock);
        if (!q->snap || !q->part || !q->queried) {
                mem_query_free(q);
                return -ENOMEM;
        }
        return 0;
}

/*
 * One phase (QUERY_REMOVE, REMOVE_CANCEL) to the registrations in part, in
 * order, on the transaction's thread; got[i] for those called.  Each call
 * is a single-registration run of the phase runner (struct runner): a
 * deregistration on another thread waits for that registration's call in
 * progress only, never for the others' (dhpd unregisters a departing
 * client's registration on the thread that reads the other clients'
 * answers); one from inside a callback returns at once.  A lock round trip
 * per call: removal is rare, a query is an answer awaited anyway.
 */
static void mem_query_phase(struct engine *e, struct reg_snap *s, struct dhp_device_event *ev, const bool *part,
                            bool *got) {
        for (size_t i = 0; i < s->n; i++) {
                got[i] = false;
                if (!part[i])
                        continue;
                pthread_mutex_lock(&e->lock);
                got[i] = !atomic_load_explicit(&s->v[i].dead, memory_order_relaxed);
                if (got[i])
                        engine_run_begin_locked(e, NULL, s->v[i].reg);
                pthread_mutex_unlock(&e->lock);
                if (!got[i])
                        continue;
                query_call(e, &s->v[i], ev);
                pthread_mutex_lock(&e->lock);
                engine_run_end_locked(e);
                pthread_mutex_unlock(&e->lock);
        }
}

/* Offline every online block of the device; on a refusal, online again
 * those offlined here (D33).  0 or the refusing block's error. */
static int mem_offline_all(struct engine *e, const struct mem_device *d, uint64_t id) {
        uint64_t done = 0, *offlined = calloc(d->nblocks ? d->nblocks : 1, sizeof(*offlined));
        int r = 0;

        if (!offlined)
                return -ENOMEM;
        for (uint64_t b = d->first_block; b < d->first_block + d->nblocks; b++) {
                bool mine;

                pthread_mutex_lock(&e->lock);
                mine = e->blocks[b].device == id + 1 && e->blocks[b].online;
                pthread_mutex_unlock(&e->lock);
                if (!mine)
                        continue;
                r = e->ops->mem_block_offline ? e->ops->mem_block_offline(e->platform, b) : -EOPNOTSUPP;
                if (r < 0) {
                        engine_record_block(e, "OFFLINE_FAILED", b, r);
                        break;
                }
                engine_record_block(e, "OFFLINE", b, 0);
                engine_block_set_online(e, b, false, false);
                offlined[done++] = b;
        }
        if (r < 0) {
                for (uint64_t k = 0; k < done; k++) {
                        int r2 = e->ops->mem_block_online(e->platform, offlined[k]);
                        engine_record_block(e, r2 < 0 ? "ONLINE_FAILED" : "ONLINE", offlined[k], r2);
                        if (r2 == 0)
                                engine_block_set_online(e, offlined[k], true, false);
                }
        }
        /* The memory conditions follow: after the REMOVAL on success (R36,
         * mem_gone), at once when the blocks came back. */
        if (r < 0 && done)
                engine_run_hooks(e, ENGINE_HOOK_MEM_CHANGED, id);
        free(offlined);
        return r;
}

/* The device is gone (all of it): REMOVAL, then the memory conditions
 * (R36: the hook queues behind the REMOVAL).  Lock not held. */
static void mem_gone(struct engine *e, uint64_t id, bool surprise) {
        struct dhp_device_event ev;

        pthread_mutex_lock(&e->lock);
        engine_mem_event(e, &ev, &e->devices[id], DHP_EVENT_REMOVAL, false);
        ev.surprise = surprise;
        e->devices[id].removed = true;
        e->devices[id].arrived = false;
        pthread_mutex_unlock(&e->lock);
        e->mod->arrival_event(e, &ev);
        engine_run_hooks(e, ENGINE_HOOK_MEM_CHANGED, id);
}

static int mem_remove_locked(struct engine *e, uint64_t id, int *ret_status) {
        struct dhp_device_event ev;
        struct mem_query q;
        struct mem_device d;
        int r, status = 0;

        pthread_mutex_lock(&e->lock);
        if (id >= e->ndevices || !e->devices[id].arrived || e->devices[id].removed) {
                pthread_mutex_unlock(&e->lock);
                return -ENOENT;
        }
        d = e->devices[id];
        if (d.virtio) {
                /* Its size is the host's to change (qom-set requested-size):
                 * offlining its blocks would give nothing back. */
                pthread_mutex_unlock(&e->lock);
                return -EOPNOTSUPP;
        }
        engine_mem_event(e, &ev, &d, DHP_EVENT_QUERY_REMOVE, false);
        pthread_mutex_unlock(&e->lock);
        ev.status = &status;

        r = mem_query_init(&q, e);
        if (r < 0)
                return r;
        /* R34 for memory: each opted-in registration is asked, in order. */
        mem_query_phase(e, q.snap, &ev, q.part, q.queried);
        if (status == 0) {
                status = mem_offline_all(e, &d, id);
                if (status == 0)
                        mem_gone(e, id, false);
        }
        if (status != 0) {
                bool *got = q.part; /* part is no longer needed */

                ev.event = DHP_EVENT_REMOVE_CANCEL;
                mem_query_phase(e, q.snap, &ev, q.queried, got);
        }
        mem_query_free(&q);
        *ret_status = status;
        return status != 0;
}

int engine_mem_remove(struct engine *e, uint64_t id, int *ret_status) {
        int r, status = 0;

        if (!e)
                return -EINVAL;
        if (engine_txn_owned_by_self(e))
                return -EDEADLK;
        engine_txn_lock(e);
        r = mem_remove_locked(e, id, &status);
        engine_txn_unlock(e);
        if (r >= 0 && ret_status)
                *ret_status = status;
        return r;
}

int engine_mem_device_find(struct engine *e, const char *name, uint64_t *ret_id) {
        int r = -ENOENT;

        if (!e || !name)
                return -EINVAL;
        pthread_mutex_lock(&e->lock);
        for (uint64_t i = 0; i < e->ndevices; i++)
                if (!e->devices[i].removed && strcmp(e->devices[i].name, name) == 0) {
                        *ret_id = i;
                        r = 0;
                        break;
                }
        pthread_mutex_unlock(&e->lock);
        return r;
}

int engine_mem_block_remove(struct engine *e, uint64_t block) {
        struct mem_device *d;
        bool was_online;

        pthread_mutex_lock(&e->lock);
        if (block >= e->nblocks || !e->blocks[block].device) {
                pthread_mutex_unlock(&e->lock);
                return -ENOENT;
        }
        d = &e->devices[e->blocks[block].device - 1];
        was_online = e->blocks[block].online;
        e->blocks[block] = (struct mem_block){ 0 };
        d->present_blocks--;
        if (was_online)
                d->online_blocks--;
        /* Only memory that was announced is announced gone (R33). */
        if (d->arrived && (!d->out_blocks || block < d->out_first))
                d->out_first = block;
        if (d->arrived)
                d->out_blocks++;
        pthread_mutex_unlock(&e->lock);
        engine_record_block(e, "REMOVED", block, 0);
        if (was_online)
                engine_run_hooks(e, ENGINE_HOOK_MEM_CHANGED, block);
        return 0;
}

/* The step's events of device d; lock held.  Returns how many (0-2). */
static int settle_locked(struct engine *e, struct mem_device *d, struct dhp_device_event ev[2]) {
        int n = 0;

        if (d->out_blocks && (d->virtio || d->present_blocks == 0)) {
                /* R40: one REMOVAL per step, with the size that went; a
                 * DIMM goes as a whole, once its last block is gone. */
                engine_mem_event(e, &ev[n], d, DHP_EVENT_REMOVAL, false);
                ev[n].surprise = true;
                ev[n].base = d->virtio ? d->out_first * e->block_size : d->first_block * e->block_size;
                ev[n].size = d->virtio ? d->out_blocks * e->block_size : d->nblocks * e->block_size;
                n++;
                d->out_blocks = 0;
                if (d->present_blocks == 0 && !d->virtio) {
                        d->removed = true;
                        d->arrived = false;
                }
        }
        if (d->virtio && d->in_blocks && d->online_blocks == d->present_blocks) {
                /* R40: one ARRIVAL per step, once all its memory is usable
                 * (R13), with the size that came. */
                engine_mem_event(e, &ev[n], d, DHP_EVENT_ARRIVAL, false);
                ev[n].base = d->in_first * e->block_size;
                ev[n].size = d->in_blocks * e->block_size;
                n++;
                d->in_blocks = 0;
                d->arrived = true;
                d->removed = false;
        }
        return n;
}

int engine_mem_settle(struct engine *e, uint64_t id) {
        struct dhp_device_event ev[2];
        int n;

        pthread_mutex_lock(&e->lock);
        if (id >= e->ndevices) {
                pthread_mutex_unlock(&e->lock);
                return -ENOENT;
        }
        n = settle_locked(e, &e->devices[id], ev);
        pthread_mutex_unlock(&e->lock);
        for (int i = 0; i < n; i++)
                e->mod->arrival_event(e, &ev[i]);
        if (n)
                engine_run_hooks(e, ENGINE_HOOK_MEM_CHANGED, id);
        return n;
}

/* ---- virtio-mem devices ------------------------------------------------- */

int engine_mem_vdev_add(struct engine *e, const char *name, int node, uint64_t first_block, uint64_t span,
                        uint64_t *ret_id) {
        uint64_t id;
        int r;

        if (!e || !name || !*name || strlen(name) >= ENGINE_NAME_MAX)
                return -EINVAL;
        /* A device of the whole region, then every block taken out: the
         * region is reserved, no block is plugged. */
        r = engine_mem_device_add(e, first_block, span, false, &id);
        if (r < 0)
                return r;
        pthread_mutex_lock(&e->lock);
        for (uint64_t b = first_block; b < first_block + span; b++)
                e->blocks[b] = (struct mem_block){ 0 };
        e->devices[id].present_blocks = 0;
        e->devices[id].virtio = true;
        e->devices[id].node = node;
        snprintf(e->devices[id].name, sizeof(e->devices[id].name), "%s", name);
        pthread_mutex_unlock(&e->lock);
        *ret_id = id;
        return 0;
}

int engine_mem_vdev_plug(struct engine *e, uint64_t id, uint64_t block, bool online) {
        struct mem_device *d;
        int r = 0;

        pthread_mutex_lock(&e->lock);
        if (id >= e->ndevices || !e->devices[id].virtio) {
                r = -ENOENT;
                goto out;
        }
        d = &e->devices[id];
        if (block < d->first_block || block >= d->first_block + d->nblocks) {
                r = -ERANGE;
                goto out;
        }
        if (e->blocks[block].device) {
                r = -EEXIST;
                goto out;
        }
        /* A block found online (enumeration) is existing memory (D9): no
         * ARRIVAL for it, the device counts as arrived. */
        e->blocks[block] = (struct mem_block){ .device = id + 1, .online = online };
        d->present_blocks++;
        d->removed = false;
        if (online) {
                d->online_blocks++;
                d->arrived = true;
        }
out:
        pthread_mutex_unlock(&e->lock);
        return r;
}
