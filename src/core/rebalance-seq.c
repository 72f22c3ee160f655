/* SPDX-License-Identifier: MIT */
/*
 * Resource rebalance, the stop/start sequence (doc/model.md section 4;
 * doc/rebalance.md).  The devices and drivers it works on are rebalance.c's.
 *
 * The admission hook queues one item behind the processor's arrival item;
 * the item runs on the notification thread and rebalances the devices one
 * at a time, in creation order, or hands the processor to the lane
 * (rebalance_lane_start, dhpd), a thread of its own that runs the
 * sequences in the same order, so that no arrival waits for a driver.  One at a time because only one device's
 * I/O is then held at any moment, a slow driver delays the others but
 * never holds them stopped, and the stream reads as one sequence per
 * device; running devices concurrently would shorten the whole rebalance,
 * not the time any one device is stopped, which is what I/O sees.
 *
 * Locks: rb->lock guards the device list, the class table and every device
 * and driver; it is never held while a handler runs.  It is never taken
 * together with the engine's lock.  A device being rebalanced is marked
 * busy (with its thread): detaching a driver or freeing the device waits
 * for the mark to clear, so the driver array the sequence works from stays
 * valid without references of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rebalance-internal.h"
#include "proto/proto.h"
#include "util/strbuf.h"
#include "util/time.h"

struct rebalance_item {
        struct engine_item base;
        struct rebalance *rb;
        uint32_t processor;
        /* The processors admitted when this one was (it included): its
         * sequence moves devices onto those only, every one of which had
         * its ARRIVAL queued before this item (R22), whatever was admitted
         * by the time the sequence runs (the next processor of a burst,
         * whose ARRIVAL may still be on its way). */
        struct cpuset upto;
};
/* ---- the handler context ---------------------------------------------- */

DHP_EXPORT dhp_rebalance_request dhp_rebalance_ctx_get_request(const dhp_rebalance_ctx *c) {
        return c->req;
}

DHP_EXPORT dhp_device *dhp_rebalance_ctx_get_device(const dhp_rebalance_ctx *c) {
        return c->dev;
}

DHP_EXPORT uint32_t dhp_rebalance_ctx_get_processor(const dhp_rebalance_ctx *c) {
        return c->processor;
}

DHP_EXPORT const char *dhp_rebalance_ctx_get_old_affinity(const dhp_rebalance_ctx *c) {
        return c->old_affinity;
}

DHP_EXPORT const char *dhp_rebalance_ctx_get_new_affinity(const dhp_rebalance_ctx *c) {
        return c->new_affinity;
}

DHP_EXPORT uint32_t dhp_rebalance_ctx_get_vectors(const dhp_rebalance_ctx *c) {
        return c->vectors;
}
/* ---- the sequence ------------------------------------------------------- */

struct tally {
        unsigned rebalanced, refused, skipped, unchanged;
};

static void record_device(struct engine *e, const char *event, const dhp_device *dev, uint32_t processor,
                          const char *reason, const char *old_aff, const char *new_aff) {
        struct dhp_record rec = {
                .method = "rebalance",
                .event = event,
                .fields = REC_HAS_PROCESSOR,
                .processor = processor,
                .number = engine_cpu_number(processor),
                .device = dev->name,
                .reason = reason,
                .old_affinity = old_aff,
                .new_affinity = new_aff,
        };
        record_emit(e, &rec);
}

/* Run one handler and put it in the stream. */
static int call(struct engine *e, struct dhp_driver *drv, dhp_rebalance_ctx *c, dhp_rebalance_request req) {
        uint64_t t0;
        int st;

        c->req = req;
        t0 = engine_time_ns(e);
        st = drv->cb(drv->userdata, req, c);
        {
                struct dhp_record rec = {
                        .method = "rebalance",
                        .event = proto_request_name(req),
                        .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS | REC_HAS_DURATION,
                        .processor = c->processor,
                        .number = engine_cpu_number(c->processor),
                        .status = st,
                        .dur_ns = engine_time_ns(e) - t0,
                        .device = c->dev->name,
                        .driver = drv->name,
                        .reason = st && req == DHP_REBALANCE_STOP ? "driver-bug" : NULL,
                        .old_affinity = req == DHP_REBALANCE_START ? c->old_affinity : NULL,
                        .new_affinity = req == DHP_REBALANCE_START ? c->new_affinity : NULL,
                };
                record_emit(e, &rec);
        }
        if (st && req == DHP_REBALANCE_STOP)
                log_debug(&e->logger, "%s/%s: STOP returned %d; a driver must not fail STOP", c->dev->name,
                          drv->name, st);
        return st;
}

