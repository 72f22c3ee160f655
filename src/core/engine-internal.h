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

/* A registration of either method.  Refcounted: the list holds one
 * reference, every snapshot taken for a dispatch one more. */
struct reg {
        struct list node;
        struct engine *engine;
        uint64_t id; /* registration order, from 1 */
        unsigned refs;
        /* A call takes no lock (reg_call_begin/end): dead, in_call and
         * waiters are a Dekker handshake in sequentially consistent
         * atomics.  dead is also written under lock with the list. */
        atomic_bool dead;
        /* The call in progress: at most one, on call_thread. */
        atomic_uint in_call;
        _Atomic(pthread_t) call_thread;
        atomic_uint waiters; /* reg_kill()s waiting for a call to end */
        char name[ENGINE_NAME_MAX];
        uint32_t flags;
        void *userdata;
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

        /* asynchronous queue */
        struct engine_item *q_head, **q_tail;
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

/* Thread-safe reference handling of registrations; call with e->lock held. */
static inline void reg_ref_locked(struct reg *r) {
        r->refs++;
}
void reg_unref_locked(struct reg *r);

/* The registrations on list that keep accepts (every one when keep is
 * NULL), in order, each with a reference (procnotify.c).  The elements point
 * to the registration structures, whose struct reg comes first.  0 or
 * -ENOMEM. */
int reg_snapshot(struct engine *e, struct list *list, bool (*keep)(const struct reg *r), struct reg ***ret,
                 size_t *ret_n);
void reg_snapshot_free(struct engine *e, struct reg **v, size_t n);

/* Wake reg_kill()s waiting for a call to end (engine.c). */
void reg_call_wake(struct reg *r);

/*
 * Mark a call beginning/ending on the current thread, without the lock:
 * begin returns false (and marks nothing) when the registration is dead,
 * and the call is skipped.
 *
 * A call and reg_kill() meet as in Dekker's algorithm: the caller raises
 * in_call, then reads dead; reg_kill() sets dead, then reads in_call.  With
 * sequentially consistent atomics at least one of them sees the other's
 * write: either the caller skips the call, or reg_kill() waits for it.  The
 * caller wakes a waiting reg_kill() (waiters, raised before dead) under the
 * lock, which reg_kill() holds from its read of in_call until it sleeps: no
 * wake-up is lost.  Two lock round trips per call were most of what a
 * synchronous callback cost; these are two atomic increments.
 */
static inline void reg_call_end(struct reg *r) {
        atomic_fetch_sub(&r->in_call, 1);
        if (atomic_load(&r->waiters) > 0)
                reg_call_wake(r);
}

static inline bool reg_call_begin(struct reg *r) {
        atomic_store_explicit(&r->call_thread, pthread_self(), memory_order_relaxed);
        atomic_fetch_add(&r->in_call, 1); /* releases call_thread */
        if (atomic_load(&r->dead)) {
                reg_call_end(r);
                return false;
        }
        return true;
}
/* Remove a registration and wait for a call on another thread; lock not
 * held on entry. */
void reg_kill(struct reg *r);
void reg_init(struct engine *e, struct reg *r, const char *name, uint32_t flags, void *userdata);

/* procnotify.c */
/* The phases a callback may veto: ADD_START and REMOVE_QUERY. */
static inline bool procnotify_state_vetoable(dhp_proc_change_state s) {
        return s == DHP_PROC_ADD_START || s == DHP_PROC_REMOVE_QUERY;
}
int procnotify_run(struct engine *e, uint32_t index, bool late, int *ret_status, bool *ret_admitted);
/* The registrations in order, each with a reference (peer.c drives the
 * phases over one). */
int procnotify_snapshot(struct engine *e, struct dhp_proc_reg ***ret, size_t *ret_n);
void procnotify_snapshot_free(struct engine *e, struct dhp_proc_reg **v, size_t n);
/* Which registrations of a snapshot take part in a removal, as
 * procnotify_phase's part: those that opted in (an external participant
 * opts in for its process: peer_set_query_remove).  NULL: no memory. */
bool *procnotify_removal_part(struct engine *e, struct dhp_proc_reg **v, size_t n);
/*
 * One phase over a snapshot.  part[i]: the registration takes part (phase 1:
 * all; phase 2: those that received ADD_START); got[i] is set for those that
 * received the phase; sent_at[i] is scratch.  Transaction lock held.
 */
void procnotify_phase(struct engine *e, struct dhp_proc_reg **v, size_t n, dhp_proc_change_state state,
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
