/* SPDX-License-Identifier: MIT */
/* Memory condition events: every rule of doc/model.md section 3 (R17-R20) and of
 * doc/memcond.md, driven through the sim platform. */
#include <errno.h>
#include <poll.h>
#include <sched.h>

#include "core/memcond.h"
#include "helpers.h"
#include "lib/dhp-private.h"
#include "platform/sim/sim.h"
#include "util/macro.h"
#include "util/time.h"

struct engine *dhp_internal_engine(dhp *ctx);

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define KEEP DHP_SIM_LEVEL_KEEP

static struct engine *engine_of(dhp *ctx) {
        return sim_engine(dhp_internal_sim(ctx));
}

static void set_available(dhp *ctx, uint64_t bytes) {
        assert_int_equal(dhp_sim_memory_set_levels(ctx, KEEP, bytes, KEEP, KEEP), 0);
}

static void set_commit(dhp *ctx, uint64_t charge, uint64_t limit) {
        assert_int_equal(dhp_sim_memory_set_levels(ctx, KEEP, KEEP, charge, limit), 0);
}

static uint64_t threshold(dhp *ctx, dhp_memcond_threshold which) {
        uint64_t v = 0;

        assert_int_equal(dhp_memcond_get_threshold(ctx, which, &v), 0);
        return v;
}

static bool readable(int fd, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void test_default_thresholds(void **state) {
        static const struct { uint64_t total, low, high; } cases[] = {
                { 1 * GIB, 8 * MIB, 24 * MIB },
                { 4 * GIB, 32 * MIB, 96 * MIB },
                { 16 * GIB, 64 * MIB, 192 * MIB },
                { 1024 * GIB, 64 * MIB, 192 * MIB },
        };
        dhp *ctx;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct memcond_config cfg = { 0 };
                struct memcond_thresholds t;

                memcond_thresholds_compute(&cfg, cases[i].total, &t);
                assert_int_equal(t.low, cases[i].low);
                assert_int_equal(t.high, cases[i].high);
                assert_int_equal(t.low_commit, 50);
                assert_int_equal(t.high_commit, 90);
                assert_int_equal(t.max_commit, 100);
        }
        /* The same through the API, the total from the platform. */
        assert_int_equal(dhp_open(&ctx, "sim:memory=4G"), 0);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_LOW_MEMORY), 32 * MIB);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_HIGH_MEMORY), 96 * MIB);
        assert_int_equal(dhp_sim_memory_set_levels(ctx, 1024 * GIB, 512 * GIB, KEEP, KEEP), 0);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_LOW_MEMORY), 64 * MIB);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_HIGH_MEMORY), 192 * MIB);
        assert_int_equal(dhp_sim_memory_set_levels(ctx, 1 * GIB, 512 * MIB, KEEP, KEEP), 0);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_LOW_MEMORY), 8 * MIB);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_HIGH_MEMORY), 24 * MIB);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_MAXIMUM_COMMIT), 100);
        dhp_close(ctx);
}

/* 1 GiB: low 8M, high 24M, margin 1M. */
static void test_memory_boundaries(void **state) {
        dhp_memcond *lo, *hi;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &lo), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighMemoryCondition", &hi), 0);
        assert_string_equal(dhp_memcond_get_name(lo), "LowMemoryCondition");
        /* The sim starts with 3/4 of its memory free. */
        assert_true(dhp_memcond_is_set(hi));
        assert_false(dhp_memcond_is_set(lo));

        set_available(ctx, 16 * MIB);
        assert_false(dhp_memcond_is_set(hi));
        assert_false(dhp_memcond_is_set(lo));

        /* Low: set strictly below low, cleared at low + margin. */
        set_available(ctx, 8 * MIB);
        assert_false(dhp_memcond_is_set(lo));
        set_available(ctx, 8 * MIB - 1);
        assert_true(dhp_memcond_is_set(lo));
        set_available(ctx, 8 * MIB);
        assert_true(dhp_memcond_is_set(lo));
        set_available(ctx, 9 * MIB - 1);
        assert_true(dhp_memcond_is_set(lo));
        set_available(ctx, 9 * MIB);
        assert_false(dhp_memcond_is_set(lo));

        /* High: set strictly above high, cleared at high - margin. */
        set_available(ctx, 24 * MIB);
        assert_false(dhp_memcond_is_set(hi));
        set_available(ctx, 24 * MIB + 1);
        assert_true(dhp_memcond_is_set(hi));
        set_available(ctx, 24 * MIB);
        assert_true(dhp_memcond_is_set(hi));
        set_available(ctx, 23 * MIB + 1);
        assert_true(dhp_memcond_is_set(hi));
        set_available(ctx, 23 * MIB);
        assert_false(dhp_memcond_is_set(hi));

        /* A jump across the band: one clears, the other sets, never both. */
        set_available(ctx, 1 * MIB);
        assert_true(dhp_memcond_is_set(lo));
        set_available(ctx, 500 * MIB);
        assert_false(dhp_memcond_is_set(lo));
        assert_true(dhp_memcond_is_set(hi));
        dhp_memcond_close(lo);
        dhp_memcond_close(hi);
        dhp_close(ctx);
}

