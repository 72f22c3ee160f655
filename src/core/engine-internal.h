/* SPDX-License-Identifier: MIT */
/*
 * The engine's shared state, for the modules of src/core only.
 *
 * Locks, outermost first:
 *   txn_lock       serialises transactions (a hot-add, an ADD_EXISTING
 *                  registration); held while synchronous callbacks run.
 *   dispatch_lock  one dispatcher of the asynchronous queue at a time;
 *                  held while arrival callbacks run.
 *   lock           the model, the registration lists, the queue; never
 *                  held while a user callback runs.
 *   rec_lock       the record stream: seq order and one monitor call at a
 *                  time; held while monitor callbacks run (they must not
 *                  call back in).
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/record.h"
#include "core/engine.h"
#include "util/list.h"
#include "util/log.h"

#define ENGINE_NAME_MAX 64

struct peer_phase_ops; /* core/peer.h */

struct cpu {
        dhp_proc_state state;
        /* Admitted, but its ADD_COMPLETE phase has not ended yet: not
         * existing for arrival notification (R12), which reports it only
         * once its ARRIVAL is queued. */
        bool completing;
};

struct mem_block {
        uint64_t device; /* device id + 1; 0: no device */
        bool online;
        uint8_t zone; /* dhp_memory_zone, as the platform reported it */
};

struct mem_device {
        uint64_t id;
        uint64_t first_block;
        uint64_t nblocks;        /* its range; a virtio-mem device's region */
        uint64_t present_blocks; /* blocks that belong to it now (plugged) */
        uint64_t online_blocks;
        bool arrived; /* every block online and arrival queued */
        bool removed;
        bool virtio;  /* resized step by step (engine_mem_vdev_*) */
        int node;
        char name[ENGINE_NAME_MAX];
        /* The step in progress: blocks onlined (virtio-mem) or removed
         * since the last ARRIVAL or REMOVAL, and the lowest of them. */
        uint64_t in_blocks, in_first;
        uint64_t out_blocks, out_first;
};

/* The lists a registration is on, each with its own snapshot. */
enum reg_kind {
        REG_PROC,
        REG_ARRIVAL_CPU,
        REG_ARRIVAL_MEM,
        REG_KINDS,
};

/* A registration of either method.  Refcounted: the list holds one
 * reference, every snapshot (struct reg_snap) and queued item naming it one
 * more. */
struct reg {
        struct list node;
        struct engine *engine;
        uint64_t id; /* registration order, from 1 */
        unsigned refs;
        enum reg_kind kind;
        /* Written under lock by reg_kill(); read without it by the calls of
         * one registration (ADD_EXISTING, a targeted arrival), which the
         * runner handshake orders (struct runner). */
        atomic_bool dead;
        char name[ENGINE_NAME_MAX];
        uint32_t flags;
        void *userdata;
};

/*
 * What a call needs of one registration, contiguous in a snapshot so that a
 * phase walks one array and touches no registration: no store, no atomic
 * read-modify-write per call.  dead is set under lock by reg_kill() in
 * every snapshot still alive; the runner reads it without the lock.
 */
struct reg_slot {
        union {
                dhp_proc_cb proc;
                dhp_arrival_cb arrival;
        } cb;
        void *userdata;
        struct reg *reg;
        uint64_t id;
        atomic_bool dead;
        bool peer; /* an external participant (peer.h): no cb */
};

/* The registrations of one kind in list order, shared by every phase run
 * until the list changes, then rebuilt when a phase next asks.  refs and
 * the list node under lock. */
struct reg_snap {
        struct list node; /* e->snaps: every snapshot alive */
        unsigned refs;
        enum reg_kind kind;
        bool peers; /* some slot is an external participant */
        size_t n;
        struct reg_slot v[];
};

/*
 * Who runs callbacks without the lock: the transaction's phases (sync) and
 * the dispatcher (async), one of each at a time.  reg_kill() on another
 * thread waits for what may still call its registration: for a phase, the
 * end of that phase (the runner does nothing per call); for the dispatcher,
 * the end of the item in progress.  There, step is bumped per item and
 * waiters is its Dekker partner, both sequentially consistent: either the
 * dispatcher's next item sees dead, or it sees a waiter and wakes it.
 */
struct runner {
        bool active; /* under lock, like everything but step and waiters */
        pthread_t thread;
        uint64_t gen; /* runs ended */
        struct reg_snap *snap;       /* sync: the phase's snapshot, or */
        struct reg *single;          /* the one registration it calls */
        struct reg_snap *arrival[2]; /* async: per class, for the run */
        atomic_uint_fast64_t step;   /* async: items run */
        atomic_uint waiters;
};

struct dhp_proc_reg {
        struct reg base;
        dhp_proc_cb cb;                    /* a local callback, or */
        const struct peer_phase_ops *peer; /* an external participant (peer.h) */
};

struct dhp_arrival_reg {
        struct reg base;
        dhp_class cls;
        dhp_arrival_cb cb;
        bool observer; /* kept after every other registration in the list */
};

/* The shared state of one processor add, seen by every callback through
 * dhp_proc_change. */
