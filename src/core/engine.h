/* SPDX-License-Identifier: MIT */
/*
 * The engine: the partition model, the hot-add transactions and the
 * notification methods.  It owns no loop and makes no syscalls beyond
 * threads: a platform (sim, linux) drives it and is driven through a small
 * ops table; whoever embeds it (lib, daemon) delivers the asynchronous queue
 * by calling engine_dispatch() when the wake hook fires.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dhp.h"
#include "util/log.h"

struct engine;

/* Memory levels as the platform sees them (Linux: /proc/meminfo MemTotal,
 * MemAvailable, Committed_AS, CommitLimit), in bytes.  A total or a commit
 * limit of 0 means unknown: the conditions that need it stay clear. */
struct mem_levels {
        uint64_t total;
        uint64_t available;
        uint64_t commit_charge;
        uint64_t commit_limit;
};

/* What the engine asks of the platform.  Every op returns 0 or a negative
 * errno and is called with no engine lock held, on the transaction thread. */
struct platform_ops {
        /* Start a present processor (Linux: write 1 to cpuN/online). */
        int (*cpu_start)(void *platform, uint32_t index);
        /* Undo cpu_start after a failed add (Linux: write 0, or keep it
         * online but unadmitted, by policy). */
        int (*cpu_stop)(void *platform, uint32_t index);
        /* Admit a started processor into what the platform manages
         * (Linux: widen the managed cpusets).  May be NULL. */
        int (*cpu_admit)(void *platform, uint32_t index);
        /* A processor transaction begins: its state checked, right before
         * cpu_start (`late`: ENGINE_CPU_LATE, no cpu_start follows).  Linux:
         * the crash marker, which the platform removes when
         * engine_cpu_present() returns.  May be NULL. */
        void (*cpu_txn_begin)(void *platform, uint32_t index, bool late);
        /* Online one memory block; `index` is the block's index. */
        int (*mem_block_online)(void *platform, uint64_t index);
        /* Removal (doc/model.md, "Removal").  Each may be NULL: the removal
         * it serves then fails with -EOPNOTSUPP (offline) or skips the step
         * (unadmit).  Take an admitted processor out of what the platform
         * manages (Linux: narrow the managed cpusets, move client threads
         * off it); undone by cpu_admit. */
        int (*cpu_unadmit)(void *platform, uint32_t index);
        /* Take a processor offline for good (Linux: write 0 to its online
         * file).  -ENODEV: it is gone already (a surprise removal raced). */
        int (*cpu_offline)(void *platform, uint32_t index);
        /* Offline one memory block, with the platform's own bounded retries
         * on EBUSY; the error of the last try. */
        int (*mem_block_offline)(void *platform, uint64_t index);
        /* Read the memory levels now, for the memory condition events.  May
         * be NULL: the platform then pushes every change with
         * engine_mem_levels_update().  Called on any thread, with no engine
         * lock held; it must not call into the engine. */
        int (*mem_levels_read)(void *platform, struct mem_levels *ret);
};

/* How the engine tells its embedder that work is queued for
 * engine_dispatch(). */
typedef void (*engine_wake_fn)(void *userdata);

enum engine_cpu_flags {
        /* The processor was already online when the engine learned of it
         * (someone else onlined it): skip cpu_start and flag the sync
         * records as late. */
        ENGINE_CPU_LATE = 1u << 0,
        /* engine_cpu_present(): make it present, run no transaction (the
         * platform leaves it offline by policy). */
        ENGINE_CPU_NO_ADD = 1u << 1,
};

int engine_new(struct engine **ret, const struct platform_ops *ops, void *platform);
void engine_free(struct engine *e);

void engine_set_wake(struct engine *e, engine_wake_fn fn, void *userdata);
void engine_set_logger(struct engine *e, const struct logger *l);
/* The default client name of registrations made with a NULL name. */
int engine_set_default_name(struct engine *e, const char *name);
uint64_t engine_time_ns(struct engine *e);

/* ---- partition model (called by the platform) ------------------------ */

