/* SPDX-License-Identifier: MIT */
/*
 * The in-process backends: the engine runs in this process over the
 * simulated platform ("sim") or over this machine's sysfs ("linux", with
 * the platform's hotplug thread, the one dhpd runs).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/memcond.h"
#include "lib/affinity.h"
#include "lib/backend.h"
#include "lib/client.h"
#include "lib/dhp-private.h"
#include "platform/linux/hotplug.h"
#include "platform/linux/linux.h"
#include "platform/sim/sim.h"
#include "platform/sim/simrun.h"
#include "util/cpuset.h"
#include "util/macro.h"
#include "util/parse.h"

struct local {
        struct engine *engine;
        struct rebalance *rebalance;
        struct sim *sim;                  /* "sim" */
        struct linux_platform *lp;        /* "linux" */
        struct linux_hotplug *hp;         /* "linux": uevents and transactions */
        struct affinity aff; /* "linux": this process's threads, off what is not admitted */
        char *root;
        char cgroups[LINUX_MAX_CGROUPS][256];
};

static struct local *local_new(void) {
        struct local *l = calloc(1, sizeof(*l));

        if (l)
                affinity_init(&l->aff);
        return l;
}

static void local_stop(void *b) {
        struct local *l = b;

        linux_hotplug_stop(TAKE_PTR(l->hp));
}

static void local_free(void *b) {
        struct local *l = b;

        if (!l)
                return;
        local_stop(l);
        linux_platform_free(l->lp);
        sim_free(l->sim);
        /* After the engine: its hook and queued items refer to it. */
        rebalance_free(l->rebalance);
        free(l->root);
        /* After the hotplug thread: nothing admits meanwhile. */
        affinity_deinit(&l->aff);
        free(l);
}

static int local_open_done(struct dhp_backend_open *o, struct local *l, int r) {
        if (r < 0) {
                local_free(l);
                return r;
        }
        o->backend = l;
        o->engine = l->engine;
        o->rebalance = l->rebalance;
        return 0;
}

static int sim_open(struct dhp_backend_open *o) {
        struct sim_config cfg = SIM_CONFIG_DEFAULT;
        struct local *l;
        int r;

        r = sim_config_parse_err(&cfg, o->options, o->err, o->errsize);
        if (r < 0)
                return r;
        l = local_new();
        if (!l)
                return -ENOMEM;
        r = sim_new(&l->sim, &cfg);
        if (r >= 0) {
                l->engine = sim_engine(l->sim);
                /* Engine hooks are added before the platform runs a transaction. */
                r = rebalance_new(l->engine, &l->rebalance);
        }
        return local_open_done(o, l, r);
}

/* After the ADD_COMPLETE callbacks of an admitted processor (the engine's
 * hook, on the transaction's thread): this process's threads may now run
 * there, and whatever per-CPU state the callbacks set up is in place. */
static void linux_on_admitted(struct engine *e, enum engine_hook_kind kind, uint64_t arg, void *userdata) {
        struct local *l = userdata;

        if (kind == ENGINE_HOOK_CPU_ADMITTED)
                affinity_admit(&l->aff, (uint32_t)arg);
}

/* A removal: this process's threads leave the processor (the kernel would
 * move them at the offline anyway; a later add must find them off it). */
static void linux_on_unadmit(void *userdata, uint32_t cpu) {
        struct local *l = userdata;
        struct cpuset s = CPUSET_INIT, n = CPUSET_INIT;

        if (linux_platform_admitted(l->lp, &s) < 0)
                return;
        for (int64_t c = cpuset_next(&s, 0); c >= 0; c = cpuset_next(&s, (uint32_t)c + 1))
                if ((uint32_t)c != cpu && cpuset_set(&n, (uint32_t)c) < 0)
                        break;
        affinity_set_admitted(&l->aff, &n);
        cpuset_deinit(&s);
        cpuset_deinit(&n);
}

