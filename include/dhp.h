/* SPDX-License-Identifier: MIT */
/*
 * dhp.h - Dynamic Hardware Partitioning hot-add notifications for Linux.
 *
 * One header, opaque handles.  Every function that can fail returns 0 (or a
 * small positive value where documented) on success and a negative errno on
 * failure; ret_ outputs are written only on success.  Every *_free / *_unref
 * accepts NULL.  The library never prints.
 *
 * The model is in doc/model.md: synchronous processor notification (ADD_START,
 * then ADD_COMPLETE or ADD_FAILURE), asynchronous arrival notification for
 * processors and memory, and the order of a hot-add transaction:
 *
 *   ADD_START (all) -> processor admitted -> ADD_COMPLETE (all)
 *     -> ARRIVAL (PROCESSOR) -> rebalance
 *   memory blocks online -> ARRIVAL (MEMORY) -> memory conditions
 *
 * and of a removal (dhp's extension, doc/model.md "Removal"):
 *
 *   REMOVE_QUERY (opted in) -> processor unadmitted, offline
 *     -> REMOVE_COMPLETE (opted in) -> REMOVAL (PROCESSOR)
 *   QUERY_REMOVE (opted in) -> memory blocks offline -> REMOVAL (MEMORY)
 *     -> memory conditions
 */
#ifndef DHP_H
#define DHP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DHP_BUILDING)
#define DHP_EXPORT __attribute__((visibility("default")))
#else
#define DHP_EXPORT
#endif

#define DHP_VERSION_MAJOR 0
#define DHP_VERSION_MINOR 1

/* ------------------------------------------------------------------------ */
/* Context                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct dhp dhp;

/*
 * dhp_open - open a context on a target.
 *
 *   "sim"            a simulated partition run in-process (defaults: 2 of 8
 *                    processors present, 1 GiB of 128 MiB memory blocks)
 *   "sim:OPTIONS"    same, OPTIONS a comma list of cpus=N, maxcpus=N,
 *                    memory=SIZE, block=SIZE, maxmem=SIZE
 *   "unix:PATH"      a client of dhpd on its socket (doc/protocol.md)
 *   NULL or ""       $DHP_TARGET, else "unix:/run/dhp/dhpd.sock"
 *   "linux"          this process is the agent: it onlines hot-added
 *                    processors and memory itself (needs root) and keeps
 *                    its own threads on admitted processors; no daemon
 *   "linux:OPTIONS"  same, OPTIONS: cgroup=GROUP (repeatable), online=no,
 *                    root=DIR and uevent-fd=N (tests on a fake sysfs)
 *   "cgroup"         the partition is the calling process's own cgroup v2
 *                    (from /proc/self/cgroup, inside a cgroup namespace
 *                    too): in-process, no daemon, no privilege.  See
 *                    "Limits" below
 *   "cgroup:OPTIONS" same, OPTIONS a comma list: a cgroup directory
 *                    ("/sys/fs/cgroup/app.slice/web", or relative to the
 *                    cgroup2 mount: "app.slice/web"), interval=DURATION
 *                    (the re-read period, 10ms..1h, default 1s) or
 *                    interval=off, require=cpu+cpuset+memory (those
 *                    controllers' files must exist in the cgroup),
 *                    psi=no (no memory.pressure trigger); root=DIR prefixes
 *                    every path (tests on a fake cgroup tree only)
 *
 * Same API, same semantics on every target.  As a client of dhpd:
 *   - synchronous callbacks run on the context's connection thread; dhpd
 *     sends each phase to every client process at once and each process runs
 *     its callbacks in registration order; a veto in any process fails the
 *     add in all.  A callback sees the vetoes of its own process only.
 *     Inside a synchronous callback every call that waits (for the
 *     transaction in-process, for dhpd's answer through dhpd) fails with
 *     -EDEADLK, on every target: dhp_proc_count, dhp_proc_get_state,
 *     dhp_proc_register, dhp_arrival_register, dhp_monitor_add,
 *     dhp_reconnect, the dhp_sim_* calls, dhp_memcond_open and the
 *     threshold calls, dhp_device_new and the class opt-out calls.
 *     Deregistrations never wait (for dhpd) and may be called there.
 *   - ADD_EXISTING callbacks run on the connection thread too, before
 *     dhp_proc_register() returns.
 *   - monitors run on the connection thread; arrivals as everywhere, on
 *     dhp_process() or the notification thread.
 *   - memory condition events are dhpd's: a handle's fd, wait and is_set
 *     follow the state dhpd sends (current before dhp_memcond_open()
 *     returns); a change that follows a memory ARRIVAL still queued in
 *     this process waits for that arrival to be delivered (the model's
 *     order: the arrival, then the conditions), otherwise it is made as
 *     soon as it is read; changing thresholds needs dhpd's permission
 *     (-EPERM).
 *   - registrations are capped per client by dhpd (max_registrations,
 *     default 64, synchronous and arrival together): -ENOSPC past it.
 *   - devices live in dhpd (creating and changing them needs its
 *     permission, -EPERM); driver handlers run on dhp_process() or the
 *     notification thread as in-process, and each must answer within
 *     dhpd's [sync] deadline: a late QUERY_STOP counts as refused, a late
 *     STOP or START as done.  Device names are dhpd-wide (-EEXIST).
 *
 * CPU affinity (targets "linux", and "unix:" with a dhpd on real
 * hardware): Linux lets a thread run on a hot-added processor as soon as
 * it is online, before its ADD_START.  While the context holds at least
 * one synchronous registration (dhp_proc_register), and only then, the
 * library keeps the process's threads off processors that are not yet
 * admitted, without overriding the application's own pinning:
 *   - from each thread's own mask it removes only processors not
 *     admitted, and records, per thread, exactly what it removed; a thread
 *     pinned only to processors not admitted is left alone;
 *   - after the processor's admission, once this process's ADD_COMPLETE
 *     callbacks have all returned (and before the add is reported done:
 *     before dhp_sim_cpu_add() or dhp_proc_online() returns, before dhpd
 *     ends the transaction), each thread gets it back only if the library
 *     had removed it from that thread.  So no thread of the process runs
 *     there before its ADD_COMPLETE callbacks have set up what they set
 *     up; a callback that needs to run there itself uses a thread of its
 *     own with its own mask.  A thread pinned by the application
 *     (taskset, CPUAffinity=, sched_setaffinity) stays pinned;
 *   - a thread that sets its own mask meanwhile keeps what it set: the
 *     library leaves it alone from then on;
 *   - a thread created meanwhile inherits its creator's reduced mask; at
 *     the next admission or release the library treats a thread it does
 *     not know, whose mask is exactly the mask it left on a thread it
 *     removed processors from, as that thread's child and gives it the
 *     same processors back (a child of an application-pinned thread whose
 *     pin happens to equal that mask cannot be told apart and widens too);
 *   - when the last synchronous registration goes, and at dhp_close(),
 *     every thread gets back everything still withheld: every mask is as
 *     the application would have it.
 * A context with only arrival registrations, monitors or memory condition
 * handles never touches a mask.
 *
 * Fork: a context belongs to the process that opened it.  In a child
 * after fork() every call on the parent's context fails at once with
 * -ECHILD (the threads that would answer are not in the child), and so
 * does every request on one of its handles that would wait for dhpd;
 * dhp_close() there only closes the child's copies of the context's own
 * descriptors and of its connection to dhpd (never shutting the parent's
 * connection down; the memory is not freed: a thread of the parent may
 * have held its locks at the fork).  Handles of the parent's context are
 * not to be used in the child.  A child opens a context of its own.  All
 * descriptors are O_CLOEXEC.
 *
 * On "cgroup":
 *   - a processor is ADMITTED while it is in the cgroup's effective CPU set
 *     (cpuset.cpus.effective), ABSENT otherwise; a CPU that enters the set
 *     is a processor ARRIVAL, one that leaves it a REMOVAL (also when a
 *     parent's change or a CPU going offline caused it), followed by the
 *     limits notification of the same change (dhp_limits_register());
 *   - synchronous registration (dhp_proc_register) is -EOPNOTSUPP: nobody
 *     asks the application before a cgroup is resized;
 *   - the memory conditions are the cgroup's: available is
 *     min(memory.max, memory.high) minus memory.current, the default
 *     thresholds follow that limit (low = limit/32 within 4..64 MiB and
 *     at most limit/4, high = 3 x low); without a limit the machine's
 *     apply.  The commit conditions do not exist there: -EOPNOTSUPP from
 *     dhp_memcond_open() and for their thresholds;
 *   - the cgroup removed: a REMOVAL of every CPU, a last limits
 *     notification flagged DHP_LIMITS_REMOVED, then dhp_process() returns
 *     -ENODEV (the fd stays readable).
 *
 * Errors: -EINVAL (malformed target or options), -EPROTONOSUPPORT (unknown
 * target kind, or dhpd speaks another major protocol version), -ENOENT or
 * -ECONNREFUSED (dhpd not running), -EACCES, -ETIMEDOUT (dhpd did not
 * accept the connection or answer HELLO within 5 s), -ENOMEM; on "cgroup" also
 * -EOPNOTSUPP (only cgroup v1, or hybrid mode: cpu, cpuset or memory on a
 * v1 hierarchy), -ENOTDIR (not a cgroup v2 directory), -ENOENT (no such
 * cgroup, or a required controller missing) and -ELOOP (deeper than 32
 * levels).  dhp_strerror() explains the failure (which socket, what to
 * start; for "cgroup", which file and why).
 */
