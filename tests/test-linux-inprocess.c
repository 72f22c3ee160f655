/* SPDX-License-Identifier: MIT */
/*
 * dhp_open("linux:..."): the process is its own agent over a fake sysfs
 * tree, and its threads run only on admitted processors: a hot-added CPU
 * joins their affinity after the ADD_COMPLETE callbacks.  The affinity calls
 * are real (this machine's CPUs 0 and 1); only the hardware is fake.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake-sysfs.h"
#include "helpers.h"
#include "lib/affinity.h"
#include "util/cpuset.h"

struct obs {
        pid_t main_tid;
        bool main_had_cpu1_at_start;
        bool main_has_cpu1_at_complete;
        struct flag done;
};

static bool has_cpu(pid_t tid, int cpu) {
        cpu_set_t m;

        CPU_ZERO(&m);
        if (sched_getaffinity(tid, sizeof(m), &m) < 0)
                return false;
        return CPU_ISSET(cpu, &m);
}

/* The library widens masks after the ADD_COMPLETE callbacks, on the
 * transaction's thread: a test that learned of ADD_COMPLETE from a callback
 * waits, bounded, for that step. */
static bool wait_has_cpu(pid_t tid, int cpu, int ms) {
        for (int i = 0; i < ms; i++) {
                if (has_cpu(tid, cpu))
                        return true;
                usleep(1000);
        }
        return has_cpu(tid, cpu);
}

static void cb(void *userdata, const dhp_proc_change *c) {
        struct obs *o = userdata;

        if (dhp_proc_change_get_index(c) != 1)
                return;
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START)
                o->main_had_cpu1_at_start = has_cpu(o->main_tid, 1);
        else if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_COMPLETE) {
                o->main_has_cpu1_at_complete = has_cpu(o->main_tid, 1);
                flag_set(&o->done, 1);
        }
}

static void test_threads_kept_on_admitted_cpus(void **state) {
        struct fake_sysfs fs;
        struct obs o = { .main_tid = gettid() };
        char target[512], msg[256];
        dhp_proc_reg *reg;
        int sv[2], n;
        dhp *ctx;

        if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || !has_cpu(0, 1))
                skip();
        flag_init(&o.done);
        assert_int_equal(fake_sysfs_init(&fs), 0);
        /* cpu1 possible, not yet present. */
        assert_int_equal(fake_sysfs_add_cpus(&fs, 1, "0"), 0);
        assert_int_equal(fake_sysfs_write(&fs, "sys/devices/system/cpu/possible", "0-1\n"), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        snprintf(target, sizeof(target), "linux:root=%s,uevent-fd=%d", fs.root, sv[0]);
        assert_int_equal(dhp_open(&ctx, target), 0);
        /* No synchronous registration yet: no mask is touched. */
        assert_true(has_cpu(0, 1));
        assert_int_equal(dhp_proc_register(ctx, "obs", 0, cb, &o, &reg), 0);
        /* Only cpu0 is admitted: every thread is kept there. */
        assert_false(has_cpu(0, 1));

        /* cpu1 is hot-added. */
        assert_int_equal(fake_sysfs_write(&fs, "sys/devices/system/cpu/present", "0-1\n"), 0);
        assert_int_equal(fake_sysfs_write(&fs, "sys/devices/system/cpu/cpu1/online", "0\n"), 0);
        n = snprintf(msg, sizeof(msg), "add@/devices/system/cpu/cpu1%cACTION=add%cDEVPATH=/devices/system/cpu/cpu1%c"
                     "SUBSYSTEM=cpu%cSEQNUM=1", 0, 0, 0, 0);
        assert_int_equal(send(sv[1], msg, (size_t)n + 1, 0), n + 1);
        assert_true(flag_wait(&o.done, 1, 5000));
        assert_false(o.main_had_cpu1_at_start);
        /* Not even during ADD_COMPLETE: after its callbacks (R6). */
        assert_false(o.main_has_cpu1_at_complete);
        assert_true(wait_has_cpu(0, 1, 5000));

        dhp_proc_deregister(reg);
        dhp_close(ctx);
        close(sv[1]);
        fake_sysfs_deinit(&fs);
}

