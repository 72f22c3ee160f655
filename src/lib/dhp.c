/* SPDX-License-Identifier: MIT */
/*
 * The public API: a context is an engine over a platform chosen by the
 * target string, an eventfd that says "notifications pending", and
 * optionally a notification thread of its own.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/memcond.h"
#include "core/peer.h"
#include "core/rebalance.h"
#include "dhp.h"
#include "lib/dhp-private.h"
#include "platform/linux/affinity.h"
#include "platform/linux/linux.h"
#include "lib/client.h"
#include "lib/mirror.h"
#include "platform/sim/scenario.h"
#include "platform/sim/sim.h"
#include "platform/sim/simdev.h"
#include "util/cpuset.h"
#include "util/macro.h"
#include "util/parse.h"

struct dhp {
        struct engine *engine;
        struct sim *sim; /* target "sim" */
        struct rebalance *rebalance;
        struct linux_platform *lp; /* target "linux" */
        char *root;
        pthread_t hp_thread; /* "linux": uevents and transactions */
        bool hp_running;
        int hp_stop;
        pthread_mutex_t admitted_lock;
        struct cpuset admitted; /* this process's threads run only here */
        char cgroups[LINUX_MAX_CGROUPS][256];
        struct remote *remote; /* target "unix:PATH": engine is local, no platform */
        bool own_engine;       /* the engine is ours, not a platform's */
        int efd;         /* readable: the queue has items */
        int stop_efd;    /* readable: the notification thread must stop */
        pthread_mutex_t lock;
        pthread_t thread;
        bool thread_running;
        struct list memconds; /* open dhp_memcond handles, under lock */
};

struct dhp_memcond {
        struct memcond_listener listener;
        struct list node;
        dhp *ctx;
        int efd; /* readable exactly while the event is set */
        bool subscribed; /* counted in dhpd's subscription (target "unix:") */
};

static void wake(void *userdata) {
        struct dhp *ctx = userdata;
        uint64_t one = 1;

        /* An eventfd write only fails when the counter would overflow,
         * which leaves it readable anyway. */
        (void)!write(ctx->efd, &one, sizeof(one));
}

static void drain(int fd) {
        uint64_t v;

        (void)!read(fd, &v, sizeof(v));
}

static int open_sim(struct dhp *ctx, const char *options) {
        struct sim_config cfg = SIM_CONFIG_DEFAULT;
        int r;

        r = sim_config_parse(&cfg, options);
        if (r < 0)
                return r;
        r = sim_new(&ctx->sim, &cfg);
        if (r < 0)
                return r;
        ctx->engine = sim_engine(ctx->sim);
        /* Engine hooks are added before the platform runs a transaction. */
        return rebalance_new(ctx->engine, &ctx->rebalance);
}

/* Admission of a processor: this process's threads may now run there. */
static int linux_on_admit(void *userdata, uint32_t cpu) {
        struct dhp *ctx = userdata;
        int r;

        pthread_mutex_lock(&ctx->admitted_lock);
        r = cpuset_set(&ctx->admitted, cpu);
        if (r >= 0)
                r = affinity_set_process(&ctx->admitted, NULL);
        pthread_mutex_unlock(&ctx->admitted_lock);
        /* Not widening our own threads is no reason to refuse the processor
         * to everybody else. */
        (void)r;
        return 0;
}

static void *linux_hotplug_thread(void *userdata) {
        struct dhp *ctx = userdata;
        struct pollfd p[2] = {
                { .fd = linux_platform_get_fd(ctx->lp), .events = POLLIN },
                { .fd = ctx->hp_stop, .events = POLLIN },
        };

        for (;;) {
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[1].revents || (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)))
                        break;
                if (p[0].revents && linux_platform_process(ctx->lp) < 0)
                        break;
        }
        return NULL;
}

/* "linux" or "linux:root=DIR,uevent-fd=N,cgroup=GROUP,online=yes|no" (root
 * and uevent-fd are for tests on a fake sysfs tree). */
