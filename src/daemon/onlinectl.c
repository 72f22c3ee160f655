/* SPDX-License-Identifier: MIT */
/*
 * CPU_ONLINE (`dhpctl cpu online N`, dhp_proc_online() through dhpd): a new
 * add transaction for a present processor whose add failed.  Privileged
 * (the request table).  The transaction never runs on the main thread: on
 * the sim the worker runs it (simctl.c), on another platform the hook
 * dhpd gave (server_set_cpu_online(): the Linux hotplug thread), which
 * answers when it is done.
 */
#include <errno.h>
#include <stdlib.h>

#include "daemon/server-internal.h"

struct server_cpu_online {
        struct peer *c; /* a reference */
        uint64_t msgid;
        uint32_t index;
};

static const char *why(int r) {
        switch (r) {
        case -ENODEV:
                return "no processor in that slot (absent)";
        case -EALREADY:
                return "the processor is admitted already";
        case -ERANGE:
                return "no such processor slot";
        case -ESHUTDOWN:
                return "dhpd is stopping";
        case -EOPNOTSUPP:
                return "this platform cannot start a processor again";
        default:
                return NULL;
        }
}

void onlinectl_reply(struct peer *c, uint64_t id, uint32_t index, int r, int status) {
        if (r >= 0)
                log_notice(&c->s->log, "cpu%u: online asked by %s: %s", index, c->name,
                           r == 0 ? "admitted" : "the add failed again");
        /* As CPU_REMOVE: 1 carries the positive errno of the veto or failure. */
        peer_reply(c, id, r, r == 1 ? (uint32_t)-status : 0, 0, r < 0 ? why(r) : NULL);
}

void server_set_cpu_online(struct server *s, server_cpu_online_fn *fn, void *userdata) {
        s->cpu_online = fn;
        s->cpu_online_userdata = userdata;
}

/* Every end of a request the hook took, the ESHUTDOWN of a stopping
 * hotplug thread too: the client's job slot back, so that a request it
 * sends on the reply finds it free, then the reply. */
void server_cpu_online_done(struct server_cpu_online *req, int r, int status) {
        job_unreserve(req->c->s, req->c);
        onlinectl_reply(req->c, req->msgid, req->index, r, status);
        peer_unref(req->c);
        free(req);
}

bool onlinectl_handle(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct server_cpu_online *req;
        struct job *j;

        if (!s->sim && !s->cpu_online) {
                peer_reply(c, m->id, -EOPNOTSUPP, 0, 0, why(-EOPNOTSUPP));
                return true;
        }
        /* A job slot on either path, as every request that waits for a
         * transaction: the worker gives it back after the job, the hook's
         * side in server_cpu_online_done(). */
        if (job_reserve(s, c) < 0) {
                job_refuse(s, c, m->id);
                return true;
        }
        if (s->sim) {
                j = job_new(c, JOB_CPU_ONLINE, m->id);
                if (!j) {
                        job_unreserve(s, c);
                        peer_reply(c, m->id, -ENOMEM, 0, 0, NULL);
                        return true;
                }
                j->reg = m->cpu_online.index;
                job_queue(s, j);
                return true;
        }
        req = calloc(1, sizeof(*req));
        if (!req) {
                job_unreserve(s, c);
                peer_reply(c, m->id, -ENOMEM, 0, 0, NULL);
                return true;
        }
        peer_ref(c);
        *req = (struct server_cpu_online){ .c = c, .msgid = m->id, .index = m->cpu_online.index };
        s->cpu_online(s->cpu_online_userdata, req, req->index);
        return true;
}
