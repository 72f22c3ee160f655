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

#include "lib/client-internal.h"

struct entry *client_entry_find(struct remote *r, enum entry_kind kind, uint32_t id) {
        for (struct entry *e = r->entries; e; e = e->next)
                if (e->kind == kind && e->id == id)
                        return e;
        return NULL;
}

static bool known_has(const struct entry *e, const char *name) {
        return nameidx_find(&e->knownidx, name) >= 0;
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
        if (nameidx_add(&e->knownidx, name, e->nknown) < 0)
                return; /* the same */
        snprintf(e->known[e->nknown++], IPC_NAME_MAX, "%s", name);
}

static void known_remove(struct entry *e, const char *name) {
        ssize_t i = nameidx_find(&e->knownidx, name);

        if (i < 0)
                return;
        memmove(e->known[i], e->known[i + 1], (e->nknown - (size_t)i - 1) * sizeof(*e->known));
        e->nknown--;
        nameidx_remove(&e->knownidx, name, (size_t)i);
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

        if (!cb || !ret || (flags & ~(uint32_t)DHP_PROC_ADD_EXISTING) || (name && strlen(name) >= IPC_NAME_MAX))
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
        if (ret2 < 0 || !e->preg) {
                client_entry_remove(r, e);
                if (client_affinity_enabled(r))
                        affinity_release(&r->aff);
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

        if (!cb || !ret || (flags & ~(uint32_t)DHP_ARRIVAL_INCLUDE_EXISTING) || (name && strlen(name) >= IPC_NAME_MAX))
                return -EINVAL;
        /* Local first (no INCLUDE_EXISTING: the daemon knows what exists),
         * so that an arrival read before the reply finds it. */
        ret2 = arrival_register(r->local, name, cls, 0, cb, userdata, &areg);
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
        m.arrival_register = (typeof(m.arrival_register)){ .reg = e->id, .cls = cls,
                                                             .flags = DHP_ARRIVAL_INCLUDE_EXISTING };
        snprintf(m.arrival_register.name, sizeof(m.arrival_register.name), "%s", e->name);
        ret2 = client_call(r, &m, &req);
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

int client_reregister(struct remote *r) {
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
                        ret = client_send(r, &m);
        }
        if (ret == 0 && r->nmonitors) {
                m = (struct ipc_msg){ .type = IPC_MONITOR_START };
                ret = client_send(r, &m);
        }
        pthread_mutex_unlock(&r->lock);
        return ret;
}

