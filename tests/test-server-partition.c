/* SPDX-License-Identifier: MIT */
/*
 * Issue 17 items 9 and 10 through dhpd: a vetoed processor started again
 * on its slot (CPU_ONLINE, dhp_proc_online(), `dhpctl cpu online`), and the
 * memory devices with their blocks (STATUS_MEM_BLOCKS,
 * dhp_memory_snapshot_new()).  A real dhpd --platform sim on a socket in a
 * temporary directory; every wait bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "ipc-daemon.h"

/* A client that vetoes the first `vetoes` ADD_STARTs with -EBUSY. */
struct vetoer {
        atomic_int starts, completes, failures;
        int vetoes;
};

static void veto_cb(void *userdata, const dhp_proc_change *c) {
        struct vetoer *v = userdata;

        switch (dhp_proc_change_get_state(c)) {
        case DHP_PROC_ADD_START:
                if (atomic_fetch_add(&v->starts, 1) < v->vetoes)
                        assert_int_equal(dhp_proc_change_veto(c, -EBUSY), 0);
                break;
        case DHP_PROC_ADD_COMPLETE:
                atomic_fetch_add(&v->completes, 1);
                break;
        case DHP_PROC_ADD_FAILURE:
                atomic_fetch_add(&v->failures, 1);
                break;
        default:
                break;
        }
}

static dhp_proc_state state_of(dhp *ctx, uint32_t index) {
        dhp_proc_state st = DHP_PROC_ABSENT;

        assert_int_equal(dhp_proc_get_state(ctx, index, &st), 0);
        return st;
}

/* Three vetoes by a client (the hot-add, then two retries), then the
 * fourth add on the same slot is admitted. */
static void test_online_after_vetoes(void **state) {
        struct vetoer v = { .vetoes = 3 };
        dhp_proc_reg *reg;
        uint32_t idx = 0, count0 = 0, count1 = 0;
        int status = 0;
        dhp *vctx, *ctx;

        ipc_daemon_start("deadline = 2s");
        vctx = ipc_open_ctx();
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_proc_register(vctx, "vetoer", 0, veto_cb, &v, &reg), 0);
        assert_int_equal(dhp_proc_count(ctx, &count0), 0);

        assert_int_equal(dhp_sim_cpu_add(ctx, &idx), 1);
        assert_int_equal(idx, 2);
        assert_int_equal(state_of(ctx, idx), DHP_PROC_PRESENT);
        for (int i = 0; i < 2; i++) {
                status = 0;
                assert_int_equal(dhp_proc_online(ctx, idx, &status), 1);
                assert_int_equal(status, -EBUSY);
                assert_int_equal(state_of(ctx, idx), DHP_PROC_PRESENT);
        }
        assert_int_equal(dhp_proc_online(ctx, idx, &status), 0);
        assert_int_equal(state_of(ctx, idx), DHP_PROC_ADMITTED);
        /* The same slot every time: no new one was used. */
        assert_int_equal(dhp_proc_count(ctx, &count1), 0);
        assert_int_equal(count1, count0);
        assert_int_equal(state_of(ctx, idx + 1), DHP_PROC_ABSENT);
        assert_int_equal(atomic_load(&v.starts), 4);
        assert_int_equal(atomic_load(&v.failures), 3);
        assert_int_equal(atomic_load(&v.completes), 1);

        /* What cannot be started again, with dhpd's reason. */
        assert_int_equal(dhp_proc_online(ctx, idx, NULL), -EALREADY);
        assert_int_equal(dhp_proc_online(ctx, idx + 1, NULL), -ENODEV);
        assert_int_equal(dhp_proc_online(ctx, 64, NULL), -ERANGE);
        assert_int_equal(atomic_load(&v.starts), 4);

        dhp_proc_deregister(reg);
        dhp_close(vctx);
        dhp_close(ctx);
}

/* dhpctl cpu online N: the same request, reported to a person. */
static int run_dhpctl(const char *args, char *out, size_t size) {
        const char *dhpctl = getenv("DHPCTL");
        char cmd[512];
        size_t n = 0;
        FILE *p;
        int st;

        assert_non_null(dhpctl);
        snprintf(cmd, sizeof(cmd), "%s --socket %s %s 2>&1", dhpctl, ipc_sock, args);
        p = popen(cmd, "r");
        assert_non_null(p);
        while (n + 1 < size && fgets(out + n, (int)(size - n), p))
                n = strlen(out);
        out[n] = 0;
        st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_dhpctl_cpu_online(void **state) {
        struct vetoer v = { .vetoes = 1 };
        dhp_proc_reg *reg;
        char out[1024];
        uint32_t idx = 0;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_proc_register(ctx, "vetoer", 0, veto_cb, &v, &reg), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, &idx), 1);

        assert_int_equal(run_dhpctl("cpu online 2", out, sizeof(out)), 0);
        assert_non_null(strstr(out, "cpu2 admitted"));
        assert_int_equal(state_of(ctx, idx), DHP_PROC_ADMITTED);
        assert_int_equal(run_dhpctl("cpu online 2", out, sizeof(out)), 1);
        assert_non_null(strstr(out, "admitted already"));
        assert_int_equal(run_dhpctl("cpu online 3", out, sizeof(out)), 1);
        assert_non_null(strstr(out, "absent"));
        assert_int_equal(run_dhpctl("cpu online x", out, sizeof(out)), 2);
        dhp_proc_deregister(reg);
        dhp_close(ctx);
}

