/* SPDX-License-Identifier: MIT */
/* uevent_parse() throughput against a bare scan of the same bytes (strlen
 * per field plus memchr for '='), the floor any parser has to pay.
 * Usage: bench-uevent [iterations]   (default 5000000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "platform/linux/uevent.h"

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t build(char *buf, size_t size, const char *const *fields) {
        size_t len = 0;
        for (; *fields; fields++) {
                size_t n = strlen(*fields) + 1;
                if (len + n > size)
                        abort();
                memcpy(buf + len, *fields, n);
                len += n;
        }
        return len;
}

int main(int argc, char **argv) {
        static const char *const mem[] = {
                "add@/devices/system/memory/memory1234", "ACTION=add",
                "DEVPATH=/devices/system/memory/memory1234", "SUBSYSTEM=memory", "SEQNUM=123456", NULL,
        };
        static const char *const cpu[] = {
                "online@/devices/system/cpu/cpu17", "ACTION=online", "DEVPATH=/devices/system/cpu/cpu17",
                "SUBSYSTEM=cpu", "DRIVER=processor", "MODALIAS=cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001",
                "SEQNUM=123457", NULL,
        };
        char bufs[2][1024];
        size_t lens[2];
        long iters = argc > 1 ? atol(argv[1]) : 5000000;
        volatile size_t sink = 0;
        struct uevent u;
        double t0, t_parse, t_scan;

        lens[0] = build(bufs[0], sizeof(bufs[0]), mem);
        lens[1] = build(bufs[1], sizeof(bufs[1]), cpu);

        t0 = now_s();
        for (long i = 0; i < iters; i++) {
                int k = (int)(i & 1);
                if (uevent_parse(bufs[k], lens[k], &u) < 0)
                        abort();
                sink += u.n_keys;
        }
        t_parse = now_s() - t0;

        t0 = now_s();
        for (long i = 0; i < iters; i++) {
                int k = (int)(i & 1);
                const char *p = bufs[k], *end = p + lens[k];
                while (p < end) {
                        size_t n = strlen(p);
                        sink += (size_t)(memchr(p, '=', n) != NULL);
                        p += n + 1;
                }
        }
        t_scan = now_s() - t0;

        printf("uevent_parse: %.2f M msgs/s (%.0f ns/msg)\n", (double)iters / t_parse / 1e6, t_parse / (double)iters * 1e9);
        printf("bare scan:    %.2f M msgs/s (%.0f ns/msg)\n", (double)iters / t_scan / 1e6, t_scan / (double)iters * 1e9);
        printf("ratio parse/scan: %.2fx\n", t_parse / t_scan);
        return sink == 0;
}
