/* SPDX-License-Identifier: MIT */
/*
 * dhp.h - Dynamic Hardware Partitioning hot-add notifications for Linux.
 *
 * One header, opaque handles.  Every function that can fail returns 0 (or a
 * small positive value where documented) on success and a negative errno on
 * failure; ret_ outputs are written only on success.  Every *_free / *_unref
 * accepts NULL.  The library never prints.
 *
 * The model is in MODEL.md: synchronous processor notification (ADD_START,
 * then ADD_COMPLETE or ADD_FAILURE), asynchronous arrival notification for
 * processors and memory, and the order of a hot-add transaction:
 *
 *   ADD_START (all) -> processor admitted -> ADD_COMPLETE (all)
 *     -> ARRIVAL (PROCESSOR) -> rebalance
 *   memory blocks online -> ARRIVAL (MEMORY)
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
 *
 * Same API, same semantics on every target.  As a client of dhpd:
 *   - synchronous callbacks run on the context's connection thread; dhpd
 *     sends each phase to every client process at once and each process runs
 *     its callbacks in registration order; a veto in any process fails the
 *     add in all.  A callback sees the vetoes of its own process only.
 *     Requests that wait for dhpd (registering, sim control, status) fail
 *     with -EDEADLK on that thread; deregistration never waits for dhpd.
 *   - ADD_EXISTING callbacks run on the connection thread too, before
 *     dhp_proc_register() returns.
 *   - monitors run on the connection thread; arrivals as everywhere, on
 *     dhp_process() or the notification thread.
 *   - while connected to a dhpd on real hardware, every thread of the
 *     process is kept on admitted processors (sched_setaffinity of each
 *     thread in /proc/self/task at connect and after each ADD_COMPLETE);
 *     a thread that widens its own mask afterwards is not held back.
 * Errors: -EINVAL (malformed target or options), -EPROTONOSUPPORT (unknown
 * target kind, or dhpd speaks another major protocol version), -ENOENT or
 * -ECONNREFUSED (dhpd not running), -EACCES, -ENOMEM.
 */
DHP_EXPORT int dhp_open(dhp **ret, const char *target);

/*
 * dhp_reconnect - after the connection to dhpd was lost (dhp_process()
 * returns -ECONNRESET and keeps returning it, the fd stays readable),
 * connect again and re-register every registration and monitor of the
 * context, so that they survive a daemon restart.  ADD_EXISTING and
 * INCLUDE_EXISTING are not run again.  Not automatic: the caller decides
 * when (and how often) to retry.  -ENOENT/-ECONNREFUSED while dhpd is still
 * down; -EOPNOTSUPP for a target that is not "unix:".
 */
DHP_EXPORT int dhp_reconnect(dhp *ctx);

/* dhp_close - stop the notification thread if any, drop every registration
 * and free the context.  Must not be called from inside a callback. */
DHP_EXPORT void dhp_close(dhp *ctx);

/*
 * dhp_get_fd - a file descriptor that becomes readable when asynchronous
 * notifications are pending; call dhp_process() then.  Owned by the context.
 */
DHP_EXPORT int dhp_get_fd(dhp *ctx);

/*
 * dhp_process - deliver every pending asynchronous notification on the
 * calling thread.  Returns the number delivered (>= 0) or a negative errno.
 * -EBUSY when the context runs its own notification thread; -ECONNRESET
 * once dhpd went away (see dhp_reconnect()).
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

/* dhp_proc_count - number of processor slots (possible processors). */
DHP_EXPORT int dhp_proc_count(dhp *ctx, uint32_t *ret_count);
/* dhp_proc_get_state - state of processor `index`; -ERANGE past the end. */
DHP_EXPORT int dhp_proc_get_state(dhp *ctx, uint32_t index, dhp_proc_state *ret_state);

/* ------------------------------------------------------------------------ */
/* Synchronous processor notification (MODEL.md section 1)                 */
/* ------------------------------------------------------------------------ */

typedef enum dhp_proc_change_state {
        DHP_PROC_ADD_START = 1,
        DHP_PROC_ADD_COMPLETE = 2,
        DHP_PROC_ADD_FAILURE = 3,
} dhp_proc_change_state;

