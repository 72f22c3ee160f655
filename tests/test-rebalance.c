/* SPDX-License-Identifier: MIT */
/* Resource rebalance (doc/model.md section 4): the order of requests across a
 * driver stack, refusal, who participates, the new affinity, and where the
 * rebalance sits in a hot-add. */
#include <errno.h>
#include <stdatomic.h>

#include "helpers.h"
#include "lib/dhp-private.h"
#include "proto/proto.h"

#define LOG_MAX 256

/* Every handler call of a test, in order: "driver:REQUEST". */
struct calls {
        pthread_mutex_t lock;
        size_t n;
        char line[LOG_MAX][64];
        char old_aff[64], new_aff[64]; /* from the last START */
        uint32_t vectors;
};

struct drv {
        struct calls *calls;
        const char *name;
        int refuse;    /* error to return from QUERY_STOP */
        int fail_stop; /* error to return from STOP */
        dhp_driver *self;
        int detach_result;
        bool detach_self;
        bool free_device;
};

static int handler(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        struct drv *d = userdata;
        struct calls *k = d->calls;

        assert_int_equal(dhp_rebalance_ctx_get_request(c), req);
        pthread_mutex_lock(&k->lock);
        if (k->n < LOG_MAX)
                snprintf(k->line[k->n++], sizeof(k->line[0]), "%s:%s", d->name, proto_request_name(req));
        if (req == DHP_REBALANCE_START) {
                snprintf(k->old_aff, sizeof(k->old_aff), "%s", dhp_rebalance_ctx_get_old_affinity(c));
                snprintf(k->new_aff, sizeof(k->new_aff), "%s", dhp_rebalance_ctx_get_new_affinity(c));
                k->vectors = dhp_rebalance_ctx_get_vectors(c);
        }
        pthread_mutex_unlock(&k->lock);
        if (d->detach_self && req == DHP_REBALANCE_QUERY_STOP)
                d->detach_result = dhp_driver_detach(d->self);
        if (d->free_device && req == DHP_REBALANCE_STOP)
                dhp_device_free(dhp_rebalance_ctx_get_device(c));
        if (req == DHP_REBALANCE_QUERY_STOP)
                return d->refuse;
        if (req == DHP_REBALANCE_STOP)
                return d->fail_stop;
        return 0;
}

static void calls_init(struct calls *k) {
        memset(k, 0, sizeof(*k));
        pthread_mutex_init(&k->lock, NULL);
}

/* Assert the log is exactly the given lines (NULL-terminated). */
static void calls_expect(struct calls *k, ...) {
        va_list ap;
        const char *want;
        size_t i = 0;

        va_start(ap, k);
        while ((want = va_arg(ap, const char *))) {
                if (i >= k->n)
                        fail_msg("call %zu: expected %s, got nothing", i, want);
                if (strcmp(k->line[i], want) != 0)
                        fail_msg("call %zu: expected %s, got %s", i, want, k->line[i]);
                i++;
        }
        va_end(ap);
        if (i != k->n)
                fail_msg("%zu calls, expected %zu (first extra: %s)", k->n, i, k->line[i]);
}

/* A device with drivers attached bottom first: names[0] is the bottom. */
static dhp_device *stack(dhp *ctx, const char *name, const char *cls, struct drv *d, size_t n) {
        dhp_device *dev;

        assert_int_equal(dhp_device_new(ctx, name, cls, &dev), 0);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(dhp_driver_attach(dev, d[i].name, handler, &d[i], &d[i].self), 0);
        return dev;
}

static char *affinity(dhp_device *dev) {
        char *s = NULL;
        assert_int_equal(dhp_device_get_affinity(dev, &s), 0);
        return s;
}