DHP_EXPORT int dhp_open(dhp **ret, const char *target);

/*
 * dhp_strerror - a sentence explaining `error` (a negative or positive
 * errno), for a person: when the last call of the calling thread that
 * failed with this error left an explanation, that one ("Operation not
 * permitted: dhpd (/run/dhp/dhpd.sock) refused the request: permission
 * denied: this needs root or membership in group 'dhp'"), else the errno's
 * own text.  Per thread, so thread-safe; the string stays valid until the
 * calling thread's next call of the library.  Never NULL.  dhp_open()
 * leaves one for the reason it failed (dhpd not running, ...).
 */
DHP_EXPORT const char *dhp_strerror(int error);

/*
 * dhp_reconnect - after the connection to dhpd was lost (dhp_process()
 * returns -ECONNRESET and keeps returning it, the fd stays readable),
 * connect again and re-register every registration and monitor of the
 * context, so that they survive a daemon restart.  ADD_EXISTING is not run
 * again.  A device that arrived while dhpd was away (a restarted dhpd
 * onlines it before any client can connect) is reported to each arrival
 * registration of its class as an ARRIVAL (not existing), once; devices
 * already reported or present at registration are not reported again; a
 * device the registration knew that is no longer present is reported as a
 * REMOVAL, and a later device of its name as an ARRIVAL.  A processor
 * admitted while dhpd was away that this process did not see admitted (its
 * last call for it was ADD_FAILURE, e.g. the one that ends a phase cut by
 * the loss with -ECONNRESET, or it had none: a transaction the crash cut
 * is finished by the restarted dhpd before any client can connect) gets
 * ADD_START then ADD_COMPLETE on every synchronous registration, on the
 * connection thread, before dhp_reconnect() returns; it is admitted
 * already, so a veto there changes nothing (doc/model.md D36).  Then
 * every processor admitted by dhpd is one the callbacks last saw complete.
 * Not automatic: the caller decides
 * when (and how often) to retry.  -ENOENT/-ECONNREFUSED while dhpd is still
 * down; -ETIMEDOUT when it does not accept or answer within 5 s; -EISCONN while the connection is live (nothing is done: tearing it
 * down would drop the process out of transactions until it re-registered);
 * -EOPNOTSUPP for a target that is not "unix:"; -EDEADLK inside a
 * synchronous callback; -ECHILD in a child after fork().
 */
DHP_EXPORT int dhp_reconnect(dhp *ctx);

/* dhp_close - stop the notification thread if any, drop every registration
 * (giving back every processor withheld from a thread, see dhp_open()) and
 * free the context.  Must not be called from inside a callback.  In a
 * child after fork(): see "Fork" at dhp_open(). */
DHP_EXPORT void dhp_close(dhp *ctx);

/*
 * dhp_get_fd - a file descriptor that becomes readable when asynchronous
 * notifications are pending; call dhp_process() then.  Owned by the context.
 */
DHP_EXPORT int dhp_get_fd(dhp *ctx);

/*
 * dhp_process - deliver every pending asynchronous notification on the
 * calling thread.  Returns a positive number when it delivered something,
 * 0 when nothing was pending, or a negative errno.  The number counts the
 * queued items run, not callbacks, and differs between targets for the
 * same events: in-process one item per device arrival (delivered to every
 * arrival registration of its class), one per rebalance, one per memory
 * condition change; through dhpd one per arrival registration, one per
 * driver request.  Compare it with 0 only.
 * -EBUSY when the context runs its own notification thread; -ECONNRESET
 * once dhpd went away (see dhp_reconnect()); -ECHILD in a child after
 * fork().
 */
DHP_EXPORT int dhp_process(dhp *ctx);

/*
 * dhp_wait - wait up to timeout_ms (-1: forever) for pending asynchronous
 * notifications.  Returns 1 when some are pending, 0 on timeout.
 */
DHP_EXPORT int dhp_wait(dhp *ctx, int timeout_ms);

/*
 * dhp_start_thread - deliver asynchronous notifications on a thread owned
 * by the context from now on, until dhp_stop_thread() or dhp_close().
 * -EALREADY when it runs already.
 */
DHP_EXPORT int dhp_start_thread(dhp *ctx);
DHP_EXPORT int dhp_stop_thread(dhp *ctx);

/* dhp_set_name - the name this context's registrations carry by default in
 * the notification stream and in status (default: the program name). */
DHP_EXPORT int dhp_set_name(dhp *ctx, const char *name);

/* ------------------------------------------------------------------------ */
/* Processors and memory                                                    */
/* ------------------------------------------------------------------------ */

/* A processor's number: group and number within the group (Windows
 * PROCESSOR_NUMBER).  On Linux the group is the index divided by the group
 * size (64) and the number the remainder. */
typedef struct dhp_proc_number {
        uint16_t group;
        uint8_t number;
        uint8_t reserved;
} dhp_proc_number;

typedef enum dhp_proc_state {
        DHP_PROC_ABSENT = 0,    /* slot exists, no processor in it */
        DHP_PROC_PRESENT = 1,   /* added, not started */
        DHP_PROC_STARTED = 2,   /* started, nothing scheduled on it */
        DHP_PROC_ADMITTED = 3,  /* in the schedulable set */
} dhp_proc_state;

/* dhp_proc_count - number of processor slots (possible processors).
 * -EDEADLK inside a synchronous callback, on every target (the callback
 * gets its processor from its dhp_proc_change). */
DHP_EXPORT int dhp_proc_count(dhp *ctx, uint32_t *ret_count);
/* dhp_proc_get_state - state of processor `index`; -ERANGE past the end;
 * -EDEADLK inside a synchronous callback, on every target. */
DHP_EXPORT int dhp_proc_get_state(dhp *ctx, uint32_t index, dhp_proc_state *ret_state);

/*
 * dhp_proc_online - run a new add transaction for processor `index`, which
 * is present but not admitted (its add was vetoed or failed, or the
 * platform left it offline by policy): start it, ADD_START, admission,
 * ADD_COMPLETE or ADD_FAILURE, ARRIVAL, as for a hot-add, on the calling
 * thread (synchronous callbacks run here).  The same slot is used again:
 * retrying never needs a new one.  Returns 0 when the processor was
 * admitted; 1 when the add failed after it started (vetoed, or admission
 * failed; ret_status, when not NULL, gets the reason: the first veto or
 * the platform's error); -EALREADY when it is admitted already; -ENODEV
 * when the slot is empty (ABSENT); -ERANGE past the slots; -EDEADLK from
 * inside a synchronous callback; the platform's error (a negative errno)
 * when the processor could not be started (no callback ran); -EINVAL.
 * Target "unix:": dhpd runs the transaction (on Linux on its hotplug
 * thread, inside its crash marker) and each client's callbacks run where
 * that client runs them; the call needs the privilege of a synchronous
 * registration (-EPERM otherwise; `dhpctl cpu online N` is the same
 * request); -EOPNOTSUPP from a dhpd older than protocol 1.3.
 */
DHP_EXPORT int dhp_proc_online(dhp *ctx, uint32_t index, int *ret_status);

