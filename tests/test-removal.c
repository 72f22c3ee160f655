/* SPDX-License-Identifier: MIT */
/*
 * Removal (doc/model.md, "Removal (dhp extension)", R32-R41) on the
 * simulated platform: the query and its veto, the offline that fails, the
 * surprise removal (also during a query), memory devices whose blocks
 * refuse to go offline, virtio-mem resize steps, and the scenario commands.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/engine.h"
#include "helpers.h"
#include "lib/dhp-private.h"
#include "platform/sim/sim.h"

/* What one callback saw, as letters: Q query, C complete, X cancel,
 * A arrival, R removal, S surprise (after C or R). */
struct seen {
        char log[128];
        size_t n;
        int veto;        /* veto every query with this, if < 0 */
        int status;      /* the status seen at the last call */
        bool surprise_in_query; /* eject the processor from inside REMOVE_QUERY */
        dhp *ctx;
        bool schedulable_at_query, schedulable_at_complete;
        char name[64];
        uint64_t base, size;
};

static void seen_add(struct seen *s, char c) {
        if (s->n + 1 < sizeof(s->log))
                s->log[s->n++] = c;
        s->log[s->n] = 0;
}

static void proc_cb(void *userdata, const dhp_proc_change *c) {
        struct seen *s = userdata;
        struct sim *sim = dhp_internal_sim(s->ctx);
        uint32_t i = dhp_proc_change_get_index(c);

        switch (dhp_proc_change_get_state(c)) {
        case DHP_PROC_REMOVE_QUERY:
                seen_add(s, 'Q');
                s->schedulable_at_query = sim_cpu_schedulable(sim, i);
                if (s->veto < 0)
                        dhp_proc_change_veto(c, s->veto);
                if (s->surprise_in_query)
                        assert_int_equal(dhp_sim_cpu_surprise_remove(s->ctx, i), 0);
                break;
        case DHP_PROC_REMOVE_COMPLETE:
                seen_add(s, 'C');
                if (dhp_proc_change_is_surprise(c))
                        seen_add(s, 'S');
                s->schedulable_at_complete = sim_cpu_schedulable(sim, i);
                break;
        case DHP_PROC_REMOVE_CANCEL:
                seen_add(s, 'X');
                break;
        default:
                seen_add(s, '+');
                break;
        }
        s->status = dhp_proc_change_get_status(c);
}

static void arrival_cb(void *userdata, const dhp_device_event *e) {
        struct seen *s = userdata;

        switch (dhp_device_event_get_event(e)) {
        case DHP_EVENT_ARRIVAL:
                seen_add(s, 'A');
                break;
        case DHP_EVENT_REMOVAL:
                seen_add(s, 'R');
                if (dhp_device_event_is_surprise(e))
                        seen_add(s, 'S');
                break;
        case DHP_EVENT_QUERY_REMOVE:
                seen_add(s, 'Q');
                if (s->veto < 0)
                        dhp_device_event_veto(e, s->veto);
                break;
        case DHP_EVENT_REMOVE_CANCEL:
                seen_add(s, 'X');
                break;
        }
        s->status = dhp_device_event_get_status(e);
        snprintf(s->name, sizeof(s->name), "%s", dhp_device_event_get_name(e));
        if (dhp_device_event_get_class(e) == DHP_CLASS_MEMORY)
                dhp_device_event_get_memory(e, &s->base, &s->size);
}

static dhp *open_sim(const char *opts) {
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, opts), 0);
        return ctx;
}

/* R32, R33, R35: query, unadmit, offline, complete, REMOVAL; a callback
 * that did not opt in sees nothing. */
