/* SPDX-License-Identifier: MIT */
/* util/cpuset.c: CPU lists to sets and back, and malformed lists. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/cpuset.h"

static void test_cpuset_roundtrip(void **state) {
        struct cpuset s = CPUSET_INIT;
        struct strbuf sb = STRBUF_INIT;

        assert_int_equal(cpuset_parse(&s, "0-3,8,10-11\n"), 0);
        assert_int_equal(cpuset_count(&s), 7);
        assert_true(cpuset_test(&s, 8));
        assert_false(cpuset_test(&s, 9));
        assert_int_equal(cpuset_format(&s, &sb), 0);
        assert_string_equal(strbuf_str(&sb), "0-3,8,10-11");
        assert_int_equal(cpuset_parse(&s, ""), 0);
        assert_int_equal(cpuset_count(&s), 0);
        cpuset_deinit(&s);
        strbuf_deinit(&sb);
}

static void test_cpuset_bad(void **state) {
        struct cpuset s = CPUSET_INIT;

        assert_int_equal(cpuset_parse(&s, "3-1"), -EINVAL);
        assert_int_equal(cpuset_parse(&s, "1,"), -EINVAL);
        assert_int_equal(cpuset_parse(&s, "a"), -EINVAL);
        assert_int_equal(cpuset_parse(&s, "1-"), -EINVAL);
        assert_int_equal(cpuset_parse(&s, "99999999"), -ERANGE);
        assert_int_equal(cpuset_parse(&s, "1\n2"), -EINVAL);
        cpuset_deinit(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpuset_roundtrip),
                cmocka_unit_test(test_cpuset_bad),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
