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
#include "platform/linux/linux-internal.h"
#include "platform/linux/topology.h"
#include "platform/linux/uevent.h"
#include "util/cpuset.h"
#include "util/macro.h"
#include "util/strbuf.h"
#include "util/time.h"

void linux_config_defaults(struct linux_config *c) {
        *c = (struct linux_config){
                .root = "",
                .cpu_online = true,
                .cpu_online_at_start = true,
                .mem_online = true,
                .mem_policy = LINUX_MEM_AUTO,
                .mem_onlining = LINUX_ONLINING_KERNEL,
                .uevent_fd = -1,
        };
}

void linux_count_retries(struct linux_platform *lp, unsigned attempts) {
        if (attempts > 1) {
                pthread_mutex_lock(&lp->stats_lock);
                lp->stats.write_retries += attempts - 1;
                pthread_mutex_unlock(&lp->stats_lock);
        }
}

/* ---- transaction marks ---------------------------------------------- */

/* A processor transaction in progress is marked by an empty file
 * STATE_DIR/cpu-txn-N, created before the processor is onlined and removed
 * when the transaction ends, whatever its outcome.  A mark found at start
 * means the previous dhpd died between onlining and the end of ADD_COMPLETE:
 * the processor may be online but not admitted (its cgroups not widened),
 * and its clients never saw ADD_COMPLETE.  The state directory is on tmpfs
 * (/run): a reboot, which resets the processors too, clears it. */
void linux_cpu_txn_mark(struct linux_platform *lp, uint32_t cpu, bool begin) {
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
        /* Made between the uevent and the online write: one open when the
         * directory is there (the usual case), mkdir -p only when it is not
         * (/run exists on a real system, not always under a test root). */
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
        if (fd < 0 && errno == ENOENT) {
                for (char *s = p + 1; (s = strchr(s, '/')); s++) {
                        *s = 0;
                        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                                log_debug(&lp->log, "mkdir %s: %s", p, strerror(errno));
                        *s = '/';
                }
                fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
        }
        if (fd < 0) {
                log_warning(&lp->log, "cannot mark the transaction of cpu%u in %s: %s; a crash during it would leave "
                            "the processor unadmitted", cpu, lp->state_dir, strerror(errno));
                return;
        }
        close(fd);
}

/* The engine's cpu_txn_begin op: the mark (cpu_run_batch removes it), and the
 * notice of a late add. */
static void op_cpu_txn_begin(void *p, uint32_t cpu, bool late) {
        struct linux_platform *lp = p;

        if (late)
                log_notice(&lp->log, "cpu%u: already online (another agent onlined it, or dhpd stopped during its "
                           "transaction); notifying late", cpu);
        linux_cpu_txn_mark(lp, cpu, true);
}

/* ---- platform ops ------------------------------------------------------ */

static int op_cpu_start(void *p, uint32_t index) {
        struct linux_platform *lp = p;
        unsigned attempts = 0;
        int r;

        r = topology_cpu_set_online(&lp->writer, lp->root, index, true, &attempts);
        linux_count_retries(lp, attempts);
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
        linux_count_retries(lp, attempts);
        if (r < 0) {
                log_error(&lp->log, "cpu%u: add failed and it cannot be taken offline: %s; it stays online, not "
                          "admitted", index, sysfs_write_strerror(r));
                return r;
        }
        STAT_INC(lp, cpu_offlined);
        log_notice(&lp->log, "cpu%u: add failed; taken offline again", index);
        return 0;
}

