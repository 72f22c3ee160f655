/* SPDX-License-Identifier: MIT */
/* ipcmsg_decode(): every datagram a client or dhpd receives.  Whatever
 * decodes must encode again, and decode to the same bytes (the codec is
 * canonical); nothing may read past the datagram. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "proto/ipcmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static uint8_t a[IPC_MSG_MAX], b[IPC_MSG_MAX];
        struct ipc_msg m, m2;
        int r, n, n2;

        memset(&m, 0, sizeof(m));
        r = ipcmsg_decode(data, size, &m);
        if (r == -EOPNOTSUPP) {
                FUZZ_CHECK(ipcmsg_reserved(m.type));
                return 0;
        }
        FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EMSGSIZE || r == -EPROTO);
        if (r < 0)
                return 0;
        FUZZ_CHECK(size <= IPC_MSG_MAX);
        n = ipcmsg_encode(&m, a, sizeof(a));
        FUZZ_CHECK(n > 0);
        FUZZ_CHECK((size_t)n == size);
        FUZZ_CHECK(memcmp(a, data, size) == 0);
        memset(&m2, 0, sizeof(m2));
        FUZZ_CHECK(ipcmsg_decode(a, (size_t)n, &m2) == 0);
        n2 = ipcmsg_encode(&m2, b, sizeof(b));
        FUZZ_CHECK(n2 == n && memcmp(a, b, (size_t)n) == 0);
        return 0;
}
