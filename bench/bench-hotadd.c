/* SPDX-License-Identifier: MIT */
/*
 * bench-hotadd: a memory hot-add through the simulated platform, its
 * arrival included, beside the same number of bare engine state changes, in
 * the same run.
 *
 *   dhp       dhp_sim_memory_add() of one device of N blocks (placed, every
 *             block onlined by the engine's transaction, a record per block
 *             when monitored, the memory conditions re-evaluated), then
 *             dhp_process() delivering its ARRIVAL to one callback
 *   baseline  N x engine_cpu_set_state() on the same engine: the lock, one
 *             store, the unlock; what any model update costs at least
 *
 *   bench-hotadd [MAX_BLOCKS]   (default 4096)
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "core/engine.h"
#include "dhp.h"
#include "lib/dhp-private.h"

#define BLOCK (128ULL << 20)
#define TARGET "sim:memory=128M,block=128M,maxmem=64T" /* 524288 blocks */
#define MAX_BLOCKS_SIM (64ULL << 40) / BLOCK

struct run {
        uint32_t nblocks;
        unsigned adds; /* per sample */
        dhp *ctx;
        dhp_arrival_reg *reg;
        uint64_t used, arrivals;
};

static void on_arrival(void *userdata, const dhp_device_event *e) {
        (*(uint64_t *)userdata)++;
}

static void run_open(struct run *r) {
        if (dhp_open(&r->ctx, TARGET) < 0 ||
            dhp_arrival_register(r->ctx, "bench", DHP_CLASS_MEMORY, 0, on_arrival, &r->arrivals, &r->reg) < 0)
                abort();
        r->used = 1;
}

static void run_close(struct run *r) {
        dhp_arrival_unregister(r->reg);
        dhp_close(r->ctx);
}

/* µs per block */
static double hotadd_sample(void *userdata) {
        struct run *r = userdata;
        uint64_t t0, t, before = r->arrivals;

        if (r->used + (uint64_t)r->adds * r->nblocks > MAX_BLOCKS_SIM) {
                run_close(r);
                run_open(r);
        }
        t0 = bench_now_ns();
        for (unsigned i = 0; i < r->adds; i++) {
                if (dhp_sim_memory_add(r->ctx, (uint64_t)r->nblocks * BLOCK, NULL) < 0)
                        abort();
                if (dhp_process(r->ctx) != 1)
                        abort();
        }
        t = bench_now_ns() - t0;
        r->used += (uint64_t)r->adds * r->nblocks;
        if (r->arrivals - before != r->adds)
                abort();
        return (double)t / 1e3 / ((double)r->adds * r->nblocks);
}

static double bare_sample(void *userdata) {
        struct run *r = userdata;
        struct engine *e = dhp_internal_engine(r->ctx);
        uint64_t t0 = bench_now_ns();

        for (unsigned i = 0; i < r->adds; i++)
                for (uint32_t b = 0; b < r->nblocks; b++)
                        engine_cpu_set_state(e, 0, DHP_PROC_ADMITTED);
        return (double)(bench_now_ns() - t0) / 1e3 / ((double)r->adds * r->nblocks);
}

int main(int argc, char **argv) {
        static const uint32_t sizes[] = { 16, 64, 256, 1024, 4096, 16384 };
        uint32_t max = argc > 1 ? (uint32_t)atoi(argv[1]) : 4096;

        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("5. Memory hot-add through the sim, one device of N 128 MiB blocks, arrival delivered\n");
        printf("  dhp: us per block; baseline: us per engine_cpu_set_state\n");
        bench_print_header();
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]) && sizes[k] <= max; k++) {
                struct run r = { .nblocks = sizes[k] };
                struct bench_stat d, b, q;
                char label[64];

                r.adds = (bench_quick() ? 1024 : 65536) / sizes[k];
                if (r.adds < 4)
                        r.adds = 4;
                run_open(&r);
                bench_pair(hotadd_sample, &r, bare_sample, &r, &d, &b, &q);
                run_close(&r);
                snprintf(label, sizeof(label), "%u blocks (%.1f us per add)", sizes[k], d.med * sizes[k]);
                bench_print_pair(label, d, b, &q, "us");
        }
        return 0;
}
