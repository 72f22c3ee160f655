/* SPDX-License-Identifier: MIT */
/*
 * The "cgroup" target: the partition is a cgroup v2 (issue 15, doc/model.md
 * "Containers").  In-process, no daemon, no privilege: a watcher
 * (platform/linux/cgwatch.h) on the cgroup and its ancestors, driven by a
 * thread of this backend that sleeps in poll() until the kernel notifies
 * (inotify, cgroup.events, the memory.pressure PSI trigger) or the re-read
 * timer fires.  Each change becomes, on the engine's queue and in this
 * order: a processor REMOVAL for each CPU that left the effective set, an
 * ARRIVAL for each that entered it, then one limits notification.
 *
 * The engine holds the partition as the model sees it: a CPU of the
 * effective set is ADMITTED, any other ABSENT; no transaction ever runs
 * (nobody asks the application before a cgroup widens, so synchronous
 * registration is -EOPNOTSUPP).  The memory conditions are the engine's,
 * fed with levels relative to the cgroup (mem_levels_read below).
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/memcond.h"
#include "core/peer.h"
#include "core/rebalance.h"
#include "lib/backend.h"
#include "lib/errtext.h"
#include "lib/limits.h"
#include "platform/linux/cgwatch.h"
#include "platform/linux/meminfo.h"
#include "platform/linux/sysfs.h"
#include "util/macro.h"
#include "util/parse.h"
#include "util/time.h"

static_assert((uint32_t)DHP_LIMITS_CPUS == CGPART_CHANGED_CPUS && (uint32_t)DHP_LIMITS_BANDWIDTH ==
              CGPART_CHANGED_BANDWIDTH && (uint32_t)DHP_LIMITS_POOL_SIZE == CGPART_CHANGED_POOL &&
              (uint32_t)DHP_LIMITS_MEMORY_MAX == CGPART_CHANGED_MEMORY_MAX && (uint32_t)DHP_LIMITS_MEMORY_HIGH ==
              CGPART_CHANGED_MEMORY_HIGH && (uint32_t)DHP_LIMITS_POPULATED == CGPART_CHANGED_POPULATED &&
              (uint32_t)DHP_LIMITS_REMOVED == CGPART_CHANGED_REMOVED,
              "dhp.h's limits bits are cgpart's");
static_assert(DHP_LIMITS_UNLIMITED == CGPART_UNLIMITED, "one 'no limit'");

/* The default PSI trigger on memory.pressure: 150 ms of stall in 1 s (the
 * watcher doubles both for an unprivileged process, cgwatch.c). */
#define PSI_STALL_US 150000u
#define PSI_WINDOW_US 1000000u

struct areg {
        dhp_arrival_reg *reg;
        dhp_class cls;
};

struct cgtarget {
        struct engine *engine;
        struct rebalance *rebalance;
        struct cgwatch *w;
        struct limits_hub hub;
        bool hub_ready;
        /* Orders the engine's CPU states and the arrival registrations
         * against each change: taken before the hub's lock. */
        pthread_mutex_t lock;
        struct areg *aregs;
        size_t naregs, caparegs;
        uint32_t slots;
        int error;              /* -ENODEV once the cgroup is gone; under lock */
        uint64_t mem_limit;     /* min(memory.max, memory.high); under lock */
        pthread_mutex_t apply_lock; /* one threshold computation at a time */
        char current_path[8192]; /* memory.current, root prefixed */
        char root[256];
        struct memcond_config user; /* what the application set; under lock */
        pthread_t thread;
        bool thread_started;
        int stop_efd;
        void (*wake)(void *userdata); /* the facade's "notifications pending" */
        void *wake_userdata;
        pid_t pid; /* the process that opened it (fork: dhp_open()) */
};

/* ---- options ------------------------------------------------------------ */

struct cg_options {
        char path[4096];
        bool has_path;
        char root[256];
        uint64_t reread_ms;
        uint32_t require;
        bool psi;
};

