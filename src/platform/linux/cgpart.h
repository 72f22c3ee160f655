/* SPDX-License-Identifier: MIT */
/*
 * A cgroup v2 directory seen as a partition (issue 15): the CPUs it may use,
 * its CPU bandwidth, the pool size an application should use, and its
 * memory limits, read from the cgroup and its ancestors.
 *
 * Which cgroup:
 *   - the process's own: the "0::PATH" line of /proc/self/cgroup, resolved
 *     against the cgroup2 mount of /proc/self/mountinfo.  Inside a cgroup
 *     namespace both are relative to the namespace's root, so the same rule
 *     holds; a mount of a subtree (mount root not "/") is handled by
 *     stripping the mount root from PATH;
 *   - an absolute directory ("/sys/fs/cgroup/app"), or a path relative to
 *     the cgroup2 mount ("app/worker").
 * Every path is prefixed with cgpart_config.root ("" on a real system, a
 * temporary directory in tests).
 *
 * The effective limits are the tightest of the cgroup and of every ancestor
 * visible (up to the mount's root): the kernel enforces cpu.max,
 * memory.max and memory.high at each level, so a parent's tighter limit is
 * the one the application meets.  cpuset.cpus.effective already folds the
 * ancestors in (the kernel computes it), so it is read from the cgroup
 * itself, or from the nearest ancestor having the file when the cpuset
 * controller is not enabled at this level.
 *
 * A missing controller file at one level means the controller is not
 * enabled there: that level limits nothing.  A caller that needs a
 * controller asks for it with cgpart_config.require and gets -ENOENT with a
 * message naming the file.
 *
 * No threads, no globals; errors are 0 or -errno plus, where a person needs
 * it, a message in a struct cgpart_err.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cpuset.h"

#define CGPART_UNLIMITED UINT64_MAX
#define CGPART_MOUNT_DEFAULT "/sys/fs/cgroup"
/* Kernel bounds of cpu.max (kernel/sched/core.c: 1 ms to 1 s periods,
 * quota at least 1 ms). */
#define CGPART_PERIOD_MIN_US 1000ULL
#define CGPART_PERIOD_MAX_US 1000000ULL
#define CGPART_QUOTA_MIN_US 1000ULL
/* How many ancestors are read at most: a deeper hierarchy is an error
 * (-ELOOP), it bounds the work of each re-read. */
#define CGPART_MAX_DEPTH 32u

/* A message for a person: what failed and where. */
struct cgpart_err {
        char msg[256];
};

/* The changed mask of a snapshot; CGPART_CHANGED_ALL at the first one. */
enum cgpart_changed {
        CGPART_CHANGED_CPUS = 1u << 0,        /* effective CPU set */
        CGPART_CHANGED_BANDWIDTH = 1u << 1,   /* cpu.max quota/period (tightest) */
        CGPART_CHANGED_POOL = 1u << 2,        /* the pool size figure */
        CGPART_CHANGED_MEMORY_MAX = 1u << 3,
        CGPART_CHANGED_MEMORY_HIGH = 1u << 4,
        CGPART_CHANGED_POPULATED = 1u << 5,   /* cgroup.events populated */
        CGPART_CHANGED_REMOVED = 1u << 6,     /* the cgroup is gone: last snapshot */
        CGPART_CHANGED_ALL = (1u << 6) - 1,   /* everything but REMOVED */
};

/* Files of the cgroup itself, for cgpart_config.require and
 * cgpart_limits.present. */
enum cgpart_file {
        CGPART_FILE_CPUSET = 1u << 0,      /* cpuset.cpus.effective */
        CGPART_FILE_CPU_MAX = 1u << 1,     /* cpu.max */
        CGPART_FILE_MEMORY_MAX = 1u << 2,  /* memory.max */
        CGPART_FILE_MEMORY_HIGH = 1u << 3, /* memory.high */
        CGPART_FILE_MEMORY_CURRENT = 1u << 4,
        CGPART_FILE_EVENTS = 1u << 5,      /* cgroup.events (not on the root cgroup) */
};

