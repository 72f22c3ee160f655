/* SPDX-License-Identifier: MIT */
/*
 * dhpd's client socket, tied together: the request table (the privilege
 * rule of every message a client may send is in it), dispatch, reading a
 * peer, dropping one, and the server's life.  The roles themselves live in
 * the files server-internal.h lists.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/names.h"
#include "daemon/server-internal.h"
#include "util/macro.h"
#include "util/time.h"

static bool handle_hello(struct server *s, struct peer *c, const struct ipc_msg *m);
static bool handle_ping(struct server *s, struct peer *c, const struct ipc_msg *m);

/* Every message a client may send (ipcmsg_from_client()): one row each. */
const struct server_request server_requests[] = {
        /* type                       priv                       needs                     handler */
        { IPC_HELLO,                  REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    handle_hello },
        { IPC_PING,                   REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    handle_ping },
        { IPC_PROC_REGISTER,          REQUEST_PRIVILEGED,        REQUEST_NEEDS_NOTHING,    syncproxy_handle_register },
        { IPC_PROC_DEREGISTER,        REQUEST_PRIVILEGED,        REQUEST_NEEDS_NOTHING,    syncproxy_handle_deregister },
        { IPC_PROC_ANSWER,            REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    syncproxy_handle_answer },
        { IPC_ARRIVAL_REGISTER,       REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    subscribe_handle_arrival_register },
        { IPC_ARRIVAL_UNREGISTER,     REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    subscribe_handle_arrival_unregister },
        /* Not a request: the answer to a memory removal query (1.3). */
        { IPC_ARRIVAL_ANSWER,         REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    subscribe_handle_arrival_answer },
        { IPC_MONITOR_START,          REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    status_handle_monitor_start },
        { IPC_MONITOR_STOP,           REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    status_handle_monitor_stop },
        { IPC_HISTORY,                REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    status_handle_history },
        { IPC_STATUS,                 REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    status_handle_status },
        { IPC_SIM_CPU_ADD,            REQUEST_PRIVILEGED,        REQUEST_NEEDS_SIM,        simctl_handle },
        { IPC_SIM_MEMORY_ADD,         REQUEST_PRIVILEGED,        REQUEST_NEEDS_SIM,        simctl_handle },
        { IPC_SIM_RUN,                REQUEST_PRIVILEGED,        REQUEST_NEEDS_SIM,        simctl_handle },
        { IPC_SIM_CPU_SURPRISE,       REQUEST_PRIVILEGED,        REQUEST_NEEDS_SIM,        simctl_handle },
        { IPC_CPU_REMOVE,             REQUEST_PRIVILEGED,        REQUEST_NEEDS_NOTHING,    removectl_handle },
        { IPC_MEMORY_REMOVE,          REQUEST_PRIVILEGED,        REQUEST_NEEDS_NOTHING,    removectl_handle },
        { IPC_CPU_ONLINE,             REQUEST_PRIVILEGED,        REQUEST_NEEDS_NOTHING,    onlinectl_handle },
        { IPC_MEMCOND_SUBSCRIBE,      REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    subscribe_handle_memcond_subscribe },
        { IPC_MEMCOND_UNSUBSCRIBE,    REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    subscribe_handle_memcond_unsubscribe },
        { IPC_MEMCOND_CONFIGURE,      REQUEST_PRIVILEGED,        REQUEST_NEEDS_NOTHING,    subscribe_handle_memcond_configure },
        { IPC_MEMCOND_GET_THRESHOLD,  REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    subscribe_handle_memcond_get_threshold },
        { IPC_DEVICE_NEW,             REQUEST_PRIVILEGED,        REQUEST_NEEDS_REBALANCE,  devproxy_handle_device_new },
        { IPC_DEVICE_FREE,            REQUEST_ANYONE,            REQUEST_NEEDS_REBALANCE,  devproxy_handle_device_free },
        { IPC_DEVICE_SET,             REQUEST_PRIVILEGED,        REQUEST_NEEDS_REBALANCE,  devproxy_handle_device_set },
        { IPC_DEVICE_QUERY,           REQUEST_ANYONE,            REQUEST_NEEDS_REBALANCE,  devproxy_handle_device_query },
        { IPC_CLASS_OPTOUT,           REQUEST_PRIVILEGED_TO_SET, REQUEST_NEEDS_REBALANCE,  devproxy_handle_class_optout },
        { IPC_DRIVER_ATTACH,          REQUEST_PRIVILEGED,        REQUEST_NEEDS_REBALANCE,  devproxy_handle_driver_attach },
        { IPC_DRIVER_DETACH,          REQUEST_ANYONE,            REQUEST_NEEDS_REBALANCE,  devproxy_handle_driver_detach },
        /* Not a request: a driver's answer, which any driver's owner sends. */
        { IPC_DEVICE_ANSWER,          REQUEST_ANYONE,            REQUEST_NEEDS_NOTHING,    devproxy_handle_answer },
};
const size_t server_requests_count = ELEMENTSOF(server_requests);

