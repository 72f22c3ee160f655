/* SPDX-License-Identifier: MIT */
/*
 * The client side of dhpd's socket.  One connection thread reads every
 * message; callers of the API send requests and wait for their REPLY.  A
 * request made on the connection thread itself (from inside a synchronous
 * callback or a monitor) cannot wait for its reply and fails with -EDEADLK,
 * except deregistrations, which never wait.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/memcond.h"
#include "core/peer.h"
#include "core/rebalance.h"
#include "lib/client.h"
#include "lib/mirror.h"
#include "platform/linux/affinity.h"
#include "proto/record-wire.h"
#include "proto/record.h"
#include "util/cpuset.h"
#include "util/macro.h"
#include "util/time.h"

#define HANDSHAKE_TIMEOUT_MS 5000

enum entry_kind { ENTRY_SYNC, ENTRY_ARRIVAL, ENTRY_MEMCOND, ENTRY_DEVICE, ENTRY_DRIVER };

/* One registration the daemon knows by its wire id; kept to re-register
 * after a reconnect. */
struct entry {
        struct entry *next;
        enum entry_kind kind;
        uint32_t id;
        uint32_t flags;
        dhp_class cls;
        char name[IPC_NAME_MAX];
        dhp_proc_cb pcb;
        dhp_arrival_cb acb;
        void *userdata;
        dhp_proc_reg *preg;    /* NULL until the daemon accepted it */
        dhp_arrival_reg *areg;
        /* ENTRY_MEMCOND: one subscription per event, for every handle */
        int mkind; /* enum memcond_kind; -1: a name this library lacks */
        unsigned mrefs;
        /* ENTRY_DEVICE, ENTRY_DRIVER (dev_id: its device's entry) */
        dhp_device *dev;
        dhp_driver *drv;
        uint32_t dev_id;
        /* Arrival registrations: the devices of the class this
         * registration knows of (reported, or present when it was made),
         * by name.  Every ARRIVAL_REGISTER asks dhpd for the present
         * devices (INCLUDE_EXISTING): at the first one, those are reported
         * only if the caller asked for them; after a reconnect, those not
         * known are the ones that arrived while dhpd was away, and are
         * reported as arrivals.  Nothing is reported twice. */
        char (*known)[IPC_NAME_MAX];
        size_t nknown, capknown;
        bool reconnected;
};

struct request {
        struct request *next;
        uint64_t id;
        bool done;
        int status;
        uint32_t v32;
        uint64_t v64;
        char text[IPC_TEXT_MAX];
        struct entry *entry; /* PROC_REGISTER: made local on the reply */
        struct remote_status *st;
        int st_err;
        struct remote_history *hist; /* HISTORY: the records answered */
};

struct remote {
        struct engine *local;
        char path[108];
        void (*wake)(void *);
        void *wake_ud;

        pthread_mutex_t lock; /* everything below, and sending */
        pthread_cond_t cond;  /* a request is done */
        int fd;
        int stop_fd;
        pthread_t thread;
        bool thread_running;
        int error; /* sticky: -ECONNRESET after a loss */
        uint32_t welcome_flags;
        uint16_t welcome_minor;
        atomic_uint_fast64_t next_id;
        struct request *requests;
        struct entry *entries;
        uint32_t next_reg;
        unsigned nmonitors;
        char last_text[IPC_TEXT_MAX]; /* the last failed request's explanation */

        /* the connection thread only */
        struct peer_phases *split;
        uint8_t *admitted; /* dhp_proc_state per slot, for affinity */
        uint32_t nadmitted;
};

static bool on_conn_thread(struct remote *r) {
        bool v;

        pthread_mutex_lock(&r->lock);
        v = r->thread_running && pthread_equal(r->thread, pthread_self());
        pthread_mutex_unlock(&r->lock);
        return v;
}

