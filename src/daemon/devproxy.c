/* SPDX-License-Identifier: MIT */
/*
 * Device proxies: a client's user-space devices live in dhpd's rebalance
 * module; each driver the client attaches is a proxy there whose handler
 * sends the request (DEVICE_REQUEST) and waits for the client's
 * DEVICE_ANSWER until the [sync] deadline.  Requests are answered on the
 * main thread, which never waits for a rebalance; what a sequence may hold
 * (a freed device, a detached driver) is released on the worker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "daemon/server-internal.h"
#include "proto/proto.h"
#include "util/macro.h"
#include "util/time.h"


/*
 * A client driver's handler, on dhpd's notification thread: send the
 * request, wait for the answer until the [sync] deadline.  A client that
 * misses it or is gone: QUERY_STOP counts as refused (the device keeps its
 * resources: nobody drained its I/O), STOP and START as done (they cannot
 * be refused; the miss is logged and counted in `late`).
 */
static int proxy_driver_cb(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *ctx) {
        struct cl_driver *d = userdata;
        struct peer *c = d->c;
        struct server *s = c->s;
        uint64_t budget = s->cfg.deadline_ns ? s->cfg.deadline_ns : 2 * NSEC_PER_SEC;
        uint64_t deadline = time_now_ns() + budget;
        struct timespec ts = { .tv_sec = (time_t)(deadline / NSEC_PER_SEC), .tv_nsec = (long)(deadline % NSEC_PER_SEC) };
        struct ipc_msg *m;
        uint64_t seq;
        int r, status;

        m = calloc(1, sizeof(*m));
        if (!m)
                return req == DHP_REBALANCE_QUERY_STOP ? -ENOMEM : 0;
        pthread_mutex_lock(&c->lock);
        if (c->gone || d->dead) {
                r = c->gone ? -ECONNRESET : 0;
                pthread_mutex_unlock(&c->lock);
                free(m);
                return req == DHP_REBALANCE_QUERY_STOP ? r : 0;
        }
        seq = ++c->rb_seq;
        c->rb_answered = false;
        /* A client that missed a deadline and has said nothing since is
         * asked without waiting: its hung drivers hold a rebalance, and
         * the arrivals queued behind it, one deadline in all, not one per
         * device. */
        if (c->rb_unresponsive)
                ts = (struct timespec){ 0 };
        pthread_mutex_unlock(&c->lock);

        m->type = IPC_DEVICE_REQUEST;
        m->device_request.seq = seq;
        m->device_request.dev = d->dev_id;
        m->device_request.drv = d->id;
        m->device_request.req = req;
        m->device_request.processor = dhp_rebalance_ctx_get_processor(ctx);
        m->device_request.vectors = dhp_rebalance_ctx_get_vectors(ctx);
        snprintf(m->device_request.old_affinity, sizeof(m->device_request.old_affinity), "%s",
                 dhp_rebalance_ctx_get_old_affinity(ctx) ? dhp_rebalance_ctx_get_old_affinity(ctx) : "");
        snprintf(m->device_request.new_affinity, sizeof(m->device_request.new_affinity), "%s",
                 dhp_rebalance_ctx_get_new_affinity(ctx) ? dhp_rebalance_ctx_get_new_affinity(ctx) : "");
        r = peer_send(c, m, false);
        free(m);

        pthread_mutex_lock(&c->lock);
        if (r == 0)
                while (!c->gone && !d->dead && !(c->rb_answered && c->rb_seq == seq))
                        if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
                                break;
        if (c->rb_answered && c->rb_seq == seq) {
                status = c->rb_answer;
                r = 0;
        } else if (c->gone || r < 0) {
                status = req == DHP_REBALANCE_QUERY_STOP ? -ECONNRESET : 0;
                r = -ECONNRESET;
        } else if (d->dead) {
                status = 0;
                r = 0;
        } else {
                c->late++;
                status = req == DHP_REBALANCE_QUERY_STOP ? -ETIMEDOUT : 0;
                r = c->rb_unresponsive ? -EAGAIN : -ETIMEDOUT;
                c->rb_unresponsive = true;
        }
        pthread_mutex_unlock(&c->lock);
        if (r == -EAGAIN)
                log_debug(&s->log, "client %s (pid %d) still unresponsive: %s of device %s not waited for", c->name,
                          (int)c->pid, proto_request_name(req), dhp_device_get_name(d->dev));
        if (r == -ETIMEDOUT)
                log_warning(&s->log, "client %s (pid %d) missed the %llu ms deadline in %s of device %s: %s", c->name,
                            (int)c->pid, (unsigned long long)(budget / NSEC_PER_MSEC), proto_request_name(req),
                            dhp_device_get_name(d->dev), req == DHP_REBALANCE_QUERY_STOP ? "counted as refused" : "counted as done");
        return status;
}

static struct cl_device *device_find(struct server *s, struct peer *c, uint32_t id) {
        for (unsigned i = 0; i < s->cfg.max_regs; i++)
                if (c->devs[i].dev && c->devs[i].id == id)
                        return &c->devs[i];
        return NULL;
}

