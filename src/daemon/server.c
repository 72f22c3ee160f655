/* SPDX-License-Identifier: MIT */
/*
 * dhpd's client socket.  Threads that touch a client:
 *   main         reads every client (server_process), answers requests,
 *                delivers arrivals (engine_dispatch) and flushes queues;
 *                it never blocks on a client or on a transaction.
 *   worker       runs requests serialised with transactions: synchronous
 *                (de)registration, sim control (the sim's transactions run
 *                here), and the release of a dropped client's proxy.
 *   transaction  (the worker, or the Linux hotplug thread) sends each phase
 *                and waits for the answers the main thread collects.
 * A client is refcounted: the main thread's list, the proxy registration
 * and each queued job hold a reference.  Its lock guards the send queue,
 * the answer of the phase in flight and `gone`.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/memcond.h"
#include "core/rebalance.h"
#include "daemon/history.h"
#include "daemon/server.h"
#include "platform/sim/simrun.h"
#include "platform/sim/sim.h"
#include "util/ipcmsg.h"
#include "util/list.h"
#include "util/macro.h"
#include "util/time.h"

struct outmsg {
        struct outmsg *next;
        size_t len;
        uint8_t data[];
};

struct cl_arrival {
        uint32_t id;
        bool used;
        dhp_arrival_reg *reg;
        struct client *c;
};

/* A memory condition subscription: a listener on dhpd's engine. */
struct cl_memcond {
        struct memcond_listener l; /* first: the listener leads here */
        struct client *c;
        uint32_t id;
        bool used;
        bool initial; /* the next call is the state at subscription */
};

/* A client's device, created in dhpd's rebalance module. */
struct cl_device {
        uint32_t id;
        dhp_device *dev; /* NULL: a free slot */
};

/* A client's driver: a proxy in the device's stack whose handler asks the
 * client.  Holds a reference on the client. */
struct cl_driver {
        struct cl_driver *next;
        struct client *c;
        uint32_t id, dev_id;
        dhp_device *dev;
        dhp_driver *drv;
        bool dead; /* detached or its device freed: the handler asks no more */
};

struct client {
        struct list node; /* server.clients; main thread */
        struct server *s;
        int fd;
        atomic_uint refs;
        uint64_t id;
        pid_t pid;
        uid_t uid;
        gid_t gid;
        bool privileged;
        bool hello_done;
        uint16_t minor; /* the client's protocol minor version, from HELLO */
        char name[IPC_NAME_MAX];

        pthread_mutex_t lock;
        pthread_cond_t cond; /* an answer came, or the client went */
        struct outmsg *out_head, **out_tail;
        unsigned out_n;   /* queued messages */
        bool want_out;    /* EPOLLOUT armed */
        uint64_t lost;    /* notifications dropped since the last LOST */
        bool gone;
        uint64_t await_txn;
        bool answered;
        int answer;
        uint64_t answered_at;
        unsigned late;

        /* worker */
        dhp_proc_reg *proxy;
        uint32_t *sync_ids;
        unsigned nsync; /* also read by main under lock */

        /* main */
        struct cl_arrival *arr;
        unsigned narr;
        dhp_monitor *mon;

        /* memory conditions and devices (main; drivers also under lock) */
        struct cl_memcond *mcs;   /* max_regs */
        struct cl_device *devs;   /* max_regs */
        struct cl_driver *drivers;
        /* the rebalance request in flight (one at a time: dhpd's
         * notification thread runs one sequence), under lock */
        uint64_t rb_seq;
        bool rb_answered;
        int rb_answer;
};

enum job_kind {
        JOB_PROC_REGISTER,
        JOB_PROC_DEREGISTER,
        JOB_DROP,
        JOB_SIM_CPU,
        JOB_SIM_MEM,
        JOB_SIM_RUN,
        JOB_DEVICE_FREE, /* dev, drivers: unlisted on main, freed here */
        JOB_DRIVER_FREE, /* drivers (one): unlisted on main, freed here */
};

struct job {
        struct job *next;
        enum job_kind kind;
        struct client *c;
        uint64_t msgid;
        uint32_t reg, flags;
        uint64_t size;
        char filename[IPC_DETAIL_MAX];
        char *text;
        dhp_device *dev;
        struct cl_driver *drivers;
};

struct server {
        struct engine *e;
        struct sim *sim;
        struct rebalance *rb; /* user-space devices of clients; NULL: none */
        struct logger log;
        struct server_config cfg;
        char path[108];
        gid_t group;
        bool have_group;
        int lfd, epfd;
        struct list clients;
        unsigned nclients;
        uint64_t next_id;

        struct history *history;
        dhp_monitor *history_mon;

        pthread_t worker;
        bool worker_running;
        pthread_mutex_t jlock;
        pthread_cond_t jcond;
        struct job *jhead, **jtail;
        bool jstop;
};

/* Records kept for HISTORY: a few transactions' worth. */
#define HISTORY_RECORDS 512

static const int listen_marker;

/* ---- client references and sending -------------------------------------- */

static void client_ref(struct client *c) {
        atomic_fetch_add(&c->refs, 1);
}

static void client_unref(struct client *c) {
        if (atomic_fetch_sub(&c->refs, 1) != 1)
                return;
        while (c->out_head) {
                struct outmsg *m = c->out_head;
                c->out_head = m->next;
                free(m);
        }
        if (c->fd >= 0)
                close(c->fd);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c->sync_ids);
        free(c->arr);
        free(c->mcs);
        free(c->devs);
        free(c);
}

static void arm_out_locked(struct client *c, bool on) {
        struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };

        if (c->want_out == on || c->gone)
                return;
        c->want_out = on;
        epoll_ctl(c->s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static struct outmsg *queue_msg_locked(struct client *c, const void *data, size_t len) {
        struct outmsg *m = malloc(sizeof(*m) + len);

        if (!m)
                return NULL;
        m->next = NULL;
        m->len = len;
        memcpy(m->data, data, len);
        *c->out_tail = m;
        c->out_tail = &m->next;
        c->out_n++;
        return m;
}

static int queue_locked(struct client *c, const void *data, size_t len) {
        return queue_msg_locked(c, data, len) ? 0 : -ENOMEM;
}

/* Queue the count of dropped notifications; lock held. */
static void queue_lost_locked(struct client *c) {
        uint8_t lb[64];
        struct ipc_msg lost = { .type = IPC_LOST, .lost = { c->lost } };
        int ll = ipcmsg_encode(&lost, lb, sizeof(lb));

        if (ll > 0 && queue_locked(c, lb, (size_t)ll) == 0)
                c->lost = 0;
}

/* Send what is queued; lock held.  Never blocks.  Once the queue has room
 * again, a pending LOST goes out: the reader learns of the gap even when
 * the stream has gone quiet. */
static void flush_locked(struct client *c) {
        for (;;) {
                while (c->out_head && !c->gone) {
                        struct outmsg *m = c->out_head;
                        ssize_t n = send(c->fd, m->data, m->len, MSG_DONTWAIT | MSG_NOSIGNAL);
                        if (n < 0) {
                                if (errno == EAGAIN || errno == EINTR)
                                        break;
                                c->gone = true; /* the main thread drops it on EPOLLHUP/ERR */
                                pthread_cond_broadcast(&c->cond);
                                return;
                        }
                        c->out_head = m->next;
                        if (!c->out_head)
                                c->out_tail = &c->out_head;
                        c->out_n--;
                        free(m);
                }
                if (!c->lost || c->gone || c->out_n >= c->s->cfg.max_queue)
                        break;
                queue_lost_locked(c);
                if (c->lost)
                        break; /* out of memory: try again on the next flush */
        }
        arm_out_locked(c, c->out_head != NULL);
}

/*
 * Send one message to a client from any thread.  A droppable message (a
 * notification) is dropped and counted when max_queue are waiting; the
 * count goes out as LOST ahead of the next one that fits.  Replies and
 * phases are never dropped (a client that lets them pile up past four
 * times the cap is cut off).
 */
static int client_send(struct client *c, const struct ipc_msg *m, bool droppable) {
        /* Not a thread-local buffer: static TLS is zeroed into every thread
         * at its creation, 64 KiB of resident memory each.  A heap buffer's
         * pages are touched only as far as the message goes. */
        _cleanup_free_ uint8_t *buf = malloc(IPC_MSG_MAX);
        int len, r = 0;

        if (!buf)
                return -ENOMEM;
        len = ipcmsg_encode(m, buf, IPC_MSG_MAX);
        if (len < 0)
                return len;
        pthread_mutex_lock(&c->lock);
        if (c->gone) {
                r = -ECONNRESET;
                goto out;
        }
        if (droppable && c->out_n >= c->s->cfg.max_queue) {
                c->lost++;
                arm_out_locked(c, true);
                goto out;
        }
        if (!droppable && c->out_n >= 4 * c->s->cfg.max_queue) {
                c->gone = true;
                pthread_cond_broadcast(&c->cond);
                shutdown(c->fd, SHUT_RDWR); /* the main thread sees the hangup */
                r = -ENOBUFS;
                goto out;
        }
        if (c->lost && droppable)
                queue_lost_locked(c);
        if (!c->out_head) {
                ssize_t n = send(c->fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n == len)
                        goto out;
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        c->gone = true;
                        pthread_cond_broadcast(&c->cond);
                        r = -errno;
                        goto out;
                }
        }
        r = queue_locked(c, buf, (size_t)len);
        flush_locked(c);
out:
        pthread_mutex_unlock(&c->lock);
        return r;
}

