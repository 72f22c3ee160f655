/* SPDX-License-Identifier: MIT */
/*
 * Memory condition events and user-space rebalance devices through dhpd,
 * end to end: a real dhpd --platform sim on a socket in a temporary
 * directory, driven by dhpctl (another process) or by a second context;
 * client processes made with fork() where one must die or change uid.
 * Every wait is bounded (a flag, a poll, a pipe); where a client hangs, it
 * plays a client that misses the deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/memcond.h"
#include "helpers.h"
#include "ipc-daemon.h"
#include "lib/client.h"
#include "lib/dhp-private.h"
#include "proto/proto.h"
#include "util/time.h"

/* dhpctl --socket SOCK sim ...: another process drives the daemon. */
static void dhpctl_sim(const char *a, const char *b) {
        char *argv[] = { getenv("DHPCTL"), "--socket", ipc_sock, "sim", (char *)a, (char *)b, NULL };

        assert_non_null(argv[0]);
        assert_int_equal(ipc_run(argv, NULL, 0, 20), 0);
}

static void dhpctl_run(const char *scenario) {
        char path[160];
        FILE *f;

        snprintf(path, sizeof(path), "%s/s.scenario", ipc_dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(scenario, f);
        fclose(f);
        dhpctl_sim("run", path);
}

static bool readable(int fd, int ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, ms) == 1;
}

/* ---- memory condition events ------------------------------------------------- */

/* dhpd's sim: 1 GiB, 3/4 available: low 8 MiB, high 24 MiB; High is set. */
static void test_memcond_fd_follows_dhpd(void **state) {
        dhp_memcond *low, *high, *low2;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &low), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighMemoryCondition", &high), 0);
        /* The state at subscription, before open returned. */
        assert_false(dhp_memcond_is_set(low));
        assert_true(dhp_memcond_is_set(high));
        assert_false(readable(dhp_memcond_get_fd(low), 0));
        assert_true(readable(dhp_memcond_get_fd(high), 0));

        dhpctl_run("memory level available=4M\n");
        assert_true(readable(dhp_memcond_get_fd(low), 5000));
        assert_true(dhp_memcond_is_set(low));
        assert_false(dhp_memcond_is_set(high));
        assert_false(readable(dhp_memcond_get_fd(high), 0));
        /* A second handle of the same event: its own fd, the same state. */
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &low2), 0);
        assert_true(readable(dhp_memcond_get_fd(low2), 0));

        dhpctl_run("memory level available=512M\n");
        assert_true(readable(dhp_memcond_get_fd(high), 5000));
        /* The CLEAR of Low came before the SET of High. */
        assert_false(readable(dhp_memcond_get_fd(low), 0));
        assert_false(readable(dhp_memcond_get_fd(low2), 0));
        assert_false(dhp_memcond_is_set(low));

        /* Closing one handle keeps the other subscribed. */
        dhp_memcond_close(low2);
        dhpctl_run("memory level available=4M\n");
        assert_true(readable(dhp_memcond_get_fd(low), 5000));

        /* Not an event dhpd knows: its -ENOENT. */
        assert_int_equal(dhp_memcond_open(ctx, "lowmemorycondition", &low2), -ENOENT);
        assert_int_equal(dhp_memcond_open(ctx, "NoSuchCondition", &low2), -ENOENT);
        dhp_memcond_close(low);
        dhp_memcond_close(high);
        dhp_close(ctx);
}

struct waiter {
        dhp_memcond *ev;
        int result;
        pthread_t t;
};

static void *wait_thread(void *userdata) {
        struct waiter *w = userdata;

        w->result = dhp_memcond_wait(w->ev, 10000);
        return NULL;
}

static void test_memcond_set_wakes_every_waiter(void **state) {
        struct waiter w[2] = { 0 };
        dhp_memcond *low;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &low), 0);
        assert_int_equal(dhp_memcond_wait(low, 0), 0);
        for (int i = 0; i < 2; i++) {
                w[i].ev = low;
                w[i].result = -1;
                assert_int_equal(pthread_create(&w[i].t, NULL, wait_thread, &w[i]), 0);
        }
        /* Both inside the wait (bounded). */
        for (uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC;
             memcond_waiting(dhp_internal_engine(ctx), MEMCOND_LOW_MEMORY) < 2;) {
                assert_true(time_now_ns() < end);
                usleep(1000);
        }
        /* Set then cleared at once: a waiter still wakes with 1. */
        dhpctl_run("memory level available=4M\nmemory level available=512M\n");
        for (int i = 0; i < 2; i++) {
                pthread_join(w[i].t, NULL);
                assert_int_equal(w[i].result, 1);
        }
        /* The CLEAR follows on this connection (dhpctl's own came back
         * first): bounded. */
        for (uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC; dhp_memcond_is_set(low);) {
                assert_true(time_now_ns() < end);
                usleep(1000);
        }
        dhp_memcond_close(low);
        dhp_close(ctx);
}

