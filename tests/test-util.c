/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/cpuset.h"
#include "util/parse.h"
#include "util/strbuf.h"

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

static void test_json_escape(void **state) {
        struct strbuf sb = STRBUF_INIT;

        assert_int_equal(strbuf_json_string(&sb, "a\"b\\c\n\x01"), 0);
        assert_string_equal(strbuf_str(&sb), "\"a\\\"b\\\\c\\n\\u0001\"");
        strbuf_deinit(&sb);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_size),
                cmocka_unit_test(test_parse_u64),
                cmocka_unit_test(test_cpuset_roundtrip),
                cmocka_unit_test(test_cpuset_bad),
                cmocka_unit_test(test_json_escape),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
