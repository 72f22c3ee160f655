/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/log.h"
#include "util/names.h"

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
                if (dl->journal)
                        /* journald reads the priority off the prefix and
                         * adds the name itself. */
                        fprintf(stderr, "<%d>%s\n", level >= 0 && level <= 7 ? level : LOG_INFO, buf);
                else
                        fprintf(stderr, "dhpd: %s%s\n", level >= 3 && level <= 7 ? prefix[level] : "", buf);
                pthread_mutex_unlock(&lock);
        }
        if (buf != small)
                free(buf);
}

struct logger daemon_log_logger(struct daemon_log *dl) {
        return (struct logger){ .fn = write_log, .userdata = dl, .max_level = &dl->max_level };
}

bool daemon_log_stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        int end = 0;

        if (!e || sscanf(e, "%llu:%llu%n", &dev, &ino, &end) != 2 || e[end])
                return false;
        return fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
               (unsigned long long)st.st_ino == ino;
}

void daemon_log_open(struct daemon_log *dl, bool use_syslog, int max_level) {
        dl->syslog = use_syslog;
        dl->journal = !use_syslog && daemon_log_stderr_is_journal();
        dl->max_level = max_level;
        if (use_syslog)
                openlog("dhpd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void daemon_log_close(struct daemon_log *dl) {
        if (dl->syslog)
                closelog();
}
