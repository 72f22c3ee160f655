/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "fake-sysfs.h"
#include "platform/linux/topology.h"

#define MiB (1024ULL * 1024ULL)

/* 8 CPUs (6 and 7 offline); 128 MiB blocks: 0-7 online boot memory, 8-11 a
 * 512 MiB DIMM (PNP0C80:00) just hot-added and offline, 12-13 offline
 * without firmware, a hole, 16-17 online; one empty DIMM slot. */
static void build_machine(struct fake_sysfs *f) {
        assert_int_equal(fake_sysfs_add_cpus(f, 8, "0-5"), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/cpu/cpu6/online", "0\n"), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/cpu/cpu7/online", "0\n"), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/cpu/kernel_max", "8191\n"), 0);
        assert_int_equal(fake_sysfs_mkdir(f, "sys/devices/system/cpu/cpufreq"), 0);
        assert_int_equal(fake_sysfs_add_memory(f, 128 * MiB, 0, 8, "online", "Normal"), 0);
        assert_int_equal(fake_sysfs_add_memory(f, 128 * MiB, 8, 4, "offline", "Normal Movable"), 0);
        assert_int_equal(fake_sysfs_add_memory(f, 128 * MiB, 12, 2, "offline", NULL), 0);
        assert_int_equal(fake_sysfs_add_memory(f, 128 * MiB, 16, 2, "online", NULL), 0);
        assert_int_equal(fake_sysfs_add_acpi_memdev(f, "PNP0C80:00", 8, 4), 0);
        assert_int_equal(fake_sysfs_add_acpi_memdev(f, "PNP0C80:01", 0, 0), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/memory/auto_online_blocks", "offline\n"), 0);
}

static void test_enumerate_and_group(void **state) {
        struct fake_sysfs *f = *state;
        const struct topology_memblock *b;
        const struct topology_memdev *d;
        struct topology *t;

        build_machine(f);
        assert_int_equal(topology_load(&t, f->root, TOPOLOGY_LOAD_ZONES, NULL), 0);

        assert_int_equal(t->n_cpus, 8);
        assert_int_equal(cpuset_count(&t->possible), 8);
        assert_int_equal(cpuset_count(&t->online), 6);
        for (uint32_t i = 0; i < 8; i++) {
                assert_int_equal(t->cpus[i].id, i);
                assert_true(t->cpus[i].present);
                assert_int_equal(t->cpus[i].online, i < 6);
                assert_int_equal(t->cpus[i].hotpluggable, i != 0);
        }
        assert_non_null(topology_find_cpu(t, 7));
        assert_null(topology_find_cpu(t, 8));

        assert_int_equal(t->block_size, 128 * MiB);
        assert_int_equal(t->n_blocks, 16);
        b = topology_find_block(t, 9);
        assert_non_null(b);
        assert_int_equal(b->start, 9 * 128 * MiB);
        assert_int_equal(b->state, MEMBLOCK_STATE_OFFLINE);
        assert_string_equal(b->valid_zones, "Normal Movable");
        assert_int_equal(b->removable, 1);
        assert_int_equal(topology_find_block(t, 12)->removable, -1);
        assert_null(topology_find_block(t, 14));

        assert_int_equal(t->n_devs, 4);
        d = &t->devs[0];
        assert_int_equal(d->kind, MEMDEV_KIND_RUN);
        assert_string_equal(d->name, "memory0-memory7");
        assert_int_equal(d->n_blocks, 8);
        assert_int_equal(d->n_online, 8);
        assert_int_equal(d->size, 1024 * MiB);

        d = &t->devs[1];
        assert_int_equal(d->kind, MEMDEV_KIND_ACPI);
        assert_string_equal(d->name, "PNP0C80:00");
        assert_int_equal(d->start, 8 * 128 * MiB);
        assert_int_equal(d->size, 512 * MiB);
        assert_int_equal(d->n_blocks, 4);
        assert_int_equal(d->n_online, 0);
        for (uint32_t i = 0; i < 4; i++) {
                b = &t->blocks[t->dev_blocks[d->first + i]];
                assert_int_equal(b->id, 8 + i);
                assert_int_equal(b->device, 1);
        }

        d = &t->devs[2];
        assert_int_equal(d->kind, MEMDEV_KIND_RUN);
        assert_string_equal(d->name, "memory12-memory13");
        assert_int_equal(d->n_blocks, 2);
        assert_string_equal(t->devs[3].name, "memory16-memory17");
        topology_free(t);
        topology_free(NULL);
}

static void test_block_helpers(void **state) {
        struct fake_sysfs *f = *state;
        enum memblock_state st;
        uint32_t ids[8];
        size_t n;
        char name[32], buf[32];
        bool on;
        unsigned attempts;

        build_machine(f);
        assert_int_equal(topology_block_firmware_node(f->root, 10, name, sizeof(name)), 0);
        assert_string_equal(name, "PNP0C80:00");
        assert_int_equal(topology_block_firmware_node(f->root, 3, name, sizeof(name)), -ENOENT);
        assert_int_equal(topology_acpi_memdev_blocks(f->root, "PNP0C80:00", ids, 8, &n), 0);
        assert_int_equal(n, 4);
        assert_int_equal(topology_acpi_memdev_blocks(f->root, "PNP0C80:00", ids, 2, &n), 0);
        assert_int_equal(n, 4); /* total, though only 2 written */
        assert_int_equal(topology_acpi_memdev_blocks(f->root, "../x", ids, 8, &n), -EINVAL);

        assert_int_equal(topology_read_block_state(f->root, 8, &st), 0);
        assert_int_equal(st, MEMBLOCK_STATE_OFFLINE);
        assert_int_equal(topology_block_set_state(NULL, f->root, 8, "online_movable", &attempts), 0);
        assert_int_equal(fake_sysfs_read(f, "sys/devices/system/memory/memory8/state", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "online_movable");
        assert_int_equal(topology_block_set_state(NULL, f->root, 8, "on", &attempts), -EINVAL);
        assert_int_equal(attempts, 0);
        assert_int_equal(topology_block_set_state(NULL, f->root, 99, "online", &attempts), -ENOENT);

        assert_int_equal(topology_read_cpu_online(f->root, 6, &on), 0);
        assert_false(on);
        assert_int_equal(topology_cpu_set_online(NULL, f->root, 6, true, &attempts), 0);
        assert_int_equal(topology_read_cpu_online(f->root, 6, &on), 0);
        assert_true(on);
        assert_int_equal(topology_read_cpu_online(f->root, 0, &on), -ENOENT);
        assert_string_equal(memblock_state_to_string(MEMBLOCK_STATE_GOING_OFFLINE), "going-offline");
}

static void test_bad_content(void **state) {
        struct fake_sysfs *f = *state;
        struct topology *t = NULL;

        assert_int_equal(topology_load(&t, f->root, 0, NULL), -ENOENT); /* no cpu dir */
        build_machine(f);
        /* One block with content we do not understand is left out, and the
         * rest of the machine still enumerates. */
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/memory/memory3/state", "sideways\n"), 0);
        assert_int_equal(topology_load(&t, f->root, 0, NULL), 0);
        assert_null(topology_find_block(t, 3));
        assert_non_null(topology_find_block(t, 2));
        topology_free(t);
        t = NULL;
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/memory/memory3/state", "online\n"), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/memory/memory3/phys_index", "00000004\n"), 0);
        assert_int_equal(topology_load(&t, f->root, 0, NULL), 0);
        assert_null(topology_find_block(t, 3));
        topology_free(t);
        t = NULL;
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/memory/memory3/phys_index", "00000003\n"), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/cpu/cpu2/online", "2\n"), 0);
        assert_int_equal(topology_load(&t, f->root, 0, NULL), -EBADMSG);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/cpu/cpu2/online", "1\n"), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/cpu/online", "0-5,\n"), 0);
        assert_int_equal(topology_load(&t, f->root, 0, NULL), -EBADMSG);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/cpu/online", "0-5\n"), 0);
        assert_int_equal(topology_load(&t, f->root, 0, NULL), 0);
        topology_free(t);
}