/*
 * Memory devices and their blocks, as `dhpctl status` shows them: a memory
 * device is what one hot-add brought (an ACPI memory device on Linux, L5),
 * made of fixed-size blocks that are onlined one by one; it has arrived
 * (ARRIVAL, or existing for INCLUDE_EXISTING) once every block is online.
 * A snapshot is taken at once and read at leisure; each device in it agrees
 * with its blocks.  Devices are in the order they became known, from 0.
 */
typedef struct dhp_memory_snapshot dhp_memory_snapshot;

typedef enum dhp_memory_block_state {
        DHP_MEMORY_BLOCK_OFFLINE = 0,
        DHP_MEMORY_BLOCK_ONLINE = 1,
} dhp_memory_block_state;

typedef enum dhp_memory_zone {
        DHP_MEMORY_ZONE_UNKNOWN = 0, /* offline, or onlined before dhp saw it */
        DHP_MEMORY_ZONE_NORMAL = 1,  /* the kernel zone (Linux: online_kernel) */
        DHP_MEMORY_ZONE_MOVABLE = 2, /* ZONE_MOVABLE (Linux: online_movable) */
} dhp_memory_zone;

/* dhp_memory_snapshot_new - snapshot the memory devices and their blocks.
 * Errors: -EINVAL, -ENOMEM; target "unix:": one STATUS request to dhpd
 * (anyone may make it), -EOPNOTSUPP from a dhpd older than protocol 1.3,
 * -EPROTO when dhpd's blocks do not add up to its devices. */
DHP_EXPORT int dhp_memory_snapshot_new(dhp *ctx, dhp_memory_snapshot **ret);
/* dhp_memory_snapshot_free - NULL is a no-op. */
DHP_EXPORT void dhp_memory_snapshot_free(dhp_memory_snapshot *s);
/* dhp_memory_snapshot_get_count - the number of devices (0 for NULL). */
DHP_EXPORT uint32_t dhp_memory_snapshot_get_count(const dhp_memory_snapshot *s);
/*
 * dhp_memory_snapshot_get_device - device `i`: physical base and size in
 * bytes, its number of blocks and how many of them are online (each
 * out-parameter may be NULL).  Returns 1 when the device has arrived
 * (every block online), 0 when not, -ERANGE past the last, -EINVAL.
 */
DHP_EXPORT int dhp_memory_snapshot_get_device(const dhp_memory_snapshot *s, uint32_t i, uint64_t *ret_base,
                                              uint64_t *ret_size, uint32_t *ret_nblocks,
                                              uint32_t *ret_online_blocks);
/*
 * dhp_memory_snapshot_get_block - block `k` of device `i`, in address
 * order: the kernel's block index (Linux: memoryN), its state and, for an
 * online block, its zone where dhp onlined it (else UNKNOWN).  Each
 * out-parameter may be NULL.  -ERANGE past the last device or block,
 * -EINVAL.
 */
DHP_EXPORT int dhp_memory_snapshot_get_block(const dhp_memory_snapshot *s, uint32_t i, uint32_t k,
                                             uint64_t *ret_index, dhp_memory_block_state *ret_state,
                                             dhp_memory_zone *ret_zone);

/* ------------------------------------------------------------------------ */
/* Synchronous processor notification (doc/model.md section 1)              */
/* ------------------------------------------------------------------------ */

typedef enum dhp_proc_change_state {
        DHP_PROC_ADD_START = 1,
        DHP_PROC_ADD_COMPLETE = 2,
        DHP_PROC_ADD_FAILURE = 3,
        /* Removal: only to registrations made with DHP_PROC_QUERY_REMOVE. */
        DHP_PROC_REMOVE_QUERY = 4,    /* may the processor go?  A veto keeps it */
        DHP_PROC_REMOVE_COMPLETE = 5, /* it is gone: nothing runs on it any more */
        DHP_PROC_REMOVE_CANCEL = 6,   /* it stays: undo what REMOVE_QUERY did */
} dhp_proc_change_state;

/* The context of one callback call; valid only during that call. */
typedef struct dhp_proc_change dhp_proc_change;

/* Accessors of the callback context: which call this is (ADD_START,
 * ADD_COMPLETE, ADD_FAILURE), the processor's index, and its number
 * (group, number).  They cannot fail. */
DHP_EXPORT dhp_proc_change_state dhp_proc_change_get_state(const dhp_proc_change *c);
DHP_EXPORT uint32_t dhp_proc_change_get_index(const dhp_proc_change *c);
DHP_EXPORT dhp_proc_number dhp_proc_change_get_number(const dhp_proc_change *c);
/* The status of the add: 0 during ADD_START until someone vetoes; on
 * ADD_FAILURE the reason (the first veto, or the platform's error).  The
 * same for a removal: REMOVE_QUERY and REMOVE_CANCEL (the veto, or the
 * platform's error from taking the processor offline). */
DHP_EXPORT int dhp_proc_change_get_status(const dhp_proc_change *c);
/* True on the REMOVE_COMPLETE of a removal the platform did on its own (the
 * kernel ejected the processor): no REMOVE_QUERY came before it. */
DHP_EXPORT bool dhp_proc_change_is_surprise(const dhp_proc_change *c);
/*
 * dhp_proc_change_veto - during ADD_START, fail the add with `error` (a
 * negative errno); during REMOVE_QUERY, keep the processor.  The status is
 * shared by all callbacks of the add and is
 * written only while it is still 0: the first veto wins, later ones are
 * ignored.  The remaining callbacks still receive ADD_START; then every
 * callback that received ADD_START (the vetoing one included) receives
 * ADD_FAILURE (for a removal: REMOVE_QUERY, then REMOVE_CANCEL).  Returns 0
 * when this veto set the status, -EALREADY when another one had, -EINVAL
 * when not in ADD_START or REMOVE_QUERY, or `error` >= 0.
 */
DHP_EXPORT int dhp_proc_change_veto(const dhp_proc_change *c, int error);

typedef void (*dhp_proc_cb)(void *userdata, const dhp_proc_change *change);

typedef struct dhp_proc_reg dhp_proc_reg;

/*
 * dhp_proc_change_get_reg - the registration this call is made for: the
 * handle dhp_proc_register() returns, given to the callback even where
 * dhp_proc_register() has not returned it yet (ADD_EXISTING calls, a live
 * add racing the registration), so that a callback can always deregister
 * itself (see dhp_proc_deregister()).  NULL only for a NULL context.
 */
DHP_EXPORT dhp_proc_reg *dhp_proc_change_get_reg(const dhp_proc_change *c);

enum {
        /* Also run the callback, before registration returns, for every
         * processor already admitted: ADD_START for each, then ADD_COMPLETE
         * for each.  A veto on processor k: no further ADD_START, each
         * processor that got ADD_START (not k) gets ADD_FAILURE, and the
         * registration fails with the veto's error. */
        DHP_PROC_ADD_EXISTING = 1u << 0,
        /* Also take part in processor removals: REMOVE_QUERY (may veto),
         * then REMOVE_COMPLETE or REMOVE_CANCEL; and REMOVE_COMPLETE alone
         * (is_surprise) when the platform removed one on its own.  Without
         * it a callback sees the ADD_* states only. */
        DHP_PROC_QUERY_REMOVE = 1u << 1,
};

/*
 * dhp_proc_register - register a synchronous processor callback.
 * Callbacks of one add run one at a time, in registration order, on the
 * thread running the hot-add.  `name` labels the registration in the
 * notification stream (NULL: the context's name).  On target "linux", and
 * through a dhpd on real hardware, the first synchronous registration
 * starts keeping the process's threads off processors not yet admitted
 * (see "CPU affinity" at dhp_open()).  Errors: -EINVAL, -ENOMEM, -EDEADLK
 * (from inside a synchronous callback, on every target), the veto error of
 * an ADD_EXISTING registration, -ECANCELED when the callback deregistered
 * its own registration during the ADD_EXISTING calls (then nothing is left
 * to deregister and *ret is not written); through dhpd also -EPERM (synchronous
 * registration needs root or dhpd's group, see dhp_strerror()), -ENOSPC
 * (dhpd's cap of registrations per client, 64 by default, synchronous and
 * arrival together) and -ECONNRESET.
 */
DHP_EXPORT int dhp_proc_register(dhp *ctx, const char *name, uint32_t flags,
                                 dhp_proc_cb cb, void *userdata, dhp_proc_reg **ret);

