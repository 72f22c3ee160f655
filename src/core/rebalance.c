/* SPDX-License-Identifier: MIT */
/*
 * Resource rebalance (MODEL.md section 4; doc/rebalance.md).
 *
 * The admission hook queues one item behind the processor's arrival item;
 * the item runs on the notification thread and rebalances the devices one
 * at a time, in creation order.  One at a time because only one device's
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
#include <strings.h>

#include "core/engine-internal.h"
#include "core/rebalance.h"
#include "util/cpuset.h"
#include "util/strbuf.h"
#include "util/time.h"

#define REBALANCE_NAME_MAX 64
#define REBALANCE_MAX_DRIVERS 64
#define REBALANCE_MAX_CLASSES 256

struct class_optout {
        char name[REBALANCE_NAME_MAX];
        bool optout;
};

struct rebalance {
        struct engine *engine;
        pthread_mutex_t lock;
        pthread_cond_t cond; /* a device stopped being busy */
        struct list devices;
        struct class_optout *classes;
        size_t nclasses;
        uint32_t spread_seq;
        const struct rebalance_remote_ops *remote; /* a mirror of dhpd's devices */
        void *remote_ud;
};

struct dhp_device {
        struct list node;
        struct rebalance *rb;
        unsigned refs; /* the list's, and one per rebalance snapshot */
        bool dead;
        bool busy;
        pthread_t busy_thread;
        char name[REBALANCE_NAME_MAX];
        char setup_class[REBALANCE_NAME_MAX];
        dhp_rebalance_policy policy;
        dhp_affinity_policy aff_policy;
        uint32_t spread_slot;
        struct cpuset affinity;
        struct list drivers; /* top first */
        unsigned ndrivers;
        uint64_t stopped_last, stopped_max;
};

struct dhp_driver {
        struct list node;
        dhp_device *dev;
        char name[REBALANCE_NAME_MAX];
        dhp_driver_cb cb;
        void *userdata;
};

struct dhp_rebalance_ctx {
        dhp_rebalance_request req;
        dhp_device *dev;
        uint32_t processor;
        const char *old_affinity, *new_affinity;
        uint32_t vectors;
};

struct rebalance_item {
        struct engine_item base;
        struct rebalance *rb;
        uint32_t processor;
};

static const char *request_name(dhp_rebalance_request req) {
        switch (req) {
        case DHP_REBALANCE_QUERY_STOP: return "QUERY_STOP";
        case DHP_REBALANCE_CANCEL_STOP: return "CANCEL_STOP";
        case DHP_REBALANCE_STOP: return "STOP";
        case DHP_REBALANCE_START: return "START";
        }
        return "?";
}

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

/* ---- devices ------------------------------------------------------------ */

static bool name_ok(const char *s) {
        return s && *s && strlen(s) < REBALANCE_NAME_MAX;
}

/* Every admitted processor of the engine. */
static int admitted_cpus(struct engine *e, struct cpuset *out) {
        int r = 0;

        cpuset_zero(out);
        pthread_mutex_lock(&e->lock);
        for (uint32_t i = 0; i < e->ncpus && r == 0; i++)
                if (e->cpus[i].state == DHP_PROC_ADMITTED)
                        r = cpuset_set(out, i);
        pthread_mutex_unlock(&e->lock);
        return r;
}

static void device_unref_locked(dhp_device *dev) {
        if (--dev->refs > 0)
                return;
        list_for_each_safe(n, tmp, &dev->drivers) {
                list_remove(n);
                free(list_entry(n, struct dhp_driver, node));
        }
        cpuset_deinit(&dev->affinity);
        free(dev);
}

static dhp_device *find_locked(struct rebalance *rb, const char *name) {
        list_for_each(n, &rb->devices) {
                dhp_device *d = list_entry(n, struct dhp_device, node);
                if (strcmp(d->name, name) == 0)
                        return d;
        }
        return NULL;
}