/* ---- the application's own masks (issue 17, item 1) ---------------------------- */

/* A thread of the application: pinned at its start (or not), and on
 * command it sets its own mask. */
struct app_thread {
        pthread_t thread;
        int pin;        /* -1: not pinned, else the only CPU */
        int set_own;    /* on command 2: this CPU only */
        pid_t tid;
        struct flag state; /* 1: running; 2: set your mask; 3: done it; 4: exit */
};

static void set_mask(pid_t tid, int cpu) {
        cpu_set_t m;

        CPU_ZERO(&m);
        if (cpu < 0) {
                CPU_SET(0, &m);
                CPU_SET(1, &m);
        } else {
                CPU_SET(cpu, &m);
        }
        assert_int_equal(sched_setaffinity(tid, sizeof(m), &m), 0);
}

static void *app_thread_main(void *userdata) {
        struct app_thread *t = userdata;

        t->tid = gettid();
        if (t->pin >= 0)
                set_mask(0, t->pin);
        flag_set(&t->state, 1);
        flag_wait(&t->state, 2, 30000);
        if (flag_get(&t->state) == 2) {
                set_mask(0, t->set_own);
                flag_set(&t->state, 3);
        }
        flag_wait(&t->state, 4, 30000);
        return NULL;
}

static void app_thread_start(struct app_thread *t, int pin, int set_own) {
        t->pin = pin;
        t->set_own = set_own;
        flag_init(&t->state);
        assert_int_equal(pthread_create(&t->thread, NULL, app_thread_main, t), 0);
        assert_true(flag_wait(&t->state, 1, 5000));
}

static void app_thread_stop(struct app_thread *t) {
        flag_set(&t->state, 4);
        pthread_join(t->thread, NULL);
}

/* Which of CPUs 0 and 1 a thread may run on: bit 0, bit 1. */
static int mask_of(pid_t tid) {
        return (has_cpu(tid, 0) ? 1 : 0) | (has_cpu(tid, 1) ? 2 : 0);
}

struct during {
        struct app_thread born; /* created inside ADD_START */
        bool started;
        struct flag done;
};

static void during_cb(void *userdata, const dhp_proc_change *c) {
        struct during *d = userdata;

        if (dhp_proc_change_get_index(c) != 1)
                return;
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START && !d->started) {
                /* Created on the adding thread, which is held off cpu1:
                 * it inherits the reduced mask and must get cpu1 back too. */
                d->started = true;
                app_thread_start(&d->born, -1, 0);
        } else if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_COMPLETE) {
                flag_set(&d->done, 1);
        }
}

static void hotadd_cpu1(struct fake_sysfs *fs, int sock) {
        char msg[256];
        int n;

        assert_int_equal(fake_sysfs_write(fs, "sys/devices/system/cpu/present", "0-1\n"), 0);
        assert_int_equal(fake_sysfs_write(fs, "sys/devices/system/cpu/cpu1/online", "0\n"), 0);
        n = snprintf(msg, sizeof(msg), "add@/devices/system/cpu/cpu1%cACTION=add%cDEVPATH=/devices/system/cpu/cpu1%c"
                     "SUBSYSTEM=cpu%cSEQNUM=1", 0, 0, 0, 0);
        assert_int_equal(send(sock, msg, (size_t)n + 1, 0), n + 1);
}

