/* SPDX-License-Identifier: MIT */
/* Intrusive doubly linked list, kernel style. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct list {
        struct list *next, *prev;
};

#define LIST_INIT(name) { &(name), &(name) }

static inline void list_init(struct list *l) {
        l->next = l->prev = l;
}
static inline bool list_empty(const struct list *l) {
        return l->next == l;
}
static inline void list_insert_between(struct list *n, struct list *prev, struct list *next) {
        next->prev = n;
        n->next = next;
        n->prev = prev;
        prev->next = n;
}
static inline void list_append(struct list *head, struct list *n) {
        list_insert_between(n, head->prev, head);
}
static inline void list_prepend(struct list *head, struct list *n) {
        list_insert_between(n, head, head->next);
}
static inline void list_remove(struct list *n) {
        n->next->prev = n->prev;
        n->prev->next = n->next;
        n->next = n->prev = n;
}

#define list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define list_first(head, type, member) (list_empty(head) ? NULL : list_entry((head)->next, type, member))
#define list_for_each(pos, head) for (struct list *pos = (head)->next; pos != (head); pos = pos->next)
#define list_for_each_safe(pos, tmp, head) \
        for (struct list *pos = (head)->next, *tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)