static void test_band_neither_set(void **state) {
        struct recorder rec;
        dhp_memcond *lo, *hi;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &lo), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighMemoryCondition", &hi), 0);
        set_available(ctx, 16 * MIB);
        recorder_start(&rec, ctx);
        for (uint64_t a = 8 * MIB; a <= 24 * MIB; a += 256 * 1024) {
                set_available(ctx, a);
                assert_false(dhp_memcond_is_set(lo));
                assert_false(dhp_memcond_is_set(hi));
        }
        assert_int_equal(recorder_count(&rec, "\"memcond\"", "\"SET\"", NULL), 0);
        /* The total did not change: no THRESHOLDS record either. */
        assert_int_equal(recorder_count(&rec, "\"THRESHOLDS\"", NULL), 0);
        recorder_stop(&rec);
        dhp_close(ctx); /* frees the handles still open */
}

struct waiter {
        dhp_memcond *ev;
        int result;
        pthread_t thread;
};

static void *waiter_main(void *userdata) {
        struct waiter *w = userdata;

        w->result = dhp_memcond_wait(w->ev, 10000);
        return NULL;
}

/* Wait, bounded, until n threads are blocked in the wait. */
static void wait_for_waiters(dhp *ctx, enum memcond_kind k, unsigned n) {
        uint64_t deadline = time_now_ns() + 10 * NSEC_PER_SEC;

        while (memcond_waiting(engine_of(ctx), k) < n) {
                assert_true(time_now_ns() < deadline);
                sched_yield();
        }
}

static void test_every_waiter_woken(void **state) {
        struct waiter w[6];
        dhp_memcond *shared;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        set_available(ctx, 16 * MIB);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &shared), 0);
        assert_int_equal(dhp_memcond_wait(shared, 0), 0);
        assert_int_equal(dhp_memcond_wait(shared, 20), 0);

        /* Half wait on one shared handle, half on their own. */
        for (int i = 0; i < 6; i++) {
                w[i].result = -1;
                if (i < 3)
                        w[i].ev = shared;
                else
                        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &w[i].ev), 0);
                assert_int_equal(pthread_create(&w[i].thread, NULL, waiter_main, &w[i]), 0);
        }
        wait_for_waiters(ctx, MEMCOND_LOW_MEMORY, 6);
        /* One set, cleared again before anyone could look: a notification
         * event still wakes every waiter. */
        set_available(ctx, 1 * MIB);
        set_available(ctx, 16 * MIB);
        for (int i = 0; i < 6; i++) {
                assert_int_equal(pthread_join(w[i].thread, NULL), 0);
                assert_int_equal(w[i].result, 1);
        }
        assert_false(dhp_memcond_is_set(shared));

        /* And while set, every wait returns at once. */
        set_available(ctx, 1 * MIB);
        for (int i = 0; i < 6; i++)
                assert_int_equal(dhp_memcond_wait(w[i].ev, -1), 1);
        for (int i = 3; i < 6; i++)
                dhp_memcond_close(w[i].ev);
        dhp_memcond_close(shared);
        dhp_close(ctx);
}

static void test_fd_follows_the_event(void **state) {
        dhp_memcond *a, *b, *late;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        set_available(ctx, 16 * MIB);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &a), 0);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &b), 0);
        assert_true(dhp_memcond_get_fd(a) >= 0);
        assert_int_not_equal(dhp_memcond_get_fd(a), dhp_memcond_get_fd(b));
        assert_false(readable(dhp_memcond_get_fd(a), 0));

        /* Set from another thread than the one polling. */
        set_available(ctx, 1 * MIB);
        assert_true(readable(dhp_memcond_get_fd(a), 1000));
        assert_true(readable(dhp_memcond_get_fd(b), 1000));
        /* Level-triggered: still readable while set, after another set of
         * the levels that keeps it set. */
        set_available(ctx, 2 * MIB);
        assert_true(readable(dhp_memcond_get_fd(a), 0));

        /* A handle opened while set starts readable. */
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &late), 0);
        assert_true(readable(dhp_memcond_get_fd(late), 0));

        set_available(ctx, 16 * MIB);
        assert_false(readable(dhp_memcond_get_fd(a), 0));
        assert_false(readable(dhp_memcond_get_fd(b), 0));
        assert_false(readable(dhp_memcond_get_fd(late), 0));
        set_available(ctx, 1 * MIB);
        assert_true(readable(dhp_memcond_get_fd(a), 1000));
        dhp_memcond_close(a);
        dhp_memcond_close(b);
        dhp_memcond_close(late);
        dhp_close(ctx);
}