struct dhp_proc_change {
        dhp_proc_change_state state;
        bool surprise; /* REMOVE_COMPLETE of a removal the platform did */
        uint32_t index;
        dhp_proc_number number;
        int *status; /* shared by every callback of the add */
        dhp_proc_reg *reg; /* the registration called */
};

struct dhp_device_event {
        dhp_class cls;
        dhp_event event;
        bool existing;
        bool surprise;
        int *status; /* QUERY_REMOVE: shared by the queried callbacks */
        uint32_t index; /* processor */
        uint64_t base, size; /* memory */
        char name[ENGINE_NAME_MAX];
        dhp_arrival_reg *reg; /* the registration called; set per delivery */
};

/* enum record_field and struct dhp_record: proto/record.h. */

struct dhp_monitor {
        struct list node;
        struct engine *engine;
        dhp_monitor_cb cb;
        void *userdata;
};

struct engine_hook {
        struct list node;
        engine_hook_fn fn;
        void *userdata;
};

struct engine {
        const struct platform_ops *ops;
        void *platform;
        struct logger logger;
        uint64_t t0;
        char default_name[ENGINE_NAME_MAX];

        pthread_mutex_t lock;
        pthread_cond_t cond; /* a call finished, the queue drained */

        pthread_mutex_t txn_lock;
        pthread_t txn_owner;
        bool txn_owned;

        pthread_mutex_t dispatch_lock;
        pthread_t dispatch_owner;
        bool dispatching;

        pthread_mutex_t rec_lock;
        uint64_t rec_seq;
        bool rec_peer_only; /* monitors see injected records only (peer.h) */
        void *embedder;
        struct list monitors;
        /* How many monitors are attached, read without rec_lock: with none,
         * no record is built, timed or numbered.  A monitor attached while
         * a callback runs sees the records from the next one on. */
        atomic_uint n_monitors;

        /* model */
        struct cpu *cpus;
        uint32_t ncpus;
        uint64_t block_size;
        struct mem_block *blocks;
        uint64_t nblocks;
        struct mem_device *devices;
        uint64_t ndevices, devices_cap;
        uint64_t mem_end_block; /* past the last block of every device */

        /* registrations */
        uint64_t reg_seq;
        uint64_t sync_txn;         /* numbers each phase sent to external participants */
        uint64_t sync_deadline_ns; /* per phase, for external participants */
        bool sync_late_veto;
        struct list proc_regs;
        struct list arrival_regs;
        struct reg_snap *snap[REG_KINDS]; /* cached, NULL until asked for */
        struct list snaps;                /* every snapshot alive */
        struct runner sync_run, async_run;

        /* asynchronous queue */
        struct engine_item *q_head, **q_tail;
        /* Arrival items for reuse (their free is NULL): the only kind the
         * engine pools, all of one size. */
        struct engine_item *pool;
        unsigned npool;
        engine_wake_fn wake;
        void *wake_userdata;

        struct list hooks;

        const struct engine_modules *mod;
        struct memcond *memcond; /* memcond.c */
};

/*
 * What the engine asks of its modules.  The modules depend on the engine
 * (engine.h, this header); the engine names none of them and reaches them
 * through this table only, filled in once by modules.c.
 */
struct engine_modules {
        /* Both synchronous phases of a processor add, admission between
         * (procnotify.c). */
        int (*sync_run)(struct engine *e, uint32_t index, bool late, int *ret_status, bool *ret_admitted);
        /* Queue a device's arrival (arrival.c). */
        int (*arrival_cpu)(struct engine *e, uint32_t index, dhp_event ev);
        int (*arrival_mem)(struct engine *e, const struct mem_device *d, dhp_event ev);
        /* Queue one event made by the engine (a resize or removal step). */
        int (*arrival_event)(struct engine *e, const struct dhp_device_event *ev);
        /* Number a record and hand it to the monitors (record.c). */
        void (*record)(struct engine *e, struct dhp_record *r);
        /* The modules' state of one engine (memcond.c): made at engine_new,
         * freed at engine_free. */
        int (*attach)(struct engine *e);
        void (*detach)(struct engine *e);
};
extern const struct engine_modules engine_modules;

/* reg.c */
/* Thread-safe reference handling of registrations; call with e->lock held. */
static inline void reg_ref_locked(struct reg *r) {
        r->refs++;
}
void reg_unref_locked(struct reg *r);

/* Remove a registration and wait for what may still call it on another
 * thread (struct runner); lock not held on entry. */
void reg_kill(struct reg *r);
/* The registrations of a kind, with a reference; lock held. */
struct reg_snap *reg_snap_get_locked(struct engine *e, enum reg_kind k);
void reg_snap_unref_locked(struct engine *e, struct reg_snap *s);
/* A list changed: the next phase takes a new snapshot; lock held. */
void reg_list_changed_locked(struct engine *e, enum reg_kind k);
/* engine_free(): every snapshot, whoever holds it; lock held. */
void reg_snaps_free_locked(struct engine *e);
/* Sync runner: a phase over s, or calls of one registration, begins/ends on
 * this thread; lock held. */
