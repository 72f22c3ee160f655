/* SPDX-License-Identifier: MIT */
/*
 * A peer's subscriptions on dhpd's engine, answered on the main thread:
 * arrival registrations (ARRIVAL for each device that arrives, and those
 * present at registration when asked) and memory condition subscriptions
 * (MEMCOND_STATE at subscription and on every change), with the memory
 * thresholds they are judged by.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon/server-internal.h"
#include "util/time.h"

static void arrival_send(struct cl_arrival *a, const dhp_device_event *ev, bool droppable) {
        /* The type, the id and the arrival member only: an initializer
         * would zero the whole 8 KiB union once per client and arrival. */
        struct ipc_msg m;
        uint32_t index = 0;
        uint64_t base = 0, size = 0;

        m.type = IPC_ARRIVAL;
        m.id = 0;
        m.arrival = (typeof(m.arrival)){ 0 };
        m.arrival.reg = a->id;
        m.arrival.cls = dhp_device_event_get_class(ev);
        m.arrival.event = dhp_device_event_get_event(ev);
        m.arrival.flags = (dhp_device_event_is_existing(ev) ? IPC_ARRIVAL_EXISTING : 0) |
                          (dhp_device_event_is_surprise(ev) ? IPC_ARRIVAL_SURPRISE : 0);
        if (dhp_device_event_get_processor(ev, &index, NULL) == 0)
                m.arrival.index = index;
        if (dhp_device_event_get_memory(ev, &base, &size) == 0) {
                m.arrival.base = base;
                m.arrival.size = size;
        }
        snprintf(m.arrival.name, sizeof(m.arrival.name), "%s", dhp_device_event_get_name(ev));
        peer_send(a->c, &m, droppable);
}

/*
 * A memory removal's QUERY_REMOVE or REMOVE_CANCEL (doc/model.md D34), on
 * the thread running the removal (dhpd's worker): sent to the client, whose
 * callback runs on its connection thread, and its answer awaited against
 * the [sync] deadline as a synchronous phase's is (D26).  A veto in the
 * answer vetoes the removal here; a late answer vetoes only under
 * late_policy = veto; a client that went is not waited for.  The wait
 * shares the peer's answer slot with the synchronous phases: both run
 * under the engine's transaction lock, never at once.
 */
static void arrival_query(struct cl_arrival *a, const dhp_device_event *ev) {
        static atomic_uint_fast64_t next_seq;
        struct peer *c = a->c;
        struct server *s = c->s;
        struct ipc_msg m = { .type = IPC_ARRIVAL_QUERY };
        uint64_t seq = (1ULL << 63) | (atomic_fetch_add(&next_seq, 1) + 1), base = 0, size = 0;
        uint64_t deadline = time_now_ns() + (s->cfg.deadline_ns ? s->cfg.deadline_ns : 2 * NSEC_PER_SEC);
        struct timespec ts = { .tv_sec = (time_t)(deadline / NSEC_PER_SEC), .tv_nsec = (long)(deadline % NSEC_PER_SEC) };
        int answer = 0;
        bool answered;

        dhp_device_event_get_memory(ev, &base, &size);
        m.arrival_query = (typeof(m.arrival_query)){ .seq = seq, .reg = a->id, .event = dhp_device_event_get_event(ev),
                                                     .status = dhp_device_event_get_status(ev), .base = base,
                                                     .size = size };
        snprintf(m.arrival_query.name, sizeof(m.arrival_query.name), "%s", dhp_device_event_get_name(ev));
        pthread_mutex_lock(&c->lock);
        if (c->gone) {
                pthread_mutex_unlock(&c->lock);
                return;
        }
        c->await_txn = seq;
        c->answered = false;
        pthread_mutex_unlock(&c->lock);
        if (peer_send(c, &m, false) < 0)
                return;
        pthread_mutex_lock(&c->lock);
        while (!c->gone && !(c->answered && c->await_txn == seq))
                if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
                        break;
        answered = c->answered && c->await_txn == seq;
        if (answered)
                answer = c->answer;
        else if (!c->gone)
                c->late++;
        pthread_mutex_unlock(&c->lock);
        if (dhp_device_event_get_event(ev) != DHP_EVENT_QUERY_REMOVE)
                return;
        if (answered && answer < 0)
                dhp_device_event_veto(ev, answer);
        else if (!answered && !c->gone && s->cfg.late_veto)
                dhp_device_event_veto(ev, -ETIMEDOUT);
        if (!answered && !c->gone)
                log_warning(&s->log, "client %s (pid %d) missed the deadline of a memory removal query", c->name,
                            (int)c->pid);
}

static void arrival_cb(void *userdata, const dhp_device_event *ev) {
        dhp_event e = dhp_device_event_get_event(ev);

        if (e == DHP_EVENT_QUERY_REMOVE || e == DHP_EVENT_REMOVE_CANCEL)
                arrival_query(userdata, ev);
        else
                arrival_send(userdata, ev, true);
}

