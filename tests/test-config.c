/* SPDX-License-Identifier: MIT */
/* dhpd.conf: every knob parsed, every bad key or value rejected with
 * FILE:LINE, and a rejected file changes nothing. */
#include <errno.h>

#include "helpers.h"
#include "daemon/config.h"
#include "util/time.h"

static void test_defaults(void **state) {
        struct config c;

        config_defaults(&c);
        assert_true(c.cpu_online);
        assert_int_equal(c.cpu_on_veto, CONFIG_VETO_OFFLINE);
        assert_int_equal(c.mem_online_policy, CONFIG_MEM_AUTO);
        assert_true(c.deadline_ns == 2 * NSEC_PER_SEC);
        assert_string_equal(c.socket_path, "/run/dhp/dhpd.sock");
        assert_string_equal(c.group, "dhp");
}

static void test_full_file(void **state) {
        struct config c;
        char *err = NULL;

        config_defaults(&c);
        assert_int_equal(config_load_string(&c, "t.conf",
                                            "# comment\n"
                                            "[daemon]\nlog_level = debug\nlog_target = syslog\nsocket = /tmp/x.sock\ngroup = wheel\n"
                                            "[cpu]\nonline = yes\non_veto = keep-online\ncgroup = app.slice\ncgroup = db.slice\n"
                                            "[memory]\nonline_policy = movable\nretry_attempts = 3\nretry_max = 500ms\n"
                                            "poll_interval = 10s\npsi_trigger = full 100000 1000000\nlow_threshold = 32M\nhigh_threshold = 96M\n"
                                            "[sync]\ndeadline = 250ms\nlate_policy = veto\n"
                                            "[rebalance]\nenabled = no\nparticipate = class:Net\nexclude = 0000:00:03.0, 0000:00:04.0\n",
                                            &err),
                         0);
        assert_null(err);
        assert_int_equal(c.log_level, 7);
        assert_int_equal(c.log_target, CONFIG_LOG_SYSLOG);
        assert_string_equal(c.socket_path, "/tmp/x.sock");
        assert_int_equal(c.cpu_on_veto, CONFIG_VETO_KEEP_ONLINE);
        assert_int_equal(c.ncgroups, 2);
        assert_string_equal(c.cgroups[1], "db.slice");
        assert_int_equal(c.mem_online_policy, CONFIG_MEM_MOVABLE);
        assert_int_equal(c.retry_attempts, 3);
        assert_true(c.retry_max_ns == 500 * NSEC_PER_MSEC);
        assert_true(c.deadline_ns == 250 * NSEC_PER_MSEC);
        assert_int_equal(c.late_policy, CONFIG_LATE_VETO);
        assert_false(c.rebalance);
        assert_int_equal(c.ndevices, 3);
        assert_string_equal(c.devices[0].match, "class:Net");
        assert_int_equal(c.devices[0].policy, 2);
        assert_string_equal(c.devices[1].match, "0000:00:03.0");
        assert_true(c.low_threshold == 32 << 20);
}

static void expect_error(const char *text, const char *message) {
        struct config c, before;
        char *err = NULL;

        config_defaults(&c);
        before = c;
        assert_int_equal(config_load_string(&c, "t.conf", text, &err), -EINVAL);
        assert_non_null(err);
        if (strcmp(err, message) != 0)
                fail_msg("got \"%s\", expected \"%s\"", err, message);
        free(err);
        assert_memory_equal(&c, &before, sizeof(c));
}

static void test_errors(void **state) {
        expect_error("[cpu]\nonline = maybe\n", "t.conf:2: online: expected yes or no, got 'maybe'");
        expect_error("[cpu]\n\nonlin = yes\n", "t.conf:3: unknown key 'onlin' in section [cpu]");
        expect_error("[gpu]\nx = 1\n", "t.conf:2: unknown section [gpu] (expected daemon, cpu, memory, sync or rebalance)");
        expect_error("online = yes\n", "t.conf:1: key 'online' outside any section");
        expect_error("[sync]\ndeadline = forever\n",
                     "t.conf:2: deadline: expected a duration from 10ms to 60s (e.g. 2s, 500ms), got 'forever'");
        expect_error("[sync]\ndeadline = 5ms\n",
                     "t.conf:2: deadline: expected a duration from 10ms to 60s (e.g. 2s, 500ms), got '5ms'");
        expect_error("[memory]\nonline_policy = fast\n",
                     "t.conf:2: online_policy: expected movable, kernel or auto, got 'fast'");
        expect_error("[daemon]\nsocket = relative.sock\n", "t.conf:2: socket: expected an absolute path, got 'relative.sock'");
        expect_error("[rebalance]\nexclude = class:\n",
                     "t.conf:2: exclude: expected a PCI address or class:NAME, got 'class:'");
        expect_error("[cpu]\ncgroup = ../../etc\n", "t.conf:2: cgroup: a cgroup path may not contain '..': '../../etc'");
        expect_error("[memory]\nlow_threshold = 96M\nhigh_threshold = 32M\n",
                     "t.conf: memory low_threshold must be below high_threshold");
        expect_error("[memory\n", "t.conf:1: syntax error (expected [section] or key = value)");
}

static void test_missing_file(void **state) {
        struct config c;
        char *err = NULL;

        config_defaults(&c);
        assert_int_equal(config_load(&c, "/nonexistent/dhpd.conf", &err), -ENOENT);
        assert_string_equal(err, "/nonexistent/dhpd.conf: No such file or directory");
        free(err);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_full_file),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_missing_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