static int send_msg(struct remote *r, const struct ipc_msg *m) {
        /* Not a thread-local buffer: a library's static TLS is zeroed into
         * every thread of the application at its creation (64 KiB resident
         * each, whether it ever talks to dhpd or not). */
        _cleanup_free_ uint8_t *buf = malloc(IPC_MSG_MAX);
        int len;
        ssize_t n;

        if (!buf)
                return -ENOMEM;
        len = ipcmsg_encode(m, buf, IPC_MSG_MAX);
        if (len < 0)
                return len;
        do
                n = send(r->fd, buf, (size_t)len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EPIPE ? -ECONNRESET : -errno;
        return 0;
}

/* Send a request and wait for its REPLY (and what came before it with the
 * same id).  Returns the reply's status, or -ECONNRESET. */
static int call(struct remote *r, struct ipc_msg *m, struct request *req) {
        int ret;

        if (on_conn_thread(r))
                return -EDEADLK;
        req->id = m->id = atomic_fetch_add(&r->next_id, 1);
        pthread_mutex_lock(&r->lock);
        if (r->error) {
                pthread_mutex_unlock(&r->lock);
                return r->error;
        }
        req->next = r->requests;
        r->requests = req;
        ret = send_msg(r, m);
        if (ret == 0)
                while (!req->done && !r->error)
                        pthread_cond_wait(&r->cond, &r->lock);
        /* Unlink, done or not. */
        for (struct request **p = &r->requests; *p; p = &(*p)->next)
                if (*p == req) {
                        *p = req->next;
                        break;
                }
        if (ret == 0)
                ret = req->done ? req->status : r->error;
        if (ret < 0 && req->done)
                snprintf(r->last_text, sizeof(r->last_text), "%s", req->text);
        pthread_mutex_unlock(&r->lock);
        return ret;
}

const char *remote_last_text(struct remote *r) {
        return r->last_text;
}

/* ---- processor affinity ---------------------------------------------------- */

/*
 * Keep every thread of the process on admitted processors: at connect and
 * after each ADD_COMPLETE, each thread listed in /proc/self/task gets the
 * admitted set.  A thread created meanwhile inherits its creator's mask,
 * which is already restricted; a thread that widens its own mask later is
 * its own business.  Only for a daemon on real hardware: a simulated
 * partition's processors are not this machine's.
 */
static void affinity_apply(struct remote *r) {
        struct cpuset set = CPUSET_INIT;

        if (r->welcome_flags & IPC_WELCOME_SIMULATED)
                return;
        for (uint32_t i = 0; i < r->nadmitted; i++)
                if (r->admitted[i] == DHP_PROC_ADMITTED && cpuset_set(&set, i) < 0)
                        goto out;
        /* An empty set (nothing admitted yet) is refused: threads keep
         * their mask. */
        affinity_set_process(&set, NULL);
out:
        cpuset_deinit(&set);
}

static void admitted_store(struct remote *r, const struct ipc_msg *m) {
        uint32_t end = m->status_proc.first + m->status_proc.count;

        if (m->status_proc.first > 1u << 20 || end > 1u << 20)
                return;
        if (end > r->nadmitted) {
                uint8_t *p = realloc(r->admitted, end);
                if (!p)
                        return;
                memset(p + r->nadmitted, 0, end - r->nadmitted);
                r->admitted = p;
                r->nadmitted = end;
        }
        memcpy(r->admitted + m->status_proc.first, m->status_proc.state, m->status_proc.count);
}

/* ---- the connection thread ------------------------------------------------- */

static struct entry *entry_find(struct remote *r, enum entry_kind kind, uint32_t id) {
        for (struct entry *e = r->entries; e; e = e->next)
                if (e->kind == kind && e->id == id)
                        return e;
        return NULL;
}

static bool known_has(const struct entry *e, const char *name) {
        for (size_t i = 0; i < e->nknown; i++)
                if (strcmp(e->known[i], name) == 0)
                        return true;
        return false;
}

static void known_add(struct entry *e, const char *name) {
        if (e->nknown == e->capknown) {
                size_t cap = e->capknown ? 2 * e->capknown : 16;
                char (*p)[IPC_NAME_MAX] = realloc(e->known, cap * sizeof(*p));
                if (!p)
                        return; /* then it may be reported twice, no more */
                e->known = p;
                e->capknown = cap;
        }
        snprintf(e->known[e->nknown++], IPC_NAME_MAX, "%s", name);
}

static void known_remove(struct entry *e, const char *name) {
        for (size_t i = 0; i < e->nknown; i++)
                if (strcmp(e->known[i], name) == 0) {
                        memmove(e->known[i], e->known[i + 1], (e->nknown - i - 1) * sizeof(*e->known));
                        e->nknown--;
                        return;
                }
}

/* Whether to deliver an ARRIVAL or REMOVAL read from dhpd, and as an
 * existing device or not (see struct entry). */
static bool arrival_filter(struct entry *e, const struct ipc_msg *m, bool *ret_existing) {
        bool existing = m->arrival.flags & IPC_ARRIVAL_EXISTING;

        *ret_existing = false;
        if (m->arrival.event == DHP_EVENT_REMOVAL) {
                known_remove(e, m->arrival.name);
                return true;
        }
        if (known_has(e, m->arrival.name))
                return false;
        known_add(e, m->arrival.name);
        if (!existing)
                return true;
        if (e->reconnected)
                return true; /* arrived while dhpd was away: new to us */
        *ret_existing = true;
        return e->flags & DHP_ARRIVAL_INCLUDE_EXISTING;
}

static void on_proc_change(struct remote *r, const struct ipc_msg *m) {
        struct ipc_msg a = { .type = IPC_PROC_ANSWER };
        uint64_t t0 = time_now_ns();
        unsigned calls = 0;
        int status = 0;

        if (m->proc_change.state == DHP_PROC_ADD_START) {
                if (r->split)
                        peer_phases_end(TAKE_PTR(r->split), DHP_PROC_ADD_FAILURE, -ECANCELED);
                if (peer_phases_start(r->local, m->proc_change.index, &r->split, &status, &calls) < 0)
                        status = -ENOMEM;
        } else {
                peer_phases_end(TAKE_PTR(r->split), (dhp_proc_change_state)m->proc_change.state,
                                m->proc_change.status);
                if (m->proc_change.state == DHP_PROC_ADD_COMPLETE) {
                        struct ipc_msg s = { .type = IPC_STATUS_PROC,
                                             .status_proc = { .first = m->proc_change.index, .count = 1 } };
                        s.status_proc.state[0] = DHP_PROC_ADMITTED;
                        admitted_store(r, &s);
                        affinity_apply(r);
                }
        }
        a.proc_answer = (typeof(a.proc_answer)){ .txn = m->proc_change.txn, .state = m->proc_change.state,
                                                 .status = status, .ncalls = calls, .dur_ns = time_now_ns() - t0 };
        pthread_mutex_lock(&r->lock);
        send_msg(r, &a);
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
                send_msg(r, &m);
                pthread_mutex_unlock(&r->lock);
                e->preg = NULL;
        }
        return ret;
}

