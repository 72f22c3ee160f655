/* SPDX-License-Identifier: MIT */
/*
 * Who onlines what, on the Linux platform over a fake sysfs tree: memory
 * onlined by the kernel's own policy ([memory] onlining = kernel, the
 * fallback after the wait, a kernel without the knobs, dhpd mode), the
 * coexistence check in kernel mode, and processors added in one burst
 * started together with every per-processor rule kept.
 */
#include <errno.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/engine.h"
#include "fake-sysfs.h"
#include "helpers.h"
#include "linux-fixture.h"
#include "platform/linux/coexist.h"
#include "platform/linux/linux.h"

#define BS (128ULL << 20)
#define AUTO "sys/devices/system/memory/auto_online_blocks"
#define POLICY "sys/module/memory_hotplug/parameters/online_policy"
#define RATIO "sys/module/memory_hotplug/parameters/auto_movable_ratio"

static void block_uevent(struct linux_fixture *f, const char *action, uint32_t b) {
        char p[64];

        snprintf(p, sizeof(p), "/devices/system/memory/memory%u", b);
        linux_fixture_send_uevent(f, action, p, "memory");
}

/* cpu0-1 online of 0-4 possible, blocks 0-7 online, app.slice 0-1; the
 * kernel's knobs as 6.1 has them when `knobs`. */
