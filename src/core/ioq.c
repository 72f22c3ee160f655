/* SPDX-License-Identifier: MIT */
/*
 * The held-I/O queue.
 *
 * The fast path takes no lock.  A submitter counts its request as
 * dispatched, then looks at `holding`; dhp_ioq_hold() sets `holding`, then
 * dhp_ioq_drain() compares the dispatched and completed counts.  Both sides
 * use sequentially consistent operations, so either the submitter sees the
 * hold (and takes the request back into the held queue, under the lock) or
 * the drainer sees the request in flight.  The counts only grow, apart from
 * that taking back, and `completed` never passes `dispatched`: reading
 * `completed` first and `dispatched` second, equal values mean nothing was
 * in flight at the second read.
 *
 * Order: `holding` stays nonzero until the held queue is empty, under the
 * lock, so a submitter's later request never overtakes its earlier one.
 * While the releasing thread empties the queue (RELEASING), a submission
 * from another thread waits for it to finish and then dispatches: otherwise
 * submitters faster than the releaser would keep it releasing, and the
 * device stopped, for as long as they submit.  A submission from the
 * releasing thread itself (process() resubmitting) joins the queue and is
 * released in the same pass.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/ioq.h"
#include "util/time.h"

enum { RUNNING = 0, HOLDING = 1, RELEASING = 2 };

struct dhp_ioq {
        /* Hot: written by every submitter and completer. */
        _Alignas(64) atomic_uint_fast64_t dispatched;
        _Alignas(64) atomic_uint_fast64_t completed;
        _Alignas(64) atomic_int holding; /* RUNNING, HOLDING, RELEASING */
        atomic_int waiters; /* threads in dhp_ioq_drain */

        dhp_ioq_process_fn process;
        void *userdata;

        pthread_mutex_t lock;
        pthread_cond_t cond; /* in-flight count reached zero; release done */
        pthread_t releaser;
        /* The held requests: a ring, grown by doubling. */
        void **ring;
        size_t cap, head, len;
        uint64_t held_total;
        uint64_t holds;
        uint64_t hold_t0, hold_last, hold_max, hold_total;
};

DHP_EXPORT int dhp_ioq_new(dhp_ioq **ret, dhp_ioq_process_fn process, void *userdata) {
        pthread_condattr_t ca;
        struct dhp_ioq *q;

        if (!ret || !process)
                return -EINVAL;
        q = aligned_alloc(64, (sizeof(*q) + 63) / 64 * 64);
        if (!q)
                return -ENOMEM;
        *q = (struct dhp_ioq){ .process = process, .userdata = userdata };
        atomic_init(&q->dispatched, 0);
        atomic_init(&q->completed, 0);
        atomic_init(&q->holding, 0);
        atomic_init(&q->waiters, 0);
        pthread_mutex_init(&q->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&q->cond, &ca);
        pthread_condattr_destroy(&ca);
        *ret = q;
        return 0;
}

DHP_EXPORT void dhp_ioq_free(dhp_ioq *q) {
        if (!q)
                return;
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->cond);
        free(q->ring);
        free(q);
}

/* Wake a drainer when the in-flight count may have reached zero. */
static void wake_drainers(struct dhp_ioq *q) {
        if (atomic_load(&q->waiters) > 0) {
                pthread_mutex_lock(&q->lock);
                pthread_cond_broadcast(&q->cond);
                pthread_mutex_unlock(&q->lock);
        }
}

