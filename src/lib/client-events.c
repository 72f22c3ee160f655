/* SPDX-License-Identifier: MIT */
/*
 * The connection thread and what it reads from dhpd: each synchronous
 * phase run over the local registrations (core/peer.h) and answered,
 * arrivals queued on the local engine, replies handed to their waiting
 * request, dhpd's records to the local monitors, memory condition states,
 * and driver requests queued where a local one would run.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/memcond.h"
#include "core/peer.h"
#include "core/rebalance.h"
#include "lib/affinity.h"
#include "lib/client-internal.h"
#include "lib/mirror.h"
#include "proto/record-wire.h"
#include "proto/record.h"
#include "util/macro.h"
#include "util/time.h"

/* ---- processor states ---------------------------------------------------- */

/*
 * The admitted processors, at connect and after each ADD_COMPLETE, for the
 * affinity bookkeeping (lib/affinity.h: it touches threads only while a
 * synchronous registration exists).  Only for a daemon on real hardware:
 * a simulated partition's processors are not this machine's.
 */
bool client_affinity_enabled(struct remote *r) {
        return !(r->welcome_flags & IPC_WELCOME_SIMULATED) || r->aff_on_simulated;
}

void client_affinity_apply(struct remote *r) {
        if (client_affinity_enabled(r))
                affinity_set_states(&r->aff, r->admitted, r->nadmitted);
}

/*
 * Store states dhpd sent.  r->view follows them too, except, for a status
 * (`from_status`), the processor of a phase in flight: dhpd admits it
 * before it sends ADD_COMPLETE, and a status read in between must not
 * make it look seen admitted if the connection is lost before
 * ADD_COMPLETE comes (doc/model.md D36).
 */
static void admitted_store(struct remote *r, const struct ipc_msg *m, bool from_status) {
        uint32_t end = m->status_proc.first + m->status_proc.count;

        if (m->status_proc.first > 1u << 20 || end > 1u << 20)
                return;
        if (end > r->nadmitted) {
                uint8_t *p = realloc(r->admitted, end), *v;
                if (!p)
                        return;
                r->admitted = p;
                v = realloc(r->view, end);
                if (!v)
                        return;
                r->view = v;
                memset(p + r->nadmitted, 0, end - r->nadmitted);
                memset(v + r->nadmitted, 0, end - r->nadmitted);
                r->nadmitted = end;
        }
        memcpy(r->admitted + m->status_proc.first, m->status_proc.state, m->status_proc.count);
        for (uint32_t i = m->status_proc.first; i < end; i++)
                if (!from_status || !r->split || i != r->split_index)
                        r->view[i] = r->admitted[i];
}

/* ---- the connection thread ------------------------------------------------- */

static void connection_lost(struct remote *r) {
        pthread_mutex_lock(&r->lock);
        r->error = -ECONNRESET;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        /* The outcome of an add in flight is unknown: release what its
         * ADD_START allocated. */
        if (r->split)
                peer_phases_end(TAKE_PTR(r->split), DHP_PROC_ADD_FAILURE, -ECONNRESET);
        if (r->wake)
                r->wake(r->wake_ud);
}

/* The connection thread: every message from dhpd, read, decoded and
 * dispatched here, in the file that handles it. */
void *client_conn_thread(void *userdata) {
        struct remote *r = userdata;
        _cleanup_free_ uint8_t *buf = malloc(IPC_MSG_MAX);
        struct ipc_msg *m = malloc(sizeof(*m));

        if (!m || !buf) {
                free(m);
                connection_lost(r);
                return NULL;
        }
        for (;;) {
                ssize_t n = recv(r->fd, buf, IPC_MSG_MAX, MSG_TRUNC);

                if (atomic_load(&r->stopping))
                        goto stopped;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0 || (size_t)n > IPC_MSG_MAX)
                        break;
                if (ipcmsg_decode(buf, (size_t)n, m) < 0 || ipcmsg_from_client(m->type))
                        break;
                if (!client_dispatch(r, m))
                        break;
        }
        connection_lost(r);
