/* SPDX-License-Identifier: MIT */
/* Synchronous processor notification: every rule of doc/model.md section 1 (R1-R10). */
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include "helpers.h"
#include "lib/dhp-private.h"
#include "platform/sim/sim.h"

/* A log of calls: "A:START:2" ... */
struct calls {
        pthread_mutex_t lock;
        char log[64][32];
        int n;
};

struct client {
        const char *name;
        struct calls *calls;
        int veto; /* veto ADD_START with this error, 0: never */
        int veto_result;
        int seen_status[3];
        bool started_schedulable; /* at ADD_START: was the cpu schedulable? */
        bool complete_schedulable;
        struct sim *sim;
        dhp_proc_reg *reg;
        bool dereg_in_start;
};

static void calls_add(struct calls *c, const char *who, const char *what, uint32_t index) {
        pthread_mutex_lock(&c->lock);
        if (c->n < 64)
                snprintf(c->log[c->n++], 32, "%s:%s:%u", who, what, index);
        pthread_mutex_unlock(&c->lock);
}

static const char *st(dhp_proc_change_state s) {
        return s == DHP_PROC_ADD_START ? "START" : s == DHP_PROC_ADD_COMPLETE ? "COMPLETE" : "FAILURE";
}

static void client_cb(void *userdata, const dhp_proc_change *c) {
        struct client *cl = userdata;
        dhp_proc_change_state s = dhp_proc_change_get_state(c);
        uint32_t index = dhp_proc_change_get_index(c);

        calls_add(cl->calls, cl->name, st(s), index);
        cl->seen_status[s - 1] = dhp_proc_change_get_status(c);
        if (s == DHP_PROC_ADD_START) {
                if (cl->sim)
                        cl->started_schedulable = sim_cpu_schedulable(cl->sim, index);
                if (cl->veto)
                        cl->veto_result = dhp_proc_change_veto(c, cl->veto);
                if (cl->dereg_in_start) {
                        dhp_proc_deregister(cl->reg);
                        cl->reg = NULL;
                }
        } else if (s == DHP_PROC_ADD_COMPLETE && cl->sim) {
                cl->complete_schedulable = sim_cpu_schedulable(cl->sim, index);
        }
}

static void calls_expect(struct calls *c, const char *const *expected) {
        int i = 0;

        for (; expected[i]; i++) {
                if (i >= c->n)
                        fail_msg("call %d missing: expected %s", i, expected[i]);
                if (strcmp(c->log[i], expected[i]) != 0)
                        fail_msg("call %d: got %s, expected %s", i, c->log[i], expected[i]);
        }
        if (c->n != i)
                fail_msg("%d calls, expected %d; extra: %s", c->n, i, c->log[i]);
}

static void test_start_then_complete_in_order(void **state) {
        struct calls calls = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct client a = { "A", &calls }, b = { "B", &calls }, c = { "C", &calls };
        dhp_proc_state ps;
        uint32_t idx;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,maxcpus=4"), 0);
        a.sim = dhp_internal_sim(ctx);
        assert_int_equal(dhp_proc_register(ctx, "A", 0, client_cb, &a, &a.reg), 0);
        assert_int_equal(dhp_proc_register(ctx, "B", 0, client_cb, &b, &b.reg), 0);
        assert_int_equal(dhp_proc_register(ctx, "C", 0, client_cb, &c, &c.reg), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, &idx), 0);
        assert_int_equal(idx, 2);
        calls_expect(&calls, (const char *const[]){ "A:START:2", "B:START:2", "C:START:2", "A:COMPLETE:2",
                                                    "B:COMPLETE:2", "C:COMPLETE:2", NULL });
        /* ADD_START: started, nothing scheduled on it; ADD_COMPLETE: admitted. */
        assert_false(a.started_schedulable);
        assert_true(a.complete_schedulable);
        assert_int_equal(dhp_proc_get_state(ctx, 2, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ADMITTED);
        dhp_close(ctx);
}

