/* SPDX-License-Identifier: MIT */
/*
 * Removal carried out by dhpd (doc/model.md, "Removal"): CPU_REMOVE and
 * MEMORY_REMOVE, privileged (the request table), run on the worker since a
 * removal is a transaction and its query phase waits for the clients'
 * answers, which the main thread collects.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/server-internal.h"

static const char *why(int r) {
        switch (r) {
        case -ENODEV:
                return "not an admitted processor";
        case -EBUSY:
                return "the last admitted processor stays";
        case -ENOENT:
                return "no such memory device (see dhpctl status)";
        case -EOPNOTSUPP:
                return "this platform cannot take it offline, or it is a virtio-mem device (resize it from the "
                       "host)";
        default:
                return NULL;
        }
}

/* On the worker. */
void removectl_run(struct server *s, struct job *j) {
        uint64_t id;
        int r, status = 0;

        if (j->kind == JOB_CPU_REMOVE) {
                r = engine_cpu_remove(s->e, j->reg, 0, &status);
                if (r >= 0)
                        log_notice(&s->log, "cpu%u: %s", j->reg, r == 0 ? "removed" : "removal cancelled");
        } else {
                r = engine_mem_device_find(s->e, j->filename, &id);
                if (r == 0)
                        r = engine_mem_remove(s->e, id, &status);
                if (r >= 0)
                        log_notice(&s->log, "%s: %s", j->filename, r == 0 ? "removed" : "removal cancelled");
        }
        peer_reply(j->c, j->msgid, r, r == 1 ? (uint32_t)-status : 0, 0, r < 0 ? why(r) : NULL);
}

/* CPU_REMOVE, MEMORY_REMOVE: queued for the worker. */
bool removectl_handle(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct job *j;

        if (job_reserve(s, c) < 0) {
                job_refuse(s, c, m->id);
                return true;
        }
        j = job_new(c, m->type == IPC_CPU_REMOVE ? JOB_CPU_REMOVE : JOB_MEM_REMOVE, m->id);
        if (!j) {
                job_unreserve(s, c);
                peer_reply(c, m->id, -ENOMEM, 0, 0, NULL);
                return true;
        }
        if (m->type == IPC_CPU_REMOVE)
                j->reg = m->cpu_remove.index;
        else
                snprintf(j->filename, sizeof(j->filename), "%s", m->memory_remove.name);
        job_queue(s, j);
        return true;
}