const struct server_request *server_request_find(uint16_t type) {
        for (size_t i = 0; i < ELEMENTSOF(server_requests); i++)
                if (server_requests[i].type == type)
                        return &server_requests[i];
        return NULL;
}

bool server_request_needs_privilege(const struct server_request *rq, const struct ipc_msg *m) {
        switch (rq->priv) {
        case REQUEST_ANYONE:
                return false;
        case REQUEST_PRIVILEGED:
                return true;
        case REQUEST_PRIVILEGED_TO_SET:
                return m->type == IPC_CLASS_OPTOUT && m->class_optout.op != IPC_CLASS_OPTOUT_GET;
        }
        return true;
}

static const char *need_privilege(struct server *s, char *buf, size_t size) {
        if (s->have_group)
                snprintf(buf, size, "permission denied: this needs root or membership in group '%s'", s->cfg.group);
        else
                snprintf(buf, size, "permission denied: this needs root (group '%s' does not exist)", s->cfg.group);
        return buf;
}

static bool handle_hello(struct server *s, struct peer *c, const struct ipc_msg *m) {
        char text[IPC_DETAIL_MAX];
        struct ipc_msg w = { .type = IPC_WELCOME, .id = m->id };

        if (c->hello_done) {
                server_violation(s, c, -EPROTO, "a second HELLO");
                return false;
        }
        if (m->hello.major != IPC_VERSION_MAJOR) {
                snprintf(text, sizeof(text),
                         "protocol version mismatch: the client speaks %u.%u, dhpd speaks %u.%u",
                         m->hello.major, m->hello.minor, IPC_VERSION_MAJOR, IPC_VERSION_MINOR);
                struct ipc_msg e = { .type = IPC_ERROR, .error = { .status = -EPROTONOSUPPORT } };
                snprintf(e.error.text, sizeof(e.error.text), "%s", text);
                peer_send(c, &e, false);
                server_peer_drop(s, c, text);
                return false;
        }
        c->hello_done = true;
        listener_handshake_done(s, c);
        c->minor = m->hello.minor;
        {
                char prefix[49]; /* room for "[pid]": cut on a character, still UTF-8 */
                names_copy(m->hello.name[0] ? m->hello.name : "client", prefix, sizeof(prefix));
                snprintf(c->name, sizeof(c->name), "%s[%d]", prefix, (int)c->pid);
        }
        w.welcome = (typeof(w.welcome)){ .major = IPC_VERSION_MAJOR, .minor = IPC_VERSION_MINOR,
                                         .flags = (c->privileged ? IPC_WELCOME_PRIVILEGED : 0) |
                                                  (s->sim ? IPC_WELCOME_SIMULATED : 0),
                                         .max_regs = s->cfg.max_regs, .max_queue = s->cfg.max_queue,
                                         .max_msg = IPC_MSG_MAX, .client_id = c->id };
        peer_send(c, &w, false);
        log_debug(&s->log, "client %s connected (uid %u%s)", c->name, (unsigned)c->uid,
                 c->privileged ? ", privileged" : "");
        return true;
}

static bool handle_ping(struct server *s, struct peer *c, const struct ipc_msg *m) {
        peer_reply(c, m->id, 0, 0, 0, NULL);
        return true;
}

/* The text fields of a request that dhpd keeps, prints or passes on: the
 * first that is not printable UTF-8, NULL when all are.  (A scenario's text
 * is not a name: its lines are parsed, and quoted escaped.) */
