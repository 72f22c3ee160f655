/* SPDX-License-Identifier: MIT */
/* Asynchronous arrival notification: every rule of doc/model.md section 2 (R11-R16), and
 * the end-to-end order of a hot-add transaction. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>

#include "helpers.h"
#include "lib/dhp-private.h"
#include "platform/sim/sim.h"

struct arr {
        dhp *ctx;
        struct sim *sim;
        int n;
        int existing;
        uint32_t cpu[64];
        uint64_t base[64], size[64];
        dhp_class cls[64];
        bool cpu_admitted_at_arrival;
        bool blocks_online_at_arrival;
        dhp_arrival_reg *reg;
        bool unregister_self;
        pthread_t thread;
};

static void arr_cb(void *userdata, const dhp_device_event *e) {
        struct arr *a = userdata;
        int i = a->n++;

        a->thread = pthread_self();
        a->cls[i] = dhp_device_event_get_class(e);
        assert_int_equal(dhp_device_event_get_event(e), DHP_EVENT_ARRIVAL);
        if (dhp_device_event_is_existing(e))
                a->existing++;
        if (a->cls[i] == DHP_CLASS_PROCESSOR) {
                dhp_proc_state ps;
                assert_int_equal(dhp_device_event_get_processor(e, &a->cpu[i], NULL), 0);
                assert_int_equal(dhp_device_event_get_memory(e, NULL, NULL), -EINVAL);
                assert_int_equal(dhp_proc_get_state(a->ctx, a->cpu[i], &ps), 0);
                a->cpu_admitted_at_arrival = ps == DHP_PROC_ADMITTED;
        } else {
                assert_int_equal(dhp_device_event_get_memory(e, &a->base[i], &a->size[i]), 0);
                a->blocks_online_at_arrival = true;
                for (uint64_t b = a->base[i] / (128 << 20); b < (a->base[i] + a->size[i]) / (128 << 20); b++)
                        if (!sim_block_online(a->sim, b))
                                a->blocks_online_at_arrival = false;
        }
        if (a->unregister_self) {
                dhp_arrival_unregister(a->reg);
                a->reg = NULL;
        }
}

static void open_ctx(struct arr *a, const char *target) {
        assert_int_equal(dhp_open(&a->ctx, target), 0);
        a->sim = dhp_internal_sim(a->ctx);
}

static void test_processor_arrival_queued_not_inline(void **state) {
        struct arr a = { 0 };
        struct pollfd p;

        open_ctx(&a, "sim:cpus=1,maxcpus=4");
        assert_int_equal(dhp_arrival_register(a.ctx, "w", DHP_CLASS_PROCESSOR, 0, arr_cb, &a, &a.reg), 0);
        assert_int_equal(dhp_sim_cpu_add(a.ctx, NULL), 0);
        /* Never inside the hot-add transaction: nothing yet, the fd says
         * there is something to process. */
        assert_int_equal(a.n, 0);
        p = (struct pollfd){ .fd = dhp_get_fd(a.ctx), .events = POLLIN };
        assert_int_equal(poll(&p, 1, 0), 1);
        assert_int_equal(dhp_process(a.ctx), 1);
        assert_int_equal(a.n, 1);
        assert_int_equal(a.cpu[0], 1);
        assert_true(a.cpu_admitted_at_arrival);
        assert_int_equal(poll(&p, 1, 0), 0);
        dhp_close(a.ctx);
}

static void test_processor_arrival_after_add_complete(void **state) {
        struct arr a = { 0 };
        struct recorder rec;
        long complete, arrival;

        open_ctx(&a, "sim:cpus=1,maxcpus=4");
        recorder_start(&rec, a.ctx);
        assert_int_equal(dhp_start_thread(a.ctx), 0);
        assert_int_equal(dhp_arrival_register(a.ctx, "w", DHP_CLASS_PROCESSOR, 0, arr_cb, &a, &a.reg), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(dhp_sim_cpu_add(a.ctx, NULL), 0);
        assert_int_equal(dhp_stop_thread(a.ctx), 0); /* delivers what was queued */
        assert_int_equal(a.n, 3);
        assert_false(pthread_equal(a.thread, pthread_self()));
        for (int i = 1; i <= 3; i++) {
                char cpu[32];
                snprintf(cpu, sizeof(cpu), "\"processor\":%d,", i);
                complete = recorder_find(&rec, 0, "\"txn\"", "\"ADMITTED\"", cpu, NULL);
                arrival = recorder_find(&rec, 0, "\"ARRIVAL\"", cpu, NULL);
                assert_true(complete >= 0 && arrival >= 0);
                assert_true(arrival > complete);
        }
        recorder_stop(&rec);
        dhp_close(a.ctx);
}

static void veto_all(void *userdata, const dhp_proc_change *c) {
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START)
                dhp_proc_change_veto(c, -EPERM);
}

