/* SPDX-License-Identifier: MIT */
/*
 * Memory condition events (doc/model.md section 3).  The rules, in full, are in
 * doc/memcond.md; in short:
 *
 *   low  = total/128 (32 MiB per 4 GiB), at most 64 MiB;  high = 3 x low
 *   margin = max(low/16, 1 MiB) or as configured (0: none), at most
 *   (high - low)/4
 *   LowMemoryCondition   set at available <  low,  cleared at >= low + margin
 *   HighMemoryCondition  set at available >  high, cleared at <= high - margin
 *   commit conditions: charge against limit in percent, margin one point
 *   (or commit_margin points; 0: none):
 *   LowCommit  set at <  50 %, cleared at >= 51 %
 *   HighCommit set at >  90 %, cleared at <= 89 %
 *   MaximumCommit set at >= 100 %, cleared at < 99 %
 *
 * The margins are the hysteresis: a level jittering around a threshold by
 * less than the margin flips the event once, not at every sample.  The
 * thresholds and their configuration are memcond-config.c's; here, the
 * events: evaluation, transitions, waiters, listeners and the timer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine-internal.h"
#include "core/memcond.h"
#include "core/peer.h"
#include "util/parse.h"
#include "util/time.h"


struct memcond {
        struct engine *engine;
        pthread_mutex_t eval_lock;
        pthread_mutex_t lock;
        pthread_cond_t cond; /* an event was set */
        struct memcond_config cfg;
        struct memcond_thresholds th;
        struct mem_levels levels; /* last evaluated */
        bool have_levels;
        bool set[_MEMCOND_MAX];
        uint64_t set_gen[_MEMCOND_MAX]; /* times set: a waiter sees a set that was cleared again */
        unsigned waiting[_MEMCOND_MAX];
        struct list listeners;
        uint64_t platform_interval_ms;
        uint64_t last_eval_ns;
        void (*timer_notify)(void *userdata); /* memcond_set_timer_notify() */
        void *timer_notify_userdata;
};

static const char *const names[_MEMCOND_MAX] = {
        [MEMCOND_HIGH_MEMORY] = "HighMemoryCondition",
        [MEMCOND_LOW_MEMORY] = "LowMemoryCondition",
        [MEMCOND_LOW_COMMIT] = "LowCommitCondition",
        [MEMCOND_HIGH_COMMIT] = "HighCommitCondition",
        [MEMCOND_MAXIMUM_COMMIT] = "MaximumCommitCondition",
};

const char *memcond_name(enum memcond_kind k) {
        return (unsigned)k < _MEMCOND_MAX ? names[k] : NULL;
}

int memcond_lookup(const char *name, enum memcond_kind *ret) {
        if (!name)
                return -EINVAL;
        for (unsigned k = 0; k < _MEMCOND_MAX; k++)
                if (strcmp(name, names[k]) == 0) {
                        if (ret)
                                *ret = (enum memcond_kind)k;
                        return 0;
                }
        return -ENOENT;
}

/* ---- evaluation ------------------------------------------------------- */

static bool next_state(enum memcond_kind k, bool was, const struct mem_levels *lv, const struct memcond_thresholds *t) {
        unsigned __int128 c = (unsigned __int128)lv->commit_charge * 100, l = lv->commit_limit;
        uint32_t cm = t->commit_margin;

        switch (k) {
        case MEMCOND_LOW_MEMORY:
                if (!t->low)
                        return false;
                return was ? lv->available < t->low + t->margin : lv->available < t->low;
        case MEMCOND_HIGH_MEMORY:
                if (!t->high)
                        return false;
                return was ? lv->available > t->high - t->margin : lv->available > t->high;
        /* memcond_config_validate() keeps a set commit margin below
         * low_commit, so no subtraction below wraps; saturate anyway. */
        case MEMCOND_LOW_COMMIT:
                if (!l)
                        return false;
                return was ? c < l * (t->low_commit + cm) : c < l * t->low_commit;
        case MEMCOND_HIGH_COMMIT:
                if (!l)
                        return false;
                return was ? c > l * (t->high_commit > cm ? t->high_commit - cm : 0) : c > l * t->high_commit;
        case MEMCOND_MAXIMUM_COMMIT:
                if (!l)
                        return false;
                return was ? c >= l * (t->max_commit > cm ? t->max_commit - cm : 0) : c >= l * t->max_commit;
        default:
                return false;
        }
}

