/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/options.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: dhpd [OPTIONS]\n"
                "\n"
                "The agent that brings hot-added processors and memory online and runs the\n"
                "hot-add notifications (ADD_START/ADD_COMPLETE, arrival, memory conditions,\n"
                "rebalance) in order.\n"
                "\n"
                "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
                "  -f, --foreground       do not detach (always so under systemd); without it dhpd\n"
                "                         returns once ready, with the daemon's status\n"
                "      --platform NAME    linux (default) or sim\n"
                "      --sim OPTIONS      with --platform sim: the simulated partition (cpus=N,maxcpus=N,...)\n"
                "      --scenario FILE    with --platform sim: run this scenario at start\n"
                "      --socket PATH      the client socket (default: [daemon] socket, /run/dhp/dhpd.sock)\n"
                "      --state-dir DIR    the state file's directory (default: the socket's; \"\": none)\n"
                "      --take-over        write 'offline' to auto_online_blocks so that the kernel\n"
                "                         leaves hot-added memory to dhpd\n"
                "      --check-config     validate the configuration and exit\n"
                "      --log-level LEVEL  err, warning, notice, info or debug\n"
                "      --root DIR         prefix of /sys and /proc (testing)\n"
                "      --uevent-fd N      read uevents from this fd instead of netlink (testing)\n"
                "  -h, --help             this text\n"
                "      --version          print the version and exit\n");
}

/* The options whose value is checked: --platform, --log-level, --socket,
 * --uevent-fd.  -EINVAL, said on stderr, for a bad one. */
static int parse_checked_option(struct options *o, int c, const char *arg) {
        static const char *const levels[] = { "err", "warning", "notice", "info", "debug" };
        char *end;
        long v;

        switch (c) {
        case 'P':
                if (strcmp(arg, "linux") != 0 && strcmp(arg, "sim") != 0) {
                        fprintf(stderr, "dhpd: --platform must be linux or sim, got '%s'\n", arg);
                        return -EINVAL;
                }
                o->platform = arg;
                return 0;
        case 'l':
                for (int i = 0; i < 5; i++)
                        if (strcmp(arg, levels[i]) == 0)
                                o->log_level = i + 3;
                if (!o->log_level) {
                        fprintf(stderr, "dhpd: --log-level must be err, warning, notice, info or debug\n");
                        return -EINVAL;
                }
                return 0;
        case 'k':
                if (arg[0] != '/' || strlen(arg) >= 108) {
                        fprintf(stderr, "dhpd: --socket needs an absolute path shorter than 108 bytes, got '%s'\n", arg);
                        return -EINVAL;
                }
                o->socket_path = arg;
                return 0;
        case 'u':
                v = strtol(arg, &end, 10);
                if (*end || v < 0 || v > 65535 || fcntl((int)v, F_GETFD) < 0) {
                        fprintf(stderr, "dhpd: --uevent-fd needs an open file descriptor, got '%s'\n", arg);
                        return -EINVAL;
                }
                o->uevent_fd = (int)v;
                return 0;
        }
        return -EINVAL;
}

int options_parse(struct options *o, int argc, char **argv) {
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },  { "foreground", no_argument, NULL, 'f' },
                { "platform", required_argument, NULL, 'P' }, { "sim", required_argument, NULL, 'S' },
                { "scenario", required_argument, NULL, 's' }, { "take-over", no_argument, NULL, 'T' },
                { "check-config", no_argument, NULL, 'C' },   { "log-level", required_argument, NULL, 'l' },
                { "root", required_argument, NULL, 'r' },     { "uevent-fd", required_argument, NULL, 'u' },
                { "socket", required_argument, NULL, 'k' },   { "help", no_argument, NULL, 'h' },
                { "state-dir", required_argument, NULL, 'D' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int c;

        *o = (struct options){ .config = DEFAULT_CONFIG, .platform = "linux", .root = "", .uevent_fd = -1 };
        while ((c = getopt_long(argc, argv, "c:fh", opts, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        o->config = optarg;
                        o->config_given = true;
                        break;
                case 'f':
                        o->foreground = true;
                        break;
                case 'S':
                        o->sim_options = optarg;
                        break;
                case 's':
                        o->scenario = optarg;
                        break;
                case 'T':
                        o->take_over = true;
                        break;
                case 'C':
                        o->check_config = true;
                        break;
                case 'r':
                        o->root = optarg;
                        break;
                case 'D':
                        o->state_dir = optarg;
                        break;
                case 'P':
                case 'l':
                case 'k':
                case 'u':
                        if (parse_checked_option(o, c, optarg) < 0)
                                return -EINVAL;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                case 'V':
                        printf("dhpd %s\n", DHP_VERSION_STRING);
                        exit(0);
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "dhpd: unexpected argument '%s'; see dhpd --help\n", argv[optind]);
                return -EINVAL;
        }
        /* Without --platform sim, dhpd would run on this machine's real
         * hardware: the simulator's options must never silently mean that. */
        if ((o->scenario || o->sim_options) && strcmp(o->platform, "sim") != 0) {
                fprintf(stderr,
                        "dhpd: %s needs --platform sim (without it dhpd would manage this machine's real processors "
                        "and memory); try: dhpd --platform sim %s %s\n",
                        o->sim_options ? "--sim" : "--scenario", o->sim_options ? "--sim" : "--scenario",
                        o->sim_options ? o->sim_options : o->scenario);
                return -EINVAL;
        }
        return 0;
}