static void test_three_driver_order(void **state) {
        struct calls k;
        struct drv d[3] = { { &k, "bottom" }, { &k, "middle" }, { &k, "top" } };
        struct recorder rec;
        dhp_device *dev;
        uint32_t cpu;
        char *a;
        dhp *ctx;
        long q, s, st;

        calls_init(&k);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,maxcpus=4"), 0);
        recorder_start(&rec, ctx);
        dev = stack(ctx, "disk0", DHP_SETUP_CLASS_STORAGE, d, 3);
        assert_string_equal((a = affinity(dev)), "0-1");
        free(a);
        assert_int_equal(dhp_sim_cpu_add(ctx, &cpu), 0);
        assert_int_equal(cpu, 2);
        /* Never inside the transaction. */
        assert_int_equal(k.n, 0);
        assert_int_equal(dhp_process(ctx), 2); /* the arrival, then the rebalance */
        calls_expect(&k, "top:QUERY_STOP", "middle:QUERY_STOP", "bottom:QUERY_STOP", "top:STOP", "middle:STOP",
                     "bottom:STOP", "bottom:START", "middle:START", "top:START", NULL);
        assert_string_equal(k.old_aff, "0-1");
        assert_string_equal(k.new_aff, "0-2");
        assert_int_equal(k.vectors, 1);
        assert_string_equal((a = affinity(dev)), "0-2");
        free(a);

        /* The stream: one record per request per driver, in the same order,
         * START with both affinities, then the device's summary. */
        q = recorder_find(&rec, 0, "\"method\":\"rebalance\"", "\"event\":\"QUERY_STOP\"", "\"device\":\"disk0\"",
                          "\"driver\":\"top\"", "\"status\":\"0\"", NULL);
        s = recorder_find(&rec, 0, "\"event\":\"STOP\"", "\"driver\":\"bottom\"", NULL);
        st = recorder_find(&rec, 0, "\"event\":\"START\"", "\"driver\":\"top\"", "\"old_affinity\":\"0-1\"",
                           "\"new_affinity\":\"0-2\"", NULL);
        assert_true(q >= 0 && s > q && st > s);
        assert_int_equal(recorder_count(&rec, "\"method\":\"rebalance\"", "\"driver\":", NULL), 9);
        assert_true(recorder_find(&rec, (size_t)st, "\"event\":\"REBALANCED\"", "\"device\":\"disk0\"",
                                  "\"stopped_ns\":", NULL) > st);
        assert_int_equal(recorder_count(&rec, "\"event\":\"END\"", "\"rebalanced\":1,", NULL), 1);
        recorder_stop(&rec);
        dhp_close(ctx);
}

static void test_middle_refuses(void **state) {
        struct calls k, k2;
        struct drv d[3] = { { &k, "bottom" }, { &k, "middle", -EBUSY }, { &k, "top" } };
        struct drv other[1] = { { &k2, "only" } };
        struct recorder rec;
        dhp_device *dev, *dev2;
        uint64_t last = 1;
        char *a;
        dhp *ctx;

        calls_init(&k);
        calls_init(&k2);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,maxcpus=4"), 0);
        recorder_start(&rec, ctx);
        dev = stack(ctx, "disk0", DHP_SETUP_CLASS_STORAGE, d, 3);
        dev2 = stack(ctx, "gpu0", DHP_SETUP_CLASS_DISPLAY, other, 1);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 2);
        /* Issue 17 item 4, D18: CANCEL_STOP to the whole stack, bottom up,
         * the refusing driver and the one never asked included. */
        calls_expect(&k, "top:QUERY_STOP", "middle:QUERY_STOP", "bottom:CANCEL_STOP", "middle:CANCEL_STOP",
                     "top:CANCEL_STOP", NULL);
        assert_string_equal((a = affinity(dev)), "0-1");
        free(a);
        assert_int_equal(dhp_device_affinity_has(dev, 2), 0);
        assert_int_equal(dhp_device_get_stopped_ns(dev, &last, NULL), 0);
        assert_int_equal(last, 0);
        /* The others go on. */
        calls_expect(&k2, "only:QUERY_STOP", "only:STOP", "only:START", NULL);
        assert_int_equal(dhp_device_affinity_has(dev2, 2), 1);
        assert_true(recorder_find(&rec, 0, "\"event\":\"QUERY_STOP\"", "\"driver\":\"middle\"", "\"status\":\"EBUSY\"",
                                  NULL) >= 0);
        assert_int_equal(recorder_count(&rec, "\"event\":\"KEPT\"", "\"device\":\"disk0\"", "\"old_affinity\":\"0-1\"",
                                        NULL),
                         1);
        /* The bottom driver was never asked QUERY_STOP; it gets only its
         * CANCEL_STOP (D18). */
        assert_int_equal(recorder_count(&rec, "\"driver\":\"bottom\"", NULL), 1);
        assert_int_equal(recorder_count(&rec, "\"event\":\"CANCEL_STOP\"", "\"driver\":\"bottom\"", NULL), 1);
        assert_int_equal(recorder_count(&rec, "\"event\":\"END\"", "\"rebalanced\":1,\"refused\":1,", NULL), 1);
        recorder_stop(&rec);
        dhp_close(ctx);
}

