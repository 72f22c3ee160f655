/* SPDX-License-Identifier: MIT */
/* dhpd's edge: where the library's and the daemon's messages reach a person
 * (stderr with a level prefix, or syslog). */
#pragma once

#include <stdbool.h>

#include "util/log.h"

struct daemon_log {
        int max_level;
        bool syslog;
};

/* A logger that writes through `dl`; dl must outlive it. */
struct logger daemon_log_logger(struct daemon_log *dl);
void daemon_log_open(struct daemon_log *dl, bool use_syslog, int max_level);
void daemon_log_close(struct daemon_log *dl);