static void number_cb(void *userdata, const dhp_proc_change *c) {
        dhp_proc_number *n = userdata;

        *n = dhp_proc_change_get_number(c);
        assert_int_equal(dhp_proc_change_get_index(c), 66);
}

static void test_processor_number(void **state) {
        dhp_proc_number n = { 0 };
        dhp_proc_reg *reg;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=66,maxcpus=80"), 0);
        assert_int_equal(dhp_proc_register(ctx, NULL, 0, number_cb, &n, &reg), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(n.group, 1);
        assert_int_equal(n.number, 2);
        dhp_close(ctx);
}

static void test_veto_by_second_of_three(void **state) {
        struct calls calls = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct client a = { "A", &calls }, b = { "B", &calls, -EBUSY }, c = { "C", &calls, -EIO };
        struct sim *sim;
        dhp_proc_state ps;
        uint32_t idx;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        sim = dhp_internal_sim(ctx);
        assert_int_equal(dhp_proc_register(ctx, "A", 0, client_cb, &a, &a.reg), 0);
        assert_int_equal(dhp_proc_register(ctx, "B", 0, client_cb, &b, &b.reg), 0);
        assert_int_equal(dhp_proc_register(ctx, "C", 0, client_cb, &c, &c.reg), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, &idx), 1);
        /* The third still got ADD_START; all three, the vetoing one
         * included, got ADD_FAILURE. */
        calls_expect(&calls, (const char *const[]){ "A:START:1", "B:START:1", "C:START:1", "A:FAILURE:1",
                                                    "B:FAILURE:1", "C:FAILURE:1", NULL });
        assert_int_equal(b.veto_result, 0);
        /* The status is never overwritten: C's veto lost. */
        assert_int_equal(c.veto_result, -EALREADY);
        assert_int_equal(c.seen_status[DHP_PROC_ADD_START - 1], -EBUSY);
        assert_int_equal(a.seen_status[DHP_PROC_ADD_FAILURE - 1], -EBUSY);
        assert_int_equal(c.seen_status[DHP_PROC_ADD_FAILURE - 1], -EBUSY);
        /* Not admitted: offline again in the simulated hardware. */
        assert_int_equal(dhp_proc_get_state(ctx, idx, &ps), 0);
        assert_int_equal(ps, DHP_PROC_PRESENT);
        assert_false(sim_cpu_online(sim, idx));
        assert_false(sim_cpu_schedulable(sim, idx));
        dhp_close(ctx);
}

static void veto_cb(void *userdata, const dhp_proc_change *c) {
        int *results = userdata;

        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START) {
                results[0] = dhp_proc_change_veto(c, 5); /* not a negative errno */
        } else if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_COMPLETE) {
                results[1] = dhp_proc_change_veto(c, -EIO); /* too late */
        }
}

static void test_veto_rules(void **state) {
        int results[2] = { 1, 1 };
        dhp_proc_reg *reg;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        assert_int_equal(dhp_proc_register(ctx, NULL, 0, veto_cb, results, &reg), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(results[0], -EINVAL);
        assert_int_equal(results[1], -EINVAL);
        dhp_close(ctx);
}

static void test_admission_failure(void **state) {
        struct calls calls = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct client a = { "A", &calls };
        struct sim *sim;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        sim = dhp_internal_sim(ctx);
        assert_int_equal(dhp_proc_register(ctx, "A", 0, client_cb, &a, &a.reg), 0);
        assert_int_equal(sim_inject_failure(sim, SIM_OP_CPU_ADMIT, -EIO, 1), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 1);
        calls_expect(&calls, (const char *const[]){ "A:START:1", "A:FAILURE:1", NULL });
        assert_int_equal(a.seen_status[DHP_PROC_ADD_FAILURE - 1], -EIO);
        assert_false(sim_cpu_online(sim, 1));
        dhp_close(ctx);
}

static void test_start_failure_runs_no_callback(void **state) {
        struct calls calls = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct client a = { "A", &calls };
        dhp_proc_state ps;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        assert_int_equal(dhp_proc_register(ctx, "A", 0, client_cb, &a, &a.reg), 0);
        assert_int_equal(sim_inject_failure(dhp_internal_sim(ctx), SIM_OP_CPU_START, -EIO, 1), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), -EIO);
        assert_int_equal(calls.n, 0);
        assert_int_equal(dhp_proc_get_state(ctx, 1, &ps), 0);
        assert_int_equal(ps, DHP_PROC_PRESENT);
        dhp_close(ctx);
}

