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

#include "cli/ctl.h"
#include "cli/plot.h"
#include "dhp.h"
#include "lib/dhp-private.h"
#include "util/parse.h"
#include "util/strbuf.h"

static const char *target_of(const char *socket_path, char *buf, size_t size) {
        if (!socket_path)
                return NULL; /* $DHP_TARGET or the default socket */
        snprintf(buf, size, "unix:%s", socket_path);
        return buf;
}

static int connect_daemon(const char *cmd, const char *socket_path, dhp **ret) {
        char tb[160], err[512] = "";
        const char *target = target_of(socket_path, tb, sizeof(tb));
        int r;

        if (!target && getenv("DHP_TARGET") && strncmp(getenv("DHP_TARGET"), "unix:", 5) != 0) {
                fprintf(stderr, "dhpctl %s: DHP_TARGET=%s is not a dhpd socket (unix:PATH)\n", cmd, getenv("DHP_TARGET"));
                return -EINVAL;
        }
        r = dhp_internal_open(ret, target, err, sizeof(err));
        if (r < 0)
                fprintf(stderr, "dhpctl %s: %s\n", cmd, err[0] ? err : strerror(-r));
        return r;
}

static void report(const char *cmd, int r, const char *text) {
        if (r == -EPERM && !text)
                text = "permission denied: this needs root or membership in the dhpd group (default 'dhp')";
        fprintf(stderr, "dhpctl %s: %s\n", cmd, text && *text ? text : strerror(-r));
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
        static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, {} };
        struct remote_status st;
        struct strbuf sb = STRBUF_INIT;
        bool json = false;
        char sz[32], sz2[32];
        dhp *ctx;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "j", opts, NULL)) >= 0) {
                if (c != 'j')
                        return 2;
                json = true;
        }
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
                        const typeof(st.mem[0].status_mem) *m = &st.mem[i].status_mem;
                        strbuf_printf(&sb, "%s{\"id\":%llu,\"base\":%llu,\"size\":%llu,\"block_size\":%llu,"
                                           "\"blocks\":%u,\"online_blocks\":%u",
                                      i ? "," : "", (unsigned long long)m->id, (unsigned long long)m->base,
                                      (unsigned long long)m->size, (unsigned long long)m->block_size, m->nblocks,
                                      m->online_blocks);
                        if (st.has_blocks)
                                status_runs(&st, m->id, &sb);
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
                printf("%s\n", strbuf_str(&sb));
        } else {
                printf("processors (%u slots):\n", st.ncpus);
                for (uint32_t i = 0; i < st.ncpus; i++)
                        if (st.cpu_state[i] != DHP_PROC_ABSENT)
                                printf("  cpu%-4u %s\n", i, state_name(st.cpu_state[i]));
                printf("memory devices:\n");
                for (size_t i = 0; i < st.nmem; i++) {
                        const typeof(st.mem[0].status_mem) *m = &st.mem[i].status_mem;
                        printf("  memory@0x%llx  %s  %u/%u blocks of %s online\n", (unsigned long long)m->base,
                               format_size(m->size, sz, sizeof(sz)), m->online_blocks, m->nblocks,
                               format_size(m->block_size, sz2, sizeof(sz2)));
                        status_runs(&st, m->id, NULL);
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
        return 0;
}

/* ---- monitor ------------------------------------------------------------ */

static void print_record(void *userdata, const dhp_record *r) {
        bool json = *(bool *)userdata;
        static char buf[8192];

        dhp_record_format(r, json ? DHP_RECORD_JSON : DHP_RECORD_TEXT, buf, sizeof(buf));
        printf("%s\n", buf);
        fflush(stdout);
}

int ctl_monitor(int argc, char **argv, const char *socket_path) {
        static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, {} };
        static bool json;
        dhp_monitor *mon;
        sigset_t mask;
        dhp *ctx;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "j", opts, NULL)) >= 0) {
                if (c != 'j')
                        return 2;
                json = true;
        }
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
                        fprintf(stderr, "dhpctl monitor: dhpd went away\n");
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

