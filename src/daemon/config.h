/* SPDX-License-Identifier: MIT */
/*
 * dhpd's configuration: /etc/dhp/dhpd.conf, INI format (parsed with inih).
 * Every key is documented in doc/dhpd.conf.md; an unknown section or key, or
 * a bad value, is an error naming FILE:LINE, and the whole file is rejected
 * (on SIGHUP the running configuration stays).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_MAX_CGROUPS 16
#define CONFIG_MAX_DEVICE_POLICIES 64

enum config_log_target { CONFIG_LOG_AUTO, CONFIG_LOG_STDERR, CONFIG_LOG_SYSLOG };
enum config_mem_online { CONFIG_MEM_MOVABLE, CONFIG_MEM_KERNEL, CONFIG_MEM_AUTO };
enum config_cpu_veto { CONFIG_VETO_OFFLINE, CONFIG_VETO_KEEP_ONLINE };
enum config_late_policy { CONFIG_LATE_PROCEED, CONFIG_LATE_VETO };

struct config_device_policy {
        char match[64]; /* a PCI address (0000:00:03.0) or "class:NAME" */
        int policy;     /* 1: do not participate, 2: participate */
};

struct config {
        /* [daemon] */
        int log_level; /* syslog priority, 3..7 */
        enum config_log_target log_target;
        char socket_path[108];
        char group[64];

        /* [cpu] */
        bool cpu_online;
        enum config_cpu_veto cpu_on_veto;
        char cgroups[CONFIG_MAX_CGROUPS][256];
        unsigned ncgroups;

        /* [memory] */
        bool mem_online;
        enum config_mem_online mem_online_policy;
        unsigned retry_attempts;
        uint64_t retry_max_ns;
        uint64_t poll_interval_ns; /* the slow memory-level timer */
        char psi_trigger[64];
        uint64_t low_threshold, high_threshold; /* 0: the default */

        /* [sync] */
        uint64_t deadline_ns;
        enum config_late_policy late_policy;

        /* [rebalance] */
        bool rebalance;
        struct config_device_policy devices[CONFIG_MAX_DEVICE_POLICIES];
        unsigned ndevices;
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
