/* SPDX-License-Identifier: MIT */
/*
 * The peer interface's phases (core/peer.h): a participant standing for
 * another process's registrations, and the two phases of an add driven by
 * a peer.  The fan-out itself is procnotify's (procnotify_phase).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine-internal.h"
#include "core/peer.h"

int peer_join(struct engine *e, const char *name, const struct peer_phase_ops *ops, void *userdata,
              dhp_proc_reg **ret) {
        struct dhp_proc_reg *pr;

        if (!e || !ops || !ops->send || !ops->wait || !ret)
                return -EINVAL;
        if (name && strlen(name) >= ENGINE_NAME_MAX)
                return -EINVAL;
        pr = calloc(1, sizeof(*pr));
        if (!pr)
                return -ENOMEM;
        reg_init(e, &pr->base, name, 0, userdata);
        pr->peer = ops;
        pthread_mutex_lock(&e->lock);
        list_append(&e->proc_regs, &pr->base.node);
        pthread_mutex_unlock(&e->lock);
        *ret = pr;
        return 0;
}

struct peer_phases {
        struct engine *engine;
        uint32_t index;
        int status;
        size_t n;
        struct dhp_proc_reg **v;
        bool *started;
};

/* The registrations that opted in to removal, as procnotify_phase's part
 * (core/removal.c for the engine's side). */
static bool *removal_part(struct engine *e, struct dhp_proc_reg **v, size_t n) {
        bool *part = calloc(n ? n : 1, sizeof(*part));

        if (!part)
                return NULL;
        pthread_mutex_lock(&e->lock);
        for (size_t i = 0; i < n; i++)
                part[i] = v[i]->base.flags & DHP_PROC_QUERY_REMOVE;
        pthread_mutex_unlock(&e->lock);
        return part;
}

void peer_set_query_remove(dhp_proc_reg *pr) {
        struct engine *e = pr->base.engine;

        pthread_mutex_lock(&e->lock);
        pr->base.flags |= DHP_PROC_QUERY_REMOVE;
        pthread_mutex_unlock(&e->lock);
}

static int phases_start(struct engine *e, uint32_t index, dhp_proc_change_state state, struct peer_phases **ret,
                        int *ret_status, unsigned *ret_calls) {
        struct peer_phases *s;
        uint64_t *sent_at;
        bool *part;
        unsigned calls = 0;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->engine = e;
        s->index = index;
        r = procnotify_snapshot(e, &s->v, &s->n);
        if (r < 0) {
                free(s);
                return r;
        }
        s->started = calloc(s->n ? s->n : 1, sizeof(*s->started));
        sent_at = calloc(s->n ? s->n : 1, sizeof(*sent_at));
        part = state == DHP_PROC_REMOVE_QUERY ? removal_part(e, s->v, s->n) : NULL;
        if (!s->started || !sent_at || (state == DHP_PROC_REMOVE_QUERY && !part)) {
                free(sent_at);
                free(part);
                peer_phases_end(s, DHP_PROC_ADD_FAILURE, -ENOMEM);
                return -ENOMEM;
        }
        engine_txn_lock(e);
        procnotify_phase(e, s->v, s->n, state, index, &s->status, false, part, s->started, sent_at);
        engine_txn_unlock(e);
        free(sent_at);
        free(part);
        for (size_t i = 0; i < s->n; i++)
                calls += s->started[i];
        *ret = s;
        *ret_status = s->status;
        if (ret_calls)
                *ret_calls = calls;
        return 0;
}

int peer_phases_start(struct engine *e, uint32_t index, struct peer_phases **ret, int *ret_status,
                      unsigned *ret_calls) {
        return phases_start(e, index, DHP_PROC_ADD_START, ret, ret_status, ret_calls);
}

int peer_phases_query(struct engine *e, uint32_t index, struct peer_phases **ret, int *ret_status,
                      unsigned *ret_calls) {
        return phases_start(e, index, DHP_PROC_REMOVE_QUERY, ret, ret_status, ret_calls);
}

int peer_phase_surprise(struct engine *e, uint32_t index) {
        struct dhp_proc_reg **v;
        bool *part, *got;
        uint64_t *sent_at;
        size_t n;
        int status = -ENODEV, r;

        r = procnotify_snapshot(e, &v, &n);
        if (r < 0)
                return r;
        part = removal_part(e, v, n);
        got = calloc(n ? n : 1, sizeof(*got));
        sent_at = calloc(n ? n : 1, sizeof(*sent_at));
        if (part && got && sent_at) {
                engine_txn_lock(e);
                procnotify_phase(e, v, n, DHP_PROC_REMOVE_COMPLETE, index, &status, false, part, got, sent_at);
                engine_txn_unlock(e);
        } else {
                r = -ENOMEM;
        }
        free(part);
        free(got);
        free(sent_at);
        procnotify_snapshot_free(e, v, n);
        return r;
}

void peer_phases_end(struct peer_phases *s, dhp_proc_change_state state, int status) {
        struct engine *e;

        if (!s)
                return;
        e = s->engine;
        if (s->started && (state == DHP_PROC_ADD_COMPLETE || state == DHP_PROC_ADD_FAILURE ||
                           state == DHP_PROC_REMOVE_COMPLETE || state == DHP_PROC_REMOVE_CANCEL)) {
                bool *got = calloc(s->n ? s->n : 1, sizeof(*got));
                uint64_t *sent_at = calloc(s->n ? s->n : 1, sizeof(*sent_at));
                if (got && sent_at) {
                        if (state == DHP_PROC_REMOVE_COMPLETE)
                                s->status = status; /* 0, or -ENODEV: a surprise */
                        else
                                s->status = state == DHP_PROC_ADD_COMPLETE ? 0 : (status < 0 ? status : -ECANCELED);
                        engine_txn_lock(e);
                        procnotify_phase(e, s->v, s->n, state, s->index, &s->status, false, s->started, got, sent_at);
                        engine_txn_unlock(e);
                }
                free(got);
                free(sent_at);
        }
        free(s->started);
        procnotify_snapshot_free(e, s->v, s->n);
        free(s);
}
