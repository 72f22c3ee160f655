/* SPDX-License-Identifier: MIT */
/*
 * Memory condition events (doc/model.md section 3): five named notification
 * (manual-reset) events, set while their condition holds.
 *
 *   HighMemoryCondition    available memory above the high threshold
 *   LowMemoryCondition     available memory below the low threshold
 *   LowCommitCondition     commit charge under low_commit % of the limit
 *   HighCommitCondition    commit charge over high_commit % of the limit
 *   MaximumCommitCondition commit charge at max_commit % of the limit
 *
 * The engine owns the state; whoever embeds it owns the file descriptors
 * (the engine makes no syscalls beyond threads): it attaches a listener and
 * is told of every transition.  doc/memcond.md has the rules.
 *
 * Evaluation, never by busy polling:
 *   - at every memory online/offline (ENGINE_HOOK_MEM_CHANGED): the new
 *     thresholds apply at once; a transition this causes is queued on the
 *     asynchronous queue, so it follows the memory's ARRIVAL;
 *   - whenever the platform pushes levels (engine_mem_levels_update);
 *   - on a slow fallback timer, only for a platform that reads levels and
 *     set a poll interval: memcond_next_timeout_ms() + memcond_tick().
 *
 * Locks: eval_lock (one evaluation at a time, taken with the transaction
 * lock possibly held) -> the module's lock (state, listeners, waiters) ->
 * the record lock.  Listeners run under the module's lock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/engine.h"
#include "util/list.h"

enum memcond_kind {
        MEMCOND_HIGH_MEMORY = 0,
        MEMCOND_LOW_MEMORY,
        MEMCOND_LOW_COMMIT,
        MEMCOND_HIGH_COMMIT,
        MEMCOND_MAXIMUM_COMMIT,
        _MEMCOND_MAX,
};

/* The standard name of a kind, and back: -ENOENT for an unknown name. */
const char *memcond_name(enum memcond_kind k);
int memcond_lookup(const char *name, enum memcond_kind *ret);

/* ---- thresholds ------------------------------------------------------- */

#define MEMCOND_MIN_BYTES 4096ULL        /* one page */
#define MEMCOND_MAX_BYTES (1ULL << 60)   /* keeps 3 x low and low + margin exact */
#define MEMCOND_MAX_PERCENT 1000u

/* What a configuration says; 0 in a field means "default". */
struct memcond_config {
        uint64_t low;          /* bytes; default total/128 capped at 64 MiB */
        uint64_t high;         /* bytes; default 3 x low */
        uint32_t low_commit;   /* percent of the commit limit; default 50 */
        uint32_t high_commit;  /* default 90 */
        uint32_t max_commit;   /* default 100 */
        uint64_t interval_ms;  /* fallback timer; default: the platform's */
        /* The hysteresis margins, where 0 is a value (the exact model:
         * cleared as soon as the condition stops holding), so each has a
         * flag: unset means the default. */
        bool margin_set;        /* memory events */
        uint64_t margin;        /* bytes; default max(low/16, 1 MiB) */
        bool commit_margin_set; /* commit events */
        uint32_t commit_margin; /* percentage points; default 1 */
};

/* The thresholds in force. */
struct memcond_thresholds {
        uint64_t low, high, margin;
        uint32_t low_commit, high_commit, max_commit;
        uint32_t commit_margin;
};

/* The defaults for `total` bytes of memory (0: unknown, gives 0/0). */
uint64_t memcond_default_low(uint64_t total);
/* The effective thresholds of a configuration at `total`. */
void memcond_thresholds_compute(const struct memcond_config *cfg, uint64_t total,
                                struct memcond_thresholds *ret);