static dhp *open_fake_linux(struct fake_sysfs *fs, int sv[2]) {
        char target[512];
        dhp *ctx;

        assert_int_equal(fake_sysfs_init(fs), 0);
        /* cpu1 possible, not yet present: the CPU the test adds, this
         * machine's CPU 1 for the affinity calls. */
        assert_int_equal(fake_sysfs_add_cpus(fs, 1, "0"), 0);
        assert_int_equal(fake_sysfs_write(fs, "sys/devices/system/cpu/possible", "0-1\n"), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        snprintf(target, sizeof(target), "linux:root=%s,uevent-fd=%d", fs->root, sv[0]);
        assert_int_equal(dhp_open(&ctx, target), 0);
        return ctx;
}

/* Pinned threads stay pinned; a thread created during the add gets the
 * new CPU with the others; a thread that set its own mask keeps it. */
static void test_affinity_respects_application_masks(void **state) {
        struct app_thread pin0, pin1, free_, own;
        struct during d = { 0 };
        struct fake_sysfs fs;
        dhp_proc_reg *reg;
        int sv[2];
        dhp *ctx;

        if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || mask_of(0) != 3)
                skip();
        flag_init(&d.done);
        app_thread_start(&pin0, 0, 0);
        app_thread_start(&pin1, 1, 0);
        app_thread_start(&free_, -1, 0);
        app_thread_start(&own, -1, 1);
        ctx = open_fake_linux(&fs, sv);
        /* Opened, nothing registered: nothing touched. */
        assert_int_equal(mask_of(0), 3);
        assert_int_equal(mask_of(free_.tid), 3);
        assert_int_equal(dhp_proc_register(ctx, "during", 0, during_cb, &d, &reg), 0);
        /* Held: cpu1 removed where the library could; pinned threads as
         * they were (pin1 is pinned only to a CPU not admitted: left). */
        assert_int_equal(mask_of(0), 1);
        assert_int_equal(mask_of(free_.tid), 1);
        assert_int_equal(mask_of(pin0.tid), 1);
        assert_int_equal(mask_of(pin1.tid), 2);
        /* A thread sets its own mask meanwhile: that wins. */
        flag_set(&own.state, 2);
        assert_true(flag_wait(&own.state, 3, 5000));
        assert_int_equal(mask_of(own.tid), 2);

        hotadd_cpu1(&fs, sv[1]);
        assert_true(flag_wait(&d.done, 1, 5000));
        assert_true(d.started);
        /* Admitted: exactly what was removed is given back. */
        assert_true(wait_has_cpu(0, 1, 5000));
        assert_true(wait_has_cpu(free_.tid, 1, 5000));
        assert_true(wait_has_cpu(d.born.tid, 1, 5000));
        assert_int_equal(mask_of(0), 3);
        assert_int_equal(mask_of(free_.tid), 3);
        assert_int_equal(mask_of(d.born.tid), 3);
        assert_int_equal(mask_of(pin0.tid), 1);
        assert_int_equal(mask_of(pin1.tid), 2);
        assert_int_equal(mask_of(own.tid), 2);

        dhp_proc_deregister(reg);
        dhp_close(ctx);
        assert_int_equal(mask_of(pin0.tid), 1);
        assert_int_equal(mask_of(pin1.tid), 2);
        assert_int_equal(mask_of(own.tid), 2);
        assert_int_equal(mask_of(0), 3);
        app_thread_stop(&d.born);
        app_thread_stop(&pin0);
        app_thread_stop(&pin1);
        app_thread_stop(&free_);
        app_thread_stop(&own);
        close(sv[1]);
        fake_sysfs_deinit(&fs);
}

/* dhp_close() (and the last deregistration) with a CPU still withheld:
 * every mask is the application's again; a thread created meanwhile by a
 * held thread gets its due too. */
static void test_affinity_given_back_at_close(void **state) {
        struct app_thread pin0, later;
        struct fake_sysfs fs;
        dhp_proc_reg *reg;
        int sv[2];
        dhp *ctx;

        if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || mask_of(0) != 3)
                skip();
        app_thread_start(&pin0, 0, 0);
        ctx = open_fake_linux(&fs, sv);
        assert_int_equal(dhp_proc_register(ctx, "a", 0, cb, &(struct obs){ 0 }, &reg), 0);
        assert_int_equal(mask_of(0), 1);
        app_thread_start(&later, -1, 0); /* inherits the reduced mask */
        assert_int_equal(mask_of(later.tid), 1);
        /* The last synchronous registration goes: everything back. */
        dhp_proc_deregister(reg);
        assert_int_equal(mask_of(0), 3);
        assert_int_equal(mask_of(later.tid), 3);
        assert_int_equal(mask_of(pin0.tid), 1);
        /* Again, then dhp_close() with the registration still there. */
        assert_int_equal(dhp_proc_register(ctx, "a", 0, cb, &(struct obs){ 0 }, &reg), 0);
        assert_int_equal(mask_of(0), 1);
        dhp_close(ctx);
        assert_int_equal(mask_of(0), 3);
        assert_int_equal(mask_of(later.tid), 3);
        assert_int_equal(mask_of(pin0.tid), 1);
        app_thread_stop(&pin0);
        app_thread_stop(&later);
        close(sv[1]);
        fake_sysfs_deinit(&fs);
}

