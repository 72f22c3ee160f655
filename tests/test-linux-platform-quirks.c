/* SPDX-License-Identifier: MIT */
/*
 * The Linux platform (linux.c) against a fake sysfs tree, with uevents fed
 * through a socketpair: behaviours first seen on a real kernel in the QEMU
 * end-to-end tests (tests/e2e).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/engine.h"
#include "fake-sysfs.h"
#include "platform/linux/linux.h"
#include "util/time.h"

#define BLOCK (128ULL << 20)
#define ACPI_DEV "sys/devices/LNXSYSTM:00/LNXSYBUS:00"

struct fixture {
        struct fake_sysfs f;
        struct linux_platform *lp;
        int sv[2];
        unsigned seq;
};

static int setup(void **state) {
        static struct fixture fx;

        memset(&fx, 0, sizeof(fx));
        fx.sv[0] = fx.sv[1] = -1;
        if (fake_sysfs_init(&fx.f) < 0)
                return -1;
        /* One CPU and 512 MiB of boot memory, not described by ACPI. */
        if (fake_sysfs_add_cpus(&fx.f, 1, "0") < 0 ||
            fake_sysfs_add_memory(&fx.f, BLOCK, 0, 4, "online", "Normal") < 0 ||
            socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fx.sv) < 0)
                return -1;
        fx.seq = 1000;
        *state = &fx;
        return 0;
}

static int teardown(void **state) {
        struct fixture *fx = *state;

        linux_platform_free(fx->lp); /* closes sv[0] */
        if (!fx->lp && fx->sv[0] >= 0)
                close(fx->sv[0]);
        close(fx->sv[1]);
        fake_sysfs_deinit(&fx->f);
        return 0;
}

static void start_with(struct fixture *fx, uint64_t acpi_bind_wait_ns, const struct sysfs_writer *w) {
        struct linux_config c;

        linux_config_defaults(&c);
        c.root = fx->f.root;
        c.uevent_fd = fx->sv[0];
        c.acpi_bind_wait_ns = acpi_bind_wait_ns;
        c.writer = w;
        assert_int_equal(linux_platform_new(&fx->lp, &c, NULL), 0);
        assert_int_equal(linux_platform_start(fx->lp), 0);
}

static void start(struct fixture *fx, uint64_t acpi_bind_wait_ns) {
        start_with(fx, acpi_bind_wait_ns, NULL);
}

static void send_block_add(struct fixture *fx, uint32_t id) {
        char buf[512], a[64], d[64], s[32];
        int n;

        snprintf(a, sizeof(a), "add@/devices/system/memory/memory%u", id);
        snprintf(d, sizeof(d), "DEVPATH=/devices/system/memory/memory%u", id);
        snprintf(s, sizeof(s), "SEQNUM=%u", fx->seq++);
        n = snprintf(buf, sizeof(buf), "%s%cACTION=add%c%s%cSUBSYSTEM=memory%c%s", a, 0, 0, d, 0, 0, s);
        assert_int_equal(send(fx->sv[1], buf, (size_t)n + 1, 0), n + 1);
}

/* An ACPI memory device as the kernel shows it between the add of the
 * DIMM's blocks and their binding: _STA present, no physical_node. */
static void acpi_memdev_unbound(struct fixture *fx, const char *name, const char *status) {
        char p[256];

        assert_int_equal(fake_sysfs_add_acpi_memdev(&fx->f, name, 0, 0), 0);
        snprintf(p, sizeof(p), ACPI_DEV "/%s/status", name);
        assert_int_equal(fake_sysfs_write(&fx->f, p, status), 0);
}

/* What acpi_bind_memory_blocks() adds afterwards. */
static void acpi_memdev_bind(struct fake_sysfs *f, const char *name, uint32_t first, uint32_t n) {
        char rel[256], target[256];

        for (uint32_t i = 0; i < n; i++) {
                snprintf(rel, sizeof(rel), ACPI_DEV "/%s/physical_node%.0u", name, i);
                snprintf(target, sizeof(target), "../../../system/memory/memory%u", first + i);
                assert_int_equal(fake_sysfs_symlink(f, target, rel), 0);
                snprintf(rel, sizeof(rel), "sys/devices/system/memory/memory%u/firmware_node", first + i);
                snprintf(target, sizeof(target), "../../../LNXSYSTM:00/LNXSYBUS:00/%s", name);
                assert_int_equal(fake_sysfs_symlink(f, target, rel), 0);
        }
}

static void assert_block_state(struct fixture *fx, uint32_t id, const char *want) {
        char rel[128], buf[64];

        snprintf(rel, sizeof(rel), "sys/devices/system/memory/memory%u/state", id);
        assert_int_equal(fake_sysfs_read(&fx->f, rel, buf, sizeof(buf)), 0);
        buf[strcspn(buf, "\n")] = 0;
        assert_string_equal(buf, want);
}

