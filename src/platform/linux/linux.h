/* SPDX-License-Identifier: MIT */
/*
 * The Linux platform: the engine over sysfs and kernel uevents.  dhpd (or
 * an in-process context) is then the agent that onlines hot-added
 * processors and memory, in the order of doc/model.md (R30, R31; L1).
 *
 * Processors: an `add` uevent on subsystem cpu makes the processor present;
 * by policy the engine's transaction runs: write 1 to cpuN/online (the
 * kernel starts it) -> ADD_START -> admission (each managed cgroup v2
 * group's cpuset.cpus widened) -> ADD_COMPLETE -> arrival.  On a failed add
 * the processor is taken offline again (or, by configuration, left online
 * but not admitted).  A processor someone else onlined (an `online` uevent
 * for a present processor) still gets its transaction, flagged late.
 *
 * Processors announced in one drain of the socket are started together
 * (engine_cpu_hotadd_batch): every online write, then each one's phases.
 *
 * Memory: one `add` uevent per block.  After draining the socket, new
 * blocks are grouped into memory devices (topology.h: the ACPI memory
 * device when sysfs shows one, else consecutive blocks added together).  In
 * kernel mode (memonline.c) the kernel onlines them by the policy set at
 * start and their `online` uevents complete the device; what it left
 * offline after a bounded wait, and every block in dhpd mode, is onlined
 * here by policy (online_movable, falling back to online_kernel when the
 * kernel refuses with EINVAL, under policy "auto"); the device's arrival
 * once every block is online.  Blocks onlined by someone else are recorded
 * and count toward the device's arrival.
 *
 * Lost uevents (ENOBUFS, a SEQNUM gap) trigger a resync from sysfs: every
 * present processor and block is compared with the model and handled as if
 * its event had just come.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>
#include <sys/types.h>

#include "core/engine.h"
#include "platform/linux/sysfs.h"
#include "util/log.h"

#define LINUX_MAX_CGROUPS 16

enum linux_mem_policy {
        LINUX_MEM_MOVABLE, /* online_movable only */
        LINUX_MEM_KERNEL,  /* online_kernel only */
        LINUX_MEM_AUTO,    /* online_movable, online_kernel when refused */
};

/* Who onlines hot-added memory blocks (memonline.c). */
enum linux_mem_onlining {
        /* The kernel, during the add: its policy (auto_online_blocks,
         * memory_hotplug.online_policy) is set at start from mem_policy;
         * the platform groups, notifies, and onlines only what the kernel
         * left offline after kernel_online_wait_ns. */
        LINUX_ONLINING_KERNEL,
        /* The platform writes each block's state itself. */
        LINUX_ONLINING_DHPD,
};

struct linux_config {
        const char *root;         /* prefix of /sys and /proc: "" on a real system */
        const char *cgroup_mount; /* NULL: /sys/fs/cgroup (under root) */
        bool cpu_online;          /* online hot-added processors */
        bool cpu_online_at_start; /* also online processors found offline at start */
        bool veto_keep_online;    /* a failed add leaves the processor online, unadmitted */
        bool mem_online;          /* online hot-added memory */
        enum linux_mem_policy mem_policy;
        enum linux_mem_onlining mem_onlining;
        /* LINUX_ONLINING_KERNEL: how long a new block may stay offline
         * before the platform onlines it itself; 0: the default (1 s). */
        uint64_t kernel_online_wait_ns;
        /* memory_hotplug.auto_movable_ratio to set with the kernel's
         * policy; 0: leave the kernel's (301 by default). */
        unsigned auto_movable_ratio;
        unsigned retry_attempts; /* sysfs writes answered EBUSY/EAGAIN; 0: default */
        uint64_t retry_max_ns;
        /* How long new memory blocks wait for the kernel to bind them to
         * their ACPI memory device (their DIMM) before they are grouped
         * without it; 0: the default (2 s). */
        uint64_t acpi_bind_wait_ns;
        const char *cgroups[LINUX_MAX_CGROUPS]; /* managed groups, relative to the mount */
        unsigned ncgroups;
        size_t rcvbuf;                  /* uevent socket buffer; 0: default */
        int uevent_fd;                  /* >= 0: use this fd (tests: a socketpair), trusted */
        const struct sysfs_writer *writer; /* NULL: the real writer (tests inject) */
        /* A directory (under root) where each processor transaction in
         * progress is marked, e.g. "/run/dhp": a restart after a crash
         * mid-transaction runs it again (late) instead of taking the
         * processor, found online, as existing and never admitted.  NULL:
         * no marks. */
        const char *state_dir;
        /* Tests: replaces recvmsg(2) on the uevent socket (to inject
         * ENOBUFS).  NULL: the real one. */
        ssize_t (*uevent_recvmsg)(int fd, struct msghdr *msg, int flags);
        /* Called at admission, after the cgroups were widened: an in-process
         * context widens its own threads' affinity here. */
        int (*on_admit)(void *userdata, uint32_t cpu);
        void *on_admit_userdata;
        /* Called when a processor leaves the managed sets (a removal),
         * after the cgroups were narrowed, with on_admit_userdata. */
        void (*on_unadmit)(void *userdata, uint32_t cpu);
        /* A virtio-mem resize step ends when its device had no block event
         * for this long; 0: the default (1 s). */
        uint64_t vmem_settle_ns;
};

