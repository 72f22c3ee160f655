/* SPDX-License-Identifier: MIT */
/*
 * Synchronous processor notification (doc/model.md section 1): ADD_START, then
 * ADD_COMPLETE or ADD_FAILURE, to every registration, in registration order,
 * one at a time, on the thread running the transaction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine-internal.h"
#include "core/peer.h"
#include "util/time.h"

DHP_EXPORT dhp_proc_change_state dhp_proc_change_get_state(const dhp_proc_change *c) {
        return c->state;
}

DHP_EXPORT uint32_t dhp_proc_change_get_index(const dhp_proc_change *c) {
        return c->index;
}

DHP_EXPORT dhp_proc_number dhp_proc_change_get_number(const dhp_proc_change *c) {
        return c->number;
}

DHP_EXPORT int dhp_proc_change_get_status(const dhp_proc_change *c) {
        return *c->status;
}

DHP_EXPORT bool dhp_proc_change_is_surprise(const dhp_proc_change *c) {
        /* core/removal.c: a surprise REMOVE_COMPLETE carries -ENODEV. */
        return c->state == DHP_PROC_REMOVE_COMPLETE && *c->status == -ENODEV;
}

DHP_EXPORT dhp_proc_reg *dhp_proc_change_get_reg(const dhp_proc_change *c) {
        return c ? c->reg : NULL;
}

DHP_EXPORT int dhp_proc_change_veto(const dhp_proc_change *c, int error) {
        if (!c || !procnotify_state_vetoable(c->state) || error >= 0)
                return -EINVAL;
        /* The first veto wins; never overwrite another callback's error. */
        if (*c->status != 0)
                return -EALREADY;
        *c->status = error;
        return 0;
}

static const char *change_state_name(dhp_proc_change_state s) {
        switch (s) {
        case DHP_PROC_ADD_START: return "ADD_START";
        case DHP_PROC_ADD_COMPLETE: return "ADD_COMPLETE";
        case DHP_PROC_ADD_FAILURE: return "ADD_FAILURE";
        case DHP_PROC_REMOVE_QUERY: return "REMOVE_QUERY";
        case DHP_PROC_REMOVE_COMPLETE: return "REMOVE_COMPLETE";
        case DHP_PROC_REMOVE_CANCEL: return "REMOVE_CANCEL";
        }
        return "?";
}

/* The call of a monitored engine, timed and recorded; out of line so that
 * the unmonitored path stays a few instructions without a stack frame for
 * the record. */
static __attribute__((noinline)) void call_recorded(struct engine *e, dhp_proc_cb cb, void *userdata,
                                                    const struct reg *r, const dhp_proc_change *c, bool late,
                                                    bool existing) {
        int before = *c->status;
        uint64_t t0 = engine_time_ns(e);

        cb(userdata, c);

        struct dhp_record rec = {
                .method = "sync",
                .event = change_state_name(c->state),
                .cls = "processor",
                .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS | REC_HAS_DURATION | REC_HAS_CLIENT | (late ? REC_LATE : 0) |
                          (existing ? REC_EXISTING : 0) |
                          (procnotify_state_vetoable(c->state) && before == 0 && *c->status != 0 ? REC_VETO : 0) |
                          (dhp_proc_change_is_surprise(c) ? REC_SURPRISE : 0),
                .processor = c->index,
                .number = c->number,
                .status = *c->status,
                .client = r->name, /* alive: the snapshot holds a reference */
                .dur_ns = engine_time_ns(e) - t0,
        };
        record_emit(e, &rec);
}

/*
 * Call one registration; c is the phase's change, shared by its calls, and
 * names the registration called.  Timed and recorded only when someone
 * reads the stream: with no monitor a call is the call.  Whether the
 * registration is still alive the caller checked (struct runner).
 */
static inline void call_one(struct engine *e, dhp_proc_cb cb, void *userdata, struct reg *r, dhp_proc_change *c,
                            bool late, bool existing) {
        c->reg = (struct dhp_proc_reg *)r;
        if (engine_monitored(e))
                call_recorded(e, cb, userdata, r, c, late, existing);
        else
                cb(userdata, c);
}

/* The registrations in order, with a reference (a shared snapshot). */
struct reg_snap *procnotify_snapshot(struct engine *e) {
        struct reg_snap *s;

        pthread_mutex_lock(&e->lock);
        s = reg_snap_get_locked(e, REG_PROC);
        pthread_mutex_unlock(&e->lock);
        return s;
}

void procnotify_snapshot_free(struct engine *e, struct reg_snap *s) {
        pthread_mutex_lock(&e->lock);
        reg_snap_unref_locked(e, s);
        pthread_mutex_unlock(&e->lock);
}

