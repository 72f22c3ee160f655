/* SPDX-License-Identifier: MIT */
/*
 * What changed between two configurations (config_diff): each key as it
 * would be written in the file, and when dhpd applies it, for the log of a
 * SIGHUP.  Parsing is config.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/time.h"

/* Every key, and when dhpd applies it: this table and dhpd.c's SIGHUP
 * handler must agree (tests/test-config-reload.c checks the thresholds). */
static const struct diff_key {
        const char *section, *key;
        enum config_apply when;
} diff_keys[] = {
        { "daemon", "log_level", CONFIG_APPLY_RELOAD },
        { "daemon", "log_target", CONFIG_APPLY_RESTART },
        { "daemon", "socket", CONFIG_APPLY_RESTART },
        { "daemon", "group", CONFIG_APPLY_RESTART },
        { "daemon", "max_clients", CONFIG_APPLY_RESTART },
        { "daemon", "max_clients_per_uid", CONFIG_APPLY_RESTART },
        { "cpu", "online", CONFIG_APPLY_RELOAD },
        { "cpu", "on_veto", CONFIG_APPLY_RELOAD },
        { "cpu", "cgroup", CONFIG_APPLY_RELOAD },
        { "memory", "online", CONFIG_APPLY_RELOAD },
        { "memory", "online_policy", CONFIG_APPLY_RELOAD },
        { "memory", "onlining", CONFIG_APPLY_RESTART },
        { "memory", "kernel_online_wait", CONFIG_APPLY_RELOAD },
        { "memory", "auto_movable_ratio", CONFIG_APPLY_RESTART },
        { "memory", "retry_attempts", CONFIG_APPLY_RELOAD },
        { "memory", "retry_max", CONFIG_APPLY_RELOAD },
        { "memory", "poll_interval", CONFIG_APPLY_RELOAD },
        { "memory", "psi_trigger", CONFIG_APPLY_RESTART },
        { "memory", "low_threshold", CONFIG_APPLY_RELOAD },
        { "memory", "high_threshold", CONFIG_APPLY_RELOAD },
        { "memory", "margin", CONFIG_APPLY_RELOAD },
        { "memory", "commit_margin", CONFIG_APPLY_RELOAD },
        { "sync", "deadline", CONFIG_APPLY_RELOAD },
        { "sync", "late_policy", CONFIG_APPLY_RELOAD },
        { "rebalance", "enabled", CONFIG_APPLY_RESTART },
        { "rebalance", "participate", CONFIG_APPLY_RESTART },
        { "rebalance", "exclude", CONFIG_APPLY_RESTART },
        { "rebalance", "irqbalance", CONFIG_APPLY_RESTART },
};

static void format_devices(const struct config *c, int policy, struct strbuf *sb) {
        for (unsigned i = 0; i < c->ndevices; i++)
                if (c->devices[i].policy == policy)
                        strbuf_printf(sb, "%s%s", sb->len ? ", " : "", c->devices[i].match);
}

