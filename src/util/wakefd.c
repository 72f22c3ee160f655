/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <unistd.h>

#include "util/wakefd.h"

void wakefd_signal(int fd) {
        uint64_t one = 1;

        (void)!write(fd, &one, sizeof(one));
}

void wakefd_drain(int fd) {
        uint64_t v;

        (void)!read(fd, &v, sizeof(v));
}
