/* SPDX-License-Identifier: MIT */
/*
 * The limits notification (limits.h): snapshots, registrations, and their
 * delivery as items of the engine's queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "util/strbuf.h"

struct dhp_limits {
        struct cgpart_limits l;
        char *cpus; /* the kernel's list format, "0-3,8" */
};

struct dhp_limits_reg {
        struct list node;
        struct limits_hub *hub;
        uint64_t id;
        dhp_limits_cb cb;
        void *userdata;
        unsigned refs;  /* the handle and each queued delivery */
        bool dead;      /* unregistered: no call from now on */
        bool running;   /* inside cb, on thread `runner` */
        pthread_t runner;
};

struct limits_item {
        struct engine_item base;
        struct limits_hub *hub;
        dhp_limits *snap;
        struct dhp_limits_reg *target; /* NULL: every registration up to max_id */
        uint64_t max_id;
};

static dhp_limits *snapshot_new(const struct cgpart_limits *l) {
        struct strbuf sb = STRBUF_INIT;
        dhp_limits *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        if (cgpart_limits_copy(&s->l, l) < 0 || cpuset_format(&l->cpus, &sb) < 0 ||
            !(s->cpus = strbuf_steal(&sb))) {
                strbuf_deinit(&sb);
                dhp_limits_free(s);
                return NULL;
        }
        return s;
}

DHP_EXPORT void dhp_limits_free(dhp_limits *l) {
        if (!l)
                return;
        cgpart_limits_deinit(&l->l);
        free(l->cpus);
        free(l);
}

static void reg_unref_locked(struct dhp_limits_reg *r) {
        if (--r->refs == 0)
                free(r);
}

void limits_hub_init(struct limits_hub *h, struct engine *e) {
        *h = (struct limits_hub){ .engine = e };
        pthread_mutex_init(&h->lock, NULL);
        pthread_cond_init(&h->idle, NULL);
        list_init(&h->regs);
}

void limits_hub_deinit(struct limits_hub *h) {
        /* Registrations the application did not take back: dhp_close()
         * ends them (the handles are invalid from then on). */
        list_for_each_safe(n, tmp, &h->regs) {
                struct dhp_limits_reg *r = list_entry(n, struct dhp_limits_reg, node);
                list_remove(n);
                r->dead = true;
                reg_unref_locked(r);
        }
        dhp_limits_free(h->cur);
        h->cur = NULL;
        pthread_cond_destroy(&h->idle);
        pthread_mutex_destroy(&h->lock);
}

static void deliver(struct limits_hub *h, struct dhp_limits_reg *r, const dhp_limits *snap) {
        pthread_mutex_lock(&h->lock);
        if (r->dead) {
                pthread_mutex_unlock(&h->lock);
                return;
        }
        r->running = true;
        r->runner = pthread_self();
        pthread_mutex_unlock(&h->lock);
        r->cb(r->userdata, snap);
        pthread_mutex_lock(&h->lock);
        r->running = false;
        pthread_cond_broadcast(&h->idle);
        pthread_mutex_unlock(&h->lock);
}

static void item_run(struct engine *e, struct engine_item *base) {
        struct limits_item *it = (struct limits_item *)base;
        struct limits_hub *h = it->hub;
        struct dhp_limits_reg **v = NULL;
        size_t n = 0, i = 0;

        (void)e;
        if (it->target) {
                deliver(h, it->target, it->snap);
                return;
        }
        pthread_mutex_lock(&h->lock);
        list_for_each(p, &h->regs)
                n++;
        v = calloc(n ? n : 1, sizeof(*v));
        list_for_each(p, &h->regs) {
                struct dhp_limits_reg *r = list_entry(p, struct dhp_limits_reg, node);
                if (!v || r->id > it->max_id)
                        continue;
                r->refs++;
                v[i++] = r;
        }
        pthread_mutex_unlock(&h->lock);
        /* Out of memory: this change is lost for every registration, the
         * next snapshot still says what it is (its seq shows the gap). */
        for (size_t j = 0; j < i; j++)
                deliver(h, v[j], it->snap);
        pthread_mutex_lock(&h->lock);
        for (size_t j = 0; j < i; j++)
                reg_unref_locked(v[j]);
        pthread_mutex_unlock(&h->lock);
        free(v);
}

static void item_free(struct engine_item *base) {
        struct limits_item *it = (struct limits_item *)base;

        if (it->target) {
                pthread_mutex_lock(&it->hub->lock);
                reg_unref_locked(it->target);
                pthread_mutex_unlock(&it->hub->lock);
        }
        dhp_limits_free(it->snap);
        free(it);
}

