/* SPDX-License-Identifier: MIT */
/*
 * Processors admitted on Linux: the admission op (the managed cgroups
 * widened), the admitted set, the managed groups pinned to an explicit
 * list, the transaction marks a previous dhpd left, and a processor onlined
 * on request.  The add path itself (uevent, batch, start) is in linux.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/linux/cgroup.h"
#include "platform/linux/linux-internal.h"
#include "util/cpuset.h"
#include "util/strbuf.h"

/* The marks a previous dhpd left, into lp->interrupted. */
void linux_cpu_txn_marks_load(struct linux_platform *lp) {
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

int linux_op_cpu_admit(void *p, uint32_t index) {
        struct linux_platform *lp = p;

        for (unsigned i = 0; i < lp->cfg.ncgroups; i++) {
                int r = cgroup_cpuset_widen(&lp->writer, lp->root, lp->cgroup_mount, lp->cgroups[i], index);
                if (r == -ENOENT) {
                        /* A group that went away is no reason to refuse a
                         * processor; say so and go on. */
                        log_warning(&lp->log, "cpu%u: managed cgroup %s does not exist; skipped", index, lp->cgroups[i]);
                        continue;
                }
                if (r < 0) {
                        log_error(&lp->log, "cpu%u: cannot widen cgroup %s: %s", index, lp->cgroups[i],
                                  sysfs_write_strerror(r));
                        return r;
                }
                log_debug(&lp->log, "cpu%u: admitted into cgroup %s", index, lp->cgroups[i]);
        }
        if (lp->cfg.on_admit)
                return lp->cfg.on_admit(lp->cfg.on_admit_userdata, index);
        return 0;
}

int linux_platform_admitted(struct linux_platform *lp, struct cpuset *ret) {
        struct cpuset s = CPUSET_INIT;
        uint32_t n = engine_cpu_count(lp->engine);
        int r = 0;

        for (uint32_t i = 0; i < n && r >= 0; i++) {
                dhp_proc_state st;
                if (engine_cpu_get_state(lp->engine, i, &st) == 0 && st == DHP_PROC_ADMITTED)
                        r = cpuset_set(&s, i);
        }
        if (r < 0) {
                cpuset_deinit(&s);
                return r;
        }
        cpuset_deinit(ret);
        *ret = s;
        return 0;
}

int linux_platform_cpu_online(struct linux_platform *lp, uint32_t cpu, int *ret_status) {
        dhp_proc_state st;
        int r, status = 0;

        /* Refused before the mark: a mark means a transaction ran. */
        r = engine_cpu_get_state(lp->engine, cpu, &st);
        if (r < 0)
                return r;
        if (st == DHP_PROC_ABSENT)
                return -ENODEV;
        if (st == DHP_PROC_ADMITTED)
                return -EALREADY;
        /* The engine's cpu_txn_begin op makes the mark; it goes when the
         * transaction ends, as in cpu_run_batch. */
        r = engine_cpu_hotadd(lp->engine, cpu, 0, &status);
        linux_cpu_txn_mark(lp, cpu, false);
        if (r == 0)
                log_info(&lp->log, "cpu%u: online on request, admitted", cpu);
        else if (r == 1)
                log_notice(&lp->log, "cpu%u: online on request: add failed: %s", cpu, strerror(-status));
        if (r == 1 && ret_status)
                *ret_status = status;
        return r;
}

/* A cgroup v2 group whose cpuset.cpus is empty uses its parent's CPUs, so
 * the kernel gives it a hot-added CPU the moment the CPU is onlined: before
 * ADD_START, before admission (seen on 6.1 under QEMU: such a group's
 * cpuset.cpus.effective went from 0 to 0-1 at the online write).  A managed
 * group must have an explicit list for "widened only at admission" to
 * hold, so pin it at start to the CPUs it has now. */
void linux_cpu_pin_managed_cgroups(struct linux_platform *lp) {
        for (unsigned i = 0; i < lp->cfg.ncgroups; i++) {
                struct cpuset s = CPUSET_INIT;
                struct strbuf sb = STRBUF_INIT;
                int r;

                r = cgroup_cpuset_read(lp->root, lp->cgroup_mount, lp->cgroups[i], &s);
                if (r < 0 || cpuset_count(&s) > 0) {
                        if (r == -ENOENT)
                                log_warning(&lp->log, "managed cgroup %s does not exist (or has no cpuset "
                                            "controller)", lp->cgroups[i]);
                        cpuset_deinit(&s);
                        continue;
                }
                r = cgroup_cpuset_read_effective(lp->root, lp->cgroup_mount, lp->cgroups[i], &s);
                if (r >= 0 && cpuset_count(&s) > 0)
                        r = cgroup_cpuset_write(&lp->writer, lp->root, lp->cgroup_mount, lp->cgroups[i], &s);
                cpuset_format(&s, &sb);
                if (r < 0)
                        log_error(&lp->log, "managed cgroup %s: empty cpuset.cpus (it would get hot-added CPUs "
                                  "before admission) and it cannot be pinned: %s", lp->cgroups[i],
                                  sysfs_write_strerror(r));
                else
                        log_notice(&lp->log, "managed cgroup %s: cpuset.cpus was empty (the parent's CPUs, "
                                   "hot-added ones included at once); pinned to %s", lp->cgroups[i],
                                   strbuf_str(&sb));
                strbuf_deinit(&sb);
                cpuset_deinit(&s);
        }
}
