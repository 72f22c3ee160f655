/* SPDX-License-Identifier: MIT */
/*
 * The IPC message codec.  A writer and a reader over a byte buffer, each
 * with a sticky error: a field that does not fit (writing) or is not there
 * (reading) sets it, and every later field is a no-op, so each message's
 * code is a flat list of fields checked once at the end.
 */
#include <errno.h>
#include <string.h>

#include "util/ipcmsg.h"

struct writer {
        uint8_t *buf;
        size_t cap, len;
        int err;
};

struct reader {
        const uint8_t *buf;
        size_t len, pos;
        int err;
};

static void w_bytes(struct writer *w, const void *p, size_t n) {
        if (w->err)
                return;
        if (n > w->cap - w->len) {
                w->err = -EMSGSIZE;
                return;
        }
        if (n)
                memcpy(w->buf + w->len, p, n);
        w->len += n;
}

static void w_uint(struct writer *w, uint64_t v, unsigned size) {
        uint8_t b[8];

        for (unsigned i = 0; i < size; i++)
                b[i] = (uint8_t)(v >> (8 * i));
        w_bytes(w, b, size);
}

#define w_u8(w, v) w_uint((w), (v), 1)
#define w_u16(w, v) w_uint((w), (v), 2)
#define w_u32(w, v) w_uint((w), (uint32_t)(v), 4)
#define w_u64(w, v) w_uint((w), (v), 8)

/* A string field of a struct: at most max - 1 bytes (it came from a field of
 * that size, NUL included). */
static void w_str(struct writer *w, const char *s, size_t max) {
        size_t n = strnlen(s, max);

        if (n >= max) {
                if (!w->err)
                        w->err = -EINVAL;
                return;
        }
        w_u16(w, n);
        w_bytes(w, s, n);
}

static const uint8_t *r_take(struct reader *r, size_t n) {
        const uint8_t *p;

        if (r->err)
                return NULL;
        if (n > r->len - r->pos) {
                r->err = -EBADMSG;
                return NULL;
        }
        p = r->buf + r->pos;
        r->pos += n;
        return p;
}