dhp_device *rebalance_device_find(struct rebalance *rb, const char *name) {
        dhp_device *d;

        pthread_mutex_lock(&rb->lock);
        d = name ? find_locked(rb, name) : NULL;
        pthread_mutex_unlock(&rb->lock);
        return d;
}

int rebalance_device_new(struct rebalance *rb, const char *name, const char *setup_class, dhp_device **ret) {
        dhp_device *dev;
        int r;

        if (!rb || !ret || !name_ok(name) || !name_ok(setup_class))
                return -EINVAL;
        dev = calloc(1, sizeof(*dev));
        if (!dev)
                return -ENOMEM;
        dev->rb = rb;
        dev->refs = 1;
        list_init(&dev->node);
        list_init(&dev->drivers);
        strcpy(dev->name, name);
        strcpy(dev->setup_class, setup_class);
        /* A mirror learns the affinity from dhpd (before the op returns). */
        r = rb->remote ? 0 : admitted_cpus(rb->engine, &dev->affinity);
        if (r == 0 && rb->remote) {
                pthread_mutex_lock(&rb->lock);
                r = find_locked(rb, name) ? -EEXIST : 0;
                pthread_mutex_unlock(&rb->lock);
                if (r == 0)
                        r = rb->remote->device_new(rb->remote_ud, dev);
        }
        if (r < 0) {
                cpuset_deinit(&dev->affinity);
                free(dev);
                return r;
        }
        pthread_mutex_lock(&rb->lock);
        if (find_locked(rb, name)) {
                pthread_mutex_unlock(&rb->lock);
                cpuset_deinit(&dev->affinity);
                free(dev);
                return -EEXIST;
        }
        list_append(&rb->devices, &dev->node);
        pthread_mutex_unlock(&rb->lock);
        *ret = dev;
        return 0;
}

/* Wait until no other thread rebalances the device; lock held.  Returns
 * false when this thread is the one rebalancing it. */
static bool wait_not_busy_locked(dhp_device *dev) {
        while (dev->busy) {
                if (pthread_equal(dev->busy_thread, pthread_self()))
                        return false;
                pthread_cond_wait(&dev->rb->cond, &dev->rb->lock);
        }
        return true;
}

DHP_EXPORT void dhp_device_free(dhp_device *dev) {
        struct rebalance *rb;

        if (!dev)
                return;
        rb = dev->rb;
        if (rb->remote)
                rb->remote->device_free(rb->remote_ud, dev);
        pthread_mutex_lock(&rb->lock);
        if (!dev->dead) {
                dev->dead = true;
                list_remove(&dev->node);
        }
        /* From its own handler: the sequence holds a reference and frees
         * the device when it ends. */
        wait_not_busy_locked(dev);
        device_unref_locked(dev);
        pthread_mutex_unlock(&rb->lock);
}

DHP_EXPORT const char *dhp_device_get_name(const dhp_device *dev) {
        return dev ? dev->name : NULL;
}

DHP_EXPORT const char *dhp_device_get_setup_class(const dhp_device *dev) {
        return dev ? dev->setup_class : NULL;
}

DHP_EXPORT int dhp_device_set_policy(dhp_device *dev, dhp_rebalance_policy policy) {
        if (!dev || (unsigned)policy > DHP_REBALANCE_POLICY_PARTICIPATE)
                return -EINVAL;
        if (dev->rb->remote) {
                int r = dev->rb->remote->device_set(dev->rb->remote_ud, dev, 1 /* IPC_DEVICE_SET_POLICY */,
                                                    (uint32_t)policy, NULL);
                if (r < 0)
                        return r;
        }
        pthread_mutex_lock(&dev->rb->lock);
        dev->policy = policy;
        pthread_mutex_unlock(&dev->rb->lock);
        return 0;
}

static bool class_optout_locked(struct rebalance *rb, const char *cls) {
        for (size_t i = 0; i < rb->nclasses; i++)
                if (strcasecmp(rb->classes[i].name, cls) == 0)
                        return rb->classes[i].optout;
        return false;
}