static int push_locked(struct dhp_ioq *q, void *req) {
        if (q->len == q->cap) {
                size_t cap = q->cap ? q->cap * 2 : 64;
                void **v;

                if (q->len >= IOQ_MAX_HELD)
                        return -ENOBUFS;
                v = malloc(cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                /* Unroll the ring into the new array, oldest first. */
                for (size_t i = 0; i < q->len; i++)
                        v[i] = q->ring[(q->head + i) % q->cap];
                free(q->ring);
                q->ring = v;
                q->cap = cap;
                q->head = 0;
        }
        q->ring[(q->head + q->len) % q->cap] = req;
        q->len++;
        return 0;
}

static void *pop_locked(struct dhp_ioq *q) {
        void *req = q->ring[q->head];

        q->head = (q->head + 1) % q->cap;
        q->len--;
        return req;
}

DHP_EXPORT int dhp_ioq_submit(dhp_ioq *q, void *req) {
        int r;

        if (!q)
                return -EINVAL;
        atomic_fetch_add(&q->dispatched, 1);
        if (!atomic_load(&q->holding)) {
                q->process(q->userdata, req);
                return DHP_IOQ_DISPATCHED;
        }

        /* Held: take the count back and queue it. */
        atomic_fetch_sub(&q->dispatched, 1);
        pthread_mutex_lock(&q->lock);
        pthread_cond_broadcast(&q->cond); /* the drainer may wait on our count */
        while (atomic_load(&q->holding) == RELEASING && !pthread_equal(q->releaser, pthread_self()))
                pthread_cond_wait(&q->cond, &q->lock);
        if (atomic_load(&q->holding)) {
                r = push_locked(q, req);
                if (r == 0) {
                        q->held_total++;
                        r = DHP_IOQ_HELD;
                }
                pthread_mutex_unlock(&q->lock);
                return r;
        }
        /* Released meanwhile, and the queue is empty (it is emptied
         * before `holding` is cleared): nothing to overtake. */
        atomic_fetch_add(&q->dispatched, 1);
        pthread_mutex_unlock(&q->lock);
        q->process(q->userdata, req);
        return DHP_IOQ_DISPATCHED;
}

DHP_EXPORT void dhp_ioq_complete(dhp_ioq *q, void *req) {
        if (!q)
                return;
        atomic_fetch_add(&q->completed, 1);
        wake_drainers(q);
}

DHP_EXPORT int dhp_ioq_hold(dhp_ioq *q) {
        int r = 0;

        if (!q)
                return -EINVAL;
        pthread_mutex_lock(&q->lock);
        if (atomic_load(&q->holding))
                r = -EALREADY;
        else {
                atomic_store(&q->holding, HOLDING);
                q->hold_t0 = time_now_ns();
        }
        pthread_mutex_unlock(&q->lock);
        return r;
}

static bool idle(struct dhp_ioq *q) {
        uint64_t c = atomic_load(&q->completed);

        return atomic_load(&q->dispatched) == c;
}

DHP_EXPORT int dhp_ioq_drain(dhp_ioq *q, int timeout_ms) {
        struct timespec deadline;
        int r = 0;

        if (!q)
                return -EINVAL;
        if (idle(q))
                return 0;
        if (timeout_ms >= 0)
                deadline = time_deadline_ms(timeout_ms);
        pthread_mutex_lock(&q->lock);
        atomic_fetch_add(&q->waiters, 1);
        while (!idle(q)) {
                if (timeout_ms < 0)
                        pthread_cond_wait(&q->cond, &q->lock);
                else if (pthread_cond_timedwait(&q->cond, &q->lock, &deadline) == ETIMEDOUT) {
                        r = idle(q) ? 0 : -ETIMEDOUT;
                        break;
                }
        }
        atomic_fetch_sub(&q->waiters, 1);
        pthread_mutex_unlock(&q->lock);
        return r;
}

DHP_EXPORT int dhp_ioq_release(dhp_ioq *q) {
        uint64_t dt;
        int n = 0;

        if (!q)
                return -EINVAL;
        pthread_mutex_lock(&q->lock);
        if (atomic_load(&q->holding) != HOLDING) {
                pthread_mutex_unlock(&q->lock);
                return 0;
        }
        atomic_store(&q->holding, RELEASING);
        q->releaser = pthread_self();
        while (q->len > 0) {
                void *req = pop_locked(q);

                atomic_fetch_add(&q->dispatched, 1);
                pthread_mutex_unlock(&q->lock);
                q->process(q->userdata, req);
                if (n < INT32_MAX)
                        n++;
                pthread_mutex_lock(&q->lock);
        }
        atomic_store(&q->holding, RUNNING);
        pthread_cond_broadcast(&q->cond);
        dt = time_now_ns() - q->hold_t0;
        q->holds++;
        q->hold_last = dt;
        q->hold_total += dt;
        if (dt > q->hold_max)
                q->hold_max = dt;
        pthread_mutex_unlock(&q->lock);
        return n;
}

DHP_EXPORT int dhp_ioq_get_stat(dhp_ioq *q, dhp_ioq_stat which, uint64_t *ret) {
        uint64_t v, c, d;

        if (!q || !ret)
                return -EINVAL;
        pthread_mutex_lock(&q->lock);
        c = atomic_load(&q->completed);
        d = atomic_load(&q->dispatched);
        switch (which) {
        case DHP_IOQ_STAT_SUBMITTED: v = d + q->len; break;
        case DHP_IOQ_STAT_DISPATCHED: v = d; break;
        case DHP_IOQ_STAT_COMPLETED: v = c; break;
        case DHP_IOQ_STAT_INFLIGHT: v = d - c; break;
        case DHP_IOQ_STAT_HELD: v = q->held_total; break;
        case DHP_IOQ_STAT_PENDING: v = q->len; break;
        case DHP_IOQ_STAT_HOLDS: v = q->holds; break;
        case DHP_IOQ_STAT_HOLD_NS_LAST: v = q->hold_last; break;
        case DHP_IOQ_STAT_HOLD_NS_MAX: v = q->hold_max; break;
        case DHP_IOQ_STAT_HOLD_NS_TOTAL: v = q->hold_total; break;
        default:
                pthread_mutex_unlock(&q->lock);
                return -EINVAL;
        }
        pthread_mutex_unlock(&q->lock);
        *ret = v;
        return 0;
}