struct existing {
        struct calls *calls;
        uint32_t veto_on; /* veto ADD_START of this processor; UINT32_MAX: never */
        bool returned;    /* set by the test once register returned */
        bool called_after_return;
};

static void existing_cb(void *userdata, const dhp_proc_change *c) {
        struct existing *x = userdata;
        uint32_t idx = dhp_proc_change_get_index(c);

        if (x->returned)
                x->called_after_return = true;
        calls_add(x->calls, "X", st(dhp_proc_change_get_state(c)), idx);
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START && idx == x->veto_on)
                dhp_proc_change_veto(c, -ENOMEM);
}

static void test_add_existing_failing_on_second_of_four(void **state) {
        struct calls calls = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct existing x = { &calls, 1 };
        dhp_proc_reg *reg = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=4,maxcpus=8"), 0);
        assert_int_equal(dhp_proc_register(ctx, "X", DHP_PROC_ADD_EXISTING, existing_cb, &x, &reg), -ENOMEM);
        assert_null(reg);
        /* No ADD_START after processor k=1; ADD_FAILURE to 0 only, not to k. */
        calls_expect(&calls, (const char *const[]){ "X:START:0", "X:START:1", "X:FAILURE:0", NULL });
        /* The failed registration is not registered. */
        x.returned = true;
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_false(x.called_after_return);
        dhp_close(ctx);
}

static void test_add_existing_success(void **state) {
        struct calls calls = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct existing x = { &calls, UINT32_MAX };
        dhp_proc_reg *reg = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=4,maxcpus=8"), 0);
        assert_int_equal(dhp_proc_register(ctx, "X", DHP_PROC_ADD_EXISTING, existing_cb, &x, &reg), 0);
        calls_expect(&calls, (const char *const[]){ "X:START:0", "X:START:1", "X:START:2", "X:START:3",
                                                    "X:COMPLETE:0", "X:COMPLETE:1", "X:COMPLETE:2",
                                                    "X:COMPLETE:3", NULL });
        calls.n = 0;
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        calls_expect(&calls, (const char *const[]){ "X:START:4", "X:COMPLETE:4", NULL });
        dhp_proc_deregister(reg);
        dhp_close(ctx);
}

struct nested {
        dhp *ctx;
        int result;
};

static void nested_cb(void *userdata, const dhp_proc_change *c) {
        struct nested *n = userdata;
        dhp_proc_reg *r2 = NULL;

        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START)
                n->result = dhp_proc_register(n->ctx, NULL, DHP_PROC_ADD_EXISTING, nested_cb, n, &r2);
}

static void test_add_existing_inside_callback_is_edeadlk(void **state) {
        struct nested n = { .result = 1 };
        dhp_proc_reg *reg;

        assert_int_equal(dhp_open(&n.ctx, "sim"), 0);
        assert_int_equal(dhp_proc_register(n.ctx, NULL, 0, nested_cb, &n, &reg), 0);
        assert_int_equal(dhp_sim_cpu_add(n.ctx, NULL), 0);
        assert_int_equal(n.result, -EDEADLK);
        dhp_close(n.ctx);
}