static int open_linux(struct dhp *ctx, const char *options) {
        struct linux_config lc;
        char *dup = NULL, *save = NULL;
        int r = 0, fd = -1;

        linux_config_defaults(&lc);
        if (options && *options) {
                dup = strdup(options);
                if (!dup)
                        return -ENOMEM;
                for (char *it = strtok_r(dup, ",", &save); it && r == 0; it = strtok_r(NULL, ",", &save)) {
                        char *v = strchr(it, '=');
                        uint32_t n;
                        int b;
                        if (!v) {
                                r = -EINVAL;
                                break;
                        }
                        *v++ = 0;
                        if (strcmp(it, "root") == 0) {
                                free(ctx->root);
                                ctx->root = strdup(v);
                                r = ctx->root ? 0 : -ENOMEM;
                        } else if (strcmp(it, "uevent-fd") == 0) {
                                r = parse_u32(v, &n);
                                fd = (int)n;
                        } else if (strcmp(it, "online") == 0) {
                                r = parse_bool(v, &b);
                                lc.cpu_online = lc.mem_online = b;
                        } else if (strcmp(it, "cgroup") == 0 && lc.ncgroups < LINUX_MAX_CGROUPS &&
                                   strlen(v) < sizeof(ctx->cgroups[0])) {
                                strcpy(ctx->cgroups[lc.ncgroups], v);
                                lc.cgroups[lc.ncgroups] = ctx->cgroups[lc.ncgroups];
                                lc.ncgroups++;
                        } else {
                                r = -EINVAL;
                        }
                }
        }
        if (r < 0)
                goto out;
        lc.root = ctx->root ? ctx->root : "";
        lc.uevent_fd = fd;
        lc.on_admit = linux_on_admit;
        lc.on_admit_userdata = ctx;
        r = linux_platform_new(&ctx->lp, &lc, NULL);
        if (r < 0)
                goto out;
        ctx->engine = linux_platform_engine(ctx->lp);
        /* Engine hooks are added before the platform runs a transaction. */
        r = rebalance_new(ctx->engine, &ctx->rebalance);
        if (r < 0)
                goto out;
        r = linux_platform_start(ctx->lp);
        if (r < 0)
                goto out;
        /* From now on this process's threads run only on admitted CPUs. */
        r = linux_platform_admitted(ctx->lp, &ctx->admitted);
        if (r >= 0 && cpuset_count(&ctx->admitted) > 0)
                affinity_set_process(&ctx->admitted, NULL);
        ctx->hp_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (ctx->hp_stop < 0) {
                r = -errno;
                goto out;
        }
        r = -pthread_create(&ctx->hp_thread, NULL, linux_hotplug_thread, ctx);
        if (r == 0)
                ctx->hp_running = true;
out:
        free(dup);
        return r;
}

/* A client of dhpd has no platform of its own: the local engine only holds
 * registrations and the arrival queue. */
static int nop_cpu(void *platform, uint32_t index) {
        return 0;
}

static int nop_block(void *platform, uint64_t index) {
        return 0;
}

static const struct platform_ops remote_ops = { .cpu_start = nop_cpu, .cpu_stop = nop_cpu, .mem_block_online = nop_block };

static int open_remote(struct dhp *ctx, const char *path, char *err, size_t errsize) {
        int r;

        r = engine_new(&ctx->engine, &remote_ops, NULL);
        if (r < 0)
                return r;
        ctx->own_engine = true;
        peer_set_records_only(ctx->engine, true);
        r = remote_open(&ctx->remote, ctx->engine, path, wake, ctx, err, errsize);
        if (r < 0)
                return r;
        /* Devices live in dhpd; this module mirrors them and runs the
         * requests dhpd sends to their drivers. */
        return mirror_devices_new(ctx->engine, remote_rebalance_ops(), ctx->remote, &ctx->rebalance);
}

