/* SPDX-License-Identifier: MIT */
/*
 * The client library's side of issue 18: connecting to a dhpd that does
 * not accept, or does not answer HELLO, ends in a bounded time; STATUS and
 * INCLUDE_EXISTING through dhpd with 10 000 memory devices.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "helpers.h"
#include "ipc-daemon.h"
#include "lib/dhp-private.h"
#include "util/time.h"

/* The library's handshake timeout (client.c), and what the test allows
 * beyond it on a loaded machine. */
#define HANDSHAKE_MS 5000
#define SLACK_MS 2000

static int listen_at(const char *path, int backlog) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_true(strlen(path) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, strlen(path) + 1);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, backlog), 0);
        return fd;
}

/* Connect without waiting until the listener's backlog is full; the
 * sockets connected so far in fds (they keep it full). */
static int fill_backlog(const char *path, int *fds, int max) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int n = 0;

        assert_true(strlen(path) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, strlen(path) + 1);
        while (n < max) {
                int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                assert_true(fd >= 0);
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                        assert_int_equal(errno, EAGAIN);
                        close(fd);
                        return n;
                }
                fds[n++] = fd;
        }
        fail_msg("the backlog of %s never filled", path);
        return n;
}

/* Item 10: a full backlog used to block dhp_open() for as long as it
 * stayed full (more than 20 s seen). */
static void test_connect_times_out_on_full_backlog(void **state) {
        char path[128], target[160];
        int lfd, fds[64], n;
        dhp *ctx = NULL;
        uint64_t t0, ms;
        int r;

        snprintf(path, sizeof(path), "%s/full.sock", ipc_dir);
        snprintf(target, sizeof(target), "unix:%s", path);
        lfd = listen_at(path, 1);
        n = fill_backlog(path, fds, 64);
        assert_true(n >= 1);
        t0 = time_now_ns();
        r = dhp_open(&ctx, target);
        ms = (time_now_ns() - t0) / 1000000;
        print_message("# dhp_open on a full backlog: %d after %llu ms\n", r, (unsigned long long)ms);
        assert_int_equal(r, -ETIMEDOUT);
        assert_null(ctx);
        assert_true(ms >= HANDSHAKE_MS - 100 && ms < HANDSHAKE_MS + SLACK_MS);
        assert_non_null(strstr(dhp_strerror(r), "did not accept the connection within 5 s"));
        for (int i = 0; i < n; i++)
                close(fds[i]);
        close(lfd);
}

/* The HELLO round trip: accepted (the backlog has room) but never answered. */
static void test_hello_times_out(void **state) {
        char path[128], target[160];
        dhp *ctx = NULL;
        uint64_t t0, ms;
        int lfd, r;

        snprintf(path, sizeof(path), "%s/mute.sock", ipc_dir);
        snprintf(target, sizeof(target), "unix:%s", path);
        lfd = listen_at(path, 16);
        t0 = time_now_ns();
        r = dhp_open(&ctx, target);
        ms = (time_now_ns() - t0) / 1000000;
        print_message("# dhp_open on a mute listener: %d after %llu ms\n", r, (unsigned long long)ms);
        assert_int_equal(r, -ETIMEDOUT);
        assert_true(ms >= HANDSHAKE_MS - 100 && ms < HANDSHAKE_MS + SLACK_MS);
        assert_non_null(strstr(dhp_strerror(r), "did not answer HELLO within 5 s"));
        close(lfd);
}

/* ---- item 8, the client side: 10 000 memory devices ------------------------ */

#define NDEV 10000

struct count {
        unsigned existing, other;
};

static void count_arrival(void *userdata, const dhp_device_event *ev) {
        struct count *c = userdata;

        if (dhp_device_event_is_existing(ev))
                c->existing++;
        else
                c->other++;
}

/* `dhpctl status --json` (another process) lists every device: one
 * "block_size" per memory device. */
static void dhpctl_status_lists(unsigned want) {
        const char *dhpctl = getenv("DHPCTL");
        size_t len = 0, cap = 1 << 20, k;
        char cmd[512], *out = malloc(cap);
        unsigned n = 0;
        FILE *f;

        assert_non_null(dhpctl);
        assert_non_null(out);
        snprintf(cmd, sizeof(cmd), "%s --socket %s status --json", dhpctl, ipc_sock);
        f = popen(cmd, "r");
        assert_non_null(f);
        while ((k = fread(out + len, 1, cap - len - 1, f)) > 0) {
                len += k;
                if (cap - len < 4096) {
                        out = realloc(out, cap *= 2);
                        assert_non_null(out);
                }
        }
        out[len] = 0;
        assert_int_equal(pclose(f), 0);
        for (const char *p = out; (p = strstr(p, "\"block_size\"")); p++)
                n++;
        free(out);
        print_message("# dhpctl status --json: %u memory devices (%zu bytes)\n", n, len);
        assert_int_equal(n, want);
}

static void test_status_and_existing_10000_devices(void **state) {
        struct remote_status st = { 0 };
        struct count c = { 0 };
        dhp_arrival_reg *reg = NULL;
        dhp_memory_snapshot *snap = NULL;
        uint64_t t0, ms;
        dhp *ctx;

        ipc_sim_opts = "cpus=2,maxcpus=4,memory=1M,block=1M,maxmem=16G";
        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        t0 = time_now_ns();
        for (int i = 0; i < NDEV; i++)
                assert_int_equal(dhp_sim_memory_add(ctx, 1 << 20, NULL), 0);
        print_message("# %d memory adds through dhpd: %llu ms\n", NDEV,
                      (unsigned long long)((time_now_ns() - t0) / 1000000));

        t0 = time_now_ns();
        assert_int_equal(dhp_internal_status(ctx, &st), 0);
        ms = (time_now_ns() - t0) / 1000000;
        print_message("# STATUS with %zu memory devices: %llu ms\n", st.nmem, (unsigned long long)ms);
        assert_int_equal(st.nmem, NDEV + 1); /* the boot memory too */
        for (size_t i = 1; i < st.nmem; i++)
                assert_int_equal(st.mem[i].status_mem.size, 1 << 20);
        remote_status_deinit(&st);
        assert_int_equal(dhp_memory_snapshot_new(ctx, &snap), 0);
        dhp_memory_snapshot_free(snap);
        dhpctl_status_lists(NDEV + 1);

        t0 = time_now_ns();
        assert_int_equal(dhp_arrival_register(ctx, "all", DHP_CLASS_MEMORY, DHP_ARRIVAL_INCLUDE_EXISTING,
                                              count_arrival, &c, &reg), 0);
        for (int i = 0; i < 200 && c.existing < NDEV + 1; i++)
                if (dhp_wait(ctx, 100) > 0)
                        assert_true(dhp_process(ctx) >= 0);
        ms = (time_now_ns() - t0) / 1000000;
        print_message("# INCLUDE_EXISTING: %u existing arrivals in %llu ms\n", c.existing, (unsigned long long)ms);
        assert_int_equal(c.existing, NDEV + 1);
        assert_int_equal(c.other, 0);
        /* Bounded: a quadratic duplicate check took seconds here. */
        assert_true(ms < 10000);
        dhp_arrival_unregister(reg);
        dhp_close(ctx);
        ipc_sim_opts = "cpus=2,maxcpus=64,maxmem=1T";
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_connect_times_out_on_full_backlog, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_hello_times_out, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_status_and_existing_10000_devices, ipc_setup, ipc_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
