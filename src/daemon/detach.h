/* SPDX-License-Identifier: MIT */
/*
 * dhpd in the background, honestly: the process the shell started waits
 * until the daemon is ready (its socket listens) or has failed, and exits
 * with the daemon's status, so that `dhpd; dhpctl status` works every time
 * and a failed start is a non-zero exit.  Until it is ready the daemon keeps
 * the caller's stderr, so that an error before readiness reaches the person
 * who started it whether or not there is a syslog.
 *
 * Under systemd dhpd stays in the foreground (Type=notify, sd_notify's
 * READY=1), as with --foreground; none of this applies.
 */
#pragma once

#include <stdbool.h>

/*
 * detach_start - fork into the background (setsid, a second fork, cwd /,
 * stdin and stdout on /dev/null).  Returns only in the daemon, with
 * *ret_fd the write end of the readiness pipe (also when it fails after
 * the first fork: report the failure through it).  The original process
 * never returns: it exits with what detach_finish() reports, or 1 with a
 * message on stderr if the daemon dies first.  0 or -errno.
 */
int detach_start(int *ret_fd);

/*
 * detach_finish - tell the waiting parent the start-up's outcome (0: ready,
 * else the exit status) and close *fd (set to -1; a no-op when it is
 * already -1).  With close_stderr, stderr is moved to /dev/null first (the
 * daemon now logs elsewhere), so that a pipe the caller reads ends.
 */
void detach_finish(int *fd, int status, bool close_stderr);
