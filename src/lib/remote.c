/* SPDX-License-Identifier: MIT */
/*
 * The backend of target "unix:PATH": dhpd's client.  The engine is local
 * and holds the registrations and the arrival queue (client.h); the
 * platform is dhpd's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/backend.h"
#include "lib/client.h"
#include "lib/dhp-private.h"
#include "lib/errtext.h"
#include "lib/mirror.h"
#include "core/peer.h"

struct remote_backend {
        struct engine *engine;
        struct rebalance *rebalance;
        struct remote *remote;
};

/* A client of dhpd has no platform of its own: the local engine only holds
 * registrations and the arrival queue. */
static int nop_cpu(void *platform, uint32_t index) {
        return 0;
}

static int nop_block(void *platform, uint64_t index) {
        return 0;
}

static const struct platform_ops nop_platform = { .cpu_start = nop_cpu, .cpu_stop = nop_cpu,
                                                  .mem_block_online = nop_block };

static void rb_stop(void *b) {
}

static void rb_free(void *b) {
        struct remote_backend *rb = b;

        if (!rb)
                return;
        remote_free(rb->remote);
        engine_free(rb->engine);
        /* After the engine: its hook and queued items refer to it. */
        rebalance_free(rb->rebalance);
        free(rb);
}

static void rb_abandon(void *b) {
        struct remote_backend *rb = b;

        remote_abandon(rb->remote);
}

static int rb_open(struct dhp_backend_open *o) {
        struct remote_backend *rb;
        int r;

        rb = calloc(1, sizeof(*rb));
        if (!rb)
                return -ENOMEM;
        r = engine_new(&rb->engine, &nop_platform, NULL);
        if (r < 0)
                goto fail;
        peer_set_records_only(rb->engine, true);
        r = remote_open(&rb->remote, rb->engine, o->options, o->wake, o->wake_userdata, o->err, o->errsize);
        if (r < 0)
                goto fail;
        /* Devices live in dhpd; this module mirrors them and runs the
         * requests dhpd sends to their drivers. */
        r = mirror_devices_new(rb->engine, remote_rebalance_ops(), rb->remote, &rb->rebalance);
        if (r < 0)
                goto fail;
        o->backend = rb;
        o->engine = rb->engine;
        o->rebalance = rb->rebalance;
        return 0;
fail:
        rb_free(rb);
        return r;
}

static int rb_reconnect(void *b) {
        struct remote_backend *rb = b;
        char err[256] = "";
        int r;

        r = remote_reconnect(rb->remote, err, sizeof(err));
        if (r < 0 && err[0])
                errtext_set(r, "%s: %s", strerrordesc_np(-r) ? strerrordesc_np(-r) : "Unknown error", err);
        return r;
}

static int rb_error(void *b) {
        struct remote_backend *rb = b;

        return remote_error(rb->remote);
}

static int rb_proc_count(void *b, uint32_t *ret) {
        struct remote_backend *rb = b;

        return remote_proc_count(rb->remote, ret);
}

static int rb_proc_get_state(void *b, uint32_t index, dhp_proc_state *ret) {
        struct remote_backend *rb = b;

        return remote_proc_get_state(rb->remote, index, ret);
}

static int rb_proc_register(void *b, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                            dhp_proc_reg **ret) {
        struct remote_backend *rb = b;

        return remote_proc_register(rb->remote, name, flags, cb, userdata, ret);
}

static void rb_proc_deregister(void *b, dhp_proc_reg *reg) {
        struct remote_backend *rb = b;

        remote_proc_deregister(rb->remote, reg);
}

static int rb_arrival_register(void *b, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                               void *userdata, dhp_arrival_reg **ret) {
        struct remote_backend *rb = b;

        return remote_arrival_register(rb->remote, name, cls, flags, cb, userdata, ret);
}

static void rb_arrival_unregister(void *b, dhp_arrival_reg *reg) {
        struct remote_backend *rb = b;

        remote_arrival_unregister(rb->remote, reg);
}

static int rb_monitor_add(void *b, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret) {
        struct remote_backend *rb = b;

        return remote_monitor_add(rb->remote, cb, userdata, ret);
}

static void rb_monitor_remove(void *b, dhp_monitor *m) {
        struct remote_backend *rb = b;

        remote_monitor_remove(rb->remote, m);
}

/* dhpd judges the name (even one this library lacks) and sends the state
 * before this returns: the local event is current when the handle is. */
static int rb_memcond_open(void *b, const char *name, int lookup, int kind) {
        struct remote_backend *rb = b;

        return remote_memcond_subscribe(rb->remote, name, kind);
}

static void rb_memcond_close(void *b, int kind) {
        struct remote_backend *rb = b;

        remote_memcond_unsubscribe(rb->remote, kind);
}

static int rb_memcond_configure(void *b, const char *spec, char **ret_error) {
        struct remote_backend *rb = b;

        return remote_memcond_configure(rb->remote, spec, ret_error);
}

