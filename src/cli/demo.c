/* SPDX-License-Identifier: MIT */
/*
 * `dhpctl demo`: a simulated partition grows while sample clients use the
 * public API the way real software does, and every notification is printed
 * as a timeline (or as JSON lines).
 *
 * The clients:
 *   percpu   a per-processor data structure: allocates a slot at ADD_START,
 *            publishes it at ADD_COMPLETE, frees it at ADD_FAILURE.
 *   pool     a worker pool that starts one worker thread per processor
 *            arrival.
 *   auditor  a policy client that vetoes processors in reserved slots.
 *   cache    a cache that grows by the size of each memory arrival.
 */
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"
#include "cli/demo.h"
#include "dhp.h"
#include "cli/demo-rebalance.h"
#include "lib/dhp-private.h"

#define DEMO_MAX_CPUS 64

static const char default_scenario[] =
        "# The built-in demo: a 2-processor, 1 GiB partition grows.\n"
        "echo hot-add one processor\n"
        "cpu add\n"
        "settle\n"
        "echo hot-add two processors; the auditor vetoes slot 4\n"
        "cpu add 2\n"
        "settle\n"
        "echo memory is tight: 20M available, under the high threshold\n"
        "memory level available=20M\n"
        "settle\n"
        "echo hot-add a 512 MiB memory device: its arrival, then HighMemoryCondition\n"
        "memory add 512M\n"
        "settle\n"
        "echo available memory falls under the low threshold: LowMemoryCondition\n"
        "memory level available=10M\n"
        "settle\n"
        "echo the platform fails to start the next processor\n"
        "fail cpu-start EIO\n"
        "cpu add\n"
        "settle\n";

/* ---- percpu: per-processor data allocated at ADD_START ----------------- */

struct percpu_slot {
        uint32_t index;
        uint64_t counter;
        bool live; /* published at ADD_COMPLETE */
};

struct percpu {
        pthread_mutex_t lock;
        struct percpu_slot *slot[DEMO_MAX_CPUS];
        unsigned allocated, freed, published;
};

static void percpu_cb(void *userdata, const dhp_proc_change *c) {
        struct percpu *p = userdata;
        uint32_t i = dhp_proc_change_get_index(c);

        if (i >= DEMO_MAX_CPUS) {
                if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START)
                        dhp_proc_change_veto(c, -ERANGE);
                return;
        }
        pthread_mutex_lock(&p->lock);
        switch (dhp_proc_change_get_state(c)) {
        case DHP_PROC_ADD_START:
                /* Allocate before anything can run there; refuse the
                 * processor rather than run without its data. */
                p->slot[i] = calloc(1, sizeof(*p->slot[i]));
                if (!p->slot[i])
                        dhp_proc_change_veto(c, -ENOMEM);
                else {
                        p->slot[i]->index = i;
                        p->allocated++;
                }
                break;
        case DHP_PROC_ADD_COMPLETE:
                p->slot[i]->live = true;
                p->published++;
                break;
        case DHP_PROC_ADD_FAILURE:
                /* The add did not happen: undo ADD_START. */
                free(p->slot[i]);
                p->slot[i] = NULL;
                p->freed++;
                break;
        case DHP_PROC_REMOVE_QUERY:
        case DHP_PROC_REMOVE_CANCEL:
                break;
        case DHP_PROC_REMOVE_COMPLETE:
                /* Nothing runs there any more: free its data. */
                free(p->slot[i]);
                p->slot[i] = NULL;
                p->freed++;
                break;
        }
        pthread_mutex_unlock(&p->lock);
}

/* ---- pool: one worker per arrived processor --------------------------- */

struct pool {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t worker[DEMO_MAX_CPUS];
        unsigned nworkers;
        unsigned removals; /* a real pool would retire a worker for each */
        bool stop;
};

static void *pool_worker(void *userdata) {
        struct pool *p = userdata;

        pthread_mutex_lock(&p->lock);
        while (!p->stop)
                pthread_cond_wait(&p->cond, &p->lock);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static void pool_cb(void *userdata, const dhp_device_event *e) {
        struct pool *p = userdata;

        if (dhp_device_event_get_event(e) == DHP_EVENT_REMOVAL) {
                pthread_mutex_lock(&p->lock);
                p->removals++;
                pthread_mutex_unlock(&p->lock);
                return;
        }
        if (dhp_device_event_get_event(e) != DHP_EVENT_ARRIVAL)
                return;
        pthread_mutex_lock(&p->lock);
        if (p->nworkers < DEMO_MAX_CPUS && pthread_create(&p->worker[p->nworkers], NULL, pool_worker, p) == 0)
                p->nworkers++;
        pthread_mutex_unlock(&p->lock);
}

static void pool_stop(struct pool *p) {
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->nworkers; i++)
                pthread_join(p->worker[i], NULL);
}