static void on_reply_part(struct remote *r, const struct ipc_msg *m) {
        struct request *req;

        pthread_mutex_lock(&r->lock);
        for (req = r->requests; req && req->id != m->id; req = req->next)
                ;
        if (m->type == IPC_STATUS_PROC) {
                admitted_store(r, m);
        } else if (req && req->hist && (m->type == IPC_RECORD || m->type == IPC_RECORD_EXT)) {
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
        } else if (req && req->st && (m->type == IPC_STATUS_MEM || m->type == IPC_STATUS_CLIENT)) {
                size_t *n = m->type == IPC_STATUS_MEM ? &req->st->nmem : &req->st->nclients;
                struct ipc_msg **v = m->type == IPC_STATUS_MEM ? &req->st->mem : &req->st->clients;
                struct ipc_msg *p = *n < 4096 ? realloc(*v, (*n + 1) * sizeof(**v)) : NULL;
                if (p) {
                        *v = p;
                        p[(*n)++] = *m;
                } else {
                        req->st_err = -ENOMEM;
                }
        } else if (req && m->type == IPC_REPLY) {
                struct entry *e = req->entry;
                req->status = m->reply.status;
                req->v32 = m->reply.v32;
                req->v64 = m->reply.v64;
                snprintf(req->text, sizeof(req->text), "%s", m->reply.text);
                if (e) {
                        pthread_mutex_unlock(&r->lock);
                        req->status = register_local(r, e, req->status);
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

/* dhpd's state of an event: the local engine's event follows it (its
 * waiters, the handles' descriptors). */
static void on_memcond_state(struct remote *r, const struct ipc_msg *m) {
        struct entry *e;
        int kind = -1;

        pthread_mutex_lock(&r->lock);
        e = entry_find(r, ENTRY_MEMCOND, m->memcond_state.sub);
        if (e)
                kind = e->mkind;
        pthread_mutex_unlock(&r->lock);
        if (kind >= 0)
                peer_inject_memcond(r->local, (enum memcond_kind)kind, m->memcond_state.flags & IPC_MEMCOND_SET);
}

static void on_device_info(struct remote *r, const struct ipc_msg *m) {
        struct entry *e;

        /* Under the lock: the device is not freed while its entry is
         * listed (dhp_device_free removes the entry first). */
        pthread_mutex_lock(&r->lock);
        e = entry_find(r, ENTRY_DEVICE, m->device_info.dev);
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
        e = entry_find(r, ENTRY_DRIVER, it->drv);
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
                send_msg(r, &a);
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
                send_msg(r, &a);
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
static bool dispatch(struct remote *r, const struct ipc_msg *m) {
        switch (m->type) {
        case IPC_PROC_CHANGE:
                if (m->proc_change.state < DHP_PROC_ADD_START || m->proc_change.state > DHP_PROC_ADD_FAILURE)
                        return false;
                on_proc_change(r, m);
                return true;
        case IPC_ARRIVAL: {
                struct entry *e;
                pthread_mutex_lock(&r->lock);
                bool existing;
                e = entry_find(r, ENTRY_ARRIVAL, m->arrival.reg);
                if (e && e->areg && (m->arrival.cls == DHP_CLASS_PROCESSOR || m->arrival.cls == DHP_CLASS_MEMORY) &&
                    arrival_filter(e, m, &existing))
                        peer_inject_arrival(r->local, e->areg, (dhp_class)m->arrival.cls,
                                            m->arrival.event == DHP_EVENT_REMOVAL ? DHP_EVENT_REMOVAL
                                                                                  : DHP_EVENT_ARRIVAL,
                                            existing, m->arrival.index, m->arrival.base, m->arrival.size,
                                            m->arrival.name);
                pthread_mutex_unlock(&r->lock);
                return true;
        }
        case IPC_RECORD:
        case IPC_RECORD_EXT:
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
        case IPC_STATUS_CLIENT:
                on_reply_part(r, m);
                return true;
        case IPC_ERROR:
        default:
                return false;
        }
}

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

static void *conn_thread(void *userdata) {
        struct remote *r = userdata;
        _cleanup_free_ uint8_t *buf = malloc(IPC_MSG_MAX);
        struct ipc_msg *m = malloc(sizeof(*m));
        struct pollfd p[2] = { { .fd = r->fd, .events = POLLIN }, { .fd = r->stop_fd, .events = POLLIN } };

        if (!m || !buf) {
                free(m);
                connection_lost(r);
                return NULL;
        }
        for (;;) {
                ssize_t n;
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[1].revents)
                        goto stopped;
                n = recv(r->fd, buf, IPC_MSG_MAX, MSG_DONTWAIT | MSG_TRUNC);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n <= 0 || (size_t)n > IPC_MSG_MAX)
                        break;
                if (ipcmsg_decode(buf, (size_t)n, m) < 0 || ipcmsg_from_client(m->type))
                        break;
                if (!dispatch(r, m))
                        break;
        }
        connection_lost(r);
stopped:
        free(m);
        return NULL;
}

/* ---- connecting ---------------------------------------------------------------- */

static int recv_timeout(int fd, void *buf, size_t size, int ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;
        int r;

        do
                r = poll(&p, 1, ms);
        while (r < 0 && errno == EINTR);
        if (r == 0)
                return -ETIMEDOUT;
        if (r < 0)
                return -errno;
        n = recv(fd, buf, size, MSG_TRUNC);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -ECONNRESET;
        if ((size_t)n > size)
                return -EMSGSIZE;
        return (int)n;
}

static int connect_once(struct remote *r, char *err, size_t errsize) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ uint8_t *buf = malloc(IPC_MSG_MAX);
        struct ipc_msg *m;
        int fd, n, ret;

        if (!buf)
                return -ENOMEM;
        strcpy(sa.sun_path, r->path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                ret = -errno;
                if (err && (ret == -ENOENT || ret == -ECONNREFUSED))
                        snprintf(err, errsize,
                                 "dhpd is not running (nothing answers on %s); start it with 'systemctl start dhpd' "
                                 "or 'dhpd --socket %s'",
                                 r->path, r->path);
                else if (err && ret == -EACCES)
                        snprintf(err, errsize, "cannot reach %s: permission denied on the socket or its directory",
                                 r->path);
                else if (err)
                        snprintf(err, errsize, "cannot connect to %s: %s", r->path, strerror(-ret));
                close(fd);
                return ret;
        }
        m = calloc(1, sizeof(*m));
        if (!m) {
                close(fd);
                return -ENOMEM;
        }
        m->type = IPC_HELLO;
        m->id = atomic_fetch_add(&r->next_id, 1);
        m->hello.major = IPC_VERSION_MAJOR;
        m->hello.minor = IPC_VERSION_MINOR;
        m->hello.pid = (uint32_t)getpid();
        snprintf(m->hello.name, sizeof(m->hello.name), "%s",
                 program_invocation_short_name[0] ? program_invocation_short_name : "client");
        n = ipcmsg_encode(m, buf, IPC_MSG_MAX);
        ret = n < 0 ? n : send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0 ? -errno : 0;
        if (ret == 0) {
                n = recv_timeout(fd, buf, IPC_MSG_MAX, HANDSHAKE_TIMEOUT_MS);
                ret = n < 0 ? n : ipcmsg_decode(buf, (size_t)n, m);
        }
        if (ret == 0 && m->type == IPC_ERROR) {
                ret = m->error.status < 0 ? m->error.status : -EPROTO;
                if (err)
                        snprintf(err, errsize, "%s", m->error.text);
        } else if (ret == 0 && m->type != IPC_WELCOME) {
                ret = -EPROTO;
        } else if (ret == 0 && m->welcome.major != IPC_VERSION_MAJOR) {
                ret = -EPROTONOSUPPORT;
                if (err)
                        snprintf(err, errsize, "protocol version mismatch: this client speaks %u.%u, dhpd speaks %u.%u",
                                 IPC_VERSION_MAJOR, IPC_VERSION_MINOR, m->welcome.major, m->welcome.minor);
        } else if (ret < 0 && err) {
                snprintf(err, errsize, "handshake with dhpd on %s failed: %s", r->path, strerror(-ret));
        }
        if (ret == 0) {
                r->welcome_flags = m->welcome.flags;
                r->welcome_minor = m->welcome.minor;
        }
        free(m);
        if (ret < 0) {
                close(fd);
                return ret;
        }
        r->fd = fd;
        return 0;
}

static int start_thread(struct remote *r) {
        int ret;

        pthread_mutex_lock(&r->lock);
        r->error = 0;
        ret = -pthread_create(&r->thread, NULL, conn_thread, r);
        r->thread_running = ret == 0;
        pthread_mutex_unlock(&r->lock);
        return ret;
}

static void stop_thread(struct remote *r) {
        uint64_t one = 1;
        pthread_t t;

        pthread_mutex_lock(&r->lock);
        if (!r->thread_running) {
                pthread_mutex_unlock(&r->lock);
                return;
        }
        t = r->thread;
        pthread_mutex_unlock(&r->lock);
        (void)!write(r->stop_fd, &one, sizeof(one));
        pthread_join(t, NULL);
        (void)!read(r->stop_fd, &one, sizeof(one));
        pthread_mutex_lock(&r->lock);
        r->thread_running = false;
        pthread_mutex_unlock(&r->lock);
}

/* The processor states, for affinity and ADD_EXISTING. */
static int refresh_states(struct remote *r) {
        struct remote_status st = { 0 };
        int ret = remote_status(r, &st);

        remote_status_deinit(&st);
        return ret;
}

static int reregister(struct remote *r) {
        struct ipc_msg m;
        struct entry *e;
        int ret = 0;

        /* Re-send every registration the daemon lost with its restart;
         * ADD_EXISTING is not repeated, INCLUDE_EXISTING reports only
         * what arrived meanwhile (arrival_filter). */
        pthread_mutex_lock(&r->lock);
        for (e = r->entries; e; e = e->next) {
                if (e->kind == ENTRY_SYNC && e->preg) {
                        m = (struct ipc_msg){ .type = IPC_PROC_REGISTER,
                                              .proc_register = { .reg = e->id, .flags = 0 } };
                        snprintf(m.proc_register.name, sizeof(m.proc_register.name), "%s", e->name);
                } else if (e->kind == ENTRY_ARRIVAL && e->areg) {
                        /* The present devices: those not known arrived
                         * while dhpd was away (its start-up resync onlines
                         * them before any client can connect). */
                        e->reconnected = true;
                        m = (struct ipc_msg){ .type = IPC_ARRIVAL_REGISTER,
                                              .arrival_register = { .reg = e->id, .cls = e->cls,
                                                                    .flags = DHP_ARRIVAL_INCLUDE_EXISTING } };
                        snprintf(m.arrival_register.name, sizeof(m.arrival_register.name), "%s", e->name);
                } else if (e->kind == ENTRY_MEMCOND) {
                        /* dhpd answers with the state now: the events are
                         * refreshed. */
                        m = (struct ipc_msg){ .type = IPC_MEMCOND_SUBSCRIBE, .memcond_subscribe = { .sub = e->id } };
                        snprintf(m.memcond_subscribe.name, sizeof(m.memcond_subscribe.name), "%.31s", e->name);
                } else {
                        continue;
                }
                m.id = 0; /* no reply: a refusal shows in status */
                if (ret == 0)
                        ret = send_msg(r, &m);
        }
        if (ret == 0 && r->nmonitors) {
                m = (struct ipc_msg){ .type = IPC_MONITOR_START };
                ret = send_msg(r, &m);
        }
        pthread_mutex_unlock(&r->lock);
        return ret;
}

int remote_open(struct remote **ret, struct engine *local, const char *path, void (*wake)(void *), void *ud,
                char *err, size_t errsize) {
        struct remote *r;
        int ret2;

        if (!path || path[0] == 0 || strlen(path) >= 108) {
                if (err)
                        snprintf(err, errsize, "bad socket path '%s'", path ? path : "");
                return -EINVAL;
        }
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->local = local;
        r->wake = wake;
        r->wake_ud = ud;
        r->fd = -1;
        atomic_init(&r->next_id, 1);
        snprintf(r->path, sizeof(r->path), "%s", path);
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->stop_fd < 0) {
                remote_free(r);
                return -errno;
        }
        ret2 = connect_once(r, err, errsize);
        if (ret2 == 0)
                ret2 = start_thread(r);
        if (ret2 == 0) {
                ret2 = refresh_states(r);
                if (ret2 == 0)
                        affinity_apply(r);
        }
        if (ret2 < 0) {
                remote_free(r);
                return ret2;
        }
        *ret = r;
        return 0;
}