static int linux_option(struct local *l, struct linux_config *lc, const char *key, const char *v, int *fd) {
        uint32_t n;
        int b, r;

        if (strcmp(key, "root") == 0) {
                free(l->root);
                l->root = strdup(v);
                return l->root ? 0 : -ENOMEM;
        }
        if (strcmp(key, "uevent-fd") == 0) {
                r = parse_u32(v, &n);
                *fd = (int)n;
                return r;
        }
        if (strcmp(key, "online") == 0) {
                r = parse_bool(v, &b);
                lc->cpu_online = lc->mem_online = b;
                return r;
        }
        if (strcmp(key, "cgroup") == 0 && lc->ncgroups < LINUX_MAX_CGROUPS && strlen(v) < sizeof(l->cgroups[0])) {
                strcpy(l->cgroups[lc->ncgroups], v);
                lc->cgroups[lc->ncgroups] = l->cgroups[lc->ncgroups];
                lc->ncgroups++;
                return 0;
        }
        return -EINVAL;
}

/* "root=DIR,uevent-fd=N,cgroup=GROUP,online=yes|no" (root and uevent-fd
 * are for tests on a fake sysfs tree). */
static int linux_options(struct local *l, struct linux_config *lc, const char *options, int *fd) {
        _cleanup_free_ char *dup = NULL;
        char *save = NULL;
        int r = 0;

        if (!options || !*options)
                return 0;
        dup = strdup(options);
        if (!dup)
                return -ENOMEM;
        for (char *it = strtok_r(dup, ",", &save); it && r == 0; it = strtok_r(NULL, ",", &save)) {
                char *v = strchr(it, '=');
                if (!v)
                        return -EINVAL;
                *v++ = 0;
                r = linux_option(l, lc, it, v, fd);
        }
        return r;
}

static int linux_start(struct local *l) {
        struct cpuset admitted = CPUSET_INIT;
        int r;

        r = linux_platform_start(l->lp);
        if (r < 0)
                return r;
        /* What is admitted; threads are restricted only while a
         * synchronous registration exists (local_proc_register). */
        if (linux_platform_admitted(l->lp, &admitted) >= 0)
                affinity_set_admitted(&l->aff, &admitted);
        cpuset_deinit(&admitted);
        return linux_hotplug_start(&l->hp, &(struct linux_hotplug_config){ .lp = l->lp, .psi_fd = -1 });
}

static int linux_open(struct dhp_backend_open *o) {
        struct linux_config lc;
        struct local *l;
        int r, fd = -1;

        l = local_new();
        if (!l)
                return -ENOMEM;
        linux_config_defaults(&lc);
        /* A library onlines what it is given and leaves the kernel's global
         * onlining policy alone (dhpd sets it: [memory] onlining). */
        lc.mem_onlining = LINUX_ONLINING_DHPD;
        r = linux_options(l, &lc, o->options, &fd);
        if (r < 0)
                return local_open_done(o, l, r);
        lc.root = l->root ? l->root : "";
        lc.uevent_fd = fd;
        /* Admission widens masks from the engine's hook, after the
         * ADD_COMPLETE callbacks (linux_on_admitted); a removal here. */
        lc.on_unadmit = linux_on_unadmit;
        lc.on_admit_userdata = l;
        r = linux_platform_new(&l->lp, &lc, NULL);
        if (r < 0)
                return local_open_done(o, l, r);
        l->engine = linux_platform_engine(l->lp);
        /* Engine hooks are added before the platform runs a transaction. */
        r = engine_hook_add(l->engine, linux_on_admitted, l);
        if (r >= 0)
                r = rebalance_new(l->engine, &l->rebalance);
        if (r >= 0)
                r = linux_start(l);
        return local_open_done(o, l, r);
}

static int local_reconnect(void *b) {
        return -EOPNOTSUPP;
}

static int local_error(void *b) {
        return 0;
}

static int local_proc_count(void *b, uint32_t *ret) {
        struct local *l = b;

        *ret = engine_cpu_count(l->engine);
        return 0;
}