/* The affinity the device gets, from the admitted processors. */
static int new_affinity_locked(dhp_device *dev, const struct cpuset *admitted, struct cpuset *out,
                               uint32_t *ret_vectors) {
        uint32_t n = cpuset_count(admitted);

        *ret_vectors = 1;
        switch (dev->aff_policy) {
        case DHP_AFFINITY_KEEP:
                return cpuset_copy(out, &dev->affinity);
        case DHP_AFFINITY_SPREAD: {
                int64_t cpu = cpuset_next(admitted, 0);

                cpuset_zero(out);
                if (n == 0)
                        return cpuset_copy(out, &dev->affinity);
                for (uint32_t k = dev->spread_slot % n; k > 0; k--)
                        cpu = cpuset_next(admitted, (uint32_t)cpu + 1);
                return cpuset_set(out, (uint32_t)cpu);
        }
        case DHP_AFFINITY_ONE_PER_CPU:
                *ret_vectors = n;
                return cpuset_copy(out, admitted);
        case DHP_AFFINITY_ALL:
        default:
                return cpuset_copy(out, admitted);
        }
}

/* Stop the device's drivers, top first, swap in the new affinity, start
 * them again, bottom first; or, when one refuses QUERY_STOP, cancel the
 * whole stack, bottom first.  The device is marked busy by the caller. */
static void stop_start(struct rebalance *rb, dhp_device *dev, struct dhp_driver **drv, unsigned n,
                       dhp_rebalance_ctx *c, struct cpuset *next, struct tally *t) {
        struct engine *e = rb->engine;
        int refused = -1;
        uint64_t t0, stopped;

        t0 = time_now_ns();
        for (unsigned i = 0; i < n; i++)
                if (call(e, drv[i], c, DHP_REBALANCE_QUERY_STOP) != 0) {
                        refused = (int)i;
                        break;
                }
        if (refused >= 0) {
                /* As Windows PnP does (doc/model.md D18): CANCEL_STOP to
                 * the whole stack, bottom up, the bus driver first; the
                 * refusing driver and those below it, which were never
                 * asked, are included. */
                for (int i = (int)n - 1; i >= 0; i--)
                        call(e, drv[i], c, DHP_REBALANCE_CANCEL_STOP);
                record_device(e, "KEPT", dev, c->processor, "query-stop-refused", c->old_affinity, NULL);
                t->refused++;
                return;
        }
        for (unsigned i = 0; i < n; i++)
                call(e, drv[i], c, DHP_REBALANCE_STOP);

        /* The new resources: a swap, so that nothing can fail between
         * STOP and START. */
        pthread_mutex_lock(&rb->lock);
        {
                struct cpuset old = dev->affinity;
                dev->affinity = *next;
                *next = old;
        }
        pthread_mutex_unlock(&rb->lock);

        for (int i = (int)n - 1; i >= 0; i--)
                call(e, drv[i], c, DHP_REBALANCE_START);
        stopped = time_now_ns() - t0;
        {
                struct dhp_record rec = {
                        .method = "rebalance",
                        .event = "REBALANCED",
                        .fields = REC_HAS_PROCESSOR | REC_HAS_STOPPED,
                        .processor = c->processor,
                        .number = engine_cpu_number(c->processor),
                        .device = dev->name,
                        .old_affinity = c->old_affinity,
                        .new_affinity = c->new_affinity,
                        .stopped_ns = stopped,
                };
                record_emit(e, &rec);
        }
        t->rebalanced++;
        pthread_mutex_lock(&rb->lock);
        dev->stopped_last = stopped;
        if (stopped > dev->stopped_max)
                dev->stopped_max = stopped;
        pthread_mutex_unlock(&rb->lock);
}