void remote_free(struct remote *r) {
        if (!r)
                return;
        if (r->fd >= 0)
                shutdown(r->fd, SHUT_RDWR);
        stop_thread(r);
        if (r->split)
                peer_phases_end(TAKE_PTR(r->split), DHP_PROC_ADD_FAILURE, -ECONNRESET);
        if (r->fd >= 0)
                close(r->fd);
        if (r->stop_fd >= 0)
                close(r->stop_fd);
        while (r->entries) {
                struct entry *e = r->entries;
                r->entries = e->next;
                free(e->known);
                free(e);
        }
        free(r->admitted);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        free(r);
}

int remote_error(struct remote *r) {
        int v;

        pthread_mutex_lock(&r->lock);
        v = r->error;
        pthread_mutex_unlock(&r->lock);
        return v;
}

int remote_reconnect(struct remote *r, char *err, size_t errsize) {
        int ret;

        if (on_conn_thread(r))
                return -EDEADLK;
        stop_thread(r);
        if (r->fd >= 0) {
                close(r->fd);
                r->fd = -1;
        }
        pthread_mutex_lock(&r->lock);
        r->error = -ECONNRESET;
        pthread_mutex_unlock(&r->lock);
        ret = connect_once(r, err, errsize);
        if (ret < 0)
                return ret;
        ret = start_thread(r);
        if (ret == 0)
                ret = reregister(r);
        if (ret == 0)
                ret = refresh_states(r);
        if (ret == 0)
                affinity_apply(r);
        return ret;
}

