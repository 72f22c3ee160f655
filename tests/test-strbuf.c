/* SPDX-License-Identifier: MIT */
/* util/strbuf.c: JSON string escaping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/strbuf.h"

static void test_json_escape(void **state) {
        struct strbuf sb = STRBUF_INIT;

        assert_int_equal(strbuf_json_string(&sb, "a\"b\\c\n\x01"), 0);
        assert_string_equal(strbuf_str(&sb), "\"a\\\"b\\\\c\\n\\u0001\"");
        strbuf_deinit(&sb);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_escape),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
