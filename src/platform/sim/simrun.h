/* SPDX-License-Identifier: MIT */
/*
 * Run a scenario text on a simulated platform with the hooks every embedder
 * needs (dhpd for `dhpctl sim run`, a library context on target "sim"):
 * notes go to the sim engine's stream, devices and class opt-outs to a
 * rebalance module, and "settle" waits for the engine's queue.
 */
#pragma once

#include "core/rebalance.h"
#include "platform/sim/sim.h"

struct simrun {
        struct sim *sim;
        /* Devices and opt-outs; NULL: those commands fail with -EOPNOTSUPP. */
        struct rebalance *rebalance;
        /* How "settle" delivers the queue; NULL: wait (up to 10 s) for
         * another thread to deliver it. */
        int (*settle)(void *userdata);
        void *userdata;
};

/* Parse then run (scenario_parse, scenario_run): their errors and
 * *ret_error. */
int simrun_scenario(const struct simrun *run, const char *filename, const char *text, char **ret_error);