/* dhp_open with a message a person can act on (dhpctl); not exported. */
int dhp_internal_open(dhp **ret, const char *target, char *err, size_t errsize);
int dhp_internal_open(dhp **ret, const char *target, char *err, size_t errsize) {
        struct dhp *ctx;
        int r;

        if (!ret)
                return -EINVAL;
        if (!target || !*target) {
                target = getenv("DHP_TARGET");
                if (!target || !*target)
                        target = "unix:" REMOTE_DEFAULT_SOCKET;
        }
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        ctx->efd = ctx->stop_efd = ctx->hp_stop = -1;
        pthread_mutex_init(&ctx->lock, NULL);
        pthread_mutex_init(&ctx->admitted_lock, NULL);
        list_init(&ctx->memconds);

        /* The eventfds first: the connection thread may wake at once. */
        ctx->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ctx->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (ctx->efd < 0 || ctx->stop_efd < 0) {
                r = -errno;
                goto fail;
        }

        if (strcmp(target, "sim") == 0)
                r = open_sim(ctx, NULL);
        else if (strncmp(target, "sim:", 4) == 0)
                r = open_sim(ctx, target + 4);
        else if (strcmp(target, "linux") == 0)
                r = open_linux(ctx, NULL);
        else if (strncmp(target, "linux:", 6) == 0)
                r = open_linux(ctx, target + 6);
        else if (strncmp(target, "unix:", 5) == 0)
                r = open_remote(ctx, target + 5, err, errsize);
        else
                r = -EPROTONOSUPPORT;
        if (r < 0)
                goto fail;
        engine_set_embedder(ctx->engine, ctx);
        engine_set_default_name(ctx->engine, program_invocation_short_name[0] ? program_invocation_short_name
                                                                              : "client");
        engine_set_wake(ctx->engine, wake, ctx);
        if (!engine_idle(ctx->engine))
                wake(ctx); /* queued while the platform started */
        *ret = ctx;
        return 0;
fail:
        dhp_close(ctx);
        return r;
}

DHP_EXPORT int dhp_open(dhp **ret, const char *target) {
        return dhp_internal_open(ret, target, NULL, 0);
}

DHP_EXPORT int dhp_reconnect(dhp *ctx) {
        if (!ctx)
                return -EINVAL;
        if (!ctx->remote)
                return -EOPNOTSUPP;
        return remote_reconnect(ctx->remote, NULL, 0);
}

DHP_EXPORT void dhp_close(dhp *ctx) {
        if (!ctx)
                return;
        dhp_stop_thread(ctx);
        if (ctx->hp_running) {
                uint64_t one = 1;
                (void)!write(ctx->hp_stop, &one, sizeof(one));
                pthread_join(ctx->hp_thread, NULL);
        }
        if (ctx->hp_stop >= 0)
                close(ctx->hp_stop);
        /* Handles that refer to the engine go before any engine does. */
        list_for_each_safe(n, tmp, &ctx->memconds)
                dhp_memcond_close(list_entry(n, struct dhp_memcond, node));
        remote_free(ctx->remote);
        linux_platform_free(ctx->lp);
        free(ctx->root);
        cpuset_deinit(&ctx->admitted);
        pthread_mutex_destroy(&ctx->admitted_lock);
        if (ctx->own_engine)
                engine_free(ctx->engine);
        if (ctx->sim)
                sim_free(ctx->sim);
        /* After the engine: its hook and queued items refer to it. */
        rebalance_free(ctx->rebalance);
        if (ctx->efd >= 0)
                close(ctx->efd);
        if (ctx->stop_efd >= 0)
                close(ctx->stop_efd);
        pthread_mutex_destroy(&ctx->lock);
        free(ctx);
}

struct engine *dhp_engine(dhp *ctx) {
        return ctx->engine;
}

DHP_EXPORT int dhp_get_fd(dhp *ctx) {
        return ctx ? ctx->efd : -EINVAL;
}

static bool thread_running(struct dhp *ctx) {
        bool v;

        pthread_mutex_lock(&ctx->lock);
        v = ctx->thread_running;
        pthread_mutex_unlock(&ctx->lock);
        return v;
}

DHP_EXPORT int dhp_process(dhp *ctx) {
        if (!ctx)
                return -EINVAL;
        if (thread_running(ctx) && !pthread_equal(ctx->thread, pthread_self()))
                return -EBUSY;
        /* Reset before dispatching: an item queued meanwhile makes the fd
         * readable again, so nothing is left behind unannounced. */
        drain(ctx->efd);
        memcond_tick(ctx->engine);
        if (ctx->remote && remote_error(ctx->remote) < 0) {
                /* Deliver what came before the loss, then report it. */
                int n = engine_dispatch(ctx->engine);
                (void)n;
                wake(ctx); /* stays readable until dhp_reconnect() */
                return remote_error(ctx->remote);
        }
        return engine_dispatch(ctx->engine);
}

