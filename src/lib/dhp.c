/* SPDX-License-Identifier: MIT */
/*
 * The public API: a context is an engine behind a backend chosen by the
 * target string (backend.h: the in-process platforms or dhpd's client),
 * an eventfd that says "notifications pending", and optionally a
 * notification thread of its own.  Nothing here depends on the backend.
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
#include "lib/backend.h"
#include "lib/client.h"
#include "lib/dhp-private.h"
#include "lib/errtext.h"
#include "proto/record-wire.h"
#include "platform/sim/scenario.h"
#include "util/macro.h"
#include "util/wakefd.h"

struct dhp {
        const struct dhp_backend_ops *ops;
        void *backend;
        struct engine *engine;       /* the backend's */
        struct rebalance *rebalance; /* the backend's */
        int efd;         /* readable: the queue has items */
        int stop_efd;    /* readable: the notification thread must stop */
        pthread_mutex_t lock;
        pthread_t thread;
        bool thread_running;
        struct list memconds; /* open dhp_memcond handles, under lock */
        pid_t pid;            /* the process that opened it (fork, below) */
};

struct dhp_memcond {
        struct memcond_listener listener;
        struct list node;
        dhp *ctx;
        int kind; /* as the backend opened it: enum memcond_kind, or -1 */
        int efd; /* readable exactly while the event is set */
};

/* The engine's wake function: the context's eventfd (util/wakefd.h). */
static void wake(void *userdata) {
        struct dhp *ctx = userdata;

        wakefd_signal(ctx->efd);
}

/*
 * The checks at the top of a call on a context.  A child after fork() has
 * a copy of the context but none of its threads (the connection thread,
 * the notification thread, the platform's): every call that would wait
 * for one, or deliver the parent's notifications twice, fails with
 * -ECHILD at once.  A call that waits for the transaction or for dhpd
 * (waits = true) fails with -EDEADLK inside a synchronous callback, on
 * every target: the callback runs under the transaction (in-process) or on
 * the connection thread that would read the answer (dhpd).  A new call
 * starts without the explanation of an earlier one (dhp_strerror()).
 */
static int ctx_enter(dhp *ctx, bool waits) {
        if (!ctx)
                return -EINVAL;
        if (getpid() != ctx->pid) {
                errtext_set(-ECHILD, "%s: this context was opened by process %d, before fork(); a child process "
                            "must open a context of its own (only dhp_close() may be called on the parent's)",
                            strerrordesc_np(ECHILD), (int)ctx->pid);
                return -ECHILD;
        }
        if (waits && engine_txn_owned_by_self(ctx->engine)) {
                errtext_set(-EDEADLK, "%s: called from inside a synchronous callback, this would wait for the "
                            "hot-add transaction the callback runs in; call it from another thread or after the "
                            "callback returned", strerrordesc_np(EDEADLK));
                return -EDEADLK;
        }
        errtext_clear();
        return 0;
}

void *dhp_backend_state(dhp *ctx, const struct dhp_backend_ops *ops) {
        return ctx && ctx->ops == ops ? ctx->backend : NULL;
}

/* The backend of a target and what follows its prefix. */
static const struct dhp_backend_ops *backend_for(const char *target, const char **ret_options) {
        static const struct {
                const char *name;
                const struct dhp_backend_ops *ops;
                bool bare; /* valid without ":OPTIONS" */
        } table[] = {
                { "sim", &dhp_backend_sim, true },
                { "linux", &dhp_backend_linux, true },
                { "unix", &dhp_backend_remote, false },
                { "cgroup", &dhp_backend_cgroup, true },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                size_t n = strlen(table[i].name);
                if (strncmp(target, table[i].name, n) != 0)
                        continue;
                if (target[n] == 0 && table[i].bare) {
                        *ret_options = NULL;
                        return table[i].ops;
                }
                if (target[n] == ':') {
                        *ret_options = target + n + 1;
                        return table[i].ops;
                }
        }
        return NULL;
}

