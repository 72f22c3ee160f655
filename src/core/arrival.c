/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous arrival notification (doc/model.md section 2).
 *
 * An arrival is an item on the engine's queue, run by whoever dispatches it
 * (dhp_process() or the notification thread), never inside a transaction.
 * A broadcast item goes to every registration of its class that existed
 * when it was queued (id <= max_reg_id); a registration made later learns of
 * the device through INCLUDE_EXISTING instead.  A device arriving while a
 * registration is made can so be reported twice (once each way), never more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine-internal.h"
#include "core/peer.h"

struct arrival_item {
        struct engine_item base;
        struct dhp_device_event ev;
        struct reg *target; /* NULL: broadcast */
        uint64_t max_reg_id;
};

DHP_EXPORT dhp_class dhp_device_event_get_class(const dhp_device_event *e) {
        return e->cls;
}

DHP_EXPORT dhp_event dhp_device_event_get_event(const dhp_device_event *e) {
        return e->event;
}

DHP_EXPORT const char *dhp_device_event_get_name(const dhp_device_event *e) {
        return e->name;
}

DHP_EXPORT int dhp_device_event_get_processor(const dhp_device_event *e, uint32_t *ret_index,
                                              dhp_proc_number *ret_number) {
        if (!e || e->cls != DHP_CLASS_PROCESSOR)
                return -EINVAL;
        if (ret_index)
                *ret_index = e->index;
        if (ret_number)
                *ret_number = engine_cpu_number(e->index);
        return 0;
}

DHP_EXPORT int dhp_device_event_get_memory(const dhp_device_event *e, uint64_t *ret_base, uint64_t *ret_size) {
        if (!e || e->cls != DHP_CLASS_MEMORY)
                return -EINVAL;
        if (ret_base)
                *ret_base = e->base;
        if (ret_size)
                *ret_size = e->size;
        return 0;
}

DHP_EXPORT bool dhp_device_event_is_existing(const dhp_device_event *e) {
        return e->existing;
}

DHP_EXPORT bool dhp_device_event_is_surprise(const dhp_device_event *e) {
        return e->surprise;
}

DHP_EXPORT int dhp_device_event_veto(const dhp_device_event *e, int error) {
        if (!e || e->event != DHP_EVENT_QUERY_REMOVE || !e->status || error >= 0)
                return -EINVAL;
        /* The first veto wins, as in ADD_START (doc/model.md R4, R34). */
        if (*e->status != 0)
                return -EALREADY;
        *e->status = error;
        return 0;
}

DHP_EXPORT int dhp_device_event_get_status(const dhp_device_event *e) {
        return e && e->status ? *e->status : 0;
}

const char *arrival_event_name(dhp_event ev) {
        switch (ev) {
        case DHP_EVENT_ARRIVAL: return "ARRIVAL";
        case DHP_EVENT_REMOVAL: return "REMOVAL";
        case DHP_EVENT_QUERY_REMOVE: return "QUERY_REMOVE";
        case DHP_EVENT_REMOVE_CANCEL: return "REMOVE_CANCEL";
        }
        return "?";
}

DHP_EXPORT dhp_arrival_reg *dhp_device_event_get_reg(const dhp_device_event *e) {
        return e ? e->reg : NULL;
}

/* One delivery; ev names the registration.  Whether it is still alive the
 * caller checked (struct runner). */
static void deliver(struct engine *e, dhp_arrival_cb cb, void *userdata, struct reg *r, struct dhp_device_event *ev) {
        bool monitored = engine_monitored(e);
        uint64_t t0 = 0;

        ev->reg = (struct dhp_arrival_reg *)r;
        if (monitored)
                t0 = engine_time_ns(e);
        cb(userdata, ev);

        if (monitored) {
                struct dhp_record rec = {
                        .method = "async",
                        .event = arrival_event_name(ev->event),
                        .cls = ev->cls == DHP_CLASS_PROCESSOR ? "processor" : "memory",
                        .fields = REC_HAS_CLIENT | REC_HAS_DURATION | (ev->existing ? REC_EXISTING : 0) |
                                  (ev->surprise ? REC_SURPRISE : 0) |
                                  (ev->cls == DHP_CLASS_PROCESSOR ? REC_HAS_PROCESSOR : REC_HAS_MEMORY),
                        .processor = ev->index,
                        .number = engine_cpu_number(ev->index),
                        .base = ev->base,
                        .size = ev->size,
                        .client = r->name,
                        .name = ev->name,
                        .dur_ns = engine_time_ns(e) - t0,
                };
                record_emit(e, &rec);
        }
}

