/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/linux/coexist.h"
#include "util/macro.h"

#define AUTO_ONLINE "/sys/devices/system/memory/auto_online_blocks"

/* Highest priority first, as udev looks them up. */
static const char *const rules_dirs[] = {
        "/etc/udev/rules.d", "/run/udev/rules.d", "/usr/local/lib/udev/rules.d",
        "/usr/lib/udev/rules.d", "/lib/udev/rules.d",
};

static const char *const known_rules[] = {
        "40-redhat.rules",
        "80-hotplug-cpu-mem.rules",
        "40-vm-hotadd.rules",
};

const char *coexist_kind_to_string(enum coexist_kind k) {
        switch (k) {
        case COEXIST_AUTO_ONLINE:
                return "auto-online";
        case COEXIST_CMDLINE:
                return "kernel-cmdline";
        case COEXIST_UDEV_CPU:
                return "udev-cpu";
        case COEXIST_UDEV_MEMORY:
                return "udev-memory";
        case COEXIST_UDEV_KNOWN:
                return "udev-known-file";
        }
        return "unknown";
}

void coexist_report_deinit(struct coexist_report *r) {
        free(r->findings);
        r->findings = NULL;
        r->n = 0;
}

static struct coexist_finding *add_finding(struct coexist_report *r, enum coexist_kind kind, const char *path,
                                           unsigned line) {
        struct coexist_finding *p;

        /* Grows by one: a report has a handful of entries. */
        p = realloc(r->findings, (r->n + 1) * sizeof(*p));
        if (!p)
                return NULL;
        r->findings = p;
        p = &r->findings[r->n++];
        *p = (struct coexist_finding){ .kind = kind, .line = line };
        snprintf(p->path, sizeof(p->path), "%s", path);
        return p;
}

static bool has_finding(const struct coexist_report *r, const char *path, enum coexist_kind kind) {
        for (size_t i = 0; i < r->n; i++)
                if (r->findings[i].kind == kind && strcmp(r->findings[i].path, path) == 0)
                        return true;
        return false;
}

/* ---- udev rules -------------------------------------------------------- */

/* The quoted value after `key` followed by operator op ("==", "!=", "=");
 * for "=" also ":=" and never "==".  Copies it into val; false if absent. */
static bool find_key(const char *line, const char *key, const char *op, char *val, size_t size) {
        size_t kl = strlen(key);

        for (const char *p = strstr(line, key); p; p = strstr(p + 1, key)) {
                const char *q = p + kl, *end;

                /* A whole key: not the tail of a longer name. */
                if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
                        continue;
                while (*q == ' ' || *q == '\t')
                        q++;
                if (strcmp(op, "=") == 0) {
                        if (q[0] == ':' && q[1] == '=')
                                q += 2;
                        else if (q[0] == '=' && q[1] != '=')
                                q += 1;
                        else
                                continue;
                } else {
                        if (strncmp(q, op, 2) != 0)
                                continue;
                        q += 2;
                }
                while (*q == ' ' || *q == '\t')
                        q++;
                if (*q != '"')
                        continue;
                end = strchr(q + 1, '"');
                if (!end)
                        continue;
                snprintf(val, size, "%.*s", (int)(end - q - 1), q + 1);
                return true;
        }
        return false;
}

/* The subsystem a rule line matches on by itself, or "". */
static void line_subsystem(const char *line, char *sub, size_t size) {
        char v[64];

        sub[0] = 0;
        if (find_key(line, "SUBSYSTEM", "==", v, sizeof(v))) {
                snprintf(sub, size, "%s", v);
                return;
        }
        if (find_key(line, "KERNEL", "==", v, sizeof(v))) {
                if (strncmp(v, "cpu", 3) == 0)
                        snprintf(sub, size, "cpu");
                else if (strncmp(v, "memory", 6) == 0)
                        snprintf(sub, size, "memory");
        }
}

static int udev_finding(struct coexist_report *r, enum coexist_kind kind, const char *path, unsigned line,
                        const char *what) {
        const char *name = strrchr(path, '/');
        struct coexist_finding *f;

        if (has_finding(r, path, kind))
                return 0;
        f = add_finding(r, kind, path, line);
        if (!f)
                return -ENOMEM;
        name = name ? name + 1 : path;
        snprintf(f->message, sizeof(f->message), "udev rule %s:%u %s; it races with dhpd, which must do the onlining",
                 path, line, what);
        if (strncmp(path, "/etc/udev/rules.d/", 18) == 0)
                snprintf(f->fix, sizeof(f->fix),
                         "remove the onlining rule from %s (or: mv %s %s.disabled), then: udevadm control --reload",
                         path, path, path);
        else
                snprintf(f->fix, sizeof(f->fix),
                         "ln -sf /dev/null /etc/udev/rules.d/%s && udevadm control --reload"
                         "  (masks the whole file; to keep its other rules, copy it to /etc/udev/rules.d/%s and "
                         "delete the onlining lines instead)",
                         name, name);
        return 0;
}