static void test_cpu_remove(void **state) {
        dhp *ctx = open_sim("sim:cpus=3");
        struct seen in = { .ctx = ctx }, out = { .ctx = ctx }, arr = { .ctx = ctx };
        dhp_proc_reg *r1, *r2;
        dhp_arrival_reg *a;
        dhp_proc_state st;
        uint32_t idx;
        int status = 1;

        assert_int_equal(dhp_proc_register(ctx, "in", DHP_PROC_QUERY_REMOVE, proc_cb, &in, &r1), 0);
        assert_int_equal(dhp_proc_register(ctx, "out", 0, proc_cb, &out, &r2), 0);
        assert_int_equal(dhp_arrival_register(ctx, "arr", DHP_CLASS_PROCESSOR, 0, arrival_cb, &arr, &a), 0);
        assert_int_equal(dhp_proc_remove(ctx, 2, &status), 0);
        assert_int_equal(status, 0);
        assert_string_equal(in.log, "QC");
        assert_true(in.schedulable_at_query);
        assert_false(in.schedulable_at_complete);
        assert_string_equal(out.log, "");
        dhp_process(ctx);
        assert_string_equal(arr.log, "R");
        assert_string_equal(arr.name, "cpu2");
        assert_int_equal(dhp_proc_get_state(ctx, 2, &st), 0);
        assert_int_equal(st, DHP_PROC_PRESENT);
        assert_false(sim_cpu_online(dhp_internal_sim(ctx), 2));

        /* Not admitted: nothing to remove. */
        assert_int_equal(dhp_proc_remove(ctx, 2, NULL), -ENODEV);
        assert_int_equal(dhp_proc_remove(ctx, 7, NULL), -ENODEV);
        assert_int_equal(dhp_proc_remove(ctx, 99, NULL), -ERANGE);
        /* An offline processor can be added again: ARRIVAL once more. */
        assert_int_equal(dhp_sim_cpu_add(ctx, &idx), 0);
        dhp_process(ctx);
        /* The last processor stays (D31). */
        assert_int_equal(dhp_proc_remove(ctx, 0, NULL), 0);
        assert_int_equal(dhp_proc_remove(ctx, 1, NULL), 0);
        assert_int_equal(dhp_proc_get_state(ctx, idx, &st), 0);
        if (st == DHP_PROC_ADMITTED && idx != 0 && idx != 1)
                assert_int_equal(dhp_proc_remove(ctx, idx, NULL), -EBUSY);
        dhp_proc_deregister(r1);
        dhp_proc_deregister(r2);
        dhp_arrival_unregister(a);
        dhp_close(ctx);
}

/* R34, D32: the first veto wins, every queried one gets the cancel; an
 * offline that fails cancels too and the processor is admitted again. */
static void test_cpu_remove_veto(void **state) {
        dhp *ctx = open_sim("sim:cpus=3");
        struct seen v = { .ctx = ctx, .veto = -EBUSY }, w = { .ctx = ctx, .veto = -EPERM }, arr = { .ctx = ctx };
        dhp_proc_reg *r1, *r2;
        dhp_arrival_reg *a;
        dhp_proc_state st;
        struct recorder rec;
        int status = 0;

        recorder_start(&rec, ctx);
        assert_int_equal(dhp_proc_register(ctx, "v", DHP_PROC_QUERY_REMOVE, proc_cb, &v, &r1), 0);
        assert_int_equal(dhp_proc_register(ctx, "w", DHP_PROC_QUERY_REMOVE, proc_cb, &w, &r2), 0);
        assert_int_equal(dhp_arrival_register(ctx, "arr", DHP_CLASS_PROCESSOR, 0, arrival_cb, &arr, &a), 0);
        assert_int_equal(dhp_proc_remove(ctx, 1, &status), 1);
        assert_int_equal(status, -EBUSY);
        assert_string_equal(v.log, "QX");
        assert_string_equal(w.log, "QX"); /* R5 for removal: asked even after the veto */
        assert_int_equal(w.status, -EBUSY);
        assert_int_equal(dhp_proc_get_state(ctx, 1, &st), 0);
        assert_int_equal(st, DHP_PROC_ADMITTED);
        assert_true(sim_cpu_schedulable(dhp_internal_sim(ctx), 1));
        assert_true(recorder_find(&rec, 0, "\"REMOVE_QUERY\"", "\"veto\":true", NULL) >= 0);

        /* The offline fails: cancel, admitted again. */
        v.veto = w.veto = 0;
        v.n = w.n = 0;
        assert_int_equal(sim_inject_failure(dhp_internal_sim(ctx), SIM_OP_CPU_OFFLINE, -EIO, 1), 0);
        assert_int_equal(dhp_proc_remove(ctx, 1, &status), 1);
        assert_int_equal(status, -EIO);
        assert_string_equal(v.log, "QX");
        assert_true(sim_cpu_schedulable(dhp_internal_sim(ctx), 1));
        dhp_process(ctx);
        assert_string_equal(arr.log, "");
        assert_true(recorder_find(&rec, 0, "\"OFFLINE_FAILED\"", NULL) >= 0);
        dhp_proc_deregister(r1);
        dhp_proc_deregister(r2);
        dhp_arrival_unregister(a);
        recorder_stop(&rec);
        dhp_close(ctx);
}