/* Declare `count` processor slots (possible processors); only grows. */
int engine_cpu_slots(struct engine *e, uint32_t count);
/* Set a processor's state directly, without a transaction: enumeration at
 * start (a processor found admitted), removal. */
int engine_cpu_set_state(struct engine *e, uint32_t index, dhp_proc_state state);
int engine_cpu_get_state(struct engine *e, uint32_t index, dhp_proc_state *ret);
uint32_t engine_cpu_count(struct engine *e);
/* Group and number of a processor index (groups of ENGINE_GROUP_SIZE);
 * inline: every synchronous callback call carries one. */
#define ENGINE_GROUP_SIZE 64
static inline dhp_proc_number engine_cpu_number(uint32_t index) {
        return (dhp_proc_number){ .group = (uint16_t)(index / ENGINE_GROUP_SIZE),
                                  .number = (uint8_t)(index % ENGINE_GROUP_SIZE) };
}

/*
 * engine_cpu_hotadd - the processor transaction for a present processor:
 * cpu_start -> ADD_START to every registration, in order -> cpu_admit ->
 * ADD_COMPLETE to every registration that got ADD_START -> ARRIVAL queued.
 * A veto or a failing cpu_admit: ADD_FAILURE to every registration that got
 * ADD_START, then cpu_stop.  Serialised with every other transaction.
 * Returns 0 when admitted, 1 when the add failed after it started (vetoed
 * or admission failed; ret_status gets the reason), a negative errno when it
 * could not start (cpu_start failed: no callback ran), -EALREADY for an
 * admitted processor, -ENODEV for an absent one, -ERANGE past the slots,
 * -EDEADLK from inside a synchronous callback.  It is also the retry of a
 * processor whose add failed (PRESENT again, or STARTED when the platform
 * kept it online): a new transaction on the same slot.
 */
int engine_cpu_hotadd(struct engine *e, uint32_t index, uint32_t flags, int *ret_status);
/*
 * engine_cpu_present - the platform found processor `index` present (an add
 * uevent, a resync): the slots grow to hold it, an absent one becomes
 * PRESENT, and unless ENGINE_CPU_NO_ADD its transaction runs
 * (engine_cpu_hotadd with `flags`).  Returns like engine_cpu_hotadd, with
 * -EALREADY also for a processor started or admitted already (nothing done),
 * and 0 for ENGINE_CPU_NO_ADD.
 */
int engine_cpu_present(struct engine *e, uint32_t index, uint32_t flags, int *ret_status);

/* ---- removal (core/removal.c; doc/model.md "Removal", R32-R41) -------- */

enum engine_remove_flags {
        /* The platform already took it away (the kernel on an ACPI eject,
         * the virtio-mem driver, another agent): no query, no offline step;
         * the REMOVAL is flagged surprise. */
        ENGINE_REMOVE_SURPRISE = 1u << 0,
        /* The processor left its slot too (an eject): ABSENT, not PRESENT. */
        ENGINE_REMOVE_GONE = 1u << 1,
};

/*
 * engine_cpu_remove - the processor removal.  Orderly: REMOVE_QUERY to the
 * synchronous registrations that opted in (DHP_PROC_QUERY_REMOVE); a veto
 * sends REMOVE_CANCEL to each of them and stops; else cpu_unadmit,
 * cpu_offline, REMOVE_COMPLETE to the same ones, REMOVAL queued to every
 * processor arrival registration.  An offline that fails re-admits the
 * processor and cancels as a veto does.  ENGINE_REMOVE_SURPRISE: the
 * processor is already offline: cpu_unadmit, REMOVE_COMPLETE (no query),
 * REMOVAL flagged surprise.  Returns 0 when removed, 1 when vetoed or the
 * offline failed (ret_status: why), -ENODEV when the processor is not
 * admitted (nothing to remove; with SURPRISE the model still follows:
 * PRESENT, or ABSENT with GONE), -EDEADLK from a synchronous callback.
 */
int engine_cpu_remove(struct engine *e, uint32_t index, uint32_t flags, int *ret_status);
/* One processor of engine_cpu_hotadd_batch(): index and flags in, result
 * (engine_cpu_hotadd()'s return) and status (the reason when 1) out. */