/* ---- auditor: vetoes reserved slots ------------------------------------ */

struct auditor {
        uint32_t reserved;
        unsigned vetoed;
};

static void auditor_cb(void *userdata, const dhp_proc_change *c) {
        struct auditor *a = userdata;

        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START && dhp_proc_change_get_index(c) == a->reserved &&
            dhp_proc_change_veto(c, -EBUSY) == 0)
                a->vetoed++;
}

/* ---- cache: grows on memory arrival ------------------------------------ */

struct cache {
        uint64_t bytes;
        unsigned grown, existing, shrunk;
};

static void cache_cb(void *userdata, const dhp_device_event *e) {
        struct cache *c = userdata;
        uint64_t base, size;

        if (dhp_device_event_get_memory(e, &base, &size) < 0)
                return;
        if (dhp_device_event_get_event(e) == DHP_EVENT_REMOVAL) {
                /* Give back the quarter it took of what goes. */
                c->bytes -= size / 4 < c->bytes ? size / 4 : c->bytes;
                c->shrunk++;
                return;
        }
        if (dhp_device_event_get_event(e) != DHP_EVENT_ARRIVAL)
                return;
        /* A cache may take a quarter of what arrived. */
        c->bytes += size / 4;
        /* Counted as the pool counts its workers: the existing too. */
        c->grown++;
        if (dhp_device_event_is_existing(e))
                c->existing++;
}

/* ---- memwatch: the memory condition events ----------------------------- */

/* Waits in poll() on the fds of the memory events, a reclaimer's loop: the
 * fds are readable while their event is set, so it watches only the ones it
 * last saw clear (Low and High are never set together). */
struct memwatch {
        dhp_memcond *low, *high;
        int stop; /* eventfd */
        pthread_t thread;
        FILE *out;
        bool json;
        unsigned transitions; /* seen by the poll loop */
};

static void *memwatch_main(void *userdata) {
        struct memwatch *w = userdata;
        bool low = dhp_memcond_is_set(w->low), high = dhp_memcond_is_set(w->high);

        for (;;) {
                struct pollfd p[3] = { { .fd = w->stop, .events = POLLIN } };
                nfds_t n = 1;

                if (!low)
                        p[n++] = (struct pollfd){ .fd = dhp_memcond_get_fd(w->low), .events = POLLIN };
                if (!high)
                        p[n++] = (struct pollfd){ .fd = dhp_memcond_get_fd(w->high), .events = POLLIN };
                if (poll(p, n, -1) < 0 && errno != EINTR)
                        break;
                if (p[0].revents)
                        break;
                bool l = dhp_memcond_is_set(w->low), h = dhp_memcond_is_set(w->high);
                /* A real reclaimer would trim or grow its caches here; the
                 * timeline already shows the SET and CLEAR records. */
                w->transitions += (l != low) + (h != high);
                low = l;
                high = h;
        }
        return NULL;
}

/* ---- the timeline -------------------------------------------------------- */

static void print_record(void *userdata, const dhp_record *r) {
        const struct demo_options *o = userdata;
        char buf[1024];

        if (!o->json && strcmp(dhp_record_get_method(r), "note") == 0) {
                dhp_record_format(r, DHP_RECORD_TEXT, buf, sizeof(buf));
                fprintf(o->out, "\n%s\n", buf);
                return;
        }
        dhp_record_format(r, o->json ? DHP_RECORD_JSON : DHP_RECORD_TEXT, buf, sizeof(buf));
        if (o->json)
                ctl_print_json(o->out, buf);
        else
                fprintf(o->out, "%s\n", buf);
}

static char *read_file(const char *path, char **ret_error) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0, cap = 0;

        if (!f) {
                if (asprintf(ret_error, "%s: %s", path, strerror(errno)) < 0)
                        *ret_error = NULL;
                return NULL;
        }
        for (;;) {
                if (cap - len < 4096) {
                        char *p;
                        cap = cap ? cap * 2 : 8192;
                        if (cap > (1u << 24) || !(p = realloc(buf, cap + 1))) {
                                if (asprintf(ret_error, "%s: too large", path) < 0)
                                        *ret_error = NULL;
                                free(buf);
                                fclose(f);
                                return NULL;
                        }
                        buf = p;
                }
                size_t n = fread(buf + len, 1, cap - len, f);
                len += n;
                if (n == 0)
                        break;
        }
        if (ferror(f)) {
                if (asprintf(ret_error, "%s: read error", path) < 0)
                        *ret_error = NULL;
                free(buf);
                fclose(f);
                return NULL;
        }
        fclose(f);
        buf[len] = 0;
        return buf;
}

