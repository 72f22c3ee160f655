/* SPDX-License-Identifier: MIT */
/* scenario_parse() on the sim scenario language (a file a user hands to
 * `dhpctl demo` or `dhpd --scenario`), then, when it parses, scenario_run()
 * on a small simulated partition: the parser's promises ("FILE:LINE:COL"
 * on error, nothing allocated) and the run's (an error or success, never a
 * crash, whatever the counts and sizes). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/engine.h"
#include "fuzz.h"
#include "platform/sim/scenario.h"
#include "platform/sim/sim.h"

static int settle(void *userdata) {
        engine_dispatch(userdata);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = fuzz_strndup(data, size), *err = NULL;
        struct scenario *sc = NULL;
        int r;

        r = scenario_parse("fuzz.scenario", text, &sc, &err);
        if (r < 0) {
                FUZZ_CHECK(sc == NULL);
                FUZZ_CHECK(r != -EINVAL || (err && strncmp(err, "fuzz.scenario:", 14) == 0));
        } else {
                struct sim_config cfg = { .cpus = 2, .maxcpus = 8, .memory = 1ULL << 30, .block_size = 128ULL << 20,
                                          .maxmem = 4ULL << 30 };
                struct scenario_hooks hooks = { .settle = settle };
                struct sim *sim = NULL;

                FUZZ_CHECK(err == NULL && sc);
                if (sim_new(&sim, &cfg) < 0)
                        abort();
                hooks.userdata = sim_engine(sim);
                r = scenario_run(sc, sim, &hooks, &err);
                FUZZ_CHECK(r <= 0);
                FUZZ_CHECK(r == 0 || err);
                engine_dispatch(sim_engine(sim));
                sim_free(sim);
                scenario_free(sc);
        }
        free(err);
        free(text);
        return 0;
}