/* ---- registrations ---------------------------------------------------------------- */

static struct entry *entry_new(struct remote *r, enum entry_kind kind, const char *name, uint32_t flags) {
        struct entry *e = calloc(1, sizeof(*e));

        if (!e)
                return NULL;
        e->kind = kind;
        e->flags = flags;
        snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
        pthread_mutex_lock(&r->lock);
        e->id = ++r->next_reg;
        e->next = r->entries;
        r->entries = e;
        pthread_mutex_unlock(&r->lock);
        return e;
}

static void entry_remove(struct remote *r, struct entry *e) {
        pthread_mutex_lock(&r->lock);
        for (struct entry **p = &r->entries; *p; p = &(*p)->next)
                if (*p == e) {
                        *p = e->next;
                        break;
                }
        pthread_mutex_unlock(&r->lock);
        free(e->known);
        free(e);
}

int remote_proc_register(struct remote *r, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                         dhp_proc_reg **ret) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_PROC_REGISTER };
        struct entry *e;
        int ret2;

        if (!cb || !ret || (flags & ~(uint32_t)DHP_PROC_ADD_EXISTING) || (name && strlen(name) >= IPC_NAME_MAX))
                return -EINVAL;
        e = entry_new(r, ENTRY_SYNC, name, flags);
        if (!e)
                return -ENOMEM;
        e->pcb = cb;
        e->userdata = userdata;
        req.entry = e;
        m.proc_register.reg = e->id;
        m.proc_register.flags = flags;
        snprintf(m.proc_register.name, sizeof(m.proc_register.name), "%s", e->name);
        ret2 = call(r, &m, &req);
        if (ret2 < 0 || !e->preg) {
                entry_remove(r, e);
                return ret2 < 0 ? ret2 : -EIO;
        }
        *ret = e->preg;
        return 0;
}

void remote_proc_deregister(struct remote *r, dhp_proc_reg *reg) {
        struct ipc_msg m = { .type = IPC_PROC_DEREGISTER };
        struct entry *e = NULL;

        pthread_mutex_lock(&r->lock);
        for (e = r->entries; e && !(e->kind == ENTRY_SYNC && e->preg == reg); e = e->next)
                ;
        if (e && !r->error) {
                m.unreg.reg = e->id;
                send_msg(r, &m);
        }
        pthread_mutex_unlock(&r->lock);
        procnotify_deregister(reg);
        if (e)
                entry_remove(r, e);
}