/* The demo's five clients, as an application would hold them. */
struct clients {
        struct percpu percpu;
        struct pool pool;
        struct auditor auditor;
        struct cache cache;
        struct memwatch memwatch;
        bool memwatch_running;
        dhp_proc_reg *r_percpu, *r_auditor;
        dhp_arrival_reg *r_pool, *r_cache;
};

/* The scenario's text (NULL: the built-in one) and name, checked whole: a
 * bad line anywhere is reported and nothing runs.  0, or -1 (reported). */
static int load_scenario(const struct demo_options *o, char **ret_text, const char **ret_name) {
        char *text = NULL, *error = NULL;
        const char *name = "built-in";
        int r;

        if (o->scenario) {
                text = read_file(o->scenario, &error);
                if (!text) {
                        fprintf(stderr, "dhpctl: demo: %s\n", error ? error : "out of memory");
                        free(error);
                        return -1;
                }
                name = o->scenario;
        }
        r = dhp_sim_check_scenario(name, text ? text : default_scenario, &error);
        if (r < 0) {
                fprintf(stderr, "dhpctl: demo: %s\n", error ? error : strerror(-r));
                free(error);
                free(text);
                return -1;
        }
        *ret_text = text;
        *ret_name = name;
        return 0;
}

/* The clients register as an application would: the per-CPU structure
 * first, with ADD_EXISTING so that existing processors get their slots
 * too; then the memory condition watcher's thread.  Errors reported. */
static int clients_register(dhp *ctx, struct clients *cl) {
        int r;

        if ((r = dhp_proc_register(ctx, "percpu", DHP_PROC_ADD_EXISTING | DHP_PROC_QUERY_REMOVE, percpu_cb, &cl->percpu,
                                   &cl->r_percpu)) < 0 ||
            (r = dhp_proc_register(ctx, "auditor", 0, auditor_cb, &cl->auditor, &cl->r_auditor)) < 0 ||
            (r = dhp_arrival_register(ctx, "pool", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING, pool_cb,
                                      &cl->pool, &cl->r_pool)) < 0 ||
            (r = dhp_arrival_register(ctx, "cache", DHP_CLASS_MEMORY, DHP_ARRIVAL_INCLUDE_EXISTING, cache_cb,
                                      &cl->cache, &cl->r_cache)) < 0) {
                fprintf(stderr, "dhpctl: demo: registration failed: %s\n", strerror(-r));
                return r;
        }
        if ((r = dhp_memcond_open(ctx, "LowMemoryCondition", &cl->memwatch.low)) < 0 ||
            (r = dhp_memcond_open(ctx, "HighMemoryCondition", &cl->memwatch.high)) < 0 ||
            (cl->memwatch.stop = eventfd(0, EFD_CLOEXEC)) < 0 ||
            (r = -pthread_create(&cl->memwatch.thread, NULL, memwatch_main, &cl->memwatch)) < 0) {
                fprintf(stderr, "dhpctl: demo: memwatch: %s\n", strerror(r < 0 ? -r : errno));
                return r < 0 ? r : -errno;
        }
        cl->memwatch_running = true;
        return 0;
}

static void clients_unregister(struct clients *cl) {
        if (cl->memwatch_running) {
                uint64_t one = 1;
                (void)!write(cl->memwatch.stop, &one, sizeof(one));
                pthread_join(cl->memwatch.thread, NULL);
        }
        if (cl->memwatch.stop >= 0)
                close(cl->memwatch.stop);
        dhp_memcond_close(cl->memwatch.low);
        dhp_memcond_close(cl->memwatch.high);
}

