/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/memcond.h"
#include "daemon/config.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/time.h"

void config_defaults(struct config *c) {
        *c = (struct config){
                .log_level = 6,
                .log_target = CONFIG_LOG_AUTO,
                .socket_path = "/run/dhp/dhpd.sock",
                .group = "dhp",
                .max_clients = 256,
                .cpu_online = true,
                .cpu_on_veto = CONFIG_VETO_OFFLINE,
                .mem_online = true,
                .mem_online_policy = CONFIG_MEM_AUTO,
                .mem_onlining = CONFIG_ONLINING_KERNEL,
                .kernel_online_wait_ns = NSEC_PER_SEC,
                .retry_attempts = 8,
                .retry_max_ns = 2 * NSEC_PER_SEC,
                .poll_interval_ns = 30 * NSEC_PER_SEC,
                .psi_trigger = "some 150000 1000000",
                .psi = { .full = false, .stall_us = 150000, .window_us = 1000000 },
                .deadline_ns = 2 * NSEC_PER_SEC,
                .late_policy = CONFIG_LATE_PROCEED,
                .rebalance = true,
        };
}

/*
 * inih is fed through a reader of ours (ini_parse_stream) rather than parse
 * the file ourselves: the grammar stays inih's, and the reader fixes what
 * the library's build options make unsafe.  It hands inih one whole line
 * per call or stops: a line that does not fit inih's buffer (which would
 * split it and parse its tail as a line of its own) is an error naming the
 * line.  It strips leading blanks, so an indented line is never inih's
 * continuation of the previous value, and it refuses inline comments
 * (which inih strips after ';' but not after '#').  It counts the lines, so
 * each error names its own line, the first one found.
 */
struct loader {
        struct config c;
        const char *p, *end; /* the text not yet handed to inih */
        int line;            /* lines handed to inih so far */
        int err_line;        /* the first error's line (0: none yet) */
        char msg[256];
};

typedef int (*value_fn)(struct loader *l, const char *value, void *field);

static int v_bool(struct loader *l, const char *value, void *field) {
        int b;

        if (parse_bool(value, &b) < 0) {
                snprintf(l->msg, sizeof(l->msg), "expected yes or no, got '%s'", value);
                return -EINVAL;
        }
        *(bool *)field = b;
        return 0;
}

static int v_string(struct loader *l, const char *value, void *field, size_t size) {
        if (!*value || strlen(value) >= size) {
                snprintf(l->msg, sizeof(l->msg), "expected a non-empty value of at most %zu bytes", size - 1);
                return -EINVAL;
        }
        strcpy(field, value);
        return 0;
}

static int v_duration(struct loader *l, const char *value, uint64_t *field, uint64_t min, uint64_t max) {
        uint64_t ns;

        if (parse_duration_ns(value, &ns) < 0 || ns < min || ns > max) {
                snprintf(l->msg, sizeof(l->msg), "expected a duration from %llums to %llus (e.g. 2s, 500ms), got '%s'",
                         (unsigned long long)(min / NSEC_PER_MSEC), (unsigned long long)(max / NSEC_PER_SEC), value);
                return -EINVAL;
        }
        *field = ns;
        return 0;
}

static int v_size(struct loader *l, const char *value, uint64_t *field) {
        uint64_t v;

        if (parse_size(value, &v) < 0 || v == 0) {
                snprintf(l->msg, sizeof(l->msg), "expected a size such as 64M, got '%s'", value);
                return -EINVAL;
        }
        *field = v;
        return 0;
}

static int v_enum(struct loader *l, const char *value, int *field, const char *const *names) {
        struct strbuf sb = STRBUF_INIT;

        for (int i = 0; names[i]; i++)
                if (strcmp(value, names[i]) == 0) {
                        *field = i;
                        return 0;
                }
        for (int i = 0; names[i]; i++)
                strbuf_printf(&sb, "%s%s", i ? (names[i + 1] ? ", " : " or ") : "", names[i]);
        snprintf(l->msg, sizeof(l->msg), "expected %s, got '%s'", strbuf_str(&sb), value);
        strbuf_deinit(&sb);
        return -EINVAL;
}

