/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "platform/sim/scenario.h"
#include "platform/sim/simdev.h"
#include "platform/sim/simrun.h"
#include "proto/ipcmsg.h"
#include "util/names.h"

#define SIMRUN_SETTLE_MS 10000

static int settle(void *userdata) {
        const struct simrun *run = userdata;

        int r;

        if (run->settle)
                return run->settle(run->userdata);
        r = engine_wait_idle(sim_engine(run->sim), SIMRUN_SETTLE_MS);
        /* In dhpd the sequences run on the rebalance lane: settled is
         * when they ended too (the queue handed them over). */
        if (r == 0 && run->rebalance)
                r = rebalance_lane_wait_idle(run->rebalance, SIMRUN_SETTLE_MS);
        return r;
}

/* A scenario's note goes into the record stream every monitor and the
 * JSON output print: escaped, like every text from a client, and whole up
 * to the record's detail_text field (the parser refuses a longer echo). */
static void note(void *userdata, const char *text) {
        const struct simrun *run = userdata;
        char buf[IPC_DETAIL_MAX];

        engine_record_note(sim_engine(run->sim), names_escape(text, buf, sizeof(buf)));
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