static const char *bad_text_field(const struct ipc_msg *m) {
#define CHECK(field)                                              \
        do {                                                      \
                if (!names_valid(m->field, sizeof(m->field) - 1)) \
                        return #field;                            \
        } while (0)
        switch (m->type) {
        case IPC_HELLO: CHECK(hello.name); break;
        case IPC_PROC_REGISTER: CHECK(proc_register.name); break;
        case IPC_ARRIVAL_REGISTER: CHECK(arrival_register.name); break;
        case IPC_MEMCOND_SUBSCRIBE: CHECK(memcond_subscribe.name); break;
        case IPC_MEMCOND_CONFIGURE: CHECK(memcond_configure.spec); break;
        case IPC_DEVICE_NEW: CHECK(device_new.name); CHECK(device_new.setup_class); break;
        case IPC_DEVICE_SET: CHECK(device_set.cpulist); break;
        case IPC_CLASS_OPTOUT: CHECK(class_optout.setup_class); break;
        case IPC_DRIVER_ATTACH: CHECK(driver_attach.name); break;
        case IPC_SIM_RUN: CHECK(sim_run.filename); break;
        default: break;
        }
        return NULL;
#undef CHECK
}

/* The checks of the request's row, in order, then its handler.  Returns
 * false when the peer was dropped. */
static bool dispatch(struct server *s, struct peer *c, const struct ipc_msg *m) {
        const struct server_request *rq;
        char text[IPC_DETAIL_MAX];
        const char *bad;

        if (!c->hello_done && m->type != IPC_HELLO) {
                server_violation(s, c, -EPROTO, "the first message must be HELLO");
                return false;
        }
        rq = server_request_find(m->type);
        if (!rq) {
                snprintf(text, sizeof(text), "a client may not send %s (type 0x%x)", ipcmsg_type_name(m->type),
                         m->type);
                server_violation(s, c, -EPROTO, text);
                return false;
        }
        if (rq->needs == REQUEST_NEEDS_SIM && !s->sim) {
                peer_reply(c, m->id, -EOPNOTSUPP, 0, 0,
                           "dhpd does not run the simulated platform (start it with --platform sim)");
                return true;
        }
        if (rq->needs == REQUEST_NEEDS_REBALANCE && !s->rb) {
                peer_reply(c, m->id, -EOPNOTSUPP, 0, 0, "this dhpd does not rebalance user-space devices");
                return true;
        }
        if (!c->privileged && server_request_needs_privilege(rq, m)) {
                peer_reply(c, m->id, -EPERM, 0, 0, need_privilege(s, text, sizeof(text)));
                return true;
        }
        if ((bad = bad_text_field(m))) {
                snprintf(text, sizeof(text), "%s: %s is not printable UTF-8 (no control characters)",
                         ipcmsg_type_name(m->type), bad);
                if (m->type == IPC_HELLO) {
                        server_violation(s, c, -EINVAL, text);
                        return false;
                }
                peer_reply(c, m->id, -EINVAL, 0, 0, text);
                return true;
        }
        return rq->fn(s, c, m);
}

/* recv() returned 0: the peer's end closed, or an empty datagram (which
 * SOCK_SEQPACKET delivers as 0 bytes too).  The shutdown shows in poll. */
static bool peer_hung_up(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLRDHUP };

        return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* One datagram of n bytes in buf: decode, check, dispatch (the peer may be
 * dropped on the way: the caller reads no more of it in this batch). */
static void peer_handle(struct server *s, struct peer *c, const uint8_t *buf, ssize_t n) {
        struct ipc_msg *m = s->in;
        char why[128];
        int r;

        if ((size_t)n > IPC_MSG_MAX) {
                snprintf(why, sizeof(why), "a message of %zd bytes (at most %d)", n, IPC_MSG_MAX);
                server_violation(s, c, -EMSGSIZE, why);
                return;
        }
        m->type = 0;
        m->id = 0;
        r = ipcmsg_decode(buf, (size_t)n, m);
        /* Named by this datagram's own header, when it has one. */
        if (n < IPC_HEADER_SIZE)
                m->type = 0;
        if (r == -EOPNOTSUPP && c->hello_done) {
                /* A method this daemon does not have yet. */
                peer_reply(c, m->id, -EOPNOTSUPP, 0, 0, "not supported by this dhpd");
                return;
        }
        if (!c->hello_done && (r < 0 || m->type != IPC_HELLO)) {
                server_violation(s, c, -EPROTO, "the first message must be HELLO");
                return;
        }
        if (r < 0) {
                if (n < IPC_HEADER_SIZE)
                        snprintf(why, sizeof(why), "a malformed message (%zd bytes, shorter than the header)", n);
                else
                        snprintf(why, sizeof(why), "a malformed message (%s, %zd bytes): %s",
                                 ipcmsg_type_name(m->type), n, strerror(-r));
                server_violation(s, c, r, why);
                return;
        }
        if (!ipcmsg_from_client(m->type)) {
                snprintf(why, sizeof(why), "a client may not send %s", ipcmsg_type_name(m->type));
                server_violation(s, c, -EPROTO, why);
                return;
        }
        dispatch(s, c, m);
}