static void reply(struct client *c, uint64_t id, int status, uint32_t v32, uint64_t v64, const char *text) {
        struct ipc_msg m = { .type = IPC_REPLY, .id = id, .reply = { .status = status, .v32 = v32, .v64 = v64 } };

        if (!id)
                return;
        if (text)
                snprintf(m.reply.text, sizeof(m.reply.text), "%s", text);
        client_send(c, &m, false);
}

/* ---- the synchronous proxy: one remote registration per client -------- */

static int proxy_send(void *userdata, uint64_t txn, dhp_proc_change_state state, uint32_t index, int status) {
        struct client *c = userdata;
        struct ipc_msg m = { .type = IPC_PROC_CHANGE,
                             .proc_change = { .txn = txn, .state = state, .index = index, .status = status } };

        pthread_mutex_lock(&c->lock);
        if (c->gone) {
                pthread_mutex_unlock(&c->lock);
                return -ECONNRESET;
        }
        c->await_txn = txn;
        c->answered = false;
        pthread_mutex_unlock(&c->lock);
        return client_send(c, &m, false);
}

static int proxy_wait(void *userdata, uint64_t txn, uint64_t deadline_ns, int *ret_status, uint64_t *ret_at) {
        struct client *c = userdata;
        struct timespec ts = { .tv_sec = (time_t)(deadline_ns / NSEC_PER_SEC),
                               .tv_nsec = (long)(deadline_ns % NSEC_PER_SEC) };
        int r;

        pthread_mutex_lock(&c->lock);
        while (!c->gone && !(c->answered && c->await_txn == txn))
                if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
                        break;
        if (c->answered && c->await_txn == txn) {
                *ret_status = c->answer;
                *ret_at = c->answered_at;
                r = 0;
        } else if (c->gone) {
                r = -ECONNRESET;
        } else {
                c->late++;
                r = -ETIMEDOUT;
        }
        pthread_mutex_unlock(&c->lock);
        if (r == -ETIMEDOUT)
                log_warning(&c->s->log, "client %s (pid %d) missed the %llu ms deadline", c->name, (int)c->pid,
                            (unsigned long long)(c->s->cfg.deadline_ns / NSEC_PER_MSEC));
        return r;
}

static const struct procnotify_remote_ops proxy_ops = { proxy_send, proxy_wait };

/* ---- the worker --------------------------------------------------------- */

static void job_queue(struct server *s, struct job *j) {
        client_ref(j->c);
        pthread_mutex_lock(&s->jlock);
        j->next = NULL;
        *s->jtail = j;
        s->jtail = &j->next;
        pthread_cond_signal(&s->jcond);
        pthread_mutex_unlock(&s->jlock);
}

struct register_args {
        struct client *c;
        struct job *j;
};

static int sync_index(struct client *c, uint32_t id) {
        for (unsigned i = 0; i < c->nsync; i++)
                if (c->sync_ids[i] == id)
                        return (int)i;
        return -1;
}

/* Under the transaction lock: no phase is sent meanwhile, so what this
 * client reads next after the REPLY is the next add's ADD_START. */
static int register_locked(struct engine *e, void *userdata) {
        struct register_args *a = userdata;
        struct client *c = a->c;
        struct ipc_msg m;
        uint32_t n;
        int r;

        if (sync_index(c, a->j->reg) >= 0)
                return -EEXIST;
        if (c->nsync + c->narr >= c->s->cfg.max_regs)
                return -ENOSPC;
        if (!c->proxy) {
                r = procnotify_register_remote(e, c->name, &proxy_ops, c, &c->proxy);
                if (r < 0)
                        return r;
                client_ref(c);
        }
        pthread_mutex_lock(&c->lock);
        c->sync_ids[c->nsync++] = a->j->reg;
        pthread_mutex_unlock(&c->lock);
        if (!(a->j->flags & DHP_PROC_ADD_EXISTING))
                return 0;
        /* The processors admitted now, for the client's ADD_EXISTING. */
        n = engine_cpu_count(e);
        for (uint32_t first = 0; first < n; first += IPC_STATUS_PROC_MAX) {
                m = (struct ipc_msg){ .type = IPC_STATUS_PROC, .id = a->j->msgid };
                m.status_proc.first = first;
                m.status_proc.count = n - first < IPC_STATUS_PROC_MAX ? n - first : IPC_STATUS_PROC_MAX;
                for (uint32_t i = 0; i < m.status_proc.count; i++) {
                        dhp_proc_state st = DHP_PROC_ABSENT;
                        engine_cpu_get_state(e, first + i, &st);
                        m.status_proc.state[i] = (uint8_t)st;
                }
                client_send(c, &m, false);
        }
        return 0;
}

static void proxy_release(struct client *c) {
        dhp_proc_reg *p = c->proxy;

        if (!p)
                return;
        c->proxy = NULL;
        procnotify_deregister(p); /* waits for a phase in flight */
        client_unref(c);
}

/* ---- memory condition subscriptions ------------------------------------------ */

/* Under the memcond module's lock, on whatever thread evaluated: send, never
 * block.  The state is never dropped for a slow reader (a lost SET or CLEAR
 * would leave the client's event wrong until the next one). */
static void memcond_changed(struct memcond_listener *l, bool set) {
        struct cl_memcond *mc = (struct cl_memcond *)l;
        struct ipc_msg m = { .type = IPC_MEMCOND_STATE };

        m.memcond_state.sub = mc->id;
        m.memcond_state.flags = (set ? IPC_MEMCOND_SET : 0) | (mc->initial ? IPC_MEMCOND_INITIAL : 0);
        m.memcond_state.available = l->levels.available;
        m.memcond_state.total = l->levels.total;
        mc->initial = false;
        client_send(mc->c, &m, false);
}

