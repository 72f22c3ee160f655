/* SPDX-License-Identifier: MIT */
/*
 * bench-sync-client: the C client of bench/bench-python.py's ADD_START
 * round trip: one synchronous registration with a callback that does
 * nothing, on dhpd's socket, until stdin closes.  Public API only.
 *
 *   bench-sync-client unix:SOCKET NAME
 *
 * Prints "READY" once registered.  bench-python.py runs the Python
 * client (the same, through the dhp package) beside it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dhp.h"

static void on_change(void *userdata, const dhp_proc_change *c) {
        (void)userdata;
        (void)c;
}

int main(int argc, char **argv) {
        dhp_proc_reg *reg;
        char buf[64];
        dhp *ctx;
        int r;

        if (argc != 3) {
                fprintf(stderr, "usage: bench-sync-client unix:SOCKET NAME\n");
                return 2;
        }
        r = dhp_open(&ctx, argv[1]);
        if (r == 0)
                r = dhp_set_name(ctx, argv[2]);
        if (r == 0)
                r = dhp_proc_register(ctx, argv[2], 0, on_change, NULL, &reg);
        if (r < 0) {
                fprintf(stderr, "bench-sync-client: %s\n", strerror(-r));
                return 1;
        }
        printf("READY\n");
        fflush(stdout);
        while (read(0, buf, sizeof(buf)) > 0)
                ;
        dhp_proc_deregister(reg);
        dhp_close(ctx);
        return 0;
}
