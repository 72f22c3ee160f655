/* SPDX-License-Identifier: MIT */
/*
 * bench-rebalance: how long a device is stopped per rebalance, and what the
 * held-I/O helper costs per request against a plain mutex-and-queue driver
 * measured in the same run.  Prints figures; asserts nothing.
 *
 *   bench-rebalance [REPETITIONS] [REQUESTS]
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dhp.h"

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static void summary(const char *what, uint64_t *v, size_t n) {
        qsort(v, n, sizeof(*v), cmp_u64);
        printf("  %-44s %8.1f %8.1f %8.1f %8.1f   (n=%zu)\n", what, v[0] / 1e3, v[n / 2] / 1e3,
               v[n * 99 / 100] / 1e3, v[n - 1] / 1e3, n);
}

/* ---- the device stopped per rebalance ---------------------------------- */

struct disk {
        dhp_ioq *q;
        atomic_int stop;
        atomic_ullong submitted;
};

static void disk_process(void *userdata, void *req) {
        struct disk *d = userdata;
        dhp_ioq_complete(d->q, req);
}

static int disk_driver(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        struct disk *d = userdata;

        switch (req) {
        case DHP_REBALANCE_QUERY_STOP: return dhp_ioq_hold(d->q);
        case DHP_REBALANCE_STOP: return dhp_ioq_drain(d->q, 5000);
        case DHP_REBALANCE_START:
        case DHP_REBALANCE_CANCEL_STOP: dhp_ioq_release(d->q); return 0;
        }
        return 0;
}

static int filter_driver(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        return 0;
}

static void *disk_submitter(void *userdata) {
        struct disk *d = userdata;
        uint64_t n = 0;

        while (!atomic_load(&d->stop)) {
                dhp_ioq_submit(d->q, &n);
                n++;
        }
        atomic_fetch_add(&d->submitted, n);
        return NULL;
}

static int bench_stopped(unsigned reps, unsigned submitters) {
        pthread_t th[8];
        struct disk d = { 0 };
        dhp_device *dev;
        dhp_driver *drv;
        uint64_t *hold = calloc(reps, sizeof(uint64_t)), *stopped = calloc(reps, sizeof(uint64_t));
        uint64_t held;
        char target[64], label[96];
        dhp *ctx;
        int r;

        if (!hold || !stopped)
                return -ENOMEM;
        snprintf(target, sizeof(target), "sim:cpus=1,maxcpus=%u", reps + 1);
        if ((r = dhp_open(&ctx, target)) < 0 || (r = dhp_ioq_new(&d.q, disk_process, &d)) < 0)
                return r;
        dhp_device_new(ctx, "disk0", DHP_SETUP_CLASS_STORAGE, &dev);
        dhp_driver_attach(dev, "disk", disk_driver, &d, &drv);
        dhp_driver_attach(dev, "filter", filter_driver, NULL, &drv);
        for (unsigned t = 0; t < submitters; t++)
                pthread_create(&th[t], NULL, disk_submitter, &d);
        for (unsigned i = 0; i < reps; i++) {
                dhp_sim_cpu_add(ctx, NULL);
                dhp_process(ctx);
                dhp_ioq_get_stat(d.q, DHP_IOQ_STAT_HOLD_NS_LAST, &hold[i]);
                dhp_device_get_stopped_ns(dev, &stopped[i], NULL);
        }
        atomic_store(&d.stop, 1);
        for (unsigned t = 0; t < submitters; t++)
                pthread_join(th[t], NULL);
        dhp_ioq_get_stat(d.q, DHP_IOQ_STAT_HELD, &held);
        snprintf(label, sizeof(label), "I/O held, hold->release, %u submitter(s)", submitters);
        summary(label, hold, reps);
        snprintf(label, sizeof(label), "device stopped, QUERY_STOP->START, %u subm.", submitters);
        summary(label, stopped, reps);
        if (submitters)
                printf("  %-44s %llu submitted, %llu held\n", "", (unsigned long long)atomic_load(&d.submitted),
                       (unsigned long long)held);
        dhp_close(ctx);
        dhp_ioq_free(d.q);
        free(hold);
        free(stopped);
        return 0;
}

/* ---- per-request cost --------------------------------------------------- */

/* The baseline: the same contract written plainly, one mutex over a state
 * flag, a FIFO of held requests and an in-flight count. */
