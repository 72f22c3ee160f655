/* SPDX-License-Identifier: MIT */
/* dhpd.conf: every knob parsed, every bad key or value rejected with
 * FILE:LINE, and a rejected file changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* inih splits a line longer than its buffer and parses the tail as a line
 * of its own: a long comment ending in "group = users" set the group. */
static void test_long_line(void **state) {
        char text[600], want[128];
        struct config c;
        char *err = NULL;
        int n;

        n = snprintf(text, sizeof(text), "[daemon]\n# ");
        memset(text + n, 'x', 196);
        n += 196;
        n += snprintf(text + n, sizeof(text) - (size_t)n, "group = users\n");
        snprintf(want, sizeof(want), "t.conf:2: line longer than %d characters", CONFIG_LINE_MAX);
        expect_error(text, want);

        /* The longest line accepted: CONFIG_LINE_MAX characters, with or
         * without its newline. */
        n = snprintf(text, sizeof(text), "[daemon]\n#");
        memset(text + n, 'x', CONFIG_LINE_MAX - 1);
        n += CONFIG_LINE_MAX - 1;
        snprintf(text + n, sizeof(text) - (size_t)n, "\n[cpu]\n#");
        config_defaults(&c);
        assert_int_equal(config_load_string(&c, "t.conf", text, &err), 0);
        text[n] = 0;
        assert_int_equal(config_load_string(&c, "t.conf", text, &err), 0);
        assert_string_equal(c.group, "dhp");
}

/* The first error is reported, with its own line and its own message. */
static void test_error_lines(void **state) {
        expect_error("[cpu]\n\n\nonline = maybe\n\nonlin = yes\n", "t.conf:4: online: expected yes or no, got 'maybe'");
        expect_error("[cpu]\n\n\nonlin = yes\n\n[memory\n", "t.conf:4: unknown key 'onlin' in section [cpu]");
        expect_error("[cpu]\n[memory\nonlin = yes\n", "t.conf:2: syntax error (expected [section] or key = value)");
        expect_error("[cpu]\nonline = maybe", "t.conf:2: online: expected yes or no, got 'maybe'");
        expect_error("[cpu]\nonline = maybe\n", "t.conf:2: online: expected yes or no, got 'maybe'");
        expect_error("[cpu]\r\nonline = maybe\r\n", "t.conf:2: online: expected yes or no, got 'maybe'");
}

static void test_comments_and_blanks(void **state) {
        struct config c;
        char *err = NULL;

        /* Inline comments are refused rather than half-supported (inih
         * strips " ;..." but not " #..."). */
        expect_error("[daemon]\nlog_level = info   # err, warning\n",
                     "t.conf:2: comments go on lines of their own (no '#' after a value)");
        expect_error("[daemon]\nlog_level = info ; note\n",
                     "t.conf:2: comments go on lines of their own (no ';' after a value)");
        expect_error("[daemon] # x\n", "t.conf:1: comments go on lines of their own (no '#' after a value)");
        /* An indented line is a line, never a continuation of the value
         * above it (inih's multi-line mode): here a second cgroup. */
        config_defaults(&c);
        assert_int_equal(config_load_string(&c, "t.conf",
                                            "  [cpu]\n\tcgroup = a.slice\n    cgroup = b.slice\n   # note\n ; note\n",
                                            &err),
                         0);
        assert_int_equal(c.ncgroups, 2);
        assert_string_equal(c.cgroups[1], "b.slice");
        expect_error("[cpu]\ncgroup = a.slice\n    b.slice\n", "t.conf:3: syntax error (expected [section] or key = value)");
        /* A '#' inside a value (no blank before it) is part of it. */
        config_defaults(&c);
        assert_int_equal(config_load_string(&c, "t.conf", "[daemon]\ngroup = a#b\n", &err), 0);
        assert_string_equal(c.group, "a#b");
}

