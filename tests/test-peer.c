/* SPDX-License-Identifier: MIT */
/*
 * The peer interface (core/peer.h): external participants (dhpd's proxies
 * for client processes): each phase is sent to all of them at once, local
 * callbacks run meanwhile in order, then the answers are collected against
 * one deadline; and the two phases driven by a peer (the client library).
 */
#include <errno.h>

#include "core/engine.h"
#include "core/memcond.h"
#include "core/peer.h"
#include "helpers.h"
#include "lib/dhp-private.h"
#include "platform/sim/sim.h"
#include "util/time.h"

struct log {
        pthread_mutex_t lock;
        char line[64][32];
        int n;
};

static void log_add(struct log *l, const char *who, const char *what) {
        pthread_mutex_lock(&l->lock);
        if (l->n < 64)
                snprintf(l->line[l->n++], 32, "%s:%s", who, what);
        pthread_mutex_unlock(&l->lock);
}

static void log_expect(struct log *l, const char *const *expected) {
        int i = 0;

        for (; expected[i]; i++) {
                if (i >= l->n)
                        fail_msg("entry %d missing: expected %s", i, expected[i]);
                if (strcmp(l->line[i], expected[i]) != 0)
                        fail_msg("entry %d: got %s, expected %s", i, l->line[i], expected[i]);
        }
        if (l->n != i)
                fail_msg("%d entries, expected %d; extra: %s", l->n, i, l->line[i]);
}

enum behaviour { ANSWER, VETO, SILENT, GONE };

struct participant {
        const char *name;
        struct log *log;
        enum behaviour how;
        uint64_t txn;
};

static const char *st(dhp_proc_change_state s) {
        return s == DHP_PROC_ADD_START ? "START" : s == DHP_PROC_ADD_COMPLETE ? "COMPLETE" : "FAILURE";
}

static int r_send(void *userdata, uint64_t txn, dhp_proc_change_state state, uint32_t index, int status) {
        struct participant *r = userdata;
        char what[24];

        snprintf(what, sizeof(what), "send-%s", st(state));
        log_add(r->log, r->name, what);
        r->txn = txn;
        return 0;
}

static int r_wait(void *userdata, uint64_t txn, uint64_t deadline_ns, int *ret_status, uint64_t *ret_at) {
        struct participant *r = userdata;

        assert_true(txn == r->txn);
        log_add(r->log, r->name, "wait");
        switch (r->how) {
        case ANSWER:
                *ret_status = 0;
                *ret_at = time_now_ns();
                return 0;
        case VETO:
                *ret_status = -EBUSY;
                *ret_at = time_now_ns();
                return 0;
        case SILENT: {
                /* A client that never answers: the deadline passes. */
                struct flag never;
                flag_init(&never);
                uint64_t now = time_now_ns();
                flag_wait(&never, 1, deadline_ns > now ? (int)((deadline_ns - now) / 1000000) + 1 : 0);
                assert_true(time_now_ns() >= deadline_ns);
                return -ETIMEDOUT;
        }
        case GONE:
                return -ECONNRESET;
        }
        return -EINVAL;
}

static const struct peer_phase_ops ops = { r_send, r_wait };

static void local_cb(void *userdata, const dhp_proc_change *c) {
        struct participant *r = userdata;

        log_add(r->log, r->name, st(dhp_proc_change_get_state(c)));
}

struct fixture {
        dhp *ctx;
        struct engine *e;
        struct recorder rec;
        struct log log;
};

static void setup(struct fixture *f) {
        memset(f, 0, sizeof(*f));
        pthread_mutex_init(&f->log.lock, NULL);
        assert_int_equal(dhp_open(&f->ctx, "sim:cpus=1,maxcpus=4"), 0);
        f->e = sim_engine(dhp_internal_sim(f->ctx));
        recorder_start(&f->rec, f->ctx);
}

static void teardown(struct fixture *f) {
        recorder_stop(&f->rec);
        dhp_close(f->ctx);
}

static void test_fanout_order(void **state) {
        struct fixture f;
        struct participant a = { "A", NULL, ANSWER }, l = { "L", NULL }, b = { "B", NULL, ANSWER };
        dhp_proc_reg *ra, *rl, *rb;
        int status = -1;

        setup(&f);
        a.log = l.log = b.log = &f.log;
        assert_int_equal(peer_join(f.e, "A", &ops, &a, &ra), 0);
        assert_int_equal(procnotify_register(f.e, "L", 0, local_cb, &l, &rl), 0);
        assert_int_equal(peer_join(f.e, "B", &ops, &b, &rb), 0);
        assert_int_equal(engine_cpu_set_state(f.e, 1, DHP_PROC_PRESENT), 0);
        assert_int_equal(engine_cpu_hotadd(f.e, 1, 0, &status), 0);
        assert_int_equal(status, 0);
        /* Both participants have ADD_START before anyone is waited for, and
         * before either gets ADD_COMPLETE. */
        log_expect(&f.log, (const char *const[]){ "A:send-START", "B:send-START", "L:START", "A:wait", "B:wait",
                                                  "A:send-COMPLETE", "B:send-COMPLETE", "L:COMPLETE", "A:wait",
                                                  "B:wait", NULL });
        assert_int_equal(recorder_count(&f.rec, "\"ADD_START\"", "\"client\":\"A\"", NULL), 1);
        assert_int_equal(recorder_count(&f.rec, "\"ADD_COMPLETE\"", "\"client\":\"B\"", NULL), 1);
        procnotify_deregister(ra);
        procnotify_deregister(rl);
        procnotify_deregister(rb);
        teardown(&f);
}

