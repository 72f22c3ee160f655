/* SPDX-License-Identifier: MIT */
/*
 * The requests of each feature that are not registrations: queries, sim
 * control, history, memory condition subscriptions and thresholds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/client-internal.h"

/* ---- queries and sim control ------------------------------------------------------ */

/* dhpd streams at most this many STATUS / INCLUDE_EXISTING replies per
 * client at once (doc/protocol.md, PEER_STREAMS_MAX). */
#define CLIENT_STREAMS_MAX 4

void client_stream_begin(struct remote *r) {
        pthread_mutex_lock(&r->lock);
        while (r->nstreams >= CLIENT_STREAMS_MAX)
                pthread_cond_wait(&r->stream_cond, &r->lock);
        r->nstreams++;
        pthread_mutex_unlock(&r->lock);
}

void client_stream_end(struct remote *r) {
        pthread_mutex_lock(&r->lock);
        r->nstreams--;
        pthread_cond_signal(&r->stream_cond);
        pthread_mutex_unlock(&r->lock);
}

int remote_status(struct remote *r, struct remote_status *st) {
        struct request req = { .st = st };
        struct ipc_msg m = { .type = IPC_STATUS };
        int ret;

        memset(st, 0, sizeof(*st));
        client_stream_begin(r);
        ret = client_call(r, &m, &req);
        client_stream_end(r);
        if (ret == 0 && req.st_err)
                ret = req.st_err;
        if (ret == 0) {
                pthread_mutex_lock(&r->lock);
                st->has_blocks = r->welcome_minor >= 3;
                st->ncpus = r->nadmitted;
                st->cpu_state = malloc(r->nadmitted ? r->nadmitted : 1);
                if (st->cpu_state)
                        memcpy(st->cpu_state, r->admitted, r->nadmitted);
                else
                        ret = -ENOMEM;
                pthread_mutex_unlock(&r->lock);
        }
        return ret;
}

void remote_status_deinit(struct remote_status *st) {
        free(st->cpu_state);
        free(st->mem);
        free(st->mem_names);
        free(st->runs);
        free(st->clients);
        memset(st, 0, sizeof(*st));
}

int remote_proc_count(struct remote *r, uint32_t *ret) {
        int ret2 = client_refresh_states(r);

        if (ret2 == 0)
                *ret = r->nadmitted;
        return ret2;
}

int remote_proc_get_state(struct remote *r, uint32_t index, dhp_proc_state *ret) {
        int ret2 = client_refresh_states(r);

        if (ret2 < 0)
                return ret2;
        pthread_mutex_lock(&r->lock);
        if (index >= r->nadmitted)
                ret2 = -ERANGE;
        else
                *ret = (dhp_proc_state)r->admitted[index];
        pthread_mutex_unlock(&r->lock);
        return ret2;
}

int remote_cpu_online(struct remote *r, uint32_t index, int *ret_status) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_CPU_ONLINE, .cpu_online = { index } };
        int ret;

        if (r->welcome_minor < 3)
                return -EOPNOTSUPP; /* a 1.2 dhpd would cut the connection */
        ret = client_call(r, &m, &req);
        if (ret == 1 && ret_status)
                *ret_status = -(int)req.v32;
        return ret;
}

int remote_sim_cpu_add(struct remote *r, uint32_t *ret_index) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_SIM_CPU_ADD };
        int ret = client_call(r, &m, &req);

        if (ret >= 0 && ret_index)
                *ret_index = req.v32;
        return ret;
}

int remote_sim_memory_add(struct remote *r, uint64_t size, uint64_t *ret_base) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_SIM_MEMORY_ADD, .sim_memory_add = { size } };
        int ret = client_call(r, &m, &req);

        if (ret >= 0 && ret_base)
                *ret_base = req.v64;
        return ret;
}

/* REPLY 1 carries the reason as a positive errno in v32. */
static int removal_reply(int ret, const struct request *req, int *ret_status) {
        if (ret == 1 && ret_status)
                *ret_status = req->v32 > 0 && req->v32 < 4096 ? -(int)req->v32 : -ECANCELED;
        else if (ret == 0 && ret_status)
                *ret_status = 0;
        return ret;
}

int remote_cpu_remove(struct remote *r, uint32_t index, int *ret_status) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_CPU_REMOVE, .cpu_remove = { index } };

        return removal_reply(client_call(r, &m, &req), &req, ret_status);
}

int remote_memory_remove(struct remote *r, const char *name, int *ret_status) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_MEMORY_REMOVE };

        if (strlen(name) >= sizeof(m.memory_remove.name))
                return -EINVAL;
        snprintf(m.memory_remove.name, sizeof(m.memory_remove.name), "%s", name);
        return removal_reply(client_call(r, &m, &req), &req, ret_status);
}

int remote_sim_cpu_surprise_remove(struct remote *r, uint32_t index) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_SIM_CPU_SURPRISE, .cpu_remove = { index } };

        return client_call(r, &m, &req);
}

