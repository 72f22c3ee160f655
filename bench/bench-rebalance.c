/* SPDX-License-Identifier: MIT */
/*
 * bench-rebalance: how long a device is stopped per rebalance, and what the
 * held-I/O helper costs per request against a plain mutex-and-queue driver
 * measured in the same run.  Prints figures; asserts nothing.
 *
 *   bench-rebalance [REPETITIONS] [REQUESTS]
 *
 * Each figure is taken BENCH_RUNS times (bench.h): the median (min-max) of
 * the runs' medians and p99s.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "dhp.h"

#define now_ns bench_now_ns

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* One run's median and p99 of n values, in microseconds. */
static void run_figures(uint64_t *v, size_t n, double *ret_med, double *ret_p99) {
        qsort(v, n, sizeof(*v), cmp_u64);
        *ret_med = (double)v[n / 2] / 1e3;
        *ret_p99 = (double)v[n * 99 / 100] / 1e3;
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

/* One run: reps rebalances; its median and p99 of the I/O held and of the
 * device stopped, microseconds. */
struct stopped_run {
        double hold_med, hold_p99, stop_med, stop_p99;
        uint64_t submitted, held;
};

static int bench_stopped(unsigned reps, unsigned submitters, struct stopped_run *ret) {
        pthread_t th[8];
        struct disk d = { 0 };
        dhp_device *dev;
        dhp_driver *drv;
        uint64_t *hold = calloc(reps, sizeof(uint64_t)), *stopped = calloc(reps, sizeof(uint64_t));
        uint64_t held;
        char target[64];
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
        run_figures(hold, reps, &ret->hold_med, &ret->hold_p99);
        run_figures(stopped, reps, &ret->stop_med, &ret->stop_p99);
        ret->submitted = atomic_load(&d.submitted);
        ret->held = held;
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

        printf("\nPer-request cost, not holding (submit + process + complete), ns/request:\n");
        bench_print_header();
        for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
                double a[BENCH_RUNS_MAX], b[BENCH_RUNS_MAX], q[BENCH_RUNS_MAX];
                uint64_t each = n / threads[i] ? n / threads[i] : 1;
                unsigned runs = bench_runs();
                struct bench_stat sa, sb, sq;
                char label[64];

                /* Baseline and dhp_ioq alternate, run by run. */
                for (unsigned k = 0; k < runs; k++) {
                        a[k] = per_request(0, threads[i], each);
                        b[k] = per_request(1, threads[i], each);
                        q[k] = b[k] / a[k];
                }
                sa = bench_stat_of(a, runs);
                sb = bench_stat_of(b, runs);
                sq = bench_stat_of(q, runs);
                snprintf(label, sizeof(label), "%u thread(s): dhp_ioq / mutex+queue", threads[i]);
                bench_print_pair(label, sb, sa, &sq, "ns");
        }
}

/* The device stopped, each run's median and p99 over reps rebalances,
 * beside the helper's own hold (hold -> release) in the same rebalances. */
static int bench_stopped_runs(unsigned reps, unsigned submitters) {
        double sm[BENCH_RUNS_MAX], sp[BENCH_RUNS_MAX], hm[BENCH_RUNS_MAX], hp[BENCH_RUNS_MAX];
        struct stopped_run r = { 0 };
        uint64_t submitted = 0, held = 0;
        unsigned runs = bench_runs();
        char label[96];

        for (unsigned k = 0; k < runs; k++) {
                if (bench_stopped(reps, submitters, &r) < 0)
                        return -1;
                sm[k] = r.stop_med;
                sp[k] = r.stop_p99;
                hm[k] = r.hold_med;
                hp[k] = r.hold_p99;
                submitted += r.submitted;
                held += r.held;
        }
        snprintf(label, sizeof(label), "%u submitter(s), median: stopped / I/O held", submitters);
        bench_print_pair(label, bench_stat_of(sm, runs), bench_stat_of(hm, runs), NULL, "us");
        snprintf(label, sizeof(label), "%u submitter(s), p99: stopped / I/O held", submitters);
        bench_print_pair(label, bench_stat_of(sp, runs), bench_stat_of(hp, runs), NULL, "us");
        if (submitters)
                printf("  (%llu requests submitted, %llu held, over the runs)\n", (unsigned long long)submitted,
                       (unsigned long long)held);
        return 0;
}

int main(int argc, char **argv) {
        unsigned reps = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 4000;
        uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 4000000;

        if (reps == 0 || reps > 4095)
                reps = 4000;
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("Device stopped per rebalance (two-driver stack, one dhp_ioq), %u rebalances per run, us:\n", reps);
        bench_print_header();
        if (bench_stopped_runs(reps, 0) < 0 || bench_stopped_runs(reps, 2) < 0) {
                fprintf(stderr, "bench-rebalance: could not set up the simulated partition\n");
                return 1;
        }
        bench_cost(n);
        return 0;
}
