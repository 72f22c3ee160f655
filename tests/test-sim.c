/* SPDX-License-Identifier: MIT */
/*
 * The simulated platform: its configuration, the boot partition it gives
 * the engine, what its hardware says after an add, a veto and an injected
 * failure, and its memory levels.
 */
#include <errno.h>

#include "core/engine.h"
#include "core/memcond.h"
#include "helpers.h"
#include "platform/sim/sim.h"

struct sim *dhp_internal_sim(dhp *ctx);

static void test_config_parse(void **state) {
        struct sim_config c = SIM_CONFIG_DEFAULT, before;

        assert_int_equal(sim_config_parse(&c, "cpus=4,maxcpus=16,memory=2G,block=256M,maxmem=8G"), 0);
        assert_int_equal(c.cpus, 4);
        assert_int_equal(c.maxcpus, 16);
        assert_int_equal(c.memory, 2ULL << 30);
        assert_int_equal(c.block_size, 256ULL << 20);
        assert_int_equal(c.maxmem, 8ULL << 30);
        assert_int_equal(sim_config_parse(&c, ""), 0);
        assert_int_equal(sim_config_parse(&c, NULL), 0);

        /* All or nothing: *cfg is untouched on error. */
        before = c;
        assert_int_equal(sim_config_parse(&c, "cpus=2,colour=blue"), -EINVAL);
        assert_int_equal(sim_config_parse(&c, "cpus"), -EINVAL);
        assert_int_equal(sim_config_parse(&c, "cpus=x"), -EINVAL);
        assert_int_equal(sim_config_parse(&c, "cpus=32"), -EINVAL);          /* more than maxcpus */
        assert_int_equal(sim_config_parse(&c, "cpus=0"), -EINVAL);
        assert_int_equal(sim_config_parse(&c, "block=3M"), -EINVAL);         /* not a power of two */
        assert_int_equal(sim_config_parse(&c, "memory=100M"), -EINVAL);      /* not whole blocks */
        assert_int_equal(sim_config_parse(&c, "memory=16G"), -EINVAL);       /* above maxmem */
        assert_memory_equal(&c, &before, sizeof(c));
}

/* Issue 17 item 11: an empty item or a key given twice is refused, with a
 * message naming the option, and so is dhp_open() of such a target. */
static void test_config_strict(void **state) {
        struct sim_config c = SIM_CONFIG_DEFAULT, before = c;
        char err[256];
        dhp *ctx = NULL;

        err[0] = 0;
        assert_int_equal(sim_config_parse_err(&c, "cpus=2,,maxcpus=8", err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "empty option"));
        assert_int_equal(sim_config_parse_err(&c, "cpus=2,cpus=3", err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "'cpus' given twice"));
        assert_int_equal(sim_config_parse_err(&c, "cpus=2,", err, sizeof(err)), -EINVAL);
        assert_int_equal(sim_config_parse_err(&c, ",cpus=2", err, sizeof(err)), -EINVAL);
        assert_int_equal(sim_config_parse_err(&c, "maxcpus=8,colour=blue", err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "'colour'"));
        assert_int_equal(sim_config_parse_err(&c, "maxmem=x", err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "'maxmem'"));
        assert_int_equal(sim_config_parse(&c, "cpus=2,cpus=3"), -EINVAL);
        assert_memory_equal(&c, &before, sizeof(c));
        /* The message buffer is optional. */
        assert_int_equal(sim_config_parse_err(&c, "cpus=2,,maxcpus=8", NULL, 0), -EINVAL);
        assert_int_equal(sim_config_parse_err(&c, "cpus=3,maxcpus=8", err, sizeof(err)), 0);
        assert_int_equal(c.cpus, 3);

        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,,maxcpus=8"), -EINVAL);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,cpus=3"), -EINVAL);
        assert_null(ctx);
        assert_int_equal(dhp_open(&ctx, "sim:cpus=2,maxcpus=8"), 0);
        dhp_close(ctx);
}

static void test_boot_partition(void **state) {
        struct sim_config cfg = SIM_CONFIG_DEFAULT;
        struct engine_mem_info info;
        struct sim *s;
        struct engine *e;
        dhp_proc_state st;

        assert_int_equal(sim_new(&s, &cfg), 0);
        e = sim_engine(s);
        assert_int_equal(engine_cpu_count(e), cfg.maxcpus);
        for (uint32_t i = 0; i < cfg.maxcpus; i++) {
                assert_int_equal(engine_cpu_get_state(e, i, &st), 0);
                assert_int_equal(st, i < cfg.cpus ? DHP_PROC_ADMITTED : DHP_PROC_ABSENT);
                assert_int_equal(sim_cpu_online(s, i), i < cfg.cpus);
                assert_int_equal(sim_cpu_schedulable(s, i), i < cfg.cpus);
        }
        assert_int_equal(engine_mem_block_size(e), cfg.block_size);
        assert_int_equal(engine_mem_device_info(e, 0, &info), 0);
        assert_int_equal(info.base, 0);
        assert_int_equal(info.size, cfg.memory);
        assert_true(info.arrived);
        assert_int_equal(engine_mem_device_info(e, 1, &info), -ENOENT);
        assert_true(sim_block_online(s, 0));
        assert_false(sim_block_online(s, cfg.memory / cfg.block_size));
        /* Nothing was queued: the boot partition is existing, not arriving. */
        assert_true(engine_idle(e));
        sim_free(s);
}

