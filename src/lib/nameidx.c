/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/nameidx.h"

enum { SLOT_FREE, SLOT_USED, SLOT_DEAD };

struct nameidx_slot {
        char name[IPC_NAME_MAX];
        uint32_t pos;
        uint8_t state;
};

/* FNV-1a: names are short and come from dhpd, not chosen to collide
 * against this process (and a collision costs time, never correctness). */
static size_t hash(const char *s) {
        uint64_t h = 14695981039346656037ULL;

        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 1099511628211ULL;
        return (size_t)(h ^ (h >> 32));
}

/* The slot holding `name`, or the first free or dead one on its probe
 * path when it is not held (NULL only on an empty index). */
static struct nameidx_slot *probe(const struct nameidx *x, const char *name, bool *ret_found) {
        struct nameidx_slot *first_dead = NULL;

        *ret_found = false;
        if (x->cap == 0)
                return NULL;
        for (size_t i = hash(name) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
                struct nameidx_slot *s = &x->slots[i];
                if (s->state == SLOT_FREE)
                        return first_dead ? first_dead : s;
                if (s->state == SLOT_DEAD) {
                        if (!first_dead)
                                first_dead = s;
                } else if (strncmp(s->name, name, IPC_NAME_MAX) == 0) {
                        *ret_found = true;
                        return s;
                }
        }
}

ssize_t nameidx_find(const struct nameidx *x, const char *name) {
        bool found;
        struct nameidx_slot *s = probe(x, name, &found);

        return found ? (ssize_t)s->pos : -1;
}

/* A table of `cap` slots with every name held; tombstones dropped. */
static int rehash(struct nameidx *x, size_t cap) {
        struct nameidx old = *x;
        struct nameidx_slot *slots = calloc(cap, sizeof(*slots));

        if (!slots)
                return -ENOMEM;
        *x = (struct nameidx){ .slots = slots, .cap = cap, .n = old.n };
        for (size_t i = 0; i < old.cap; i++)
                if (old.slots[i].state == SLOT_USED) {
                        bool found;
                        *probe(x, old.slots[i].name, &found) = old.slots[i];
                }
        free(old.slots);
        return 0;
}

int nameidx_add(struct nameidx *x, const char *name, size_t pos) {
        struct nameidx_slot *s;
        bool found;

        if (pos > UINT32_MAX)
                return -ENOMEM;
        /* At most 3/4 full, tombstones counted: every probe ends. */
        if ((x->n + x->dead + 1) * 4 > x->cap * 3) {
                size_t cap = x->cap ? x->cap : 16;
                while ((x->n + 1) * 2 > cap)
                        cap *= 2;
                if (rehash(x, cap) < 0)
                        return -ENOMEM;
        }
        s = probe(x, name, &found);
        if (found)
                return 0;
        if (s->state == SLOT_DEAD)
                x->dead--;
        s->state = SLOT_USED;
        s->pos = (uint32_t)pos;
        strncpy(s->name, name, IPC_NAME_MAX - 1);
        s->name[IPC_NAME_MAX - 1] = 0;
        x->n++;
        return 0;
}

void nameidx_remove(struct nameidx *x, const char *name, size_t pos) {
        bool found;
        struct nameidx_slot *s = probe(x, name, &found);

        if (!found)
                return;
        s->state = SLOT_DEAD;
        x->n--;
        x->dead++;
        for (size_t i = 0; i < x->cap; i++)
                if (x->slots[i].state == SLOT_USED && x->slots[i].pos > pos)
                        x->slots[i].pos--;
}

void nameidx_deinit(struct nameidx *x) {
        free(x->slots);
        *x = (struct nameidx){ 0 };
}