static void setup_tree(struct linux_fixture *f, bool knobs) {
        assert_int_equal(fake_sysfs_init(&f->fs), 0);
        assert_int_equal(fake_sysfs_add_cpus(&f->fs, 2, "0-1"), 0);
        assert_int_equal(fake_sysfs_write(&f->fs, "sys/devices/system/cpu/possible", "0-4\n"), 0);
        assert_int_equal(fake_sysfs_add_memory(&f->fs, BS, 0, 8, "online", "Normal"), 0);
        assert_int_equal(fake_sysfs_write(&f->fs, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-1\n"), 0);
        if (knobs) {
                assert_int_equal(fake_sysfs_write(&f->fs, AUTO, "offline\n"), 0);
                assert_int_equal(fake_sysfs_write(&f->fs, POLICY, "contig-zones\n"), 0);
                assert_int_equal(fake_sysfs_write(&f->fs, RATIO, "301\n"), 0);
        }
}

static int count_writes(struct linux_fixture *f, const char *frag) {
        int n = 0;

        for (int i = 0; i < f->w.n; i++)
                n += strstr(f->w.log[i], frag) != NULL;
        return n;
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

/* A DIMM of n blocks from `first`, bound to its ACPI device. */
static void add_dimm(struct linux_fixture *f, uint32_t first, uint32_t n, const char *state) {
        assert_int_equal(fake_sysfs_add_memory(&f->fs, BS, first, n, state, "Normal Movable"), 0);
        assert_int_equal(fake_sysfs_add_acpi_memdev(&f->fs, "PNP0C80:00", first, n), 0);
}

static void expect_zones(struct linux_fixture *f, uint64_t dev, dhp_memory_zone zone) {
        struct engine_mem_info info;
        struct engine_block_info blocks[16];

        assert_int_equal(engine_mem_device_blocks(f->e, dev, &info, blocks, 16), 0);
        for (uint64_t k = 0; k < info.nblocks; k++) {
                assert_true(blocks[k].online);
                assert_int_equal(blocks[k].zone, zone);
        }
}

/* ---- memory: kernel mode --------------------------------------------- */

/* The kernel onlined the DIMM during the add (6.12's way, and 6.1's once
 * dhpd set the policy): dhpd sets the knobs at start, writes no block,
 * and notifies once. */
static void test_kernel_mode_sets_policy_and_only_notifies(void **state) {
        struct linux_fixture f = { 0 };
        struct mem_arrivals m = { 0 };
        dhp_arrival_reg *areg;

        setup_tree(&f, true);
        linux_fixture_start(&f, NULL);
        assert_true(linux_platform_kernel_onlines(f.lp));
        linux_fixture_expect_file(&f, AUTO, "online_movable");
        linux_fixture_expect_file(&f, POLICY, "auto-movable");
        linux_fixture_expect_file(&f, RATIO, "301"); /* not configured: the kernel's */
        assert_int_equal(f.w.n, 2);
        assert_int_equal(arrival_register(f.e, "m", DHP_CLASS_MEMORY, 0, mem_cb, &m, &areg), 0);

        add_dimm(&f, 8, 4, "online");
        for (uint32_t b = 8; b < 12; b++)
                block_uevent(&f, "add", b);
        for (uint32_t b = 8; b < 12; b++)
                block_uevent(&f, "online", b);
        assert_int_equal(linux_platform_process(f.lp), 8);
        assert_int_equal(engine_dispatch(f.e), 1);
        assert_int_equal(count_writes(&f, "/state="), 0);
        assert_int_equal(m.n, 1);
        assert_true(m.base == 8 * BS && m.size == 4 * BS);
        expect_zones(&f, 1, DHP_MEMORY_ZONE_MOVABLE);
        assert_int_equal(linux_platform_next_timeout_ms(f.lp), -1);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

/* Blocks seen offline at grouping (virtio-mem's order: add, then online a
 * little later): no write, no arrival until the kernel's online uevents
 * complete the device. */
static void test_kernel_mode_waits_for_online_uevents(void **state) {
        struct linux_fixture f = { 0 };
        struct mem_arrivals m = { 0 };
        dhp_arrival_reg *areg;
        long last_online, arrival;

        setup_tree(&f, true);
        linux_fixture_start(&f, NULL);
        assert_int_equal(arrival_register(f.e, "m", DHP_CLASS_MEMORY, 0, mem_cb, &m, &areg), 0);
        assert_int_equal(fake_sysfs_add_memory(&f.fs, BS, 8, 2, "offline", NULL), 0);
        block_uevent(&f, "add", 8);
        block_uevent(&f, "add", 9);
        assert_int_equal(linux_platform_process(f.lp), 2);
        assert_int_equal(engine_dispatch(f.e), 0);
        assert_int_equal(m.n, 0);
        assert_true(linux_platform_next_timeout_ms(f.lp) > 0);

        assert_int_equal(fake_sysfs_write(&f.fs, "sys/devices/system/memory/memory8/state", "online\n"), 0);
        block_uevent(&f, "online", 8);
        assert_int_equal(linux_platform_process(f.lp), 1);
        assert_int_equal(engine_dispatch(f.e), 0);
        assert_int_equal(fake_sysfs_write(&f.fs, "sys/devices/system/memory/memory9/state", "online\n"), 0);
        block_uevent(&f, "online", 9);
        assert_int_equal(linux_platform_process(f.lp), 1);
        assert_int_equal(engine_dispatch(f.e), 1);
        assert_int_equal(m.n, 1);
        assert_int_equal(count_writes(&f, "/state="), 0);
        expect_zones(&f, 1, DHP_MEMORY_ZONE_MOVABLE);
        /* R31: the arrival after every block's online. */
        last_online = recorder_find(&f.rec, 0, "\"ONLINE\"", "\"block\":9", NULL);
        arrival = recorder_find(&f.rec, 0, "\"ARRIVAL\"", "\"memory\"", NULL);
        assert_true(last_online >= 0 && arrival > last_online);
        assert_int_equal(linux_platform_next_timeout_ms(f.lp), -1);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

/* While the kernel onlines a DIMM the held blocks' states are their
 * uevents': a block's state is read once at most (here, offline at its
 * add), not again at every uevent of the burst, so a block online in
 * sysfs whose uevent is not read yet keeps the DIMM held (the kernel
 * always sends it); the last online uevent completes the device. */
static void test_kernel_mode_held_blocks_follow_uevents(void **state) {
        struct linux_fixture f = { 0 };
        struct mem_arrivals m = { 0 };
        dhp_arrival_reg *areg;

        setup_tree(&f, true);
        linux_fixture_start(&f, NULL);
        assert_int_equal(arrival_register(f.e, "m", DHP_CLASS_MEMORY, 0, mem_cb, &m, &areg), 0);
        add_dimm(&f, 8, 3, "offline");
        for (uint32_t b = 8; b < 11; b++)
                block_uevent(&f, "add", b);
        assert_int_equal(linux_platform_process(f.lp), 3);
        assert_int_equal(engine_dispatch(f.e), 0);

        for (uint32_t b = 8; b < 11; b++) {
                char p[64];
                snprintf(p, sizeof(p), "sys/devices/system/memory/memory%u/state", b);
                assert_int_equal(fake_sysfs_write(&f.fs, p, "online\n"), 0);
        }
        block_uevent(&f, "online", 9);
        assert_int_equal(linux_platform_process(f.lp), 1);
        assert_int_equal(engine_dispatch(f.e), 0);
        assert_int_equal(m.n, 0);
        assert_true(linux_platform_next_timeout_ms(f.lp) > 0);

        block_uevent(&f, "online", 8);
        block_uevent(&f, "online", 10);
        assert_int_equal(linux_platform_process(f.lp), 2);
        assert_int_equal(engine_dispatch(f.e), 1);
        assert_int_equal(m.n, 1);
        assert_true(m.base == 8 * BS && m.size == 3 * BS);
        assert_int_equal(count_writes(&f, "/state="), 0);
        expect_zones(&f, 1, DHP_MEMORY_ZONE_MOVABLE);
        assert_int_equal(linux_platform_next_timeout_ms(f.lp), -1);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

static void short_wait(struct linux_config *lc) {
        lc->kernel_online_wait_ns = 1000000; /* 1 ms */
}

static void sleep_ms(unsigned ms) {
        nanosleep(&(struct timespec){ .tv_nsec = (long)ms * 1000000L }, NULL);
}

/* The kernel left a block offline (a zone it refused, say): after the wait
 * dhpd onlines what is left, the rest stays the kernel's. */
static void test_kernel_mode_fallback_after_wait(void **state) {
        struct linux_fixture f = { 0 };
        struct mem_arrivals m = { 0 };
        struct linux_stats st;
        dhp_arrival_reg *areg;

        setup_tree(&f, true);
        linux_fixture_start(&f, short_wait);
        assert_int_equal(arrival_register(f.e, "m", DHP_CLASS_MEMORY, 0, mem_cb, &m, &areg), 0);
        add_dimm(&f, 8, 3, "offline");
        assert_int_equal(fake_sysfs_write(&f.fs, "sys/devices/system/memory/memory8/state", "online\n"), 0);
        for (uint32_t b = 8; b < 11; b++)
                block_uevent(&f, "add", b);
        block_uevent(&f, "online", 8);
        f.w.n = 0;
        assert_int_equal(linux_platform_process(f.lp), 4);
        assert_int_equal(f.w.n, 0);
        assert_int_equal(m.n, 0);
        /* The kernel onlined block 9 meanwhile, its uevent not read yet. */
        assert_int_equal(fake_sysfs_write(&f.fs, "sys/devices/system/memory/memory9/state", "online\n"), 0);
        sleep_ms(3);
        assert_int_equal(linux_platform_next_timeout_ms(f.lp), 0);
        linux_platform_tick(f.lp);
        assert_int_equal(f.w.n, 1);
        assert_string_equal(f.w.log[0], "/sys/devices/system/memory/memory10/state=online_movable");
        assert_int_equal(engine_dispatch(f.e), 1);
        assert_int_equal(m.n, 1);
        linux_platform_stats(f.lp, &st);
        assert_int_equal(st.kernel_left_offline, 1);
        assert_int_equal(linux_platform_next_timeout_ms(f.lp), -1);
        /* The late uevent of block 9 changes nothing. */
        block_uevent(&f, "online", 9);
        linux_platform_process(f.lp);
        assert_int_equal(engine_dispatch(f.e), 0);
        assert_int_equal(f.w.n, 1);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

/* A kernel without auto_online_blocks: dhpd onlines at once, no wait. */
static void test_kernel_mode_without_knobs_onlines_itself(void **state) {
        struct linux_fixture f = { 0 };

        setup_tree(&f, false);
        linux_fixture_start(&f, NULL);
        assert_false(linux_platform_kernel_onlines(f.lp));
        add_dimm(&f, 8, 2, "offline");
        block_uevent(&f, "add", 8);
        block_uevent(&f, "add", 9);
        assert_int_equal(linux_platform_process(f.lp), 2);
        assert_int_equal(count_writes(&f, "=online_movable"), 2);
        assert_int_equal(engine_dispatch(f.e), 1);
        assert_int_equal(linux_platform_next_timeout_ms(f.lp), -1);
        linux_fixture_stop(&f);
}

static void dhpd_mode(struct linux_config *lc) {
        lc->mem_onlining = LINUX_ONLINING_DHPD;
}

static void kernel_zone_ratio(struct linux_config *lc) {
        lc->mem_policy = LINUX_MEM_KERNEL;
        lc->auto_movable_ratio = 150;
}

/* dhpd mode is today's: the knobs untouched, every block written. */
static void test_dhpd_mode_leaves_the_kernel_policy(void **state) {
        struct linux_fixture f = { 0 };

        setup_tree(&f, true);
        linux_fixture_start(&f, dhpd_mode);
        assert_false(linux_platform_kernel_onlines(f.lp));
        linux_fixture_expect_file(&f, AUTO, "offline");
        linux_fixture_expect_file(&f, POLICY, "contig-zones");
        assert_int_equal(f.w.n, 0);
        add_dimm(&f, 8, 2, "offline");
        block_uevent(&f, "add", 8);
        block_uevent(&f, "add", 9);
        linux_platform_process(f.lp);
        assert_int_equal(count_writes(&f, "=online_movable"), 2);
        assert_int_equal(engine_dispatch(f.e), 1);
        linux_fixture_stop(&f);
}

/* online_policy = kernel is auto_online_blocks = online_kernel; a
 * configured ratio is written. */
static void test_kernel_mode_zone_policy_and_ratio(void **state) {
        struct linux_fixture f = { 0 };

        setup_tree(&f, true);
        linux_fixture_start(&f, kernel_zone_ratio);
        linux_fixture_expect_file(&f, AUTO, "online_kernel");
        linux_fixture_expect_file(&f, RATIO, "150");
        add_dimm(&f, 8, 2, "online");
        block_uevent(&f, "add", 8);
        block_uevent(&f, "add", 9);
        linux_platform_process(f.lp);
        assert_int_equal(engine_dispatch(f.e), 1);
        expect_zones(&f, 1, DHP_MEMORY_ZONE_NORMAL);
        linux_fixture_stop(&f);
}

/* In kernel mode dhpd's own policy is no other onliner; a udev rule still
 * is. */
static void test_coexist_kernel_mode(void **state) {
        struct fake_sysfs fs;
        struct coexist_report r = { 0 };

        assert_int_equal(fake_sysfs_init(&fs), 0);
        assert_int_equal(fake_sysfs_write(&fs, AUTO, "online_movable\n"), 0);
        assert_int_equal(fake_sysfs_write(&fs, "proc/cmdline", "console=ttyS0 memhp_default_state=online\n"), 0);
        assert_int_equal(coexist_scan(fs.root, &r, NULL), 0);
        assert_int_equal(r.n, 2);
        coexist_report_deinit(&r);
        assert_int_equal(coexist_scan_flags(fs.root, COEXIST_KERNEL_ONLINES_MEMORY, &r, NULL), 0);
        assert_int_equal(r.n, 0);
        coexist_report_deinit(&r);
        assert_int_equal(fake_sysfs_write(&fs, "etc/udev/rules.d/99-mem.rules",
                                          "SUBSYSTEM==\"memory\", ACTION==\"add\", ATTR{state}=\"online\"\n"),
                         0);
        assert_int_equal(coexist_scan_flags(fs.root, COEXIST_KERNEL_ONLINES_MEMORY, &r, NULL), 0);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.findings[0].kind, COEXIST_UDEV_MEMORY);
        coexist_report_deinit(&r);
        fake_sysfs_deinit(&fs);
}

/* ---- processors: a burst ---------------------------------------------- */

struct observer {
        struct linux_fixture *f;
        uint32_t veto_cpu; /* 0: none */
        int writes_at_first_start;
        int starts;
        /* Per CPU: what the managed group held at its ADD_START and at its
         * ADD_COMPLETE, and its online file at ADD_START. */
        char cg_start[8][32], cg_complete[8][32], online_start[8][8];
};

static void read_into(struct linux_fixture *f, const char *rel, char *buf, size_t size) {
        assert_true(fake_sysfs_read(&f->fs, rel, buf, size) >= 0);
        buf[strcspn(buf, "\n")] = 0;
}

static void observer_cb(void *userdata, const dhp_proc_change *c) {
        struct observer *o = userdata;
        uint32_t cpu = dhp_proc_change_get_index(c);
        char rel[128];

        if (cpu >= 8)
                return;
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START) {
                if (o->starts++ == 0)
                        o->writes_at_first_start = o->f->w.n;
                snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/online", cpu);
                read_into(o->f, rel, o->online_start[cpu], sizeof(o->online_start[cpu]));
                read_into(o->f, "sys/fs/cgroup/app.slice/cpuset.cpus", o->cg_start[cpu], sizeof(o->cg_start[cpu]));
                if (cpu == o->veto_cpu)
                        dhp_proc_change_veto(c, -EBUSY);
        } else if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_COMPLETE) {
                read_into(o->f, "sys/fs/cgroup/app.slice/cpuset.cpus", o->cg_complete[cpu],
                          sizeof(o->cg_complete[cpu]));
        }
}

static void nop_arrival(void *userdata, const dhp_device_event *e) {
}

static void add_three_cpus(struct linux_fixture *f) {
        char rel[128];

        for (unsigned cpu = 2; cpu <= 4; cpu++) {
                snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/online", cpu);
                assert_int_equal(fake_sysfs_write(&f->fs, rel, "0\n"), 0);
        }
        assert_int_equal(fake_sysfs_write(&f->fs, "sys/devices/system/cpu/present", "0-4\n"), 0);
        f->w.n = 0;
        linux_fixture_send_uevent(f, "add", "/devices/system/cpu/cpu2", "cpu");
        linux_fixture_send_uevent(f, "add", "/devices/system/cpu/cpu3", "cpu");
        linux_fixture_send_uevent(f, "add", "/devices/system/cpu/cpu4", "cpu");
        assert_int_equal(linux_platform_process(f->lp), 3);
}

/* The indices of one CPU's records, in stream order. */
struct steps {
        long started, start, admitted, complete, failure, rejected, arrival;
};

static struct steps steps_of(struct linux_fixture *f, unsigned cpu) {
        char p[32];

        snprintf(p, sizeof(p), "\"processor\":%u,", cpu);
        return (struct steps){
                .started = recorder_find(&f->rec, 0, "\"STARTED\"", p, NULL),
                .start = recorder_find(&f->rec, 0, "\"ADD_START\"", p, NULL),
                .admitted = recorder_find(&f->rec, 0, "\"ADMITTED\"", p, NULL),
                .complete = recorder_find(&f->rec, 0, "\"ADD_COMPLETE\"", p, NULL),
                .failure = recorder_find(&f->rec, 0, "\"ADD_FAILURE\"", p, NULL),
                .rejected = recorder_find(&f->rec, 0, "\"REJECTED\"", p, NULL),
                .arrival = recorder_find(&f->rec, 0, "\"ARRIVAL\"", p, NULL),
        };
}

/* One processor of a burst added: R30's order of its own records, running
 * at its ADD_START, admitted at the end. */
static struct steps expect_cpu_added(struct linux_fixture *f, const struct observer *o, unsigned cpu) {
        struct steps s = steps_of(f, cpu);
        dhp_proc_state ps;

        /* R30 per processor: started -> ADD_START -> admitted ->
         * ADD_COMPLETE -> ARRIVAL. */
        assert_true(s.started >= 0 && s.started < s.start && s.start < s.admitted && s.admitted < s.complete &&
                    s.complete < s.arrival);
        assert_string_equal(o->online_start[cpu], "1");
        assert_int_equal(engine_cpu_get_state(f->e, cpu, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ADMITTED);
        return s;
}

static void test_cpu_burst_started_together(void **state) {
        struct linux_fixture f = { 0 };
        struct observer o = { .f = &f };
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        struct steps s[5];
        char want[16];

        setup_tree(&f, false);
        linux_fixture_start(&f, NULL);
        assert_int_equal(procnotify_register(f.e, "obs", 0, observer_cb, &o, &reg), 0);
        assert_int_equal(arrival_register(f.e, "arr", DHP_CLASS_PROCESSOR, 0, nop_arrival, NULL, &areg), 0);
        add_three_cpus(&f);
        assert_int_equal(engine_dispatch(f.e), 3);

        /* The three online writes, in order, before the first ADD_START. */
        assert_int_equal(o.writes_at_first_start, 3);
        assert_string_equal(f.w.log[0], "/sys/devices/system/cpu/cpu2/online=1");
        assert_string_equal(f.w.log[1], "/sys/devices/system/cpu/cpu3/online=1");
        assert_string_equal(f.w.log[2], "/sys/devices/system/cpu/cpu4/online=1");
        for (unsigned cpu = 2; cpu <= 4; cpu++) {
                s[cpu] = expect_cpu_added(&f, &o, cpu);
                /* R2, R6, L2: not in the managed group before its own
                 * ADD_START returned (the ones admitted before it are), in
                 * it at ADD_COMPLETE. */
                snprintf(want, sizeof(want), "0-%u", cpu - 1);
                assert_string_equal(o.cg_start[cpu], want);
                snprintf(want, sizeof(want), "0-%u", cpu);
                assert_string_equal(o.cg_complete[cpu], want);
        }
        /* Every start before the first phase; R29: one processor's phases
         * after the other's, never interleaved. */
        assert_true(s[4].started < s[2].start);
        assert_true(s[2].complete < s[3].start && s[3].complete < s[4].start);
        procnotify_deregister(reg);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

static void test_cpu_burst_veto_spares_the_others(void **state) {
        struct linux_fixture f = { 0 };
        struct observer o = { .f = &f, .veto_cpu = 3 };
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        dhp_proc_state ps;
        struct steps s3;

        setup_tree(&f, false);
        linux_fixture_start(&f, NULL);
        assert_int_equal(procnotify_register(f.e, "obs", 0, observer_cb, &o, &reg), 0);
        assert_int_equal(arrival_register(f.e, "arr", DHP_CLASS_PROCESSOR, 0, nop_arrival, NULL, &areg), 0);
        add_three_cpus(&f);
        assert_int_equal(engine_dispatch(f.e), 2);
        assert_int_equal(o.writes_at_first_start, 3);
        /* The vetoed one: ADD_START, ADD_FAILURE, taken offline, never
         * admitted, no arrival (R7, R30, L4). */
        s3 = steps_of(&f, 3);
        assert_true(s3.start < s3.failure && s3.failure < s3.rejected);
        assert_true(s3.admitted < 0 && s3.complete < 0 && s3.arrival < 0);
        linux_fixture_expect_file(&f, "sys/devices/system/cpu/cpu3/online", "0");
        assert_int_equal(engine_cpu_get_state(f.e, 3, &ps), 0);
        assert_int_equal(ps, DHP_PROC_PRESENT);
        /* The others admitted, the group without the vetoed one. */
        assert_int_equal(engine_cpu_get_state(f.e, 2, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ADMITTED);
        assert_int_equal(engine_cpu_get_state(f.e, 4, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ADMITTED);
        assert_string_equal(o.cg_start[4], "0-2");
        linux_fixture_expect_file(&f, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-2,4");
        procnotify_deregister(reg);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

/* ---- processors: announced while the batch's are started ------------- */

static struct linux_fixture *announcing;

/* The kernel announcing more while cpu2's online write runs (under TCG a
 * write takes 150-200 ms, and adds of one burst come in meanwhile): cpu3's
 * add, cpu2's own online, a block's change of state (which needs the
 * engine's transactions: it waits for the batch's end), then cpu4's add. */
static int write_announcing(void *userdata, const char *path, const char *value, size_t len) {
        int r = linux_fixture_write(userdata, path, value, len);

        if (strstr(path, "/cpu2/online") && value[0] == '1') {
                linux_fixture_send_uevent(announcing, "add", "/devices/system/cpu/cpu3", "cpu");
                linux_fixture_send_uevent(announcing, "online", "/devices/system/cpu/cpu2", "cpu");
                block_uevent(announcing, "online", 0);
                linux_fixture_send_uevent(announcing, "add", "/devices/system/cpu/cpu4", "cpu");
        }
        return r;
}

static struct sysfs_writer announcing_writer;

static void tweak_announcing(struct linux_config *lc) {
        announcing_writer = (struct sysfs_writer){ .write = write_announcing, .sleep = linux_fixture_sleep,
                                                   .userdata = &announcing->w };
        lc->writer = &announcing_writer;
}

static void test_cpu_announced_during_the_writes_joins_the_batch(void **state) {
        struct linux_fixture f = { 0 };
        struct observer o = { .f = &f };
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        struct steps s[5];
        char rel[128];

        announcing = &f;
        setup_tree(&f, false);
        linux_fixture_start(&f, tweak_announcing);
        assert_int_equal(procnotify_register(f.e, "obs", 0, observer_cb, &o, &reg), 0);
        assert_int_equal(arrival_register(f.e, "arr", DHP_CLASS_PROCESSOR, 0, nop_arrival, NULL, &areg), 0);
        for (unsigned cpu = 2; cpu <= 4; cpu++) {
                snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/online", cpu);
                assert_int_equal(fake_sysfs_write(&f.fs, rel, "0\n"), 0);
        }
        f.w.n = 0;
        linux_fixture_send_uevent(&f, "add", "/devices/system/cpu/cpu2", "cpu");
        /* Every event of the socket is handled, those of the batch too. */
        assert_int_equal(linux_platform_process(f.lp), 5);
        assert_int_equal(engine_dispatch(f.e), 3);

        /* cpu3, announced during cpu2's write, is started before any phase;
         * cpu4, announced after an event the batch could not take, in a
         * batch of its own after the first one's phases (the events'
         * order kept). */
        assert_int_equal(o.writes_at_first_start, 2);
        assert_string_equal(f.w.log[0], "/sys/devices/system/cpu/cpu2/online=1");
        assert_string_equal(f.w.log[1], "/sys/devices/system/cpu/cpu3/online=1");
        for (unsigned cpu = 2; cpu <= 4; cpu++) {
                s[cpu] = expect_cpu_added(&f, &o, cpu);
        }
        assert_true(s[3].started < s[2].start);
        assert_true(s[2].complete < s[3].start);
        assert_true(s[3].complete < s[4].started);
        assert_string_equal(o.cg_start[3], "0-2");
        linux_fixture_expect_file(&f, "sys/fs/cgroup/app.slice/cpuset.cpus", "0-4");
        procnotify_deregister(reg);
        arrival_unregister(areg);
        linux_fixture_stop(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kernel_mode_sets_policy_and_only_notifies),
                cmocka_unit_test(test_kernel_mode_waits_for_online_uevents),
                cmocka_unit_test(test_kernel_mode_held_blocks_follow_uevents),
                cmocka_unit_test(test_kernel_mode_fallback_after_wait),
                cmocka_unit_test(test_kernel_mode_without_knobs_onlines_itself),
                cmocka_unit_test(test_dhpd_mode_leaves_the_kernel_policy),
                cmocka_unit_test(test_kernel_mode_zone_policy_and_ratio),
                cmocka_unit_test(test_coexist_kernel_mode),
                cmocka_unit_test(test_cpu_burst_started_together),
                cmocka_unit_test(test_cpu_burst_veto_spares_the_others),
                cmocka_unit_test(test_cpu_announced_during_the_writes_joins_the_batch),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