/* R37, R39: a surprise removal, and one during a query. */
static void test_cpu_surprise(void **state) {
        dhp *ctx = open_sim("sim:cpus=4");
        struct seen in = { .ctx = ctx }, arr = { .ctx = ctx };
        dhp_proc_reg *r1;
        dhp_arrival_reg *a;
        dhp_proc_state st;
        int status = 1;

        assert_int_equal(dhp_proc_register(ctx, "in", DHP_PROC_QUERY_REMOVE, proc_cb, &in, &r1), 0);
        assert_int_equal(dhp_arrival_register(ctx, "arr", DHP_CLASS_PROCESSOR, 0, arrival_cb, &arr, &a), 0);
        assert_int_equal(dhp_sim_cpu_surprise_remove(ctx, 3), 0);
        assert_string_equal(in.log, "CS");
        assert_int_equal(dhp_proc_get_state(ctx, 3, &st), 0);
        assert_int_equal(st, DHP_PROC_ABSENT);
        dhp_process(ctx);
        assert_string_equal(arr.log, "RS");
        assert_int_equal(dhp_sim_cpu_surprise_remove(ctx, 3), -ENODEV);

        /* Ejected while the query runs: the removal completes as a
         * surprise, one REMOVAL. */
        in.n = arr.n = 0;
        in.log[0] = arr.log[0] = 0;
        in.surprise_in_query = true;
        assert_int_equal(dhp_proc_remove(ctx, 2, &status), 0);
        assert_int_equal(status, 0);
        assert_string_equal(in.log, "QCS");
        dhp_process(ctx);
        assert_string_equal(arr.log, "RS");
        assert_int_equal(dhp_proc_get_state(ctx, 2, &st), 0);
        assert_int_equal(st, DHP_PROC_ABSENT);
        dhp_proc_deregister(r1);
        dhp_arrival_unregister(a);
        dhp_close(ctx);
}

static void test_flags(void **state) {
        dhp *ctx = open_sim("sim");
        struct seen s = { .ctx = ctx };
        dhp_arrival_reg *a;

        assert_int_equal(dhp_arrival_register(ctx, "x", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_QUERY_REMOVE, arrival_cb, &s,
                                              &a),
                         -EINVAL);
        assert_int_equal(dhp_memory_remove(ctx, "memory@0x1", NULL), -ENOENT);
        assert_int_equal(dhp_memory_remove(ctx, NULL, NULL), -EINVAL);
        dhp_close(ctx);
}

/* R33, R36, R38: memory: query, blocks offline, REMOVAL naming the device
 * of the ARRIVAL, then the memory conditions; status drops it. */
static void test_memory_remove(void **state) {
        dhp *ctx = open_sim("sim");
        struct seen q = { .ctx = ctx }, plain = { .ctx = ctx };
        dhp_arrival_reg *a1, *a2;
        struct recorder rec;
        char arrived_name[64];
        uint64_t base, abase, asize;
        struct sim *sim = dhp_internal_sim(ctx);
        long rm, mc, off;
        int status = 1;

        recorder_start(&rec, ctx);
        assert_int_equal(dhp_arrival_register(ctx, "q", DHP_CLASS_MEMORY, DHP_ARRIVAL_QUERY_REMOVE, arrival_cb, &q,
                                              &a1),
                         0);
        assert_int_equal(dhp_arrival_register(ctx, "plain", DHP_CLASS_MEMORY, 0, arrival_cb, &plain, &a2), 0);
        assert_int_equal(dhp_sim_memory_add(ctx, 256ULL << 20, &base), 0);
        dhp_process(ctx);
        snprintf(arrived_name, sizeof(arrived_name), "%s", plain.name);
        abase = plain.base;
        asize = plain.size;
        assert_int_equal(asize, 256ULL << 20);
        assert_int_equal(dhp_memory_remove(ctx, arrived_name, &status), 0);
        assert_int_equal(status, 0);
        assert_false(sim_block_online(sim, base / (128ULL << 20)));
        dhp_process(ctx);
        assert_string_equal(q.log, "AQR");
        assert_string_equal(plain.log, "AR");
        assert_string_equal(plain.name, arrived_name);
        assert_int_equal(plain.base, abase);
        assert_int_equal(plain.size, asize);
        /* Gone: not found again. */
        assert_int_equal(dhp_memory_remove(ctx, arrived_name, NULL), -ENOENT);
        rm = recorder_find(&rec, 0, "\"REMOVAL\"", "\"plain\"", NULL);
        assert_true(rm >= 0);
        mc = recorder_find(&rec, (size_t)rm, "\"OFFLINE\"", NULL);
        assert_true(mc < 0); /* every block went offline before the REMOVAL */
        /* R36: the memory conditions once every block is offline (their
         * evaluation is queued behind the REMOVAL, as R19's behind an
         * ARRIVAL; the defaults follow the smaller total). */
        off = recorder_find(&rec, 0, "\"OFFLINE\"", "\"block\":9", NULL);
        mc = recorder_find(&rec, (size_t)off, "\"THRESHOLDS\"", "\"total\":1073741824", NULL);
        assert_true(off >= 0 && mc > off);
        dhp_arrival_unregister(a1);
        dhp_arrival_unregister(a2);
        recorder_stop(&rec);
        dhp_close(ctx);
}