static int parse_require(const char *v, uint32_t *ret) {
        static const struct {
                const char *name;
                uint32_t files;
        } names[] = {
                { "cpuset", CGPART_FILE_CPUSET },
                { "cpu", CGPART_FILE_CPU_MAX },
                { "memory", CGPART_FILE_MEMORY_MAX | CGPART_FILE_MEMORY_HIGH | CGPART_FILE_MEMORY_CURRENT },
        };
        _cleanup_free_ char *dup = strdup(v);
        char *save = NULL;

        if (!dup)
                return -ENOMEM;
        for (char *it = strtok_r(dup, "+", &save); it; it = strtok_r(NULL, "+", &save)) {
                size_t i;
                for (i = 0; i < ELEMENTSOF(names) && strcmp(it, names[i].name) != 0; i++)
                        ;
                if (i == ELEMENTSOF(names))
                        return -EINVAL;
                *ret |= names[i].files;
        }
        return 0;
}

static int parse_option(struct cg_options *o, char *it) {
        char *v = strchr(it, '=');
        uint64_t ns;
        int b;

        if (!v) {
                /* The path: the first item without '='. */
                if (o->has_path || strlen(it) >= sizeof(o->path))
                        return -EINVAL;
                strcpy(o->path, it);
                o->has_path = true;
                return 0;
        }
        *v++ = 0;
        if (strcmp(it, "interval") == 0) {
                if (strcmp(v, "off") == 0) {
                        o->reread_ms = CGWATCH_REREAD_OFF;
                        return 0;
                }
                if (parse_duration_ns(v, &ns) < 0 || ns < 10 * NSEC_PER_MSEC || ns > 3600ULL * NSEC_PER_SEC)
                        return -EINVAL;
                o->reread_ms = ns / NSEC_PER_MSEC;
                return 0;
        }
        if (strcmp(it, "require") == 0)
                return parse_require(v, &o->require);
        if (strcmp(it, "psi") == 0) {
                if (parse_bool(v, &b) < 0)
                        return -EINVAL;
                o->psi = b;
                return 0;
        }
        if (strcmp(it, "root") == 0 && strlen(v) < sizeof(o->root)) {
                strcpy(o->root, v);
                return 0;
        }
        return -EINVAL;
}

/* "[PATH][,interval=DURATION|off][,require=cpu+cpuset+memory][,psi=no]
 * [,root=DIR]" (root: tests on a fake tree only). */
