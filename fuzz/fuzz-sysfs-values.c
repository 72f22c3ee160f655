/* SPDX-License-Identifier: MIT */
/*
 * The strict parsers of values read from sysfs and procfs (and of numbers in
 * the configuration and scenarios).  The first byte of the input picks the
 * parser, the rest is the file's content.  Where a formatter exists the
 * value must survive a round trip.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "platform/linux/meminfo.h"
#include "platform/linux/sysfs.h"
#include "platform/linux/topology.h"
#include "util/cpuset.h"
#include "util/parse.h"
#include "util/strbuf.h"

enum { P_U64, P_U32, P_SIZE, P_DURATION, P_BOOL, P_CPUSET, P_HEX, P_MEMBLOCK_STATE, P_MEMINFO, P_MAX };

static void check_cpuset(const char *s) {
        struct cpuset a = CPUSET_INIT, b = CPUSET_INIT;
        struct strbuf sb = STRBUF_INIT;

        if (cpuset_parse(&a, s) < 0) {
                FUZZ_CHECK(a.bits == NULL);
                return;
        }
        /* The kernel's list format in and out: parse(format(x)) == x. */
        FUZZ_CHECK(cpuset_format(&a, &sb) >= 0);
        FUZZ_CHECK(cpuset_parse(&b, strbuf_str(&sb)) == 0);
        FUZZ_CHECK(cpuset_equal(&a, &b));
        FUZZ_CHECK(cpuset_count(&a) == cpuset_count(&b));
        for (int64_t c = cpuset_next(&a, 0); c >= 0; c = cpuset_next(&a, (uint32_t)c + 1))
                FUZZ_CHECK(c < CPUSET_MAX_CPUS && cpuset_test(&b, (uint32_t)c));
        strbuf_deinit(&sb);
        cpuset_deinit(&a);
        cpuset_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s, buf[64];
        uint64_t v, w;
        uint32_t v32;
        int b;

        if (size == 0)
                return 0;
        s = fuzz_strndup(data + 1, size - 1);
        switch (data[0] % P_MAX) {
        case P_U64:
                if (parse_u64(s, &v) == 0) {
                        snprintf(buf, sizeof(buf), "%" PRIu64, v);
                        FUZZ_CHECK(parse_u64(buf, &w) == 0 && w == v);
                }
                break;
        case P_U32:
                if (parse_u32(s, &v32) == 0)
                        FUZZ_CHECK(parse_u64(s, &v) == 0 && v == v32);
                break;
        case P_SIZE:
                if (parse_size(s, &v) == 0) {
                        format_size(v, buf, sizeof(buf));
                        FUZZ_CHECK(parse_size(buf, &w) == 0 && w == v);
                }
                break;
        case P_DURATION:
                (void)parse_duration_ns(s, &v);
                break;
        case P_BOOL:
                if (parse_bool(s, &b) == 0)
                        FUZZ_CHECK(b == 0 || b == 1);
                break;
        case P_CPUSET:
                check_cpuset(s);
                break;
        case P_HEX:
                if (sysfs_parse_hex_u64(s, &v) == 0) {
                        snprintf(buf, sizeof(buf), "%" PRIx64, v);
                        FUZZ_CHECK(sysfs_parse_hex_u64(buf, &w) == 0 && w == v);
                }
                break;
        case P_MEMBLOCK_STATE: {
                enum memblock_state st;
                if (memblock_state_from_string(s, &st) == 0)
                        FUZZ_CHECK(strcmp(memblock_state_to_string(st), s) == 0);
                break;
        }
        case P_MEMINFO: {
                /* meminfo_parse takes a length: give it the exact bytes, in a
                 * buffer of exactly that size. */
                struct meminfo mi;
                char *text = malloc(size - 1 ? size - 1 : 1);
                int r;

                if (!text)
                        abort();
                memcpy(text, data + 1, size - 1);
                r = meminfo_parse(text, size - 1, &mi);
                FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ERANGE || r == -ENODATA);
                free(text);
                break;
        }
        }
        free(s);
        return 0;
}