static void test_memcond_thresholds_through_dhpd(void **state) {
        uint64_t v = 0;
        char *err = NULL;
        dhp_memcond *low;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_memcond_get_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, &v), 0);
        assert_true(v == 8ULL << 20);
        assert_int_equal(dhp_memcond_get_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, &v), 0);
        assert_true(v == 24ULL << 20);
        /* dhpd validates, and says why (high is no longer 3 x low). */
        assert_int_equal(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_HIGH_MEMORY, 64ULL << 20, NULL), 0);
        assert_int_equal(dhp_memcond_set_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, 100ULL << 20, &err), -EINVAL);
        assert_non_null(err);
        assert_non_null(strstr(err, "high"));
        free(err);
        err = NULL;
        assert_int_equal(dhp_memcond_configure(ctx, "low=bogus", &err), -EINVAL);
        assert_non_null(err);
        free(err);
        /* A change applies in dhpd at once: Low is set at 600 MiB. */
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &low), 0);
        assert_false(dhp_memcond_is_set(low));
        assert_int_equal(dhp_memcond_configure(ctx, "low=700M,high=800M", NULL), 0);
        assert_int_equal(dhp_memcond_get_threshold(ctx, DHP_MEMCOND_LOW_MEMORY, &v), 0);
        assert_true(v == 700ULL << 20);
        dhpctl_run("memory level available=600M\n");
        assert_true(readable(dhp_memcond_get_fd(low), 5000));
        dhp_memcond_close(low);
        dhp_close(ctx);
}

static void test_memcond_reconnect_refreshes(void **state) {
        dhp_memcond *low, *high;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_memcond_open(ctx, "LowMemoryCondition", &low), 0);
        assert_int_equal(dhp_memcond_open(ctx, "HighMemoryCondition", &high), 0);
        dhpctl_run("memory level available=4M\n");
        assert_true(readable(dhp_memcond_get_fd(low), 5000));
        ipc_daemon_stop();
        assert_int_equal(dhp_wait(ctx, 5000), 1);
        assert_int_equal(dhp_process(ctx), -ECONNRESET);
        /* The last state stays while dhpd is away. */
        assert_true(dhp_memcond_is_set(low));
        ipc_daemon_start("deadline = 2s");
        assert_int_equal(dhp_reconnect(ctx), 0);
        /* A new dhpd: 3/4 available again.  The subscriptions came back
         * with the state: refreshed (bounded). */
        assert_true(readable(dhp_memcond_get_fd(high), 5000));
        assert_false(readable(dhp_memcond_get_fd(low), 0));
        dhpctl_run("memory level available=4M\n");
        assert_true(readable(dhp_memcond_get_fd(low), 5000));
        dhp_memcond_close(low);
        dhp_memcond_close(high);
        dhp_close(ctx);
}

/* ---- user-space devices ------------------------------------------------------ */

/* What the callbacks of a context saw, in order. */
struct evlog {
        pthread_mutex_t lock;
        char line[64][96];
        struct flag n;
        int refuse; /* the "lower" driver refuses QUERY_STOP with this */
};

static struct evlog evlog;

static void evlog_init(void) {
        memset(&evlog, 0, sizeof(evlog));
        pthread_mutex_init(&evlog.lock, NULL);
        flag_init(&evlog.n);
}

static void evlog_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void evlog_add(const char *fmt, ...) {
        va_list ap;
        int n;

        pthread_mutex_lock(&evlog.lock);
        n = flag_get(&evlog.n);
        if (n < 64) {
                va_start(ap, fmt);
                vsnprintf(evlog.line[n], sizeof(evlog.line[n]), fmt, ap);
                va_end(ap);
                flag_set(&evlog.n, n + 1);
        }
        pthread_mutex_unlock(&evlog.lock);
}

static void evlog_expect(const char *const *want, size_t n) {
        assert_true(flag_wait(&evlog.n, (int)n, 10000));
        for (size_t i = 0; i < n; i++)
                if (strcmp(evlog.line[i], want[i]) != 0) {
                        for (int k = 0; k < flag_get(&evlog.n); k++)
                                fprintf(stderr, "  %s\n", evlog.line[k]);
                        fail_msg("event %zu: expected '%s', got '%s'", i, want[i], evlog.line[i]);
                }
}

