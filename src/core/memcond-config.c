/* SPDX-License-Identifier: MIT */
/*
 * The memory conditions' thresholds and their configuration (doc/model.md
 * section 3, doc/memcond.md): the defaults derived from the total, the
 * overrides of `[memory]` and of dhp_memcond_configure(), and their checks.
 * Pure functions of a struct memcond_config; the events themselves, their
 * evaluation and their timer are memcond.c's.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memcond.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/time.h"

#define MIB (1ULL << 20)
#define DEFAULT_LOW_COMMIT 50u
#define DEFAULT_HIGH_COMMIT 90u
#define DEFAULT_MAX_COMMIT 100u
#define DEFAULT_COMMIT_MARGIN 1u /* percentage points */

uint64_t memcond_default_low(uint64_t total) {
        uint64_t low = total / 128; /* 32 MiB per 4 GiB */

        return low > 64 * MIB ? 64 * MIB : low;
}

void memcond_thresholds_compute(const struct memcond_config *cfg, uint64_t total, struct memcond_thresholds *ret) {
        struct memcond_thresholds t;

        t.low = cfg->low ? cfg->low : memcond_default_low(total);
        /* A default never crosses an override: under a set high, the
         * default low keeps the 1:3 ratio at most. */
        if (!cfg->low && cfg->high && t.low > cfg->high / 3)
                t.low = cfg->high / 3;
        t.high = cfg->high ? cfg->high : 3 * t.low;
        if (cfg->margin_set)
                t.margin = cfg->margin;
        else
                t.margin = t.low / 16 > MIB ? t.low / 16 : MIB;
        if (t.high > t.low) {
                if (t.margin > (t.high - t.low) / 4)
                        t.margin = (t.high - t.low) / 4;
        } else {
                t.margin = 0;
        }
        t.low_commit = cfg->low_commit ? cfg->low_commit : DEFAULT_LOW_COMMIT;
        t.high_commit = cfg->high_commit ? cfg->high_commit : DEFAULT_HIGH_COMMIT;
        t.max_commit = cfg->max_commit ? cfg->max_commit : DEFAULT_MAX_COMMIT;
        t.commit_margin = cfg->commit_margin_set ? cfg->commit_margin : DEFAULT_COMMIT_MARGIN;
        *ret = t;
}

static int fail(char **ret_error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **ret_error, const char *fmt, ...) {
        struct strbuf sb = STRBUF_INIT;
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                strbuf_vprintf(&sb, fmt, ap);
                va_end(ap);
                *ret_error = strbuf_steal(&sb);
        }
        return -EINVAL;
}

static int set_bytes(uint64_t *field, const char *key, const char *value, char **ret_error) {
        char a[32], b[32];
        uint64_t v;
        int r;

        r = parse_size(value, &v);
        if (r == -ERANGE || (r == 0 && v > MEMCOND_MAX_BYTES))
                return fail(ret_error, "%s=%s: too large (at most %s)", key, value,
                            format_size(MEMCOND_MAX_BYTES, a, sizeof(a)));
        if (r < 0)
                return fail(ret_error, "%s=%s: expected a size such as 32M, or 'default'", key, value);
        if (v < MEMCOND_MIN_BYTES)
                return fail(ret_error, "%s=%s: a memory threshold must be at least %s", key, value,
                            format_size(MEMCOND_MIN_BYTES, b, sizeof(b)));
        *field = v;
        return 0;
}

static int set_percent(uint32_t *field, const char *key, const char *value, char **ret_error) {
        char num[16];
        size_t len = strlen(value);
        uint32_t v;

        if (len > 0 && value[len - 1] == '%')
                len--;
        if (len == 0 || len >= sizeof(num))
                return fail(ret_error, "%s=%s: expected a percentage of the commit limit such as 90%%", key, value);
        memcpy(num, value, len);
        num[len] = 0;
        if (parse_u32(num, &v) < 0)
                return fail(ret_error, "%s=%s: expected a percentage of the commit limit such as 90%%", key, value);
        if (v == 0 || v > MEMCOND_MAX_PERCENT)
                return fail(ret_error, "%s=%s: a commit threshold must be from 1%% to %u%%", key, value,
                            MEMCOND_MAX_PERCENT);
        *field = v;
        return 0;
}

/* margin=SIZE or commit_margin=N[%]: 0 is the exact model, not the
 * default. */