static void peer_read(struct server *s, struct peer *c) {
        static uint8_t buf[IPC_MSG_MAX];
        ssize_t n;

        /* One datagram per readiness: the socket is level-triggered, so a
         * client with more waiting is reported again in the next batch,
         * after every other ready client had its turn.  Reading on to
         * EAGAIN cost a second recv() per message in the common case (one
         * answer per client and phase). */
        n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        server_peer_drop(s, c, NULL);
                return;
        }
        if (n == 0 && peer_hung_up(c->fd)) {
                bool cut_off;
                pthread_mutex_lock(&c->lock);
                cut_off = c->cut_off;
                pthread_mutex_unlock(&c->lock);
                server_peer_drop(s, c, cut_off ? "it does not read: more replies waiting for it than "
                                                 "its queue holds" : NULL);
                return;
        }
        peer_handle(s, c, buf, n);
}

void server_peer_drop(struct server *s, struct peer *c, const char *why) {
        struct job *j;

        if (why)
                log_notice(&s->log, "client %s (pid %d, uid %u) dropped: %s", c->name[0] ? c->name : "?", (int)c->pid,
                           (unsigned)c->uid, why);
        else
                log_debug(&s->log, "client %s (pid %d) disconnected", c->name[0] ? c->name : "?", (int)c->pid);
        pthread_mutex_lock(&c->lock);
        c->gone = true;
        pthread_cond_broadcast(&c->cond);
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        shutdown(c->fd, SHUT_RDWR);
        pthread_mutex_unlock(&c->lock);
        if (c->mon) {
                engine_monitor_remove(c->mon);
                c->mon = NULL;
        }
        subscribe_drop(s, c);
        status_stream_drop(s, c);
        listener_handshake_done(s, c);
        list_remove(&c->node);
        c->listed = false;
        s->nclients--;
        /* A descriptor is free again. */
        listener_pause(s, false);
        /* The proxy may be in a phase that waits on the main thread's
         * reading of other clients: release it on the worker.  So are
         * the client's devices, which a sequence may hold (their proxies
         * ask no more: the client is gone).  An unprivileged peer can hold
         * neither: it leaves nothing for the worker, so that connecting
         * and leaving in a loop queues no work behind a busy worker. */
        if (c->privileged) {
                j = job_new(c, JOB_DROP, 0);
                if (j) {
                        devproxy_unlist_all(c, j);
                        job_queue(s, j);
                }
        }
        peer_unref(c);
}

void server_violation(struct server *s, struct peer *c, int status, const char *why) {
        struct ipc_msg m = { .type = IPC_ERROR, .error = { .status = status } };

        snprintf(m.error.text, sizeof(m.error.text), "protocol violation: %s", why);
        peer_send(c, &m, false);
        peer_flush(c);
        server_peer_drop(s, c, m.error.text);
}

static bool is_peer(struct server *s, void *ptr) {
        return ptr != &s->lfd && ptr != &s->tfd;
}

int server_process(struct server *s) {
        struct epoll_event ev[32];
        int n;

        n = epoll_wait(s->epfd, ev, 32, 0);
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        /* A peer dropped earlier in this batch is still in ev[]: each
         * peer of the batch is held until its end, and skipped once no
         * longer listed (no scan of every client per event). */
        for (int i = 0; i < n; i++)
                if (is_peer(s, ev[i].data.ptr))
                        peer_ref(ev[i].data.ptr);
        for (int i = 0; i < n; i++) {
                struct peer *c = ev[i].data.ptr;
                if (ev[i].data.ptr == &s->lfd) {
                        listener_accept(s);
                        continue;
                }
                if (ev[i].data.ptr == &s->tfd) {
                        listener_expire_handshakes(s);
                        continue;
                }
                if (!c->listed)
                        continue;
                if (ev[i].events & EPOLLOUT) {
                        peer_flush(c);
                        if (c->nstreams)
                                status_stream_continue(s, c);
                }
                if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                        peer_read(s, c);
        }
        for (int i = 0; i < n; i++) {
                struct peer *c = ev[i].data.ptr;
                if (!is_peer(s, c))
                        continue;
                pthread_mutex_lock(&c->lock);
                if (c->wake_answer) {
                        c->wake_answer = false;
                        pthread_cond_broadcast(&c->cond);
                }
                pthread_mutex_unlock(&c->lock);
                peer_unref(c);
        }
        listener_refusals_flush(s, time_now_ns());
        return 0;
}