static unsigned commit_percent(const struct mem_levels *lv) {
        if (!lv->commit_limit)
                return 0;
        return (unsigned)((unsigned __int128)lv->commit_charge * 100 / lv->commit_limit);
}

static void emit_transition(struct memcond *mc, enum memcond_kind k, bool set) {
        const struct mem_levels *lv = &mc->levels;
        const struct memcond_thresholds *t = &mc->th;
        char json[512], text[256], a[32], b[32];
        struct dhp_record r = { .method = "memcond", .event = set ? "SET" : "CLEAR" };

        if (k == MEMCOND_LOW_MEMORY || k == MEMCOND_HIGH_MEMORY) {
                bool low = k == MEMCOND_LOW_MEMORY;
                snprintf(json, sizeof(json),
                         "\"condition\":\"%s\",\"available\":%llu,\"total\":%llu,\"threshold\":%llu,\"margin\":%llu",
                         names[k], (unsigned long long)lv->available, (unsigned long long)lv->total,
                         (unsigned long long)(low ? t->low : t->high), (unsigned long long)t->margin);
                snprintf(text, sizeof(text), "%s  available=%s (%s %s)", names[k],
                         format_size(lv->available, a, sizeof(a)), low ? "low" : "high",
                         format_size(low ? t->low : t->high, b, sizeof(b)));
        } else {
                unsigned th = k == MEMCOND_LOW_COMMIT ? t->low_commit
                              : k == MEMCOND_HIGH_COMMIT ? t->high_commit : t->max_commit;
                snprintf(json, sizeof(json),
                         "\"condition\":\"%s\",\"available\":%llu,\"commit_charge\":%llu,\"commit_limit\":%llu,"
                         "\"percent\":%u,\"threshold_percent\":%u",
                         names[k], (unsigned long long)lv->available, (unsigned long long)lv->commit_charge,
                         (unsigned long long)lv->commit_limit, commit_percent(lv), th);
                snprintf(text, sizeof(text), "%s  commit=%s of %s (%u%%, threshold %u%%)", names[k],
                         format_size(lv->commit_charge, a, sizeof(a)), format_size(lv->commit_limit, b, sizeof(b)),
                         commit_percent(lv), th);
        }
        r.detail = json;
        r.detail_text = text;
        record_emit(mc->engine, &r);
}

static void emit_thresholds(struct memcond *mc, uint64_t total) {
        const struct memcond_thresholds *t = &mc->th;
        char json[512], text[256], a[32], b[32], c[32], d[32];
        struct dhp_record r = { .method = "memcond", .event = "THRESHOLDS" };

        snprintf(json, sizeof(json),
                 "\"total\":%llu,\"low\":%llu,\"high\":%llu,\"margin\":%llu,\"low_commit\":%u,\"high_commit\":%u,"
                 "\"max_commit\":%u",
                 (unsigned long long)total, (unsigned long long)t->low, (unsigned long long)t->high,
                 (unsigned long long)t->margin, t->low_commit, t->high_commit, t->max_commit);
        snprintf(text, sizeof(text), "total=%s low=%s high=%s margin=%s commit %u/%u/%u%%",
                 format_size(total, a, sizeof(a)), format_size(t->low, b, sizeof(b)),
                 format_size(t->high, c, sizeof(c)), format_size(t->margin, d, sizeof(d)), t->low_commit,
                 t->high_commit, t->max_commit);
        r.detail = json;
        r.detail_text = text;
        record_emit(mc->engine, &r);
}

/* New thresholds for the levels' total; a record when they changed. */
static void update_thresholds_locked(struct memcond *mc, const struct mem_levels *lv) {
        struct memcond_thresholds t;

        memcond_thresholds_compute(&mc->cfg, lv->total, &t);
        /* Field by field: the struct has padding. */
        if (t.low == mc->th.low && t.high == mc->th.high && t.margin == mc->th.margin &&
            t.low_commit == mc->th.low_commit && t.high_commit == mc->th.high_commit &&
            t.max_commit == mc->th.max_commit && t.commit_margin == mc->th.commit_margin)
                return;
        mc->th = t;
        emit_thresholds(mc, lv->total);
}

/* Event k changes to `set`: a set wakes its waiters, and every listener of
 * k is told, with the levels it was judged by (mc->levels).  Lock held. */