/* The property, when set, wins; else the class opt-out decides.  Returns
 * NULL when the device participates, else the reason it does not. */
static const char *exclusion_locked(dhp_device *dev) {
        if (dev->policy == DHP_REBALANCE_POLICY_DO_NOT)
                return "policy";
        if (dev->policy == DHP_REBALANCE_POLICY_PARTICIPATE)
                return NULL;
        return class_optout_locked(dev->rb, dev->setup_class) ? "class-optout" : NULL;
}

DHP_EXPORT int dhp_device_participates(dhp_device *dev) {
        int r;

        if (!dev)
                return -EINVAL;
        if (dev->rb->remote)
                return dev->rb->remote->device_participates(dev->rb->remote_ud, dev);
        pthread_mutex_lock(&dev->rb->lock);
        r = exclusion_locked(dev) ? 0 : 1;
        pthread_mutex_unlock(&dev->rb->lock);
        return r;
}

DHP_EXPORT int dhp_device_set_affinity_policy(dhp_device *dev, dhp_affinity_policy policy) {
        if (!dev || (unsigned)policy > DHP_AFFINITY_KEEP)
                return -EINVAL;
        if (dev->rb->remote) {
                int r = dev->rb->remote->device_set(dev->rb->remote_ud, dev, 2 /* IPC_DEVICE_SET_AFFINITY_POLICY */,
                                                    (uint32_t)policy, NULL);
                if (r < 0)
                        return r;
        }
        pthread_mutex_lock(&dev->rb->lock);
        if (policy == DHP_AFFINITY_SPREAD && dev->aff_policy != DHP_AFFINITY_SPREAD)
                dev->spread_slot = dev->rb->spread_seq++;
        dev->aff_policy = policy;
        pthread_mutex_unlock(&dev->rb->lock);
        return 0;
}

DHP_EXPORT int dhp_device_set_affinity(dhp_device *dev, const char *cpulist) {
        struct cpuset s = CPUSET_INIT;
        int r;

        if (!dev || !cpulist)
                return -EINVAL;
        r = cpuset_parse(&s, cpulist);
        if (r == 0 && cpuset_count(&s) == 0)
                r = -EINVAL;
        if (r == 0 && dev->rb->remote) {
                /* dhpd decides (-EBUSY while it rebalances the device) and
                 * sends the affinity back: the mirror has it already. */
                r = dev->rb->remote->device_set(dev->rb->remote_ud, dev, 3 /* IPC_DEVICE_SET_AFFINITY */, 0,
                                                cpulist);
                cpuset_deinit(&s);
                return r;
        }
        if (r < 0) {
                cpuset_deinit(&s);
                return r;
        }
        pthread_mutex_lock(&dev->rb->lock);
        if (dev->busy)
                r = -EBUSY;
        else {
                struct cpuset old = dev->affinity;
                dev->affinity = s;
                s = old;
        }
        pthread_mutex_unlock(&dev->rb->lock);
        cpuset_deinit(&s);
        return r;
}

DHP_EXPORT int dhp_device_get_affinity(dhp_device *dev, char **ret_cpulist) {
        struct strbuf sb = STRBUF_INIT;
        char *s;

        if (!dev || !ret_cpulist)
                return -EINVAL;
        pthread_mutex_lock(&dev->rb->lock);
        cpuset_format(&dev->affinity, &sb);
        pthread_mutex_unlock(&dev->rb->lock);
        if (sb.oom || !(s = strbuf_steal(&sb))) {
                strbuf_deinit(&sb);
                return -ENOMEM;
        }
        *ret_cpulist = s;
        return 0;
}

DHP_EXPORT int dhp_device_affinity_has(dhp_device *dev, uint32_t cpu) {
        int r;

        if (!dev)
                return -EINVAL;
        pthread_mutex_lock(&dev->rb->lock);
        r = cpuset_test(&dev->affinity, cpu);
        pthread_mutex_unlock(&dev->rb->lock);
        return r;
}

