/* SPDX-License-Identifier: MIT */
/*
 * sim_config_parse(): `dhpd --sim OPTIONS`, `dhpctl demo --target
 * sim:OPTIONS` and dhp_open("sim:OPTIONS") from any application.  All or
 * nothing; an accepted partition is consistent, and a small one is built
 * and torn down (sim_new) to show that the parser's bounds are the ones
 * the platform relies on.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "platform/sim/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct sim_config c = SIM_CONFIG_DEFAULT, before = SIM_CONFIG_DEFAULT;
        char *opts = fuzz_strndup(data, size);
        int r;

        r = sim_config_parse(&c, opts);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
                FUZZ_CHECK(memcmp(&c, &before, sizeof(c)) == 0);
        } else {
                FUZZ_CHECK(r == 0);
                FUZZ_CHECK(c.cpus >= 1 && c.cpus <= c.maxcpus && c.maxcpus <= 4096);
                FUZZ_CHECK(c.block_size && !(c.block_size & (c.block_size - 1)));
                FUZZ_CHECK(c.memory && c.memory <= c.maxmem);
                FUZZ_CHECK(c.memory % c.block_size == 0 && c.maxmem % c.block_size == 0);
                FUZZ_CHECK(c.maxmem / c.block_size <= (1u << 20));
                /* Build only small partitions: the fuzzer's time goes to
                 * the parser, not to allocating a million blocks. */
                if (c.maxmem / c.block_size <= 1024 && c.maxcpus <= 256) {
                        struct sim *s = NULL;
                        FUZZ_CHECK(sim_new(&s, &c) == 0);
                        sim_free(s);
                }
        }
        free(opts);
        return 0;
}