static void test_psi_trigger(void **state) {
        struct config_psi psi;
        struct config c;
        char *err = NULL;

        config_defaults(&c);
        assert_int_equal(config_psi_parse(c.psi_trigger, &psi), 0);
        assert_true(psi.full == c.psi.full && psi.stall_us == c.psi.stall_us && psi.window_us == c.psi.window_us);
        assert_int_equal(config_load_string(&c, "t.conf", "[memory]\npsi_trigger = full  2000 \t 500000\n", &err), 0);
        assert_true(c.psi.full);
        assert_true(c.psi.stall_us == 2000 && c.psi.window_us == 500000);
        static const char *const bad[] = {
                "some abc def", "some 150000 1000000 7", "some 150000", "half 1 1000000", "some 0 1000000",
                "some 2000000 1000000", "some 1000 499999", "some 1000 10000001", "some -1 1000000",
                "some 1000 1000000x",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char text[128], want[512];
                assert_int_equal(config_psi_parse(bad[i], &psi), -EINVAL);
                snprintf(text, sizeof(text), "[memory]\n\npsi_trigger = %s\n", bad[i]);
                snprintf(want, sizeof(want),
                         "t.conf:3: psi_trigger: expected 'some|full STALL_US WINDOW_US', WINDOW_US from 500000 to "
                         "10000000 and STALL_US from 1 to WINDOW_US (e.g. some 150000 1000000), got '%s'",
                         bad[i]);
                expect_error(text, want);
        }
}

/* The thresholds go through memcond's own validation, as at run time. */
static void test_memory_thresholds(void **state) {
        struct config c;
        char spec[128];

        expect_error("[memory]\nlow_threshold = 64M\nhigh_threshold = 64M\n",
                     "t.conf: memory low_threshold must be below high_threshold");
        config_defaults(&c);
        assert_int_equal(config_memcond_spec(&c, spec, sizeof(spec)), 0);
        assert_string_equal(spec, "interval=30000ms,low=default,high=default,margin=default,commit_margin=default");
        c.low_threshold = 32 << 20;
        assert_int_equal(config_memcond_spec(&c, spec, sizeof(spec)), 0);
        assert_string_equal(spec, "interval=30000ms,low=33554432,high=default,margin=default,commit_margin=default");
        assert_int_equal(config_memcond_spec(&c, spec, 10), -ENOBUFS);
}

/* [memory] margin and commit_margin (issue 17 item 5): 0 is a value (the
 * exact model), "default" unsets, memcond's own parser judges them. */
static void test_memory_margins(void **state) {
        struct config c;
        char spec[CONFIG_MEMCOND_SPEC_MAX], *err = NULL;

        config_defaults(&c);
        assert_false(c.margin_set);
        assert_false(c.commit_margin_set);
        assert_int_equal(config_load_string(&c, "t.conf", "[memory]\nmargin = 0\ncommit_margin = 0\n", &err), 0);
        assert_true(c.margin_set);
        assert_int_equal(c.margin, 0);
        assert_true(c.commit_margin_set);
        assert_int_equal(c.commit_margin, 0);
        assert_int_equal(config_memcond_spec(&c, spec, sizeof(spec)), 0);
        assert_string_equal(spec, "interval=30000ms,low=default,high=default,margin=0,commit_margin=0");

        config_defaults(&c);
        assert_int_equal(config_load_string(&c, "t.conf", "[memory]\nmargin = 2M\ncommit_margin = 5%\n", &err), 0);
        assert_true(c.margin_set && c.margin == 2u << 20);
        assert_true(c.commit_margin_set && c.commit_margin == 5);
        assert_int_equal(config_memcond_spec(&c, spec, sizeof(spec)), 0);
        assert_string_equal(spec, "interval=30000ms,low=default,high=default,margin=2097152,commit_margin=5");
        /* The longest spec fits its buffer. */
        c.low_threshold = c.high_threshold = c.margin = UINT64_MAX;
        c.poll_interval_ns = UINT64_MAX;
        c.commit_margin = 100;
        assert_int_equal(config_memcond_spec(&c, spec, sizeof(spec)), 0);

        config_defaults(&c);
        assert_int_equal(config_load_string(&c, "t.conf", "[memory]\nmargin = 2M\nmargin = default\n", &err), 0);
        assert_false(c.margin_set);

        expect_error("[memory]\nmargin = x\n",
                     "t.conf:2: margin: expected a size from 0 to 1048576T, such as 1M, or 'default'");
        expect_error("[memory]\ncommit_margin = 101\n",
                     "t.conf:2: commit_margin: expected percentage points from 0% to 100%, or 'default'");
        expect_error("[memory]\ncommit_margin = -1\n",
                     "t.conf:2: commit_margin: expected percentage points from 0% to 100%, or 'default'");
}