int remote_arrival_register(struct remote *r, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                            void *userdata, dhp_arrival_reg **ret) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_ARRIVAL_REGISTER };
        dhp_arrival_reg *areg;
        struct entry *e;
        int ret2;

        if (!cb || !ret || (flags & ~(uint32_t)DHP_ARRIVAL_INCLUDE_EXISTING) || (name && strlen(name) >= IPC_NAME_MAX))
                return -EINVAL;
        /* Local first (no INCLUDE_EXISTING: the daemon knows what exists),
         * so that an arrival read before the reply finds it. */
        ret2 = arrival_register(r->local, name, cls, 0, cb, userdata, &areg);
        if (ret2 < 0)
                return ret2;
        e = entry_new(r, ENTRY_ARRIVAL, name, flags);
        if (!e) {
                arrival_unregister(areg);
                return -ENOMEM;
        }
        pthread_mutex_lock(&r->lock);
        e->cls = cls;
        e->acb = cb;
        e->userdata = userdata;
        e->areg = areg;
        pthread_mutex_unlock(&r->lock);
        /* Always INCLUDE_EXISTING: what is present now is known, reported
         * only if the caller asked (arrival_filter). */
        m.arrival_register = (typeof(m.arrival_register)){ .reg = e->id, .cls = cls,
                                                             .flags = DHP_ARRIVAL_INCLUDE_EXISTING };
        snprintf(m.arrival_register.name, sizeof(m.arrival_register.name), "%s", e->name);
        ret2 = call(r, &m, &req);
        if (ret2 < 0) {
                entry_remove(r, e);
                arrival_unregister(areg);
                return ret2;
        }
        *ret = areg;
        return 0;
}

void remote_arrival_unregister(struct remote *r, dhp_arrival_reg *reg) {
        struct ipc_msg m = { .type = IPC_ARRIVAL_UNREGISTER };
        struct entry *e;

        pthread_mutex_lock(&r->lock);
        for (e = r->entries; e && !(e->kind == ENTRY_ARRIVAL && e->areg == reg); e = e->next)
                ;
        if (e) {
                e->areg = NULL; /* arrivals read from now on are dropped */
                if (!r->error) {
                        m.unreg.reg = e->id;
                        send_msg(r, &m);
                }
        }
        pthread_mutex_unlock(&r->lock);
        arrival_unregister(reg);
        if (e)
                entry_remove(r, e);
}

int remote_monitor_add(struct remote *r, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_MONITOR_START };
        bool first;
        int ret2;

        ret2 = engine_monitor_add(r->local, cb, userdata, ret);
        if (ret2 < 0)
                return ret2;
        pthread_mutex_lock(&r->lock);
        first = r->nmonitors++ == 0;
        pthread_mutex_unlock(&r->lock);
        if (!first)
                return 0;
        ret2 = call(r, &m, &req);
        if (ret2 < 0 && ret2 != -EALREADY) {
                remote_monitor_remove(r, *ret);
                return ret2;
        }
        return 0;
}

void remote_monitor_remove(struct remote *r, dhp_monitor *mon) {
        struct ipc_msg m = { .type = IPC_MONITOR_STOP };

        engine_monitor_remove(mon);
        pthread_mutex_lock(&r->lock);
        if (--r->nmonitors == 0 && !r->error)
                send_msg(r, &m);
        pthread_mutex_unlock(&r->lock);
}

/* ---- queries and sim control ------------------------------------------------------ */

int remote_status(struct remote *r, struct remote_status *st) {
        struct request req = { .st = st };
        struct ipc_msg m = { .type = IPC_STATUS };
        int ret;

        memset(st, 0, sizeof(*st));
        ret = call(r, &m, &req);
        if (ret == 0 && req.st_err)
                ret = req.st_err;
        if (ret == 0) {
                pthread_mutex_lock(&r->lock);
                st->ncpus = r->nadmitted;
                st->cpu_state = malloc(r->nadmitted ? r->nadmitted : 1);
                if (st->cpu_state)
                        memcpy(st->cpu_state, r->admitted, r->nadmitted);
                else
                        ret = -ENOMEM;
                pthread_mutex_unlock(&r->lock);
        }
        return ret;
}

void remote_status_deinit(struct remote_status *st) {
        free(st->cpu_state);
        free(st->mem);
        free(st->clients);
        memset(st, 0, sizeof(*st));
}

int remote_proc_count(struct remote *r, uint32_t *ret) {
        int ret2 = refresh_states(r);

        if (ret2 == 0)
                *ret = r->nadmitted;
        return ret2;
}

int remote_proc_get_state(struct remote *r, uint32_t index, dhp_proc_state *ret) {
        int ret2 = refresh_states(r);

        if (ret2 < 0)
                return ret2;
        pthread_mutex_lock(&r->lock);
        if (index >= r->nadmitted)
                ret2 = -ERANGE;
        else
                *ret = (dhp_proc_state)r->admitted[index];
        pthread_mutex_unlock(&r->lock);
        return ret2;
}

int remote_sim_cpu_add(struct remote *r, uint32_t *ret_index) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_SIM_CPU_ADD };
        int ret = call(r, &m, &req);

        if (ret >= 0 && ret_index)
                *ret_index = req.v32;
        return ret;
}

int remote_sim_memory_add(struct remote *r, uint64_t size, uint64_t *ret_base) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_SIM_MEMORY_ADD, .sim_memory_add = { size } };
        int ret = call(r, &m, &req);

        if (ret >= 0 && ret_base)
                *ret_base = req.v64;
        return ret;
}

