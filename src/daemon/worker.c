/* SPDX-License-Identifier: MIT */
/*
 * The worker thread: the requests that must run serialised with
 * transactions (synchronous (de)registration, sim control, whose
 * transactions run here) or may block (releasing a dropped peer's proxy
 * and devices, which wait for a phase or a sequence in flight).  Jobs run
 * in the order they were queued.  The thread starts with the first job, so
 * a dhpd no client has asked anything of keeps no stack for it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon/server-internal.h"

struct job *job_new(struct peer *c, enum job_kind kind, uint64_t msgid) {
        struct job *j = calloc(1, sizeof(*j));

        if (j) {
                j->kind = kind;
                j->c = c;
                j->msgid = msgid;
        }
        return j;
}

/* Every request's job is counted before the request is accepted, so that
 * no content of a message makes the queue grow past max_jobs per client
 * (and the connection caps bound the clients). */
int job_reserve(struct server *s, struct peer *c) {
        int r = 0;

        pthread_mutex_lock(&s->jlock);
        if (c->njobs >= s->cfg.max_jobs) {
                s->jobs_refused++;
                r = -EBUSY;
        } else {
                c->njobs++;
                s->njobs++;
        }
        pthread_mutex_unlock(&s->jlock);
        return r;
}

void job_unreserve(struct server *s, struct peer *c) {
        pthread_mutex_lock(&s->jlock);
        c->njobs--;
        s->njobs--;
        pthread_mutex_unlock(&s->jlock);
}

void job_refuse(struct server *s, struct peer *c, uint64_t msgid) {
        char text[128];

        snprintf(text, sizeof(text), "%u requests of this client are waiting for dhpd already; wait for their replies",
                 s->cfg.max_jobs);
        peer_reply(c, msgid, -EBUSY, 0, 0, text);
}

static void *worker(void *userdata);
static void job_finish(struct server *s, struct job *j);

void job_queue(struct server *s, struct job *j) {
        bool inline_run = false;

        peer_ref(j->c);
        pthread_mutex_lock(&s->jlock);
        if (!s->worker_running && !s->jstop)
                s->worker_running = pthread_create(&s->worker, NULL, worker, s) == 0;
        if (s->worker_running) {
                j->next = NULL;
                *s->jtail = j;
                s->jtail = &j->next;
                pthread_cond_signal(&s->jcond);
        } else {
                /* No thread (a resource limit, or stopping): the job runs
                 * here rather than never; nothing else runs jobs, so the
                 * order holds. */
                inline_run = true;
        }
        pthread_mutex_unlock(&s->jlock);
        if (inline_run)
                job_finish(s, j);
}

static void job_run(struct server *s, struct job *j) {
        switch (j->kind) {
        case JOB_PROC_REGISTER:
                syncproxy_run_register(s, j);
                break;
        case JOB_PROC_DEREGISTER:
                syncproxy_run_deregister(s, j);
                break;
        case JOB_DROP:
                syncproxy_release(j->c);
                devproxy_release(j);
                break;
        case JOB_DEVICE_FREE:
        case JOB_DRIVER_FREE:
                devproxy_release(j);
                break;
        case JOB_SIM_CPU:
        case JOB_SIM_MEM:
        case JOB_SIM_RUN:
        case JOB_SIM_SURPRISE:
                simctl_run(s, j);
                break;
        case JOB_CPU_REMOVE:
        case JOB_MEM_REMOVE:
                removectl_run(s, j);
                break;
        case JOB_CPU_ONLINE:
                simctl_cpu_online(s, j);
                break;
        }
}

/* Run a job and let go of it and of its reservation. */
static void job_finish(struct server *s, struct job *j) {
        job_run(s, j);
        if (j->kind != JOB_DROP)
                job_unreserve(s, j->c);
        peer_unref(j->c);
        free(j->text);
        free(j);
}

static void *worker(void *userdata) {
        struct server *s = userdata;

        for (;;) {
                struct job *j;

                pthread_mutex_lock(&s->jlock);
                while (!s->jhead && !s->jstop)
                        pthread_cond_wait(&s->jcond, &s->jlock);
                j = s->jhead;
                if (j) {
                        s->jhead = j->next;
                        if (!s->jhead)
                                s->jtail = &s->jhead;
                }
                pthread_mutex_unlock(&s->jlock);
                if (!j)
                        break; /* stopping, and nothing left */
                job_finish(s, j);
        }
        return NULL;
}

/* The thread itself starts with the first job (job_queue). */
int worker_start(struct server *s) {
        pthread_mutex_lock(&s->jlock);
        s->jstop = false;
        pthread_mutex_unlock(&s->jlock);
        return 0;
}

void worker_stop(struct server *s) {
        bool running;

        pthread_mutex_lock(&s->jlock);
        s->jstop = true;
        running = s->worker_running;
        pthread_cond_signal(&s->jcond);
        pthread_mutex_unlock(&s->jlock);
        if (!running)
                return;
        pthread_join(s->worker, NULL);
        pthread_mutex_lock(&s->jlock);
        s->worker_running = false;
        pthread_mutex_unlock(&s->jlock);
}
