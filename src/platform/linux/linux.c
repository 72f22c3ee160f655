/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/linux/cgroup.h"
#include "platform/linux/linux.h"
#include "platform/linux/meminfo.h"
#include "platform/linux/topology.h"
#include "platform/linux/uevent.h"
#include "util/cpuset.h"
#include "util/macro.h"
#include "util/strbuf.h"
#include "util/time.h"

#define ACPI_BIND_WAIT_DEFAULT_NS (2 * NSEC_PER_SEC)
#define ACPI_GAVE_UP_MAX 16

/* What one drain of the socket announced. */
struct pending {
        uint32_t *cpus;
        size_t ncpus, cap_cpus;
        uint32_t *blocks;
        size_t nblocks, cap_blocks;
};

struct linux_platform {
        struct engine *engine;
        struct linux_config cfg;
        char root[4096];
        char cgroup_mount[4096];
        char cgroups[LINUX_MAX_CGROUPS][256];
        char state_dir[4096]; /* root + cfg.state_dir, "" for none */
        struct cpuset interrupted; /* marks found at start */
        struct logger log;
        struct sysfs_writer writer;
        struct uevent_monitor *mon;
        uint64_t block_size;
        struct pending pending;
        /* ACPI memory devices that stayed unbound for acpi_bind_wait_ns:
         * not waited for again. */
        char acpi_gave_up[ACPI_GAVE_UP_MAX][32];
        unsigned n_acpi_gave_up;
        pthread_mutex_t stats_lock;
        struct linux_stats stats;
};

void linux_config_defaults(struct linux_config *c) {
        *c = (struct linux_config){
                .root = "",
                .cpu_online = true,
                .cpu_online_at_start = true,
                .mem_online = true,
                .mem_policy = LINUX_MEM_AUTO,
                .uevent_fd = -1,
        };
}

#define STAT_INC(lp, field)                          \
        do {                                         \
                pthread_mutex_lock(&(lp)->stats_lock); \
                (lp)->stats.field++;                 \
                pthread_mutex_unlock(&(lp)->stats_lock); \
        } while (0)

static void count_retries(struct linux_platform *lp, unsigned attempts) {
        if (attempts > 1) {
                pthread_mutex_lock(&lp->stats_lock);
                lp->stats.write_retries += attempts - 1;
                pthread_mutex_unlock(&lp->stats_lock);
        }
}

/* ---- platform ops ------------------------------------------------------ */

static int op_cpu_start(void *p, uint32_t index) {
        struct linux_platform *lp = p;
        unsigned attempts = 0;
        int r;

        r = topology_cpu_set_online(&lp->writer, lp->root, index, true, &attempts);
        count_retries(lp, attempts);
        if (r < 0) {
                log_error(&lp->log, "cpu%u: cannot online: %s (after %u attempts)", index, sysfs_write_strerror(r),
                          attempts);
                return r;
        }
        if (attempts > 1)
                log_notice(&lp->log, "cpu%u: online succeeded after %u attempts", index, attempts);
        STAT_INC(lp, cpu_onlined);
        return 0;
}

static int op_cpu_stop(void *p, uint32_t index) {
        struct linux_platform *lp = p;
        unsigned attempts = 0;
        int r;

        if (lp->cfg.veto_keep_online) {
                log_notice(&lp->log, "cpu%u: add failed; left online but not admitted (on_veto = keep-online)", index);
                return 1;
        }
        r = topology_cpu_set_online(&lp->writer, lp->root, index, false, &attempts);
        count_retries(lp, attempts);
        if (r < 0) {
                log_error(&lp->log, "cpu%u: add failed and it cannot be taken offline: %s; it stays online, not "
                          "admitted", index, sysfs_write_strerror(r));
                return r;
        }
        STAT_INC(lp, cpu_offlined);
        log_notice(&lp->log, "cpu%u: add failed; taken offline again", index);
        return 0;
}

static int op_cpu_admit(void *p, uint32_t index) {
        struct linux_platform *lp = p;

        for (unsigned i = 0; i < lp->cfg.ncgroups; i++) {
                int r = cgroup_cpuset_widen(&lp->writer, lp->root, lp->cgroup_mount, lp->cgroups[i], index);
                if (r == -ENOENT) {
                        /* A group that went away is no reason to refuse a
                         * processor; say so and go on. */
                        log_warning(&lp->log, "cpu%u: managed cgroup %s does not exist; skipped", index, lp->cgroups[i]);
                        continue;
                }
                if (r < 0) {
                        log_error(&lp->log, "cpu%u: cannot widen cgroup %s: %s", index, lp->cgroups[i],
                                  sysfs_write_strerror(r));
                        return r;
                }
                log_debug(&lp->log, "cpu%u: admitted into cgroup %s", index, lp->cgroups[i]);
        }
        if (lp->cfg.on_admit)
                return lp->cfg.on_admit(lp->cfg.on_admit_userdata, index);
        return 0;
}