struct engine_cpu_add {
        uint32_t index;
        uint32_t flags;
        int result;
        int status;
};
/*
 * engine_cpu_hotadd_batch - processors added together (one burst of
 * uevents) in one transaction: cpu_start for each, in order, then each
 * one's phases as engine_cpu_hotadd() (ADD_START -> cpu_admit ->
 * ADD_COMPLETE -> ARRIVAL, or ADD_FAILURE -> cpu_stop), in the same order.
 * A processor is admitted only between its own phases, so none of them is
 * schedulable in the managed sets before its ADD_START returned.  One
 * processor's refusal or veto does not stop the others.  Returns 0, or
 * -EDEADLK from inside a synchronous callback (nothing ran).
 */
int engine_cpu_hotadd_batch(struct engine *e, struct engine_cpu_add *adds, size_t n);
/*
 * engine_cpu_hotadd_batch_more - the same, and once every processor so far
 * is started (before any phase), more(userdata, adds, n) may append to
 * *adds (reallocating it; *n grows) the processors announced meanwhile:
 * they are started in turn, then more is called again, until it appends
 * none.  It runs with the transaction lock held: no transaction from it.
 * The results are in (*adds)[0..*n).
 */
typedef void (*engine_cpu_more_fn)(void *userdata, struct engine_cpu_add **adds, size_t *n);
int engine_cpu_hotadd_batch_more(struct engine *e, struct engine_cpu_add **adds, size_t *n, engine_cpu_more_fn more,
                                 void *userdata);

/* Memory. */
int engine_mem_set_block_size(struct engine *e, uint64_t bytes);
uint64_t engine_mem_block_size(struct engine *e);
/*
 * engine_mem_device_add - a memory device of `nblocks` blocks from block
 * `first_block` arrived (blocks present, offline unless `online`).  A device
 * added already online (found at enumeration) is existing: no arrival is
 * queued for it.  ret_id gets the device's id.
 */
int engine_mem_device_add(struct engine *e, uint64_t first_block, uint64_t nblocks, bool online,
                          uint64_t *ret_id);
/*
 * engine_mem_hotadd - the memory transaction: online every offline block of
 * the device with mem_block_online, then, once every block is online, queue
 * its ARRIVAL.  Returns 0 when the device arrived, or the first error (the
 * blocks that failed stay offline and are reported in the stream; the
 * device has not arrived).
 */
int engine_mem_hotadd(struct engine *e, uint64_t device_id);
/* A block went online or offline without the engine onlining it (another
 * agent, or enumeration); arrival is queued when the device completes. */
int engine_mem_block_set_online(struct engine *e, uint64_t block, bool online);
/*
 * engine_mem_remove - the memory removal of a device that arrived.
 * Orderly: QUERY_REMOVE to the memory arrival registrations that opted in
 * (DHP_ARRIVAL_QUERY_REMOVE), on the calling thread; a veto sends
 * REMOVE_CANCEL to each queried one and stops.  Then every online block is
 * offlined (mem_block_offline, which retries EBUSY); if one cannot be, the
 * blocks offlined so far are onlined again and the queried registrations
 * get REMOVE_CANCEL.  Else the device is gone: REMOVAL to every memory
 * arrival registration, then the memory conditions.  Returns 0, 1 (vetoed
 * or a block refused; ret_status: why), -ENOENT (no such device, or not
 * arrived), -EDEADLK.
 */
int engine_mem_remove(struct engine *e, uint64_t device_id, int *ret_status);
/* The device named `name` ("memory@0x...", "virtio-mem:virtio2"); -ENOENT. */
int engine_mem_device_find(struct engine *e, const char *name, uint64_t *ret_id);
/*
 * engine_mem_block_remove - the platform removed a block (the kernel's
 * `remove` uevent): it leaves its device.  The REMOVAL comes at
 * engine_mem_settle(), once per step.
 */
int engine_mem_block_remove(struct engine *e, uint64_t block);
/*
 * engine_mem_settle - the end of a step of device `id`: blocks removed
 * since the last step give one REMOVAL (surprise: the platform did it) with
 * the size that went; a DIMM whose every block is gone is removed.  For a
 * virtio-mem device, blocks onlined since the last step give one ARRIVAL
 * with the size that came, once every plugged block is online.  Returns
 * how many events were queued (0-2), or -ENOENT.
 */
