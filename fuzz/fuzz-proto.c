/* SPDX-License-Identifier: MIT */
/* ipcmsg_decode(): every datagram a client or dhpd receives.  Whatever
 * decodes must encode again, and decode to the same bytes (the codec is
 * canonical); nothing may read past the datagram.
 *
 * Seeds: besides the committed corpus (fuzz/corpus/proto/), the message
 * table's own examples, two per row: run with DHP_FUZZ_SEEDS_OUT=DIR, the
 * target writes them into DIR and exits (scripts/fuzz.sh does). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "proto/ipcmsg.h"

static void write_seeds(const char *dir) {
        static uint8_t buf[IPC_MSG_MAX];
        static struct ipc_msg m;

        for (size_t i = 0; i < ipcmsg_table_len; i++)
                for (uint64_t seed = 1; seed <= 2; seed++) {
                        char path[4096];
                        FILE *f;
                        int n;

                        FUZZ_CHECK(ipcmsg_example(ipcmsg_table[i].type, seed, &m) == 0);
                        n = ipcmsg_encode(&m, buf, sizeof(buf));
                        FUZZ_CHECK(n > 0);
                        snprintf(path, sizeof(path), "%s/%s-%llu", dir, ipcmsg_table[i].name,
                                 (unsigned long long)seed);
                        f = fopen(path, "we");
                        FUZZ_CHECK(f);
                        FUZZ_CHECK(fwrite(buf, 1, (size_t)n, f) == (size_t)n);
                        FUZZ_CHECK(fclose(f) == 0);
                }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        const char *dir = getenv("DHP_FUZZ_SEEDS_OUT");

        (void)argc;
        (void)argv;
        if (dir) {
                write_seeds(dir);
                exit(0);
        }
        return 0;
}

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
