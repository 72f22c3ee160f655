/* SPDX-License-Identifier: MIT */
/*
 * pool-resize: a worker pool sized from its container's limits, resized at
 * every change, the way a runtime would size GOMAXPROCS or a thread pool if
 * it were told instead of polling.
 *
 *   - the pool starts with dhp_limits_get_pool_size() workers (Go 1.25's
 *     GOMAXPROCS rule over the cgroup's CPUs and cpu.max);
 *   - every limits notification (a `docker update --cpus`, a Kubernetes
 *     in-place resize, a `systemctl set-property`, a parent's change, a CPU
 *     hot-added and admitted into the cgroup) grows or shrinks the pool to
 *     the new figure: new workers are started, surplus ones finish their
 *     current item and exit;
 *   - a cgroup removed ends the program.
 *
 * Build:  cc pool-resize.c $(pkg-config --cflags --libs dhp) -pthread -o pool-resize
 * Run:    ./pool-resize [TARGET] [--changes N]
 *         TARGET defaults to "cgroup" (this process's own cgroup v2);
 *         "cgroup:/sys/fs/cgroup/some.slice/app" watches another.
 *         --changes N exits after N changes (tests).
 */
#include <dhp.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORKERS 1024

struct pool {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint32_t want;    /* the pool size figure now */
        uint32_t running; /* workers alive */
        uint32_t next_id;
        unsigned changes; /* notifications after the first */
        bool seen_first;
        bool removed;
};

static void *worker(void *userdata) {
        struct pool *p = userdata;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                /* A surplus worker leaves; the others would take work
                 * items here.  The pool is only as big as the figure. */
                if (p->running > p->want)
                        break;
                pthread_cond_wait(&p->cond, &p->lock);
        }
        p->running--;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

/* Grow to `want` workers, or let the surplus go; lock held. */
static void resize_locked(struct pool *p) {
        while (p->running < p->want && p->running < MAX_WORKERS) {
                pthread_t t;
                if (pthread_create(&t, NULL, worker, p) != 0)
                        break;
                pthread_detach(t);
                p->running++;
        }
        pthread_cond_broadcast(&p->cond);
        while (p->running > p->want)
                pthread_cond_wait(&p->cond, &p->lock);
}

static void on_limits(void *userdata, const dhp_limits *l) {
        struct pool *p = userdata;
        uint32_t changed = dhp_limits_get_changed(l);
        uint64_t quota, period;
        uint32_t before;

        dhp_limits_get_cpu_max(l, &quota, &period);
        pthread_mutex_lock(&p->lock);
        before = p->running;
        p->want = changed & DHP_LIMITS_REMOVED ? 0 : dhp_limits_get_pool_size(l);
        resize_locked(p);
        if (p->seen_first)
                p->changes++;
        p->seen_first = true;
        p->removed = changed & DHP_LIMITS_REMOVED;
        printf("pool-resize: seq %llu cpus %s cpu.max %s%.2f pool %u -> %u workers%s\n",
               (unsigned long long)dhp_limits_get_seq(l), dhp_limits_get_cpus(l),
               quota == DHP_LIMITS_UNLIMITED ? "max" : "", quota == DHP_LIMITS_UNLIMITED ? 0.0 : dhp_limits_get_bandwidth(l),
               before, p->running, p->removed ? " (cgroup removed)" : "");
        pthread_mutex_unlock(&p->lock);
}

int main(int argc, char **argv) {
        struct pool p = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
        const char *target = "cgroup";
        unsigned max_changes = 0;
        dhp_limits_reg *reg;
        dhp *ctx;
        int r;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--changes") == 0 && i + 1 < argc)
                        max_changes = (unsigned)atoi(argv[++i]);
                else
                        target = argv[i];
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        r = dhp_open(&ctx, target);
        if (r < 0) {
                fprintf(stderr, "pool-resize: cannot open %s: %s\n", target, strerror(-r));
                return 1;
        }
        /* The first call, before this returns to the loop, sizes the pool. */
        r = dhp_limits_register(ctx, "pool-resize", 0, on_limits, &p, &reg);
        if (r < 0) {
                fprintf(stderr, "pool-resize: %s has no limits: %s\n", target, strerror(-r));
                dhp_close(ctx);
                return 1;
        }
        for (;;) {
                r = dhp_wait(ctx, -1);
                if (r >= 0)
                        r = dhp_process(ctx);
                if (r < 0 || (max_changes && p.changes >= max_changes))
                        break;
        }
        dhp_limits_unregister(reg);
        dhp_close(ctx);
        pthread_mutex_lock(&p.lock);
        p.want = 0;
        resize_locked(&p);
        pthread_mutex_unlock(&p.lock);
        if (r < 0 && r != -ENODEV) {
                fprintf(stderr, "pool-resize: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
