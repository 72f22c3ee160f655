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
#include "platform/linux/cgroup.h"

static void test_widen(void **state) {
        struct fake_sysfs *f = *state;
        struct cpuset s = CPUSET_INIT;
        char buf[64];

        assert_int_equal(fake_sysfs_write(f, "sys/fs/cgroup/dhp.slice/workers/cpuset.cpus", "0-3\n"), 0);
        assert_int_equal(cgroup_cpuset_read(f->root, NULL, "dhp.slice/workers", &s), 0);
        assert_int_equal(cpuset_count(&s), 4);
        assert_int_equal(cgroup_cpuset_widen(NULL, f->root, NULL, "/dhp.slice/workers", 6), 0);
        assert_int_equal(fake_sysfs_read(f, "sys/fs/cgroup/dhp.slice/workers/cpuset.cpus", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0-3,6");
        assert_int_equal(cgroup_cpuset_widen(NULL, f->root, NULL, "dhp.slice/workers", 2), CGROUP_ALREADY);

        /* Empty cpuset.cpus means the parent's: widen from the effective set. */
        assert_int_equal(fake_sysfs_write(f, "sys/fs/cgroup/dhp.slice/cpuset.cpus", "\n"), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/fs/cgroup/dhp.slice/cpuset.cpus.effective", "0-5\n"), 0);
        assert_int_equal(cgroup_cpuset_widen(NULL, f->root, NULL, "dhp.slice", 6), 0);
        assert_int_equal(fake_sysfs_read(f, "sys/fs/cgroup/dhp.slice/cpuset.cpus", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0-6");

        /* Another mount point. */
        assert_int_equal(fake_sysfs_write(f, "cg2/a/cpuset.cpus", "1\n"), 0);
        assert_int_equal(cgroup_cpuset_widen(NULL, f->root, "/cg2", "a", 0), 0);
        assert_int_equal(fake_sysfs_read(f, "cg2/a/cpuset.cpus", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0-1");

        assert_int_equal(cgroup_cpuset_read(f->root, NULL, "../etc", &s), -EINVAL);
        assert_int_equal(cgroup_cpuset_read(f->root, NULL, "a/./b", &s), -EINVAL);
        assert_int_equal(cgroup_cpuset_read(f->root, NULL, "/", &s), -EINVAL);
        assert_int_equal(cgroup_cpuset_widen(NULL, f->root, NULL, "missing", 1), -ENOENT);
        cpuset_deinit(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_widen),
        };
        return cmocka_run_group_tests(tests, fake_sysfs_group_setup, fake_sysfs_group_teardown);
}