static void test_no_flapping(void **state) {
        struct recorder rec;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        set_available(ctx, 16 * MIB);
        recorder_start(&rec, ctx);
        /* Jitter of +-256K around low (8M), then around high (24M): the
         * margin (1M) is wider, each event flips once. */
        for (int i = 0; i < 200; i++)
                set_available(ctx, i % 2 ? 8 * MIB + 256 * 1024 : 8 * MIB - 256 * 1024);
        set_available(ctx, 16 * MIB);
        for (int i = 0; i < 200; i++)
                set_available(ctx, i % 2 ? 24 * MIB + 256 * 1024 : 24 * MIB - 256 * 1024);
        assert_int_equal(recorder_count(&rec, "\"SET\"", "\"condition\":\"LowMemoryCondition\"", NULL), 1);
        assert_int_equal(recorder_count(&rec, "\"CLEAR\"", "\"condition\":\"LowMemoryCondition\"", NULL), 1);
        assert_int_equal(recorder_count(&rec, "\"SET\"", "\"condition\":\"HighMemoryCondition\"", NULL), 1);
        assert_int_equal(recorder_count(&rec, "\"CLEAR\"", "\"condition\":\"HighMemoryCondition\"", NULL), 0);
        /* The record says what crossed and where the level was. */
        assert_true(recorder_find(&rec, 0, "\"method\":\"memcond\"", "\"event\":\"SET\"",
                                  "\"condition\":\"LowMemoryCondition\"", "\"available\":8126464,", NULL) >= 0);
        recorder_stop(&rec);
        dhp_close(ctx);
}