static void rebalance_device(struct rebalance *rb, dhp_device *dev, const struct cpuset *admitted,
                             uint32_t processor, struct tally *t) {
        struct engine *e = rb->engine;
        struct dhp_driver *drv[REBALANCE_MAX_DRIVERS];
        struct strbuf old_s = STRBUF_INIT, new_s = STRBUF_INIT;
        struct cpuset next = CPUSET_INIT;
        dhp_rebalance_ctx c = { .dev = dev, .processor = processor };
        const char *excluded;
        unsigned n = 0;
        int r;

        pthread_mutex_lock(&rb->lock);
        if (dev->dead) {
                pthread_mutex_unlock(&rb->lock);
                return;
        }
        excluded = rebalance_exclusion_locked(dev);
        if (excluded) {
                pthread_mutex_unlock(&rb->lock);
                record_device(e, "SKIPPED", dev, processor, excluded, NULL, NULL);
                t->skipped++;
                return;
        }
        r = new_affinity_locked(dev, admitted, &next, &c.vectors);
        cpuset_format(&dev->affinity, &old_s);
        cpuset_format(&next, &new_s);
        if (r < 0 || old_s.oom || new_s.oom) {
                pthread_mutex_unlock(&rb->lock);
                record_device(e, "FAILED", dev, processor, "no-memory", NULL, NULL);
                goto out;
        }
        c.old_affinity = strbuf_str(&old_s);
        c.new_affinity = strbuf_str(&new_s);
        if (cpuset_equal(&next, &dev->affinity)) {
                /* Nothing to reconnect: stopping it would only hold I/O. */
                pthread_mutex_unlock(&rb->lock);
                record_device(e, "UNCHANGED", dev, processor,
                              dev->aff_policy == DHP_AFFINITY_KEEP ? "affinity-keep" : "affinity-unchanged",
                              c.old_affinity, NULL);
                t->unchanged++;
                goto out;
        }
        list_for_each(p, &dev->drivers)
                drv[n++] = list_entry(p, struct dhp_driver, node);
        dev->busy = true;
        dev->busy_thread = pthread_self();
        pthread_mutex_unlock(&rb->lock);

        stop_start(rb, dev, drv, n, &c, &next, t);
        pthread_mutex_lock(&rb->lock);
        dev->busy = false;
        pthread_cond_broadcast(&rb->cond);
        pthread_mutex_unlock(&rb->lock);
out:
        cpuset_deinit(&next);
        strbuf_deinit(&old_s);
        strbuf_deinit(&new_s);
}

/* The processors admitted now that are also in upto (when upto has any:
 * a processor removed since is not rebalanced onto). */
static int admitted_within(struct engine *e, const struct cpuset *upto, struct cpuset *out) {
        struct cpuset now = CPUSET_INIT;
        int r = rebalance_admitted_cpus(e, &now);

        if (r == 0 && (!upto || cpuset_next(upto, 0) < 0)) {
                r = cpuset_copy(out, &now);
        } else if (r == 0) {
                cpuset_zero(out);
                for (int64_t c = cpuset_next(&now, 0); c >= 0 && r == 0; c = cpuset_next(&now, (uint32_t)c + 1))
                        if (cpuset_test(upto, (uint32_t)c))
                                r = cpuset_set(out, (uint32_t)c);
        }
        cpuset_deinit(&now);
        return r;
}