void engine_run_begin_locked(struct engine *e, struct reg_snap *s, struct reg *single);
void engine_run_end_locked(struct engine *e);
/* Async runner: run one batch taken off the queue, lock not held.
 * Returns the items run; *ret_pool: the pooled ones, *ret_npool their
 * count. */
int engine_run_batch(struct engine *e, struct engine_item *it, struct engine_item **ret_pool, unsigned *ret_npool);

void reg_init(struct engine *e, struct reg *r, const char *name, uint32_t flags, void *userdata);

/* procnotify.c */
/* The phases a callback may veto: ADD_START and REMOVE_QUERY. */
static inline bool procnotify_state_vetoable(dhp_proc_change_state s) {
        return s == DHP_PROC_ADD_START || s == DHP_PROC_REMOVE_QUERY;
}
int procnotify_run(struct engine *e, uint32_t index, bool late, int *ret_status, bool *ret_admitted);
/* The registrations in order, each with a reference (peer.c drives the
 * phases over one). */
struct reg_snap *procnotify_snapshot(struct engine *e);
void procnotify_snapshot_free(struct engine *e, struct reg_snap *s);
/* part[i] for the registrations of s that opted in to removal
 * (DHP_PROC_QUERY_REMOVE); malloc'd, NULL on ENOMEM. */
bool *procnotify_removal_part(struct engine *e, const struct reg_snap *s);
/*
 * One phase over a snapshot.  part[i]: the registration takes part (phase 1:
 * all; phase 2: those that received ADD_START); got[i] is set for those that
 * received the phase; sent_at[i] is scratch.  Transaction lock held.
 */
void procnotify_phase(struct engine *e, struct reg_snap *s, dhp_proc_change_state state,
                      uint32_t index, int *status, bool late, const bool *part, bool *got, uint64_t *sent_at);

/* arrival.c */
const char *arrival_event_name(dhp_event ev);
/* Queue one event to every registration of its class (a removal step). */
int arrival_queue_event(struct engine *e, const struct dhp_device_event *ev);
int arrival_queue_processor(struct engine *e, uint32_t index, dhp_event ev);
int arrival_queue_memory(struct engine *e, const struct mem_device *d, dhp_event ev);

/* record.c */
/* True when a monitor is attached: only then are records worth building
 * (and callbacks worth timing). */
static inline bool engine_monitored(struct engine *e) {
        return atomic_load_explicit(&e->n_monitors, memory_order_relaxed) != 0;
}
/* Number the record and hand it to every monitor; nothing when there is
 * none. */
void record_emit(struct engine *e, struct dhp_record *r);

/* engine.c */
/* Between the two synchronous phases, transaction lock held: admit the
 * processor (0) or report why not; undo a start after a failed add. */
int engine_cpu_admit(struct engine *e, uint32_t index, bool late);
void engine_cpu_reject(struct engine *e, uint32_t index, int status, bool late);
bool engine_txn_owned_by_self(struct engine *e);
/* The transaction lock, with its owner for engine_txn_owned_by_self():
 * inline, being a lock (taken by procnotify.c on every phase a peer drives). */
static inline void engine_txn_lock(struct engine *e) {
        pthread_mutex_lock(&e->txn_lock);
        pthread_mutex_lock(&e->lock);
        e->txn_owner = pthread_self();
        e->txn_owned = true;
        pthread_mutex_unlock(&e->lock);
}

static inline void engine_txn_unlock(struct engine *e) {
        pthread_mutex_lock(&e->lock);
        e->txn_owned = false;
        pthread_mutex_unlock(&e->lock);
        pthread_mutex_unlock(&e->txn_lock);
}
void engine_run_hooks(struct engine *e, enum engine_hook_kind kind, uint64_t arg);
/* engine_queue() with the lock held: returns the wake function to call
 * with *ret_ud once the lock is released, or NULL.  Nobody is woken while a
 * dispatch runs: it takes the item before it ends. */
engine_wake_fn engine_queue_locked(struct engine *e, struct engine_item *it, void **ret_ud);
/* An existing processor for arrival notification (D9, R12): admitted and
 * past its ADD_COMPLETE.  Lock held. */
static inline bool engine_cpu_existing_locked(const struct engine *e, uint32_t index) {
        return e->cpus[index].state == DHP_PROC_ADMITTED && !e->cpus[index].completing;
}
void engine_mem_device_range(struct engine *e, const struct mem_device *d, uint64_t *ret_base, uint64_t *ret_size);
/* The event of memory device d as a whole (its name, base, present size);
 * lock held. */
void engine_mem_event(struct engine *e, struct dhp_device_event *ev, const struct mem_device *d, dhp_event event,
                      bool existing);
void engine_record_txn(struct engine *e, const char *event, uint32_t processor, int status, bool late);
void engine_record_block(struct engine *e, const char *event, uint64_t block, int status);
/* Mark one block online or offline: 1 when its device arrived (or, for a
 * virtio-mem device, a step completed) with it, 2 when unchanged, 0, or
 * -ENOENT. */
int engine_block_set_online(struct engine *e, uint64_t block, bool online, bool record);
