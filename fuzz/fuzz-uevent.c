/* SPDX-License-Identifier: MIT */
/* uevent_parse(): one kernel uevent datagram, as the netlink socket would
 * deliver it, with the parser's documented invariants checked. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "platform/linux/uevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* A heap copy of exactly size bytes: ASan sees any read past it. */
        char *buf = malloc(size ? size : 1);
        struct uevent u;
        int r;

        if (!buf)
                abort();
        memcpy(buf, data, size);
        r = uevent_parse(buf, size, &u);
        FUZZ_CHECK(r <= 0);
        FUZZ_CHECK(uevent_strerror(r) != NULL);
        if (r == 0) {
                FUZZ_CHECK(u.devpath && u.devpath[0] == '/');
                FUZZ_CHECK(u.action_str && strchr(buf, '@'));
                FUZZ_CHECK(u.n_keys >= 2 && u.n_keys <= UEVENT_KEYS_MAX);
                FUZZ_CHECK(strcmp(uevent_get(&u, "DEVPATH"), u.devpath) == 0);
                FUZZ_CHECK(strcmp(uevent_get(&u, "ACTION"), u.action_str) == 0);
                FUZZ_CHECK(!u.subsystem || strcmp(uevent_get(&u, "SUBSYSTEM"), u.subsystem) == 0);
                FUZZ_CHECK(uevent_action_to_string(u.action) != NULL);
                for (unsigned i = 0; i < u.n_keys; i++)
                        FUZZ_CHECK(u.keys[i] >= buf && u.keys[i] < buf + size && strchr(u.keys[i], '='));
                (void)uevent_get(&u, "MEMORY");
                (void)uevent_get(&u, "");
        }
        free(buf);
        return 0;
}
