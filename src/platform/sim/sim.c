/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "platform/sim/sim.h"
#include "util/parse.h"

struct sim_cpu {
        bool present, online, schedulable;
};

struct sim {
        struct engine *engine;
        struct sim_config cfg;
        pthread_mutex_t lock;
        struct sim_cpu *cpus;
        uint32_t first_absent; /* no absent slot below it (a removal lowers it) */
        bool *blocks; /* online, by block index */
        uint64_t nblocks;
        int fail_error[_SIM_OP_MAX];
        unsigned fail_count[_SIM_OP_MAX];
        unsigned fail_skip[_SIM_OP_MAX]; /* calls that succeed before the failures */
        struct mem_levels levels; /* what /proc/meminfo would say */
};

int sim_config_parse(struct sim_config *cfg, const char *options) {
        struct sim_config c = *cfg;
        char *dup, *save = NULL;
        int r = 0;

        if (!options || !*options)
                return 0;
        dup = strdup(options);
        if (!dup)
                return -ENOMEM;
        for (char *item = strtok_r(dup, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(item, '=');
                if (!eq) {
                        r = -EINVAL;
                        break;
                }
                *eq++ = 0;
                if (strcmp(item, "cpus") == 0)
                        r = parse_u32(eq, &c.cpus);
                else if (strcmp(item, "maxcpus") == 0)
                        r = parse_u32(eq, &c.maxcpus);
                else if (strcmp(item, "memory") == 0)
                        r = parse_size(eq, &c.memory);
                else if (strcmp(item, "block") == 0)
                        r = parse_size(eq, &c.block_size);
                else if (strcmp(item, "maxmem") == 0)
                        r = parse_size(eq, &c.maxmem);
                else
                        r = -EINVAL;
                if (r < 0)
                        break;
        }
        free(dup);
        if (r < 0)
                return -EINVAL;
        if (c.maxcpus == 0 || c.maxcpus > 4096 || c.cpus == 0 || c.cpus > c.maxcpus || c.block_size == 0 ||
            (c.block_size & (c.block_size - 1)) || c.memory % c.block_size || c.maxmem % c.block_size ||
            c.memory == 0 || c.memory > c.maxmem || c.maxmem / c.block_size > (1u << 20))
                return -EINVAL;
        *cfg = c;
        return 0;
}

static int take_failure(struct sim *s, enum sim_op op) {
        int r = 0;

        pthread_mutex_lock(&s->lock);
        if (s->fail_skip[op] > 0)
                s->fail_skip[op]--;
        else if (s->fail_count[op] > 0) {
                s->fail_count[op]--;
                r = s->fail_error[op];
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int op_cpu_start(void *p, uint32_t index) {
        struct sim *s = p;
        int r = take_failure(s, SIM_OP_CPU_START);

        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        s->cpus[index].online = true;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static int op_cpu_stop(void *p, uint32_t index) {
        struct sim *s = p;
        int r = take_failure(s, SIM_OP_CPU_STOP);

        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        s->cpus[index].online = false;
        s->cpus[index].schedulable = false;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static int op_cpu_admit(void *p, uint32_t index) {
        struct sim *s = p;
        int r = take_failure(s, SIM_OP_CPU_ADMIT);

        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        s->cpus[index].schedulable = true;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static int op_block_online(void *p, uint64_t index) {
        struct sim *s = p;
        int r = take_failure(s, SIM_OP_BLOCK_ONLINE);

        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        if (index < s->nblocks) {
                /* A block coming online is free memory: the total and the
                 * available memory grow by it, and a commit limit that is
                 * known grows as Linux's does (it follows MemTotal). */
                if (!s->blocks[index]) {
                        s->levels.total += s->cfg.block_size;
                        s->levels.available += s->cfg.block_size;
                        if (s->levels.commit_limit)
                                s->levels.commit_limit += s->cfg.block_size;
                }
                s->blocks[index] = true;
        } else {
                r = -ENOENT;
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int op_cpu_unadmit(void *p, uint32_t index) {
        struct sim *s = p;

        pthread_mutex_lock(&s->lock);
        s->cpus[index].schedulable = false;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static int op_cpu_offline(void *p, uint32_t index) {
        struct sim *s = p;
        int r = take_failure(s, SIM_OP_CPU_OFFLINE);

        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        if (!s->cpus[index].present)
                r = -ENODEV; /* ejected meanwhile (sim_cpu_surprise_remove) */
        s->cpus[index].online = false;
        s->cpus[index].schedulable = false;
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* The levels follow a block going offline as they followed it online. */
static void levels_block_gone_locked(struct sim *s) {
        uint64_t bs = s->cfg.block_size;

        s->levels.total = s->levels.total > bs ? s->levels.total - bs : 0;
        s->levels.available = s->levels.available > bs ? s->levels.available - bs : 0;
        if (s->levels.commit_limit)
                s->levels.commit_limit = s->levels.commit_limit > bs ? s->levels.commit_limit - bs : 1;
}

static int op_block_offline(void *p, uint64_t index) {
        struct sim *s = p;
        int r = take_failure(s, SIM_OP_BLOCK_OFFLINE);

        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        if (index < s->nblocks && s->blocks[index]) {
                s->blocks[index] = false;
                levels_block_gone_locked(s);
        }
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static int op_mem_levels_read(void *p, struct mem_levels *ret) {
        struct sim *s = p;

        pthread_mutex_lock(&s->lock);
        *ret = s->levels;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static const struct platform_ops sim_ops = {
        .cpu_start = op_cpu_start,
        .cpu_stop = op_cpu_stop,
        .cpu_admit = op_cpu_admit,
        .mem_block_online = op_block_online,
        .cpu_unadmit = op_cpu_unadmit,
        .cpu_offline = op_cpu_offline,
        .mem_block_offline = op_block_offline,
        .mem_levels_read = op_mem_levels_read,
};

int sim_new(struct sim **ret, const struct sim_config *cfg) {
        struct sim *s;
        int r;

        if (!ret || !cfg)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->cfg = *cfg;
        pthread_mutex_init(&s->lock, NULL);
        s->nblocks = cfg->maxmem / cfg->block_size;
        s->cpus = calloc(cfg->maxcpus, sizeof(*s->cpus));
        s->blocks = calloc(s->nblocks ? s->nblocks : 1, sizeof(*s->blocks));
        if (!s->cpus || !s->blocks) {
                r = -ENOMEM;
                goto fail;
        }
        r = engine_new(&s->engine, &sim_ops, s);
        if (r < 0)
                goto fail;
        r = engine_cpu_slots(s->engine, cfg->maxcpus);
        if (r < 0)
                goto fail;
        r = engine_mem_set_block_size(s->engine, cfg->block_size);
        if (r < 0)
                goto fail;
        /* The boot partition: processors and memory already in use. */
        for (uint32_t i = 0; i < cfg->cpus; i++) {
                s->cpus[i] = (struct sim_cpu){ .present = true, .online = true, .schedulable = true };
                engine_cpu_set_state(s->engine, i, DHP_PROC_ADMITTED);
        }
        for (uint64_t b = 0; b < cfg->memory / cfg->block_size; b++)
                s->blocks[b] = true;
        r = engine_mem_device_add(s->engine, 0, cfg->memory / cfg->block_size, true, NULL);
        if (r < 0)
                goto fail;
        /* Three quarters of the boot memory free; no commit figures until
         * a test or a scenario gives some. */
        s->levels = (struct mem_levels){ .total = cfg->memory, .available = cfg->memory / 4 * 3 };
        r = engine_mem_levels_update(s->engine, &s->levels);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        sim_free(s);
        return r;
}

void sim_free(struct sim *s) {
        if (!s)
                return;
        engine_free(s->engine);
        pthread_mutex_destroy(&s->lock);
        free(s->cpus);
        free(s->blocks);
        free(s);
}

struct engine *sim_engine(struct sim *s) {
        return s->engine;
}

int sim_cpu_add(struct sim *s, uint32_t *ret_index) {
        uint32_t index = UINT32_MAX;
        int r;

        pthread_mutex_lock(&s->lock);
        for (uint32_t i = s->first_absent; i < s->cfg.maxcpus; i++)
                if (!s->cpus[i].present) {
                        s->cpus[i].present = true;
                        index = i;
                        break;
                }
        s->first_absent = index == UINT32_MAX ? s->cfg.maxcpus : index + 1;
        pthread_mutex_unlock(&s->lock);
        if (index == UINT32_MAX)
                return -ENOSPC;
        r = engine_cpu_set_state(s->engine, index, DHP_PROC_PRESENT);
        if (r < 0)
                return r;
        r = engine_cpu_hotadd(s->engine, index, 0, NULL);
        if (r >= 0 && ret_index)
                *ret_index = index;
        return r;
}

int sim_memory_add(struct sim *s, uint64_t size, uint64_t *ret_base) {
        uint64_t base, id;
        int r;

        if (size == 0 || size % s->cfg.block_size)
                return -EINVAL;
        /* Serialised by the engine's transaction lock only for onlining;
         * placing is under the sim lock so two adds never overlap. */
        pthread_mutex_lock(&s->lock);
        base = engine_mem_end(s->engine);
        if (size > s->cfg.maxmem || base > s->cfg.maxmem - size) {
                pthread_mutex_unlock(&s->lock);
                return -ENOSPC;
        }
        r = engine_mem_device_add(s->engine, base / s->cfg.block_size, size / s->cfg.block_size, false, &id);
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                return r;
        r = engine_mem_hotadd(s->engine, id);
        if (r < 0)
                return r;
        if (ret_base)
                *ret_base = base;
        return 0;
}

int sim_cpu_remove(struct sim *s, uint32_t index, int *ret_status) {
        int r = engine_cpu_remove(s->engine, index, 0, ret_status);

        /* An orderly removal leaves the processor present but offline (D30);
         * a surprise during the query took it out of its slot. */
        pthread_mutex_lock(&s->lock);
        if (r == 0 && index < s->cfg.maxcpus && !s->cpus[index].present && index < s->first_absent)
                s->first_absent = index;
        pthread_mutex_unlock(&s->lock);
        return r;
}

int sim_memory_remove(struct sim *s, const char *name, int *ret_status) {
        uint64_t id;
        int r = engine_mem_device_find(s->engine, name, &id);

        if (r < 0)
                return r;
        return engine_mem_remove(s->engine, id, ret_status);
}

int sim_cpu_surprise_remove(struct sim *s, uint32_t index) {
        int r;

        pthread_mutex_lock(&s->lock);
        if (index >= s->cfg.maxcpus || !s->cpus[index].present) {
                pthread_mutex_unlock(&s->lock);
                return -ENODEV;
        }
        s->cpus[index] = (struct sim_cpu){ 0 };
        if (index < s->first_absent)
                s->first_absent = index;
        pthread_mutex_unlock(&s->lock);
        /* Inside a transaction's callback the engine is busy with this
         * thread: the transaction itself finds the processor gone. */
        r = engine_cpu_remove(s->engine, index, ENGINE_REMOVE_SURPRISE | ENGINE_REMOVE_GONE, NULL);
        /* -ENODEV: it was not admitted (no REMOVAL), yet it was there. */
        return r == -EDEADLK || r == -ENODEV ? 0 : r;
}

int sim_memory_surprise_remove(struct sim *s, const char *name) {
        struct engine_mem_info mi;
        uint64_t id, bs = s->cfg.block_size;
        int r = engine_mem_device_find(s->engine, name, &id);

        if (r < 0)
                return r;
        r = engine_mem_device_info(s->engine, id, &mi);
        if (r < 0)
                return r;
        /* The kernel's order on an eject: each block offline, then removed;
         * the step ends when the last one is gone. */
        for (uint64_t b = mi.base / bs; b < mi.base / bs + (mi.virtio ? 0 : mi.nblocks); b++) {
                pthread_mutex_lock(&s->lock);
                if (b < s->nblocks && s->blocks[b]) {
                        s->blocks[b] = false;
                        levels_block_gone_locked(s);
                }
                pthread_mutex_unlock(&s->lock);
                engine_mem_block_set_online(s->engine, b, false);
                engine_mem_block_remove(s->engine, b);
        }
        r = engine_mem_settle(s->engine, id);
        return r < 0 ? r : 0;
}

int sim_inject_failure(struct sim *s, enum sim_op op, int error, unsigned count) {
        return sim_inject_failure_after(s, op, error, 0, count);
}

int sim_inject_failure_after(struct sim *s, enum sim_op op, int error, unsigned skip, unsigned count) {
        if ((unsigned)op >= _SIM_OP_MAX || error >= 0)
                return -EINVAL;
        pthread_mutex_lock(&s->lock);
        s->fail_error[op] = error;
        s->fail_count[op] = count;
        s->fail_skip[op] = skip;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

bool sim_cpu_online(struct sim *s, uint32_t index) {
        bool v;

        pthread_mutex_lock(&s->lock);
        v = index < s->cfg.maxcpus && s->cpus[index].online;
        pthread_mutex_unlock(&s->lock);
        return v;
}

bool sim_cpu_schedulable(struct sim *s, uint32_t index) {
        bool v;

        pthread_mutex_lock(&s->lock);
        v = index < s->cfg.maxcpus && s->cpus[index].schedulable;
        pthread_mutex_unlock(&s->lock);
        return v;
}

bool sim_block_online(struct sim *s, uint64_t block) {
        bool v;

        pthread_mutex_lock(&s->lock);
        v = block < s->nblocks && s->blocks[block];
        pthread_mutex_unlock(&s->lock);
        return v;
}

int sim_mem_levels_set(struct sim *s, uint64_t total, uint64_t available, uint64_t commit_charge,
                       uint64_t commit_limit, bool push) {
        struct mem_levels lv;

        pthread_mutex_lock(&s->lock);
        lv = s->levels;
        if (total != SIM_LEVEL_KEEP)
                lv.total = total;
        if (available != SIM_LEVEL_KEEP)
                lv.available = available;
        if (commit_charge != SIM_LEVEL_KEEP)
                lv.commit_charge = commit_charge;
        if (commit_limit != SIM_LEVEL_KEEP)
                lv.commit_limit = commit_limit;
        if (lv.available > lv.total) {
                pthread_mutex_unlock(&s->lock);
                return -EINVAL;
        }
        s->levels = lv;
        pthread_mutex_unlock(&s->lock);
        return push ? engine_mem_levels_update(s->engine, &lv) : 0;
}
