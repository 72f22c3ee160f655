/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/history.h"

struct entry {
        size_t len;
        uint8_t data[];
};

struct history {
        pthread_mutex_t lock;
        unsigned capacity;
        unsigned first, count; /* the oldest slot, and how many are used */
        struct entry **slots;  /* capacity of them, from the first record */
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
        for (unsigned i = 0; h->slots && i < h->count; i++)
                free(h->slots[(h->first + i) % h->capacity]);
        free(h->slots);
        pthread_mutex_destroy(&h->lock);
        free(h);
}

int history_add(struct history *h, const void *msg, size_t len) {
        struct entry *e = malloc(sizeof(*e) + len);
        int r = 0;

        if (!e)
                return -ENOMEM;
        e->len = len;
        memcpy(e->data, msg, len);
        pthread_mutex_lock(&h->lock);
        if (!h->slots)
                h->slots = calloc(h->capacity, sizeof(*h->slots));
        if (!h->slots) {
                free(e);
                r = -ENOMEM;
        } else if (h->count < h->capacity) {
                h->slots[(h->first + h->count++) % h->capacity] = e;
        } else {
                free(h->slots[h->first]);
                h->slots[h->first] = e;
                h->first = (h->first + 1) % h->capacity;
        }
        pthread_mutex_unlock(&h->lock);
        return r;
}

unsigned history_foreach(struct history *h, unsigned n, void (*fn)(void *userdata, const void *msg, size_t len),
                         void *userdata) {
        unsigned skip;

        pthread_mutex_lock(&h->lock);
        if (n == 0 || n > h->count)
                n = h->count;
        skip = h->count - n;
        for (unsigned i = 0; i < n; i++) {
                const struct entry *e = h->slots[(h->first + skip + i) % h->capacity];
                fn(userdata, e->data, e->len);
        }
        pthread_mutex_unlock(&h->lock);
        return n;
}
