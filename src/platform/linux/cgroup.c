/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "platform/linux/cgroup.h"
#include "util/strbuf.h"

static bool group_valid(const char *g) {
        const char *p = g;

        while (*p == '/')
                p++;
        if (!*p)
                return false;
        /* No component may be "." or "..": stay under the mount. */
        while (*p) {
                size_t n = strcspn(p, "/");
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p += n;
                while (*p == '/')
                        p++;
        }
        return true;
}

static int file_path(char *buf, size_t size, const char *mount, const char *group, const char *file) {
        int n;

        if (!group || !group_valid(group))
                return -EINVAL;
        while (*group == '/')
                group++;
        n = snprintf(buf, size, "%s/%s/%s", mount ? mount : CGROUP_MOUNT_DEFAULT, group, file);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int cgroup_cpuset_read(const char *root, const char *mount, const char *group, struct cpuset *ret) {
        char p[4096];
        int r = file_path(p, sizeof(p), mount, group, "cpuset.cpus");

        return r < 0 ? r : sysfs_read_cpuset(root, p, ret);
}

int cgroup_cpuset_read_effective(const char *root, const char *mount, const char *group, struct cpuset *ret) {
        char p[4096];
        int r = file_path(p, sizeof(p), mount, group, "cpuset.cpus.effective");

        return r < 0 ? r : sysfs_read_cpuset(root, p, ret);
}

int cgroup_cpuset_write(const struct sysfs_writer *w, const char *root, const char *mount, const char *group,
                        const struct cpuset *set) {
        struct strbuf sb = STRBUF_INIT;
        char p[4096];
        int r;

        r = file_path(p, sizeof(p), mount, group, "cpuset.cpus");
        if (r < 0)
                return r;
        r = cpuset_format(set, &sb);
        if (r >= 0)
                r = sysfs_write(w, root, p, strbuf_str(&sb), NULL);
        strbuf_deinit(&sb);
        return r;
}

int cgroup_cpuset_widen(const struct sysfs_writer *w, const char *root, const char *mount, const char *group,
                        uint32_t cpu) {
        struct cpuset s = CPUSET_INIT;
        int r;

        r = cgroup_cpuset_read(root, mount, group, &s);
        if (r >= 0 && cpuset_count(&s) == 0)
                r = cgroup_cpuset_read_effective(root, mount, group, &s);
        if (r < 0)
                goto out;
        if (cpuset_test(&s, cpu)) {
                r = CGROUP_ALREADY;
                goto out;
        }
        r = cpuset_set(&s, cpu);
        if (r >= 0)
                r = cgroup_cpuset_write(w, root, mount, group, &s);
out:
        cpuset_deinit(&s);
        return r;
}
