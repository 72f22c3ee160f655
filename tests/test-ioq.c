/* SPDX-License-Identifier: MIT */
/* The held-I/O helper: holding, draining and releasing in order, alone and
 * under eight submitting threads during a thousand back-to-back
 * rebalances. */
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include "helpers.h"

/* ---- one thread ------------------------------------------------------- */

struct seen {
        int n;
        intptr_t v[64];
        pthread_t thread[64];
};

static void record(void *userdata, void *req) {
        struct seen *s = userdata;

        s->thread[s->n] = pthread_self();
        s->v[s->n++] = (intptr_t)req;
}

static void test_hold_release_order(void **state) {
        struct seen s = { 0 };
        dhp_ioq *q;
        uint64_t v;

        assert_int_equal(dhp_ioq_new(&q, NULL, NULL), -EINVAL);
        assert_int_equal(dhp_ioq_new(&q, record, &s), 0);
        assert_int_equal(dhp_ioq_submit(q, (void *)1), DHP_IOQ_DISPATCHED);
        assert_int_equal(s.n, 1);
        assert_true(pthread_equal(s.thread[0], pthread_self()));
        assert_int_equal(dhp_ioq_release(q), 0); /* not held */
        assert_int_equal(dhp_ioq_hold(q), 0);
        assert_int_equal(dhp_ioq_hold(q), -EALREADY);
        for (intptr_t i = 2; i <= 40; i++)
                assert_int_equal(dhp_ioq_submit(q, (void *)i), DHP_IOQ_HELD);
        assert_int_equal(s.n, 1);
        assert_int_equal(dhp_ioq_get_stat(q, DHP_IOQ_STAT_PENDING, &v), 0);
        assert_int_equal(v, 39);
        assert_int_equal(dhp_ioq_get_stat(q, DHP_IOQ_STAT_SUBMITTED, &v), 0);
        assert_int_equal(v, 40);
        assert_int_equal(dhp_ioq_release(q), 39);
        assert_int_equal(s.n, 40);
        for (int i = 0; i < 40; i++)
                assert_int_equal(s.v[i], i + 1);
        assert_int_equal(dhp_ioq_submit(q, (void *)41), DHP_IOQ_DISPATCHED);
        assert_int_equal(dhp_ioq_get_stat(q, DHP_IOQ_STAT_HELD, &v), 0);
        assert_int_equal(v, 39);
        assert_int_equal(dhp_ioq_get_stat(q, DHP_IOQ_STAT_HOLDS, &v), 0);
        assert_int_equal(v, 1);
        assert_int_equal(dhp_ioq_get_stat(q, DHP_IOQ_STAT_INFLIGHT, &v), 0);
        assert_int_equal(v, 41);
        assert_int_equal(dhp_ioq_get_stat(q, 99, &v), -EINVAL);
        dhp_ioq_free(q);
        dhp_ioq_free(NULL);
}

struct completer_arg {
        dhp_ioq *q;
        struct flag go;
};

static void *complete_later(void *userdata) {
        struct completer_arg *a = userdata;

        flag_wait(&a->go, 1, 5000);
        dhp_ioq_complete(a->q, NULL);
        return NULL;
}

static void nop(void *userdata, void *req) {
}