static int backend_open(struct dhp *ctx, const char *target, char *err, size_t errsize) {
        struct dhp_backend_open o = { .wake = wake, .wake_userdata = ctx, .err = err, .errsize = errsize };
        const struct dhp_backend_ops *ops = backend_for(target, &o.options);
        int r;

        if (!ops)
                return -EPROTONOSUPPORT;
        r = ops->open(&o);
        if (r < 0)
                return r;
        ctx->ops = ops;
        ctx->backend = o.backend;
        ctx->engine = o.engine;
        ctx->rebalance = o.rebalance;
        return 0;
}

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
        ctx->efd = ctx->stop_efd = -1;
        ctx->pid = getpid();
        pthread_mutex_init(&ctx->lock, NULL);
        list_init(&ctx->memconds);

        /* The eventfds first: the connection thread may wake at once. */
        ctx->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ctx->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (ctx->efd < 0 || ctx->stop_efd < 0) {
                r = -errno;
                goto fail;
        }
        r = backend_open(ctx, target, err, errsize);
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
        char err[256] = "";
        int r;

        errtext_clear();
        r = dhp_internal_open(ret, target, err, sizeof(err));
        if (r < 0 && err[0])
                errtext_set(r, "%s: %s", strerrordesc_np(-r) ? strerrordesc_np(-r) : "Unknown error", err);
        return r;
}

DHP_EXPORT int dhp_reconnect(dhp *ctx) {
        int r = ctx_enter(ctx, true);

        return r < 0 ? r : ctx->ops->reconnect(ctx->backend);
}

/* dhp_close() in a child after fork(): the parent's threads are not here
 * to stop and the connection is the parent's too.  Close this process's
 * copies of the descriptors (never shutdown(): that would end the parent's
 * connection) and leave the memory: its locks may have been held by a
 * thread of the parent at fork(). */
static void close_forked(dhp *ctx) {
        if (ctx->ops && ctx->ops->abandon)
                ctx->ops->abandon(ctx->backend);
        if (ctx->efd >= 0)
                close(ctx->efd);
        if (ctx->stop_efd >= 0)
                close(ctx->stop_efd);
}

DHP_EXPORT void dhp_close(dhp *ctx) {
        if (!ctx)
                return;
        if (getpid() != ctx->pid) {
                close_forked(ctx);
                return;
        }
        dhp_stop_thread(ctx);
        if (ctx->ops)
                ctx->ops->stop(ctx->backend);
        /* Handles that refer to the engine go before any engine does. */
        list_for_each_safe(n, tmp, &ctx->memconds)
                dhp_memcond_close(list_entry(n, struct dhp_memcond, node));
        if (ctx->ops)
                ctx->ops->free(ctx->backend);
        if (ctx->efd >= 0)
                close(ctx->efd);
        if (ctx->stop_efd >= 0)
                close(ctx->stop_efd);
        pthread_mutex_destroy(&ctx->lock);
        free(ctx);
}

struct engine *dhp_internal_engine(dhp *ctx) {
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
        int r = ctx_enter(ctx, false);

        if (r < 0)
                return r;
        if (thread_running(ctx) && !pthread_equal(ctx->thread, pthread_self()))
                return -EBUSY;
        /* Reset before dispatching: an item queued meanwhile makes the fd
         * readable again, so nothing is left behind unannounced. */
        wakefd_drain(ctx->efd);
        memcond_tick(ctx->engine);
        r = ctx->ops->error(ctx->backend);
        if (r < 0) {
                /* Deliver what came before the loss, then report it. */
                (void)engine_dispatch(ctx->engine);
                wake(ctx); /* stays readable until dhp_reconnect() */
                return ctx->ops->error(ctx->backend);
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
                        wakefd_drain(ctx->efd);
                        engine_dispatch(ctx->engine);
                }
        }
        /* Deliver what was queued before the stop was asked. */
        wakefd_drain(ctx->efd);
        engine_dispatch(ctx->engine);
        return NULL;
}

