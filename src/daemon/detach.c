/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/detach.h"

/* In the original process: the daemon's one status byte, or its silence. */
static int wait_ready(int fd, pid_t child) {
        unsigned char status;
        ssize_t n;
        int ws;

        /* The intermediate child exits as soon as the daemon is forked (or
         * fails to be): reap it first. */
        while (waitpid(child, &ws, 0) < 0 && errno == EINTR)
                ;
        do
                n = read(fd, &status, 1);
        while (n < 0 && errno == EINTR);
        if (n == 1)
                return status;
        /* The write end closed without a word: killed or crashed before it
         * was ready (what it said before went to stderr already). */
        fprintf(stderr, "dhpd: the daemon exited before it was ready\n");
        return 1;
}

int detach_start(int *ret_fd) {
        int p[2], fd;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        fflush(NULL); /* nothing buffered twice */
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid > 0) {
                close(p[1]);
                _exit(wait_ready(p[0], pid));
        }
        close(p[0]);
        *ret_fd = p[1];
        if (setsid() < 0)
                return -errno;
        /* Not a session leader: the daemon can never acquire a terminal. */
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid > 0)
                _exit(0);
        if (chdir("/") < 0)
                return -errno;
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        if (fd > STDERR_FILENO)
                close(fd);
        return 0;
}

void detach_finish(int *fd, int status, bool close_stderr) {
        unsigned char b = (unsigned char)(status < 0 || status > 255 ? 1 : status);
        ssize_t n;

        if (*fd < 0)
                return;
        if (close_stderr) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, STDERR_FILENO);
                        if (null > STDERR_FILENO)
                                close(null);
                }
        }
        do
                n = write(*fd, &b, 1);
        while (n < 0 && errno == EINTR);
        close(*fd);
        *fd = -1;
}