/*
 * External participants (core/peer.h: dhpd's proxies for client processes)
 * are called in two steps so that every client runs its callbacks at the
 * same time: send the phase to every participant, run the local callbacks
 * in registration order, then collect the participants' answers against
 * one deadline.  peer.h has the rules of vetoes, lateness and departure.
 */
static void peer_record(struct engine *e, struct dhp_proc_reg *pr, dhp_proc_change_state state, uint32_t index,
                          int status, bool late, bool vetoed, bool missed, uint64_t dur_ns) {
        struct dhp_record rec = {
                .method = "sync",
                .event = change_state_name(state),
                .cls = "processor",
                .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS | REC_HAS_DURATION | REC_HAS_CLIENT |
                          (late ? REC_LATE : 0) | (vetoed ? REC_VETO : 0) | (missed ? REC_MISSED : 0),
                .processor = index,
                .number = engine_cpu_number(index),
                .status = status,
                .client = pr->base.name,
                .dur_ns = dur_ns,
        };
        record_emit(e, &rec);
}

/* Send the phase to every external participant taking part; got[i] for
 * those sent.  Returns whether any was. */
static bool peers_send(struct reg_snap *s, uint64_t txn, const dhp_proc_change *c, const bool *part, bool *got,
                       uint64_t *sent_at) {
        bool any = false;

        for (size_t i = 0; i < s->n; i++) {
                const struct reg_slot *sl = &s->v[i];
                const struct dhp_proc_reg *pr = (const struct dhp_proc_reg *)sl->reg;

                if (!sl->peer)
                        continue;
                got[i] = false;
                if ((part && !part[i]) || atomic_load_explicit(&sl->dead, memory_order_relaxed))
                        continue;
                sent_at[i] = time_now_ns();
                if (pr->peer->send(sl->userdata, txn, c->state, c->index, *c->status) < 0)
                        continue;
                got[i] = true;
                any = true;
        }
        return any;
}

/* Collect the answers of the participants sent the phase. */
static void peers_collect(struct engine *e, struct reg_snap *s, uint64_t txn, uint64_t deadline, bool late_veto,
                          const dhp_proc_change *c, bool late, bool *got, const uint64_t *sent_at) {
        dhp_proc_change_state state = c->state;
        int *status = c->status;

        for (size_t i = 0; i < s->n; i++) {
                struct dhp_proc_reg *pr = (struct dhp_proc_reg *)s->v[i].reg;
                uint64_t answered_at = 0;
                int answer = 0, r;
                bool vetoed = false;

                if (!s->v[i].peer || !got[i])
                        continue;
                r = pr->peer->wait(s->v[i].userdata, txn, deadline, &answer, &answered_at);
                if (r == -ETIMEDOUT) {
                        if (procnotify_state_vetoable(state) && late_veto && *status == 0) {
                                *status = -ETIMEDOUT;
                                vetoed = true;
                        }
                        peer_record(e, pr, state, c->index, -ETIMEDOUT, late, vetoed, true,
                                    time_now_ns() - sent_at[i]);
                } else if (r < 0) {
                        /* Gone: it never took part; no second phase. */
                        got[i] = false;
                        peer_record(e, pr, state, c->index, r, late, false, false, time_now_ns() - sent_at[i]);
                } else {
                        if (procnotify_state_vetoable(state) && answer < 0 && *status == 0) {
                                *status = answer;
                                vetoed = true;
                        }
                        peer_record(e, pr, state, c->index,
                                    procnotify_state_vetoable(state) ? (answer < 0 ? answer : *status) : *status, late,
                                    vetoed, false, answered_at > sent_at[i] ? answered_at - sent_at[i] : 0);
                }
        }
}

/*
 * One phase over a snapshot.  part[i]: the registration takes part (phase 1:
 * all; phase 2: those that received ADD_START); got[i] is set for those that
 * received the phase.  The phase is the runner's (struct runner): nothing
 * is written to a registration per call, a deregistration on another
 * thread waits for the phase's end.
 */
void procnotify_phase(struct engine *e, struct reg_snap *s, dhp_proc_change_state state, uint32_t index,
                      int *status, bool late, const bool *part, bool *got, uint64_t *sent_at) {
        dhp_proc_change c = { .state = state, .index = index, .number = engine_cpu_number(index), .status = status };
        const struct reg_slot *v = s->v;
        uint64_t txn, deadline;
        bool any_peer = false, late_veto;

        pthread_mutex_lock(&e->lock);
        txn = ++e->sync_txn;
        deadline = e->sync_deadline_ns;
        late_veto = e->sync_late_veto;
        engine_run_begin_locked(e, s, NULL);
        pthread_mutex_unlock(&e->lock);
        deadline += time_now_ns();

        if (s->peers)
                any_peer = peers_send(s, txn, &c, part, got, sent_at);
        for (size_t i = 0, n = s->n; i < n; i++) {
                if (v[i].peer)
                        continue;
                got[i] = (!part || part[i]) && !atomic_load_explicit(&v[i].dead, memory_order_relaxed);
                if (got[i])
                        call_one(e, v[i].cb.proc, v[i].userdata, v[i].reg, &c, late, false);
        }
        if (any_peer)
                peers_collect(e, s, txn, deadline, late_veto, &c, late, got, sent_at);

        pthread_mutex_lock(&e->lock);
        engine_run_end_locked(e);
        pthread_mutex_unlock(&e->lock);
}