static const struct platform_ops linux_ops = {
        .mem_levels_read = linux_op_mem_levels_read,
        .cpu_start = op_cpu_start,
        .cpu_txn_begin = op_cpu_txn_begin,
        .cpu_stop = op_cpu_stop,
        .cpu_admit = linux_op_cpu_admit,
        .mem_block_online = linux_op_block_online,
        .cpu_unadmit = linux_op_cpu_unadmit,
        .cpu_offline = linux_op_cpu_offline,
        .mem_block_offline = linux_op_block_offline,
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
        linux_memonline_deinit(lp);
        cpuset_deinit(&lp->interrupted);
        pthread_mutex_destroy(&lp->stats_lock);
        free(lp);
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

/* A processor is present (add uevent, or found by a resync): made present
 * in the model (engine_cpu_present, ENGINE_CPU_NO_ADD), and whether its
 * transaction runs by policy (ret: with which flags).  `online_now`: the
 * kernel says it is online already (someone else onlined it). */
static bool cpu_prepare(struct linux_platform *lp, uint32_t cpu, bool online_now, bool at_start,
                        struct engine_cpu_add *ret) {
        bool add = online_now || (lp->cfg.cpu_online && (!at_start || lp->cfg.cpu_online_at_start));
        int r;

        r = engine_cpu_present(lp->engine, cpu, ENGINE_CPU_NO_ADD, NULL);
        if (r == -ERANGE)
                log_error(&lp->log, "cpu%u: cannot grow the model", cpu);
        if (r < 0)
                return false; /* -EALREADY: started or admitted already */
        if (!add) {
                log_info(&lp->log, "cpu%u: present, left offline by policy", cpu);
                return false;
        }
        *ret = (struct engine_cpu_add){ .index = cpu, .flags = online_now ? ENGINE_CPU_LATE : 0 };
        return true;
}

/* The prepared processors of one burst in one batch (engine.h): every
 * online write, then each one's phases.  The crash marker of each is made
 * by the cpu_txn_begin op as its start comes, and removed here once the
 * whole batch is done (a crash in it reruns the ones not admitted). */
static void cpu_run_batch_more(struct linux_platform *lp, struct engine_cpu_add **adds, size_t *n,
                               engine_cpu_more_fn more, void *userdata) {
        int r;

        if (!*n)
                return;
        r = engine_cpu_hotadd_batch_more(lp->engine, adds, n, more, userdata);
        for (size_t i = 0; i < *n; i++) {
                uint32_t cpu = (*adds)[i].index;
                int res = r < 0 ? r : (*adds)[i].result;

                if (res != -EALREADY)
                        linux_cpu_txn_mark(lp, cpu, false); /* the transaction ended, whatever its outcome */
                if (res == 0)
                        log_info(&lp->log, "cpu%u: online and admitted", cpu);
                else if (res == 1)
                        log_notice(&lp->log, "cpu%u: add failed: %s", cpu, strerror(-(*adds)[i].status));
                else if (res < 0 && res != -EALREADY)
                        log_error(&lp->log, "cpu%u: hot-add failed: %s", cpu, strerror(-res));
        }
}

static void cpu_run_batch(struct linux_platform *lp, struct engine_cpu_add *adds, size_t n) {
        cpu_run_batch_more(lp, &adds, &n, NULL, NULL);
}

/* The processors of one burst, collected for cpu_run_batch(). */
struct cpu_batch {
        struct engine_cpu_add *adds;
        size_t n, cap;
};

/* One announced processor into the batch, if its transaction runs.  false
 * (nothing done) when there is no room for it: out of memory. */
static bool cpu_batch_add(struct linux_platform *lp, struct cpu_batch *b, uint32_t cpu, bool online_now,
                          bool at_start) {
        struct engine_cpu_add a;

        if (b->n == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 8;
                struct engine_cpu_add *p = realloc(b->adds, cap * sizeof(*p));
                if (!p)
                        return false;
                b->adds = p;
                b->cap = cap;
        }
        if (cpu_prepare(lp, cpu, online_now, at_start, &a))
                b->adds[b->n++] = a;
        return true;
}

/* Outside a batch: with no room, what is collected runs, then this one
 * alone (not lost). */
static void cpu_batch_add_or_run(struct linux_platform *lp, struct cpu_batch *b, uint32_t cpu, bool online_now,
                                 bool at_start) {
        struct engine_cpu_add a;

        if (cpu_batch_add(lp, b, cpu, online_now, at_start))
                return;
        cpu_run_batch(lp, b->adds, b->n);
        b->n = 0;
        if (cpu_prepare(lp, cpu, online_now, at_start, &a))
                cpu_run_batch(lp, &a, 1);
}

static void cpu_batch_run(struct linux_platform *lp, struct cpu_batch *b) {
        cpu_run_batch(lp, b->adds, b->n);
        free(b->adds);
        *b = (struct cpu_batch){ 0 };
}

/* Memory: blocks the model does not know are new; known blocks whose
 * state changed unseen are brought in line. */
static int sync_memory(struct linux_platform *lp, const struct topology *t, bool at_start) {
        bool *is_new = calloc(t->n_blocks ? t->n_blocks : 1, sizeof(*is_new));
        uint64_t hotadded = 0; /* the device last onlined, + 1; 0: none yet */

        if (!is_new)
                return -ENOMEM;
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
                        /* At start the kernel's add is long over: what it
                         * left offline stays so unless dhpd onlines it. */
                        linux_memonline_device(lp, dev, "(resync)", !at_start);
                        hotadded = dev + 1;
                }
        }
        linux_mem_add_new_from(lp, t, is_new, at_start);
        free(is_new);
        return 0;
}