/* Issue 17 item 2 on the linux target: while cpu1's ADD_COMPLETE blocks on
 * the hotplug thread, an INCLUDE_EXISTING registration does not see cpu1;
 * after it, cpu1 arrives once, as new. */
struct gate {
        struct flag in_complete, go;
        int cpu1, cpu1_existing;
};

static void gate_cb(void *userdata, const dhp_proc_change *c) {
        struct gate *g = userdata;

        if (dhp_proc_change_get_index(c) != 1 || dhp_proc_change_get_state(c) != DHP_PROC_ADD_COMPLETE)
                return;
        flag_set(&g->in_complete, 1);
        assert_true(flag_wait(&g->go, 1, 10000));
}

static void gate_arrival(void *userdata, const dhp_device_event *e) {
        struct gate *g = userdata;
        uint32_t index;

        assert_int_equal(dhp_device_event_get_processor(e, &index, NULL), 0);
        if (index == 1) {
                g->cpu1++;
                g->cpu1_existing += dhp_device_event_is_existing(e);
        }
}

static void test_not_existing_before_add_complete(void **state) {
        struct fake_sysfs fs;
        struct gate g = { 0 };
        char target[512], msg[256];
        dhp_arrival_reg *areg;
        dhp_proc_reg *reg;
        int sv[2], n;
        dhp *ctx;

        flag_init(&g.in_complete);
        flag_init(&g.go);
        assert_int_equal(fake_sysfs_init(&fs), 0);
        assert_int_equal(fake_sysfs_add_cpus(&fs, 1, "0"), 0);
        assert_int_equal(fake_sysfs_write(&fs, "sys/devices/system/cpu/possible", "0-1\n"), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        snprintf(target, sizeof(target), "linux:root=%s,uevent-fd=%d", fs.root, sv[0]);
        assert_int_equal(dhp_open(&ctx, target), 0);
        assert_int_equal(dhp_proc_register(ctx, "gate", 0, gate_cb, &g, &reg), 0);

        assert_int_equal(fake_sysfs_write(&fs, "sys/devices/system/cpu/present", "0-1\n"), 0);
        assert_int_equal(fake_sysfs_write(&fs, "sys/devices/system/cpu/cpu1/online", "0\n"), 0);
        n = snprintf(msg, sizeof(msg), "add@/devices/system/cpu/cpu1%cACTION=add%cDEVPATH=/devices/system/cpu/cpu1%c"
                     "SUBSYSTEM=cpu%cSEQNUM=1", 0, 0, 0, 0);
        assert_int_equal(send(sv[1], msg, (size_t)n + 1, 0), n + 1);
        assert_true(flag_wait(&g.in_complete, 1, 10000));

        assert_int_equal(dhp_arrival_register(ctx, "late", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING,
                                              gate_arrival, &g, &areg), 0);
        assert_true(dhp_process(ctx) >= 1); /* cpu0, existing */
        assert_int_equal(g.cpu1, 0);

        flag_set(&g.go, 1);
        for (int i = 0; i < 500 && g.cpu1 == 0; i++) {
                dhp_wait(ctx, 20);
                assert_true(dhp_process(ctx) >= 0);
        }
        assert_int_equal(g.cpu1, 1);
        assert_int_equal(g.cpu1_existing, 0);

        dhp_arrival_unregister(areg);
        dhp_proc_deregister(reg);
        dhp_close(ctx);
        close(sv[1]);
        fake_sysfs_deinit(&fs);
}

/* Opens "linux:" over a fake tree with cpu0 online, cpu1 possible, and
 * memory blocks 0-3 online; *sv[1] sends uevents. */
#define BS (128ULL << 20)

static dhp *open_tree(struct fake_sysfs *fs, int sv[2]) {
        char target[512];
        dhp *ctx;

        assert_int_equal(fake_sysfs_init(fs), 0);
        assert_int_equal(fake_sysfs_add_cpus(fs, 1, "0"), 0);
        assert_int_equal(fake_sysfs_write(fs, "sys/devices/system/cpu/possible", "0-1\n"), 0);
        assert_int_equal(fake_sysfs_add_memory(fs, BS, 0, 4, "online", "Normal"), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        snprintf(target, sizeof(target), "linux:root=%s,uevent-fd=%d", fs->root, sv[0]);
        assert_int_equal(dhp_open(&ctx, target), 0);
        return ctx;
}

static void send_add(int fd, const char *subsystem, const char *devpath, int seq) {
        char msg[256];
        int n;

        n = snprintf(msg, sizeof(msg), "add@%s%cACTION=add%cDEVPATH=%s%cSUBSYSTEM=%s%cSEQNUM=%d", devpath, 0, 0,
                     devpath, 0, subsystem, 0, seq);
        assert_int_equal(send(fd, msg, (size_t)n + 1, 0), n + 1);
}

/* Issue 17 item 9 on the linux target: cpu1's add is vetoed (offline
 * again), dhp_proc_online() adds it again on the same slot. */
struct veto_once {
        int vetoes_left;
        struct flag failed;
};

static void veto_once_cb(void *userdata, const dhp_proc_change *c) {
        struct veto_once *v = userdata;

        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START && v->vetoes_left > 0) {
                v->vetoes_left--;
                dhp_proc_change_veto(c, -ENOMEM);
        } else if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_FAILURE) {
                flag_set(&v->failed, flag_get(&v->failed) + 1);
        }
}

