/* SPDX-License-Identifier: MIT */
/*
 * pool-cache: an application written against the installed libdhp, the
 * way real software uses it.
 *
 *   - a worker pool with one thread per processor: a worker's slot is
 *     allocated at ADD_START (so a failure can refuse the processor), the
 *     worker starts only at its arrival, after ADD_COMPLETE — the processor
 *     is admitted before the pool uses it — and the slot is freed at
 *     ADD_FAILURE;
 *   - a cache that grows by a quarter of each memory arrival.
 *
 * Build:  cc pool-cache.c $(pkg-config --cflags --libs dhp) -o pool-cache
 * Run:    ./pool-cache [TARGET] [--drive]
 *         TARGET defaults to $DHP_TARGET, then the daemon; --drive hot-adds
 *         two processors and 512 MiB through the simulated platform, so the
 *         program shows the whole sequence against "sim" or a
 *         `dhpd --platform sim`.
 */
#include <dhp.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 256

struct worker {
        pthread_t thread;
        uint32_t cpu;
        bool running;
};

struct app {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct worker *slot[MAX_WORKERS]; /* by processor index */
        unsigned workers, refused;
        uint64_t cache_bytes;
        unsigned memory_arrivals;
        bool stop;
};

static void *worker_main(void *userdata) {
        struct app *app = userdata;

        pthread_mutex_lock(&app->lock);
        while (!app->stop)
                pthread_cond_wait(&app->cond, &app->lock);
        pthread_mutex_unlock(&app->lock);
        return NULL;
}

static void on_processor(void *userdata, const dhp_proc_change *c) {
        struct app *app = userdata;
        uint32_t cpu = dhp_proc_change_get_index(c);

        pthread_mutex_lock(&app->lock);
        switch (dhp_proc_change_get_state(c)) {
        case DHP_PROC_ADD_START:
                /* Nothing runs on the processor yet: prepare, or refuse it. */
                if (cpu >= MAX_WORKERS || !(app->slot[cpu] = calloc(1, sizeof(struct worker)))) {
                        dhp_proc_change_veto(c, -ENOMEM);
                        app->refused++;
                } else {
                        app->slot[cpu]->cpu = cpu;
                }
                break;
        case DHP_PROC_ADD_COMPLETE:
                break; /* admitted; the worker starts at its arrival */
        case DHP_PROC_ADD_FAILURE:
                if (cpu < MAX_WORKERS) {
                        free(app->slot[cpu]);
                        app->slot[cpu] = NULL;
                }
                break;
        default:
                /* The removal states reach only registrations that opted in
                 * (DHP_PROC_QUERY_REMOVE); later versions may add states. */
                break;
        }
        pthread_mutex_unlock(&app->lock);
}

static void on_arrival(void *userdata, const dhp_device_event *e) {
        struct app *app = userdata;
        uint64_t base, size;
        uint32_t cpu;

        if (dhp_device_event_get_event(e) != DHP_EVENT_ARRIVAL)
                return;
        pthread_mutex_lock(&app->lock);
        if (dhp_device_event_get_processor(e, &cpu, NULL) == 0) {
                struct worker *w = cpu < MAX_WORKERS ? app->slot[cpu] : NULL;
                if (w && !w->running && pthread_create(&w->thread, NULL, worker_main, app) == 0) {
                        w->running = true;
                        app->workers++;
                        printf("pool: worker %u started on admitted processor %u\n", app->workers, cpu);
                }
        } else if (dhp_device_event_get_memory(e, &base, &size) == 0) {
                app->cache_bytes += size / 4;
                app->memory_arrivals++;
                printf("cache: memory at 0x%llx (+%llu MiB) arrived; cache now %llu MiB\n",
                       (unsigned long long)base, (unsigned long long)(size >> 20),
                       (unsigned long long)(app->cache_bytes >> 20));
        }
        pthread_mutex_unlock(&app->lock);
}

int main(int argc, char **argv) {
        struct app app = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
        const char *target = NULL;
        bool drive = false;
        dhp_proc_reg *preg = NULL;
        dhp_arrival_reg *cpus = NULL, *mem = NULL;
        dhp *ctx;
        int r;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--drive") == 0)
                        drive = true;
                else
                        target = argv[i];
        }
        r = dhp_open(&ctx, target);
        if (r < 0) {
                fprintf(stderr, "pool-cache: cannot open %s: %s\n", target ? target : "the default target",
                        strerror(-r));
                return 1;
        }
        dhp_set_name(ctx, "pool-cache");
        /* Existing processors get workers too: ADD_EXISTING runs ADD_START
         * and ADD_COMPLETE for each before the call returns, and
         * INCLUDE_EXISTING delivers their arrivals. */
        if ((r = dhp_proc_register(ctx, "pool", DHP_PROC_ADD_EXISTING, on_processor, &app, &preg)) < 0 ||
            (r = dhp_arrival_register(ctx, "pool", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING, on_arrival, &app,
                                      &cpus)) < 0 ||
            (r = dhp_arrival_register(ctx, "cache", DHP_CLASS_MEMORY, DHP_ARRIVAL_INCLUDE_EXISTING, on_arrival, &app,
                                      &mem)) < 0) {
                fprintf(stderr, "pool-cache: registration failed: %s\n", strerror(-r));
                dhp_close(ctx);
                return 1;
        }
        /* Existing devices first. */
        while (dhp_process(ctx) > 0)
                ;
        if (drive) {
                for (int i = 0; i < 2; i++)
                        if ((r = dhp_sim_cpu_add(ctx, NULL)) < 0)
                                fprintf(stderr, "pool-cache: cpu add: %s\n", strerror(-r));
                if ((r = dhp_sim_memory_add(ctx, 512ULL << 20, NULL)) < 0)
                        fprintf(stderr, "pool-cache: memory add: %s\n", strerror(-r));
                /* The arrivals come through the context's fd. */
                while (dhp_wait(ctx, 2000) > 0 && dhp_process(ctx) >= 0) {
                        pthread_mutex_lock(&app.lock);
                        bool done = app.memory_arrivals >= 2;
                        pthread_mutex_unlock(&app.lock);
                        if (done)
                                break;
                }
        }
        printf("pool-cache: %u workers, cache %llu MiB, %u processor(s) refused\n", app.workers,
               (unsigned long long)(app.cache_bytes >> 20), app.refused);

        dhp_arrival_unregister(mem);
        dhp_arrival_unregister(cpus);
        dhp_proc_deregister(preg);
        dhp_close(ctx);
        pthread_mutex_lock(&app.lock);
        app.stop = true;
        pthread_cond_broadcast(&app.cond);
        pthread_mutex_unlock(&app.lock);
        for (unsigned i = 0; i < MAX_WORKERS; i++) {
                if (app.slot[i] && app.slot[i]->running)
                        pthread_join(app.slot[i]->thread, NULL);
                free(app.slot[i]);
        }
        return 0;
}