/* R34, D33: a veto, then a block that refuses: the blocks already offline
 * come back online, the queried registrations get REMOVE_CANCEL. */
static void test_memory_remove_refused(void **state) {
        dhp *ctx = open_sim("sim");
        struct seen q = { .ctx = ctx, .veto = -EBUSY }, plain = { .ctx = ctx };
        struct sim *sim = dhp_internal_sim(ctx);
        dhp_arrival_reg *a1, *a2;
        char name[64];
        uint64_t base, b0;
        int status = 0;

        assert_int_equal(dhp_arrival_register(ctx, "q", DHP_CLASS_MEMORY, DHP_ARRIVAL_QUERY_REMOVE, arrival_cb, &q,
                                              &a1),
                         0);
        assert_int_equal(dhp_arrival_register(ctx, "plain", DHP_CLASS_MEMORY, 0, arrival_cb, &plain, &a2), 0);
        assert_int_equal(dhp_sim_memory_add(ctx, 384ULL << 20, &base), 0);
        dhp_process(ctx);
        snprintf(name, sizeof(name), "memory@0x%llx", (unsigned long long)base);
        assert_string_equal(plain.name, name);
        b0 = base / (128ULL << 20);

        assert_int_equal(dhp_memory_remove(ctx, name, &status), 1);
        assert_int_equal(status, -EBUSY);
        assert_string_equal(q.log, "AQX");
        assert_true(sim_block_online(sim, b0));

        q.veto = 0;
        q.n = 0;
        assert_int_equal(sim_inject_failure_after(sim, SIM_OP_BLOCK_OFFLINE, -EBUSY, 1, 1), 0);
        assert_int_equal(dhp_memory_remove(ctx, name, &status), 1);
        assert_int_equal(status, -EBUSY);
        assert_string_equal(q.log, "QX");
        assert_int_equal(q.status, -EBUSY);
        for (uint64_t b = b0; b < b0 + 3; b++)
                assert_true(sim_block_online(sim, b));
        dhp_process(ctx);
        assert_string_equal(plain.log, "A"); /* no REMOVAL, never a CANCEL */

        /* Then it goes. */
        assert_int_equal(dhp_memory_remove(ctx, name, &status), 0);
        dhp_process(ctx);
        assert_string_equal(plain.log, "AR");
        dhp_arrival_unregister(a1);
        dhp_arrival_unregister(a2);
        dhp_close(ctx);
}

/* R37 for memory: an eject; the REMOVAL is flagged surprise. */
static void test_memory_surprise(void **state) {
        dhp *ctx = open_sim("sim");
        struct seen q = { .ctx = ctx };
        dhp_arrival_reg *a1;
        char name[64];
        uint64_t base;

        assert_int_equal(dhp_arrival_register(ctx, "q", DHP_CLASS_MEMORY, DHP_ARRIVAL_QUERY_REMOVE, arrival_cb, &q,
                                              &a1),
                         0);
        assert_int_equal(dhp_sim_memory_add(ctx, 256ULL << 20, &base), 0);
        snprintf(name, sizeof(name), "memory@0x%llx", (unsigned long long)base);
        assert_int_equal(sim_memory_surprise_remove(dhp_internal_sim(ctx), name), 0);
        dhp_process(ctx);
        assert_string_equal(q.log, "ARS"); /* no query: nobody was asked */
        assert_int_equal(q.size, 256ULL << 20);
        assert_int_equal(dhp_memory_remove(ctx, name, NULL), -ENOENT);
        dhp_arrival_unregister(a1);
        dhp_close(ctx);
}