int procnotify_run(struct engine *e, uint32_t index, bool late, int *ret_status, bool *ret_admitted) {
        struct reg_snap *s;
        bool *started, *got;
        uint64_t *sent_at;
        size_t n;
        int status = 0;

        s = procnotify_snapshot(e);
        if (!s)
                return -ENOMEM;
        n = s->n ? s->n : 1;
        /* One allocation for the three arrays: sent_at first, aligned. */
        sent_at = malloc(n * (sizeof(*sent_at) + 2 * sizeof(bool)));
        if (!sent_at) {
                procnotify_snapshot_free(e, s);
                return -ENOMEM;
        }
        started = (bool *)(sent_at + n);
        got = started + n;

        /* Phase 1: every registration, even after a veto. */
        procnotify_phase(e, s, DHP_PROC_ADD_START, index, &status, late, NULL, started, sent_at);

        if (status == 0)
                status = engine_cpu_admit(e, index, late);

        /* Phase 2: exactly the registrations that received ADD_START, unless
         * they deregistered since. */
        procnotify_phase(e, s, status == 0 ? DHP_PROC_ADD_COMPLETE : DHP_PROC_ADD_FAILURE, index, &status, late,
                         started, got, sent_at);

        if (status != 0)
                engine_cpu_reject(e, index, status, late);

        free(sent_at);
        procnotify_snapshot_free(e, s);
        *ret_status = status;
        *ret_admitted = status == 0;
        return 0;
}

/* One ADD_EXISTING call, unless the callback deregistered itself. */
static bool call_existing(struct engine *e, struct dhp_proc_reg *pr, dhp_proc_change_state state, uint32_t index,
                          int *status) {
        dhp_proc_change c = { .state = state, .index = index, .number = engine_cpu_number(index), .status = status };

        if (atomic_load_explicit(&pr->base.dead, memory_order_relaxed))
                return false;
        call_one(e, pr->cb, pr->base.userdata, &pr->base, &c, false, true);
        return true;
}

/* ADD_EXISTING: the transaction lock is held, no add runs meanwhile. */
static int run_existing(struct engine *e, struct dhp_proc_reg *pr) {
        uint32_t *cpus, ncpus = 0, k;
        int status = 0;

        pthread_mutex_lock(&e->lock);
        cpus = calloc(e->ncpus ? e->ncpus : 1, sizeof(*cpus));
        if (!cpus) {
                pthread_mutex_unlock(&e->lock);
                return -ENOMEM;
        }
        for (uint32_t i = 0; i < e->ncpus; i++)
                if (e->cpus[i].state == DHP_PROC_ADMITTED)
                        cpus[ncpus++] = i;
        engine_run_begin_locked(e, NULL, &pr->base);
        pthread_mutex_unlock(&e->lock);

        for (k = 0; k < ncpus; k++) {
                call_existing(e, pr, DHP_PROC_ADD_START, cpus[k], &status);
                if (status != 0)
                        break;
        }
        if (status != 0) {
                /* Each processor that got ADD_START, not the vetoed one k. */
                for (uint32_t j = 0; j < k; j++)
                        call_existing(e, pr, DHP_PROC_ADD_FAILURE, cpus[j], &status);
        } else {
                for (uint32_t j = 0; j < ncpus; j++)
                        call_existing(e, pr, DHP_PROC_ADD_COMPLETE, cpus[j], &status);
        }
        pthread_mutex_lock(&e->lock);
        engine_run_end_locked(e);
        pthread_mutex_unlock(&e->lock);
        free(cpus);
        return status;
}