static void test_commit_conditions(void **state) {
        dhp_memcond *lc, *hc, *mx;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        assert_int_equal(dhp_memcond_open(ctx, "LowCommitCondition", &lc), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighCommitCondition", &hc), 0);
        assert_int_equal(dhp_memcond_open(ctx, "MaximumCommitCondition", &mx), 0);
        /* No commit figures yet: every commit event clear. */
        assert_false(dhp_memcond_is_set(lc) || dhp_memcond_is_set(hc) || dhp_memcond_is_set(mx));

        set_commit(ctx, 499 * MIB, 1000 * MIB);
        assert_true(dhp_memcond_is_set(lc));
        set_commit(ctx, 500 * MIB, KEEP); /* hysteresis: one point */
        assert_true(dhp_memcond_is_set(lc));
        set_commit(ctx, 510 * MIB, KEEP);
        assert_false(dhp_memcond_is_set(lc));
        set_commit(ctx, 500 * MIB, KEEP); /* not under 50 % */
        assert_false(dhp_memcond_is_set(lc));

        set_commit(ctx, 900 * MIB, KEEP);
        assert_false(dhp_memcond_is_set(hc));
        set_commit(ctx, 900 * MIB + 1, KEEP);
        assert_true(dhp_memcond_is_set(hc));
        set_commit(ctx, 890 * MIB + 1, KEEP);
        assert_true(dhp_memcond_is_set(hc));
        set_commit(ctx, 890 * MIB, KEEP);
        assert_false(dhp_memcond_is_set(hc));

        set_commit(ctx, 1000 * MIB - 1, KEEP);
        assert_false(dhp_memcond_is_set(mx));
        set_commit(ctx, 1000 * MIB, KEEP);
        assert_true(dhp_memcond_is_set(mx));
        assert_true(dhp_memcond_is_set(hc)); /* at the maximum, also high */
        set_commit(ctx, 990 * MIB, KEEP);
        assert_true(dhp_memcond_is_set(mx));
        set_commit(ctx, 990 * MIB - 1, KEEP);
        assert_false(dhp_memcond_is_set(mx));

        /* The limit becomes unknown: everything clears. */
        set_commit(ctx, 100 * MIB, 0);
        assert_false(dhp_memcond_is_set(lc) || dhp_memcond_is_set(hc) || dhp_memcond_is_set(mx));

        /* Overridden percentages. */
        set_commit(ctx, 700 * MIB, 1000 * MIB);
        assert_false(dhp_memcond_is_set(hc));
        assert_int_equal(dhp_memcond_configure(ctx, "high_commit=60%,max_commit=80", NULL), 0);
        assert_true(dhp_memcond_is_set(hc));
        assert_int_equal(threshold(ctx, DHP_MEMCOND_HIGH_COMMIT), 60);
        dhp_close(ctx);
}

static int arrivals;
static void count_arrival(void *userdata, const dhp_device_event *e) {
        arrivals++;
}

static void test_recomputed_after_hotadd(void **state) {
        dhp_arrival_reg *reg;
        struct recorder rec;
        dhp_memcond *lo, *hi;
        long arrival, clear;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:memory=1G,maxmem=8G"), 0);
        recorder_start(&rec, ctx);
        assert_int_equal(dhp_arrival_register(ctx, "cache", DHP_CLASS_MEMORY, 0, count_arrival, NULL, &reg), 0);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &lo), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighMemoryCondition", &hi), 0);
        set_available(ctx, 4 * MIB);
        assert_true(dhp_memcond_is_set(lo));

        /* Hot-add 1 GiB: the thresholds follow the total at once... */
        arrivals = 0;
        assert_int_equal(dhp_sim_memory_add(ctx, 1 * GIB, NULL), 0);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_LOW_MEMORY), 16 * MIB);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_HIGH_MEMORY), 48 * MIB);
        assert_true(recorder_find(&rec, 0, "\"THRESHOLDS\"", "\"low\":16777216,", "\"high\":50331648,", NULL) >= 0);
        /* ...and the events change only after the memory's ARRIVAL is
         * delivered (doc/model.md R19: arrival, then memory conditions). */
        assert_true(dhp_memcond_is_set(lo));
        assert_false(dhp_memcond_is_set(hi));
        assert_int_equal(dhp_process(ctx), 2);
        assert_int_equal(arrivals, 1);
        assert_false(dhp_memcond_is_set(lo));
        assert_true(dhp_memcond_is_set(hi));
        arrival = recorder_find(&rec, 0, "\"ARRIVAL\"", "\"class\":\"memory\"", NULL);
        clear = recorder_find(&rec, 0, "\"CLEAR\"", "\"condition\":\"LowMemoryCondition\"", NULL);
        assert_true(arrival >= 0 && clear > arrival);
        assert_true(recorder_find(&rec, (size_t)clear, "\"SET\"", "\"condition\":\"HighMemoryCondition\"",
                                  "\"total\":2147483648,", NULL) > clear);

        /* An overridden low stays; the default high follows it (3 x low). */
        assert_int_equal(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, 10 * MIB, NULL), 0);
        assert_int_equal(dhp_sim_memory_add(ctx, 1 * GIB, NULL), 0);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_LOW_MEMORY), 10 * MIB);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_HIGH_MEMORY), 30 * MIB);
        /* Nothing changed state: only the arrival is queued. */
        assert_int_equal(dhp_process(ctx), 1);
        /* Back to the default: recomputed for 3 GiB. */
        assert_int_equal(dhp_memcond_configure(ctx, "low=default", NULL), 0);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_LOW_MEMORY), 24 * MIB);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_HIGH_MEMORY), 72 * MIB);
        dhp_arrival_unregister(reg);
        recorder_stop(&rec);
        dhp_close(ctx);
}

static void test_unknown_names(void **state) {
        dhp_memcond *ev = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighMemory", &ev), -ENOENT);
        assert_int_equal(dhp_memcond_open(ctx, "highmemorycondition", &ev), -ENOENT);
        assert_int_equal(dhp_memcond_open(ctx, "", &ev), -ENOENT);
        assert_null(ev);
        assert_int_equal(dhp_memcond_open(ctx, NULL, &ev), -EINVAL);
        assert_int_equal(dhp_memcond_open(NULL, "HighMemoryCondition", &ev), -EINVAL);
        assert_int_equal(dhp_memcond_wait(NULL, 0), -EINVAL);
        assert_false(dhp_memcond_is_set(NULL));
        dhp_memcond_close(NULL);
        for (const char *const *n = (const char *const[]){ "HighMemoryCondition", "LowMemoryCondition",
                                                            "LowCommitCondition", "HighCommitCondition",
                                                            "MaximumCommitCondition", NULL };
             *n; n++) {
                assert_int_equal(dhp_memcond_open(ctx, *n, &ev), 0);
                assert_string_equal(dhp_memcond_get_name(ev), *n);
                dhp_memcond_close(ev);
        }
        dhp_close(ctx);
}