stopped:
        free(m);
        return NULL;
}

/* ---- the connection thread's side ---------------------------------------------- */

static void on_proc_change(struct remote *r, const struct ipc_msg *m) {
        struct ipc_msg a; /* type, id and proc_answer set below: not the 8 KiB union zeroed per phase */
        uint64_t t0 = time_now_ns();
        unsigned calls = 0;
        int status = 0;

        if (m->proc_change.state == DHP_PROC_ADD_START || m->proc_change.state == DHP_PROC_REMOVE_QUERY) {
                if (r->split)
                        peer_phases_end(TAKE_PTR(r->split), DHP_PROC_ADD_FAILURE, -ECANCELED);
                if ((m->proc_change.state == DHP_PROC_ADD_START
                             ? peer_phases_start(r->local, m->proc_change.index, &r->split, &status, &calls)
                             : peer_phases_query(r->local, m->proc_change.index, &r->split, &status, &calls)) < 0)
                        status = -ENOMEM;
                r->split_index = m->proc_change.index;
        } else if (m->proc_change.state == DHP_PROC_REMOVE_COMPLETE && !r->split) {
                /* A surprise removal: no query came before it. */
                peer_phase_surprise(r->local, m->proc_change.index);
        } else {
                /* Admitted before ADD_COMPLETE runs: the callbacks see it
                 * admitted.  This process's threads get the processor only
                 * after them (and before the answer, so before dhpd's
                 * transaction ends): per-CPU state the callbacks set up is
                 * there before a thread runs on it (doc/model.md R6). */
                bool complete = m->proc_change.state == DHP_PROC_ADD_COMPLETE;

                if (complete) {
                        struct ipc_msg s = { .type = IPC_STATUS_PROC,
                                             .status_proc = { .first = m->proc_change.index, .count = 1 } };
                        s.status_proc.state[0] = DHP_PROC_ADMITTED;
                        /* Under the lock: another thread's status read copies the array. */
                        pthread_mutex_lock(&r->lock);
                        admitted_store(r, &s, false);
                        pthread_mutex_unlock(&r->lock);
                }
                peer_phases_end(TAKE_PTR(r->split), (dhp_proc_change_state)m->proc_change.state,
                                m->proc_change.status);
                if (complete)
                        client_affinity_apply(r);
        }
        if (m->proc_change.state == DHP_PROC_REMOVE_COMPLETE) {
                /* The threads leave it, so that a later add of the same
                 * processor finds none of them there before ADD_START. */
                struct ipc_msg s = { .type = IPC_STATUS_PROC,
                                     .status_proc = { .first = m->proc_change.index, .count = 1 } };
                s.status_proc.state[0] = m->proc_change.status == -ENODEV ? DHP_PROC_ABSENT : DHP_PROC_PRESENT;
                pthread_mutex_lock(&r->lock); /* as at ADD_COMPLETE: a status read copies it */
                admitted_store(r, &s, false);
                pthread_mutex_unlock(&r->lock);
                client_affinity_apply(r);
        }
        a.type = IPC_PROC_ANSWER;
        a.id = 0;
        a.proc_answer = (typeof(a.proc_answer)){ .txn = m->proc_change.txn, .state = m->proc_change.state,
                                                 .status = status, .ncalls = calls, .dur_ns = time_now_ns() - t0 };
        pthread_mutex_lock(&r->lock);
        client_send(r, &a);
        pthread_mutex_unlock(&r->lock);
}

/* The REPLY to a PROC_REGISTER: make the registration local now, on this
 * thread, so that it is in place for the next phase read after it. */