DHP_EXPORT int dhp_wait(dhp *ctx, int timeout_ms) {
        struct pollfd p;
        int r;

        if (!ctx)
                return -EINVAL;
        if (!engine_idle(ctx->engine) && !thread_running(ctx))
                return 1;
        p = (struct pollfd){ .fd = ctx->efd, .events = POLLIN };
        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        return r > 0 ? 1 : 0;
}

static void *notification_thread(void *userdata) {
        struct dhp *ctx = userdata;
        struct pollfd p[2] = {
                { .fd = ctx->efd, .events = POLLIN },
                { .fd = ctx->stop_efd, .events = POLLIN },
        };

        for (;;) {
                /* The memory conditions' fallback timer, if the platform
                 * needs one; -1 otherwise. */
                int r = poll(p, 2, memcond_next_timeout_ms(ctx->engine));

                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[1].revents)
                        break;
                memcond_tick(ctx->engine);
                if (p[0].revents) {
                        drain(ctx->efd);
                        engine_dispatch(ctx->engine);
                }
        }
        /* Deliver what was queued before the stop was asked. */
        drain(ctx->efd);
        engine_dispatch(ctx->engine);
        return NULL;
}

DHP_EXPORT int dhp_start_thread(dhp *ctx) {
        int r;

        if (!ctx)
                return -EINVAL;
        pthread_mutex_lock(&ctx->lock);
        if (ctx->thread_running) {
                pthread_mutex_unlock(&ctx->lock);
                return -EALREADY;
        }
        drain(ctx->stop_efd);
        r = -pthread_create(&ctx->thread, NULL, notification_thread, ctx);
        if (r == 0)
                ctx->thread_running = true;
        pthread_mutex_unlock(&ctx->lock);
        return r;
}

DHP_EXPORT int dhp_stop_thread(dhp *ctx) {
        uint64_t one = 1;
        pthread_t t;

        if (!ctx)
                return -EINVAL;
        pthread_mutex_lock(&ctx->lock);
        if (!ctx->thread_running) {
                pthread_mutex_unlock(&ctx->lock);
                return 0;
        }
        t = ctx->thread;
        pthread_mutex_unlock(&ctx->lock);
        if (pthread_equal(t, pthread_self()))
                return -EDEADLK;
        (void)!write(ctx->stop_efd, &one, sizeof(one));
        pthread_join(t, NULL);
        pthread_mutex_lock(&ctx->lock);
        ctx->thread_running = false;
        pthread_mutex_unlock(&ctx->lock);
        /* Leave the fd readable if work came in after the thread stopped. */
        if (!engine_idle(ctx->engine))
                wake(ctx);
        return 0;
}

DHP_EXPORT int dhp_set_name(dhp *ctx, const char *name) {
        if (!ctx)
                return -EINVAL;
        return engine_set_default_name(ctx->engine, name);
}

DHP_EXPORT int dhp_proc_count(dhp *ctx, uint32_t *ret_count) {
        if (!ctx || !ret_count)
                return -EINVAL;
        if (ctx->remote)
                return remote_proc_count(ctx->remote, ret_count);
        *ret_count = engine_cpu_count(ctx->engine);
        return 0;
}

DHP_EXPORT int dhp_proc_get_state(dhp *ctx, uint32_t index, dhp_proc_state *ret_state) {
        if (!ctx || !ret_state)
                return -EINVAL;
        if (ctx->remote)
                return remote_proc_get_state(ctx->remote, index, ret_state);
        return engine_cpu_get_state(ctx->engine, index, ret_state);
}

DHP_EXPORT int dhp_proc_register(dhp *ctx, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                                 dhp_proc_reg **ret) {
        if (!ctx)
                return -EINVAL;
        if (ctx->remote)
                return remote_proc_register(ctx->remote, name, flags, cb, userdata, ret);
        return procnotify_register(ctx->engine, name, flags, cb, userdata, ret);
}

