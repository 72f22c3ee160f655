/* SPDX-License-Identifier: MIT */
/* dhpctl limits (limits.c): a cgroup's limits through the "cgroup" target. */
#pragma once

/* The exit status (0, 1 failed, 2 usage), as the other commands (ctl.h);
 * socket_path is not used: no dhpd is involved. */
int ctl_limits(int argc, char **argv, const char *socket_path);