static int set_daemon(struct loader *l, const char *key, const char *value) {
        static const char *const targets[] = { "auto", "stderr", "syslog", NULL };
        static const char *const levels[] = { "err", "warning", "notice", "info", "debug", NULL };
        int v;

        if (strcmp(key, "log_level") == 0) {
                if (v_enum(l, value, &v, levels) < 0)
                        return -EINVAL;
                l->c.log_level = v + 3;
                return 0;
        }
        if (strcmp(key, "log_target") == 0) {
                if (v_enum(l, value, &v, targets) < 0)
                        return -EINVAL;
                l->c.log_target = v;
                return 0;
        }
        if (strcmp(key, "socket") == 0) {
                if (value[0] != '/') {
                        snprintf(l->msg, sizeof(l->msg), "expected an absolute path, got '%s'", value);
                        return -EINVAL;
                }
                return v_string(l, value, l->c.socket_path, sizeof(l->c.socket_path));
        }
        if (strcmp(key, "group") == 0)
                return v_string(l, value, l->c.group, sizeof(l->c.group));
        if (strcmp(key, "max_clients") == 0 || strcmp(key, "max_clients_per_uid") == 0) {
                uint64_t n;
                bool per_uid = key[11] != 0;
                if (parse_u64(value, &n) < 0 || n < (per_uid ? 0 : 2) || n > 65536) {
                        snprintf(l->msg, sizeof(l->msg), "expected a number from %d to 65536, got '%s'", per_uid ? 0 : 2,
                                 value);
                        return -EINVAL;
                }
                *(per_uid ? &l->c.max_clients_per_uid : &l->c.max_clients) = (unsigned)n;
                return 0;
        }
        return 1;
}

static int set_cpu(struct loader *l, const char *key, const char *value) {
        static const char *const veto[] = { "offline", "keep-online", NULL };
        int v;

        if (strcmp(key, "online") == 0)
                return v_bool(l, value, &l->c.cpu_online);
        if (strcmp(key, "on_veto") == 0) {
                if (v_enum(l, value, &v, veto) < 0)
                        return -EINVAL;
                l->c.cpu_on_veto = v;
                return 0;
        }
        if (strcmp(key, "cgroup") == 0) {
                /* Repeatable: one managed cgroup v2 group per line, relative
                 * to the cgroup mount. */
                if (l->c.ncgroups == CONFIG_MAX_CGROUPS) {
                        snprintf(l->msg, sizeof(l->msg), "at most %d cgroup lines", CONFIG_MAX_CGROUPS);
                        return -EINVAL;
                }
                if (strstr(value, "..")) {
                        snprintf(l->msg, sizeof(l->msg), "a cgroup path may not contain '..': '%s'", value);
                        return -EINVAL;
                }
                if (v_string(l, value, l->c.cgroups[l->c.ncgroups], sizeof(l->c.cgroups[0])) < 0)
                        return -EINVAL;
                l->c.ncgroups++;
                return 0;
        }
        return 1;
}

/* margin, commit_margin: read by memcond's own parser, so that the file
 * takes exactly what dhp_memcond_configure() takes ("default" unsets). */
static int v_margin(struct loader *l, const char *key, const char *value) {
        struct memcond_config mc = { 0 };
        char *err = NULL;

        if (memcond_config_set(&mc, key, value, &err) < 0) {
                /* "KEY=VALUE: expected ...": the line already names the key. */
                const char *why = err ? strstr(err, ": ") : NULL;
                snprintf(l->msg, sizeof(l->msg), "%.200s", why ? why + 2 : err ? err : "invalid value");
                free(err);
                return -EINVAL;
        }
        if (strcmp(key, "margin") == 0) {
                l->c.margin_set = mc.margin_set;
                l->c.margin = mc.margin;
        } else {
                l->c.commit_margin_set = mc.commit_margin_set;
                l->c.commit_margin = mc.commit_margin;
        }
        return 0;
}

