/* SPDX-License-Identifier: MIT */
/*
 * A record of the notification stream (the opaque dhp_record of dhp.h),
 * laid out here, below the engine, because two layers build it: the engine
 * that makes records and proto/record-wire.c that rebuilds one received
 * from dhpd.  Only the layout; what makes and formats records is in
 * src/core/record.c.
 */
#pragma once

#include <stdint.h>

#include "dhp.h"

enum record_field {
        REC_HAS_PROCESSOR = 1u << 0,
        REC_HAS_MEMORY = 1u << 1,
        REC_HAS_STATUS = 1u << 2,
        REC_HAS_CLIENT = 1u << 3,
        REC_LATE = 1u << 4,
        REC_HAS_BLOCK = 1u << 5,
        REC_VETO = 1u << 6,
        REC_EXISTING = 1u << 7,
        REC_HAS_DURATION = 1u << 8,
        REC_HAS_STOPPED = 1u << 9, /* rebalance: stopped_ns */
        REC_MISSED = 1u << 10, /* an external participant missed the deadline */
        REC_SURPRISE = 1u << 11, /* a removal the platform did on its own */
};

struct dhp_record {
        uint64_t seq;
        uint64_t t_ns;
        uint64_t realtime_ns; /* CLOCK_REALTIME when it was made; 0: unknown */
        const char *method;
        const char *event;
        const char *cls; /* "processor", "memory", or NULL */
        uint32_t fields;
        uint32_t processor;
        dhp_proc_number number;
        uint64_t base, size;
        uint64_t block;
        uint64_t dur_ns; /* how long the callback ran */
        int status;
        const char *client;
        const char *name; /* device name */
        const char *detail; /* free text, for a later method's extras */
        const char *detail_text; /* the same extras for the timeline line */
        /* rebalance */
        const char *device;       /* device name */
        const char *driver;       /* driver name, per-driver requests */
        const char *reason;       /* why a device sat a rebalance out */
        const char *old_affinity; /* CPU lists */
        const char *new_affinity;
        uint64_t stopped_ns;      /* first QUERY_STOP to last START */
};
