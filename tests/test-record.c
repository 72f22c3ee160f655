/* SPDX-License-Identifier: MIT */
/*
 * The notification stream (record.c): one numbered sequence of records, in
 * the order things happened, to every monitor; nothing built or numbered
 * without a monitor; records a peer made injected as they are; the JSON and
 * text forms.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/engine-internal.h"
#include "core/peer.h"
#include "helpers.h"

static int nop_cpu(void *p, uint32_t index) {
        return 0;
}

static int nop_block(void *p, uint64_t index) {
        return 0;
}

static const struct platform_ops ops = { .cpu_start = nop_cpu, .cpu_stop = nop_cpu, .mem_block_online = nop_block };

/* What a monitor saw: "seq method event" per record. */
struct seen {
        char line[32][64];
        int n;
};

static void monitor_cb(void *userdata, const dhp_record *r) {
        struct seen *s = userdata;

        if (s->n < 32)
                snprintf(s->line[s->n++], 64, "%llu %s %s", (unsigned long long)dhp_record_get_seq(r),
                         dhp_record_get_method(r), dhp_record_get_event(r));
}

static void assert_seen(struct seen *s, const char *const *want) {
        int i = 0;

        for (; want[i]; i++) {
                assert_true(i < s->n);
                assert_string_equal(s->line[i], want[i]);
        }
        assert_int_equal(s->n, i);
}

static void sync_cb(void *userdata, const dhp_proc_change *c) {
}

static void arrival_cb(void *userdata, const dhp_device_event *ev) {
}

static struct engine *engine_with_client(dhp_proc_reg **reg, dhp_arrival_reg **areg) {
        struct engine *e;

        assert_int_equal(engine_new(&e, &ops, NULL), 0);
        assert_int_equal(engine_cpu_slots(e, 4), 0);
        for (uint32_t i = 0; i < 4; i++)
                assert_int_equal(engine_cpu_set_state(e, i, DHP_PROC_PRESENT), 0);
        assert_int_equal(procnotify_register(e, "A", 0, sync_cb, NULL, reg), 0);
        assert_int_equal(arrival_register(e, "A", DHP_CLASS_PROCESSOR, 0, arrival_cb, NULL, areg), 0);
        return e;
}

static void test_sequence_in_order(void **state) {
        struct seen a = { 0 }, b = { 0 };
        dhp_monitor *ma, *mb;
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        struct engine *e = engine_with_client(&reg, &areg);

        /* Unmonitored: nothing is numbered. */
        assert_int_equal(engine_cpu_hotadd(e, 0, 0, NULL), 0);
        assert_int_equal(engine_dispatch(e), 1);

        assert_int_equal(engine_monitor_add(e, monitor_cb, &a, &ma), 0);
        assert_int_equal(engine_monitor_add(e, monitor_cb, &b, &mb), 0);
        assert_ptr_equal(engine_monitor_engine(ma), e);
        assert_int_equal(engine_cpu_hotadd(e, 1, 0, NULL), 0);
        assert_int_equal(engine_dispatch(e), 1);
        engine_record_note(e, "hello");
        {
                const char *const want[] = { "1 txn STARTED", "2 sync ADD_START", "3 txn ADMITTED",
                                             "4 sync ADD_COMPLETE", "5 async ARRIVAL", "6 note NOTE", NULL };
                assert_seen(&a, want);
                assert_seen(&b, want);
        }

        /* A monitor removed sees nothing more; the sequence goes on. */
        engine_monitor_remove(mb);
        engine_record_note(e, "again");
        assert_int_equal(b.n, 6);
        assert_string_equal(a.line[6], "7 note NOTE");
        engine_monitor_remove(ma);
        procnotify_deregister(reg);
        arrival_unregister(areg);
        engine_free(e);
}

static void test_peer_records(void **state) {
        struct seen a = { 0 };
        dhp_monitor *m;
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        struct engine *e = engine_with_client(&reg, &areg);
        struct dhp_record r = { .seq = 40, .t_ns = 5, .method = "txn", .event = "STARTED" };

        assert_int_equal(engine_monitor_add(e, monitor_cb, &a, &m), 0);
        /* Injected: seq and time kept, even out of the local order. */
        peer_inject_record(e, &r);
        engine_record_note(e, "local");
        /* A mirror: only the peer's records reach the monitors. */
        peer_set_records_only(e, true);
        engine_record_note(e, "dropped");
        assert_int_equal(engine_cpu_hotadd(e, 2, 0, NULL), 0);
        assert_int_equal(engine_dispatch(e), 1);
        r.seq = 41;
        peer_inject_record(e, &r);
        peer_set_records_only(e, false);
        /* The local records were numbered meanwhile, only not shown. */
        engine_record_note(e, "local again");
        assert_seen(&a, (const char *const[]){ "40 txn STARTED", "1 note NOTE", "41 txn STARTED", "8 note NOTE",
                                               NULL });
        engine_monitor_remove(m);
        procnotify_deregister(reg);
        arrival_unregister(areg);
        engine_free(e);
}