static void test_stop_failure_is_recorded_and_ignored(void **state) {
        struct calls k;
        struct drv d[2] = { { &k, "bottom" }, { &k, "top", 0, -EIO } };
        struct recorder rec;
        dhp_device *dev;
        dhp *ctx;

        calls_init(&k);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        recorder_start(&rec, ctx);
        dev = stack(ctx, "disk0", "Storage", d, 2);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 2);
        calls_expect(&k, "top:QUERY_STOP", "bottom:QUERY_STOP", "top:STOP", "bottom:STOP", "bottom:START",
                     "top:START", NULL);
        assert_int_equal(dhp_device_affinity_has(dev, 1), 1);
        assert_int_equal(recorder_count(&rec, "\"event\":\"STOP\"", "\"driver\":\"top\"", "\"reason\":\"driver-bug\"",
                                        "\"status\":\"EIO\"", NULL),
                         1);
        recorder_stop(&rec);
        dhp_close(ctx);
}

static void test_who_participates(void **state) {
        struct calls k;
        struct drv d[6] = { { &k, "net-default" }, { &k, "net-2" }, { &k, "disk-1" },
                            { &k, "disk-default" }, { &k, "odd-class" }, { &k, "disk-2" } };
        dhp_device *dev[6];
        const char *cls[6] = { "Net", "net", "Storage", "Storage", "Widgets", "Storage" };
        struct recorder rec;
        bool optout;
        dhp *ctx;

        calls_init(&k);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=8"), 0);
        recorder_start(&rec, ctx);
        assert_int_equal(dhp_setup_class_get_optout(ctx, "Net", &optout), 0);
        assert_true(optout);
        assert_int_equal(dhp_setup_class_get_optout(ctx, "Storage", &optout), 0);
        assert_false(optout);
        for (int i = 0; i < 6; i++) {
                char name[16];
                snprintf(name, sizeof(name), "dev%d", i);
                dev[i] = stack(ctx, name, cls[i], &d[i], 1);
        }
        assert_int_equal(dhp_device_set_policy(dev[1], DHP_REBALANCE_POLICY_PARTICIPATE), 0);
        assert_int_equal(dhp_device_set_policy(dev[2], DHP_REBALANCE_POLICY_DO_NOT), 0);
        assert_int_equal(dhp_device_set_policy(dev[5], DHP_REBALANCE_POLICY_PARTICIPATE), 0);
        assert_int_equal(dhp_device_set_policy(dev[0], 3), -EINVAL);

        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 2);
        /* Net: skipped by default, included by its property; Storage with
         * property 1: excluded; an unknown class participates. */
        calls_expect(&k, "net-2:QUERY_STOP", "net-2:STOP", "net-2:START", "disk-default:QUERY_STOP",
                     "disk-default:STOP", "disk-default:START", "odd-class:QUERY_STOP", "odd-class:STOP",
                     "odd-class:START", "disk-2:QUERY_STOP", "disk-2:STOP", "disk-2:START", NULL);
        assert_int_equal(recorder_count(&rec, "\"SKIPPED\"", "\"device\":\"dev0\"", "\"reason\":\"class-optout\"", NULL),
                         1);
        assert_int_equal(recorder_count(&rec, "\"SKIPPED\"", "\"device\":\"dev2\"", "\"reason\":\"policy\"", NULL), 1);
        assert_int_equal(dhp_device_affinity_has(dev[0], 1), 0);
        assert_int_equal(dhp_device_affinity_has(dev[1], 1), 1);

        /* The class opt-out is settable; the property still wins. */
        k.n = 0;
        assert_int_equal(dhp_setup_class_set_optout(ctx, "NET", false), 0);
        assert_int_equal(dhp_setup_class_set_optout(ctx, "Storage", true), 0);
        assert_int_equal(dhp_device_participates(dev[0]), 1);
        assert_int_equal(dhp_device_participates(dev[3]), 0);
        assert_int_equal(dhp_device_participates(dev[5]), 1);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 2);
        calls_expect(&k, "net-default:QUERY_STOP", "net-default:STOP", "net-default:START", "net-2:QUERY_STOP",
                     "net-2:STOP", "net-2:START", "odd-class:QUERY_STOP", "odd-class:STOP", "odd-class:START",
                     "disk-2:QUERY_STOP", "disk-2:STOP", "disk-2:START", NULL);
        /* Clearing the property hands the decision back to the class. */
        assert_int_equal(dhp_device_set_policy(dev[2], DHP_REBALANCE_POLICY_ABSENT), 0);
        assert_int_equal(dhp_device_participates(dev[2]), 0);
        assert_int_equal(dhp_setup_class_set_optout(ctx, "Storage", false), 0);
        assert_int_equal(dhp_device_participates(dev[2]), 1);
        recorder_stop(&rec);
        dhp_close(ctx);
}