DHP_EXPORT void dhp_proc_deregister(dhp_proc_reg *reg) {
        struct dhp *ctx;

        if (!reg)
                return;
        ctx = engine_embedder(procnotify_reg_engine(reg));
        if (ctx && ctx->remote)
                remote_proc_deregister(ctx->remote, reg);
        else
                procnotify_deregister(reg);
}

DHP_EXPORT int dhp_arrival_register(dhp *ctx, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                                    void *userdata, dhp_arrival_reg **ret) {
        if (!ctx)
                return -EINVAL;
        if (ctx->remote)
                return remote_arrival_register(ctx->remote, name, cls, flags, cb, userdata, ret);
        return arrival_register(ctx->engine, name, cls, flags, cb, userdata, ret);
}

DHP_EXPORT void dhp_arrival_unregister(dhp_arrival_reg *reg) {
        struct dhp *ctx;

        if (!reg)
                return;
        ctx = engine_embedder(arrival_reg_engine(reg));
        if (ctx && ctx->remote)
                remote_arrival_unregister(ctx->remote, reg);
        else
                arrival_unregister(reg);
}

DHP_EXPORT int dhp_monitor_add(dhp *ctx, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret) {
        if (!ctx)
                return -EINVAL;
        if (ctx->remote)
                return remote_monitor_add(ctx->remote, cb, userdata, ret);
        return engine_monitor_add(ctx->engine, cb, userdata, ret);
}

DHP_EXPORT void dhp_monitor_remove(dhp_monitor *m) {
        struct dhp *ctx;

        if (!m)
                return;
        ctx = engine_embedder(engine_monitor_engine(m));
        if (ctx && ctx->remote)
                remote_monitor_remove(ctx->remote, m);
        else
                engine_monitor_remove(m);
}

DHP_EXPORT int dhp_sim_cpu_add(dhp *ctx, uint32_t *ret_index) {
        if (!ctx)
                return -EINVAL;
        if (ctx->remote)
                return remote_sim_cpu_add(ctx->remote, ret_index);
        if (!ctx->sim)
                return -EOPNOTSUPP;
        return sim_cpu_add(ctx->sim, ret_index);
}

DHP_EXPORT int dhp_sim_memory_add(dhp *ctx, uint64_t size, uint64_t *ret_base) {
        if (!ctx)
                return -EINVAL;
        if (ctx->remote)
                return remote_sim_memory_add(ctx->remote, size, ret_base);
        if (!ctx->sim)
                return -EOPNOTSUPP;
        return sim_memory_add(ctx->sim, size, ret_base);
}

DHP_EXPORT int dhp_device_new(dhp *ctx, const char *name, const char *setup_class, dhp_device **ret) {
        if (!ctx)
                return -EINVAL;
        return rebalance_device_new(ctx->rebalance, name, setup_class, ret);
}

DHP_EXPORT int dhp_setup_class_set_optout(dhp *ctx, const char *setup_class, bool optout) {
        if (!ctx)
                return -EINVAL;
        return rebalance_class_set_optout(ctx->rebalance, setup_class, optout);
}

DHP_EXPORT int dhp_setup_class_get_optout(dhp *ctx, const char *setup_class, bool *ret_optout) {
        if (!ctx)
                return -EINVAL;
        return rebalance_class_get_optout(ctx->rebalance, setup_class, ret_optout);
}

static int settle(void *userdata) {
        struct dhp *ctx = userdata;
        int r;

        if (!thread_running(ctx)) {
                r = dhp_process(ctx);
                return r < 0 ? r : 0;
        }
        return engine_wait_idle(ctx->engine, 10000);
}

static void note(void *userdata, const char *text) {
        struct dhp *ctx = userdata;

        engine_record_note(ctx->engine, text);
}

static int device_add(void *userdata, const struct simdev_config *cfg) {
        struct dhp *ctx = userdata;

        return simdev_add(ctx->rebalance, cfg);
}

static int class_optout(void *userdata, const char *setup_class, bool optout) {
        struct dhp *ctx = userdata;

        return rebalance_class_set_optout(ctx->rebalance, setup_class, optout);
}