int procnotify_register(struct engine *e, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                        dhp_proc_reg **ret) {
        struct dhp_proc_reg *pr;
        int r;

        if (!e || !cb || !ret || (flags & ~(uint32_t)(DHP_PROC_ADD_EXISTING | DHP_PROC_QUERY_REMOVE)))
                return -EINVAL;
        if (name && strlen(name) >= ENGINE_NAME_MAX)
                return -EINVAL;
        pr = calloc(1, sizeof(*pr));
        if (!pr)
                return -ENOMEM;
        reg_init(e, &pr->base, name, flags, userdata);
        pr->cb = cb;

        if (!(flags & DHP_PROC_ADD_EXISTING)) {
                pthread_mutex_lock(&e->lock);
                list_append(&e->proc_regs, &pr->base.node);
                reg_list_changed_locked(e, REG_PROC);
                pthread_mutex_unlock(&e->lock);
                *ret = pr;
                return 0;
        }

        /* A synchronous callback registering with ADD_EXISTING would wait
         * for the transaction it runs in. */
        if (engine_txn_owned_by_self(e)) {
                free(pr);
                return -EDEADLK;
        }
        engine_txn_lock(e);
        /* The callback has the handle (dhp_proc_change_get_reg) and may
         * deregister it from inside an ADD_EXISTING call: a reference of
         * our own keeps it until we know. */
        pthread_mutex_lock(&e->lock);
        reg_ref_locked(&pr->base);
        pthread_mutex_unlock(&e->lock);
        r = run_existing(e, pr);
        pthread_mutex_lock(&e->lock);
        if (atomic_load(&pr->base.dead))
                r = -ECANCELED; /* deregistered by its own callback */
        else if (r == 0) {
                list_append(&e->proc_regs, &pr->base.node);
                reg_list_changed_locked(e, REG_PROC);
        } else
                reg_unref_locked(&pr->base); /* the list's, never taken */
        reg_unref_locked(&pr->base);
        pthread_mutex_unlock(&e->lock);
        engine_txn_unlock(e);
        if (r != 0)
                return r;
        *ret = pr;
        return 0;
}

void procnotify_deregister(dhp_proc_reg *pr) {
        if (pr)
                reg_kill(&pr->base);
}

struct engine *procnotify_reg_engine(const dhp_proc_reg *pr) {
        return pr->base.engine;
}

/* ---- the two phases driven by a peer (core/peer.h) --------------------- */

struct peer_phases {
        struct engine *engine;
        uint32_t index;
        int status;
        size_t n;
        struct reg_snap *snap;
        bool *started;
};

/* The registrations that opted in to removal, as procnotify_phase's part
 * (core/removal.c for the engine's side); engine-internal.h. */
bool *procnotify_removal_part(struct engine *e, const struct reg_snap *s) {
        bool *part = calloc(s->n ? s->n : 1, sizeof(*part));

        if (!part)
                return NULL;
        /* flags, unlike the slot, may change after the snapshot
         * (peer_set_query_remove): read under lock. */
        pthread_mutex_lock(&e->lock);
        for (size_t i = 0; i < s->n; i++)
                part[i] = s->v[i].reg->flags & DHP_PROC_QUERY_REMOVE;
        pthread_mutex_unlock(&e->lock);
        return part;
}

void peer_set_query_remove(dhp_proc_reg *pr) {
        struct engine *e = pr->base.engine;

        pthread_mutex_lock(&e->lock);
        pr->base.flags |= DHP_PROC_QUERY_REMOVE;
        pthread_mutex_unlock(&e->lock);
}

/* The first phase driven by a peer: ADD_START to every registration, or
 * REMOVE_QUERY to those that opted in. */
static int phases_start(struct engine *e, uint32_t index, dhp_proc_change_state state, struct peer_phases **ret,
                        int *ret_status, unsigned *ret_calls) {
        struct peer_phases *s;
        uint64_t *sent_at;
        bool *part;
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
        part = state == DHP_PROC_REMOVE_QUERY ? procnotify_removal_part(e, s->snap) : NULL;
        if (!s->started || !sent_at || (state == DHP_PROC_REMOVE_QUERY && !part)) {
                free(sent_at);
                free(part);
                peer_phases_end(s, DHP_PROC_ADD_FAILURE, -ENOMEM);
                return -ENOMEM;
        }
        engine_txn_lock(e);
        procnotify_phase(e, s->snap, state, index, &s->status, false, part, s->started, sent_at);
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
        struct reg_snap *s;
        bool *part, *got;
        uint64_t *sent_at;
        size_t n;
        int status = -ENODEV, r = 0;

        s = procnotify_snapshot(e);
        if (!s)
                return -ENOMEM;
        n = s->n ? s->n : 1;
        part = procnotify_removal_part(e, s);
        got = calloc(n, sizeof(*got));
        sent_at = calloc(n, sizeof(*sent_at));
        if (part && got && sent_at) {
                engine_txn_lock(e);
                procnotify_phase(e, s, DHP_PROC_REMOVE_COMPLETE, index, &status, false, part, got, sent_at);
                engine_txn_unlock(e);
        } else {
                r = -ENOMEM;
        }
        free(part);
        free(got);
        free(sent_at);
        procnotify_snapshot_free(e, s);
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