static int register_local(struct remote *r, struct entry *e, int status) {
        int ret;

        if (status < 0)
                return status;
        if (e->flags & DHP_PROC_ADD_EXISTING) {
                /* The admitted processors as of the reply (sent under the
                 * daemon's transaction lock): the local engine's model. */
                engine_cpu_slots(r->local, r->nadmitted);
                for (uint32_t i = 0; i < r->nadmitted; i++)
                        engine_cpu_set_state(r->local, i, (dhp_proc_state)r->admitted[i]);
        }
        ret = procnotify_register(r->local, e->name, e->flags, e->pcb, e->userdata, &e->preg);
        if (ret < 0) {
                /* ADD_EXISTING vetoed: the daemon forgets it too. */
                struct ipc_msg m = { .type = IPC_PROC_DEREGISTER, .unreg = { .reg = e->id } };
                pthread_mutex_lock(&r->lock);
                client_send(r, &m);
                pthread_mutex_unlock(&r->lock);
                e->preg = NULL;
        }
        return ret;
}

/* One run of blocks into the status asked; the lock is held.  A device
 * has at most as many runs as blocks: the cap only stops a daemon gone mad. */
static void status_run_add(struct request *req, const struct ipc_msg *m) {
        struct remote_status *st = req->st;

        if (st->nruns == REMOTE_STATUS_RUNS_MAX) {
                req->st_err = -EPROTO;
                return;
        }
        if ((st->nruns & (st->nruns - 1)) == 0) { /* 0, 1, 2, 4 ...: grow */
                struct remote_mem_run *p = reallocarray(st->runs, st->nruns ? 2 * st->nruns : 16, sizeof(*p));
                if (!p) {
                        req->st_err = -ENOMEM;
                        return;
                }
                st->runs = p;
        }
        st->runs[st->nruns++] = (struct remote_mem_run){
                .device = m->status_mem_blocks.device, .first_block = m->status_mem_blocks.first_block,
                .count = m->status_mem_blocks.count, .state = m->status_mem_blocks.state,
                .zone = m->status_mem_blocks.zone };
}

/* Room for one more of n elements, doubling (n is the count so far, the
 * capacity the next power of two); the lock is held.  An error is kept
 * in req->st_err, the first one only. */
static int status_grow(void **v, size_t n, size_t size, size_t max, struct request *req) {
        void *p;

        if (req->st_err < 0)
                return req->st_err;
        if (n >= max)
                return req->st_err = -EPROTO;
        if (n != 0 && (n < 16 || (n & (n - 1)) != 0))
                return 0;
        p = reallocarray(*v, n ? 2 * n : 16, size);
        if (!p)
                return req->st_err = -ENOMEM;
        *v = p;
        return 0;
}

