/* SPDX-License-Identifier: MIT */
/*
 * The dhpctl commands that talk to dhpd: status, monitor, sim, plot.
 * Errors are reported here, once, in words a person can act on.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl.h"
#include "cli/plot.h"
#include "dhp.h"
#include "lib/dhp-private.h"
#include "util/parse.h"
#include "util/strbuf.h"

/* ---- targets -------------------------------------------------------------- */

/* --socket and $DHP_TARGET take one form: PATH or unix:PATH. */
int ctl_check_target(const char *target, const char *source) {
        const char *path = strncmp(target, "unix:", 5) == 0 ? target + 5 : target;
        size_t scheme = strspn(target, "abcdefghijklmnopqrstuvwxyz");

        if (path == target && scheme > 0 && target[scheme] == ':') {
                fprintf(stderr, "dhpctl: %s '%s' is not a dhpd socket: expected PATH or unix:PATH%s\n", source, target,
                        strncmp(target, "sim", 3) == 0 ? " (a simulated partition is for 'dhpctl demo --target')" : "");
                return -EINVAL;
        }
        /* A target name alone would be a relative path: most likely meant
         * as the target, so refused; ./sim names such a file. */
        if (strcmp(target, "sim") == 0 || strcmp(target, "linux") == 0 || strcmp(target, "cgroup") == 0) {
                fprintf(stderr, "dhpctl: %s '%s' is not a dhpd socket: expected PATH or unix:PATH (for a socket file "
                                "of that name in this directory: ./%s)%s\n", source, target, target,
                        strcmp(target, "sim") == 0 ? "; a simulated partition is for 'dhpctl demo --target'" : "");
                return -EINVAL;
        }
        if (!*path || strlen(path) >= 108) {
                fprintf(stderr, "dhpctl: %s '%s' is not a dhpd socket: the path must be 1 to 107 bytes long\n", source,
                        target);
                return -EINVAL;
        }
        return 0;
}

/* The socket path dhpctl talks to: --socket, else $DHP_TARGET, else the
 * default, always resolved so that a message can name it. */
static const char *socket_of(const char *socket_path) {
        const char *t = socket_path ? socket_path : getenv("DHP_TARGET");

        if (!t || !*t)
                return DHP_DEFAULT_SOCKET;
        return strncmp(t, "unix:", 5) == 0 ? t + 5 : t;
}

void ctl_print_json(FILE *f, const char *doc) {
        if (doc[0] != '{') {
                fprintf(f, "%s\n", doc);
                return;
        }
        fprintf(f, "{\"schema\":%d%s%s\n", CTL_JSON_SCHEMA, doc[1] == '}' ? "" : ",", doc + 1);
}

static int connect_daemon(const char *cmd, const char *socket_path, dhp **ret) {
        char target[160], err[512] = "";
        const char *path;
        int r;

        if (!socket_path && getenv("DHP_TARGET") && *getenv("DHP_TARGET") &&
            ctl_check_target(getenv("DHP_TARGET"), "$DHP_TARGET") < 0)
                return -EINVAL;
        path = socket_of(socket_path);
        snprintf(target, sizeof(target), "unix:%s", path);
        r = dhp_internal_open(ret, target, err, sizeof(err));
        if (r == -ENOENT || r == -ECONNREFUSED) {
                bool dflt = strcmp(path, DHP_DEFAULT_SOCKET) == 0;
                if (strcmp(cmd, "sim") == 0)
                        fprintf(stderr, "dhpctl: %s: dhpd is not running (nothing answers on %s); start the simulator "
                                        "with 'dhpd --platform sim%s%s' (root), or try 'dhpctl demo', which needs no "
                                        "dhpd\n", cmd, path, dflt ? "" : " --socket ", dflt ? "" : path);
                else
                        fprintf(stderr, "dhpctl: %s: dhpd is not running (nothing answers on %s); start it with "
                                        "'systemctl start dhpd'%s%s%s\n", cmd, path, dflt ? "" : " or 'dhpd --socket ",
                                dflt ? "" : path, dflt ? "" : "'");
        } else if (r < 0)
                fprintf(stderr, "dhpctl: %s: %s\n", cmd, err[0] ? err : strerror(-r));
        return r;
}