static void test_memory_add_never_rebalances(void **state) {
        struct calls k;
        struct drv d[1] = { { &k, "drv" } };
        struct recorder rec;
        dhp *ctx;

        calls_init(&k);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4,memory=512M"), 0);
        recorder_start(&rec, ctx);
        stack(ctx, "disk0", "Storage", d, 1);
        assert_int_equal(dhp_sim_memory_add(ctx, 256 << 20, NULL), 0);
        assert_int_equal(dhp_process(ctx), 1); /* the memory arrival only */
        assert_int_equal(k.n, 0);
        assert_int_equal(recorder_count(&rec, "\"method\":\"rebalance\"", NULL), 0);
        /* The same context does rebalance on a processor add. */
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 2);
        assert_int_equal(k.n, 3);
        recorder_stop(&rec);
        dhp_close(ctx);
}

static void arrival_cb(void *userdata, const dhp_device_event *e) {
        atomic_int *n = userdata;
        atomic_fetch_add(n, 1);
}

static void test_rebalance_after_arrival(void **state) {
        struct calls k;
        struct drv d[1] = { { &k, "drv" } };
        struct recorder rec;
        dhp_arrival_reg *reg;
        atomic_int arrivals = 0;
        long complete, arrival, begin, query;
        dhp *ctx;

        calls_init(&k);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        recorder_start(&rec, ctx);
        assert_int_equal(dhp_arrival_register(ctx, "w", DHP_CLASS_PROCESSOR, 0, arrival_cb, &arrivals, &reg), 0);
        stack(ctx, "disk0", "Storage", d, 1);
        assert_int_equal(dhp_start_thread(ctx), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_stop_thread(ctx), 0);
        assert_int_equal(atomic_load(&arrivals), 1);
        complete = recorder_find(&rec, 0, "\"txn\"", "\"ADMITTED\"", "\"processor\":1,", NULL);
        arrival = recorder_find(&rec, 0, "\"ARRIVAL\"", "\"processor\":1,", NULL);
        begin = recorder_find(&rec, 0, "\"rebalance\"", "\"BEGIN\"", "\"processor\":1,", NULL);
        query = recorder_find(&rec, 0, "\"rebalance\"", "\"QUERY_STOP\"", "\"processor\":1,", NULL);
        if (!(complete >= 0 && arrival > complete && begin > arrival && query > begin)) {
                recorder_dump(&rec);
                fail();
        }
        dhp_arrival_unregister(reg);
        recorder_stop(&rec);
        dhp_close(ctx);
}

/* R22 with two processors admitted before either's rebalance runs (a
 * burst, or a slow notification thread): the first one's rebalance moves
 * the device onto the processors admitted up to it, not onto the second,
 * whose ARRIVAL comes after it; the second's then adds it. */
struct starts {
        char aff[4][32];
        int n;
};

static int start_logger(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        struct starts *st = userdata;

        if (req == DHP_REBALANCE_START && st->n < 4)
                snprintf(st->aff[st->n++], sizeof(st->aff[0]), "%s", dhp_rebalance_ctx_get_new_affinity(c));
        return 0;
}

static void test_rebalance_onto_arrived_only(void **state) {
        struct starts st = { 0 };
        dhp_device *dev;
        dhp_driver *drv;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        assert_int_equal(dhp_device_new(ctx, "disk0", "Storage", &dev), 0);
        assert_int_equal(dhp_driver_attach(dev, "drv", start_logger, &st, &drv), 0);
        /* Both admitted before anything is dispatched; the queue: ARRIVAL
         * of cpu1, its rebalance, ARRIVAL of cpu2, its rebalance. */
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        while (dhp_process(ctx) > 0)
                ;
        assert_int_equal(st.n, 2);
        assert_string_equal(st.aff[0], "0-1");
        assert_string_equal(st.aff[1], "0-2");
        dhp_close(ctx);
}

