/* SPDX-License-Identifier: MIT */
/*
 * bench-dispatch: what a notification costs in-process, beside the plain
 * code it competes with, measured in the same run.
 *
 *  1. Synchronous dispatch.  A processor hot-add through dhp_sim_cpu_add()
 *     with N registrations calls each callback twice (ADD_START, then
 *     ADD_COMPLETE).  T(N) is the time of one add; T(0) the fixed cost of
 *     the transaction (start, admit, the arrival queued, the hooks); the
 *     cost per callback call is (T(N) - T(0)) / 2N.  The baseline is a loop
 *     of 2N indirect calls through an array of {function, userdata}.
 *
 *  2. Asynchronous delivery.  A producer thread queues processor arrivals
 *     with the call a transaction makes (arrival_queue_processor), the
 *     context's notification thread (dhp_start_thread) delivers each to one
 *     callback; notifications per second from the first queued to the last
 *     delivered.  The baseline is a mutex + condition variable queue of
 *     malloc'ed items between the same two threads.  Also the same with no
 *     second thread: M queued, then one dhp_process() delivering them all,
 *     against popping M items off the mutex queue.
 *
 *   bench-dispatch [MAX_CALLBACKS] [NOTIFICATIONS] [sync | async | N...]
 *   (10000, 1000000; every figure, or as main says)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "core/engine-internal.h"
#include "dhp.h"
#include "lib/dhp-private.h"

/* ---- 1. synchronous dispatch ------------------------------------------ */

#define SIM_TARGET "sim:cpus=1,maxcpus=4096"
#define SIM_SLOTS 4095u

static void on_cpu(void *userdata, const dhp_proc_change *c) {
        (*(uint64_t *)userdata)++;
}

struct sync_bench {
        unsigned ncb;
        unsigned adds; /* per sample */
        dhp *ctx;
        dhp_proc_reg **regs;
        unsigned used; /* slots used in ctx */
        uint64_t calls;
};

static void sync_open(struct sync_bench *b) {
        if (dhp_open(&b->ctx, SIM_TARGET) < 0)
                abort();
        for (unsigned i = 0; i < b->ncb; i++)
                if (dhp_proc_register(b->ctx, "bench", 0, on_cpu, &b->calls, &b->regs[i]) < 0)
                        abort();
        b->used = 0;
}

static void sync_close(struct sync_bench *b) {
        for (unsigned i = 0; i < b->ncb; i++)
                dhp_proc_deregister(b->regs[i]);
        dhp_close(b->ctx);
        b->ctx = NULL;
}

/* ns per add */
static double sync_sample(void *userdata) {
        struct sync_bench *b = userdata;
        uint64_t t0, t;

        if (b->used + b->adds > SIM_SLOTS) {
                sync_close(b);
                sync_open(b);
        }
        t0 = bench_now_ns();
        for (unsigned i = 0; i < b->adds; i++)
                if (dhp_sim_cpu_add(b->ctx, NULL) != 0)
                        abort();
        t = bench_now_ns() - t0;
        b->used += b->adds;
        dhp_process(b->ctx); /* the arrivals, outside the timing */
        return (double)t / b->adds;
}

struct call_entry {
        void (*cb)(void *userdata, const dhp_proc_change *c);
        void *userdata;
};

struct loop_bench {
        struct call_entry *v;
        unsigned ncb;
        unsigned reps;
};

/* The baseline's loop, out of line so that the calls stay indirect. */
__attribute__((noinline)) static void loop_run(struct call_entry *v, unsigned n, const dhp_proc_change *c) {
        for (unsigned i = 0; i < n; i++)
                v[i].cb(v[i].userdata, c);
}

/* ns per call */
static double loop_sample(void *userdata) {
        struct loop_bench *b = userdata;
        struct call_entry *volatile vv = b->v; /* keep the targets opaque */
        uint64_t t0 = bench_now_ns();

        for (unsigned r = 0; r < b->reps; r++) {
                loop_run(vv, b->ncb, NULL); /* ADD_START */
                loop_run(vv, b->ncb, NULL); /* ADD_COMPLETE */
        }
        return (double)(bench_now_ns() - t0) / ((double)b->reps * 2 * b->ncb);
}

/* ns per callback call, one run: (T(N) - median T(0)) / 2N */
struct call_bench {
        struct sync_bench *b;
        double fixed;
};

static double call_sample(void *userdata) {
        struct call_bench *cb = userdata;

        return (sync_sample(cb->b) - cb->fixed) / (2.0 * cb->b->ncb);
}