/* Directories that exist but list nothing: no CPU directory entries (only
 * the lists), a memory directory with block_size_bytes and no block.  An
 * empty model, not undefined behaviour (qsort of NULL; found by
 * fuzz-topology, corpus/topology/regress-empty-dirs). */
static void test_empty_directories(void **state) {
        struct fake_sysfs *f = *state;
        struct topology *t = NULL;

        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/cpu/possible", "0-3\n"), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/cpu/present", "0\n"), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/cpu/online", "0\n"), 0);
        assert_int_equal(fake_sysfs_write(f, "sys/devices/system/memory/block_size_bytes", "8000000\n"), 0);
        assert_int_equal(topology_load(&t, f->root, TOPOLOGY_LOAD_ZONES, NULL), 0);
        assert_int_equal(t->n_cpus, 0);
        assert_int_equal(t->n_blocks, 0);
        assert_int_equal(t->n_devs, 0);
        assert_null(topology_find_block(t, 0));
        assert_null(topology_find_cpu(t, 0));
        topology_free(t);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A 4 TiB machine: 32768 blocks of 128 MiB, 1024 CPUs, 16 DIMMs of 64 GiB
 * at the top, half of them online. */
static void test_scale(void **state) {
        struct fake_sysfs *f = *state;
        struct topology *t;
        uint64_t t0, t1;

        assert_int_equal(fake_sysfs_add_cpus(f, 1024, "0-1023"), 0);
        assert_int_equal(fake_sysfs_add_memory(f, 128 * MiB, 0, 24576, "online", NULL), 0);
        for (uint32_t i = 0; i < 16; i++) {
                char name[32];
                snprintf(name, sizeof(name), "PNP0C80:%02x", i);
                assert_int_equal(fake_sysfs_add_memory(f, 128 * MiB, 24576 + i * 512, 512,
                                                       i < 8 ? "online" : "offline", NULL), 0);
                assert_int_equal(fake_sysfs_add_acpi_memdev(f, name, 24576 + i * 512, 512), 0);
        }
        t0 = now_ms();
        assert_int_equal(topology_load(&t, f->root, 0, NULL), 0);
        t1 = now_ms();
        print_message("topology_load: 1024 cpus, 32768 blocks in %llu ms\n", (unsigned long long)(t1 - t0));
        assert_int_equal(t->n_cpus, 1024);
        assert_int_equal(t->n_blocks, 32768);
        assert_int_equal(t->n_devs, 17);
        assert_int_equal(t->devs[0].n_blocks, 24576);
        for (uint32_t i = 0; i < 16; i++) {
                assert_int_equal(t->devs[1 + i].kind, MEMDEV_KIND_ACPI);
                assert_int_equal(t->devs[1 + i].n_blocks, 512);
                assert_int_equal(t->devs[1 + i].n_online, i < 8 ? 512 : 0);
        }
        assert_true(t1 - t0 < 20000);
        topology_free(t);
}

static int fresh(void **state) {
        fake_sysfs_group_teardown(state);
        return fake_sysfs_group_setup(state);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_enumerate_and_group, fresh),
                cmocka_unit_test_setup(test_block_helpers, fresh),
                cmocka_unit_test_setup(test_bad_content, fresh),
                cmocka_unit_test_setup(test_scale, fresh),
                cmocka_unit_test_setup(test_empty_directories, fresh),
        };
        return cmocka_run_group_tests(tests, fake_sysfs_group_setup, fake_sysfs_group_teardown);
}