/* The context of one callback call; valid only during that call. */
typedef struct dhp_proc_change dhp_proc_change;

DHP_EXPORT dhp_proc_change_state dhp_proc_change_get_state(const dhp_proc_change *c);
DHP_EXPORT uint32_t dhp_proc_change_get_index(const dhp_proc_change *c);
DHP_EXPORT dhp_proc_number dhp_proc_change_get_number(const dhp_proc_change *c);
/* The status of the add: 0 during ADD_START until someone vetoes; on
 * ADD_FAILURE the reason (the first veto, or the platform's error). */
DHP_EXPORT int dhp_proc_change_get_status(const dhp_proc_change *c);
/*
 * dhp_proc_change_veto - during ADD_START, fail the add with `error` (a
 * negative errno).  The status is shared by all callbacks of the add and is
 * written only while it is still 0: the first veto wins, later ones are
 * ignored.  The remaining callbacks still receive ADD_START; then every
 * callback that received ADD_START (the vetoing one included) receives
 * ADD_FAILURE.  Returns 0 when this veto set the status, -EALREADY when
 * another one had, -EINVAL when not in ADD_START or `error` >= 0.
 */
DHP_EXPORT int dhp_proc_change_veto(const dhp_proc_change *c, int error);

typedef void (*dhp_proc_cb)(void *userdata, const dhp_proc_change *change);

typedef struct dhp_proc_reg dhp_proc_reg;

enum {
        /* Also run the callback, before registration returns, for every
         * processor already admitted: ADD_START for each, then ADD_COMPLETE
         * for each.  A veto on processor k: no further ADD_START, each
         * processor that got ADD_START (not k) gets ADD_FAILURE, and the
         * registration fails with the veto's error. */
        DHP_PROC_ADD_EXISTING = 1u << 0,
};

/*
 * dhp_proc_register - register a synchronous processor callback.
 * Callbacks of one add run one at a time, in registration order, on the
 * thread running the hot-add.  `name` labels the registration in the
 * notification stream (NULL: the context's name).  Errors: -EINVAL,
 * -ENOMEM, -EDEADLK (ADD_EXISTING from inside a synchronous callback), or
 * the veto error of an ADD_EXISTING registration.
 */
DHP_EXPORT int dhp_proc_register(dhp *ctx, const char *name, uint32_t flags,
                                 dhp_proc_cb cb, void *userdata, dhp_proc_reg **ret);

/*
 * dhp_proc_deregister - after it returns the callback is never called
 * again.  It waits for a call in progress on another thread; called from
 * inside the callback itself, it does not wait for that call.  The handle
 * is freed.  NULL is a no-op.
 */
DHP_EXPORT void dhp_proc_deregister(dhp_proc_reg *reg);

/* ------------------------------------------------------------------------ */
/* Asynchronous arrival notification (MODEL.md section 2)                  */
/* ------------------------------------------------------------------------ */

typedef enum dhp_class {
        DHP_CLASS_PROCESSOR = 1,
        DHP_CLASS_MEMORY = 2,
} dhp_class;

typedef enum dhp_event {
        DHP_EVENT_ARRIVAL = 1,
        DHP_EVENT_REMOVAL = 2,
} dhp_event;

/* One arrival or removal; valid only during the callback. */
typedef struct dhp_device_event dhp_device_event;

DHP_EXPORT dhp_class dhp_device_event_get_class(const dhp_device_event *e);
DHP_EXPORT dhp_event dhp_device_event_get_event(const dhp_device_event *e);
/* Symbolic device name: "cpu3", "memory@0x48000000". */
DHP_EXPORT const char *dhp_device_event_get_name(const dhp_device_event *e);
/* Processor events: index and number.  -EINVAL on a memory event. */
DHP_EXPORT int dhp_device_event_get_processor(const dhp_device_event *e, uint32_t *ret_index,
                                              dhp_proc_number *ret_number);
/* Memory events: physical base and size in bytes.  -EINVAL on a processor
 * event. */
