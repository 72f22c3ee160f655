/* SPDX-License-Identifier: MIT */
/*
 * A peer: one client's connection.  Its references, its send queue and the
 * caps on it (max_queue droppable notifications or half of
 * PEER_OUT_BYTES_MAX, then LOST; four times that many replies and phases,
 * or PEER_OUT_BYTES_MAX, then the peer is cut off).  Sending never blocks:
 * what the socket does not take is queued and flushed on EPOLLOUT.  And the
 * peer as a participant of the engine's synchronous phases
 * (peer_phase_proxy): a phase sent, its answer awaited.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/peer.h"
#include "daemon/server-internal.h"
#include "util/macro.h"
#include "util/time.h"

struct peer *peer_new(struct server *s, int fd, pid_t pid, uid_t uid, gid_t gid, bool privileged) {
        struct peer *c = calloc(1, sizeof(*c));
        pthread_condattr_t ca;

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
                return NULL;
        }
        c->s = s;
        c->fd = fd;
        atomic_init(&c->refs, 1);
        c->id = ++s->next_id;
        c->pid = pid;
        c->uid = uid;
        c->gid = gid;
        c->privileged = privileged;
        pthread_mutex_init(&c->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&c->cond, &ca);
        pthread_condattr_destroy(&ca);
        c->out_tail = &c->out_head;
        return c;
}

void peer_ref(struct peer *c) {
        atomic_fetch_add(&c->refs, 1);
}

void peer_unref(struct peer *c) {
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

static void arm_out_locked(struct peer *c, bool on) {
        struct epoll_event ev;

        on = on || c->streaming; /* the main thread produces on EPOLLOUT */
        ev = (struct epoll_event){ .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };
        if (c->want_out == on || c->gone)
                return;
        c->want_out = on;
        epoll_ctl(c->s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

struct outmsg *peer_queue_msg_locked(struct peer *c, const void *data, size_t len) {
        struct outmsg *m = malloc(sizeof(*m) + len);

        if (!m)
                return NULL;
        m->next = NULL;
        m->len = len;
        memcpy(m->data, data, len);
        *c->out_tail = m;
        c->out_tail = &m->next;
        c->out_n++;
        c->out_bytes += len;
        return m;
}

static int queue_locked(struct peer *c, const void *data, size_t len) {
        return peer_queue_msg_locked(c, data, len) ? 0 : -ENOMEM;
}

/* Queue the count of dropped notifications; lock held. */
static void queue_lost_locked(struct peer *c) {
        uint8_t lb[64];
        struct ipc_msg lost = { .type = IPC_LOST, .lost = { c->lost } };
        int ll = ipcmsg_encode(&lost, lb, sizeof(lb));

        if (ll > 0 && queue_locked(c, lb, (size_t)ll) == 0)
                c->lost = 0;
}

/* Send what is queued; lock held.  Never blocks.  Once the queue has room
 * again, a pending LOST goes out: the reader learns of the gap even when
 * the stream has gone quiet. */
void peer_flush_locked(struct peer *c) {
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
                        c->out_bytes -= m->len;
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
void peer_set_streaming(struct peer *c, bool on) {
        pthread_mutex_lock(&c->lock);
        c->streaming = on;
        arm_out_locked(c, c->out_head != NULL);
        pthread_mutex_unlock(&c->lock);
}

void peer_flush(struct peer *c) {
        pthread_mutex_lock(&c->lock);
        peer_flush_locked(c);
        pthread_mutex_unlock(&c->lock);
}

/* The stack buffer peer_send() tries first. */
#define PEER_SEND_SMALL 1024

int peer_send(struct peer *c, const struct ipc_msg *m, bool droppable) {
        /* Most messages (a phase, a reply, a record) fit on the stack; only
         * a larger one takes a heap buffer of the wire's maximum (not a
         * thread-local one: static TLS is zeroed into every thread at its
         * creation, 64 KiB of resident memory each). */
        uint8_t small[PEER_SEND_SMALL], *buf = small;
        _cleanup_free_ uint8_t *big = NULL;
        int len, r = 0;

        len = ipcmsg_encode(m, small, sizeof(small));
        if (len == -EMSGSIZE) {
                if (!(big = malloc(IPC_MSG_MAX)))
                        return -ENOMEM;
                buf = big;
                len = ipcmsg_encode(m, big, IPC_MSG_MAX);
        }
        if (len < 0)
                return len;
        pthread_mutex_lock(&c->lock);
        if (c->gone) {
                r = -ECONNRESET;
                goto out;
        }
        if (droppable && (c->out_n >= c->s->cfg.max_queue || c->out_bytes + (size_t)len > PEER_OUT_BYTES_MAX / 2)) {
                c->lost++;
                arm_out_locked(c, true);
                goto out;
        }
        if (!droppable && (c->out_n >= 4 * c->s->cfg.max_queue || c->out_bytes + (size_t)len > PEER_OUT_BYTES_MAX)) {
                c->gone = true;
                c->cut_off = true;
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
        peer_flush_locked(c);
out:
        pthread_mutex_unlock(&c->lock);
        return r;
}

void peer_reply(struct peer *c, uint64_t id, int status, uint32_t v32, uint64_t v64, const char *text) {
        struct ipc_msg m; /* not the whole union zeroed per reply */

        if (!id)
                return;
        m.type = IPC_REPLY;
        m.id = id;
        m.reply.status = status;
        m.reply.v32 = v32;
        m.reply.v64 = v64;
        snprintf(m.reply.text, sizeof(m.reply.text), "%s", text ? text : "");
        peer_send(c, &m, false);
}

/* ---- the peer as a participant of the engine's phases -------------------- */

/* core/peer.h's participant ops for a peer's synchronous registrations
 * (syncproxy.c joins them): a phase goes out as PROC_CHANGE from here, and
 * the transaction's thread waits here for the answer syncproxy.c stores. */
static int proxy_send(void *userdata, uint64_t txn, dhp_proc_change_state state, uint32_t index, int status) {
        struct peer *c = userdata;
        /* Only what the encoder reads for this type: an initializer would
         * zero the whole union (8 KiB), once per client and phase, most of
         * what dhpd's fan-out cost. */
        struct ipc_msg m;

        m.type = IPC_PROC_CHANGE;
        m.id = 0;
        m.proc_change.txn = txn;
        m.proc_change.state = state;
        m.proc_change.index = index;
        m.proc_change.status = status;

        pthread_mutex_lock(&c->lock);
        if (c->gone) {
                pthread_mutex_unlock(&c->lock);
                return -ECONNRESET;
        }
        c->await_txn = txn;
        c->answered = false;
        pthread_mutex_unlock(&c->lock);
        return peer_send(c, &m, false);
}

static int proxy_wait(void *userdata, uint64_t txn, uint64_t deadline_ns, int *ret_status, uint64_t *ret_at) {
        struct peer *c = userdata;
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

const struct peer_phase_ops peer_phase_proxy = { proxy_send, proxy_wait };