static struct cl_memcond *memcond_find(struct server *s, struct client *c, uint32_t id) {
        for (unsigned i = 0; i < s->cfg.max_regs; i++)
                if (c->mcs[i].used && c->mcs[i].id == id)
                        return &c->mcs[i];
        return NULL;
}

/* ---- user-space devices: proxy drivers ------------------------------------------ */

static const char *request_name(dhp_rebalance_request req) {
        switch (req) {
        case DHP_REBALANCE_QUERY_STOP: return "QUERY_STOP";
        case DHP_REBALANCE_CANCEL_STOP: return "CANCEL_STOP";
        case DHP_REBALANCE_STOP: return "STOP";
        case DHP_REBALANCE_START: return "START";
        }
        return "?";
}

/*
 * A client driver's handler, on dhpd's notification thread: send the
 * request, wait for the answer until the [sync] deadline.  A client that
 * misses it or is gone: QUERY_STOP counts as refused (the device keeps its
 * resources: nobody drained its I/O), STOP and START as done (they cannot
 * be refused; the miss is logged and counted in `late`).
 */
static int proxy_driver_cb(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *ctx) {
        struct cl_driver *d = userdata;
        struct client *c = d->c;
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
        r = client_send(c, m, false);
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
                r = -ETIMEDOUT;
        }
        pthread_mutex_unlock(&c->lock);
        if (r == -ETIMEDOUT)
                log_warning(&s->log, "client %s (pid %d) missed the %llu ms deadline in %s of device %s: %s", c->name,
                            (int)c->pid, (unsigned long long)(budget / NSEC_PER_MSEC), request_name(req),
                            dhp_device_get_name(d->dev), req == DHP_REBALANCE_QUERY_STOP ? "counted as refused" : "counted as done");
        return status;
}

static struct cl_device *device_find(struct server *s, struct client *c, uint32_t id) {
        for (unsigned i = 0; i < s->cfg.max_regs; i++)
                if (c->devs[i].dev && c->devs[i].id == id)
                        return &c->devs[i];
        return NULL;
}

static struct cl_driver *driver_find(struct client *c, uint32_t id) {
        for (struct cl_driver *d = c->drivers; d; d = d->next)
                if (d->id == id)
                        return d;
        return NULL;
}

/* DEVICE_INFO: dhpd's view of the device, which the client mirrors. */
static void device_info_send(struct client *c, uint64_t msgid, const struct cl_device *cd) {
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
        client_send(c, m, false);
        free(m);
}

/* Take the drivers of `dev` (all when NULL) off the client's list into the
 * job, marked dead: their handlers ask no more.  Main thread. */
static void drivers_take(struct client *c, dhp_device *dev, struct job *j) {
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
static void devices_unlist_all(struct client *c, struct job *j) {
        for (unsigned i = 0; i < c->s->cfg.max_regs; i++)
                if (c->devs[i].dev)
                        rebalance_device_unlist(c->devs[i].dev);
        drivers_take(c, NULL, j);
}

/* On the worker: wait for the sequence in flight, free. */
static void devices_release(struct job *j) {
        struct client *c = j->c;

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
                client_unref(d->c);
                free(d);
        }
}

static void job_run(struct server *s, struct job *j) {
        struct client *c = j->c;
        char *err = NULL;
        int r;

        switch (j->kind) {
        case JOB_PROC_REGISTER: {
                struct register_args a = { c, j };
                pthread_mutex_lock(&c->lock);
                r = c->gone ? -ECONNRESET : 0;
                pthread_mutex_unlock(&c->lock);
                if (r == 0)
                        r = engine_txn_call(s->e, register_locked, &a);
                reply(c, j->msgid, r, 0, 0, r == -ENOSPC ? "too many registrations for one client" : NULL);
                break;
        }
        case JOB_PROC_DEREGISTER: {
                int i = sync_index(c, j->reg);
                if (i >= 0) {
                        pthread_mutex_lock(&c->lock);
                        c->sync_ids[i] = c->sync_ids[--c->nsync];
                        pthread_mutex_unlock(&c->lock);
                }
                if (c->nsync == 0)
                        proxy_release(c);
                reply(c, j->msgid, i >= 0 ? 0 : -ENOENT, 0, 0, NULL);
                break;
        }
        case JOB_DROP:
                proxy_release(c);
                devices_release(j);
                break;
        case JOB_DEVICE_FREE:
        case JOB_DRIVER_FREE:
                devices_release(j);
                break;
        case JOB_SIM_CPU: {
                uint32_t idx = 0;
                r = sim_cpu_add(s->sim, &idx);
                reply(c, j->msgid, r, idx, 0, r == -ENOSPC ? "every processor slot is in use" : NULL);
                break;
        }
        case JOB_SIM_MEM: {
                uint64_t base = 0;
                r = sim_memory_add(s->sim, j->size, &base);
                reply(c, j->msgid, r, 0, base, NULL);
                break;
        }
        case JOB_SIM_RUN: {
                struct simrun run = { .sim = s->sim, .rebalance = s->cfg.rebalance };
                r = simrun_scenario(&run, j->filename, j->text, &err);
                reply(c, j->msgid, r, 0, 0, err);
                free(err);
                break;
        }
        }
}

static void *worker(void *userdata) {
        struct server *s = userdata;

        for (;;) {
                struct job *j;

                pthread_mutex_lock(&s->jlock);
                while (!s->jhead && !s->jstop)
                        pthread_cond_wait(&s->jcond, &s->jlock);
                j = s->jhead;
                if (j) {
                        s->jhead = j->next;
                        if (!s->jhead)
                                s->jtail = &s->jhead;
                }
                pthread_mutex_unlock(&s->jlock);
                if (!j)
                        break; /* stopping, and nothing left */
                job_run(s, j);
                client_unref(j->c);
                free(j->text);
                free(j);
        }
        return NULL;
}

/* ---- clients: accept, drop ---------------------------------------------- */

/* Root, the configured group as primary group, or as a supplementary group
 * of the peer process (/proc/PID/status, else the user's group list). */
static bool peer_privileged(struct server *s, pid_t pid, uid_t uid, gid_t gid) {
        char path[64], line[4096];
        bool found = false, read_groups = false;
        FILE *f;

        if (uid == 0)
                return true;
        if (!s->have_group)
                return false;
        if (gid == s->group)
                return true;
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (f) {
                while (fgets(line, sizeof(line), f)) {
                        char *p, *end;
                        if (strncmp(line, "Groups:", 7) != 0)
                                continue;
                        read_groups = true;
                        for (p = line + 7;; p = end) {
                                unsigned long g = strtoul(p, &end, 10);
                                if (end == p)
                                        break;
                                if ((gid_t)g == s->group)
                                        found = true;
                        }
                        break;
                }
                fclose(f);
        }
        if (read_groups)
                return found;
#ifndef DHP_NO_NSS
        {
                struct passwd pw, *res = NULL;
                char pb[4096];
                gid_t groups[256];
                int ng = 256;
                if (getpwuid_r(uid, &pw, pb, sizeof(pb), &res) != 0 || !res)
                        return false;
                if (getgrouplist(res->pw_name, gid, groups, &ng) < 0)
                        return false;
                for (int i = 0; i < ng; i++)
                        if (groups[i] == s->group)
                                return true;
        }
#endif
        return false;
}