/* Hub lock held.  target NULL: broadcast. */
static int queue_locked(struct limits_hub *h, struct dhp_limits_reg *target) {
        struct limits_item *it = calloc(1, sizeof(*it));

        if (!it || !(it->snap = snapshot_new(&h->cur->l))) {
                free(it);
                return -ENOMEM;
        }
        it->base.run = item_run;
        it->base.free = item_free;
        it->hub = h;
        it->max_id = h->reg_seq;
        if (target) {
                it->target = target;
                target->refs++;
                /* The first snapshot a registration sees says everything. */
                it->snap->l.changed = CGPART_CHANGED_ALL | (h->cur->l.changed & CGPART_CHANGED_REMOVED);
        }
        engine_queue(h->engine, &it->base);
        return 0;
}

int limits_hub_publish(struct limits_hub *h, const struct cgpart_limits *l, bool broadcast) {
        dhp_limits *s = snapshot_new(l);
        int r = 0;

        if (!s)
                return -ENOMEM;
        pthread_mutex_lock(&h->lock);
        dhp_limits_free(h->cur);
        h->cur = s;
        if (broadcast)
                r = queue_locked(h, NULL);
        pthread_mutex_unlock(&h->lock);
        return r;
}

int limits_hub_register(struct limits_hub *h, const char *name, uint32_t flags, dhp_limits_cb cb, void *userdata,
                        dhp_limits_reg **ret) {
        struct dhp_limits_reg *r;
        int q;

        if (!cb || !ret || flags || (name && strlen(name) >= 64))
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (struct dhp_limits_reg){ .hub = h, .cb = cb, .userdata = userdata, .refs = 1 };
        pthread_mutex_lock(&h->lock);
        r->id = ++h->reg_seq;
        /* The current limits first, then every change queued after this:
         * both under the lock, so none is missed or told twice. */
        q = h->cur ? queue_locked(h, r) : -ENODATA;
        if (q == 0)
                list_append(&h->regs, &r->node);
        pthread_mutex_unlock(&h->lock);
        if (q < 0) {
                free(r);
                return q;
        }
        *ret = r;
        return 0;
}

DHP_EXPORT void dhp_limits_unregister(dhp_limits_reg *r) {
        struct limits_hub *h;

        if (!r)
                return;
        h = r->hub;
        pthread_mutex_lock(&h->lock);
        r->dead = true;
        list_remove(&r->node);
        /* A call running on another thread finishes first; from inside
         * the callback itself there is nothing to wait for. */
        while (r->running && !pthread_equal(r->runner, pthread_self()))
                pthread_cond_wait(&h->idle, &h->lock);
        reg_unref_locked(r);
        pthread_mutex_unlock(&h->lock);
}

int limits_hub_get(struct limits_hub *h, dhp_limits **ret) {
        dhp_limits *s = NULL;

        pthread_mutex_lock(&h->lock);
        if (h->cur)
                s = snapshot_new(&h->cur->l);
        pthread_mutex_unlock(&h->lock);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* ---- getters ------------------------------------------------------------ */

DHP_EXPORT uint64_t dhp_limits_get_seq(const dhp_limits *l) {
        return l ? l->l.seq : 0;
}

DHP_EXPORT uint32_t dhp_limits_get_changed(const dhp_limits *l) {
        return l ? l->l.changed : 0;
}

DHP_EXPORT const char *dhp_limits_get_cpus(const dhp_limits *l) {
        return l ? l->cpus : NULL;
}

DHP_EXPORT uint32_t dhp_limits_get_cpu_count(const dhp_limits *l) {
        return l ? l->l.ncpus : 0;
}

DHP_EXPORT bool dhp_limits_has_cpu(const dhp_limits *l, uint32_t cpu) {
        return l && cpuset_test(&l->l.cpus, cpu);
}

DHP_EXPORT void dhp_limits_get_cpu_max(const dhp_limits *l, uint64_t *ret_quota, uint64_t *ret_period) {
        if (ret_quota)
                *ret_quota = l ? l->l.quota_us : DHP_LIMITS_UNLIMITED;
        if (ret_period)
                *ret_period = l ? l->l.period_us : 0;
}

DHP_EXPORT double dhp_limits_get_bandwidth(const dhp_limits *l) {
        return l ? cgpart_limits_bandwidth(&l->l) : -1.0;
}

DHP_EXPORT uint32_t dhp_limits_get_pool_size(const dhp_limits *l) {
        return l ? l->l.pool_size : 1;
}

DHP_EXPORT uint64_t dhp_limits_get_memory_max(const dhp_limits *l) {
        return l ? l->l.memory_max : DHP_LIMITS_UNLIMITED;
}

DHP_EXPORT uint64_t dhp_limits_get_memory_high(const dhp_limits *l) {
        return l ? l->l.memory_high : DHP_LIMITS_UNLIMITED;
}

DHP_EXPORT uint64_t dhp_limits_get_memory_current(const dhp_limits *l) {
        return l ? l->l.memory_current : 0;
}

DHP_EXPORT bool dhp_limits_is_populated(const dhp_limits *l) {
        return l && l->l.populated;
}