DHP_EXPORT int dhp_device_event_get_memory(const dhp_device_event *e, uint64_t *ret_base,
                                           uint64_t *ret_size);
/* True when this arrival reports a device present at registration
 * (INCLUDE_EXISTING). */
DHP_EXPORT bool dhp_device_event_is_existing(const dhp_device_event *e);

typedef void (*dhp_arrival_cb)(void *userdata, const dhp_device_event *event);

typedef struct dhp_arrival_reg dhp_arrival_reg;

enum {
        /* Also deliver ARRIVAL for every device of the class already present
         * (a processor: admitted; memory: every block online).  A device
         * that arrives while registering may be reported twice, never more. */
        DHP_ARRIVAL_INCLUDE_EXISTING = 1u << 0,
};

/*
 * dhp_arrival_register - register for ARRIVAL and REMOVAL of a device
 * class.  Delivered on the notification thread (dhp_process() or the
 * context's own), never inside the hot-add transaction; a processor's
 * arrival only after its ADD_COMPLETE, a memory device's only once every
 * block of it is online.  Errors: -EINVAL, -ENOMEM.
 */
DHP_EXPORT int dhp_arrival_register(dhp *ctx, const char *name, dhp_class cls, uint32_t flags,
                                    dhp_arrival_cb cb, void *userdata, dhp_arrival_reg **ret);

/* dhp_arrival_unregister - no callback after it returns; may be called from
 * inside the callback.  The handle is freed.  NULL is a no-op. */
DHP_EXPORT void dhp_arrival_unregister(dhp_arrival_reg *reg);

/* ------------------------------------------------------------------------ */
/* The notification stream (what `dhpctl demo` and `monitor` print)         */
/* ------------------------------------------------------------------------ */

/* One notification as it is delivered; valid only during the callback.
 * Format it with dhp_record_format(). */
typedef struct dhp_record dhp_record;

DHP_EXPORT uint64_t dhp_record_get_seq(const dhp_record *r);
/* Nanoseconds since the context was opened. */
DHP_EXPORT uint64_t dhp_record_get_time(const dhp_record *r);
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
 * callback must not call back into the context.
 */
DHP_EXPORT int dhp_monitor_add(dhp *ctx, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret);
DHP_EXPORT void dhp_monitor_remove(dhp_monitor *m);

/* ------------------------------------------------------------------------ */
/* Simulated platform control (target "sim"; -EOPNOTSUPP elsewhere)         */
/* ------------------------------------------------------------------------ */

/*
 * dhp_sim_cpu_add - hot-add one processor into the first absent slot and
 * run its transaction on the calling thread (synchronous callbacks run
 * here).  Returns 0 when the processor was admitted, 1 when the add was
 * vetoed (the processor is offline again); ret_index gets the slot either
 * way.  -ENOSPC when every slot is used.
 */
DHP_EXPORT int dhp_sim_cpu_add(dhp *ctx, uint32_t *ret_index);

/*
 * dhp_sim_memory_add - hot-add a memory device of `size` bytes (a multiple
 * of the block size) at the next free physical address, online its blocks
 * and queue its arrival.  -EINVAL for a bad size, -ENOSPC past maxmem.
 */
DHP_EXPORT int dhp_sim_memory_add(dhp *ctx, uint64_t size, uint64_t *ret_base);

/*
 * dhp_sim_run_scenario - parse a scenario (the whole text first: a bad line
 * runs nothing) and run it.  On a parse error returns -EINVAL and, when
 * ret_error is not NULL, a malloc'ed "FILE:LINE:COL: message" the caller
 * frees.  `filename` only labels messages.
 */
DHP_EXPORT int dhp_sim_run_scenario(dhp *ctx, const char *filename, const char *text,
                                    char **ret_error);

/*
 * dhp_sim_check_scenario - parse a scenario without running it.  0 when
 * valid; -EINVAL and *ret_error as for dhp_sim_run_scenario.  Needs no
 * context.
 */
DHP_EXPORT int dhp_sim_check_scenario(const char *filename, const char *text, char **ret_error);

#ifdef __cplusplus
}
#endif

#endif