static void on_reply_part(struct remote *r, const struct ipc_msg *m) {
        struct request *req;

        pthread_mutex_lock(&r->lock);
        for (req = r->requests; req && req->id != m->id; req = req->next)
                ;
        if (m->type == IPC_STATUS_PROC) {
                admitted_store(r, m, true);
        } else if (req && req->hist &&
                   (m->type == IPC_RECORD || m->type == IPC_RECORD_EXT || m->type == IPC_RECORD_RT)) {
                struct remote_history *h = req->hist;
                if (h->n == h->cap) {
                        size_t cap = h->cap ? 2 * h->cap : 64;
                        struct ipc_record *p = cap <= REMOTE_HISTORY_MAX ? realloc(h->records, cap * sizeof(*p)) : NULL;
                        if (p) {
                                h->records = p;
                                h->cap = cap;
                        }
                }
                if (h->n < h->cap)
                        h->records[h->n++] = m->record;
                else
                        req->st_err = -ENOMEM;
        } else if (req && req->st && m->type == IPC_STATUS_MEM) {
                struct remote_status *st = req->st;
                if (status_grow((void **)&st->mem, st->nmem, sizeof(*st->mem), REMOTE_STATUS_MEM_MAX, req) == 0)
                        st->mem[st->nmem++].status_mem = m->status_mem;
        } else if (req && req->st && m->type == IPC_STATUS_MEM_NAME) {
                struct remote_status *st = req->st;
                if (status_grow((void **)&st->mem_names, st->nmem_names, sizeof(*st->mem_names),
                                REMOTE_STATUS_MEM_MAX, req) == 0)
                        st->mem_names[st->nmem_names++].status_mem_name = m->status_mem_name;
        } else if (req && req->st && m->type == IPC_STATUS_CLIENT) {
                struct remote_status *st = req->st;
                if (status_grow((void **)&st->clients, st->nclients, sizeof(*st->clients), REMOTE_STATUS_CLIENTS_MAX,
                                req) == 0)
                        st->clients[st->nclients++].status_client = m->status_client;
        } else if (req && req->st && m->type == IPC_STATUS_MEM_BLOCKS) {
                status_run_add(req, m);
        } else if (req && m->type == IPC_REPLY) {
                struct entry *e = req->entry;
                req->status = m->reply.status;
                req->v32 = m->reply.v32;
                req->v64 = m->reply.v64;
                snprintf(req->text, sizeof(req->text), "%s", m->reply.text);
                if (e) {
                        pthread_mutex_unlock(&r->lock);
                        req->status = register_local(r, e, req->status);
                        req->preg = e->preg; /* before the next phase can free e */
                        pthread_mutex_lock(&r->lock);
                } else if (req->resync_arrival && req->status == 0) {
                        client_arrival_prune(r, req->resync_arrival);
                } else if (req->resync_procs && req->status == 0) {
                        /* After the states that came with it. */
                        pthread_mutex_unlock(&r->lock);
                        client_proc_resync(r);
                        pthread_mutex_lock(&r->lock);
                }
                req->done = true;
                pthread_cond_broadcast(&r->cond);
        }
        pthread_mutex_unlock(&r->lock);
}
/* A record dhpd sent, to this process's monitors as it is. */
static void forward_record(struct remote *r, const struct ipc_record *w) {
        dhp_record rec;

        record_wire_import(w, &rec);
        peer_inject_record(r->local, &rec);
}


/* A slow reader's marker, as a record of the stream: monitors see it. */
static void forward_lost(struct remote *r, uint64_t count) {
        struct ipc_record w = { .fields = 0 };

        strcpy(w.method, "ipc");
        strcpy(w.event, "LOST");
        snprintf(w.detail, sizeof(w.detail), "\"lost\":%llu", (unsigned long long)count);
        snprintf(w.name, sizeof(w.name), "%llu notifications lost (slow reader)", (unsigned long long)count);
        forward_record(r, &w);
}

/* ---- memory conditions and devices, the connection thread's side ------------- */

/* A change of an event, queued behind the arrivals read before it. */
struct memcond_item {
        struct engine_item base;
        enum memcond_kind kind;
        bool set;
};

static void memcond_item_run(struct engine *local, struct engine_item *base) {
        struct memcond_item *it = (struct memcond_item *)base;

        peer_inject_memcond(local, it->kind, it->set);
}

static void memcond_item_free(struct engine_item *base) {
        free(base);
}

/*
 * dhpd's state of an event: the local engine's event follows it (its
 * waiters, the handles' descriptors).  In the model's order within this
 * process: dhpd sends a memory device's ARRIVAL before the conditions it
 * changes, and a change read while arrivals are still queued here (or
 * being delivered) waits behind them in the same queue, so that no thread
 * of the process sees the conditions change before the arrival callback
 * ran.  With nothing queued, and for the state a subscription starts with
 * (dhp_memcond_open() returns with it), the change is made at once.
 */
static void on_memcond_state(struct remote *r, const struct ipc_msg *m) {
        bool set = m->memcond_state.flags & IPC_MEMCOND_SET;
        struct memcond_item *it;
        struct entry *e;
        int kind = -1;

        pthread_mutex_lock(&r->lock);
        e = client_entry_find(r, ENTRY_MEMCOND, m->memcond_state.sub);
        if (e)
                kind = e->mkind;
        pthread_mutex_unlock(&r->lock);
        if (kind < 0)
                return;
        /* Only this thread queues arrivals: nothing slips in between. */
        if ((m->memcond_state.flags & IPC_MEMCOND_INITIAL) || engine_idle(r->local) ||
            !(it = calloc(1, sizeof(*it)))) {
                peer_inject_memcond(r->local, (enum memcond_kind)kind, set);
                return;
        }
        it->base.run = memcond_item_run;
        it->base.free = memcond_item_free;
        it->kind = (enum memcond_kind)kind;
        it->set = set;
        engine_queue(r->local, &it->base);
}

