/* SPDX-License-Identifier: MIT */
/*
 * What dhpd tells about itself: STATUS (processors, memory devices,
 * clients), the notification stream (MONITOR_START: every record as it is
 * made) and HISTORY (the last records again, from a ring every record goes
 * into, encoded once).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/history.h"
#include "daemon/server-internal.h"
#include "proto/record-wire.h"
#include "util/macro.h"

/* Records kept for HISTORY: a few transactions' worth. */
#define HISTORY_RECORDS 512

/* A record in the layout the client reads: RECORD_EXT, or for a 1.0
 * client RECORD without the extras (and without a detail too long for it). */
static void record_msg(const struct peer *c, const dhp_record *r, struct ipc_msg *m) {
        *m = (struct ipc_msg){ .type = c->minor >= 1 ? IPC_RECORD_EXT : IPC_RECORD };
        record_wire_export(r, &m->record);
        if (m->type == IPC_RECORD && strlen(m->record.detail) >= IPC_DETAIL_MAX)
                m->record.detail[0] = 0;
}

static void monitor_cb(void *userdata, const dhp_record *r) {
        struct peer *c = userdata;
        _cleanup_free_ struct ipc_msg *m = malloc(sizeof(*m));

        if (!m)
                return;
        record_msg(c, r, m);
        peer_send(c, m, true);
}

/* Every record of the stream, encoded once, into the ring. */
static void history_cb(void *userdata, const dhp_record *r) {
        struct server *s = userdata;

        history_add_record(s->history, r);
}

struct replay {
        struct peer *c;
        uint64_t id;
        int error;
};

static void replay_one(void *userdata, const void *msg, size_t len) {
        struct replay *p = userdata;
        struct outmsg *o;

        if (p->error)
                return;
        o = peer_queue_msg_locked(p->c, msg, len);
        if (!o)
                p->error = -ENOMEM;
        else
                ipcmsg_set_id(o->data, o->len, p->id);
}

/* The kept records, newest `count` of them, queued in one go as the
 * answer's RECORD_EXTs: at most 2 x max_queue, so that the queue stays
 * under the cap that cuts a client off; refused while the client has not
 * read what is queued for it. */
static int history_send(struct server *s, struct peer *c, uint64_t id, uint32_t count, uint32_t *ret_sent) {
        struct replay p = { .c = c, .id = id };
        uint32_t budget = 2 * s->cfg.max_queue;

        *ret_sent = 0;
        if (count == 0 || count > budget)
                count = budget;
        pthread_mutex_lock(&c->lock);
        if (c->gone)
                p.error = -ECONNRESET;
        else if (c->out_n > s->cfg.max_queue)
                p.error = -EBUSY;
        else
                *ret_sent = history_foreach(s->history, count, replay_one, &p);
        if (!c->gone)
                peer_flush_locked(c);
        pthread_mutex_unlock(&c->lock);
        return p.error;
}

void status_send_procs(struct engine *e, struct peer *c, uint64_t id) {
        uint32_t n = engine_cpu_count(e);
        struct ipc_msg m;

        for (uint32_t first = 0; first < n; first += IPC_STATUS_PROC_MAX) {
                m = (struct ipc_msg){ .type = IPC_STATUS_PROC, .id = id };
                m.status_proc.first = first;
                m.status_proc.count = n - first < IPC_STATUS_PROC_MAX ? n - first : IPC_STATUS_PROC_MAX;
                for (uint32_t i = 0; i < m.status_proc.count; i++) {
                        dhp_proc_state st = DHP_PROC_ABSENT;
                        engine_cpu_get_state(e, first + i, &st);
                        m.status_proc.state[i] = (uint8_t)st;
                }
                peer_send(c, &m, false);
        }
}

static int status_send(struct server *s, struct peer *c, uint64_t id) {
        struct ipc_msg m;

        status_send_procs(s->e, c, id);
        for (uint64_t d = 0;; d++) {
                struct engine_mem_info mi;
                if (engine_mem_device_info(s->e, d, &mi) < 0)
                        break;
                if (mi.removed)
                        continue;
                m = (struct ipc_msg){ .type = IPC_STATUS_MEM, .id = id };
                m.status_mem = (typeof(m.status_mem)){ .id = d, .base = mi.base, .size = mi.size,
                                                       .block_size = engine_mem_block_size(s->e),
                                                       .nblocks = (uint32_t)mi.nblocks,
                                                       .online_blocks = (uint32_t)mi.online_blocks };
                peer_send(c, &m, false);
        }
        list_for_each(p, &s->clients) {
                struct peer *o = list_entry(p, struct peer, node);
                if (!o->hello_done)
                        continue;
                m = (struct ipc_msg){ .type = IPC_STATUS_CLIENT, .id = id };
                pthread_mutex_lock(&o->lock);
                m.status_client.pid = (uint32_t)o->pid;
                m.status_client.uid = o->uid;
                m.status_client.flags = (o->privileged ? IPC_CLIENT_PRIVILEGED : 0) |
                                        (o->mon ? IPC_CLIENT_MONITOR : 0) | (o == c ? IPC_CLIENT_SELF : 0);
                m.status_client.sync_regs = o->nsync;
                m.status_client.arrival_regs = o->narr;
                m.status_client.late = o->late;
                pthread_mutex_unlock(&o->lock);
                snprintf(m.status_client.name, sizeof(m.status_client.name), "%s", o->name);
                peer_send(c, &m, false);
        }
        return 0;
}
bool status_handle_status(struct server *s, struct peer *c, const struct ipc_msg *m) {
        status_send(s, c, m->id);
        peer_reply(c, m->id, 0, 0, 0, NULL);
        return true;
}

bool status_handle_monitor_start(struct server *s, struct peer *c, const struct ipc_msg *m) {
        int r = c->mon ? -EALREADY : engine_monitor_add(s->e, monitor_cb, c, &c->mon);

        peer_reply(c, m->id, r, 0, 0, NULL);
        return true;
}

bool status_handle_monitor_stop(struct server *s, struct peer *c, const struct ipc_msg *m) {
        engine_monitor_remove(c->mon);
        c->mon = NULL;
        peer_reply(c, m->id, 0, 0, 0, NULL);
        return true;
}

bool status_handle_history(struct server *s, struct peer *c, const struct ipc_msg *m) {
        uint32_t sent = 0;
        int r = history_send(s, c, m->id, m->history.count, &sent);

        peer_reply(c, m->id, r, sent, 0,
                   r == -EBUSY ? "read what dhpd has sent first: too many messages are waiting" : NULL);
        return true;
}

int status_history_start(struct server *s) {
        int r;

        r = history_new(&s->history, HISTORY_RECORDS);
        if (r < 0)
                return r;
        return engine_monitor_add(s->e, history_cb, s, &s->history_mon);
}

void status_history_stop(struct server *s) {
        engine_monitor_remove(s->history_mon);
        s->history_mon = NULL;
        history_free(s->history);
        s->history = NULL;
}