void server_get_stats(struct server *s, struct server_stats *ret) {
        unsigned hs = 0;

        list_for_each(p, &s->handshaking)
                hs++;
        *ret = (struct server_stats){ .clients = s->nclients, .handshaking = hs, .streams = s->nstreams,
                                      .refused = s->refused_total, .handshake_expired = s->handshake_expired };
        pthread_mutex_lock(&s->jlock);
        ret->jobs = s->njobs;
        ret->jobs_refused = s->jobs_refused;
        pthread_mutex_unlock(&s->jlock);
}

/* The caps not given: derived from max_clients. */
static void config_fill(struct server_config *cfg) {
        if (!cfg->max_clients_per_uid)
                cfg->max_clients_per_uid = cfg->max_clients / 8 ? cfg->max_clients / 8 : 1;
        if (!cfg->reserved_clients)
                cfg->reserved_clients = cfg->max_clients / 16 ? cfg->max_clients / 16 : 1;
        if (cfg->reserved_clients >= cfg->max_clients)
                cfg->reserved_clients = cfg->max_clients - 1;
        if (!cfg->handshake_timeout_ns)
                cfg->handshake_timeout_ns = 5 * NSEC_PER_SEC;
        if (!cfg->max_jobs)
                cfg->max_jobs = 16;
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
        /* Not zeroed: the decoder writes what a handler reads, and the
         * pages of the 8 KiB union a message never reaches stay untouched. */
        s->in = malloc(sizeof(*s->in));
        if (!s->in) {
                free(s);
                return -ENOMEM;
        }
        s->e = e;
        s->sim = sim;
        s->log = log ? *log : (struct logger){ 0 };
        s->cfg = *cfg;
        config_fill(&s->cfg);
        s->lfd = s->epfd = s->tfd = s->spare_fd = -1;
        list_init(&s->handshaking);
        snprintf(s->path, sizeof(s->path), "%s", cfg->socket_path);
        list_init(&s->clients);
        pthread_mutex_init(&s->jlock, NULL);
        pthread_cond_init(&s->jcond, NULL);
        s->jtail = &s->jhead;
        listener_resolve_group(s, cfg->group);
        s->cfg.group = cfg->group ? cfg->group : ""; /* the caller's, kept alive by it */
        engine_set_sync_deadline(e, cfg->deadline_ns ? cfg->deadline_ns : 2 * NSEC_PER_SEC, cfg->late_veto);

        r = status_history_start(s);
        if (r < 0)
                goto fail;
        r = listener_listen(s);
        if (r < 0)
                goto fail;
        s->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (s->epfd < 0) {
                r = -errno;
                goto fail;
        }
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &s->lfd };
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
                r = -errno;
                goto fail;
        }
        s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &s->tfd };
        if (s->tfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev) < 0) {
                r = -errno;
                goto fail;
        }
        r = worker_start(s);
        if (r < 0)
                goto fail;
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
                server_peer_drop(s, list_entry(s->clients.next, struct peer, node), NULL);
        worker_stop(s);
        if (s->lfd >= 0) {
                close(s->lfd);
                unlink(s->path);
        }
        if (s->epfd >= 0)
                close(s->epfd);
        if (s->tfd >= 0)
                close(s->tfd);
        if (s->spare_fd >= 0)
                close(s->spare_fd);
        status_history_stop(s);
        pthread_mutex_destroy(&s->jlock);
        pthread_cond_destroy(&s->jcond);
        free(s->in);
        free(s);
}

void server_set_rebalance(struct server *s, struct rebalance *rb) {
        s->rb = rb;
}

int server_get_fd(struct server *s) {
        return s->epfd;
}