/* The value of one key as it would be written in the file. */
static void format_key(const struct config *c, const struct diff_key *k, struct strbuf *sb) {
        static const char *const levels[] = { "err", "warning", "notice", "info", "debug" };
        static const char *const targets[] = { "auto", "stderr", "syslog" };
        static const char *const veto[] = { "offline", "keep-online" };
        static const char *const policies[] = { "movable", "kernel", "auto" };
        static const char *const late[] = { "proceed", "veto" };
        static const char *const irqbalance[] = { "leave", "share", "ignore" };
        const char *s = k->section, *n = k->key;

#define IS(sec, key) (strcmp(s, sec) == 0 && strcmp(n, key) == 0)
        if (IS("daemon", "log_level"))
                strbuf_puts(sb, c->log_level >= 3 && c->log_level <= 7 ? levels[c->log_level - 3] : "?");
        else if (IS("daemon", "log_target"))
                strbuf_puts(sb, targets[c->log_target]);
        else if (IS("daemon", "socket"))
                strbuf_puts(sb, c->socket_path);
        else if (IS("daemon", "group"))
                strbuf_puts(sb, c->group);
        else if (IS("daemon", "max_clients"))
                strbuf_printf(sb, "%u", c->max_clients);
        else if (IS("daemon", "max_clients_per_uid"))
                strbuf_printf(sb, "%u", c->max_clients_per_uid);
        else if (IS("cpu", "online"))
                strbuf_puts(sb, c->cpu_online ? "yes" : "no");
        else if (IS("cpu", "on_veto"))
                strbuf_puts(sb, veto[c->cpu_on_veto]);
        else if (IS("cpu", "cgroup"))
                for (unsigned i = 0; i < c->ncgroups; i++)
                        strbuf_printf(sb, "%s%s", i ? ", " : "", c->cgroups[i]);
        else if (IS("memory", "online"))
                strbuf_puts(sb, c->mem_online ? "yes" : "no");
        else if (IS("memory", "online_policy"))
                strbuf_puts(sb, policies[c->mem_online_policy]);
        else if (IS("memory", "onlining"))
                strbuf_puts(sb, c->mem_onlining == CONFIG_ONLINING_KERNEL ? "kernel" : "dhpd");
        else if (IS("memory", "kernel_online_wait"))
                strbuf_printf(sb, "%llums", (unsigned long long)(c->kernel_online_wait_ns / NSEC_PER_MSEC));
        else if (IS("memory", "auto_movable_ratio")) {
                if (c->auto_movable_ratio)
                        strbuf_printf(sb, "%u", c->auto_movable_ratio);
                else
                        strbuf_puts(sb, "default");
        } else if (IS("memory", "retry_attempts"))
                strbuf_printf(sb, "%u", c->retry_attempts);
        else if (IS("memory", "retry_max"))
                strbuf_printf(sb, "%llums", (unsigned long long)(c->retry_max_ns / NSEC_PER_MSEC));
        else if (IS("memory", "poll_interval"))
                strbuf_printf(sb, "%llums", (unsigned long long)(c->poll_interval_ns / NSEC_PER_MSEC));
        else if (IS("memory", "psi_trigger"))
                strbuf_printf(sb, "%s %llu %llu", c->psi.full ? "full" : "some", (unsigned long long)c->psi.stall_us,
                              (unsigned long long)c->psi.window_us);
        else if (IS("memory", "low_threshold") || IS("memory", "high_threshold")) {
                uint64_t v = IS("memory", "low_threshold") ? c->low_threshold : c->high_threshold;
                char buf[32];
                if (v)
                        strbuf_puts(sb, format_size(v, buf, sizeof(buf)));
                else
                        strbuf_puts(sb, "default");
        } else if (IS("memory", "margin")) {
                char buf[32];
                strbuf_puts(sb, c->margin_set ? format_size(c->margin, buf, sizeof(buf)) : "default");
        } else if (IS("memory", "commit_margin")) {
                if (c->commit_margin_set)
                        strbuf_printf(sb, "%u%%", c->commit_margin);
                else
                        strbuf_puts(sb, "default");
        } else if (IS("sync", "deadline"))
                strbuf_printf(sb, "%llums", (unsigned long long)(c->deadline_ns / NSEC_PER_MSEC));
        else if (IS("sync", "late_policy"))
                strbuf_puts(sb, late[c->late_policy]);
        else if (IS("rebalance", "enabled"))
                strbuf_puts(sb, c->rebalance ? "yes" : "no");
        else if (IS("rebalance", "participate"))
                format_devices(c, 2, sb);
        else if (IS("rebalance", "exclude"))
                format_devices(c, 1, sb);
        else if (IS("rebalance", "irqbalance"))
                strbuf_puts(sb, irqbalance[c->irqbalance]);
#undef IS
}

unsigned config_diff(const struct config *old, const struct config *new, config_diff_fn fn, void *userdata) {
        unsigned n = 0;

        for (size_t i = 0; i < sizeof(diff_keys) / sizeof(diff_keys[0]); i++) {
                struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;

                format_key(old, &diff_keys[i], &a);
                format_key(new, &diff_keys[i], &b);
                if (strcmp(strbuf_str(&a), strbuf_str(&b)) != 0) {
                        n++;
                        if (fn)
                                fn(userdata, diff_keys[i].section, diff_keys[i].key, strbuf_str(&a), strbuf_str(&b),
                                   diff_keys[i].when);
                }
                strbuf_deinit(&a);
                strbuf_deinit(&b);
        }
        return n;
}
