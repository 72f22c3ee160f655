/* SPDX-License-Identifier: MIT */
/*
 * The registrations dhpd knows by their wire id (struct entry): made by
 * the API, kept to be re-sent after a reconnect.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/peer.h"
#include "lib/client-internal.h"

struct entry *client_entry_find(struct remote *r, enum entry_kind kind, uint32_t id) {
        for (struct entry *e = r->entries; e; e = e->next)
                if (e->kind == kind && e->id == id)
                        return e;
        return NULL;
}

static struct known_dev *known_find(struct entry *e, const char *name) {
        ssize_t i = nameidx_find(&e->knownidx, name);

        return i < 0 ? NULL : &e->known[i];
}

static void known_add(struct entry *e, const struct ipc_msg *m) {
        struct known_dev *k;

        if (e->nknown == e->capknown) {
                size_t cap = e->capknown ? 2 * e->capknown : 16;
                struct known_dev *p = realloc(e->known, cap * sizeof(*p));
                if (!p)
                        return; /* then it may be reported twice, no more */
                e->known = p;
                e->capknown = cap;
        }
        if (nameidx_add(&e->knownidx, m->arrival.name, e->nknown) < 0)
                return; /* the same */
        k = &e->known[e->nknown++];
        *k = (struct known_dev){ .index = m->arrival.index, .base = m->arrival.base, .size = m->arrival.size,
                                 .seen = true };
        snprintf(k->name, sizeof(k->name), "%s", m->arrival.name);
}

static void known_remove_at(struct entry *e, size_t i) {
        nameidx_remove(&e->knownidx, e->known[i].name, i);
        memmove(&e->known[i], &e->known[i + 1], (e->nknown - i - 1) * sizeof(*e->known));
        e->nknown--;
}

/* What an entry owns besides itself. */
void client_entry_free(struct entry *e) {
        if (!e)
                return;
        free(e->known);
        nameidx_deinit(&e->knownidx);
        free(e);
}

bool client_arrival_filter(struct entry *e, const struct ipc_msg *m, bool *ret_existing) {
        bool existing = m->arrival.flags & IPC_ARRIVAL_EXISTING;
        struct known_dev *k = known_find(e, m->arrival.name);

        *ret_existing = false;
        if (m->arrival.event == DHP_EVENT_REMOVAL) {
                if (k)
                        known_remove_at(e, (size_t)(k - e->known));
                return true;
        }
        /* A virtio-mem device arrives once per resize step, under one name
         * (doc/model.md R40): each step is news. */
        if (!existing && strncmp(m->arrival.name, "virtio-mem:", 11) == 0) {
                if (!k)
                        known_add(e, m);
                return true;
        }
        if (k) {
                k->seen = true; /* still present (a re-registration's answer) */
                return false;
        }
        known_add(e, m);
        if (!existing)
                return true;
        if (e->reconnected)
                return true; /* arrived while dhpd was away: new to us */
        *ret_existing = true;
        return e->flags & DHP_ARRIVAL_INCLUDE_EXISTING;
}

/* Every present device came before the REPLY (INCLUDE_EXISTING is
 * answered first): a known one that did not went while dhpd was away, or
 * with the restart of a simulated dhpd.  Reported as a REMOVAL, in order
 * with what this thread read, and forgotten, so that a later device of the
 * same name is reported as it arrives. */
void client_arrival_prune(struct remote *r, uint32_t id) {
        struct entry *e = client_entry_find(r, ENTRY_ARRIVAL, id);

        if (!e || !e->resyncing)
                return;
        e->resyncing = false;
        for (size_t i = 0; i < e->nknown;) {
                struct known_dev k = e->known[i];
                if (k.seen) {
                        i++;
                        continue;
                }
                known_remove_at(e, i);
                if (e->areg)
                        peer_inject_arrival(r->local, e->areg, e->cls, DHP_EVENT_REMOVAL, false, k.index, k.base,
                                            k.size, k.name);
        }
}

