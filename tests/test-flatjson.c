/* SPDX-License-Identifier: MIT */
/* The flat JSON reader of `dhpctl plot -i`: our records back, and the
 * faults it names with their offset. */
#include <errno.h>

#include "helpers.h"
#include "util/flatjson.h"

static void test_record(void **state) {
        static const char line[] = " {\"seq\":7,\"t_ns\":18446744073709551615,\"method\":\"sync\",\"client\":"
                                   "\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\\/\",\"veto\":true,\"late\":false,"
                                   "\"x\":null,\"neg\":-5} \r\n";
        struct flatjson o;
        uint64_t v = 0;

        assert_int_equal(flatjson_parse(line, sizeof(line) - 1, &o, NULL, NULL), 0);
        assert_int_equal(o.n, 8);
        assert_int_equal(flatjson_get_u64(&o, "seq", &v), 0);
        assert_true(v == 7);
        assert_int_equal(flatjson_get_u64(&o, "t_ns", &v), 0);
        assert_true(v == UINT64_MAX);
        assert_string_equal(flatjson_get_string(&o, "method"), "sync");
        assert_string_equal(flatjson_get_string(&o, "client"), "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80/");
        assert_true(flatjson_get_true(&o, "veto"));
        assert_false(flatjson_get_true(&o, "late"));
        assert_int_equal(flatjson_get(&o, "x")->type, FLATJSON_NULL);
        assert_int_equal(flatjson_get_u64(&o, "neg", &v), -EINVAL);
        assert_true(flatjson_get(&o, "neg")->negative && flatjson_get(&o, "neg")->u == 5);
        assert_int_equal(flatjson_get_u64(&o, "method", &v), -EINVAL);
        assert_int_equal(flatjson_get_u64(&o, "nope", &v), -ENOENT);
        assert_null(flatjson_get_string(&o, "seq"));
        flatjson_deinit(&o);

        assert_int_equal(flatjson_parse("{}", 2, &o, NULL, NULL), 0);
        assert_int_equal(o.n, 0);
        flatjson_deinit(&o);
}

static void test_faults(void **state) {
        static const struct {
                const char *text;
                size_t offset;
                const char *message;
        } bad[] = {
                { "", 0, "expected '{'" },
                { "[1]", 0, "expected '{'" },
                { "{\"a\":1", 6, "expected ',' or '}'" },
                { "{\"a\":1,}", 7, "expected a string" },
                { "{\"a\" 1}", 5, "expected ':'" },
                { "{\"a\":{}}", 5, "a nested object" },
                { "{\"a\":[1]}", 5, "a nested object" },
                { "{\"a\":1.5}", 6, "a fraction" },
                { "{\"a\":1e3}", 6, "a fraction" },
                { "{\"a\":01}", 5, "a number with a leading zero" },
                { "{\"a\":-}", 6, "expected a digit" },
                { "{\"a\":18446744073709551616}", 5, "an integer too large" },
                { "{\"a\":tru}", 5, "expected a string, an integer" },
                { "{\"a\":\"x\ty\"}", 7, "a control character" },
                { "{\"a\":\"\\q\"}", 6, "an unknown escape" },
                { "{\"a\":\"\\u12\"}", 6, "\\u needs four hex digits" },
                { "{\"a\":\"\\u0000\"}", 6, "\\u0000 is not allowed" },
                { "{\"a\":\"\\ud800x\"}", 6, "a high surrogate" },
                { "{\"a\":\"\\udc00\"}", 6, "a lone low surrogate" },
                { "{\"a\":\"abc", 9, "unterminated string" },
                { "{\"a\":1,\"a\":2}", 7, "a duplicate key" },
                { "{\"a\":1} x", 8, "text after the object" },
                { "{\"a\":1}{}", 7, "text after the object" },
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct flatjson o;
                const char *msg = NULL;
                size_t off = 999;
                int r = flatjson_parse(bad[i].text, strlen(bad[i].text), &o, &off, &msg);
                if (r != -EBADMSG || off != bad[i].offset || !msg || strncmp(msg, bad[i].message, strlen(bad[i].message)))
                        fail_msg("'%s': got %d at %zu '%s', want -EBADMSG at %zu '%s'", bad[i].text, r, off,
                                 msg ? msg : "", bad[i].offset, bad[i].message);
        }
}

/* Every prefix of a valid line is refused cleanly (under ASan in make check). */
static void test_prefixes(void **state) {
        static const char line[] = "{\"seq\":1,\"name\":\"\\ud83d\\ude00 x\",\"ok\":true,\"n\":-12}";

        for (size_t n = 0; n < sizeof(line) - 1; n++) {
                struct flatjson o;
                size_t off = 0;
                const char *msg = NULL;
                assert_int_equal(flatjson_parse(line, n, &o, &off, &msg), -EBADMSG);
                assert_true(off <= n);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_record),
                cmocka_unit_test(test_faults),
                cmocka_unit_test(test_prefixes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
