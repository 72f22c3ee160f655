/* SPDX-License-Identifier: MIT */
/*
 * Resource rebalance, the device API (doc/model.md section 4): devices, their
 * driver stacks, their policies and the class opt-outs.  The sequence that
 * stops and restarts them is rebalance-seq.c's.  A module whose devices are
 * owned by a peer (peer.h) makes every change there first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/rebalance-internal.h"
#include "util/strbuf.h"

/* ---- devices ------------------------------------------------------------ */

bool rebalance_name_ok(const char *s) {
        return s && *s && strlen(s) < REBALANCE_NAME_MAX;
}

int rebalance_admitted_cpus(struct engine *e, struct cpuset *out) {
        int r = 0;

        cpuset_zero(out);
        pthread_mutex_lock(&e->lock);
        for (uint32_t i = 0; i < e->ncpus && r == 0; i++)
                if (e->cpus[i].state == DHP_PROC_ADMITTED)
                        r = cpuset_set(out, i);
        pthread_mutex_unlock(&e->lock);
        return r;
}

void rebalance_device_unref_locked(dhp_device *dev) {
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

        if (!rb || !ret || !rebalance_name_ok(name) || !rebalance_name_ok(setup_class))
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
        /* A peer's device learns its affinity from the peer (before the op
         * returns). */
        r = rb->peer ? 0 : rebalance_admitted_cpus(rb->engine, &dev->affinity);
        if (r == 0 && rb->peer) {
                pthread_mutex_lock(&rb->lock);
                r = find_locked(rb, name) ? -EEXIST : 0;
                pthread_mutex_unlock(&rb->lock);
                if (r == 0)
                        r = rb->peer->device_new(rb->peer_ud, dev);
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

bool rebalance_wait_not_busy_locked(dhp_device *dev) {
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
        if (rb->peer)
                rb->peer->device_free(rb->peer_ud, dev);
        pthread_mutex_lock(&rb->lock);
        if (!dev->dead) {
                dev->dead = true;
                list_remove(&dev->node);
        }
        /* From its own handler: the sequence holds a reference and frees
         * the device when it ends. */
        rebalance_wait_not_busy_locked(dev);
        rebalance_device_unref_locked(dev);
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
        if (dev->rb->peer) {
                int r = dev->rb->peer->device_set(dev->rb->peer_ud, dev, PEER_DEVICE_SET_POLICY,
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

/* The property, when set, wins; else the class opt-out decides. */
const char *rebalance_exclusion_locked(dhp_device *dev) {
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
        if (dev->rb->peer)
                return dev->rb->peer->device_participates(dev->rb->peer_ud, dev);
        pthread_mutex_lock(&dev->rb->lock);
        r = rebalance_exclusion_locked(dev) ? 0 : 1;
        pthread_mutex_unlock(&dev->rb->lock);
        return r;
}

DHP_EXPORT int dhp_device_set_affinity_policy(dhp_device *dev, dhp_affinity_policy policy) {
        if (!dev || (unsigned)policy > DHP_AFFINITY_KEEP)
                return -EINVAL;
        if (dev->rb->peer) {
                int r = dev->rb->peer->device_set(dev->rb->peer_ud, dev, PEER_DEVICE_SET_AFFINITY_POLICY,
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
        if (r == 0 && dev->rb->peer) {
                /* The peer decides (-EBUSY while it rebalances the
                 * device) and sends the affinity back
                 * (rebalance_device_sync): this device has it already. */
                r = dev->rb->peer->device_set(dev->rb->peer_ud, dev, PEER_DEVICE_SET_AFFINITY, 0, cpulist);
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
        /* The peer measures them: ask it (the answer refreshes this
         * device).  Where it cannot be asked (connection lost, its
         * connection thread), the last values it sent. */
        if (dev->rb->peer)
                (void)dev->rb->peer->device_participates(dev->rb->peer_ud, dev);
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

        if (!rb || !rebalance_name_ok(cls))
                return -EINVAL;
        if (rb->peer) {
                r = rb->peer->class_set_optout(rb->peer_ud, cls, optout);
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
        if (!rb || !rebalance_name_ok(cls) || !ret)
                return -EINVAL;
        if (rb->peer)
                return rb->peer->class_get_optout(rb->peer_ud, cls, ret);
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

        if (!dev || !cb || !ret || !rebalance_name_ok(name))
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
        if (dev->rb->peer) {
                int r;
                pthread_mutex_unlock(&dev->rb->lock);
                r = dev->rb->peer->driver_attach(dev->rb->peer_ud, drv, level, drv->name);
                pthread_mutex_lock(&dev->rb->lock);
                if (r < 0) {
                        /* A request may have reached it meanwhile. */
                        rebalance_wait_not_busy_locked(dev);
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
        if (!rebalance_wait_not_busy_locked(dev)) {
                pthread_mutex_unlock(&dev->rb->lock);
                return -EBUSY;
        }
        if (dev->rb->peer) {
                /* dhpd forgets it first; a request already on its way
                 * may still run it, so wait for that again. */
                pthread_mutex_unlock(&dev->rb->lock);
                dev->rb->peer->driver_detach(dev->rb->peer_ud, drv);
                pthread_mutex_lock(&dev->rb->lock);
                rebalance_wait_not_busy_locked(dev);
        }
        list_remove(&drv->node);
        dev->ndrivers--;
        pthread_mutex_unlock(&dev->rb->lock);
        free(drv);
        return 0;
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
                r = engine_hook_add(e, rebalance_on_admitted, rb);
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
                rebalance_device_unref_locked(dev);
        }
        free(rb->classes);
        pthread_mutex_destroy(&rb->lock);
        pthread_cond_destroy(&rb->cond);
        free(rb);
}
/* ---- devices owned by a peer (peer.h) -------------------------------------- */

void rebalance_set_peer(struct rebalance *rb, const struct peer_device_ops *ops, void *ud) {
        rb->peer = ops;
        rb->peer_ud = ud;
}

void rebalance_device_sync(dhp_device *dev, struct cpuset *affinity, uint64_t stopped_last, uint64_t stopped_max) {
        pthread_mutex_lock(&dev->rb->lock);
        if (affinity) {
                struct cpuset old = dev->affinity;
                dev->affinity = *affinity;
                *affinity = old;
        }
        dev->stopped_last = stopped_last;
        dev->stopped_max = stopped_max;
        pthread_mutex_unlock(&dev->rb->lock);
}

dhp_device *rebalance_driver_device(dhp_driver *drv) {
        return drv->dev;
}

bool rebalance_driver_begin(dhp_driver *drv) {
        dhp_device *dev = drv->dev;
        bool ok;

        pthread_mutex_lock(&dev->rb->lock);
        ok = !dev->dead;
        if (ok) {
                /* One request at a time per context (its notification
                 * thread): waiting here only waits for a detach. */
                rebalance_wait_not_busy_locked(dev);
                dev->busy = true;
                dev->busy_thread = pthread_self();
                dev->refs++;
        }
        pthread_mutex_unlock(&dev->rb->lock);
        return ok;
}

int rebalance_driver_run(dhp_driver *drv, dhp_rebalance_request req, uint32_t processor, uint32_t vectors,
                         const char *old_affinity, const char *new_affinity, struct cpuset *affinity) {
        dhp_device *dev = drv->dev;
        struct rebalance *rb = dev->rb;
        dhp_rebalance_ctx c = { .req = req, .dev = dev, .processor = processor, .old_affinity = old_affinity,
                                .new_affinity = new_affinity, .vectors = vectors };
        int st;

        if (req == DHP_REBALANCE_START && affinity) {
                pthread_mutex_lock(&rb->lock);
                struct cpuset old = dev->affinity;
                dev->affinity = *affinity;
                *affinity = old;
                pthread_mutex_unlock(&rb->lock);
        }
        st = drv->cb(drv->userdata, req, &c);
        pthread_mutex_lock(&rb->lock);
        dev->busy = false;
        pthread_cond_broadcast(&rb->cond);
        rebalance_device_unref_locked(dev);
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
        rebalance_wait_not_busy_locked(dev);
        pthread_mutex_unlock(&dev->rb->lock);
        free(drv);
}
