/* SPDX-License-Identifier: MIT */
/*
 * The client side of dhpd's socket, its transport.  One connection thread
 * (client_conn_thread, client-events.c) reads every message; callers of
 * the API send requests and wait for their REPLY.  A request made on the
 * connection thread itself (from inside a synchronous callback or a
 * monitor) cannot wait for its reply and fails with -EDEADLK, except
 * deregistrations, which never wait.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/peer.h"
#include "lib/client-internal.h"
#include "lib/errtext.h"
#include "util/macro.h"

#define HANDSHAKE_TIMEOUT_MS 5000

bool client_on_conn_thread(struct remote *r) {
        bool v;

        pthread_mutex_lock(&r->lock);
        v = r->thread_running && pthread_equal(r->thread, pthread_self());
        pthread_mutex_unlock(&r->lock);
        return v;
}

int client_send(struct remote *r, const struct ipc_msg *m) {
        /* Most messages (an answer, a request) fit on the stack; a larger
         * one takes a heap buffer of the wire's maximum (not a thread-local
         * one: a library's static TLS is zeroed into every thread of the
         * application at its creation, 64 KiB resident each). */
        uint8_t small[1024], *buf = small;
        _cleanup_free_ uint8_t *big = NULL;
        int len;
        ssize_t n;

        len = ipcmsg_encode(m, small, sizeof(small));
        if (len == -EMSGSIZE) {
                if (!(big = malloc(IPC_MSG_MAX)))
                        return -ENOMEM;
                buf = big;
                len = ipcmsg_encode(m, big, IPC_MSG_MAX);
        }
        if (len < 0)
                return len;
        do
                n = send(r->fd, buf, (size_t)len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EPIPE ? -ECONNRESET : -errno;
        return 0;
}

static const char *errdesc(int error) {
        const char *s = strerrordesc_np(-error);

        return s ? s : "Unknown error";
}

/* The explanation of a failed request, for dhp_strerror(): dhpd's own
 * sentence when it gave one. */
static void call_explain(struct remote *r, int ret, const char *text) {
        if (text && text[0])
                errtext_set(ret, "%s: dhpd (%s) refused the request: %s", errdesc(ret), r->path, text);
        else if (ret == -ECONNRESET)
                errtext_set(ret, "%s: the connection to dhpd (%s) was lost; dhp_reconnect() connects again once "
                            "dhpd is back", errdesc(ret), r->path);
}

/* Whether the caller is a child after fork(): the connection thread
 * that would read the answer is not in this process. */
static int check_forked(struct remote *r) {
        if (getpid() == r->pid)
                return 0;
        errtext_set(-ECHILD, "%s: this context's connection to dhpd belongs to process %d; after fork() a child "
                    "must open a context of its own", errdesc(-ECHILD), (int)r->pid);
        return -ECHILD;
}

/* Send a request and wait for its REPLY (and what came before it with the
 * same id).  Returns the reply's status, or -ECONNRESET. */
int client_call(struct remote *r, struct ipc_msg *m, struct request *req) {
        char text[IPC_TEXT_MAX];
        int ret;

        ret = check_forked(r);
        if (ret < 0)
                return ret;
        if (client_on_conn_thread(r)) {
                errtext_set(-EDEADLK, "%s: this request waits for dhpd's answer, which the connection thread "
                            "reads, and was made on that thread (from a callback or a monitor)",
                            errdesc(-EDEADLK));
                return -EDEADLK;
        }
        req->id = m->id = atomic_fetch_add(&r->next_id, 1);
        pthread_mutex_lock(&r->lock);
        if (r->error) {
                pthread_mutex_unlock(&r->lock);
                return r->error;
        }
        req->next = r->requests;
        r->requests = req;
        ret = client_send(r, m);
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
        snprintf(text, sizeof(text), "%s", ret < 0 && req->done ? req->text : "");
        pthread_mutex_unlock(&r->lock);
        if (ret < 0)
                call_explain(r, ret, text);
        return ret;
}

const char *remote_last_text(struct remote *r) {
        return r->last_text;
}