/*
 * A broadcast item goes through the dispatcher's snapshot of its class (one
 * per batch, engine_dispatch), a targeted one to its registration.  dead is
 * read sequentially consistent: the dispatcher's step/waiters handshake
 * with reg_kill() (struct runner) relies on it.
 */
static void item_run(struct engine *e, struct engine_item *base) {
        struct arrival_item *it = (struct arrival_item *)base;
        const struct reg_snap *s;

        if (it->target) {
                struct dhp_arrival_reg *ar = (struct dhp_arrival_reg *)it->target;
                if (!atomic_load(&it->target->dead))
                        deliver(e, ar->cb, it->target->userdata, it->target, &it->ev);
                return;
        }
        s = e->async_run.arrival[it->ev.cls == DHP_CLASS_PROCESSOR ? 0 : 1];
        if (!s) {
                /* Cannot happen quietly: say so in the stream. */
                struct dhp_record rec = { .method = "async", .event = "LOST", .name = it->ev.name,
                                          .fields = REC_HAS_STATUS, .status = -ENOMEM };
                record_emit(e, &rec);
                return;
        }
        for (size_t i = 0; i < s->n; i++) {
                const struct reg_slot *sl = &s->v[i];
                if (sl->id > it->max_reg_id || atomic_load(&sl->dead))
                        continue;
                deliver(e, sl->cb.arrival, sl->userdata, sl->reg, &it->ev);
        }
}

static void item_free(struct engine_item *base) {
        struct arrival_item *it = (struct arrival_item *)base;

        if (it->target) {
                struct engine *e = it->target->engine;
                pthread_mutex_lock(&e->lock);
                reg_unref_locked(it->target);
                pthread_mutex_unlock(&e->lock);
        }
        free(it);
}

static struct arrival_item *item_new(const struct dhp_device_event *ev) {
        struct arrival_item *it = calloc(1, sizeof(*it));

        if (!it)
                return NULL;
        it->base.run = item_run;
        it->base.free = item_free;
        it->ev = *ev;
        return it;
}

/* "cpuN" without snprintf: it was half of what queueing an arrival cost. */
static void event_processor(struct dhp_device_event *ev, uint32_t index, dhp_event event, bool existing) {
        char digits[10];
        size_t n = 0;

        *ev = (struct dhp_device_event){ .cls = DHP_CLASS_PROCESSOR, .event = event, .existing = existing,
                                         .index = index, .name = "cpu" };
        do {
                digits[n++] = (char)('0' + index % 10);
                index /= 10;
        } while (index);
        for (size_t i = 0; i < n; i++)
                ev->name[3 + i] = digits[n - 1 - i];
}

static void event_memory(struct engine *e, struct dhp_device_event *ev, const struct mem_device *d,
                         dhp_event event, bool existing) {
        engine_mem_event(e, ev, d, event, existing);
}

/* An item from the engine's pool (the dispatcher gives broadcast items
 * back: free == NULL), else a new one; lock held. */
static struct arrival_item *pool_get_locked(struct engine *e) {
        struct arrival_item *it = (struct arrival_item *)e->pool;

        if (it) {
                e->pool = it->base.next;
                e->npool--;
        } else if (!(it = malloc(sizeof(*it)))) {
                return NULL;
        }
        it->base.run = item_run;
        it->base.free = NULL;
        it->target = NULL;
        return it;
}

/* Queue a broadcast item whose event is filled in, and unlock: the
 * registrations it goes to are numbered in the critical section that
 * queues it, one lock round trip per arrival. */
static int queue_broadcast_unlock(struct engine *e, struct arrival_item *it) {
        engine_wake_fn wake;
        void *ud;

        it->max_reg_id = e->reg_seq;
        wake = engine_queue_locked(e, &it->base, &ud);
        pthread_mutex_unlock(&e->lock);
        if (wake)
                wake(ud);
        return 0;
}

int arrival_queue_event(struct engine *e, const struct dhp_device_event *ev) {
        struct arrival_item *it;

        pthread_mutex_lock(&e->lock);
        if (!(it = pool_get_locked(e))) {
                pthread_mutex_unlock(&e->lock);
                return -ENOMEM;
        }
        it->ev = *ev;
        return queue_broadcast_unlock(e, it);
}