/* One processor's rebalance: every device, in creation order. */
static void sequence_run(struct rebalance *rb, uint32_t processor, const struct cpuset *upto) {
        struct engine *e = rb->engine;
        struct cpuset admitted = CPUSET_INIT;
        struct tally t = { 0 };
        dhp_device **v = NULL;
        size_t n = 0, i = 0;
        char detail[160];
        int r;

        r = admitted_within(e, upto, &admitted);
        pthread_mutex_lock(&rb->lock);
        list_for_each(p, &rb->devices)
                n++;
        if (r == 0)
                v = calloc(n ? n : 1, sizeof(*v));
        if (v)
                list_for_each(p, &rb->devices) {
                        v[i] = list_entry(p, struct dhp_device, node);
                        v[i++]->refs++;
                }
        pthread_mutex_unlock(&rb->lock);

        {
                struct dhp_record rec = { .method = "rebalance", .event = v ? "BEGIN" : "FAILED",
                                          .fields = REC_HAS_PROCESSOR | (v ? 0 : REC_HAS_STATUS),
                                          .processor = processor, .number = engine_cpu_number(processor),
                                          .status = -ENOMEM };
                record_emit(e, &rec);
        }
        if (!v) {
                cpuset_deinit(&admitted);
                return;
        }
        for (size_t j = 0; j < i; j++)
                rebalance_device(rb, v[j], &admitted, processor, &t);

        pthread_mutex_lock(&rb->lock);
        for (size_t j = 0; j < i; j++)
                rebalance_device_unref_locked(v[j]);
        pthread_mutex_unlock(&rb->lock);
        free(v);
        cpuset_deinit(&admitted);

        snprintf(detail, sizeof(detail), "\"rebalanced\":%u,\"refused\":%u,\"skipped\":%u,\"unchanged\":%u",
                 t.rebalanced, t.refused, t.skipped, t.unchanged);
        {
                struct dhp_record rec = { .method = "rebalance", .event = "END", .fields = REC_HAS_PROCESSOR,
                                          .processor = processor,
                                          .number = engine_cpu_number(processor), .detail = detail };
                record_emit(e, &rec);
        }
}

/* ---- the lane ------------------------------------------------------------ */

struct rebalance_lane_item {
        struct rebalance_lane_item *next;
        uint32_t processor;
        struct cpuset upto; /* struct rebalance_item's */
};

static void record_failed(struct engine *e, uint32_t processor, int status) {
        struct dhp_record rec = { .method = "rebalance", .event = "FAILED",
                                  .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS, .processor = processor,
                                  .number = engine_cpu_number(processor), .status = status };
        record_emit(e, &rec);
}

/* Give the processor's sequence to the lane; false when there is none
 * (or no memory for its item): then it runs here. */
static bool lane_hand_off(struct rebalance *rb, uint32_t processor, struct cpuset *upto) {
        struct rebalance_lane_item *li;
        bool on;

        pthread_mutex_lock(&rb->lock);
        on = rb->lane_on;
        pthread_mutex_unlock(&rb->lock);
        if (!on || !(li = calloc(1, sizeof(*li))))
                return false;
        li->processor = processor;
        li->upto = *upto; /* taken over */
        *upto = (struct cpuset)CPUSET_INIT;
        pthread_mutex_lock(&rb->lock);
        on = rb->lane_on;
        if (on) {
                *rb->lane_tail = li;
                rb->lane_tail = &li->next;
                pthread_cond_broadcast(&rb->cond);
        }
        pthread_mutex_unlock(&rb->lock);
        if (!on) {
                *upto = li->upto; /* given back: the sequence runs here */
                free(li);
        }
        return on;
}

static void *lane_main(void *userdata) {
        struct rebalance *rb = userdata;
        struct rebalance_lane_item *li;

        pthread_mutex_lock(&rb->lock);
        for (;;) {
                while (!rb->lane_head && !rb->lane_stop)
                        pthread_cond_wait(&rb->cond, &rb->lock);
                if (rb->lane_stop)
                        break;
                li = rb->lane_head;
                rb->lane_head = li->next;
                if (!rb->lane_head)
                        rb->lane_tail = &rb->lane_head;
                rb->lane_running = true;
                pthread_mutex_unlock(&rb->lock);
                sequence_run(rb, li->processor, &li->upto);
                cpuset_deinit(&li->upto);
                free(li);
                pthread_mutex_lock(&rb->lock);
                rb->lane_running = false;
                pthread_cond_broadcast(&rb->cond); /* rebalance_lane_wait_idle */
        }
        pthread_mutex_unlock(&rb->lock);
        return NULL;
}