/* R40: a virtio-mem device, one ARRIVAL or REMOVAL per resize step, with
 * the size that came or went. */
static void test_virtio_mem_steps(void **state) {
        dhp *ctx = open_sim("sim");
        struct seen s = { .ctx = ctx };
        struct engine *e = dhp_internal_engine(ctx);
        struct engine_mem_info mi;
        dhp_arrival_reg *a;
        uint64_t id, first = 64, bs = 128ULL << 20;

        assert_int_equal(dhp_arrival_register(ctx, "s", DHP_CLASS_MEMORY, 0, arrival_cb, &s, &a), 0);
        assert_int_equal(engine_mem_vdev_add(e, "virtio-mem:virtio2", 0, first, 32, &id), 0);
        for (uint64_t b = first; b < first + 8; b++)
                assert_int_equal(engine_mem_vdev_plug(e, id, b, false), 0);
        assert_int_equal(engine_mem_vdev_plug(e, id, first, false), -EEXIST);
        assert_int_equal(engine_mem_vdev_plug(e, id, first + 32, false), -ERANGE);
        assert_int_equal(engine_mem_hotadd(e, id), 0);
        dhp_process(ctx);
        assert_string_equal(s.log, ""); /* the step is not over */
        assert_int_equal(engine_mem_settle(e, id), 1);
        dhp_process(ctx);
        assert_string_equal(s.log, "A");
        assert_string_equal(s.name, "virtio-mem:virtio2");
        assert_int_equal(s.size, 8 * bs);
        assert_int_equal(s.base, first * bs);

        for (uint64_t b = first + 8; b < first + 10; b++)
                assert_int_equal(engine_mem_vdev_plug(e, id, b, false), 0);
        assert_int_equal(engine_mem_hotadd(e, id), 0);
        assert_int_equal(engine_mem_settle(e, id), 1);
        dhp_process(ctx);
        assert_string_equal(s.log, "AA");
        assert_int_equal(s.size, 2 * bs);
        assert_int_equal(s.base, (first + 8) * bs);

        for (uint64_t b = first + 7; b < first + 10; b++) {
                assert_int_equal(engine_mem_block_set_online(e, b, false), 0);
                assert_int_equal(engine_mem_block_remove(e, b), 0);
        }
        assert_int_equal(engine_mem_settle(e, id), 1);
        assert_int_equal(engine_mem_settle(e, id), 0); /* nothing more */
        dhp_process(ctx);
        assert_string_equal(s.log, "AARS");
        assert_int_equal(s.size, 3 * bs);
        assert_int_equal(s.base, (first + 7) * bs);
        assert_int_equal(engine_mem_device_info(e, id, &mi), 0);
        assert_int_equal(mi.size, 7 * bs);
        assert_true(mi.virtio);
        assert_string_equal(mi.name, "virtio-mem:virtio2");
        /* The host resizes it; dhp does not take it away. */
        assert_int_equal(dhp_memory_remove(ctx, "virtio-mem:virtio2", NULL), -EOPNOTSUPP);
        dhp_arrival_unregister(a);
        dhp_close(ctx);
}