static uint64_t r_uint(struct reader *r, unsigned size) {
        const uint8_t *p = r_take(r, size);
        uint64_t v = 0;

        if (!p)
                return 0;
        for (unsigned i = 0; i < size; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

#define r_u8(r) ((uint8_t)r_uint((r), 1))
#define r_u16(r) ((uint16_t)r_uint((r), 2))
#define r_u32(r) ((uint32_t)r_uint((r), 4))
#define r_i32(r) ((int32_t)(uint32_t)r_uint((r), 4))
#define r_u64(r) (r_uint((r), 8))

/* Into a field of `size` bytes: at most size - 1, no NUL inside. */
static void r_str(struct reader *r, char *dst, size_t size) {
        uint16_t n = r_u16(r);
        const uint8_t *p;

        dst[0] = 0;
        if (r->err)
                return;
        if (n >= size) {
                r->err = -EBADMSG;
                return;
        }
        p = r_take(r, n);
        if (!p)
                return;
        if (memchr(p, 0, n)) {
                r->err = -EBADMSG;
                return;
        }
        memcpy(dst, p, n);
        dst[n] = 0;
}

bool ipcmsg_from_client(uint16_t type) {
        switch (type) {
        case IPC_HELLO:
        case IPC_PING:
        case IPC_PROC_REGISTER:
        case IPC_PROC_DEREGISTER:
        case IPC_PROC_ANSWER:
        case IPC_ARRIVAL_REGISTER:
        case IPC_ARRIVAL_UNREGISTER:
        case IPC_MONITOR_START:
        case IPC_MONITOR_STOP:
        case IPC_HISTORY:
        case IPC_STATUS:
        case IPC_SIM_CPU_ADD:
        case IPC_SIM_MEMORY_ADD:
        case IPC_SIM_RUN:
        case IPC_MEMCOND_SUBSCRIBE:
        case IPC_MEMCOND_UNSUBSCRIBE:
        case IPC_MEMCOND_CONFIGURE:
        case IPC_MEMCOND_GET_THRESHOLD:
        case IPC_DEVICE_NEW:
        case IPC_DEVICE_FREE:
        case IPC_DEVICE_SET:
        case IPC_DEVICE_QUERY:
        case IPC_CLASS_OPTOUT:
        case IPC_DRIVER_ATTACH:
        case IPC_DRIVER_DETACH:
        case IPC_DEVICE_ANSWER:
                return true;
        }
        return false;
}

/* The types of the memory condition and device ranges this version has. */
static bool implemented(uint16_t type) {
        return (type >= IPC_MEMCOND_SUBSCRIBE && type <= IPC_MEMCOND_GET_THRESHOLD) ||
               (type >= IPC_DEVICE_NEW && type <= IPC_DEVICE_ANSWER);
}

bool ipcmsg_reserved(uint16_t type) {
        return !implemented(type) &&
               ((type >= IPC_RESERVED_MEMCOND_FIRST && type <= IPC_RESERVED_MEMCOND_LAST) ||
                (type >= IPC_RESERVED_REBALANCE_FIRST && type <= IPC_RESERVED_REBALANCE_LAST));
}

const char *ipcmsg_type_name(uint16_t type) {
        switch (type) {
        case IPC_HELLO: return "HELLO";
        case IPC_WELCOME: return "WELCOME";
        case IPC_REPLY: return "REPLY";
        case IPC_ERROR: return "ERROR";
        case IPC_PING: return "PING";
        case IPC_PROC_REGISTER: return "PROC_REGISTER";
        case IPC_PROC_DEREGISTER: return "PROC_DEREGISTER";
        case IPC_PROC_CHANGE: return "PROC_CHANGE";
        case IPC_PROC_ANSWER: return "PROC_ANSWER";
        case IPC_ARRIVAL_REGISTER: return "ARRIVAL_REGISTER";
        case IPC_ARRIVAL_UNREGISTER: return "ARRIVAL_UNREGISTER";
        case IPC_ARRIVAL: return "ARRIVAL";
        case IPC_MONITOR_START: return "MONITOR_START";
        case IPC_MONITOR_STOP: return "MONITOR_STOP";
        case IPC_RECORD: return "RECORD";
        case IPC_LOST: return "LOST";
        case IPC_HISTORY: return "HISTORY";
        case IPC_RECORD_EXT: return "RECORD_EXT";
        case IPC_STATUS: return "STATUS";
        case IPC_STATUS_PROC: return "STATUS_PROC";
        case IPC_STATUS_MEM: return "STATUS_MEM";
        case IPC_STATUS_CLIENT: return "STATUS_CLIENT";
        case IPC_SIM_CPU_ADD: return "SIM_CPU_ADD";
        case IPC_SIM_MEMORY_ADD: return "SIM_MEMORY_ADD";
        case IPC_SIM_RUN: return "SIM_RUN";
        case IPC_MEMCOND_SUBSCRIBE: return "MEMCOND_SUBSCRIBE";
        case IPC_MEMCOND_UNSUBSCRIBE: return "MEMCOND_UNSUBSCRIBE";
        case IPC_MEMCOND_STATE: return "MEMCOND_STATE";
        case IPC_MEMCOND_CONFIGURE: return "MEMCOND_CONFIGURE";
        case IPC_MEMCOND_GET_THRESHOLD: return "MEMCOND_GET_THRESHOLD";
        case IPC_DEVICE_NEW: return "DEVICE_NEW";
        case IPC_DEVICE_FREE: return "DEVICE_FREE";
        case IPC_DEVICE_SET: return "DEVICE_SET";
        case IPC_DEVICE_QUERY: return "DEVICE_QUERY";
        case IPC_DEVICE_INFO: return "DEVICE_INFO";
        case IPC_CLASS_OPTOUT: return "CLASS_OPTOUT";
        case IPC_DRIVER_ATTACH: return "DRIVER_ATTACH";
        case IPC_DRIVER_DETACH: return "DRIVER_DETACH";
        case IPC_DEVICE_REQUEST: return "DEVICE_REQUEST";
        case IPC_DEVICE_ANSWER: return "DEVICE_ANSWER";
        }
        return ipcmsg_reserved(type) ? "RESERVED" : "UNKNOWN";
}

/* Memory condition events and rebalance devices (0x40..0x5f).  Returns the
 * writer's error, or -EINVAL for a type that is none of these. */
static int encode_memcond_device(const struct ipc_msg *m, struct writer *w) {
        switch (m->type) {
        case IPC_MEMCOND_SUBSCRIBE:
                w_u32(w, m->memcond_subscribe.sub);
                w_str(w, m->memcond_subscribe.name, sizeof(m->memcond_subscribe.name));
                break;
        case IPC_MEMCOND_UNSUBSCRIBE:
        case IPC_DEVICE_FREE:
        case IPC_DEVICE_QUERY:
        case IPC_DRIVER_DETACH:
                w_u32(w, m->unreg.reg);
                break;
        case IPC_MEMCOND_STATE:
                w_u32(w, m->memcond_state.sub);
                w_u32(w, m->memcond_state.flags);
                w_u64(w, m->memcond_state.available);
                w_u64(w, m->memcond_state.total);
                break;
        case IPC_MEMCOND_CONFIGURE:
                w_str(w, m->memcond_configure.spec, sizeof(m->memcond_configure.spec));
                break;
        case IPC_MEMCOND_GET_THRESHOLD:
                w_u32(w, m->memcond_get_threshold.which);
                break;
        case IPC_DEVICE_NEW:
                w_u32(w, m->device_new.dev);
                w_str(w, m->device_new.name, sizeof(m->device_new.name));
                w_str(w, m->device_new.setup_class, sizeof(m->device_new.setup_class));
                break;
        case IPC_DEVICE_SET:
                w_u32(w, m->device_set.dev);
                w_u32(w, m->device_set.what);
                w_u32(w, m->device_set.value);
                w_str(w, m->device_set.cpulist, sizeof(m->device_set.cpulist));
                break;
        case IPC_DEVICE_INFO:
                w_u32(w, m->device_info.dev);
                w_u32(w, m->device_info.flags);
                w_u64(w, m->device_info.stopped_last);
                w_u64(w, m->device_info.stopped_max);
                w_str(w, m->device_info.affinity, sizeof(m->device_info.affinity));
                break;
        case IPC_CLASS_OPTOUT:
                w_u32(w, m->class_optout.op);
                w_u32(w, m->class_optout.optout);
                w_str(w, m->class_optout.setup_class, sizeof(m->class_optout.setup_class));
                break;
        case IPC_DRIVER_ATTACH:
                w_u32(w, m->driver_attach.dev);
                w_u32(w, m->driver_attach.drv);
                w_u32(w, m->driver_attach.level);
                w_str(w, m->driver_attach.name, sizeof(m->driver_attach.name));
                break;
        case IPC_DEVICE_REQUEST:
                w_u64(w, m->device_request.seq);
                w_u32(w, m->device_request.dev);
                w_u32(w, m->device_request.drv);
                w_u32(w, m->device_request.req);
                w_u32(w, m->device_request.processor);
                w_u32(w, m->device_request.vectors);
                w_str(w, m->device_request.old_affinity, sizeof(m->device_request.old_affinity));
                w_str(w, m->device_request.new_affinity, sizeof(m->device_request.new_affinity));
                break;
        case IPC_DEVICE_ANSWER:
                w_u64(w, m->device_answer.seq);
                w_u32(w, m->device_answer.status);
                w_u64(w, m->device_answer.dur_ns);
                break;
        default:
                return -EINVAL;
        }
        return w->err;
}

/* The reader's side; -EPROTO for a type that is none of these (field
 * errors are left in r->err). */
static int decode_memcond_device(struct reader *r, struct ipc_msg *m) {
        switch (m->type) {
        case IPC_MEMCOND_SUBSCRIBE:
                m->memcond_subscribe.sub = r_u32(r);
                r_str(r, m->memcond_subscribe.name, sizeof(m->memcond_subscribe.name));
                break;
        case IPC_MEMCOND_UNSUBSCRIBE:
        case IPC_DEVICE_FREE:
        case IPC_DEVICE_QUERY:
        case IPC_DRIVER_DETACH:
                m->unreg.reg = r_u32(r);
                break;
        case IPC_MEMCOND_STATE:
                m->memcond_state.sub = r_u32(r);
                m->memcond_state.flags = r_u32(r);
                m->memcond_state.available = r_u64(r);
                m->memcond_state.total = r_u64(r);
                break;
        case IPC_MEMCOND_CONFIGURE:
                r_str(r, m->memcond_configure.spec, sizeof(m->memcond_configure.spec));
                break;
        case IPC_MEMCOND_GET_THRESHOLD:
                m->memcond_get_threshold.which = r_u32(r);
                break;
        case IPC_DEVICE_NEW:
                m->device_new.dev = r_u32(r);
                r_str(r, m->device_new.name, sizeof(m->device_new.name));
                r_str(r, m->device_new.setup_class, sizeof(m->device_new.setup_class));
                break;
        case IPC_DEVICE_SET:
                m->device_set.dev = r_u32(r);
                m->device_set.what = r_u32(r);
                m->device_set.value = r_u32(r);
                r_str(r, m->device_set.cpulist, sizeof(m->device_set.cpulist));
                break;
        case IPC_DEVICE_INFO:
                m->device_info.dev = r_u32(r);
                m->device_info.flags = r_u32(r);
                m->device_info.stopped_last = r_u64(r);
                m->device_info.stopped_max = r_u64(r);
                r_str(r, m->device_info.affinity, sizeof(m->device_info.affinity));
                break;
        case IPC_CLASS_OPTOUT:
                m->class_optout.op = r_u32(r);
                m->class_optout.optout = r_u32(r);
                r_str(r, m->class_optout.setup_class, sizeof(m->class_optout.setup_class));
                break;
        case IPC_DRIVER_ATTACH:
                m->driver_attach.dev = r_u32(r);
                m->driver_attach.drv = r_u32(r);
                m->driver_attach.level = r_u32(r);
                r_str(r, m->driver_attach.name, sizeof(m->driver_attach.name));
                break;
        case IPC_DEVICE_REQUEST:
                m->device_request.seq = r_u64(r);
                m->device_request.dev = r_u32(r);
                m->device_request.drv = r_u32(r);
                m->device_request.req = r_u32(r);
                m->device_request.processor = r_u32(r);
                m->device_request.vectors = r_u32(r);
                r_str(r, m->device_request.old_affinity, sizeof(m->device_request.old_affinity));
                r_str(r, m->device_request.new_affinity, sizeof(m->device_request.new_affinity));
                break;
        case IPC_DEVICE_ANSWER:
                m->device_answer.seq = r_u64(r);
                m->device_answer.status = r_i32(r);
                m->device_answer.dur_ns = r_u64(r);
                break;
        default:
                return -EPROTO;
        }
        return 0;
}

static int encode_payload(const struct ipc_msg *m, struct writer *w) {
        switch (m->type) {
        case IPC_HELLO:
                w_u16(w, m->hello.major);
                w_u16(w, m->hello.minor);
                w_u32(w, m->hello.pid);
                w_str(w, m->hello.name, sizeof(m->hello.name));
                break;
        case IPC_WELCOME:
                w_u16(w, m->welcome.major);
                w_u16(w, m->welcome.minor);
                w_u32(w, m->welcome.flags);
                w_u32(w, m->welcome.max_regs);
                w_u32(w, m->welcome.max_queue);
                w_u32(w, m->welcome.max_msg);
                w_u64(w, m->welcome.client_id);
                break;
        case IPC_REPLY:
                w_u32(w, m->reply.status);
                w_u32(w, m->reply.v32);
                w_u64(w, m->reply.v64);
                w_str(w, m->reply.text, sizeof(m->reply.text));
                break;
        case IPC_ERROR:
                w_u32(w, m->error.status);
                w_str(w, m->error.text, sizeof(m->error.text));
                break;
        case IPC_PING:
        case IPC_MONITOR_START:
        case IPC_MONITOR_STOP:
        case IPC_STATUS:
        case IPC_SIM_CPU_ADD:
                break;
        case IPC_PROC_REGISTER:
                w_u32(w, m->proc_register.reg);
                w_u32(w, m->proc_register.flags);
                w_str(w, m->proc_register.name, sizeof(m->proc_register.name));
                break;
        case IPC_PROC_DEREGISTER:
        case IPC_ARRIVAL_UNREGISTER:
                w_u32(w, m->unreg.reg);
                break;
        case IPC_PROC_CHANGE:
                w_u64(w, m->proc_change.txn);
                w_u32(w, m->proc_change.state);
                w_u32(w, m->proc_change.index);
                w_u32(w, m->proc_change.status);
                break;
        case IPC_PROC_ANSWER:
                w_u64(w, m->proc_answer.txn);
                w_u32(w, m->proc_answer.state);
                w_u32(w, m->proc_answer.status);
                w_u32(w, m->proc_answer.ncalls);
                w_u64(w, m->proc_answer.dur_ns);
                break;
        case IPC_ARRIVAL_REGISTER:
                w_u32(w, m->arrival_register.reg);
                w_u32(w, m->arrival_register.cls);
                w_u32(w, m->arrival_register.flags);
                w_str(w, m->arrival_register.name, sizeof(m->arrival_register.name));
                break;
        case IPC_ARRIVAL:
                w_u32(w, m->arrival.reg);
                w_u32(w, m->arrival.cls);
                w_u32(w, m->arrival.event);
                w_u32(w, m->arrival.flags);
                w_u32(w, m->arrival.index);
                w_u64(w, m->arrival.base);
                w_u64(w, m->arrival.size);
                w_str(w, m->arrival.name, sizeof(m->arrival.name));
                break;
        case IPC_RECORD:
        case IPC_RECORD_EXT: {
                const struct ipc_record *r = &m->record;
                w_u64(w, r->seq);
                w_u64(w, r->t_ns);
                w_u32(w, r->fields);
                w_u32(w, r->processor);
                w_u16(w, r->group);
                w_u8(w, r->number);
                w_u64(w, r->base);
                w_u64(w, r->size);
                w_u64(w, r->block);
                w_u64(w, r->dur_ns);
                w_u32(w, r->status);
                w_str(w, r->method, sizeof(r->method));
                w_str(w, r->event, sizeof(r->event));
                w_str(w, r->cls, sizeof(r->cls));
                w_str(w, r->client, sizeof(r->client));
                w_str(w, r->name, sizeof(r->name));
                if (m->type == IPC_RECORD) {
                        w_str(w, r->detail, IPC_DETAIL_MAX);
                        break;
                }
                w_str(w, r->detail, sizeof(r->detail));
                w_str(w, r->detail_text, sizeof(r->detail_text));
                w_str(w, r->device, sizeof(r->device));
                w_str(w, r->driver, sizeof(r->driver));
                w_str(w, r->reason, sizeof(r->reason));
                w_str(w, r->old_affinity, sizeof(r->old_affinity));
                w_str(w, r->new_affinity, sizeof(r->new_affinity));
                w_u64(w, r->stopped_ns);
                break;
        }
        case IPC_HISTORY:
                w_u32(w, m->history.count);
                break;
        case IPC_LOST:
                w_u64(w, m->lost.count);
                break;
        case IPC_STATUS_PROC:
                if (m->status_proc.count > IPC_STATUS_PROC_MAX)
                        return -EINVAL;
                w_u32(w, m->status_proc.first);
                w_u32(w, m->status_proc.count);
                w_bytes(w, m->status_proc.state, m->status_proc.count);
                break;
        case IPC_STATUS_MEM:
                w_u64(w, m->status_mem.id);
                w_u64(w, m->status_mem.base);
                w_u64(w, m->status_mem.size);
                w_u64(w, m->status_mem.block_size);
                w_u32(w, m->status_mem.nblocks);
                w_u32(w, m->status_mem.online_blocks);
                break;
        case IPC_STATUS_CLIENT:
                w_u32(w, m->status_client.pid);
                w_u32(w, m->status_client.uid);
                w_u32(w, m->status_client.flags);
                w_u32(w, m->status_client.sync_regs);
                w_u32(w, m->status_client.arrival_regs);
                w_u32(w, m->status_client.late);
                w_str(w, m->status_client.name, sizeof(m->status_client.name));
                break;
        case IPC_SIM_MEMORY_ADD:
                w_u64(w, m->sim_memory_add.size);
                break;
        case IPC_SIM_RUN:
                w_str(w, m->sim_run.filename, sizeof(m->sim_run.filename));
                if (m->sim_run.text_len && !m->sim_run.text)
                        return -EINVAL;
                w_u32(w, m->sim_run.text_len);
                w_bytes(w, m->sim_run.text, m->sim_run.text_len);
                break;
        default:
                return encode_memcond_device(m, w);
        }
        return w->err;
}

int ipcmsg_encode(const struct ipc_msg *m, void *buf, size_t size) {
        struct writer w = { .buf = buf, .cap = size < IPC_MSG_MAX ? size : IPC_MSG_MAX };
        int r;

        if (!m || !buf)
                return -EINVAL;
        w_u16(&w, m->type);
        w_u16(&w, 0);
        w_u32(&w, 0); /* the length, patched below */
        w_u64(&w, m->id);
        r = encode_payload(m, &w);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < 4; i++)
                w.buf[4 + i] = (uint8_t)(w.len >> (8 * i));
        return (int)w.len;
}

static int decode_payload(struct reader *r, struct ipc_msg *m) {
        switch (m->type) {
        case IPC_HELLO:
                m->hello.major = r_u16(r);
                m->hello.minor = r_u16(r);
                m->hello.pid = r_u32(r);
                r_str(r, m->hello.name, sizeof(m->hello.name));
                break;
        case IPC_WELCOME:
                m->welcome.major = r_u16(r);
                m->welcome.minor = r_u16(r);
                m->welcome.flags = r_u32(r);
                m->welcome.max_regs = r_u32(r);
                m->welcome.max_queue = r_u32(r);
                m->welcome.max_msg = r_u32(r);
                m->welcome.client_id = r_u64(r);
                break;
        case IPC_REPLY:
                m->reply.status = r_i32(r);
                m->reply.v32 = r_u32(r);
                m->reply.v64 = r_u64(r);
                r_str(r, m->reply.text, sizeof(m->reply.text));
                break;
        case IPC_ERROR:
                m->error.status = r_i32(r);
                r_str(r, m->error.text, sizeof(m->error.text));
                break;
        case IPC_PING:
        case IPC_MONITOR_START:
        case IPC_MONITOR_STOP:
        case IPC_STATUS:
        case IPC_SIM_CPU_ADD:
                break;
        case IPC_PROC_REGISTER:
                m->proc_register.reg = r_u32(r);
                m->proc_register.flags = r_u32(r);
                r_str(r, m->proc_register.name, sizeof(m->proc_register.name));
                break;
        case IPC_PROC_DEREGISTER:
        case IPC_ARRIVAL_UNREGISTER:
                m->unreg.reg = r_u32(r);
                break;
        case IPC_PROC_CHANGE:
                m->proc_change.txn = r_u64(r);
                m->proc_change.state = r_u32(r);
                m->proc_change.index = r_u32(r);
                m->proc_change.status = r_i32(r);
                break;
        case IPC_PROC_ANSWER:
                m->proc_answer.txn = r_u64(r);
                m->proc_answer.state = r_u32(r);
                m->proc_answer.status = r_i32(r);
                m->proc_answer.ncalls = r_u32(r);
                m->proc_answer.dur_ns = r_u64(r);
                break;
        case IPC_ARRIVAL_REGISTER:
                m->arrival_register.reg = r_u32(r);
                m->arrival_register.cls = r_u32(r);
                m->arrival_register.flags = r_u32(r);
                r_str(r, m->arrival_register.name, sizeof(m->arrival_register.name));
                break;
        case IPC_ARRIVAL:
                m->arrival.reg = r_u32(r);
                m->arrival.cls = r_u32(r);
                m->arrival.event = r_u32(r);
                m->arrival.flags = r_u32(r);
                m->arrival.index = r_u32(r);
                m->arrival.base = r_u64(r);
                m->arrival.size = r_u64(r);
                r_str(r, m->arrival.name, sizeof(m->arrival.name));
                break;
        case IPC_RECORD:
        case IPC_RECORD_EXT: {
                struct ipc_record *x = &m->record;
                x->seq = r_u64(r);
                x->t_ns = r_u64(r);
                x->fields = r_u32(r);
                x->processor = r_u32(r);
                x->group = r_u16(r);
                x->number = r_u8(r);
                x->base = r_u64(r);
                x->size = r_u64(r);
                x->block = r_u64(r);
                x->dur_ns = r_u64(r);
                x->status = r_i32(r);
                r_str(r, x->method, sizeof(x->method));
                r_str(r, x->event, sizeof(x->event));
                r_str(r, x->cls, sizeof(x->cls));
                r_str(r, x->client, sizeof(x->client));
                r_str(r, x->name, sizeof(x->name));
                if (m->type == IPC_RECORD) {
                        r_str(r, x->detail, IPC_DETAIL_MAX);
                        x->detail_text[0] = x->device[0] = x->driver[0] = x->reason[0] = 0;
                        x->old_affinity[0] = x->new_affinity[0] = 0;
                        x->stopped_ns = 0;
                } else {
                        r_str(r, x->detail, sizeof(x->detail));
                        r_str(r, x->detail_text, sizeof(x->detail_text));
                        r_str(r, x->device, sizeof(x->device));
                        r_str(r, x->driver, sizeof(x->driver));
                        r_str(r, x->reason, sizeof(x->reason));
                        r_str(r, x->old_affinity, sizeof(x->old_affinity));
                        r_str(r, x->new_affinity, sizeof(x->new_affinity));
                        x->stopped_ns = r_u64(r);
                }
                if (!r->err && (!x->method[0] || !x->event[0]))
                        r->err = -EBADMSG;
                break;
        }
        case IPC_HISTORY:
                m->history.count = r_u32(r);
                break;
        case IPC_LOST:
                m->lost.count = r_u64(r);
                break;
        case IPC_STATUS_PROC: {
                const uint8_t *p;
                m->status_proc.first = r_u32(r);
                m->status_proc.count = r_u32(r);
                if (!r->err && m->status_proc.count > IPC_STATUS_PROC_MAX)
                        r->err = -EBADMSG;
                p = r_take(r, m->status_proc.count);
                if (p)
                        memcpy(m->status_proc.state, p, m->status_proc.count);
                break;
        }
        case IPC_STATUS_MEM:
                m->status_mem.id = r_u64(r);
                m->status_mem.base = r_u64(r);
                m->status_mem.size = r_u64(r);
                m->status_mem.block_size = r_u64(r);
                m->status_mem.nblocks = r_u32(r);
                m->status_mem.online_blocks = r_u32(r);
                break;
        case IPC_STATUS_CLIENT:
                m->status_client.pid = r_u32(r);
                m->status_client.uid = r_u32(r);
                m->status_client.flags = r_u32(r);
                m->status_client.sync_regs = r_u32(r);
                m->status_client.arrival_regs = r_u32(r);
                m->status_client.late = r_u32(r);
                r_str(r, m->status_client.name, sizeof(m->status_client.name));
                break;
        case IPC_SIM_MEMORY_ADD:
                m->sim_memory_add.size = r_u64(r);
                break;
        case IPC_SIM_RUN:
                r_str(r, m->sim_run.filename, sizeof(m->sim_run.filename));
                m->sim_run.text_len = r_u32(r);
                m->sim_run.text = (const char *)r_take(r, m->sim_run.text_len);
                break;
        default:
                if (decode_memcond_device(r, m) < 0)
                        return -EPROTO;
                break;
        }
        if (r->err)
                return r->err;
        return r->pos == r->len ? 0 : -EBADMSG;
}

int ipcmsg_decode(const void *buf, size_t len, struct ipc_msg *m) {
        struct reader r = { .buf = buf, .len = len };
        uint16_t flags;
        uint32_t length;

        if (!buf || !m)
                return -EINVAL;
        if (len > IPC_MSG_MAX)
                return -EMSGSIZE;
        if (len < IPC_HEADER_SIZE)
                return -EBADMSG;
        m->type = r_u16(&r);
        flags = r_u16(&r);
        length = r_u32(&r);
        m->id = r_u64(&r);
        if (flags != 0 || length != len)
                return -EBADMSG;
        if (ipcmsg_reserved(m->type))
                return -EOPNOTSUPP;
        return decode_payload(&r, m);
}

int ipcmsg_set_id(void *buf, size_t len, uint64_t id) {
        uint8_t *p = buf;

        if (!buf || len < IPC_HEADER_SIZE)
                return -EBADMSG;
        for (unsigned i = 0; i < 8; i++)
                p[8 + i] = (uint8_t)(id >> (8 * i));
        return 0;
}
