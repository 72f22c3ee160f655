/* SPDX-License-Identifier: MIT */
/*
 * The engine on its own, over a fake platform that logs every op: the
 * processor and memory transactions (their steps, in order, and how each
 * failure ends), the asynchronous queue (order, wake-ups, one dispatcher),
 * the transaction lock and the hooks.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/engine.h"
#include "proto/record.h"
#include "util/log.h"
#include "helpers.h"

/* A log of what happened, in order: "start:3", "cb:START:3", ... */
struct trace {
        char line[64][32];
        int n;
        int fail_start, fail_admit, fail_stop, fail_block; /* error of the op, 0: succeed */
        uint64_t fail_block_index;
        int wakes;
};

__attribute__((format(printf, 2, 3))) static void trace_add(struct trace *t, const char *fmt, ...) {
        va_list ap;

        if (t->n >= 64)
                return;
        va_start(ap, fmt);
        vsnprintf(t->line[t->n++], 32, fmt, ap);
        va_end(ap);
}

static void assert_trace(struct trace *t, const char *const *want) {
        int i = 0;

        for (; want[i]; i++) {
                assert_true(i < t->n);
                assert_string_equal(t->line[i], want[i]);
        }
        assert_int_equal(t->n, i);
}

static int p_cpu_start(void *p, uint32_t index) {
        struct trace *t = p;
        trace_add(t, "start:%u", index);
        return t->fail_start;
}

static int p_cpu_stop(void *p, uint32_t index) {
        struct trace *t = p;
        trace_add(t, "stop:%u", index);
        return t->fail_stop;
}

static int p_cpu_admit(void *p, uint32_t index) {
        struct trace *t = p;
        trace_add(t, "admit:%u", index);
        return t->fail_admit;
}

static int p_block_online(void *p, uint64_t index) {
        struct trace *t = p;
        trace_add(t, "online:%llu", (unsigned long long)index);
        return t->fail_block && index == t->fail_block_index ? t->fail_block : 0;
}

static const struct platform_ops ops = {
        .cpu_start = p_cpu_start,
        .cpu_stop = p_cpu_stop,
        .cpu_admit = p_cpu_admit,
        .mem_block_online = p_block_online,
};

static const char *state_name(dhp_proc_change_state s) {
        return s == DHP_PROC_ADD_START ? "START" : s == DHP_PROC_ADD_COMPLETE ? "COMPLETE" : "FAILURE";
}

struct client {
        struct trace *t;
        int veto;
};

static void sync_cb(void *userdata, const dhp_proc_change *c) {
        struct client *cl = userdata;
        trace_add(cl->t, "cb:%s:%u", state_name(dhp_proc_change_get_state(c)), dhp_proc_change_get_index(c));
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START && cl->veto)
                dhp_proc_change_veto(c, cl->veto);
}

static void arrival_cb(void *userdata, const dhp_device_event *ev) {
        struct trace *t = userdata;
        uint32_t index = 0;
        uint64_t base = 0;

        if (dhp_device_event_get_class(ev) == DHP_CLASS_PROCESSOR) {
                dhp_device_event_get_processor(ev, &index, NULL);
                trace_add(t, "arrival:cpu%u", index);
        } else {
                dhp_device_event_get_memory(ev, &base, NULL);
                trace_add(t, "arrival:mem@%llx", (unsigned long long)base);
        }
}

static void wake(void *userdata) {
        ((struct trace *)userdata)->wakes++;
}

static struct engine *engine_with(struct trace *t, uint32_t cpus) {
        struct engine *e;

        assert_int_equal(engine_new(&e, &ops, t), 0);
        engine_set_wake(e, wake, t);
        assert_int_equal(engine_cpu_slots(e, cpus), 0);
        return e;
}