static void test_deregister_inside_callback(void **state) {
        struct calls calls = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct client a = { "A", &calls }, b = { "B", &calls };
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        assert_int_equal(dhp_proc_register(ctx, "A", 0, client_cb, &a, &a.reg), 0);
        assert_int_equal(dhp_proc_register(ctx, "B", 0, client_cb, &b, &b.reg), 0);
        a.dereg_in_start = true;
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        /* A deregistered itself inside ADD_START: it gets no ADD_COMPLETE,
         * and nothing more after; B is unaffected. */
        calls_expect(&calls, (const char *const[]){ "A:START:1", "B:START:1", "B:COMPLETE:1", NULL });
        assert_null(a.reg);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        calls_expect(&calls, (const char *const[]){ "A:START:1", "B:START:1", "B:COMPLETE:1", "B:START:2",
                                                    "B:COMPLETE:2", NULL });
        dhp_close(ctx);
}

/* Deregistration racing a hot-add on another thread. */
struct racer {
        dhp *ctx;
        dhp_proc_reg *reg;
        struct flag entered;
        struct flag release;
        struct flag dereg_returned;
        atomic_int calls_after_dereg;
        atomic_int in_callback;
        atomic_int calls;
};

static void racer_cb(void *userdata, const dhp_proc_change *c) {
        struct racer *r = userdata;

        atomic_fetch_add(&r->calls, 1);
        if (flag_get(&r->dereg_returned))
                atomic_fetch_add(&r->calls_after_dereg, 1);
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START) {
                atomic_store(&r->in_callback, 1);
                flag_set(&r->entered, 1);
                /* Hold the call until the test releases it (bounded). */
                flag_wait(&r->release, 1, 5000);
                atomic_store(&r->in_callback, 0);
        }
}

static void *adder(void *userdata) {
        struct racer *r = userdata;

        return (void *)(intptr_t)dhp_sim_cpu_add(r->ctx, NULL);
}

static void *deregisterer(void *userdata) {
        struct racer *r = userdata;

        dhp_proc_deregister(r->reg);
        /* A call may be in progress only if deregistration failed to wait. */
        if (atomic_load(&r->in_callback))
                atomic_fetch_add(&r->calls_after_dereg, 100);
        flag_set(&r->dereg_returned, 1);
        return NULL;
}

static void test_deregister_waits_for_call_on_other_thread(void **state) {
        struct racer r = { 0 };
        pthread_t ta, td;
        void *res;

        flag_init(&r.entered);
        flag_init(&r.release);
        flag_init(&r.dereg_returned);
        assert_int_equal(dhp_open(&r.ctx, "sim"), 0);
        assert_int_equal(dhp_proc_register(r.ctx, NULL, 0, racer_cb, &r, &r.reg), 0);
        assert_int_equal(pthread_create(&ta, NULL, adder, &r), 0);
        assert_true(flag_wait(&r.entered, 1, 5000));
        assert_int_equal(pthread_create(&td, NULL, deregisterer, &r), 0);
        /* While the callback is held, deregistration must not return. */
        assert_false(flag_wait(&r.dereg_returned, 1, 100));
        flag_set(&r.release, 1);
        assert_true(flag_wait(&r.dereg_returned, 1, 5000));
        pthread_join(td, NULL);
        pthread_join(ta, &res);
        assert_int_equal((intptr_t)res, 0);
        /* Only ADD_START ran: ADD_COMPLETE came after deregistration. */
        assert_int_equal(atomic_load(&r.calls), 1);
        assert_int_equal(atomic_load(&r.calls_after_dereg), 0);
        dhp_close(r.ctx);
}

/* Deregistering a registration on another thread while a later one of the
 * same phase is being called waits for the end of that phase, not only for
 * its own call (dhp_proc_deregister's documented rule: a callback must not
 * wait for a thread deregistering a registration of its phase). */
struct phase_wait {
        dhp *ctx;
        dhp_proc_reg *first;
        struct flag second_in;
        atomic_int first_calls;
        atomic_int second_done;
        atomic_int done_when_returned;
};

static void pw_first_cb(void *userdata, const dhp_proc_change *c) {
        struct phase_wait *w = userdata;

        atomic_fetch_add(&w->first_calls, 1);
}

