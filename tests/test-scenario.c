/* SPDX-License-Identifier: MIT */
/* The scenario language: parse errors name file, line and column, and a bad
 * line anywhere means nothing runs. */
#include <errno.h>

#include "helpers.h"
#include "platform/sim/scenario.h"

static void expect_error(const char *text, const char *message) {
        struct scenario *sc = NULL;
        char *err = NULL;

        assert_int_equal(scenario_parse("t.scenario", text, &sc, &err), -EINVAL);
        assert_null(sc);
        assert_non_null(err);
        if (strcmp(err, message) != 0)
                fail_msg("got \"%s\", expected \"%s\"", err, message);
        free(err);
}

static void test_parse_errors(void **state) {
        expect_error("cpu ad\n", "t.scenario:1:5: expected 'add', 'online' or 'remove' after 'cpu', got 'ad'");
        expect_error("# hello\n\ncpu\n", "t.scenario:3:4: expected 'add', 'online' or 'remove' after 'cpu'");
        expect_error("cpu add 0\n", "t.scenario:1:9: expected a count from 1 to 4096, got '0'");
        expect_error("cpu add 2 3\n", "t.scenario:1:11: unexpected '3' after 'cpu' command");
        expect_error("  memory add lots\n", "t.scenario:1:14: expected a size such as 256M or 1G, got 'lots'");
        expect_error("memory add\n", "t.scenario:1:11: expected a size after 'memory add' (e.g. 1G)");
        {
                /* An echo longer than a record carries: refused, not cut. */
                char text[300 + 16] = "echo ";
                memset(text + 5, 'x', 300);
                text[305] = 0;
                expect_error(text, "t.scenario:1:6: echo: the note is 300 bytes long, at most 255 are carried");
        }
        expect_error("cpu add\nfly away\n", "t.scenario:2:1: unknown command 'fly' (expected cpu, memory, fail, veto, settle, echo, device or optout)");
        expect_error("fail cpu-start EWHAT\n", "t.scenario:1:16: expected an error name such as EIO or EBUSY, got 'EWHAT'");
        expect_error("fail disk EIO\n", "t.scenario:1:6: expected cpu-start, cpu-admit, cpu-stop, block-online, cpu-offline or block-offline, got 'disk'");
        expect_error("settle now\n", "t.scenario:1:8: unexpected 'now' after 'settle' command");
}

static void test_parse_ok(void **state) {
        struct scenario *sc = NULL;
        char *err = NULL;

        assert_int_equal(scenario_parse("t", "# comment\ncpu add   # trailing\n\tmemory add 1G 2\nsettle\necho hi there\n"
                                             "fail cpu-admit EIO 2\n", &sc, &err), 0);
        assert_null(err);
        assert_int_equal(scenario_count(sc), 5);
        scenario_free(sc);
}

static void test_bad_line_runs_nothing(void **state) {
        dhp_proc_state ps;
        char *err = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        assert_int_equal(dhp_sim_run_scenario(ctx, "s", "cpu add\ncpu add\ncpu bad\n", &err), -EINVAL);
        assert_string_equal(err, "s:3:5: expected 'add', 'online' or 'remove' after 'cpu', got 'bad'");
        free(err);
        assert_int_equal(dhp_proc_get_state(ctx, 1, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ABSENT);
        dhp_close(ctx);
}

/* A size the partition cannot take (not a block multiple) is a bad line
 * too: found before anything runs, with dhpctl's words. */
static void test_bad_size_runs_nothing(void **state) {
        dhp_proc_state ps;
        char *err = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        assert_int_equal(dhp_sim_run_scenario(ctx, "s", "cpu add\nmemory add 100M\n", &err), -EINVAL);
        assert_string_equal(err, "s:2:12: memory add: 100 MiB is not a multiple of the 128 MiB block size");
        free(err);
        assert_int_equal(dhp_proc_get_state(ctx, 1, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ABSENT);
        dhp_close(ctx);
}

static void test_run(void **state) {
        struct recorder rec;
        dhp_proc_state ps;
        char *err = NULL;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=4"), 0);
        recorder_start(&rec, ctx);
        assert_int_equal(dhp_sim_run_scenario(ctx, "s",
                                              "cpu add 2\nfail cpu-admit EIO\ncpu add\nmemory add 256M\nsettle\necho done\n",
                                              &err),
                         0);
        assert_null(err);
        assert_int_equal(dhp_proc_get_state(ctx, 2, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ADMITTED);
        assert_int_equal(dhp_proc_get_state(ctx, 3, &ps), 0);
        assert_int_equal(ps, DHP_PROC_PRESENT);
        assert_true(recorder_find(&rec, 0, "\"ADMIT_FAILED\"", "\"processor\":3", NULL) >= 0);
        assert_true(recorder_find(&rec, 0, "\"NOTE\"", "\"name\":\"done\"", NULL) >= 0);
        /* Out of slots is a run error naming the line. */
        assert_int_equal(dhp_sim_run_scenario(ctx, "s", "\ncpu add 9\n", &err), -ENOSPC);
        assert_string_equal(err, "s:2: cpu add: No space left on device");
        free(err);
        recorder_stop(&rec);
        dhp_close(ctx);
}

/* Issue 17 item 9, the sim equivalent: "cpu online INDEX" runs a new add
 * transaction for a processor whose add was vetoed, on the same slot. */
static void veto_twice(void *userdata, const dhp_proc_change *c) {
        int *left = userdata;

        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START && *left > 0) {
                (*left)--;
                dhp_proc_change_veto(c, -EBUSY);
        }
}

static void test_cpu_online(void **state) {
        struct recorder rec;
        dhp_proc_state ps;
        dhp_proc_reg *reg;
        char *err = NULL;
        int left = 2;
        dhp *ctx;

        expect_error("cpu online\n", "t.scenario:1:11: expected a processor index after 'cpu online'");
        expect_error("cpu online x\n", "t.scenario:1:12: expected a processor index, got 'x'");
        expect_error("cpu online 1 2\n", "t.scenario:1:14: unexpected '2' after 'cpu' command");

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,maxcpus=2"), 0);
        recorder_start(&rec, ctx);
        assert_int_equal(dhp_proc_register(ctx, "v", 0, veto_twice, &left, &reg), 0);
        assert_int_equal(dhp_sim_run_scenario(ctx, "s", "cpu add\ncpu online 1\ncpu online 1\nsettle\n", &err), 0);
        assert_null(err);
        assert_int_equal(dhp_proc_get_state(ctx, 1, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ADMITTED);
        assert_int_equal(recorder_count(&rec, "\"REJECTED\"", "\"processor\":1,", NULL), 2);
        assert_int_equal(recorder_count(&rec, "\"ADMITTED\"", "\"processor\":1,", NULL), 1);
        /* Nothing to retry: an error naming the line. */
        assert_int_equal(dhp_sim_run_scenario(ctx, "s", "cpu online 1\n", &err), -EALREADY);
        assert_non_null(strstr(err, "s:1: cpu online"));
        free(err);
        recorder_stop(&rec);
        dhp_proc_deregister(reg);
        dhp_close(ctx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_parse_ok),
                cmocka_unit_test(test_bad_line_runs_nothing),
                cmocka_unit_test(test_bad_size_runs_nothing),
                cmocka_unit_test(test_run),
                cmocka_unit_test(test_cpu_online),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