struct cgpart_limits {
        uint64_t seq;             /* 1 for the first snapshot, +1 per change */
        uint32_t changed;         /* enum cgpart_changed, against the previous */
        uint32_t present;         /* enum cgpart_file found in the cgroup itself */
        struct cpuset cpus;       /* the CPUs the cgroup may use */
        uint32_t ncpus;           /* cpuset_count(&cpus) */
        /* The tightest cpu.max (smallest quota/period) of the cgroup and its
         * ancestors; quota CGPART_UNLIMITED when every level says "max". */
        uint64_t quota_us, period_us;
        uint32_t pool_size;       /* cgpart_pool_size(ncpus, quota, period) */
        uint64_t memory_max;      /* tightest; CGPART_UNLIMITED */
        uint64_t memory_high;     /* tightest; CGPART_UNLIMITED */
        uint64_t memory_current;  /* the cgroup's own usage; 0 if unknown */
        bool populated;           /* cgroup.events; true when absent */
};

void cgpart_limits_deinit(struct cgpart_limits *l);
int cgpart_limits_copy(struct cgpart_limits *dst, const struct cgpart_limits *src);
/* quota/period, as a number of CPUs; a negative value when unlimited. */
double cgpart_limits_bandwidth(const struct cgpart_limits *l);
/* The changed mask of b against a (REMOVED never set here). */
uint32_t cgpart_limits_diff(const struct cgpart_limits *a, const struct cgpart_limits *b);

/*
 * The pool size figure, computed as Go 1.25's runtime computes its default
 * GOMAXPROCS (runtime/cgroup_linux.go, defaultGOMAXPROCS and
 * adjustCgroupGOMAXPROCS): the CPU count, lowered to the cgroup's CPU
 * limit quota/period rounded up, where a limit under 2 counts as 2.  So
 * 0.5 CPU on 8 CPUs gives 2, 2.5 CPUs gives 3, "max" gives 8, and 0.5 CPU on
 * a 1-CPU set gives 1.  Two differences, both deliberate: the CPU count is
 * that of the cgroup's effective set (Go: sched_getaffinity of the
 * process), and the quota is the tightest of the ancestors (Go reads the
 * leaf only).  ncpus 0 (unknown) counts as 1; the result is at least 1.
 */
uint32_t cgpart_pool_size(uint32_t ncpus, uint64_t quota_us, uint64_t period_us);

/* ---- parsers of the files' formats (fuzzed: fuzz/fuzz-cgroup.c) ---------
 * Each is strict: a malformed content is -EINVAL (-ERANGE for a number out
 * of range) with e (if not NULL) saying what and at which byte. */

/* Write the message into e (if not NULL) and return r: the one way the
 * module's functions fail with a message. */
