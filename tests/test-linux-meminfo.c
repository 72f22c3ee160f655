/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake-sysfs.h"
#include "platform/linux/meminfo.h"

static const char meminfo_text[] =
        "MemTotal:        8039260 kB\n"
        "MemFree:         2338916 kB\n"
        "MemAvailable:    6120628 kB\n"
        "Buffers:          283872 kB\n"
        "Active(anon):     912340 kB\n"
        "CommitLimit:     4019628 kB\n"
        "Committed_AS:    6718044 kB\n"
        "HugePages_Total:       0\n"
        "Hugepagesize:       2048 kB\n"
        "DirectMap1G:     2097152 kB\n";

static int parse(const char *s, struct meminfo *m) {
        return meminfo_parse(s, strlen(s), m);
}

static void test_parse(void **state) {
        struct meminfo m;

        assert_int_equal(parse(meminfo_text, &m), 0);
        assert_int_equal(m.total, 8039260ULL * 1024);
        assert_int_equal(m.available, 6120628ULL * 1024);
        assert_int_equal(m.commit_limit, 4019628ULL * 1024);
        assert_int_equal(m.committed_as, 6718044ULL * 1024);
}

static void test_parse_errors(void **state) {
        struct meminfo m = { 1, 2, 3, 4 };
        char buf[2048];

        assert_int_equal(parse("", &m), -EBADMSG);
        assert_int_equal(parse("MemTotal: 1 kB", &m), -EBADMSG); /* no final newline */
        /* Missing MemAvailable (kernel < 3.14). */
        assert_int_equal(parse("MemTotal: 1 kB\nCommitLimit: 1 kB\nCommitted_AS: 1 kB\n", &m), -ENODATA);
        snprintf(buf, sizeof(buf), "%sMemTotal: 5 kB\n", meminfo_text);
        assert_int_equal(parse(buf, &m), -EBADMSG); /* repeated */
        snprintf(buf, sizeof(buf), "%sBogus line\n", meminfo_text);
        assert_int_equal(parse(buf, &m), -EBADMSG);
        snprintf(buf, sizeof(buf), "%sFoo: 12 MB\n", meminfo_text);
        assert_int_equal(parse(buf, &m), -EBADMSG);
        snprintf(buf, sizeof(buf), "%sFoo: -12 kB\n", meminfo_text);
        assert_int_equal(parse(buf, &m), -EBADMSG);
        snprintf(buf, sizeof(buf), "%sFoo:12 kB\n", meminfo_text);
        assert_int_equal(parse(buf, &m), -EBADMSG);
        snprintf(buf, sizeof(buf), "%sFoo: 12 kB \n", meminfo_text);
        assert_int_equal(parse(buf, &m), -EBADMSG);
        snprintf(buf, sizeof(buf), "%s\n", meminfo_text);
        assert_int_equal(parse(buf, &m), -EBADMSG); /* empty line */
        snprintf(buf, sizeof(buf), "%sFoo: 18014398509481984 kB\n", meminfo_text);
        assert_int_equal(parse(buf, &m), -ERANGE); /* 2^54 kB overflows in bytes */
        snprintf(buf, sizeof(buf), "%sFoo: 99999999999999999999\n", meminfo_text);
        assert_int_equal(parse(buf, &m), -ERANGE);
        assert_int_equal(m.total, 1); /* untouched */
}

static void test_read(void **state) {
        struct fake_sysfs *f = *state;
        struct meminfo m;

        assert_int_equal(meminfo_read(f->root, &m), -ENOENT);
        assert_int_equal(fake_sysfs_write(f, "proc/meminfo", meminfo_text), 0);
        assert_int_equal(meminfo_read(f->root, &m), 0);
        assert_int_equal(m.available, 6120628ULL * 1024);
}

static void test_psi(void **state) {
        struct fake_sysfs *f = *state;
        char buf[64];
        int fd = -1;

        assert_int_equal(meminfo_psi_open(f->root, false, 150000, 1000000, &fd), -EOPNOTSUPP);
        assert_int_equal(meminfo_psi_open(f->root, false, 150000, 100000, &fd), -EINVAL);
        assert_int_equal(meminfo_psi_open(f->root, false, 150000, 20000000, &fd), -EINVAL);
        assert_int_equal(meminfo_psi_open(f->root, false, 2000000, 1000000, &fd), -EINVAL);
        assert_int_equal(fake_sysfs_write(f, "proc/pressure/memory", ""), 0);
        assert_int_equal(meminfo_psi_open(f->root, false, 150000, 1000000, &fd), 0);
        assert_true(fd >= 0);
        close(fd);
        /* What the kernel would have been told, NUL included. */
        assert_int_equal(fake_sysfs_read(f, "proc/pressure/memory", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "some 150000 1000000");
        assert_int_equal(meminfo_psi_open(f->root, true, 100000, 2000000, &fd), 0);
        close(fd);
        assert_int_equal(fake_sysfs_read(f, "proc/pressure/memory", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "full 100000 2000000");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_read),
                cmocka_unit_test(test_psi),
        };
        return cmocka_run_group_tests(tests, fake_sysfs_group_setup, fake_sysfs_group_teardown);
}
