/* SPDX-License-Identifier: MIT */
/*
 * What stands behind a context (dhp.c is the facade): a backend opens an
 * engine and a rebalance module and answers the requests that differ
 * between the in-process platforms (local.c: "sim", "linux") and dhpd's
 * client (remote.c: "unix:PATH").  Everything else the facade does on the
 * engine itself.  Every op gets the backend's state as `b`.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/engine.h"
#include "core/rebalance.h"
#include "dhp.h"

struct dhp_backend_open {
        const char *options; /* what follows "sim:", "linux:" or "unix:"; NULL: none */
        /* "Notifications pending": the facade's eventfd. */
        void (*wake)(void *userdata);
        void *wake_userdata;
        char *err; /* a sentence a person can act on, if not NULL */
        size_t errsize;
        /* Set on success; the backend owns them and frees them in free. */
        void *backend;
        struct engine *engine;
        struct rebalance *rebalance;
};

/* A scenario's "settle", as the facade delivers the queue. */
typedef int (*dhp_backend_settle_fn)(void *userdata);

struct dhp_backend_ops {
        /* 0 or a negative errno; on failure nothing is left to free. */
        int (*open)(struct dhp_backend_open *o);
        /* Stop the backend's threads: nothing runs on the engine after. */
        void (*stop)(void *b);
        /* Free the backend, its engine and its rebalance module. */
        void (*free)(void *b);
        /* In a child after fork(): close this process's copies of the
         * backend's descriptors without touching what the parent shares
         * (no shutdown, no thread to join).  NULL: nothing to do. */
        void (*abandon)(void *b);
        int (*reconnect)(void *b);
        /* 0, or the sticky error dhp_process() reports after the queue. */
        int (*error)(void *b);

        int (*proc_count)(void *b, uint32_t *ret);
        int (*proc_get_state)(void *b, uint32_t index, dhp_proc_state *ret);
        int (*proc_register)(void *b, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                             dhp_proc_reg **ret);
        void (*proc_deregister)(void *b, dhp_proc_reg *reg);
        int (*arrival_register)(void *b, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                                void *userdata, dhp_arrival_reg **ret);
        void (*arrival_unregister)(void *b, dhp_arrival_reg *reg);
        int (*monitor_add)(void *b, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret);
        void (*monitor_remove)(void *b, dhp_monitor *m);

        /* A handle on event `name`: `lookup` is memcond_lookup()'s result
         * for it, `kind` its enum memcond_kind or -1. */
        int (*memcond_open)(void *b, const char *name, int lookup, int kind);
        void (*memcond_close)(void *b, int kind);
        int (*memcond_configure)(void *b, const char *spec, char **ret_error);
        int (*memcond_get_threshold)(void *b, dhp_memcond_threshold which, uint64_t *ret);

        /* Removal carried out by the agent (dhp_proc_remove, ...): 0, 1 with
         * *ret_status, or a negative errno. */
        int (*proc_remove)(void *b, uint32_t index, int *ret_status);
        int (*memory_remove)(void *b, const char *name, int *ret_status);
        int (*sim_cpu_surprise_remove)(void *b, uint32_t index);

        int (*sim_cpu_add)(void *b, uint32_t *ret_index);
        int (*sim_memory_add)(void *b, uint64_t size, uint64_t *ret_base);
        int (*sim_memory_set_levels)(void *b, uint64_t total, uint64_t available, uint64_t commit_charge,
                                     uint64_t commit_limit);
        int (*sim_run)(void *b, const char *filename, const char *text, dhp_backend_settle_fn settle,
                       void *settle_userdata, char **ret_error);
};

extern const struct dhp_backend_ops dhp_backend_sim;
extern const struct dhp_backend_ops dhp_backend_linux;
extern const struct dhp_backend_ops dhp_backend_remote;
extern const struct dhp_backend_ops dhp_backend_cgroup; /* cgtarget.c */

/* The state of ctx's backend if it is `ops`, else NULL (private accessors). */
void *dhp_backend_state(dhp *ctx, const struct dhp_backend_ops *ops);