static int set_memory(struct loader *l, const char *key, const char *value) {
        static const char *const policies[] = { "movable", "kernel", "auto", NULL };
        uint64_t n;
        int v;

        if (strcmp(key, "online") == 0)
                return v_bool(l, value, &l->c.mem_online);
        if (strcmp(key, "online_policy") == 0) {
                if (v_enum(l, value, &v, policies) < 0)
                        return -EINVAL;
                l->c.mem_online_policy = v;
                return 0;
        }
        if (strcmp(key, "onlining") == 0) {
                static const char *const who[] = { "kernel", "dhpd", NULL };
                if (v_enum(l, value, &v, who) < 0)
                        return -EINVAL;
                l->c.mem_onlining = v;
                return 0;
        }
        if (strcmp(key, "kernel_online_wait") == 0)
                return v_duration(l, value, &l->c.kernel_online_wait_ns, NSEC_PER_MSEC, 60 * NSEC_PER_SEC);
        if (strcmp(key, "auto_movable_ratio") == 0) {
                if (parse_u64(value, &n) < 0 || n < 1 || n > 100000) {
                        snprintf(l->msg, sizeof(l->msg), "expected a percentage from 1 to 100000, got '%s'", value);
                        return -EINVAL;
                }
                l->c.auto_movable_ratio = (unsigned)n;
                return 0;
        }
        if (strcmp(key, "retry_attempts") == 0) {
                if (parse_u64(value, &n) < 0 || n < 1 || n > 100) {
                        snprintf(l->msg, sizeof(l->msg), "expected a number from 1 to 100, got '%s'", value);
                        return -EINVAL;
                }
                l->c.retry_attempts = (unsigned)n;
                return 0;
        }
        if (strcmp(key, "retry_max") == 0)
                return v_duration(l, value, &l->c.retry_max_ns, NSEC_PER_MSEC, 60 * NSEC_PER_SEC);
        if (strcmp(key, "poll_interval") == 0)
                return v_duration(l, value, &l->c.poll_interval_ns, NSEC_PER_SEC, 3600 * NSEC_PER_SEC);
        if (strcmp(key, "psi_trigger") == 0) {
                struct config_psi psi;
                if (config_psi_parse(value, &psi) < 0) {
                        snprintf(l->msg, sizeof(l->msg),
                                 "expected 'some|full STALL_US WINDOW_US', WINDOW_US from %llu to %llu and "
                                 "STALL_US from 1 to WINDOW_US (e.g. some 150000 1000000), got '%.64s'",
                                 CONFIG_PSI_WINDOW_MIN_US, CONFIG_PSI_WINDOW_MAX_US, value);
                        return -EINVAL;
                }
                if (v_string(l, value, l->c.psi_trigger, sizeof(l->c.psi_trigger)) < 0)
                        return -EINVAL;
                l->c.psi = psi;
                return 0;
        }
        if (strcmp(key, "margin") == 0 || strcmp(key, "commit_margin") == 0)
                return v_margin(l, key, value);
        if (strcmp(key, "low_threshold") == 0)
                return v_size(l, value, &l->c.low_threshold);
        if (strcmp(key, "high_threshold") == 0)
                return v_size(l, value, &l->c.high_threshold);
        return 1;
}

static int set_sync(struct loader *l, const char *key, const char *value) {
        static const char *const late[] = { "proceed", "veto", NULL };
        int v;

        if (strcmp(key, "deadline") == 0)
                return v_duration(l, value, &l->c.deadline_ns, 10 * NSEC_PER_MSEC, 60 * NSEC_PER_SEC);
        if (strcmp(key, "late_policy") == 0) {
                if (v_enum(l, value, &v, late) < 0)
                        return -EINVAL;
                l->c.late_policy = v;
                return 0;
        }
        return 1;
}