static void print_summary(dhp *ctx, const struct demo_options *o, struct clients *cl, struct demo_rebalance *rb) {
        uint32_t n = 0, admitted = 0;
        uint64_t lo = 0, hi = 0;
        char lo_mib[32], hi_mib[32];

        dhp_memcond_get_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, &lo);
        dhp_memcond_get_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, &hi);
        snprintf(lo_mib, sizeof(lo_mib), "%llu", (unsigned long long)(lo >> 20));
        snprintf(hi_mib, sizeof(hi_mib), "%llu", (unsigned long long)(hi >> 20));
        dhp_proc_count(ctx, &n);
        for (uint32_t i = 0; i < n; i++) {
                dhp_proc_state s;
                if (dhp_proc_get_state(ctx, i, &s) == 0 && s == DHP_PROC_ADMITTED)
                        admitted++;
        }
        fprintf(o->out,
                "\nsummary\n"
                "  processors admitted: %u of %u slots\n"
                "  percpu:  %u slots allocated at ADD_START, %u published at ADD_COMPLETE, %u freed at "
                "ADD_FAILURE or REMOVE_COMPLETE\n"
                "  auditor: %u add(s) vetoed\n"
                "  pool:    %u worker threads (one per processor arrival), %u processor removal(s)\n"
                "  cache:   %llu MiB after %u memory arrival(s) (%u existing) and %u removal(s)\n"
                "  memwatch: LowMemoryCondition %s, HighMemoryCondition %s (low %s MiB, high %s MiB)\n"
                "  (HighMemoryCondition is set for many reasons besides hot-add; arrival notification, "
                "not this event, is the recommended way to learn of hot-added memory)\n",
                admitted, n, cl->percpu.allocated, cl->percpu.published, cl->percpu.freed, cl->auditor.vetoed,
                cl->pool.nworkers, cl->pool.removals, (unsigned long long)(cl->cache.bytes >> 20), cl->cache.grown,
                cl->cache.existing, cl->cache.shrunk,
                dhp_memcond_is_set(cl->memwatch.low) ? "set" : "clear",
                dhp_memcond_is_set(cl->memwatch.high) ? "set" : "clear", lo_mib, hi_mib);
        demo_rebalance_report(rb, o->out);
}

int demo_run(const struct demo_options *o) {
        struct clients cl = {
                .percpu = { .lock = PTHREAD_MUTEX_INITIALIZER },
                .pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER },
                .auditor = { .reserved = 4 },
                .memwatch = { .stop = -1, .out = o->out, .json = o->json },
        };
        dhp_monitor *mon = NULL;
        struct demo_rebalance *rebalance = NULL;
        char *text = NULL, *error = NULL, err[256] = "";
        const char *name = NULL;
        dhp *ctx = NULL;
        int r;

        if (load_scenario(o, &text, &name) < 0)
                return 1;
        r = dhp_internal_open(&ctx, o->target ? o->target : "sim:cpus=2,maxcpus=8,memory=1G", err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "dhpctl: demo: cannot open the simulated partition: %s\n", err[0] ? err : strerror(-r));
                free(text);
                /* EINVAL: --target's options do not make a partition, a
                 * malformed value of the command line (exit 2, dhpctl(1)). */
                return r == -EINVAL && o->target ? 2 : 1;
        }
        if (!o->json)
                fprintf(o->out,
                        "dhp demo: a simulated partition (2 of 8 processors, 1 GiB) running scenario %s\n"
                        "clients: percpu (sync, per-CPU data), auditor (sync, vetoes slot 4), pool (arrival, one "
                        "worker per CPU), cache (arrival, memory), memwatch (memory condition events)\n\n"
                        "         time  method    event         subject          client\n",
                        name);

        r = dhp_monitor_add(ctx, print_record, (void *)o, &mon);
        if (r < 0) {
                fprintf(stderr, "dhpctl: demo: %s\n", strerror(-r));
                goto out;
        }
        r = clients_register(ctx, &cl);
        if (r < 0)
                goto out;
        if (!o->json)
                fputs("\n", o->out);
        r = demo_rebalance_setup(ctx, o->json ? NULL : o->out, &rebalance);
        if (r < 0) {
                fprintf(stderr, "dhpctl: demo: devices: %s\n", strerror(-r));
                goto out;
        }
        r = dhp_start_thread(ctx);
        if (r < 0) {
                fprintf(stderr, "dhpctl: demo: %s\n", strerror(-r));
                goto out;
        }

        r = dhp_sim_run_scenario(ctx, name, text ? text : default_scenario, &error);
        dhp_stop_thread(ctx);
        if (r < 0) {
                fprintf(stderr, "dhpctl: demo: %s\n", error ? error : strerror(-r));
                free(error);
                goto out;
        }
        if (!o->json)
                print_summary(ctx, o, &cl, rebalance);
        r = 0;
out:
        demo_rebalance_free(rebalance);
        clients_unregister(&cl);
        dhp_monitor_remove(mon);
        dhp_proc_deregister(cl.r_percpu);
        dhp_proc_deregister(cl.r_auditor);
        dhp_arrival_unregister(cl.r_pool);
        dhp_arrival_unregister(cl.r_cache);
        dhp_close(ctx);
        pool_stop(&cl.pool);
        for (unsigned i = 0; i < DEMO_MAX_CPUS; i++)
                free(cl.percpu.slot[i]);
        free(text);
        return r < 0 ? 1 : 0;
}