/* The scenario language: removals, a veto, a failing offline. */
static void test_scenario(void **state) {
        dhp *ctx = open_sim("sim:cpus=3");
        struct seen arr = { .ctx = ctx };
        struct recorder rec;
        dhp_arrival_reg *a;
        char *err = NULL;
        dhp_proc_state st;

        recorder_start(&rec, ctx);
        assert_int_equal(dhp_arrival_register(ctx, "arr", DHP_CLASS_PROCESSOR, 0, arrival_cb, &arr, &a), 0);
        assert_int_equal(dhp_sim_run_scenario(ctx, "t", "veto cpu EBUSY\ncpu remove 2\nfail cpu-offline EIO\n"
                                                        "cpu remove 2\ncpu remove 2\ncpu remove 1 surprise\n"
                                                        "memory add 256M\nveto memory EBUSY\n"
                                                        "memory remove memory@0x40000000\n"
                                                        "fail block-offline EBUSY\nmemory remove memory@0x40000000\n"
                                                        "memory remove memory@0x40000000 surprise\nsettle\n",
                                              &err),
                         0);
        free(err);
        assert_int_equal(dhp_proc_get_state(ctx, 2, &st), 0);
        assert_int_equal(st, DHP_PROC_PRESENT);
        assert_int_equal(dhp_proc_get_state(ctx, 1, &st), 0);
        assert_int_equal(st, DHP_PROC_ABSENT);
        dhp_process(ctx);
        assert_string_equal(arr.log, "RRS");
        assert_true(recorder_find(&rec, 0, "\"REMOVE_CANCELLED\"", "\"EBUSY\"", NULL) >= 0);
        assert_true(recorder_find(&rec, 0, "\"OFFLINE_FAILED\"", "\"EIO\"", NULL) >= 0);
        assert_true(recorder_find(&rec, 0, "\"QUERY_REMOVE\"", "\"veto\":true", NULL) >= 0);
        assert_true(recorder_find(&rec, 0, "\"REMOVAL\"", "\"surprise\":true", "memory", NULL) >= 0);

        assert_int_equal(dhp_sim_check_scenario("t", "cpu remove\n", &err), -EINVAL);
        assert_non_null(strstr(err, "t:1:11: expected a processor index"));
        free(err);
        assert_int_equal(dhp_sim_check_scenario("t", "veto disk EIO\n", &err), -EINVAL);
        free(err);
        assert_int_equal(dhp_sim_check_scenario("t", "cpu remove 1 gently\n", &err), -EINVAL);
        free(err);
        dhp_arrival_unregister(a);
        recorder_stop(&rec);
        dhp_close(ctx);
}

/* Removals racing registration churn and an arrival dispatcher (the TSan
 * suite): a registration present throughout sees one REMOVE_QUERY and then
 * exactly one REMOVE_COMPLETE per removal (R34, R35), whatever comes and
 * goes beside it; churned ones never crash or get a stray call. */
struct churn {
        dhp *ctx;
        atomic_bool stop;
        atomic_uint calls;
};

static void churn_cb(void *userdata, const dhp_proc_change *c) {
        struct churn *ch = userdata;

        atomic_fetch_add(&ch->calls, 1);
}

static void *churn_main(void *userdata) {
        struct churn *ch = userdata;

        while (!atomic_load(&ch->stop)) {
                dhp_proc_reg *r;
                if (dhp_proc_register(ch->ctx, "churn", DHP_PROC_QUERY_REMOVE, churn_cb, ch, &r) == 0)
                        dhp_proc_deregister(r);
        }
        return NULL;
}

static void *dispatch_main(void *userdata) {
        struct churn *ch = userdata;

        while (!atomic_load(&ch->stop))
                if (dhp_wait(ch->ctx, 10) > 0)
                        dhp_process(ch->ctx);
        return NULL;
}

struct counts {
        atomic_uint q, c, x;
};

static void count_cb(void *userdata, const dhp_proc_change *c) {
        struct counts *n = userdata;

        switch (dhp_proc_change_get_state(c)) {
        case DHP_PROC_REMOVE_QUERY: atomic_fetch_add(&n->q, 1); break;
        case DHP_PROC_REMOVE_COMPLETE: atomic_fetch_add(&n->c, 1); break;
        case DHP_PROC_REMOVE_CANCEL: atomic_fetch_add(&n->x, 1); break;
        default: break;
        }
}

static void removal_arrival_cb(void *userdata, const dhp_device_event *e) {
        if (dhp_device_event_get_event(e) == DHP_EVENT_REMOVAL)
                atomic_fetch_add((atomic_uint *)userdata, 1);
}

static void test_remove_races_registration(void **state) {
        dhp *ctx = open_sim("sim:cpus=3");
        struct churn ch = { .ctx = ctx };
        struct counts n = { 0 };
        atomic_uint removals = 0;
        dhp_proc_reg *reg;
        dhp_arrival_reg *a;
        pthread_t t1, t2;
        const unsigned rounds = 100;

        assert_int_equal(dhp_proc_register(ctx, "count", DHP_PROC_QUERY_REMOVE, count_cb, &n, &reg), 0);
        assert_int_equal(dhp_arrival_register(ctx, "arr", DHP_CLASS_PROCESSOR, 0, removal_arrival_cb, &removals, &a),
                         0);
        assert_int_equal(pthread_create(&t1, NULL, churn_main, &ch), 0);
        assert_int_equal(pthread_create(&t2, NULL, dispatch_main, &ch), 0);
        for (unsigned i = 0; i < rounds; i++) {
                assert_int_equal(dhp_proc_remove(ctx, 2, NULL), 0);
                assert_int_equal(dhp_proc_online(ctx, 2, NULL), 0);
        }
        atomic_store(&ch.stop, true);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        dhp_process(ctx);
        assert_int_equal(atomic_load(&n.q), rounds);
        assert_int_equal(atomic_load(&n.c), rounds);
        assert_int_equal(atomic_load(&n.x), 0);
        assert_int_equal(atomic_load(&removals), rounds);
        dhp_proc_deregister(reg);
        dhp_arrival_unregister(a);
        dhp_close(ctx);
}

