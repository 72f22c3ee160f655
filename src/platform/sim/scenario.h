/* SPDX-License-Identifier: MIT */
/*
 * The scenario language of the simulated platform: one command a line,
 * '#' starts a comment.
 *
 *   cpu add [COUNT]                    hot-add COUNT processors (default 1)
 *   cpu remove INDEX [surprise]        remove a processor: with the query
 *                                      (dhpctl cpu remove), or as the kernel
 *                                      does on an eject (surprise)
 *   memory add SIZE [COUNT]            hot-add COUNT memory devices of SIZE
 *   memory remove NAME [surprise]      remove memory device NAME (as named in
 *                                      its ARRIVAL, memory@0x...)
 *   veto cpu|memory ERRNO [COUNT]      the next COUNT removal queries of the
 *                                      class are vetoed with ERRNO (by a
 *                                      registration of the scenario's own)
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
 *                                      cpu-stop, block-online, cpu-offline or
 *                                      block-offline; ERRNO a name
 *                                      such as EIO or EBUSY
 *   settle                             wait until every asynchronous
 *                                      notification so far is delivered
 *   echo TEXT                          a note in the notification stream
 *                                      (at most SCENARIO_ECHO_MAX bytes)
 *   device add NAME CLASS [OPTION...]  a device for rebalance (doc/rebalance.md)
 *                                      with a simulated driver stack; options:
 *                                      policy=1|2 (DHP_Rebalance_Policy),
 *                                      affinity=all|spread|one-per-cpu|keep,
 *                                      drivers=1|2|3 (default 3: filter,
 *                                      function, bus), refuse=query-stop (the
 *                                      function driver refuses), fail=stop
 *   optout CLASS yes|no                the class opt-out of a setup class
 *
 * The whole text is parsed before anything runs: a bad line is reported as
 * FILE:LINE:COL with what was expected, and nothing runs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "platform/sim/sim.h"
#include "platform/sim/simdev.h"

/* The longest echo: a note travels whole in the record's detail_text
 * (IPC_DETAIL_MAX with its NUL). */
#define SCENARIO_ECHO_MAX 255u

struct scenario;

struct scenario_hooks {
        /* Deliver or wait for every queued notification. */
        int (*settle)(void *userdata);
        /* A note for the stream (echo). */
        void (*note)(void *userdata, const char *text);
        /* A device (device add); NULL: the command fails with -EOPNOTSUPP. */
        int (*device_add)(void *userdata, const struct simdev_config *cfg);
        /* A class opt-out (optout). */
        int (*class_optout)(void *userdata, const char *setup_class, bool optout);
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