static void sync_log(void *userdata, const dhp_proc_change *c) {
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_COMPLETE)
                evlog_add("ADD_COMPLETE cpu%u", dhp_proc_change_get_index(c));
}

static int driver_log(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        const char *name = userdata;

        if (req == DHP_REBALANCE_START)
                evlog_add("%s %s %s new=%s", proto_request_name(req), dhp_device_get_name(dhp_rebalance_ctx_get_device(c)),
                          name, dhp_rebalance_ctx_get_new_affinity(c));
        else
                evlog_add("%s %s %s", proto_request_name(req), dhp_device_get_name(dhp_rebalance_ctx_get_device(c)), name);
        if (req == DHP_REBALANCE_QUERY_STOP && strcmp(name, "lower") == 0)
                return evlog.refuse;
        return 0;
}

static void test_device_sequence_in_order(void **state) {
        dhp_driver *lower, *upper;
        dhp_proc_reg *reg;
        dhp_device *dev;
        uint64_t last = 0, max = 0;
        char *aff = NULL;
        bool optout = true;
        dhp *ctx;
        static const char *const want[] = {
                "ADD_COMPLETE cpu2",   "QUERY_STOP disk0 upper",    "QUERY_STOP disk0 lower",   "STOP disk0 upper",
                "STOP disk0 lower",    "START disk0 lower new=0-2", "START disk0 upper new=0-2",
        };

        evlog_init();
        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_proc_register(ctx, NULL, 0, sync_log, NULL, &reg), 0);
        assert_int_equal(dhp_device_new(ctx, "disk0", DHP_SETUP_CLASS_STORAGE, &dev), 0);
        assert_int_equal(dhp_device_new(ctx, "disk0", DHP_SETUP_CLASS_STORAGE, &dev), -EEXIST);
        assert_int_equal(dhp_driver_attach(dev, "lower", driver_log, "lower", &lower), 0);
        assert_int_equal(dhp_driver_attach(dev, "upper", driver_log, "upper", &upper), 0);
        /* The device as dhpd made it. */
        assert_int_equal(dhp_device_get_affinity(dev, &aff), 0);
        assert_string_equal(aff, "0-1");
        free(aff);
        assert_int_equal(dhp_device_participates(dev), 1);
        assert_int_equal(dhp_setup_class_get_optout(ctx, "Net", &optout), 0);
        assert_true(optout);
        assert_int_equal(dhp_setup_class_get_optout(ctx, "Storage", &optout), 0);
        assert_false(optout);
        assert_int_equal(dhp_device_set_policy(dev, DHP_REBALANCE_POLICY_DO_NOT), 0);
        assert_int_equal(dhp_device_participates(dev), 0);
        assert_int_equal(dhp_device_set_policy(dev, DHP_REBALANCE_POLICY_ABSENT), 0);
        assert_int_equal(dhp_device_set_affinity(dev, "nonsense"), -EINVAL);
        assert_int_equal(dhp_start_thread(ctx), 0);

        dhpctl_sim("cpu", "add");
        evlog_expect(want, sizeof(want) / sizeof(want[0]));
        assert_int_equal(dhp_device_affinity_has(dev, 2), 1);
        assert_int_equal(dhp_device_get_affinity(dev, &aff), 0);
        assert_string_equal(aff, "0-2");
        free(aff);
        /* dhpd measures it after the last START's answer: bounded. */
        for (uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC; last == 0;) {
                assert_int_equal(dhp_device_get_stopped_ns(dev, &last, &max), 0);
                assert_true(time_now_ns() < end);
        }
        assert_true(max >= last);

        /* set_affinity goes through dhpd and comes back (-EBUSY until
         * dhpd's sequence has ended: bounded). */
        {
                int r;
                uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC;
                while ((r = dhp_device_set_affinity(dev, "1")) == -EBUSY)
                        assert_true(time_now_ns() < end);
                assert_int_equal(r, 0);
        }
        assert_int_equal(dhp_device_affinity_has(dev, 0), 0);
        assert_int_equal(dhp_device_affinity_has(dev, 1), 1);
        /* A detached driver is not asked again. */
        assert_int_equal(dhp_driver_detach(upper), 0);
        flag_set(&evlog.n, 0);
        dhpctl_sim("cpu", "add");
        {
                static const char *const want2[] = { "ADD_COMPLETE cpu3", "QUERY_STOP disk0 lower", "STOP disk0 lower",
                                                     "START disk0 lower new=0-3" };
                evlog_expect(want2, 4);
        }
        dhp_device_free(dev);
        /* Its name is free in dhpd again. */
        assert_int_equal(dhp_device_new(ctx, "disk0", DHP_SETUP_CLASS_STORAGE, &dev), 0);
        dhp_device_free(dev);
        dhp_proc_deregister(reg);
        dhp_close(ctx);
}