static void set_locked(struct memcond *mc, enum memcond_kind k, bool set) {
        mc->set[k] = set;
        if (set) {
                mc->set_gen[k]++;
                pthread_cond_broadcast(&mc->cond);
        }
        list_for_each(n, &mc->listeners) {
                struct memcond_listener *l = list_entry(n, struct memcond_listener, node);
                if (l->kind == k) {
                        l->levels = mc->levels;
                        l->fn(l, set);
                }
        }
}

/* Apply levels: thresholds, then every transition, each recorded and told
 * to the listeners.  Low is evaluated before High, so that a jump from
 * below low to above high clears one before it sets the other. */
static void apply_locked(struct memcond *mc, const struct mem_levels *lv) {
        static const enum memcond_kind order[] = { MEMCOND_LOW_MEMORY, MEMCOND_HIGH_MEMORY, MEMCOND_LOW_COMMIT,
                                                   MEMCOND_HIGH_COMMIT, MEMCOND_MAXIMUM_COMMIT };

        update_thresholds_locked(mc, lv);
        mc->levels = *lv;
        mc->have_levels = true;
        mc->last_eval_ns = time_now_ns();
        for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
                enum memcond_kind k = order[i];
                bool s = next_state(k, mc->set[k], lv, &mc->th);

                if (s == mc->set[k])
                        continue;
                set_locked(mc, k, s);
                emit_transition(mc, k, s);
        }
}

static bool would_change_locked(struct memcond *mc, const struct mem_levels *lv) {
        for (unsigned k = 0; k < _MEMCOND_MAX; k++)
                if (next_state((enum memcond_kind)k, mc->set[k], lv, &mc->th) != mc->set[k])
                        return true;
        return false;
}

static int read_levels(struct memcond *mc, struct mem_levels *ret) {
        struct engine *e = mc->engine;

        if (!e->ops->mem_levels_read)
                return -EOPNOTSUPP;
        return e->ops->mem_levels_read(e->platform, ret);
}

int memcond_evaluate(struct engine *e) {
        struct memcond *mc = e->memcond;
        struct mem_levels lv;
        int r;

        pthread_mutex_lock(&mc->eval_lock);
        r = read_levels(mc, &lv);
        pthread_mutex_lock(&mc->lock);
        if (r == -EOPNOTSUPP) {
                /* Nothing to read: re-evaluate what was pushed. */
                if (mc->have_levels)
                        apply_locked(mc, &mc->levels);
                r = 0;
        } else if (r == 0) {
                apply_locked(mc, &lv);
        } else {
                log_debug(&e->logger, "memcond: reading memory levels: %s", strerror(-r));
        }
        pthread_mutex_unlock(&mc->lock);
        pthread_mutex_unlock(&mc->eval_lock);
        return r;
}

int engine_mem_levels_update(struct engine *e, const struct mem_levels *levels) {
        struct memcond *mc = e->memcond;

        if (!levels || (levels->total && levels->available > levels->total))
                return -EINVAL;
        pthread_mutex_lock(&mc->eval_lock);
        pthread_mutex_lock(&mc->lock);
        apply_locked(mc, levels);
        pthread_mutex_unlock(&mc->lock);
        pthread_mutex_unlock(&mc->eval_lock);
        return 0;
}

/* After a memory online/offline: doc/model.md R19 puts the re-evaluation after the
 * memory's ARRIVAL, which is on the queue now.  So an evaluation that would
 * change an event goes on the queue behind it; the thresholds of the new
 * total apply at once. */
struct eval_item {
        struct engine_item base;
};

static void eval_item_run(struct engine *e, struct engine_item *it) {
        memcond_evaluate(e);
}

static void eval_item_free(struct engine_item *it) {
        free(it);
}

static void on_mem_changed(struct engine *e, enum engine_hook_kind kind, uint64_t arg, void *userdata) {
        struct memcond *mc = userdata;
        struct eval_item *it = NULL;
        struct mem_levels lv;
        bool change;

        if (kind != ENGINE_HOOK_MEM_CHANGED)
                return;
        pthread_mutex_lock(&mc->eval_lock);
        if (read_levels(mc, &lv) < 0) {
                /* A platform that pushes will push the new levels. */
                pthread_mutex_unlock(&mc->eval_lock);
                return;
        }
        pthread_mutex_lock(&mc->lock);
        update_thresholds_locked(mc, &lv);
        change = would_change_locked(mc, &lv);
        if (!change)
                apply_locked(mc, &lv); /* only records the levels */
        pthread_mutex_unlock(&mc->lock);
        if (change) {
                it = calloc(1, sizeof(*it));
                if (it) {
                        it->base.run = eval_item_run;
                        it->base.free = eval_item_free;
                }
        }
        pthread_mutex_unlock(&mc->eval_lock);
        if (it) {
                engine_queue(e, &it->base);
        } else if (change) {
                /* Out of memory for the item: evaluating now, before the
                 * arrival, beats not evaluating. */
                memcond_evaluate(e);
        }
}