static uint64_t device_of(struct fixture *fx, uint32_t block) {
        uint64_t dev = UINT64_MAX;

        assert_int_equal(engine_mem_block_get(linux_platform_engine(fx->lp), block, &dev, NULL), 0);
        return dev;
}

/* The kernel binds the DIMM while dhpd waits: done here from inside the
 * platform's poll sleep, the second time it sleeps (so that dhpd has seen
 * the device unbound first), all at once from dhpd's point of view. */
struct binder {
        struct fake_sysfs *f;
        uint32_t first, n;
        unsigned sleeps;
};

static void bind_on_sleep(void *p, uint64_t ns) {
        struct binder *b = p;

        if (++b->sleeps == 2)
                acpi_memdev_bind(b->f, "PNP0C80:00", b->first, b->n);
}

/* The kernel binds a DIMM's blocks one by one: half of them at the second
 * sleep, the rest at the third. */
static void bind_in_two_steps(void *p, uint64_t ns) {
        struct binder *b = p;

        b->sleeps++;
        if (b->sleeps == 2)
                acpi_memdev_bind(b->f, "PNP0C80:00", b->first, b->n / 2);
        else if (b->sleeps == 3) {
                char rel[256], target[256];
                for (uint32_t i = b->n / 2; i < b->n; i++) {
                        snprintf(rel, sizeof(rel), ACPI_DEV "/PNP0C80:00/physical_node%u", i);
                        snprintf(target, sizeof(target), "../../../system/memory/memory%u", b->first + i);
                        assert_int_equal(fake_sysfs_symlink(b->f, target, rel), 0);
                        snprintf(rel, sizeof(rel), "sys/devices/system/memory/memory%u/firmware_node", b->first + i);
                        snprintf(target, sizeof(target), "../../../LNXSYSTM:00/LNXSYBUS:00/PNP0C80:00");
                        assert_int_equal(fake_sysfs_symlink(b->f, target, rel), 0);
                }
        }
}

/* The kernel binds the DIMM right after its last block (acpi_memory_
 * enable_device()): bound at dhpd's first pause, a yield, the wait ends
 * there on the blocks' own firmware_node, without a 1 ms poll of the ACPI
 * devices or a second one for a stable count. */
static void bind_at_first_yield(void *p, uint64_t ns) {
        struct binder *b = p;

        if (++b->sleeps == 1 && ns == 0)
                acpi_memdev_bind(b->f, "PNP0C80:00", b->first, b->n);
}

static void test_dimm_bound_at_first_yield(void **state) {
        struct fixture *fx = *state;
        struct binder b = { .f = &fx->f, .first = 32, .n = 8 };
        struct sysfs_writer w = { .sleep = bind_at_first_yield, .userdata = &b };

        start_with(fx, 0, &w);
        assert_int_equal(fake_sysfs_add_memory(&fx->f, BLOCK, 32, 8, "offline", "Normal Movable"), 0);
        acpi_memdev_unbound(fx, "PNP0C80:00", "15\n");
        for (uint32_t i = 32; i < 40; i++)
                send_block_add(fx, i);
        assert_int_equal(linux_platform_process(fx->lp), 8);
        assert_int_equal(b.sleeps, 1);
        for (uint32_t i = 33; i < 40; i++)
                assert_int_equal(device_of(fx, i), device_of(fx, 32));
        for (uint32_t i = 32; i < 40; i++)
                assert_block_state(fx, i, "online_movable");
}

static void test_dimm_bound_in_steps_is_one_device(void **state) {
        struct fixture *fx = *state;
        struct binder b = { .f = &fx->f, .first = 32, .n = 8 };
        struct sysfs_writer w = { .sleep = bind_in_two_steps, .userdata = &b };

        start_with(fx, 0, &w);
        assert_int_equal(fake_sysfs_add_memory(&fx->f, BLOCK, 32, 8, "offline", "Normal Movable"), 0);
        acpi_memdev_unbound(fx, "PNP0C80:00", "15\n");
        send_block_add(fx, 32);
        assert_true(linux_platform_process(fx->lp) >= 1);
        for (uint32_t i = 33; i < 40; i++)
                assert_int_equal(device_of(fx, i), device_of(fx, 32));
}

/* Seen on 6.1 under QEMU: the first block's add uevent is handled before
 * the kernel has bound the DIMM's blocks to PNP0C80:00, and a 1 GiB DIMM
 * became two memory devices (1 + 7 blocks).  dhpd must wait for the
 * binding and make one device of the whole DIMM. */
