/* SPDX-License-Identifier: MIT */
/*
 * The notification stream: every delivery and every transaction step as a
 * record, numbered in one sequence, handed to monitors one at a time.
 * `dhpctl demo`, `dhpctl monitor` and the tests read it.  With no monitor
 * attached nothing is built, timed or numbered: the sequence counts the
 * records monitors received (bench-dispatch: the clock reads were most of
 * a synchronous callback's cost).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine-internal.h"
#include "util/ipcmsg.h"
#include "util/parse.h"
#include "util/strbuf.h"

DHP_EXPORT uint64_t dhp_record_get_seq(const dhp_record *r) {
        return r->seq;
}

DHP_EXPORT uint64_t dhp_record_get_time(const dhp_record *r) {
        return r->t_ns;
}

DHP_EXPORT const char *dhp_record_get_method(const dhp_record *r) {
        return r->method;
}

DHP_EXPORT const char *dhp_record_get_event(const dhp_record *r) {
        return r->event;
}

void record_emit(struct engine *e, struct dhp_record *r) {
        if (!engine_monitored(e))
                return;
        pthread_mutex_lock(&e->rec_lock);
        r->seq = ++e->rec_seq;
        r->t_ns = engine_time_ns(e);
        if (!e->rec_remote_only)
                list_for_each(n, &e->monitors) {
                        struct dhp_monitor *m = list_entry(n, struct dhp_monitor, node);
                        m->cb(m->userdata, r);
                }
        pthread_mutex_unlock(&e->rec_lock);
}

void engine_record_forward(struct engine *e, const dhp_record *r) {
        pthread_mutex_lock(&e->rec_lock);
        list_for_each(n, &e->monitors) {
                struct dhp_monitor *m = list_entry(n, struct dhp_monitor, node);
                m->cb(m->userdata, r);
        }
        pthread_mutex_unlock(&e->rec_lock);
}

void engine_record_txn(struct engine *e, const char *event, uint32_t processor, int status, bool late) {
        struct dhp_record r = {
                .method = "txn",
                .event = event,
                .cls = "processor",
                .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS | (late ? REC_LATE : 0),
                .processor = processor,
                .number = engine_cpu_number(processor),
                .status = status,
        };
        record_emit(e, &r);
}

void engine_record_block(struct engine *e, const char *event, uint64_t block, int status) {
        struct dhp_record r = {
                .method = "txn",
                .event = event,
                .cls = "memory",
                .fields = REC_HAS_BLOCK | REC_HAS_STATUS,
                .block = block,
                .status = status,
        };
        r.base = block * e->block_size;
        r.size = e->block_size;
        r.fields |= REC_HAS_MEMORY;
        record_emit(e, &r);
}

void engine_set_local_records(struct engine *e, bool on) {
        pthread_mutex_lock(&e->rec_lock);
        e->rec_remote_only = !on;
        pthread_mutex_unlock(&e->rec_lock);
}

struct engine *engine_monitor_engine(const dhp_monitor *m) {
        return m->engine;
}

int engine_monitor_add(struct engine *e, dhp_monitor_cb cb, void *userdata, dhp_monitor **ret) {
        struct dhp_monitor *m;

        if (!e || !cb || !ret)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->engine = e;
        m->cb = cb;
        m->userdata = userdata;
        pthread_mutex_lock(&e->rec_lock);
        list_append(&e->monitors, &m->node);
        atomic_fetch_add(&e->n_monitors, 1);
        pthread_mutex_unlock(&e->rec_lock);
        *ret = m;
        return 0;
}

void engine_monitor_remove(dhp_monitor *m) {
        if (!m)
                return;
        pthread_mutex_lock(&m->engine->rec_lock);
        list_remove(&m->node);
        atomic_fetch_sub(&m->engine->n_monitors, 1);
        pthread_mutex_unlock(&m->engine->rec_lock);
        free(m);
}

/* "0", or the errno's symbolic name when we know it ("EBUSY"), else the
 * number. */
static const char *errno_name(int status, char *buf, size_t size) {
        static const struct { int e; const char *n; } names[] = {
                { EPERM, "EPERM" },   { ENOENT, "ENOENT" }, { EIO, "EIO" },       { EAGAIN, "EAGAIN" },
                { ENOMEM, "ENOMEM" }, { EACCES, "EACCES" }, { EBUSY, "EBUSY" },   { EEXIST, "EEXIST" },
                { ENODEV, "ENODEV" }, { EINVAL, "EINVAL" }, { ENOSPC, "ENOSPC" }, { ERANGE, "ERANGE" },
                { ENOTSUP, "ENOTSUP" }, { ETIMEDOUT, "ETIMEDOUT" }, { ECANCELED, "ECANCELED" },
                { EDEADLK, "EDEADLK" }, { ECONNRESET, "ECONNRESET" }, { EALREADY, "EALREADY" }, { ENXIO, "ENXIO" },
        };

        if (status == 0)
                return "0";
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (-status == names[i].e)
                        return names[i].n;
        snprintf(buf, size, "%d", status);
        return buf;
}