static void on_device_info(struct remote *r, const struct ipc_msg *m) {
        struct entry *e;

        /* Under the lock: the device is not freed while its entry is
         * listed (dhp_device_free removes the entry first). */
        pthread_mutex_lock(&r->lock);
        e = client_entry_find(r, ENTRY_DEVICE, m->device_info.dev);
        if (e)
                mirror_device_update(e->dev, m->device_info.affinity, m->device_info.stopped_last,
                                        m->device_info.stopped_max);
        pthread_mutex_unlock(&r->lock);
}

/* A driver request runs where a local one would: on the notification
 * thread (dhp_process() or the context's own), in order with the arrivals
 * queued before it. */
struct request_item {
        struct engine_item base;
        struct remote *r;
        uint64_t seq;
        uint32_t drv, req, processor, vectors;
        char *old_affinity, *new_affinity;
};

static void request_item_run(struct engine *local, struct engine_item *base) {
        struct request_item *it = (struct request_item *)base;
        struct remote *r = it->r;
        struct ipc_msg a = { .type = IPC_DEVICE_ANSWER };
        dhp_driver *drv = NULL;
        struct entry *e;
        uint64_t t0 = time_now_ns();
        int status = 0;

        pthread_mutex_lock(&r->lock);
        e = client_entry_find(r, ENTRY_DRIVER, it->drv);
        if (e && rebalance_driver_begin(e->drv))
                drv = e->drv;
        pthread_mutex_unlock(&r->lock);
        /* A driver detached meanwhile: nothing to stop, done. */
        if (drv)
                status = mirror_driver_run(drv, (dhp_rebalance_request)it->req, it->processor, it->vectors,
                                              it->old_affinity, it->new_affinity);
        a.device_answer.seq = it->seq;
        a.device_answer.status = status;
        a.device_answer.dur_ns = time_now_ns() - t0;
        pthread_mutex_lock(&r->lock);
        if (!r->error)
                client_send(r, &a);
        pthread_mutex_unlock(&r->lock);
}

static void request_item_free(struct engine_item *base) {
        struct request_item *it = (struct request_item *)base;

        free(it->old_affinity);
        free(it->new_affinity);
        free(it);
}

static void on_device_request(struct remote *r, const struct ipc_msg *m) {
        struct request_item *it = calloc(1, sizeof(*it));

        if (it) {
                it->old_affinity = strdup(m->device_request.old_affinity);
                it->new_affinity = strdup(m->device_request.new_affinity);
        }
        if (!it || !it->old_affinity || !it->new_affinity || m->device_request.req < DHP_REBALANCE_QUERY_STOP ||
            m->device_request.req > DHP_REBALANCE_START) {
                /* Cannot run it: refuse a QUERY_STOP (nothing was held),
                 * anything else is done. */
                struct ipc_msg a = { .type = IPC_DEVICE_ANSWER };
                a.device_answer.seq = m->device_request.seq;
                a.device_answer.status = m->device_request.req == DHP_REBALANCE_QUERY_STOP ? -ENOMEM : 0;
                pthread_mutex_lock(&r->lock);
                client_send(r, &a);
                pthread_mutex_unlock(&r->lock);
                if (it)
                        request_item_free(&it->base);
                return;
        }
        it->base.run = request_item_run;
        it->base.free = request_item_free;
        it->r = r;
        it->seq = m->device_request.seq;
        it->drv = m->device_request.drv;
        it->req = m->device_request.req;
        it->processor = m->device_request.processor;
        it->vectors = m->device_request.vectors;
        engine_queue(r->local, &it->base);
}

