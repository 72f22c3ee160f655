/* SPDX-License-Identifier: MIT */
/* uevent_monitor_receive(): the input is a burst of datagrams (separated by
 * FUZZ_SEP) sent through a socketpair, as dhpd's tests and --uevent-fd feed
 * it; every datagram is received, and the SEQNUM gap logic sees them in
 * order. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "platform/linux/uevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *p = data, *end = data + size, *piece;
        struct uevent_monitor *m = NULL;
        size_t len, sent = 0, got = 0;
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                abort();
        if (uevent_monitor_new_from_fd(&m, sv[0], UEVENT_MONITOR_TRUST_SENDER, NULL) < 0)
                abort();
        /* At most 64 datagrams: the socketpair's queue holds them all. */
        while (sent < 64 && fuzz_next_piece(&p, end, &piece, &len)) {
                if (len == 0)
                        continue; /* a zero-length datagram is not readable as such */
                if (send(sv[1], piece, len, MSG_DONTWAIT) < 0)
                        break;
                sent++;
        }
        for (;;) {
                struct uevent u;
                int r = uevent_monitor_receive(m, &u);

                if (r == -EAGAIN)
                        break;
                FUZZ_CHECK(r != UEVENT_MONITOR_LOST);
                FUZZ_CHECK(r != -EPERM);
                got++;
                FUZZ_CHECK(got <= sent);
                if (r >= 0)
                        FUZZ_CHECK(u.has_seqnum && u.devpath[0] == '/');
        }
        FUZZ_CHECK(got == sent);
        uevent_monitor_free(m);
        close(sv[1]);
        return 0;
}