static void bench_sync(const unsigned *sizes, size_t nsizes) {
        struct bench_stat fixed = { 0 };
        uint64_t calls = 0;

        printf("1. Synchronous dispatch (dhp_sim_cpu_add with N registrations), ns per callback call\n");
        bench_print_header();
        for (size_t k = 0; k < nsizes; k++) {
                unsigned n = sizes[k];
                struct sync_bench b = { .ncb = n };
                struct loop_bench lb = { .ncb = n };
                struct call_bench cb = { .b = &b, .fixed = fixed.med };
                struct bench_stat s, ls, q;
                char label[64];

                /* About 2M callback calls per sample (20 000 in a smoke
                 * run), at least 16 adds. */
                b.adds = n ? (bench_quick() ? 10000 : 1000000) / n : (bench_quick() ? 20 : 2000);
                if (b.adds < 16)
                        b.adds = 16;
                if (b.adds > 2000)
                        b.adds = 2000;
                b.regs = calloc(n ? n : 1, sizeof(*b.regs));
                sync_open(&b);
                if (n == 0) {
                        fixed = bench_sample(sync_sample, &b);
                        bench_print_stat("N=0: fixed cost of one add", fixed, "ns/add");
                } else {
                        lb.v = calloc(n, sizeof(*lb.v));
                        for (unsigned i = 0; i < n; i++)
                                lb.v[i] = (struct call_entry){ on_cpu, &calls };
                        lb.reps = (bench_quick() ? 200000 : 20000000) / (2 * n) + 1;
                        bench_pair(call_sample, &cb, loop_sample, &lb, &s, &ls, &q);
                        free(lb.v);
                        snprintf(label, sizeof(label), "N=%u: dhp / indirect-call loop", n);
                        bench_print_pair(label, s, ls, &q, "ns");
                }
                calls += b.calls;
                sync_close(&b);
                free(b.regs);
        }
        printf("  (dhp: (T(N) - median T(0)) / 2N per run, T = ns per dhp_sim_cpu_add; "
               "baseline: ns per indirect call)\n\n");
        if (calls == 0)
                abort();
}

/* ---- 2. asynchronous delivery ----------------------------------------- */

struct async_counter {
        atomic_ulong delivered;
        unsigned long target;
        pthread_mutex_t lock;
        pthread_cond_t cond;
};

static void count_one(struct async_counter *c) {
        /* One writer: the delivering thread. */
        unsigned long n = atomic_load_explicit(&c->delivered, memory_order_relaxed) + 1;

        atomic_store_explicit(&c->delivered, n, memory_order_release);
        if (n == c->target) {
                pthread_mutex_lock(&c->lock);
                pthread_cond_signal(&c->cond);
                pthread_mutex_unlock(&c->lock);
        }
}

static void wait_count(struct async_counter *c) {
        pthread_mutex_lock(&c->lock);
        while (atomic_load(&c->delivered) < c->target)
                pthread_cond_wait(&c->cond, &c->lock);
        pthread_mutex_unlock(&c->lock);
}

static void on_arrival(void *userdata, const dhp_device_event *e) {
        count_one(userdata);
}

struct async_bench {
        unsigned long m;
        bool threaded;
};

struct producer {
        struct engine *e;
        unsigned long m;
};

static void *dhp_producer(void *userdata) {
        struct producer *p = userdata;

        for (unsigned long i = 0; i < p->m; i++)
                if (arrival_queue_processor(p->e, (uint32_t)(i & 1023), DHP_EVENT_ARRIVAL) < 0)
                        abort();
        return NULL;
}

/* notifications per second, millions */
static double dhp_async_sample(void *userdata) {
        struct async_bench *b = userdata;
        struct async_counter c = { .target = b->m };
        struct producer p = { .m = b->m };
        dhp_arrival_reg *reg;
        pthread_t th;
        uint64_t t0, t;
        dhp *ctx;

        pthread_mutex_init(&c.lock, NULL);
        pthread_cond_init(&c.cond, NULL);
        if (dhp_open(&ctx, "sim") < 0 ||
            dhp_arrival_register(ctx, "bench", DHP_CLASS_PROCESSOR, 0, on_arrival, &c, &reg) < 0)
                abort();
        p.e = dhp_internal_engine(ctx);
        if (b->threaded) {
                if (dhp_start_thread(ctx) < 0)
                        abort();
                t0 = bench_now_ns();
                pthread_create(&th, NULL, dhp_producer, &p);
                wait_count(&c);
                t = bench_now_ns() - t0;
                pthread_join(th, NULL);
        } else {
                dhp_producer(&p);
                t0 = bench_now_ns();
                if (dhp_process(ctx) != (int)b->m)
                        abort();
                t = bench_now_ns() - t0;
        }
        dhp_arrival_unregister(reg);
        dhp_close(ctx);
        pthread_mutex_destroy(&c.lock);
        pthread_cond_destroy(&c.cond);
        return (double)b->m / ((double)t / 1e9) / 1e6;
}

/* The baseline: a FIFO of malloc'ed items under one mutex, a condition
 * variable the consumer sleeps on when it is empty. */
struct mq_item {
        struct mq_item *next;
        dhp_device_event *payload; /* what a delivery hands over */
        uint32_t index;
};