static void client_drop(struct server *s, struct client *c, const char *why) {
        if (why)
                log_notice(&s->log, "client %s (pid %d, uid %u) dropped: %s", c->name[0] ? c->name : "?", (int)c->pid,
                           (unsigned)c->uid, why);
        else
                log_info(&s->log, "client %s (pid %d) disconnected", c->name[0] ? c->name : "?", (int)c->pid);
        pthread_mutex_lock(&c->lock);
        c->gone = true;
        pthread_cond_broadcast(&c->cond);
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        shutdown(c->fd, SHUT_RDWR);
        pthread_mutex_unlock(&c->lock);
        /* Arrivals run on this thread: unregistering does not wait. */
        for (unsigned i = 0; i < s->cfg.max_regs; i++)
                if (c->arr[i].used) {
                        arrival_unregister(c->arr[i].reg);
                        c->arr[i].used = false;
                }
        c->narr = 0;
        if (c->mon) {
                engine_monitor_remove(c->mon);
                c->mon = NULL;
        }
        for (unsigned i = 0; i < s->cfg.max_regs; i++)
                if (c->mcs[i].used) {
                        memcond_unlisten(s->e, &c->mcs[i].l);
                        c->mcs[i].used = false;
                }
        list_remove(&c->node);
        s->nclients--;
        /* The proxy may be in a phase that waits on the main thread's
         * reading of other clients: release it on the worker.  So are
         * the client's devices, which a sequence may hold (their proxies
         * ask no more: the client is gone). */
        {
                struct job *j = calloc(1, sizeof(*j));
                if (j) {
                        j->kind = JOB_DROP;
                        j->c = c;
                        devices_unlist_all(c, j);
                        job_queue(s, j);
                }
        }
        client_unref(c);
}

/* A protocol violation: say why (best effort), then drop. */
static void violation(struct server *s, struct client *c, int status, const char *why) {
        struct ipc_msg m = { .type = IPC_ERROR, .error = { .status = status } };

        snprintf(m.error.text, sizeof(m.error.text), "protocol violation: %s", why);
        client_send(c, &m, false);
        pthread_mutex_lock(&c->lock);
        flush_locked(c);
        pthread_mutex_unlock(&c->lock);
        client_drop(s, c, m.error.text);
}

static void accept_one(struct server *s) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        struct client *c;
        struct epoll_event ev;
        int fd;

        fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
                return;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || s->nclients >= s->cfg.max_clients) {
                if (s->nclients >= s->cfg.max_clients)
                        log_warning(&s->log, "refusing a client: %u clients connected already", s->nclients);
                close(fd);
                return;
        }
        c = calloc(1, sizeof(*c));
        if (c) {
                c->sync_ids = calloc(s->cfg.max_regs, sizeof(*c->sync_ids));
                c->arr = calloc(s->cfg.max_regs, sizeof(*c->arr));
                c->mcs = calloc(s->cfg.max_regs, sizeof(*c->mcs));
                c->devs = calloc(s->cfg.max_regs, sizeof(*c->devs));
        }
        if (!c || !c->sync_ids || !c->arr || !c->mcs || !c->devs) {
                if (c) {
                        free(c->sync_ids);
                        free(c->arr);
                        free(c->mcs);
                        free(c->devs);
                }
                free(c);
                close(fd);
                return;
        }
        c->s = s;
        c->fd = fd;
        atomic_init(&c->refs, 1);
        c->id = ++s->next_id;
        c->pid = cred.pid;
        c->uid = cred.uid;
        c->gid = cred.gid;
        c->privileged = peer_privileged(s, cred.pid, cred.uid, cred.gid);
        pthread_mutex_init(&c->lock, NULL);
        {
                pthread_condattr_t ca;
                pthread_condattr_init(&ca);
                pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
                pthread_cond_init(&c->cond, &ca);
                pthread_condattr_destroy(&ca);
        }
        c->out_tail = &c->out_head;
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                client_unref(c);
                return;
        }
        list_append(&s->clients, &c->node);
        s->nclients++;
}

/* ---- requests ------------------------------------------------------------ */

static void arrival_send(struct cl_arrival *a, const dhp_device_event *ev, bool droppable) {
        struct ipc_msg m = { .type = IPC_ARRIVAL };
        uint32_t index = 0;
        uint64_t base = 0, size = 0;

        m.arrival.reg = a->id;
        m.arrival.cls = dhp_device_event_get_class(ev);
        m.arrival.event = dhp_device_event_get_event(ev);
        m.arrival.flags = dhp_device_event_is_existing(ev) ? IPC_ARRIVAL_EXISTING : 0;
        if (dhp_device_event_get_processor(ev, &index, NULL) == 0)
                m.arrival.index = index;
        if (dhp_device_event_get_memory(ev, &base, &size) == 0) {
                m.arrival.base = base;
                m.arrival.size = size;
        }
        snprintf(m.arrival.name, sizeof(m.arrival.name), "%s", dhp_device_event_get_name(ev));
        client_send(a->c, &m, droppable);
}

static void arrival_cb(void *userdata, const dhp_device_event *ev) {
        arrival_send(userdata, ev, true);
}

/* The devices present at registration: sent before the REPLY and never
 * dropped, so that the client knows them all when its register call
 * returns (it tells apart, after a reconnect, what arrived meanwhile). */
static void arrival_existing_cb(void *userdata, const dhp_device_event *ev) {
        arrival_send(userdata, ev, false);
}

/* A record in the layout the client reads: RECORD_EXT, or for a 1.0
 * client RECORD without the extras (and without a detail too long for it). */
static void record_msg(const struct client *c, const dhp_record *r, struct ipc_msg *m) {
        *m = (struct ipc_msg){ .type = c->minor >= 1 ? IPC_RECORD_EXT : IPC_RECORD };
        engine_record_export(r, &m->record);
        if (m->type == IPC_RECORD && strlen(m->record.detail) >= IPC_DETAIL_MAX)
                m->record.detail[0] = 0;
}

static void monitor_cb(void *userdata, const dhp_record *r) {
        struct client *c = userdata;
        _cleanup_free_ struct ipc_msg *m = malloc(sizeof(*m));

        if (!m)
                return;
        record_msg(c, r, m);
        client_send(c, m, true);
}

/* Every record of the stream, encoded once, into the ring. */
static void history_cb(void *userdata, const dhp_record *r) {
        struct server *s = userdata;
        _cleanup_free_ struct ipc_msg *m = calloc(1, sizeof(*m));
        _cleanup_free_ uint8_t *buf = malloc(IPC_MSG_MAX);
        int len;

        if (!m || !buf)
                return;
        m->type = IPC_RECORD_EXT;
        engine_record_export(r, &m->record);
        len = ipcmsg_encode(m, buf, IPC_MSG_MAX);
        if (len > 0)
                history_add(s->history, buf, (size_t)len);
}

struct replay {
        struct client *c;
        uint64_t id;
        int error;
};

static void replay_one(void *userdata, const void *msg, size_t len) {
        struct replay *p = userdata;
        struct outmsg *o;

        if (p->error)
                return;
        o = queue_msg_locked(p->c, msg, len);
        if (!o)
                p->error = -ENOMEM;
        else
                ipcmsg_set_id(o->data, o->len, p->id);
}

/* The kept records, newest `count` of them, queued in one go as the
 * answer's RECORD_EXTs: at most 2 x max_queue, so that the queue stays
 * under the cap that cuts a client off; refused while the client has not
 * read what is queued for it. */
