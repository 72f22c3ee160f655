/* SPDX-License-Identifier: MIT */
/*
 * dhpd's configuration: /etc/dhp/dhpd.conf, INI format (parsed with inih
 * through a reader of ours, see config.c).  Every key is documented in
 * doc/dhpd.conf.md; an unknown section or key, a bad value, a line longer
 * than CONFIG_LINE_MAX or an inline comment is an error naming FILE:LINE
 * (the first one), and the whole file is rejected (on SIGHUP the running
 * configuration stays).  Only a regular file of at most CONFIG_MAX_SIZE
 * bytes is read.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_CGROUPS 16
#define CONFIG_MAX_DEVICE_POLICIES 64
/* Characters in a line, without its newline: inih's buffer is 200 bytes
 * with the newline and the NUL. */
#define CONFIG_LINE_MAX 198
#define CONFIG_MAX_SIZE (64 * 1024)
/* The kernel's bounds for a PSI trigger window (kernel/sched/psi.c). */
#define CONFIG_PSI_WINDOW_MIN_US 500000ULL
#define CONFIG_PSI_WINDOW_MAX_US 10000000ULL

enum config_log_target { CONFIG_LOG_AUTO, CONFIG_LOG_STDERR, CONFIG_LOG_SYSLOG };
enum config_mem_online { CONFIG_MEM_MOVABLE, CONFIG_MEM_KERNEL, CONFIG_MEM_AUTO };
/* [memory] onlining: the kernel onlines hot-added memory by dhpd's policy,
 * or dhpd writes each block itself. */
enum config_mem_onlining { CONFIG_ONLINING_KERNEL, CONFIG_ONLINING_DHPD };
enum config_cpu_veto { CONFIG_VETO_OFFLINE, CONFIG_VETO_KEEP_ONLINE };
enum config_late_policy { CONFIG_LATE_PROCEED, CONFIG_LATE_VETO };
/* Who moves kernel devices' interrupts when irqbalance runs too
 * (doc/dhpd.conf.md, [rebalance] irqbalance). */
enum config_irqbalance { CONFIG_IRQBALANCE_LEAVE, CONFIG_IRQBALANCE_SHARE, CONFIG_IRQBALANCE_IGNORE };

struct config_device_policy {
        char match[64]; /* a PCI address (0000:00:03.0) or "class:NAME" */
        int policy;     /* 1: do not participate, 2: participate */
};

/* A psi_trigger, as written to /proc/pressure/memory. */
struct config_psi {
        bool full; /* "full", else "some" */
        uint64_t stall_us, window_us;
};

struct config {
        /* [daemon] */
        int log_level; /* syslog priority, 3..7 */
        enum config_log_target log_target;
        char socket_path[108];
        char group[64];
        unsigned max_clients;         /* connections at once */
        unsigned max_clients_per_uid; /* of one unprivileged user; 0: max_clients / 8 */

        /* [cpu] */
        bool cpu_online;
        enum config_cpu_veto cpu_on_veto;
        char cgroups[CONFIG_MAX_CGROUPS][256];
        unsigned ncgroups;

        /* [memory] */
        bool mem_online;
        enum config_mem_online mem_online_policy;
        enum config_mem_onlining mem_onlining;
        uint64_t kernel_online_wait_ns; /* kernel mode: then dhpd onlines what is left */
        unsigned auto_movable_ratio;    /* 0: the kernel's */
        unsigned retry_attempts;
        uint64_t retry_max_ns;
        uint64_t poll_interval_ns; /* the slow memory-level timer */
        char psi_trigger[64];    /* as written in the file */
        struct config_psi psi;   /* the same, parsed: what dhpd uses */
        uint64_t low_threshold, high_threshold; /* 0: the default */
        /* The hysteresis margins, where 0 is a value (the exact model):
         * unset means memcond's default. */
        bool margin_set, commit_margin_set;
        uint64_t margin;        /* bytes */
        uint32_t commit_margin; /* percentage points */

        /* [sync] */
        uint64_t deadline_ns;
        enum config_late_policy late_policy;

        /* [rebalance] */
        bool rebalance;
        struct config_device_policy devices[CONFIG_MAX_DEVICE_POLICIES];
        unsigned ndevices;
        enum config_irqbalance irqbalance;
};

void config_defaults(struct config *c);
/*
 * config_load - read and validate a file over the defaults.  On error
 * returns a negative errno and *ret_error (malloc'ed) "FILE:LINE: message";
 * *c is untouched.  -ENOENT when the file does not exist (callers may treat
 * a missing default file as "all defaults").
 */
int config_load(struct config *c, const char *path, char **ret_error);
/* The same for a string (tests, fuzzing); `name` labels errors. */
int config_load_string(struct config *c, const char *name, const char *text, char **ret_error);

/*
 * config_psi_parse - "some|full STALL_US WINDOW_US", with the kernel's
 * bounds (0 < STALL_US <= WINDOW_US, WINDOW_US from 500ms to 10s): the one
 * parser for both --check-config and the trigger dhpd opens.  -EINVAL.
 */
int config_psi_parse(const char *s, struct config_psi *ret);

/*
 * config_memcond_spec - the memory condition spec (memcond_config_parse()
 * syntax) of low_threshold, high_threshold, margin, commit_margin and
 * poll_interval, every key
 * present ("default" for 0 or unset), so that applying it over the thresholds in
 * force leaves none of the previous file's.  -ENOBUFS if it does not fit.
 */
int config_memcond_spec(const struct config *c, char *buf, size_t size);
/* A buffer that always fits config_memcond_spec(). */
#define CONFIG_MEMCOND_SPEC_MAX 256

/* When a changed key takes effect in dhpd: at once on SIGHUP, or at the
 * next start. */
enum config_apply { CONFIG_APPLY_RELOAD, CONFIG_APPLY_RESTART };

typedef void (*config_diff_fn)(void *userdata, const char *section, const char *key, const char *old_value,
                               const char *new_value, enum config_apply when);
/*
 * config_diff - call fn for every key whose value differs between old and
 * new, in the order of doc/dhpd.conf.md, with both values written as in a
 * file (repeatable keys as one comma list; "" for none) and when dhpd
 * applies it.  Returns the number of changed keys.
 */
unsigned config_diff(const struct config *old, const struct config *new, config_diff_fn fn, void *userdata);