static void veto_cb(void *userdata, const dhp_proc_change *c) {
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START && *(int *)userdata)
                dhp_proc_change_veto(c, *(int *)userdata);
}

static void test_cpu_add(void **state) {
        struct sim_config cfg = { .cpus = 1, .maxcpus = 4, .memory = 1ULL << 30, .block_size = 128ULL << 20,
                                  .maxmem = 2ULL << 30 };
        dhp_proc_reg *reg;
        struct sim *s;
        uint32_t index = 99;
        int veto = -EBUSY;

        assert_int_equal(sim_new(&s, &cfg), 0);
        assert_int_equal(procnotify_register(sim_engine(s), "V", 0, veto_cb, &veto, &reg), 0);

        /* Vetoed: offline again, as a real platform leaves it. */
        assert_int_equal(sim_cpu_add(s, &index), 1);
        assert_int_equal(index, 1);
        assert_false(sim_cpu_online(s, 1));
        assert_false(sim_cpu_schedulable(s, 1));

        /* The next add takes the next absent slot. */
        veto = 0;
        assert_int_equal(sim_cpu_add(s, &index), 0);
        assert_int_equal(index, 2);
        assert_true(sim_cpu_online(s, 2));
        assert_true(sim_cpu_schedulable(s, 2));

        /* cpu_start fails once: nothing ran, the processor stays offline. */
        assert_int_equal(sim_inject_failure(s, SIM_OP_CPU_START, -EIO, 1), 0);
        assert_int_equal(sim_cpu_add(s, &index), -EIO);
        assert_false(sim_cpu_online(s, 3));
        assert_int_equal(sim_cpu_add(s, &index), -ENOSPC);

        /* Admission fails: started then stopped. */
        assert_int_equal(sim_inject_failure(s, SIM_OP_CPU_ADMIT, -ENOMEM, 1), 0);
        assert_int_equal(engine_cpu_hotadd(sim_engine(s), 3, 0, NULL), 1);
        assert_false(sim_cpu_online(s, 3));
        assert_int_equal(sim_inject_failure(s, SIM_OP_CPU_ADMIT, 0, 1), -EINVAL);
        assert_int_equal(sim_inject_failure(s, _SIM_OP_MAX, -EIO, 1), -EINVAL);

        assert_int_equal(engine_dispatch(sim_engine(s)), 1); /* cpu2's arrival */
        procnotify_deregister(reg);
        sim_free(s);
}

static void test_memory_add_and_levels(void **state) {
        struct sim_config cfg = { .cpus = 1, .maxcpus = 2, .memory = 256ULL << 20, .block_size = 128ULL << 20,
                                  .maxmem = 768ULL << 20 };
        struct sim *s;
        uint64_t base = 0;

        assert_int_equal(sim_new(&s, &cfg), 0);
        assert_int_equal(sim_memory_add(s, 100, &base), -EINVAL);
        assert_int_equal(sim_memory_add(s, 256ULL << 20, &base), 0);
        assert_int_equal(base, 256ULL << 20);
        assert_true(sim_block_online(s, 2));
        assert_true(sim_block_online(s, 3));

        /* A failing block: the device does not arrive, the next add goes
         * after it all the same. */
        assert_int_equal(sim_inject_failure(s, SIM_OP_BLOCK_ONLINE, -EIO, 1), 0);
        assert_int_equal(sim_memory_add(s, 128ULL << 20, &base), -EIO);
        assert_false(sim_block_online(s, 4));
        assert_int_equal(sim_memory_add(s, 256ULL << 20, &base), -ENOSPC);

        /* Levels: a block coming online grew the total (256 MiB boot, 3/4
         * free, then two blocks); below the low threshold sets the event at
         * once when pushed. */
        assert_int_equal(sim_mem_levels_set(s, SIM_LEVEL_KEEP, 1ULL << 40, SIM_LEVEL_KEEP, SIM_LEVEL_KEEP, true),
                         -EINVAL);
        assert_false(memcond_is_set(sim_engine(s), MEMCOND_LOW_MEMORY));
        assert_int_equal(sim_mem_levels_set(s, SIM_LEVEL_KEEP, 4096, SIM_LEVEL_KEEP, SIM_LEVEL_KEEP, true), 0);
        assert_true(memcond_is_set(sim_engine(s), MEMCOND_LOW_MEMORY));
        /* Not pushed: seen at the next evaluation only. */
        assert_int_equal(sim_mem_levels_set(s, SIM_LEVEL_KEEP, 256ULL << 20, SIM_LEVEL_KEEP, SIM_LEVEL_KEEP, false),
                         0);
        assert_true(memcond_is_set(sim_engine(s), MEMCOND_LOW_MEMORY));
        assert_int_equal(memcond_evaluate(sim_engine(s)), 0);
        assert_false(memcond_is_set(sim_engine(s), MEMCOND_LOW_MEMORY));
        while (engine_dispatch(sim_engine(s)) > 0)
                ;
        sim_free(s);
}