static void load_file_error(const char *path, int want_r, const char *want) {
        struct config c, before;
        char *err = NULL;

        config_defaults(&c);
        before = c;
        assert_int_equal(config_load(&c, path, &err), want_r);
        assert_non_null(err);
        if (strcmp(err, want) != 0)
                fail_msg("got \"%s\", expected \"%s\"", err, want);
        free(err);
        assert_memory_equal(&c, &before, sizeof(c));
}

/* Only a regular file of bounded size, refused at once otherwise (a FIFO
 * or /dev/zero hung --check-config). */
static void test_file_kinds(void **state) {
        char dir[] = "/tmp/test-config-XXXXXX", path[128], want[256];
        struct config c;
        char *err = NULL;
        FILE *f;

        assert_non_null(mkdtemp(dir));
        snprintf(want, sizeof(want), "%s: not a regular file (a directory)", dir);
        load_file_error(dir, -EISDIR, want);
        load_file_error("/dev/zero", -EINVAL, "/dev/zero: not a regular file (a character device)");
        /* /dev/null stays the way to say "every default". */
        config_defaults(&c);
        assert_int_equal(config_load(&c, "/dev/null", &err), 0);
        assert_null(err);
        snprintf(path, sizeof(path), "%s/fifo", dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        snprintf(want, sizeof(want), "%s: not a regular file (a FIFO)", path);
        load_file_error(path, -EINVAL, want);
        unlink(path);

        snprintf(path, sizeof(path), "%s/big.conf", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        for (int i = 0; i <= CONFIG_MAX_SIZE / 16; i++)
                fputs("# comment line.\n", f); /* 16 bytes */
        fclose(f);
        snprintf(want, sizeof(want), "%s: larger than %d bytes", path, CONFIG_MAX_SIZE);
        load_file_error(path, -EFBIG, want);

        f = fopen(path, "w");
        assert_non_null(f);
        fputs("[cpu]\nonline = no\n", f);
        fputc(0, f);
        fputs("\n", f);
        fclose(f);
        snprintf(want, sizeof(want), "%s:3: a NUL byte (not a text file?)", path);
        load_file_error(path, -EINVAL, want);

        f = fopen(path, "w");
        assert_non_null(f);
        fputs("[cpu]\nonline = no\n", f);
        fclose(f);
        config_defaults(&c);
        assert_int_equal(config_load(&c, path, &err), 0);
        assert_false(c.cpu_online);
        unlink(path);
        rmdir(dir);
}

struct diff_seen {
        char lines[32][160];
        unsigned n;
};

static void diff_record(void *userdata, const char *section, const char *key, const char *old_value,
                        const char *new_value, enum config_apply when) {
        struct diff_seen *s = userdata;

        assert_true(s->n < 32);
        snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s.%s: '%s' -> '%s' %s", section, key, old_value, new_value,
                 when == CONFIG_APPLY_RELOAD ? "reload" : "restart");
}

static void test_diff(void **state) {
        struct config a, b;
        struct diff_seen s = { .n = 0 };
        char *err = NULL;

        config_defaults(&a);
        config_defaults(&b);
        assert_int_equal(config_diff(&a, &b, diff_record, &s), 0);
        assert_int_equal(config_load_string(&b, "t.conf",
                                            "[daemon]\ngroup = wheel\n[cpu]\ncgroup = a.slice\n"
                                            "[memory]\nlow_threshold = 32M\npsi_trigger = full 100000 1000000\n"
                                            "[rebalance]\nexclude = class:Net, 0000:00:03.0\n",
                                            &err),
                         0);
        assert_int_equal(config_diff(&a, &b, diff_record, &s), 5);
        assert_string_equal(s.lines[0], "daemon.group: 'dhp' -> 'wheel' restart");
        assert_string_equal(s.lines[1], "cpu.cgroup: '' -> 'a.slice' reload");
        assert_string_equal(s.lines[2], "memory.psi_trigger: 'some 150000 1000000' -> 'full 100000 1000000' restart");
        assert_string_equal(s.lines[3], "memory.low_threshold: 'default' -> '32M' reload");
        assert_string_equal(s.lines[4], "rebalance.exclude: '' -> 'class:Net, 0000:00:03.0' restart");
        /* The same value written differently is no change. */
        config_defaults(&a);
        assert_int_equal(config_load_string(&a, "t.conf",
                                            "[daemon]\ngroup = wheel\n[cpu]\ncgroup = a.slice\n"
                                            "[memory]\nlow_threshold = 32768K\npsi_trigger = full 100000  1000000\n"
                                            "[rebalance]\nexclude = class:Net 0000:00:03.0\n",
                                            &err),
                         0);
        assert_int_equal(config_diff(&a, &b, NULL, NULL), 0);

        /* The margins: a key set to 0 differs from the key left out. */
        config_defaults(&a);
        config_defaults(&b);
        s.n = 0;
        assert_int_equal(config_load_string(&b, "t.conf", "[memory]\nmargin = 0\ncommit_margin = 3\n", &err), 0);
        assert_int_equal(config_diff(&a, &b, diff_record, &s), 2);
        assert_string_equal(s.lines[0], "memory.margin: 'default' -> '0' reload");
        assert_string_equal(s.lines[1], "memory.commit_margin: 'default' -> '3%' reload");
}

static void test_missing_file(void **state) {
        struct config c;
        char *err = NULL;

        config_defaults(&c);
        assert_int_equal(config_load(&c, "/nonexistent/dhpd.conf", &err), -ENOENT);
        assert_string_equal(err, "/nonexistent/dhpd.conf: No such file or directory");
        free(err);
}

/* [rebalance] irqbalance: leave by default, share, ignore; applies at
 * restart. */
static void test_irqbalance(void **state) {
        struct config a, b;
        struct diff_seen s = { .n = 0 };
        char *err = NULL;

        config_defaults(&a);
        assert_int_equal(a.irqbalance, CONFIG_IRQBALANCE_LEAVE);
        b = a;
        assert_int_equal(config_load_string(&b, "t.conf", "[rebalance]\nirqbalance = share\n", &err), 0);
        assert_int_equal(b.irqbalance, CONFIG_IRQBALANCE_SHARE);
        assert_int_equal(config_load_string(&b, "t.conf", "[rebalance]\nirqbalance = ignore\n", &err), 0);
        assert_int_equal(b.irqbalance, CONFIG_IRQBALANCE_IGNORE);
        assert_int_equal(config_diff(&a, &b, diff_record, &s), 1);
        assert_string_equal(s.lines[0], "rebalance.irqbalance: 'leave' -> 'ignore' restart");
        expect_error("[rebalance]\nirqbalance = both\n",
                     "t.conf:2: irqbalance: expected leave, share or ignore, got 'both'");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_full_file),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_error_lines),
                cmocka_unit_test(test_comments_and_blanks),
                cmocka_unit_test(test_psi_trigger),
                cmocka_unit_test(test_memory_thresholds),
                cmocka_unit_test(test_memory_margins),
                cmocka_unit_test(test_file_kinds),
                cmocka_unit_test(test_diff),
                cmocka_unit_test(test_irqbalance),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