int remote_sim_run(struct remote *r, const char *filename, const char *text, char **ret_error) {
        struct request req = { 0 };
        struct ipc_msg *m;
        size_t len = strlen(text);
        int ret;

        if (len > IPC_MSG_MAX - 1024)
                return -EMSGSIZE;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->type = IPC_SIM_RUN;
        snprintf(m->sim_run.filename, sizeof(m->sim_run.filename), "%s", filename ? filename : "scenario");
        m->sim_run.text = text;
        m->sim_run.text_len = (uint32_t)len;
        ret = call(r, m, &req);
        free(m);
        if (ret < 0 && ret_error && req.text[0])
                *ret_error = strdup(req.text);
        return ret;
}

int remote_history(struct remote *r, uint32_t count, struct remote_history *ret) {
        struct request req = { .hist = ret };
        struct ipc_msg m = { .type = IPC_HISTORY, .history = { count } };
        int ret2;

        memset(ret, 0, sizeof(*ret));
        if (r->welcome_minor < 1) {
                pthread_mutex_lock(&r->lock);
                snprintf(r->last_text, sizeof(r->last_text),
                         "this dhpd speaks protocol %u.%u and keeps no history (1.1 does): upgrade dhpd",
                         IPC_VERSION_MAJOR, r->welcome_minor);
                pthread_mutex_unlock(&r->lock);
                return -EOPNOTSUPP;
        }
        ret2 = call(r, &m, &req);
        if (ret2 >= 0 && req.st_err)
                ret2 = req.st_err;
        if (ret2 < 0)
                remote_history_deinit(ret);
        return ret2 < 0 ? ret2 : 0;
}

void remote_history_deinit(struct remote_history *h) {
        free(h->records);
        memset(h, 0, sizeof(*h));
}

int remote_ping(struct remote *r) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_PING };

        return call(r, &m, &req);
}

/* ---- memory condition events ------------------------------------------------------- */

int remote_memcond_subscribe(struct remote *r, const char *name, int kind) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_MEMCOND_SUBSCRIBE };
        struct entry *e;
        int ret;

        if (!name || strlen(name) >= IPC_MEMCOND_NAME_MAX)
                return -EINVAL;
        pthread_mutex_lock(&r->lock);
        for (e = r->entries; e; e = e->next)
                if (e->kind == ENTRY_MEMCOND && kind >= 0 && e->mkind == kind) {
                        e->mrefs++;
                        pthread_mutex_unlock(&r->lock);
                        return 0;
                }
        pthread_mutex_unlock(&r->lock);
        e = entry_new(r, ENTRY_MEMCOND, name, 0);
        if (!e)
                return -ENOMEM;
        pthread_mutex_lock(&r->lock);
        e->mkind = kind;
        e->mrefs = 1;
        pthread_mutex_unlock(&r->lock);
        m.memcond_subscribe.sub = e->id;
        snprintf(m.memcond_subscribe.name, sizeof(m.memcond_subscribe.name), "%s", name);
        ret = call(r, &m, &req);
        if (ret == 0 && kind < 0) {
                /* dhpd knows a name this library does not: of no use. */
                struct ipc_msg u = { .type = IPC_MEMCOND_UNSUBSCRIBE, .unreg = { .reg = e->id } };
                pthread_mutex_lock(&r->lock);
                send_msg(r, &u);
                pthread_mutex_unlock(&r->lock);
                ret = -ENOENT;
        }
        if (ret < 0)
                entry_remove(r, e);
        return ret;
}

void remote_memcond_unsubscribe(struct remote *r, int kind) {
        struct ipc_msg m = { .type = IPC_MEMCOND_UNSUBSCRIBE };
        struct entry *e;

        pthread_mutex_lock(&r->lock);
        for (e = r->entries; e && !(e->kind == ENTRY_MEMCOND && e->mkind == kind); e = e->next)
                ;
        if (e && --e->mrefs > 0)
                e = NULL;
        if (e && !r->error) {
                m.unreg.reg = e->id;
                send_msg(r, &m);
        }
        pthread_mutex_unlock(&r->lock);
        if (e)
                entry_remove(r, e);
}

int remote_memcond_configure(struct remote *r, const char *spec, char **ret_error) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_MEMCOND_CONFIGURE };
        int ret;

        if (strlen(spec) >= sizeof(m.memcond_configure.spec))
                return -EINVAL;
        snprintf(m.memcond_configure.spec, sizeof(m.memcond_configure.spec), "%s", spec);
        ret = call(r, &m, &req);
        if (ret < 0 && ret_error && req.text[0]) {
                *ret_error = strdup(req.text);
                if (!*ret_error)
                        return -ENOMEM;
        }
        return ret;
}

int remote_memcond_get_threshold(struct remote *r, uint32_t which, uint64_t *ret) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_MEMCOND_GET_THRESHOLD, .memcond_get_threshold = { which } };
        int ret2 = call(r, &m, &req);

        if (ret2 == 0)
                *ret = req.v64;
        return ret2;
}

/* ---- user-space devices: the mirror's ops -------------------------------------------- */

static struct entry *entry_by_ptr_locked(struct remote *r, enum entry_kind kind, const void *p) {
        for (struct entry *e = r->entries; e; e = e->next)
                if (e->kind == kind && (kind == ENTRY_DEVICE ? (void *)e->dev : (void *)e->drv) == p)
                        return e;
        return NULL;
}

/* The wire id of a device, or 0. */
static uint32_t device_id(struct remote *r, dhp_device *dev) {
        struct entry *e;
        uint32_t id;

        pthread_mutex_lock(&r->lock);
        e = entry_by_ptr_locked(r, ENTRY_DEVICE, dev);
        id = e ? e->id : 0;
        pthread_mutex_unlock(&r->lock);
        return id;
}

