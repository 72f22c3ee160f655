/* SPDX-License-Identifier: MIT */
/*
 * A client of dhpd for tests/daemon/test-idle.py: subscribes to one memory
 * condition event and prints its state as the subscription found it, then
 * every change, until SIGTERM.
 *
 *   memcond-client SOCKET NAME
 *
 * stdout, one line each, flushed:  STATE 0|1
 */
#include <poll.h>
#include <stdio.h>

#include "dhp.h"

int main(int argc, char **argv) {
        char target[4200];
        dhp_memcond *ev;
        bool set;
        dhp *ctx;
        int r;

        if (argc != 3) {
                fprintf(stderr, "usage: memcond-client SOCKET NAME\n");
                return 2;
        }
        snprintf(target, sizeof(target), "unix:%s", argv[1]);
        r = dhp_open(&ctx, target);
        if (r == 0)
                r = dhp_memcond_open(ctx, argv[2], &ev);
        if (r < 0) {
                fprintf(stderr, "memcond-client: %s\n", dhp_strerror(r));
                return 1;
        }
        set = dhp_memcond_is_set(ev);
        printf("STATE %d\n", set);
        fflush(stdout);
        for (;;) {
                /* The descriptor is readable while the event is set (D17):
                 * poll it while clear, sample it while set. */
                struct pollfd p = { .fd = dhp_memcond_get_fd(ev), .events = POLLIN };
                poll(&p, 1, set ? 100 : -1);
                if (dhp_memcond_is_set(ev) != set) {
                        set = !set;
                        printf("STATE %d\n", set);
                        fflush(stdout);
                }
        }
}