static void test_dimm_grouped_after_late_binding(void **state) {
        struct fixture *fx = *state;
        struct binder b = { .f = &fx->f, .first = 32, .n = 8 };
        struct sysfs_writer w = { .sleep = bind_on_sleep, .userdata = &b };

        start_with(fx, 0, &w);
        assert_int_equal(fake_sysfs_add_memory(&fx->f, BLOCK, 32, 8, "offline", "Normal Movable"), 0);
        acpi_memdev_unbound(fx, "PNP0C80:00", "15\n");
        acpi_memdev_unbound(fx, "PNP0C80:01", "0\n"); /* an empty slot: never waited for */
        send_block_add(fx, 32);
        assert_true(linux_platform_process(fx->lp) >= 1);
        assert_true(b.sleeps >= 2); /* it did wait for the binding */

        for (uint32_t i = 33; i < 40; i++)
                assert_int_equal(device_of(fx, i), device_of(fx, 32));
        for (uint32_t i = 32; i < 40; i++)
                assert_block_state(fx, i, "online_movable");
        assert_true(device_of(fx, 32) != device_of(fx, 0));

        /* The other blocks' add uevents, late: nothing new. */
        for (uint32_t i = 33; i < 40; i++)
                send_block_add(fx, i);
        assert_int_equal(linux_platform_process(fx->lp), 7);
        assert_int_equal(device_of(fx, 39), device_of(fx, 32));
}

/* A present ACPI memory device that never gets blocks (its add failed):
 * waited for once, acpi_bind_wait_ns, then grouping goes on without it. */
static void test_unbound_device_given_up(void **state) {
        struct fixture *fx = *state;
        uint64_t t0;

        start(fx, 20 * NSEC_PER_MSEC);
        acpi_memdev_unbound(fx, "PNP0C80:00", "15\n");
        assert_int_equal(fake_sysfs_add_memory(&fx->f, BLOCK, 32, 2, "offline", "Normal Movable"), 0);
        t0 = time_now_ns();
        send_block_add(fx, 32);
        send_block_add(fx, 33);
        assert_int_equal(linux_platform_process(fx->lp), 2);
        assert_true(time_now_ns() - t0 >= 20 * NSEC_PER_MSEC);
        assert_int_equal(device_of(fx, 33), device_of(fx, 32));
        assert_block_state(fx, 32, "online_movable");

        /* Not waited for again. */
        assert_int_equal(fake_sysfs_add_memory(&fx->f, BLOCK, 40, 1, "offline", "Normal Movable"), 0);
        t0 = time_now_ns();
        send_block_add(fx, 40);
        assert_int_equal(linux_platform_process(fx->lp), 1);
        assert_true(time_now_ns() - t0 < 20 * NSEC_PER_MSEC);
        assert_block_state(fx, 40, "online_movable");
}

/* Seen on 6.1 under QEMU: a cgroup with an empty cpuset.cpus (its
 * parent's CPUs) gets a hot-added CPU at the online write, before
 * admission.  A managed one is pinned to its effective CPUs at start;
 * explicit lists and unmanaged groups are left alone. */
static void test_managed_cgroup_pinned(void **state) {
        struct fixture *fx = *state;
        struct linux_config c;
        char buf[64];

        assert_int_equal(fake_sysfs_write(&fx->f, "sys/fs/cgroup/a.slice/cpuset.cpus", "\n"), 0);
        assert_int_equal(fake_sysfs_write(&fx->f, "sys/fs/cgroup/a.slice/cpuset.cpus.effective", "0\n"), 0);
        assert_int_equal(fake_sysfs_write(&fx->f, "sys/fs/cgroup/b.slice/cpuset.cpus", "0\n"), 0);
        assert_int_equal(fake_sysfs_write(&fx->f, "sys/fs/cgroup/c.slice/cpuset.cpus", "\n"), 0);
        assert_int_equal(fake_sysfs_write(&fx->f, "sys/fs/cgroup/c.slice/cpuset.cpus.effective", "0\n"), 0);
        linux_config_defaults(&c);
        c.root = fx->f.root;
        c.uevent_fd = fx->sv[0];
        c.cgroups[0] = "a.slice";
        c.cgroups[1] = "b.slice";
        c.cgroups[2] = "gone.slice";
        c.ncgroups = 3;
        assert_int_equal(linux_platform_new(&fx->lp, &c, NULL), 0);
        assert_int_equal(linux_platform_start(fx->lp), 0);
        assert_int_equal(fake_sysfs_read(&fx->f, "sys/fs/cgroup/a.slice/cpuset.cpus", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0");
        assert_int_equal(fake_sysfs_read(&fx->f, "sys/fs/cgroup/b.slice/cpuset.cpus", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0\n");
        assert_int_equal(fake_sysfs_read(&fx->f, "sys/fs/cgroup/c.slice/cpuset.cpus", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_dimm_grouped_after_late_binding, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dimm_bound_in_steps_is_one_device, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dimm_bound_at_first_yield, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unbound_device_given_up, setup, teardown),
                cmocka_unit_test_setup_teardown(test_managed_cgroup_pinned, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
