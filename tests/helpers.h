/* SPDX-License-Identifier: MIT */
/* Test helpers: a recorder of the notification stream, and bounded waits. */
#pragma once

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dhp.h"

#define REC_MAX 8192

/* Every record of a context's stream, as JSON lines. */
struct recorder {
        pthread_mutex_t lock;
        size_t n;
        char *line[REC_MAX];
        dhp_monitor *mon;
};

static inline void recorder_cb(void *userdata, const dhp_record *r) {
        struct recorder *rec = userdata;
        char buf[1024];

        dhp_record_format(r, DHP_RECORD_JSON, buf, sizeof(buf));
        pthread_mutex_lock(&rec->lock);
        if (rec->n < REC_MAX)
                rec->line[rec->n++] = strdup(buf);
        pthread_mutex_unlock(&rec->lock);
}

static inline void recorder_start(struct recorder *rec, dhp *ctx) {
        memset(rec, 0, sizeof(*rec));
        pthread_mutex_init(&rec->lock, NULL);
        assert_int_equal(dhp_monitor_add(ctx, recorder_cb, rec, &rec->mon), 0);
}

static inline void recorder_stop(struct recorder *rec) {
        dhp_monitor_remove(rec->mon);
        for (size_t i = 0; i < rec->n; i++)
                free(rec->line[i]);
        pthread_mutex_destroy(&rec->lock);
}

/* Index of the first record at or after `from` containing every given
 * fragment (NULL-terminated), or -1. */
static inline long recorder_find(struct recorder *rec, size_t from, ...) {
        long found = -1;

        pthread_mutex_lock(&rec->lock);
        for (size_t i = from; i < rec->n && found < 0; i++) {
                va_list ap;
                const char *frag;
                bool all = true;
                va_start(ap, from);
                while ((frag = va_arg(ap, const char *)))
                        if (!strstr(rec->line[i], frag))
                                all = false;
                va_end(ap);
                if (all)
                        found = (long)i;
        }
        pthread_mutex_unlock(&rec->lock);
        return found;
}

static inline size_t recorder_count(struct recorder *rec, ...) {
        size_t count = 0;

        pthread_mutex_lock(&rec->lock);
        for (size_t i = 0; i < rec->n; i++) {
                va_list ap;
                const char *frag;
                bool all = true;
                va_start(ap, rec);
                while ((frag = va_arg(ap, const char *)))
                        if (!strstr(rec->line[i], frag))
                                all = false;
                va_end(ap);
                if (all)
                        count++;
        }
        pthread_mutex_unlock(&rec->lock);
        return count;
}

static inline void recorder_dump(struct recorder *rec) {
        pthread_mutex_lock(&rec->lock);
        for (size_t i = 0; i < rec->n; i++)
                fprintf(stderr, "  %s\n", rec->line[i]);
        pthread_mutex_unlock(&rec->lock);
}

/* A flag other threads wait on with a bound. */
struct flag {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int value;
};

static inline void flag_init(struct flag *f) {
        pthread_mutex_init(&f->lock, NULL);
        pthread_cond_init(&f->cond, NULL);
        f->value = 0;
}

static inline void flag_set(struct flag *f, int v) {
        pthread_mutex_lock(&f->lock);
        f->value = v;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->lock);
}

static inline int flag_get(struct flag *f) {
        int v;
        pthread_mutex_lock(&f->lock);
        v = f->value;
        pthread_mutex_unlock(&f->lock);
        return v;
}

/* Wait until the flag is >= v, at most ms; returns true when it is. */
static inline bool flag_wait(struct flag *f, int v, int ms) {
        struct timespec ts;
        bool ok;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&f->lock);
        while (f->value < v)
                if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) != 0)
                        break;
        ok = f->value >= v;
        pthread_mutex_unlock(&f->lock);
        return ok;
}

/* Blocks [from, to) of device dev of a memory snapshot: block k has index
 * first + k, state bs and zone z. */
static inline void expect_memory_blocks(const dhp_memory_snapshot *ms, uint32_t dev, uint32_t from, uint32_t to,
                                        uint64_t first, dhp_memory_block_state bs, dhp_memory_zone z) {
        for (uint32_t k = from; k < to; k++) {
                uint64_t index;
                dhp_memory_block_state s;
                dhp_memory_zone zone;

                assert_int_equal(dhp_memory_snapshot_get_block(ms, dev, k, &index, &s, &zone), 0);
                assert_int_equal(index, first + k);
                assert_int_equal(s, bs);
                assert_int_equal(zone, z);
        }
}
