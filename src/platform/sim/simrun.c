/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "platform/sim/scenario.h"
#include "platform/sim/simdev.h"
#include "platform/sim/simrun.h"

#define SIMRUN_SETTLE_MS 10000

static int settle(void *userdata) {
        const struct simrun *run = userdata;

        if (run->settle)
                return run->settle(run->userdata);
        return engine_wait_idle(sim_engine(run->sim), SIMRUN_SETTLE_MS);
}

static void note(void *userdata, const char *text) {
        const struct simrun *run = userdata;

        engine_record_note(sim_engine(run->sim), text);
}

static int device_add(void *userdata, const struct simdev_config *cfg) {
        const struct simrun *run = userdata;

        return run->rebalance ? simdev_add(run->rebalance, cfg) : -EOPNOTSUPP;
}

static int class_optout(void *userdata, const char *setup_class, bool optout) {
        const struct simrun *run = userdata;

        return run->rebalance ? rebalance_class_set_optout(run->rebalance, setup_class, optout) : -EOPNOTSUPP;
}

int simrun_scenario(const struct simrun *run, const char *filename, const char *text, char **ret_error) {
        struct scenario_hooks hooks = { .settle = settle, .note = note, .device_add = device_add,
                                        .class_optout = class_optout, .userdata = (void *)run };
        struct scenario *sc = NULL;
        int r;

        r = scenario_parse(filename, text, &sc, ret_error);
        if (r == 0)
                r = scenario_run(sc, run->sim, &hooks, ret_error);
        scenario_free(sc);
        return r;
}