static void test_cpu_hotadd_steps_in_order(void **state) {
        struct trace t = { 0 };
        struct client cl = { &t, 0 };
        struct engine *e = engine_with(&t, 4);
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        dhp_proc_state st;
        int status = 99;

        assert_int_equal(procnotify_register(e, "A", 0, sync_cb, &cl, &reg), 0);
        assert_int_equal(arrival_register(e, "A", DHP_CLASS_PROCESSOR, 0, arrival_cb, &t, &areg), 0);
        assert_int_equal(engine_cpu_set_state(e, 2, DHP_PROC_PRESENT), 0);
        assert_int_equal(engine_cpu_hotadd(e, 2, 0, &status), 0);
        assert_int_equal(status, 0);
        assert_int_equal(engine_cpu_get_state(e, 2, &st), 0);
        assert_int_equal(st, DHP_PROC_ADMITTED);
        /* The arrival waits for a dispatcher: never inside the transaction. */
        assert_false(engine_idle(e));
        assert_int_equal(t.wakes, 1);
        assert_int_equal(engine_dispatch(e), 1);
        assert_true(engine_idle(e));
        assert_trace(&t, (const char *const[]){ "start:2", "cb:START:2", "admit:2", "cb:COMPLETE:2",
                                                "arrival:cpu2", NULL });

        /* A second add of the same processor, an absent one, one past the
         * slots: refused before anything runs. */
        t.n = 0;
        assert_int_equal(engine_cpu_hotadd(e, 2, 0, NULL), -EALREADY);
        assert_int_equal(engine_cpu_hotadd(e, 3, 0, NULL), -ENODEV);
        assert_int_equal(engine_cpu_hotadd(e, 9, 0, NULL), -ERANGE);
        assert_int_equal(t.n, 0);
        procnotify_deregister(reg);
        arrival_unregister(areg);
        engine_free(e);
}

/* engine_cpu_hotadd_batch_more's `more`: cpu2 announced after the first
 * starts, cpu3 after cpu2's, then nothing; the array grows as the
 * platform's does. */
struct more_src {
        struct engine *e;
        struct trace *t;
        int calls;
};

static void more_cb(void *userdata, struct engine_cpu_add **adds, size_t *n) {
        struct more_src *m = userdata;
        struct engine_cpu_add *p;

        trace_add(m->t, "more:%d", m->calls);
        if (m->calls++ >= 2)
                return;
        p = realloc(*adds, (*n + 1) * sizeof(*p));
        assert_non_null(p);
        p[*n] = (struct engine_cpu_add){ .index = (uint32_t)(2 + m->calls - 1) };
        assert_int_equal(engine_cpu_set_state(m->e, p[*n].index, DHP_PROC_PRESENT), 0);
        /* Inside the batch: the transaction lock is this thread's. */
        assert_int_equal(engine_cpu_hotadd(m->e, 1, 0, NULL), -EDEADLK);
        *adds = p;
        (*n)++;
}

static void test_cpu_batch_more_started_first(void **state) {
        struct trace t = { 0 };
        struct client cl = { &t, 0 };
        struct engine *e = engine_with(&t, 4);
        struct more_src m = { .e = e, .t = &t };
        struct engine_cpu_add *adds = calloc(1, sizeof(*adds));
        size_t n = 1;
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;

        assert_non_null(adds);
        assert_int_equal(procnotify_register(e, "A", 0, sync_cb, &cl, &reg), 0);
        assert_int_equal(arrival_register(e, "A", DHP_CLASS_PROCESSOR, 0, arrival_cb, &t, &areg), 0);
        assert_int_equal(engine_cpu_set_state(e, 1, DHP_PROC_PRESENT), 0);
        adds[0] = (struct engine_cpu_add){ .index = 1 };
        assert_int_equal(engine_cpu_hotadd_batch_more(e, &adds, &n, more_cb, &m), 0);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(adds[i].result, 0);
        assert_int_equal(engine_dispatch(e), 3);
        /* Every start (those `more` brought too) before the first phase;
         * then each one's phases in turn (R29). */
        assert_trace(&t, (const char *const[]){ "start:1", "more:0", "start:2", "more:1", "start:3", "more:2",
                                                "cb:START:1", "admit:1", "cb:COMPLETE:1", "cb:START:2", "admit:2",
                                                "cb:COMPLETE:2", "cb:START:3", "admit:3", "cb:COMPLETE:3",
                                                "arrival:cpu1", "arrival:cpu2", "arrival:cpu3", NULL });
        free(adds);
        procnotify_deregister(reg);
        arrival_unregister(areg);
        engine_free(e);
}