static void test_vetoed_processor_never_arrives(void **state) {
        struct arr a = { 0 };
        dhp_proc_reg *reg;

        open_ctx(&a, "sim:cpus=1,maxcpus=4");
        assert_int_equal(dhp_arrival_register(a.ctx, "w", DHP_CLASS_PROCESSOR, 0, arr_cb, &a, &a.reg), 0);
        assert_int_equal(dhp_proc_register(a.ctx, "v", 0, veto_all, NULL, &reg), 0);
        assert_int_equal(dhp_sim_cpu_add(a.ctx, NULL), 1);
        assert_int_equal(dhp_process(a.ctx), 0);
        assert_int_equal(a.n, 0);
        dhp_close(a.ctx);
}

static void test_memory_arrival_after_every_block(void **state) {
        struct arr a = { 0 };
        struct recorder rec;
        uint64_t base;
        long arrival;

        open_ctx(&a, "sim:cpus=1,memory=512M,block=128M");
        recorder_start(&rec, a.ctx);
        assert_int_equal(dhp_arrival_register(a.ctx, "cache", DHP_CLASS_MEMORY, 0, arr_cb, &a, &a.reg), 0);
        assert_int_equal(dhp_sim_memory_add(a.ctx, 512 << 20, &base), 0);
        assert_int_equal(base, 512 << 20);
        assert_int_equal(dhp_process(a.ctx), 1);
        assert_int_equal(a.n, 1);
        assert_int_equal(a.base[0], 512 << 20);
        assert_int_equal(a.size[0], 512 << 20);
        assert_true(a.blocks_online_at_arrival);
        arrival = recorder_find(&rec, 0, "\"ARRIVAL\"", "\"class\":\"memory\"", NULL);
        for (int b = 4; b < 8; b++) {
                char blk[32];
                snprintf(blk, sizeof(blk), "\"block\":%d", b);
                long online = recorder_find(&rec, 0, "\"ONLINE\"", blk, NULL);
                assert_true(online >= 0 && online < arrival);
        }
        recorder_stop(&rec);
        dhp_close(a.ctx);
}

static void test_memory_no_arrival_while_a_block_is_offline(void **state) {
        struct arr a = { 0 };
        struct recorder rec;

        open_ctx(&a, "sim:cpus=1,memory=512M,block=128M");
        recorder_start(&rec, a.ctx);
        assert_int_equal(dhp_arrival_register(a.ctx, "cache", DHP_CLASS_MEMORY, 0, arr_cb, &a, &a.reg), 0);
        /* First a device that arrives, then one whose first block fails:
         * the failure is reported and that device does not arrive. */
        assert_int_equal(sim_inject_failure(a.sim, SIM_OP_BLOCK_ONLINE, -EBUSY, 0), 0);
        assert_int_equal(dhp_sim_memory_add(a.ctx, 512 << 20, NULL), 0);
        assert_int_equal(dhp_process(a.ctx), 1);
        a.n = 0;
        assert_int_equal(sim_inject_failure(a.sim, SIM_OP_BLOCK_ONLINE, -EBUSY, 1), 0);
        assert_int_equal(dhp_sim_memory_add(a.ctx, 512 << 20, NULL), -EBUSY);
        assert_int_equal(dhp_process(a.ctx), 0);
        assert_int_equal(a.n, 0);
        assert_int_equal(recorder_count(&rec, "\"ONLINE_FAILED\"", "\"status\":\"EBUSY\"", NULL), 1);
        recorder_stop(&rec);
        dhp_close(a.ctx);
}

static void test_include_existing(void **state) {
        struct arr p = { 0 }, m = { 0 };
        dhp *ctx;

        open_ctx(&p, "sim:cpus=3,maxcpus=8,memory=1G");
        ctx = p.ctx;
        m.ctx = ctx;
        m.sim = p.sim;
        assert_int_equal(dhp_arrival_register(ctx, "p", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING, arr_cb, &p,
                                              &p.reg),
                         0);
        assert_int_equal(dhp_arrival_register(ctx, "m", DHP_CLASS_MEMORY, DHP_ARRIVAL_INCLUDE_EXISTING, arr_cb, &m,
                                              &m.reg),
                         0);
        assert_int_equal(dhp_process(ctx), 4);
        assert_int_equal(p.n, 3);
        assert_int_equal(p.existing, 3);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(p.cls[i], DHP_CLASS_PROCESSOR);
                assert_int_equal(p.cpu[i], (uint32_t)i);
        }
        assert_int_equal(m.n, 1);
        assert_int_equal(m.existing, 1);
        assert_int_equal(m.size[0], 1 << 30);
        /* Class filter: a processor add reaches only the processor one. */
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 1);
        assert_int_equal(p.n, 4);
        assert_int_equal(m.n, 1);
        dhp_close(ctx);
}

