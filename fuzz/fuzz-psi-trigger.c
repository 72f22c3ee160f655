/* SPDX-License-Identifier: MIT */
/*
 * config_psi_parse(): dhpd.conf's psi_trigger, the one parser for
 * --check-config and for the trigger dhpd writes.  What it accepts is
 * within the kernel's bounds and survives the round trip through the text
 * dhpd writes to /proc/pressure/memory.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct config_psi psi = { .full = true, .stall_us = 7, .window_us = 7 }, again;
        char *s = fuzz_strndup(data, size), text[64];
        int r;

        r = config_psi_parse(s, &psi);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL);
                FUZZ_CHECK(psi.full && psi.stall_us == 7 && psi.window_us == 7);
        } else {
                FUZZ_CHECK(psi.window_us >= CONFIG_PSI_WINDOW_MIN_US && psi.window_us <= CONFIG_PSI_WINDOW_MAX_US);
                FUZZ_CHECK(psi.stall_us >= 1 && psi.stall_us <= psi.window_us);
                snprintf(text, sizeof(text), "%s %llu %llu", psi.full ? "full" : "some",
                         (unsigned long long)psi.stall_us, (unsigned long long)psi.window_us);
                FUZZ_CHECK(config_psi_parse(text, &again) == 0 && again.full == psi.full &&
                           again.stall_us == psi.stall_us && again.window_us == psi.window_us);
        }
        free(s);
        return 0;
}
