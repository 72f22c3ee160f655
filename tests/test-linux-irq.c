/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fake-sysfs.h"
#include "platform/linux/irq.h"

static void test_scan(void **state) {
        struct fake_sysfs *f = *state;
        struct irq_pci_list l = { 0 };
        static const uint32_t nic_msi[] = { 27, 25, 26 };
        static const uint32_t nvme_msi[] = { 30 };

        assert_int_equal(irq_pci_scan(f->root, &l), 0); /* no PCI bus: empty */
        assert_int_equal(l.n, 0);

        assert_int_equal(fake_sysfs_add_pci(f, "0000:00:03.0", 0x020000, 11, nic_msi, 3), 0);
        assert_int_equal(fake_sysfs_add_pci(f, "0000:00:01.0", 0x060100, 0, NULL, 0), 0);
        assert_int_equal(fake_sysfs_add_pci(f, "0000:00:04.0", 0x010802, 10, nvme_msi, 1), 0);
        assert_int_equal(irq_pci_scan(f->root, &l), 0);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.devs[0].bdf, "0000:00:01.0");
        assert_false(l.devs[0].is_net);
        assert_int_equal(l.devs[0].legacy_irq, 0);
        assert_int_equal(l.devs[0].n_msi, 0);
        assert_string_equal(l.devs[1].bdf, "0000:00:03.0");
        assert_true(l.devs[1].is_net);
        assert_int_equal(l.devs[1].pci_class, 0x020000);
        assert_int_equal(l.devs[1].legacy_irq, 11);
        assert_int_equal(l.devs[1].n_msi, 3);
        assert_int_equal(l.devs[1].msi_irqs[0], 25);
        assert_int_equal(l.devs[1].msi_irqs[2], 27);
        assert_false(l.devs[2].is_net);
        irq_pci_list_deinit(&l);

        assert_int_equal(fake_sysfs_write(f, "sys/devices/pci0000:00/0000:00:04.0/class", "nvme\n"), 0);
        assert_int_equal(irq_pci_scan(f->root, &l), -EBADMSG);
}

static int eio_write(void *userdata, const char *path, const char *value, size_t len) {
        int *calls = userdata;
        (*calls)++;
        return -EIO;
}

static void test_affinity(void **state) {
        struct fake_sysfs *f = *state;
        struct cpuset s = CPUSET_INIT;
        int calls = 0;
        struct sysfs_writer managed = { .write = eio_write, .userdata = &calls };
        char buf[64];

        assert_int_equal(fake_sysfs_add_irq(f, 25, "0-3"), 0);
        assert_int_equal(irq_affinity_read(f->root, 25, &s), 0);
        assert_int_equal(cpuset_count(&s), 4);
        assert_int_equal(cpuset_set(&s, 4), 0);
        assert_int_equal(irq_affinity_write(NULL, f->root, 25, &s), 0);
        assert_int_equal(fake_sysfs_read(f, "proc/irq/25/smp_affinity_list", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0-4");

        /* A kernel-managed IRQ refuses with EIO: a skip, tried once. */
        assert_int_equal(irq_affinity_write(&managed, f->root, 25, &s), IRQ_AFFINITY_MANAGED);
        assert_int_equal(calls, 1);

        assert_int_equal(irq_affinity_write(NULL, f->root, 99, &s), -ENOENT);
        cpuset_zero(&s);
        assert_int_equal(irq_affinity_write(NULL, f->root, 25, &s), -EINVAL);
        cpuset_deinit(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scan),
                cmocka_unit_test(test_affinity),
        };
        return cmocka_run_group_tests(tests, fake_sysfs_group_setup, fake_sysfs_group_teardown);
}