static int op_block_online(void *p, uint64_t index) {
        struct linux_platform *lp = p;
        unsigned attempts = 0;
        const char *state = lp->cfg.mem_policy == LINUX_MEM_KERNEL ? "online_kernel" : "online_movable";
        bool kernel = lp->cfg.mem_policy == LINUX_MEM_KERNEL;
        int r;

        r = topology_block_set_state(&lp->writer, lp->root, (uint32_t)index, state, &attempts);
        count_retries(lp, attempts);
        if (r == -EINVAL && lp->cfg.mem_policy == LINUX_MEM_AUTO) {
                /* The kernel refuses ZONE_MOVABLE for some blocks (e.g.
                 * next to kernel memory); the kernel zone still works. */
                log_notice(&lp->log, "memory%llu: online_movable refused; onlining in the kernel zone",
                           (unsigned long long)index);
                r = topology_block_set_state(&lp->writer, lp->root, (uint32_t)index, "online_kernel", &attempts);
                count_retries(lp, attempts);
                if (r == 0)
                        STAT_INC(lp, blocks_kernel_fallback);
                kernel = true;
        }
        if (r < 0) {
                STAT_INC(lp, blocks_failed);
                log_error(&lp->log, "memory%llu: cannot online: %s; the block stays offline and its device does not "
                          "arrive", (unsigned long long)index, sysfs_write_strerror(r));
                return r;
        }
        STAT_INC(lp, blocks_onlined);
        /* The zone, for dhp_memory_snapshot_get_block() (no engine lock is
         * held in an op). */
        engine_mem_block_set_zone(lp->engine, index, kernel ? DHP_MEMORY_ZONE_NORMAL : DHP_MEMORY_ZONE_MOVABLE);
        return 0;
}

/* Memory levels for the memory condition events: /proc/meminfo, read at
 * every evaluation (memory online/offline, PSI trigger, slow timer). */
static int op_mem_levels_read(void *p, struct mem_levels *ret) {
        struct linux_platform *lp = p;
        struct meminfo mi;
        int r;

        r = meminfo_read(lp->root, &mi);
        if (r < 0) {
                log_debug(&lp->log, "cannot read /proc/meminfo: %s", strerror(-r));
                return r;
        }
        *ret = (struct mem_levels){ .total = mi.total, .available = mi.available, .commit_charge = mi.committed_as,
                                    .commit_limit = mi.commit_limit };
        return 0;
}

static const struct platform_ops linux_ops = {
        .mem_levels_read = op_mem_levels_read,
        .cpu_start = op_cpu_start,
        .cpu_stop = op_cpu_stop,
        .cpu_admit = op_cpu_admit,
        .mem_block_online = op_block_online,
};

/* ---- lifecycle ----------------------------------------------------------- */

int linux_platform_new(struct linux_platform **ret, const struct linux_config *cfg, const struct logger *log) {
        struct linux_platform *lp;
        int r;

        if (!ret || !cfg || cfg->ncgroups > LINUX_MAX_CGROUPS || !cfg->root)
                return -EINVAL;
        lp = calloc(1, sizeof(*lp));
        if (!lp)
                return -ENOMEM;
        lp->cfg = *cfg;
        pthread_mutex_init(&lp->stats_lock, NULL);
        if (log)
                lp->log = *log;
        if (snprintf(lp->root, sizeof(lp->root), "%s", cfg->root) >= (int)sizeof(lp->root) ||
            snprintf(lp->cgroup_mount, sizeof(lp->cgroup_mount), "%s",
                     cfg->cgroup_mount ? cfg->cgroup_mount : "/sys/fs/cgroup") >= (int)sizeof(lp->cgroup_mount)) {
                r = -ENAMETOOLONG;
                goto fail;
        }
        if (cfg->state_dir && sysfs_path(lp->state_dir, sizeof(lp->state_dir), lp->root, cfg->state_dir) < 0) {
                r = -ENAMETOOLONG;
                goto fail;
        }
        for (unsigned i = 0; i < cfg->ncgroups; i++) {
                if (!cfg->cgroups[i] || snprintf(lp->cgroups[i], sizeof(lp->cgroups[i]), "%s", cfg->cgroups[i]) >=
                                                (int)sizeof(lp->cgroups[i])) {
                        r = -EINVAL;
                        goto fail;
                }
        }
        if (cfg->writer)
                lp->writer = *cfg->writer;
        if (cfg->retry_attempts)
                lp->writer.max_attempts = cfg->retry_attempts;
        if (cfg->retry_max_ns)
                lp->writer.max_total_ns = cfg->retry_max_ns;
        lp->writer.log = &lp->log;
        r = engine_new(&lp->engine, &linux_ops, lp);
        if (r < 0)
                goto fail;
        engine_set_logger(lp->engine, &lp->log);
        *ret = lp;
        return 0;
fail:
        linux_platform_free(lp);
        return r;
}

void linux_platform_free(struct linux_platform *lp) {
        if (!lp)
                return;
        engine_free(lp->engine);
        uevent_monitor_free(lp->mon);
        free(lp->pending.cpus);
        free(lp->pending.blocks);
        cpuset_deinit(&lp->interrupted);
        pthread_mutex_destroy(&lp->stats_lock);
        free(lp);
}

int linux_platform_admitted(struct linux_platform *lp, struct cpuset *ret) {
        struct cpuset s = CPUSET_INIT;
        uint32_t n = engine_cpu_count(lp->engine);
        int r = 0;

        for (uint32_t i = 0; i < n && r >= 0; i++) {
                dhp_proc_state st;
                if (engine_cpu_get_state(lp->engine, i, &st) == 0 && st == DHP_PROC_ADMITTED)
                        r = cpuset_set(&s, i);
        }
        if (r < 0) {
                cpuset_deinit(&s);
                return r;
        }
        cpuset_deinit(ret);
        *ret = s;
        return 0;
}

struct engine *linux_platform_engine(struct linux_platform *lp) {
        return lp->engine;
}

