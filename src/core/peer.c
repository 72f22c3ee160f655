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
        reg_list_changed_locked(e, REG_PROC);
        pthread_mutex_unlock(&e->lock);
        *ret = pr;
        return 0;
}

struct peer_phases {
        struct engine *engine;
        uint32_t index;
        int status;
        size_t n;
        struct reg_snap *snap;
        bool *started;
};

int peer_phases_start(struct engine *e, uint32_t index, struct peer_phases **ret, int *ret_status,
                      unsigned *ret_calls) {
        struct peer_phases *s;
        uint64_t *sent_at;
        unsigned calls = 0;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->engine = e;
        s->index = index;
        s->snap = procnotify_snapshot(e);
        if (!s->snap) {
                free(s);
                return -ENOMEM;
        }
        s->n = s->snap->n;
        s->started = calloc(s->n ? s->n : 1, sizeof(*s->started));
        sent_at = calloc(s->n ? s->n : 1, sizeof(*sent_at));
        if (!s->started || !sent_at) {
                free(sent_at);
                peer_phases_end(s, DHP_PROC_ADD_FAILURE, -ENOMEM);
                return -ENOMEM;
        }
        engine_txn_lock(e);
        procnotify_phase(e, s->snap, DHP_PROC_ADD_START, index, &s->status, false, NULL, s->started, sent_at);
        engine_txn_unlock(e);
        free(sent_at);
        for (size_t i = 0; i < s->n; i++)
                calls += s->started[i];
        *ret = s;
        *ret_status = s->status;
        if (ret_calls)
                *ret_calls = calls;
        return 0;
}

void peer_phases_end(struct peer_phases *s, dhp_proc_change_state state, int status) {
        struct engine *e;

        if (!s)
                return;
        e = s->engine;
        if (s->started && (state == DHP_PROC_ADD_COMPLETE || state == DHP_PROC_ADD_FAILURE)) {
                bool *got = calloc(s->n ? s->n : 1, sizeof(*got));
                uint64_t *sent_at = calloc(s->n ? s->n : 1, sizeof(*sent_at));
                if (got && sent_at) {
                        s->status = state == DHP_PROC_ADD_COMPLETE ? 0 : (status < 0 ? status : -ECANCELED);
                        engine_txn_lock(e);
                        procnotify_phase(e, s->snap, state, s->index, &s->status, false, s->started, got, sent_at);
                        engine_txn_unlock(e);
                }
                free(got);
                free(sent_at);
        }
        free(s->started);
        procnotify_snapshot_free(e, s->snap);
        free(s);
}
