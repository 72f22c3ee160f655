/* SPDX-License-Identifier: MIT */
/*
 * Issue 17 items 2, 5 and 8 through dhpd: a real dhpd --platform sim on a
 * socket in a temporary directory, two or three contexts of this process.
 * Every wait is bounded (a flag, dhp_wait).
 */
#include <errno.h>
#include <stdatomic.h>

#include "helpers.h"
#include "ipc-daemon.h"

/* ---- item 2: not existing before ADD_COMPLETE returned ---------------- */

struct gate {
        struct flag in_complete, go;
        uint32_t index;
};

static void gate_cb(void *userdata, const dhp_proc_change *c) {
        struct gate *g = userdata;

        if (dhp_proc_change_get_state(c) != DHP_PROC_ADD_COMPLETE || dhp_proc_change_get_index(c) != g->index)
                return;
        flag_set(&g->in_complete, 1);
        assert_true(flag_wait(&g->go, 1, 10000));
}

struct adder {
        dhp *ctx;
        int r;
};

static void *adder_run(void *userdata) {
        struct adder *a = userdata;

        a->r = dhp_sim_cpu_add(a->ctx, NULL);
        return NULL;
}

struct seen {
        atomic_int cpu2, cpu2_existing, total;
};

static void seen_cb(void *userdata, const dhp_device_event *e) {
        struct seen *s = userdata;
        uint32_t index;

        assert_int_equal(dhp_device_event_get_processor(e, &index, NULL), 0);
        atomic_fetch_add(&s->total, 1);
        if (index == 2) {
                atomic_fetch_add(&s->cpu2, 1);
                if (dhp_device_event_is_existing(e))
                        atomic_fetch_add(&s->cpu2_existing, 1);
        }
}

static void test_not_existing_before_add_complete(void **state) {
        struct gate g = { .index = 2 };
        struct seen s = { 0 };
        struct adder a;
        dhp *sync, *late;
        dhp_proc_reg *preg;
        dhp_arrival_reg *areg;
        pthread_t t;

        flag_init(&g.in_complete);
        flag_init(&g.go);
        ipc_daemon_start("deadline = 20s");
        sync = ipc_open_ctx();
        late = ipc_open_ctx();
        a.ctx = ipc_open_ctx();
        assert_int_equal(dhp_proc_register(sync, "gate", 0, gate_cb, &g, &preg), 0);
        assert_int_equal(pthread_create(&t, NULL, adder_run, &a), 0);
        assert_true(flag_wait(&g.in_complete, 1, 10000));

        /* cpu2 is admitted in dhpd; a client's ADD_COMPLETE has not
         * returned.  The existing ones are cpu0 and cpu1 only. */
        assert_int_equal(dhp_arrival_register(late, "late", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING,
                                              seen_cb, &s, &areg), 0);
        for (int i = 0; i < 50 && atomic_load(&s.total) < 2; i++)
                if (dhp_wait(late, 100) > 0)
                        assert_true(dhp_process(late) >= 0);
        assert_int_equal(atomic_load(&s.total), 2);
        assert_int_equal(atomic_load(&s.cpu2), 0);

        flag_set(&g.go, 1);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(a.r, 0);
        for (int i = 0; i < 100 && atomic_load(&s.cpu2) == 0; i++)
                if (dhp_wait(late, 100) > 0)
                        assert_true(dhp_process(late) >= 0);
        assert_int_equal(atomic_load(&s.cpu2), 1);
        assert_int_equal(atomic_load(&s.cpu2_existing), 0);

        dhp_arrival_unregister(areg);
        dhp_proc_deregister(preg);
        dhp_close(a.ctx);
        dhp_close(late);
        dhp_close(sync);
}

/* ---- item 8: the callback's own registration ---------------------------- */

struct self {
        atomic_int calls;
        dhp_proc_reg *seen;
        int dereg_at;
};

static void self_cb(void *userdata, const dhp_proc_change *c) {
        struct self *s = userdata;
        int n = atomic_fetch_add(&s->calls, 1) + 1;

        s->seen = dhp_proc_change_get_reg(c);
        assert_non_null(s->seen);
        if (n == s->dereg_at)
                dhp_proc_deregister(dhp_proc_change_get_reg(c));
}

struct aself {
        atomic_int n;
        dhp_arrival_reg *seen;
};

static void aself_cb(void *userdata, const dhp_device_event *e) {
        struct aself *a = userdata;

        atomic_fetch_add(&a->n, 1);
        a->seen = dhp_device_event_get_reg(e);
        dhp_arrival_unregister(dhp_device_event_get_reg(e));
}

static void test_reg_in_callback(void **state) {
        struct self keep = { 0 }, gone = { .dereg_at = 1 };
        struct aself as = { 0 };
        dhp_proc_reg *reg = NULL;
        dhp_arrival_reg *areg;
        dhp *ctx, *drv;

        ipc_daemon_start("deadline = 5s");
        ctx = ipc_open_ctx();
        drv = ipc_open_ctx();
        assert_int_equal(dhp_proc_register(ctx, "keep", DHP_PROC_ADD_EXISTING, self_cb, &keep, &reg), 0);
        assert_int_equal(atomic_load(&keep.calls), 4);
        assert_ptr_equal(keep.seen, reg);
        /* Deregistered in its first ADD_EXISTING call. */
        assert_int_equal(dhp_proc_register(ctx, "gone", DHP_PROC_ADD_EXISTING, self_cb, &gone, &(dhp_proc_reg *){ 0 }),
                         -ECANCELED);
        assert_int_equal(atomic_load(&gone.calls), 1);
        assert_int_equal(dhp_sim_cpu_add(drv, NULL), 0);
        assert_int_equal(atomic_load(&keep.calls), 6);
        assert_int_equal(atomic_load(&gone.calls), 1);

        /* An arrival callback unregisters itself at its first existing
         * device: the second is not delivered. */
        assert_int_equal(dhp_arrival_register(ctx, "aself", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING, aself_cb,
                                              &as, &areg),
                         0);
        for (int i = 0; i < 20 && atomic_load(&as.n) == 0; i++)
                if (dhp_wait(ctx, 100) > 0)
                        assert_true(dhp_process(ctx) >= 0);
        for (int i = 0; i < 3; i++)
                if (dhp_wait(ctx, 100) > 0)
                        assert_true(dhp_process(ctx) >= 0);
        assert_int_equal(atomic_load(&as.n), 1);
        assert_ptr_equal(as.seen, areg);

        dhp_proc_deregister(reg);
        dhp_close(drv);
        dhp_close(ctx);
}

/* ---- item 5: the margin keys reach dhpd's engine ------------------------- */

static void test_margin_key(void **state) {
        char *err = NULL;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_memcond_configure(ctx, "margin=0,commit_margin=0", &err), 0);
        assert_int_equal(dhp_memcond_configure(ctx, "margin=x", &err), -EINVAL);
        assert_non_null(err);
        assert_non_null(strstr(err, "margin=x"));
        free(err);
        dhp_close(ctx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_not_existing_before_add_complete, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_reg_in_callback, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_margin_key, ipc_setup, ipc_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