int linux_platform_get_fd(struct linux_platform *lp) {
        return lp->mon ? uevent_monitor_get_fd(lp->mon) : -EBADF;
}

void linux_platform_stats(struct linux_platform *lp, struct linux_stats *ret) {
        pthread_mutex_lock(&lp->stats_lock);
        *ret = lp->stats;
        pthread_mutex_unlock(&lp->stats_lock);
}

/* ---- handling what was found ------------------------------------------- */

static int append_u32(uint32_t **v, size_t *n, size_t *cap, uint32_t x) {
        if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 16;
                uint32_t *p = realloc(*v, c * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                *v = p;
                *cap = c;
        }
        (*v)[(*n)++] = x;
        return 0;
}

/* Processors are few and handled in the order their events came: a linear
 * check keeps the first. */
static int push_u32(uint32_t **v, size_t *n, size_t *cap, uint32_t x) {
        for (size_t i = 0; i < *n; i++)
                if ((*v)[i] == x)
                        return 0;
        return append_u32(v, n, cap, x);
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

/* ---- transaction marks ---------------------------------------------- */

/* A processor transaction in progress is marked by an empty file
 * STATE_DIR/cpu-txn-N, created before the processor is onlined and removed
 * when the transaction ends, whatever its outcome.  A mark found at start
 * means the previous dhpd died between onlining and the end of ADD_COMPLETE:
 * the processor may be online but not admitted (its cgroups not widened),
 * and its clients never saw ADD_COMPLETE.  The state directory is on tmpfs
 * (/run): a reboot, which resets the processors too, clears it. */
static void txn_mark(struct linux_platform *lp, uint32_t cpu, bool begin) {
        char p[4200];
        int fd;

        if (!lp->state_dir[0])
                return;
        snprintf(p, sizeof(p), "%s/cpu-txn-%u", lp->state_dir, cpu);
        if (!begin) {
                if (unlink(p) < 0 && errno != ENOENT)
                        log_warning(&lp->log, "cannot remove %s: %s", p, strerror(errno));
                return;
        }
        /* mkdir -p: /run exists on a real system, not always under a test root. */
        for (char *s = p + 1; (s = strchr(s, '/')); s++) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        log_debug(&lp->log, "mkdir %s: %s", p, strerror(errno));
                *s = '/';
        }
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
        if (fd < 0) {
                log_warning(&lp->log, "cannot mark the transaction of cpu%u in %s: %s; a crash during it would leave "
                            "the processor unadmitted", cpu, lp->state_dir, strerror(errno));
                return;
        }
        close(fd);
}

/* The marks a previous dhpd left, into lp->interrupted. */
static void txn_marks_load(struct linux_platform *lp) {
        DIR *d;
        struct dirent *de;

        if (!lp->state_dir[0] || !(d = opendir(lp->state_dir)))
                return;
        while ((de = readdir(d))) {
                char *end;
                unsigned long v;

                if (strncmp(de->d_name, "cpu-txn-", 8) != 0 || !de->d_name[8])
                        continue;
                errno = 0;
                v = strtoul(de->d_name + 8, &end, 10);
                if (errno || *end || v >= CPUSET_MAX_CPUS)
                        continue;
                if (cpuset_set(&lp->interrupted, (uint32_t)v) == 0)
                        log_notice(&lp->log, "cpu%lu: its transaction was interrupted (dhpd stopped during it); "
                                   "running it again", v);
        }
        closedir(d);
}

/* A processor is present (add uevent, or found by a resync): run its
 * transaction by policy.  `online_now`: the kernel says it is online
 * already (someone else onlined it). */
static void handle_cpu(struct linux_platform *lp, uint32_t cpu, bool online_now, bool at_start) {
        dhp_proc_state st;
        int r, status = 0;

        if (cpu >= engine_cpu_count(lp->engine) && engine_cpu_slots(lp->engine, cpu + 1) < 0) {
                log_error(&lp->log, "cpu%u: cannot grow the model", cpu);
                return;
        }
        if (engine_cpu_get_state(lp->engine, cpu, &st) < 0)
                return;
        if (st == DHP_PROC_ADMITTED || st == DHP_PROC_STARTED)
                return;
        if (st == DHP_PROC_ABSENT)
                engine_cpu_set_state(lp->engine, cpu, DHP_PROC_PRESENT);
        if (online_now) {
                log_notice(&lp->log, "cpu%u: already online (another agent onlined it, or dhpd stopped during its "
                           "transaction); notifying late", cpu);
                txn_mark(lp, cpu, true);
                r = engine_cpu_hotadd(lp->engine, cpu, ENGINE_CPU_LATE, &status);
        } else if (lp->cfg.cpu_online && (!at_start || lp->cfg.cpu_online_at_start)) {
                txn_mark(lp, cpu, true);
                r = engine_cpu_hotadd(lp->engine, cpu, 0, &status);
        } else {
                log_info(&lp->log, "cpu%u: present, left offline by policy", cpu);
                return;
        }
        txn_mark(lp, cpu, false);
        if (r == 0)
                log_info(&lp->log, "cpu%u: online and admitted", cpu);
        else if (r == 1)
                log_notice(&lp->log, "cpu%u: add failed: %s", cpu, strerror(-status));
        else if (r < 0 && r != -EALREADY)
                log_error(&lp->log, "cpu%u: hot-add failed: %s", cpu, strerror(-r));
}

/* Add the blocks ids[0..n) (sorted, none known to the engine) as memory
 * devices: one per run of consecutive ids.  Then online them by policy.
 * known[k], when given, is the state of ids[k] as just read from sysfs;
 * without it each block's state is read here. */