static int rb_memcond_get_threshold(void *b, dhp_memcond_threshold which, uint64_t *ret) {
        struct remote_backend *rb = b;

        return remote_memcond_get_threshold(rb->remote, which, ret);
}

static int rb_sim_cpu_add(void *b, uint32_t *ret_index) {
        struct remote_backend *rb = b;

        return remote_sim_cpu_add(rb->remote, ret_index);
}

static int rb_sim_memory_add(void *b, uint64_t size, uint64_t *ret_base) {
        struct remote_backend *rb = b;

        return remote_sim_memory_add(rb->remote, size, ret_base);
}

static int rb_proc_remove(void *b, uint32_t index, int *ret_status) {
        struct remote_backend *rb = b;

        return remote_cpu_remove(rb->remote, index, ret_status);
}

static int rb_memory_remove(void *b, const char *name, int *ret_status) {
        struct remote_backend *rb = b;

        return remote_memory_remove(rb->remote, name, ret_status);
}

static int rb_sim_cpu_surprise_remove(void *b, uint32_t index) {
        struct remote_backend *rb = b;

        return remote_sim_cpu_surprise_remove(rb->remote, index);
}

/* A simulated dhpd's levels, through its scenario command "memory level"
 * (the request a sim dhpd already serves, with the same privilege as the
 * other sim requests); a dhpd on real hardware refuses it (-EOPNOTSUPP). */
static int rb_sim_memory_set_levels(void *b, uint64_t total, uint64_t available, uint64_t commit_charge,
                                    uint64_t commit_limit) {
        static const char *const keys[] = { "total", "available", "commit", "limit" };
        struct remote_backend *rb = b;
        uint64_t v[] = { total, available, commit_charge, commit_limit };
        char text[160] = "memory level", *err = NULL;
        size_t len = strlen(text);
        bool any = false;
        int r;

        for (size_t i = 0; i < 4; i++)
                if (v[i] != DHP_SIM_LEVEL_KEEP) {
                        len += (size_t)snprintf(text + len, sizeof(text) - len, " %s=%llu", keys[i],
                                                (unsigned long long)v[i]);
                        any = true;
                }
        if (!any)
                return 0;
        snprintf(text + len, sizeof(text) - len, "\n");
        r = remote_sim_run(rb->remote, "dhp_sim_memory_set_levels", text, &err);
        free(err);
        return r;
}

/* dhpd runs it and settles its own queue. */
static int rb_sim_run(void *b, const char *filename, const char *text, dhp_backend_settle_fn settle,
                      void *settle_userdata, char **ret_error) {
        struct remote_backend *rb = b;

        return remote_sim_run(rb->remote, filename, text, ret_error);
}

const struct dhp_backend_ops dhp_backend_remote = {
        .open = rb_open,
        .stop = rb_stop,
        .free = rb_free,
        .abandon = rb_abandon,
        .reconnect = rb_reconnect,
        .error = rb_error,
        .proc_count = rb_proc_count,
        .proc_get_state = rb_proc_get_state,
        .proc_register = rb_proc_register,
        .proc_deregister = rb_proc_deregister,
        .arrival_register = rb_arrival_register,
        .arrival_unregister = rb_arrival_unregister,
        .monitor_add = rb_monitor_add,
        .monitor_remove = rb_monitor_remove,
        .memcond_open = rb_memcond_open,
        .memcond_close = rb_memcond_close,
        .memcond_configure = rb_memcond_configure,
        .memcond_get_threshold = rb_memcond_get_threshold,
        .proc_remove = rb_proc_remove,
        .memory_remove = rb_memory_remove,
        .sim_cpu_surprise_remove = rb_sim_cpu_surprise_remove,
        .sim_cpu_add = rb_sim_cpu_add,
        .sim_memory_add = rb_sim_memory_add,
        .sim_memory_set_levels = rb_sim_memory_set_levels,
        .sim_run = rb_sim_run,
};

struct remote *dhp_internal_remote(dhp *ctx) {
        struct remote_backend *rb = dhp_backend_state(ctx, &dhp_backend_remote);

        return rb ? rb->remote : NULL;
}

int dhp_internal_status(dhp *ctx, struct remote_status *ret) {
        struct remote *r = dhp_internal_remote(ctx);

        return r ? remote_status(r, ret) : -EOPNOTSUPP;
}

int dhp_internal_cpu_online(dhp *ctx, uint32_t index, int *ret_status) {
        struct remote *r = dhp_internal_remote(ctx);

        return r ? remote_cpu_online(r, index, ret_status) : -EOPNOTSUPP;
}

int dhp_internal_history(dhp *ctx, uint32_t count, struct remote_history *ret) {
        struct remote *r = dhp_internal_remote(ctx);

        return r ? remote_history(r, count, ret) : -EOPNOTSUPP;
}

const char *dhp_internal_last_text(dhp *ctx) {
        struct remote *r = dhp_internal_remote(ctx);

        return r ? remote_last_text(r) : "";
}