/* sim run on a full partition: the error, then how to make room. */
static void test_dhpctl_sim_run_full(void **state) {
        char out[4096], path[256], args[300];
        FILE *f;

        ipc_daemon_start("deadline = 2s");
        snprintf(path, sizeof(path), "%s/full.scenario", ipc_dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("cpu add 63\n", f);
        fclose(f);
        snprintf(args, sizeof(args), "sim run %s", path);
        assert_int_equal(run_dhpctl(args, out, sizeof(out)), 1);
        assert_non_null(strstr(out, "cpu add: No space left on device"));
        assert_non_null(strstr(out, "--sim maxcpus=N"));
}

/* CPU_ONLINE is privileged: nobody gets -EPERM and nothing runs. */
static void test_online_unprivileged(void **state) {
        struct vetoer v = { .vetoes = 1 };
        dhp_proc_reg *reg;
        int res[2], st, r = 0;
        uint32_t idx = 0;
        pid_t pid;
        dhp *ctx;

        if (geteuid() != 0) {
                skip(); /* needs root to become another uid */
                return;
        }
        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_proc_register(ctx, "vetoer", 0, veto_cb, &v, &reg), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, &idx), 1);
        assert_int_equal(pipe2(res, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dhp *c = ipc_open_as_nobody();
                int rc = dhp_proc_online(c, idx, NULL);
                (void)!write(res[1], &rc, sizeof(rc));
                dhp_close(c);
                _exit(0);
        }
        {
                struct pollfd p = { .fd = res[0], .events = POLLIN };
                assert_int_equal(poll(&p, 1, 10000), 1);
                assert_int_equal(read(res[0], &r, sizeof(r)), sizeof(r));
        }
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_int_equal(r, -EPERM);
        assert_int_equal(state_of(ctx, idx), DHP_PROC_PRESENT);
        assert_int_equal(atomic_load(&v.starts), 1);
        close(res[0]);
        close(res[1]);
        dhp_proc_deregister(reg);
        dhp_close(ctx);
}

/* Every request that waits for the worker (or Linux's hotplug thread)
 * holds one of the client's 16 job slots and gives it back when answered:
 * 20 CPU_ONLINEs in a row (all answered -EALREADY), then a registration,
 * its deregistration (no ADD_START after it) and a sim add succeed; then
 * each other queued request kind, 20 times each, leaves the client able to
 * queue work. */
static void check_can_queue(dhp *ctx) {
        struct vetoer v = { .vetoes = 0 };
        dhp_proc_reg *reg;
        uint32_t idx = 0;
        int r;

        assert_int_equal(dhp_proc_register(ctx, "slot-check", 0, veto_cb, &v, &reg), 0);
        dhp_proc_deregister(reg);
        r = dhp_sim_cpu_add(ctx, &idx);
        assert_true(r >= 0 || r == -ENOSPC);
        assert_int_equal(atomic_load(&v.starts), 0);
}

static int driver_ok(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        return 0;
}

static void test_queued_requests_free_their_slot(void **state) {
        dhp_device *dev;
        dhp_driver *drv;
        char *err = NULL;
        uint32_t idx;
        int status, r;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        for (int i = 0; i < 20; i++)
                assert_int_equal(dhp_proc_online(ctx, 0, &status), -EALREADY);
        check_can_queue(ctx);

        for (int i = 0; i < 20; i++) {
                struct vetoer v = { .vetoes = 0 };
                dhp_proc_reg *reg;

                assert_int_equal(dhp_proc_register(ctx, "loop", 0, veto_cb, &v, &reg), 0);
                dhp_proc_deregister(reg);
        }
        check_can_queue(ctx);
        for (int i = 0; i < 20; i++) {
                r = dhp_sim_cpu_add(ctx, &idx);
                assert_true(r >= 0 || r == -ENOSPC);
        }
        check_can_queue(ctx);
        for (int i = 0; i < 20; i++)
                assert_int_equal(dhp_sim_memory_add(ctx, 128u << 20, NULL), 0);
        check_can_queue(ctx);
        for (int i = 0; i < 20; i++) {
                assert_int_equal(dhp_sim_run_scenario(ctx, "s", "settle\n", &err), 0);
                free(err);
                err = NULL;
        }
        check_can_queue(ctx);
        for (int i = 0; i < 20; i++) {
                /* CPU_REMOVE, MEMORY_REMOVE, SIM_CPU_SURPRISE of what is not
                 * there: answered by the worker with an error, slot freed. */
                assert_true(dhp_proc_remove(ctx, 60, &status) < 0);
                assert_true(dhp_memory_remove(ctx, "memory-none", &status) < 0);
                assert_true(dhp_sim_cpu_surprise_remove(ctx, 60) < 0);
        }
        check_can_queue(ctx);
        for (int i = 0; i < 20; i++) {
                /* DRIVER_FREE and DEVICE_FREE queue; a refused free would
                 * leave the name taken (-EEXIST on the next round). */
                assert_int_equal(dhp_device_new(ctx, "disk0", DHP_SETUP_CLASS_STORAGE, &dev), 0);
                assert_int_equal(dhp_driver_attach(dev, "drv", driver_ok, NULL, &drv), 0);
                assert_int_equal(dhp_driver_detach(drv), 0);
                dhp_device_free(dev);
        }
        check_can_queue(ctx);
        dhp_close(ctx);
}