static void test_online_after_veto(void **state) {
        struct veto_once v = { .vetoes_left = 2 };
        struct fake_sysfs fs;
        dhp_proc_state ps = DHP_PROC_ABSENT;
        dhp_proc_reg *reg;
        char buf[16];
        int sv[2], status = 0;
        dhp *ctx;

        flag_init(&v.failed);
        ctx = open_tree(&fs, sv);
        assert_int_equal(dhp_proc_register(ctx, "v", 0, veto_once_cb, &v, &reg), 0);
        assert_int_equal(fake_sysfs_write(&fs, "sys/devices/system/cpu/present", "0-1\n"), 0);
        assert_int_equal(fake_sysfs_write(&fs, "sys/devices/system/cpu/cpu1/online", "0\n"), 0);
        send_add(sv[1], "cpu", "/devices/system/cpu/cpu1", 1);
        assert_true(flag_wait(&v.failed, 1, 10000));
        for (int i = 0; i < 500 && ps != DHP_PROC_PRESENT; i++) {
                dhp_wait(ctx, 10);
                assert_int_equal(dhp_proc_get_state(ctx, 1, &ps), 0);
        }
        assert_int_equal(ps, DHP_PROC_PRESENT);
        assert_int_equal(fake_sysfs_read(&fs, "sys/devices/system/cpu/cpu1/online", buf, sizeof(buf)), 0);
        assert_int_equal(buf[0], '0');

        assert_int_equal(dhp_proc_online(ctx, 1, &status), 1);
        assert_int_equal(status, -ENOMEM);
        assert_int_equal(dhp_proc_online(ctx, 1, &status), 0);
        assert_int_equal(dhp_proc_get_state(ctx, 1, &ps), 0);
        assert_int_equal(ps, DHP_PROC_ADMITTED);
        assert_int_equal(fake_sysfs_read(&fs, "sys/devices/system/cpu/cpu1/online", buf, sizeof(buf)), 0);
        assert_int_equal(buf[0], '1');
        assert_int_equal(dhp_proc_online(ctx, 1, NULL), -EALREADY);

        dhp_proc_deregister(reg);
        dhp_close(ctx);
        close(sv[1]);
        fake_sysfs_deinit(&fs);
}

