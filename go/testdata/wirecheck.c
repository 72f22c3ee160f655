/* SPDX-License-Identifier: MIT */
/*
 * Built and run by wire_test.go: the C codec's view of messages, for the
 * Go package's conformance test.  Reads lines on stdin, writes one answer
 * line per input line:
 *   "names"    -> 257 lines "TYPE NAME FROM_CLIENT RESERVED" for types 0..256
 *   HEX        -> "OK HEX" (the datagram decoded by the C codec and
 *                 encoded again) or "ERR N" (the decoder's -errno)
 *   "table"    -> with a codec that has a message table (IPC_MESSAGES,
 *                 src/proto/ipcmsg.h): one line per row, "TYPE NAME DIR"
 *                 then " KIND:SIZE" per field, then "END"; without one,
 *                 "NOTABLE"
 *
 * Every name of the C codec used here is in the block below: when the
 * codec moves or is renamed, only these lines change.
 */
#include IPC_HEADER /* -DIPC_HEADER='"util/ipcmsg.h"' */
#define WC_MSG struct ipc_msg
#define WC_MSG_MAX IPC_MSG_MAX
#define wc_decode(buf, len, m) ipcmsg_decode((buf), (len), (m))
#define wc_encode(m, buf, size) ipcmsg_encode((m), (buf), (size))
#define wc_type_name(t) ipcmsg_type_name(t)
#define wc_from_client(t) ipcmsg_from_client(t)
#define wc_reserved(t) ipcmsg_reserved(t)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

int main(void) {
        static char line[4 * WC_MSG_MAX + 64];
        static unsigned char in[2 * WC_MSG_MAX], out[WC_MSG_MAX];
        static WC_MSG m;

        while (fgets(line, sizeof(line), stdin)) {
                size_t n = strcspn(line, "\n"), len = 0;
                int r;

                line[n] = 0;
                if (strcmp(line, "names") == 0) {
                        for (unsigned t = 0; t <= 256; t++)
                                printf("%u %s %d %d\n", t, wc_type_name((uint16_t)t), wc_from_client((uint16_t)t),
                                       wc_reserved((uint16_t)t));
                        fflush(stdout);
                        continue;
                }
                if (strcmp(line, "table") == 0) {
#ifdef IPC_MESSAGES
                        for (size_t i = 0; i < ipcmsg_table_len; i++) {
                                const struct ipc_desc *d = &ipcmsg_table[i];
                                printf("%u %s %u", d->type, d->name, d->dir);
                                for (const struct ipc_field *f = d->fields; f->kind != IPC_FIELD_END; f++)
                                        printf(" %u:%u", f->kind, f->size);
                                printf("\n");
                        }
#else
                        printf("NOTABLE\n");
#endif
                        printf("END\n");
                        fflush(stdout);
                        continue;
                }
                if (n % 2 || n / 2 > sizeof(in)) {
                        printf("BAD input\n");
                        fflush(stdout);
                        continue;
                }
                for (size_t i = 0; i < n; i += 2)
                        in[len++] = (unsigned char)(hexval(line[i]) << 4 | hexval(line[i + 1]));
                memset(&m, 0, sizeof(m));
                r = wc_decode(in, len, &m);
                if (r == 0)
                        r = wc_encode(&m, out, sizeof(out));
                if (r < 0) {
                        printf("ERR %d\n", -r);
                } else {
                        printf("OK ");
                        for (int i = 0; i < r; i++)
                                printf("%02x", out[i]);
                        printf("\n");
                }
                fflush(stdout);
        }
        return 0;
}