static int sync_from_sysfs(struct linux_platform *lp, bool at_start) {
        struct topology *t = NULL;
        struct cpu_batch batch = { 0 };
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

        /* What went while nobody listened (not at start: the model is
         * empty then). */
        if (!at_start)
                linux_unplug_resync(lp, t);

        /* Processors: at start, online ones are existing (admitted without a
         * transaction); everything else goes through cpu_batch_add. */
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
                cpu_batch_add_or_run(lp, &batch, c->id, c->online, at_start);
        }
        cpu_batch_run(lp, &batch);

        r = sync_memory(lp, t, at_start);
        if (r < 0)
                goto out;
        if (at_start) {
                /* A mark for a processor no longer present: nothing to redo. */
                for (int64_t c = cpuset_next(&lp->interrupted, 0); c >= 0;
                     c = cpuset_next(&lp->interrupted, (uint32_t)c + 1))
                        linux_cpu_txn_mark(lp, (uint32_t)c, false);
                cpuset_zero(&lp->interrupted);
        }
        r = 0;
out:
        topology_free(t);
        return r;
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
        linux_cpu_pin_managed_cgroups(lp);
        if (lp->cfg.uevent_recvmsg)
                uevent_monitor_set_recvmsg(lp->mon, lp->cfg.uevent_recvmsg);
        linux_cpu_txn_marks_load(lp);
        linux_memonline_setup(lp);
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
        /* The onlining mode is set at start only; a new zone policy is
         * the kernel's new policy at once. */
        if (lp->kernel_onlines && cfg->mem_online && cfg->mem_policy != lp->cfg.mem_policy) {
                lp->cfg.mem_policy = cfg->mem_policy;
                linux_memonline_setup(lp);
        }
        lp->cfg.mem_policy = cfg->mem_policy;
        lp->cfg.kernel_online_wait_ns = cfg->kernel_online_wait_ns;
        lp->writer.max_attempts = cfg->retry_attempts;
        lp->writer.max_total_ns = cfg->retry_max_ns;
        memcpy(lp->cgroups, groups, sizeof(groups));
        for (unsigned i = 0; i < cfg->ncgroups; i++)
                lp->cfg.cgroups[i] = lp->cgroups[i];
        lp->cfg.ncgroups = cfg->ncgroups;
        /* A newly managed group whose cpuset.cpus is empty follows its
         * parent: pin it now, as at start, before the next processor. */
        linux_cpu_pin_managed_cgroups(lp);
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
                /* The state matters to online and offline only: an add is
                 * queued without asking the engine. */
                dhp_proc_state st = DHP_PROC_ABSENT;
                if (u->action == UEVENT_ACTION_ONLINE || u->action == UEVENT_ACTION_OFFLINE)
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
                        /* The kernel's first sign of an eject, or another
                         * agent's write: a surprise removal either way (the
                         * engine ignores our own, already removed). */
                        if (st == DHP_PROC_ADMITTED)
                                linux_unplug_cpu(lp, id, false);
                        break;
                case UEVENT_ACTION_REMOVE:
                        linux_unplug_cpu(lp, id, true);
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
                        if (linux_memonline_block_seen(lp, id, u->action == UEVENT_ACTION_ONLINE) == -ENOENT) {
                                append_u32(&lp->pending.blocks, &lp->pending.nblocks, &lp->pending.cap_blocks, id);
                                linux_memonline_note(lp, id, u->action == UEVENT_ACTION_ONLINE);
                        } else
                                linux_unplug_block_changed(lp, id);
                        break;
                case UEVENT_ACTION_REMOVE:
                        linux_unplug_block_removed(lp, id);
                        break;
                default:
                        break;
                }
        }
}

