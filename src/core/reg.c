/* SPDX-License-Identifier: MIT */
/*
 * Registrations of both methods: their lists' snapshots and the handshake
 * between a deregistration and whoever runs callbacks (struct runner in
 * engine-internal.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/engine-internal.h"

void reg_init(struct engine *e, struct reg *r, const char *name, uint32_t flags, void *userdata) {
        list_init(&r->node);
        r->engine = e;
        r->refs = 1;
        r->flags = flags;
        r->userdata = userdata;
        pthread_mutex_lock(&e->lock);
        snprintf(r->name, sizeof(r->name), "%s", name && *name ? name : e->default_name);
        r->id = ++e->reg_seq;
        pthread_mutex_unlock(&e->lock);
}

void reg_unref_locked(struct reg *r) {
        if (--r->refs == 0)
                free(r); /* struct reg is first in both registration kinds */
}

/* ---- snapshots and the runner handshake ------------------------------ */

struct reg_snap *reg_snap_get_locked(struct engine *e, enum reg_kind k) {
        struct list *l = k == REG_PROC ? &e->proc_regs : &e->arrival_regs;
        dhp_class cls = k == REG_ARRIVAL_CPU ? DHP_CLASS_PROCESSOR : DHP_CLASS_MEMORY;
        struct reg_snap *s = e->snap[k];
        size_t n = 0;

        if (s) {
                s->refs++;
                return s;
        }
        list_for_each(p, l)
                n++;
        s = malloc(sizeof(*s) + n * sizeof(s->v[0]));
        if (!s)
                return NULL;
        s->refs = 2; /* the cache's and the caller's */
        s->kind = k;
        s->peers = false;
        s->n = 0;
        list_for_each(p, l) {
                struct reg *r = list_entry(p, struct reg, node);
                struct reg_slot *slot = &s->v[s->n];

                if (k == REG_PROC) {
                        struct dhp_proc_reg *pr = (struct dhp_proc_reg *)r;
                        slot->cb.proc = pr->cb;
                        slot->peer = pr->peer != NULL;
                        s->peers |= slot->peer;
                } else {
                        struct dhp_arrival_reg *ar = (struct dhp_arrival_reg *)r;
                        if (ar->cls != cls)
                                continue;
                        slot->cb.arrival = ar->cb;
                        slot->peer = false;
                }
                slot->userdata = r->userdata;
                slot->reg = r;
                slot->id = r->id;
                atomic_init(&slot->dead, false);
                reg_ref_locked(r);
                s->n++;
        }
        list_append(&e->snaps, &s->node);
        e->snap[k] = s;
        return s;
}

void reg_snap_unref_locked(struct engine *e, struct reg_snap *s) {
        if (!s || --s->refs > 0)
                return;
        list_remove(&s->node);
        for (size_t i = 0; i < s->n; i++)
                reg_unref_locked(s->v[i].reg);
        free(s);
}

void reg_list_changed_locked(struct engine *e, enum reg_kind k) {
        struct reg_snap *s = e->snap[k];

        e->snap[k] = NULL;
        reg_snap_unref_locked(e, s);
}

/* Every snapshot, at engine_free(): the cached ones and those a peer's
 * phases still hold (peer_phases_end() after close is not allowed). */
void reg_snaps_free_locked(struct engine *e) {
        for (int k = 0; k < REG_KINDS; k++)
                reg_list_changed_locked(e, k);
        list_for_each_safe(n, tmp, &e->snaps) {
                struct reg_snap *s = list_entry(n, struct reg_snap, node);
                s->refs = 1;
                reg_snap_unref_locked(e, s);
        }
}

/* Mark r dead in every snapshot alive; true when s holds it. */
static bool snaps_mark_dead_locked(struct engine *e, struct reg *r, const struct reg_snap *s) {
        bool found = false;

        list_for_each(p, &e->snaps) {
                struct reg_snap *t = list_entry(p, struct reg_snap, node);
                if (t->kind != r->kind)
                        continue;
                for (size_t i = 0; i < t->n; i++)
                        if (t->v[i].reg == r) {
                                atomic_store(&t->v[i].dead, true);
                                found |= t == s;
                        }
        }
        return found;
}

void engine_run_begin_locked(struct engine *e, struct reg_snap *s, struct reg *single) {
        e->sync_run.active = true;
        e->sync_run.thread = pthread_self();
        e->sync_run.snap = s;
        e->sync_run.single = single;
}

void engine_run_end_locked(struct engine *e) {
        e->sync_run.active = false;
        e->sync_run.snap = NULL;
        e->sync_run.single = NULL;
        e->sync_run.gen++;
        if (atomic_load_explicit(&e->sync_run.waiters, memory_order_relaxed))
                pthread_cond_broadcast(&e->cond);
}

static bool runner_elsewhere(const struct runner *run) {
        return run->active && !pthread_equal(run->thread, pthread_self());
}

void reg_kill(struct reg *r) {
        struct engine *e = r->engine;
        struct runner *run;
        bool in_phase;
        uint64_t gen, step;

        pthread_mutex_lock(&e->lock);
        if (!atomic_load_explicit(&r->dead, memory_order_relaxed)) {
                atomic_store(&r->dead, true);
                list_remove(&r->node);
                reg_list_changed_locked(e, r->kind);
        }
        /* After the cached snapshot was dropped: only those in use remain. */
        in_phase = snaps_mark_dead_locked(e, r, e->sync_run.snap);
        /* A phase on another thread that may still call r: wait for its end.
         * On this thread it is the caller itself, deregistering from inside
         * a callback: the phase skips r from now on. */
        run = &e->sync_run;
        if (runner_elsewhere(run) && (in_phase || run->single == r)) {
                gen = run->gen;
                atomic_fetch_add(&run->waiters, 1);
                while (run->active && run->gen == gen)
                        pthread_cond_wait(&e->cond, &e->lock);
                atomic_fetch_sub(&run->waiters, 1);
        }
        /* The dispatcher on another thread: wait for the item in progress;
         * the next one sees dead (struct runner). */
        run = &e->async_run;
        if (r->kind != REG_PROC && runner_elsewhere(run)) {
                atomic_fetch_add(&run->waiters, 1);
                step = atomic_load(&run->step);
                gen = run->gen;
                while (run->active && run->gen == gen && atomic_load(&run->step) == step)
                        pthread_cond_wait(&e->cond, &e->lock);
                atomic_fetch_sub(&run->waiters, 1);
        }
        reg_unref_locked(r); /* the registration's own reference */
        pthread_mutex_unlock(&e->lock);
}

/* The dispatcher's side of the handshake: after each item, step, then
 * waiters (struct runner). */
int engine_run_batch(struct engine *e, struct engine_item *it, struct engine_item **ret_pool,
                          unsigned *ret_npool) {
        struct runner *run = &e->async_run;
        struct engine_item *pool = NULL;
        uint64_t step = atomic_load_explicit(&run->step, memory_order_relaxed);
        unsigned npool = 0;
        int n = 0;

        while (it) {
                struct engine_item *next = it->next;

                it->run(e, it);
                if (it->free) {
                        it->free(it);
                } else {
                        it->next = pool;
                        pool = it;
                        npool++;
                }
                n++;
                atomic_store(&run->step, ++step);
                if (atomic_load(&run->waiters)) {
                        pthread_mutex_lock(&e->lock);
                        pthread_cond_broadcast(&e->cond);
                        pthread_mutex_unlock(&e->lock);
                }
                it = next;
        }
        *ret_pool = pool;
        *ret_npool = npool;
        return n;
}
