/* SPDX-License-Identifier: MIT */
/*
 * The synchronous proxy: one remote registration in dhpd's engine per peer
 * that registered for processor changes.  Each phase of a transaction goes
 * out as PROC_CHANGE (peer.c, peer_phase_proxy); the transaction's thread
 * waits, until the [sync] deadline, for the PROC_ANSWER that the main
 * thread collects here.  The
 * (de)registrations run on the worker, serialised with transactions.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "core/peer.h"
#include "daemon/server-internal.h"
#include "util/time.h"

struct register_args {
        struct peer *c;
        struct job *j;
};

static int sync_index(struct peer *c, uint32_t id) {
        for (unsigned i = 0; i < c->nsync; i++)
                if (c->sync_ids[i] == id)
                        return (int)i;
        return -1;
}

/* Under the transaction lock: no phase is sent meanwhile, so what this
 * client reads next after the REPLY is the next add's ADD_START. */
static int register_locked(struct engine *e, void *userdata) {
        struct register_args *a = userdata;
        struct peer *c = a->c;
        int r;

        /* Checked and taken under the lock the main thread's arrival
         * registrations take theirs: the cap holds between the two. */
        pthread_mutex_lock(&c->lock);
        r = sync_index(c, a->j->reg) >= 0 ? -EEXIST : c->nsync + c->narr >= c->s->cfg.max_regs ? -ENOSPC : 0;
        if (r == 0)
                c->sync_ids[c->nsync++] = a->j->reg;
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        if (!c->proxy) {
                r = peer_join(e, c->name, &peer_phase_proxy, c, &c->proxy);
                if (r < 0) {
                        pthread_mutex_lock(&c->lock);
                        c->nsync--;
                        pthread_mutex_unlock(&c->lock);
                        return r;
                }
                peer_ref(c);
        }
        /* Removal phases go to processes that can read them (protocol
         * 1.3): the library runs them on the callbacks that opted in only,
         * and narrows the process's threads at REMOVE_COMPLETE.  An older
         * client would take the new states for a protocol violation. */
        if ((a->j->flags & DHP_PROC_QUERY_REMOVE) || c->minor >= 3)
                peer_set_query_remove(c->proxy);
        if (!(a->j->flags & DHP_PROC_ADD_EXISTING))
                return 0;
        /* The processors admitted now, for the client's ADD_EXISTING. */
        status_send_procs(e, c, a->j->msgid);
        return 0;
}

void syncproxy_release(struct peer *c) {
        dhp_proc_reg *p = c->proxy;

        if (!p)
                return;
        c->proxy = NULL;
        procnotify_deregister(p); /* waits for a phase in flight */
        peer_unref(c);
}

void syncproxy_run_register(struct server *s, struct job *j) {
        struct register_args a = { j->c, j };
        struct peer *c = j->c;
        int r;

        pthread_mutex_lock(&c->lock);
        r = c->gone ? -ECONNRESET : 0;
        pthread_mutex_unlock(&c->lock);
        if (r == 0)
                r = engine_txn_call(s->e, register_locked, &a);
        peer_reply(c, j->msgid, r, 0, 0, r == -ENOSPC ? "too many registrations for one client" : NULL);
}

void syncproxy_run_deregister(struct server *s, struct job *j) {
        struct peer *c = j->c;
        int i;

        pthread_mutex_lock(&c->lock);
        i = sync_index(c, j->reg);
        if (i >= 0)
                c->sync_ids[i] = c->sync_ids[--c->nsync];
        pthread_mutex_unlock(&c->lock);
        if (c->nsync == 0)
                syncproxy_release(c);
        peer_reply(c, j->msgid, i >= 0 ? 0 : -ENOENT, 0, 0, NULL);
}

bool syncproxy_handle_register(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct job *j;

        if (m->proc_register.flags & ~(uint32_t)(DHP_PROC_ADD_EXISTING | DHP_PROC_QUERY_REMOVE)) {
                peer_reply(c, m->id, -EINVAL, 0, 0, "unknown flags");
                return true;
        }
        if (job_reserve(s, c) < 0) {
                job_refuse(s, c, m->id);
                return true;
        }
        if (!(j = job_new(c, JOB_PROC_REGISTER, m->id))) {
                job_unreserve(s, c);
                peer_reply(c, m->id, -ENOMEM, 0, 0, NULL);
                return true;
        }
        j->reg = m->proc_register.reg;
        j->flags = m->proc_register.flags;
        job_queue(s, j);
        return true;
}

/* Privileged (the request table), and costs a job only when the client
 * holds that registration or has one on the way: an unknown id is
 * answered here. */
bool syncproxy_handle_deregister(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct job *j;
        bool known, pending;

        pthread_mutex_lock(&c->lock);
        known = sync_index(c, m->unreg.reg) >= 0;
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_lock(&s->jlock);
        pending = c->njobs > 0;
        pthread_mutex_unlock(&s->jlock);
        if (!known && !pending) {
                peer_reply(c, m->id, -ENOENT, 0, 0, NULL);
                return true;
        }
        if (job_reserve(s, c) < 0) {
                job_refuse(s, c, m->id);
                return true;
        }
        if (!(j = job_new(c, JOB_PROC_DEREGISTER, m->id))) {
                job_unreserve(s, c);
                peer_reply(c, m->id, -ENOMEM, 0, 0, NULL);
                return true;
        }
        j->reg = m->unreg.reg;
        job_queue(s, j);
        return true;
}

/* The answer to the phase in flight; a stale one (another txn, or a second
 * answer) is ignored. */
bool syncproxy_handle_answer(struct server *s, struct peer *c, const struct ipc_msg *m) {
        if (m->proc_answer.status > 0 || m->proc_answer.status < -4095 || m->proc_answer.state < 1 ||
            m->proc_answer.state > DHP_PROC_REMOVE_CANCEL) {
                server_violation(s, c, -EPROTO, "PROC_ANSWER with a bad state or status");
                return false;
        }
        pthread_mutex_lock(&c->lock);
        if (m->proc_answer.txn == c->await_txn && !c->answered) {
                c->answered = true;
                c->answer = m->proc_answer.status;
                c->answered_at = time_now_ns();
                /* The transaction's thread is woken at the end of this
                 * batch of events (server_process), once for all the
                 * answers in it, rather than once per answer: it collects
                 * them in order and would sleep again on the next. */
                c->wake_answer = true;
        }
        pthread_mutex_unlock(&c->lock);
        return true;
}