/* ---- the module ------------------------------------------------------- */

int memcond_new(struct engine *e, struct memcond **ret) {
        struct memcond *mc = calloc(1, sizeof(*mc));
        pthread_condattr_t ca;
        int r;

        if (!mc)
                return -ENOMEM;
        mc->engine = e;
        pthread_mutex_init(&mc->eval_lock, NULL);
        pthread_mutex_init(&mc->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&mc->cond, &ca);
        pthread_condattr_destroy(&ca);
        list_init(&mc->listeners);
        memcond_thresholds_compute(&mc->cfg, 0, &mc->th);
        r = engine_hook_add(e, on_mem_changed, mc);
        if (r < 0) {
                memcond_free(mc);
                return r;
        }
        *ret = mc;
        return 0;
}

void memcond_free(struct memcond *mc) {
        if (!mc)
                return;
        /* Listeners belong to handles of a context being closed. */
        list_for_each_safe(n, tmp, &mc->listeners)
                list_remove(n);
        pthread_mutex_destroy(&mc->eval_lock);
        pthread_mutex_destroy(&mc->lock);
        pthread_cond_destroy(&mc->cond);
        free(mc);
}

int memcond_configure(struct engine *e, const struct memcond_config *cfg, char **ret_error) {
        struct memcond *mc = e->memcond;
        int r;

        if (!cfg)
                return -EINVAL;
        pthread_mutex_lock(&mc->eval_lock);
        pthread_mutex_lock(&mc->lock);
        r = memcond_config_validate(cfg, mc->levels.total, ret_error);
        if (r == 0) {
                mc->cfg = *cfg;
                if (mc->have_levels)
                        apply_locked(mc, &mc->levels);
                else
                        memcond_thresholds_compute(&mc->cfg, 0, &mc->th);
        }
        pthread_mutex_unlock(&mc->lock);
        pthread_mutex_unlock(&mc->eval_lock);
        return r;
}

int memcond_configure_spec(struct engine *e, const char *spec, char **ret_error) {
        struct memcond *mc = e->memcond;
        struct memcond_config cfg;
        int r;

        if (!spec)
                return -EINVAL;
        /* Under the evaluation lock: two of these never lose each
         * other's keys. */
        pthread_mutex_lock(&mc->eval_lock);
        pthread_mutex_lock(&mc->lock);
        cfg = mc->cfg;
        pthread_mutex_unlock(&mc->lock);
        r = memcond_config_parse(&cfg, spec, ret_error);
        pthread_mutex_lock(&mc->lock);
        if (r == 0)
                r = memcond_config_validate(&cfg, mc->levels.total, ret_error);
        if (r == 0) {
                mc->cfg = cfg;
                if (mc->have_levels)
                        apply_locked(mc, &mc->levels);
                else
                        memcond_thresholds_compute(&mc->cfg, 0, &mc->th);
        }
        pthread_mutex_unlock(&mc->lock);
        pthread_mutex_unlock(&mc->eval_lock);
        return r;
}

void memcond_get_thresholds(struct engine *e, struct memcond_thresholds *ret) {
        pthread_mutex_lock(&e->memcond->lock);
        *ret = e->memcond->th;
        pthread_mutex_unlock(&e->memcond->lock);
}

void memcond_set_platform_interval(struct engine *e, uint64_t ms) {
        pthread_mutex_lock(&e->memcond->lock);
        e->memcond->platform_interval_ms = ms;
        pthread_mutex_unlock(&e->memcond->lock);
}

void memcond_set_timer_notify(struct engine *e, void (*fn)(void *userdata), void *userdata) {
        pthread_mutex_lock(&e->memcond->lock);
        e->memcond->timer_notify = fn;
        e->memcond->timer_notify_userdata = userdata;
        pthread_mutex_unlock(&e->memcond->lock);
}

/* Lock held: the interval; 0 when there is none or the timer is paused. */
static uint64_t timer_interval_ms_locked(struct memcond *mc) {
        if (mc->timer_notify && list_empty(&mc->listeners))
                return 0;
        return mc->cfg.interval_ms ? mc->cfg.interval_ms : mc->platform_interval_ms;
}