void linux_config_defaults(struct linux_config *c);

struct linux_platform;

/* Create the platform and its engine.  Nothing is read or written yet. */
int linux_platform_new(struct linux_platform **ret, const struct linux_config *cfg, const struct logger *log);
void linux_platform_free(struct linux_platform *lp);
struct engine *linux_platform_engine(struct linux_platform *lp);

/*
 * linux_platform_start - open the uevent socket first (so nothing added
 * from now on is missed), enumerate sysfs into the model, then bring online
 * by policy what is present and offline.  Transactions run on the calling
 * thread.
 */
int linux_platform_start(struct linux_platform *lp);

/* The uevent fd to poll for POLLIN. */
int linux_platform_get_fd(struct linux_platform *lp);

/*
 * linux_platform_process - drain the uevent socket, then run what it
 * announced (transactions on the calling thread), resyncing from sysfs if
 * events were lost.  Malformed or foreign messages are logged and skipped.
 * Returns the number of messages read, or a negative errno for a socket
 * failure.
 */
int linux_platform_process(struct linux_platform *lp);

/*
 * linux_platform_next_timeout_ms - how long the caller's poll may wait
 * before linux_platform_tick() has work, in ms (0: due now), -1: none: a
 * virtio-mem resize step to end (vmem_settle_ns after its last block
 * event), a memory device waiting for the kernel to online its blocks (its
 * deadline).  On the thread that runs process().
 */
int linux_platform_next_timeout_ms(struct linux_platform *lp);
/* linux_platform_tick - what is due: end the resize steps that went quiet
 * (one ARRIVAL or REMOVAL per step, doc/model.md R40) and online what the
 * kernel left offline past its deadline.  On the thread that runs the
 * platform's transactions. */
void linux_platform_tick(struct linux_platform *lp);

/*
 * linux_platform_reconfigure - apply new policies (onlining, veto, memory
 * zone, retries, managed cgroups) from cfg; its root, uevent fd and writer
 * functions are ignored.  Call it on the thread that runs the platform's
 * transactions (dhpd's hotplug thread, on SIGHUP), so that no transaction
 * sees a half-applied configuration.  -EINVAL for a bad cgroup list.
 */
int linux_platform_reconfigure(struct linux_platform *lp, const struct linux_config *cfg);

/*
 * linux_platform_cpu_online - a new add transaction for processor `cpu`,
 * present but not admitted (its add was vetoed or failed, or the policy
 * left it offline): engine_cpu_hotadd() inside the crash marker, as for a
 * hot-add.  Returns as dhp_proc_online(): 0 admitted, 1 the add failed
 * (ret_status: why), -EALREADY, -ENODEV, -ERANGE, -EDEADLK, or the error
 * that kept it from starting.  Call it on the thread that runs the
 * platform's transactions (dhpd: the hotplug thread, linux_hotplug_submit()).
 */
int linux_platform_cpu_online(struct linux_platform *lp, uint32_t cpu, int *ret_status);

/* Whether the kernel onlines hot-added memory for the platform: the mode
 * is LINUX_ONLINING_KERNEL and its policy was set at start. */
bool linux_platform_kernel_onlines(struct linux_platform *lp);

/* linux_platform_resync - compare sysfs with the model and handle every
 * difference.  Called by process() after a loss; exposed for SIGHUP. */
int linux_platform_resync(struct linux_platform *lp);

/* Counters, for status and tests. */
struct linux_stats {
        uint64_t uevents, malformed, foreign, lost, resyncs;
        uint64_t cpu_onlined, cpu_offlined, blocks_onlined, blocks_kernel_fallback, blocks_failed;
        uint64_t write_retries;
        uint64_t kernel_left_offline; /* devices the kernel did not fully online in time (kernel mode) */
};
void linux_platform_stats(struct linux_platform *lp, struct linux_stats *ret);
/* The admitted processors of the model. */
int linux_platform_admitted(struct linux_platform *lp, struct cpuset *ret);
