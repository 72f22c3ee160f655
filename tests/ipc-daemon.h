/* SPDX-License-Identifier: MIT */
/* A real dhpd (--platform sim) on a socket in a temporary directory, for the
 * tests of the IPC suite; every wait bounded. */
#pragma once

#include <sys/types.h>

#include "dhp.h"

extern char ipc_dir[64];   /* the temporary directory (cmocka setup) */
extern char ipc_sock[128]; /* dhpd's socket in it */
extern pid_t ipc_daemon_pid;
/* The simulated partition of the next ipc_daemon_start(). */
extern const char *ipc_sim_opts;

/* Start dhpd with this [sync] section body; wait (10 s at most) for READY. */
void ipc_daemon_start(const char *sync_conf);
/* SIGTERM and reap it; no-op when not running. */
void ipc_daemon_stop(void);
/* cmocka per-test fixtures: a fresh directory; dhpd stopped, directory removed. */
int ipc_setup(void **state);
int ipc_teardown(void **state);
/* Run a program to its end (at most `seconds`); its exit status.  stdout
 * goes to `out` (NUL-terminated, truncated to fit) when given. */
int ipc_run(char *const argv[], char *out, size_t outsize, unsigned seconds);
/* A context on the socket (asserts success). */
dhp *ipc_open_ctx(void);
/* In a forked child: become nobody (no supplementary groups) and connect;
 * _exit(3) if the uid cannot be dropped, _exit(4) if the connection fails. */
dhp *ipc_open_as_nobody(void);
