/* SPDX-License-Identifier: MIT */
/*
 * The memory condition spec: memcond_config_parse() and
 * memcond_config_validate(), the parser behind dhp_memcond_configure()
 * (any client of dhpd, MEMCOND_CONFIGURE), the sim scenario's `memcond`
 * line and dhpd.conf's thresholds.  The first 8 bytes are the total memory
 * to validate against; the rest is the spec.  All or nothing: on failure
 * the configuration is untouched and the message says something; on
 * success the computed thresholds keep their order.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/memcond.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct memcond_config cfg = { 0 }, before;
        struct memcond_thresholds t;
        uint64_t total = 0;
        char *spec, *err = NULL;
        int r;

        if (size >= sizeof(total)) {
                memcpy(&total, data, sizeof(total));
                data += sizeof(total);
                size -= sizeof(total);
        }
        spec = fuzz_strndup(data, size);
        before = cfg;
        r = memcond_config_parse(&cfg, spec, &err);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
                FUZZ_CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
                FUZZ_CHECK(r == -ENOMEM || (err && *err));
                free(err);
                free(spec);
                return 0;
        }
        FUZZ_CHECK(err == NULL);
        FUZZ_CHECK(cfg.low_commit <= MEMCOND_MAX_PERCENT && cfg.high_commit <= MEMCOND_MAX_PERCENT &&
                   cfg.max_commit <= MEMCOND_MAX_PERCENT);
        r = memcond_config_validate(&cfg, total, &err);
        memcond_thresholds_compute(&cfg, total, &t);
        if (r == 0) {
                FUZZ_CHECK(err == NULL);
                FUZZ_CHECK((!t.low && !t.high) || t.low < t.high);
                FUZZ_CHECK(t.low_commit < t.high_commit && t.high_commit < t.max_commit);
        } else {
                FUZZ_CHECK(r == -EINVAL && err && *err);
                free(err);
        }
        free(spec);
        return 0;
}
