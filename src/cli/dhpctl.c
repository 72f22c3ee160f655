/* SPDX-License-Identifier: MIT */
/*
 * dhpctl: the administrator's and developer's tool.
 *
 *   dhpctl demo [--json] [--target sim:OPTIONS] [SCENARIO]
 *   dhpctl status | monitor | sim | plot (ctl.c, talking to dhpd)
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/ctl.h"
#include "cli/demo.h"
#include "cli/limits.h"
#include "dhp.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: dhpctl COMMAND [OPTIONS]\n"
                "\n"
                "Commands:\n"
                "  demo [--json] [--target sim:OPTIONS] [SCENARIO]\n"
                "        Run a scenario on a simulated partition with sample clients and print\n"
                "        every notification as a timeline (or one JSON object per line).\n"
                "        OPTIONS: cpus=N,maxcpus=N,memory=SIZE,block=SIZE,maxmem=SIZE\n"
                "  status [--json]\n"
                "        Processors (state), memory devices and blocks, and the clients of dhpd\n"
                "        (pid, uid, registrations, missed deadlines).\n"
                "  monitor [--json]\n"
                "        Print dhpd's notification stream as it happens (the format of demo).\n"
                "  sim cpu add | sim memory add SIZE | sim run SCENARIO\n"
                "        Drive a 'dhpd --platform sim' (root or the dhpd group).\n"
                "  plot [-o FILE.svg] [-i FILE]\n"
                "        An SVG timeline of the last hot-add transactions: dhpd's recent records,\n"
                "        or the JSON lines of 'demo --json' / 'monitor --json' in FILE (- for stdin).\n"
                "  limits [--json] [--follow] [--cgroup PATH] [--interval DURATION|off]\n"
                "        A cgroup's limits (default: dhpctl's own): CPUs, cpu.max, pool size,\n"
                "        memory.max/high; with --follow one line per change (no dhpd needed).\n"
                "  help  This text.\n"
                "\n"
                "Options:\n"
                "  --socket PATH  dhpd's socket (default: $DHP_TARGET, else /run/dhp/dhpd.sock),\n"
                "                 before the command.\n"
                "  --version      Print the version.\n");
}

static int cmd_demo(int argc, char **argv) {
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                { "target", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct demo_options o = { .out = stdout };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "jt:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        o.json = true;
                        break;
                case 't':
                        if (strncmp(optarg, "sim", 3) != 0) {
                                fprintf(stderr, "dhpctl demo: --target must be a simulated partition (sim or "
                                                "sim:OPTIONS), got '%s'\n", optarg);
                                return 2;
                        }
                        o.target = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        return 2;
                }
        }
        if (argc - optind > 1) {
                fprintf(stderr, "dhpctl demo: expected at most one scenario file, got %d arguments\n", argc - optind);
                return 2;
        }
        if (optind < argc)
                o.scenario = argv[optind];
        setvbuf(stdout, NULL, _IOLBF, 0);
        return demo_run(&o);
}

int main(int argc, char **argv) {
        const char *socket_path = NULL;

        while (argc >= 3 && strcmp(argv[1], "--socket") == 0) {
                socket_path = argv[2];
                argc -= 2;
                argv += 2;
        }
        if (argc >= 2 && strncmp(argv[1], "--socket=", 9) == 0) {
                socket_path = argv[1] + 9;
                argc--;
                argv++;
        }
        if (argc >= 2 && strcmp(argv[1], "status") == 0)
                return ctl_status(argc - 1, argv + 1, socket_path);
        if (argc >= 2 && strcmp(argv[1], "monitor") == 0)
                return ctl_monitor(argc - 1, argv + 1, socket_path);
        if (argc >= 2 && strcmp(argv[1], "sim") == 0)
                return ctl_sim(argc - 1, argv + 1, socket_path);
        if (argc >= 2 && strcmp(argv[1], "plot") == 0)
                return ctl_plot(argc - 1, argv + 1, socket_path);
        if (argc >= 2 && strcmp(argv[1], "limits") == 0)
                return ctl_limits(argc - 1, argv + 1);
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        if (strcmp(argv[1], "demo") == 0)
                return cmd_demo(argc - 1, argv + 1);
        if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                usage(stdout);
                return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("dhpctl %d.%d\n", DHP_VERSION_MAJOR, DHP_VERSION_MINOR);
                return 0;
        }
        fprintf(stderr, "dhpctl: unknown command '%s'; see 'dhpctl help'\n", argv[1]);
        return 2;
}