static int op_device_new(void *ud, dhp_device *dev) {
        struct remote *r = ud;
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_DEVICE_NEW };
        struct entry *e = entry_new(r, ENTRY_DEVICE, dhp_device_get_name(dev), 0);
        int ret;

        if (!e)
                return -ENOMEM;
        pthread_mutex_lock(&r->lock);
        e->dev = dev; /* DEVICE_INFO, before the REPLY, finds it */
        pthread_mutex_unlock(&r->lock);
        m.device_new.dev = e->id;
        snprintf(m.device_new.name, sizeof(m.device_new.name), "%s", dhp_device_get_name(dev));
        snprintf(m.device_new.setup_class, sizeof(m.device_new.setup_class), "%s", dhp_device_get_setup_class(dev));
        ret = call(r, &m, &req);
        if (ret < 0)
                entry_remove(r, e);
        return ret;
}

static void op_device_free(void *ud, dhp_device *dev) {
        struct remote *r = ud;
        struct ipc_msg m = { .type = IPC_DEVICE_FREE };
        struct entry *e, *gone = NULL;

        pthread_mutex_lock(&r->lock);
        e = entry_by_ptr_locked(r, ENTRY_DEVICE, dev);
        if (e && !r->error) {
                m.unreg.reg = e->id;
                send_msg(r, &m);
        }
        /* The device's entry and its drivers': no request runs them now. */
        for (struct entry **p = &r->entries; *p;) {
                struct entry *x = *p;
                if (x == e || (e && x->kind == ENTRY_DRIVER && x->dev_id == e->id)) {
                        *p = x->next;
                        x->next = gone;
                        gone = x;
                } else {
                        p = &x->next;
                }
        }
        pthread_mutex_unlock(&r->lock);
        while (gone) {
                e = gone;
                gone = e->next;
                free(e);
        }
}

static int op_device_set(void *ud, dhp_device *dev, uint32_t what, uint32_t value, const char *cpulist) {
        struct remote *r = ud;
        struct request req = { 0 };
        struct ipc_msg *m;
        int ret;

        if (cpulist && strlen(cpulist) >= IPC_AFFINITY_MAX)
                return -ERANGE;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->type = IPC_DEVICE_SET;
        m->device_set.dev = device_id(r, dev);
        m->device_set.what = what;
        m->device_set.value = value;
        snprintf(m->device_set.cpulist, sizeof(m->device_set.cpulist), "%s", cpulist ? cpulist : "");
        ret = call(r, m, &req);
        free(m);
        return ret;
}

static int op_device_participates(void *ud, dhp_device *dev) {
        struct remote *r = ud;
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_DEVICE_QUERY, .unreg = { .reg = device_id(r, dev) } };
        int ret = call(r, &m, &req);

        return ret < 0 ? ret : req.v32 ? 1 : 0;
}

static int op_class_set_optout(void *ud, const char *cls, bool optout) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_CLASS_OPTOUT,
                             .class_optout = { .op = IPC_CLASS_OPTOUT_SET, .optout = optout } };

        snprintf(m.class_optout.setup_class, sizeof(m.class_optout.setup_class), "%s", cls);
        return call(ud, &m, &req);
}

static int op_class_get_optout(void *ud, const char *cls, bool *ret) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_CLASS_OPTOUT, .class_optout = { .op = IPC_CLASS_OPTOUT_GET } };
        int ret2;

        snprintf(m.class_optout.setup_class, sizeof(m.class_optout.setup_class), "%s", cls);
        ret2 = call(ud, &m, &req);
        if (ret2 == 0)
                *ret = req.v32 != 0;
        return ret2;
}

static int op_driver_attach(void *ud, dhp_driver *drv, uint32_t level, const char *name) {
        struct remote *r = ud;
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_DRIVER_ATTACH };
        uint32_t dev = device_id(r, rebalance_driver_device(drv));
        struct entry *e;
        int ret;

        if (!dev)
                return -ENODEV;
        e = entry_new(r, ENTRY_DRIVER, name, 0);
        if (!e)
                return -ENOMEM;
        pthread_mutex_lock(&r->lock);
        e->drv = drv; /* a request read before the REPLY finds it */
        e->dev_id = dev;
        pthread_mutex_unlock(&r->lock);
        m.driver_attach = (typeof(m.driver_attach)){ .dev = dev, .drv = e->id, .level = level };
        snprintf(m.driver_attach.name, sizeof(m.driver_attach.name), "%s", name);
        ret = call(r, &m, &req);
        if (ret < 0)
                entry_remove(r, e);
        return ret;
}

static void op_driver_detach(void *ud, dhp_driver *drv) {
        struct remote *r = ud;
        struct ipc_msg m = { .type = IPC_DRIVER_DETACH };
        struct entry *e;

        pthread_mutex_lock(&r->lock);
        e = entry_by_ptr_locked(r, ENTRY_DRIVER, drv);
        if (e && !r->error) {
                m.unreg.reg = e->id;
                send_msg(r, &m);
        }
        pthread_mutex_unlock(&r->lock);
        if (e)
                entry_remove(r, e);
}

static const struct peer_device_ops rebalance_ops = {
        .device_new = op_device_new,
        .device_free = op_device_free,
        .device_set = op_device_set,
        .device_participates = op_device_participates,
        .class_set_optout = op_class_set_optout,
        .class_get_optout = op_class_get_optout,
        .driver_attach = op_driver_attach,
        .driver_detach = op_driver_detach,
};

const struct peer_device_ops *remote_rebalance_ops(void) {
        return &rebalance_ops;
}