static void test_drain_waits_for_inflight(void **state) {
        struct completer_arg a;
        pthread_t t;
        uint64_t v;

        flag_init(&a.go);
        assert_int_equal(dhp_ioq_new(&a.q, nop, NULL), 0);
        assert_int_equal(dhp_ioq_drain(a.q, 0), 0); /* nothing in flight */
        assert_int_equal(dhp_ioq_submit(a.q, (void *)1), DHP_IOQ_DISPATCHED);
        assert_int_equal(dhp_ioq_hold(a.q), 0);
        /* In flight and nobody completes it: a bounded drain times out. */
        assert_int_equal(dhp_ioq_drain(a.q, 1), -ETIMEDOUT);
        assert_int_equal(pthread_create(&t, NULL, complete_later, &a), 0);
        flag_set(&a.go, 1);
        assert_int_equal(dhp_ioq_drain(a.q, 5000), 0);
        pthread_join(t, NULL);
        assert_int_equal(dhp_ioq_get_stat(a.q, DHP_IOQ_STAT_INFLIGHT, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(dhp_ioq_release(a.q), 0);
        dhp_ioq_free(a.q);
}

/* ---- eight submitters, a thousand rebalances ---------------------------- */

#define SUBMITTERS 8
#define PER_THREAD (1 << 16)
#define REBALANCES 1000

struct req {
        uint32_t thread, seq;
        atomic_int completed;
};

struct stress {
        dhp_ioq *q;
        struct req *reqs[SUBMITTERS];
        atomic_uint submitted[SUBMITTERS];
        atomic_uint next[SUBMITTERS]; /* the seq process expects next */
        atomic_int out_of_order;
        atomic_int submit_errors;
        atomic_int drain_timeouts;
        atomic_int hold_errors;
        atomic_int stop;
        atomic_int started;
        /* Some submission found the queue held (see ioq_driver). */
        atomic_int saw_held;
        /* Rebalances done: submitters pace their batches on it, so that
         * submissions span the whole series. */
        struct flag epoch;
        /* Completions handed to the completer thread: real in-flight I/O. */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct req **pending;
        size_t head, len, cap;
        bool completer_stop;
};

static void stress_process(void *userdata, void *request) {
        struct stress *s = userdata;
        struct req *r = request;

        if (atomic_fetch_add(&s->next[r->thread], 1) != r->seq)
                atomic_fetch_add(&s->out_of_order, 1);
        if (r->seq % 4 == 0) {
                /* Complete on the completer thread: in flight meanwhile. */
                pthread_mutex_lock(&s->lock);
                s->pending[(s->head + s->len++) % s->cap] = r;
                pthread_cond_signal(&s->cond);
                pthread_mutex_unlock(&s->lock);
                return;
        }
        atomic_fetch_add(&r->completed, 1);
        dhp_ioq_complete(s->q, r);
}

static void *completer(void *userdata) {
        struct stress *s = userdata;

        pthread_mutex_lock(&s->lock);
        for (;;) {
                while (s->len == 0 && !s->completer_stop)
                        pthread_cond_wait(&s->cond, &s->lock);
                if (s->len == 0)
                        break;
                struct req *r = s->pending[s->head];
                s->head = (s->head + 1) % s->cap;
                s->len--;
                pthread_mutex_unlock(&s->lock);
                atomic_fetch_add(&r->completed, 1);
                dhp_ioq_complete(s->q, r);
                pthread_mutex_lock(&s->lock);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

struct submitter {
        struct stress *s;
        uint32_t id;
};

static void *submit_loop(void *userdata) {
        struct submitter *sub = userdata;
        struct stress *s = sub->s;

        atomic_fetch_add(&s->started, 1);
        for (uint32_t i = 0; i < PER_THREAD && !atomic_load(&s->stop); i++) {
                struct req *r = &s->reqs[sub->id][i];
                if (i % (PER_THREAD / REBALANCES) == 0)
                        flag_wait(&s->epoch, (int)(i / (PER_THREAD / REBALANCES)), 5000);
                r->thread = sub->id;
                r->seq = i;
                if (dhp_ioq_submit(s->q, r) < 0) {
                        atomic_fetch_add(&s->submit_errors, 1);
                        break;
                }
                atomic_store(&s->submitted[sub->id], i + 1);
        }
        return NULL;
}

static int ioq_driver(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        struct stress *s = userdata;

        switch (req) {
        case DHP_REBALANCE_QUERY_STOP:
                if (dhp_ioq_hold(s->q) < 0)
                        atomic_fetch_add(&s->hold_errors, 1);
                break;
        case DHP_REBALANCE_STOP:
                /* A rebalance takes well under a microsecond with no
                 * monitor attached: keep the queue held (at most 2 ms a
                 * rebalance) until one submission has run into a hold, so
                 * that the held path is exercised whatever the timing. */
                for (int i = 0; i < 2000 && !atomic_load(&s->saw_held); i++) {
                        uint64_t pending = 0;
                        dhp_ioq_get_stat(s->q, DHP_IOQ_STAT_PENDING, &pending);
                        if (pending > 0)
                                atomic_store(&s->saw_held, 1);
                        else
                                usleep(1);
                }
                if (dhp_ioq_drain(s->q, 5000) < 0)
                        atomic_fetch_add(&s->drain_timeouts, 1);
                break;
        case DHP_REBALANCE_START:
        case DHP_REBALANCE_CANCEL_STOP:
                dhp_ioq_release(s->q);
                break;
        }
        return 0;
}

static void test_eight_submitters_thousand_rebalances(void **state) {
        static struct stress s;
        struct submitter subs[SUBMITTERS];
        pthread_t th[SUBMITTERS], ct;
        dhp_device *dev;
        dhp_driver *drv;
        uint64_t held, holds, completed, submitted, total = 0;
        char target[64];
        dhp *ctx;

        memset(&s, 0, sizeof(s));
        pthread_mutex_init(&s.lock, NULL);
        pthread_cond_init(&s.cond, NULL);
        flag_init(&s.epoch);
        s.cap = SUBMITTERS * PER_THREAD;
        s.pending = calloc(s.cap, sizeof(*s.pending));
        assert_non_null(s.pending);
        for (int t = 0; t < SUBMITTERS; t++) {
                s.reqs[t] = calloc(PER_THREAD, sizeof(struct req));
                assert_non_null(s.reqs[t]);
        }
        assert_int_equal(dhp_ioq_new(&s.q, stress_process, &s), 0);
        snprintf(target, sizeof(target), "sim:cpus=1,maxcpus=%d", REBALANCES + 1);
        assert_int_equal(dhp_open(&ctx, target), 0);
        assert_int_equal(dhp_device_new(ctx, "disk0", DHP_SETUP_CLASS_STORAGE, &dev), 0);
        assert_int_equal(dhp_driver_attach(dev, "disk", ioq_driver, &s, &drv), 0);

        assert_int_equal(pthread_create(&ct, NULL, completer, &s), 0);
        for (uint32_t t = 0; t < SUBMITTERS; t++) {
                subs[t] = (struct submitter){ &s, t };
                assert_int_equal(pthread_create(&th[t], NULL, submit_loop, &subs[t]), 0);
        }
        for (int i = 0; i < REBALANCES; i++) {
                assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
                assert_int_equal(dhp_process(ctx), 2);
                flag_set(&s.epoch, i + 1);
        }
        atomic_store(&s.stop, 1);
        for (int t = 0; t < SUBMITTERS; t++)
                pthread_join(th[t], NULL);
        assert_int_equal(dhp_ioq_drain(s.q, 10000), 0);
        pthread_mutex_lock(&s.lock);
        s.completer_stop = true;
        pthread_cond_signal(&s.cond);
        pthread_mutex_unlock(&s.lock);
        pthread_join(ct, NULL);

        assert_int_equal(atomic_load(&s.submit_errors), 0);
        assert_int_equal(atomic_load(&s.hold_errors), 0);
        assert_int_equal(atomic_load(&s.drain_timeouts), 0);
        assert_int_equal(atomic_load(&s.out_of_order), 0);
        /* Every request submitted was processed and completed exactly once;
         * none was invented. */
        for (int t = 0; t < SUBMITTERS; t++) {
                uint32_t n = atomic_load(&s.submitted[t]);
                assert_int_equal(atomic_load(&s.next[t]), n);
                for (uint32_t i = 0; i < n; i++)
                        if (atomic_load(&s.reqs[t][i].completed) != 1)
                                fail_msg("thread %d request %u completed %d times", t, i,
                                         atomic_load(&s.reqs[t][i].completed));
                for (uint32_t i = n; i < PER_THREAD; i++)
                        assert_int_equal(atomic_load(&s.reqs[t][i].completed), 0);
                total += n;
        }
        assert_int_equal(dhp_ioq_get_stat(s.q, DHP_IOQ_STAT_SUBMITTED, &submitted), 0);
        assert_int_equal(dhp_ioq_get_stat(s.q, DHP_IOQ_STAT_COMPLETED, &completed), 0);
        assert_int_equal(dhp_ioq_get_stat(s.q, DHP_IOQ_STAT_HOLDS, &holds), 0);
        assert_int_equal(dhp_ioq_get_stat(s.q, DHP_IOQ_STAT_HELD, &held), 0);
        assert_int_equal(submitted, total);
        assert_int_equal(completed, total);
        assert_int_equal(holds, REBALANCES);
        /* How many submissions landed inside a hold window is up to the
         * scheduler (it can be 0 on a busy 2-core machine), so it is a
         * figure, not an assertion; holding itself is asserted
         * deterministically by test_hold_release_order. */
        fprintf(stderr, "# %llu requests, %llu held over %llu holds\n", (unsigned long long)total,
                (unsigned long long)held, (unsigned long long)holds);

        dhp_close(ctx);
        dhp_ioq_free(s.q);
        for (int t = 0; t < SUBMITTERS; t++)
                free(s.reqs[t]);
        free(s.pending);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hold_release_order),
                cmocka_unit_test(test_drain_waits_for_inflight),
                cmocka_unit_test(test_eight_submitters_thousand_rebalances),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
