/* SPDX-License-Identifier: MIT */
/*
 * The scenario language of the simulated platform: one command a line,
 * '#' starts a comment.
 *
 *   cpu add [COUNT]                    hot-add COUNT processors (default 1)
 *   memory add SIZE [COUNT]            hot-add COUNT memory devices of SIZE
 *   memory level KEY=SIZE...           set the simulated memory levels and
 *                                      re-evaluate the memory conditions:
 *                                      available=, total=, commit= (commit
 *                                      charge), limit= (commit limit)
 *   memory thresholds KEY=VALUE...     override memory condition thresholds:
 *                                      low=SIZE, high=SIZE, low_commit=N%,
 *                                      high_commit=N%, max_commit=N%,
 *                                      interval=DURATION; VALUE 'default'
 *                                      returns to the default
 *   fail OP ERRNO [COUNT]              the next COUNT (default 1) platform OPs
 *                                      fail: OP is cpu-start, cpu-admit,
 *                                      cpu-stop or block-online; ERRNO a name
 *                                      such as EIO or EBUSY
 *   settle                             wait until every asynchronous
 *                                      notification so far is delivered
 *   echo TEXT                          a note in the notification stream
 *
 * The whole text is parsed before anything runs: a bad line is reported as
 * FILE:LINE:COL with what was expected, and nothing runs.
 */
#pragma once

#include <stdint.h>

#include "platform/sim/sim.h"

struct scenario;

struct scenario_hooks {
        /* Deliver or wait for every queued notification. */
        int (*settle)(void *userdata);
        /* A note for the stream (echo). */
        void (*note)(void *userdata, const char *text);
        void *userdata;
};

/* Parse; on error -EINVAL and *ret_error (if not NULL) gets a malloc'ed
 * "FILE:LINE:COL: message". */
int scenario_parse(const char *filename, const char *text, struct scenario **ret, char **ret_error);
void scenario_free(struct scenario *sc);
size_t scenario_count(const struct scenario *sc);
/* Run every command.  A vetoed processor add is an outcome, not an error;
 * a platform error stops the run: -errno and *ret_error "FILE:LINE: ...". */
int scenario_run(struct scenario *sc, struct sim *sim, const struct scenario_hooks *hooks, char **ret_error);