static int local_proc_get_state(void *b, uint32_t index, dhp_proc_state *ret) {
        struct local *l = b;

        return engine_cpu_get_state(l->engine, index, ret);
}

/* On "linux", while a synchronous registration exists, this process's
 * threads stay off processors not yet admitted (lib/affinity.h); held
 * before the registration exists, so that no add finds a thread
 * unrestricted. */
static int local_proc_register(void *b, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                               dhp_proc_reg **ret) {
        struct local *l = b;
        int r;

        if (l->lp)
                affinity_hold(&l->aff);
        r = procnotify_register(l->engine, name, flags, cb, userdata, ret);
        if (r < 0 && l->lp)
                affinity_release(&l->aff);
        return r;
}

static void local_proc_deregister(void *b, dhp_proc_reg *reg) {
        struct local *l = b;

        procnotify_deregister(reg);
        if (l->lp)
                affinity_release(&l->aff);
}

static int local_arrival_register(void *b, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                                  void *userdata, dhp_arrival_reg **ret) {
        struct local *l = b;

        return arrival_register(l->engine, name, cls, flags, cb, userdata, ret);
}

static void local_arrival_unregister(void *b, dhp_arrival_reg *reg) {
        arrival_unregister(reg);
}

static int local_monitor_add(void *b, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret) {
        struct local *l = b;

        return engine_monitor_add(l->engine, cb, userdata, ret);
}

static void local_monitor_remove(void *b, dhp_monitor *m) {
        engine_monitor_remove(m);
}

static int local_memcond_open(void *b, const char *name, int lookup, int kind) {
        return lookup;
}

static void local_memcond_close(void *b, int kind) {
}

static int local_memcond_configure(void *b, const char *spec, char **ret_error) {
        struct local *l = b;

        return memcond_configure_spec(l->engine, spec, ret_error);
}

static int local_memcond_get_threshold(void *b, dhp_memcond_threshold which, uint64_t *ret) {
        struct local *l = b;
        struct memcond_thresholds t;

        memcond_get_thresholds(l->engine, &t);
        switch (which) {
        case DHP_MEMCOND_LOW_MEMORY:
                *ret = t.low;
                break;
        case DHP_MEMCOND_HIGH_MEMORY:
                *ret = t.high;
                break;
        case DHP_MEMCOND_LOW_COMMIT:
                *ret = t.low_commit;
                break;
        case DHP_MEMCOND_HIGH_COMMIT:
                *ret = t.high_commit;
                break;
        case DHP_MEMCOND_MAXIMUM_COMMIT:
                *ret = t.max_commit;
                break;
        }
        return 0;
}

static int sim_cpu_add_op(void *b, uint32_t *ret_index) {
        struct local *l = b;

        return sim_cpu_add(l->sim, ret_index);
}

static int sim_memory_add_op(void *b, uint64_t size, uint64_t *ret_base) {
        struct local *l = b;

        return sim_memory_add(l->sim, size, ret_base);
}

static int sim_memory_set_levels_op(void *b, uint64_t total, uint64_t available, uint64_t commit_charge,
                                    uint64_t commit_limit) {
        struct local *l = b;

        return sim_mem_levels_set(l->sim, total, available, commit_charge, commit_limit, true);
}

static int sim_run_op(void *b, const char *filename, const char *text, dhp_backend_settle_fn settle,
                      void *settle_userdata, char **ret_error) {
        struct local *l = b;
        struct simrun run = { .sim = l->sim, .rebalance = l->rebalance, .settle = settle,
                              .userdata = settle_userdata };

        return simrun_scenario(&run, filename, text, ret_error);
}

static int sim_proc_remove_op(void *b, uint32_t index, int *ret_status) {
        struct local *l = b;

        return sim_cpu_remove(l->sim, index, ret_status);
}

static int sim_memory_remove_op(void *b, const char *name, int *ret_status) {
        struct local *l = b;

        return sim_memory_remove(l->sim, name, ret_status);
}