static void test_cpu_hotadd_failures(void **state) {
        struct trace t = { 0 };
        struct client cl = { &t, 0 };
        struct engine *e = engine_with(&t, 4);
        dhp_proc_reg *reg;
        dhp_proc_state st;
        int status = 0;

        assert_int_equal(procnotify_register(e, "A", 0, sync_cb, &cl, &reg), 0);

        /* cpu_start fails: no callback ran, the processor stays present. */
        t.fail_start = -EIO;
        assert_int_equal(engine_cpu_set_state(e, 1, DHP_PROC_PRESENT), 0);
        assert_int_equal(engine_cpu_hotadd(e, 1, 0, &status), -EIO);
        assert_trace(&t, (const char *const[]){ "start:1", NULL });
        assert_int_equal(engine_cpu_get_state(e, 1, &st), 0);
        assert_int_equal(st, DHP_PROC_PRESENT);

        /* A veto: FAILURE to the one that got START, then cpu_stop; no
         * admission, no arrival. */
        t = (struct trace){ 0 };
        cl.veto = -EBUSY;
        assert_int_equal(engine_cpu_hotadd(e, 1, 0, &status), 1);
        assert_int_equal(status, -EBUSY);
        assert_trace(&t, (const char *const[]){ "start:1", "cb:START:1", "cb:FAILURE:1", "stop:1", NULL });
        assert_int_equal(engine_cpu_get_state(e, 1, &st), 0);
        assert_int_equal(st, DHP_PROC_PRESENT);
        assert_true(engine_idle(e));

        /* Admission fails: the same end, with the platform's error. */
        t = (struct trace){ 0 };
        cl.veto = 0;
        t.fail_admit = -ENOSPC;
        assert_int_equal(engine_cpu_hotadd(e, 1, 0, &status), 1);
        assert_int_equal(status, -ENOSPC);
        assert_trace(&t, (const char *const[]){ "start:1", "cb:START:1", "admit:1", "cb:FAILURE:1", "stop:1", NULL });

        /* Late (someone else onlined it): no cpu_start. */
        t = (struct trace){ 0 };
        assert_int_equal(engine_cpu_hotadd(e, 1, ENGINE_CPU_LATE, &status), 0);
        assert_trace(&t, (const char *const[]){ "cb:START:1", "admit:1", "cb:COMPLETE:1", NULL });
        assert_int_equal(engine_dispatch(e), 1);
        procnotify_deregister(reg);
        engine_free(e);
}

static void test_mem_hotadd(void **state) {
        struct trace t = { 0 };
        struct engine *e = engine_with(&t, 1);
        struct engine_mem_info info;
        dhp_arrival_reg *areg;
        uint64_t id, dev;
        bool online;

        assert_int_equal(engine_mem_set_block_size(e, 1 << 20), 0);
        assert_int_equal(engine_mem_set_block_size(e, 3), -EINVAL);
        assert_int_equal(arrival_register(e, "M", DHP_CLASS_MEMORY, 0, arrival_cb, &t, &areg), 0);
        assert_int_equal(engine_mem_device_add(e, 4, 3, false, &id), 0);
        assert_int_equal(engine_mem_device_add(e, 6, 2, false, NULL), -EEXIST);
        assert_int_equal(engine_mem_end(e), 7 << 20);

        /* A failing block: reported, the others still online, no arrival. */
        t.fail_block = -EIO;
        t.fail_block_index = 5;
        assert_int_equal(engine_mem_hotadd(e, id), -EIO);
        assert_trace(&t, (const char *const[]){ "online:4", "online:5", "online:6", NULL });
        assert_int_equal(engine_mem_device_info(e, id, &info), 0);
        assert_int_equal(info.online_blocks, 2);
        assert_false(info.arrived);
        assert_int_equal(engine_mem_block_get(e, 5, &dev, &online), 0);
        assert_int_equal(dev, id);
        assert_false(online);
        assert_int_equal(engine_dispatch(e), 0);

        /* Again: only the offline block is onlined, then the arrival. */
        t = (struct trace){ 0 };
        assert_int_equal(engine_mem_hotadd(e, id), 0);
        assert_int_equal(engine_dispatch(e), 1);
        assert_trace(&t, (const char *const[]){ "online:5", "arrival:mem@400000", NULL });
        assert_int_equal(engine_mem_device_info(e, id, &info), 0);
        assert_true(info.arrived);
        assert_int_equal(info.base, 4 << 20);
        assert_int_equal(info.size, 3 << 20);
        assert_int_equal(engine_mem_hotadd(e, id + 1), -ENOENT);
        assert_int_equal(engine_mem_block_get(e, 1, NULL, NULL), -ENOENT);
        arrival_unregister(areg);
        engine_free(e);
}

struct item {
        struct engine_item base;
        struct trace *t;
        int n;
        int *dispatch_result; /* dispatch from inside the item */
};

static void item_run(struct engine *e, struct engine_item *base) {
        struct item *it = (struct item *)base;

        trace_add(it->t, "item:%d", it->n);
        if (it->dispatch_result)
                *it->dispatch_result = engine_dispatch(e);
}