/* INCLUDE_EXISTING while processors arrive on another thread: every
 * processor is reported at least once and at most twice. */
struct counts {
        atomic_int per_cpu[256];
};

static void count_cb(void *userdata, const dhp_device_event *e) {
        struct counts *c = userdata;
        uint32_t i;

        dhp_device_event_get_processor(e, &i, NULL);
        atomic_fetch_add(&c->per_cpu[i], 1);
}

static void *add_many(void *userdata) {
        dhp *ctx = userdata;

        for (int i = 0; i < 120; i++)
                if (dhp_sim_cpu_add(ctx, NULL) != 0)
                        break;
        return NULL;
}

static void test_include_existing_at_most_twice(void **state) {
        for (int round = 0; round < 10; round++) {
                static struct counts c[8];
                dhp_arrival_reg *regs[8];
                pthread_t t;
                dhp *ctx;

                memset(c, 0, sizeof(c));
                assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=128"), 0);
                assert_int_equal(dhp_start_thread(ctx), 0);
                assert_int_equal(pthread_create(&t, NULL, add_many, ctx), 0);
                for (int k = 0; k < 8; k++) {
                        assert_int_equal(dhp_arrival_register(ctx, NULL, DHP_CLASS_PROCESSOR,
                                                              DHP_ARRIVAL_INCLUDE_EXISTING, count_cb, &c[k], &regs[k]),
                                         0);
                        sched_yield();
                }
                pthread_join(t, NULL);
                assert_int_equal(dhp_stop_thread(ctx), 0);
                for (int k = 0; k < 8; k++)
                        for (uint32_t cpu = 0; cpu < 121; cpu++) {
                                int n = atomic_load(&c[k].per_cpu[cpu]);
                                if (n < 1 || n > 2)
                                        fail_msg("round %d reg %d cpu %u reported %d times", round, k, cpu, n);
                        }
                dhp_close(ctx);
        }
}

static void test_unregister_inside_callback(void **state) {
        struct arr a = { 0 };

        open_ctx(&a, "sim:cpus=1,maxcpus=4");
        a.unregister_self = true;
        assert_int_equal(dhp_arrival_register(a.ctx, "w", DHP_CLASS_PROCESSOR, 0, arr_cb, &a, &a.reg), 0);
        assert_int_equal(dhp_sim_cpu_add(a.ctx, NULL), 0);
        assert_int_equal(dhp_sim_cpu_add(a.ctx, NULL), 0);
        assert_int_equal(dhp_process(a.ctx), 2);
        /* The first arrival unregistered it: the second item found nobody. */
        assert_int_equal(a.n, 1);
        assert_null(a.reg);
        dhp_close(a.ctx);
}

struct slow {
        struct flag entered, release, unreg_returned;
        atomic_int in_cb;
        atomic_int calls_after;
        atomic_int calls;
        dhp_arrival_reg *reg;
};

static void slow_cb(void *userdata, const dhp_device_event *e) {
        struct slow *s = userdata;

        atomic_fetch_add(&s->calls, 1);
        if (flag_get(&s->unreg_returned))
                atomic_fetch_add(&s->calls_after, 1);
        atomic_store(&s->in_cb, 1);
        flag_set(&s->entered, 1);
        flag_wait(&s->release, 1, 5000);
        atomic_store(&s->in_cb, 0);
}

static void *unregisterer(void *userdata) {
        struct slow *s = userdata;

        dhp_arrival_unregister(s->reg);
        if (atomic_load(&s->in_cb))
                atomic_fetch_add(&s->calls_after, 100);
        flag_set(&s->unreg_returned, 1);
        return NULL;
}

