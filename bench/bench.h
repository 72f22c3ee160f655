/* SPDX-License-Identifier: MIT */
/*
 * What every bench/ program shares: a monotonic clock, and a sampler that
 * repeats a measurement until its median is stable and reports min, median
 * and max.  Benchmarks print figures; they never assert a time.
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

struct bench_stat {
        double min, med, max;
        unsigned n;
};

static int bench_cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static inline double bench_median(const double *v, unsigned n) {
        double *s = malloc(n * sizeof(*s)), m;

        if (!s)
                abort();
        memcpy(s, v, n * sizeof(*s));
        qsort(s, n, sizeof(*s), bench_cmp_double);
        m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        free(s);
        return m;
}

/* One sample: whatever unit the caller reports (ns per operation, ...). */
typedef double (*bench_sample_fn)(void *userdata);

#define BENCH_MIN_SAMPLES 5
#define BENCH_MAX_SAMPLES 41
#define BENCH_STABLE 0.02 /* the median moved less than 2% over 3 samples */

/*
 * Take samples until the median is stable: at least BENCH_MIN_SAMPLES, then
 * stop once the median of all samples is within BENCH_STABLE of what it was
 * three samples before, or after BENCH_MAX_SAMPLES or max_s seconds.
 */
static inline struct bench_stat bench_sample(bench_sample_fn fn, void *userdata, double max_s) {
        double v[BENCH_MAX_SAMPLES], hist[BENCH_MAX_SAMPLES];
        uint64_t t0 = bench_now_ns();
        struct bench_stat st = { 0 };
        unsigned n = 0;

        while (n < BENCH_MAX_SAMPLES) {
                v[n] = fn(userdata);
                hist[n] = bench_median(v, n + 1);
                n++;
                if (n >= BENCH_MIN_SAMPLES) {
                        double m = hist[n - 1], prev = hist[n - 4];
                        if ((m > prev ? m - prev : prev - m) <= BENCH_STABLE * m)
                                break;
                }
                if ((double)(bench_now_ns() - t0) / 1e9 > max_s && n >= 3)
                        break;
        }
        st.n = n;
        st.med = bench_median(v, n);
        st.min = st.max = v[0];
        for (unsigned i = 1; i < n; i++) {
                if (v[i] < st.min)
                        st.min = v[i];
                if (v[i] > st.max)
                        st.max = v[i];
        }
        return st;
}

/* "min / median / max" in a fixed width, with the unit after. */
static inline void bench_print_stat(const char *label, struct bench_stat s, const char *unit) {
        printf("  %-40s %10.2f %10.2f %10.2f  %-8s (n=%u)\n", label, s.min, s.med, s.max, unit, s.n);
}

static inline void bench_print_header(void) {
        printf("  %-40s %10s %10s %10s\n", "", "min", "median", "max");
}
