/* SPDX-License-Identifier: MIT */
/*
 * Sim control (dhpd --platform sim): SIM_CPU_ADD, SIM_MEMORY_ADD and
 * SIM_RUN, run on the worker since the sim's transactions run on the thread
 * that asks.  The only file of the server that knows the simulated
 * platform: the rest hold a `struct sim *` they never look into.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/server-internal.h"
#include "platform/sim/sim.h"
#include "platform/sim/simrun.h"

/* On the worker. */
void simctl_run(struct server *s, struct job *j) {
        struct peer *c = j->c;
        char *err = NULL;
        uint32_t idx = 0;
        uint64_t base = 0;
        int r;

        switch (j->kind) {
        case JOB_SIM_CPU:
                r = sim_cpu_add(s->sim, &idx);
                peer_reply(c, j->msgid, r, idx, 0, r == -ENOSPC ? "every processor slot is in use" : NULL);
                break;
        case JOB_SIM_MEM:
                r = sim_memory_add(s->sim, j->size, &base);
                peer_reply(c, j->msgid, r, 0, base, NULL);
                break;
        case JOB_SIM_SURPRISE:
                r = sim_cpu_surprise_remove(s->sim, j->reg);
                peer_reply(c, j->msgid, r, 0, 0, r == -ENODEV ? "no processor in that slot" : NULL);
                break;
        case JOB_SIM_RUN: {
                const struct simrun run = { .sim = s->sim, .rebalance = s->cfg.rebalance };

                r = simrun_scenario(&run, j->filename, j->text, &err);
                peer_reply(c, j->msgid, r, 0, 0, err);
                free(err);
                break;
        }
        default:
                break;
        }
}

/* On the worker: the sim's CPU_ONLINE, a transaction as the sim's adds. */
void simctl_cpu_online(struct server *s, struct job *j) {
        int status = 0, r;

        r = sim_cpu_retry(s->sim, j->reg, &status);
        onlinectl_reply(j->c, j->msgid, j->reg, r, status);
}

/* SIM_CPU_ADD, SIM_MEMORY_ADD, SIM_RUN: queued for the worker. */
bool simctl_handle(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct job *j;

        if (job_reserve(s, c) < 0) {
                job_refuse(s, c, m->id);
                return true;
        }
        j = job_new(c, m->type == IPC_SIM_CPU_ADD      ? JOB_SIM_CPU
                       : m->type == IPC_SIM_MEMORY_ADD ? JOB_SIM_MEM
                       : m->type == IPC_SIM_CPU_SURPRISE ? JOB_SIM_SURPRISE
                                                       : JOB_SIM_RUN,
                    m->id);
        if (!j) {
                job_unreserve(s, c);
                peer_reply(c, m->id, -ENOMEM, 0, 0, NULL);
                return true;
        }
        if (m->type == IPC_SIM_MEMORY_ADD)
                j->size = m->sim_memory_add.size;
        if (m->type == IPC_SIM_CPU_SURPRISE)
                j->reg = m->cpu_remove.index;
        if (m->type == IPC_SIM_RUN) {
                snprintf(j->filename, sizeof(j->filename), "%s",
                         m->sim_run.filename[0] ? m->sim_run.filename : "scenario");
                j->text = strndup(m->sim_run.text ? m->sim_run.text : "", m->sim_run.text_len);
                if (!j->text) {
                        free(j);
                        job_unreserve(s, c);
                        peer_reply(c, m->id, -ENOMEM, 0, 0, NULL);
                        return true;
                }
        }
        job_queue(s, j);
        return true;
}