static void test_unregister_waits_for_notification_thread(void **state) {
        struct slow s = { 0 };
        pthread_t t;
        dhp *ctx;

        flag_init(&s.entered);
        flag_init(&s.release);
        flag_init(&s.unreg_returned);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        assert_int_equal(dhp_start_thread(ctx), 0);
        assert_int_equal(dhp_arrival_register(ctx, NULL, DHP_CLASS_PROCESSOR, 0, slow_cb, &s, &s.reg), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_true(flag_wait(&s.entered, 1, 5000));
        assert_int_equal(pthread_create(&t, NULL, unregisterer, &s), 0);
        assert_false(flag_wait(&s.unreg_returned, 1, 100));
        flag_set(&s.release, 1);
        assert_true(flag_wait(&s.unreg_returned, 1, 5000));
        pthread_join(t, NULL);
        assert_int_equal(dhp_stop_thread(ctx), 0);
        assert_int_equal(atomic_load(&s.calls), 1);
        assert_int_equal(atomic_load(&s.calls_after), 0);
        dhp_close(ctx);
}

/* The end-to-end order of doc/model.md R30: ADD_START (all) -> admitted ->
 * ADD_COMPLETE (all) -> ARRIVAL. */
static void nop_proc(void *userdata, const dhp_proc_change *c) {
}
static void nop_arr(void *userdata, const dhp_device_event *e) {
}

static void test_end_to_end_order(void **state) {
        dhp_proc_reg *r1, *r2;
        dhp_arrival_reg *a1;
        struct recorder rec;
        dhp *ctx;
        const char *expect[][3] = {
                { "\"txn\"", "\"STARTED\"", NULL },
                { "\"ADD_START\"", "\"client\":\"one\"", NULL },
                { "\"ADD_START\"", "\"client\":\"two\"", NULL },
                { "\"txn\"", "\"ADMITTED\"", NULL },
                { "\"ADD_COMPLETE\"", "\"client\":\"one\"", NULL },
                { "\"ADD_COMPLETE\"", "\"client\":\"two\"", NULL },
                { "\"ARRIVAL\"", "\"client\":\"three\"", NULL },
        };
        long prev = -1;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        recorder_start(&rec, ctx);
        assert_int_equal(dhp_start_thread(ctx), 0);
        assert_int_equal(dhp_proc_register(ctx, "one", 0, nop_proc, NULL, &r1), 0);
        assert_int_equal(dhp_proc_register(ctx, "two", 0, nop_proc, NULL, &r2), 0);
        assert_int_equal(dhp_arrival_register(ctx, "three", DHP_CLASS_PROCESSOR, 0, nop_arr, NULL, &a1), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_stop_thread(ctx), 0);
        for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
                long at = recorder_find(&rec, 0, expect[i][0], expect[i][1], NULL);
                if (at <= prev) {
                        recorder_dump(&rec);
                        fail_msg("step %zu (%s %s) at %ld, not after %ld", i, expect[i][0], expect[i][1], at, prev);
                }
                prev = at;
        }
        assert_int_equal(rec.n, 7);
        recorder_stop(&rec);
        dhp_close(ctx);
}

/*
 * Issue 17 item 2, R12: a processor is not existing before its ADD_COMPLETE
 * has returned.  ADD_COMPLETE blocks on the adding thread (a flag, no
 * sleep) while this thread registers with INCLUDE_EXISTING and dispatches:
 * the new processor must not be delivered; once ADD_COMPLETE returned it
 * arrives exactly once, as new.
 */
struct complete_gate {
        struct flag in_complete, go;
        uint32_t index;
        dhp *ctx;
        int r;
};

static void gate_cb(void *userdata, const dhp_proc_change *c) {
        struct complete_gate *g = userdata;

        if (dhp_proc_change_get_state(c) != DHP_PROC_ADD_COMPLETE || dhp_proc_change_get_index(c) != g->index)
                return;
        flag_set(&g->in_complete, 1);
        assert_true(flag_wait(&g->go, 1, 10000));
}

static void *gate_adder(void *userdata) {
        struct complete_gate *g = userdata;

        g->r = dhp_sim_cpu_add(g->ctx, NULL);
        return NULL;
}

