/* SPDX-License-Identifier: MIT */
/*
 * The last records of dhpd's notification stream, kept for HISTORY
 * (`dhpctl plot`): a bounded ring of encoded messages.  Nothing is
 * allocated before the first record, so an idle dhpd stays small; once the
 * ring is full, a record allocates nothing (each slot keeps its buffer).
 * Thread-safe: records come from any thread, requests from the main one.
 */
#pragma once

#include <stddef.h>

#include "dhp.h"

struct history;

/* A ring of at most `capacity` messages.  -EINVAL for 0, -ENOMEM. */
int history_new(struct history **ret, unsigned capacity);
void history_free(struct history *h);
/* Keep a copy of one encoded message; the oldest goes when the ring is
 * full.  -ENOMEM (the message is not kept). */
int history_add(struct history *h, const void *msg, size_t len);
/* Encode one record as a RECORD_RT message and keep it: the encoding
 * buffers belong to the ring, made once.  -ENOMEM, or ipcmsg_encode()'s
 * error (the record is not kept). */
int history_add_record(struct history *h, const dhp_record *rec);
/* history_add_record() as a monitor callback (userdata: the ring), so that
 * every record of the stream goes straight into it. */
void history_record(void *userdata, const dhp_record *rec);
/* Call fn for the newest n messages (n 0 or past the count: every one
 * kept), oldest first, under the ring's lock: fn must not call back in.
 * Returns how many. */
unsigned history_foreach(struct history *h, unsigned n, void (*fn)(void *userdata, const void *msg, size_t len),
                         void *userdata);
