/* SPDX-License-Identifier: MIT */
/*
 * What every bench/ program shares: a monotonic clock, a fixed number of
 * runs per figure (BENCH_RUNS in the environment, 5 by default), and one
 * way to print a figure: its median over the runs and its min-max, beside
 * its baseline measured in the same runs (baseline and dhp alternate, run
 * by run, so that a change of machine load hits both).  Benchmarks print
 * figures; they never assert a time.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t bench_now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#define BENCH_RUNS_DEFAULT 5
#define BENCH_RUNS_MAX 101

/* Runs per figure: BENCH_RUNS (1..BENCH_RUNS_MAX), else 5.  One run is a
 * smoke test (make bench-quick, the 'bench' test suite), not a figure. */
static inline unsigned bench_runs(void) {
        const char *s = getenv("BENCH_RUNS");
        long n = s ? strtol(s, NULL, 10) : 0;

        if (n < 1)
                return BENCH_RUNS_DEFAULT;
        return n > BENCH_RUNS_MAX ? BENCH_RUNS_MAX : (unsigned)n;
}

/* A smoke run (BENCH_RUNS=1): programs may shrink their sizes too. */
static inline int bench_quick(void) {
        return bench_runs() == 1;
}

struct bench_stat {
        double min, med, max;
        unsigned n;
};

static int bench_cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* min, median and max of n values; v is sorted in place. */
static inline struct bench_stat bench_stat_of(double *v, unsigned n) {
        struct bench_stat st = { 0 };

        if (n == 0)
                return st;
        qsort(v, n, sizeof(*v), bench_cmp_double);
        st.n = n;
        st.min = v[0];
        st.max = v[n - 1];
        st.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        return st;
}

/* The same figure in another unit (us -> ms: 1e-3). */
static inline struct bench_stat bench_stat_scale(struct bench_stat s, double k) {
        return (struct bench_stat){ s.min * k, s.med * k, s.max * k, s.n };
}

/* One sample: whatever unit the caller reports (ns per operation, ...). */
typedef double (*bench_sample_fn)(void *userdata);

/* bench_runs() samples of fn. */
static inline struct bench_stat bench_sample(bench_sample_fn fn, void *userdata) {
        double v[BENCH_RUNS_MAX];
        unsigned n = bench_runs();

        for (unsigned i = 0; i < n; i++)
                v[i] = fn(userdata);
        return bench_stat_of(v, n);
}

/* A figure and its baseline, sampled alternately, bench_runs() of each;
 * *ret_ratio (may be NULL): the per-run ratios dhp / baseline. */
static inline void bench_pair(bench_sample_fn dhp_fn, void *dhp_ud, bench_sample_fn base_fn, void *base_ud,
                              struct bench_stat *ret_dhp, struct bench_stat *ret_base, struct bench_stat *ret_ratio) {
        double d[BENCH_RUNS_MAX], b[BENCH_RUNS_MAX], q[BENCH_RUNS_MAX];
        unsigned n = bench_runs();

        for (unsigned i = 0; i < n; i++) {
                b[i] = base_fn(base_ud);
                d[i] = dhp_fn(dhp_ud);
                q[i] = b[i] != 0 ? d[i] / b[i] : 0;
        }
        *ret_dhp = bench_stat_of(d, n);
        *ret_base = bench_stat_of(b, n);
        if (ret_ratio)
                *ret_ratio = bench_stat_of(q, n);
}

/* A number in at most 4 significant digits, never in e-notation. */
static inline const char *bench_num(char *buf, size_t size, double v) {
        snprintf(buf, size, v >= 1000 || v <= -1000 ? "%.0f" : "%.4g", v);
        return buf;
}

/*
 * The one format of every figure, n = runs:
 *   label   median (min-max) unit  n=5
 * and of a figure beside its baseline:
 *   label   median (min-max) | baseline median (min-max) unit | ratio median (min-max)  n=5
 */
static inline void bench_print_stat(const char *label, struct bench_stat s, const char *unit) {
        char a[32], b[32], c[32];

        printf("  %-46s %8s (%s-%s) %s  n=%u\n", label, bench_num(a, sizeof(a), s.med), bench_num(b, sizeof(b), s.min),
               bench_num(c, sizeof(c), s.max), unit, s.n);
}

static inline void bench_print_pair(const char *label, struct bench_stat d, struct bench_stat b,
                                    const struct bench_stat *ratio, const char *unit) {
        char x[6][32];

        printf("  %-46s %8s (%s-%s) | baseline %s (%s-%s) %s", label, bench_num(x[0], 32, d.med),
               bench_num(x[1], 32, d.min), bench_num(x[2], 32, d.max), bench_num(x[3], 32, b.med),
               bench_num(x[4], 32, b.min), bench_num(x[5], 32, b.max), unit);
        if (ratio)
                printf(" | ratio %.2fx (%.2f-%.2f)", ratio->med, ratio->min, ratio->max);
        printf("  n=%u\n", d.n);
}

static inline void bench_print_header(void) {
        printf("  %-46s %8s (min-max), %u run(s)\n", "", "median", bench_runs());
}