DHP_EXPORT int dhp_device_get_stopped_ns(dhp_device *dev, uint64_t *ret_last, uint64_t *ret_max) {
        if (!dev)
                return -EINVAL;
        /* dhpd measures them: ask it (the answer refreshes the mirror).
         * Where it cannot be asked (connection lost, its connection
         * thread), the mirror's last values. */
        if (dev->rb->remote)
                (void)dev->rb->remote->device_participates(dev->rb->remote_ud, dev);
        pthread_mutex_lock(&dev->rb->lock);
        if (ret_last)
                *ret_last = dev->stopped_last;
        if (ret_max)
                *ret_max = dev->stopped_max;
        pthread_mutex_unlock(&dev->rb->lock);
        return 0;
}

/* ---- class opt-out -------------------------------------------------------- */

int rebalance_class_set_optout(struct rebalance *rb, const char *cls, bool optout) {
        struct class_optout *v;
        int r = 0;

        if (!rb || !name_ok(cls))
                return -EINVAL;
        if (rb->remote) {
                r = rb->remote->class_set_optout(rb->remote_ud, cls, optout);
                if (r < 0)
                        return r;
        }
        pthread_mutex_lock(&rb->lock);
        for (size_t i = 0; i < rb->nclasses; i++)
                if (strcasecmp(rb->classes[i].name, cls) == 0) {
                        rb->classes[i].optout = optout;
                        goto out;
                }
        if (rb->nclasses >= REBALANCE_MAX_CLASSES) {
                r = -ENOSPC;
                goto out;
        }
        v = realloc(rb->classes, (rb->nclasses + 1) * sizeof(*v));
        if (!v) {
                r = -ENOMEM;
                goto out;
        }
        rb->classes = v;
        strcpy(v[rb->nclasses].name, cls);
        v[rb->nclasses].optout = optout;
        rb->nclasses++;
out:
        pthread_mutex_unlock(&rb->lock);
        return r;
}

int rebalance_class_get_optout(struct rebalance *rb, const char *cls, bool *ret) {
        if (!rb || !name_ok(cls) || !ret)
                return -EINVAL;
        if (rb->remote)
                return rb->remote->class_get_optout(rb->remote_ud, cls, ret);
        pthread_mutex_lock(&rb->lock);
        *ret = class_optout_locked(rb, cls);
        pthread_mutex_unlock(&rb->lock);
        return 0;
}

/* ---- drivers ------------------------------------------------------------ */

DHP_EXPORT int dhp_driver_attach_at(dhp_device *dev, uint32_t level, const char *name, dhp_driver_cb cb,
                                    void *userdata, dhp_driver **ret) {
        struct dhp_driver *drv;
        struct list *pos;

        if (!dev || !cb || !ret || !name_ok(name))
                return -EINVAL;
        drv = calloc(1, sizeof(*drv));
        if (!drv)
                return -ENOMEM;
        drv->dev = dev;
        strcpy(drv->name, name);
        drv->cb = cb;
        drv->userdata = userdata;
        pthread_mutex_lock(&dev->rb->lock);
        if (dev->ndrivers >= REBALANCE_MAX_DRIVERS) {
                pthread_mutex_unlock(&dev->rb->lock);
                free(drv);
                return -ENOSPC;
        }
        if (dev->rb->remote) {
                int r;
                pthread_mutex_unlock(&dev->rb->lock);
                r = dev->rb->remote->driver_attach(dev->rb->remote_ud, drv, level, drv->name);
                pthread_mutex_lock(&dev->rb->lock);
                if (r < 0) {
                        /* A request may have reached it meanwhile. */
                        wait_not_busy_locked(dev);
                        pthread_mutex_unlock(&dev->rb->lock);
                        free(drv);
                        return r;
                }
        }
        /* The list runs top first: level L from the bottom goes right
         * above the driver now at level L, i.e. before list index
         * (ndrivers - L); past the top, at index 0. */
        pos = dev->drivers.next;
        for (uint32_t i = 0; level < dev->ndrivers && i < dev->ndrivers - level; i++)
                pos = pos->next;
        list_insert_between(&drv->node, pos->prev, pos);
        dev->ndrivers++;
        pthread_mutex_unlock(&dev->rb->lock);
        *ret = drv;
        return 0;
}