static void test_format(void **state) {
        struct dhp_record r = {
                .seq = 3, .t_ns = 1500000, .method = "sync", .event = "ADD_START", .cls = "processor",
                .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS | REC_HAS_CLIENT | REC_VETO | REC_HAS_DURATION,
                .processor = 65, .number = { .group = 1, .number = 1 }, .status = -EBUSY, .client = "db",
                .dur_ns = 7,
        };
        char buf[512], small[8];
        int n;

        n = dhp_record_format(&r, DHP_RECORD_JSON, buf, sizeof(buf));
        assert_int_equal(n, (int)strlen(buf));
        assert_string_equal(buf, "{\"seq\":3,\"t_ns\":1500000,\"method\":\"sync\",\"event\":\"ADD_START\","
                                 "\"class\":\"processor\",\"processor\":65,\"group\":1,\"number\":1,"
                                 "\"client\":\"db\",\"status\":\"EBUSY\",\"veto\":true,\"dur_ns\":7}");
        n = dhp_record_format(&r, DHP_RECORD_TEXT, buf, sizeof(buf));
        assert_int_equal(n, (int)strlen(buf));
        assert_non_null(strstr(buf, "sync"));
        assert_non_null(strstr(buf, "cpu65  (1:1)"));
        assert_non_null(strstr(buf, "-> db"));
        assert_non_null(strstr(buf, "status=EBUSY (veto)"));

        /* A missed deadline: a veto (late_policy=veto), or, when the add
         * proceeded, no error at all. */
        r.status = -ETIMEDOUT;
        r.fields |= REC_MISSED;
        assert_true(dhp_record_format(&r, DHP_RECORD_TEXT, buf, sizeof(buf)) > 0);
        assert_non_null(strstr(buf, "status=ETIMEDOUT (veto) (missed deadline)"));
        r.fields &= ~(uint32_t)REC_VETO;
        assert_true(dhp_record_format(&r, DHP_RECORD_TEXT, buf, sizeof(buf)) > 0);
        assert_non_null(strstr(buf, "late (proceeded)"));
        assert_null(strstr(buf, "ETIMEDOUT"));
        r.fields = REC_HAS_PROCESSOR | REC_HAS_STATUS | REC_HAS_CLIENT | REC_VETO | REC_HAS_DURATION;
        r.status = -EBUSY;

        /* Cut short: the length it needs, a terminated prefix. */
        assert_int_equal(dhp_record_format(&r, DHP_RECORD_JSON, small, sizeof(small)), (int)strlen(
                "{\"seq\":3,\"t_ns\":1500000,\"method\":\"sync\",\"event\":\"ADD_START\","
                "\"class\":\"processor\",\"processor\":65,\"group\":1,\"number\":1,"
                "\"client\":\"db\",\"status\":\"EBUSY\",\"veto\":true,\"dur_ns\":7}"));
        assert_string_equal(small, "{\"seq\":");
        assert_int_equal(dhp_record_format(&r, (dhp_record_format_kind)99, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(dhp_record_format(NULL, DHP_RECORD_JSON, buf, sizeof(buf)), -EINVAL);

        /* An errno without a name: the number. */
        r.status = -200;
        r.fields = REC_HAS_STATUS;
        dhp_record_format(&r, DHP_RECORD_JSON, buf, sizeof(buf));
        assert_non_null(strstr(buf, "\"status\":\"-200\""));
}

static void note_realtime(void *userdata, const dhp_record *r) {
        *(uint64_t *)userdata = dhp_record_get_realtime(r);
}

/* The wall-clock time of a record: taken when it is made, and in every
 * JSON record as ISO 8601 in UTC next to t_ns. */
static void test_realtime(void **state) {
        struct dhp_record r = { .seq = 1, .t_ns = 2000, .realtime_ns = 1764508492123456789ULL, .method = "note",
                                .event = "NOTE", .name = "x" };
        struct timespec before, after;
        struct engine *e;
        dhp_monitor *m;
        uint64_t seen = 0;
        char buf[256];

        dhp_record_format(&r, DHP_RECORD_JSON, buf, sizeof(buf));
        assert_string_equal(buf, "{\"seq\":1,\"t_ns\":2000,\"time\":\"2025-11-30T13:14:52.123456Z\","
                                 "\"method\":\"note\",\"event\":\"NOTE\",\"name\":\"x\"}");
        r.realtime_ns = 0; /* unknown: no member */
        dhp_record_format(&r, DHP_RECORD_JSON, buf, sizeof(buf));
        assert_null(strstr(buf, "time"));

        assert_int_equal(engine_new(&e, &ops, NULL), 0);
        assert_int_equal(engine_monitor_add(e, note_realtime, &seen, &m), 0);
        clock_gettime(CLOCK_REALTIME, &before);
        engine_record_note(e, "now");
        clock_gettime(CLOCK_REALTIME, &after);
        assert_true(seen >= (uint64_t)before.tv_sec * 1000000000ULL + (uint64_t)before.tv_nsec);
        assert_true(seen <= (uint64_t)after.tv_sec * 1000000000ULL + (uint64_t)after.tv_nsec);
        engine_monitor_remove(m);
        engine_free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_realtime),
                cmocka_unit_test(test_sequence_in_order),
                cmocka_unit_test(test_peer_records),
                cmocka_unit_test(test_format),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
