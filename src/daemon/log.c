/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdio.h>
#include <syslog.h>

#include "daemon/log.h"

static void write_log(void *userdata, int level, const char *msg) {
        static const char *const prefix[] = { [3] = "error: ", [4] = "warning: ", [5] = "", [6] = "", [7] = "debug: " };
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        struct daemon_log *dl = userdata;

        if (level > dl->max_level)
                return;
        if (dl->syslog) {
                syslog(level, "%s", msg);
                return;
        }
        /* One line at a time from every thread. */
        pthread_mutex_lock(&lock);
        fprintf(stderr, "dhpd: %s%s\n", level >= 3 && level <= 7 ? prefix[level] : "", msg);
        pthread_mutex_unlock(&lock);
}

struct logger daemon_log_logger(struct daemon_log *dl) {
        return (struct logger){ .fn = write_log, .userdata = dl, .max_level = &dl->max_level };
}

void daemon_log_open(struct daemon_log *dl, bool use_syslog, int max_level) {
        dl->syslog = use_syslog;
        dl->max_level = max_level;
        if (use_syslog)
                openlog("dhpd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void daemon_log_close(struct daemon_log *dl) {
        if (dl->syslog)
                closelog();
}