static void add_device_blocks(struct linux_platform *lp, const uint32_t *ids, const enum memblock_state *known,
                              size_t n, const char *origin, bool existing) {
        size_t i = 0;

        while (i < n) {
                size_t j = i + 1;
                enum memblock_state *states;
                uint64_t dev;
                bool all_online = true;
                int r;

                while (j < n && ids[j] == ids[j - 1] + 1)
                        j++;
                states = calloc(j - i, sizeof(*states));
                if (!states)
                        return;
                for (size_t k = i; k < j; k++) {
                        if (known)
                                states[k - i] = known[k];
                        else if (topology_read_block_state(lp->root, ids[k], &states[k - i]) < 0)
                                states[k - i] = MEMBLOCK_STATE_OFFLINE;
                        if (states[k - i] != MEMBLOCK_STATE_ONLINE)
                                all_online = false;
                }
                /* Memory found fully online at start is boot memory or
                 * memory someone onlined before we ran: existing, no
                 * arrival (INCLUDE_EXISTING reports it). */
                r = engine_mem_device_add(lp->engine, ids[i], j - i, existing && all_online, &dev);
                if (r < 0) {
                        log_error(&lp->log, "memory%u-%u: cannot add to the model: %s", ids[i], ids[j - 1],
                                  strerror(-r));
                        free(states);
                        i = j;
                        continue;
                }
                log_info(&lp->log, "memory device %s: blocks %u-%u (%zu x %llu MiB)", origin, ids[i], ids[j - 1], j - i,
                         (unsigned long long)(lp->block_size >> 20));
                if (!(existing && all_online)) {
                        /* Blocks another agent onlined count toward arrival. */
                        for (size_t k = i; k < j; k++)
                                if (states[k - i] == MEMBLOCK_STATE_ONLINE)
                                        engine_mem_block_set_online(lp->engine, ids[k], true);
                        if (lp->cfg.mem_online && !all_online) {
                                r = engine_mem_hotadd(lp->engine, dev);
                                if (r < 0)
                                        log_error(&lp->log, "memory device %s: not every block online (%s); it has "
                                                  "not arrived", origin, strerror(-r));
                        }
                }
                free(states);
                i = j;
        }
}

static bool acpi_gave_up(struct linux_platform *lp, const char *name) {
        for (unsigned i = 0; i < lp->n_acpi_gave_up; i++)
                if (strcmp(lp->acpi_gave_up[i], name) == 0)
                        return true;
        return false;
}

/* The kernel sends a DIMM's block `add` uevents before it binds the blocks
 * to their PNP0C80 device (acpi_memory_enable_device(): __add_memory() for
 * the whole range, then acpi_bind_memory_blocks()), so a block handled at
 * once has no firmware_node yet and its DIMM would be split into runs of
 * whatever blocks this drain saw (seen on 6.1 under QEMU: a 1 GiB DIMM
 * arrived as 1 + 7 blocks).  When a present PNP0C80 device has no block
 * bound yet, wait for the binding.  Nothing is lost by waiting: the kernel
 * holds the device hotplug lock until the binding is done, and writing
 * `state` needs that lock.  No uevent marks the binding, hence the short
 * polling, bounded by acpi_bind_wait_ns; a device that stays unbound that
 * long (its add failed) is given up on for good. */
/* Sleep between polls through the writer's sleep, so that tests can act
 * at exactly that point (bind a DIMM) instead of racing a thread. */
static void poll_sleep(struct linux_platform *lp, uint64_t ns) {
        if (lp->writer.sleep)
                lp->writer.sleep(lp->writer.userdata, ns);
        else
                nanosleep(&(struct timespec){ .tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL) },
                          NULL);
}

/* The number of blocks bound to the devices waited for: the kernel binds a
 * DIMM's blocks one by one, so the first link is not the last. */
static size_t bound_count(struct linux_platform *lp, char (*names)[32], size_t n) {
        size_t total = 0;

        for (size_t i = 0; i < n; i++) {
                uint32_t ids[1];
                size_t k = 0;
                if (topology_acpi_memdev_blocks(lp->root, names[i], ids, 0, &k) == 0)
                        total += k;
        }
        return total;
}

