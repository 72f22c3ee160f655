/* SPDX-License-Identifier: MIT */
/*
 * Removal on the Linux platform (doc/model.md, "Removal"; the kernels'
 * sequences are in tests/e2e/PROBES.md) against a fake sysfs tree, with
 * uevents in the kernel's wire format through a socketpair: an ACPI CPU
 * eject, a processor removal dhp carries out (and a veto, and an eject
 * during its query), a DIMM eject, a memory removal with a block that
 * refuses to go offline, and a virtio-mem device grown then shrunk.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "fake-sysfs.h"
#include "helpers.h"
#include "linux-fixture.h"
#include "platform/linux/linux.h"

#define BS (128ULL << 20)

/* The index of the first write containing `frag`, or -1. */
static int write_index(const struct linux_fixture_writes *w, const char *frag) {
        for (int i = 0; i < w->n; i++)
                if (strstr(w->log[i], frag))
                        return i;
        return -1;
}

static void block_uevent(struct linux_fixture *f, const char *action, unsigned block) {
        char p[96];

        snprintf(p, sizeof(p), "/devices/system/memory/memory%u", block);
        linux_fixture_send_uevent(f, action, p, "memory");
}

/* Boot: cpu0-2 online of 4 possible; blocks 0-7 online; cgroup app.slice
 * with cpuset 0-2. */