DHP_EXPORT int dhp_sim_run_scenario(dhp *ctx, const char *filename, const char *text, char **ret_error) {
        struct scenario_hooks hooks = { .settle = settle, .note = note, .device_add = device_add,
                                        .class_optout = class_optout, .userdata = ctx };
        struct scenario *sc = NULL;
        int r;

        if (!ctx || !text)
                return -EINVAL;
        if (ctx->remote)
                return remote_sim_run(ctx->remote, filename, text, ret_error);
        if (!ctx->sim)
                return -EOPNOTSUPP;
        r = scenario_parse(filename, text, &sc, ret_error);
        if (r < 0)
                return r;
        r = scenario_run(sc, ctx->sim, &hooks, ret_error);
        scenario_free(sc);
        return r;
}

DHP_EXPORT int dhp_sim_check_scenario(const char *filename, const char *text, char **ret_error) {
        struct scenario *sc = NULL;
        int r;

        if (!text)
                return -EINVAL;
        r = scenario_parse(filename, text, &sc, ret_error);
        scenario_free(sc);
        return r;
}

/* For the CLI and tests: the simulated platform behind a context. */
struct sim *dhp_internal_sim(dhp *ctx);
struct sim *dhp_internal_sim(dhp *ctx) {
        return ctx->sim;
}

/* ---- memory condition events ------------------------------------------ */

/* Called under the memcond lock at every transition: the descriptor's
 * readability follows the event.  eventfd writes and reads never block
 * here (non-blocking; the counter holds at most a few units). */
static void memcond_changed(struct memcond_listener *l, bool set) {
        struct dhp_memcond *ev = (struct dhp_memcond *)l;
        uint64_t one = 1;

        if (set)
                (void)!write(ev->efd, &one, sizeof(one));
        else
                drain(ev->efd);
}

DHP_EXPORT int dhp_memcond_open(dhp *ctx, const char *name, dhp_memcond **ret) {
        enum memcond_kind k;
        struct dhp_memcond *ev;
        int r;

        if (!ctx || !name || !ret)
                return -EINVAL;
        r = memcond_lookup(name, &k);
        if (ctx->remote) {
                /* dhpd judges the name and sends the state now, before
                 * this returns: the local event is current below. */
                int kind = r < 0 ? -1 : (int)k;
                r = remote_memcond_subscribe(ctx->remote, name, kind);
        }
        if (r < 0)
                return r;
        ev = calloc(1, sizeof(*ev));
        if (ev)
                ev->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!ev || ev->efd < 0) {
                r = ev ? -errno : -ENOMEM;
                free(ev);
                if (ctx->remote)
                        remote_memcond_unsubscribe(ctx->remote, (int)k);
                return r;
        }
        ev->subscribed = ctx->remote != NULL;
        ev->ctx = ctx;
        ev->listener.kind = k;
        ev->listener.fn = memcond_changed;
        pthread_mutex_lock(&ctx->lock);
        list_append(&ctx->memconds, &ev->node);
        pthread_mutex_unlock(&ctx->lock);
        memcond_listen(ctx->engine, &ev->listener);
        *ret = ev;
        return 0;
}

DHP_EXPORT void dhp_memcond_close(dhp_memcond *ev) {
        if (!ev)
                return;
        memcond_unlisten(ev->ctx->engine, &ev->listener);
        if (ev->subscribed)
                remote_memcond_unsubscribe(ev->ctx->remote, (int)ev->listener.kind);
        pthread_mutex_lock(&ev->ctx->lock);
        list_remove(&ev->node);
        pthread_mutex_unlock(&ev->ctx->lock);
        close(ev->efd);
        free(ev);
}

DHP_EXPORT const char *dhp_memcond_get_name(const dhp_memcond *ev) {
        return ev ? memcond_name(ev->listener.kind) : NULL;
}

DHP_EXPORT bool dhp_memcond_is_set(const dhp_memcond *ev) {
        return ev && memcond_is_set(ev->ctx->engine, ev->listener.kind);
}

