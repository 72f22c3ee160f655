/* SPDX-License-Identifier: MIT */
/*
 * dhpctl: the administrator's and developer's tool.
 *
 *   dhpctl [--socket TARGET] COMMAND [OPTIONS] [ARGS]
 *
 * One grammar for every command: --socket anywhere before "--", COMMAND
 * --help, unknown options and extra arguments refused with exit status 2,
 * every message on stderr prefixed "dhpctl: ".  Exit status: 0 success,
 * 1 the operation failed, 2 the command line is wrong (dhpctl(1)).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"
#include "cli/demo.h"
#include "cli/limits.h"
#include "dhp.h"
#include "util/parse.h"

struct command {
        const char *name;
        int (*run)(int argc, char **argv, const char *socket_path);
        const char *usage; /* after "dhpctl " */
        const char *help;
};

static int cmd_demo(int argc, char **argv, const char *socket_path);

static const struct command commands[] = {
        { "demo", cmd_demo, "demo [--json] [--target sim[:OPTIONS]] [SCENARIO]",
          "Run a scenario on a simulated partition inside dhpctl (no dhpd needed) with sample\n"
          "clients and print every notification as a timeline (or one JSON object per line).\n"
          "  -j, --json            one JSON object per line (\"schema\":" CTL_JSON_SCHEMA_STR ")\n"
          "  -t, --target sim:OPTIONS\n"
          "                        the partition: cpus=N,maxcpus=N,memory=SIZE,block=SIZE,maxmem=SIZE\n"
          "                        (default sim:cpus=2,maxcpus=8,memory=1G)\n" },
        { "status", ctl_status, "status [--json]",
          "Processors (state), memory devices and blocks, and the clients of dhpd\n"
          "(pid, uid, registrations, missed deadlines).  Any user may run it.\n"
          "  -j, --json            one JSON document (fields: dhpctl(1))\n" },
        { "monitor", ctl_monitor, "monitor [--json]",
          "Print dhpd's notification stream as it happens (the format of demo) until\n"
          "interrupted.  Any user may run it.\n"
          "  -j, --json            one JSON object per line\n" },
        { "cpu", ctl_cpu, "cpu online INDEX | cpu remove INDEX",
          "Run a new add for a present processor whose add failed (a client vetoed it, or the\n"
          "platform left it offline), on the same slot; or take an admitted processor away\n"
          "(root or the dhpd group).\n"
          "  online INDEX          ADD_START to every client again, then admission or ADD_FAILURE\n"
          "  remove INDEX          REMOVE_QUERY to the clients that opted in (a veto keeps it),\n"
          "                        then the managed cgroups narrowed, the processor offline,\n"
          "                        REMOVE_COMPLETE and REMOVAL; exit 1 when it stays\n" },
        { "memory", ctl_memory, "memory remove NAME",
          "Take memory device NAME (as 'dhpctl status' shows it: memory@0x...) away through\n"
          "dhpd (root or the dhpd group): QUERY_REMOVE to the clients that opted in (a veto\n"
          "keeps it), every block offline (EBUSY retried; a block that stays busy puts the\n"
          "others back online and cancels: exit 1), then REMOVAL.  A virtio-mem device is\n"
          "resized from the host, not here.\n" },
        { "sim", ctl_sim, "sim cpu add [N] | sim memory add SIZE | sim run SCENARIO",
          "Drive a 'dhpd --platform sim' (root or the dhpd group).\n"
          "  cpu add [N]           hot-add N processors (default 1), one after another;\n"
          "                        stops at the first that fails\n"
          "  memory add SIZE       hot-add a memory device of SIZE (a multiple of the block size)\n"
          "  run SCENARIO          run a scenario file in dhpd\n" },
        { "plot", ctl_plot, "plot [-i FILE] [-o FILE.svg|FILE.png]",
          "Draw the last hot-add transactions as an SVG timeline, one row per processor and\n"
          "memory device: dhpd's recent records, or the JSON lines of 'demo --json' or\n"
          "'monitor --json' in FILE (- for stdin).\n"
          "  -i, --input FILE      read records from FILE instead of dhpd\n"
          "  -o, --output FILE     write there (default stdout); a .png name is converted\n"
          "                        with rsvg-convert, refused when it is missing\n" },
        { "limits", ctl_limits, "limits [--json] [--follow] [--cgroup PATH] [--interval DURATION|off]",
          "A cgroup's limits as an application on the 'cgroup' target sees them (no dhpd\n"
          "needed): CPUs, cpu.max, the pool size (Go's GOMAXPROCS rule), memory.max/high.\n"
          "  -j, --json            one JSON object per line\n"
          "  -f, --follow          one line per change, until the cgroup is removed\n"
          "  -c, --cgroup PATH     that cgroup (default: dhpctl's own)\n"
          "  -i, --interval D|off  re-read period for what does not notify (default 1s)\n" },
        {},
};