/*
 * dhp_proc_deregister - after it returns the callback is never called
 * again.  Called on another thread while a phase begun after the
 * registration runs (ADD_START, ADD_COMPLETE, ADD_FAILURE, REMOVE_QUERY,
 * REMOVE_COMPLETE, REMOVE_CANCEL: one call per registration, in order, the
 * removal phases also when it did not opt in; or its own ADD_EXISTING
 * calls), it waits for the end of that whole phase, not only for its own
 * call: a callback must therefore never wait for a thread that is
 * deregistering any registration of the phase it runs in (that deadlocks),
 * whether that registration was called before or after it.
 * Called from inside the callback itself (with dhp_proc_change_get_reg()),
 * it never waits, and the rest of that registration's phases is
 * skipped: deregistered in ADD_START, it gets no ADD_COMPLETE or
 * ADD_FAILURE for the add (a veto it made stands; the other registrations
 * get their second phase as usual); deregistered during its ADD_EXISTING
 * calls, it gets no further ADD_EXISTING call and dhp_proc_register()
 * returns -ECANCELED.  A registration is deregistered once: the handle is
 * freed, and a handle dhp_proc_register() returns after a racing add's
 * callback deregistered it must not be used.  NULL is a no-op.
 */
DHP_EXPORT void dhp_proc_deregister(dhp_proc_reg *reg);

/* ------------------------------------------------------------------------ */
/* Asynchronous arrival notification (doc/model.md section 2)               */
/* ------------------------------------------------------------------------ */

typedef enum dhp_class {
        DHP_CLASS_PROCESSOR = 1,
        DHP_CLASS_MEMORY = 2,
} dhp_class;

typedef enum dhp_event {
        DHP_EVENT_ARRIVAL = 1,
        DHP_EVENT_REMOVAL = 2,
        /* Memory removal: only to registrations made with
         * DHP_ARRIVAL_QUERY_REMOVE, on the thread carrying the removal out. */
        DHP_EVENT_QUERY_REMOVE = 3,  /* may the device go?  dhp_device_event_veto() */
        DHP_EVENT_REMOVE_CANCEL = 4, /* it stays (a veto, or a block refused) */
} dhp_event;

/* One arrival or removal; valid only during the callback. */
typedef struct dhp_device_event dhp_device_event;

/* Accessors of an arrival or removal: the device class (PROCESSOR or
 * MEMORY) and the event (ARRIVAL or REMOVAL).  They cannot fail. */
DHP_EXPORT dhp_class dhp_device_event_get_class(const dhp_device_event *e);
DHP_EXPORT dhp_event dhp_device_event_get_event(const dhp_device_event *e);
/* Symbolic device name: "cpu3", "memory@0x48000000", "virtio-mem:virtio2".
 * A REMOVAL names the device its ARRIVAL named. */
DHP_EXPORT const char *dhp_device_event_get_name(const dhp_device_event *e);
/* Processor events: index and number.  -EINVAL on a memory event. */
DHP_EXPORT int dhp_device_event_get_processor(const dhp_device_event *e, uint32_t *ret_index,
                                              dhp_proc_number *ret_number);
/* Memory events: physical base and size in bytes.  -EINVAL on a processor
 * event.  A virtio-mem device arrives and leaves step by step: each ARRIVAL
 * or REMOVAL carries the memory that came or went in one resize step (base:
 * the lowest address of it); INCLUDE_EXISTING reports its plugged size. */
DHP_EXPORT int dhp_device_event_get_memory(const dhp_device_event *e, uint64_t *ret_base,
                                           uint64_t *ret_size);
/* True when this arrival reports a device present at registration
 * (INCLUDE_EXISTING). */
DHP_EXPORT bool dhp_device_event_is_existing(const dhp_device_event *e);
/* True when this REMOVAL is one the platform did on its own (the kernel on
 * an ACPI eject, the virtio-mem driver shrinking): nobody was asked. */
DHP_EXPORT bool dhp_device_event_is_surprise(const dhp_device_event *e);
/*
 * dhp_device_event_veto - during QUERY_REMOVE, keep the device with `error`
 * (a negative errno).  The first veto wins; every queried callback still
 * gets QUERY_REMOVE, then REMOVE_CANCEL.  0, -EALREADY (another veto came
 * first), -EINVAL (not QUERY_REMOVE, or `error` >= 0).
 */
DHP_EXPORT int dhp_device_event_veto(const dhp_device_event *e, int error);
/* The removal's status: during QUERY_REMOVE 0 until a veto; on
 * REMOVE_CANCEL why (the veto, or the error of the block that refused to go
 * offline); 0 on other events. */
DHP_EXPORT int dhp_device_event_get_status(const dhp_device_event *e);

typedef void (*dhp_arrival_cb)(void *userdata, const dhp_device_event *event);

typedef struct dhp_arrival_reg dhp_arrival_reg;

/*
 * dhp_device_event_get_reg - the registration this event is delivered to:
 * the handle dhp_arrival_register() returns, given to the callback even
 * where it was delivered before dhp_arrival_register() returned (existing
 * devices, an arrival racing the registration), so that a callback can
 * always unregister itself.  NULL only for a NULL event.
 */
DHP_EXPORT dhp_arrival_reg *dhp_device_event_get_reg(const dhp_device_event *e);

enum {
        /* Also deliver ARRIVAL for every device of the class already present
         * (a processor: admitted; memory: every block online).  A device
         * that arrives while registering may be reported twice, never more. */
        DHP_ARRIVAL_INCLUDE_EXISTING = 1u << 0,
        /* Memory only: also receive QUERY_REMOVE before a removal dhp carries
         * out (dhp_memory_remove()), synchronously on the removing thread
         * (as a client of dhpd: on the connection thread, within dhpd's
         * [sync] deadline), and REMOVE_CANCEL when it does not happen.
         * -EINVAL for processors: they use DHP_PROC_QUERY_REMOVE.  As a
         * client of dhpd it needs dhpd's permission (-EPERM). */
        DHP_ARRIVAL_QUERY_REMOVE = 1u << 1,
};

/*
 * dhp_arrival_register - register for ARRIVAL and REMOVAL of a device
 * class.  Delivered on the notification thread (dhp_process() or the
 * context's own), never inside the hot-add transaction; a processor's
 * arrival only after its ADD_COMPLETE, a memory device's only once every
 * block of it is online.  Errors: -EINVAL, -ENOMEM, -EDEADLK (from inside a
 * synchronous callback, on every target); through dhpd also -ENOSPC
 * (dhpd's cap of registrations per client, 64 by default, synchronous and
 * arrival together) and -ECONNRESET.
 */
DHP_EXPORT int dhp_arrival_register(dhp *ctx, const char *name, dhp_class cls, uint32_t flags,
                                    dhp_arrival_cb cb, void *userdata, dhp_arrival_reg **ret);

/* dhp_arrival_unregister - no callback after it returns.  Called on
 * another thread, it waits for the event the delivering thread is running,
 * whichever registration it is being delivered to at that moment (so an
 * arrival callback must never wait for a thread that is unregistering an
 * arrival registration: that deadlocks), and for a memory removal's
 * QUERY_REMOVE or REMOVE_CANCEL call of this registration in progress
 * (that call only, not the other registrations' of the query).  It may be
 * called from inside the callback
 * (dhp_device_event_get_reg()), never waiting there: the events still
 * queued for that registration, existing ones included, are then not
 * delivered.  The handle is freed; unregister a registration once.  NULL
 * is a no-op. */
DHP_EXPORT void dhp_arrival_unregister(dhp_arrival_reg *reg);

/* ------------------------------------------------------------------------ */
/* Removal (dhp's extension; doc/model.md "Removal")                        */
/* ------------------------------------------------------------------------ */

/*
 * dhp_proc_remove - take admitted processor `index` away: REMOVE_QUERY to
 * the registrations that opted in; unless one vetoes, the processor leaves
 * the managed sets and the client threads' masks, goes offline,
 * REMOVE_COMPLETE follows, and every processor arrival registration gets
 * REMOVAL.  Runs on the calling thread (target "sim", "linux") or in dhpd
 * (needs its permission).  Returns 0 when removed; 1 when it stays (a veto,
 * or the platform could not take it offline: it is admitted again), with
 * the reason in *ret_status when not NULL.  Errors: -ENODEV (not an
 * admitted processor), -ERANGE, -EBUSY (it is the last admitted processor),
 * -EDEADLK (from a synchronous callback), -EPERM.
 */
DHP_EXPORT int dhp_proc_remove(dhp *ctx, uint32_t index, int *ret_status);