int coexist_scan_rules_text(struct coexist_report *r, const char *path, const char *text) {
        char guard_sub[64] = "", guard_label[256] = "", line[4096];
        const char *p = text;
        unsigned lineno = 0;
        int ret;

        while (*p) {
                size_t len = 0;
                unsigned first = lineno + 1;
                char sub[64], v[256];

                /* One logical line, joining backslash continuations. */
                for (;;) {
                        const char *nl = strchr(p, '\n');
                        size_t n = nl ? (size_t)(nl - p) : strlen(p);
                        bool cont = n > 0 && p[n - 1] == '\\';

                        lineno++;
                        if (cont)
                                n--;
                        if (len + n < sizeof(line)) {
                                memcpy(line + len, p, n);
                                len += n;
                        }
                        p += nl ? (size_t)(nl - p) + 1 : strlen(p);
                        if (!cont || !*p)
                                break;
                }
                line[len] = 0;
                {
                        const char *s = line;
                        while (*s == ' ' || *s == '\t')
                                s++;
                        if (!*s || *s == '#')
                                continue;
                }

                if (find_key(line, "LABEL", "=", v, sizeof(v)) && guard_label[0] && strcmp(v, guard_label) == 0)
                        guard_sub[0] = guard_label[0] = 0;
                if (find_key(line, "SUBSYSTEM", "!=", sub, sizeof(sub)) && find_key(line, "GOTO", "=", v, sizeof(v))) {
                        snprintf(guard_sub, sizeof(guard_sub), "%s", sub);
                        snprintf(guard_label, sizeof(guard_label), "%s", v);
                        continue;
                }
                line_subsystem(line, sub, sizeof(sub));
                if (!sub[0])
                        snprintf(sub, sizeof(sub), "%s", guard_sub);

                if (find_key(line, "ATTR{online}", "=", v, sizeof(v)) && strcmp(v, "0") != 0) {
                        bool mem = strcmp(sub, "memory") == 0;
                        ret = udev_finding(r, mem ? COEXIST_UDEV_MEMORY : COEXIST_UDEV_CPU, path, first,
                                           mem ? "onlines memory blocks (ATTR{online})"
                                           : strcmp(sub, "cpu") == 0 ? "onlines hot-added CPUs (ATTR{online})"
                                                                     : "onlines devices of any subsystem (ATTR{online})");
                        if (ret < 0)
                                return ret;
                }
                if (find_key(line, "ATTR{state}", "=", v, sizeof(v)) && strcmp(v, "offline") != 0 &&
                    (strcmp(sub, "memory") == 0 || strncmp(v, "online", 6) == 0)) {
                        ret = udev_finding(r, COEXIST_UDEV_MEMORY, path, first,
                                           "onlines hot-added memory blocks (ATTR{state})");
                        if (ret < 0)
                                return ret;
                }
                if (find_key(line, "RUN", "+=", v, sizeof(v)) || find_key(line, "RUN", "=", v, sizeof(v))) {
                        if (strcmp(sub, "cpu") == 0 && strstr(v, "online")) {
                                ret = udev_finding(r, COEXIST_UDEV_CPU, path, first,
                                                   "runs a program that onlines CPUs");
                                if (ret < 0)
                                        return ret;
                        } else if (strcmp(sub, "memory") == 0 && strstr(v, "online")) {
                                ret = udev_finding(r, COEXIST_UDEV_MEMORY, path, first,
                                                   "runs a program that onlines memory");
                                if (ret < 0)
                                        return ret;
                        }
                }
        }
        return 0;
}

struct rule_file {
        char name[256];
        unsigned prio; /* index into rules_dirs */
};

static int cmp_rule_file(const void *a, const void *b) {
        const struct rule_file *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c ? c : (int)x->prio - (int)y->prio;
}

static bool is_masked(const char *path) {
        char target[64];
        struct stat st;
        ssize_t n = readlink(path, target, sizeof(target) - 1);

        if (n > 0) {
                target[n] = 0;
                if (strcmp(target, "/dev/null") == 0)
                        return true;
        }
        return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0;
}