static int parse_options(struct cg_options *o, const char *options, char *err, size_t errsize) {
        _cleanup_free_ char *dup = NULL;
        char *save = NULL;

        *o = (struct cg_options){ .psi = true };
        if (!options || !*options)
                return 0;
        dup = strdup(options);
        if (!dup)
                return -ENOMEM;
        for (char *it = strtok_r(dup, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
                _cleanup_free_ char *copy = strdup(it);
                int r = copy ? parse_option(o, it) : -ENOMEM;
                if (r < 0) {
                        if (err && errsize)
                                snprintf(err, errsize,
                                         "cgroup target: bad option '%s' (expected a path, interval=DURATION "
                                         "(10ms..1h) or off, require=cpu+cpuset+memory, psi=yes|no)",
                                         copy ? copy : it);
                        return r == -ENOMEM ? r : -EINVAL;
                }
        }
        return 0;
}

/* ---- the platform the engine sees --------------------------------------- */

static int op_unsupported(void *p, uint32_t index) {
        return -EOPNOTSUPP;
}

static int op_no_mem(void *p, uint64_t index) {
        return -EOPNOTSUPP;
}

/* Memory levels relative to the cgroup: its limit is the total, the limit
 * minus memory.current what is available.  Without a limit, the
 * machine's.  No commit figures: the commit conditions are refused. */
static int op_mem_levels_read(void *p, struct mem_levels *ret) {
        struct cgtarget *t = p;
        struct meminfo mi;
        uint64_t limit, cur;
        int r;

        pthread_mutex_lock(&t->lock);
        limit = t->mem_limit;
        pthread_mutex_unlock(&t->lock);
        if (limit == CGPART_UNLIMITED) {
                r = meminfo_read(t->root, &mi);
                if (r < 0)
                        return r;
                *ret = (struct mem_levels){ .total = mi.total, .available = mi.available };
                return 0;
        }
        r = sysfs_read_u64("", t->current_path, &cur);
        if (r < 0)
                return r;
        *ret = (struct mem_levels){ .total = limit, .available = cur < limit ? limit - cur : 0 };
        return 0;
}

static const struct platform_ops cg_platform_ops = {
        .cpu_start = op_unsupported,
        .cpu_stop = op_unsupported,
        .mem_block_online = op_no_mem,
        .mem_levels_read = op_mem_levels_read,
};

static uint64_t memory_limit(const struct cgpart_limits *l) {
        return l->memory_high < l->memory_max ? l->memory_high : l->memory_max;
}

/* The thresholds in force: the application's where it set them, else the
 * defaults that follow the cgroup's limit (cgpart.h), else the machine's.
 * Called from the watcher's thread (a new limit) and the application's (a
 * new threshold): apply_lock keeps each computation and its configure
 * together, so the last one computed is the one in force. */
static int apply_thresholds(struct cgtarget *t, char **ret_error) {
        struct memcond_config cfg, user;
        uint64_t limit, low, high;
        int r;

        pthread_mutex_lock(&t->apply_lock);
        pthread_mutex_lock(&t->lock);
        limit = t->mem_limit;
        user = t->user;
        pthread_mutex_unlock(&t->lock);
        cfg = user;
        if (limit != CGPART_UNLIMITED) {
                cgpart_memory_default_thresholds(limit, &low, &high);
                if (!cfg.low)
                        cfg.low = low;
                if (!cfg.high && !user.low)
                        cfg.high = high;
        }
        /* A threshold the application set that no longer fits a new limit
         * is refused by validation: the previous ones stay. */
        r = memcond_configure(t->engine, &cfg, ret_error);
        pthread_mutex_unlock(&t->apply_lock);
        return r;
}

/* ---- changes ------------------------------------------------------------ */

/* One processor event for every processor arrival registration; lock held. */
static void tell_processor(struct cgtarget *t, uint32_t cpu, dhp_event ev) {
        char name[32];

        snprintf(name, sizeof(name), "cpu%u", cpu);
        for (size_t i = 0; i < t->naregs; i++)
                if (t->aregs[i].cls == DHP_CLASS_PROCESSOR)
                        (void)peer_inject_arrival(t->engine, t->aregs[i].reg, DHP_CLASS_PROCESSOR, ev, false, cpu,
                                                  0, 0, name);
}

/* The model's state for a new effective set; lock held.  Slots only grow. */
static void set_cpus_locked(struct cgtarget *t, const struct cpuset *added, const struct cpuset *removed,
                            bool tell) {
        for (int64_t c = cpuset_next(removed, 0); c >= 0; c = cpuset_next(removed, (uint32_t)c + 1)) {
                (void)engine_cpu_set_state(t->engine, (uint32_t)c, DHP_PROC_ABSENT);
                if (tell)
                        tell_processor(t, (uint32_t)c, DHP_EVENT_REMOVAL);
        }
        for (int64_t c = cpuset_next(added, 0); c >= 0; c = cpuset_next(added, (uint32_t)c + 1)) {
                if ((uint32_t)c >= t->slots && engine_cpu_slots(t->engine, (uint32_t)c + 1) >= 0)
                        t->slots = (uint32_t)c + 1;
                (void)engine_cpu_set_state(t->engine, (uint32_t)c, DHP_PROC_ADMITTED);
                if (tell)
                        tell_processor(t, (uint32_t)c, DHP_EVENT_ARRIVAL);
        }
}

/* The watcher's callback, on this backend's thread. */
static void on_change(void *userdata, const struct cgpart_limits *l, const struct cpuset *added,
                      const struct cpuset *removed) {
        struct cgtarget *t = userdata;
        bool memory = l->changed & (CGPART_CHANGED_MEMORY_MAX | CGPART_CHANGED_MEMORY_HIGH);

        /* The model's states and the processor events under one lock, so
         * that an INCLUDE_EXISTING registration sees each change once. */
        pthread_mutex_lock(&t->lock);
        set_cpus_locked(t, added, removed, true);
        if (memory)
                t->mem_limit = memory_limit(l);
        pthread_mutex_unlock(&t->lock);
        /* The thresholds follow the limit before anyone is told of it. */
        if (memory)
                (void)apply_thresholds(t, NULL);
        /* Queued after the processor events: one order (C3). */
        (void)limits_hub_publish(&t->hub, l, true);
        /* dhp_process() says -ENODEV only after all of it is queued (C9). */
        if (l->changed & CGPART_CHANGED_REMOVED) {
                pthread_mutex_lock(&t->lock);
                t->error = -ENODEV;
                pthread_mutex_unlock(&t->lock);
                /* A dhp_process() that ran between the queueing and now
                 * saw no error: make the fd readable for the next one. */
                t->wake(t->wake_userdata);
        }
}

static void *watch_thread(void *userdata) {
        struct cgtarget *t = userdata;
        struct pollfd p[2] = {
                { .fd = cgwatch_get_fd(t->w), .events = POLLIN },
                { .fd = t->stop_efd, .events = POLLIN },
        };

        for (;;) {
                int r = poll(p, 2, -1);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0 || p[1].revents)
                        break;
                r = cgwatch_process(t->w);
                if (r == -ENODEV)
                        break; /* told: REMOVAL of every CPU, limits REMOVED */
                /* memory.current does not notify: every wake-up (a limit,
                 * the PSI trigger, the re-read timer) evaluates it. */
                (void)memcond_evaluate(t->engine);
        }
        return NULL;
}