/* Returns false when the connection must end. */
bool client_dispatch(struct remote *r, const struct ipc_msg *m) {
        switch (m->type) {
        case IPC_PROC_CHANGE:
                if (m->proc_change.state < DHP_PROC_ADD_START || m->proc_change.state > DHP_PROC_REMOVE_CANCEL)
                        return false;
                on_proc_change(r, m);
                return true;
        case IPC_ARRIVAL: {
                struct entry *e;
                pthread_mutex_lock(&r->lock);
                bool existing;
                e = client_entry_find(r, ENTRY_ARRIVAL, m->arrival.reg);
                if (e && e->areg && (m->arrival.cls == DHP_CLASS_PROCESSOR || m->arrival.cls == DHP_CLASS_MEMORY) &&
                    client_arrival_filter(e, m, &existing))
                        peer_inject_arrival(r->local, e->areg, (dhp_class)m->arrival.cls,
                                         m->arrival.event == DHP_EVENT_REMOVAL ? DHP_EVENT_REMOVAL : DHP_EVENT_ARRIVAL,
                                         (existing ? PEER_EVENT_EXISTING : 0) |
                                                 (m->arrival.flags & IPC_ARRIVAL_SURPRISE ? PEER_EVENT_SURPRISE : 0),
                                         m->arrival.index, m->arrival.base, m->arrival.size, m->arrival.name);
                pthread_mutex_unlock(&r->lock);
                return true;
        }
        case IPC_ARRIVAL_QUERY: {
                /* A memory removal's query or cancel: the callback runs
                 * here, on the connection thread, and dhpd waits (D34). */
                struct ipc_msg a = { .type = IPC_ARRIVAL_ANSWER, .arrival_answer = { .seq = m->arrival_query.seq } };
                dhp_arrival_reg *areg = NULL;
                struct entry *e;

                pthread_mutex_lock(&r->lock);
                e = client_entry_find(r, ENTRY_ARRIVAL, m->arrival_query.reg);
                if (e && (e->flags & DHP_ARRIVAL_QUERY_REMOVE))
                        areg = e->areg;
                pthread_mutex_unlock(&r->lock);
                if (areg && (m->arrival_query.event == DHP_EVENT_QUERY_REMOVE ||
                             m->arrival_query.event == DHP_EVENT_REMOVE_CANCEL))
                        a.arrival_answer.status = peer_query_arrival(r->local, areg, (dhp_event)m->arrival_query.event,
                                                                     m->arrival_query.status, m->arrival_query.base,
                                                                     m->arrival_query.size, m->arrival_query.name);
                if (a.arrival_answer.status > 0 || a.arrival_answer.status < -4095)
                        a.arrival_answer.status = -EINVAL;
                pthread_mutex_lock(&r->lock);
                client_send(r, &a);
                pthread_mutex_unlock(&r->lock);
                return true;
        }
        case IPC_RECORD:
        case IPC_RECORD_EXT:
        case IPC_RECORD_RT:
                if (m->id)
                        on_reply_part(r, m); /* HISTORY's answer */
                else
                        forward_record(r, &m->record);
                return true;
        case IPC_MEMCOND_STATE:
                on_memcond_state(r, m);
                return true;
        case IPC_DEVICE_INFO:
                on_device_info(r, m);
                return true;
        case IPC_DEVICE_REQUEST:
                on_device_request(r, m);
                return true;
        case IPC_LOST:
                forward_lost(r, m->lost.count);
                return true;
        case IPC_REPLY:
        case IPC_STATUS_PROC:
        case IPC_STATUS_MEM:
        case IPC_STATUS_MEM_NAME:
        case IPC_STATUS_MEM_BLOCKS:
        case IPC_STATUS_CLIENT:
                on_reply_part(r, m);
                return true;
        case IPC_ERROR:
        default:
                return false;
        }
}

