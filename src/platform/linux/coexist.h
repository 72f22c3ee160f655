/* SPDX-License-Identifier: MIT */
/*
 * Other agents that online hot-added CPUs or memory, and so race with dhpd
 * (which must be the one that onlines, to run ADD_START before anything is
 * scheduled on a new CPU):
 *   - the kernel itself, when /sys/devices/system/memory/auto_online_blocks
 *     is not "offline" (set at boot from memhp_default_state= or
 *     CONFIG_MHP_DEFAULT_ONLINE_TYPE);
 *   - memhp_default_state= on the kernel command line (comes back at the
 *     next boot even after auto_online_blocks is fixed);
 *   - udev rules that write ATTR{online}="1" for cpu devices or
 *     ATTR{state}="online..." for memory blocks (RHEL's 40-redhat.rules,
 *     SUSE's 80-hotplug-cpu-mem.rules, 40-vm-hotadd.rules, local rules).
 *
 * Rules are looked up as udev does: a file name in /etc/udev/rules.d hides
 * the same name in /run/udev/rules.d, /usr/local/lib/udev/rules.d,
 * /usr/lib/udev/rules.d and /lib/udev/rules.d, and a file that is a symlink
 * to /dev/null or empty is masked.  A rule's subsystem comes from its own
 * SUBSYSTEM=="..." / KERNEL=="cpu*|memory*" match or from an enclosing
 * SUBSYSTEM!="...", GOTO="label" ... LABEL="label" guard.
 *
 * And irqbalance, which does not online anything but also writes
 * /proc/irq/N/smp_affinity, as dhpd's rebalance does after a processor add
 * (coexist_irqbalance_detect(); who moves which interrupts is dhpd's
 * [rebalance] irqbalance).
 *
 * Nothing here changes the system except coexist_take_over().
 */
#pragma once

#include <stddef.h>

#include "platform/linux/sysfs.h"
#include "util/log.h"

enum coexist_kind {
        COEXIST_AUTO_ONLINE,  /* auto_online_blocks is not "offline" */
        COEXIST_CMDLINE,      /* memhp_default_state= on the kernel command line */
        COEXIST_UDEV_CPU,     /* a udev rule onlines CPUs */
        COEXIST_UDEV_MEMORY,  /* a udev rule onlines memory blocks */
        COEXIST_UDEV_KNOWN,   /* a rule file known to online hot-added hardware */
};

struct coexist_finding {
        enum coexist_kind kind;
        char path[256]; /* the file, as on the real system (no root prefix) */
        unsigned line;  /* rule files: first offending line, else 0 */
        char message[512];
        char fix[512]; /* the exact command(s) that resolve it */
};

struct coexist_report {
        struct coexist_finding *findings;
        size_t n;
};

#define COEXIST_RULES_FILE_MAX (1024 * 1024)

/* Scan everything under root.  Missing files and directories are not
 * errors.  0 or -ENOMEM (or a read error other than ENOENT/EACCES). */
int coexist_scan(const char *root, struct coexist_report *ret, const struct logger *log);

enum coexist_scan_flags {
        /* dhpd sets the kernel's memory onlining policy itself ([memory]
         * onlining = kernel): auto_online_blocks and memhp_default_state
         * are its own choice, not another onliner. */
        COEXIST_KERNEL_ONLINES_MEMORY = 1u << 0,
};
/* coexist_scan() with flags (enum coexist_scan_flags). */
int coexist_scan_flags(const char *root, unsigned flags, struct coexist_report *ret, const struct logger *log);
void coexist_report_deinit(struct coexist_report *r);

/* Scan one udev rules file's text (exposed for tests): appends findings for
 * path (a display path) to r. */
int coexist_scan_rules_text(struct coexist_report *r, const char *path, const char *text);

/* Make the kernel stop onlining hot-added memory by itself: write "offline"
 * to auto_online_blocks.  Only when the administrator asked for it. */
int coexist_take_over(const struct sysfs_writer *w, const char *root, unsigned *attempts);

const char *coexist_kind_to_string(enum coexist_kind k);

/* irqbalance, found by the first of: a running process (/proc/PID/comm is
 * "irqbalance"), a pid file of a live process (/run/irqbalance.pid,
 * /var/run/irqbalance.pid), its systemd unit enabled
 * (/etc/systemd/system/ *.wants/irqbalance.service: dhpd starts before
 * sysinit.target, long before irqbalance does). */
struct coexist_irqbalance {
        bool found;
        unsigned pid;  /* the running process, else 0 */
        char why[512]; /* what showed it, for the log */
};

/* Look under root.  Missing or unreadable files are not errors: 0, with
 * ret->found false when nothing showed irqbalance. */
int coexist_irqbalance_detect(const char *root, struct coexist_irqbalance *ret);