static int set_margin(struct memcond_config *cfg, const char *key, const char *value, bool reset,
                      char **ret_error) {
        bool commit = strcmp(key, "commit_margin") == 0;
        char num[16], a[32];
        size_t len = strlen(value);
        uint64_t v;
        uint32_t p;

        if (reset) {
                if (commit)
                        cfg->commit_margin_set = false;
                else
                        cfg->margin_set = false;
                return 0;
        }
        if (!commit) {
                if (parse_size(value, &v) < 0 || v > MEMCOND_MAX_BYTES)
                        return fail(ret_error, "margin=%s: expected a size from 0 to %s, such as 1M, or 'default'",
                                    value, format_size(MEMCOND_MAX_BYTES, a, sizeof(a)));
                cfg->margin = v;
                cfg->margin_set = true;
                return 0;
        }
        if (len > 0 && value[len - 1] == '%')
                len--;
        if (len == 0 || len >= sizeof(num))
                p = UINT32_MAX;
        else {
                memcpy(num, value, len);
                num[len] = 0;
                if (parse_u32(num, &p) < 0)
                        p = UINT32_MAX;
        }
        if (p > 100)
                return fail(ret_error, "commit_margin=%s: expected percentage points from 0%% to 100%%, or 'default'",
                            value);
        cfg->commit_margin = p;
        cfg->commit_margin_set = true;
        return 0;
}

int memcond_config_set(struct memcond_config *cfg, const char *key, const char *value, char **ret_error) {
        bool reset;

        if (!cfg || !key || !value)
                return -EINVAL;
        reset = strcmp(value, "default") == 0;
        {
                /* A threshold in bytes or in percent of the commit limit;
                 * "default" resets it to 0, which means the default. */
                const struct {
                        const char *key;
                        uint64_t *bytes;
                        uint32_t *percent;
                } keys[] = {
                        { "low", &cfg->low, NULL },
                        { "high", &cfg->high, NULL },
                        { "low_commit", NULL, &cfg->low_commit },
                        { "high_commit", NULL, &cfg->high_commit },
                        { "max_commit", NULL, &cfg->max_commit },
                };
                for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                        if (strcmp(key, keys[i].key) != 0)
                                continue;
                        if (reset) {
                                if (keys[i].bytes)
                                        *keys[i].bytes = 0;
                                else
                                        *keys[i].percent = 0;
                                return 0;
                        }
                        return keys[i].bytes ? set_bytes(keys[i].bytes, key, value, ret_error)
                                             : set_percent(keys[i].percent, key, value, ret_error);
                }
        }
        if (strcmp(key, "margin") == 0 || strcmp(key, "commit_margin") == 0)
                return set_margin(cfg, key, value, reset, ret_error);
        if (strcmp(key, "interval") == 0) {
                uint64_t ns;
                if (reset) {
                        cfg->interval_ms = 0;
                        return 0;
                }
                if (parse_duration_ns(value, &ns) < 0 || ns < NSEC_PER_MSEC || ns / NSEC_PER_MSEC > INT_MAX)
                        return fail(ret_error, "interval=%s: expected a duration from 1ms to %ds, such as 5s",
                                    value, INT_MAX / 1000);
                cfg->interval_ms = ns / NSEC_PER_MSEC;
                return 0;
        }
        return fail(ret_error,
                    "unknown key '%s' (expected low, high, low_commit, high_commit, max_commit, interval, margin or "
                    "commit_margin)",
                    key);
}

int memcond_config_parse(struct memcond_config *cfg, const char *spec, char **ret_error) {
        struct memcond_config c;
        char *dup, *save = NULL;
        int r = 0;

        if (!cfg || !spec)
                return -EINVAL;
        c = *cfg;
        dup = strdup(spec);
        if (!dup)
                return -ENOMEM;
        for (char *item = strtok_r(dup, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(item, '=');

                while (*item == ' ')
                        item++;
                if (!eq) {
                        r = fail(ret_error, "'%s': expected key=value", item);
                        break;
                }
                *eq = 0;
                r = memcond_config_set(&c, item, eq + 1, ret_error);
                if (r < 0)
                        break;
        }
        free(dup);
        if (r == 0)
                *cfg = c;
        return r;
}

int memcond_config_validate(const struct memcond_config *cfg, uint64_t total, char **ret_error) {
        struct memcond_thresholds t;
        char a[32], b[32];

        if (!cfg)
                return -EINVAL;
        memcond_thresholds_compute(cfg, total, &t);
        /* low and high are both 0 only while the total is unknown and
         * nothing is overridden: no memory condition is evaluated then. */
        if ((t.low || t.high) && t.low >= t.high)
                return fail(ret_error, "low memory threshold %s%s is not below high memory threshold %s%s",
                            format_size(t.low, a, sizeof(a)), cfg->low ? "" : " (default)",
                            format_size(t.high, b, sizeof(b)), cfg->high ? "" : " (default: 3 x low)");
        if (t.low_commit >= t.high_commit)
                return fail(ret_error, "low commit threshold %u%% is not below high commit threshold %u%%",
                            t.low_commit, t.high_commit);
        if (t.high_commit >= t.max_commit)
                return fail(ret_error, "high commit threshold %u%% is not below maximum commit threshold %u%%",
                            t.high_commit, t.max_commit);
        if (cfg->commit_margin_set && t.commit_margin >= t.low_commit)
                return fail(ret_error, "commit margin %u%% is not below low commit threshold %u%%", t.commit_margin,
                            t.low_commit);
        return 0;
}