static void test_device_refused_query_stop(void **state) {
        dhp_driver *lower, *upper;
        dhp_device *dev;
        char *aff = NULL;
        dhp *ctx, *drv;
        /* D18: CANCEL_STOP to the whole stack, bottom up, the refusing
         * driver included. */
        static const char *const want[] = { "QUERY_STOP disk1 upper", "QUERY_STOP disk1 lower",
                                            "CANCEL_STOP disk1 lower", "CANCEL_STOP disk1 upper" };

        evlog_init();
        evlog.refuse = -EBUSY;
        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_device_new(ctx, "disk1", DHP_SETUP_CLASS_STORAGE, &dev), 0);
        assert_int_equal(dhp_driver_attach(dev, "lower", driver_log, "lower", &lower), 0);
        assert_int_equal(dhp_driver_attach(dev, "upper", driver_log, "upper", &upper), 0);
        assert_int_equal(dhp_start_thread(ctx), 0);
        drv = ipc_open_ctx();
        assert_int_equal(dhp_sim_cpu_add(drv, NULL), 0);
        evlog_expect(want, 4);
        /* Nothing else for this device in this rebalance (bounded). */
        assert_false(flag_wait(&evlog.n, 5, 300));
        assert_int_equal(dhp_device_affinity_has(dev, 2), 0);
        assert_int_equal(dhp_device_get_affinity(dev, &aff), 0);
        assert_string_equal(aff, "0-1");
        free(aff);
        dhp_close(drv);
        dhp_close(ctx); /* frees the device and detaches the drivers */
}

/* A monitor that raises a flag at each "rebalance END" record. */
static void end_cb(void *userdata, const dhp_record *r) {
        if (strcmp(dhp_record_get_method(r), "rebalance") == 0 && strcmp(dhp_record_get_event(r), "END") == 0)
                flag_set(userdata, flag_get(userdata) + 1);
}

static int hang_driver(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        int *fd = userdata;

        if (req == DHP_REBALANCE_STOP) {
                (void)!write(*fd, "S", 1);
                pause(); /* killed here, or it misses the deadline */
        }
        return 0;
}

/* A child with a device "kdisk" whose one driver hangs in STOP. */
static pid_t hang_child(int *pipefd) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                char target[160];
                dhp_device *dev;
                dhp_driver *d;
                dhp *c;
                snprintf(target, sizeof(target), "unix:%s", ipc_sock);
                if (dhp_open(&c, target) < 0 || dhp_device_new(c, "kdisk", "Storage", &dev) < 0 ||
                    dhp_driver_attach(dev, "hang", hang_driver, &pipefd[1], &d) < 0 || dhp_start_thread(c) < 0)
                        _exit(1);
                (void)!write(pipefd[1], "R", 1);
                for (;;)
                        pause();
        }
        return pid;
}

static void expect_byte(int fd, char want) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char b = 0;

        assert_int_equal(poll(&p, 1, 5000), 1);
        assert_int_equal(read(fd, &b, 1), 1);
        assert_int_equal(b, want);
}

static void test_sigkill_in_stop(void **state) {
        struct flag ends;
        dhp_monitor *mon;
        dhp_device *dev;
        int pfd[2], st;
        uint64_t t0;
        pid_t pid;
        dhp *ctx;

        flag_init(&ends);
        ipc_daemon_start("deadline = 2s");
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        pid = hang_child(pfd);
        expect_byte(pfd[0], 'R');
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_monitor_add(ctx, end_cb, &ends, &mon), 0);
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        expect_byte(pfd[0], 'S');
        t0 = time_now_ns();
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        /* The rebalance ends without waiting for the deadline. */
        assert_true(flag_wait(&ends, 1, 5000));
        assert_true(time_now_ns() - t0 < 2 * NSEC_PER_SEC);
        /* The dead client's device is gone from dhpd: its name is free. */
        assert_int_equal(dhp_device_new(ctx, "kdisk", "Storage", &dev), 0);
        dhp_device_free(dev);
        dhp_monitor_remove(mon);
        dhp_close(ctx);
        close(pfd[0]);
        close(pfd[1]);
}