int memcond_next_timeout_ms(struct engine *e) {
        struct memcond *mc = e->memcond;
        uint64_t interval, due, now;

        if (!e->ops->mem_levels_read)
                return -1;
        pthread_mutex_lock(&mc->lock);
        interval = timer_interval_ms_locked(mc);
        due = mc->last_eval_ns + interval * NSEC_PER_MSEC;
        pthread_mutex_unlock(&mc->lock);
        if (!interval)
                return -1;
        now = time_now_ns();
        if (now >= due)
                return 0;
        /* Round up: waking a little late is fine, early would spin. */
        return (int)((due - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
}

int memcond_tick(struct engine *e) {
        if (memcond_next_timeout_ms(e) != 0)
                return 0;
        memcond_evaluate(e);
        return 1;
}

bool memcond_is_set(struct engine *e, enum memcond_kind k) {
        bool v;

        if ((unsigned)k >= _MEMCOND_MAX)
                return false;
        pthread_mutex_lock(&e->memcond->lock);
        v = e->memcond->set[k];
        pthread_mutex_unlock(&e->memcond->lock);
        return v;
}

int memcond_wait(struct engine *e, enum memcond_kind k, int timeout_ms) {
        struct memcond *mc = e->memcond;
        struct timespec deadline;
        uint64_t gen;
        int r;

        if ((unsigned)k >= _MEMCOND_MAX)
                return -EINVAL;
        if (timeout_ms > 0)
                deadline = time_deadline_ms(timeout_ms);
        pthread_mutex_lock(&mc->lock);
        gen = mc->set_gen[k];
        mc->waiting[k]++;
        while (!mc->set[k] && mc->set_gen[k] == gen && timeout_ms != 0) {
                if (timeout_ms < 0)
                        pthread_cond_wait(&mc->cond, &mc->lock);
                else if (pthread_cond_timedwait(&mc->cond, &mc->lock, &deadline) == ETIMEDOUT)
                        break;
        }
        mc->waiting[k]--;
        r = mc->set[k] || mc->set_gen[k] != gen;
        pthread_mutex_unlock(&mc->lock);
        return r;
}

unsigned memcond_waiting(struct engine *e, enum memcond_kind k) {
        unsigned n;

        pthread_mutex_lock(&e->memcond->lock);
        n = (unsigned)k < _MEMCOND_MAX ? e->memcond->waiting[k] : 0;
        pthread_mutex_unlock(&e->memcond->lock);
        return n;
}

void memcond_listen(struct engine *e, struct memcond_listener *l) {
        struct memcond *mc = e->memcond;
        void (*notify)(void *userdata), *userdata;
        uint64_t interval;
        bool stale;

        /* The first listener after a pause of the timer is told the
         * conditions as they are now, and the owner's loop arms the timer. */
        pthread_mutex_lock(&mc->lock);
        interval = mc->cfg.interval_ms ? mc->cfg.interval_ms : mc->platform_interval_ms;
        stale = mc->timer_notify && list_empty(&mc->listeners) && interval &&
                time_now_ns() >= mc->last_eval_ns + interval * NSEC_PER_MSEC;
        pthread_mutex_unlock(&mc->lock);
        if (stale && e->ops->mem_levels_read)
                memcond_evaluate(e);
        pthread_mutex_lock(&mc->lock);
        notify = list_empty(&mc->listeners) ? mc->timer_notify : NULL;
        userdata = mc->timer_notify_userdata;
        list_append(&mc->listeners, &l->node);
        l->levels = mc->levels;
        if (mc->set[l->kind])
                l->fn(l, true);
        else if (l->tell_initial_clear)
                l->fn(l, false);
        pthread_mutex_unlock(&mc->lock);
        if (notify)
                notify(userdata);
}

void peer_inject_memcond(struct engine *e, enum memcond_kind k, bool set) {
        struct memcond *mc = e->memcond;

        if ((unsigned)k >= _MEMCOND_MAX)
                return;
        pthread_mutex_lock(&mc->lock);
        if (mc->set[k] != set)
                set_locked(mc, k, set);
        pthread_mutex_unlock(&mc->lock);
}

void memcond_unlisten(struct engine *e, struct memcond_listener *l) {
        pthread_mutex_lock(&e->memcond->lock);
        list_remove(&l->node);
        pthread_mutex_unlock(&e->memcond->lock);
}