static void wait_acpi_binding(struct linux_platform *lp) {
        uint64_t limit = lp->cfg.acpi_bind_wait_ns ? lp->cfg.acpi_bind_wait_ns : ACPI_BIND_WAIT_DEFAULT_NS;
        uint64_t t0 = time_now_ns();
        bool said = false;
        char waited[8][32];
        size_t nwaited = 0;

        for (;;) {
                char names[8][32];
                size_t n = 0, waiting = 0;

                if (topology_acpi_memdev_pending(lp->root, names, ELEMENTSOF(names), &n) < 0)
                        return;
                for (size_t i = 0; i < n && i < ELEMENTSOF(names); i++)
                        if (!acpi_gave_up(lp, names[i])) {
                                waiting++;
                                bool known = false;
                                for (size_t k = 0; k < nwaited && !known; k++)
                                        known = strcmp(waited[k], names[i]) == 0;
                                if (!known && nwaited < ELEMENTSOF(waited))
                                        strcpy(waited[nwaited++], names[i]);
                        }
                if (!waiting) {
                        /* Binding began on every device: wait until it is
                         * done, i.e. the count of bound blocks holds still
                         * across one more poll (bounded by the same limit). */
                        size_t before = bound_count(lp, waited, nwaited);
                        while (nwaited && time_now_ns() - t0 < limit) {
                                poll_sleep(lp, 1000000);
                                size_t now = bound_count(lp, waited, nwaited);
                                if (now == before)
                                        break;
                                before = now;
                        }
                        if (said)
                                log_debug(&lp->log, "ACPI memory device bound after %.1f ms",
                                          (double)(time_now_ns() - t0) / 1e6);
                        return;
                }
                if (time_now_ns() - t0 >= limit) {
                        for (size_t i = 0; i < n && i < ELEMENTSOF(names); i++) {
                                if (acpi_gave_up(lp, names[i]))
                                        continue;
                                log_warning(&lp->log, "ACPI memory device %s is present but no memory block was "
                                            "bound to it within %llu ms; grouping new blocks without it",
                                            names[i], (unsigned long long)(limit / NSEC_PER_MSEC));
                                if (lp->n_acpi_gave_up < ACPI_GAVE_UP_MAX)
                                        strcpy(lp->acpi_gave_up[lp->n_acpi_gave_up++], names[i]);
                        }
                        return;
                }
                if (!said) {
                        log_debug(&lp->log, "new memory blocks: waiting for the kernel to bind them to %s", names[0]);
                        said = true;
                }
                poll_sleep(lp, 1000000);
        }
}

/* New blocks: group by ACPI memory device where sysfs shows one, else by
 * runs of consecutive ids.  ids is sorted. */
static void handle_new_blocks(struct linux_platform *lp, uint32_t *ids, size_t n, bool existing) {
        uint32_t *rest = calloc(n ? n : 1, sizeof(*rest));
        size_t nrest = 0;

        if (!rest)
                return;
        for (size_t i = 0; i < n; i++) {
                char fw[64];
                if (topology_block_firmware_node(lp->root, ids[i], fw, sizeof(fw)) == -ENOENT) {
                        wait_acpi_binding(lp);
                        break;
                }
        }
        for (size_t i = 0; i < n; i++) {
                char fw[64];
                uint32_t members[4096];
                size_t nm = 0;
                enum memblock_state st;

                if (engine_mem_block_get(lp->engine, ids[i], NULL, NULL) == 0)
                        continue; /* grouped with an earlier block of its device */
                /* A block named by an event but absent from sysfs (removed
                 * again, or a bogus index) is no device: adding it would
                 * size the model by its id and announce memory that is not
                 * there. */
                if (topology_read_block_state(lp->root, ids[i], &st) == -ENOENT) {
                        log_notice(&lp->log, "memory%u: announced but not in sysfs (removed again?); ignored", ids[i]);
                        continue;
                }
                if (topology_block_firmware_node(lp->root, ids[i], fw, sizeof(fw)) < 0 ||
                    topology_acpi_memdev_blocks(lp->root, fw, members, ELEMENTSOF(members), &nm) < 0 || nm == 0 ||
                    nm > ELEMENTSOF(members)) {
                        rest[nrest++] = ids[i];
                        continue;
                }
                /* The whole DIMM at once, whichever of its blocks' events
                 * came first; blocks already known are skipped. */
                qsort(members, nm, sizeof(members[0]), cmp_u32);
                {
                        size_t k = 0;
                        for (size_t m = 0; m < nm; m++)
                                if (engine_mem_block_get(lp->engine, members[m], NULL, NULL) < 0)
                                        members[k++] = members[m];
                        add_device_blocks(lp, members, NULL, k, fw, existing);
                }
        }
        /* A run of blocks added together may have been announced across
         * two drains of the socket: extend each run to the neighbouring
         * blocks present in sysfs that no device holds yet, so that it still
         * becomes one device. */
        if (nrest) {
                size_t cap = nrest, nsorted = nrest; /* rest[0..nsorted) is sorted */
                for (size_t i = 0; i < nsorted; i++) {
                        for (int dir = -1; dir <= 1; dir += 2) {
                                uint32_t id = rest[i];
                                for (unsigned step = 0; step < 65536; step++) {
                                        enum memblock_state st;
                                        char fw[64];
                                        uint32_t *grown;
                                        bool dup = false;

                                        if ((dir < 0 && id == 0) || (dir > 0 && id == UINT32_MAX))
                                                break;
                                        id = (uint32_t)((int64_t)id + dir);
                                        if (engine_mem_block_get(lp->engine, id, NULL, NULL) == 0 ||
                                            topology_read_block_state(lp->root, id, &st) < 0 ||
                                            topology_block_firmware_node(lp->root, id, fw, sizeof(fw)) == 0)
                                                break;
                                        dup = bsearch(&id, rest, nsorted, sizeof(*rest), cmp_u32) != NULL;
                                        for (size_t k = nsorted; k < nrest && !dup; k++)
                                                dup = rest[k] == id;
                                        if (dup)
                                                break;
                                        if (nrest == cap) {
                                                cap *= 2;
                                                grown = realloc(rest, cap * sizeof(*rest));
                                                if (!grown)
                                                        break;
                                                rest = grown;
                                        }
                                        rest[nrest++] = id;
                                }
                        }
                }
                qsort(rest, nrest, sizeof(*rest), cmp_u32);
        }
        add_device_blocks(lp, rest, NULL, nrest, "(no firmware node)", existing);
        free(rest);
}