static int read_text(const char *path, char **ret) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 8192;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;
                if (len + 1 == cap) {
                        char *p;
                        if (cap >= COEXIST_RULES_FILE_MAX)
                                return -EFBIG;
                        p = realloc(buf, cap * 2);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        cap *= 2;
                }
                n = read(fd, buf + len, cap - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int scan_udev(const char *root, struct coexist_report *r, const struct logger *log) {
        _cleanup_free_ struct rule_file *files = NULL;
        size_t n = 0, cap = 0;
        int ret;

        for (unsigned i = 0; i < ELEMENTSOF(rules_dirs); i++) {
                char dir[4096];
                DIR *d;
                struct dirent *de;

                ret = sysfs_path(dir, sizeof(dir), root, rules_dirs[i]);
                if (ret < 0)
                        return ret;
                d = opendir(dir);
                if (!d)
                        continue;
                while ((de = readdir(d))) {
                        size_t l = strlen(de->d_name);
                        if (l < 7 || l >= sizeof(files[0].name) || strcmp(de->d_name + l - 6, ".rules") != 0)
                                continue;
                        if (n == cap) {
                                size_t nc = cap ? cap * 2 : 64;
                                struct rule_file *p = realloc(files, nc * sizeof(*p));
                                if (!p) {
                                        closedir(d);
                                        return -ENOMEM;
                                }
                                files = p;
                                cap = nc;
                        }
                        snprintf(files[n].name, sizeof(files[n].name), "%s", de->d_name);
                        files[n++].prio = i;
                }
                closedir(d);
        }
        if (n)
                qsort(files, n, sizeof(*files), cmp_rule_file);

        for (size_t i = 0; i < n; i++) {
                char shown[512], full[4096];
                _cleanup_free_ char *text = NULL;
                size_t before = r->n;

                if (i > 0 && strcmp(files[i].name, files[i - 1].name) == 0)
                        continue; /* hidden by a higher-priority directory */
                snprintf(shown, sizeof(shown), "%s/%s", rules_dirs[files[i].prio], files[i].name);
                ret = sysfs_path(full, sizeof(full), root, shown);
                if (ret < 0)
                        continue;
                if (is_masked(full))
                        continue;
                ret = read_text(full, &text);
                if (ret < 0) {
                        log_debug(log, "skipping %s: %s", shown, strerror(-ret));
                        if (ret == -ENOMEM)
                                return ret;
                        continue;
                }
                ret = coexist_scan_rules_text(r, shown, text);
                if (ret < 0)
                        return ret;
                /* A known name counts only as shipped by the distribution:
                 * a copy in /etc or /run is the administrator's own. */
                if (r->n > before || files[i].prio < 2)
                        continue;
                for (size_t k = 0; k < ELEMENTSOF(known_rules); k++) {
                        if (strcmp(files[i].name, known_rules[k]) != 0)
                                continue;
                        ret = udev_finding(r, COEXIST_UDEV_KNOWN, shown, 0,
                                           "is a distribution file known to online hot-added CPUs or memory");
                        if (ret < 0)
                                return ret;
                }
        }
        return 0;
}

/* ---- kernel ------------------------------------------------------------ */

static int scan_auto_online(const char *root, struct coexist_report *r) {
        struct coexist_finding *f;
        char v[64];
        int ret;

        ret = sysfs_read(root, AUTO_ONLINE, v, sizeof(v), NULL);
        if (ret == -ENOENT || ret == -EACCES)
                return 0;
        if (ret < 0)
                return ret;
        if (strcmp(v, "offline") == 0)
                return 0;
        f = add_finding(r, COEXIST_AUTO_ONLINE, AUTO_ONLINE, 0);
        if (!f)
                return -ENOMEM;
        snprintf(f->message, sizeof(f->message),
                 "the kernel onlines hot-added memory by itself (auto_online_blocks is \"%s\")", v);
        snprintf(f->fix, sizeof(f->fix), "echo offline > " AUTO_ONLINE "  (or let dhpd do it: take over)");
        return 0;
}

static int scan_cmdline(const char *root, struct coexist_report *r) {
        char buf[SYSFS_VALUE_MAX], val[64] = "";
        struct coexist_finding *f;
        int ret;

        ret = sysfs_read(root, "/proc/cmdline", buf, sizeof(buf), NULL);
        if (ret == -ENOENT || ret == -EACCES)
                return 0;
        if (ret < 0)
                return ret;
        /* The last occurrence wins, as in the kernel's parser. */
        for (char *tok = strtok(buf, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
                if (strncmp(tok, "memhp_default_state=", 20) == 0)
                        snprintf(val, sizeof(val), "%s", tok + 20);
        if (!val[0] || strcmp(val, "offline") == 0)
                return 0;
        f = add_finding(r, COEXIST_CMDLINE, "/proc/cmdline", 0);
        if (!f)
                return -ENOMEM;
        snprintf(f->message, sizeof(f->message),
                 "the kernel command line has memhp_default_state=%s: memory is onlined by the kernel after each boot",
                 val);
        snprintf(f->fix, sizeof(f->fix),
                 "remove memhp_default_state=%s from GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub "
                 "(or grub2-mkconfig -o /boot/grub2/grub.cfg); until reboot: echo offline > " AUTO_ONLINE,
                 val);
        return 0;
}

int coexist_scan(const char *root, struct coexist_report *ret, const struct logger *log) {
        return coexist_scan_flags(root, 0, ret, log);
}

int coexist_scan_flags(const char *root, unsigned flags, struct coexist_report *ret, const struct logger *log) {
        struct coexist_report r = { 0 };
        int x = 0;

        if (!(flags & COEXIST_KERNEL_ONLINES_MEMORY)) {
                x = scan_auto_online(root, &r);
                if (x >= 0)
                        x = scan_cmdline(root, &r);
        }
        if (x >= 0)
                x = scan_udev(root, &r, log);
        if (x < 0) {
                coexist_report_deinit(&r);
                return x;
        }
        *ret = r;
        return 0;
}

/* ---- irqbalance --------------------------------------------------------- */

static bool irqbalance_process(const char *root, struct coexist_irqbalance *r) {
        char dir[4096];
        struct dirent *de;
        DIR *d;

        if (sysfs_path(dir, sizeof(dir), root, "/proc") < 0 || !(d = opendir(dir)))
                return false;
        while ((de = readdir(d))) {
                char path[64], comm[64];
                unsigned long pid;
                char *end;

                pid = strtoul(de->d_name, &end, 10);
                if (de->d_name[0] < '1' || de->d_name[0] > '9' || *end || pid > 0x7fffffff)
                        continue;
                snprintf(path, sizeof(path), "/proc/%lu/comm", pid);
                if (sysfs_read(root, path, comm, sizeof(comm), NULL) < 0 || strcmp(comm, "irqbalance") != 0)
                        continue;
                r->pid = (unsigned)pid;
                snprintf(r->why, sizeof(r->why), "irqbalance is running (pid %lu)", pid);
                closedir(d);
                return true;
        }
        closedir(d);
        return false;
}

static bool irqbalance_pidfile(const char *root, struct coexist_irqbalance *r) {
        static const char *const files[] = { "/run/irqbalance.pid", "/var/run/irqbalance.pid" };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char buf[32], path[64], full[4096];
                unsigned long pid;
                char *end;

                if (sysfs_read(root, files[i], buf, sizeof(buf), NULL) < 0)
                        continue;
                pid = strtoul(buf, &end, 10);
                if (!pid || *end || pid > 0x7fffffff)
                        continue;
                snprintf(path, sizeof(path), "/proc/%lu", pid);
                if (sysfs_path(full, sizeof(full), root, path) < 0 || access(full, F_OK) < 0)
                        continue; /* stale */
                r->pid = (unsigned)pid;
                snprintf(r->why, sizeof(r->why), "irqbalance is running (pid %lu, from %s)", pid, files[i]);
                return true;
        }
        return false;
}

static bool irqbalance_unit(const char *root, struct coexist_irqbalance *r) {
        char dir[4096];
        struct dirent *de;
        DIR *d;

        if (sysfs_path(dir, sizeof(dir), root, "/etc/systemd/system") < 0 || !(d = opendir(dir)))
                return false;
        while ((de = readdir(d))) {
                char link[300], full[4096];
                size_t l = strlen(de->d_name);

                if (l < 6 || strcmp(de->d_name + l - 6, ".wants") != 0)
                        continue;
                snprintf(link, sizeof(link), "/etc/systemd/system/%s/irqbalance.service", de->d_name);
                /* The link itself: its target may be outside root. */
                if (sysfs_path(full, sizeof(full), root, link) < 0 || faccessat(AT_FDCWD, full, F_OK,
                                                                                 AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                snprintf(r->why, sizeof(r->why), "irqbalance.service is enabled (%s)", link);
                closedir(d);
                return true;
        }
        closedir(d);
        return false;
}

int coexist_irqbalance_detect(const char *root, struct coexist_irqbalance *ret) {
        struct coexist_irqbalance r = { 0 };

        if (!root || !ret)
                return -EINVAL;
        r.found = irqbalance_process(root, &r) || irqbalance_pidfile(root, &r) || irqbalance_unit(root, &r);
        *ret = r;
        return 0;
}

int coexist_take_over(const struct sysfs_writer *w, const char *root, unsigned *attempts) {
        return sysfs_write(w, root, AUTO_ONLINE, "offline", attempts);
}