static void test_hung_driver_misses_deadline(void **state) {
        struct remote_status rs;
        struct flag ends;
        dhp_monitor *mon;
        unsigned late = 0;
        int pfd[2], st;
        uint64_t t0;
        pid_t pid;
        dhp *ctx;

        flag_init(&ends);
        ipc_daemon_start("deadline = 300ms");
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        pid = hang_child(pfd);
        expect_byte(pfd[0], 'R');
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_monitor_add(ctx, end_cb, &ends, &mon), 0);
        t0 = time_now_ns();
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        expect_byte(pfd[0], 'S');
        /* STOP and START each wait one deadline, then count as done. */
        assert_true(flag_wait(&ends, 1, 5000));
        assert_true(time_now_ns() - t0 >= 300 * NSEC_PER_MSEC);
        assert_true(time_now_ns() - t0 < 3 * NSEC_PER_SEC);
        assert_int_equal(remote_status(dhp_internal_remote(ctx), &rs), 0);
        for (size_t i = 0; i < rs.nclients; i++)
                if (rs.clients[i].status_client.pid == (uint32_t)pid)
                        late = rs.clients[i].status_client.late;
        remote_status_deinit(&rs);
        assert_true(late >= 1);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        dhp_monitor_remove(mon);
        dhp_close(ctx);
        close(pfd[0]);
        close(pfd[1]);
}

/* ---- who may do what ------------------------------------------------------------ */

static void test_unprivileged_client(void **state) {
        int res[2], st, v[4];
        pid_t pid;

        if (geteuid() != 0) {
                skip(); /* needs root to become another uid */
                return;
        }
        ipc_daemon_start("deadline = 2s");
        assert_int_equal(pipe2(res, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dhp_memcond *low;
                dhp_device *dev;
                dhp *c;
                int r[4];
                c = ipc_open_as_nobody();
                r[0] = dhp_memcond_open(c, "LowMemoryCondition", &low); /* anyone */
                r[1] = dhp_memcond_set_threshold(c, DHP_MEMCOND_LOW_MEMORY, 16ULL << 20, NULL);
                r[2] = dhp_device_new(c, "nobody-disk", "Storage", &dev);
                r[3] = dhp_setup_class_set_optout(c, "Storage", true);
                (void)!write(res[1], r, sizeof(r));
                _exit(0);
        }
        {
                struct pollfd p = { .fd = res[0], .events = POLLIN };
                assert_int_equal(poll(&p, 1, 5000), 1);
                assert_int_equal(read(res[0], v, sizeof(v)), sizeof(v));
        }
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_int_equal(v[0], 0);
        assert_int_equal(v[1], -EPERM);
        assert_int_equal(v[2], -EPERM);
        assert_int_equal(v[3], -EPERM);
        close(res[0]);
        close(res[1]);
}

/* ---- the same application, in-process and through dhpd --------------------------- */

static void test_same_application(void **state) {
        static char in[8192], out[8192];
        char target[160];
        char *argv[] = { getenv("PARTITION_APP"), "sim", NULL };

        assert_non_null(argv[0]);
        assert_int_equal(ipc_run(argv, in, sizeof(in), 20), 0);
        ipc_daemon_start("deadline = 2s");
        snprintf(target, sizeof(target), "unix:%s", ipc_sock);
        argv[1] = target;
        assert_int_equal(ipc_run(argv, out, sizeof(out), 20), 0);
        if (strcmp(in, out) != 0)
                fail_msg("in-process:\n%s\nthrough dhpd:\n%s", in, out);
        /* And it did what it says. */
        assert_non_null(strstr(in, "driver upper START app-disk old=0-1 new=0-2 cpu2"));
        assert_non_null(strstr(in, "memcond LowMemoryCondition readable=1 set=1"));
        assert_non_null(strstr(in, "arrival ARRIVAL cpu2"));
        assert_non_null(strstr(in, "done"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_memcond_fd_follows_dhpd, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_memcond_set_wakes_every_waiter, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_memcond_thresholds_through_dhpd, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_memcond_reconnect_refreshes, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_device_sequence_in_order, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_device_refused_query_stop, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_sigkill_in_stop, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_hung_driver_misses_deadline, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_unprivileged_client, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_same_application, ipc_setup, ipc_teardown),
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