/*
 * New blocks found by a sync, grouped as handle_new_blocks() would, from
 * what the topology already read: the blocks of each ACPI memory device
 * together, in the order of their lowest block, then every other new block
 * in runs of consecutive ids (whatever their state, as when announced by
 * uevents).  handle_new_blocks() probes sysfs again for each block (its
 * firmware node, its neighbours, its state): at start on a 4 TiB machine
 * that was more than the enumeration itself.
 */
static void add_new_blocks_from(struct linux_platform *lp, const struct topology *t, const bool *is_new,
                                bool existing) {
        uint32_t *ids = calloc(t->n_blocks ? t->n_blocks : 1, sizeof(*ids));
        uint32_t *rest = calloc(t->n_blocks ? t->n_blocks : 1, sizeof(*rest));
        enum memblock_state *st = calloc(t->n_blocks ? t->n_blocks : 1, sizeof(*st));
        enum memblock_state *rest_st = calloc(t->n_blocks ? t->n_blocks : 1, sizeof(*rest_st));
        size_t nrest = 0;

        if (!ids || !rest || !st || !rest_st)
                goto out;
        for (uint32_t d = 0; d < t->n_devs; d++) {
                const struct topology_memdev *dv = &t->devs[d];
                size_t k = 0;

                for (uint32_t i = dv->first; i < dv->first + dv->n_blocks; i++) {
                        uint32_t bi = t->dev_blocks[i];
                        if (!is_new[bi])
                                continue;
                        if (dv->kind == MEMDEV_KIND_ACPI) {
                                ids[k] = t->blocks[bi].id;
                                st[k++] = t->blocks[bi].state;
                        } else {
                                rest[nrest] = t->blocks[bi].id;
                                rest_st[nrest++] = t->blocks[bi].state;
                        }
                }
                if (k)
                        add_device_blocks(lp, ids, st, k, dv->name, existing);
        }
        /* Runs are ordered by their lowest block and each in id order, so
         * rest is sorted. */
        add_device_blocks(lp, rest, rest_st, nrest, "(no firmware node)", existing);
out:
        free(ids);
        free(rest);
        free(st);
        free(rest_st);
}

static int sync_from_sysfs(struct linux_platform *lp, bool at_start) {
        struct topology *t = NULL;
        bool *is_new = NULL;
        int r;

        r = topology_load(&t, lp->root, 0, &lp->log);
        if (r < 0) {
                log_error(&lp->log, "cannot read the topology from sysfs: %s", strerror(-r));
                return r;
        }
        if (at_start) {
                lp->block_size = t->block_size;
                if (t->block_size && (r = engine_mem_set_block_size(lp->engine, t->block_size)) < 0) {
                        log_error(&lp->log, "unusable memory block size %llu", (unsigned long long)t->block_size);
                        goto out;
                }
        }

        /* Processors: at start, online ones are existing (admitted without a
         * transaction); everything else goes through handle_cpu. */
        for (uint32_t i = 0; i < t->n_cpus; i++) {
                const struct topology_cpu *c = &t->cpus[i];
                if (c->id >= engine_cpu_count(lp->engine))
                        engine_cpu_slots(lp->engine, c->id + 1);
                if (!c->present)
                        continue;
                if (at_start && c->online && !cpuset_test(&lp->interrupted, c->id)) {
                        engine_cpu_set_state(lp->engine, c->id, DHP_PROC_ADMITTED);
                        continue;
                }
                handle_cpu(lp, c->id, c->online, at_start);
        }

        /* Memory: blocks the model does not know are new; known blocks
         * whose state changed unseen are brought in line. */
        is_new = calloc(t->n_blocks ? t->n_blocks : 1, sizeof(*is_new));
        if (!is_new) {
                r = -ENOMEM;
                goto out;
        }
        uint64_t hotadded = 0; /* the device last onlined, + 1; 0: none yet */
        for (uint32_t i = 0; i < t->n_blocks; i++) {
                const struct topology_memblock *b = &t->blocks[i];
                bool online;
                uint64_t dev;

                if (engine_mem_block_get(lp->engine, b->id, &dev, &online) < 0) {
                        is_new[i] = true;
                        continue;
                }
                if ((b->state == MEMBLOCK_STATE_ONLINE) != online)
                        engine_mem_block_set_online(lp->engine, b->id, b->state == MEMBLOCK_STATE_ONLINE);
                /* One transaction per device onlines all its offline blocks;
                 * blocks come by id and a device's are contiguous, so its
                 * other blocks follow. */
                if (b->state != MEMBLOCK_STATE_ONLINE && lp->cfg.mem_online && hotadded != dev + 1) {
                        engine_mem_hotadd(lp->engine, dev);
                        hotadded = dev + 1;
                }
        }
        add_new_blocks_from(lp, t, is_new, at_start);
        if (at_start) {
                /* A mark for a processor no longer present: nothing to redo. */
                for (int64_t c = cpuset_next(&lp->interrupted, 0); c >= 0;
                     c = cpuset_next(&lp->interrupted, (uint32_t)c + 1))
                        txn_mark(lp, (uint32_t)c, false);
                cpuset_zero(&lp->interrupted);
        }
        r = 0;
out:
        free(is_new);
        topology_free(t);
        return r;
}

/* A cgroup v2 group whose cpuset.cpus is empty uses its parent's CPUs, so
 * the kernel gives it a hot-added CPU the moment the CPU is onlined: before
 * ADD_START, before admission (seen on 6.1 under QEMU: such a group's
 * cpuset.cpus.effective went from 0 to 0-1 at the online write).  A managed
 * group must have an explicit list for "widened only at admission" to
 * hold, so pin it at start to the CPUs it has now. */