static void report(const char *cmd, int r, const char *text) {
        if (r == -EPERM && (!text || !*text))
                text = "permission denied: this needs root or membership in the dhpd group (default 'dhp')";
        fprintf(stderr, "dhpctl: %s: %s\n", cmd, text && *text ? text : strerror(-r));
}

/* Options: --json only, no argument. */
static int json_only(const char *cmd, int argc, char **argv, bool *ret_json) {
        static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, {} };
        int c;

        while ((c = getopt_long(argc, argv, ":j", opts, NULL)) >= 0) {
                if (c != 'j')
                        return ctl_bad_option(cmd, argv, c);
                *ret_json = true;
        }
        if (optind < argc) {
                fprintf(stderr, "dhpctl: %s: unexpected argument '%s'; see 'dhpctl %s --help'\n", cmd, argv[optind], cmd);
                return 2;
        }
        return 0;
}

/* The STATUS_MEM_NAME of device `id`, if dhpd sent one (1.3). */
static const struct remote_mem_name *mem_name(const struct remote_status *st, uint64_t id) {
        for (size_t i = 0; i < st->nmem_names; i++)
                if (st->mem_names[i].status_mem_name.id == id)
                        return &st->mem_names[i];
        return NULL;
}

/* One memory device of status: its STATUS_MEM, and its name, node and
 * kind when dhpd sent them (protocol 1.3). */
static void status_mem_json(struct strbuf *sb, const struct remote_status *st, size_t i) {
        const typeof(st->mem[0].status_mem) *m = &st->mem[i].status_mem;
        const struct remote_mem_name *nm = mem_name(st, m->id);

        strbuf_printf(sb, "%s{\"id\":%llu,\"base\":%llu,\"size\":%llu,\"block_size\":%llu,\"blocks\":%u,"
                          "\"online_blocks\":%u",
                      i ? "," : "", (unsigned long long)m->id, (unsigned long long)m->base, (unsigned long long)m->size,
                      (unsigned long long)m->block_size, m->nblocks, m->online_blocks);
        if (nm) {
                strbuf_puts(sb, ",\"name\":");
                strbuf_json_string(sb, nm->status_mem_name.name);
                if (nm->status_mem_name.node != UINT32_MAX)
                        strbuf_printf(sb, ",\"node\":%u", nm->status_mem_name.node);
                strbuf_printf(sb, ",\"virtio\":%s", nm->status_mem_name.flags & IPC_STATUS_MEM_VIRTIO ? "true" : "false");
        }
        /* The caller adds the runs and closes the object. */
}

static void status_mem_text(const struct remote_status *st, size_t i) {
        const typeof(st->mem[0].status_mem) *m = &st->mem[i].status_mem;
        const struct remote_mem_name *nm = mem_name(st, m->id);
        char def[32], sz[32], sz2[32];

        snprintf(def, sizeof(def), "memory@0x%llx", (unsigned long long)m->base);
        printf("  %s  %s%s  %u/%u blocks of %s online", nm ? nm->status_mem_name.name : def,
               format_size(m->size, sz, sizeof(sz)),
               nm && (nm->status_mem_name.flags & IPC_STATUS_MEM_VIRTIO) ? " plugged" : "", m->online_blocks,
               m->nblocks, format_size(m->block_size, sz2, sizeof(sz2)));
        if (nm && nm->status_mem_name.node != UINT32_MAX)
                printf("  node %u", nm->status_mem_name.node);
        printf("\n");
}

static const char *state_name(unsigned s) {
        switch (s) {
        case DHP_PROC_ABSENT: return "absent";
        case DHP_PROC_PRESENT: return "present";
        case DHP_PROC_STARTED: return "started";
        case DHP_PROC_ADMITTED: return "admitted";
        }
        return "?";
}

/* ---- status ------------------------------------------------------------- */

static const char *zone_name(unsigned z) {
        switch (z) {
        case DHP_MEMORY_ZONE_NORMAL: return "normal";
        case DHP_MEMORY_ZONE_MOVABLE: return "movable";
        }
        return "unknown";
}

/* The runs of blocks of device `id` (STATUS_MEM_BLOCKS, protocol 1.3):
 * a JSON array, or a text line per run (a few, then a count). */