int rebalance_lane_start(struct rebalance *rb) {
        int r;

        pthread_mutex_lock(&rb->lock);
        rb->lane_head = NULL;
        rb->lane_tail = &rb->lane_head;
        rb->lane_stop = false;
        r = -pthread_create(&rb->lane_thread, NULL, lane_main, rb);
        rb->lane_on = r == 0;
        pthread_mutex_unlock(&rb->lock);
        return r;
}

void rebalance_lane_stop(struct rebalance *rb) {
        struct rebalance_lane_item *li;

        if (!rb)
                return;
        pthread_mutex_lock(&rb->lock);
        if (!rb->lane_on) {
                pthread_mutex_unlock(&rb->lock);
                return;
        }
        rb->lane_stop = true;
        pthread_cond_broadcast(&rb->cond);
        pthread_mutex_unlock(&rb->lock);
        pthread_join(rb->lane_thread, NULL);
        pthread_mutex_lock(&rb->lock);
        rb->lane_on = false;
        li = rb->lane_head;
        rb->lane_head = NULL;
        rb->lane_tail = &rb->lane_head;
        pthread_mutex_unlock(&rb->lock);
        while (li) {
                struct rebalance_lane_item *next = li->next;
                record_failed(rb->engine, li->processor, -ESHUTDOWN);
                cpuset_deinit(&li->upto);
                free(li);
                li = next;
        }
}

int rebalance_lane_wait_idle(struct rebalance *rb, int timeout_ms) {
        struct timespec deadline; /* rb->cond runs on CLOCK_REALTIME */
        int r = 0;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&rb->lock);
        while (rb->lane_on && !rb->lane_stop && (rb->lane_head || rb->lane_running) && r == 0)
                if (pthread_cond_timedwait(&rb->cond, &rb->lock, &deadline) == ETIMEDOUT)
                        r = rb->lane_head || rb->lane_running ? -ETIMEDOUT : 0;
        pthread_mutex_unlock(&rb->lock);
        return r;
}

/* ---- the queue item --------------------------------------------------------- */

/* On the notification thread, after the processor's arrival. */
static void item_run(struct engine *e, struct engine_item *base) {
        struct rebalance_item *it = (struct rebalance_item *)base;

        if (!lane_hand_off(it->rb, it->processor, &it->upto))
                sequence_run(it->rb, it->processor, &it->upto);
}

static void item_free(struct engine_item *base) {
        cpuset_deinit(&((struct rebalance_item *)base)->upto);
        free(base);
}

void rebalance_on_admitted(struct engine *e, enum engine_hook_kind kind, uint64_t arg, void *userdata) {
        struct rebalance_item *it;
        bool empty;

        /* Only a processor add rebalances; memory never does.  Devices owned
         * by a peer are rebalanced by the peer. */
        if (kind != ENGINE_HOOK_CPU_ADMITTED || ((struct rebalance *)userdata)->peer)
                return;
        /* No device, nothing to rebalance: no item, no records. */
        pthread_mutex_lock(&((struct rebalance *)userdata)->lock);
        empty = list_empty(&((struct rebalance *)userdata)->devices);
        pthread_mutex_unlock(&((struct rebalance *)userdata)->lock);
        if (empty)
                return;
        it = calloc(1, sizeof(*it));
        if (!it) {
                record_failed(e, (uint32_t)arg, -ENOMEM);
                return;
        }
        it->base.run = item_run;
        it->base.free = item_free;
        it->rb = userdata;
        it->processor = (uint32_t)arg;
        /* Out of memory: an empty set, the admitted ones when it runs. */
        if (rebalance_admitted_cpus(e, &it->upto) < 0)
                cpuset_deinit(&it->upto);
        /* The hook runs after the processor's arrival was queued: the
         * rebalance comes after it. */
        engine_queue(e, &it->base);
}