DHP_EXPORT int dhp_memcond_wait(dhp_memcond *ev, int timeout_ms) {
        if (!ev)
                return -EINVAL;
        return memcond_wait(ev->ctx->engine, ev->listener.kind, timeout_ms);
}

DHP_EXPORT int dhp_memcond_get_fd(const dhp_memcond *ev) {
        return ev ? ev->efd : -EINVAL;
}

static const char *threshold_key(dhp_memcond_threshold which) {
        switch (which) {
        case DHP_MEMCOND_LOW_MEMORY:
                return "low";
        case DHP_MEMCOND_HIGH_MEMORY:
                return "high";
        case DHP_MEMCOND_LOW_COMMIT:
                return "low_commit";
        case DHP_MEMCOND_HIGH_COMMIT:
                return "high_commit";
        case DHP_MEMCOND_MAXIMUM_COMMIT:
                return "max_commit";
        }
        return NULL;
}

DHP_EXPORT int dhp_memcond_set_threshold(dhp *ctx, dhp_memcond_threshold which, uint64_t value, char **ret_error) {
        const char *key = threshold_key(which);
        char spec[64];

        if (!ctx || !key)
                return -EINVAL;
        /* One path for the API, the scenario and the daemon's file: the
         * same checks, the same messages (dhpd's, for a client). */
        snprintf(spec, sizeof(spec), "%s=%llu", key, (unsigned long long)value);
        if (ctx->remote)
                return remote_memcond_configure(ctx->remote, spec, ret_error);
        return memcond_configure_spec(ctx->engine, spec, ret_error);
}

DHP_EXPORT int dhp_memcond_get_threshold(dhp *ctx, dhp_memcond_threshold which, uint64_t *ret_value) {
        struct memcond_thresholds t;

        if (!ctx || !ret_value || !threshold_key(which))
                return -EINVAL;
        if (ctx->remote)
                return remote_memcond_get_threshold(ctx->remote, which, ret_value);
        memcond_get_thresholds(ctx->engine, &t);
        switch (which) {
        case DHP_MEMCOND_LOW_MEMORY:
                *ret_value = t.low;
                break;
        case DHP_MEMCOND_HIGH_MEMORY:
                *ret_value = t.high;
                break;
        case DHP_MEMCOND_LOW_COMMIT:
                *ret_value = t.low_commit;
                break;
        case DHP_MEMCOND_HIGH_COMMIT:
                *ret_value = t.high_commit;
                break;
        case DHP_MEMCOND_MAXIMUM_COMMIT:
                *ret_value = t.max_commit;
                break;
        }
        return 0;
}

DHP_EXPORT int dhp_memcond_configure(dhp *ctx, const char *spec, char **ret_error) {
        if (!ctx || !spec)
                return -EINVAL;
        if (ctx->remote)
                return remote_memcond_configure(ctx->remote, spec, ret_error);
        return memcond_configure_spec(ctx->engine, spec, ret_error);
}

DHP_EXPORT int dhp_memcond_next_timeout_ms(dhp *ctx) {
        if (!ctx)
                return -EINVAL;
        return memcond_next_timeout_ms(ctx->engine);
}

DHP_EXPORT int dhp_sim_memory_set_levels(dhp *ctx, uint64_t total, uint64_t available, uint64_t commit_charge,
                                         uint64_t commit_limit) {
        if (!ctx)
                return -EINVAL;
        if (!ctx->sim)
                return -EOPNOTSUPP;
        return sim_mem_levels_set(ctx->sim, total, available, commit_charge, commit_limit, true);
}

/* For scenarios run by the CLI and tests: a device by name. */
dhp_device *dhp_internal_device(dhp *ctx, const char *name);
dhp_device *dhp_internal_device(dhp *ctx, const char *name) {
        return rebalance_device_find(ctx->rebalance, name);
}

/* For dhpctl and tests: the connection behind a "unix:" context. */
struct remote *dhp_internal_remote(dhp *ctx);
struct remote *dhp_internal_remote(dhp *ctx) {
        return ctx->remote;
}

/* For tests: the engine behind a context (a "unix:" context's local one). */
struct engine *dhp_internal_engine(dhp *ctx);
struct engine *dhp_internal_engine(dhp *ctx) {
        return ctx->engine;
}