static int format_json(const dhp_record *r, struct strbuf *sb) {
        char eb[16];

        strbuf_printf(sb, "{\"seq\":%llu,\"t_ns\":%llu,\"method\":", (unsigned long long)r->seq,
                      (unsigned long long)r->t_ns);
        strbuf_json_string(sb, r->method);
        strbuf_puts(sb, ",\"event\":");
        strbuf_json_string(sb, r->event);
        if (r->cls) {
                strbuf_puts(sb, ",\"class\":");
                strbuf_json_string(sb, r->cls);
        }
        if (r->fields & REC_HAS_PROCESSOR)
                strbuf_printf(sb, ",\"processor\":%u,\"group\":%u,\"number\":%u", r->processor, r->number.group,
                              r->number.number);
        if (r->fields & REC_HAS_MEMORY)
                strbuf_printf(sb, ",\"base\":%llu,\"size\":%llu", (unsigned long long)r->base,
                              (unsigned long long)r->size);
        if (r->fields & REC_HAS_BLOCK)
                strbuf_printf(sb, ",\"block\":%llu", (unsigned long long)r->block);
        if (r->name) {
                strbuf_puts(sb, ",\"name\":");
                strbuf_json_string(sb, r->name);
        }
        if (r->fields & REC_HAS_CLIENT) {
                strbuf_puts(sb, ",\"client\":");
                strbuf_json_string(sb, r->client);
        }
        if (r->device) {
                strbuf_puts(sb, ",\"device\":");
                strbuf_json_string(sb, r->device);
        }
        if (r->driver) {
                strbuf_puts(sb, ",\"driver\":");
                strbuf_json_string(sb, r->driver);
        }
        if (r->reason) {
                strbuf_puts(sb, ",\"reason\":");
                strbuf_json_string(sb, r->reason);
        }
        if (r->old_affinity) {
                strbuf_puts(sb, ",\"old_affinity\":");
                strbuf_json_string(sb, r->old_affinity);
        }
        if (r->new_affinity) {
                strbuf_puts(sb, ",\"new_affinity\":");
                strbuf_json_string(sb, r->new_affinity);
        }
        if (r->fields & REC_HAS_STOPPED)
                strbuf_printf(sb, ",\"stopped_ns\":%llu", (unsigned long long)r->stopped_ns);
        if (r->fields & REC_HAS_STATUS) {
                strbuf_puts(sb, ",\"status\":");
                strbuf_json_string(sb, errno_name(r->status, eb, sizeof(eb)));
        }
        if (r->fields & REC_VETO)
                strbuf_puts(sb, ",\"veto\":true");
        if (r->fields & REC_LATE)
                strbuf_puts(sb, ",\"late\":true");
        if (r->fields & REC_EXISTING)
                strbuf_puts(sb, ",\"existing\":true");
        if (r->fields & REC_MISSED)
                strbuf_puts(sb, ",\"missed_deadline\":true");
        if (r->fields & REC_HAS_DURATION)
                strbuf_printf(sb, ",\"dur_ns\":%llu", (unsigned long long)r->dur_ns);
        if (r->detail) {
                strbuf_puts(sb, ",");
                strbuf_puts(sb, r->detail); /* already JSON members, from the engine */
        }
        return strbuf_puts(sb, "}");
}

static int format_text(const dhp_record *r, struct strbuf *sb) {
        char eb[16], sz[32];

        if (strcmp(r->method, "note") == 0) {
                strbuf_printf(sb, "%+10.3f ms  # %s", (double)r->t_ns / 1e6, r->name ? r->name : "");
                return sb->oom ? -ENOMEM : 0;
        }
        strbuf_printf(sb, "%+10.3f ms  %-9s %-13s", (double)r->t_ns / 1e6, r->method, r->event);
        if (r->fields & REC_HAS_PROCESSOR)
                strbuf_printf(sb, " cpu%-3u (%u:%u)", r->processor, r->number.group, r->number.number);
        if (r->fields & REC_HAS_BLOCK)
                strbuf_printf(sb, " block %llu", (unsigned long long)r->block);
        else if (r->fields & REC_HAS_MEMORY)
                strbuf_printf(sb, " memory 0x%llx +%s", (unsigned long long)r->base,
                              format_size(r->size, sz, sizeof(sz)));
        if (r->fields & REC_HAS_CLIENT)
                strbuf_printf(sb, "  -> %s", r->client);
        if ((r->fields & REC_HAS_STATUS) && r->status)
                strbuf_printf(sb, "  status=%s", errno_name(r->status, eb, sizeof(eb)));
        if (r->fields & REC_VETO)
                strbuf_puts(sb, " (veto)");
        if (r->fields & REC_LATE)
                strbuf_puts(sb, " (late)");
        if (r->fields & REC_EXISTING)
                strbuf_puts(sb, " (existing)");
        if (r->device)
                strbuf_printf(sb, "  %s%s%s", r->device, r->driver ? "/" : "", r->driver ? r->driver : "");
        if (r->reason)
                strbuf_printf(sb, " (%s)", r->reason);
        if (r->old_affinity && r->new_affinity)
                strbuf_printf(sb, "  affinity %s -> %s", r->old_affinity, r->new_affinity);
        else if (r->old_affinity)
                strbuf_printf(sb, "  affinity %s", r->old_affinity);
        if (r->fields & REC_HAS_STOPPED)
                strbuf_printf(sb, "  stopped %.1f us", (double)r->stopped_ns / 1e3);
        if (r->fields & REC_MISSED)
                strbuf_puts(sb, " (missed deadline)");
        if (!(r->fields & (REC_HAS_CLIENT | REC_HAS_MEMORY)) && r->name)
                strbuf_printf(sb, "  %s", r->name);
        if (r->detail_text)
                strbuf_printf(sb, "  %s", r->detail_text);
        return sb->oom ? -ENOMEM : 0;
}