int ctl_sim(int argc, char **argv, const char *socket_path) {
        char *err = NULL, sz[32];
        dhp *ctx;
        int r;

        if (argc < 3 || (strcmp(argv[1], "cpu") == 0 && strcmp(argv[2], "add") != 0) ||
            (strcmp(argv[1], "memory") == 0 && (strcmp(argv[2], "add") != 0 || argc < 4)) ||
            (strcmp(argv[1], "cpu") != 0 && strcmp(argv[1], "memory") != 0 && strcmp(argv[1], "run") != 0)) {
                fprintf(stderr, "Usage: dhpctl sim cpu add | sim memory add SIZE | sim run SCENARIO\n");
                return 2;
        }
        if (connect_daemon("sim", socket_path, &ctx) < 0)
                return 1;
        if (strcmp(argv[1], "cpu") == 0) {
                uint32_t idx = 0;
                r = dhp_sim_cpu_add(ctx, &idx);
                if (r == 0)
                        printf("cpu%u admitted\n", idx);
                else if (r == 1)
                        printf("cpu%u: the add was vetoed; the processor is not admitted\n", idx);
        } else if (strcmp(argv[1], "memory") == 0) {
                uint64_t size, base = 0;
                if (parse_size(argv[3], &size) < 0) {
                        fprintf(stderr, "dhpctl sim memory add: expected a size (512M, 1G), got '%s'\n", argv[3]);
                        dhp_close(ctx);
                        return 2;
                }
                r = dhp_sim_memory_add(ctx, size, &base);
                if (r == 0)
                        printf("memory@0x%llx +%s online\n", (unsigned long long)base, format_size(size, sz, sizeof(sz)));
        } else {
                char *text = read_file(argv[2], &err);
                r = text ? dhp_sim_run_scenario(ctx, argv[2], text, &err) : -EIO;
                free(text);
        }
        if (r < 0)
                report("sim", r, err ? err : dhp_internal_last_text(ctx));
        free(err);
        dhp_close(ctx);
        return r < 0 ? 1 : 0;
}

/* ---- dhpctl cpu online N ----------------------------------------------------- */

int ctl_cpu_online(int argc, char **argv, const char *socket_path) {
        uint32_t index;
        dhp *ctx;
        int r, status = 0;

        if (argc != 3 || strcmp(argv[1], "online") != 0 || parse_u32(argv[2], &index) < 0) {
                fprintf(stderr, "Usage: dhpctl cpu online INDEX\n");
                return 2;
        }
        if (connect_daemon("cpu online", socket_path, &ctx) < 0)
                return 1;
        r = dhp_proc_online(ctx, index, &status);
        if (r == 0)
                printf("cpu%u admitted\n", index);
        else if (r == 1)
                fprintf(stderr, "dhpctl cpu online: cpu%u: the add failed again: %s (a client's veto or the "
                                "platform's error; dhpctl monitor shows which); it stays present\n",
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
                fprintf(stderr, "dhpctl plot: %s:%u:%zu: %s\n", file, line, off + 1, why);
                return r;
        }
        if (r < 0) {
                fprintf(stderr, "dhpctl plot: %s\n", strerror(-r));
                return r;
        }
        r = plot_add(p, &o, &why);
        if (r == -EINVAL)
                fprintf(stderr, "dhpctl plot: %s:%u:1: %s\n", file, line, why);
        else if (r < 0)
                fprintf(stderr, "dhpctl plot: %s\n", strerror(-r));
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
                fprintf(stderr, "dhpctl plot: %s: %s\n", path, strerror(errno));
                return -errno;
        }
        while (r == 0 && (len = getline(&line, &cap, f)) >= 0) {
                n++;
                if (memchr(line, 0, (size_t)len)) {
                        fprintf(stderr, "dhpctl plot: %s:%u:%zu: a NUL byte\n", name, n,
                                (size_t)((char *)memchr(line, 0, (size_t)len) - line) + 1);
                        r = -EBADMSG;
                        break;
                }
                r = plot_line(p, name, n, line, (size_t)len);
        }
        if (r == 0 && ferror(f)) {
                fprintf(stderr, "dhpctl plot: %s: read error\n", name);
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

int ctl_plot(int argc, char **argv, const char *socket_path) {
        static const struct option opts[] = {
                { "output", required_argument, NULL, 'o' },
                { "input", required_argument, NULL, 'i' },
                {},
        };
        const char *out = NULL, *in = NULL;
        struct plot *p = NULL;
        FILE *f = stdout;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "o:i:", opts, NULL)) >= 0) {
                switch (c) {
                case 'o':
                        out = optarg;
                        break;
                case 'i':
                        in = optarg;
                        break;
                default:
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "dhpctl plot: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        if (plot_new(&p) < 0) {
                fprintf(stderr, "dhpctl plot: out of memory\n");
                return 1;
        }
        r = in ? plot_from_file(p, in) : plot_from_daemon(p, socket_path);
        if (r == 0 && plot_count(p) == 0)
                fprintf(stderr, "dhpctl plot: %s holds no record to draw (no hot-add yet?)\n", in ? in : "dhpd's history");
        if (r == 0 && out && strcmp(out, "-") != 0) {
                f = fopen(out, "we");
                if (!f) {
                        fprintf(stderr, "dhpctl plot: %s: %s\n", out, strerror(errno));
                        r = -errno;
                }
        }
        if (r == 0) {
                r = plot_write_svg(p, f);
                if (f != stdout && fclose(f) != 0 && r == 0)
                        r = -EIO;
                if (r < 0)
                        fprintf(stderr, "dhpctl plot: cannot write %s: %s\n", out ? out : "the SVG", strerror(-r));
        }
        plot_free(p);
        return r < 0 ? 1 : 0;
}