struct plain {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool holding;
        uint64_t inflight;
        void **ring;
        size_t head, len, cap;
        void (*process)(struct plain *p, void *req);
};

static void plain_complete(struct plain *p, void *req) {
        pthread_mutex_lock(&p->lock);
        if (--p->inflight == 0 && p->holding)
                pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
}

static int plain_submit(struct plain *p, void *req) {
        pthread_mutex_lock(&p->lock);
        if (p->holding) {
                if (p->len == p->cap) {
                        pthread_mutex_unlock(&p->lock);
                        return -ENOBUFS;
                }
                p->ring[(p->head + p->len++) % p->cap] = req;
                pthread_mutex_unlock(&p->lock);
                return 1;
        }
        p->inflight++;
        pthread_mutex_unlock(&p->lock);
        p->process(p, req);
        return 0;
}

static void plain_process(struct plain *p, void *req) {
        plain_complete(p, req);
}

struct ioq_ctx {
        dhp_ioq *q;
};

static void ioq_process(void *userdata, void *req) {
        struct ioq_ctx *c = userdata;
        dhp_ioq_complete(c->q, req);
}

struct run {
        int kind; /* 0 plain, 1 ioq */
        struct plain *plain;
        dhp_ioq *q;
        uint64_t n;
        atomic_int *go;
};

static void *run_thread(void *userdata) {
        struct run *r = userdata;
        uint64_t x = 0;

        while (!atomic_load(r->go))
                ;
        if (r->kind == 0)
                for (uint64_t i = 0; i < r->n; i++)
                        plain_submit(r->plain, &x);
        else
                for (uint64_t i = 0; i < r->n; i++)
                        dhp_ioq_submit(r->q, &x);
        return NULL;
}

/* ns per request, `threads` submitting `n` requests each. */
static double per_request(int kind, unsigned threads, uint64_t n) {
        struct plain p = { .process = plain_process };
        struct ioq_ctx c;
        struct run runs[8];
        pthread_t th[8];
        atomic_int go = 0;
        uint64_t t0, t1;

        pthread_mutex_init(&p.lock, NULL);
        pthread_cond_init(&p.cond, NULL);
        dhp_ioq_new(&c.q, ioq_process, &c);
        for (unsigned t = 0; t < threads; t++) {
                runs[t] = (struct run){ kind, &p, c.q, n, &go };
                pthread_create(&th[t], NULL, run_thread, &runs[t]);
        }
        t0 = now_ns();
        atomic_store(&go, 1);
        for (unsigned t = 0; t < threads; t++)
                pthread_join(th[t], NULL);
        t1 = now_ns();
        dhp_ioq_free(c.q);
        pthread_mutex_destroy(&p.lock);
        pthread_cond_destroy(&p.cond);
        return (double)(t1 - t0) / (double)(n * threads);
}

static void bench_cost(uint64_t n) {
        static const unsigned threads[] = { 1, 2, 8 };

        printf("\nPer-request cost, not holding (submit + process + complete), ns/request, best of 5:\n");
        printf("  %-10s %14s %14s %8s\n", "threads", "mutex+queue", "dhp_ioq", "ratio");
        for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
                double best_p = 1e18, best_q = 1e18;
                uint64_t each = n / threads[i];

                for (int k = 0; k < 5; k++) {
                        double a = per_request(0, threads[i], each), b = per_request(1, threads[i], each);
                        if (a < best_p)
                                best_p = a;
                        if (b < best_q)
                                best_q = b;
                }
                printf("  %-10u %14.1f %14.1f %7.2fx\n", threads[i], best_p, best_q, best_q / best_p);
        }
}

int main(int argc, char **argv) {
        unsigned reps = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 4000;
        uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 4000000;

        if (reps == 0 || reps > 4095)
                reps = 4000;
        printf("Device stopped per rebalance (two-driver stack, one dhp_ioq), microseconds:\n");
        printf("  %-44s %8s %8s %8s %8s\n", "", "min", "median", "p99", "max");
        if (bench_stopped(reps, 0) < 0 || bench_stopped(reps, 2) < 0) {
                fprintf(stderr, "bench-rebalance: could not set up the simulated partition\n");
                return 1;
        }
        bench_cost(n);
        return 0;
}
