/* SPDX-License-Identifier: MIT */
/*
 * The peer interface: what the engine offers to whoever stands on the
 * other side of a socket.  The engine does not know sockets; it knows that
 * some participants of its notifications live elsewhere and that some of
 * its state may be decided elsewhere.  Two uses, one on each end:
 *
 *   a participant   dhpd stands in for each client process with one
 *                   participant of the synchronous phases (peer_join): the
 *                   engine sends it each phase and waits for its answer.
 *   a mirror        the client library runs its callbacks on a local engine
 *                   whose decisions are dhpd's: dhpd drives the two phases
 *                   (peer_phases_*), and records, arrivals and memory
 *                   conditions made there are injected here (peer_inject_*);
 *                   devices are owned by the peer (struct peer_device_ops).
 *
 * Every function returns 0 or a negative errno unless it says otherwise.
 * They are defined beside the state they touch: peer.c (peer_join),
 * procnotify.c (the phases), record.c, arrival.c, memcond.c, rebalance.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/engine.h"
#include "core/memcond.h"

/* ---- a participant of the synchronous phases --------------------------- */

/*
 * An external participant stands for all of another process's
 * registrations.  Each phase is sent to every participant at once, the
 * local callbacks run meanwhile (in order), then every answer is awaited
 * against one deadline (engine_set_sync_deadline).  The first veto wins:
 * local callbacks' vetoes as they happen, then participants' answers in
 * registration order.  One that misses the deadline is recorded with
 * "missed_deadline" and, under the veto policy, fails the add with
 * -ETIMEDOUT; one that went away (-ECONNRESET) is treated as never having
 * received the phase.
 */
struct peer_phase_ops {
        /* Send `state` for processor `index` (`status`: the add's status so
         * far; for ADD_FAILURE the reason); `txn` names this phase.  Must not
         * block.  A negative errno: treated as gone for this phase. */
        int (*send)(void *userdata, uint64_t txn, dhp_proc_change_state state, uint32_t index, int status);
        /* Wait for the answer to `txn` until `deadline_ns` (CLOCK_MONOTONIC,
         * time_now_ns()).  0 with the answer (0 or a veto, a negative errno)
         * and the time it came; -ETIMEDOUT: late; -ECONNRESET: gone. */
        int (*wait)(void *userdata, uint64_t txn, uint64_t deadline_ns, int *ret_status, uint64_t *ret_answered_ns);
};
/* Add a participant after every registration made so far; it leaves with
 * procnotify_deregister(). */
int peer_join(struct engine *e, const char *name, const struct peer_phase_ops *ops, void *userdata,
              dhp_proc_reg **ret);

/* ---- the two phases driven by a peer (a mirror) ------------------------ */

/*
 * Run ADD_START on every registration now, in order, and ADD_COMPLETE or
 * ADD_FAILURE later on exactly those that received it.  *ret_status: the
 * add's status after ADD_START (0 or the first veto); *ret_calls: how many
 * callbacks ran.  peer_phases_end() frees the phases; any state other than
 * COMPLETE/FAILURE just drops them.
 */
struct peer_phases;
int peer_phases_start(struct engine *e, uint32_t index, struct peer_phases **ret, int *ret_status,
                      unsigned *ret_calls);
void peer_phases_end(struct peer_phases *p, dhp_proc_change_state state, int status);
/* The same for a removal: REMOVE_QUERY now to the registrations that opted
 * in (DHP_PROC_QUERY_REMOVE); peer_phases_end() with REMOVE_COMPLETE (status
 * 0, or -ENODEV for a surprise) or REMOVE_CANCEL later. */
int peer_phases_query(struct engine *e, uint32_t index, struct peer_phases **ret, int *ret_status,
                      unsigned *ret_calls);
/* A surprise removal: REMOVE_COMPLETE (status -ENODEV) alone to the
 * registrations that opted in. */
int peer_phase_surprise(struct engine *e, uint32_t index);
/* A participant takes part in removals from now on (its process has a
 * registration that opted in). */
void peer_set_query_remove(dhp_proc_reg *reg);

/* ---- state made by a peer, injected (a mirror) ------------------------- */

/* Hand a record made elsewhere to this engine's monitors as it is: its seq
 * and time are kept (record.c). */
void peer_inject_record(struct engine *e, const dhp_record *r);
/* Whether this engine's monitors see only injected records (default no; a
 * mirror says yes: its monitors read the peer's stream) (record.c). */
void peer_set_records_only(struct engine *e, bool only);
/* Queue one arrival or removal for one registration, decided elsewhere
 * (arrival.c). */
enum {
        PEER_EVENT_EXISTING = 1u << 0, /* == true: the flags were once a bool */
        PEER_EVENT_SURPRISE = 1u << 1,
};
int peer_inject_arrival(struct engine *e, dhp_arrival_reg *reg, dhp_class cls, dhp_event event, uint32_t flags,
                        uint32_t index, uint64_t base, uint64_t size, const char *name);
/* Run a memory removal's QUERY_REMOVE or REMOVE_CANCEL (`status`: its
 * reason) on registration `reg`, decided elsewhere, synchronously on the
 * calling thread.  Returns the callback's veto (QUERY_REMOVE) or 0; -EINVAL
 * (arrival.c). */
int peer_query_arrival(struct engine *e, dhp_arrival_reg *reg, dhp_event event, int status, uint64_t base,
                       uint64_t size, const char *name);
/* Make a memory condition event set or clear as told, waking the waiters
 * and telling the listeners as a transition would, without a record (the
 * stream is the peer's).  Setting an event already set does nothing
 * (memcond.c). */
void peer_inject_memcond(struct engine *e, enum memcond_kind k, bool set);

/* ---- devices owned by a peer (a mirror; rebalance.c) ------------------- */

/*
 * Every change to a device is made at the peer first, through these ops,
 * called without the module's lock; when they succeed it is made here too.
 * Such a module never rebalances by itself: the peer runs the sequence and
 * sends each driver its requests (rebalance_driver_begin/_run).
 */
struct peer_device_ops {
        /* The peer creates the device (name and class from the getters). */
        int (*device_new)(void *ud, dhp_device *dev);
        /* The peer frees it; no request for its drivers is run after this. */
        void (*device_free)(void *ud, dhp_device *dev);
        /* what: PEER_DEVICE_SET_* (value, or cpulist for the affinity). */
        int (*device_set)(void *ud, dhp_device *dev, uint32_t what, uint32_t value, const char *cpulist);
        /* 1 or 0, as the peer decides it now. */
        int (*device_participates)(void *ud, dhp_device *dev);
        int (*class_set_optout)(void *ud, const char *setup_class, bool optout);
        int (*class_get_optout)(void *ud, const char *setup_class, bool *ret);
        /* `level` from the bottom; UINT32_MAX: on top. */
        int (*driver_attach)(void *ud, dhp_driver *drv, uint32_t level, const char *name);
        /* No request for the driver is run after this. */
        void (*driver_detach)(void *ud, dhp_driver *drv);
};
/* The `what` of device_set; the values are the wire's IPC_DEVICE_SET_*. */
enum {
        PEER_DEVICE_SET_POLICY = 1,
        PEER_DEVICE_SET_AFFINITY_POLICY = 2,
        PEER_DEVICE_SET_AFFINITY = 3,
};