static void usage(FILE *f) {
        fputs("Usage: dhpctl [--socket TARGET] COMMAND [OPTIONS]\n\nCommands:\n", f);
        for (const struct command *c = commands; c->name; c++)
                fprintf(f, "  %s\n", c->usage);
        fputs("  help [COMMAND]\n"
              "\n"
              "Options (anywhere on the line):\n"
              "  --socket TARGET  dhpd's socket: PATH or unix:PATH, as $DHP_TARGET\n"
              "                   (default: $DHP_TARGET, else /run/dhp/dhpd.sock)\n"
              "  -h, --help       this text; 'dhpctl COMMAND --help' for one command\n"
              "  --version        print the version\n"
              "\n"
              "Exit status: 0 success, 1 the operation failed, 2 bad command line.\n",
              f);
}

static const struct command *command_find(const char *name) {
        for (const struct command *c = commands; c->name; c++)
                if (strcmp(c->name, name) == 0)
                        return c;
        return NULL;
}

static void command_usage(const struct command *c, FILE *f) {
        fprintf(f, "Usage: dhpctl [--socket TARGET] %s\n\n%s", c->usage, c->help);
}

int ctl_bad_option(const char *cmd, char **argv, int c) {
        /* With ':' first in the option string getopt returns ':' for a
         * missing value, '?' for an unknown option (optopt 0 for a long
         * one); the word is the one before optind. */
        if (c == ':')
                fprintf(stderr, "dhpctl: %s: option '%s' needs a value; see 'dhpctl %s --help'\n", cmd, argv[optind - 1],
                        cmd);
        else if (optopt)
                fprintf(stderr, "dhpctl: %s: unknown option '-%c'; see 'dhpctl %s --help'\n", cmd, optopt, cmd);
        else
                fprintf(stderr, "dhpctl: %s: unknown option '%s'; see 'dhpctl %s --help'\n", cmd, argv[optind - 1], cmd);
        return 2;
}

/* Check sim:OPTIONS here, with the option's name in the message: the
 * library answers only EINVAL.  The keys are those of the simulated
 * platform (src/platform/sim/sim.c, sim_config_parse). */
static int demo_check_target(const char *target) {
        static const char *const size_keys[] = { "memory", "block", "maxmem" };
        char *dup, *save = NULL;
        int r = 0;

        if (strcmp(target, "sim") == 0)
                return 0;
        if (strncmp(target, "sim:", 4) != 0) {
                fprintf(stderr, "dhpctl: demo: --target must be a simulated partition (sim or sim:OPTIONS), got '%s'\n",
                        target);
                return -1;
        }
        dup = strdup(target + 4);
        if (!dup)
                return -1;
        for (char *item = strtok_r(dup, ",", &save); item && r == 0; item = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(item, '=');
                bool size = false, known = false;
                uint64_t v64;
                uint32_t v32;

                if (eq)
                        *eq++ = 0;
                for (size_t i = 0; i < 3; i++)
                        if (strcmp(item, size_keys[i]) == 0)
                                known = size = true;
                if (strcmp(item, "cpus") == 0 || strcmp(item, "maxcpus") == 0)
                        known = true;
                if (!known) {
                        fprintf(stderr, "dhpctl: demo: unknown sim option '%s'; known: cpus=N, maxcpus=N, memory=SIZE, "
                                        "block=SIZE, maxmem=SIZE\n", item);
                        r = -1;
                } else if (!eq || (size ? parse_size(eq, &v64) : parse_u32(eq, &v32)) < 0) {
                        fprintf(stderr, "dhpctl: demo: sim option '%s' needs %s, got '%s'\n", item,
                                size ? "a size (512M, 1G)" : "a number", eq ? eq : "nothing");
                        r = -1;
                }
        }
        free(dup);
        return r;
}