static void pw_second_cb(void *userdata, const dhp_proc_change *c) {
        struct phase_wait *w = userdata;

        if (dhp_proc_change_get_state(c) != DHP_PROC_ADD_START)
                return;
        flag_set(&w->second_in, 1);
        /* Long enough for a deregistration that did not wait to return. */
        usleep(200 * 1000);
        atomic_store(&w->second_done, 1);
}

static void *pw_adder(void *userdata) {
        struct phase_wait *w = userdata;

        return (void *)(intptr_t)dhp_sim_cpu_add(w->ctx, NULL);
}

static void *pw_deregisterer(void *userdata) {
        struct phase_wait *w = userdata;

        dhp_proc_deregister(w->first);
        atomic_store(&w->done_when_returned, atomic_load(&w->second_done));
        return NULL;
}

static void test_deregister_waits_for_phase_on_other_thread(void **state) {
        struct phase_wait w = { 0 };
        dhp_proc_reg *second;
        pthread_t ta, td;
        void *res;

        flag_init(&w.second_in);
        assert_int_equal(dhp_open(&w.ctx, "sim"), 0);
        assert_int_equal(dhp_proc_register(w.ctx, "first", 0, pw_first_cb, &w, &w.first), 0);
        assert_int_equal(dhp_proc_register(w.ctx, "second", 0, pw_second_cb, &w, &second), 0);
        assert_int_equal(pthread_create(&ta, NULL, pw_adder, &w), 0);
        assert_true(flag_wait(&w.second_in, 1, 5000));
        /* first's ADD_START returned before second's began. */
        assert_int_equal(pthread_create(&td, NULL, pw_deregisterer, &w), 0);
        pthread_join(td, NULL);
        pthread_join(ta, &res);
        assert_int_equal((intptr_t)res, 0);
        /* It returned only after second's call, the phase's last, ended. */
        assert_int_equal(atomic_load(&w.done_when_returned), 1);
        /* And first got no ADD_COMPLETE. */
        assert_int_equal(atomic_load(&w.first_calls), 1);
        dhp_proc_deregister(second);
        dhp_close(w.ctx);
}

/* Registrations come and go on one thread while another adds processors:
 * every registration sees, per processor, ADD_START then exactly one of
 * ADD_COMPLETE / ADD_FAILURE (or nothing, or only ADD_START when it
 * deregistered in between), never a second phase without a first, never a
 * call after deregistration returned. */
struct churn_reg {
        uint8_t phase[256]; /* 0 none, 1 started, 2 ended */
        atomic_int errors;
        atomic_int dead;
};

static void churn_cb(void *userdata, const dhp_proc_change *c) {
        struct churn_reg *cr = userdata;
        uint32_t i = dhp_proc_change_get_index(c);

        if (atomic_load(&cr->dead))
                atomic_fetch_add(&cr->errors, 1);
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START) {
                if (cr->phase[i] != 0)
                        atomic_fetch_add(&cr->errors, 1);
                cr->phase[i] = 1;
                if (i % 7 == 3)
                        dhp_proc_change_veto(c, -EAGAIN);
        } else {
                if (cr->phase[i] != 1)
                        atomic_fetch_add(&cr->errors, 1);
                cr->phase[i] = 2;
        }
}

struct churn {
        dhp *ctx;
        atomic_int stop;
};

static void *churn_adder(void *userdata) {
        struct churn *ch = userdata;
        int adds = 0;

        while (adds < 200 && dhp_sim_cpu_add(ch->ctx, NULL) >= 0)
                adds++;
        atomic_store(&ch->stop, 1);
        return (void *)(intptr_t)adds;
}

