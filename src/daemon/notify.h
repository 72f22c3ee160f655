/* SPDX-License-Identifier: MIT */
/* The service manager's readiness protocol (sd_notify): one datagram of
 * "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET. */
#pragma once

#include <stdbool.h>

/* Send `state` (e.g. "READY=1").  0 when sent, 0 as well when no service
 * manager listens (no $NOTIFY_SOCKET), or a negative errno. */
int notify_send(const char *state);
/* True when a service manager is listening. */
bool notify_enabled(void);