DHP_EXPORT int dhp_record_format(const dhp_record *r, dhp_record_format_kind kind, char *buf, size_t size) {
        struct strbuf sb = STRBUF_INIT;
        int n;

        if (!r || (kind != DHP_RECORD_JSON && kind != DHP_RECORD_TEXT))
                return -EINVAL;
        if (kind == DHP_RECORD_JSON)
                format_json(r, &sb);
        else
                format_text(r, &sb);
        if (sb.oom) {
                strbuf_deinit(&sb);
                return -ENOMEM;
        }
        n = (int)sb.len;
        if (size > 0) {
                size_t c = sb.len < size - 1 ? sb.len : size - 1;
                memcpy(buf, strbuf_str(&sb), c);
                buf[c] = 0;
        }
        strbuf_deinit(&sb);
        return n;
}

void engine_record_note(struct engine *e, const char *text) {
        struct dhp_record r = { .method = "note", .event = "NOTE", .name = text, .detail = NULL };

        record_emit(e, &r);
}

static void copy_str(char *dst, size_t size, const char *src) {
        snprintf(dst, size, "%s", src ? src : "");
}

/* JSON members cut short would not parse: all or nothing. */
static void copy_whole(char *dst, size_t size, const char *src) {
        if (src && strlen(src) < size)
                strcpy(dst, src);
        else
                dst[0] = 0;
}

void engine_record_export(const dhp_record *r, struct ipc_record *w) {
        *w = (struct ipc_record){
                .seq = r->seq, .t_ns = r->t_ns, .fields = r->fields, .processor = r->processor,
                .group = r->number.group, .number = r->number.number, .base = r->base, .size = r->size,
                .block = r->block, .dur_ns = r->dur_ns, .status = r->status, .stopped_ns = r->stopped_ns,
        };
        copy_str(w->method, sizeof(w->method), r->method);
        copy_str(w->event, sizeof(w->event), r->event);
        copy_str(w->cls, sizeof(w->cls), r->cls);
        copy_str(w->client, sizeof(w->client), r->client);
        copy_str(w->name, sizeof(w->name), r->name);
        copy_whole(w->detail, sizeof(w->detail), r->detail);
        copy_str(w->detail_text, sizeof(w->detail_text), r->detail_text);
        copy_str(w->device, sizeof(w->device), r->device);
        copy_str(w->driver, sizeof(w->driver), r->driver);
        copy_str(w->reason, sizeof(w->reason), r->reason);
        copy_whole(w->old_affinity, sizeof(w->old_affinity), r->old_affinity);
        copy_whole(w->new_affinity, sizeof(w->new_affinity), r->new_affinity);
}

static const char *or_null(const char *s) {
        return s[0] ? s : NULL;
}

void engine_record_import(const struct ipc_record *w, dhp_record *r) {
        *r = (struct dhp_record){
                .seq = w->seq, .t_ns = w->t_ns, .fields = w->fields, .processor = w->processor,
                .number = { .group = w->group, .number = w->number }, .base = w->base, .size = w->size,
                .block = w->block, .dur_ns = w->dur_ns, .status = w->status,
                .method = w->method, .event = w->event,
                .cls = or_null(w->cls),
                .client = or_null(w->client),
                .name = or_null(w->name),
                .detail = or_null(w->detail),
                .detail_text = or_null(w->detail_text),
                .device = or_null(w->device),
                .driver = or_null(w->driver),
                .reason = or_null(w->reason),
                .old_affinity = or_null(w->old_affinity),
                .new_affinity = or_null(w->new_affinity),
                .stopped_ns = w->stopped_ns,
        };
        /* A client field without a client would print "(null)". */
        if (!r->client)
                r->fields &= ~(uint32_t)REC_HAS_CLIENT;
}

int engine_record_format_wire(const struct ipc_record *w, dhp_record_format_kind kind, char *buf, size_t size) {
        struct dhp_record r;

        engine_record_import(w, &r);
        return dhp_record_format(&r, kind, buf, size);
}

void engine_record_forward_wire(struct engine *e, const struct ipc_record *w) {
        struct dhp_record r;

        engine_record_import(w, &r);
        engine_record_forward(e, &r);
}
