/* SPDX-License-Identifier: MIT */
/*
 * The Linux platform end to end against a fake sysfs tree, with uevents in
 * the kernel's wire format through a socketpair: what dhpd writes, in which
 * order, and what the clients are told.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/memcond.h"
#include "fake-sysfs.h"
#include "helpers.h"
#include "linux-fixture.h"
#include "platform/linux/linux.h"

#define BS (128ULL << 20)

/* Boot partition: cpu0-1 online of 4 possible; memory blocks 0-7 online;
 * one managed cgroup app.slice with cpuset 0-1. */
static void setup_tree(struct linux_fixture *f) {
        assert_int_equal(fake_sysfs_init(&f->fs), 0);
        assert_int_equal(fake_sysfs_add_cpus(&f->fs, 2, "0-1"), 0);
        assert_int_equal(fake_sysfs_write(&f->fs, "sys/devices/system/cpu/possible", "0-3\n"), 0);
        assert_int_equal(fake_sysfs_add_memory(&f->fs, BS, 0, 8, "online", "Normal"), 0);
        assert_int_equal(fake_sysfs_write(&f->fs, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-1\n"), 0);
}

static void hotadd_cpu_in_tree(struct linux_fixture *f, unsigned cpu) {
        char rel[128];

        snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/online", cpu);
        assert_int_equal(fake_sysfs_write(&f->fs, rel, "0\n"), 0);
        /* The kernel lists a hot-added processor as present. */
        assert_int_equal(fake_sysfs_printf(&f->fs, "sys/devices/system/cpu/present", "0-%u\n", cpu), 0);
}

static void read_file(struct linux_fixture *f, const char *rel, char *buf, size_t size) {
        assert_int_equal(fake_sysfs_read(&f->fs, rel, buf, size) >= 0, 1);
        buf[strcspn(buf, "\n")] = 0;
}

/* ---- a synchronous client that looks at sysfs during its calls -------- */

struct observer {
        struct linux_fixture *f;
        char online_at_start[8];
        char cgroup_at_start[32];
        char cgroup_at_complete[32];
        int veto;
        int calls;
};

static void observer_cb(void *userdata, const dhp_proc_change *c) {
        struct observer *o = userdata;
        char rel[128];

        o->calls++;
        snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/online", dhp_proc_change_get_index(c));
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START) {
                read_file(o->f, rel, o->online_at_start, sizeof(o->online_at_start));
                read_file(o->f, "sys/fs/cgroup/app.slice/cpuset.cpus", o->cgroup_at_start,
                          sizeof(o->cgroup_at_start));
                if (o->veto)
                        dhp_proc_change_veto(c, o->veto);
        } else if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_COMPLETE) {
                read_file(o->f, "sys/fs/cgroup/app.slice/cpuset.cpus", o->cgroup_at_complete,
                          sizeof(o->cgroup_at_complete));
        }
}

static void nop_arrival(void *userdata, const dhp_device_event *e) {
}

