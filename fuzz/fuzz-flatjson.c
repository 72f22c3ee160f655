/* SPDX-License-Identifier: MIT */
/*
 * flatjson_parse(): one line of `dhpctl demo --json` / `monitor --json`, as
 * `dhpctl plot -i FILE` reads it from anyone's file.  On success every
 * member is well formed and findable; on failure the offset is inside the
 * input and nothing is returned.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "util/flatjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct flatjson o = { .n = 12345 };
        const char *msg = NULL;
        size_t off = (size_t)-1;
        int r;

        /* Not NUL-terminated on purpose: the parser takes a length. */
        char *text = malloc(size ? size : 1);
        if (!text)
                abort();
        memcpy(text, data, size);
        r = flatjson_parse(text, size, &o, &off, &msg);
        if (r == 0) {
                for (size_t i = 0; i < o.n; i++) {
                        const struct flatjson_member *m = &o.members[i];
                        FUZZ_CHECK(m->key);
                        /* Duplicate keys are refused: get finds this one. */
                        FUZZ_CHECK(flatjson_get(&o, m->key) == m);
                        FUZZ_CHECK(m->type <= FLATJSON_NULL);
                        if (m->type == FLATJSON_STRING) {
                                FUZZ_CHECK(m->str);
                                FUZZ_CHECK(flatjson_get_string(&o, m->key) == m->str);
                        }
                        if (m->type == FLATJSON_INTEGER && !m->negative) {
                                uint64_t v;
                                FUZZ_CHECK(flatjson_get_u64(&o, m->key, &v) == 0 && v == m->u);
                        }
                        FUZZ_CHECK(flatjson_get_true(&o, m->key) == (m->type == FLATJSON_BOOL && m->b));
                }
                flatjson_deinit(&o);
        } else {
                FUZZ_CHECK(r == -EBADMSG || r == -ENOMEM);
                FUZZ_CHECK(o.n == 12345);
                if (r == -EBADMSG) {
                        FUZZ_CHECK(msg && *msg);
                        FUZZ_CHECK(off <= size);
                }
        }
        free(text);
        return 0;
}