int remote_sim_run(struct remote *r, const char *filename, const char *text, char **ret_error) {
        struct request req = { 0 };
        struct ipc_msg *m;
        size_t len = strlen(text);
        int ret;

        if (len > IPC_MSG_MAX - 1024)
                return -EMSGSIZE;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->type = IPC_SIM_RUN;
        snprintf(m->sim_run.filename, sizeof(m->sim_run.filename), "%s", filename ? filename : "scenario");
        m->sim_run.text = text;
        m->sim_run.text_len = (uint32_t)len;
        ret = client_call(r, m, &req);
        free(m);
        if (ret < 0 && ret_error && req.text[0])
                *ret_error = strdup(req.text);
        return ret;
}

int remote_history(struct remote *r, uint32_t count, struct remote_history *ret) {
        struct request req = { .hist = ret };
        struct ipc_msg m = { .type = IPC_HISTORY, .history = { count } };
        int ret2;

        memset(ret, 0, sizeof(*ret));
        if (r->welcome_minor < 1) {
                pthread_mutex_lock(&r->lock);
                snprintf(r->last_text, sizeof(r->last_text),
                         "this dhpd speaks protocol %u.%u and keeps no history (1.1 does): upgrade dhpd",
                         IPC_VERSION_MAJOR, r->welcome_minor);
                pthread_mutex_unlock(&r->lock);
                return -EOPNOTSUPP;
        }
        ret2 = client_call(r, &m, &req);
        if (ret2 >= 0 && req.st_err)
                ret2 = req.st_err;
        if (ret2 < 0)
                remote_history_deinit(ret);
        return ret2 < 0 ? ret2 : 0;
}

void remote_history_deinit(struct remote_history *h) {
        free(h->records);
        memset(h, 0, sizeof(*h));
}

int remote_ping(struct remote *r) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_PING };

        return client_call(r, &m, &req);
}

/* ---- memory condition events ------------------------------------------------------- */

int remote_memcond_subscribe(struct remote *r, const char *name, int kind) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_MEMCOND_SUBSCRIBE };
        struct entry *e;
        int ret;

        if (!name || strlen(name) >= IPC_MEMCOND_NAME_MAX)
                return -EINVAL;
        pthread_mutex_lock(&r->lock);
        for (e = r->entries; e; e = e->next)
                if (e->kind == ENTRY_MEMCOND && kind >= 0 && e->mkind == kind) {
                        e->mrefs++;
                        pthread_mutex_unlock(&r->lock);
                        return 0;
                }
        pthread_mutex_unlock(&r->lock);
        e = client_entry_new(r, ENTRY_MEMCOND, name, 0);
        if (!e)
                return -ENOMEM;
        pthread_mutex_lock(&r->lock);
        e->mkind = kind;
        e->mrefs = 1;
        pthread_mutex_unlock(&r->lock);
        m.memcond_subscribe.sub = e->id;
        snprintf(m.memcond_subscribe.name, sizeof(m.memcond_subscribe.name), "%s", name);
        ret = client_call(r, &m, &req);
        if (ret == 0 && kind < 0) {
                /* dhpd knows a name this library does not: of no use. */
                struct ipc_msg u = { .type = IPC_MEMCOND_UNSUBSCRIBE, .unreg = { .reg = e->id } };
                pthread_mutex_lock(&r->lock);
                client_send(r, &u);
                pthread_mutex_unlock(&r->lock);
                ret = -ENOENT;
        }
        if (ret < 0)
                client_entry_remove(r, e);
        return ret;
}

void remote_memcond_unsubscribe(struct remote *r, int kind) {
        struct ipc_msg m = { .type = IPC_MEMCOND_UNSUBSCRIBE };
        struct entry *e;

        pthread_mutex_lock(&r->lock);
        for (e = r->entries; e && !(e->kind == ENTRY_MEMCOND && e->mkind == kind); e = e->next)
                ;
        if (e && --e->mrefs > 0)
                e = NULL;
        if (e && !r->error) {
                m.unreg.reg = e->id;
                client_send(r, &m);
        }
        pthread_mutex_unlock(&r->lock);
        if (e)
                client_entry_remove(r, e);
}

int remote_memcond_configure(struct remote *r, const char *spec, char **ret_error) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_MEMCOND_CONFIGURE };
        int ret;

        if (strlen(spec) >= sizeof(m.memcond_configure.spec))
                return -EINVAL;
        snprintf(m.memcond_configure.spec, sizeof(m.memcond_configure.spec), "%s", spec);
        ret = client_call(r, &m, &req);
        if (ret < 0 && ret_error && req.text[0]) {
                *ret_error = strdup(req.text);
                if (!*ret_error)
                        return -ENOMEM;
        }
        return ret;
}

int remote_memcond_get_threshold(struct remote *r, uint32_t which, uint64_t *ret) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_MEMCOND_GET_THRESHOLD, .memcond_get_threshold = { which } };
        int ret2 = client_call(r, &m, &req);

        if (ret2 == 0)
                *ret = req.v64;
        return ret2;
}