static int history_send(struct server *s, struct client *c, uint64_t id, uint32_t count, uint32_t *ret_sent) {
        struct replay p = { .c = c, .id = id };
        uint32_t budget = 2 * s->cfg.max_queue;

        *ret_sent = 0;
        if (count == 0 || count > budget)
                count = budget;
        pthread_mutex_lock(&c->lock);
        if (c->gone)
                p.error = -ECONNRESET;
        else if (c->out_n > s->cfg.max_queue)
                p.error = -EBUSY;
        else
                *ret_sent = history_foreach(s->history, count, replay_one, &p);
        if (!c->gone)
                flush_locked(c);
        pthread_mutex_unlock(&c->lock);
        return p.error;
}

static int status_send(struct server *s, struct client *c, uint64_t id) {
        uint32_t n = engine_cpu_count(s->e);
        struct ipc_msg m;

        for (uint32_t first = 0; first < n; first += IPC_STATUS_PROC_MAX) {
                m = (struct ipc_msg){ .type = IPC_STATUS_PROC, .id = id };
                m.status_proc.first = first;
                m.status_proc.count = n - first < IPC_STATUS_PROC_MAX ? n - first : IPC_STATUS_PROC_MAX;
                for (uint32_t i = 0; i < m.status_proc.count; i++) {
                        dhp_proc_state st = DHP_PROC_ABSENT;
                        engine_cpu_get_state(s->e, first + i, &st);
                        m.status_proc.state[i] = (uint8_t)st;
                }
                client_send(c, &m, false);
        }
        for (uint64_t d = 0;; d++) {
                struct engine_mem_info mi;
                if (engine_mem_device_info(s->e, d, &mi) < 0)
                        break;
                if (mi.removed)
                        continue;
                m = (struct ipc_msg){ .type = IPC_STATUS_MEM, .id = id };
                m.status_mem = (typeof(m.status_mem)){ .id = d, .base = mi.base, .size = mi.size,
                                                       .block_size = engine_mem_block_size(s->e),
                                                       .nblocks = (uint32_t)mi.nblocks,
                                                       .online_blocks = (uint32_t)mi.online_blocks };
                client_send(c, &m, false);
        }
        list_for_each(p, &s->clients) {
                struct client *o = list_entry(p, struct client, node);
                if (!o->hello_done)
                        continue;
                m = (struct ipc_msg){ .type = IPC_STATUS_CLIENT, .id = id };
                pthread_mutex_lock(&o->lock);
                m.status_client.pid = (uint32_t)o->pid;
                m.status_client.uid = o->uid;
                m.status_client.flags = (o->privileged ? IPC_CLIENT_PRIVILEGED : 0) |
                                        (o->mon ? IPC_CLIENT_MONITOR : 0) | (o == c ? IPC_CLIENT_SELF : 0);
                m.status_client.sync_regs = o->nsync;
                m.status_client.arrival_regs = o->narr;
                m.status_client.late = o->late;
                pthread_mutex_unlock(&o->lock);
                snprintf(m.status_client.name, sizeof(m.status_client.name), "%s", o->name);
                client_send(c, &m, false);
        }
        return 0;
}

static const char *need_privilege(struct server *s, char *buf, size_t size) {
        if (s->have_group)
                snprintf(buf, size, "permission denied: this needs root or membership in group '%s'", s->cfg.group);
        else
                snprintf(buf, size, "permission denied: this needs root (group '%s' does not exist)", s->cfg.group);
        return buf;
}

static struct job *job_new(struct client *c, enum job_kind kind, uint64_t msgid) {
        struct job *j = calloc(1, sizeof(*j));

        if (j) {
                j->kind = kind;
                j->c = c;
                j->msgid = msgid;
        }
        return j;
}

/* The device requests (0x50..0x5f); main thread, never waits for a
 * rebalance.  Returns false when the client was dropped. */
