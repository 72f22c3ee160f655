/* SPDX-License-Identifier: MIT */
/*
 * dhpd.conf on SIGHUP, end to end: a real dhpd --platform sim whose memory
 * thresholds change with the file (low_threshold silently stayed at the old
 * value before), and return to their defaults when the key goes.  Every
 * wait is bounded.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "ipc-daemon.h"

static void write_conf(const char *memory) {
        char conf[160];
        FILE *f;

        snprintf(conf, sizeof(conf), "%s/dhpd.conf", ipc_dir);
        f = fopen(conf, "w");
        assert_non_null(f);
        fprintf(f, "[daemon]\nlog_level = warning\n[sync]\ndeadline = 2s\n[memory]\n%s", memory);
        fclose(f);
}

static uint64_t threshold(dhp *ctx, dhp_memcond_threshold which) {
        uint64_t v = 0;

        assert_int_equal(dhp_memcond_get_threshold(ctx, which, &v), 0);
        return v;
}

/* SIGHUP is handled by dhpd's main loop between client requests: ask
 * again until the value changes, 10 s at most. */
static void wait_threshold(dhp *ctx, dhp_memcond_threshold which, uint64_t want) {
        for (int i = 0; i < 1000; i++) {
                if (threshold(ctx, which) == want)
                        return;
                nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        fail_msg("threshold %d is %llu, expected %llu after SIGHUP", (int)which,
                 (unsigned long long)threshold(ctx, which), (unsigned long long)want);
}

static void test_low_threshold_reload(void **state) {
        uint64_t low0, high0;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        low0 = threshold(ctx, DHP_MEMCOND_LOW_MEMORY);
        high0 = threshold(ctx, DHP_MEMCOND_HIGH_MEMORY);
        assert_true(low0 > 0 && low0 != 24u << 20);

        write_conf("low_threshold = 24M\n");
        assert_int_equal(kill(ipc_daemon_pid, SIGHUP), 0);
        wait_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, 24u << 20);
        assert_true(threshold(ctx, DHP_MEMCOND_HIGH_MEMORY) == 3 * (24u << 20)); /* default: 3 x low */

        write_conf("low_threshold = 24M\nhigh_threshold = 200M\n");
        assert_int_equal(kill(ipc_daemon_pid, SIGHUP), 0);
        wait_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, 200u << 20);
        assert_true(threshold(ctx, DHP_MEMCOND_LOW_MEMORY) == 24u << 20);

        /* The keys removed: back to the defaults, not left at 24M/200M. */
        write_conf("");
        assert_int_equal(kill(ipc_daemon_pid, SIGHUP), 0);
        wait_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, low0);
        wait_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, high0);

        /* A file refused on SIGHUP changes nothing. */
        write_conf("low_threshold = 24M\npsi_trigger = some abc def\n");
        assert_int_equal(kill(ipc_daemon_pid, SIGHUP), 0);
        write_conf("low_threshold = 16M\n");
        assert_int_equal(kill(ipc_daemon_pid, SIGHUP), 0);
        wait_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, 16u << 20);
        dhp_close(ctx);
        ipc_daemon_stop();
}

/* ---- [memory] margin (issue 17 item 5): the file's margin in force ------ */

/* The margin of each LowMemoryCondition SET in dhpd's stream (its record
 * carries the margin in force). */
struct low_sets {
        atomic_int n;
        atomic_llong margin;
};

static void low_set_record(void *userdata, const dhp_record *r) {
        struct low_sets *s = userdata;
        char json[2048];
        const char *m;

        if (strcmp(dhp_record_get_method(r), "memcond") != 0 || strcmp(dhp_record_get_event(r), "SET") != 0)
                return;
        dhp_record_format(r, DHP_RECORD_JSON, json, sizeof(json));
        if (!strstr(json, "\"LowMemoryCondition\"") || !(m = strstr(json, "\"margin\":")))
                return;
        atomic_store(&s->margin, atoll(m + 9));
        atomic_fetch_add(&s->n, 1);
}

static void wait_sets(struct low_sets *s, int n) {
        for (int i = 0; i < 1000 && atomic_load(&s->n) < n; i++)
                nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        assert_int_equal(atomic_load(&s->n), n);
}

static void level(dhp *ctx, const char *available) {
        char text[64], *err = NULL;

        snprintf(text, sizeof(text), "memory level available=%s\n", available);
        assert_int_equal(dhp_sim_run_scenario(ctx, "level", text, &err), 0);
        free(err);
}

static void test_margin_reload(void **state) {
        struct low_sets s = { 0 };
        dhp_monitor *mon;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_monitor_add(ctx, low_set_record, &s, &mon), 0);

        /* margin = 0: the exact model. */
        write_conf("low_threshold = 64M\nhigh_threshold = 512M\nmargin = 0\ncommit_margin = 0\n");
        assert_int_equal(kill(ipc_daemon_pid, SIGHUP), 0);
        wait_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, 64u << 20);
        level(ctx, "60M");
        wait_sets(&s, 1);
        assert_int_equal(atomic_load(&s.margin), 0);

        /* The key removed: the default margin, max(low/16, 1M), again. */
        write_conf("low_threshold = 64M\nhigh_threshold = 500M\n");
        assert_int_equal(kill(ipc_daemon_pid, SIGHUP), 0);
        wait_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, 500u << 20);
        level(ctx, "70M");
        level(ctx, "60M");
        wait_sets(&s, 2);
        assert_int_equal(atomic_load(&s.margin), 4u << 20);

        /* A margin the file sets. */
        write_conf("low_threshold = 64M\nhigh_threshold = 512M\nmargin = 2M\n");
        assert_int_equal(kill(ipc_daemon_pid, SIGHUP), 0);
        wait_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, 512u << 20);
        level(ctx, "70M");
        level(ctx, "60M");
        wait_sets(&s, 3);
        assert_int_equal(atomic_load(&s.margin), 2u << 20);
        dhp_monitor_remove(mon);
        dhp_close(ctx);
        ipc_daemon_stop();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_low_threshold_reload, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_margin_reload, ipc_setup, ipc_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