static int sim_cpu_surprise_remove_op(void *b, uint32_t index) {
        struct local *l = b;

        return sim_cpu_surprise_remove(l->sim, index);
}

/* On this machine the engine's removal is the platform's (linux.c ops). */
static int linux_proc_remove_op(void *b, uint32_t index, int *ret_status) {
        struct local *l = b;

        return engine_cpu_remove(l->engine, index, 0, ret_status);
}

static int linux_memory_remove_op(void *b, const char *name, int *ret_status) {
        struct local *l = b;
        uint64_t id;
        int r = engine_mem_device_find(l->engine, name, &id);

        return r < 0 ? r : engine_mem_remove(l->engine, id, ret_status);
}

static int no_surprise_remove(void *b, uint32_t index) {
        return -EOPNOTSUPP;
}

/* The simulation requests on a real machine. */
static int no_cpu_add(void *b, uint32_t *ret_index) {
        return -EOPNOTSUPP;
}

static int no_memory_add(void *b, uint64_t size, uint64_t *ret_base) {
        return -EOPNOTSUPP;
}

static int no_set_levels(void *b, uint64_t total, uint64_t available, uint64_t commit_charge, uint64_t commit_limit) {
        return -EOPNOTSUPP;
}

static int no_run(void *b, const char *filename, const char *text, dhp_backend_settle_fn settle,
                  void *settle_userdata, char **ret_error) {
        return -EOPNOTSUPP;
}

#define LOCAL_OPS                                                                                              \
        .stop = local_stop, .free = local_free, .reconnect = local_reconnect, .error = local_error,            \
        .proc_count = local_proc_count, .proc_get_state = local_proc_get_state,                                \
        .proc_register = local_proc_register, .proc_deregister = local_proc_deregister,                        \
        .arrival_register = local_arrival_register, .arrival_unregister = local_arrival_unregister,            \
        .monitor_add = local_monitor_add, .monitor_remove = local_monitor_remove,                              \
        .memcond_open = local_memcond_open, .memcond_close = local_memcond_close,                              \
        .memcond_configure = local_memcond_configure, .memcond_get_threshold = local_memcond_get_threshold

const struct dhp_backend_ops dhp_backend_sim = {
        LOCAL_OPS,
        .open = sim_open,
        .proc_remove = sim_proc_remove_op,
        .memory_remove = sim_memory_remove_op,
        .sim_cpu_surprise_remove = sim_cpu_surprise_remove_op,
        .sim_cpu_add = sim_cpu_add_op,
        .sim_memory_add = sim_memory_add_op,
        .sim_memory_set_levels = sim_memory_set_levels_op,
        .sim_run = sim_run_op,
};

const struct dhp_backend_ops dhp_backend_linux = {
        LOCAL_OPS,
        .open = linux_open,
        .proc_remove = linux_proc_remove_op,
        .memory_remove = linux_memory_remove_op,
        .sim_cpu_surprise_remove = no_surprise_remove,
        .sim_cpu_add = no_cpu_add,
        .sim_memory_add = no_memory_add,
        .sim_memory_set_levels = no_set_levels,
        .sim_run = no_run,
};

struct sim *dhp_internal_sim(dhp *ctx) {
        struct local *l = dhp_backend_state(ctx, &dhp_backend_sim);

        return l ? l->sim : NULL;
}

struct linux_platform *dhp_internal_linux(dhp *ctx) {
        struct local *l = dhp_backend_state(ctx, &dhp_backend_linux);

        return l ? l->lp : NULL;
}

int dhp_internal_affinity_seam(dhp *ctx, const struct affinity_sys *sys, bool on_simulated) {
        struct local *l = dhp_backend_state(ctx, &dhp_backend_linux);
        struct remote *r = dhp_internal_remote(ctx);

        if (l) {
                affinity_set_sys(&l->aff, sys);
                return 0;
        }
        return r ? remote_affinity_seam(r, sys, on_simulated) : -EOPNOTSUPP;
}
