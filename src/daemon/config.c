/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
                .cpu_online = true,
                .cpu_on_veto = CONFIG_VETO_OFFLINE,
                .mem_online = true,
                .mem_online_policy = CONFIG_MEM_AUTO,
                .retry_attempts = 8,
                .retry_max_ns = 2 * NSEC_PER_SEC,
                .poll_interval_ns = 30 * NSEC_PER_SEC,
                .psi_trigger = "some 150000 1000000",
                .deadline_ns = 2 * NSEC_PER_SEC,
                .late_policy = CONFIG_LATE_PROCEED,
                .rebalance = true,
        };
}

struct loader {
        struct config c;
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
                if (strncmp(value, "some ", 5) != 0 && strncmp(value, "full ", 5) != 0) {
                        snprintf(l->msg, sizeof(l->msg),
                                 "expected 'some|full STALL_US WINDOW_US' (e.g. some 150000 1000000), got '%s'", value);
                        return -EINVAL;
                }
                return v_string(l, value, l->c.psi_trigger, sizeof(l->c.psi_trigger));
        }
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
        char list[512], *save = NULL;
        int policy;

        if (strcmp(key, "enabled") == 0)
                return v_bool(l, value, &l->c.rebalance);
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

static int handler(void *user, const char *section, const char *key, const char *value) {
        static const struct {
                const char *name;
                int (*set)(struct loader *, const char *, const char *);
        } sections[] = {
                { "daemon", set_daemon }, { "cpu", set_cpu }, { "memory", set_memory },
                { "sync", set_sync },     { "rebalance", set_rebalance },
        };
        struct loader *l = user;

        /* inih calls with key == NULL for a section line on new versions. */
        for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
                int r;
                if (strcmp(section, sections[i].name) != 0)
                        continue;
                if (!key)
                        return 1;
                r = sections[i].set(l, key, value);
                if (r > 0) {
                        snprintf(l->msg, sizeof(l->msg), "unknown key '%s' in section [%s]", key, section);
                        return 0;
                }
                if (r < 0) {
                        /* Prefix the key to the value error. */
                        char m[sizeof(l->msg)];
                        snprintf(m, sizeof(m), "%.64s: %.180s", key, l->msg);
                        memcpy(l->msg, m, sizeof(m));
                        return 0;
                }
                return 1;
        }
        if (!*section)
                snprintf(l->msg, sizeof(l->msg), "key '%s' outside any section", key ? key : "");
        else
                snprintf(l->msg, sizeof(l->msg),
                         "unknown section [%s] (expected daemon, cpu, memory, sync or rebalance)", section);
        return 0;
}

static int finish(struct config *c, struct loader *l, const char *name, int line, char **ret_error) {
        if (line == 0 && l->c.low_threshold && l->c.high_threshold && l->c.low_threshold >= l->c.high_threshold) {
                snprintf(l->msg, sizeof(l->msg), "memory low_threshold must be below high_threshold");
                line = -2;
        }
        if (line == 0) {
                *c = l->c;
                return 0;
        }
        if (ret_error) {
                int r;
                if (line == -2)
                        r = asprintf(ret_error, "%s: %s", name, l->msg);
                else if (line < 0)
                        r = asprintf(ret_error, "%s: cannot read: out of memory", name);
                else if (!l->msg[0])
                        r = asprintf(ret_error, "%s:%d: syntax error (expected [section] or key = value)", name, line);
                else
                        r = asprintf(ret_error, "%s:%d: %s", name, line, l->msg);
                if (r < 0)
                        *ret_error = NULL;
        }
        return -EINVAL;
}

int config_load(struct config *c, const char *path, char **ret_error) {
        struct loader l = { .c = *c };
        FILE *f;
        int line;

        f = fopen(path, "re");
        if (!f) {
                int r = -errno;
                if (ret_error && asprintf(ret_error, "%s: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        line = ini_parse_file(f, handler, &l);
        fclose(f);
        return finish(c, &l, path, line, ret_error);
}

int config_load_string(struct config *c, const char *name, const char *text, char **ret_error) {
        struct loader l = { .c = *c };

        return finish(c, &l, name, ini_parse_string(text, handler, &l), ret_error);
}
