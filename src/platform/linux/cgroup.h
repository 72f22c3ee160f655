/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2 cpuset of the groups dhp manages: a new processor enters their
 * cpuset.cpus only at admission (between ADD_START and ADD_COMPLETE), so no
 * thread of theirs runs on it earlier.
 *
 * A group is a path relative to the cgroup2 mount (default /sys/fs/cgroup),
 * e.g. "dhp.slice/workers"; ".." components and empty groups are refused.
 * An empty cpuset.cpus means "all of the parent's"; widening such a group
 * starts from its cpuset.cpus.effective so that adding one CPU never
 * narrows it.
 */
#pragma once

#include <stdint.h>

#include "platform/linux/sysfs.h"
#include "util/cpuset.h"

#define CGROUP_MOUNT_DEFAULT "/sys/fs/cgroup"

/* mount NULL means CGROUP_MOUNT_DEFAULT.  -EINVAL for a bad group path. */
int cgroup_cpuset_read(const char *root, const char *mount, const char *group, struct cpuset *ret);
int cgroup_cpuset_read_effective(const char *root, const char *mount, const char *group, struct cpuset *ret);
int cgroup_cpuset_write(const struct sysfs_writer *w, const char *root, const char *mount, const char *group,
                        const struct cpuset *set);

enum {
        CGROUP_ALREADY = 1, /* cgroup_cpuset_widen(): cpu was already in the group */
};

/* Add cpu to the group's cpuset.cpus.  0, CGROUP_ALREADY, or an error of
 * the read or write. */
int cgroup_cpuset_widen(const struct sysfs_writer *w, const char *root, const char *mount, const char *group,
                        uint32_t cpu);