void linux_mem_pending_run(struct linux_platform *lp) {
        bool over = lp->held_deadline_ns && time_now_ns() >= lp->held_deadline_ns;
        size_t k = 1;

        for (size_t i = 0; i < lp->nheld; i++)
                append_u32(&lp->pending.blocks, &lp->pending.nblocks, &lp->pending.cap_blocks, lp->held[i]);
        lp->nheld = 0;
        if (!lp->pending.nblocks)
                return;
        /* Blocks can come by the thousand in one drain: appended as they
         * come, sorted, then their repeats dropped. */
        qsort(lp->pending.blocks, lp->pending.nblocks, sizeof(uint32_t), cmp_u32);
        for (size_t i = 1; i < lp->pending.nblocks; i++)
                if (lp->pending.blocks[i] != lp->pending.blocks[k - 1])
                        lp->pending.blocks[k++] = lp->pending.blocks[i];
        lp->pending.nblocks = k;
        if (!over && linux_memonline_hold(lp, lp->pending.blocks, lp->pending.nblocks))
                return;
        lp->held_deadline_ns = 0;
        lp->kernel_wait_over = over;
        linux_mem_handle_new_blocks(lp, lp->pending.blocks, lp->pending.nblocks, false);
        lp->kernel_wait_over = false;
        linux_memonline_forget(lp);
}

/* One uevent of the drain: counted, handled, or refused with a reason.
 * A negative errno only for a socket that cannot go on. */
static int drain_one(struct linux_platform *lp, int r, struct uevent *u, bool *lost) {
        if (r == UEVENT_MONITOR_LOST) {
                STAT_INC(lp, lost);
                log_warning(&lp->log, "kernel uevents were lost (socket overflow); will resync");
                *lost = true;
                return 0;
        }
        if (r == -EPERM) {
                STAT_INC(lp, foreign);
                log_warning(&lp->log, "dropped a uevent not sent by the kernel");
                return 0;
        }
        if (r < 0 && (r == -ENOMEM || r == -EBADF || r == -ENOTSOCK || r == -EFAULT)) {
                log_error(&lp->log, "uevent socket: %s", strerror(-r));
                return r;
        }
        if (r < 0) {
                STAT_INC(lp, malformed);
                log_warning(&lp->log, "ignored a malformed uevent: %s", uevent_strerror(r));
                return 0;
        }
        STAT_INC(lp, uevents);
        if (r == UEVENT_MONITOR_GAP) {
                STAT_INC(lp, lost);
                log_warning(&lp->log, "kernel uevents were lost (SEQNUM %llu after a gap); will resync",
                            (unsigned long long)u->seqnum);
                *lost = true;
        }
        handle_uevent(lp, u);
        return 0;
}

/* The uevents of one linux_platform_process(). */
struct drain {
        struct linux_platform *lp;
        struct cpu_batch batch;
        int n;         /* received */
        int err;       /* the socket cannot go on */
        bool lost;     /* events were lost: a resync is due */
        bool in_batch; /* the transaction lock is held (drain_safe) */
        bool held;     /* u (received as held_r) waits for the batch's end */
        int held_r;
        struct uevent u;
};

/* Inside a batch only what queues, or asks the engine a state, is handled:
 * a processor's offline or removal and a block's change of state need the
 * engine's transactions, after the batch. */