static void check_rejected(int r, char *err, const char *fragment) {
        assert_int_equal(r, -EINVAL);
        assert_non_null(err);
        if (!strstr(err, fragment))
                fail_msg("message \"%s\" lacks \"%s\"", err, fragment);
        free(err);
}

/* `call` writes its message into err. */
#define EXPECT_REJECTED(call, fragment)                  \
        do {                                             \
                char *err = NULL;                        \
                int r_ = (call);                         \
                check_rejected(r_, err, fragment);       \
        } while (0)

static void test_bad_thresholds(void **state) {
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        EXPECT_REJECTED(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, 0, &err),
                        "low=0: a memory threshold must be at least 4K");
        EXPECT_REJECTED(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, UINT64_MAX, &err),
                        "too large");
        EXPECT_REJECTED(dhp_memcond_configure(ctx, "low=99999999999T", &err),
                        "too large");
        /* A lone high override pulls the default low down with it (at
         * most high / 3)... */
        assert_int_equal(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, 8 * MIB, NULL), 0);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_LOW_MEMORY), 8 * MIB / 3);
        /* ...but two overrides must be in order, whichever comes first. */
        EXPECT_REJECTED(dhp_memcond_configure(ctx, "low=8M", &err),
                        "low memory threshold 8M is not below high memory threshold 8M");
        assert_int_equal(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, 20 * MIB, NULL), 0);
        EXPECT_REJECTED(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, 20 * MIB, &err),
                        "low memory threshold 20M is not below high memory threshold 20M");
        EXPECT_REJECTED(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_HIGH_COMMIT, 40, &err),
                        "low commit threshold 50% is not below high commit threshold 40%");
        EXPECT_REJECTED(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_MAXIMUM_COMMIT, 0, &err),
                        "from 1% to 1000%");
        EXPECT_REJECTED(dhp_memcond_configure(ctx, "bogus=1", &err),
                        "unknown key 'bogus'");
        EXPECT_REJECTED(dhp_memcond_configure(ctx, "low", &err),
                        "expected key=value");
        EXPECT_REJECTED(dhp_memcond_configure(ctx, "interval=0", &err),
                        "expected a duration");
        /* All or nothing: the good key of a rejected spec is not applied. */
        EXPECT_REJECTED(dhp_memcond_configure(ctx, "low=4M,high=2M", &err),
                        "is not below");
        assert_int_equal(threshold(ctx, DHP_MEMCOND_LOW_MEMORY), 20 * MIB / 3);
        assert_int_equal(threshold(ctx, DHP_MEMCOND_HIGH_MEMORY), 20 * MIB);
        /* A NULL ret_error is fine. */
        assert_int_equal(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, 0, NULL), -EINVAL);
        assert_int_equal(dhp_memcond_set_threshold(ctx, (dhp_memcond_threshold)42, 1, NULL), -EINVAL);
        dhp_close(ctx);
}

/* Counts memcond transitions, for waiting on one with a bound. */
static void count_transitions(void *userdata, const dhp_record *r) {
        struct flag *f = userdata;

        if (strcmp(dhp_record_get_method(r), "memcond") == 0 && strcmp(dhp_record_get_event(r), "THRESHOLDS") != 0)
                flag_set(f, f->value + 1); /* records are serialised: no lost update */
}

static void test_fallback_timer(void **state) {
        struct flag transitions;
        dhp_monitor *m;
        struct engine *e;
        dhp_memcond *lo;
        dhp *ctx;
        int t;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        e = engine_of(ctx);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &lo), 0);
        /* The sim pushes every change: no timer. */
        assert_int_equal(dhp_memcond_next_timeout_ms(ctx), -1);

        /* A platform that needs one (Linux: MemAvailable moves without an
         * event).  A change that is not pushed is seen at the next tick. */
        memcond_set_platform_interval(e, 20);
        t = dhp_memcond_next_timeout_ms(ctx);
        assert_true(t >= 0 && t <= 20);
        assert_int_equal(sim_mem_levels_set(dhp_internal_sim(ctx), KEEP, 1 * MIB, KEEP, KEEP, false), 0);
        assert_false(dhp_memcond_is_set(lo));
        assert_int_equal(poll(NULL, 0, dhp_memcond_next_timeout_ms(ctx)), 0);
        assert_int_equal(dhp_memcond_next_timeout_ms(ctx), 0);
        assert_int_equal(dhp_process(ctx), 0);
        assert_true(dhp_memcond_is_set(lo));
        t = dhp_memcond_next_timeout_ms(ctx);
        assert_true(t > 0 && t <= 20);

        /* The context's own thread runs the timer by itself: a clear, then
         * a set, nobody calling in. */
        flag_init(&transitions);
        assert_int_equal(dhp_monitor_add(ctx, count_transitions, &transitions, &m), 0);
        assert_int_equal(dhp_start_thread(ctx), 0);
        assert_int_equal(sim_mem_levels_set(dhp_internal_sim(ctx), KEEP, 16 * MIB, KEEP, KEEP, false), 0);
        assert_true(flag_wait(&transitions, 1, 5000));
        assert_false(dhp_memcond_is_set(lo));
        assert_false(readable(dhp_memcond_get_fd(lo), 0));
        assert_int_equal(sim_mem_levels_set(dhp_internal_sim(ctx), KEEP, 2 * MIB, KEEP, KEEP, false), 0);
        assert_int_equal(dhp_memcond_wait(lo, 5000), 1);
        assert_true(readable(dhp_memcond_get_fd(lo), 0));
        assert_int_equal(dhp_stop_thread(ctx), 0);
        dhp_monitor_remove(m);

        /* The configuration's interval wins over the platform's. */
        assert_int_equal(dhp_memcond_configure(ctx, "interval=5s", NULL), 0);
        t = dhp_memcond_next_timeout_ms(ctx);
        assert_true(t > 20 && t <= 5000);
        dhp_close(ctx);
}