/*
 * dhp_memory_remove - take memory device `name` ("memory@0x...") away: QUERY_REMOVE to
 * the memory arrival registrations that opted in, then each block offline
 * (EBUSY retried a bounded number of times); if a block cannot go offline
 * the blocks offlined so far are onlined again and REMOVE_CANCEL goes to the
 * queried registrations.  Else REMOVAL to every memory arrival registration
 * and the memory conditions are re-evaluated.  Returns 0, or 1 with
 * *ret_status as dhp_proc_remove().  Errors: -ENOENT (no such device, or it
 * has not arrived), -EOPNOTSUPP (a virtio-mem device: its size is changed
 * from the host, and each step is reported), -EINVAL, -EDEADLK, -EPERM.
 */
DHP_EXPORT int dhp_memory_remove(dhp *ctx, const char *name, int *ret_status);

/* ------------------------------------------------------------------------ */
/* The notification stream (what `dhpctl demo` and `monitor` print)         */
/* ------------------------------------------------------------------------ */

/* One notification as it is delivered; valid only during the callback.
 * Format it with dhp_record_format(). */
typedef struct dhp_record dhp_record;

/* The record's place in the stream: its sequence number, from 1, in the
 * order records are produced. */
DHP_EXPORT uint64_t dhp_record_get_seq(const dhp_record *r);
/* Nanoseconds since the context was opened (for a "unix:" context, since
 * dhpd started): the monotonic clock, for intervals. */
DHP_EXPORT uint64_t dhp_record_get_time(const dhp_record *r);
/* Wall-clock time when the record was made: CLOCK_REALTIME in nanoseconds
 * since the Unix epoch, to match it with other logs; 0 when unknown (a
 * record from a dhpd older than protocol 1.3). */
DHP_EXPORT uint64_t dhp_record_get_realtime(const dhp_record *r);
/* "sync", "async", "memcond", "rebalance", "txn" */
DHP_EXPORT const char *dhp_record_get_method(const dhp_record *r);
/* "ADD_START", "ADD_COMPLETE", "ADD_FAILURE", "ARRIVAL", "REMOVAL", ... */
DHP_EXPORT const char *dhp_record_get_event(const dhp_record *r);

typedef enum dhp_record_format_kind {
        DHP_RECORD_JSON = 1, /* one JSON object, no newline */
        DHP_RECORD_TEXT = 2, /* one readable timeline line, no newline */
} dhp_record_format_kind;

/*
 * dhp_record_format - write the record into buf (always NUL-terminated when
 * size > 0).  Returns the length it needed, like snprintf; a return >= size
 * means it was cut.
 */
DHP_EXPORT int dhp_record_format(const dhp_record *r, dhp_record_format_kind kind, char *buf,
                                 size_t size);

typedef void (*dhp_monitor_cb)(void *userdata, const dhp_record *record);
typedef struct dhp_monitor dhp_monitor;

/*
 * dhp_monitor_add - receive every record of the stream, on the thread that
 * produced it (the hot-add thread for sync records, the notification thread
 * for async ones), serialised: one record at a time, in seq order.  The
 * callback must not call back into the context.  -EDEADLK from inside a
 * synchronous callback.  A monitor never changes a thread's affinity.
 */
DHP_EXPORT int dhp_monitor_add(dhp *ctx, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret);
DHP_EXPORT void dhp_monitor_remove(dhp_monitor *m);

/* ------------------------------------------------------------------------ */
/* Resource rebalance (doc/model.md section 4, doc/rebalance.md)            */
/* ------------------------------------------------------------------------ */

/*
 * After a processor is admitted and ADD_COMPLETE and its ARRIVAL were
 * delivered, the notification thread rebalances the devices registered
 * here so that their interrupts can target the new processor.  Devices are
 * rebalanced one at a time, in creation order.  For each participating
 * device whose affinity changes:
 *
 *   QUERY_STOP  top down      a driver starts holding new I/O; nonzero is
 *                             a refusal: the drivers below are not asked,
 *                             CANCEL_STOP goes to the whole stack, bottom
 *                             up (the refusing driver and those never
 *                             asked included: a CANCEL_STOP without a
 *                             QUERY_STOP of one's own is a no-op), and the
 *                             device keeps its old resources for this
 *                             rebalance
 *   STOP        top down      drain in-flight I/O, release resources;
 *                             nonzero is a driver bug: recorded, ignored
 *   START       bottom up     reconnect with the new affinity, release the
 *                             held I/O; nonzero is recorded
 *
 * Memory hot-add never rebalances.  Every request appears in the stream as
 * a record of method "rebalance".
 */

typedef struct dhp_device dhp_device;
typedef struct dhp_driver dhp_driver;

/* Setup classes with a meaning to dhp; any other text is a class too.
 * Compared without regard to case. */
#define DHP_SETUP_CLASS_NET "Net"
#define DHP_SETUP_CLASS_STORAGE "Storage"
#define DHP_SETUP_CLASS_DISPLAY "Display"
#define DHP_SETUP_CLASS_SYSTEM "System"

/* The device property DHP_Rebalance_Policy. */
typedef enum dhp_rebalance_policy {
        DHP_REBALANCE_POLICY_ABSENT = 0,      /* the class opt-out decides */
        DHP_REBALANCE_POLICY_DO_NOT = 1,      /* never rebalanced */
        DHP_REBALANCE_POLICY_PARTICIPATE = 2, /* rebalanced, whatever the class */
} dhp_rebalance_policy;

/* Which processors a device's interrupt targets after a rebalance. */
typedef enum dhp_affinity_policy {
        DHP_AFFINITY_ALL = 0,         /* every admitted processor (default) */
        DHP_AFFINITY_SPREAD = 1,      /* one processor; the SPREAD devices are
                                       * dealt round robin, in creation order,
                                       * over the admitted processors */
        DHP_AFFINITY_ONE_PER_CPU = 2, /* one vector per admitted processor:
                                       * every admitted processor, and
                                       * dhp_rebalance_ctx_get_vectors() says
                                       * how many vectors to connect */
        DHP_AFFINITY_KEEP = 3,        /* keep the mask set with
                                       * dhp_device_set_affinity(): such a
                                       * device is never stopped */
} dhp_affinity_policy;

typedef enum dhp_rebalance_request {
        DHP_REBALANCE_QUERY_STOP = 1,
        DHP_REBALANCE_CANCEL_STOP = 2,
        DHP_REBALANCE_STOP = 3,
        DHP_REBALANCE_START = 4,
} dhp_rebalance_request;

/* The context of one driver request; valid only during the handler. */
typedef struct dhp_rebalance_ctx dhp_rebalance_ctx;

/* The request (QUERY_STOP, CANCEL_STOP, STOP, START) and the device it is
 * for.  They cannot fail. */
DHP_EXPORT dhp_rebalance_request dhp_rebalance_ctx_get_request(const dhp_rebalance_ctx *c);
DHP_EXPORT dhp_device *dhp_rebalance_ctx_get_device(const dhp_rebalance_ctx *c);
/* The processor whose add started this rebalance. */
DHP_EXPORT uint32_t dhp_rebalance_ctx_get_processor(const dhp_rebalance_ctx *c);
/* The interrupt affinity before and after, as kernel CPU lists ("0-3,8"),
 * the form /proc/irq/N/smp_affinity_list takes.  Both are known from
 * QUERY_STOP on; the new one is in effect from START. */
DHP_EXPORT const char *dhp_rebalance_ctx_get_old_affinity(const dhp_rebalance_ctx *c);
DHP_EXPORT const char *dhp_rebalance_ctx_get_new_affinity(const dhp_rebalance_ctx *c);
/* Vectors to connect at START: the number of processors for
 * DHP_AFFINITY_ONE_PER_CPU, else 1. */
DHP_EXPORT uint32_t dhp_rebalance_ctx_get_vectors(const dhp_rebalance_ctx *c);

/* A driver's handler.  Returns 0, or a negative errno: from QUERY_STOP a
 * refusal, from STOP a bug (recorded, the sequence goes on), from START a
 * failure to restart (recorded).  CANCEL_STOP's return is recorded only. */
typedef int (*dhp_driver_cb)(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c);

/*
 * dhp_device_new - register a device named `name` (unique in the context)
 * of setup class `setup_class` ("Net", "Storage", ... or free text), with
 * no driver, no policy property, DHP_AFFINITY_ALL and an interrupt affinity
 * of every processor admitted now.  Errors: -EINVAL (NULL, empty or longer
 * than 63 bytes), -EEXIST (name taken), -ENOMEM.
 */
