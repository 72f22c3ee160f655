/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/linux/linux-internal.h"

/* ---- transaction marks ---------------------------------------------- */

/* A processor transaction in progress is marked by an empty file
 * STATE_DIR/cpu-txn-N, created before the processor is onlined and removed
 * when the transaction ends, whatever its outcome.  A mark found at start
 * means the previous dhpd died between onlining and the end of ADD_COMPLETE:
 * the processor may be online but not admitted (its cgroups not widened),
 * and its clients never saw ADD_COMPLETE.  The state directory is on tmpfs
 * (/run): a reboot, which resets the processors too, clears it. */
void linux_txn_mark(struct linux_platform *lp, uint32_t cpu, bool begin) {
        char p[4200];
        int fd;

        if (!lp->state_dir[0])
                return;
        snprintf(p, sizeof(p), "%s/cpu-txn-%u", lp->state_dir, cpu);
        if (!begin) {
                if (unlink(p) < 0 && errno != ENOENT)
                        log_warning(&lp->log, "cannot remove %s: %s", p, strerror(errno));
                return;
        }
        /* mkdir -p: /run exists on a real system, not always under a test root. */
        for (char *s = p + 1; (s = strchr(s, '/')); s++) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        log_debug(&lp->log, "mkdir %s: %s", p, strerror(errno));
                *s = '/';
        }
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
        if (fd < 0) {
                log_warning(&lp->log, "cannot mark the transaction of cpu%u in %s: %s; a crash during it would leave "
                            "the processor unadmitted", cpu, lp->state_dir, strerror(errno));
                return;
        }
        close(fd);
}

void linux_txn_op(void *p, uint32_t cpu, bool begin, bool late) {
        struct linux_platform *lp = p;

        if (begin && late)
                log_notice(&lp->log, "cpu%u: already online (another agent onlined it, or dhpd stopped during its "
                           "transaction); notifying late", cpu);
        linux_txn_mark(lp, cpu, begin);
}

/* The marks a previous dhpd left, into lp->interrupted. */
void linux_txn_marks_load(struct linux_platform *lp) {
        DIR *d;
        struct dirent *de;

        if (!lp->state_dir[0] || !(d = opendir(lp->state_dir)))
                return;
        while ((de = readdir(d))) {
                char *end;
                unsigned long v;

                if (strncmp(de->d_name, "cpu-txn-", 8) != 0 || !de->d_name[8])
                        continue;
                errno = 0;
                v = strtoul(de->d_name + 8, &end, 10);
                if (errno || *end || v >= CPUSET_MAX_CPUS)
                        continue;
                if (cpuset_set(&lp->interrupted, (uint32_t)v) == 0)
                        log_notice(&lp->log, "cpu%lu: its transaction was interrupted (dhpd stopped during it); "
                                   "running it again", v);
        }
        closedir(d);
}