static void test_affinity_policies(void **state) {
        struct calls k;
        struct drv d[4] = { { &k, "all" }, { &k, "spread0" }, { &k, "spread1" }, { &k, "keep" } };
        dhp_device *all, *s0, *s1, *keep, *opc;
        struct drv dopc[1] = { { &k, "opc" } };
        char *a;
        dhp *ctx;

        calls_init(&k);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        all = stack(ctx, "all", "System", &d[0], 1);
        s0 = stack(ctx, "s0", "System", &d[1], 1);
        s1 = stack(ctx, "s1", "System", &d[2], 1);
        keep = stack(ctx, "keep", "System", &d[3], 1);
        opc = stack(ctx, "opc", "System", dopc, 1);
        assert_int_equal(dhp_device_set_affinity_policy(s0, DHP_AFFINITY_SPREAD), 0);
        assert_int_equal(dhp_device_set_affinity_policy(s1, DHP_AFFINITY_SPREAD), 0);
        assert_int_equal(dhp_device_set_affinity_policy(keep, DHP_AFFINITY_KEEP), 0);
        assert_int_equal(dhp_device_set_affinity_policy(opc, DHP_AFFINITY_ONE_PER_CPU), 0);
        assert_int_equal(dhp_device_set_affinity_policy(opc, 9), -EINVAL);
        assert_int_equal(dhp_device_set_affinity(keep, "0"), 0);
        assert_int_equal(dhp_device_set_affinity(keep, ""), -EINVAL);
        assert_int_equal(dhp_device_set_affinity(keep, "x"), -EINVAL);

        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 2);
        assert_string_equal((a = affinity(all)), "0-1");
        free(a);
        /* Spread: one processor each, dealt round robin: the second SPREAD
         * device moves to the new processor. */
        assert_string_equal((a = affinity(s0)), "0");
        free(a);
        assert_string_equal((a = affinity(s1)), "1");
        free(a);
        /* Keep: unchanged and never stopped. */
        assert_string_equal((a = affinity(keep)), "0");
        free(a);
        assert_string_equal((a = affinity(opc)), "0-1");
        free(a);
        assert_int_equal(k.vectors, 2);
        /* s0 kept processor 0: not stopped either. */
        calls_expect(&k, "all:QUERY_STOP", "all:STOP", "all:START", "spread1:QUERY_STOP", "spread1:STOP",
                     "spread1:START", "opc:QUERY_STOP", "opc:STOP", "opc:START", NULL);
        dhp_close(ctx);
}

static void test_detach_and_free_from_handler(void **state) {
        struct calls k;
        struct drv d[2] = { { &k, "bottom" }, { &k, "top" } };
        dhp_device *dev;
        dhp *ctx;

        calls_init(&k);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        dev = stack(ctx, "disk0", "Storage", d, 2);
        d[1].detach_self = true;
        d[0].free_device = true;
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 2);
        /* A stack cannot change under its own sequence... */
        assert_int_equal(d[1].detach_result, -EBUSY);
        /* ...and a device freed from its handler finishes its sequence
         * first (ASan checks the memory). */
        calls_expect(&k, "top:QUERY_STOP", "bottom:QUERY_STOP", "top:STOP", "bottom:STOP", "bottom:START",
                     "top:START", NULL);
        assert_null(dhp_internal_device(ctx, "disk0"));
        k.n = 0;
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 1); /* no device: no rebalance */
        assert_int_equal(k.n, 0);
        (void)dev;
        dhp_close(ctx);
}