DHP_EXPORT int dhp_device_new(dhp *ctx, const char *name, const char *setup_class, dhp_device **ret);
/*
 * dhp_device_free - unregister the device and detach its drivers.  Waits
 * for a rebalance of this device running on another thread; called from one
 * of its own handlers it does not wait, and the device is freed when its
 * sequence ends.  NULL is a no-op.  Devices left are freed by dhp_close().
 */
DHP_EXPORT void dhp_device_free(dhp_device *dev);
DHP_EXPORT const char *dhp_device_get_name(const dhp_device *dev);
DHP_EXPORT const char *dhp_device_get_setup_class(const dhp_device *dev);
/* Set or clear (DHP_REBALANCE_POLICY_ABSENT) the DHP_Rebalance_Policy
 * property; when set it wins over the class opt-out.  -EINVAL otherwise. */
DHP_EXPORT int dhp_device_set_policy(dhp_device *dev, dhp_rebalance_policy policy);
/* 1 when the next rebalance would include the device, 0 when not. */
DHP_EXPORT int dhp_device_participates(dhp_device *dev);
DHP_EXPORT int dhp_device_set_affinity_policy(dhp_device *dev, dhp_affinity_policy policy);
/* Set the current interrupt affinity from a CPU list.  -EINVAL (malformed
 * or empty), -ERANGE, -ENOMEM; -EBUSY while the device is being
 * rebalanced. */
DHP_EXPORT int dhp_device_set_affinity(dhp_device *dev, const char *cpulist);
/* The current interrupt affinity as a malloc'ed CPU list the caller frees. */
DHP_EXPORT int dhp_device_get_affinity(dhp_device *dev, char **ret_cpulist);
/* 1 when `cpu` is in the current interrupt affinity, 0 when not. */
DHP_EXPORT int dhp_device_affinity_has(dhp_device *dev, uint32_t cpu);
/* How long the device was stopped (first QUERY_STOP to last START) in its
 * last rebalance and at most; 0 when never stopped. */
DHP_EXPORT int dhp_device_get_stopped_ns(dhp_device *dev, uint64_t *ret_last, uint64_t *ret_max);

/*
 * dhp_setup_class_set_optout - the class opt-out of `setup_class`: true
 * keeps devices of the class without a policy property out of rebalances.
 * Defaults: true for "Net", false for every other class.  Errors: -EINVAL,
 * -ENOMEM.  dhp_setup_class_get_optout reads it.
 */
DHP_EXPORT int dhp_setup_class_set_optout(dhp *ctx, const char *setup_class, bool optout);
DHP_EXPORT int dhp_setup_class_get_optout(dhp *ctx, const char *setup_class, bool *ret_optout);

/*
 * dhp_driver_attach - push a driver on top of the device's stack.  `name`
 * labels it in the stream.  Handlers run on the notification thread, one at
 * a time.  A driver attached while its device is being rebalanced takes
 * part from the next rebalance on.  Errors: -EINVAL, -ENOMEM, -ENOSPC (64
 * drivers already).
 */
DHP_EXPORT int dhp_driver_attach(dhp_device *dev, const char *name, dhp_driver_cb cb, void *userdata,
                                 dhp_driver **ret);
/* dhp_driver_attach_at - the same at `level` counted from the bottom (0:
 * below every driver); a level past the top pushes on top. */
DHP_EXPORT int dhp_driver_attach_at(dhp_device *dev, uint32_t level, const char *name, dhp_driver_cb cb,
                                    void *userdata, dhp_driver **ret);
/*
 * dhp_driver_detach - remove the driver; no handler call after it returns.
 * Waits for a rebalance of its device on another thread.  -EBUSY from a
 * handler of the same device (a stack cannot change under its own
 * sequence).  NULL: 0.
 */
DHP_EXPORT int dhp_driver_detach(dhp_driver *drv);

/* ------------------------------------------------------------------------ */
/* Held I/O, for drivers (doc/rebalance.md, "The I/O queue")                */
/* ------------------------------------------------------------------------ */

/*
 * A dhp_ioq stands between a driver's submitters and its hardware.  While
 * running, dhp_ioq_submit() dispatches at once: it calls `process` on the
 * submitting thread and the request is in flight until dhp_ioq_complete().
 * From dhp_ioq_hold() (QUERY_STOP) on, submissions are held in order;
 * dhp_ioq_drain() (STOP) waits for the in-flight ones; dhp_ioq_release()
 * (START or CANCEL_STOP) dispatches the held ones, in order, on the
 * releasing thread, then runs again.  Nothing is lost, duplicated or
 * reordered: requests of one submitting thread are processed in the order
 * it submitted them.  Submit and complete may be called from any number of
 * threads; hold, drain and release from one controlling thread.
 */
typedef struct dhp_ioq dhp_ioq;
typedef void (*dhp_ioq_process_fn)(void *userdata, void *request);

enum {
        DHP_IOQ_DISPATCHED = 0, /* dhp_ioq_submit: processed on this thread */
        DHP_IOQ_HELD = 1,       /* dhp_ioq_submit: held until release */
};

typedef enum dhp_ioq_stat {
        DHP_IOQ_STAT_SUBMITTED = 1, /* accepted by submit */
        DHP_IOQ_STAT_DISPATCHED,    /* handed to process */
        DHP_IOQ_STAT_COMPLETED,     /* dhp_ioq_complete calls */
        DHP_IOQ_STAT_INFLIGHT,      /* dispatched, not completed */
        DHP_IOQ_STAT_HELD,          /* ever held */
        DHP_IOQ_STAT_PENDING,       /* held now */
        DHP_IOQ_STAT_HOLDS,         /* hold/release cycles completed */
        DHP_IOQ_STAT_HOLD_NS_LAST,  /* hold to release, the last cycle */
        DHP_IOQ_STAT_HOLD_NS_MAX,
        DHP_IOQ_STAT_HOLD_NS_TOTAL,
} dhp_ioq_stat;

/* dhp_ioq_new - a running queue.  -EINVAL (no process), -ENOMEM. */
DHP_EXPORT int dhp_ioq_new(dhp_ioq **ret, dhp_ioq_process_fn process, void *userdata);
/* dhp_ioq_free - held requests are not processed: release first.  NULL is
 * a no-op. */
DHP_EXPORT void dhp_ioq_free(dhp_ioq *q);
/*
 * dhp_ioq_submit - DHP_IOQ_DISPATCHED when processed (process has
 * returned), DHP_IOQ_HELD when held.  The one time it blocks: while
 * dhp_ioq_release() runs on another thread it waits for it to finish, then
 * dispatches (from the releasing thread itself, i.e. from process, it
 * queues).  -ENOBUFS past 1M held requests,
 * -ENOMEM; on an error the request was not taken and stays the caller's.
 */
DHP_EXPORT int dhp_ioq_submit(dhp_ioq *q, void *request);
/* dhp_ioq_complete - a dispatched request is done (the request is not
 * inspected; it names the request for readers of the driver). */
DHP_EXPORT void dhp_ioq_complete(dhp_ioq *q, void *request);
/* dhp_ioq_hold - hold new submissions from now on.  -EALREADY when held. */
DHP_EXPORT int dhp_ioq_hold(dhp_ioq *q);
/* dhp_ioq_drain - wait up to timeout_ms (-1: forever) until no request is
 * in flight.  0, or -ETIMEDOUT. */
DHP_EXPORT int dhp_ioq_drain(dhp_ioq *q, int timeout_ms);
/* dhp_ioq_release - dispatch the held requests in order on this thread
 * (and those process() submits meanwhile), then run.  Returns how many it
 * dispatched (0 when not held). */
DHP_EXPORT int dhp_ioq_release(dhp_ioq *q);
DHP_EXPORT int dhp_ioq_get_stat(dhp_ioq *q, dhp_ioq_stat which, uint64_t *ret);

/* ------------------------------------------------------------------------ */
/* Simulated platform control (target "sim"; -EOPNOTSUPP elsewhere)         */
/* ------------------------------------------------------------------------ */

/*
 * Through a dhpd run with --platform sim the same calls act on dhpd's
 * simulated partition (they need root or dhpd's group: -EPERM); a dhpd on
 * real hardware refuses them with -EOPNOTSUPP.  Every one fails with
 * -EDEADLK from inside a synchronous callback, on every target.
 */