static void count_rearm(void *userdata) {
        (*(unsigned *)userdata)++;
}

/* memcond_set_timer_notify() (dhpd): no timer while nobody is told of the
 * conditions, so an idle dhpd does not wake; the first listener after the
 * pause gets them as they are now, and the owner is told to arm the timer. */
static void test_timer_paused_without_listeners(void **state) {
        dhp_memcond *lo, *hi;
        struct engine *e;
        unsigned rearmed = 0;
        dhp *ctx;
        int t;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        e = engine_of(ctx);
        memcond_set_platform_interval(e, 20);
        memcond_set_timer_notify(e, count_rearm, &rearmed);
        assert_int_equal(dhp_memcond_next_timeout_ms(ctx), -1);
        assert_int_equal(memcond_tick(e), 0);

        /* A drift nobody pushes, while the timer is paused: not seen... */
        assert_int_equal(sim_mem_levels_set(dhp_internal_sim(ctx), KEEP, 1 * MIB, KEEP, KEEP, false), 0);
        assert_int_equal(poll(NULL, 0, 30), 0);
        assert_int_equal(dhp_memcond_next_timeout_ms(ctx), -1);
        assert_false(memcond_is_set(e, MEMCOND_LOW_MEMORY));
        /* ...until someone listens: then at once, before the first tick. */
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &lo), 0);
        assert_true(dhp_memcond_is_set(lo));
        assert_int_equal(rearmed, 1);
        t = dhp_memcond_next_timeout_ms(ctx);
        assert_true(t > 0 && t <= 20);
        /* A second listener: the timer runs already. */
        assert_int_equal(dhp_memcond_open(ctx, "HighMemoryCondition", &hi), 0);
        assert_int_equal(rearmed, 1);
        dhp_memcond_close(hi);
        assert_true(dhp_memcond_next_timeout_ms(ctx) >= 0);
        /* The last one gone: paused again. */
        dhp_memcond_close(lo);
        assert_int_equal(dhp_memcond_next_timeout_ms(ctx), -1);

        /* Without the notification (the library's contexts), the timer runs
         * whether or not anyone listens. */
        memcond_set_timer_notify(e, NULL, NULL);
        t = dhp_memcond_next_timeout_ms(ctx);
        assert_true(t >= 0 && t <= 20);
        dhp_close(ctx);
}