static void setup_tree(struct linux_fixture *f) {
        assert_int_equal(fake_sysfs_init(&f->fs), 0);
        assert_int_equal(fake_sysfs_add_cpus(&f->fs, 3, "0-2"), 0);
        assert_int_equal(fake_sysfs_write(&f->fs, "sys/devices/system/cpu/possible", "0-3\n"), 0);
        assert_int_equal(fake_sysfs_add_memory(&f->fs, BS, 0, 8, "online", "Normal"), 0);
        assert_int_equal(fake_sysfs_write(&f->fs, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-2\n"), 0);
}

static uint64_t settle_ns = 200 * 1000000ULL;

static void settle(struct linux_config *lc) {
        lc->vmem_settle_ns = settle_ns;
}

struct events {
        char log[64];
        size_t n;
        uint64_t base, size;
        char name[64];
};

static void ev_add(struct events *v, char c) {
        if (v->n + 1 < sizeof(v->log))
                v->log[v->n++] = c;
        v->log[v->n] = 0;
}

static void arrival_cb(void *userdata, const dhp_device_event *e) {
        struct events *v = userdata;

        ev_add(v, dhp_device_event_get_event(e) == DHP_EVENT_ARRIVAL ? 'A' : 'R');
        if (dhp_device_event_is_surprise(e))
                ev_add(v, 'S');
        snprintf(v->name, sizeof(v->name), "%s", dhp_device_event_get_name(e));
        dhp_device_event_get_memory(e, &v->base, &v->size);
}

/* A removal callback that looks at sysfs at the query. */
struct observer {
        struct linux_fixture *f;
        struct events ev;
        char cgroup_at_query[32], online_at_query[8];
        int veto;
        bool eject_in_query;
};

static void observer_cb(void *userdata, const dhp_proc_change *c) {
        struct observer *o = userdata;

        switch (dhp_proc_change_get_state(c)) {
        case DHP_PROC_REMOVE_QUERY:
                ev_add(&o->ev, 'Q');
                fake_sysfs_read(&o->f->fs, "sys/fs/cgroup/app.slice/cpuset.cpus", o->cgroup_at_query,
                                sizeof(o->cgroup_at_query));
                o->cgroup_at_query[strcspn(o->cgroup_at_query, "\n")] = 0;
                fake_sysfs_read(&o->f->fs, "sys/devices/system/cpu/cpu2/online", o->online_at_query,
                                sizeof(o->online_at_query));
                o->online_at_query[strcspn(o->online_at_query, "\n")] = 0;
                if (o->veto)
                        dhp_proc_change_veto(c, o->veto);
                if (o->eject_in_query)
                        assert_int_equal(fake_sysfs_unlink(&o->f->fs, "sys/devices/system/cpu/cpu2/online"), 0);
                break;
        case DHP_PROC_REMOVE_COMPLETE:
                ev_add(&o->ev, 'C');
                if (dhp_proc_change_is_surprise(c))
                        ev_add(&o->ev, 'S');
                break;
        case DHP_PROC_REMOVE_CANCEL:
                ev_add(&o->ev, 'X');
                break;
        default:
                break;
        }
}

/* PROBES.md, "ACPI CPU unplug": offline, unbind, remove; one REMOVAL,
 * flagged surprise, after the cgroup was narrowed. */
static void test_cpu_eject(void **state) {
        struct linux_fixture f = { 0 };
        struct observer o = { .f = &f };
        struct events arr = { 0 };
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        dhp_proc_state ps;

        setup_tree(&f);
        linux_fixture_start(&f, settle);
        assert_int_equal(procnotify_register(f.e, "obs", DHP_PROC_QUERY_REMOVE, observer_cb, &o, &reg), 0);
        assert_int_equal(arrival_register(f.e, "arr", DHP_CLASS_PROCESSOR, 0, arrival_cb, &arr, &areg), 0);
        assert_int_equal(fake_sysfs_write(&f.fs, "sys/devices/system/cpu/cpu2/online", "0\n"), 0);
        linux_fixture_send_uevent(&f, "offline", "/devices/system/cpu/cpu2", "cpu");
        linux_fixture_send_uevent(&f, "unbind", "/devices/system/cpu/cpu2", "cpu");
        linux_fixture_send_uevent(&f, "remove", "/devices/system/cpu/cpu2", "cpu");
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(o.ev.log, "CS");
        assert_string_equal(arr.log, "RS");
        linux_fixture_expect_file(&f, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-1");
        assert_int_equal(engine_cpu_get_state(f.e, 2, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ABSENT);
        assert_true(recorder_find(&f.rec, 0, "\"REMOVED_SURPRISE\"", "\"processor\":2", NULL) >= 0);
        procnotify_deregister(reg);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

/* dhp's own removal: query (cgroup still wide, cpu online), narrow, then
 * offline; the kernel's offline uevent that follows is no second REMOVAL.
 * A veto writes nothing. */
static void test_cpu_remove_and_veto(void **state) {
        struct linux_fixture f = { 0 };
        struct observer o = { .f = &f, .veto = -EBUSY };
        struct events arr = { 0 };
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        int status = 0;

        setup_tree(&f);
        linux_fixture_start(&f, settle);
        assert_int_equal(procnotify_register(f.e, "obs", DHP_PROC_QUERY_REMOVE, observer_cb, &o, &reg), 0);
        assert_int_equal(arrival_register(f.e, "arr", DHP_CLASS_PROCESSOR, 0, arrival_cb, &arr, &areg), 0);
        assert_int_equal(engine_cpu_remove(f.e, 2, 0, &status), 1);
        assert_int_equal(status, -EBUSY);
        assert_int_equal(f.w.n, 0);
        assert_string_equal(o.ev.log, "QX");

        o.veto = 0;
        assert_int_equal(engine_cpu_remove(f.e, 2, 0, &status), 0);
        assert_string_equal(o.cgroup_at_query, "0-2");
        assert_string_equal(o.online_at_query, "1");
        linux_fixture_expect_file(&f, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-1");
        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu2/online", "0");
        assert_true(write_index(&f.w, "cpuset.cpus=0-1") >= 0);
        assert_true(write_index(&f.w, "cpuset.cpus=0-1") < write_index(&f.w, "cpu2/online=0"));
        linux_fixture_send_uevent(&f, "offline", "/devices/system/cpu/cpu2", "cpu");
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(o.ev.log, "QXQC");
        assert_string_equal(arr.log, "R");
        procnotify_deregister(reg);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

/* R39: ejected while the query runs: the offline finds it gone, the
 * removal completes as a surprise, one REMOVAL. */
static void test_cpu_eject_during_query(void **state) {
        struct linux_fixture f = { 0 };
        struct observer o = { .f = &f, .eject_in_query = true };
        struct events arr = { 0 };
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        dhp_proc_state ps;
        int status = 1;

        setup_tree(&f);
        linux_fixture_start(&f, settle);
        assert_int_equal(procnotify_register(f.e, "obs", DHP_PROC_QUERY_REMOVE, observer_cb, &o, &reg), 0);
        assert_int_equal(arrival_register(f.e, "arr", DHP_CLASS_PROCESSOR, 0, arrival_cb, &arr, &areg), 0);
        assert_int_equal(engine_cpu_remove(f.e, 2, 0, &status), 0);
        assert_int_equal(status, 0);
        linux_fixture_send_uevent(&f, "remove", "/devices/system/cpu/cpu2", "cpu");
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(o.ev.log, "QCS");
        assert_string_equal(arr.log, "RS");
        assert_int_equal(engine_cpu_get_state(f.e, 2, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ABSENT);
        procnotify_deregister(reg);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

static void add_dimm(struct linux_fixture *f, uint32_t first, uint32_t n) {
        char rel[96];

        assert_int_equal(fake_sysfs_add_memory(&f->fs, BS, first, n, "offline", "Normal Movable"), 0);
        assert_int_equal(fake_sysfs_add_acpi_memdev(&f->fs, "PNP0C80:00", first, n), 0);
        for (uint32_t b = first; b < first + n; b++)
                block_uevent(f, "add", b);
        linux_platform_process(f->lp);
        for (uint32_t b = first; b < first + n; b++) {
                snprintf(rel, sizeof(rel), "sys/devices/system/memory/memory%u/state", b);
                linux_fixture_expect_file(f, rel, "online_movable");
        }
}

/* PROBES.md, "ACPI DIMM unplug": every block offline, then every block
 * removed; one REMOVAL of the whole DIMM, after its last block. */
static void test_dimm_eject(void **state) {
        struct linux_fixture f = { 0 };
        struct events arr = { 0 };
        dhp_arrival_reg *areg;
        struct engine_mem_info mi;
        uint64_t dev;

        setup_tree(&f);
        linux_fixture_start(&f, settle);
        assert_int_equal(arrival_register(f.e, "arr", DHP_CLASS_MEMORY, 0, arrival_cb, &arr, &areg), 0);
        add_dimm(&f, 8, 2);
        engine_dispatch(f.e);
        assert_string_equal(arr.log, "A");
        assert_int_equal(engine_mem_block_get(f.e, 8, &dev, NULL), 0);
        block_uevent(&f, "offline", 8);
        block_uevent(&f, "offline", 9);
        block_uevent(&f, "remove", 8);
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(arr.log, "A"); /* not before its last block */
        block_uevent(&f, "remove", 9);
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(arr.log, "ARS");
        assert_true(arr.base == 8 * BS);
        assert_true(arr.size == 2 * BS);
        assert_int_equal(engine_mem_device_info(f.e, dev, &mi), 0);
        assert_true(mi.removed);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

/* dhp's memory removal: every block offline, REMOVAL; a block that refuses
 * (EBUSY after the writer's retries): the others online again, cancel. */
static void test_memory_remove_refused_block(void **state) {
        struct linux_fixture f = { 0 };
        struct events arr = { 0 };
        dhp_arrival_reg *areg;
        uint64_t dev;
        int status = 0;

        setup_tree(&f);
        linux_fixture_start(&f, settle);
        assert_int_equal(arrival_register(f.e, "arr", DHP_CLASS_MEMORY, 0, arrival_cb, &arr, &areg), 0);
        add_dimm(&f, 8, 2);
        engine_dispatch(f.e);
        assert_int_equal(engine_mem_block_get(f.e, 8, &dev, NULL), 0);
        f.w = (struct linux_fixture_writes){ .fail_err = -EBUSY, .fail_path = "memory9/state", .fail_value = "offline",
                                             .fail_times = -1 };
        assert_int_equal(engine_mem_remove(f.e, dev, &status), 1);
        assert_int_equal(status, -EBUSY);
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory8/state", "online_movable");
        assert_true(write_index(&f.w, "memory8/state=offline") < write_index(&f.w, "memory8/state=online_movable"));
        assert_true(recorder_find(&f.rec, 0, "\"OFFLINE_FAILED\"", "\"block\":9", "\"EBUSY\"", NULL) >= 0);

        f.w = (struct linux_fixture_writes){ 0 };
        assert_int_equal(engine_mem_remove(f.e, dev, &status), 0);
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory8/state", "offline");
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory9/state", "offline");
        /* The kernel's uevents for our writes change nothing more. */
        block_uevent(&f, "offline", 8);
        block_uevent(&f, "offline", 9);
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(arr.log, "AR");
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

static void add_vmem_blocks(struct linux_fixture *f, uint32_t first, uint32_t n, const char *state) {
        char rel[96];

        assert_int_equal(fake_sysfs_add_memory(&f->fs, BS, first, n, state, "Movable"), 0);
        for (uint32_t b = first; b < first + n; b++) {
                snprintf(rel, sizeof(rel), "sys/devices/system/memory/memory%u/node0/x", b);
                assert_int_equal(fake_sysfs_write(&f->fs, rel, ""), 0);
        }
}

/* PROBES.md, "virtio-mem": blocks one at a time, no end marker; one ARRIVAL
 * per grow and one REMOVAL per shrink, named after the device. */
static void test_virtio_mem_grow_shrink(void **state) {
        struct linux_fixture f = { 0 };
        struct events arr = { 0 };
        dhp_arrival_reg *areg;
        struct engine_mem_info mi;
        uint64_t dev;

        setup_tree(&f);
        assert_int_equal(fake_sysfs_write(&f.fs, "proc/iomem",
                                          "00000000-3fffffff : System RAM\n"
                                          "100000000-17fffffff : virtio0\n"
                                          "  100000000-13fffffff : System RAM (virtio_mem)\n"),
                         0);
        assert_int_equal(fake_sysfs_write(&f.fs, "sys/bus/virtio/devices/virtio0/device", "0x0018\n"), 0);
        linux_fixture_start(&f, settle);
        assert_int_equal(arrival_register(f.e, "arr", DHP_CLASS_MEMORY, 0, arrival_cb, &arr, &areg), 0);

        /* Grow to 1 GiB in two drains: 3 blocks, then 5 (one of them
         * onlined by the kernel itself, as 6.12 does). */
        add_vmem_blocks(&f, 32, 3, "offline");
        for (unsigned b = 32; b < 35; b++)
                block_uevent(&f, "add", b);
        linux_platform_process(f.lp);
        add_vmem_blocks(&f, 35, 4, "offline");
        add_vmem_blocks(&f, 39, 1, "online");
        for (unsigned b = 35; b < 40; b++)
                block_uevent(&f, "add", b);
        block_uevent(&f, "online", 39);
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(arr.log, ""); /* the step is not over */
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory36/state", "online_movable");
        assert_true(linux_platform_next_timeout_ms(f.lp) >= 0);
        usleep((useconds_t)(settle_ns / 1000 + 50000));
        assert_int_equal(linux_platform_next_timeout_ms(f.lp), 0);
        linux_platform_tick(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(arr.log, "A");
        assert_string_equal(arr.name, "virtio-mem:virtio0");
        assert_true(arr.base == 32 * BS);
        assert_true(arr.size == 8 * BS);
        assert_int_equal(linux_platform_next_timeout_ms(f.lp), -1);

        /* Shrink by 2 blocks from the top: (offline, remove), then a bare
         * remove (6.1's default leaves blocks offline). */
        block_uevent(&f, "offline", 39);
        block_uevent(&f, "remove", 39);
        linux_platform_process(f.lp);
        block_uevent(&f, "remove", 38);
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(arr.log, "A");
        usleep((useconds_t)(settle_ns / 1000 + 50000));
        linux_platform_tick(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(arr.log, "ARS");
        assert_true(arr.base == 38 * BS);
        assert_true(arr.size == 2 * BS);
        assert_int_equal(engine_mem_block_get(f.e, 32, &dev, NULL), 0);
        assert_int_equal(engine_mem_device_info(f.e, dev, &mi), 0);
        assert_true(mi.virtio);
        assert_int_equal(mi.node, 0);
        assert_string_equal(mi.name, "virtio-mem:virtio0");
        assert_true(mi.size == 6 * BS); /* plugged */
        assert_true(mi.base == 32 * BS);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

/* At start, plugged and online virtio-mem memory is existing: the device
 * is known, no ARRIVAL. */
static void test_virtio_mem_at_start(void **state) {
        struct linux_fixture f = { 0 };
        struct engine_mem_info mi;
        uint64_t dev;

        setup_tree(&f);
        assert_int_equal(fake_sysfs_write(&f.fs, "proc/iomem", "100000000-17fffffff : virtio3\n"), 0);
        assert_int_equal(fake_sysfs_write(&f.fs, "sys/bus/virtio/devices/virtio3/device", "0x0018\n"), 0);
        add_vmem_blocks(&f, 32, 2, "online");
        linux_fixture_start(&f, settle);
        assert_int_equal(engine_mem_block_get(f.e, 33, &dev, NULL), 0);
        assert_int_equal(engine_mem_device_info(f.e, dev, &mi), 0);
        assert_string_equal(mi.name, "virtio-mem:virtio3");
        assert_true(mi.arrived);
        assert_true(mi.size == 2 * BS);
        assert_int_equal(engine_dispatch(f.e), 0);
        linux_fixture_stop(&f);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

/* The kernel removed a directory of the tree (a block's, on eject). */
static void rm_tree(struct linux_fixture *f, const char *rel) {
        char p[512];

        assert_int_equal(fake_sysfs_path(&f->fs, rel, p, sizeof(p)), 0);
        assert_int_equal(nftw(p, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

/* L6: removals whose uevents were lost (a SEQNUM gap) are found by the
 * resync, as if their uevents had come: one REMOVAL each, surprise. */
static void test_lost_removals_found_by_resync(void **state) {
        struct linux_fixture f = { 0 };
        struct events cpus = { 0 }, mem = { 0 };
        dhp_arrival_reg *a1, *a2;
        dhp_proc_state ps;
        uint64_t dev;
        struct engine_mem_info mi;

        setup_tree(&f);
        linux_fixture_start(&f, settle);
        assert_int_equal(arrival_register(f.e, "cpus", DHP_CLASS_PROCESSOR, 0, arrival_cb, &cpus, &a1), 0);
        assert_int_equal(arrival_register(f.e, "mem", DHP_CLASS_MEMORY, 0, arrival_cb, &mem, &a2), 0);
        add_dimm(&f, 8, 2);
        engine_dispatch(f.e);
        assert_int_equal(engine_mem_block_get(f.e, 8, &dev, NULL), 0);
        /* cpu2 ejected, the DIMM ejected: all while the socket overflowed. */
        assert_int_equal(fake_sysfs_write(&f.fs, "sys/devices/system/cpu/present", "0-1\n"), 0);
        assert_int_equal(fake_sysfs_write(&f.fs, "sys/devices/system/cpu/online", "0-1\n"), 0);
        rm_tree(&f, "sys/devices/system/cpu/cpu2");
        rm_tree(&f, "sys/devices/system/memory/memory8");
        rm_tree(&f, "sys/devices/system/memory/memory9");
        f.seq += 10;
        linux_fixture_send_uevent(&f, "change", "/devices/system/cpu/cpu0", "cpu");
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_string_equal(cpus.log, "RS");
        assert_string_equal(cpus.name, "cpu2");
        assert_int_equal(engine_cpu_get_state(f.e, 2, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ABSENT);
        assert_string_equal(mem.log, "ARS");
        assert_true(mem.size == 2 * BS);
        assert_int_equal(engine_mem_device_info(f.e, dev, &mi), 0);
        assert_true(mi.removed);
        linux_fixture_expect_file(&f, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-1");
        arrival_unregister(a1);
        arrival_unregister(a2);
        linux_fixture_stop(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpu_eject),
                cmocka_unit_test(test_cpu_remove_and_veto),
                cmocka_unit_test(test_cpu_eject_during_query),
                cmocka_unit_test(test_dimm_eject),
                cmocka_unit_test(test_memory_remove_refused_block),
                cmocka_unit_test(test_virtio_mem_grow_shrink),
                cmocka_unit_test(test_virtio_mem_at_start),
                cmocka_unit_test(test_lost_removals_found_by_resync),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
