/* SPDX-License-Identifier: MIT */
/*
 * The simulated platform: a partition with processor slots and memory
 * blocks, held in memory, with failure injection.  It implements the
 * platform ops over its own state, so that tests and demos see exactly what
 * a real platform would have done (a vetoed processor is offline again).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/engine.h"

struct sim;

struct sim_config {
        uint32_t cpus;       /* processors present and admitted at start */
        uint32_t maxcpus;    /* processor slots */
        uint64_t memory;     /* bytes of memory online at start */
        uint64_t block_size; /* memory block size, a power of two */
        uint64_t maxmem;     /* the most memory the partition can hold */
};

#define SIM_CONFIG_DEFAULT { .cpus = 2, .maxcpus = 8, .memory = 1ULL << 30, .block_size = 128ULL << 20, .maxmem = 64ULL << 30 }

/* Parse "cpus=N,maxcpus=N,memory=SIZE,block=SIZE,maxmem=SIZE" over the
 * defaults already in *cfg; *cfg is untouched on error (-EINVAL: an unknown
 * key, a key given twice, an empty item such as the one in "cpus=2,,maxcpus=8",
 * a bad value, or an inconsistent partition).  sim_config_parse_err() also
 * writes a message naming the option into err (when err is not NULL). */
int sim_config_parse(struct sim_config *cfg, const char *options);
int sim_config_parse_err(struct sim_config *cfg, const char *options, char *err, size_t errsize);

enum sim_op {
        SIM_OP_CPU_START = 0,
        SIM_OP_CPU_ADMIT,
        SIM_OP_CPU_STOP,
        SIM_OP_BLOCK_ONLINE,
        SIM_OP_CPU_OFFLINE,   /* removal: taking an admitted processor offline */
        SIM_OP_BLOCK_OFFLINE, /* removal: one memory block (after the retries) */
        _SIM_OP_MAX,
};

/* Create the platform and its engine, and populate the engine with the
 * initial partition. */
int sim_new(struct sim **ret, const struct sim_config *cfg);
void sim_free(struct sim *s);
struct engine *sim_engine(struct sim *s);

/* Hot-add one processor into the first absent slot and run its
 * transaction.  Returns like engine_cpu_hotadd. */
int sim_cpu_add(struct sim *s, uint32_t *ret_index);
/* Run a new add transaction for processor `index`, present but not
 * admitted (its add was vetoed or failed): the same slot, no new one.
 * Returns like engine_cpu_hotadd (ret_status: the reason when 1); -ENODEV
 * for an absent slot, -EALREADY for an admitted processor, -ERANGE past
 * the slots. */
int sim_cpu_retry(struct sim *s, uint32_t index, int *ret_status);
/* Hot-add a memory device of `size` bytes at the end of the address
 * space and run its transaction. */
int sim_memory_add(struct sim *s, uint64_t size, uint64_t *ret_base);
/* Removal carried out by the agent (engine_cpu_remove, engine_mem_remove):
 * 0, 1 when it did not happen (ret_status: why), a negative errno. */
int sim_cpu_remove(struct sim *s, uint32_t index, int *ret_status);
int sim_memory_remove(struct sim *s, const char *name, int *ret_status);
/* The simulated hardware takes it away on its own (an ACPI eject): a
 * processor, or every block of memory device `name`.  From inside a
 * callback of a running transaction only the hardware changes; the
 * transaction finds it gone. */
int sim_cpu_surprise_remove(struct sim *s, uint32_t index);
int sim_memory_surprise_remove(struct sim *s, const char *name);
/* The next `count` calls of `op` fail with `error` (a negative errno). */
int sim_inject_failure(struct sim *s, enum sim_op op, int error, unsigned count);
/* The same after `skip` calls that succeed (a block in the middle of a
 * device refusing to go offline). */
int sim_inject_failure_after(struct sim *s, enum sim_op op, int error, unsigned skip, unsigned count);
/* What the simulated hardware says, independent of the engine. */
bool sim_cpu_online(struct sim *s, uint32_t index);
bool sim_cpu_schedulable(struct sim *s, uint32_t index);
bool sim_block_online(struct sim *s, uint64_t block);

/* Memory levels (what /proc/meminfo would say), for the memory condition
 * events.  At start: total = the boot memory, 3/4 of it available, commit
 * charge and limit 0 (unknown).  A block coming online adds to the total,
 * the available memory and a known commit limit.  SIM_LEVEL_KEEP keeps a
 * value; -EINVAL when available would exceed total.  With `push` the engine
 * re-evaluates at once (a PSI trigger on Linux); without, the change is
 * seen at the next evaluation (hot-add, the fallback timer). */
#define SIM_LEVEL_KEEP UINT64_MAX
int sim_mem_levels_set(struct sim *s, uint64_t total, uint64_t available, uint64_t commit_charge,
                       uint64_t commit_limit, bool push);