static void test_scenario_commands(void **state) {
        dhp_memcond *lo, *hc;
        struct recorder rec;
        char *err = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &lo), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighCommitCondition", &hc), 0);
        recorder_start(&rec, ctx);
        assert_int_equal(dhp_sim_run_scenario(ctx, "m.scenario",
                                              "memory thresholds low=16M high=64M\n"
                                              "memory level available=12M commit=950M limit=1G\n",
                                              &err),
                         0);
        assert_null(err);
        assert_true(dhp_memcond_is_set(lo));
        assert_true(dhp_memcond_is_set(hc));
        assert_int_equal(threshold(ctx, DHP_MEMCOND_LOW_MEMORY), 16 * MIB);

        /* Parse errors name the column; nothing runs. */
        assert_int_equal(dhp_sim_run_scenario(ctx, "m", "memory level avail=3M\n", &err), -EINVAL);
        assert_string_equal(err, "m:1:14: expected available=SIZE, total=SIZE, commit=SIZE or limit=SIZE, "
                                 "got 'avail=3M'");
        free(err);
        assert_int_equal(dhp_sim_run_scenario(ctx, "m", "memory level available=lots\n", &err), -EINVAL);
        assert_string_equal(err, "m:1:24: expected a size such as 300M, got 'lots'");
        free(err);
        assert_int_equal(dhp_sim_run_scenario(ctx, "m", "memory level available=1M available=2M\n", &err), -EINVAL);
        assert_string_equal(err, "m:1:27: 'available' given twice");
        free(err);
        assert_int_equal(dhp_sim_run_scenario(ctx, "m", "memory level\n", &err), -EINVAL);
        free(err);
        assert_int_equal(dhp_sim_run_scenario(ctx, "m", "memory level available=1M\nmemory thresholds low=0\n", &err),
                         -EINVAL);
        assert_string_equal(err, "m:2:19: low=0: a memory threshold must be at least 4K");
        free(err);
        assert_true(dhp_memcond_is_set(lo)); /* the first line did not run */
        assert_int_equal(dhp_sim_run_scenario(ctx, "m", "memory flood\n", &err), -EINVAL);
        assert_string_equal(err, "m:1:8: expected 'add', 'remove', 'level' or 'thresholds' after 'memory', got 'flood'");
        free(err);
        /* Run errors: a level the platform refuses, thresholds out of order. */
        assert_int_equal(dhp_sim_run_scenario(ctx, "m", "memory level available=2G\n", &err), -EINVAL);
        assert_non_null(strstr(err, "m:1: memory level"));
        free(err);
        assert_int_equal(dhp_sim_run_scenario(ctx, "m", "memory thresholds low=64M\n", &err), -EINVAL);
        assert_string_equal(err, "m:1: memory thresholds: low memory threshold 64M is not below high memory "
                                 "threshold 64M");
        free(err);

        /* The timeline line says what crossed. */
        {
                long i = recorder_find(&rec, 0, "\"SET\"", "\"condition\":\"LowMemoryCondition\"", NULL);
                assert_true(i >= 0);
        }
        recorder_stop(&rec);
        dhp_close(ctx);
}

struct text_capture {
        char line[512];
};

static void capture_text(void *userdata, const dhp_record *r) {
        struct text_capture *c = userdata;

        if (strcmp(dhp_record_get_method(r), "memcond") == 0 && strcmp(dhp_record_get_event(r), "SET") == 0)
                dhp_record_format(r, DHP_RECORD_TEXT, c->line, sizeof(c->line));
}

static void test_text_record(void **state) {
        struct text_capture c = { { 0 } };
        dhp_monitor *m;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        set_available(ctx, 16 * MIB);
        assert_int_equal(dhp_monitor_add(ctx, capture_text, &c, &m), 0);
        set_available(ctx, 4 * MIB);
        assert_non_null(strstr(c.line, "memcond"));
        assert_non_null(strstr(c.line, "LowMemoryCondition  available=4M (low 8M)"));
        dhp_monitor_remove(m);
        dhp_close(ctx);
}

/* Issue 17 item 5: the hysteresis margin is configurable; 0 is the exact
 * model (an event is cleared as soon as its condition stops holding, and
 * between the thresholds neither memory event is set). */
static void test_margin_zero_is_exact(void **state) {
        struct memcond_thresholds t;
        dhp_memcond *lo, *hi, *lc, *hc, *mx;
        char *err = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0); /* 1 GiB: low 8M, high 24M */
        assert_int_equal(dhp_memcond_configure(ctx, "margin=0,commit_margin=0", &err), 0);
        memcond_get_thresholds(dhp_internal_engine(ctx), &t);
        assert_int_equal(t.margin, 0);
        assert_int_equal(t.commit_margin, 0);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &lo), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighMemoryCondition", &hi), 0);

        set_available(ctx, 8 * MIB - 1);
        assert_true(dhp_memcond_is_set(lo));
        set_available(ctx, 8 * MIB); /* at low: the condition no longer holds */
        assert_false(dhp_memcond_is_set(lo));
        assert_false(dhp_memcond_is_set(hi));
        set_available(ctx, 24 * MIB + 1);
        assert_true(dhp_memcond_is_set(hi));
        set_available(ctx, 24 * MIB);
        assert_false(dhp_memcond_is_set(hi));
        assert_false(dhp_memcond_is_set(lo));

        assert_int_equal(dhp_memcond_open(ctx, "LowCommitCondition", &lc), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighCommitCondition", &hc), 0);
        assert_int_equal(dhp_memcond_open(ctx, "MaximumCommitCondition", &mx), 0);
        set_commit(ctx, 49, 100);
        assert_true(dhp_memcond_is_set(lc));
        set_commit(ctx, 50, 100);
        assert_false(dhp_memcond_is_set(lc));
        set_commit(ctx, 91, 100);
        assert_true(dhp_memcond_is_set(hc));
        set_commit(ctx, 90, 100);
        assert_false(dhp_memcond_is_set(hc));
        set_commit(ctx, 100, 100);
        assert_true(dhp_memcond_is_set(mx));
        set_commit(ctx, 99, 100);
        assert_false(dhp_memcond_is_set(mx));

        /* Back to the default hysteresis. */
        assert_int_equal(dhp_memcond_configure(ctx, "margin=default,commit_margin=default", &err), 0);
        memcond_get_thresholds(dhp_internal_engine(ctx), &t);
        assert_int_equal(t.margin, 1 * MIB);
        assert_int_equal(t.commit_margin, 1);
        dhp_memcond_close(lo);
        dhp_memcond_close(hi);
        dhp_memcond_close(lc);
        dhp_memcond_close(hc);
        dhp_memcond_close(mx);
        dhp_close(ctx);
}