static void pin_managed_cgroups(struct linux_platform *lp) {
        for (unsigned i = 0; i < lp->cfg.ncgroups; i++) {
                struct cpuset s = CPUSET_INIT;
                struct strbuf sb = STRBUF_INIT;
                int r;

                r = cgroup_cpuset_read(lp->root, lp->cgroup_mount, lp->cgroups[i], &s);
                if (r < 0 || cpuset_count(&s) > 0) {
                        if (r == -ENOENT)
                                log_warning(&lp->log, "managed cgroup %s does not exist (or has no cpuset "
                                            "controller)", lp->cgroups[i]);
                        cpuset_deinit(&s);
                        continue;
                }
                r = cgroup_cpuset_read_effective(lp->root, lp->cgroup_mount, lp->cgroups[i], &s);
                if (r >= 0 && cpuset_count(&s) > 0)
                        r = cgroup_cpuset_write(&lp->writer, lp->root, lp->cgroup_mount, lp->cgroups[i], &s);
                cpuset_format(&s, &sb);
                if (r < 0)
                        log_error(&lp->log, "managed cgroup %s: empty cpuset.cpus (it would get hot-added CPUs "
                                  "before admission) and it cannot be pinned: %s", lp->cgroups[i],
                                  sysfs_write_strerror(r));
                else
                        log_notice(&lp->log, "managed cgroup %s: cpuset.cpus was empty (the parent's CPUs, "
                                   "hot-added ones included at once); pinned to %s", lp->cgroups[i],
                                   strbuf_str(&sb));
                strbuf_deinit(&sb);
                cpuset_deinit(&s);
        }
}

int linux_platform_start(struct linux_platform *lp) {
        int r;

        /* The socket first: whatever is added during enumeration is either
         * seen by it or by the enumeration, and handling is idempotent. */
        if (lp->cfg.uevent_fd >= 0)
                r = uevent_monitor_new_from_fd(&lp->mon, lp->cfg.uevent_fd, UEVENT_MONITOR_TRUST_SENDER, &lp->log);
        else
                r = uevent_monitor_new(&lp->mon, lp->cfg.rcvbuf, &lp->log);
        if (r < 0) {
                log_error(&lp->log, "cannot open the kernel uevent socket: %s", strerror(-r));
                return r;
        }
        pin_managed_cgroups(lp);
        if (lp->cfg.uevent_recvmsg)
                uevent_monitor_set_recvmsg(lp->mon, lp->cfg.uevent_recvmsg);
        txn_marks_load(lp);
        return sync_from_sysfs(lp, true);
}

int linux_platform_reconfigure(struct linux_platform *lp, const struct linux_config *cfg) {
        char groups[LINUX_MAX_CGROUPS][256];

        if (!cfg || cfg->ncgroups > LINUX_MAX_CGROUPS)
                return -EINVAL;
        for (unsigned i = 0; i < cfg->ncgroups; i++)
                if (!cfg->cgroups[i] || snprintf(groups[i], sizeof(groups[i]), "%s", cfg->cgroups[i]) >=
                                                (int)sizeof(groups[i]))
                        return -EINVAL;
        lp->cfg.cpu_online = cfg->cpu_online;
        lp->cfg.cpu_online_at_start = cfg->cpu_online_at_start;
        lp->cfg.veto_keep_online = cfg->veto_keep_online;
        lp->cfg.mem_online = cfg->mem_online;
        lp->cfg.mem_policy = cfg->mem_policy;
        lp->writer.max_attempts = cfg->retry_attempts;
        lp->writer.max_total_ns = cfg->retry_max_ns;
        memcpy(lp->cgroups, groups, sizeof(groups));
        for (unsigned i = 0; i < cfg->ncgroups; i++)
                lp->cfg.cgroups[i] = lp->cgroups[i];
        lp->cfg.ncgroups = cfg->ncgroups;
        /* A newly managed group whose cpuset.cpus is empty follows its
         * parent: pin it now, as at start, before the next processor. */
        pin_managed_cgroups(lp);
        return 0;
}

int linux_platform_resync(struct linux_platform *lp) {
        STAT_INC(lp, resyncs);
        log_notice(&lp->log, "resynchronising from sysfs");
        uevent_monitor_reset_seqnum(lp->mon);
        return sync_from_sysfs(lp, false);
}

/* "/devices/system/cpu/cpu12" -> 12. */
static int devpath_index(const char *devpath, const char *prefix, uint32_t *ret) {
        size_t n = strlen(prefix);
        uint32_t v = 0;
        const char *p;

        if (strncmp(devpath, prefix, n) != 0 || !devpath[n])
                return -EINVAL;
        for (p = devpath + n; *p; p++) {
                if (*p < '0' || *p > '9' || v > 100000000)
                        return -EINVAL;
                v = v * 10 + (uint32_t)(*p - '0');
        }
        *ret = v;
        return 0;
}

/* In pending.cpus: queued by an "online" uevent rather than an "add". */
#define PENDING_FROM_ONLINE 0x80000000u