static void item_free(struct engine_item *base) {
        struct item *it = (struct item *)base;
        trace_add(it->t, "free:%d", it->n);
}

static void test_queue_order_and_wake(void **state) {
        struct trace t = { 0 };
        struct engine *e = engine_with(&t, 1);
        struct item it[3];
        int inner = 0;

        for (int i = 0; i < 3; i++) {
                it[i] = (struct item){ .base = { .run = item_run, .free = item_free }, .t = &t, .n = i };
                engine_queue(e, &it[i].base);
        }
        it[1].dispatch_result = &inner;
        /* One wake-up for the queue becoming non-empty, not one per item. */
        assert_int_equal(t.wakes, 1);
        assert_int_equal(engine_wait_idle(e, 0), -ETIMEDOUT);
        assert_int_equal(engine_dispatch(e), 3);
        assert_int_equal(inner, -EDEADLK);
        assert_trace(&t, (const char *const[]){ "item:0", "free:0", "item:1", "free:1", "item:2", "free:2", NULL });
        assert_int_equal(engine_wait_idle(e, 0), 0);
        assert_int_equal(engine_dispatch(e), 0);

        /* Empty again: the next item wakes again. */
        engine_queue(e, &it[0].base);
        assert_int_equal(t.wakes, 2);
        assert_int_equal(engine_dispatch(e), 1);
        engine_free(e);
}

static void test_free_drops_queued_items(void **state) {
        struct trace t = { 0 };
        struct engine *e = engine_with(&t, 1);
        struct item it = { .base = { .run = item_run, .free = item_free }, .t = &t, .n = 7 };

        engine_queue(e, &it.base);
        engine_free(e);
        assert_trace(&t, (const char *const[]){ "free:7", NULL });
}

struct txn_probe {
        struct engine *e;
        int in_callback; /* engine_txn_call from inside a synchronous callback */
        int calls;
};

static int txn_fn(struct engine *e, void *userdata) {
        ((struct txn_probe *)userdata)->calls++;
        return 42;
}

static void txn_cb(void *userdata, const dhp_proc_change *c) {
        struct txn_probe *p = userdata;

        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START)
                p->in_callback = engine_txn_call(p->e, txn_fn, p);
}

static void test_txn_call(void **state) {
        struct trace t = { 0 };
        struct engine *e = engine_with(&t, 2);
        struct txn_probe p = { .e = e };
        dhp_proc_reg *reg;

        assert_int_equal(engine_txn_call(e, txn_fn, &p), 42);
        assert_int_equal(p.calls, 1);
        assert_int_equal(procnotify_register(e, "T", 0, txn_cb, &p, &reg), 0);
        assert_int_equal(engine_cpu_set_state(e, 1, DHP_PROC_PRESENT), 0);
        assert_int_equal(engine_cpu_hotadd(e, 1, 0, NULL), 0);
        assert_int_equal(p.in_callback, -EDEADLK);
        assert_int_equal(p.calls, 1);
        procnotify_deregister(reg);
        engine_free(e);
}

static void hook(struct engine *e, enum engine_hook_kind kind, uint64_t arg, void *userdata) {
        struct trace *t = userdata;

        /* The processor's arrival is queued before the hook runs. */
        if (kind == ENGINE_HOOK_CPU_ADMITTED)
                trace_add(t, engine_idle(e) ? "hook:cpu%llu:idle" : "hook:cpu%llu:queued", (unsigned long long)arg);
        else
                trace_add(t, "hook:mem%llu", (unsigned long long)arg);
}

static void test_hooks(void **state) {
        struct trace t = { 0 }, h = { 0 };
        struct engine *e = engine_with(&t, 2);
        dhp_arrival_reg *areg;

        assert_int_equal(engine_hook_add(e, hook, &h), 0);
        assert_int_equal(arrival_register(e, "A", DHP_CLASS_PROCESSOR, 0, arrival_cb, &t, &areg), 0);
        assert_int_equal(engine_cpu_set_state(e, 1, DHP_PROC_PRESENT), 0);
        assert_int_equal(engine_cpu_hotadd(e, 1, 0, NULL), 0);
        assert_int_equal(engine_mem_device_add(e, 0, 1, false, NULL), 0);
        assert_int_equal(engine_mem_block_set_online(e, 0, true), 0);
        /* Our own write coming back: no change, no hook. */
        assert_int_equal(engine_mem_block_set_online(e, 0, true), 0);
        assert_trace(&h, (const char *const[]){ "hook:cpu1:queued", "hook:mem0", NULL });
        engine_dispatch(e);
        arrival_unregister(areg);
        engine_free(e);
}

