/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fake-sysfs.h"
#include "platform/linux/sysfs.h"

static void test_read(void **state) {
        struct fake_sysfs *f = *state;
        char buf[16];
        uint64_t v;
        size_t len;
        struct cpuset s = CPUSET_INIT;

        assert_int_equal(fake_sysfs_write(f, "a/value", "hello\n"), 0);
        assert_int_equal(sysfs_read(f->root, "/a/value", buf, sizeof(buf), &len), 0);
        assert_string_equal(buf, "hello");
        assert_int_equal(len, 5);
        /* Exactly fits (15 bytes + NUL), one more does not. */
        assert_int_equal(fake_sysfs_write(f, "a/value", "123456789012345"), 0);
        assert_int_equal(sysfs_read(f->root, "/a/value", buf, sizeof(buf), &len), 0);
        assert_int_equal(len, 15);
        assert_int_equal(fake_sysfs_write(f, "a/value", "1234567890123456"), 0);
        assert_int_equal(sysfs_read(f->root, "/a/value", buf, sizeof(buf), &len), -EFBIG);
        assert_int_equal(sysfs_read(f->root, "/a/missing", buf, sizeof(buf), &len), -ENOENT);

        assert_int_equal(fake_sysfs_write(f, "a/n", "4096\n"), 0);
        assert_int_equal(sysfs_read_u64(f->root, "/a/n", &v), 0);
        assert_int_equal(v, 4096);
        assert_int_equal(fake_sysfs_write(f, "a/n", "40x\n"), 0);
        assert_int_equal(sysfs_read_u64(f->root, "/a/n", &v), -EINVAL);

        assert_int_equal(fake_sysfs_write(f, "a/h", "8000000\n"), 0);
        assert_int_equal(sysfs_read_hex_u64(f->root, "/a/h", &v), 0);
        assert_int_equal(v, 0x8000000);
        assert_int_equal(fake_sysfs_write(f, "a/h", "0x10\n"), 0);
        assert_int_equal(sysfs_read_hex_u64(f->root, "/a/h", &v), 0);
        assert_int_equal(v, 16);
        assert_int_equal(fake_sysfs_write(f, "a/h", "g\n"), 0);
        assert_int_equal(sysfs_read_hex_u64(f->root, "/a/h", &v), -EINVAL);
        assert_int_equal(fake_sysfs_write(f, "a/h", "\n"), 0);
        assert_int_equal(sysfs_read_hex_u64(f->root, "/a/h", &v), -EINVAL);
        assert_int_equal(fake_sysfs_write(f, "a/h", "10000000000000000\n"), 0);
        assert_int_equal(sysfs_read_hex_u64(f->root, "/a/h", &v), -ERANGE);

        assert_int_equal(fake_sysfs_write(f, "a/cpus", "0-3,8\n"), 0);
        assert_int_equal(sysfs_read_cpuset(f->root, "/a/cpus", &s), 0);
        assert_int_equal(cpuset_count(&s), 5);
        cpuset_deinit(&s);
}

static void test_write_real(void **state) {
        struct fake_sysfs *f = *state;
        char buf[32];
        unsigned attempts = 99;

        assert_int_equal(fake_sysfs_write(f, "w/state", "offline\n"), 0);
        assert_int_equal(sysfs_write(NULL, f->root, "/w/state", "online", &attempts), 0);
        assert_int_equal(attempts, 1);
        assert_int_equal(fake_sysfs_read(f, "w/state", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "online");
        assert_int_equal(sysfs_write(NULL, f->root, "/w/none/state", "online", &attempts), -ENOENT);
        assert_int_equal(attempts, 1);
}

struct script {
        int results[16];
        unsigned n, calls;
        uint64_t slept[16];
        unsigned n_sleeps;
        char last[32];
};

static int script_write(void *userdata, const char *path, const char *value, size_t len) {
        struct script *s = userdata;
        int r = s->calls < s->n ? s->results[s->calls] : s->results[s->n - 1];

        s->calls++;
        snprintf(s->last, sizeof(s->last), "%.*s", (int)len, value);
        return r;
}

static void script_sleep(void *userdata, uint64_t ns) {
        struct script *s = userdata;

        if (s->n_sleeps < 16)
                s->slept[s->n_sleeps] = ns;
        s->n_sleeps++;
}

static void test_write_retry(void **state) {
        struct fake_sysfs *f = *state;
        struct script s = { .results = { -EBUSY, -EAGAIN, 0 }, .n = 3 };
        struct sysfs_writer w = {
                .write = script_write, .sleep = script_sleep, .userdata = &s,
                .max_attempts = 5, .first_delay_ns = 1000000, .max_total_ns = 1000000000,
        };
        unsigned attempts;

        assert_int_equal(sysfs_write(&w, f->root, "/x", "1", &attempts), 0);
        assert_int_equal(attempts, 3);
        assert_int_equal(s.n_sleeps, 2);
        assert_int_equal(s.slept[0], 1000000);
        assert_int_equal(s.slept[1], 2000000);
        assert_string_equal(s.last, "1");

        /* Busy for good: stops at max_attempts, reports the last error. */
        s = (struct script){ .results = { -EBUSY }, .n = 1 };
        assert_int_equal(sysfs_write(&w, f->root, "/x", "1", &attempts), -EBUSY);
        assert_int_equal(attempts, 5);
        assert_int_equal(s.n_sleeps, 4);
        assert_int_equal(s.slept[3], 8000000);

        /* The time budget caps the backoff: 1 + 1.5 ms, then give up. */
        s = (struct script){ .results = { -EBUSY }, .n = 1 };
        w.max_total_ns = 2500000;
        assert_int_equal(sysfs_write(&w, f->root, "/x", "1", &attempts), -EBUSY);
        assert_int_equal(attempts, 3);
        assert_int_equal(s.n_sleeps, 2);
        assert_int_equal(s.slept[1], 1500000);
        w.max_total_ns = 1000000000;

        /* Not retried: EINVAL, EIO, ENOENT. */
        int hard[] = { -EINVAL, -EIO, -ENOENT };
        for (size_t i = 0; i < 3; i++) {
                s = (struct script){ .results = { hard[i] }, .n = 1 };
                assert_int_equal(sysfs_write(&w, f->root, "/x", "1", &attempts), hard[i]);
                assert_int_equal(attempts, 1);
                assert_int_equal(s.n_sleeps, 0);
                assert_true(strlen(sysfs_write_strerror(hard[i])) > 0);
        }
        assert_string_equal(sysfs_write_strerror(-EIO), "the kernel failed the operation");
}

static void test_paths(void **state) {
        char small[8];

        assert_int_equal(sysfs_path(small, sizeof(small), "/root", "/sys"), -ENAMETOOLONG);
        assert_int_equal(sysfs_pathf(small, sizeof(small), "/r", "/%s", "ab"), 0);
        assert_string_equal(small, "/r/ab");
        assert_int_equal(sysfs_pathf(small, sizeof(small), "/r", "/%s", "abcdef"), -ENAMETOOLONG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_read),
                cmocka_unit_test(test_write_real),
                cmocka_unit_test(test_write_retry),
                cmocka_unit_test(test_paths),
        };
        return cmocka_run_group_tests(tests, fake_sysfs_group_setup, fake_sysfs_group_teardown);
}