static void status_runs(const struct remote_status *st, uint64_t id, struct strbuf *json) {
        unsigned shown = 0, more = 0;

        if (json)
                strbuf_puts(json, ",\"runs\":[");
        for (size_t i = 0; i < st->nruns; i++) {
                const struct remote_mem_run *u = &st->runs[i];
                if (u->device != id)
                        continue;
                if (json)
                        strbuf_printf(json, "%s{\"first_block\":%llu,\"count\":%u,\"state\":\"%s\",\"zone\":\"%s\"}",
                                      shown++ ? "," : "", (unsigned long long)u->first_block, u->count,
                                      u->state == DHP_MEMORY_BLOCK_ONLINE ? "online" : "offline", zone_name(u->zone));
                else if (shown++ < 8) {
                        char last[32] = "";
                        if (u->count > 1)
                                snprintf(last, sizeof(last), "-%llu", (unsigned long long)u->first_block + u->count - 1);
                        printf("      memory%llu%s  %s%s%s\n", (unsigned long long)u->first_block, last,
                               u->state == DHP_MEMORY_BLOCK_ONLINE ? "online" : "offline",
                               u->state == DHP_MEMORY_BLOCK_ONLINE ? ", zone " : "",
                               u->state == DHP_MEMORY_BLOCK_ONLINE ? zone_name(u->zone) : "");
                } else
                        more++;
        }
        if (json)
                strbuf_puts(json, "]");
        else if (more)
                printf("      (%u more runs of blocks)\n", more);
}

int ctl_status(int argc, char **argv, const char *socket_path) {
        struct remote_status st;
        struct strbuf sb = STRBUF_INIT;
        bool json = false;
        dhp *ctx;
        int r;

        if ((r = json_only("status", argc, argv, &json)) != 0)
                return r;
        if (connect_daemon("status", socket_path, &ctx) < 0)
                return 1;
        r = dhp_internal_status(ctx, &st);
        if (r < 0) {
                report("status", r, NULL);
                dhp_close(ctx);
                return 1;
        }
        if (json) {
                strbuf_puts(&sb, "{\"processors\":[");
                for (uint32_t i = 0; i < st.ncpus; i++)
                        strbuf_printf(&sb, "%s{\"index\":%u,\"state\":\"%s\"}", i ? "," : "", i,
                                      state_name(st.cpu_state[i]));
                strbuf_puts(&sb, "],\"memory\":[");
                for (size_t i = 0; i < st.nmem; i++) {
                        status_mem_json(&sb, &st, i);
                        if (st.has_blocks)
                                status_runs(&st, st.mem[i].status_mem.id, &sb);
                        strbuf_puts(&sb, "}");
                }
                strbuf_puts(&sb, "],\"clients\":[");
                for (size_t i = 0; i < st.nclients; i++) {
                        const typeof(st.clients[0].status_client) *k = &st.clients[i].status_client;
                        strbuf_printf(&sb, "%s{\"name\":", i ? "," : "");
                        strbuf_json_string(&sb, k->name);
                        strbuf_printf(&sb, ",\"pid\":%u,\"uid\":%u,\"privileged\":%s,\"sync_registrations\":%u,"
                                           "\"arrival_registrations\":%u,\"monitor\":%s,\"late\":%u,\"self\":%s}",
                                      k->pid, k->uid, k->flags & IPC_CLIENT_PRIVILEGED ? "true" : "false",
                                      k->sync_regs, k->arrival_regs, k->flags & IPC_CLIENT_MONITOR ? "true" : "false",
                                      k->late, k->flags & IPC_CLIENT_SELF ? "true" : "false");
                }
                strbuf_puts(&sb, "]}");
                if (sb.oom) {
                        report("status", -ENOMEM, NULL);
                        r = -ENOMEM;
                } else
                        ctl_print_json(stdout, strbuf_str(&sb));
        } else {
                printf("processors (%u slots):\n", st.ncpus);
                for (uint32_t i = 0; i < st.ncpus; i++)
                        if (st.cpu_state[i] != DHP_PROC_ABSENT)
                                printf("  cpu%-4u %s\n", i, state_name(st.cpu_state[i]));
                printf("memory devices:\n");
                for (size_t i = 0; i < st.nmem; i++) {
                        status_mem_text(&st, i);
                        status_runs(&st, st.mem[i].status_mem.id, NULL);
                }
                printf("clients:\n  %-24s %7s %6s %5s %7s %4s\n", "NAME", "PID", "UID", "SYNC", "ARRIVAL", "LATE");
                for (size_t i = 0; i < st.nclients; i++) {
                        const typeof(st.clients[0].status_client) *k = &st.clients[i].status_client;
                        printf("  %-24s %7u %6u %5u %7u %4u%s%s%s\n", k->name, k->pid, k->uid, k->sync_regs,
                               k->arrival_regs, k->late, k->late ? "  (missed deadlines)" : "",
                               k->flags & IPC_CLIENT_MONITOR ? "  monitor" : "",
                               k->flags & IPC_CLIENT_SELF ? "  (this dhpctl)" : "");
                }
        }
        strbuf_deinit(&sb);
        remote_status_deinit(&st);
        dhp_close(ctx);
        return r < 0 ? 1 : 0;
}