static bool handle_device(struct server *s, struct client *c, const struct ipc_msg *m) {
        char text[IPC_DETAIL_MAX];
        struct cl_device *cd = NULL;
        struct job *j;
        int r;

        if (!s->rb) {
                reply(c, m->id, -EOPNOTSUPP, 0, 0, "this dhpd does not rebalance user-space devices");
                return true;
        }
        /* Creating and changing devices, and the class opt-outs every
         * device shares, is privileged; freeing one's own and asking is
         * not. */
        if (!c->privileged && (m->type == IPC_DEVICE_NEW || m->type == IPC_DEVICE_SET ||
                               m->type == IPC_DRIVER_ATTACH ||
                               (m->type == IPC_CLASS_OPTOUT && m->class_optout.op != IPC_CLASS_OPTOUT_GET))) {
                reply(c, m->id, -EPERM, 0, 0, need_privilege(s, text, sizeof(text)));
                return true;
        }
        switch (m->type) {
        case IPC_DEVICE_NEW:
                if (device_find(s, c, m->device_new.dev)) {
                        reply(c, m->id, -EEXIST, 0, 0, "device id in use");
                        return true;
                }
                for (unsigned i = 0; i < s->cfg.max_regs && !cd; i++)
                        if (!c->devs[i].dev)
                                cd = &c->devs[i];
                if (!cd) {
                        reply(c, m->id, -ENOSPC, 0, 0, "too many devices for one client");
                        return true;
                }
                r = rebalance_device_new(s->rb, m->device_new.name, m->device_new.setup_class, &cd->dev);
                if (r < 0) {
                        cd->dev = NULL;
                        reply(c, m->id, r, 0, 0, r == -EEXIST ? "a device of that name exists in dhpd" : NULL);
                        return true;
                }
                cd->id = m->device_new.dev;
                log_info(&s->log, "client %s registered device %s (%s)", c->name, m->device_new.name,
                         m->device_new.setup_class);
                device_info_send(c, m->id, cd);
                reply(c, m->id, 0, 0, 0, NULL);
                return true;
        case IPC_DEVICE_SET:
                if (!(cd = device_find(s, c, m->device_set.dev))) {
                        reply(c, m->id, -ENOENT, 0, 0, NULL);
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
                reply(c, m->id, r, 0, 0, NULL);
                return true;
        case IPC_DEVICE_QUERY:
                if (!(cd = device_find(s, c, m->unreg.reg))) {
                        reply(c, m->id, -ENOENT, 0, 0, NULL);
                        return true;
                }
                r = dhp_device_participates(cd->dev);
                device_info_send(c, m->id, cd);
                reply(c, m->id, 0, r > 0, 0, NULL);
                return true;
        case IPC_DEVICE_FREE:
                if (!(cd = device_find(s, c, m->unreg.reg))) {
                        reply(c, m->id, -ENOENT, 0, 0, NULL);
                        return true;
                }
                if (!(j = job_new(c, JOB_DEVICE_FREE, 0)))
                        break;
                rebalance_device_unlist(cd->dev);
                drivers_take(c, cd->dev, j);
                j->dev = TAKE_PTR(cd->dev);
                job_queue(s, j);
                reply(c, m->id, 0, 0, 0, NULL);
                return true;
        case IPC_DRIVER_ATTACH: {
                struct cl_driver *d;
                if (!(cd = device_find(s, c, m->driver_attach.dev))) {
                        reply(c, m->id, -ENOENT, 0, 0, NULL);
                        return true;
                }
                if (driver_find(c, m->driver_attach.drv)) {
                        reply(c, m->id, -EEXIST, 0, 0, "driver id in use");
                        return true;
                }
                if (!(d = calloc(1, sizeof(*d))))
                        break;
                *d = (struct cl_driver){ .c = c, .id = m->driver_attach.drv, .dev_id = cd->id, .dev = cd->dev };
                r = dhp_driver_attach_at(cd->dev, m->driver_attach.level, m->driver_attach.name, proxy_driver_cb, d,
                                         &d->drv);
                if (r < 0) {
                        free(d);
                        reply(c, m->id, r, 0, 0, r == -ENOSPC ? "64 drivers already" : NULL);
                        return true;
                }
                client_ref(c);
                pthread_mutex_lock(&c->lock);
                d->next = c->drivers;
                c->drivers = d;
                pthread_mutex_unlock(&c->lock);
                reply(c, m->id, 0, 0, 0, NULL);
                return true;
        }
        case IPC_DRIVER_DETACH: {
                struct cl_driver *d = driver_find(c, m->unreg.reg);
                if (!d) {
                        reply(c, m->id, -ENOENT, 0, 0, NULL);
                        return true;
                }
                if (!(j = job_new(c, JOB_DRIVER_FREE, 0)))
                        break;
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
                reply(c, m->id, 0, 0, 0, NULL);
                return true;
        }
        case IPC_CLASS_OPTOUT: {
                bool v = false;
                if (m->class_optout.op == IPC_CLASS_OPTOUT_GET) {
                        r = rebalance_class_get_optout(s->rb, m->class_optout.setup_class, &v);
                        reply(c, m->id, r, v, 0, NULL);
                        return true;
                }
                r = m->class_optout.op == IPC_CLASS_OPTOUT_SET
                            ? rebalance_class_set_optout(s->rb, m->class_optout.setup_class, m->class_optout.optout != 0)
                            : -EINVAL;
                reply(c, m->id, r, 0, 0, NULL);
                return true;
        }
        }
        reply(c, m->id, -ENOMEM, 0, 0, NULL);
        return true;
}

/* Returns false when the client was dropped. */
static bool handle(struct server *s, struct client *c, const struct ipc_msg *m) {
        char text[IPC_DETAIL_MAX];
        struct job *j;
        int r;

        if (!c->hello_done && m->type != IPC_HELLO) {
                violation(s, c, -EPROTO, "the first message must be HELLO");
                return false;
        }
        switch (m->type) {
        case IPC_HELLO: {
                struct ipc_msg w = { .type = IPC_WELCOME, .id = m->id };
                if (c->hello_done) {
                        violation(s, c, -EPROTO, "a second HELLO");
                        return false;
                }
                if (m->hello.major != IPC_VERSION_MAJOR) {
                        snprintf(text, sizeof(text),
                                 "protocol version mismatch: the client speaks %u.%u, dhpd speaks %u.%u",
                                 m->hello.major, m->hello.minor, IPC_VERSION_MAJOR, IPC_VERSION_MINOR);
                        struct ipc_msg e = { .type = IPC_ERROR, .error = { .status = -EPROTONOSUPPORT } };
                        snprintf(e.error.text, sizeof(e.error.text), "%s", text);
                        client_send(c, &e, false);
                        client_drop(s, c, text);
                        return false;
                }
                c->hello_done = true;
                c->minor = m->hello.minor;
                snprintf(c->name, sizeof(c->name), "%.48s[%d]", m->hello.name[0] ? m->hello.name : "client",
                         (int)c->pid);
                w.welcome = (typeof(w.welcome)){ .major = IPC_VERSION_MAJOR, .minor = IPC_VERSION_MINOR,
                                                 .flags = (c->privileged ? IPC_WELCOME_PRIVILEGED : 0) |
                                                          (s->sim ? IPC_WELCOME_SIMULATED : 0),
                                                 .max_regs = s->cfg.max_regs, .max_queue = s->cfg.max_queue,
                                                 .max_msg = IPC_MSG_MAX, .client_id = c->id };
                client_send(c, &w, false);
                log_info(&s->log, "client %s connected (uid %u%s)", c->name, (unsigned)c->uid,
                         c->privileged ? ", privileged" : "");
                return true;
        }
        case IPC_PING:
                reply(c, m->id, 0, 0, 0, NULL);
                return true;
        case IPC_PROC_REGISTER:
                if (!c->privileged) {
                        reply(c, m->id, -EPERM, 0, 0, need_privilege(s, text, sizeof(text)));
                        return true;
                }
                if (m->proc_register.flags & ~(uint32_t)DHP_PROC_ADD_EXISTING) {
                        reply(c, m->id, -EINVAL, 0, 0, "unknown flags");
                        return true;
                }
                if (!(j = job_new(c, JOB_PROC_REGISTER, m->id)))
                        break;
                j->reg = m->proc_register.reg;
                j->flags = m->proc_register.flags;
                job_queue(s, j);
                return true;
        case IPC_PROC_DEREGISTER:
                if (!(j = job_new(c, JOB_PROC_DEREGISTER, m->id)))
                        break;
                j->reg = m->unreg.reg;
                job_queue(s, j);
                return true;
        case IPC_PROC_ANSWER:
                if (m->proc_answer.status > 0 || m->proc_answer.status < -4095 || m->proc_answer.state < 1 ||
                    m->proc_answer.state > 3) {
                        violation(s, c, -EPROTO, "PROC_ANSWER with a bad state or status");
                        return false;
                }
                pthread_mutex_lock(&c->lock);
                if (m->proc_answer.txn == c->await_txn && !c->answered) {
                        c->answered = true;
                        c->answer = m->proc_answer.status;
                        c->answered_at = time_now_ns();
                        pthread_cond_broadcast(&c->cond);
                }
                pthread_mutex_unlock(&c->lock);
                return true;
        case IPC_ARRIVAL_REGISTER: {
                const char *name = m->arrival_register.name[0] ? m->arrival_register.name : c->name;
                unsigned slot = s->cfg.max_regs;
                if ((m->arrival_register.cls != DHP_CLASS_PROCESSOR && m->arrival_register.cls != DHP_CLASS_MEMORY) ||
                    (m->arrival_register.flags & ~(uint32_t)DHP_ARRIVAL_INCLUDE_EXISTING)) {
                        reply(c, m->id, -EINVAL, 0, 0, "unknown class or flags");
                        return true;
                }
                for (unsigned i = 0; i < s->cfg.max_regs; i++) {
                        if (c->arr[i].used && c->arr[i].id == m->arrival_register.reg) {
                                reply(c, m->id, -EEXIST, 0, 0, NULL);
                                return true;
                        }
                        if (!c->arr[i].used && slot == s->cfg.max_regs)
                                slot = i;
                }
                pthread_mutex_lock(&c->lock);
                r = c->nsync + c->narr >= s->cfg.max_regs ? -ENOSPC : 0;
                pthread_mutex_unlock(&c->lock);
                if (r == 0) {
                        c->arr[slot] = (struct cl_arrival){ .id = m->arrival_register.reg, .c = c };
                        /* Registered first, then the snapshot: a device
                         * arriving in between is in both (the client drops
                         * the second by name), none is in neither. */
                        r = arrival_register(s->e, name, m->arrival_register.cls, 0, arrival_cb, &c->arr[slot],
                                             &c->arr[slot].reg);
                }
                if (r == 0) {
                        c->arr[slot].used = true;
                        pthread_mutex_lock(&c->lock);
                        c->narr++;
                        pthread_mutex_unlock(&c->lock);
                        if (m->arrival_register.flags & DHP_ARRIVAL_INCLUDE_EXISTING)
                                arrival_existing(s->e, m->arrival_register.cls, arrival_existing_cb, &c->arr[slot]);
                }
                reply(c, m->id, r, 0, 0, r == -ENOSPC ? "too many registrations for one client" : NULL);
                return true;
        }
        case IPC_ARRIVAL_UNREGISTER:
                r = -ENOENT;
                for (unsigned i = 0; i < s->cfg.max_regs; i++)
                        if (c->arr[i].used && c->arr[i].id == m->unreg.reg) {
                                arrival_unregister(c->arr[i].reg);
                                c->arr[i].used = false;
                                pthread_mutex_lock(&c->lock);
                                c->narr--;
                                pthread_mutex_unlock(&c->lock);
                                r = 0;
                                break;
                        }
                reply(c, m->id, r, 0, 0, NULL);
                return true;
        case IPC_MONITOR_START:
                r = c->mon ? -EALREADY : engine_monitor_add(s->e, monitor_cb, c, &c->mon);
                reply(c, m->id, r, 0, 0, NULL);
                return true;
        case IPC_MONITOR_STOP:
                engine_monitor_remove(c->mon);
                c->mon = NULL;
                reply(c, m->id, 0, 0, 0, NULL);
                return true;
        case IPC_HISTORY: {
                uint32_t sent = 0;
                r = history_send(s, c, m->id, m->history.count, &sent);
                reply(c, m->id, r, sent, 0,
                      r == -EBUSY ? "read what dhpd has sent first: too many messages are waiting" : NULL);
                return true;
        }
        case IPC_STATUS:
                status_send(s, c, m->id);
                reply(c, m->id, 0, 0, 0, NULL);
                return true;
        case IPC_SIM_CPU_ADD:
        case IPC_SIM_MEMORY_ADD:
        case IPC_SIM_RUN:
                if (!s->sim) {
                        reply(c, m->id, -EOPNOTSUPP, 0, 0, "dhpd does not run the simulated platform (start it with "
                                                           "--platform sim)");
                        return true;
                }
                if (!c->privileged) {
                        reply(c, m->id, -EPERM, 0, 0, need_privilege(s, text, sizeof(text)));
                        return true;
                }
                if (!(j = job_new(c, m->type == IPC_SIM_CPU_ADD      ? JOB_SIM_CPU
                                     : m->type == IPC_SIM_MEMORY_ADD ? JOB_SIM_MEM
                                                                     : JOB_SIM_RUN,
                                  m->id)))
                        break;
                if (m->type == IPC_SIM_MEMORY_ADD)
                        j->size = m->sim_memory_add.size;
                if (m->type == IPC_SIM_RUN) {
                        snprintf(j->filename, sizeof(j->filename), "%s",
                                 m->sim_run.filename[0] ? m->sim_run.filename : "scenario");
                        j->text = strndup(m->sim_run.text ? m->sim_run.text : "", m->sim_run.text_len);
                        if (!j->text) {
                                free(j);
                                break;
                        }
                }
                job_queue(s, j);
                return true;
        case IPC_MEMCOND_SUBSCRIBE: {
                enum memcond_kind k;
                struct cl_memcond *mc = NULL;
                if (memcond_lookup(m->memcond_subscribe.name, &k) < 0) {
                        snprintf(text, sizeof(text), "no memory condition event named '%s'", m->memcond_subscribe.name);
                        reply(c, m->id, -ENOENT, 0, 0, text);
                        return true;
                }
                if (memcond_find(s, c, m->memcond_subscribe.sub)) {
                        reply(c, m->id, -EEXIST, 0, 0, NULL);
                        return true;
                }
                for (unsigned i = 0; i < s->cfg.max_regs && !mc; i++)
                        if (!c->mcs[i].used)
                                mc = &c->mcs[i];
                if (!mc) {
                        reply(c, m->id, -ENOSPC, 0, 0, "too many subscriptions for one client");
                        return true;
                }
                *mc = (struct cl_memcond){ .c = c, .id = m->memcond_subscribe.sub, .used = true, .initial = true };
                mc->l.kind = k;
                mc->l.fn = memcond_changed;
                mc->l.tell_initial_clear = true;
                /* The state now goes out from inside, ahead of any change. */
                memcond_listen(s->e, &mc->l);
                reply(c, m->id, 0, 0, 0, NULL);
                return true;
        }
        case IPC_MEMCOND_UNSUBSCRIBE: {
                struct cl_memcond *mc = memcond_find(s, c, m->unreg.reg);
                if (mc) {
                        memcond_unlisten(s->e, &mc->l);
                        mc->used = false;
                }
                reply(c, m->id, mc ? 0 : -ENOENT, 0, 0, NULL);
                return true;
        }
        case IPC_MEMCOND_CONFIGURE: {
                char *err = NULL;
                if (!c->privileged) {
                        reply(c, m->id, -EPERM, 0, 0, need_privilege(s, text, sizeof(text)));
                        return true;
                }
                r = memcond_configure_spec(s->e, m->memcond_configure.spec, &err);
                if (r == 0)
                        log_notice(&s->log, "client %s set memory thresholds: %s", c->name, m->memcond_configure.spec);
                reply(c, m->id, r, 0, 0, err);
                free(err);
                return true;
        }
        case IPC_MEMCOND_GET_THRESHOLD: {
                struct memcond_thresholds t;
                uint64_t v;
                memcond_get_thresholds(s->e, &t);
                switch (m->memcond_get_threshold.which) {
                case DHP_MEMCOND_LOW_MEMORY: v = t.low; break;
                case DHP_MEMCOND_HIGH_MEMORY: v = t.high; break;
                case DHP_MEMCOND_LOW_COMMIT: v = t.low_commit; break;
                case DHP_MEMCOND_HIGH_COMMIT: v = t.high_commit; break;
                case DHP_MEMCOND_MAXIMUM_COMMIT: v = t.max_commit; break;
                default:
                        reply(c, m->id, -EINVAL, 0, 0, "unknown threshold");
                        return true;
                }
                reply(c, m->id, 0, 0, v, NULL);
                return true;
        }
        case IPC_DEVICE_NEW:
        case IPC_DEVICE_SET:
        case IPC_DRIVER_ATTACH:
        case IPC_DEVICE_FREE:
        case IPC_DEVICE_QUERY:
        case IPC_DRIVER_DETACH:
        case IPC_CLASS_OPTOUT:
                return handle_device(s, c, m);
        case IPC_DEVICE_ANSWER:
                pthread_mutex_lock(&c->lock);
                if (m->device_answer.seq == c->rb_seq && !c->rb_answered) {
                        c->rb_answered = true;
                        c->rb_answer = m->device_answer.status;
                        pthread_cond_broadcast(&c->cond);
                }
                pthread_mutex_unlock(&c->lock);
                return true;
        default:
                snprintf(text, sizeof(text), "a client may not send %s (type 0x%x)", ipcmsg_type_name(m->type),
                         m->type);
                violation(s, c, -EPROTO, text);
                return false;
        }
        reply(c, m->id, -ENOMEM, 0, 0, NULL);
        return true;
}

static void client_read(struct server *s, struct client *c) {
        static uint8_t buf[IPC_MSG_MAX];
        static struct ipc_msg m;

        /* A bounded batch, so that one busy client cannot starve the rest. */
        for (int i = 0; i < 64; i++) {
                char why[128];
                ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
                int r;

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return;
                        client_drop(s, c, NULL);
                        return;
                }
                if (n == 0) {
                        client_drop(s, c, NULL);
                        return;
                }
                if ((size_t)n > sizeof(buf)) {
                        snprintf(why, sizeof(why), "a message of %zd bytes (at most %d)", n, IPC_MSG_MAX);
                        violation(s, c, -EMSGSIZE, why);
                        return;
                }
                r = ipcmsg_decode(buf, (size_t)n, &m);
                if (r == -EOPNOTSUPP) {
                        /* A method this daemon does not have yet. */
                        reply(c, m.id, -EOPNOTSUPP, 0, 0, "not supported by this dhpd");
                        continue;
                }
                if (r < 0) {
                        snprintf(why, sizeof(why), "a malformed message (%s, %zd bytes): %s", ipcmsg_type_name(m.type),
                                 n, strerror(-r));
                        violation(s, c, r, why);
                        return;
                }
                if (!ipcmsg_from_client(m.type)) {
                        snprintf(why, sizeof(why), "a client may not send %s", ipcmsg_type_name(m.type));
                        violation(s, c, -EPROTO, why);
                        return;
                }
                if (!handle(s, c, &m))
                        return;
        }
}