/*
 * dhp_sim_cpu_add - hot-add one processor into the first absent slot and
 * run its transaction on the calling thread (synchronous callbacks run
 * here).  Returns 0 when the processor was admitted, 1 when the add was
 * vetoed (the processor is offline again); ret_index gets the slot either
 * way.  -ENOSPC when every slot is used.  A negative errno of the platform's
 * processor start (e.g. -EIO after a scenario's `fail cpu-start EIO`): the
 * processor stays present and not started, no callback ran, ret_index is
 * not written; dhp_proc_online() on its slot (the first absent one before
 * the call) tries again.
 */
DHP_EXPORT int dhp_sim_cpu_add(dhp *ctx, uint32_t *ret_index);

/*
 * dhp_sim_memory_add - hot-add a memory device of `size` bytes (a multiple
 * of the block size) at the next free physical address, online its blocks
 * and queue its arrival.  -EINVAL for a bad size, -ENOSPC past maxmem.
 */
DHP_EXPORT int dhp_sim_memory_add(dhp *ctx, uint64_t size, uint64_t *ret_base);

/*
 * dhp_sim_cpu_surprise_remove - (target "sim") the simulated hardware takes
 * processor `index` away on its own, as the kernel does on an ACPI eject:
 * no query; REMOVE_COMPLETE (surprise) to the opted-in registrations and
 * REMOVAL (surprise) to every processor arrival registration.  From inside
 * a removal's REMOVE_QUERY the processor vanishes under it: that removal
 * completes, flagged surprise.  -ENODEV when not present.
 */
DHP_EXPORT int dhp_sim_cpu_surprise_remove(dhp *ctx, uint32_t index);

/*
 * dhp_sim_run_scenario - parse a scenario (the whole text first: a bad line
 * runs nothing), check it against the partition (each `memory add` size a
 * multiple of its block size: "FILE:LINE:COL: memory add: 100 MiB is not a
 * multiple of the 128 MiB block size"; also before any line runs) and run
 * it.  On a parse or check error returns -EINVAL and, when ret_error is not
 * NULL, a malloc'ed "FILE:LINE:COL: message" the caller frees.  An error
 * of a line that ran (e.g. "FILE:LINE: cpu add: No space left on device")
 * stops the run there.  `filename` only labels messages.
 */
DHP_EXPORT int dhp_sim_run_scenario(dhp *ctx, const char *filename, const char *text,
                                    char **ret_error);

/*
 * dhp_sim_check_scenario - parse a scenario without running it.  0 when
 * valid; -EINVAL and *ret_error as for dhp_sim_run_scenario.  Needs no
 * context, so it checks no size against a partition's block size (the
 * run does, before its first line).
 */
DHP_EXPORT int dhp_sim_check_scenario(const char *filename, const char *text, char **ret_error);
/* ------------------------------------------------------------------------ */
/* Limits: the partition resized in place (target "cgroup")                 */
/* ------------------------------------------------------------------------ */

/* A snapshot of the limits; see dhp_limits_register(). */
typedef struct dhp_limits dhp_limits;
typedef struct dhp_limits_reg dhp_limits_reg;

typedef enum dhp_limits_changed {
        DHP_LIMITS_CPUS = 1u << 0,        /* the effective CPU set */
        DHP_LIMITS_BANDWIDTH = 1u << 1,   /* cpu.max quota or period */
        DHP_LIMITS_POOL_SIZE = 1u << 2,   /* the pool size figure */
        DHP_LIMITS_MEMORY_MAX = 1u << 3,
        DHP_LIMITS_MEMORY_HIGH = 1u << 4,
        DHP_LIMITS_POPULATED = 1u << 5,   /* cgroup.events "populated" */
        DHP_LIMITS_REMOVED = 1u << 6,     /* the cgroup is gone: the last one */
} dhp_limits_changed;

/* "No limit" for a quota or a memory limit. */
#define DHP_LIMITS_UNLIMITED UINT64_MAX

typedef void (*dhp_limits_cb)(void *userdata, const dhp_limits *limits);

/*
 * dhp_limits_register - be told of the limits now and of every change.
 * flags must be 0.  The snapshot is valid during the callback only.
 * Errors: -EINVAL, -ENOMEM, -EOPNOTSUPP on a target without limits (every
 * target but "cgroup"), -ECHILD in a child after fork() (see dhp_open()).
 *
 * What a cgroup lets its processes use, as one snapshot: the CPUs (the
 * effective set), the CPU bandwidth (the tightest cpu.max of the cgroup and
 * its ancestors), the worker pool size an application should use, and the
 * memory limits (the tightest memory.max and memory.high).  The pool size
 * is Go 1.25's default GOMAXPROCS rule: min(CPUs, max(2, ceil(quota /
 * period))), the CPU count when unlimited, at least 1.
 *
 * Delivered on the notification thread (dhp_process() or the context's
 * own): once at registration (changed: every bit but REMOVED), then once
 * per change the watcher detects, each with a sequence number one above
 * the last (a change of several values at once is one notification) and
 * the mask of what changed.  For a change of the CPU set, the processor
 * REMOVAL and ARRIVAL events come first.
 *
 * How fast: a write to cpu.max, cpuset.cpus, memory.max or memory.high of
 * the cgroup or of an ancestor notifies (inotify) and is told within
 * milliseconds (a write to an ancestor's cpuset.cpus re-reads the
 * effective set); an effective CPU set the kernel recomputes on its own (a
 * CPU going offline or online) notifies nothing and is found by the
 * re-read timer, within its period (option interval=, default 1 s).
 */
DHP_EXPORT int dhp_limits_register(dhp *ctx, const char *name, uint32_t flags, dhp_limits_cb cb,
                                   void *userdata, dhp_limits_reg **ret);

/* dhp_limits_unregister - no callback after it returns (it waits for one
 * running on another thread); may be called from inside the callback.  The
 * handle is freed.  NULL is a no-op.  Registrations left at dhp_close()
 * are freed by it. */
DHP_EXPORT void dhp_limits_unregister(dhp_limits_reg *reg);

/* dhp_limits_get - a copy of the current limits, freed with
 * dhp_limits_free().  Errors: -EINVAL, -ENOMEM, -EOPNOTSUPP, -ECHILD (as
 * above). */
DHP_EXPORT int dhp_limits_get(dhp *ctx, dhp_limits **ret);
DHP_EXPORT void dhp_limits_free(dhp_limits *limits);

/* Accessors; they cannot fail. */
/* 1 for the first snapshot, one more per change. */
DHP_EXPORT uint64_t dhp_limits_get_seq(const dhp_limits *limits);
/* dhp_limits_changed bits against the previous snapshot. */
DHP_EXPORT uint32_t dhp_limits_get_changed(const dhp_limits *limits);
/* The CPUs in the kernel's list format, "0-3,8". */
DHP_EXPORT const char *dhp_limits_get_cpus(const dhp_limits *limits);
DHP_EXPORT uint32_t dhp_limits_get_cpu_count(const dhp_limits *limits);
DHP_EXPORT bool dhp_limits_has_cpu(const dhp_limits *limits, uint32_t cpu);
/* The tightest cpu.max in microseconds; quota DHP_LIMITS_UNLIMITED for
 * "max" at every level. */
DHP_EXPORT void dhp_limits_get_cpu_max(const dhp_limits *limits, uint64_t *ret_quota, uint64_t *ret_period);
/* quota / period, in CPUs; negative when unlimited. */
DHP_EXPORT double dhp_limits_get_bandwidth(const dhp_limits *limits);
/* The number of workers to run: see above.  At least 1. */
DHP_EXPORT uint32_t dhp_limits_get_pool_size(const dhp_limits *limits);
/* Bytes; DHP_LIMITS_UNLIMITED when no level sets one. */
DHP_EXPORT uint64_t dhp_limits_get_memory_max(const dhp_limits *limits);
DHP_EXPORT uint64_t dhp_limits_get_memory_high(const dhp_limits *limits);
/* The cgroup's own usage when the snapshot was taken (0 if unknown); its
 * changes alone are not notified (see the memory conditions). */
DHP_EXPORT uint64_t dhp_limits_get_memory_current(const dhp_limits *limits);
/* Whether a process lives in the cgroup or below (cgroup.events). */
DHP_EXPORT bool dhp_limits_is_populated(const dhp_limits *limits);