int engine_mem_settle(struct engine *e, uint64_t id);
/*
 * engine_mem_vdev_add - a virtio-mem device (`name`, e.g.
 * "virtio-mem:virtio2", NUMA `node`) managing the region of `span` blocks
 * from `first_block`, with no block plugged yet.  Blocks plugged later join
 * with engine_mem_vdev_plug() and are onlined by engine_mem_hotadd(); the
 * platform ends each resize step with engine_mem_settle().
 */
int engine_mem_vdev_add(struct engine *e, const char *name, int node, uint64_t first_block, uint64_t span,
                        uint64_t *ret_id);
/* Block `block` of the region of virtio-mem device `id` was plugged
 * (present, offline unless `online`).  -ERANGE outside the region, -EEXIST
 * when plugged. */
int engine_mem_vdev_plug(struct engine *e, uint64_t id, uint64_t block, bool online);
/* What the model knows of a block: its device and whether it is online.
 * -ENOENT for a block no device holds. */
int engine_mem_block_get(struct engine *e, uint64_t block, uint64_t *ret_device, bool *ret_online);
/*
 * engine_mem_levels_update - the platform reports new memory levels (a PSI
 * trigger fired, the sim was told): the memory condition events are
 * re-evaluated at once on the calling thread (memcond.c).
 */
int engine_mem_levels_update(struct engine *e, const struct mem_levels *levels);
/* The next physical address past every device (the sim places new DIMMs
 * there). */
uint64_t engine_mem_end(struct engine *e);

/* One memory device as the model knows it; -ENOENT past the last. */
struct engine_mem_info {
        uint64_t base, size; /* the region for a virtio-mem device */
        uint64_t nblocks, online_blocks; /* present (plugged) blocks */
        uint64_t span_blocks;            /* its range (a virtio-mem region) */
        bool arrived, removed;
        bool virtio;
        int node;           /* -1: unknown */
        char name[64];
};
int engine_mem_device_info(struct engine *e, uint64_t id, struct engine_mem_info *ret);

/* One block of a device: its index, whether it is online, its zone
 * (dhp_memory_zone; UNKNOWN unless the platform said). */
struct engine_block_info {
        uint64_t index;
        bool online;
        dhp_memory_zone zone;
};
/*
 * engine_mem_device_blocks - a device and its blocks under one lock, so
 * the two agree: ret gets the device, blocks[0..min(cap, nblocks)) its
 * blocks in order.  -ENOENT past the last device.
 */
int engine_mem_device_blocks(struct engine *e, uint64_t id, struct engine_mem_info *ret,
                             struct engine_block_info *blocks, uint64_t cap);
/* The zone a block was onlined into, when the platform knows it (Linux:
 * online_movable or online_kernel); cleared when the block goes offline.
 * -ENOENT for a block no device holds, -EINVAL for a bad zone. */
int engine_mem_block_set_zone(struct engine *e, uint64_t block, dhp_memory_zone zone);
/* Whether the calling thread holds the transaction lock: it is running a
 * transaction's synchronous callbacks (the library's -EDEADLK check). */
bool engine_txn_owned_by_self(struct engine *e);

/* Run fn under the transaction lock (serialised with every transaction);
 * -EDEADLK from inside a synchronous callback. */
int engine_txn_call(struct engine *e, int (*fn)(struct engine *e, void *userdata), void *userdata);

/* ---- the asynchronous queue (called by the embedder) ------------------ */

/*
 * engine_dispatch - run every queued item (arrival deliveries, later
 * rebalance) on the calling thread.  One dispatcher at a time: -EDEADLK
 * when called from inside a callback it is running, -EBUSY is never
 * returned (a second thread waits its turn).  Returns the number run.
 */
int engine_dispatch(struct engine *e);
/* True when nothing is queued and no dispatch is running. */
bool engine_idle(struct engine *e);
/* Wait up to timeout_ms for engine_idle(); 0 when idle, -ETIMEDOUT. */
int engine_wait_idle(struct engine *e, int timeout_ms);