static void handle_uevent(struct linux_platform *lp, const struct uevent *u) {
        uint32_t id;

        if (!u->subsystem)
                return;
        if (strcmp(u->subsystem, "cpu") == 0 && devpath_index(u->devpath, "/devices/system/cpu/cpu", &id) == 0) {
                dhp_proc_state st = DHP_PROC_ABSENT;
                engine_cpu_get_state(lp->engine, id, &st);
                switch (u->action) {
                case UEVENT_ACTION_ADD:
                        push_u32(&lp->pending.cpus, &lp->pending.ncpus, &lp->pending.cap_cpus, id);
                        break;
                case UEVENT_ACTION_ONLINE:
                        /* Our own online comes back as STARTED/ADMITTED;
                         * PRESENT means someone else onlined it, or it is
                         * the online of our own add that was vetoed since
                         * (the uevent is read after the transaction): the
                         * CPU is offline again then, see below. */
                        if (st == DHP_PROC_PRESENT || st == DHP_PROC_ABSENT)
                                push_u32(&lp->pending.cpus, &lp->pending.ncpus, &lp->pending.cap_cpus,
                                         id | PENDING_FROM_ONLINE);
                        break;
                case UEVENT_ACTION_OFFLINE:
                        if (st == DHP_PROC_ADMITTED) {
                                log_notice(&lp->log, "cpu%u: taken offline by another agent", id);
                                engine_cpu_set_state(lp->engine, id, DHP_PROC_PRESENT);
                        }
                        break;
                case UEVENT_ACTION_REMOVE:
                        engine_cpu_set_state(lp->engine, id, DHP_PROC_ABSENT);
                        break;
                default:
                        break;
                }
                return;
        }
        if (strcmp(u->subsystem, "memory") == 0 &&
            devpath_index(u->devpath, "/devices/system/memory/memory", &id) == 0) {
                switch (u->action) {
                case UEVENT_ACTION_ADD:
                        append_u32(&lp->pending.blocks, &lp->pending.nblocks, &lp->pending.cap_blocks, id);
                        break;
                case UEVENT_ACTION_ONLINE:
                case UEVENT_ACTION_OFFLINE:
                        /* A known block: record it (our own write is a no-op
                         * there).  An unknown one: its add was lost, or is
                         * pending in this same drain. */
                        if (engine_mem_block_set_online(lp->engine, id, u->action == UEVENT_ACTION_ONLINE) == -ENOENT)
                                append_u32(&lp->pending.blocks, &lp->pending.nblocks, &lp->pending.cap_blocks, id);
                        break;
                default:
                        break;
                }
        }
}

int linux_platform_process(struct linux_platform *lp) {
        bool lost = false;
        int n = 0, r;

        lp->pending.ncpus = lp->pending.nblocks = 0;
        for (;;) {
                struct uevent u;

                r = uevent_monitor_receive(lp->mon, &u);
                if (r == -EAGAIN)
                        break;
                if (r == -EINTR)
                        continue;
                n++;
                if (r == UEVENT_MONITOR_LOST) {
                        STAT_INC(lp, lost);
                        log_warning(&lp->log, "kernel uevents were lost (socket overflow); will resync");
                        lost = true;
                        continue;
                }
                if (r == -EPERM) {
                        STAT_INC(lp, foreign);
                        log_warning(&lp->log, "dropped a uevent not sent by the kernel");
                        continue;
                }
                if (r < 0 && (r == -ENOMEM || r == -EBADF || r == -ENOTSOCK || r == -EFAULT)) {
                        log_error(&lp->log, "uevent socket: %s", strerror(-r));
                        return r;
                }
                if (r < 0) {
                        STAT_INC(lp, malformed);
                        log_warning(&lp->log, "ignored a malformed uevent: %s", uevent_strerror(r));
                        continue;
                }
                STAT_INC(lp, uevents);
                if (r == UEVENT_MONITOR_GAP) {
                        STAT_INC(lp, lost);
                        log_warning(&lp->log, "kernel uevents were lost (SEQNUM %llu after a gap); will resync",
                                    (unsigned long long)u.seqnum);
                        lost = true;
                }
                handle_uevent(lp, &u);
        }

        if (lost)
                return linux_platform_resync(lp) < 0 ? n : n;

        for (size_t i = 0; i < lp->pending.ncpus; i++) {
                uint32_t cpu = lp->pending.cpus[i] & ~PENDING_FROM_ONLINE;
                bool online = false;
                /* An event names a processor; sysfs says whether it is
                 * there.  One removed again before we got to it (or a bogus
                 * index) must not reach the clients as an ADD_START. */
                if (topology_read_cpu_online(lp->root, cpu, &online) == -ENOENT) {
                        log_notice(&lp->log, "cpu%u: announced but not in sysfs (removed again?); ignored", cpu);
                        continue;
                }
                if ((lp->pending.cpus[i] & PENDING_FROM_ONLINE) && !online) {
                        /* An online that was undone: a vetoed add of ours
                         * taken offline again.  Retrying it would run the
                         * transaction (and the veto) again at every such
                         * uevent. */
                        log_debug(&lp->log, "cpu%u: online uevent, offline again since: ignored", cpu);
                        continue;
                }
                handle_cpu(lp, cpu, online, false);
        }
        if (lp->pending.nblocks) {
                /* Blocks can come by the thousand in one drain: appended
                 * as they come, sorted, then their repeats dropped. */
                size_t k = 1;
                qsort(lp->pending.blocks, lp->pending.nblocks, sizeof(uint32_t), cmp_u32);
                for (size_t i = 1; i < lp->pending.nblocks; i++)
                        if (lp->pending.blocks[i] != lp->pending.blocks[k - 1])
                                lp->pending.blocks[k++] = lp->pending.blocks[i];
                lp->pending.nblocks = k;
                handle_new_blocks(lp, lp->pending.blocks, lp->pending.nblocks, false);
        }
        return n;
}