static int set_rebalance(struct loader *l, const char *key, const char *value) {
        static const char *const irqbalance[] = { "leave", "share", "ignore", NULL };
        char list[512], *save = NULL;
        int policy;

        if (strcmp(key, "enabled") == 0)
                return v_bool(l, value, &l->c.rebalance);
        if (strcmp(key, "irqbalance") == 0) {
                if (v_enum(l, value, &policy, irqbalance) < 0)
                        return -EINVAL;
                l->c.irqbalance = policy;
                return 0;
        }
        /* DHP_Rebalance_Policy by configuration: "participate" (2) or
         * "exclude" (1), each a list of PCI addresses or class:NAME. */
        if (strcmp(key, "participate") == 0)
                policy = 2;
        else if (strcmp(key, "exclude") == 0)
                policy = 1;
        else
                return 1;
        if (strlen(value) >= sizeof(list)) {
                snprintf(l->msg, sizeof(l->msg), "list longer than %zu bytes", sizeof(list) - 1);
                return -EINVAL;
        }
        strcpy(list, value);
        for (char *item = strtok_r(list, ", \t", &save); item; item = strtok_r(NULL, ", \t", &save)) {
                struct config_device_policy *d;

                if (l->c.ndevices == CONFIG_MAX_DEVICE_POLICIES) {
                        snprintf(l->msg, sizeof(l->msg), "at most %d device policies", CONFIG_MAX_DEVICE_POLICIES);
                        return -EINVAL;
                }
                if (strlen(item) >= sizeof(d->match) || (strncmp(item, "class:", 6) == 0 && !item[6])) {
                        snprintf(l->msg, sizeof(l->msg), "expected a PCI address or class:NAME, got '%.64s'", item);
                        return -EINVAL;
                }
                d = &l->c.devices[l->c.ndevices++];
                strcpy(d->match, item);
                d->policy = policy;
        }
        return 0;
}

int config_psi_parse(const char *s, struct config_psi *ret) {
        char buf[64], *save = NULL, *kind, *stall, *window;
        struct config_psi psi;

        if (!s || strlen(s) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, s);
        kind = strtok_r(buf, " \t", &save);
        stall = strtok_r(NULL, " \t", &save);
        window = strtok_r(NULL, " \t", &save);
        if (!window || strtok_r(NULL, " \t", &save))
                return -EINVAL;
        if (strcmp(kind, "some") == 0)
                psi.full = false;
        else if (strcmp(kind, "full") == 0)
                psi.full = true;
        else
                return -EINVAL;
        if (parse_u64(stall, &psi.stall_us) < 0 || parse_u64(window, &psi.window_us) < 0)
                return -EINVAL;
        /* The kernel's own limits (kernel/sched/psi.c), so that what passes
         * here is not refused by the trigger write at start. */
        if (psi.window_us < CONFIG_PSI_WINDOW_MIN_US || psi.window_us > CONFIG_PSI_WINDOW_MAX_US ||
            psi.stall_us == 0 || psi.stall_us > psi.window_us)
                return -EINVAL;
        *ret = psi;
        return 0;
}

/* The first error wins: later lines cannot overwrite its message. */
static void error_at_line(struct loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void error_at_line(struct loader *l, const char *fmt, ...) {
        va_list ap;

        if (l->err_line)
                return;
        l->err_line = l->line;
        va_start(ap, fmt);
        vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
        va_end(ap);
}

static char *reader(char *str, int num, void *stream) {
        struct loader *l = stream;
        const char *nl, *start;
        size_t len, max;

        if (l->err_line || l->p >= l->end)
                return NULL; /* stop at the first error: nothing after it counts */
        nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
        len = nl ? (size_t)(nl - l->p) : (size_t)(l->end - l->p);
        start = l->p;
        l->p = nl ? nl + 1 : l->end;
        l->line++;
        /* Room for the newline and the NUL inih needs. */
        max = num > 2 ? (size_t)num - 2 : 0;
        if (max > CONFIG_LINE_MAX)
                max = CONFIG_LINE_MAX;
        if (len > max) {
                error_at_line(l, "line longer than %zu characters", max);
                return NULL;
        }
        if (memchr(start, 0, len)) {
                error_at_line(l, "a NUL byte (not a text file?)");
                return NULL;
        }
        while (len && (*start == ' ' || *start == '\t')) {
                start++;
                len--;
        }
        if (len && *start != '#' && *start != ';')
                for (size_t i = 1; i < len; i++)
                        if ((start[i] == '#' || start[i] == ';') && (start[i - 1] == ' ' || start[i - 1] == '\t')) {
                                error_at_line(l, "comments go on lines of their own (no '%c' after a value)",
                                              start[i]);
                                return NULL;
                        }
        memcpy(str, start, len);
        str[len] = '\n';
        str[len + 1] = 0;
        return str;
}

static int handler(void *user, const char *section, const char *key, const char *value) {
        static const struct {
                const char *name;
                int (*set)(struct loader *, const char *, const char *);
        } sections[] = {
                { "daemon", set_daemon }, { "cpu", set_cpu }, { "memory", set_memory },
                { "sync", set_sync },     { "rebalance", set_rebalance },
        };
        struct loader *l = user;

        if (l->err_line)
                return 1; /* inih reports its own error line only once */
        /* inih calls with key == NULL for a section line on new versions. */
        for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
                int r;
                if (strcmp(section, sections[i].name) != 0)
                        continue;
                if (!key)
                        return 1;
                r = sections[i].set(l, key, value);
                if (r > 0) {
                        error_at_line(l, "unknown key '%s' in section [%s]", key, section);
                        return 0;
                }
                if (r < 0) {
                        /* Prefix the key to the value error. */
                        char m[sizeof(l->msg)];
                        snprintf(m, sizeof(m), "%.64s: %.180s", key, l->msg);
                        error_at_line(l, "%s", m);
                        return 0;
                }
                return 1;
        }
        if (!*section)
                error_at_line(l, "key '%s' outside any section", key ? key : "");
        else
                error_at_line(l, "unknown section [%s] (expected daemon, cpu, memory, sync or rebalance)", section);
        return 0;
}