static void test_peer_veto_fails_all(void **state) {
        struct fixture f;
        struct participant a = { "A", NULL, ANSWER }, b = { "B", NULL, VETO }, l = { "L", NULL };
        dhp_proc_reg *ra, *rb, *rl;
        dhp_proc_state ps;
        int status = 0;

        setup(&f);
        a.log = b.log = l.log = &f.log;
        assert_int_equal(peer_join(f.e, "A", &ops, &a, &ra), 0);
        assert_int_equal(peer_join(f.e, "B", &ops, &b, &rb), 0);
        assert_int_equal(procnotify_register(f.e, "L", 0, local_cb, &l, &rl), 0);
        assert_int_equal(engine_cpu_set_state(f.e, 1, DHP_PROC_PRESENT), 0);
        assert_int_equal(engine_cpu_hotadd(f.e, 1, 0, &status), 1);
        assert_int_equal(status, -EBUSY);
        log_expect(&f.log, (const char *const[]){ "A:send-START", "B:send-START", "L:START", "A:wait", "B:wait",
                                                  "A:send-FAILURE", "B:send-FAILURE", "L:FAILURE", "A:wait",
                                                  "B:wait", NULL });
        assert_int_equal(recorder_count(&f.rec, "\"ADD_START\"", "\"client\":\"B\"", "\"veto\":true", NULL), 1);
        assert_int_equal(engine_cpu_get_state(f.e, 1, &ps), 0);
        assert_int_not_equal(ps, DHP_PROC_ADMITTED);
        procnotify_deregister(ra);
        procnotify_deregister(rb);
        procnotify_deregister(rl);
        teardown(&f);
}

static void late_one(bool veto_policy) {
        struct fixture f;
        struct participant a = { "A", NULL, ANSWER }, s = { "S", NULL, SILENT };
        dhp_proc_reg *ra, *rs;
        uint64_t t0;
        int status = 0, r;

        setup(&f);
        a.log = s.log = &f.log;
        engine_set_sync_deadline(f.e, 50 * NSEC_PER_MSEC, veto_policy);
        assert_int_equal(peer_join(f.e, "A", &ops, &a, &ra), 0);
        assert_int_equal(peer_join(f.e, "S", &ops, &s, &rs), 0);
        assert_int_equal(engine_cpu_set_state(f.e, 1, DHP_PROC_PRESENT), 0);
        t0 = time_now_ns();
        r = engine_cpu_hotadd(f.e, 1, 0, &status);
        /* Two phases, each bounded by the deadline. */
        assert_true(time_now_ns() - t0 < 2 * 50 * NSEC_PER_MSEC + 500 * NSEC_PER_MSEC);
        if (veto_policy) {
                assert_int_equal(r, 1);
                assert_int_equal(status, -ETIMEDOUT);
                assert_int_equal(recorder_count(&f.rec, "\"ADD_FAILURE\"", "\"client\":\"A\"", NULL), 1);
        } else {
                assert_int_equal(r, 0);
                assert_int_equal(status, 0);
                assert_int_equal(recorder_count(&f.rec, "\"ADD_COMPLETE\"", "\"client\":\"A\"", NULL), 1);
        }
        /* The late one still gets the second phase (it took ADD_START). */
        assert_int_equal(recorder_count(&f.rec, "\"client\":\"S\"", "\"missed_deadline\":true", NULL), 2);
        procnotify_deregister(ra);
        procnotify_deregister(rs);
        teardown(&f);
}

static void test_late_proceed(void **state) {
        late_one(false);
}

static void test_late_veto(void **state) {
        late_one(true);
}

static void test_gone_gets_no_second_phase(void **state) {
        struct fixture f;
        struct participant a = { "A", NULL, ANSWER }, g = { "G", NULL, GONE };
        dhp_proc_reg *ra, *rg;
        int status = 0;

        setup(&f);
        a.log = g.log = &f.log;
        assert_int_equal(peer_join(f.e, "A", &ops, &a, &ra), 0);
        assert_int_equal(peer_join(f.e, "G", &ops, &g, &rg), 0);
        assert_int_equal(engine_cpu_set_state(f.e, 1, DHP_PROC_PRESENT), 0);
        assert_int_equal(engine_cpu_hotadd(f.e, 1, 0, &status), 0);
        log_expect(&f.log, (const char *const[]){ "A:send-START", "G:send-START", "A:wait", "G:wait",
                                                  "A:send-COMPLETE", "A:wait", NULL });
        procnotify_deregister(ra);
        procnotify_deregister(rg);
        teardown(&f);
}

