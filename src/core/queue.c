/* SPDX-License-Identifier: MIT */
/*
 * The engine's asynchronous queue: work a transaction leaves for later
 * (arrival deliveries, memory condition re-evaluations, rebalances), run
 * by whoever embeds the engine when the wake hook fires.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine-internal.h"
#include "util/time.h"

engine_wake_fn engine_queue_locked(struct engine *e, struct engine_item *it, void **ret_ud) {
        bool was_empty = !e->q_head && !e->dispatching;

        it->next = NULL;
        *e->q_tail = it;
        e->q_tail = &it->next;
        *ret_ud = e->wake_userdata;
        return was_empty ? e->wake : NULL;
}

void engine_queue(struct engine *e, struct engine_item *it) {
        engine_wake_fn wake;
        void *ud;

        pthread_mutex_lock(&e->lock);
        wake = engine_queue_locked(e, it, &ud);
        pthread_mutex_unlock(&e->lock);
        if (wake)
                wake(ud);
}

/* Pooled items kept at most; the rest go back to malloc. */
#define ENGINE_POOL_MAX 1024u

/*
 * The whole queue is taken in one lock and run without it; items queued
 * meanwhile form the next batch.  Arrival items of a batch share one
 * snapshot of the registrations per class.
 */
int engine_dispatch(struct engine *e) {
        struct runner *run = &e->async_run;
        int n = 0;

        pthread_mutex_lock(&e->lock);
        if (e->dispatching && pthread_equal(e->dispatch_owner, pthread_self())) {
                pthread_mutex_unlock(&e->lock);
                return -EDEADLK;
        }
        pthread_mutex_unlock(&e->lock);

        pthread_mutex_lock(&e->dispatch_lock);
        pthread_mutex_lock(&e->lock);
        e->dispatching = true;
        e->dispatch_owner = pthread_self();
        while (e->q_head) {
                struct engine_item *batch = e->q_head, *pool, *excess = NULL;
                unsigned npool;

                e->q_head = NULL;
                e->q_tail = &e->q_head;
                run->active = true;
                run->thread = pthread_self();
                run->arrival[0] = reg_snap_get_locked(e, REG_ARRIVAL_CPU);
                run->arrival[1] = reg_snap_get_locked(e, REG_ARRIVAL_MEM);
                pthread_mutex_unlock(&e->lock);

                n += engine_run_batch(e, batch, &pool, &npool);

                pthread_mutex_lock(&e->lock);
                reg_snap_unref_locked(e, run->arrival[0]);
                reg_snap_unref_locked(e, run->arrival[1]);
                run->arrival[0] = run->arrival[1] = NULL;
                run->active = false;
                run->gen++;
                while (pool) {
                        struct engine_item *it = pool;
                        pool = it->next;
                        if (e->npool < ENGINE_POOL_MAX) {
                                it->next = e->pool;
                                e->pool = it;
                                e->npool++;
                        } else {
                                it->next = excess;
                                excess = it;
                        }
                }
                pthread_cond_broadcast(&e->cond);
                if (excess) {
                        pthread_mutex_unlock(&e->lock);
                        while (excess) {
                                struct engine_item *it = excess;
                                excess = it->next;
                                free(it);
                        }
                        pthread_mutex_lock(&e->lock);
                }
        }
        e->dispatching = false;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->lock);
        pthread_mutex_unlock(&e->dispatch_lock);
        return n;
}

bool engine_idle(struct engine *e) {
        bool idle;

        pthread_mutex_lock(&e->lock);
        idle = !e->q_head && !e->dispatching;
        pthread_mutex_unlock(&e->lock);
        return idle;
}

int engine_wait_idle(struct engine *e, int timeout_ms) {
        struct timespec deadline = time_deadline_ms(timeout_ms);
        int r = 0;

        pthread_mutex_lock(&e->lock);
        while (e->q_head || e->dispatching) {
                if (pthread_cond_timedwait(&e->cond, &e->lock, &deadline) == ETIMEDOUT) {
                        r = (e->q_head || e->dispatching) ? -ETIMEDOUT : 0;
                        break;
                }
        }
        pthread_mutex_unlock(&e->lock);
        return r;
}