DHP_EXPORT int dhp_driver_attach(dhp_device *dev, const char *name, dhp_driver_cb cb, void *userdata,
                                 dhp_driver **ret) {
        return dhp_driver_attach_at(dev, UINT32_MAX, name, cb, userdata, ret);
}

DHP_EXPORT int dhp_driver_detach(dhp_driver *drv) {
        dhp_device *dev;

        if (!drv)
                return 0;
        dev = drv->dev;
        pthread_mutex_lock(&dev->rb->lock);
        if (!wait_not_busy_locked(dev)) {
                pthread_mutex_unlock(&dev->rb->lock);
                return -EBUSY;
        }
        if (dev->rb->remote) {
                /* dhpd forgets it first; a request already on its way
                 * may still run it, so wait for that again. */
                pthread_mutex_unlock(&dev->rb->lock);
                dev->rb->remote->driver_detach(dev->rb->remote_ud, drv);
                pthread_mutex_lock(&dev->rb->lock);
                wait_not_busy_locked(dev);
        }
        list_remove(&drv->node);
        dev->ndrivers--;
        pthread_mutex_unlock(&dev->rb->lock);
        free(drv);
        return 0;
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
                        .event = request_name(req),
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

static void rebalance_device(struct rebalance *rb, dhp_device *dev, const struct cpuset *admitted,
                             uint32_t processor, struct tally *t) {
        struct engine *e = rb->engine;
        struct dhp_driver *drv[REBALANCE_MAX_DRIVERS];
        struct strbuf old_s = STRBUF_INIT, new_s = STRBUF_INIT;
        struct cpuset next = CPUSET_INIT;
        dhp_rebalance_ctx c = { .dev = dev, .processor = processor };
        const char *excluded;
        unsigned n = 0;
        int refused = -1, r;
        uint64_t t0, stopped;

        pthread_mutex_lock(&rb->lock);
        if (dev->dead) {
                pthread_mutex_unlock(&rb->lock);
                return;
        }
        excluded = exclusion_locked(dev);
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

        t0 = time_now_ns();
        for (unsigned i = 0; i < n; i++)
                if (call(e, drv[i], &c, DHP_REBALANCE_QUERY_STOP) != 0) {
                        refused = (int)i;
                        break;
                }
        if (refused >= 0) {
                /* dhp: only the drivers that accepted QUERY_STOP are
                 * cancelled, lowest first; the refusing one changed
                 * nothing and those below it were never asked. */
                for (int i = refused - 1; i >= 0; i--)
                        call(e, drv[i], &c, DHP_REBALANCE_CANCEL_STOP);
                record_device(e, "KEPT", dev, processor, "query-stop-refused", c.old_affinity, NULL);
                t->refused++;
                goto done;
        }
        for (unsigned i = 0; i < n; i++)
                call(e, drv[i], &c, DHP_REBALANCE_STOP);

        /* The new resources: a swap, so that nothing can fail between
         * STOP and START. */
        pthread_mutex_lock(&rb->lock);
        {
                struct cpuset old = dev->affinity;
                dev->affinity = next;
                next = old;
        }
        pthread_mutex_unlock(&rb->lock);

        for (int i = (int)n - 1; i >= 0; i--)
                call(e, drv[i], &c, DHP_REBALANCE_START);
        stopped = time_now_ns() - t0;
        {
                struct dhp_record rec = {
                        .method = "rebalance",
                        .event = "REBALANCED",
                        .fields = REC_HAS_PROCESSOR | REC_HAS_STOPPED,
                        .processor = processor,
                        .number = engine_cpu_number(processor),
                        .device = dev->name,
                        .old_affinity = c.old_affinity,
                        .new_affinity = c.new_affinity,
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
done:
        pthread_mutex_lock(&rb->lock);
        dev->busy = false;
        pthread_cond_broadcast(&rb->cond);
        pthread_mutex_unlock(&rb->lock);
out:
        cpuset_deinit(&next);
        strbuf_deinit(&old_s);
        strbuf_deinit(&new_s);
}

static void item_run(struct engine *e, struct engine_item *base) {
        struct rebalance_item *it = (struct rebalance_item *)base;
        struct rebalance *rb = it->rb;
        struct cpuset admitted = CPUSET_INIT;
        struct tally t = { 0 };
        dhp_device **v = NULL;
        size_t n = 0, i = 0;
        char detail[160];
        int r;

        r = admitted_cpus(e, &admitted);
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
                                          .processor = it->processor, .number = engine_cpu_number(it->processor),
                                          .status = -ENOMEM };
                record_emit(e, &rec);
        }
        if (!v) {
                cpuset_deinit(&admitted);
                return;
        }
        for (size_t j = 0; j < i; j++)
                rebalance_device(rb, v[j], &admitted, it->processor, &t);

        pthread_mutex_lock(&rb->lock);
        for (size_t j = 0; j < i; j++)
                device_unref_locked(v[j]);
        pthread_mutex_unlock(&rb->lock);
        free(v);
        cpuset_deinit(&admitted);

        snprintf(detail, sizeof(detail), "\"rebalanced\":%u,\"refused\":%u,\"skipped\":%u,\"unchanged\":%u",
                 t.rebalanced, t.refused, t.skipped, t.unchanged);
        {
                struct dhp_record rec = { .method = "rebalance", .event = "END", .fields = REC_HAS_PROCESSOR,
                                          .processor = it->processor,
                                          .number = engine_cpu_number(it->processor), .detail = detail };
                record_emit(e, &rec);
        }
}

static void item_free(struct engine_item *base) {
        free(base);
}

static void on_admitted(struct engine *e, enum engine_hook_kind kind, uint64_t arg, void *userdata) {
        struct rebalance_item *it;
        bool empty;

        /* Only a processor add rebalances; memory never does.  A mirror's
         * devices are rebalanced by dhpd. */
        if (kind != ENGINE_HOOK_CPU_ADMITTED || ((struct rebalance *)userdata)->remote)
                return;
        /* No device, nothing to rebalance: no item, no records. */
        pthread_mutex_lock(&((struct rebalance *)userdata)->lock);
        empty = list_empty(&((struct rebalance *)userdata)->devices);
        pthread_mutex_unlock(&((struct rebalance *)userdata)->lock);
        if (empty)
                return;
        it = calloc(1, sizeof(*it));
        if (!it) {
                struct dhp_record rec = { .method = "rebalance", .event = "FAILED",
                                          .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS, .processor = (uint32_t)arg,
                                          .number = engine_cpu_number((uint32_t)arg), .status = -ENOMEM };
                record_emit(e, &rec);
                return;
        }
        it->base.run = item_run;
        it->base.free = item_free;
        it->rb = userdata;
        it->processor = (uint32_t)arg;
        /* The hook runs after the processor's arrival was queued: the
         * rebalance comes after it. */
        engine_queue(e, &it->base);
}

/* ---- the module --------------------------------------------------------- */

int rebalance_new(struct engine *e, struct rebalance **ret) {
        struct rebalance *rb;
        int r;

        if (!e || !ret)
                return -EINVAL;
        rb = calloc(1, sizeof(*rb));
        if (!rb)
                return -ENOMEM;
        rb->engine = e;
        pthread_mutex_init(&rb->lock, NULL);
        pthread_cond_init(&rb->cond, NULL);
        list_init(&rb->devices);
        r = rebalance_class_set_optout(rb, DHP_SETUP_CLASS_NET, true);
        if (r == 0)
                r = engine_hook_add(e, on_admitted, rb);
        if (r < 0) {
                rebalance_free(rb);
                return r;
        }
        *ret = rb;
        return 0;
}

void rebalance_free(struct rebalance *rb) {
        if (!rb)
                return;
        list_for_each_safe(n, tmp, &rb->devices) {
                dhp_device *dev = list_entry(n, struct dhp_device, node);
                list_remove(n);
                dev->dead = true;
                dev->refs = 1;
                device_unref_locked(dev);
        }
        free(rb->classes);
        pthread_mutex_destroy(&rb->lock);
        pthread_cond_destroy(&rb->cond);
        free(rb);
}

/* ---- a mirror of dhpd's devices --------------------------------------------- */

void rebalance_set_remote(struct rebalance *rb, const struct rebalance_remote_ops *ops, void *ud) {
        rb->remote = ops;
        rb->remote_ud = ud;
}

int rebalance_device_mirror(dhp_device *dev, const char *affinity, uint64_t stopped_last, uint64_t stopped_max) {
        struct cpuset s = CPUSET_INIT;
        int r = cpuset_parse(&s, affinity);

        pthread_mutex_lock(&dev->rb->lock);
        if (r == 0) {
                struct cpuset old = dev->affinity;
                dev->affinity = s;
                s = old;
        }
        dev->stopped_last = stopped_last;
        dev->stopped_max = stopped_max;
        pthread_mutex_unlock(&dev->rb->lock);
        cpuset_deinit(&s);
        return r;
}

dhp_device *rebalance_driver_device(dhp_driver *drv) {
        return drv->dev;
}

bool rebalance_remote_begin(dhp_driver *drv) {
        dhp_device *dev = drv->dev;
        bool ok;

        pthread_mutex_lock(&dev->rb->lock);
        ok = !dev->dead;
        if (ok) {
                /* One request at a time per context (its notification
                 * thread): waiting here only waits for a detach. */
                wait_not_busy_locked(dev);
                dev->busy = true;
                dev->busy_thread = pthread_self();
                dev->refs++;
        }
        pthread_mutex_unlock(&dev->rb->lock);
        return ok;
}

int rebalance_remote_run(dhp_driver *drv, dhp_rebalance_request req, uint32_t processor, uint32_t vectors,
                         const char *old_affinity, const char *new_affinity) {
        dhp_device *dev = drv->dev;
        struct rebalance *rb = dev->rb;
        dhp_rebalance_ctx c = { .req = req, .dev = dev, .processor = processor, .old_affinity = old_affinity,
                                .new_affinity = new_affinity, .vectors = vectors };
        int st;

        if (req == DHP_REBALANCE_START) {
                struct cpuset s = CPUSET_INIT;
                if (cpuset_parse(&s, new_affinity) == 0) {
                        pthread_mutex_lock(&rb->lock);
                        struct cpuset old = dev->affinity;
                        dev->affinity = s;
                        s = old;
                        pthread_mutex_unlock(&rb->lock);
                }
                cpuset_deinit(&s);
        }
        st = drv->cb(drv->userdata, req, &c);
        pthread_mutex_lock(&rb->lock);
        dev->busy = false;
        pthread_cond_broadcast(&rb->cond);
        device_unref_locked(dev);
        pthread_mutex_unlock(&rb->lock);
        return st;
}

void rebalance_device_unlist(dhp_device *dev) {
        pthread_mutex_lock(&dev->rb->lock);
        if (!dev->dead) {
                dev->dead = true;
                list_remove(&dev->node);
        }
        pthread_mutex_unlock(&dev->rb->lock);
}

void rebalance_driver_unlist(dhp_driver *drv) {
        pthread_mutex_lock(&drv->dev->rb->lock);
        list_remove(&drv->node);
        list_init(&drv->node);
        drv->dev->ndrivers--;
        pthread_mutex_unlock(&drv->dev->rb->lock);
}

void rebalance_driver_free_unlisted(dhp_driver *drv) {
        dhp_device *dev = drv->dev;

        pthread_mutex_lock(&dev->rb->lock);
        wait_not_busy_locked(dev);
        pthread_mutex_unlock(&dev->rb->lock);
        free(drv);
}