/* Issue 17 item 10 on the linux target: the boot memory and a hot-added
 * DIMM, with their blocks and zones. */
static void mem_arrived(void *userdata, const dhp_device_event *e) {
        flag_set(userdata, flag_get(userdata) + 1);
}

static void test_memory_snapshot(void **state) {
        struct fake_sysfs fs;
        struct flag arrived;
        dhp_memory_snapshot *ms;
        dhp_memory_block_state bs;
        dhp_memory_zone z;
        dhp_arrival_reg *areg;
        uint64_t base, size, index;
        uint32_t nblocks, online;
        int sv[2];
        dhp *ctx;

        flag_init(&arrived);
        ctx = open_tree(&fs, sv);
        assert_int_equal(dhp_arrival_register(ctx, "m", DHP_CLASS_MEMORY, 0, mem_arrived, &arrived, &areg), 0);
        assert_int_equal(dhp_start_thread(ctx), 0);
        assert_int_equal(fake_sysfs_add_memory(&fs, BS, 4, 2, "offline", "Normal Movable"), 0);
        assert_int_equal(fake_sysfs_add_acpi_memdev(&fs, "PNP0C80:00", 4, 2), 0);
        send_add(sv[1], "memory", "/devices/system/memory/memory4", 1);
        send_add(sv[1], "memory", "/devices/system/memory/memory5", 2);
        assert_true(flag_wait(&arrived, 1, 10000));

        assert_int_equal(dhp_memory_snapshot_new(ctx, &ms), 0);
        assert_int_equal(dhp_memory_snapshot_get_count(ms), 2);
        assert_int_equal(dhp_memory_snapshot_get_device(ms, 0, &base, &size, &nblocks, &online), 1);
        assert_true(base == 0 && size == 4 * BS);
        assert_int_equal(nblocks, 4);
        assert_int_equal(online, 4);
        /* Found online: dhp did not online it, the zone is not known. */
        assert_int_equal(dhp_memory_snapshot_get_block(ms, 0, 0, &index, &bs, &z), 0);
        assert_int_equal(bs, DHP_MEMORY_BLOCK_ONLINE);
        assert_int_equal(z, DHP_MEMORY_ZONE_UNKNOWN);
        assert_int_equal(dhp_memory_snapshot_get_device(ms, 1, &base, &size, &nblocks, &online), 1);
        assert_true(base == 4 * BS && size == 2 * BS);
        assert_int_equal(online, 2);
        for (uint32_t k = 0; k < 2; k++) {
                assert_int_equal(dhp_memory_snapshot_get_block(ms, 1, k, &index, &bs, &z), 0);
                assert_int_equal(index, 4 + k);
                assert_int_equal(bs, DHP_MEMORY_BLOCK_ONLINE);
                assert_int_equal(z, DHP_MEMORY_ZONE_MOVABLE);
        }
        dhp_memory_snapshot_free(ms);

        dhp_arrival_unregister(areg);
        dhp_close(ctx);
        close(sv[1]);
        fake_sysfs_deinit(&fs);
}

static void test_bad_linux_options(void **state) {
        dhp *ctx;

        assert_int_equal(dhp_open(&ctx, "linux:bogus=1"), -EINVAL);
        assert_int_equal(dhp_open(&ctx, "linux:uevent-fd=x"), -EINVAL);
        assert_int_equal(dhp_open(&ctx, "linux:online=maybe"), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_threads_kept_on_admitted_cpus),
                cmocka_unit_test(test_not_existing_before_add_complete),
                cmocka_unit_test(test_online_after_veto),
                cmocka_unit_test(test_memory_snapshot),
                cmocka_unit_test(test_affinity_respects_application_masks),
                cmocka_unit_test(test_affinity_given_back_at_close),
                cmocka_unit_test(test_bad_linux_options),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
