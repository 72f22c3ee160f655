/* SPDX-License-Identifier: MIT */
/*
 * bench-arrivals: the C client of the arrival throughput benchmark, run by
 * go/cmd/dhp-bench-arrivals beside the Go package's client (the same dhpd,
 * the same scenario, alternating runs).
 *
 *   bench-arrivals unix:SOCKET N
 *
 * Registers for processor arrivals (delivered on the context's own
 * notification thread, as a Go program's channel is read concurrently),
 * asks dhpd --platform sim to run "cpu add N", and counts the arrivals until
 * the last one queued before dhpd's answer is delivered.  Prints one line:
 *   arrivals=A lost=L seconds=S cpu_seconds=C
 * lost: N - A, the ones dhpd dropped because this client read too slowly.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dhp.h"

static atomic_ulong got;

static void on_arrival(void *userdata, const dhp_device_event *e) {
        (void)userdata;
        (void)e;
        atomic_fetch_add(&got, 1);
}

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
        dhp_arrival_reg *reg;
        char text[64], *err = NULL;
        double t0, c0;
        dhp *ctx;
        int n, r;

        if (argc != 3 || (n = atoi(argv[2])) < 1) {
                fprintf(stderr, "usage: bench-arrivals unix:SOCKET N\n");
                return 2;
        }
        r = dhp_open(&ctx, argv[1]);
        if (r == 0)
                r = dhp_arrival_register(ctx, "bench-c", DHP_CLASS_PROCESSOR, 0, on_arrival, NULL, &reg);
        if (r == 0)
                r = dhp_start_thread(ctx);
        if (r < 0) {
                fprintf(stderr, "bench-arrivals: %s\n", strerror(-r));
                return 1;
        }
        snprintf(text, sizeof(text), "cpu add %d\nsettle\n", n);
        c0 = cpu_s();
        t0 = now_s();
        r = dhp_sim_run_scenario(ctx, "bench", text, &err);
        if (r < 0) {
                fprintf(stderr, "bench-arrivals: scenario: %s\n", err ? err : strerror(-r));
                return 1;
        }
        /* Every arrival dhpd did not drop was read before its answer: the
         * rest is delivered here. */
        dhp_stop_thread(ctx);
        while (dhp_process(ctx) > 0)
                ;
        printf("arrivals=%lu lost=%lu seconds=%.6f cpu_seconds=%.6f\n", atomic_load(&got),
               (unsigned long)n - atomic_load(&got), now_s() - t0, cpu_s() - c0);
        dhp_close(ctx);
        return 0;
}