static int cmd_demo(int argc, char **argv, const char *socket_path) {
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                { "target", required_argument, NULL, 't' },
                {},
        };
        struct demo_options o = { .out = stdout };
        int c, r;

        while ((c = getopt_long(argc, argv, ":jt:", opts, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        o.json = true;
                        break;
                case 't':
                        if (demo_check_target(optarg) < 0)
                                return 2;
                        o.target = optarg;
                        break;
                default:
                        return ctl_bad_option("demo", argv, c);
                }
        }
        if (argc - optind > 1) {
                fprintf(stderr, "dhpctl: demo: expected at most one scenario file, got '%s' too\n", argv[optind + 1]);
                return 2;
        }
        if (optind < argc)
                o.scenario = argv[optind];
        setvbuf(stdout, NULL, _IOLBF, 0);
        r = demo_run(&o);
        if (r != 0 && o.target && strcmp(o.target, "sim") != 0)
                fprintf(stderr, "dhpctl: demo: (sim options must satisfy 1 <= cpus <= maxcpus <= 4096, block a power "
                                "of two, memory and maxmem multiples of block, memory <= maxmem)\n");
        return r;
}

/* Take --socket TARGET and --socket=TARGET out of argv, wherever they are
 * before "--".  The last one wins.  -1 when one lacks its value. */
static int take_socket(int *argc, char **argv, const char **ret) {
        int n = 1;

        for (int i = 1; i < *argc; i++) {
                if (strcmp(argv[i], "--") == 0) {
                        while (i < *argc)
                                argv[n++] = argv[i++];
                        break;
                }
                if (strcmp(argv[i], "--socket") == 0) {
                        if (i + 1 >= *argc || !argv[i + 1][0])
                                return -1;
                        *ret = argv[++i];
                } else if (strncmp(argv[i], "--socket=", 9) == 0) {
                        if (!argv[i][9])
                                return -1;
                        *ret = argv[i] + 9;
                } else
                        argv[n++] = argv[i];
        }
        *argc = n;
        argv[n] = NULL;
        return 0;
}

static bool wants_help(int argc, char **argv) {
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
                        return true;
        return false;
}

int main(int argc, char **argv) {
        const char *socket_path = NULL;
        const struct command *c;

        if (take_socket(&argc, argv, &socket_path) < 0) {
                fprintf(stderr, "dhpctl: --socket needs a value: PATH or unix:PATH\n");
                return 2;
        }
        if (socket_path && ctl_check_target(socket_path, "--socket") < 0)
                return 2;
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        if (strcmp(argv[1], "--version") == 0 && argc == 2) {
                printf("dhpctl %s\n", DHP_VERSION_STRING);
                return 0;
        }
        if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                if (argc > 3) {
                        fprintf(stderr, "dhpctl: help: unexpected argument '%s'\n", argv[3]);
                        return 2;
                }
                if (argc == 3) {
                        if (!(c = command_find(argv[2]))) {
                                fprintf(stderr, "dhpctl: help: unknown command '%s'; see 'dhpctl help'\n", argv[2]);
                                return 2;
                        }
                        command_usage(c, stdout);
                } else
                        usage(stdout);
                return 0;
        }
        c = command_find(argv[1]);
        if (!c) {
                fprintf(stderr, "dhpctl: unknown %s '%s'; see 'dhpctl help'\n",
                        argv[1][0] == '-' ? "option" : "command", argv[1]);
                return 2;
        }
        if (wants_help(argc - 1, argv + 1)) {
                command_usage(c, stdout);
                return 0;
        }
        /* The commands report unknown options themselves, once, with the
         * "dhpctl: " prefix. */
        opterr = 0;
        optind = 1;
        return c->run(argc - 1, argv + 1, socket_path);
}