int arrival_queue_processor(struct engine *e, uint32_t index, dhp_event event) {
        struct arrival_item *it;

        pthread_mutex_lock(&e->lock);
        if (!(it = pool_get_locked(e))) {
                pthread_mutex_unlock(&e->lock);
                return -ENOMEM;
        }
        event_processor(&it->ev, index, event, false);
        return queue_broadcast_unlock(e, it);
}

int arrival_queue_memory(struct engine *e, const struct mem_device *d, dhp_event event) {
        struct arrival_item *it;

        pthread_mutex_lock(&e->lock);
        if (!(it = pool_get_locked(e))) {
                pthread_mutex_unlock(&e->lock);
                return -ENOMEM;
        }
        event_memory(e, &it->ev, d, event, false);
        return queue_broadcast_unlock(e, it);
}

/* Queue the existing devices for one new registration; lock held.  Items
 * are collected first and queued after, outside the lock. */
static int collect_existing_locked(struct engine *e, struct dhp_arrival_reg *ar, struct arrival_item **ret_head) {
        struct arrival_item *head = NULL, **tail = &head;
        struct dhp_device_event ev;

        if (ar->cls == DHP_CLASS_PROCESSOR) {
                for (uint32_t i = 0; i < e->ncpus; i++) {
                        if (!engine_cpu_existing_locked(e, i))
                                continue;
                        event_processor(&ev, i, DHP_EVENT_ARRIVAL, true);
                        if (!(*tail = item_new(&ev)))
                                goto oom;
                        tail = (struct arrival_item **)&(*tail)->base.next;
                }
        } else {
                for (uint64_t i = 0; i < e->ndevices; i++) {
                        if (!e->devices[i].arrived || e->devices[i].removed)
                                continue;
                        event_memory(e, &ev, &e->devices[i], DHP_EVENT_ARRIVAL, true);
                        if (!(*tail = item_new(&ev)))
                                goto oom;
                        tail = (struct arrival_item **)&(*tail)->base.next;
                }
        }
        for (struct arrival_item *it = head; it; it = (struct arrival_item *)it->base.next) {
                it->target = &ar->base;
                reg_ref_locked(&ar->base);
        }
        *ret_head = head;
        return 0;
oom:
        while (head) {
                struct arrival_item *next = (struct arrival_item *)head->base.next;
                free(head);
                head = next;
        }
        return -ENOMEM;
}

int arrival_existing(struct engine *e, dhp_class cls, dhp_arrival_cb fn, void *userdata) {
        struct dhp_device_event *v = NULL;
        size_t n = 0, cap;

        if (cls != DHP_CLASS_PROCESSOR && cls != DHP_CLASS_MEMORY)
                return -EINVAL;
        pthread_mutex_lock(&e->lock);
        cap = cls == DHP_CLASS_PROCESSOR ? e->ncpus : e->ndevices;
        v = calloc(cap ? cap : 1, sizeof(*v));
        if (!v) {
                pthread_mutex_unlock(&e->lock);
                return -ENOMEM;
        }
        if (cls == DHP_CLASS_PROCESSOR) {
                for (uint32_t i = 0; i < e->ncpus; i++)
                        if (engine_cpu_existing_locked(e, i))
                                event_processor(&v[n++], i, DHP_EVENT_ARRIVAL, true);
        } else {
                for (uint64_t i = 0; i < e->ndevices; i++)
                        if (e->devices[i].arrived && !e->devices[i].removed)
                                event_memory(e, &v[n++], &e->devices[i], DHP_EVENT_ARRIVAL, true);
        }
        pthread_mutex_unlock(&e->lock);
        for (size_t i = 0; i < n; i++)
                fn(userdata, &v[i]);
        free(v);
        return (int)n;
}

/* Into the list: an observer at the end, any other registration before
 * the first observer (the snapshots follow the list's order). */
static void list_add_locked(struct engine *e, struct dhp_arrival_reg *ar) {
        if (!ar->observer)
                list_for_each(n, &e->arrival_regs)
                        if (list_entry(n, struct dhp_arrival_reg, base.node)->observer) {
                                list_insert_between(&ar->base.node, n->prev, n);
                                return;
                        }
        list_append(&e->arrival_regs, &ar->base.node);
}