/*
 * memcond_config_set - parse one "key=value" of a configuration into *cfg:
 * low=SIZE, high=SIZE, low_commit=N[%], high_commit=N[%], max_commit=N[%],
 * interval=DURATION, margin=SIZE (0 allowed), commit_margin=N[%] (0 to
 * 100); the value "default" resets a key.  Only the field is
 * checked here; memcond_config_validate() checks the whole.  -EINVAL with
 * *ret_error (malloc'ed, when not NULL) saying what was expected.
 */
int memcond_config_set(struct memcond_config *cfg, const char *key, const char *value, char **ret_error);
/* A comma list of key=value, all or nothing: *cfg is untouched on error. */
int memcond_config_parse(struct memcond_config *cfg, const char *spec, char **ret_error);
/* Check a configuration against `total` bytes of memory (its defaults must
 * fit the overridden values).  -EINVAL with *ret_error. */
int memcond_config_validate(const struct memcond_config *cfg, uint64_t total, char **ret_error);

/* ---- the engine's side ------------------------------------------------ */

struct memcond;

int memcond_new(struct engine *e, struct memcond **ret);
void memcond_free(struct memcond *mc);

/* The configuration in force; memcond_configure() validates, applies and
 * re-evaluates (-EINVAL with *ret_error). */
int memcond_configure(struct engine *e, const struct memcond_config *cfg, char **ret_error);
/* Apply a memcond_config_parse() spec over the configuration in force, all
 * or nothing. */
int memcond_configure_spec(struct engine *e, const char *spec, char **ret_error);
void memcond_get_thresholds(struct engine *e, struct memcond_thresholds *ret);

/* The platform's fallback interval (0: none; the default).  The
 * configuration's interval, when set, wins. */
void memcond_set_platform_interval(struct engine *e, uint64_t ms);
/* The timer only while someone listens.  With fn set, the fallback timer
 * runs only while at least one listener (memcond_listen()) is registered:
 * nothing else is told of a transition, so nothing needs the levels
 * re-read meanwhile.  The first listener after a pause finds the
 * conditions evaluated afresh when they are older than the interval, and
 * fn(userdata) is called (outside the module's locks) so that the owner's
 * loop computes its timeout again.  NULL (the default): the timer runs
 * whether or not anyone listens. */
void memcond_set_timer_notify(struct engine *e, void (*fn)(void *userdata), void *userdata);
/* Milliseconds until the fallback evaluation is due (0: due now), or -1
 * when there is no timer: no interval, a platform without mem_levels_read
 * (it pushes every change), or nobody listening (memcond_set_timer_notify). */
int memcond_next_timeout_ms(struct engine *e);
/* Evaluate when the fallback timer is due; 1 when it ran, 0 if not due. */
int memcond_tick(struct engine *e);
/* Read the levels (mem_levels_read) and evaluate now. */
int memcond_evaluate(struct engine *e);

bool memcond_is_set(struct engine *e, enum memcond_kind k);
/* Wait up to timeout_ms (-1: forever) for the event to be set, or to be
 * set and cleared again meanwhile: 1 then, 0 on timeout. */
int memcond_wait(struct engine *e, enum memcond_kind k, int timeout_ms);
/* How many threads are inside memcond_wait() for the event (tests). */
unsigned memcond_waiting(struct engine *e, enum memcond_kind k);

/* Told of every transition of one event, under the module's lock: it must
 * not call back into the engine.  Embedded by the caller. */
struct memcond_listener {
        struct list node;
        enum memcond_kind kind;
        void (*fn)(struct memcond_listener *l, bool set);
        /* Filled by the module before each call to fn: the levels that made
         * the transition (dhpd sends the available memory with it). */
        struct mem_levels levels;
        /* Set by the caller: memcond_listen() also calls fn at once with
         * `false` when the event is clear now (dhpd's subscriptions: the
         * state at subscription, in order with every later transition). */
        bool tell_initial_clear;
};
/* Attach; fn is called at once with `true` when the event is set now. */
void memcond_listen(struct engine *e, struct memcond_listener *l);
void memcond_unlisten(struct engine *e, struct memcond_listener *l);