/* D4 for a memory query: unregistering on another thread waits for that
 * registration's call in progress only.  q1 was called and is unregistered
 * while q2's call is held: it returns at once; q2's own unregistration
 * waits for q2's call. */
struct held {
        struct flag entered, release, unreg_returned;
        atomic_int in_call;
        dhp_arrival_reg *reg;
        dhp *ctx;
        char name[64];
        int status;
};

static void held_cb(void *userdata, const dhp_device_event *e) {
        struct held *h = userdata;

        if (dhp_device_event_get_event(e) == DHP_EVENT_ARRIVAL)
                snprintf(h->name, sizeof(h->name), "%s", dhp_device_event_get_name(e));
        if (dhp_device_event_get_event(e) != DHP_EVENT_QUERY_REMOVE)
                return;
        atomic_store(&h->in_call, 1);
        flag_set(&h->entered, 1);
        flag_wait(&h->release, 1, 5000); /* bounded */
        atomic_store(&h->in_call, 0);
}

static void *held_remover(void *userdata) {
        struct held *h = userdata;

        return (void *)(intptr_t)dhp_memory_remove(h->ctx, h->name, &h->status);
}

static void *held_unregister(void *userdata) {
        struct held *h = userdata;

        dhp_arrival_unregister(h->reg);
        flag_set(&h->unreg_returned, 1);
        return NULL;
}

static void test_memory_query_unregister_waits_per_call(void **state) {
        dhp *ctx = open_sim("sim");
        struct seen q1 = { .ctx = ctx };
        struct held h = { .ctx = ctx };
        dhp_arrival_reg *a1;
        pthread_t tr, tu;
        uint64_t base;
        void *res;

        flag_init(&h.entered);
        flag_init(&h.release);
        flag_init(&h.unreg_returned);
        assert_int_equal(dhp_arrival_register(ctx, "q1", DHP_CLASS_MEMORY, DHP_ARRIVAL_QUERY_REMOVE, arrival_cb, &q1,
                                              &a1),
                         0);
        assert_int_equal(dhp_arrival_register(ctx, "q2", DHP_CLASS_MEMORY, DHP_ARRIVAL_QUERY_REMOVE, held_cb, &h,
                                              &h.reg),
                         0);
        assert_int_equal(dhp_sim_memory_add(ctx, 256ULL << 20, &base), 0);
        dhp_process(ctx);
        assert_true(h.name[0]);
        assert_int_equal(pthread_create(&tr, NULL, held_remover, &h), 0);
        assert_true(flag_wait(&h.entered, 1, 5000));
        /* q1's call is over: no wait for q2's. */
        dhp_arrival_unregister(a1);
        assert_int_equal(atomic_load(&h.in_call), 1);
        assert_string_equal(q1.log, "AQ");
        /* q2's own call is in progress: its unregistration waits for it. */
        assert_int_equal(pthread_create(&tu, NULL, held_unregister, &h), 0);
        assert_false(flag_wait(&h.unreg_returned, 1, 100));
        flag_set(&h.release, 1);
        assert_true(flag_wait(&h.unreg_returned, 1, 5000));
        pthread_join(tu, NULL);
        pthread_join(tr, &res);
        assert_int_equal((intptr_t)res, 0);
        assert_int_equal(h.status, 0);
        dhp_close(ctx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpu_remove),       cmocka_unit_test(test_cpu_remove_veto),
                cmocka_unit_test(test_cpu_surprise),     cmocka_unit_test(test_flags),
                cmocka_unit_test(test_memory_remove),    cmocka_unit_test(test_memory_remove_refused),
                cmocka_unit_test(test_memory_surprise),  cmocka_unit_test(test_virtio_mem_steps),
                cmocka_unit_test(test_scenario),         cmocka_unit_test(test_remove_races_registration),
                cmocka_unit_test(test_memory_query_unregister_waits_per_call),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