DHP_EXPORT int dhp_start_thread(dhp *ctx) {
        int r = ctx_enter(ctx, false);

        if (r < 0)
                return r;
        pthread_mutex_lock(&ctx->lock);
        if (ctx->thread_running) {
                pthread_mutex_unlock(&ctx->lock);
                return -EALREADY;
        }
        wakefd_drain(ctx->stop_efd);
        r = -pthread_create(&ctx->thread, NULL, notification_thread, ctx);
        if (r == 0)
                ctx->thread_running = true;
        pthread_mutex_unlock(&ctx->lock);
        return r;
}

DHP_EXPORT int dhp_stop_thread(dhp *ctx) {
        uint64_t one = 1;
        pthread_t t;
        int r = ctx_enter(ctx, false);

        if (r < 0)
                return r;
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
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        if (!ret_count)
                return -EINVAL;
        return ctx->ops->proc_count(ctx->backend, ret_count);
}

DHP_EXPORT int dhp_proc_get_state(dhp *ctx, uint32_t index, dhp_proc_state *ret_state) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        if (!ret_state)
                return -EINVAL;
        return ctx->ops->proc_get_state(ctx->backend, index, ret_state);
}

DHP_EXPORT int dhp_proc_register(dhp *ctx, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                                 dhp_proc_reg **ret) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        return ctx->ops->proc_register(ctx->backend, name, flags, cb, userdata, ret);
}

/* A handle knows its engine; the engine knows the context behind it (none
 * for dhpd's own engine, whose handles are its own). */
DHP_EXPORT void dhp_proc_deregister(dhp_proc_reg *reg) {
        struct dhp *ctx;

        if (!reg)
                return;
        ctx = engine_embedder(procnotify_reg_engine(reg));
        if (ctx)
                ctx->ops->proc_deregister(ctx->backend, reg);
        else
                procnotify_deregister(reg);
}

DHP_EXPORT int dhp_arrival_register(dhp *ctx, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                                    void *userdata, dhp_arrival_reg **ret) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        return ctx->ops->arrival_register(ctx->backend, name, cls, flags, cb, userdata, ret);
}

DHP_EXPORT void dhp_arrival_unregister(dhp_arrival_reg *reg) {
        struct dhp *ctx;

        if (!reg)
                return;
        ctx = engine_embedder(arrival_reg_engine(reg));
        if (ctx)
                ctx->ops->arrival_unregister(ctx->backend, reg);
        else
                arrival_unregister(reg);
}

DHP_EXPORT int dhp_monitor_add(dhp *ctx, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        return ctx->ops->monitor_add(ctx->backend, cb, userdata, ret);
}

DHP_EXPORT void dhp_monitor_remove(dhp_monitor *m) {
        struct dhp *ctx;

        if (!m)
                return;
        ctx = engine_embedder(engine_monitor_engine(m));
        if (ctx)
                ctx->ops->monitor_remove(ctx->backend, m);
        else
                engine_monitor_remove(m);
}

DHP_EXPORT int dhp_sim_cpu_add(dhp *ctx, uint32_t *ret_index) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        return ctx->ops->sim_cpu_add(ctx->backend, ret_index);
}

DHP_EXPORT int dhp_sim_memory_add(dhp *ctx, uint64_t size, uint64_t *ret_base) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        return ctx->ops->sim_memory_add(ctx->backend, size, ret_base);
}

DHP_EXPORT int dhp_proc_remove(dhp *ctx, uint32_t index, int *ret_status) {
        int r, status = 0;

        if (!ctx)
                return -EINVAL;
        r = ctx->ops->proc_remove(ctx->backend, index, &status);
        if (r >= 0 && ret_status)
                *ret_status = status;
        return r;
}

DHP_EXPORT int dhp_memory_remove(dhp *ctx, const char *name, int *ret_status) {
        int r, status = 0;

        if (!ctx || !name || !*name)
                return -EINVAL;
        r = ctx->ops->memory_remove(ctx->backend, name, &status);
        if (r >= 0 && ret_status)
                *ret_status = status;
        return r;
}

DHP_EXPORT int dhp_sim_cpu_surprise_remove(dhp *ctx, uint32_t index) {
        if (!ctx)
                return -EINVAL;
        return ctx->ops->sim_cpu_surprise_remove(ctx->backend, index);
}

