/* SPDX-License-Identifier: MIT */
/*
 * dhpctl limits [--json] [--follow] [--cgroup PATH] [--interval DURATION]
 *
 * A cgroup's limits as an application on the "cgroup" target sees them:
 * the CPUs, the CPU bandwidth, the pool size, the memory limits.  With
 * --follow, one line per change (its sequence number and what changed)
 * until the cgroup is removed or the command is interrupted.  --root DIR
 * (undocumented in the usage) points the target at a fake tree for tests.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"
#include "cli/limits.h"
#include "dhp.h"
#include "lib/dhp-private.h"
#include "util/parse.h"
#include "util/strbuf.h"

struct limits_out {
        bool json;
        bool follow;
};

static const char *const changed_names[] = {
        "cpus", "bandwidth", "pool_size", "memory_max", "memory_high", "populated", "removed",
};

static void print_changed(uint32_t changed, bool json, struct strbuf *sb) {
        bool first = true;

        for (unsigned i = 0; i < sizeof(changed_names) / sizeof(changed_names[0]); i++) {
                if (!(changed & (1u << i)))
                        continue;
                if (json)
                        strbuf_printf(sb, "%s\"%s\"", first ? "" : ",", changed_names[i]);
                else
                        strbuf_printf(sb, "%s%s", first ? "" : ",", changed_names[i]);
                first = false;
        }
}

static void json_u64(struct strbuf *sb, const char *key, uint64_t v) {
        if (v == DHP_LIMITS_UNLIMITED)
                strbuf_printf(sb, ",\"%s\":null", key);
        else
                strbuf_printf(sb, ",\"%s\":%llu", key, (unsigned long long)v);
}

/* One object, "schema" first as every JSON document dhpctl prints. */
static void print_json(const dhp_limits *l) {
        struct strbuf sb = STRBUF_INIT;
        uint64_t quota, period;

        dhp_limits_get_cpu_max(l, &quota, &period);
        strbuf_printf(&sb, "{\"seq\":%llu,\"changed\":[", (unsigned long long)dhp_limits_get_seq(l));
        print_changed(dhp_limits_get_changed(l), true, &sb);
        strbuf_printf(&sb, "],\"cpus\":\"%s\",\"ncpus\":%u", dhp_limits_get_cpus(l), dhp_limits_get_cpu_count(l));
        json_u64(&sb, "quota_us", quota);
        strbuf_printf(&sb, ",\"period_us\":%llu", (unsigned long long)period);
        if (dhp_limits_get_bandwidth(l) < 0)
                strbuf_puts(&sb, ",\"bandwidth\":null");
        else
                strbuf_printf(&sb, ",\"bandwidth\":%.3f", dhp_limits_get_bandwidth(l));
        strbuf_printf(&sb, ",\"pool_size\":%u", dhp_limits_get_pool_size(l));
        json_u64(&sb, "memory_max", dhp_limits_get_memory_max(l));
        json_u64(&sb, "memory_high", dhp_limits_get_memory_high(l));
        strbuf_printf(&sb, ",\"memory_current\":%llu,\"populated\":%s,\"removed\":%s}",
                      (unsigned long long)dhp_limits_get_memory_current(l),
                      dhp_limits_is_populated(l) ? "true" : "false",
                      dhp_limits_get_changed(l) & DHP_LIMITS_REMOVED ? "true" : "false");
        ctl_print_json(stdout, strbuf_str(&sb) ? strbuf_str(&sb) : "{}");
        strbuf_deinit(&sb);
}

static const char *size_or_max(uint64_t v, char *buf, unsigned size) {
        return v == DHP_LIMITS_UNLIMITED ? "max" : format_size(v, buf, size);
}

