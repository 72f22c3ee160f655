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
#include <time.h>

#include "core/engine-internal.h"
#include "core/peer.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/time.h"

DHP_EXPORT uint64_t dhp_record_get_seq(const dhp_record *r) {
        return r->seq;
}

DHP_EXPORT uint64_t dhp_record_get_time(const dhp_record *r) {
        return r->t_ns;
}

DHP_EXPORT uint64_t dhp_record_get_realtime(const dhp_record *r) {
        return r->realtime_ns;
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
        r->realtime_ns = time_realtime_ns();
        if (!e->rec_peer_only)
                list_for_each(n, &e->monitors) {
                        struct dhp_monitor *m = list_entry(n, struct dhp_monitor, node);
                        m->cb(m->userdata, r);
                }
        pthread_mutex_unlock(&e->rec_lock);
}

void peer_inject_record(struct engine *e, const dhp_record *r) {
        pthread_mutex_lock(&e->rec_lock);
        list_for_each(n, &e->monitors) {
                struct dhp_monitor *m = list_entry(n, struct dhp_monitor, node);
                m->cb(m->userdata, r);
        }
        pthread_mutex_unlock(&e->rec_lock);
}

void peer_set_records_only(struct engine *e, bool only) {
        pthread_mutex_lock(&e->rec_lock);
        e->rec_peer_only = only;
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

/* ISO 8601 in UTC with microseconds, "2026-11-30T13:14:52.123456Z". */
static void format_realtime(uint64_t ns, struct strbuf *sb) {
        time_t sec = (time_t)(ns / NSEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&sec, &tm))
                return;
        strbuf_printf(sb, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ns % NSEC_PER_SEC / NSEC_PER_USEC));
}

/* A scenario's note travels whole in detail_text (up to IPC_DETAIL_MAX);
 * name holds it too, cut to its field for a 1.0 client. */
static const char *note_text(const dhp_record *r) {
        if (r->detail_text && strcmp(r->method, "note") == 0)
                return r->detail_text;
        return r->name;
}

static int format_json(const dhp_record *r, struct strbuf *sb) {
        char eb[16];

        strbuf_printf(sb, "{\"seq\":%llu,\"t_ns\":%llu,", (unsigned long long)r->seq, (unsigned long long)r->t_ns);
        if (r->realtime_ns) {
                strbuf_puts(sb, "\"time\":\"");
                format_realtime(r->realtime_ns, sb);
                strbuf_puts(sb, "\",");
        }
        strbuf_puts(sb, "\"method\":");
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
                strbuf_json_string(sb, note_text(r));
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
        if (r->fields & REC_SURPRISE)
                strbuf_puts(sb, ",\"surprise\":true");
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
                strbuf_printf(sb, "%+10.3f ms  # %s", (double)r->t_ns / 1e6, r->name ? note_text(r) : "");
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
        /* A participant that missed the deadline with late_policy=proceed
         * vetoed nothing: the add went on without its answer. */
        if ((r->fields & REC_MISSED) && !(r->fields & REC_VETO))
                strbuf_puts(sb, "  late (proceeded)");
        else if ((r->fields & REC_HAS_STATUS) && r->status)
                strbuf_printf(sb, "  status=%s", errno_name(r->status, eb, sizeof(eb)));
        if (r->fields & REC_VETO)
                strbuf_puts(sb, " (veto)");
        if (r->fields & REC_LATE)
                strbuf_puts(sb, " (late)");
        if (r->fields & REC_EXISTING)
                strbuf_puts(sb, " (existing)");
        if (r->fields & REC_SURPRISE)
                strbuf_puts(sb, " (surprise)");
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
        if ((r->fields & REC_MISSED) && (r->fields & REC_VETO))
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

static int record_log_level(const dhp_record *r) {
        bool per_reg = (r->fields & REC_HAS_CLIENT) && r->client &&
                       (strcmp(r->method, "sync") == 0 || strcmp(r->method, "async") == 0);

        /* Steps: a transaction's, and the memory conditions' thresholds
         * recomputed at each memory change (on the hot-add's thread, while
         * its arrival is being delivered). */
        if (strcmp(r->method, "txn") == 0 || (strcmp(r->method, "memcond") == 0 && r->event &&
                                              strcmp(r->event, "THRESHOLDS") == 0))
                return LOG_LEVEL_DEBUG;
        if (!per_reg)
                return LOG_LEVEL_INFO;
        if (r->fields & (REC_VETO | REC_LATE | REC_MISSED))
                return LOG_LEVEL_NOTICE;
        return strcmp(r->client, ENGINE_SELF_NAME) == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
}

void engine_record_log(void *userdata, const dhp_record *r) {
        const struct logger *log = userdata;
        int level = record_log_level(r);
        char buf[512];

        if (!logger_enabled(log, level))
                return;
        dhp_record_format(r, DHP_RECORD_TEXT, buf, sizeof(buf));
        logger_printf(log, level, "%s", buf);
}

void engine_record_note(struct engine *e, const char *text) {
        struct dhp_record r = { .method = "note", .event = "NOTE", .name = text, .detail_text = text };

        record_emit(e, &r);
}