static int register_one(struct engine *e, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                        void *userdata, bool observer, dhp_arrival_reg **ret) {
        struct arrival_item *existing = NULL;
        struct dhp_arrival_reg *ar;
        int r = 0;

        if (!e || !cb || !ret || (cls != DHP_CLASS_PROCESSOR && cls != DHP_CLASS_MEMORY) ||
            (flags & ~(uint32_t)(DHP_ARRIVAL_INCLUDE_EXISTING | DHP_ARRIVAL_QUERY_REMOVE)) ||
            (cls != DHP_CLASS_MEMORY && (flags & DHP_ARRIVAL_QUERY_REMOVE)))
                return -EINVAL;
        if (name && strlen(name) >= ENGINE_NAME_MAX)
                return -EINVAL;
        ar = calloc(1, sizeof(*ar));
        if (!ar)
                return -ENOMEM;
        reg_init(e, &ar->base, name, flags, userdata);
        ar->cls = cls;
        ar->cb = cb;
        ar->observer = observer;
        ar->base.kind = cls == DHP_CLASS_PROCESSOR ? REG_ARRIVAL_CPU : REG_ARRIVAL_MEM;

        pthread_mutex_lock(&e->lock);
        if (flags & DHP_ARRIVAL_INCLUDE_EXISTING)
                r = collect_existing_locked(e, ar, &existing);
        if (r == 0) {
                list_add_locked(e, ar);
                reg_list_changed_locked(e, ar->base.kind);
        }
        pthread_mutex_unlock(&e->lock);
        if (r < 0) {
                free(ar);
                return r;
        }
        while (existing) {
                struct arrival_item *next = (struct arrival_item *)existing->base.next;
                engine_queue(e, &existing->base);
                existing = next;
        }
        *ret = ar;
        return 0;
}

int arrival_register(struct engine *e, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                     void *userdata, dhp_arrival_reg **ret) {
        return register_one(e, name, cls, flags, cb, userdata, false, ret);
}

int arrival_register_observer(struct engine *e, const char *name, dhp_class cls, dhp_arrival_cb cb,
                              void *userdata, dhp_arrival_reg **ret) {
        return register_one(e, name, cls, 0, cb, userdata, true, ret);
}

void arrival_unregister(dhp_arrival_reg *ar) {
        if (ar)
                reg_kill(&ar->base);
}

struct engine *arrival_reg_engine(const dhp_arrival_reg *ar) {
        return ar->base.engine;
}

int peer_inject_arrival(struct engine *e, dhp_arrival_reg *ar, dhp_class cls, dhp_event event, uint32_t flags,
                        uint32_t index, uint64_t base, uint64_t size, const char *name) {
        struct dhp_device_event ev = { .cls = cls, .event = event, .existing = flags & PEER_EVENT_EXISTING,
                                       .surprise = flags & PEER_EVENT_SURPRISE, .index = index, .base = base,
                                       .size = size };
        struct arrival_item *it;

        snprintf(ev.name, sizeof(ev.name), "%s", name ? name : "");
        it = item_new(&ev);
        if (!it)
                return -ENOMEM;
        pthread_mutex_lock(&e->lock);
        it->target = &ar->base;
        reg_ref_locked(&ar->base);
        pthread_mutex_unlock(&e->lock);
        engine_queue(e, &it->base);
        return 0;
}

int peer_query_arrival(struct engine *e, dhp_arrival_reg *ar, dhp_event event, int status, uint64_t base,
                       uint64_t size, const char *name) {
        struct dhp_device_event ev = { .cls = DHP_CLASS_MEMORY, .event = event, .base = base, .size = size,
                                       .reg = ar };
        int st = event == DHP_EVENT_QUERY_REMOVE ? 0 : status;

        if (!e || !ar || (event != DHP_EVENT_QUERY_REMOVE && event != DHP_EVENT_REMOVE_CANCEL))
                return -EINVAL;
        snprintf(ev.name, sizeof(ev.name), "%s", name ? name : "");
        ev.status = &st;
        /* Synchronous, on the calling thread (D34), like a phase of section 1:
         * a single-registration run of the phase runner (struct runner), so
         * that arrival_unregister() on another thread waits for the call,
         * one from inside it does not.  Under the transaction lock, as every
         * phase run (one at a time); the record is the peer's. */
        if (engine_txn_owned_by_self(e))
                return -EDEADLK;
        engine_txn_lock(e);
        pthread_mutex_lock(&e->lock);
        engine_run_begin_locked(e, NULL, &ar->base);
        pthread_mutex_unlock(&e->lock);
        if (!atomic_load_explicit(&ar->base.dead, memory_order_relaxed))
                ar->cb(ar->base.userdata, &ev);
        pthread_mutex_lock(&e->lock);
        engine_run_end_locked(e);
        pthread_mutex_unlock(&e->lock);
        engine_txn_unlock(e);
        return event == DHP_EVENT_QUERY_REMOVE ? st : 0;
}
