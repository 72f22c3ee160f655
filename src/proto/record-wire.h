/* SPDX-License-Identifier: MIT */
/*
 * A record of the notification stream and its wire form (struct ipc_record
 * of RECORD and RECORD_EXT): so that the engine never sees a wire struct,
 * the daemon exports the records it sends and the client imports the ones
 * it receives here.
 */
#pragma once

#include <stddef.h>

#include "dhp.h"
#include "proto/ipcmsg.h"

/* A record to its wire form.  A string longer than its wire field is cut,
 * except JSON members and CPU lists, which are sent whole or not at all. */
void record_wire_export(const dhp_record *r, struct ipc_record *w);

/* The wire form back to a record whose strings point into w (valid while
 * w is): formatted, it reads exactly as the record exported. */
void record_wire_import(const struct ipc_record *w, dhp_record *r);

/* dhp_record_format() of the record in wire form: its result and errors. */
int record_wire_format(const struct ipc_record *w, dhp_record_format_kind kind, char *buf, size_t size);