/* ---- connecting ---------------------------------------------------------------- */

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is left of the handshake's time, at least 1 ms (0 would mean
 * "forever" to SO_SNDTIMEO and "at once" to poll). */
static int ms_left(int64_t deadline) {
        int64_t left = deadline - now_ms();

        return left < 1 ? 1 : (int)left;
}

static int set_send_timeout(int fd, int ms) {
        struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

        return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ? -errno : 0;
}

static int recv_timeout(int fd, void *buf, size_t size, int64_t deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;
        int r;

        do
                r = poll(&p, 1, ms_left(deadline));
        while (r < 0 && errno == EINTR && now_ms() < deadline);
        if (r == 0 || (r < 0 && errno == EINTR))
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

/* A connected socket, or -errno with a sentence in err.  A blocking
 * AF_UNIX connect() waits while the listener's backlog is full, for ever
 * unless SO_SNDTIMEO bounds it: then it fails with EAGAIN, which is the
 * timeout we report. */
static int connect_socket(struct remote *r, int64_t deadline, char *err, size_t errsize) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, ret;

        strcpy(sa.sun_path, r->path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        ret = set_send_timeout(fd, ms_left(deadline));
        if (ret == 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                ret = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
        if (ret == 0)
                return fd;
        if (err && (ret == -ENOENT || ret == -ECONNREFUSED))
                snprintf(err, errsize,
                         "dhpd is not running (nothing answers on %s); start it with 'systemctl start dhpd' "
                         "or 'dhpd --socket %s'",
                         r->path, r->path);
        else if (err && ret == -EACCES)
                snprintf(err, errsize, "cannot reach %s: permission denied on the socket or its directory", r->path);
        else if (err && ret == -ETIMEDOUT)
                snprintf(err, errsize,
                         "dhpd did not accept the connection within %d s (its backlog on %s stays full: dhpd is "
                         "stuck or flooded)",
                         HANDSHAKE_TIMEOUT_MS / 1000, r->path);
        else if (err)
                snprintf(err, errsize, "cannot connect to %s: %s", r->path, strerror(-ret));
        close(fd);
        return ret;
}

/* Connect and say HELLO: the whole of it, connect() included, within
 * HANDSHAKE_TIMEOUT_MS. */
static int connect_once(struct remote *r, char *err, size_t errsize) {
        int64_t deadline = now_ms() + HANDSHAKE_TIMEOUT_MS;
        _cleanup_free_ uint8_t *buf = malloc(IPC_MSG_MAX);
        struct ipc_msg *m;
        int fd, n, ret;

        if (!buf)
                return -ENOMEM;
        fd = connect_socket(r, deadline, err, errsize);
        if (fd < 0)
                return fd;
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
        ret = n < 0 ? n : set_send_timeout(fd, ms_left(deadline));
        if (ret == 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
                ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
        if (ret == 0) {
                n = recv_timeout(fd, buf, IPC_MSG_MAX, deadline);
                ret = n < 0 ? n : ipcmsg_decode(buf, (size_t)n, m);
        }
        /* The connection thread's sends block as before: dhpd's flow
         * control, not a timeout, paces them. */
        if (ret == 0)
                ret = set_send_timeout(fd, 0);
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
        } else if (ret == -ETIMEDOUT && err) {
                snprintf(err, errsize, "dhpd on %s did not answer HELLO within %d s", r->path,
                         HANDSHAKE_TIMEOUT_MS / 1000);
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
        atomic_store(&r->stopping, false);
        ret = -pthread_create(&r->thread, NULL, client_conn_thread, r);
        r->thread_running = ret == 0;
        pthread_mutex_unlock(&r->lock);
        return ret;
}

static void stop_thread(struct remote *r) {
        pthread_t t;

        pthread_mutex_lock(&r->lock);
        if (!r->thread_running) {
                pthread_mutex_unlock(&r->lock);
                return;
        }
        t = r->thread;
        pthread_mutex_unlock(&r->lock);
        atomic_store(&r->stopping, true);
        if (r->fd >= 0)
                shutdown(r->fd, SHUT_RD); /* wakes its recv() */
        pthread_join(t, NULL);
        pthread_mutex_lock(&r->lock);
        r->thread_running = false;
        pthread_mutex_unlock(&r->lock);
}

int client_refresh_states(struct remote *r) {
        struct remote_status st = { 0 };
        int ret = remote_status(r, &st);

        remote_status_deinit(&st);
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
        r->pid = getpid();
        affinity_init(&r->aff);
        atomic_init(&r->next_id, 1);
        snprintf(r->path, sizeof(r->path), "%s", path);
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        pthread_cond_init(&r->stream_cond, NULL);
        ret2 = connect_once(r, err, errsize);
        if (ret2 == 0)
                ret2 = start_thread(r);
        if (ret2 == 0) {
                ret2 = client_refresh_states(r);
                if (ret2 == 0)
                        client_affinity_apply(r);
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
        atomic_store(&r->stopping, true);
        if (r->fd >= 0)
                shutdown(r->fd, SHUT_RDWR);
        stop_thread(r);
        if (r->split)
                peer_phases_end(TAKE_PTR(r->split), DHP_PROC_ADD_FAILURE, -ECONNRESET);
        if (r->fd >= 0)
                close(r->fd);
        while (r->entries) {
                struct entry *e = r->entries;
                r->entries = e->next;
                client_entry_free(e);
        }
        /* Every withheld processor back to its thread. */
        affinity_deinit(&r->aff);
        free(r->admitted);
        free(r->view);
        free(r->seen);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        pthread_cond_destroy(&r->stream_cond);
        free(r);
}

int remote_affinity_seam(struct remote *r, const struct affinity_sys *sys, bool on_simulated) {
        affinity_set_sys(&r->aff, sys ? sys : &affinity_sys_kernel);
        r->aff_on_simulated = on_simulated;
        client_affinity_apply(r);
        return 0;
}

void remote_abandon(struct remote *r) {
        if (!r)
                return;
        if (r->fd >= 0)
                close(r->fd);
        r->fd = -1;
}

int remote_error(struct remote *r) {
        int v;

        pthread_mutex_lock(&r->lock);
        v = r->error;
        pthread_mutex_unlock(&r->lock);
        return v;
}

int remote_reconnect(struct remote *r, char *err, size_t errsize) {
        int ret = check_forked(r);

        if (ret < 0)
                return ret;
        if (client_on_conn_thread(r))
                return -EDEADLK;
        /* A live connection is kept: tearing it down would drop this
         * process out of every transaction until it re-registered. */
        if (remote_error(r) == 0) {
                errtext_set(-EISCONN, "%s: the connection to dhpd (%s) is live; dhp_reconnect() is for after "
                            "dhp_process() returned -ECONNRESET", errdesc(-EISCONN), r->path);
                return -EISCONN;
        }
        stop_thread(r);
        if (r->fd >= 0) {
                close(r->fd);
                r->fd = -1;
        }
        pthread_mutex_lock(&r->lock);
        r->error = -ECONNRESET;
        pthread_mutex_unlock(&r->lock);
        /* What this process's callbacks saw admitted, at the first
         * attempt after the loss (the connection thread, which alone
         * writes r->admitted, is stopped): the re-registration's answer
         * brings what they missed (doc/model.md D36). */
        if (!r->seen_kept) {
                free(r->seen);
                r->seen = r->nadmitted ? malloc(r->nadmitted) : NULL;
                if (r->nadmitted && !r->seen)
                        return -ENOMEM;
                if (r->nadmitted)
                        memcpy(r->seen, r->view, r->nadmitted);
                r->nseen = r->nadmitted;
                r->seen_kept = true;
        }
        ret = connect_once(r, err, errsize);
        if (ret < 0)
                return ret;
        ret = start_thread(r);
        if (ret == 0)
                ret = client_reregister(r);
        if (ret == 0)
                ret = client_refresh_states(r);
        if (ret == 0)
                client_affinity_apply(r);
        pthread_mutex_lock(&r->lock);
        if (ret == 0)
                r->seen_kept = false; /* a later loss takes a new one */
        pthread_mutex_unlock(&r->lock);
        return ret;
}