/* A client's answer to ARRIVAL_QUERY; a stale one is ignored. */
bool subscribe_handle_arrival_answer(struct server *s, struct peer *c, const struct ipc_msg *m) {
        if (m->arrival_answer.status > 0 || m->arrival_answer.status < -4095) {
                server_violation(s, c, -EPROTO, "ARRIVAL_ANSWER with a bad status");
                return false;
        }
        pthread_mutex_lock(&c->lock);
        if (m->arrival_answer.seq == c->await_txn && !c->answered) {
                c->answered = true;
                c->answer = m->arrival_answer.status;
                c->answered_at = time_now_ns();
                pthread_cond_broadcast(&c->cond);
        }
        pthread_mutex_unlock(&c->lock);
        return true;
}

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
        peer_send(mc->c, &m, false);
}

static struct cl_memcond *memcond_find(struct server *s, struct peer *c, uint32_t id) {
        for (unsigned i = 0; i < s->cfg.max_regs; i++)
                if (c->mcs[i].used && c->mcs[i].id == id)
                        return &c->mcs[i];
        return NULL;
}

/* INCLUDE_EXISTING: the snapshot into the stream's array (one entry per
 * device present), sent as the client reads. */
struct existing_collect {
        struct stream *st;
        size_t cap;
        int error;
};

static void existing_collect_cb(void *userdata, const dhp_device_event *ev) {
        struct existing_collect *x = userdata;
        struct stream_event *e;
        uint32_t index = 0;
        uint64_t base = 0, size = 0;

        if (x->error)
                return;
        if (x->st->nev == x->cap) {
                size_t cap = x->cap ? 2 * x->cap : 64;
                struct stream_event *v = realloc(x->st->ev, cap * sizeof(*v));
                if (!v) {
                        x->error = -ENOMEM;
                        return;
                }
                x->st->ev = v;
                x->cap = cap;
        }
        e = &x->st->ev[x->st->nev++];
        *e = (struct stream_event){ .cls = (uint8_t)dhp_device_event_get_class(ev),
                                    .event = (uint8_t)dhp_device_event_get_event(ev),
                                    .flags = dhp_device_event_is_existing(ev) ? IPC_ARRIVAL_EXISTING : 0 };
        if (dhp_device_event_get_processor(ev, &index, NULL) == 0)
                e->index = index;
        if (dhp_device_event_get_memory(ev, &base, &size) == 0) {
                e->base = base;
                e->size = size;
        }
        snprintf(e->name, sizeof(e->name), "%s", dhp_device_event_get_name(ev));
}

/* The devices present, streamed before the REPLY (status.c).  Returns
 * the REPLY's status when it must go out now, 1 when the stream sends it. */
static int existing_start(struct server *s, struct peer *c, const struct ipc_msg *m, struct cl_arrival *a) {
        struct stream st = { .kind = STREAM_EXISTING, .id = m->id, .reg = a->id };
        struct existing_collect x = { .st = &st };
        int r;

        r = arrival_existing(s->e, m->arrival_register.cls, existing_collect_cb, &x);
        if (r >= 0 && x.error)
                r = x.error;
        if (r >= 0)
                r = status_stream_add(s, c, &st);
        if (r < 0) {
                free(st.ev);
                return r;
        }
        return 1;
}

bool subscribe_handle_arrival_register(struct server *s, struct peer *c, const struct ipc_msg *m) {
        const char *name = m->arrival_register.name[0] ? m->arrival_register.name : c->name;
        unsigned slot = s->cfg.max_regs;
        int r;

        if ((m->arrival_register.cls != DHP_CLASS_PROCESSOR && m->arrival_register.cls != DHP_CLASS_MEMORY) ||
            (m->arrival_register.flags & ~(uint32_t)(DHP_ARRIVAL_INCLUDE_EXISTING | DHP_ARRIVAL_QUERY_REMOVE)) ||
            ((m->arrival_register.flags & DHP_ARRIVAL_QUERY_REMOVE) && m->arrival_register.cls != DHP_CLASS_MEMORY)) {
                peer_reply(c, m->id, -EINVAL, 0, 0, "unknown class or flags");
                return true;
        }
        /* A removal query can veto a removal: as taking part in the
         * synchronous phases, it needs the privilege (D29). */
        if ((m->arrival_register.flags & DHP_ARRIVAL_QUERY_REMOVE) && !c->privileged) {
                peer_reply(c, m->id, -EPERM, 0, 0, "answering memory removal queries needs root or the dhpd group");
                return true;
        }
        if ((m->arrival_register.flags & DHP_ARRIVAL_INCLUDE_EXISTING) && c->nstreams >= PEER_STREAMS_MAX) {
                peer_reply(c, m->id, -EBUSY, 0, 0, "too many STATUS or INCLUDE_EXISTING replies in progress");
                return true;
        }
        for (unsigned i = 0; i < s->cfg.max_regs; i++) {
                if (c->arr[i].used && c->arr[i].id == m->arrival_register.reg) {
                        peer_reply(c, m->id, -EEXIST, 0, 0, NULL);
                        return true;
                }
                if (!c->arr[i].used && slot == s->cfg.max_regs)
                        slot = i;
        }
        /* The slot is taken under the lock the worker's synchronous
         * registrations take theirs: the cap holds between the two. */
        pthread_mutex_lock(&c->lock);
        r = c->nsync + c->narr >= s->cfg.max_regs ? -ENOSPC : 0;
        if (r == 0)
                c->narr++;
        pthread_mutex_unlock(&c->lock);
        if (r == 0) {
                c->arr[slot] = (struct cl_arrival){ .id = m->arrival_register.reg, .c = c };
                /* Registered first, then the snapshot: a device
                 * arriving in between is in both (the client drops
                 * the second by name), none is in neither. */
                r = arrival_register(s->e, name, m->arrival_register.cls,
                                     m->arrival_register.flags & DHP_ARRIVAL_QUERY_REMOVE, arrival_cb, &c->arr[slot],
                                     &c->arr[slot].reg);
                if (r < 0) {
                        pthread_mutex_lock(&c->lock);
                        c->narr--;
                        pthread_mutex_unlock(&c->lock);
                }
        }
        if (r == 0) {
                c->arr[slot].used = true;
                if (m->arrival_register.flags & DHP_ARRIVAL_INCLUDE_EXISTING) {
                        r = existing_start(s, c, m, &c->arr[slot]);
                        if (r > 0)
                                return true; /* the stream ends with the REPLY */
                        if (r < 0) {
                                arrival_unregister(c->arr[slot].reg);
                                c->arr[slot].used = false;
                                pthread_mutex_lock(&c->lock);
                                c->narr--;
                                pthread_mutex_unlock(&c->lock);
                        }
                }
        }
        peer_reply(c, m->id, r, 0, 0, r == -ENOSPC ? "too many registrations for one client" : NULL);
        return true;
}