/* ---- the backend -------------------------------------------------------- */

static void cg_stop(void *b) {
        struct cgtarget *t = b;
        uint64_t one = 1;

        if (!t->thread_started)
                return;
        (void)!write(t->stop_efd, &one, sizeof(one));
        pthread_join(t->thread, NULL);
        t->thread_started = false;
}

static void cg_free(void *b) {
        struct cgtarget *t = b;

        if (!t)
                return;
        cg_stop(t);
        engine_free(t->engine);
        rebalance_free(t->rebalance);
        if (t->hub_ready)
                limits_hub_deinit(&t->hub);
        cgwatch_free(t->w);
        if (t->stop_efd >= 0)
                close(t->stop_efd);
        free(t->aregs);
        pthread_mutex_destroy(&t->apply_lock);
        pthread_mutex_destroy(&t->lock);
        free(t);
}

/* In a child after fork(): the watcher's thread is the parent's; close
 * this process's copies of the descriptors only. */
static void cg_abandon(void *b) {
        struct cgtarget *t = b;

        cgwatch_abandon(t->w);
        if (t->stop_efd >= 0)
                close(t->stop_efd);
        t->stop_efd = -1;
}

static int cg_open_fail(struct dhp_backend_open *o, struct cgtarget *t, int r, const char *msg) {
        if (msg && o->err && o->errsize)
                snprintf(o->err, o->errsize, "%s", msg);
        cg_free(t);
        return r;
}

static int cg_open_engine(struct cgtarget *t) {
        const struct cgpart_limits *l = cgwatch_limits(t->w);
        struct cpuset none = CPUSET_INIT;
        int r;

        r = engine_new(&t->engine, &cg_platform_ops, t);
        if (r < 0)
                return r;
        r = rebalance_new(t->engine, &t->rebalance);
        if (r < 0)
                return r;
        limits_hub_init(&t->hub, t->engine);
        t->hub_ready = true;
        r = limits_hub_publish(&t->hub, l, false);
        if (r < 0)
                return r;
        t->mem_limit = memory_limit(l);
        pthread_mutex_lock(&t->lock);
        set_cpus_locked(t, &l->cpus, &none, false);
        pthread_mutex_unlock(&t->lock);
        memcond_set_platform_interval(t->engine, 0); /* the watcher's timer re-evaluates */
        (void)apply_thresholds(t, NULL);
        return memcond_evaluate(t->engine) == -ENOMEM ? -ENOMEM : 0;
}

static int cg_open(struct dhp_backend_open *o) {
        struct cg_options opt;
        struct cgpart_err e = { "" };
        struct cgwatch_config wc;
        struct cgtarget *t;
        int r;

        r = parse_options(&opt, o->options, o->err, o->errsize);
        if (r < 0)
                return r;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->stop_efd = -1;
        t->wake = o->wake;
        t->wake_userdata = o->wake_userdata;
        t->pid = getpid();
        pthread_mutex_init(&t->lock, NULL);
        pthread_mutex_init(&t->apply_lock, NULL);
        strcpy(t->root, opt.root);
        wc = (struct cgwatch_config){ .reread_ms = opt.reread_ms, .psi_kind = opt.psi ? "some" : NULL,
                                      .psi_stall_us = PSI_STALL_US, .psi_window_us = PSI_WINDOW_US };
        r = cgwatch_new(&t->w, &(struct cgpart_config){ .root = opt.root, .path = opt.has_path ? opt.path : NULL,
                                                        .require = opt.require },
                        &wc, on_change, t, &e);
        if (r < 0)
                return cg_open_fail(o, t, r, e.msg);
        if (cgpart_file_path(cgwatch_cgroup(t->w), "memory.current", t->current_path, sizeof(t->current_path)) < 0)
                return cg_open_fail(o, t, -ENAMETOOLONG, "memory.current: path too long");
        r = cg_open_engine(t);
        if (r < 0)
                return cg_open_fail(o, t, r, "cgroup target: cannot set up the engine");
        t->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (t->stop_efd < 0)
                return cg_open_fail(o, t, -errno, "cgroup target: eventfd");
        r = -pthread_create(&t->thread, NULL, watch_thread, t);
        if (r < 0)
                return cg_open_fail(o, t, r, "cgroup target: cannot start its thread");
        t->thread_started = true;
        o->backend = t;
        o->engine = t->engine;
        o->rebalance = t->rebalance;
        return 0;
}