struct entry *client_entry_new(struct remote *r, enum entry_kind kind, const char *name, uint32_t flags) {
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

void client_entry_remove(struct remote *r, struct entry *e) {
        pthread_mutex_lock(&r->lock);
        for (struct entry **p = &r->entries; *p; p = &(*p)->next)
                if (*p == e) {
                        *p = e->next;
                        break;
                }
        pthread_mutex_unlock(&r->lock);
        client_entry_free(e);
}

int remote_proc_register(struct remote *r, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                         dhp_proc_reg **ret) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_PROC_REGISTER };
        struct entry *e;
        int ret2;

        if (!cb || !ret || (flags & ~(uint32_t)(DHP_PROC_ADD_EXISTING | DHP_PROC_QUERY_REMOVE)) ||
            (name && strlen(name) >= IPC_NAME_MAX))
                return -EINVAL;
        e = client_entry_new(r, ENTRY_SYNC, name, flags);
        if (!e)
                return -ENOMEM;
        e->pcb = cb;
        e->userdata = userdata;
        req.entry = e;
        m.proc_register.reg = e->id;
        m.proc_register.flags = flags;
        snprintf(m.proc_register.name, sizeof(m.proc_register.name), "%s", e->name);
        /* Threads off processors not admitted before dhpd can send this
         * registration an ADD_START (lib/affinity.h). */
        if (client_affinity_enabled(r))
                affinity_hold(&r->aff);
        ret2 = client_call(r, &m, &req);
        /* Not e->preg: e is freed if a racing add's callback deregistered
         * the registration meanwhile (doc/model.md D4). */
        if (ret2 < 0 || !req.preg) {
                client_entry_remove(r, e);
                if (client_affinity_enabled(r))
                        affinity_release(&r->aff);
                return ret2 < 0 ? ret2 : -EIO;
        }
        *ret = req.preg;
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
                client_send(r, &m);
        }
        pthread_mutex_unlock(&r->lock);
        procnotify_deregister(reg);
        if (e) {
                client_entry_remove(r, e);
                if (client_affinity_enabled(r))
                        affinity_release(&r->aff);
        }
}

int remote_arrival_register(struct remote *r, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                            void *userdata, dhp_arrival_reg **ret) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_ARRIVAL_REGISTER };
        dhp_arrival_reg *areg;
        struct entry *e;
        int ret2;

        if (!cb || !ret || (flags & ~(uint32_t)(DHP_ARRIVAL_INCLUDE_EXISTING | DHP_ARRIVAL_QUERY_REMOVE)) ||
            (name && strlen(name) >= IPC_NAME_MAX) || ((flags & DHP_ARRIVAL_QUERY_REMOVE) && cls != DHP_CLASS_MEMORY))
                return -EINVAL;
        /* Local first (no INCLUDE_EXISTING: the daemon knows what exists),
         * so that an arrival read before the reply finds it. */
        ret2 = arrival_register(r->local, name, cls, flags & DHP_ARRIVAL_QUERY_REMOVE, cb, userdata, &areg);
        if (ret2 < 0)
                return ret2;
        e = client_entry_new(r, ENTRY_ARRIVAL, name, flags);
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
        m.arrival_register = (typeof(m.arrival_register)){
                .reg = e->id, .cls = cls, .flags = DHP_ARRIVAL_INCLUDE_EXISTING | (flags & DHP_ARRIVAL_QUERY_REMOVE) };
        snprintf(m.arrival_register.name, sizeof(m.arrival_register.name), "%s", e->name);
        client_stream_begin(r);
        ret2 = client_call(r, &m, &req);
        client_stream_end(r);
        if (ret2 < 0) {
                client_entry_remove(r, e);
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
                        client_send(r, &m);
                }
        }
        pthread_mutex_unlock(&r->lock);
        arrival_unregister(reg);
        if (e)
                client_entry_remove(r, e);
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
        ret2 = client_call(r, &m, &req);
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
                client_send(r, &m);
        pthread_mutex_unlock(&r->lock);
}

/* ---- reconnecting ----------------------------------------------------------------- */

/*
 * doc/model.md D36.  On the connection thread, at the REPLY of the first
 * synchronous re-registration: r->admitted now holds dhpd's processor
 * states as of that registration (sent under dhpd's transaction lock, so
 * that every add after it reaches this process as usual, and none before
 * it does).  A processor admitted there that this process did not see
 * admitted was added while dhpd was away (a transaction the crash cut,
 * rerun by the start-up resync before any client could connect, or a
 * plain hot-add): each gets ADD_START then ADD_COMPLETE, as one add, in
 * processor order.  It is admitted already: a veto cannot send it back.
 */
void client_proc_resync(struct remote *r) {
        uint8_t *seen;

        for (uint32_t i = 0; i < r->nadmitted; i++) {
                struct peer_phases *ph = NULL;
                int status = 0;

                if (r->admitted[i] != DHP_PROC_ADMITTED || (i < r->nseen && r->seen[i] == DHP_PROC_ADMITTED))
                        continue;
                if (peer_phases_start(r->local, i, &ph, &status, NULL) < 0)
                        continue;
                peer_phases_end(ph, DHP_PROC_ADD_COMPLETE, 0);
        }
        /* Told: a later attempt of this reconnection (if this one fails
         * after here) must not tell it again. */
        seen = r->nadmitted ? realloc(r->seen, r->nadmitted) : r->seen;
        if (seen) {
                memcpy(seen, r->admitted, r->nadmitted);
                r->seen = seen;
                r->nseen = r->nadmitted;
        }
}

/* The first synchronous registration again, with the processor states
 * (the wire's ADD_EXISTING: dhpd sends them under its transaction lock);
 * the process's callbacks then hear of what was admitted meanwhile. */