/* The in-process test of test-sim.c, through dhpd: boot memory, an
 * arrived device, and one whose first block failed to go online. */
static void test_memory_snapshot(void **state) {
        dhp_memory_snapshot *ms;
        uint64_t base, size;
        uint32_t nblocks, online;
        char *err = NULL;
        dhp *ctx;

        ipc_sim_opts = "cpus=1,memory=512M,block=128M,maxmem=2G";
        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_sim_memory_add(ctx, 256ULL << 20, &base), 0);
        assert_int_equal(base, 512ULL << 20);
        /* A failed block is an outcome of the scenario, not its error. */
        assert_int_equal(dhp_sim_run_scenario(ctx, "s", "fail block-online EBUSY 1\nmemory add 256M\n", &err), 0);
        free(err);

        assert_int_equal(dhp_memory_snapshot_new(ctx, &ms), 0);
        assert_int_equal(dhp_memory_snapshot_get_count(ms), 3);
        assert_int_equal(dhp_memory_snapshot_get_device(ms, 0, &base, &size, &nblocks, &online), 1);
        assert_int_equal(base, 0);
        assert_int_equal(size, 512ULL << 20);
        assert_int_equal(nblocks, 4);
        assert_int_equal(online, 4);
        expect_memory_blocks(ms, 0, 0, 4, 0, DHP_MEMORY_BLOCK_ONLINE, DHP_MEMORY_ZONE_NORMAL);
        assert_int_equal(dhp_memory_snapshot_get_device(ms, 1, &base, NULL, &nblocks, &online), 1);
        assert_int_equal(base, 512ULL << 20);
        assert_int_equal(nblocks, 2);
        assert_int_equal(online, 2);
        expect_memory_blocks(ms, 1, 0, 2, 4, DHP_MEMORY_BLOCK_ONLINE, DHP_MEMORY_ZONE_MOVABLE);
        assert_int_equal(dhp_memory_snapshot_get_device(ms, 2, NULL, NULL, &nblocks, &online), 0);
        assert_int_equal(nblocks, 2);
        assert_int_equal(online, 1);
        expect_memory_blocks(ms, 2, 0, 1, 6, DHP_MEMORY_BLOCK_OFFLINE, DHP_MEMORY_ZONE_UNKNOWN);
        expect_memory_blocks(ms, 2, 1, 2, 6, DHP_MEMORY_BLOCK_ONLINE, DHP_MEMORY_ZONE_MOVABLE);
        assert_int_equal(dhp_memory_snapshot_get_block(ms, 2, 2, NULL, NULL, NULL), -ERANGE);
        dhp_memory_snapshot_free(ms);
        dhp_close(ctx);
}

/* dhpctl status shows the runs (text and JSON). */
static void test_status_runs(void **state) {
        char out[4096];
        char *err = NULL;
        dhp *ctx;

        ipc_sim_opts = "cpus=1,memory=512M,block=128M,maxmem=2G";
        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        /* A failed block is an outcome of the scenario, not its error. */
        assert_int_equal(dhp_sim_run_scenario(ctx, "s", "fail block-online EBUSY 1\nmemory add 256M\n", &err), 0);
        free(err);
        assert_int_equal(run_dhpctl("status", out, sizeof(out)), 0);
        assert_non_null(strstr(out, "memory0-3  online, zone normal"));
        assert_non_null(strstr(out, "memory4  offline"));
        assert_non_null(strstr(out, "memory5  online, zone movable"));
        assert_int_equal(run_dhpctl("status --json", out, sizeof(out)), 0);
        assert_non_null(strstr(out, "\"runs\":[{\"first_block\":0,\"count\":4,\"state\":\"online\","
                                    "\"zone\":\"normal\"}]"));
        assert_non_null(strstr(out, "{\"first_block\":4,\"count\":1,\"state\":\"offline\",\"zone\":\"unknown\"}"));
        dhp_close(ctx);
}

static int setup(void **state) {
        ipc_sim_opts = "cpus=2,maxcpus=64,maxmem=1T";
        return ipc_setup(state);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_online_after_vetoes, setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_dhpctl_cpu_online, setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_online_unprivileged, setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_dhpctl_sim_run_full, setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_queued_requests_free_their_slot, setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_memory_snapshot, setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_status_runs, setup, ipc_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