int server_process(struct server *s) {
        struct epoll_event ev[32];
        int n;

        n = epoll_wait(s->epfd, ev, 32, 0);
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        for (int i = 0; i < n; i++) {
                struct client *c = ev[i].data.ptr;
                if (ev[i].data.ptr == &listen_marker) {
                        accept_one(s);
                        continue;
                }
                /* A client dropped earlier in this batch is still listed
                 * in ev[]: look it up before touching it. */
                bool live = false;
                list_for_each(p, &s->clients)
                        if (list_entry(p, struct client, node) == c)
                                live = true;
                if (!live)
                        continue;
                if (ev[i].events & EPOLLOUT) {
                        pthread_mutex_lock(&c->lock);
                        flush_locked(c);
                        pthread_mutex_unlock(&c->lock);
                }
                if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                        client_read(s, c);
        }
        return 0;
}

/* ---- the socket ------------------------------------------------------------ */

static int mkdir_parents(const char *path) {
        char buf[108];
        char *p;

        snprintf(buf, sizeof(buf), "%s", path);
        p = strrchr(buf, '/');
        if (!p || p == buf)
                return 0;
        *p = 0;
        for (char *q = buf + 1; *q; q++) {
                if (*q != '/')
                        continue;
                *q = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *q = '/';
        }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int listen_on(struct server *s) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        if (strlen(s->path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, s->path);
        r = mkdir_parents(s->path);
        if (r < 0) {
                log_error(&s->log, "cannot create the directory of %s: %s", s->path, strerror(-r));
                return r;
        }
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* A socket file left by a daemon that died is replaced; one that
         * answers belongs to a running daemon. */
        {
                int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        close(probe);
                        close(fd);
                        log_error(&s->log, "%s: another dhpd is running (it answers on the socket)", s->path);
                        return -EADDRINUSE;
                }
                if (probe >= 0)
                        close(probe);
                unlink(s->path);
        }
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(s->path, 0666) < 0 || listen(fd, 64) < 0) {
                r = -errno;
                log_error(&s->log, "cannot listen on %s: %s", s->path, strerror(-r));
                close(fd);
                return r;
        }
        s->lfd = fd;
        return 0;
}