/* Issue 17 item 10: memory devices and their blocks through the API. */
static void test_memory_snapshot(void **state) {
        dhp_memory_snapshot *ms;
        dhp_memory_block_state bs;
        dhp_memory_zone z;
        uint64_t base, size;
        uint32_t nblocks, online;
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "sim:cpus=1,memory=512M,block=128M,maxmem=2G"), 0);
        assert_int_equal(dhp_sim_memory_add(ctx, 256ULL << 20, &base), 0);
        assert_int_equal(base, 512ULL << 20);
        /* The second block of the next device fails: it does not arrive. */
        assert_int_equal(sim_inject_failure(dhp_internal_sim(ctx), SIM_OP_BLOCK_ONLINE, -EBUSY, 1), 0);
        assert_int_equal(dhp_sim_memory_add(ctx, 256ULL << 20, NULL), -EBUSY);

        assert_int_equal(dhp_memory_snapshot_new(ctx, &ms), 0);
        assert_int_equal(dhp_memory_snapshot_get_count(ms), 3);
        /* Boot memory: 4 blocks in the kernel zone, existing. */
        assert_int_equal(dhp_memory_snapshot_get_device(ms, 0, &base, &size, &nblocks, &online), 1);
        assert_int_equal(base, 0);
        assert_int_equal(size, 512ULL << 20);
        assert_int_equal(nblocks, 4);
        assert_int_equal(online, 4);
        expect_memory_blocks(ms, 0, 3, 4, 0, DHP_MEMORY_BLOCK_ONLINE, DHP_MEMORY_ZONE_NORMAL);
        /* The hot-added device: arrived, movable. */
        assert_int_equal(dhp_memory_snapshot_get_device(ms, 1, &base, NULL, &nblocks, &online), 1);
        assert_int_equal(base, 512ULL << 20);
        assert_int_equal(nblocks, 2);
        assert_int_equal(online, 2);
        expect_memory_blocks(ms, 1, 0, 2, 4, DHP_MEMORY_BLOCK_ONLINE, DHP_MEMORY_ZONE_MOVABLE);
        /* The failed one: one block online, one not; not arrived. */
        assert_int_equal(dhp_memory_snapshot_get_device(ms, 2, NULL, NULL, &nblocks, &online), 0);
        assert_int_equal(nblocks, 2);
        assert_int_equal(online, 1);
        expect_memory_blocks(ms, 2, 0, 1, 6, DHP_MEMORY_BLOCK_OFFLINE, DHP_MEMORY_ZONE_UNKNOWN);
        assert_int_equal(dhp_memory_snapshot_get_block(ms, 2, 1, NULL, &bs, &z), 0);
        assert_int_equal(bs, DHP_MEMORY_BLOCK_ONLINE);
        assert_int_equal(z, DHP_MEMORY_ZONE_MOVABLE);
        /* Bounds. */
        assert_int_equal(dhp_memory_snapshot_get_device(ms, 3, NULL, NULL, NULL, NULL), -ERANGE);
        assert_int_equal(dhp_memory_snapshot_get_block(ms, 2, 2, NULL, NULL, NULL), -ERANGE);
        assert_int_equal(dhp_memory_snapshot_get_block(NULL, 0, 0, NULL, NULL, NULL), -EINVAL);
        assert_int_equal(dhp_memory_snapshot_get_count(NULL), 0);
        dhp_memory_snapshot_free(ms);
        dhp_memory_snapshot_free(NULL);
        assert_int_equal(dhp_memory_snapshot_new(ctx, NULL), -EINVAL);
        dhp_close(ctx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_parse),
                cmocka_unit_test(test_config_strict),
                cmocka_unit_test(test_memory_snapshot),
                cmocka_unit_test(test_boot_partition),
                cmocka_unit_test(test_cpu_add),
                cmocka_unit_test(test_memory_add_and_levels),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