/* An observer's arrivals come after every other registration's of its
 * class, whichever was made first (dhpd's own, which logs them, never
 * delays a client's). */
struct named {
        struct trace *t;
        const char *name;
};

static void arrival_named(void *userdata, const dhp_device_event *ev) {
        struct named *n = userdata;
        trace_add(n->t, "%s", n->name);
}

static void test_arrival_observer_last(void **state) {
        struct trace t = { 0 };
        struct engine *e = engine_with(&t, 4);
        struct named no = { &t, ENGINE_SELF_NAME }, na = { &t, "A" }, nb = { &t, "B" };
        dhp_arrival_reg *obs, *a, *b;

        assert_int_equal(arrival_register_observer(e, no.name, DHP_CLASS_PROCESSOR, arrival_named, &no, &obs), 0);
        assert_int_equal(arrival_register(e, "A", DHP_CLASS_PROCESSOR, 0, arrival_named, &na, &a), 0);
        assert_int_equal(arrival_register(e, "B", DHP_CLASS_PROCESSOR, 0, arrival_named, &nb, &b), 0);
        assert_int_equal(engine_cpu_set_state(e, 1, DHP_PROC_PRESENT), 0);
        assert_int_equal(engine_cpu_hotadd(e, 1, 0, NULL), 0);
        t.n = 0;
        assert_int_equal(engine_dispatch(e), 1);
        assert_trace(&t, (const char *const[]){ "A", "B", ENGINE_SELF_NAME, NULL });
        arrival_unregister(a);
        arrival_unregister(b);
        arrival_unregister(obs);
        engine_free(e);
}

/* dhpd's log levels for the stream (engine_record_log). */
struct logged {
        int level[16];
        int n;
};

static void log_capture(void *userdata, int level, const char *text) {
        struct logged *l = userdata;
        if (l->n < 16)
                l->level[l->n++] = level;
}

static void test_record_log_levels(void **state) {
        struct logged got = { 0 };
        int max = LOG_LEVEL_DEBUG;
        struct logger log = { .fn = log_capture, .userdata = &got, .max_level = &max };
        const dhp_record recs[] = {
                { .method = "txn", .event = "STARTED" },
                { .method = "sync", .event = "ADD_START", .fields = REC_HAS_CLIENT, .client = "app" },
                { .method = "sync", .event = "ADD_START", .fields = REC_HAS_CLIENT | REC_VETO, .client = "app" },
                { .method = "sync", .event = "ADD_START", .fields = REC_HAS_CLIENT | REC_MISSED, .client = "app" },
                { .method = "async", .event = "ARRIVAL", .fields = REC_HAS_CLIENT, .client = "app" },
                { .method = "async", .event = "ARRIVAL", .fields = REC_HAS_CLIENT, .client = ENGINE_SELF_NAME },
                { .method = "memcond", .event = "SET" },
                { .method = "memcond", .event = "THRESHOLDS" },
        };
        const int want[] = { LOG_LEVEL_DEBUG, LOG_LEVEL_DEBUG, LOG_LEVEL_NOTICE, LOG_LEVEL_NOTICE,
                             LOG_LEVEL_DEBUG, LOG_LEVEL_INFO,  LOG_LEVEL_INFO,   LOG_LEVEL_DEBUG };

        for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
                engine_record_log(&log, &recs[i]);
        assert_int_equal(got.n, 8);
        for (int i = 0; i < 8; i++)
                assert_int_equal(got.level[i], want[i]);
        /* At info, the per-registration lines are not even formatted. */
        max = LOG_LEVEL_INFO;
        got.n = 0;
        for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
                engine_record_log(&log, &recs[i]);
        assert_int_equal(got.n, 4);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpu_hotadd_steps_in_order),
                cmocka_unit_test(test_cpu_hotadd_failures),
                cmocka_unit_test(test_cpu_batch_more_started_first),
                cmocka_unit_test(test_mem_hotadd),
                cmocka_unit_test(test_queue_order_and_wake),
                cmocka_unit_test(test_free_drops_queued_items),
                cmocka_unit_test(test_txn_call),
                cmocka_unit_test(test_hooks),
                cmocka_unit_test(test_arrival_observer_last),
                cmocka_unit_test(test_record_log_levels),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