/* Look a group up in /etc/group, the "files" source of NSS, where
 * systemd-sysusers creates it.  Asking NSS itself (getgrnam) loads every
 * module nsswitch.conf names into dhpd for good (libnss_systemd alone
 * brings libm and libcap: ~650 kB of the daemon's RSS), so NSS is only the
 * fallback for a group defined elsewhere (LDAP, sssd).  -ENOENT when not
 * there. */
static int group_from_files(const char *name, gid_t *ret) {
        char line[4096];
        size_t n = strlen(name);
        int r = -ENOENT;
        FILE *f;

        f = fopen("/etc/group", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                char *p, *end;
                unsigned long gid;

                if (strncmp(line, name, n) != 0 || line[n] != ':')
                        continue;
                p = strchr(line + n + 1, ':'); /* past the password field */
                if (!p)
                        break;
                errno = 0;
                gid = strtoul(p + 1, &end, 10);
                if (errno || end == p + 1 || *end != ':' || gid > UINT32_MAX - 1)
                        break;
                *ret = (gid_t)gid;
                r = 0;
                break;
        }
        fclose(f);
        return r;
}

int server_new(struct server **ret, struct engine *e, struct sim *sim, const struct server_config *cfg,
               const struct logger *log) {
        struct server *s;
        struct epoll_event ev;
        int r;

        if (!ret || !e || !cfg || !cfg->socket_path || !cfg->max_regs || !cfg->max_queue || !cfg->max_clients)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->e = e;
        s->sim = sim;
        s->log = log ? *log : (struct logger){ 0 };
        s->cfg = *cfg;
        s->lfd = s->epfd = -1;
        snprintf(s->path, sizeof(s->path), "%s", cfg->socket_path);
        list_init(&s->clients);
        pthread_mutex_init(&s->jlock, NULL);
        pthread_cond_init(&s->jcond, NULL);
        s->jtail = &s->jhead;
        if (cfg->group && cfg->group[0]) {
                struct group gr, *res = NULL;
                char gb[4096];
                if (group_from_files(cfg->group, &s->group) == 0) {
                        s->have_group = true;
                }
#ifndef DHP_NO_NSS
                else if (getgrnam_r(cfg->group, &gr, gb, sizeof(gb), &res) == 0 && res) {
                        s->group = res->gr_gid;
                        s->have_group = true;
                }
#else
                (void)gr;
                (void)gb;
                (void)res;
#endif
                if (!s->have_group)
                        log_notice(&s->log, "group '%s' does not exist: only root may register synchronously",
                                   cfg->group);
        }
        s->cfg.group = cfg->group ? cfg->group : ""; /* the caller's, kept alive by it */
        engine_set_sync_deadline(e, cfg->deadline_ns ? cfg->deadline_ns : 2 * NSEC_PER_SEC, cfg->late_veto);

        r = history_new(&s->history, HISTORY_RECORDS);
        if (r < 0)
                goto fail;
        r = engine_monitor_add(e, history_cb, s, &s->history_mon);
        if (r < 0)
                goto fail;
        r = listen_on(s);
        if (r < 0)
                goto fail;
        s->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (s->epfd < 0) {
                r = -errno;
                goto fail;
        }
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = (void *)&listen_marker };
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
                r = -errno;
                goto fail;
        }
        r = -pthread_create(&s->worker, NULL, worker, s);
        if (r < 0)
                goto fail;
        s->worker_running = true;
        *ret = s;
        return 0;
fail:
        server_free(s);
        return r;
}

void server_free(struct server *s) {
        if (!s)
                return;
        while (!list_empty(&s->clients))
                client_drop(s, list_entry(s->clients.next, struct client, node), NULL);
        if (s->worker_running) {
                pthread_mutex_lock(&s->jlock);
                s->jstop = true;
                pthread_cond_signal(&s->jcond);
                pthread_mutex_unlock(&s->jlock);
                pthread_join(s->worker, NULL);
        }
        if (s->lfd >= 0) {
                close(s->lfd);
                unlink(s->path);
        }
        if (s->epfd >= 0)
                close(s->epfd);
        engine_monitor_remove(s->history_mon);
        history_free(s->history);
        pthread_mutex_destroy(&s->jlock);
        pthread_cond_destroy(&s->jcond);
        free(s);
}

void server_set_rebalance(struct server *s, struct rebalance *rb) {
        s->rb = rb;
}

int server_get_fd(struct server *s) {
        return s->epfd;
}
