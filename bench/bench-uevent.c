/* SPDX-License-Identifier: MIT */
/* uevent_parse() throughput against a bare scan of the same bytes (strlen
 * per field plus memchr for '='), the floor any parser has to pay.
 * Each repeated until stable; min, median and max.
 * Usage: bench-uevent [iterations per sample]   (default 2000000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "platform/linux/uevent.h"

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

struct run {
        char bufs[2][1024];
        size_t lens[2];
        long iters;
};

static volatile size_t sink;

/* M messages per second */
static double parse_sample(void *userdata) {
        struct run *r = userdata;
        uint64_t t0 = bench_now_ns();
        struct uevent u;

        for (long i = 0; i < r->iters; i++) {
                int k = (int)(i & 1);
                if (uevent_parse(r->bufs[k], r->lens[k], &u) < 0)
                        abort();
                sink += u.n_keys;
        }
        return (double)r->iters / ((double)(bench_now_ns() - t0) / 1e9) / 1e6;
}

static double scan_sample(void *userdata) {
        struct run *r = userdata;
        uint64_t t0 = bench_now_ns();

        for (long i = 0; i < r->iters; i++) {
                int k = (int)(i & 1);
                const char *p = r->bufs[k], *end = p + r->lens[k];
                while (p < end) {
                        size_t n = strlen(p);
                        sink += (size_t)(memchr(p, '=', n) != NULL);
                        p += n + 1;
                }
        }
        return (double)r->iters / ((double)(bench_now_ns() - t0) / 1e9) / 1e6;
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
        static struct run r;
        struct bench_stat p, s, q;

        setvbuf(stdout, NULL, _IOLBF, 0);
        r.iters = argc > 1 ? atol(argv[1]) : 2000000;
        r.lens[0] = build(r.bufs[0], sizeof(r.bufs[0]), mem);
        r.lens[1] = build(r.bufs[1], sizeof(r.bufs[1]), cpu);

        printf("3. uevent messages parsed, %ld per run (a memory add and a cpu online, alternating), M msgs/s\n",
               r.iters);
        bench_print_header();
        bench_pair(parse_sample, &r, scan_sample, &r, &p, &s, &q);
        bench_print_pair("uevent_parse / bare scan (strlen + memchr)", p, s, &q, "M/s");
        printf("  (%.0f ns per message parsed, median)\n", 1e3 / p.med);
        return sink == 0;
}