bool subscribe_handle_arrival_unregister(struct server *s, struct peer *c, const struct ipc_msg *m) {
        int r = -ENOENT;

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
        peer_reply(c, m->id, r, 0, 0, NULL);
        return true;
}

bool subscribe_handle_memcond_subscribe(struct server *s, struct peer *c, const struct ipc_msg *m) {
        char text[IPC_DETAIL_MAX];
        enum memcond_kind k;
        struct cl_memcond *mc = NULL;

        if (memcond_lookup(m->memcond_subscribe.name, &k) < 0) {
                snprintf(text, sizeof(text), "no memory condition event named '%s'", m->memcond_subscribe.name);
                peer_reply(c, m->id, -ENOENT, 0, 0, text);
                return true;
        }
        if (memcond_find(s, c, m->memcond_subscribe.sub)) {
                peer_reply(c, m->id, -EEXIST, 0, 0, NULL);
                return true;
        }
        for (unsigned i = 0; i < s->cfg.max_regs && !mc; i++)
                if (!c->mcs[i].used)
                        mc = &c->mcs[i];
        if (!mc) {
                peer_reply(c, m->id, -ENOSPC, 0, 0, "too many subscriptions for one client");
                return true;
        }
        *mc = (struct cl_memcond){ .c = c, .id = m->memcond_subscribe.sub, .used = true, .initial = true };
        mc->l.kind = k;
        mc->l.fn = memcond_changed;
        mc->l.tell_initial_clear = true;
        /* The state now goes out from inside, ahead of any change. */
        memcond_listen(s->e, &mc->l);
        peer_reply(c, m->id, 0, 0, 0, NULL);
        return true;
}

bool subscribe_handle_memcond_unsubscribe(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct cl_memcond *mc = memcond_find(s, c, m->unreg.reg);

        if (mc) {
                memcond_unlisten(s->e, &mc->l);
                mc->used = false;
        }
        peer_reply(c, m->id, mc ? 0 : -ENOENT, 0, 0, NULL);
        return true;
}

bool subscribe_handle_memcond_configure(struct server *s, struct peer *c, const struct ipc_msg *m) {
        char *err = NULL;
        int r;

        r = memcond_configure_spec(s->e, m->memcond_configure.spec, &err);
        if (r == 0)
                log_notice(&s->log, "client %s set memory thresholds: %s", c->name, m->memcond_configure.spec);
        peer_reply(c, m->id, r, 0, 0, err);
        free(err);
        return true;
}

bool subscribe_handle_memcond_get_threshold(struct server *s, struct peer *c, const struct ipc_msg *m) {
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
                peer_reply(c, m->id, -EINVAL, 0, 0, "unknown threshold");
                return true;
        }
        peer_reply(c, m->id, 0, 0, v, NULL);
        return true;
}

void subscribe_drop(struct server *s, struct peer *c) {
        /* Arrivals run on this thread: unregistering does not wait. */
        for (unsigned i = 0; i < s->cfg.max_regs; i++)
                if (c->arr[i].used) {
                        arrival_unregister(c->arr[i].reg);
                        c->arr[i].used = false;
                }
        pthread_mutex_lock(&c->lock);
        c->narr = 0;
        pthread_mutex_unlock(&c->lock);
        for (unsigned i = 0; i < s->cfg.max_regs; i++)
                if (c->mcs[i].used) {
                        memcond_unlisten(s->e, &c->mcs[i].l);
                        c->mcs[i].used = false;
                }
}