struct mq {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct mq_item *head, **tail;
        bool waiting;
        unsigned long m;
        struct async_counter *c;
};

static void mq_push(struct mq *q, struct mq_item *it) {
        bool wake;

        it->next = NULL;
        pthread_mutex_lock(&q->lock);
        *q->tail = it;
        q->tail = &it->next;
        wake = q->waiting;
        pthread_mutex_unlock(&q->lock);
        if (wake)
                pthread_cond_signal(&q->cond);
}

static struct mq_item *mq_pop(struct mq *q, bool block) {
        struct mq_item *it;

        pthread_mutex_lock(&q->lock);
        while (!q->head && block) {
                q->waiting = true;
                pthread_cond_wait(&q->cond, &q->lock);
                q->waiting = false;
        }
        it = q->head;
        if (it) {
                q->head = it->next;
                if (!q->head)
                        q->tail = &q->head;
        }
        pthread_mutex_unlock(&q->lock);
        return it;
}

static void mq_deliver(struct mq_item *it, struct async_counter *c) {
        void (*volatile cb)(void *, const dhp_device_event *) = on_arrival;

        cb(c, it->payload);
        free(it);
}

static void *mq_consumer(void *userdata) {
        struct mq *q = userdata;

        for (unsigned long i = 0; i < q->m; i++)
                mq_deliver(mq_pop(q, true), q->c);
        return NULL;
}

static void mq_produce(struct mq *q) {
        for (unsigned long i = 0; i < q->m; i++) {
                struct mq_item *it = malloc(sizeof(*it));
                if (!it)
                        abort();
                it->index = (uint32_t)(i & 1023);
                it->payload = NULL;
                mq_push(q, it);
        }
}

static double mq_sample(void *userdata) {
        struct async_bench *b = userdata;
        struct async_counter c = { .target = b->m };
        struct mq q = { .m = b->m, .c = &c };
        pthread_t th;
        uint64_t t0, t;

        pthread_mutex_init(&c.lock, NULL);
        pthread_cond_init(&c.cond, NULL);
        pthread_mutex_init(&q.lock, NULL);
        pthread_cond_init(&q.cond, NULL);
        q.tail = &q.head;
        if (b->threaded) {
                t0 = bench_now_ns();
                pthread_create(&th, NULL, mq_consumer, &q);
                mq_produce(&q);
                wait_count(&c);
                t = bench_now_ns() - t0;
                pthread_join(th, NULL);
        } else {
                mq_produce(&q);
                t0 = bench_now_ns();
                for (unsigned long i = 0; i < b->m; i++)
                        mq_deliver(mq_pop(&q, false), &c);
                t = bench_now_ns() - t0;
        }
        pthread_mutex_destroy(&q.lock);
        pthread_cond_destroy(&q.cond);
        pthread_mutex_destroy(&c.lock);
        pthread_cond_destroy(&c.cond);
        return (double)b->m / ((double)t / 1e9) / 1e6;
}

static void bench_async(unsigned long m) {
        for (int threaded = 1; threaded >= 0; threaded--) {
                struct async_bench b = { .m = m, .threaded = threaded };
                struct bench_stat d, q, r;

                printf("2. Asynchronous delivery, %s, %lu notifications per run, M/s\n",
                       threaded ? "producer thread -> notification thread" : "queued, then delivered on one thread",
                       m);
                bench_print_header();
                bench_pair(dhp_async_sample, &b, mq_sample, &b, &d, &q, &r);
                bench_print_pair("dhp arrival queue / mutex + condvar queue", d, q, &r, "M/s");
                printf("\n");
        }
}

/*
 * The third argument narrows the run (callgrind): "sync" or "async" only,
 * or the list of N to measure (N = 0, the fixed cost, always first).
 */
int main(int argc, char **argv) {
        static const unsigned all[] = { 0, 1, 10, 100, 1000, 10000, 100000 };
        unsigned max_cb = argc > 1 ? (unsigned)atoi(argv[1]) : 10000;
        unsigned long m = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
        bool do_sync = true, do_async = true;
        unsigned sizes[16];
        size_t nsizes = 0;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc > 3 && strcmp(argv[3], "sync") == 0)
                do_async = false;
        else if (argc > 3 && strcmp(argv[3], "async") == 0)
                do_sync = false;
        if (argc > 3 && do_sync && do_async) {
                do_async = false;
                sizes[nsizes++] = 0;
                for (int i = 3; i < argc && nsizes < 16; i++)
                        if (atoi(argv[i]) > 0)
                                sizes[nsizes++] = (unsigned)atoi(argv[i]);
        } else {
                for (size_t k = 0; k < sizeof(all) / sizeof(all[0]) && all[k] <= max_cb; k++)
                        sizes[nsizes++] = all[k];
        }
        if (do_sync)
                bench_sync(sizes, nsizes);
        if (do_async)
                bench_async(m);
        return 0;
}