static int reregister_sync_first(struct remote *r, uint32_t *ret_id) {
        struct request req = { .resync_procs = true };
        struct ipc_msg m = { .type = IPC_PROC_REGISTER };
        struct entry *e;

        pthread_mutex_lock(&r->lock);
        for (e = r->entries; e && !(e->kind == ENTRY_SYNC && e->preg); e = e->next)
                ;
        if (e) {
                m.proc_register = (typeof(m.proc_register)){ .reg = e->id, .flags = DHP_PROC_ADD_EXISTING };
                snprintf(m.proc_register.name, sizeof(m.proc_register.name), "%s", e->name);
        }
        pthread_mutex_unlock(&r->lock);
        *ret_id = e ? m.proc_register.reg : 0;
        return e ? client_call(r, &m, &req) : 0;
}

/* An arrival registration again, waiting for its REPLY: what is present
 * comes before it, and the REPLY prunes what did not
 * (client_arrival_prune). */
static int reregister_arrival(struct remote *r, uint32_t id) {
        struct request req = { .resync_arrival = id };
        struct ipc_msg m = { .type = IPC_ARRIVAL_REGISTER };
        struct entry *e;
        int ret;

        pthread_mutex_lock(&r->lock);
        e = client_entry_find(r, ENTRY_ARRIVAL, id);
        if (e && e->areg) {
                e->reconnected = true;
                e->resyncing = true;
                for (size_t i = 0; i < e->nknown; i++)
                        e->known[i].seen = false;
                m.arrival_register = (typeof(m.arrival_register)){
                        .reg = e->id, .cls = e->cls,
                        .flags = DHP_ARRIVAL_INCLUDE_EXISTING | (e->flags & DHP_ARRIVAL_QUERY_REMOVE) };
                snprintf(m.arrival_register.name, sizeof(m.arrival_register.name), "%s", e->name);
        }
        pthread_mutex_unlock(&r->lock);
        if (!e || !m.arrival_register.reg)
                return 0;
        ret = client_call(r, &m, &req);
        if (ret < 0) {
                /* Refused or lost: nothing is pruned on a partial answer. */
                pthread_mutex_lock(&r->lock);
                if ((e = client_entry_find(r, ENTRY_ARRIVAL, id)))
                        e->resyncing = false;
                pthread_mutex_unlock(&r->lock);
        }
        return ret;
}

/* A refusal leaves the others to re-send (it shows in status); only a
 * lost connection stops the re-registration. */
static bool reregister_fatal(int ret) {
        return ret == -ECONNRESET || ret == -ECHILD || ret == -EDEADLK;
}

int client_reregister(struct remote *r) {
        struct ipc_msg m;
        struct entry *e;
        uint32_t sync_id, *ids = NULL;
        size_t nids = 0;
        int ret;

        ret = reregister_sync_first(r, &sync_id);
        if (reregister_fatal(ret))
                return ret;
        /* The arrival registrations one at a time, by id: one may be
         * unregistered meanwhile. */
        pthread_mutex_lock(&r->lock);
        for (e = r->entries; e; e = e->next)
                nids += e->kind == ENTRY_ARRIVAL;
        ids = calloc(nids ? nids : 1, sizeof(*ids));
        nids = 0;
        for (e = r->entries; e && ids; e = e->next)
                if (e->kind == ENTRY_ARRIVAL)
                        ids[nids++] = e->id;
        pthread_mutex_unlock(&r->lock);
        if (!ids)
                return -ENOMEM;
        for (size_t i = 0; i < nids; i++) {
                ret = reregister_arrival(r, ids[i]);
                if (reregister_fatal(ret))
                        break;
        }
        free(ids);
        if (reregister_fatal(ret))
                return ret;

        /* The other synchronous registrations (the process takes part in
         * every add from the first on), memory condition subscriptions and
         * the monitor: no reply, a refusal shows in status. */
        ret = 0;
        pthread_mutex_lock(&r->lock);
        for (e = r->entries; e; e = e->next) {
                if (e->kind == ENTRY_SYNC && e->preg && e->id != sync_id) {
                        m = (struct ipc_msg){ .type = IPC_PROC_REGISTER,
                                              .proc_register = { .reg = e->id,
                                                                 .flags = e->flags & DHP_PROC_QUERY_REMOVE } };
                        snprintf(m.proc_register.name, sizeof(m.proc_register.name), "%s", e->name);
                } else if (e->kind == ENTRY_MEMCOND) {
                        /* dhpd answers with the state now: the events are
                         * refreshed. */
                        m = (struct ipc_msg){ .type = IPC_MEMCOND_SUBSCRIBE, .memcond_subscribe = { .sub = e->id } };
                        snprintf(m.memcond_subscribe.name, sizeof(m.memcond_subscribe.name), "%.31s", e->name);
                } else {
                        continue;
                }
                m.id = 0;
                if (ret == 0)
                        ret = client_send(r, &m);
        }
        if (ret == 0 && r->nmonitors) {
                m = (struct ipc_msg){ .type = IPC_MONITOR_START };
                ret = client_send(r, &m);
        }
        pthread_mutex_unlock(&r->lock);
        return ret;
}