/* ---- monitor ------------------------------------------------------------ */

/* The record's wall-clock time for the text line, ISO 8601 in local time
 * with its offset ("2026-11-30T14:14:52.123+01:00  "), or "" when dhpd did
 * not send it (older than protocol 1.3).  JSON has it in UTC ("time"). */
static const char *wall_clock(const dhp_record *r, char *buf, size_t size) {
        uint64_t ns = dhp_record_get_realtime(r);
        time_t sec = (time_t)(ns / 1000000000ULL);
        char date[32], off[8];
        struct tm tm;

        if (!ns || !localtime_r(&sec, &tm) || !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) ||
            strftime(off, sizeof(off), "%z", &tm) != 5)
                return "";
        snprintf(buf, size, "%s.%03u%.3s:%s  ", date, (unsigned)(ns % 1000000000ULL / 1000000ULL), off, off + 3);
        return buf;
}

static void print_record(void *userdata, const dhp_record *r) {
        bool json = *(bool *)userdata;
        static char buf[8192];
        char when[64];

        dhp_record_format(r, json ? DHP_RECORD_JSON : DHP_RECORD_TEXT, buf, sizeof(buf));
        if (json)
                ctl_print_json(stdout, buf);
        else
                printf("%s%s\n", wall_clock(r, when, sizeof(when)), buf);
        fflush(stdout);
}