static int cg_reconnect(void *b) {
        return -EOPNOTSUPP;
}

static int cg_error(void *b) {
        struct cgtarget *t = b;
        int r;

        pthread_mutex_lock(&t->lock);
        r = t->error;
        pthread_mutex_unlock(&t->lock);
        return r;
}

static int cg_proc_count(void *b, uint32_t *ret) {
        struct cgtarget *t = b;

        *ret = engine_cpu_count(t->engine);
        return 0;
}

static int cg_proc_get_state(void *b, uint32_t index, dhp_proc_state *ret) {
        struct cgtarget *t = b;

        return engine_cpu_get_state(t->engine, index, ret);
}

/* Nobody asks the application before a cgroup widens or narrows. */
static int cg_proc_register(void *b, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                            dhp_proc_reg **ret) {
        return -EOPNOTSUPP;
}

static void cg_proc_deregister(void *b, dhp_proc_reg *reg) {
        procnotify_deregister(reg);
}

static int cg_arrival_register(void *b, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                               void *userdata, dhp_arrival_reg **ret) {
        struct cgtarget *t = b;
        dhp_arrival_reg *reg;
        int r = 0;

        /* Under the lock: INCLUDE_EXISTING's snapshot of the states and the
         * changes told after it are one sequence. */
        pthread_mutex_lock(&t->lock);
        if (t->naregs == t->caparegs) {
                size_t cap = t->caparegs ? 2 * t->caparegs : 4;
                struct areg *v = realloc(t->aregs, cap * sizeof(*v));
                if (v) {
                        t->aregs = v;
                        t->caparegs = cap;
                } else {
                        r = -ENOMEM;
                }
        }
        if (r == 0)
                r = arrival_register(t->engine, name, cls, flags, cb, userdata, &reg);
        if (r == 0) {
                t->aregs[t->naregs++] = (struct areg){ reg, cls };
                *ret = reg;
        }
        pthread_mutex_unlock(&t->lock);
        return r;
}

static void cg_arrival_unregister(void *b, dhp_arrival_reg *reg) {
        struct cgtarget *t = b;

        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->naregs; i++)
                if (t->aregs[i].reg == reg) {
                        t->aregs[i] = t->aregs[--t->naregs];
                        break;
                }
        pthread_mutex_unlock(&t->lock);
        arrival_unregister(reg);
}

static int cg_monitor_add(void *b, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret) {
        struct cgtarget *t = b;

        return engine_monitor_add(t->engine, cb, userdata, ret);
}

static void cg_monitor_remove(void *b, dhp_monitor *m) {
        engine_monitor_remove(m);
}

static bool is_commit(int kind) {
        return kind == MEMCOND_LOW_COMMIT || kind == MEMCOND_HIGH_COMMIT || kind == MEMCOND_MAXIMUM_COMMIT;
}

/* A cgroup has no commit charge or commit limit (overcommit accounting is
 * the machine's): the commit conditions do not exist there. */
static int cg_memcond_open(void *b, const char *name, int lookup, int kind) {
        return lookup < 0 ? lookup : is_commit(kind) ? -EOPNOTSUPP : 0;
}

static void cg_memcond_close(void *b, int kind) {
}

static int cg_memcond_configure(void *b, const char *spec, char **ret_error) {
        struct cgtarget *t = b;
        struct memcond_config c, old;
        int r;

        pthread_mutex_lock(&t->lock);
        c = old = t->user;
        r = memcond_config_parse(&c, spec, ret_error);
        if (r >= 0 && (c.low_commit != t->user.low_commit || c.high_commit != t->user.high_commit ||
                       c.max_commit != t->user.max_commit)) {
                if (ret_error)
                        *ret_error = strdup("the commit thresholds have no meaning on the cgroup target "
                                            "(a cgroup has no commit limit)");
                r = -EOPNOTSUPP;
        }
        if (r >= 0)
                t->user = c;
        pthread_mutex_unlock(&t->lock);
        if (r < 0)
                return r;
        r = apply_thresholds(t, ret_error);
        if (r < 0) {
                /* Refused (e.g. low above high): as if never asked. */
                pthread_mutex_lock(&t->lock);
                t->user = old;
                pthread_mutex_unlock(&t->lock);
                return r;
        }
        return memcond_evaluate(t->engine) == -ENOMEM ? -ENOMEM : 0;
}