static void test_cpu_add_runs_the_transaction(void **state) {
        struct linux_fixture f = { 0 };
        struct observer o = { .f = &f };
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        dhp_proc_state ps;
        long s, a, c, v;

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        assert_int_equal(procnotify_register(f.e, "obs", 0, observer_cb, &o, &reg), 0);
        assert_int_equal(arrival_register(f.e, "arr", DHP_CLASS_PROCESSOR, 0, nop_arrival, NULL, &areg), 0);

        hotadd_cpu_in_tree(&f, 2);
        linux_fixture_send_uevent(&f, "add", "/devices/system/cpu/cpu2", "cpu");
        assert_int_equal(linux_platform_process(f.lp), 1);
        assert_int_equal(engine_dispatch(f.e), 1);

        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu2/online", "1");
        /* ADD_START: started (online written) but not yet admitted into the
         * managed cgroup; ADD_COMPLETE: admitted. */
        assert_string_equal(o.online_at_start, "1");
        assert_string_equal(o.cgroup_at_start, "0-1");
        assert_string_equal(o.cgroup_at_complete, "0-2");
        assert_int_equal(engine_cpu_get_state(f.e, 2, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ADMITTED);
        s = recorder_find(&f.rec, 0, "\"ADD_START\"", "\"processor\":2,", NULL);
        a = recorder_find(&f.rec, 0, "\"ADMITTED\"", "\"processor\":2,", NULL);
        c = recorder_find(&f.rec, 0, "\"ADD_COMPLETE\"", "\"processor\":2,", NULL);
        v = recorder_find(&f.rec, 0, "\"ARRIVAL\"", "\"processor\":2,", NULL);
        assert_true(s >= 0 && s < a && a < c && c < v);
        /* Our own online coming back from the kernel changes nothing. */
        linux_fixture_send_uevent(&f, "online", "/devices/system/cpu/cpu2", "cpu");
        assert_int_equal(linux_platform_process(f.lp), 1);
        assert_int_equal(o.calls, 2);
        procnotify_deregister(reg);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

static void test_cpu_veto_takes_it_offline(void **state) {
        struct linux_fixture f = { 0 };
        struct observer o = { .f = &f, .veto = -EBUSY };
        dhp_proc_reg *reg;
        dhp_proc_state ps;
        struct linux_stats st;

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        assert_int_equal(procnotify_register(f.e, "obs", 0, observer_cb, &o, &reg), 0);
        hotadd_cpu_in_tree(&f, 2);
        linux_fixture_send_uevent(&f, "add", "/devices/system/cpu/cpu2", "cpu");
        linux_platform_process(f.lp);
        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu2/online", "0");
        linux_fixture_expect_file(&f, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-1");
        assert_int_equal(engine_cpu_get_state(f.e, 2, &ps), 0);
        assert_int_equal(ps, DHP_PROC_PRESENT);
        linux_platform_stats(f.lp, &st);
        assert_int_equal(st.cpu_offlined, 1);
        /* The kernel's uevents for our own online and offline writes come
         * after the rejection (seen in the QEMU e2e client-cpu scenario:
         * each one started a new transaction, vetoed again).  The online
         * was undone: nothing to do, no second ADD_START. */
        linux_fixture_send_uevent(&f, "online", "/devices/system/cpu/cpu2", "cpu");
        linux_fixture_send_uevent(&f, "offline", "/devices/system/cpu/cpu2", "cpu");
        linux_platform_process(f.lp);
        assert_int_equal(o.calls, 2);
        linux_fixture_send_uevent(&f, "online", "/devices/system/cpu/cpu2", "cpu");
        linux_platform_process(f.lp);
        assert_int_equal(o.calls, 2);
        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu2/online", "0");
        linux_platform_stats(f.lp, &st);
        assert_int_equal(st.cpu_offlined, 1);
        procnotify_deregister(reg);
        linux_fixture_stop(&f);
}

static void keep_online(struct linux_config *lc) {
        lc->veto_keep_online = true;
}

static void test_cpu_veto_keep_online(void **state) {
        struct linux_fixture f = { 0 };
        struct observer o = { .f = &f, .veto = -EBUSY };
        dhp_proc_reg *reg;
        dhp_proc_state ps;

        setup_tree(&f);
        linux_fixture_start(&f, keep_online);
        assert_int_equal(procnotify_register(f.e, "obs", 0, observer_cb, &o, &reg), 0);
        hotadd_cpu_in_tree(&f, 3);
        linux_fixture_send_uevent(&f, "add", "/devices/system/cpu/cpu3", "cpu");
        linux_platform_process(f.lp);
        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu3/online", "1");
        linux_fixture_expect_file(&f, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-1");
        assert_int_equal(engine_cpu_get_state(f.e, 3, &ps), 0);
        assert_int_equal(ps, DHP_PROC_STARTED);
        procnotify_deregister(reg);
        linux_fixture_stop(&f);
}

static void test_cpu_online_ebusy_retried(void **state) {
        struct linux_fixture f = { 0 };
        struct linux_stats st;

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        f.w = (struct linux_fixture_writes){ .fail_err = -EBUSY, .fail_path = "cpu2/online", .fail_times = 2 };
        hotadd_cpu_in_tree(&f, 2);
        linux_fixture_send_uevent(&f, "add", "/devices/system/cpu/cpu2", "cpu");
        linux_platform_process(f.lp);
        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu2/online", "1");
        linux_platform_stats(f.lp, &st);
        assert_int_equal(st.write_retries, 2);
        assert_int_equal(f.w.sleeps, 2);
        linux_fixture_stop(&f);
}

/* A 4-block DIMM: PNP0C80:00 over blocks 8-11. */
static void add_dimm(struct linux_fixture *f, const char *name, uint32_t first, uint32_t n, const char *state) {
        assert_int_equal(fake_sysfs_add_memory(&f->fs, BS, first, n, state, "Normal Movable"), 0);
        assert_int_equal(fake_sysfs_add_acpi_memdev(&f->fs, name, first, n), 0);
}

struct mem_arrivals {
        int n;
        uint64_t base, size;
};

static void mem_cb(void *userdata, const dhp_device_event *e) {
        struct mem_arrivals *m = userdata;

        m->n++;
        dhp_device_event_get_memory(e, &m->base, &m->size);
}

static void test_dimm_four_blocks_movable_one_arrival(void **state) {
        struct linux_fixture f = { 0 };
        struct mem_arrivals m = { 0 };
        dhp_arrival_reg *areg;
        char rel[128];
        long arrival;

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        assert_int_equal(arrival_register(f.e, "cache", DHP_CLASS_MEMORY, 0, mem_cb, &m, &areg), 0);
        add_dimm(&f, "PNP0C80:00", 8, 4, "offline");
        for (int b = 8; b < 12; b++) {
                snprintf(rel, sizeof(rel), "/devices/system/memory/memory%d", b);
                linux_fixture_send_uevent(&f, "add", rel, "memory");
        }
        assert_int_equal(linux_platform_process(f.lp), 4);
        assert_int_equal(engine_dispatch(f.e), 1);
        for (int b = 8; b < 12; b++) {
                snprintf(rel, sizeof(rel), "sys/devices/system/memory/memory%d/state", b);
                linux_fixture_expect_file(&f, rel, "online_movable");
        }
        assert_int_equal(f.w.n, 4);
        assert_int_equal(m.n, 1);
        assert_true(m.base == 8 * BS);
        assert_true(m.size == 4 * BS);
        arrival = recorder_find(&f.rec, 0, "\"ARRIVAL\"", NULL);
        assert_true(arrival > recorder_find(&f.rec, 0, "\"ONLINE\"", "\"block\":11", NULL));
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

static void test_movable_refused_falls_back_to_kernel(void **state) {
        struct linux_fixture f = { 0 };
        struct linux_stats st;

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        f.w = (struct linux_fixture_writes){ .fail_err = -EINVAL, .fail_path = "memory9/state",
                                             .fail_value = "online_movable", .fail_times = -1 };
        add_dimm(&f, "PNP0C80:00", 8, 2, "offline");
        linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory8", "memory");
        linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory9", "memory");
        linux_platform_process(f.lp);
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory8/state", "online_movable");
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory9/state", "online_kernel");
        linux_platform_stats(f.lp, &st);
        assert_int_equal(st.blocks_kernel_fallback, 1);
        assert_int_equal(engine_dispatch(f.e), 1); /* the arrival, once both are online */
        linux_fixture_stop(&f);
}

static void strict_movable(struct linux_config *lc) {
        lc->mem_policy = LINUX_MEM_MOVABLE;
}

static void test_block_that_cannot_online_is_reported(void **state) {
        struct linux_fixture f = { 0 };
        struct mem_arrivals m = { 0 };
        dhp_arrival_reg *areg;
        struct linux_stats st;

        setup_tree(&f);
        linux_fixture_start(&f, strict_movable);
        assert_int_equal(arrival_register(f.e, "cache", DHP_CLASS_MEMORY, 0, mem_cb, &m, &areg), 0);
        f.w = (struct linux_fixture_writes){ .fail_err = -EINVAL, .fail_path = "memory9/state", .fail_times = -1 };
        add_dimm(&f, "PNP0C80:00", 8, 2, "offline");
        linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory8", "memory");
        linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory9", "memory");
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        linux_platform_stats(f.lp, &st);
        assert_int_equal(st.blocks_failed, 1);
        assert_int_equal(m.n, 0);
        assert_int_equal(recorder_count(&f.rec, "\"ONLINE_FAILED\"", "\"block\":9", "\"status\":\"EINVAL\"", NULL), 1);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

static void test_seqnum_gap_resync_finds_lost_block(void **state) {
        struct linux_fixture f = { 0 };
        struct linux_stats st;

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        linux_fixture_send_uevent(&f, "change", "/devices/system/cpu/cpu0", "cpu"); /* seq 1 */
        linux_platform_process(f.lp);
        /* Blocks 8-9 appear, their events are lost (seq 2, 3 skipped). */
        assert_int_equal(fake_sysfs_add_memory(&f.fs, BS, 8, 2, "offline", "Normal Movable"), 0);
        f.seq += 2;
        linux_fixture_send_uevent(&f, "change", "/devices/system/cpu/cpu0", "cpu"); /* seq 4: a gap */
        linux_platform_process(f.lp);
        linux_platform_stats(f.lp, &st);
        assert_int_equal(st.resyncs, 1);
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory8/state", "online_movable");
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory9/state", "online_movable");
        linux_fixture_stop(&f);
}

static void test_malformed_uevents_are_skipped(void **state) {
        static char huge[10000];
        struct linux_fixture f = { 0 };
        struct linux_stats st;

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        assert_int_equal(send(f.sv[1], "add@/x\0DEVPATH=/x\0SEQNUM=1", 27, 0), 27); /* no ACTION */
        assert_int_equal(send(f.sv[1], "add@/x\0ACTION=add\0DEVPA", 24, 0), 24);  /* truncated */
        memset(huge, 'a', sizeof(huge));
        assert_int_equal(send(f.sv[1], huge, sizeof(huge), 0), (ssize_t)sizeof(huge));
        assert_int_equal(send(f.sv[1], "", 0, 0), 0);
        assert_int_equal(linux_platform_process(f.lp), 4);
        linux_platform_stats(f.lp, &st);
        assert_int_equal(st.malformed, 4);
        /* And it keeps working. */
        f.seq = 0;
        hotadd_cpu_in_tree(&f, 2);
        linux_fixture_send_uevent(&f, "add", "/devices/system/cpu/cpu2", "cpu");
        linux_platform_process(f.lp);
        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu2/online", "1");
        linux_fixture_stop(&f);
}

static void test_onlined_by_another_agent_is_notified_late(void **state) {
        struct linux_fixture f = { 0 };
        struct mem_arrivals m = { 0 };
        dhp_arrival_reg *areg;
        struct observer o = { .f = &f };
        dhp_proc_reg *reg;

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        assert_int_equal(procnotify_register(f.e, "obs", 0, observer_cb, &o, &reg), 0);
        assert_int_equal(arrival_register(f.e, "cache", DHP_CLASS_MEMORY, 0, mem_cb, &m, &areg), 0);
        /* A udev rule onlined cpu2 and the DIMM before we looked. */
        assert_int_equal(fake_sysfs_write(&f.fs, "sys/devices/system/cpu/cpu2/online", "1\n"), 0);
        linux_fixture_send_uevent(&f, "add", "/devices/system/cpu/cpu2", "cpu");
        add_dimm(&f, "PNP0C80:01", 8, 2, "online");
        linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory8", "memory");
        linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory9", "memory");
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_int_equal(o.calls, 2);
        assert_true(recorder_find(&f.rec, 0, "\"STARTED\"", "\"processor\":2,", "\"late\":true", NULL) >= 0);
        assert_int_equal(m.n, 1);
        /* Nothing written for memory already online. */
        for (int i = 0; i < f.w.n; i++)
                assert_null(strstr(f.w.log[i], "/memory"));
        procnotify_deregister(reg);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

static void test_start_brings_present_hardware_online(void **state) {
        struct linux_fixture f = { 0 };

        setup_tree(&f);
        /* Hot-added while dhpd was not running. */
        hotadd_cpu_in_tree(&f, 2);
        add_dimm(&f, "PNP0C80:00", 8, 4, "offline");
        linux_fixture_start(&f, NULL);
        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu2/online", "1");
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory11/state", "online_movable");
        /* The boot memory is existing: no write, no arrival. */
        for (int i = 0; i < f.w.n; i++)
                assert_null(strstr(f.w.log[i], "/memory0/"));
        assert_int_equal(engine_dispatch(f.e), 2); /* cpu2 and the DIMM */
        linux_fixture_stop(&f);
}

/* An add (or online) event for a processor or block that sysfs does not
 * show -- removed again before dhpd got to it, or a bogus index -- is
 * ignored: no write, no notification, no model grown to its index.  Found
 * by fuzz-platform (corpus/platform/regress-ghost-hardware). */
static void test_event_for_absent_hardware_is_ignored(void **state) {
        struct linux_fixture f = { 0 };
        uint32_t ncpus;

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        ncpus = engine_cpu_count(f.e);
        f.w.n = 0;
        linux_fixture_send_uevent(&f, "add", "/devices/system/cpu/cpu60000", "cpu");
        linux_fixture_send_uevent(&f, "online", "/devices/system/cpu/cpu3", "cpu"); /* possible, not present */
        linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory4000", "memory");
        linux_fixture_send_uevent(&f, "online", "/devices/system/memory/memory77", "memory");
        assert_int_equal(linux_platform_process(f.lp), 4);
        engine_dispatch(f.e);
        assert_int_equal(f.w.n, 0);
        assert_int_equal(engine_cpu_count(f.e), ncpus);
        assert_int_equal(recorder_count(&f.rec, "ADD_START", NULL), 0);
        assert_int_equal(recorder_count(&f.rec, "ARRIVAL", NULL), 0);
        assert_int_equal(engine_mem_block_get(f.e, 4000, NULL, NULL), -ENOENT);
        /* Real hardware still comes online afterwards. */
        hotadd_cpu_in_tree(&f, 2);
        linux_fixture_send_uevent(&f, "add", "/devices/system/cpu/cpu2", "cpu");
        linux_platform_process(f.lp);
        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu2/online", "1");
        linux_fixture_stop(&f);
}

static void state_dir_tweak(struct linux_config *lc) {
        lc->state_dir = "/run/dhp";
}

/* dhpd killed after onlining cpu2 but before admitting it: at restart the
 * processor is online, which alone would make it "existing" and never
 * admitted.  The transaction mark left behind makes the restart run it
 * again, late: ADD_START, admission (the cgroup widened), ADD_COMPLETE. */
static void test_interrupted_transaction_is_rerun_at_start(void **state) {
        struct linux_fixture f = { 0 };
        char buf[32];

        setup_tree(&f);
        assert_int_equal(fake_sysfs_add_cpus(&f.fs, 3, "0-2"), 0); /* cpu2 online ... */
        assert_int_equal(fake_sysfs_write(&f.fs, "sys/devices/system/cpu/possible", "0-3\n"), 0);
        assert_int_equal(fake_sysfs_write(&f.fs, "run/dhp/cpu-txn-2", ""), 0); /* ... mid-transaction */
        assert_int_equal(fake_sysfs_write(&f.fs, "run/dhp/cpu-txn-3", ""), 0); /* not present: dropped */
        linux_fixture_start(&f, state_dir_tweak);
        engine_dispatch(f.e);
        linux_fixture_expect_file(&f, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-2");
        assert_true(recorder_find(&f.rec, 0, "\"STARTED\"", "\"processor\":2,", "\"late\":true", NULL) >= 0);
        assert_true(recorder_find(&f.rec, 0, "\"ADMITTED\"", "\"processor\":2,", NULL) >= 0);
        assert_int_equal(fake_sysfs_read(&f.fs, "run/dhp/cpu-txn-2", buf, sizeof(buf)) < 0, 1);
        assert_int_equal(fake_sysfs_read(&f.fs, "run/dhp/cpu-txn-3", buf, sizeof(buf)) < 0, 1);
        /* Processors online without a mark stay existing: cpu1 was not
         * re-notified. */
        assert_int_equal(recorder_count(&f.rec, "\"processor\":1,", NULL), 0);
        linux_fixture_stop(&f);
}

/* ---- lost uevents ------------------------------------------------------ */

/* 100 000 uevents in one burst: 1024 memory blocks hot-added (one add
 * each) among filler events, sent as fast as the socket takes them while
 * the platform drains it.  About 1 % of the messages are dropped on the way
 * (a fixed pseudo-random choice, adds included), as an overflowing netlink
 * socket drops them: the SEQNUM gaps must trigger resyncs, and in the end
 * every block is online -- none lost with its event. */
#define BURST_EVENTS 100000u
#define BURST_BLOCKS 1024u
static void test_burst_with_losses_every_block_online(void **state) {
        struct linux_fixture f = { 0 };
        struct linux_stats st;
        uint32_t rng = 12345, dropped = 0, next_block = 0;
        uint64_t sent = 0;
        char buf[32], rel[96];

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        assert_int_equal(fake_sysfs_add_memory(&f.fs, BS, 8, BURST_BLOCKS, "offline", "Normal Movable"), 0);
        for (uint32_t i = 0; i < BURST_EVENTS; i++) {
                bool is_add = i % (BURST_EVENTS / BURST_BLOCKS) == 0 && next_block < BURST_BLOCKS;
                char devpath[64], msg[256];
                int n;

                rng = rng * 1103515245u + 12345u;
                if (is_add)
                        snprintf(devpath, sizeof(devpath), "/devices/system/memory/memory%u", 8 + next_block++);
                else
                        snprintf(devpath, sizeof(devpath), "/devices/system/cpu/cpu0");
                f.seq++;
                if ((rng >> 16) % 100 == 0) {
                        dropped++; /* lost: its SEQNUM never arrives */
                        continue;
                }
                n = snprintf(msg, sizeof(msg), "%s@%s%cACTION=%s%cDEVPATH=%s%cSUBSYSTEM=%s%cSEQNUM=%llu",
                             is_add ? "add" : "change", devpath, 0, is_add ? "add" : "change", 0, devpath, 0,
                             is_add ? "memory" : "cpu", 0, (unsigned long long)f.seq);
                while (send(f.sv[1], msg, (size_t)n + 1, MSG_DONTWAIT) < 0) {
                        assert_int_equal(errno, EAGAIN); /* full: let the platform drain */
                        assert_true(linux_platform_process(f.lp) > 0);
                }
                sent++;
        }
        while (linux_platform_process(f.lp) > 0)
                ;
        engine_dispatch(f.e);
        linux_platform_stats(f.lp, &st);
        print_message("burst: %llu sent, %u dropped, %llu gaps seen, %llu resyncs, %llu blocks onlined\n",
                      (unsigned long long)sent, dropped, (unsigned long long)st.lost, (unsigned long long)st.resyncs,
                      (unsigned long long)st.blocks_onlined);
        assert_true(dropped > 500);
        assert_true(st.uevents == sent);
        assert_true(st.resyncs >= 1 && st.lost >= 1);
        for (uint32_t b = 8; b < 8 + BURST_BLOCKS; b++) {
                snprintf(rel, sizeof(rel), "sys/devices/system/memory/memory%u/state", b);
                read_file(&f, rel, buf, sizeof(buf));
                if (strcmp(buf, "online_movable") != 0)
                        fail_msg("memory%u left %s after the burst", b, buf);
        }
        linux_fixture_stop(&f);
}

/* The socket overflowing (recvmsg fails with ENOBUFS, which a socketpair
 * never does: injected) loses whatever the kernel dropped; the platform
 * resyncs and brings the unseen hardware online. */
static int enobufs_left;
static ssize_t recvmsg_enobufs(int fd, struct msghdr *msg, int flags) {
        if (enobufs_left > 0) {
                enobufs_left--;
                errno = ENOBUFS;
                return -1;
        }
        return recvmsg(fd, msg, flags);
}

static void enobufs_tweak(struct linux_config *lc) {
        lc->uevent_recvmsg = recvmsg_enobufs;
}

static void test_socket_overflow_resyncs(void **state) {
        struct linux_fixture f = { 0 };
        struct linux_stats st;

        setup_tree(&f);
        linux_fixture_start(&f, enobufs_tweak);
        /* cpu2 and blocks 8-9 arrive; their events were dropped by the
         * kernel, and the socket reports the overflow. */
        hotadd_cpu_in_tree(&f, 2);
        assert_int_equal(fake_sysfs_add_memory(&f.fs, BS, 8, 2, "offline", "Normal Movable"), 0);
        enobufs_left = 1;
        linux_fixture_send_uevent(&f, "change", "/devices/system/cpu/cpu0", "cpu"); /* something to wake us */
        assert_true(linux_platform_process(f.lp) >= 1);
        linux_platform_stats(f.lp, &st);
        assert_int_equal(st.lost, 1);
        assert_int_equal(st.resyncs, 1);
        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu2/online", "1");
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory8/state", "online_movable");
        linux_fixture_expect_file(&f, "sys/devices/system/memory/memory9/state", "online_movable");
        /* And the next event after the loss is no false gap. */
        linux_fixture_send_uevent(&f, "change", "/devices/system/cpu/cpu0", "cpu");
        linux_platform_process(f.lp);
        linux_platform_stats(f.lp, &st);
        assert_int_equal(st.lost, 1);
        linux_fixture_stop(&f);
}

/* ---- sysfs writes failing ---------------------------------------------- */

/* Each error a sysfs write can return, on the CPU online write and on a
 * block's state: EBUSY retried within its budget then reported; EINVAL
 * (movable refused) falls back to the kernel zone under "auto"; EIO and
 * ENOENT (device gone) reported at once, without retry; never a crash, and
 * the platform keeps serving. */
static void test_write_errors_reported_or_retried(void **state) {
        static const int errs[] = { -EBUSY, -EINVAL, -EIO, -ENOENT };

        for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
                struct linux_fixture f = { 0 };
                struct linux_stats st;

                setup_tree(&f);
                f.w.fail_err = errs[i];
                f.w.fail_path = "/online";
                f.w.fail_times = -1;
                linux_fixture_start(&f, NULL);
                hotadd_cpu_in_tree(&f, 2);
                linux_fixture_send_uevent(&f, "add", "/devices/system/cpu/cpu2", "cpu");
                linux_platform_process(f.lp);
                linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu2/online", "0");
                /* EBUSY: retried (8 attempts by default), others: once. */
                assert_int_equal(f.w.n, errs[i] == -EBUSY ? 8 : 1);
                assert_int_equal(f.w.sleeps, errs[i] == -EBUSY ? 7 : 0);
                assert_int_equal(recorder_count(&f.rec, "\"ADMITTED\"", "\"processor\":2,", NULL), 0);

                /* The same error on a block's state. */
                f.w.n = f.w.sleeps = 0;
                f.w.fail_path = "memory8/state";
                assert_int_equal(fake_sysfs_add_memory(&f.fs, BS, 8, 2, "offline", "Normal Movable"), 0);
                linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory8", "memory");
                linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory9", "memory");
                linux_platform_process(f.lp);
                engine_dispatch(f.e);
                linux_fixture_expect_file(&f, "sys/devices/system/memory/memory8/state", "offline");
                linux_platform_stats(f.lp, &st);
                assert_true(st.blocks_failed >= 1);
                assert_int_equal(recorder_count(&f.rec, "\"ARRIVAL\"", "\"memory\"", NULL), 0);
                linux_fixture_stop(&f);
        }
}

static void test_split_burst_is_one_device(void **state) {
        struct linux_fixture f = { 0 };
        struct mem_arrivals m = { 0 };
        dhp_arrival_reg *areg;

        setup_tree(&f);
        linux_fixture_start(&f, NULL);
        assert_int_equal(arrival_register(f.e, "cache", DHP_CLASS_MEMORY, 0, mem_cb, &m, &areg), 0);
        /* Three blocks without a firmware node, their events read in two
         * drains of the socket: still one device, one arrival. */
        assert_int_equal(fake_sysfs_add_memory(&f.fs, BS, 8, 3, "offline", "Movable"), 0);
        linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory8", "memory");
        linux_platform_process(f.lp);
        linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory9", "memory");
        linux_fixture_send_uevent(&f, "add", "/devices/system/memory/memory10", "memory");
        linux_platform_process(f.lp);
        engine_dispatch(f.e);
        assert_int_equal(m.n, 1);
        assert_true(m.base == 8 * BS && m.size == 3 * BS);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

static void test_meminfo_drives_memory_conditions(void **state) {
        struct linux_fixture f = { 0 };

        setup_tree(&f);
        assert_int_equal(fake_sysfs_write(&f.fs, "proc/meminfo",
                                          "MemTotal:        1048576 kB\nMemAvailable:      4096 kB\n"
                                          "CommitLimit:     1048576 kB\nCommitted_AS:     102400 kB\n"), 0);
        linux_fixture_start(&f, NULL);
        /* 1 GiB: low threshold 8 MiB; 4 MiB available is below it. */
        memcond_evaluate(f.e);
        assert_true(memcond_is_set(f.e, MEMCOND_LOW_MEMORY));
        assert_false(memcond_is_set(f.e, MEMCOND_HIGH_MEMORY));
        assert_true(memcond_is_set(f.e, MEMCOND_LOW_COMMIT)); /* 10 % of the limit */
        assert_true(fake_sysfs_write(&f.fs, "proc/meminfo",
                                     "MemTotal:        1048576 kB\nMemAvailable:    512000 kB\n"
                                     "CommitLimit:     1048576 kB\nCommitted_AS:    1000000 kB\n") >= 0);
        memcond_evaluate(f.e);
        assert_false(memcond_is_set(f.e, MEMCOND_LOW_MEMORY));
        assert_true(memcond_is_set(f.e, MEMCOND_HIGH_MEMORY));
        assert_true(memcond_is_set(f.e, MEMCOND_HIGH_COMMIT));
        linux_fixture_stop(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpu_add_runs_the_transaction),
                cmocka_unit_test(test_cpu_veto_takes_it_offline),
                cmocka_unit_test(test_cpu_veto_keep_online),
                cmocka_unit_test(test_cpu_online_ebusy_retried),
                cmocka_unit_test(test_dimm_four_blocks_movable_one_arrival),
                cmocka_unit_test(test_movable_refused_falls_back_to_kernel),
                cmocka_unit_test(test_block_that_cannot_online_is_reported),
                cmocka_unit_test(test_seqnum_gap_resync_finds_lost_block),
                cmocka_unit_test(test_malformed_uevents_are_skipped),
                cmocka_unit_test(test_onlined_by_another_agent_is_notified_late),
                cmocka_unit_test(test_start_brings_present_hardware_online),
                cmocka_unit_test(test_meminfo_drives_memory_conditions),
                cmocka_unit_test(test_split_burst_is_one_device),
                cmocka_unit_test(test_event_for_absent_hardware_is_ignored),
                cmocka_unit_test(test_interrupted_transaction_is_rerun_at_start),
                cmocka_unit_test(test_burst_with_losses_every_block_online),
                cmocka_unit_test(test_socket_overflow_resyncs),
                cmocka_unit_test(test_write_errors_reported_or_retried),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