int ctl_monitor(int argc, char **argv, const char *socket_path) {
        static bool json;
        dhp_monitor *mon;
        sigset_t mask;
        dhp *ctx;
        int r;

        if ((r = json_only("monitor", argc, argv, &json)) != 0)
                return r;
        if (connect_daemon("monitor", socket_path, &ctx) < 0)
                return 1;
        r = dhp_monitor_add(ctx, print_record, &json, &mon);
        if (r < 0) {
                report("monitor", r, NULL);
                dhp_close(ctx);
                return 1;
        }
        /* Records arrive on the connection thread; this one waits for the
         * end: a signal, or the daemon going away. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        for (;;) {
                struct pollfd p = { .fd = dhp_get_fd(ctx), .events = POLLIN };
                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        break;
                r = dhp_process(ctx);
                if (r == -ECONNRESET) {
                        fprintf(stderr, "dhpctl: monitor: dhpd went away\n");
                        dhp_monitor_remove(mon);
                        dhp_close(ctx);
                        return 1;
                }
        }
        dhp_monitor_remove(mon);
        dhp_close(ctx);
        return 0;
}

/* ---- sim ------------------------------------------------------------------ */

static char *read_file(const char *path, char **ret_error) {
        FILE *f = fopen(path, "re");
        char *text = NULL;
        size_t len = 0;

        if (!f) {
                if (asprintf(ret_error, "%s: %s", path, strerror(errno)) < 0)
                        *ret_error = NULL;
                return NULL;
        }
        if (getdelim(&text, &len, 0, f) < 0) {
                free(text);
                text = strdup("");
        }
        fclose(f);
        return text;
}

/* The last sequence number in dhpd's history (0 when it is empty or not
 * kept): what `sim run` prints afterwards is what came after it. */
static uint64_t history_last_seq(dhp *ctx) {
        struct remote_history h;
        uint64_t seq = 0;

        if (dhp_internal_history(ctx, 0, &h) < 0)
                return 0;
        if (h.n > 0)
                seq = h.records[h.n - 1].seq;
        remote_history_deinit(&h);
        return seq;
}

/* After `sim run`: every transaction that failed or was refused since
 * `after`, then the counts, so a failed start is never silent. */
static void sim_run_summary(dhp *ctx, uint64_t after) {
        struct remote_history h;
        unsigned admitted = 0, failed = 0, online = 0;
        char buf[4096];

        if (dhp_internal_history(ctx, 0, &h) < 0)
                return;
        for (size_t i = 0; i < h.n; i++) {
                const struct ipc_record *w = &h.records[i];
                if (w->seq <= after || strcmp(w->method, "txn") != 0)
                        continue;
                if (strcmp(w->event, "ADMITTED") == 0)
                        admitted++;
                else if (strcmp(w->event, "ONLINE") == 0 && w->status == 0)
                        online++;
                else if (w->status != 0 || strcmp(w->event, "REJECTED") == 0) {
                        failed++;
                        if (dhp_internal_record_format(w, DHP_RECORD_TEXT, buf, sizeof(buf)) >= 0)
                                printf("failed: %s\n", buf);
                }
        }
        printf("%u processor(s) admitted, %u memory block(s) online, %u transaction(s) failed or refused\n", admitted,
               online, failed);
        remote_history_deinit(&h);
}

static int sim_cpu_add(dhp *ctx, uint32_t count) {
        for (uint32_t i = 0; i < count; i++) {
                uint32_t idx = 0;
                int r = dhp_sim_cpu_add(ctx, &idx);
                if (r == 1)
                        printf("cpu%u: the add was vetoed; the processor is not admitted\n", idx);
                else if (r == 0)
                        printf("cpu%u admitted\n", idx);
                else {
                        const char *text = dhp_internal_last_text(ctx);
                        char why[160];
                        if (!*text)
                                snprintf(why, sizeof(why), "%s", r == -ENOSPC ? "every processor slot is in use"
                                                                             : strerror(-r));
                        fprintf(stderr, "dhpctl: sim cpu add: %s (%u of %u added)\n", *text ? text : why, i, count);
                        return r;
                }
        }
        return 0;
}

/* "128 MiB", "1.5 GiB": sizes in words, for messages. */
static const char *mib(uint64_t bytes, char *buf, size_t size) {
        if (bytes >= (1ULL << 30) && bytes % (1ULL << 28) == 0)
                snprintf(buf, size, "%g GiB", (double)bytes / (1ULL << 30));
        else
                snprintf(buf, size, "%llu MiB", (unsigned long long)(bytes >> 20));
        return buf;
}

/* `sim memory add SIZE`: the size is checked here against the block size
 * and the partition's memory from STATUS, because dhpd answers only
 * EINVAL or ENOSPC. */
static int sim_memory_add(dhp *ctx, const char *arg) {
        struct remote_status st;
        uint64_t size, base = 0, block = 0, total = 0;
        char sz[32], sz2[32];
        int r;

        if (parse_size(arg, &size) < 0 || size == 0) {
                fprintf(stderr, "dhpctl: sim memory add: expected a size (512M, 1G), got '%s'\n", arg);
                return -EINVAL;
        }
        if (dhp_internal_status(ctx, &st) == 0) {
                for (size_t i = 0; i < st.nmem; i++) {
                        block = st.mem[i].status_mem.block_size;
                        total += st.mem[i].status_mem.size;
                }
                remote_status_deinit(&st);
        }
        if (block && size % block) {
                fprintf(stderr, "dhpctl: sim memory add: %s is not a multiple of the %s block size (try %s)\n", arg,
                        mib(block, sz, sizeof(sz)), mib((size + block - 1) / block * block, sz2, sizeof(sz2)));
                return -EINVAL;
        }
        r = dhp_sim_memory_add(ctx, size, &base);
        if (r == -ENOSPC)
                fprintf(stderr, "dhpctl: sim memory add: %s more would go beyond the partition's maxmem limit (it holds "
                                "%s now; the limit is dhpd's --sim maxmem=SIZE, 64 GiB unless set)\n",
                        arg, mib(total, sz, sizeof(sz)));
        else if (r == -EINVAL)
                fprintf(stderr, "dhpctl: sim memory add: dhpd refused %s: it must be a multiple of the block size\n", arg);
        else if (r < 0)
                report("sim", r, dhp_internal_last_text(ctx));
        else
                printf("memory@0x%llx +%s online\n", (unsigned long long)base, format_size(size, sz, sizeof(sz)));
        return r;
}

static int sim_usage_error(const char *what) {
        fprintf(stderr, "dhpctl: sim: %s; usage: dhpctl sim cpu add [N] | sim memory add SIZE | sim run SCENARIO\n",
                what);
        return 2;
}

int ctl_sim(int argc, char **argv, const char *socket_path) {
        static const struct option opts[] = { {} };
        const char *sub, *verb;
        char *err = NULL;
        uint32_t count = 1;
        int c, nargs, r;
        dhp *ctx;

        while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0)
                return ctl_bad_option("sim", argv, c);
        argv += optind;
        argc -= optind;
        if (argc < 1)
                return sim_usage_error("expected cpu, memory or run");
        sub = argv[0];
        verb = argc > 1 ? argv[1] : NULL;
        if (strcmp(sub, "run") == 0)
                nargs = 2;
        else if (strcmp(sub, "cpu") == 0 || strcmp(sub, "memory") == 0) {
                if (!verb || strcmp(verb, "add") != 0)
                        return sim_usage_error(verb ? "the only verb is 'add'" : "expected 'add'");
                nargs = strcmp(sub, "cpu") == 0 ? (argc > 2 ? 3 : 2) : 3;
        } else
                return sim_usage_error("expected cpu, memory or run");
        if (argc < nargs)
                return sim_usage_error(strcmp(sub, "run") == 0 ? "expected a scenario file" : "expected a size");
        if (argc > nargs) {
                fprintf(stderr, "dhpctl: sim: unexpected argument '%s'; see 'dhpctl sim --help'\n", argv[nargs]);
                return 2;
        }
        if (strcmp(sub, "cpu") == 0 && argc == 3 && (parse_u32(argv[2], &count) < 0 || count == 0 || count > 4096)) {
                fprintf(stderr, "dhpctl: sim cpu add: expected a count from 1 to 4096, got '%s'\n", argv[2]);
                return 2;
        }
        if (connect_daemon("sim", socket_path, &ctx) < 0)
                return 1;
        if (strcmp(sub, "cpu") == 0)
                r = sim_cpu_add(ctx, count);
        else if (strcmp(sub, "memory") == 0)
                r = sim_memory_add(ctx, argv[2]);
        else {
                uint64_t before = history_last_seq(ctx);
                char *text = read_file(verb, &err);
                r = text ? dhp_sim_run_scenario(ctx, verb, text, &err) : -EIO;
                free(text);
                if (r < 0)
                        report("sim run", r, err ? err : dhp_internal_last_text(ctx));
                if (r == -ENOSPC && err)
                        fprintf(stderr, "dhpctl: sim run: the partition is full: %s\n",
                                strstr(err, "cpu add") ? "every processor slot is used; dhpd's --sim maxcpus=N "
                                                         "(8 unless set) makes more"
                                                       : "dhpd's --sim maxmem=SIZE (64 GiB unless set) is the limit");
                sim_run_summary(ctx, before);
        }
        free(err);
        dhp_close(ctx);
        return r < 0 ? 1 : 0;
}