static void test_attach_at_and_detach(void **state) {
        struct calls k;
        struct drv d[4] = { { &k, "a" }, { &k, "b" }, { &k, "c" }, { &k, "d" } };
        dhp_device *dev, *dup;
        dhp *ctx;

        calls_init(&k);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        assert_int_equal(dhp_device_new(ctx, "x", "System", &dev), 0);
        assert_int_equal(dhp_device_new(ctx, "x", "System", &dup), -EEXIST);
        assert_int_equal(dhp_device_new(ctx, "", "System", &dup), -EINVAL);
        assert_int_equal(dhp_device_new(ctx, "y", NULL, &dup), -EINVAL);
        assert_string_equal(dhp_device_get_setup_class(dev), "System");
        assert_int_equal(dhp_driver_attach(dev, "a", handler, &d[0], &d[0].self), 0);    /* a */
        assert_int_equal(dhp_driver_attach_at(dev, 0, "b", handler, &d[1], &d[1].self), 0); /* a b */
        assert_int_equal(dhp_driver_attach_at(dev, 1, "c", handler, &d[2], &d[2].self), 0); /* a c b */
        assert_int_equal(dhp_driver_attach_at(dev, 99, "d", handler, &d[3], &d[3].self), 0); /* d a c b */
        assert_int_equal(dhp_driver_detach(d[0].self), 0);                                  /* d c b */
        assert_int_equal(dhp_driver_detach(NULL), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_int_equal(dhp_process(ctx), 2);
        calls_expect(&k, "d:QUERY_STOP", "c:QUERY_STOP", "b:QUERY_STOP", "d:STOP", "c:STOP", "b:STOP", "b:START",
                     "c:START", "d:START", NULL);
        dhp_device_free(dev);
        dhp_device_free(NULL);
        dhp_close(ctx);
}

static void test_scenario_devices(void **state) {
        struct recorder rec;
        char *err = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,maxcpus=8"), 0);
        recorder_start(&rec, ctx);
        assert_int_equal(dhp_sim_run_scenario(ctx, "r.scenario",
                                              "device add disk0 Storage\n"
                                              "device add eth0 Net\n"
                                              "device add eth1 Net policy=2 drivers=1\n"
                                              "device add gpu0 Display refuse=query-stop\n"
                                              "device add tmr0 System policy=1\n"
                                              "cpu add\n"
                                              "settle\n",
                                              &err),
                         0);
        assert_int_equal(recorder_count(&rec, "\"QUERY_STOP\"", "\"device\":\"disk0\"", NULL), 3);
        assert_int_equal(recorder_count(&rec, "\"REBALANCED\"", "\"device\":\"disk0\"", "\"new_affinity\":\"0-2\"",
                                        NULL),
                         1);
        assert_int_equal(recorder_count(&rec, "\"SKIPPED\"", "\"device\":\"eth0\"", NULL), 1);
        assert_int_equal(recorder_count(&rec, "\"START\"", "\"device\":\"eth1\"", "\"driver\":\"function\"", NULL), 1);
        assert_int_equal(recorder_count(&rec, "\"QUERY_STOP\"", "\"device\":\"gpu0\"", "\"driver\":\"function\"",
                                        "\"status\":\"EBUSY\"", NULL),
                         1);
        assert_int_equal(recorder_count(&rec, "\"CANCEL_STOP\"", "\"device\":\"gpu0\"", "\"driver\":\"filter\"", NULL),
                         1);
        /* D18: the bus driver, never asked, is cancelled too, and first. */
        assert_int_equal(recorder_count(&rec, "\"device\":\"gpu0\"", "\"driver\":\"bus\"", NULL), 1);
        assert_true(recorder_find(&rec, 0, "\"CANCEL_STOP\"", "\"device\":\"gpu0\"", "\"driver\":\"bus\"", NULL) <
                    recorder_find(&rec, 0, "\"CANCEL_STOP\"", "\"device\":\"gpu0\"", "\"driver\":\"filter\"",
                                  NULL));
        assert_int_equal(recorder_count(&rec, "\"SKIPPED\"", "\"device\":\"tmr0\"", "\"reason\":\"policy\"", NULL), 1);
        assert_int_equal(dhp_device_affinity_has(dhp_internal_device(ctx, "gpu0"), 2), 0);

        assert_int_equal(dhp_sim_run_scenario(ctx, "r.scenario", "device add disk9 Storage policy=3\n", &err),
                         -EINVAL);
        assert_string_equal(err, "r.scenario:1:33: expected policy=1 or policy=2, got '3'");
        free(err);
        err = NULL;
        assert_int_equal(dhp_sim_run_scenario(ctx, "r.scenario", "device add disk0 Storage\n", &err), -EEXIST);
        free(err);
        err = NULL;
        assert_int_equal(dhp_sim_run_scenario(ctx, "r.scenario", "optout Storage yes\ncpu add\nsettle\n", &err), 0);
        assert_int_equal(recorder_count(&rec, "\"SKIPPED\"", "\"device\":\"disk0\"", "\"reason\":\"class-optout\"", NULL),
                         1);
        recorder_stop(&rec);
        dhp_close(ctx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_three_driver_order),
                cmocka_unit_test(test_middle_refuses),
                cmocka_unit_test(test_stop_failure_is_recorded_and_ignored),
                cmocka_unit_test(test_who_participates),
                cmocka_unit_test(test_memory_add_never_rebalances),
                cmocka_unit_test(test_rebalance_after_arrival),
                cmocka_unit_test(test_rebalance_onto_arrived_only),
                cmocka_unit_test(test_affinity_policies),
                cmocka_unit_test(test_detach_and_free_from_handler),
                cmocka_unit_test(test_attach_at_and_detach),
                cmocka_unit_test(test_scenario_devices),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
