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

/* A record in the layout the client reads: RECORD_RT, for a 1.1 or 1.2
 * client RECORD_EXT without the wall-clock time, for a 1.0 client RECORD
 * without the extras (and without a detail too long for it). */
static void record_msg(const struct peer *c, const dhp_record *r, struct ipc_msg *m) {
        *m = (struct ipc_msg){ .type = c->minor >= 3 ? IPC_RECORD_RT : c->minor >= 1 ? IPC_RECORD_EXT : IPC_RECORD };
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

struct replay {
        struct peer *c;
        uint64_t id;
        int error;
        /* For a client older than 1.3: each kept RECORD_RT goes out as a
         * RECORD_EXT, decoded and encoded again here. */
        struct ipc_msg *m;
        uint8_t *buf;
};

static void replay_one(void *userdata, const void *msg, size_t len) {
        struct replay *p = userdata;
        struct outmsg *o;

        if (p->error)
                return;
        if (p->m && ipcmsg_decode(msg, len, p->m) == 0 && p->m->type == IPC_RECORD_RT) {
                int n;

                p->m->type = IPC_RECORD_EXT;
                n = ipcmsg_encode(p->m, p->buf, IPC_MSG_MAX);
                if (n <= 0) {
                        p->error = n < 0 ? n : -EINVAL;
                        return;
                }
                msg = p->buf;
                len = (size_t)n;
        }
        o = peer_queue_msg_locked(p->c, msg, len);
        if (!o)
                p->error = -ENOMEM;
        else
                ipcmsg_set_id(o->data, o->len, p->id);
}

/* The kept records, newest `count` of them, queued in one go as the
 * answer's RECORD_RTs (RECORD_EXTs before 1.3): at most 2 x max_queue, so
 * that the queue stays under the cap that cuts a client off; refused while
 * the client has not read what is queued for it. */
static int history_send(struct server *s, struct peer *c, uint64_t id, uint32_t count, uint32_t *ret_sent) {
        _cleanup_free_ struct ipc_msg *m = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        struct replay p = { .c = c, .id = id };
        uint32_t budget = 2 * s->cfg.max_queue;

        *ret_sent = 0;
        if (count == 0 || count > budget)
                count = budget;
        if (c->minor < 3) {
                m = malloc(sizeof(*m));
                buf = malloc(IPC_MSG_MAX);
                if (!m || !buf)
                        return -ENOMEM;
                p.m = m;
                p.buf = buf;
        }
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

/* ---- replies produced as the client reads ------------------------------------ */

/* The runs of blocks of one device (consecutive, same state and zone)
 * into st->runs; a device's blocks are mostly one run. */
static int status_runs_of(struct stream *st, uint64_t d, const struct engine_block_info *b, uint64_t n) {
        size_t nruns = 0;

        for (uint64_t i = 0, k; i < n; i = k) {
                struct stream_run *v;

                for (k = i + 1; k < n && k - i < UINT32_MAX && b[k].index == b[k - 1].index + 1 &&
                                b[k].online == b[i].online && b[k].zone == b[i].zone;
                     k++)
                        ;
                v = realloc(st->runs, (nruns + 1) * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                st->runs = v;
                st->runs[nruns++] = (struct stream_run){
                        .device = d, .first_block = b[i].index, .count = (uint32_t)(k - i),
                        .state = b[i].online ? DHP_MEMORY_BLOCK_ONLINE : DHP_MEMORY_BLOCK_OFFLINE,
                        .zone = (uint32_t)b[i].zone };
        }
        st->nruns = nruns;
        st->runpos = 0;
        return 0;
}

/* Device d and (1.3) its blocks, read under one lock so that the two
 * agree; -ENOENT past the last device. */
static int status_read_mem(struct server *s, struct peer *c, struct stream *st, uint64_t d,
                           struct engine_mem_info *mi) {
        _cleanup_free_ struct engine_block_info *blocks = NULL;
        int r;

        st->nruns = st->runpos = 0;
        r = engine_mem_device_info(s->e, d, mi);
        if (r < 0 || c->minor < 3)
                return r;
        /* Until the array holds them all (a device may grow in between). */
        for (uint64_t cap = 0; !blocks || mi->nblocks > cap;) {
                cap = mi->nblocks;
                free(blocks);
                blocks = calloc(cap ? cap : 1, sizeof(*blocks));
                if (!blocks)
                        return -ENOMEM;
                r = engine_mem_device_blocks(s->e, d, mi, blocks, cap);
                if (r < 0)
                        return r;
        }
        return mi->removed ? 0 : status_runs_of(st, d, blocks, mi->nblocks);
}

/* STATUS's memory phase: each device's STATUS_MEM, then its runs.  False
 * past the last device. */
static bool status_step_mem(struct server *s, struct peer *c, struct stream *st, struct ipc_msg *m) {
        struct engine_mem_info mi;
        uint64_t d = st->cursor;

        if (st->name_pending) {
                const struct engine_mem_info *ni = &st->name_info;

                st->name_pending = false;
                *m = (struct ipc_msg){ .type = IPC_STATUS_MEM_NAME, .id = st->id };
                m->status_mem_name.id = st->name_device;
                m->status_mem_name.node = ni->node < 0 ? UINT32_MAX : (uint32_t)ni->node;
                m->status_mem_name.flags = ni->virtio ? IPC_STATUS_MEM_VIRTIO : 0;
                snprintf(m->status_mem_name.name, sizeof(m->status_mem_name.name), "%s", ni->name);
                return true;
        }
        if (st->runpos < st->nruns) {
                const struct stream_run *run = &st->runs[st->runpos++];

                *m = (struct ipc_msg){ .type = IPC_STATUS_MEM_BLOCKS, .id = st->id };
                m->status_mem_blocks = (typeof(m->status_mem_blocks)){
                        .device = run->device, .first_block = run->first_block, .count = run->count,
                        .state = run->state, .zone = run->zone };
                return true;
        }
        for (;; d++) {
                if (status_read_mem(s, c, st, d, &mi) < 0)
                        return false; /* past the last device (or no memory to read it: end the phase) */
                if (!mi.removed)
                        break;
        }
        *m = (struct ipc_msg){ .type = IPC_STATUS_MEM, .id = st->id };
        m->status_mem = (typeof(m->status_mem)){ .id = d, .base = mi.base, .size = mi.size,
                                                 .block_size = engine_mem_block_size(s->e),
                                                 .nblocks = (uint32_t)mi.nblocks,
                                                 .online_blocks = (uint32_t)mi.online_blocks };
        st->cursor = d + 1;
        /* Its name, node and kind next (1.3), then its runs. */
        st->name_pending = c->minor >= 3;
        st->name_info = mi;
        st->name_device = d;
        return true;
}

/* STATUS: the processors (1024 a message), then each memory device, then
 * each client, by a cursor that survives the peers and devices that come
 * and go in between.  False at the end. */
static bool status_step(struct server *s, struct peer *c, struct stream *st, struct ipc_msg *m) {
        uint32_t n = engine_cpu_count(s->e);

        if (st->phase == 0) {
                if (st->cursor >= n) {
                        st->phase = 1;
                        st->cursor = 0;
                        return status_step(s, c, st, m);
                }
                *m = (struct ipc_msg){ .type = IPC_STATUS_PROC, .id = st->id };
                m->status_proc.first = (uint32_t)st->cursor;
                m->status_proc.count = n - m->status_proc.first < IPC_STATUS_PROC_MAX ? n - m->status_proc.first
                                                                                      : IPC_STATUS_PROC_MAX;
                for (uint32_t i = 0; i < m->status_proc.count; i++) {
                        dhp_proc_state ps = DHP_PROC_ABSENT;
                        engine_cpu_get_state(s->e, m->status_proc.first + i, &ps);
                        m->status_proc.state[i] = (uint8_t)ps;
                }
                st->cursor += m->status_proc.count;
                return true;
        }
        if (st->phase == 1) {
                if (status_step_mem(s, c, st, m))
                        return true;
                st->phase = 2;
                st->cursor = 0;
        }
        /* The list is in accept order, ids increasing. */
        list_for_each(p, &s->clients) {
                struct peer *o = list_entry(p, struct peer, node);
                if (o->id < st->cursor || !o->hello_done)
                        continue;
                *m = (struct ipc_msg){ .type = IPC_STATUS_CLIENT, .id = st->id };
                pthread_mutex_lock(&o->lock);
                m->status_client.pid = (uint32_t)o->pid;
                m->status_client.uid = o->uid;
                m->status_client.flags = (o->privileged ? IPC_CLIENT_PRIVILEGED : 0) |
                                         (o->mon ? IPC_CLIENT_MONITOR : 0) | (o == c ? IPC_CLIENT_SELF : 0);
                m->status_client.sync_regs = o->nsync;
                m->status_client.arrival_regs = o->narr;
                m->status_client.late = o->late;
                pthread_mutex_unlock(&o->lock);
                snprintf(m->status_client.name, sizeof(m->status_client.name), "%s", o->name);
                st->cursor = o->id + 1;
                return true;
        }
        return false;
}

/* INCLUDE_EXISTING: the next device of the snapshot. */
static bool existing_step(struct stream *st, struct ipc_msg *m) {
        const struct stream_event *e;

        if (st->pos >= st->nev)
                return false;
        e = &st->ev[st->pos++];
        *m = (struct ipc_msg){ .type = IPC_ARRIVAL };
        m->arrival.reg = st->reg;
        m->arrival.cls = e->cls;
        m->arrival.event = e->event;
        m->arrival.flags = e->flags;
        m->arrival.index = e->index;
        m->arrival.base = e->base;
        m->arrival.size = e->size;
        snprintf(m->arrival.name, sizeof(m->arrival.name), "%s", e->name);
        return true;
}

static void stream_pop(struct server *s, struct peer *c) {
        free(c->streams[0].ev);
        free(c->streams[0].runs);
        memmove(&c->streams[0], &c->streams[1], (c->nstreams - 1) * sizeof(c->streams[0]));
        c->nstreams--;
        s->nstreams--;
}

void status_stream_continue(struct server *s, struct peer *c) {
        unsigned low = s->cfg.max_queue / 2 ? s->cfg.max_queue / 2 : 1;
        _cleanup_free_ struct ipc_msg *m = NULL;

        /* A bounded batch per turn of the loop: the other clients are
         * served in between, and EPOLLOUT brings the next turn. */
        for (unsigned budget = 64; c->nstreams && budget; budget--) {
                struct stream *st = &c->streams[0];
                bool more, gone;
                unsigned queued;

                pthread_mutex_lock(&c->lock);
                gone = c->gone;
                queued = c->out_n;
                pthread_mutex_unlock(&c->lock);
                if (gone || queued >= low)
                        return;
                if (!m && !(m = malloc(sizeof(*m))))
                        return;
                more = st->kind == STREAM_STATUS ? status_step(s, c, st, m) : existing_step(st, m);
                if (more) {
                        peer_send(c, m, false);
                        continue;
                }
                peer_reply(c, st->id, 0, 0, 0, NULL);
                stream_pop(s, c);
        }
        if (!c->nstreams)
                peer_set_streaming(c, false);
}

int status_stream_add(struct server *s, struct peer *c, struct stream *st) {
        if (c->nstreams >= PEER_STREAMS_MAX)
                return -EBUSY;
        c->streams[c->nstreams++] = *st;
        s->nstreams++;
        peer_set_streaming(c, true);
        status_stream_continue(s, c);
        return 0;
}

void status_stream_drop(struct server *s, struct peer *c) {
        while (c->nstreams)
                stream_pop(s, c);
}

bool status_handle_status(struct server *s, struct peer *c, const struct ipc_msg *m) {
        struct stream st = { .kind = STREAM_STATUS, .id = m->id };

        if (status_stream_add(s, c, &st) < 0)
                peer_reply(c, m->id, -EBUSY, 0, 0, "too many STATUS or INCLUDE_EXISTING replies in progress");
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
        return engine_monitor_add(s->e, history_record, s->history, &s->history_mon);
}

void status_history_stop(struct server *s) {
        engine_monitor_remove(s->history_mon);
        s->history_mon = NULL;
        history_free(s->history);
        s->history = NULL;
}
