/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED __attribute__((unused))
#define _cleanup_(f) __attribute__((cleanup(f)))

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Hand a pointer over to a new owner: returns it and clears the source. */
#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _take_ = (p);  \
                (p) = NULL;                  \
                _take_;                      \
        })
#define TAKE_FD(fd)                  \
        ({                           \
                int _take_ = (fd);   \
                (fd) = -1;           \
                _take_;              \
        })