/* ---- cpu remove INDEX | memory remove NAME (doc/model.md, "Removal") ------- */

/* argv[0] is "remove", argv[1] the processor index or the device name. */
static int remove_cmd(const char *kind, int argc, char **argv, const char *socket_path) {
        bool cpu = strcmp(kind, "cpu") == 0;
        const char *cmd = cpu ? "cpu remove" : "memory remove";
        char what[80];
        uint32_t index = 0;
        dhp *ctx;
        int r, status = 0;

        if (argc < 2 || (cpu && parse_u32(argv[1], &index) < 0)) {
                fprintf(stderr, "dhpctl: %s: expected %s, got %s%s%s\n", cmd,
                        cpu ? "a processor index" : "a memory device name (as in dhpctl status)",
                        argc < 2 ? "nothing" : "'", argc < 2 ? "" : argv[1], argc < 2 ? "" : "'");
                return 2;
        }
        if (argc > 2) {
                fprintf(stderr, "dhpctl: %s: unexpected argument '%s'; see 'dhpctl %s --help'\n", cmd, argv[2], kind);
                return 2;
        }
        if (connect_daemon(cmd, socket_path, &ctx) < 0)
                return 1;
        r = cpu ? dhp_proc_remove(ctx, index, &status) : dhp_memory_remove(ctx, argv[1], &status);
        snprintf(what, sizeof(what), "%s%s", cpu ? "cpu" : "", argv[1]);
        if (r == 0)
                printf("%s removed\n", what);
        else if (r == 1)
                fprintf(stderr, "dhpctl: %s: %s stays, the removal was cancelled: %s (a client's veto or the "
                                "platform's refusal; 'dhpctl monitor' shows which)\n", cmd, what, strerror(-status));
        else
                report(cmd, r, dhp_internal_last_text(ctx));
        dhp_close(ctx);
        return r == 0 ? 0 : 1;
}