/* ---- queue items, for the modules that add work after a transaction --- */

struct engine_item;
typedef void (*engine_item_run_fn)(struct engine *e, struct engine_item *it);
typedef void (*engine_item_free_fn)(struct engine_item *it);

struct engine_item {
        struct engine_item *next;
        engine_item_run_fn run;
        engine_item_free_fn free;
};

/* Queue an item; it runs after everything queued before it. */
void engine_queue(struct engine *e, struct engine_item *it);

/* ---- hooks run at the end of a transaction (rebalance, memory conditions) */

enum engine_hook_kind {
        ENGINE_HOOK_CPU_ADMITTED = 1, /* after ADD_COMPLETE and the arrival was queued */
        ENGINE_HOOK_MEM_CHANGED = 2,  /* after blocks went online or offline */
        ENGINE_HOOK_CPU_REMOVED = 3,  /* after the REMOVAL was queued */
};
typedef void (*engine_hook_fn)(struct engine *e, enum engine_hook_kind kind, uint64_t arg, void *userdata);
int engine_hook_add(struct engine *e, engine_hook_fn fn, void *userdata);

/* ---- registrations (the lib maps the public API onto these) ----------- */

int procnotify_register(struct engine *e, const char *name, uint32_t flags, dhp_proc_cb cb, void *userdata,
                        dhp_proc_reg **ret);
void procnotify_deregister(dhp_proc_reg *reg);

/* The deadline of each phase for external participants (core/peer.h), and
 * whether a late one vetoes the add (-ETIMEDOUT) or the add proceeds
 * without it. */
void engine_set_sync_deadline(struct engine *e, uint64_t deadline_ns, bool late_veto);


int arrival_register(struct engine *e, const char *name, dhp_class cls, uint32_t flags, dhp_arrival_cb cb,
                     void *userdata, dhp_arrival_reg **ret);
/* The same for an observer of the arrivals (dhpd's own, which only logs
 * them): delivered after every other registration of its class, whenever
 * either was made, so that what it does (a log line) never delays a
 * client's notification.  Unregistered with arrival_unregister(). */
int arrival_register_observer(struct engine *e, const char *name, dhp_class cls, dhp_arrival_cb cb,
                              void *userdata, dhp_arrival_reg **ret);
void arrival_unregister(dhp_arrival_reg *reg);
/* Call fn, on the calling thread, for every device of the class present now
 * (what INCLUDE_EXISTING reports, existing flag set), from a snapshot taken
 * under the lock.  For a server that must send them before its reply.
 * Returns how many, or -EINVAL, -ENOMEM. */
int arrival_existing(struct engine *e, dhp_class cls, dhp_arrival_cb fn, void *userdata);

int engine_monitor_add(struct engine *e, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret);
void engine_monitor_remove(dhp_monitor *m);
/* A monitor callback (userdata: a const struct logger *) that writes each
 * record as dhp_record_format()'s text.  Levels: one line per event at
 * info (the delivery to ENGINE_SELF_NAME's own registration, memory
 * conditions, rebalances, anything without a registration), a veto, a
 * late answer or a missed deadline at notice, and every other per
 * registration record (each client's phase, each arrival delivered), the
 * transaction steps and the recomputed memory thresholds at debug: at info a hot-add with 1000 clients is
 * not 3000 lines.  Nothing is formatted for a level the logger drops. */
#define ENGINE_SELF_NAME "dhpd"
void engine_record_log(void *userdata, const dhp_record *r);
/* Who embeds the engine (the dhp context), for handles that lead back. */
void engine_set_embedder(struct engine *e, void *p);
void *engine_embedder(struct engine *e);
struct engine *procnotify_reg_engine(const dhp_proc_reg *reg);
struct engine *arrival_reg_engine(const dhp_arrival_reg *reg);
struct engine *engine_monitor_engine(const dhp_monitor *m);
/* A free-text note in the notification stream (scenario echo). */
void engine_record_note(struct engine *e, const char *text);