static void test_register_churn_during_hotadds(void **state) {
        static struct churn_reg regs[400];
        struct churn ch = { 0 };
        pthread_t t;
        void *adds;
        int n = 0;

        memset(regs, 0, sizeof(regs));
        assert_int_equal(dhp_open(&ch.ctx, "sim:cpus=1,maxcpus=250"), 0);
        assert_int_equal(pthread_create(&t, NULL, churn_adder, &ch), 0);
        while (!atomic_load(&ch.stop) && n < 400) {
                dhp_proc_reg *reg;
                assert_int_equal(dhp_proc_register(ch.ctx, NULL, 0, churn_cb, &regs[n], &reg), 0);
                if (n % 3 == 0)
                        sched_yield();
                dhp_proc_deregister(reg);
                atomic_store(&regs[n].dead, 1);
                n++;
        }
        pthread_join(t, &adds);
        assert_true((intptr_t)adds > 0);
        for (int i = 0; i < n; i++)
                assert_int_equal(atomic_load(&regs[i].errors), 0);
        dhp_close(ch.ctx);
}

static void test_records_in_stream(void **state) {
        struct calls calls = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct client a = { "alpha", &calls, -EBUSY };
        struct recorder rec;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        recorder_start(&rec, ctx);
        assert_int_equal(dhp_proc_register(ctx, "alpha", 0, client_cb, &a, &a.reg), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 1);
        assert_true(recorder_find(&rec, 0, "\"method\":\"sync\"", "\"event\":\"ADD_START\"", "\"processor\":1",
                                  "\"client\":\"alpha\"", "\"status\":\"EBUSY\"", "\"veto\":true", NULL) >= 0);
        assert_true(recorder_find(&rec, 0, "\"event\":\"ADD_FAILURE\"", "\"client\":\"alpha\"", NULL) >= 0);
        assert_true(recorder_find(&rec, 0, "\"method\":\"txn\"", "\"event\":\"REJECTED\"", NULL) >= 0);
        recorder_stop(&rec);
        dhp_close(ctx);
}

/*
 * Issue 17 item 8: a callback gets its own registration from the change
 * context and can deregister itself with it, even before
 * dhp_proc_register() returned the handle.
 */
struct selfdereg {
        atomic_int calls, starts, seconds;
        atomic_int gone; /* deregistered, by the callback or by the test */
        dhp_proc_reg *seen;
        int dereg_at; /* deregister at the n-th call (1-based) */
};

static void selfdereg_cb(void *userdata, const dhp_proc_change *c) {
        struct selfdereg *d = userdata;
        int n = atomic_fetch_add(&d->calls, 1) + 1;

        assert_non_null(dhp_proc_change_get_reg(c));
        d->seen = dhp_proc_change_get_reg(c);
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START)
                atomic_fetch_add(&d->starts, 1);
        else
                atomic_fetch_add(&d->seconds, 1);
        if (n == d->dereg_at && atomic_exchange(&d->gone, 1) == 0)
                dhp_proc_deregister(dhp_proc_change_get_reg(c));
}

static void test_reg_in_change_add_existing(void **state) {
        struct selfdereg d = { .dereg_at = 0 }, d2 = { .dereg_at = 1 }, d3 = { .dereg_at = 3 };
        dhp_proc_reg *reg = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,maxcpus=4"), 0);
        /* The handle the callback sees is the one register returns. */
        assert_int_equal(dhp_proc_register(ctx, "a", DHP_PROC_ADD_EXISTING, selfdereg_cb, &d, &reg), 0);
        assert_int_equal(atomic_load(&d.calls), 4);
        assert_ptr_equal(d.seen, reg);
        dhp_proc_deregister(reg);

        /* Deregistered in its first ADD_START: no further call, no handle. */
        reg = NULL;
        assert_int_equal(dhp_proc_register(ctx, "b", DHP_PROC_ADD_EXISTING, selfdereg_cb, &d2, &reg), -ECANCELED);
        assert_null(reg);
        assert_int_equal(atomic_load(&d2.calls), 1);
        /* Deregistered in its first ADD_COMPLETE (call 3 of 4). */
        assert_int_equal(dhp_proc_register(ctx, "c", DHP_PROC_ADD_EXISTING, selfdereg_cb, &d3, &reg), -ECANCELED);
        assert_int_equal(atomic_load(&d3.calls), 3);
        /* Nothing is called after. */
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(atomic_load(&d2.calls), 1);
        assert_int_equal(atomic_load(&d3.calls), 3);
        dhp_close(ctx);
}