static void test_margin_configured(void **state) {
        struct memcond_thresholds t;
        dhp_memcond *lo, *hi, *hc;
        char *err = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim"), 0);
        assert_int_equal(dhp_memcond_configure(ctx, "margin=3M,commit_margin=5%", &err), 0);
        memcond_get_thresholds(dhp_internal_engine(ctx), &t);
        assert_int_equal(t.margin, 3 * MIB);
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &lo), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighMemoryCondition", &hi), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighCommitCondition", &hc), 0);
        set_available(ctx, 1 * MIB);
        assert_true(dhp_memcond_is_set(lo));
        set_available(ctx, 11 * MIB - 1);
        assert_true(dhp_memcond_is_set(lo));
        set_available(ctx, 11 * MIB);
        assert_false(dhp_memcond_is_set(lo));
        set_available(ctx, 30 * MIB);
        assert_true(dhp_memcond_is_set(hi));
        set_available(ctx, 21 * MIB + 1);
        assert_true(dhp_memcond_is_set(hi));
        set_available(ctx, 21 * MIB);
        assert_false(dhp_memcond_is_set(hi));
        set_commit(ctx, 91, 100);
        assert_true(dhp_memcond_is_set(hc));
        set_commit(ctx, 86, 100);
        assert_true(dhp_memcond_is_set(hc));
        set_commit(ctx, 85, 100);
        assert_false(dhp_memcond_is_set(hc));

        /* Capped at (high - low) / 4, so both can never be set at once. */
        assert_int_equal(dhp_memcond_configure(ctx, "margin=100M", &err), 0);
        memcond_get_thresholds(dhp_internal_engine(ctx), &t);
        assert_int_equal(t.margin, 4 * MIB);
        /* Refused, nothing applied. */
        assert_int_equal(dhp_memcond_configure(ctx, "margin=lots", &err), -EINVAL);
        assert_non_null(strstr(err, "margin=lots"));
        free(err);
        err = NULL;
        assert_int_equal(dhp_memcond_configure(ctx, "commit_margin=101", &err), -EINVAL);
        free(err);
        err = NULL;
        assert_int_equal(dhp_memcond_configure(ctx, "commit_margin=50%", &err), -EINVAL);
        assert_non_null(strstr(err, "commit margin 50% is not below low commit threshold 50%"));
        free(err);
        memcond_get_thresholds(dhp_internal_engine(ctx), &t);
        assert_int_equal(t.margin, 4 * MIB);
        assert_int_equal(t.commit_margin, 5);
        dhp_memcond_close(lo);
        dhp_memcond_close(hi);
        dhp_memcond_close(hc);
        dhp_close(ctx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_thresholds),
                cmocka_unit_test(test_memory_boundaries),
                cmocka_unit_test(test_band_neither_set),
                cmocka_unit_test(test_every_waiter_woken),
                cmocka_unit_test(test_fd_follows_the_event),
                cmocka_unit_test(test_no_flapping),
                cmocka_unit_test(test_commit_conditions),
                cmocka_unit_test(test_recomputed_after_hotadd),
                cmocka_unit_test(test_unknown_names),
                cmocka_unit_test(test_bad_thresholds),
                cmocka_unit_test(test_fallback_timer),
                cmocka_unit_test(test_timer_paused_without_listeners),
                cmocka_unit_test(test_scenario_commands),
                cmocka_unit_test(test_text_record),
                cmocka_unit_test(test_margin_zero_is_exact),
                cmocka_unit_test(test_margin_configured),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
