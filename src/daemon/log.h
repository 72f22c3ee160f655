/* SPDX-License-Identifier: MIT */
/* dhpd's edge: where the library's and the daemon's messages reach a person:
 * stderr with a level prefix ("dhpd: error: ..."), or syslog; on a stderr
 * that systemd connected to the journal (JOURNAL_STREAM names it), each
 * line starts with its syslog priority ("<3>...") instead, which journald
 * stores as the entry's priority (journalctl -p err). */
#pragma once

#include <stdbool.h>

#include "util/log.h"

struct daemon_log {
        int max_level;
        bool syslog;
        bool journal; /* stderr is the journal: "<N>" prefixes */
};

/* A logger that writes through `dl`; dl must outlive it. */
struct logger daemon_log_logger(struct daemon_log *dl);
void daemon_log_open(struct daemon_log *dl, bool use_syslog, int max_level);
void daemon_log_close(struct daemon_log *dl);
/* Whether JOURNAL_STREAM ("DEV:INODE") is this process's stderr, as
 * systemd documents it: an inherited variable with stderr redirected
 * elsewhere is not. */
bool daemon_log_stderr_is_journal(void);