static int cg_memcond_get_threshold(void *b, dhp_memcond_threshold which, uint64_t *ret) {
        struct cgtarget *t = b;
        struct memcond_thresholds th;

        memcond_get_thresholds(t->engine, &th);
        switch (which) {
        case DHP_MEMCOND_LOW_MEMORY:
                *ret = th.low;
                return 0;
        case DHP_MEMCOND_HIGH_MEMORY:
                *ret = th.high;
                return 0;
        default:
                return -EOPNOTSUPP;
        }
}

static int cg_no_cpu_add(void *b, uint32_t *ret_index) {
        return -EOPNOTSUPP;
}

static int cg_no_memory_add(void *b, uint64_t size, uint64_t *ret_base) {
        return -EOPNOTSUPP;
}

static int cg_no_set_levels(void *b, uint64_t total, uint64_t available, uint64_t commit_charge,
                            uint64_t commit_limit) {
        return -EOPNOTSUPP;
}

static int cg_no_run(void *b, const char *filename, const char *text, dhp_backend_settle_fn settle,
                     void *settle_userdata, char **ret_error) {
        return -EOPNOTSUPP;
}

const struct dhp_backend_ops dhp_backend_cgroup = {
        .open = cg_open,
        .stop = cg_stop,
        .free = cg_free,
        .abandon = cg_abandon,
        .reconnect = cg_reconnect,
        .error = cg_error,
        .proc_count = cg_proc_count,
        .proc_get_state = cg_proc_get_state,
        .proc_register = cg_proc_register,
        .proc_deregister = cg_proc_deregister,
        .arrival_register = cg_arrival_register,
        .arrival_unregister = cg_arrival_unregister,
        .monitor_add = cg_monitor_add,
        .monitor_remove = cg_monitor_remove,
        .memcond_open = cg_memcond_open,
        .memcond_close = cg_memcond_close,
        .memcond_configure = cg_memcond_configure,
        .memcond_get_threshold = cg_memcond_get_threshold,
        .sim_cpu_add = cg_no_cpu_add,
        .sim_memory_add = cg_no_memory_add,
        .sim_memory_set_levels = cg_no_set_levels,
        .sim_run = cg_no_run,
};

/* ---- the public limits API ---------------------------------------------- */

/* The facade's checks for these two calls (dhp.c, ctx_enter): the target
 * has limits, and this is the process that opened it. */
static int limits_enter(dhp *ctx, struct cgtarget **ret) {
        struct cgtarget *t;

        if (!ctx)
                return -EINVAL;
        t = dhp_backend_state(ctx, &dhp_backend_cgroup);
        if (!t) {
                errtext_set(-EOPNOTSUPP, "%s: only the \"cgroup\" target has limits",
                            strerrordesc_np(EOPNOTSUPP));
                return -EOPNOTSUPP;
        }
        if (getpid() != t->pid) {
                errtext_set(-ECHILD, "%s: this context was opened by process %d, before fork(); a child process "
                            "must open a context of its own", strerrordesc_np(ECHILD), (int)t->pid);
                return -ECHILD;
        }
        errtext_clear();
        *ret = t;
        return 0;
}

DHP_EXPORT int dhp_limits_register(dhp *ctx, const char *name, uint32_t flags, dhp_limits_cb cb, void *userdata,
                                   dhp_limits_reg **ret) {
        struct cgtarget *t;
        int r = limits_enter(ctx, &t);

        return r < 0 ? r : limits_hub_register(&t->hub, name, flags, cb, userdata, ret);
}

DHP_EXPORT int dhp_limits_get(dhp *ctx, dhp_limits **ret) {
        struct cgtarget *t;
        int r;

        if (!ret)
                return -EINVAL;
        r = limits_enter(ctx, &t);
        return r < 0 ? r : limits_hub_get(&t->hub, ret);
}