int ctl_memory(int argc, char **argv, const char *socket_path) {
        static const struct option opts[] = { {} };
        int c;

        while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0)
                return ctl_bad_option("memory", argv, c);
        argv += optind;
        argc -= optind;
        if (argc < 1 || strcmp(argv[0], "remove") != 0) {
                fprintf(stderr, "dhpctl: memory: expected 'remove'; usage: dhpctl memory remove NAME\n");
                return 2;
        }
        return remove_cmd("memory", argc, argv, socket_path);
}

/* ---- cpu online INDEX ------------------------------------------------------- */

int ctl_cpu(int argc, char **argv, const char *socket_path) {
        static const struct option opts[] = { {} };
        uint32_t index;
        dhp *ctx;
        int c, r, status = 0;

        while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0)
                return ctl_bad_option("cpu", argv, c);
        argv += optind;
        argc -= optind;
        if (argc >= 1 && strcmp(argv[0], "remove") == 0)
                return remove_cmd("cpu", argc, argv, socket_path);
        if (argc < 1 || strcmp(argv[0], "online") != 0) {
                fprintf(stderr, "dhpctl: cpu: expected 'online' or 'remove'; usage: dhpctl cpu online INDEX | "
                                "dhpctl cpu remove INDEX\n");
                return 2;
        }
        if (argc < 2 || parse_u32(argv[1], &index) < 0) {
                fprintf(stderr, "dhpctl: cpu online: expected a processor index, got %s%s%s\n", argc < 2 ? "nothing" : "'",
                        argc < 2 ? "" : argv[1], argc < 2 ? "" : "'");
                return 2;
        }
        if (argc > 2) {
                fprintf(stderr, "dhpctl: cpu online: unexpected argument '%s'; see 'dhpctl cpu --help'\n", argv[2]);
                return 2;
        }
        if (connect_daemon("cpu online", socket_path, &ctx) < 0)
                return 1;
        r = dhp_proc_online(ctx, index, &status);
        if (r == 0)
                printf("cpu%u admitted\n", index);
        else if (r == 1)
                fprintf(stderr, "dhpctl: cpu online: cpu%u: the add failed again: %s (a client's veto or the "
                                "platform's error; 'dhpctl monitor' shows which); it stays present\n",
                        index, strerror(-status));
        else if (r == -EOPNOTSUPP && !dhp_internal_last_text(ctx)[0])
                report("cpu online", r, "this dhpd is too old for 'cpu online' (protocol 1.3 has it)");
        else
                report("cpu online", r, dhp_internal_last_text(ctx));
        dhp_close(ctx);
        return r == 0 ? 0 : 1;
}

/* ---- plot ------------------------------------------------------------------ */

/* One line of JSON into the plot; a fault as FILE:LINE:COL. */
static int plot_line(struct plot *p, const char *file, unsigned line, const char *text, size_t len) {
        struct flatjson o;
        const char *why = NULL;
        size_t off = 0;
        int r;

        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
                len--;
        if (strspn(text, " \t") >= len)
                return 0; /* a blank line */
        r = flatjson_parse(text, len, &o, &off, &why);
        if (r == -EBADMSG) {
                fprintf(stderr, "dhpctl: plot: %s:%u:%zu: %s\n", file, line, off + 1, why);
                return r;
        }
        if (r < 0) {
                fprintf(stderr, "dhpctl: plot: %s\n", strerror(-r));
                return r;
        }
        r = plot_add(p, &o, &why);
        if (r == -EINVAL)
                fprintf(stderr, "dhpctl: plot: %s:%u:1: %s\n", file, line, why);
        else if (r < 0)
                fprintf(stderr, "dhpctl: plot: %s\n", strerror(-r));
        flatjson_deinit(&o);
        return r;
}

