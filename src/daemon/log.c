/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon/log.h"
#include "daemon/names.h"

static void write_log(void *userdata, int level, const char *msg) {
        static const char *const prefix[] = { [3] = "error: ", [4] = "warning: ", [5] = "", [6] = "", [7] = "debug: " };
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        struct daemon_log *dl = userdata;
        char small[1024], *buf = small;
        size_t size = 4 * strlen(msg) + 1;

        if (level > dl->max_level)
                return;
        /* Names and texts from clients are in messages: one line each,
         * control characters and invalid UTF-8 escaped, whatever they
         * hold (a client must not forge a line). */
        if (size > sizeof(small) && !(buf = malloc(size))) {
                buf = small;
                size = sizeof(small);
        } else if (size <= sizeof(small)) {
                size = sizeof(small);
        }
        names_escape(msg, buf, size);
        if (dl->syslog) {
                syslog(level, "%s", buf);
        } else {
                /* One line at a time from every thread. */
                pthread_mutex_lock(&lock);
                fprintf(stderr, "dhpd: %s%s\n", level >= 3 && level <= 7 ? prefix[level] : "", buf);
                pthread_mutex_unlock(&lock);
        }
        if (buf != small)
                free(buf);
}

struct logger daemon_log_logger(struct daemon_log *dl) {
        return (struct logger){ .fn = write_log, .userdata = dl };
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
