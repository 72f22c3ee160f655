/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/history.h"
#include "proto/ipcmsg.h"
#include "proto/record-wire.h"

/* One kept message; its buffer stays with the slot and is reused by the
 * record that replaces it, so that a full ring allocates nothing. */
struct slot {
        size_t len, cap;
        uint8_t *data;
};

struct history {
        pthread_mutex_t lock;
        unsigned capacity;
        unsigned first, count; /* the oldest slot, and how many are used */
        struct slot *slots;    /* capacity of them, from the first record */
        /* history_add_record's encoding buffers, made at its first call and
         * reused under the lock: a message (~8 KiB) and its wire form (up
         * to IPC_MSG_MAX, touched only as far as a record goes). */
        struct ipc_msg *msg;
        uint8_t *wire;
};

int history_new(struct history **ret, unsigned capacity) {
        struct history *h;

        if (!ret || capacity == 0)
                return -EINVAL;
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        pthread_mutex_init(&h->lock, NULL);
        h->capacity = capacity;
        *ret = h;
        return 0;
}

void history_free(struct history *h) {
        if (!h)
                return;
        for (unsigned i = 0; h->slots && i < h->capacity; i++)
                free(h->slots[i].data);
        free(h->slots);
        free(h->msg);
        free(h->wire);
        pthread_mutex_destroy(&h->lock);
        free(h);
}

/* Copy one message into the next slot; lock held. */
static int add_locked(struct history *h, const void *msg, size_t len) {
        struct slot *s;

        if (!h->slots) {
                h->slots = calloc(h->capacity, sizeof(*h->slots));
                if (!h->slots)
                        return -ENOMEM;
        }
        s = &h->slots[(h->first + h->count) % h->capacity];
        if (s->cap < len) {
                uint8_t *p = realloc(s->data, len);
                if (!p)
                        return -ENOMEM;
                s->data = p;
                s->cap = len;
        }
        memcpy(s->data, msg, len);
        s->len = len;
        if (h->count < h->capacity)
                h->count++;
        else
                h->first = (h->first + 1) % h->capacity;
        return 0;
}

int history_add(struct history *h, const void *msg, size_t len) {
        int r;

        pthread_mutex_lock(&h->lock);
        r = add_locked(h, msg, len);
        pthread_mutex_unlock(&h->lock);
        return r;
}

int history_add_record(struct history *h, const dhp_record *rec) {
        int len, r;

        pthread_mutex_lock(&h->lock);
        if (!h->msg)
                h->msg = calloc(1, sizeof(*h->msg));
        if (!h->wire)
                h->wire = malloc(IPC_MSG_MAX);
        if (!h->msg || !h->wire) {
                r = -ENOMEM;
                goto out;
        }
        /* record_wire_export() writes the whole record; the rest of the
         * message stays as calloc() left it. */
        h->msg->type = IPC_RECORD_RT;
        record_wire_export(rec, &h->msg->record);
        len = ipcmsg_encode(h->msg, h->wire, IPC_MSG_MAX);
        r = len > 0 ? add_locked(h, h->wire, (size_t)len) : len < 0 ? len : -EINVAL;
out:
        pthread_mutex_unlock(&h->lock);
        return r;
}

void history_record(void *userdata, const dhp_record *rec) {
        history_add_record(userdata, rec);
}

unsigned history_foreach(struct history *h, unsigned n, void (*fn)(void *userdata, const void *msg, size_t len),
                         void *userdata) {
        unsigned skip;

        pthread_mutex_lock(&h->lock);
        if (n == 0 || n > h->count)
                n = h->count;
        skip = h->count - n;
        for (unsigned i = 0; i < n; i++) {
                const struct slot *s = &h->slots[(h->first + skip + i) % h->capacity];
                fn(userdata, s->data, s->len);
        }
        pthread_mutex_unlock(&h->lock);
        return n;
}