static void test_reg_in_change_live_add(void **state) {
        struct selfdereg d = { .dereg_at = 1 };
        dhp_proc_reg *reg;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,maxcpus=4"), 0);
        assert_int_equal(dhp_proc_register(ctx, "a", 0, selfdereg_cb, &d, &reg), 0);
        /* Deregistered in ADD_START: no second phase for it. */
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_ptr_equal(d.seen, reg);
        assert_int_equal(atomic_load(&d.starts), 1);
        assert_int_equal(atomic_load(&d.seconds), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(atomic_load(&d.calls), 1);
        dhp_close(ctx);
}

/* Registrations racing adds on another thread: each callback deregisters
 * itself at its first call, possibly before dhp_proc_register() returned;
 * those never called are deregistered by the test.  Once each (gone). */
struct selfracer {
        dhp *ctx;
        atomic_bool stop;
};

static void *selfracer_adds(void *userdata) {
        struct selfracer *rc = userdata;

        while (!atomic_load(&rc->stop)) {
                uint32_t index;
                if (dhp_sim_cpu_add(rc->ctx, &index) == -ENOSPC)
                        break;
        }
        return NULL;
}

static void test_reg_in_change_racing_registration(void **state) {
        enum { N = 64 };
        struct selfdereg *d = calloc(N, sizeof(*d));
        dhp_proc_reg *reg[N];
        struct selfracer rc = { 0 };
        pthread_t t;

        assert_non_null(d);
        assert_int_equal(dhp_open(&rc.ctx, "sim:cpus=1,maxcpus=200"), 0);
        assert_int_equal(pthread_create(&t, NULL, selfracer_adds, &rc), 0);
        for (int i = 0; i < N; i++) {
                d[i].dereg_at = 1;
                assert_int_equal(dhp_proc_register(rc.ctx, "r", 0, selfdereg_cb, &d[i], &reg[i]), 0);
        }
        atomic_store(&rc.stop, true);
        assert_int_equal(pthread_join(t, NULL), 0);
        for (int i = 0; i < N; i++) {
                if (atomic_exchange(&d[i].gone, 1) == 0)
                        dhp_proc_deregister(reg[i]);
                else
                        assert_ptr_equal(d[i].seen, reg[i]);
                assert_true(atomic_load(&d[i].calls) <= 1);
        }
        dhp_close(rc.ctx);
        free(d);
}

/* Issue 17 item 9: a vetoed processor stays present and can be added again
 * on the same slot (dhp_proc_online), as often as it takes. */
struct vetoer {
        int vetoes_left;
        int starts, completes, failures;
};

static void vetoer_cb(void *userdata, const dhp_proc_change *c) {
        struct vetoer *v = userdata;

        switch (dhp_proc_change_get_state(c)) {
        case DHP_PROC_ADD_START:
                v->starts++;
                if (v->vetoes_left > 0) {
                        v->vetoes_left--;
                        assert_int_equal(dhp_proc_change_veto(c, -ENOMEM), 0);
                }
                break;
        case DHP_PROC_ADD_COMPLETE:
                v->completes++;
                break;
        case DHP_PROC_ADD_FAILURE:
                v->failures++;
                break;
        default: /* not registered for removal */
                break;
        }
}

static void test_online_after_veto(void **state) {
        struct vetoer v = { .vetoes_left = 3 };
        dhp_proc_state ps;
        dhp_proc_reg *reg;
        uint32_t index;
        int status = 0;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,maxcpus=3"), 0);
        assert_int_equal(dhp_proc_register(ctx, "v", 0, vetoer_cb, &v, &reg), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, &index), 1);
        assert_int_equal(index, 2);
        assert_int_equal(dhp_proc_get_state(ctx, 2, &ps), 0);
        assert_int_equal(ps, DHP_PROC_PRESENT);
        /* Two more vetoes, then success: the same slot each time. */
        assert_int_equal(dhp_proc_online(ctx, 2, &status), 1);
        assert_int_equal(status, -ENOMEM);
        assert_int_equal(dhp_proc_online(ctx, 2, NULL), 1);
        assert_int_equal(dhp_proc_online(ctx, 2, &status), 0);
        assert_int_equal(dhp_proc_get_state(ctx, 2, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ADMITTED);
        assert_true(sim_cpu_schedulable(dhp_internal_sim(ctx), 2));
        assert_int_equal(v.starts, 4);
        assert_int_equal(v.failures, 3);
        assert_int_equal(v.completes, 1);
        /* Admitted, absent, past the end. */
        assert_int_equal(dhp_proc_online(ctx, 2, NULL), -EALREADY);
        assert_int_equal(dhp_proc_online(ctx, 3, NULL), -ERANGE);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), -ENOSPC);
        dhp_proc_deregister(reg);
        dhp_close(ctx);

        /* 1000 vetoed adds on one slot, then success: one slot is enough. */
        v = (struct vetoer){ .vetoes_left = 1000 };
        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=2"), 0);
        assert_int_equal(dhp_proc_register(ctx, "v", 0, vetoer_cb, &v, &reg), 0);
        assert_int_equal(dhp_proc_online(ctx, 1, NULL), -ENODEV); /* not present yet */
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 1);
        for (int i = 1; i < 1000; i++)
                assert_int_equal(dhp_proc_online(ctx, 1, NULL), 1);
        assert_int_equal(dhp_proc_online(ctx, 1, NULL), 0);
        assert_int_equal(v.failures, 1000);
        assert_int_equal(v.completes, 1);
        /* Its arrival, once, after the successful add only. */
        assert_int_equal(dhp_process(ctx), 1);
        dhp_proc_deregister(reg);
        dhp_close(ctx);
}