DHP_EXPORT int dhp_device_new(dhp *ctx, const char *name, const char *setup_class, dhp_device **ret) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        return rebalance_device_new(ctx->rebalance, name, setup_class, ret);
}

DHP_EXPORT int dhp_setup_class_set_optout(dhp *ctx, const char *setup_class, bool optout) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        return rebalance_class_set_optout(ctx->rebalance, setup_class, optout);
}

DHP_EXPORT int dhp_setup_class_get_optout(dhp *ctx, const char *setup_class, bool *ret_optout) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        return rebalance_class_get_optout(ctx->rebalance, setup_class, ret_optout);
}

/* A scenario's "settle": deliver the queue here, or wait for the
 * notification thread to. */
static int settle(void *userdata) {
        struct dhp *ctx = userdata;
        int r;

        if (!thread_running(ctx)) {
                r = dhp_process(ctx);
                return r < 0 ? r : 0;
        }
        return engine_wait_idle(ctx->engine, 10000);
}

DHP_EXPORT int dhp_sim_run_scenario(dhp *ctx, const char *filename, const char *text, char **ret_error) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        if (!text)
                return -EINVAL;
        return ctx->ops->sim_run(ctx->backend, filename, text, settle, ctx, ret_error);
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
                wakefd_drain(ev->efd);
}

DHP_EXPORT int dhp_memcond_open(dhp *ctx, const char *name, dhp_memcond **ret) {
        enum memcond_kind k;
        struct dhp_memcond *ev;
        int r = ctx_enter(ctx, true), kind;

        if (r < 0)
                return r;
        if (!name || !ret)
                return -EINVAL;
        r = memcond_lookup(name, &k);
        kind = r < 0 ? -1 : (int)k;
        /* The backend's word on the name; dhpd's event is current when
         * this returns. */
        r = ctx->ops->memcond_open(ctx->backend, name, r, kind);
        if (r < 0)
                return r;
        ev = calloc(1, sizeof(*ev));
        if (ev)
                ev->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!ev || ev->efd < 0) {
                r = ev ? -errno : -ENOMEM;
                free(ev);
                ctx->ops->memcond_close(ctx->backend, kind);
                return r;
        }
        ev->ctx = ctx;
        ev->kind = kind;
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
        ev->ctx->ops->memcond_close(ev->ctx->backend, ev->kind);
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
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        if (!key)
                return -EINVAL;
        /* One path for the API, the scenario and the daemon's file: the
         * same checks, the same messages (dhpd's, for a client). */
        snprintf(spec, sizeof(spec), "%s=%llu", key, (unsigned long long)value);
        return ctx->ops->memcond_configure(ctx->backend, spec, ret_error);
}

DHP_EXPORT int dhp_memcond_get_threshold(dhp *ctx, dhp_memcond_threshold which, uint64_t *ret_value) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        if (!ret_value || !threshold_key(which))
                return -EINVAL;
        return ctx->ops->memcond_get_threshold(ctx->backend, which, ret_value);
}

DHP_EXPORT int dhp_memcond_configure(dhp *ctx, const char *spec, char **ret_error) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        if (!spec)
                return -EINVAL;
        return ctx->ops->memcond_configure(ctx->backend, spec, ret_error);
}

DHP_EXPORT int dhp_memcond_next_timeout_ms(dhp *ctx) {
        if (!ctx)
                return -EINVAL;
        return memcond_next_timeout_ms(ctx->engine);
}

DHP_EXPORT int dhp_sim_memory_set_levels(dhp *ctx, uint64_t total, uint64_t available, uint64_t commit_charge,
                                         uint64_t commit_limit) {
        int r = ctx_enter(ctx, true);

        if (r < 0)
                return r;
        return ctx->ops->sim_memory_set_levels(ctx->backend, total, available, commit_charge, commit_limit);
}

dhp_device *dhp_internal_device(dhp *ctx, const char *name) {
        return rebalance_device_find(ctx->rebalance, name);
}

int dhp_internal_record_format(const struct ipc_record *rec, dhp_record_format_kind kind, char *buf, size_t size) {
        return record_wire_format(rec, kind, buf, size);
}
