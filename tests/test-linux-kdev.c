/* SPDX-License-Identifier: MIT */
/*
 * Kernel devices in the rebalance: after a processor add, the IRQ affinity
 * of a Storage device is written to include the new CPU, a Net device's is
 * not (class opt-out) unless configured to participate, a managed IRQ is
 * skipped and reported, and a memory add writes nothing.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/rebalance.h"
#include "fake-sysfs.h"
#include "helpers.h"
#include "platform/linux/kdev.h"
#include "platform/linux/linux.h"

struct fx {
        struct fake_sysfs fs;
        int sv[2];
        uint64_t seq;
        struct linux_platform *lp;
        struct engine *e;
        struct rebalance *rb;
        struct kdevs *k;
        struct sysfs_writer w;
        uint32_t managed_irq;
};

static int managed_write(void *userdata, const char *path, const char *value, size_t len) {
        struct fx *f = userdata;
        char needle[64];

        snprintf(needle, sizeof(needle), "/irq/%u/", f->managed_irq);
        if (f->managed_irq && strstr(path, needle))
                return -EIO; /* what the kernel answers for a managed IRQ */
        return sysfs_write_file(NULL, path, value, len);
}

static void setup(struct fx *f, const struct kdev_policy *pol, size_t npol) {
        static const uint32_t disk_msi[] = { 24, 25 }, nic_msi[] = { 26 };
        struct linux_config lc;

        assert_int_equal(fake_sysfs_init(&f->fs), 0);
        assert_int_equal(fake_sysfs_add_cpus(&f->fs, 2, "0-1"), 0);
        assert_int_equal(fake_sysfs_write(&f->fs, "sys/devices/system/cpu/possible", "0-3\n"), 0);
        assert_int_equal(fake_sysfs_add_pci(&f->fs, "0000:00:04.0", 0x010802, 0, disk_msi, 2), 0);
        assert_int_equal(fake_sysfs_add_pci(&f->fs, "0000:00:03.0", 0x020000, 0, nic_msi, 1), 0);
        assert_int_equal(fake_sysfs_add_irq(&f->fs, 24, "0-1"), 0);
        assert_int_equal(fake_sysfs_add_irq(&f->fs, 25, "0-1"), 0);
        assert_int_equal(fake_sysfs_add_irq(&f->fs, 26, "0-1"), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, f->sv), 0);
        f->w = (struct sysfs_writer){ .write = managed_write, .userdata = f };
        linux_config_defaults(&lc);
        lc.root = f->fs.root;
        lc.uevent_fd = f->sv[0];
        assert_int_equal(linux_platform_new(&f->lp, &lc, NULL), 0);
        f->e = linux_platform_engine(f->lp);
        assert_int_equal(rebalance_new(f->e, &f->rb), 0);
        assert_int_equal(kdevs_new(&f->k, f->rb, f->fs.root, &f->w, pol, npol, NULL), 0);
        assert_int_equal(linux_platform_start(f->lp), 0);
}

static void teardown(struct fx *f) {
        kdevs_free(f->k);
        linux_platform_free(f->lp);
        rebalance_free(f->rb);
        close(f->sv[1]);
        fake_sysfs_deinit(&f->fs);
}

static void add_cpu(struct fx *f, unsigned cpu) {
        char rel[128], msg[256];
        int n;

        snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/online", cpu);
        assert_int_equal(fake_sysfs_write(&f->fs, rel, "0\n"), 0);
        assert_int_equal(fake_sysfs_printf(&f->fs, "sys/devices/system/cpu/present", "0-%u\n", cpu), 0);
        n = snprintf(msg, sizeof(msg), "add@/devices/system/cpu/cpu%u%cACTION=add%cDEVPATH=/devices/system/cpu/cpu%u%c"
                     "SUBSYSTEM=cpu%cSEQNUM=%llu", cpu, 0, 0, cpu, 0, 0, (unsigned long long)++f->seq);
        assert_int_equal(send(f->sv[1], msg, (size_t)n + 1, 0), n + 1);
        linux_platform_process(f->lp);
        engine_dispatch(f->e); /* arrival, then the rebalance */
}

static void expect_irq(struct fx *f, unsigned irq, const char *affinity) {
        char rel[64], buf[64];

        snprintf(rel, sizeof(rel), "proc/irq/%u/smp_affinity_list", irq);
        assert_true(fake_sysfs_read(&f->fs, rel, buf, sizeof(buf)) >= 0);
        buf[strcspn(buf, "\n")] = 0;
        if (strcmp(buf, affinity) != 0)
                fail_msg("IRQ %u: affinity %s, expected %s", irq, buf, affinity);
}

static void test_storage_rebalanced_net_not(void **state) {
        struct fx f = { 0 };
        struct kdev_stats st;

        setup(&f, NULL, 0);
        kdevs_stats(f.k, &st);
        assert_int_equal(st.devices, 2);
        add_cpu(&f, 2);
        expect_irq(&f, 24, "0-2");
        expect_irq(&f, 25, "0-2");
        expect_irq(&f, 26, "0-1"); /* Net: the class opts out */
        teardown(&f);
}

static void test_net_participates_by_config_storage_excluded(void **state) {
        const struct kdev_policy pol[] = { { "class:Net", 2 }, { "0000:00:04.0", 1 } };
        struct fx f = { 0 };

        setup(&f, pol, 2);
        add_cpu(&f, 2);
        expect_irq(&f, 26, "0-2");
        expect_irq(&f, 24, "0-1");
        teardown(&f);
}

static void test_managed_irq_skipped_and_reported(void **state) {
        struct fx f = { .managed_irq = 25 };
        struct kdev_stats st;

        setup(&f, NULL, 0);
        add_cpu(&f, 2);
        expect_irq(&f, 24, "0-2");
        expect_irq(&f, 25, "0-1");
        kdevs_stats(f.k, &st);
        assert_int_equal(st.irqs_written, 1);
        assert_int_equal(st.irqs_managed, 1);
        teardown(&f);
}

static void test_memory_add_writes_no_affinity(void **state) {
        struct fx f = { 0 };
        struct kdev_stats st;
        char msg[256];
        int n;

        setup(&f, NULL, 0);
        assert_int_equal(fake_sysfs_add_memory(&f.fs, 128ULL << 20, 8, 1, "offline", "Movable"), 0);
        n = snprintf(msg, sizeof(msg), "add@/devices/system/memory/memory8%cACTION=add%c"
                     "DEVPATH=/devices/system/memory/memory8%cSUBSYSTEM=memory%cSEQNUM=1", 0, 0, 0, 0);
        assert_int_equal(send(f.sv[1], msg, (size_t)n + 1, 0), n + 1);
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        kdevs_stats(f.k, &st);
        assert_int_equal(st.irqs_written + st.irqs_managed + st.irqs_failed, 0);
        expect_irq(&f, 24, "0-1");
        teardown(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_storage_rebalanced_net_not),
                cmocka_unit_test(test_net_participates_by_config_storage_excluded),
                cmocka_unit_test(test_managed_irq_skipped_and_reported),
                cmocka_unit_test(test_memory_add_writes_no_affinity),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
