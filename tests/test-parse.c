/* SPDX-License-Identifier: MIT */
/* util/parse.c: sizes and unsigned integers, their errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/parse.h"

static void test_parse_size(void **state) {
        uint64_t v;

        assert_int_equal(parse_size("1G", &v), 0);
        assert_int_equal(v, 1ULL << 30);
        assert_int_equal(parse_size("256MiB", &v), 0);
        assert_int_equal(v, 256ULL << 20);
        assert_int_equal(parse_size("0x1000", &v), 0);
        assert_int_equal(v, 4096);
        assert_int_equal(parse_size("12", &v), 0);
        assert_int_equal(v, 12);
        assert_int_equal(parse_size("1Q", &v), -EINVAL);
        assert_int_equal(parse_size("", &v), -EINVAL);
        assert_int_equal(parse_size("-1G", &v), -EINVAL);
        assert_int_equal(parse_size("99999999999T", &v), -ERANGE);
        assert_int_equal(parse_size("99999999999999999999999", &v), -ERANGE);
}

static void test_parse_u64(void **state) {
        uint64_t v;
        uint32_t w;

        assert_int_equal(parse_u64("18446744073709551615", &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(parse_u64("18446744073709551616", &v), -ERANGE);
        assert_int_equal(parse_u64(" 1", &v), -EINVAL);
        assert_int_equal(parse_u64("1 ", &v), -EINVAL);
        assert_int_equal(parse_u32("4294967296", &w), -ERANGE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_size),
                cmocka_unit_test(test_parse_u64),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
