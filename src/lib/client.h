/* SPDX-License-Identifier: MIT */
/*
 * The client side of dhpd's socket (target "unix:PATH"): the public API of
 * dhp.h over IPC.  The context's engine stays local and holds the
 * registrations (their order, their deregistration rules, the arrival
 * queue); a connection thread reads the socket and
 *   - runs each synchronous phase over the local registrations
 *     (peer_phases_*) and answers dhpd,
 *   - queues arrivals on the local engine (delivered by dhp_process() or the
 *     notification thread),
 *   - hands dhpd's records to the local monitors.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/engine.h"
#include "dhp.h"
#include "lib/dhp-private.h"
#include "proto/ipcmsg.h"

struct remote;

#define REMOTE_DEFAULT_SOCKET DHP_DEFAULT_SOCKET

/* Connect and handshake.  On failure *err (if given) gets a sentence a
 * person can act on.  wake(ud) is called when the connection is lost. */
int remote_open(struct remote **ret, struct engine *local, const char *path, void (*wake)(void *), void *ud,
                char *err, size_t errsize);
void remote_free(struct remote *r);
/* In a child after fork(): close this process's copies of the socket and
 * the stop descriptor; the memory stays (see dhp_close()). */
void remote_abandon(struct remote *r);
/* 0 while connected; -ECONNRESET after the daemon went away. */
int remote_error(struct remote *r);
/* -EISCONN while the connection is live (nothing is done); -ECHILD in a
 * child after fork(). */
int remote_reconnect(struct remote *r, char *err, size_t errsize);

int remote_proc_register(struct remote *r, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                         dhp_proc_reg **ret);
void remote_proc_deregister(struct remote *r, dhp_proc_reg *reg);
int remote_arrival_register(struct remote *r, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                            void *userdata, dhp_arrival_reg **ret);
void remote_arrival_unregister(struct remote *r, dhp_arrival_reg *reg);
int remote_monitor_add(struct remote *r, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret);
void remote_monitor_remove(struct remote *r, dhp_monitor *m);

int remote_proc_count(struct remote *r, uint32_t *ret);
int remote_proc_get_state(struct remote *r, uint32_t index, dhp_proc_state *ret);
/* CPU_ONLINE (1.3; -EOPNOTSUPP from an older dhpd): as dhp_proc_online(). */
int remote_cpu_online(struct remote *r, uint32_t index, int *ret_status);
int remote_sim_cpu_add(struct remote *r, uint32_t *ret_index);
int remote_sim_memory_add(struct remote *r, uint64_t size, uint64_t *ret_base);
/* CPU_REMOVE, MEMORY_REMOVE, SIM_CPU_SURPRISE: 0, 1 with *ret_status (the
 * veto or the failure), or a negative errno. */
int remote_cpu_remove(struct remote *r, uint32_t index, int *ret_status);
int remote_memory_remove(struct remote *r, const char *name, int *ret_status);
int remote_sim_cpu_surprise_remove(struct remote *r, uint32_t index);
int remote_sim_run(struct remote *r, const char *filename, const char *text, char **ret_error);
/* A round trip that does nothing (benchmarks, liveness). */
int remote_ping(struct remote *r);

/* What `dhpctl status` shows, and dhpd's last records (the structures
 * and their deinit: dhp-private.h). */
int remote_status(struct remote *r, struct remote_status *ret);
int remote_history(struct remote *r, uint32_t count, struct remote_history *ret);
/* The daemon's explanation of the last refused request ("" if none). */
const char *remote_last_text(struct remote *r);

/* Memory condition events: one subscription per event (`kind`, an enum
 * memcond_kind, or -1 for a name this library lacks: dhpd still judges
 * it), counted per handle.  dhpd's state drives the local engine's event
 * (peer_inject_memcond): it is set before the subscription returns. */
int remote_memcond_subscribe(struct remote *r, const char *name, int kind);
void remote_memcond_unsubscribe(struct remote *r, int kind);
/* Privileged; dhpd validates; its message in *ret_error. */
int remote_memcond_configure(struct remote *r, const char *spec, char **ret_error);
int remote_memcond_get_threshold(struct remote *r, uint32_t which, uint64_t *ret);

/* dhp_internal_affinity_seam() for a client. */
struct affinity_sys;
int remote_affinity_seam(struct remote *r, const struct affinity_sys *sys, bool on_simulated);

/* User-space devices: the ops of a mirror rebalance module (ud: the
 * remote).  Driver requests run on the local engine's queue. */
struct peer_device_ops;
const struct peer_device_ops *remote_rebalance_ops(void);