static bool drain_safe(int r, const struct uevent *u) {
        if ((r != 0 && r != UEVENT_MONITOR_GAP) || !u->subsystem)
                return true; /* counted or refused only */
        if (strcmp(u->subsystem, "cpu") == 0)
                return u->action != UEVENT_ACTION_OFFLINE && u->action != UEVENT_ACTION_REMOVE;
        if (strcmp(u->subsystem, "memory") == 0)
                return u->action == UEVENT_ACTION_ADD;
        return true;
}

/* Receive and handle until the socket is empty, or, in a batch, until an
 * event that must wait for the batch's end (kept in d->u, unhandled). */
static void drain(struct drain *d) {
        while (!d->err && !d->held) {
                int r = uevent_monitor_receive(d->lp->mon, &d->u);

                if (r == -EAGAIN)
                        return;
                if (r == -EINTR)
                        continue;
                d->n++;
                if (d->in_batch && !drain_safe(r, &d->u)) {
                        d->held = true;
                        d->held_r = r;
                        return;
                }
                r = drain_one(d->lp, r, &d->u, &d->lost);
                if (r < 0)
                        d->err = r;
        }
}

/* The processors the drain announced, into d->batch.  Inside a batch one
 * without room (out of memory) stops it: the rest stay pending for after
 * the batch; outside, the collected ones run to make room. */
static void cpu_batch_collect(struct drain *d) {
        struct linux_platform *lp = d->lp;
        size_t i;

        for (i = 0; i < lp->pending.ncpus; i++) {
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
                if (!d->in_batch)
                        cpu_batch_add_or_run(lp, &d->batch, cpu, online, false);
                else if (!cpu_batch_add(lp, &d->batch, cpu, online, false))
                        break;
        }
        if (i) {
                memmove(lp->pending.cpus, lp->pending.cpus + i, (lp->pending.ncpus - i) * sizeof(*lp->pending.cpus));
                lp->pending.ncpus -= i;
        }
}

/* engine_cpu_hotadd_batch_more's `more` (adds, n: d->batch's): the
 * processors announced while those of the batch were started. */
static void cpu_batch_more(void *userdata, struct engine_cpu_add **adds, size_t *n) {
        struct drain *d = userdata;

        (void)adds;
        (void)n;
        d->in_batch = true;
        drain(d);
        if (!d->err)
                cpu_batch_collect(d);
        d->in_batch = false;
}

int linux_platform_process(struct linux_platform *lp) {
        struct drain d = { .lp = lp };

        lp->pending.ncpus = lp->pending.nblocks = 0;
        do {
                if (d.held) {
                        d.held = false;
                        d.err = drain_one(lp, d.held_r, &d.u, &d.lost);
                }
                drain(&d);
                if (d.err)
                        break;
                if (d.lost)
                        break;
                /* Processors of one drain are started together, with those
                 * announced while they are (engine.h,
                 * engine_cpu_hotadd_batch_more); an event the batch could
                 * not handle is handled after it, and the drain goes on. */
                cpu_batch_collect(&d);
                cpu_run_batch_more(lp, &d.batch.adds, &d.batch.n, cpu_batch_more, &d);
                d.batch.n = 0;
        } while (!d.err && !d.lost && (d.held || lp->pending.ncpus));
        free(d.batch.adds);
        if (d.err)
                return d.err;
        if (d.lost)
                return linux_platform_resync(lp) < 0 ? d.n : d.n;

        /* Held blocks too: they may have been held only because more
         * uevents were queued (linux_memonline_hold), not memory ones. */
        if (lp->pending.nblocks || lp->nheld)
                linux_mem_pending_run(lp);
        /* The DIMMs that lost blocks, the resize steps that are over, and
         * what the kernel was to online. */
        linux_platform_tick(lp);
        return d.n;
}

int linux_platform_next_timeout_ms(struct linux_platform *lp) {
        int a = linux_unplug_next_timeout_ms(lp), b = linux_memonline_next_timeout_ms(lp);

        return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

void linux_platform_tick(struct linux_platform *lp) {
        linux_unplug_tick(lp);
        if (lp->nawaiting || lp->nheld)
                linux_memonline_tick(lp);
}