int cgpart_fail(struct cgpart_err *e, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* cpu.max: "max 100000", "50000 100000", one trailing newline allowed. */
int cgpart_parse_cpu_max(const char *s, uint64_t *ret_quota, uint64_t *ret_period, struct cgpart_err *e);
/* memory.max, memory.high, memory.current: "max" or a decimal byte count. */
int cgpart_parse_memory(const char *s, uint64_t *ret, struct cgpart_err *e);
/* cpuset.cpus.effective: the kernel's list format. */
int cgpart_parse_cpus(const char *s, struct cpuset *ret, struct cgpart_err *e);
/* cgroup.events: "populated 0|1" and "frozen 0|1" lines, others ignored. */
int cgpart_parse_events(const char *s, bool *ret_populated, struct cgpart_err *e);
/* /proc/self/cgroup: the path of the "0::" line.  -EOPNOTSUPP when only
 * v1 hierarchies are listed. */
int cgpart_parse_proc_cgroup(const char *s, char *path, size_t size, struct cgpart_err *e);
/* /proc/self/mountinfo: the mount point and root of the first cgroup2
 * mount, octal escapes undone.  -EOPNOTSUPP when only cgroup v1 is
 * mounted, -ENOENT when no cgroup is mounted. */
int cgpart_parse_mountinfo(const char *s, char *mnt, size_t mnt_size, char *root, size_t root_size,
                           struct cgpart_err *e);

/* ---- one cgroup ------------------------------------------------------- */

struct cgpart_config {
        const char *root;      /* prefix of every path; NULL: "" */
        const char *path;      /* NULL: the process's own cgroup */
        uint32_t require;      /* enum cgpart_file that must exist */
};

struct cgpart {
        char root[256];
        char dir[4096];                       /* the cgroup, without root */
        uint32_t depth;                       /* ancestors read (0: it is the top) */
        char (*ancestors)[4096];              /* nearest first */
};

/*
 * cgpart_init - find and check the cgroup.
 * -EOPNOTSUPP: only cgroup v1 (in /proc/self/cgroup, mountinfo or statfs);
 * -ENOTDIR: the path is not a cgroup v2 directory;
 * -ENOENT: it does not exist, or a required file is missing;
 * -ENAMETOOLONG, -ELOOP (deeper than CGPART_MAX_DEPTH), -ENOMEM, or the
 * error of reading /proc.  e says which file and why.
 */
int cgpart_init(struct cgpart *cg, const struct cgpart_config *cfg, struct cgpart_err *e);
void cgpart_deinit(struct cgpart *cg);

/*
 * cgpart_read - a snapshot of the limits (seq and changed left 0: the
 * caller numbers them).  -ENODEV when the cgroup is gone (its directory
 * or cgroup.events vanished), -EINVAL/-ERANGE for malformed content, with
 * e naming the file.
 */
int cgpart_read(const struct cgpart *cg, struct cgpart_limits *ret, struct cgpart_err *e);

/* root + dir + "/" + file. */
int cgpart_file_path(const struct cgpart *cg, const char *file, char *buf, size_t size);

/* ---- memory conditions relative to the cgroup --------------------------- */

/*
 * The memory left before the cgroup's limit: min(memory.max, memory.high)
 * minus memory.current (0 once over).  memory.high counts because the
 * kernel throttles and reclaims the cgroup there: for the application that
 * is where memory runs out.  -ENODATA when neither limit is set (the
 * machine's conditions apply then).
 */
int cgpart_memory_headroom(const struct cgpart_limits *l, uint64_t *ret_limit, uint64_t *ret_headroom);

/*
 * Default thresholds for a cgroup limit, following it: low = limit/32,
 * at least 4 MiB and at most 64 MiB (never above limit/4); high = 3 x low.
 * Why not the machine's total/128: a container's limit is small and hard
 * (OOM kill or throttling, no swap to fall back to in most setups), so a
 * 512 MiB cgroup warned at 4 MiB left is warned too late; 1/32 gives
 * 16 MiB there.  The 64 MiB cap and the 3 x hysteresis are the machine's
 * (src/core/memcond.h), so a large cgroup behaves like a machine.
 */
void cgpart_memory_default_thresholds(uint64_t limit, uint64_t *ret_low, uint64_t *ret_high);

enum cgpart_memcond {
        CGPART_MEMCOND_NONE = 0,  /* between the thresholds */
        CGPART_MEMCOND_LOW = 1,   /* headroom below low */
        CGPART_MEMCOND_HIGH = 2,  /* headroom above high */
};
/* The condition of a snapshot, thresholds 0 meaning their default.
 * -ENODATA without a limit. */
int cgpart_memory_condition(const struct cgpart_limits *l, uint64_t low, uint64_t high, enum cgpart_memcond *ret);

/*
 * cgpart_psi_open - a PSI trigger on the cgroup's own memory.pressure:
 * "some" or "full", a stall of stall_us within each window_us.  The kernel
 * accepts windows of 500 ms to 10 s and a stall up to the window (an
 * unprivileged trigger needs a window that is a multiple of 2 s); -EINVAL
 * otherwise.  *ret_fd (O_CLOEXEC) then reports POLLPRI at each trigger,
 * POLLERR once the cgroup is gone.  -ENOENT without memory.pressure (PSI
 * disabled or no memory controller).
 */
int cgpart_psi_open(const struct cgpart *cg, const char *kind, uint64_t stall_us, uint64_t window_us, int *ret_fd,
                    struct cgpart_err *e);