int config_memcond_spec(const struct config *c, char *buf, size_t size) {
        int n;

        /* "default" rather than leaving a key out: applied over the
         * thresholds in force (SIGHUP), a key removed from the file must
         * return to its default. */
        n = snprintf(buf, size, "interval=%llums", (unsigned long long)(c->poll_interval_ns / NSEC_PER_MSEC));
        if (c->low_threshold)
                n += snprintf(buf + n, n < (int)size ? size - (size_t)n : 0, ",low=%llu",
                              (unsigned long long)c->low_threshold);
        else
                n += snprintf(buf + n, n < (int)size ? size - (size_t)n : 0, ",low=default");
        if (c->high_threshold)
                n += snprintf(buf + n, n < (int)size ? size - (size_t)n : 0, ",high=%llu",
                              (unsigned long long)c->high_threshold);
        else
                n += snprintf(buf + n, n < (int)size ? size - (size_t)n : 0, ",high=default");
        if (c->margin_set)
                n += snprintf(buf + n, n < (int)size ? size - (size_t)n : 0, ",margin=%llu",
                              (unsigned long long)c->margin);
        else
                n += snprintf(buf + n, n < (int)size ? size - (size_t)n : 0, ",margin=default");
        if (c->commit_margin_set)
                n += snprintf(buf + n, n < (int)size ? size - (size_t)n : 0, ",commit_margin=%u", c->commit_margin);
        else
                n += snprintf(buf + n, n < (int)size ? size - (size_t)n : 0, ",commit_margin=default");
        return n < (int)size ? 0 : -ENOBUFS;
}

/* The checks that need the whole file, with the run-time code: the memory
 * condition spec goes through memcond's own parser and validation (with
 * the total memory unknown, as before the first read of the levels). */
static int check_whole(struct loader *l) {
        struct memcond_config mc = { 0 };
        char spec[CONFIG_MEMCOND_SPEC_MAX], *err = NULL;
        int r;

        if (l->c.low_threshold && l->c.high_threshold && l->c.low_threshold >= l->c.high_threshold) {
                snprintf(l->msg, sizeof(l->msg), "memory low_threshold must be below high_threshold");
                return -EINVAL;
        }
        r = config_memcond_spec(&l->c, spec, sizeof(spec));
        if (r == 0)
                r = memcond_config_parse(&mc, spec, &err);
        if (r == 0)
                r = memcond_config_validate(&mc, 0, &err);
        if (r < 0) {
                snprintf(l->msg, sizeof(l->msg), "memory thresholds: %.200s", err ? err : strerror(-r));
                free(err);
                return -EINVAL;
        }
        return 0;
}

