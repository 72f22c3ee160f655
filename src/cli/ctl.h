/* SPDX-License-Identifier: MIT */
/* dhpctl's commands that talk to dhpd (ctl.c). */
#pragma once

/* Each returns the exit status; socket_path NULL: $DHP_TARGET or the default. */
int ctl_status(int argc, char **argv, const char *socket_path);
int ctl_monitor(int argc, char **argv, const char *socket_path);
int ctl_sim(int argc, char **argv, const char *socket_path);
/* dhpctl cpu online INDEX: a new add for a processor whose add failed. */
int ctl_cpu_online(int argc, char **argv, const char *socket_path);
int ctl_plot(int argc, char **argv, const char *socket_path);
