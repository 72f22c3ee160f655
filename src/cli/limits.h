/* SPDX-License-Identifier: MIT */
/* dhpctl limits (limits.c): a cgroup's limits through the "cgroup" target. */
#pragma once

/* The exit status. */
int ctl_limits(int argc, char **argv);