static int finish(struct config *c, struct loader *l, const char *name, int inih_line, char **ret_error) {
        int r = 0;

        /* inih finds syntax errors without calling us: its line wins when
         * it comes first. */
        if (inih_line > 0 && (!l->err_line || inih_line < l->err_line)) {
                l->err_line = inih_line;
                l->msg[0] = 0;
        }
        if (inih_line < 0 && !l->err_line) {
                snprintf(l->msg, sizeof(l->msg), "cannot read: out of memory");
                r = -ENOMEM;
        } else if (!l->err_line && check_whole(l) < 0) {
                r = -EINVAL;
        } else if (l->err_line) {
                r = -EINVAL;
        }
        if (r == 0) {
                *c = l->c;
                return 0;
        }
        if (ret_error) {
                int k;
                if (!l->err_line)
                        k = asprintf(ret_error, "%s: %s", name, l->msg);
                else if (!l->msg[0])
                        k = asprintf(ret_error, "%s:%d: syntax error (expected [section] or key = value)", name,
                                     l->err_line);
                else
                        k = asprintf(ret_error, "%s:%d: %s", name, l->err_line, l->msg);
                if (k < 0)
                        *ret_error = NULL;
        }
        return r;
}

static int parse_text(struct config *c, const char *name, const char *text, size_t len, char **ret_error) {
        struct loader l = { .c = *c, .p = text, .end = text + len };

        return finish(c, &l, name, ini_parse_stream(reader, &l, handler, &l), ret_error);
}

static int fail_file(int r, char **ret_error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_file(int r, char **ret_error, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return r;
}

/* The whole file, if it is a regular file of at most CONFIG_MAX_SIZE bytes
 * (or /dev/null: empty):
 * O_NONBLOCK so that a FIFO is refused rather than waited on, fstat() so
 * that a directory or a device (/dev/zero) is refused before any read. */
static int read_file(const char *path, char **ret_text, size_t *ret_len, char **ret_error) {
        struct stat st;
        char *buf;
        size_t len = 0;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                return fail_file(r, ret_error, "%s: %s", path, strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return fail_file(r, ret_error, "%s: %s", path, strerror(-r));
        }
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
                /* /dev/null: the usual way to say "no configuration file,
                 * every default" (tests, the install check). */
                close(fd);
                *ret_text = NULL;
                *ret_len = 0;
                return 0;
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return fail_file(S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL, ret_error,
                                 "%s: not a regular file (%s)", path,
                                 S_ISDIR(st.st_mode)   ? "a directory"
                                 : S_ISFIFO(st.st_mode) ? "a FIFO"
                                 : S_ISCHR(st.st_mode)  ? "a character device"
                                 : S_ISBLK(st.st_mode)  ? "a block device"
                                                        : "a socket");
        }
        if (st.st_size > CONFIG_MAX_SIZE) {
                close(fd);
                return fail_file(-EFBIG, ret_error, "%s: larger than %d bytes", path, CONFIG_MAX_SIZE);
        }
        /* One byte more than the bound: a file that grew meanwhile is seen. */
        buf = malloc(CONFIG_MAX_SIZE + 1);
        if (!buf) {
                close(fd);
                return fail_file(-ENOMEM, ret_error, "%s: cannot read: out of memory", path);
        }
        for (;;) {
                ssize_t n = read(fd, buf + len, CONFIG_MAX_SIZE + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        free(buf);
                        close(fd);
                        return fail_file(r, ret_error, "%s: %s", path, strerror(-r));
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > CONFIG_MAX_SIZE) {
                        free(buf);
                        close(fd);
                        return fail_file(-EFBIG, ret_error, "%s: larger than %d bytes", path, CONFIG_MAX_SIZE);
                }
        }
        close(fd);
        *ret_text = buf;
        *ret_len = len;
        return 0;
}

int config_load(struct config *c, const char *path, char **ret_error) {
        char *text = NULL;
        size_t len = 0;
        int r;

        r = read_file(path, &text, &len, ret_error);
        if (r < 0)
                return r;
        r = parse_text(c, path, text ? text : "", len, ret_error);
        free(text);
        return r;
}

int config_load_string(struct config *c, const char *name, const char *text, char **ret_error) {
        return parse_text(c, name, text, strlen(text), ret_error);
}
