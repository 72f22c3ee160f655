/* SPDX-License-Identifier: MIT */
/*
 * dhpd's command line: what each option means and the checks that refuse
 * a bad one before anything starts (a simulator option never runs the real
 * platform).
 */
#pragma once

#include <stdbool.h>

#ifndef DHP_SYSCONFDIR
#define DHP_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG DHP_SYSCONFDIR "/dhp/dhpd.conf"

struct options {
        const char *config;
        bool config_given;
        bool foreground;
        bool take_over;
        bool check_config;
        const char *platform; /* "linux" or "sim" */
        const char *sim_options;
        const char *scenario;
        const char *root;
        const char *socket_path; /* NULL: from the configuration */
        const char *state_dir;   /* statefile_open() */
        int uevent_fd;
        int log_level; /* 0: from the configuration */
        bool log_stderr;
};

/* Parse argv into *o (defaults first).  --help and --version print and
 * exit 0; -EINVAL, said on stderr, for anything else wrong. */
int options_parse(struct options *o, int argc, char **argv);
