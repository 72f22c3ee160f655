/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/sim/sim.h"
#include "util/macro.h"
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

/* The options sim_config_parse() knows, each at most once. */
static const char *const sim_option_keys[] = { "cpus", "maxcpus", "memory", "block", "maxmem" };

static int sim_option_set(struct sim_config *c, size_t key, const char *v) {
        switch (key) {
        case 0: return parse_u32(v, &c->cpus);
        case 1: return parse_u32(v, &c->maxcpus);
        case 2: return parse_size(v, &c->memory);
        case 3: return parse_size(v, &c->block_size);
        default: return parse_size(v, &c->maxmem);
        }
}

/* Set *err to a message naming what is wrong; -EINVAL. */
__attribute__((format(printf, 3, 4))) static int sim_option_error(char *err, size_t errsize, const char *fmt, ...) {
        va_list ap;

        if (err && errsize) {
                va_start(ap, fmt);
                vsnprintf(err, errsize, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

/* One "key=value" item of length len: known key, not seen before, valid
 * value. */
static int sim_option_parse(struct sim_config *c, const char *item, size_t len, bool *seen, char *err,
                            size_t errsize) {
        const char *eq = memchr(item, '=', len);
        char value[64];
        size_t klen, k;

        if (len == 0)
                return sim_option_error(err, errsize, "sim: empty option (two commas, or a comma at an end)");
        if (!eq)
                return sim_option_error(err, errsize, "sim: option '%.*s' has no value (key=value)", (int)len, item);
        klen = (size_t)(eq - item);
        for (k = 0; k < ELEMENTSOF(sim_option_keys); k++)
                if (strlen(sim_option_keys[k]) == klen && memcmp(sim_option_keys[k], item, klen) == 0)
                        break;
        if (k == ELEMENTSOF(sim_option_keys))
                return sim_option_error(err, errsize,
                                        "sim: unknown option '%.*s' (cpus, maxcpus, memory, block, maxmem)",
                                        (int)klen, item);
        if (seen[k])
                return sim_option_error(err, errsize, "sim: option '%s' given twice", sim_option_keys[k]);
        seen[k] = true;
        if (len - klen - 1 >= sizeof(value))
                return sim_option_error(err, errsize, "sim: option '%s': value too long", sim_option_keys[k]);
        memcpy(value, eq + 1, len - klen - 1);
        value[len - klen - 1] = 0;
        if (sim_option_set(c, k, value) < 0)
                return sim_option_error(err, errsize, "sim: option '%s': invalid value '%s'", sim_option_keys[k],
                                        value);
        return 0;
}

int sim_config_parse_err(struct sim_config *cfg, const char *options, char *err, size_t errsize) {
        bool seen[ELEMENTSOF(sim_option_keys)] = { false };
        struct sim_config c = *cfg;
        const char *p = options;
        int r;

        if (!options || !*options)
                return 0;
        /* Item by item, without strtok: it would skip empty items, and
         * "cpus=2,,maxcpus=8" must be refused, not read as two options. */
        for (;;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);

                r = sim_option_parse(&c, p, len, seen, err, errsize);
                if (r < 0)
                        return r;
                if (!comma)
                        break;
                p = comma + 1;
        }
        if (c.maxcpus == 0 || c.maxcpus > 4096)
                return sim_option_error(err, errsize, "sim: maxcpus=%u out of range (1..4096)", c.maxcpus);
        if (c.cpus == 0 || c.cpus > c.maxcpus)
                return sim_option_error(err, errsize, "sim: cpus=%u out of range (1..maxcpus=%u)", c.cpus,
                                        c.maxcpus);
        if (c.block_size == 0 || (c.block_size & (c.block_size - 1)))
                return sim_option_error(err, errsize, "sim: block must be a power of two");
        if (c.memory % c.block_size || c.maxmem % c.block_size)
                return sim_option_error(err, errsize, "sim: memory and maxmem must be multiples of block");
        if (c.memory == 0 || c.memory > c.maxmem)
                return sim_option_error(err, errsize, "sim: memory must be more than 0 and at most maxmem");
        if (c.maxmem / c.block_size > (1u << 20))
                return sim_option_error(err, errsize, "sim: maxmem / block exceeds %u blocks", 1u << 20);
        *cfg = c;
        return 0;
}

int sim_config_parse(struct sim_config *cfg, const char *options) {
        return sim_config_parse_err(cfg, options, NULL, 0);
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
        /* Hot-added memory goes where Linux's online_movable puts it. */
        if (r == 0)
                engine_mem_block_set_zone(s->engine, index, DHP_MEMORY_ZONE_MOVABLE);
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
        /* Boot memory is the kernel's. */
        for (uint64_t b = 0; b < cfg->memory / cfg->block_size; b++)
                engine_mem_block_set_zone(s->engine, b, DHP_MEMORY_ZONE_NORMAL);
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

int sim_cpu_retry(struct sim *s, uint32_t index, int *ret_status) {
        bool present;

        pthread_mutex_lock(&s->lock);
        present = index < s->cfg.maxcpus && s->cpus[index].present;
        pthread_mutex_unlock(&s->lock);
        if (index >= s->cfg.maxcpus)
                return -ERANGE;
        if (!present)
                return -ENODEV;
        return engine_cpu_hotadd(s->engine, index, 0, ret_status);
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
