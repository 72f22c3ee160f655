/* SPDX-License-Identifier: MIT */
/* dhpctl's commands that talk to dhpd (ctl.c), and what the commands share. */
#pragma once

#include <stdio.h>

/* The version of every JSON document dhpctl prints ("schema":N first in
 * each object): raised when a field changes meaning or goes away, not when
 * one is added. */
#define CTL_JSON_SCHEMA 1
#define CTL_JSON_SCHEMA_STR "1"

/* Each returns the exit status (0, 1 failed, 2 usage); socket_path NULL:
 * $DHP_TARGET or the default.  argv[0] is the command's name; getopt is
 * reset (optind 1, opterr 0) by the caller. */
int ctl_status(int argc, char **argv, const char *socket_path);
int ctl_monitor(int argc, char **argv, const char *socket_path);
int ctl_sim(int argc, char **argv, const char *socket_path);
/* dhpctl cpu online INDEX: a new add for a processor whose add failed;
 * dhpctl cpu remove INDEX. */
int ctl_cpu(int argc, char **argv, const char *socket_path);
/* dhpctl memory remove NAME */
int ctl_memory(int argc, char **argv, const char *socket_path);
int ctl_plot(int argc, char **argv, const char *socket_path);

/* Report getopt's refusal (return value c, ':' or '?') of argv; returns 2. */
int ctl_bad_option(const char *cmd, char **argv, int c);
/* 0 when `target` names a dhpd socket (PATH or unix:PATH), else report
 * it, naming where it came from (`source`: "--socket"), and -EINVAL. */
int ctl_check_target(const char *target, const char *source);
/* Print a JSON object `doc` ("{...}") as one line with "schema" first. */
void ctl_print_json(FILE *f, const char *doc);