/* ------------------------------------------------------------------------ */
/* Memory condition events (doc/model.md section 3, doc/memcond.md)         */
/* ------------------------------------------------------------------------ */

/*
 * Five standard named notification (manual-reset) events.  Each is set when
 * its condition starts to hold, wakes every waiter when it is set, and is
 * cleared once the level has moved back past its threshold by the
 * hysteresis margin (so a level jittering around a threshold flips the
 * event once, not at every sample):
 *
 *   event                     set when               cleared when
 *   "HighMemoryCondition"     available > high       available <= high - margin
 *   "LowMemoryCondition"      available < low        available >= low + margin
 *   "LowCommitCondition"      charge < low_commit %  charge >= low_commit + cm %
 *   "HighCommitCondition"     charge > high_commit % charge <= high_commit - cm %
 *   "MaximumCommitCondition"  charge >= max_commit % charge < max_commit - cm %
 *
 * The memory margin is max(low/16, 1 MiB) by default, or the configured
 * `margin` (dhp_memcond_configure()), at most (high - low)/4 so that both
 * memory events are never set at once; the commit margin `cm` is one
 * percentage point by default, or the configured `commit_margin`.  With
 * margin=0 and commit_margin=0 each event is cleared as soon as its
 * condition stops holding (the exact model).  An event that was clear is
 * never set between the low and the high threshold; one already set stays
 * set within its margin.
 * Every set and clear is also a record of the notification stream (method
 * "memcond", event "SET" or "CLEAR", with "condition" and "available").
 *
 * HighMemoryCondition is set for many reasons besides hot-add (a process
 * exited, the page cache shrank).  To learn of hot-added memory, register
 * for arrival notification of DHP_CLASS_MEMORY instead.
 *
 * The events are re-evaluated whenever the platform reports new levels, at
 * every memory online or offline (after the memory's ARRIVAL, on the
 * notification thread: dhp_process() or the context's own), and on a slow
 * fallback timer where the platform needs one (see
 * dhp_memcond_next_timeout_ms()).
 */
typedef struct dhp_memcond dhp_memcond;

/*
 * dhp_memcond_open - open one of the standard events by name.  Each handle
 * has its own file descriptor (dhp_memcond_get_fd()).  Errors: -ENOENT for
 * a name that is not one of the five above (names are case-sensitive),
 * -EINVAL, -ENOMEM, -EMFILE/-ENFILE (no descriptor left).
 */
DHP_EXPORT int dhp_memcond_open(dhp *ctx, const char *name, dhp_memcond **ret);

/* dhp_memcond_close - free the handle and its descriptor.  Not while
 * another thread waits on it.  NULL is a no-op.  Handles still open at
 * dhp_close() are freed by it. */
DHP_EXPORT void dhp_memcond_close(dhp_memcond *ev);

/* dhp_memcond_get_name - the event's standard name. */
DHP_EXPORT const char *dhp_memcond_get_name(const dhp_memcond *ev);

/*
 * dhp_memcond_is_set - true while the event is set: from when its
 * condition starts to hold (HighMemory: available > high; LowMemory:
 * available < low; LowCommit: charge < low_commit %; HighCommit: charge >
 * high_commit %; MaximumCommit: charge >= max_commit %) until the level has
 * moved back past the threshold by the hysteresis margin: the memory
 * margin (default max(low/16, 1 MiB), at most (high - low)/4) or the commit
 * margin (default one percentage point), both set with
 * dhp_memcond_configure() (keys margin, commit_margin).  With both margins
 * 0 it is true exactly while the condition holds, and neither memory event
 * is set between the low and the high threshold; with a margin, an event
 * that was clear is never set there, one already set stays set within its
 * margin.
 */
DHP_EXPORT bool dhp_memcond_is_set(const dhp_memcond *ev);

/*
 * dhp_memcond_wait - wait up to timeout_ms (-1: forever, 0: just test) for
 * the event to be set.  Returns 1 when it is set, or was set since the call
 * began (a set then a quick clear still wakes every waiter), 0 on timeout,
 * -EINVAL.
 */
DHP_EXPORT int dhp_memcond_wait(dhp_memcond *ev, int timeout_ms);

/*
 * dhp_memcond_get_fd - a descriptor that is readable (POLLIN) exactly
 * while the event is set: level-triggered, for any poll loop.  Owned by the
 * handle.  Poll it, never read it: the library fills it when the event is
 * set and drains it when the event is cleared.
 */
DHP_EXPORT int dhp_memcond_get_fd(const dhp_memcond *ev);

typedef enum dhp_memcond_threshold {
        /* Bytes of available memory.  Default: total/128 (32 MiB per
         * 4 GiB), at most 64 MiB, recomputed when the total changes. */
        DHP_MEMCOND_LOW_MEMORY = 1,
        /* Bytes.  Default: three times the low threshold. */
        DHP_MEMCOND_HIGH_MEMORY = 2,
        /* Percent of the commit limit.  Defaults 50, 90 and 100. */
        DHP_MEMCOND_LOW_COMMIT = 3,
        DHP_MEMCOND_HIGH_COMMIT = 4,
        DHP_MEMCOND_MAXIMUM_COMMIT = 5,
} dhp_memcond_threshold;

/*
 * dhp_memcond_set_threshold - override one threshold; it is no longer
 * recomputed when memory is added.  Memory thresholds are 4 KiB to 1 EiB;
 * commit thresholds 1 to 1000 percent.  The thresholds in force after the
 * change must keep low < high (memory) and low_commit < high_commit <
 * max_commit; to move several at once use dhp_memcond_configure().
 * Errors: -EINVAL, with a malloc'ed message the caller frees in
 * *ret_error when ret_error is not NULL (zero, out of range, or out of
 * order with the others).  The events are re-evaluated at once.
 */
DHP_EXPORT int dhp_memcond_set_threshold(dhp *ctx, dhp_memcond_threshold which, uint64_t value,
                                         char **ret_error);

/* dhp_memcond_get_threshold - the threshold in force (overridden or
 * default); 0 for a memory threshold while the total memory is unknown. */
DHP_EXPORT int dhp_memcond_get_threshold(dhp *ctx, dhp_memcond_threshold which, uint64_t *ret_value);

/*
 * dhp_memcond_configure - apply a comma list of KEY=VALUE, all or nothing:
 * low=SIZE, high=SIZE, low_commit=N%, high_commit=N%, max_commit=N%,
 * interval=DURATION (the fallback timer), margin=SIZE (the memory events'
 * hysteresis margin, 0 for none, capped at (high - low)/4),
 * commit_margin=N% (the commit events', percentage points from 0, below
 * low_commit); VALUE "default" returns a key to its default.  The
 * scenario's `memory thresholds` takes the same keys.
 * Errors: -EINVAL with *ret_error as for dhp_memcond_set_threshold(),
 * -ENOMEM.
 */
DHP_EXPORT int dhp_memcond_configure(dhp *ctx, const char *spec, char **ret_error);

/*
 * dhp_memcond_next_timeout_ms - for a context without its own notification
 * thread: the poll timeout to use with dhp_get_fd() (-1: none needed, the
 * platform reports every change), after which dhp_process() runs the
 * fallback re-evaluation.  The context's own thread does this by itself.
 */
DHP_EXPORT int dhp_memcond_next_timeout_ms(dhp *ctx);

/* Keep a level unchanged in dhp_sim_memory_set_levels(). */
#define DHP_SIM_LEVEL_KEEP UINT64_MAX

/*
 * dhp_sim_memory_set_levels - (target "sim") set what the simulated
 * /proc/meminfo says, in bytes: MemTotal, MemAvailable, Committed_AS,
 * CommitLimit; DHP_SIM_LEVEL_KEEP keeps a value.  The events are
 * re-evaluated at once, on the calling thread.  At open the sim has 3/4 of
 * its memory available and no commit figures (commit events clear); memory
 * hot-add adds to total and available.  Through a sim dhpd the levels are
 * dhpd's and this process's events follow dhpd's state (current when the
 * call returns, unless a memory arrival is still queued here).  Errors:
 * -EINVAL (available above total), -EOPNOTSUPP on target "linux" or a
 * dhpd on real hardware, -EPERM through dhpd without its permission.
 */
DHP_EXPORT int dhp_sim_memory_set_levels(dhp *ctx, uint64_t total, uint64_t available, uint64_t commit_charge,
                                         uint64_t commit_limit);

#ifdef __cplusplus
}
#endif

#endif