static struct cl_driver *driver_find(struct peer *c, uint32_t id) {
        for (struct cl_driver *d = c->drivers; d; d = d->next)
                if (d->id == id)
                        return d;
        return NULL;
}

/* DEVICE_INFO: dhpd's view of the device, which the client mirrors. */
static void device_info_send(struct peer *c, uint64_t msgid, const struct cl_device *cd) {
        struct ipc_msg *m = calloc(1, sizeof(*m));
        char *aff = NULL;

        if (!m)
                return;
        m->type = IPC_DEVICE_INFO;
        m->id = msgid;
        m->device_info.dev = cd->id;
        dhp_device_get_stopped_ns(cd->dev, &m->device_info.stopped_last, &m->device_info.stopped_max);
        if (dhp_device_get_affinity(cd->dev, &aff) == 0)
                snprintf(m->device_info.affinity, sizeof(m->device_info.affinity), "%s", aff);
        free(aff);
        peer_send(c, m, false);
        free(m);
}

/* Take the drivers of `dev` (all when NULL) off the client's list into the
 * job, marked dead: their handlers ask no more.  Main thread. */
static void drivers_take(struct peer *c, dhp_device *dev, struct job *j) {
        pthread_mutex_lock(&c->lock);
        for (struct cl_driver **p = &c->drivers; *p;) {
                struct cl_driver *d = *p;
                if (dev && d->dev != dev) {
                        p = &d->next;
                        continue;
                }
                *p = d->next;
                d->dead = true;
                d->next = j->drivers;
                j->drivers = d;
        }
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

/* A dropped client: every device out of the lists now (the names are
 * free again), freed by the worker. */
void devproxy_unlist_all(struct peer *c, struct job *j) {
        for (unsigned i = 0; i < c->s->cfg.max_regs; i++)
                if (c->devs[i].dev)
                        rebalance_device_unlist(c->devs[i].dev);
        drivers_take(c, NULL, j);
}

/* On the worker: wait for the sequence in flight, free. */
void devproxy_release(struct job *j) {
        struct peer *c = j->c;

        if (j->kind == JOB_DRIVER_FREE && j->drivers)
                rebalance_driver_free_unlisted(j->drivers->drv);
        if (j->kind == JOB_DEVICE_FREE)
                dhp_device_free(j->dev);
        if (j->kind == JOB_DROP)
                for (unsigned i = 0; i < c->s->cfg.max_regs; i++)
                        if (c->devs[i].dev)
                                dhp_device_free(TAKE_PTR(c->devs[i].dev));
        while (j->drivers) {
                struct cl_driver *d = j->drivers;
                j->drivers = d->next;
                peer_unref(d->c);
                free(d);
        }
}

bool devproxy_handle_device_new(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct cl_device *cd = NULL;
        int r;

        if (device_find(s, c, m->device_new.dev)) {
                peer_reply(c, m->id, -EEXIST, 0, 0, "device id in use");
                return true;
        }
        for (unsigned i = 0; i < s->cfg.max_regs && !cd; i++)
                if (!c->devs[i].dev)
                        cd = &c->devs[i];
        if (!cd) {
                peer_reply(c, m->id, -ENOSPC, 0, 0, "too many devices for one client");
                return true;
        }
        r = rebalance_device_new(s->rb, m->device_new.name, m->device_new.setup_class, &cd->dev);
        if (r < 0) {
                cd->dev = NULL;
                peer_reply(c, m->id, r, 0, 0, r == -EEXIST ? "a device of that name exists in dhpd" : NULL);
                return true;
        }
        cd->id = m->device_new.dev;
        log_info(&s->log, "client %s registered device %s (%s)", c->name, m->device_new.name,
                 m->device_new.setup_class);
        device_info_send(c, m->id, cd);
        peer_reply(c, m->id, 0, 0, 0, NULL);
        return true;
}

bool devproxy_handle_device_set(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct cl_device *cd;
        int r;

        if (!(cd = device_find(s, c, m->device_set.dev))) {
                peer_reply(c, m->id, -ENOENT, 0, 0, NULL);
                return true;
        }
        switch (m->device_set.what) {
        case IPC_DEVICE_SET_POLICY:
                r = dhp_device_set_policy(cd->dev, (dhp_rebalance_policy)m->device_set.value);
                break;
        case IPC_DEVICE_SET_AFFINITY_POLICY:
                r = dhp_device_set_affinity_policy(cd->dev, (dhp_affinity_policy)m->device_set.value);
                break;
        case IPC_DEVICE_SET_AFFINITY:
                r = dhp_device_set_affinity(cd->dev, m->device_set.cpulist);
                if (r == 0)
                        device_info_send(c, m->id, cd);
                break;
        default:
                r = -EINVAL;
        }
        peer_reply(c, m->id, r, 0, 0, NULL);
        return true;
}

bool devproxy_handle_device_query(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct cl_device *cd;
        int r;

        if (!(cd = device_find(s, c, m->unreg.reg))) {
                peer_reply(c, m->id, -ENOENT, 0, 0, NULL);
                return true;
        }
        r = dhp_device_participates(cd->dev);
        device_info_send(c, m->id, cd);
        peer_reply(c, m->id, 0, r > 0, 0, NULL);
        return true;
}

/* Unlisted now (the name is free again), freed on the worker: a sequence
 * in flight may hold it. */
bool devproxy_handle_device_free(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct cl_device *cd;
        struct job *j;

        if (!(cd = device_find(s, c, m->unreg.reg))) {
                peer_reply(c, m->id, -ENOENT, 0, 0, NULL);
                return true;
        }
        if (job_reserve(s, c) < 0) {
                job_refuse(s, c, m->id);
                return true;
        }
        if (!(j = job_new(c, JOB_DEVICE_FREE, 0))) {
                job_unreserve(s, c);
                peer_reply(c, m->id, -ENOMEM, 0, 0, NULL);
                return true;
        }
        rebalance_device_unlist(cd->dev);
        drivers_take(c, cd->dev, j);
        j->dev = TAKE_PTR(cd->dev);
        job_queue(s, j);
        peer_reply(c, m->id, 0, 0, 0, NULL);
        return true;
}

bool devproxy_handle_driver_attach(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct cl_device *cd;
        struct cl_driver *d;
        int r;

        if (!(cd = device_find(s, c, m->driver_attach.dev))) {
                peer_reply(c, m->id, -ENOENT, 0, 0, NULL);
                return true;
        }
        if (driver_find(c, m->driver_attach.drv)) {
                peer_reply(c, m->id, -EEXIST, 0, 0, "driver id in use");
                return true;
        }
        if (!(d = calloc(1, sizeof(*d)))) {
                peer_reply(c, m->id, -ENOMEM, 0, 0, NULL);
                return true;
        }
        *d = (struct cl_driver){ .c = c, .id = m->driver_attach.drv, .dev_id = cd->id, .dev = cd->dev };
        r = dhp_driver_attach_at(cd->dev, m->driver_attach.level, m->driver_attach.name, proxy_driver_cb, d, &d->drv);
        if (r < 0) {
                free(d);
                peer_reply(c, m->id, r, 0, 0, r == -ENOSPC ? "64 drivers already" : NULL);
                return true;
        }
        peer_ref(c);
        pthread_mutex_lock(&c->lock);
        d->next = c->drivers;
        c->drivers = d;
        pthread_mutex_unlock(&c->lock);
        peer_reply(c, m->id, 0, 0, 0, NULL);
        return true;
}

bool devproxy_handle_driver_detach(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct cl_driver *d = driver_find(c, m->unreg.reg);
        struct job *j;

        if (!d) {
                peer_reply(c, m->id, -ENOENT, 0, 0, NULL);
                return true;
        }
        if (job_reserve(s, c) < 0) {
                job_refuse(s, c, m->id);
                return true;
        }
        if (!(j = job_new(c, JOB_DRIVER_FREE, 0))) {
                job_unreserve(s, c);
                peer_reply(c, m->id, -ENOMEM, 0, 0, NULL);
                return true;
        }
        rebalance_driver_unlist(d->drv);
        pthread_mutex_lock(&c->lock);
        for (struct cl_driver **p = &c->drivers; *p; p = &(*p)->next)
                if (*p == d) {
                        *p = d->next;
                        break;
                }
        d->dead = true;
        d->next = NULL;
        j->drivers = d;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        job_queue(s, j);
        peer_reply(c, m->id, 0, 0, 0, NULL);
        return true;
}

/* The opt-outs every device of a setup class shares: anyone may read one,
 * setting is privileged (the request table's REQUEST_PRIVILEGED_TO_SET). */
bool devproxy_handle_class_optout(struct server *s, struct peer *c, const struct ipc_msg *m) {
        bool v = false;
        int r;

        if (m->class_optout.op == IPC_CLASS_OPTOUT_GET) {
                r = rebalance_class_get_optout(s->rb, m->class_optout.setup_class, &v);
                peer_reply(c, m->id, r, v, 0, NULL);
                return true;
        }
        r = m->class_optout.op == IPC_CLASS_OPTOUT_SET
                    ? rebalance_class_set_optout(s->rb, m->class_optout.setup_class, m->class_optout.optout != 0)
                    : -EINVAL;
        peer_reply(c, m->id, r, 0, 0, NULL);
        return true;
}

/* A driver's answer to the request in flight; a stale one is ignored. */
bool devproxy_handle_answer(struct server *s, struct peer *c, const struct ipc_msg *m) {
        pthread_mutex_lock(&c->lock);
        c->rb_unresponsive = false; /* alive: wait for it again */
        if (m->device_answer.seq == c->rb_seq && !c->rb_answered) {
                c->rb_answered = true;
                c->rb_answer = m->device_answer.status;
                pthread_cond_broadcast(&c->cond);
        }
        pthread_mutex_unlock(&c->lock);
        return true;
}
