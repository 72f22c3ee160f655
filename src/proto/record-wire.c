/* SPDX-License-Identifier: MIT */
/* A record of the notification stream to its wire form and back. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "proto/record-wire.h"
#include "proto/record.h"

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

/* The record's strings and their wire fields, once for both directions.
 * WHOLE: JSON members and CPU lists cut short would not parse, so they go
 * whole or not at all (the others are cut to their field).  SET: method
 * and event are never NULL in a record; an empty one stays "". */
enum { WHOLE = 1u << 0, SET = 1u << 1 };
#define RECORD_STR(m, flags) \
        { offsetof(struct dhp_record, m), offsetof(struct ipc_record, m), sizeof(((struct ipc_record *)0)->m), flags }
static const struct record_str {
        size_t rec, wire, size;
        unsigned flags;
} record_strs[] = {
        RECORD_STR(method, SET),       RECORD_STR(event, SET),       RECORD_STR(cls, 0),
        RECORD_STR(client, 0),         RECORD_STR(name, 0),          RECORD_STR(detail, WHOLE),
        RECORD_STR(detail_text, 0),    RECORD_STR(device, 0),        RECORD_STR(driver, 0),
        RECORD_STR(reason, 0),         RECORD_STR(old_affinity, WHOLE), RECORD_STR(new_affinity, WHOLE),
};

void record_wire_export(const dhp_record *r, struct ipc_record *w) {
        *w = (struct ipc_record){
                .seq = r->seq, .t_ns = r->t_ns, .realtime_ns = r->realtime_ns, .fields = r->fields, .processor = r->processor,
                .group = r->number.group, .number = r->number.number, .base = r->base, .size = r->size,
                .block = r->block, .dur_ns = r->dur_ns, .status = r->status, .stopped_ns = r->stopped_ns,
        };
        for (size_t i = 0; i < sizeof(record_strs) / sizeof(record_strs[0]); i++) {
                const struct record_str *f = &record_strs[i];
                const char *src = *(const char *const *)((const char *)r + f->rec);
                char *dst = (char *)w + f->wire;

                if (f->flags & WHOLE)
                        copy_whole(dst, f->size, src);
                else
                        copy_str(dst, f->size, src);
        }
}

void record_wire_import(const struct ipc_record *w, dhp_record *r) {
        *r = (struct dhp_record){
                .seq = w->seq, .t_ns = w->t_ns, .realtime_ns = w->realtime_ns, .fields = w->fields, .processor = w->processor,
                .number = { .group = w->group, .number = w->number }, .base = w->base, .size = w->size,
                .block = w->block, .dur_ns = w->dur_ns, .status = w->status, .stopped_ns = w->stopped_ns,
        };
        for (size_t i = 0; i < sizeof(record_strs) / sizeof(record_strs[0]); i++) {
                const struct record_str *f = &record_strs[i];
                const char *src = (const char *)w + f->wire;

                *(const char **)((char *)r + f->rec) = src[0] || (f->flags & SET) ? src : NULL;
        }
        /* A client field without a client would print "(null)". */
        if (!r->client)
                r->fields &= ~(uint32_t)REC_HAS_CLIENT;
}

int record_wire_format(const struct ipc_record *w, dhp_record_format_kind kind, char *buf, size_t size) {
        struct dhp_record r;

        record_wire_import(w, &r);
        return dhp_record_format(&r, kind, buf, size);
}