/* From inside a synchronous callback it would wait for its own add. */
static void online_inside_cb(void *userdata, const dhp_proc_change *c) {
        dhp *ctx = userdata;

        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START)
                assert_int_equal(dhp_proc_online(ctx, 0, NULL), -EDEADLK);
}

static void test_online_inside_callback_is_edeadlk(void **state) {
        dhp_proc_reg *reg;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=2"), 0);
        assert_int_equal(dhp_proc_register(ctx, "x", 0, online_inside_cb, ctx, &reg), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_proc_online(NULL, 0, NULL), -EINVAL);
        dhp_proc_deregister(reg);
        dhp_close(ctx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_start_then_complete_in_order),
                cmocka_unit_test(test_processor_number),
                cmocka_unit_test(test_veto_by_second_of_three),
                cmocka_unit_test(test_veto_rules),
                cmocka_unit_test(test_admission_failure),
                cmocka_unit_test(test_start_failure_runs_no_callback),
                cmocka_unit_test(test_add_existing_failing_on_second_of_four),
                cmocka_unit_test(test_add_existing_success),
                cmocka_unit_test(test_add_existing_inside_callback_is_edeadlk),
                cmocka_unit_test(test_deregister_inside_callback),
                cmocka_unit_test(test_deregister_waits_for_call_on_other_thread),
                cmocka_unit_test(test_deregister_waits_for_phase_on_other_thread),
                cmocka_unit_test(test_register_churn_during_hotadds),
                cmocka_unit_test(test_records_in_stream),
                cmocka_unit_test(test_reg_in_change_add_existing),
                cmocka_unit_test(test_reg_in_change_live_add),
                cmocka_unit_test(test_reg_in_change_racing_registration),
                cmocka_unit_test(test_online_after_veto),
                cmocka_unit_test(test_online_inside_callback_is_edeadlk),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