static int plot_from_file(struct plot *p, const char *path) {
        const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
        FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
        char *line = NULL;
        size_t cap = 0;
        unsigned n = 0;
        ssize_t len;
        int r = 0;

        if (!f) {
                fprintf(stderr, "dhpctl: plot: %s: %s\n", path, strerror(errno));
                return -errno;
        }
        while (r == 0 && (len = getline(&line, &cap, f)) >= 0) {
                n++;
                if (memchr(line, 0, (size_t)len)) {
                        fprintf(stderr, "dhpctl: plot: %s:%u:%zu: a NUL byte\n", name, n,
                                (size_t)((char *)memchr(line, 0, (size_t)len) - line) + 1);
                        r = -EBADMSG;
                        break;
                }
                r = plot_line(p, name, n, line, (size_t)len);
        }
        if (r == 0 && ferror(f)) {
                fprintf(stderr, "dhpctl: plot: %s: read error\n", name);
                r = -EIO;
        }
        free(line);
        if (f != stdin)
                fclose(f);
        return r;
}

/* dhpd's history: each record formatted as `monitor --json` prints it,
 * then read back like a file, so that both sources draw the same. */
static int plot_from_daemon(struct plot *p, const char *socket_path) {
        struct remote_history h;
        static char buf[16384];
        dhp *ctx;
        int r;

        if (connect_daemon("plot", socket_path, &ctx) < 0)
                return -ENOTCONN;
        r = dhp_internal_history(ctx, 0, &h);
        if (r < 0) {
                report("plot", r, dhp_internal_last_text(ctx));
                dhp_close(ctx);
                return r;
        }
        for (size_t i = 0; r == 0 && i < h.n; i++) {
                int n = dhp_internal_record_format(&h.records[i], DHP_RECORD_JSON, buf, sizeof(buf));
                if (n < 0 || (size_t)n >= sizeof(buf))
                        continue;
                r = plot_line(p, "dhpd", (unsigned)i + 1, buf, (size_t)n);
        }
        remote_history_deinit(&h);
        dhp_close(ctx);
        return r;
}

/* The output's format from its name: SVG, PNG through rsvg-convert, or
 * refused (-1) so that no file ever holds another format than its name. */
static int plot_format(const char *out) {
        const char *base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out, *dot = strrchr(base, '.');

        if (strcmp(out, "-") == 0 || !dot || strcasecmp(dot, ".svg") == 0)
                return PLOT_SVG;
        if (strcasecmp(dot, ".png") == 0)
                return PLOT_PNG;
        fprintf(stderr, "dhpctl: plot: cannot write '%s': the name must end in .svg or .png\n", out);
        return -1;
}

int ctl_plot(int argc, char **argv, const char *socket_path) {
        static const struct option opts[] = {
                { "output", required_argument, NULL, 'o' },
                { "input", required_argument, NULL, 'i' },
                {},
        };
        const char *out = NULL, *in = NULL;
        struct plot *p = NULL;
        int c, r, format = PLOT_SVG;

        while ((c = getopt_long(argc, argv, ":o:i:", opts, NULL)) >= 0) {
                switch (c) {
                case 'o':
                        out = optarg;
                        break;
                case 'i':
                        in = optarg;
                        break;
                default:
                        return ctl_bad_option("plot", argv, c);
                }
        }
        if (optind < argc) {
                fprintf(stderr, "dhpctl: plot: unexpected argument '%s'; see 'dhpctl plot --help'\n", argv[optind]);
                return 2;
        }
        if (out && (format = plot_format(out)) < 0)
                return 2;
        if (format == PLOT_PNG && !plot_png_available()) {
                fprintf(stderr, "dhpctl: plot: writing PNG needs rsvg-convert, which is not installed (Debian: "
                                "apt install librsvg2-bin); or write SVG: -o FILE.svg\n");
                return 1;
        }
        if (plot_new(&p) < 0) {
                fprintf(stderr, "dhpctl: plot: out of memory\n");
                return 1;
        }
        r = in ? plot_from_file(p, in) : plot_from_daemon(p, socket_path);
        if (r == 0 && plot_count(p) == 0)
                fprintf(stderr, "dhpctl: plot: %s holds no record to draw (no hot-add yet?)\n", in ? in : "dhpd's history");
        if (r == 0) {
                const char *why = NULL;
                r = plot_write(p, out && strcmp(out, "-") != 0 ? out : NULL, format, &why);
                if (r < 0)
                        fprintf(stderr, "dhpctl: plot: cannot write %s: %s\n", out ? out : "the SVG",
                                why ? why : strerror(-r));
        }
        plot_free(p);
        return r < 0 ? 1 : 0;
}