static void test_not_existing_before_add_complete(void **state) {
        struct complete_gate g = { .index = 2 };
        struct arr a = { 0 };
        dhp_arrival_reg *areg;
        dhp_proc_reg *preg;
        pthread_t t;
        int cpu2 = 0;

        flag_init(&g.in_complete);
        flag_init(&g.go);
        open_ctx(&a, "sim:cpus=2,maxcpus=4");
        g.ctx = a.ctx;
        assert_int_equal(dhp_proc_register(a.ctx, "gate", 0, gate_cb, &g, &preg), 0);
        assert_int_equal(pthread_create(&t, NULL, gate_adder, &g), 0);
        assert_true(flag_wait(&g.in_complete, 1, 10000));

        /* cpu2 is admitted, its ADD_COMPLETE has not returned. */
        assert_int_equal(dhp_arrival_register(a.ctx, "late", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING,
                                              arr_cb, &a, &areg), 0);
        assert_int_equal(dhp_process(a.ctx), 2);
        assert_int_equal(a.n, 2);
        for (int i = 0; i < a.n; i++)
                assert_int_not_equal(a.cpu[i], 2);

        flag_set(&g.go, 1);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(g.r, 0);
        /* Now it arrives, once, as new. */
        assert_int_equal(dhp_process(a.ctx), 1);
        for (int i = 0; i < a.n; i++)
                cpu2 += a.cpu[i] == 2;
        assert_int_equal(cpu2, 1);
        assert_int_equal(a.existing, 2);
        dhp_arrival_unregister(areg);
        dhp_proc_deregister(preg);
        dhp_close(a.ctx);
}

/* Issue 17 item 8: an arrival callback gets its registration from the event
 * and can unregister itself with it; the events still queued for it (here
 * the second existing processor) are then not delivered. */
struct arr_self {
        int n;
        dhp_arrival_reg *seen;
        bool unregister;
};

static void arr_self_cb(void *userdata, const dhp_device_event *e) {
        struct arr_self *a = userdata;

        a->n++;
        a->seen = dhp_device_event_get_reg(e);
        assert_non_null(a->seen);
        if (a->unregister)
                dhp_arrival_unregister(dhp_device_event_get_reg(e));
}

static void test_reg_in_event(void **state) {
        struct arr_self keep = { 0 }, self = { .unregister = true };
        dhp_arrival_reg *kreg, *sreg;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,maxcpus=4"), 0);
        assert_int_equal(dhp_arrival_register(ctx, "keep", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING,
                                              arr_self_cb, &keep, &kreg), 0);
        assert_int_equal(dhp_arrival_register(ctx, "self", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING,
                                              arr_self_cb, &self, &sreg), 0);
        assert_int_equal(dhp_process(ctx), 4);
        assert_int_equal(keep.n, 2);
        assert_ptr_equal(keep.seen, kreg);
        assert_int_equal(self.n, 1);
        assert_ptr_equal(self.seen, sreg);
        /* A broadcast arrival names each registration to itself. */
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 1);
        assert_int_equal(keep.n, 3);
        assert_ptr_equal(keep.seen, kreg);
        assert_int_equal(self.n, 1);
        dhp_arrival_unregister(kreg);
        dhp_close(ctx);
}

static void test_bad_arguments(void **state) {
        dhp_arrival_reg *reg;
        dhp_proc_reg *preg;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "nonsense"), -EPROTONOSUPPORT);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=0"), -EINVAL);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=4,maxcpus=2"), -EINVAL);
        assert_int_equal(dhp_open(&ctx, "sim:bogus=1"), -EINVAL);
        assert_int_equal(dhp_open(&ctx, "sim:memory=100M"), -EINVAL);
        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        assert_int_equal(dhp_arrival_register(ctx, NULL, 7, 0, nop_arr, NULL, &reg), -EINVAL);
        assert_int_equal(dhp_arrival_register(ctx, NULL, DHP_CLASS_MEMORY, 0x80, nop_arr, NULL, &reg), -EINVAL);
        assert_int_equal(dhp_arrival_register(ctx, NULL, DHP_CLASS_MEMORY, 0, NULL, NULL, &reg), -EINVAL);
        assert_int_equal(dhp_proc_register(ctx, NULL, 0x80, nop_proc, NULL, &preg), -EINVAL);
        assert_int_equal(dhp_sim_memory_add(ctx, 100 << 20, NULL), -EINVAL);
        assert_int_equal(dhp_sim_memory_add(ctx, 1ULL << 40, NULL), -ENOSPC);
        dhp_close(ctx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_processor_arrival_queued_not_inline),
                cmocka_unit_test(test_processor_arrival_after_add_complete),
                cmocka_unit_test(test_vetoed_processor_never_arrives),
                cmocka_unit_test(test_memory_arrival_after_every_block),
                cmocka_unit_test(test_memory_no_arrival_while_a_block_is_offline),
                cmocka_unit_test(test_include_existing),
                cmocka_unit_test(test_include_existing_at_most_twice),
                cmocka_unit_test(test_unregister_inside_callback),
                cmocka_unit_test(test_unregister_waits_for_notification_thread),
                cmocka_unit_test(test_end_to_end_order),
                cmocka_unit_test(test_not_existing_before_add_complete),
                cmocka_unit_test(test_reg_in_event),
                cmocka_unit_test(test_bad_arguments),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