static void print_text(const dhp_limits *l) {
        struct strbuf sb = STRBUF_INIT;
        char a[32], b[32], c[32];
        uint64_t quota, period;

        dhp_limits_get_cpu_max(l, &quota, &period);
        printf("seq %llu  cpus %s (%u)  ", (unsigned long long)dhp_limits_get_seq(l), dhp_limits_get_cpus(l),
               dhp_limits_get_cpu_count(l));
        if (quota == DHP_LIMITS_UNLIMITED)
                printf("cpu.max max  ");
        else
                printf("cpu.max %llu/%llu (%.2f CPUs)  ", (unsigned long long)quota, (unsigned long long)period,
                       dhp_limits_get_bandwidth(l));
        print_changed(dhp_limits_get_changed(l), false, &sb);
        printf("pool %u  memory.max %s  memory.high %s  memory.current %s  changed %s\n", dhp_limits_get_pool_size(l),
               size_or_max(dhp_limits_get_memory_max(l), a, sizeof(a)),
               size_or_max(dhp_limits_get_memory_high(l), b, sizeof(b)),
               format_size(dhp_limits_get_memory_current(l), c, sizeof(c)), strbuf_str(&sb) ? strbuf_str(&sb) : "");
        strbuf_deinit(&sb);
}

static void on_limits(void *userdata, const dhp_limits *l) {
        const struct limits_out *o = userdata;

        if (o->json)
                print_json(l);
        else
                print_text(l);
}

static int follow(dhp *ctx, struct limits_out *o) {
        dhp_limits_reg *reg;
        int r;

        r = dhp_limits_register(ctx, "dhpctl", 0, on_limits, o, &reg);
        if (r < 0) {
                fprintf(stderr, "dhpctl: limits: cannot follow: %s\n", strerror(-r));
                return 1;
        }
        for (;;) {
                r = dhp_wait(ctx, -1);
                if (r >= 0)
                        r = dhp_process(ctx);
                if (r == -ENODEV) {
                        fprintf(stderr, "dhpctl: limits: the cgroup was removed\n");
                        break;
                }
                if (r < 0) {
                        fprintf(stderr, "dhpctl: limits: %s\n", strerror(-r));
                        break;
                }
        }
        dhp_limits_unregister(reg);
        return r == -ENODEV ? 0 : 1;
}

static int build_target(char *buf, size_t size, const char *path, const char *interval, const char *root) {
        int n = snprintf(buf, size, "cgroup%s%s%s%s%s%s", path || interval || root ? ":" : "", path ? path : "",
                         interval ? (path ? ",interval=" : "interval=") : "", interval ? interval : "",
                         root ? (path || interval ? ",root=" : "root=") : "", root ? root : "");

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int ctl_limits(int argc, char **argv, const char *socket_path) {
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                { "follow", no_argument, NULL, 'f' },
                { "cgroup", required_argument, NULL, 'c' },
                { "interval", required_argument, NULL, 'i' },
                { "root", required_argument, NULL, 'r' },
                {},
        };
        struct limits_out o = { false, false };
        const char *path = NULL, *interval = NULL, *root = NULL;
        char target[8192], err[512] = "";
        dhp_limits *l;
        dhp *ctx;
        int c, r;

        while ((c = getopt_long(argc, argv, ":jfc:i:", opts, NULL)) >= 0) {
                switch (c) {
                case 'j': o.json = true; break;
                case 'f': o.follow = true; break;
                case 'c': path = optarg; break;
                case 'i': interval = optarg; break;
                case 'r': root = optarg; break;
                default: return ctl_bad_option("limits", argv, c);
                }
        }
        if (optind < argc) {
                fprintf(stderr, "dhpctl: limits: unexpected argument '%s'; see 'dhpctl limits --help'\n", argv[optind]);
                return 2;
        }
        if (path && strchr(path, ',')) {
                fprintf(stderr, "dhpctl: limits: a cgroup path with ',' cannot be watched: '%s'\n", path);
                return 2;
        }
        if (build_target(target, sizeof(target), path, interval, root) < 0) {
                fprintf(stderr, "dhpctl: limits: path too long\n");
                return 2;
        }
        r = dhp_internal_open(&ctx, target, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "dhpctl: limits: %s\n", err[0] ? err : strerror(-r));
                return 1;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (o.follow) {
                r = follow(ctx, &o);
        } else {
                r = dhp_limits_get(ctx, &l);
                if (r >= 0) {
                        on_limits(&o, l);
                        dhp_limits_free(l);
                } else {
                        fprintf(stderr, "dhpctl: limits: %s\n", strerror(-r));
                }
                r = r < 0;
        }
        dhp_close(ctx);
        return r;
}
