/* SPDX-License-Identifier: MIT */
/* A record of the notification stream to its wire form and back. */
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

void record_wire_export(const dhp_record *r, struct ipc_record *w) {
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

void record_wire_import(const struct ipc_record *w, dhp_record *r) {
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

int record_wire_format(const struct ipc_record *w, dhp_record_format_kind kind, char *buf, size_t size) {
        struct dhp_record r;

        record_wire_import(w, &r);
        return dhp_record_format(&r, kind, buf, size);
}