static void veto_cb(void *userdata, const dhp_proc_change *c) {
        struct participant *r = userdata;

        log_add(r->log, r->name, st(dhp_proc_change_get_state(c)));
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START)
                dhp_proc_change_veto(c, -EIO);
}

static void test_peer_phases(void **state) {
        struct fixture f;
        struct participant l1 = { "L1", NULL }, l2 = { "L2", NULL };
        struct peer_phases *s;
        dhp_proc_reg *r1, *r2, *r3;
        unsigned calls;
        int status = 1;

        setup(&f);
        l1.log = l2.log = &f.log;
        assert_int_equal(procnotify_register(f.e, "L1", 0, local_cb, &l1, &r1), 0);
        assert_int_equal(procnotify_register(f.e, "L2", 0, local_cb, &l2, &r2), 0);
        assert_int_equal(peer_phases_start(f.e, 5, &s, &status, &calls), 0);
        assert_int_equal(status, 0);
        assert_int_equal(calls, 2);
        /* A registration made between the phases gets neither. */
        assert_int_equal(procnotify_register(f.e, "L3", 0, local_cb, &l1, &r3), 0);
        peer_phases_end(s, DHP_PROC_ADD_COMPLETE, 0);
        log_expect(&f.log, (const char *const[]){ "L1:START", "L2:START", "L1:COMPLETE", "L2:COMPLETE", NULL });
        procnotify_deregister(r3);

        /* A local veto is the phases' status; FAILURE then reaches both. */
        f.log.n = 0;
        procnotify_deregister(r2);
        assert_int_equal(procnotify_register(f.e, "V", 0, veto_cb, &l2, &r2), 0);
        assert_int_equal(peer_phases_start(f.e, 6, &s, &status, &calls), 0);
        assert_int_equal(status, -EIO);
        peer_phases_end(s, DHP_PROC_ADD_FAILURE, -EIO);
        log_expect(&f.log, (const char *const[]){ "L1:START", "L2:START", "L1:FAILURE", "L2:FAILURE", NULL });
        procnotify_deregister(r1);
        procnotify_deregister(r2);
        teardown(&f);
}

struct told {
        struct memcond_listener l;
        int sets, clears;
};

static void told_fn(struct memcond_listener *l, bool set) {
        struct told *t = (struct told *)l;

        if (set)
                t->sets++;
        else
                t->clears++;
}

static void count_cb(void *userdata, const dhp_device_event *ev) {
        uint32_t index = 0;

        dhp_device_event_get_processor(ev, &index, NULL);
        *(int *)userdata += (int)index;
}

/* State made by a peer: a memory condition as told (waiters and listeners
 * see a transition), an arrival for one registration only. */
static void test_peer_inject(void **state) {
        struct fixture f;
        struct told t = { .l = { .kind = MEMCOND_LOW_COMMIT, .fn = told_fn } };
        dhp_arrival_reg *a, *b;
        int got_a = 0, got_b = 0;

        setup(&f);
        memcond_listen(f.e, &t.l);
        assert_false(memcond_is_set(f.e, MEMCOND_LOW_COMMIT));
        peer_inject_memcond(f.e, MEMCOND_LOW_COMMIT, true);
        assert_true(memcond_is_set(f.e, MEMCOND_LOW_COMMIT));
        assert_int_equal(memcond_wait(f.e, MEMCOND_LOW_COMMIT, 0), 1);
        /* Already set: nothing. */
        peer_inject_memcond(f.e, MEMCOND_LOW_COMMIT, true);
        peer_inject_memcond(f.e, MEMCOND_LOW_COMMIT, false);
        assert_int_equal(t.sets, 1);
        assert_int_equal(t.clears, 1);
        assert_false(memcond_is_set(f.e, MEMCOND_LOW_COMMIT));
        memcond_unlisten(f.e, &t.l);

        assert_int_equal(arrival_register(f.e, "A", DHP_CLASS_PROCESSOR, 0, count_cb, &got_a, &a), 0);
        assert_int_equal(arrival_register(f.e, "B", DHP_CLASS_PROCESSOR, 0, count_cb, &got_b, &b), 0);
        assert_int_equal(peer_inject_arrival(f.e, b, DHP_CLASS_PROCESSOR, DHP_EVENT_ARRIVAL, false, 3, 0, 0, "cpu3"),
                         0);
        assert_int_equal(got_b, 0); /* queued, not delivered inside */
        assert_int_equal(engine_dispatch(f.e), 1);
        assert_int_equal(got_a, 0);
        assert_int_equal(got_b, 3);
        arrival_unregister(a);
        arrival_unregister(b);
        teardown(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fanout_order),
                cmocka_unit_test(test_peer_veto_fails_all),
                cmocka_unit_test(test_late_proceed),
                cmocka_unit_test(test_late_veto),
                cmocka_unit_test(test_gone_gets_no_second_phase),
                cmocka_unit_test(test_peer_phases),
                cmocka_unit_test(test_peer_inject),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
