/* SPDX-License-Identifier: MIT */
/*
 * What one client, or one user, can hold of dhpd's server (issue 18): the
 * server in this process on the simulated platform, its socket in a
 * temporary directory, raw clients on the wire.  The test drives
 * server_process() itself (or a pump thread does, under a lock), so that
 * every flood is counted exactly and every race is ordered by the test:
 * nothing sleeps and hopes; the waits are bounded polls on a condition.
 * The tests that change credentials need root and skip without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/rebalance.h"
#include "daemon/log.h"
#include "util/names.h"
#include "daemon/server-internal.h"
#include "helpers.h"
#include "platform/sim/sim.h"
#include "proto/ipcmsg.h"
#include "util/macro.h"
#include "util/time.h"

/* ---- the server in this process ------------------------------------------- */

struct harness {
        char dir[64], sock[128];
        struct sim *sim;
        struct engine *e;
        struct rebalance *rb;
        struct server *s;
        pthread_mutex_t lock; /* around server_process when the pump runs */
        pthread_t pump, dispatcher;
        bool pumping, dispatching;
        atomic_bool stop;
        /* the server's log */
        pthread_mutex_t log_lock;
        unsigned warnings, refusal_lines, cut_off_lines;
};

static struct harness H;
/* h_start() with no sim behind the server: CPU_ONLINE goes to the hook, as
 * on Linux. */
static bool h_no_sim;

static void log_cb(void *userdata, int level, const char *msg) {
        struct harness *h = userdata;

        pthread_mutex_lock(&h->log_lock);
        if (level <= LOG_LEVEL_WARNING)
                h->warnings++;
        if (strstr(msg, "refus"))
                h->refusal_lines++;
        if (strstr(msg, "dropped: it does not read"))
                h->cut_off_lines++;
        pthread_mutex_unlock(&h->log_lock);
}

static void h_start(struct server_config cfg, const char *sim_opts) {
        struct sim_config sc = SIM_CONFIG_DEFAULT;
        struct logger log = { .fn = log_cb, .userdata = &H };

        memset(&H, 0, sizeof(H));
        pthread_mutex_init(&H.lock, NULL);
        pthread_mutex_init(&H.log_lock, NULL);
        strcpy(H.dir, "/tmp/dhp-limits-XXXXXX");
        assert_non_null(mkdtemp(H.dir));
        chmod(H.dir, 0755);
        snprintf(H.sock, sizeof(H.sock), "%s/dhpd.sock", H.dir);
        if (sim_opts)
                assert_int_equal(sim_config_parse(&sc, sim_opts), 0);
        assert_int_equal(sim_new(&H.sim, &sc), 0);
        H.e = sim_engine(H.sim);
        assert_int_equal(rebalance_new(H.e, &H.rb), 0);
        cfg.socket_path = H.sock;
        if (!cfg.max_clients)
                cfg.max_clients = 256;
        if (!cfg.max_regs)
                cfg.max_regs = 64;
        if (!cfg.max_queue)
                cfg.max_queue = 256;
        assert_int_equal(server_new(&H.s, H.e, h_no_sim ? NULL : H.sim, &cfg, &log), 0);
        server_set_rebalance(H.s, H.rb);
}

static void *pump_thread(void *userdata) {
        while (!atomic_load(&H.stop)) {
                struct pollfd p = { .fd = server_get_fd(H.s), .events = POLLIN };
                if (poll(&p, 1, 20) > 0) {
                        pthread_mutex_lock(&H.lock);
                        server_process(H.s);
                        pthread_mutex_unlock(&H.lock);
                }
        }
        return NULL;
}

/* dhpd's notification thread: arrivals and rebalances. */
static void *dispatch_thread(void *userdata) {
        while (!atomic_load(&H.stop)) {
                engine_dispatch(H.e);
                usleep(1000);
        }
        return NULL;
}

static void h_pump_start(void) {
        assert_int_equal(pthread_create(&H.pump, NULL, pump_thread, NULL), 0);
        H.pumping = true;
}

static void h_dispatch_start(void) {
        assert_int_equal(pthread_create(&H.dispatcher, NULL, dispatch_thread, NULL), 0);
        H.dispatching = true;
}

static void h_stop(void) {
        atomic_store(&H.stop, true);
        if (H.pumping)
                pthread_join(H.pump, NULL);
        if (H.dispatching)
                pthread_join(H.dispatcher, NULL);
        server_free(H.s);
        engine_dispatch(H.e);
        rebalance_free(H.rb);
        sim_free(H.sim);
        rmdir(H.dir);
}

/* Without the pump: run the server until it has nothing to do. */
static void h_settle(void) {
        for (int i = 0; i < 1000; i++) {
                struct pollfd p = { .fd = server_get_fd(H.s), .events = POLLIN };
                if (poll(&p, 1, 0) <= 0)
                        return;
                server_process(H.s);
        }
}

static void h_stats(struct server_stats *st) {
        pthread_mutex_lock(&H.lock);
        server_get_stats(H.s, st);
        pthread_mutex_unlock(&H.lock);
}

/* Bounded wait (10 s) for fn() to hold, with the pump running. */
static bool h_wait(bool (*fn)(void *), void *arg) {
        uint64_t end = time_now_ns() + 10 * NSEC_PER_SEC;

        while (time_now_ns() < end) {
                if (fn(arg))
                        return true;
                usleep(2000);
        }
        return fn(arg);
}

/* ---- raw clients ------------------------------------------------------------ */

static int raw_connect(bool nonblock) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

        assert_true(fd >= 0);
        strcpy(sa.sun_path, H.sock);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -errno;
        }
        return fd;
}

static void raw_send(int fd, const struct ipc_msg *m) {
        static uint8_t buf[IPC_MSG_MAX];
        int len = ipcmsg_encode(m, buf, sizeof(buf));

        assert_true(len > 0);
        assert_int_equal(send(fd, buf, (size_t)len, MSG_NOSIGNAL), len);
}

static void raw_hello(int fd, const char *name) {
        struct ipc_msg m = { .type = IPC_HELLO, .id = 1 };

        m.hello = (typeof(m.hello)){ .major = IPC_VERSION_MAJOR, .minor = IPC_VERSION_MINOR };
        snprintf(m.hello.name, sizeof(m.hello.name), "%s", name);
        raw_send(fd, &m);
}

/* The next message within ms (the pump or h_settle running): 1, 0 on EOF,
 * -ETIMEDOUT. */
static int raw_next(int fd, struct ipc_msg *m, int ms, bool settle) {
        static uint8_t buf[IPC_MSG_MAX];
        uint64_t end = time_now_ns() + (uint64_t)ms * NSEC_PER_MSEC;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;
                if (settle)
                        h_settle();
                if (poll(&p, 1, settle ? 1 : 50) > 0) {
                        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                        if (n == 0)
                                return 0;
                        if (n > 0) {
                                assert_int_equal(ipcmsg_decode(buf, (size_t)n, m), 0);
                                return 1;
                        }
                        if (errno == ECONNRESET)
                                return 0;
                }
                if (time_now_ns() > end)
                        return -ETIMEDOUT;
        }
}

/* Skip to the REPLY of `id` (or an ERROR): its status; EOF fails. */
static int raw_reply(int fd, uint64_t id, bool settle, char *text, size_t size) {
        struct ipc_msg m;

        for (;;) {
                int r = raw_next(fd, &m, 10000, settle);
                if (r <= 0)
                        fail_msg("no REPLY to %llu: %s", (unsigned long long)id, r == 0 ? "EOF" : "timeout");
                if (m.type == IPC_ERROR)
                        fail_msg("ERROR instead of a REPLY: %s", m.error.text);
                if (m.type == IPC_REPLY && m.id == id) {
                        if (text && size)
                                snprintf(text, size, "%.*s", (int)size - 1, m.reply.text);
                        return m.reply.status;
                }
        }
}

/* An ERROR then EOF (the connection dropped with a reason); its text. */
static void raw_expect_error(int fd, bool settle, char *text, size_t size) {
        struct ipc_msg m;
        int r;

        do
                r = raw_next(fd, &m, 10000, settle);
        while (r > 0 && m.type != IPC_ERROR);
        if (r <= 0)
                fail_msg("no ERROR: %s", r == 0 ? "EOF" : "timeout");
        snprintf(text, size, "%s", m.error.text);
        assert_int_equal(raw_next(fd, &m, 10000, settle), 0);
}

/* Become (euid, egid, no groups) for the next connect(); back to root with
 * as_root().  The kernel captures these at connect(). */
static void as_user(uid_t uid, const gid_t *groups, size_t ngroups) {
        assert_int_equal(setgroups(ngroups, groups), 0);
        assert_int_equal(setresgid((gid_t)-1, (gid_t)uid, (gid_t)-1), 0);
        assert_int_equal(setresuid((uid_t)-1, uid, (uid_t)-1), 0);
}

static void as_root(void) {
        assert_int_equal(setresuid((uid_t)-1, 0, (uid_t)-1), 0);
        assert_int_equal(setresgid((gid_t)-1, 0, (gid_t)-1), 0);
        assert_int_equal(setgroups(0, NULL), 0);
}

#define NEED_ROOT()                                                     \
        do {                                                            \
                if (geteuid() != 0) {                                   \
                        skip(); /* needs root to become another uid */  \
                        return;                                         \
                }                                                       \
        } while (0)

/* ---- 1: connections ------------------------------------------------------- */

struct count_want {
        unsigned clients, refused, handshaking;
};

static bool stats_reach(void *arg) {
        struct count_want *w = arg;
        struct server_stats st;

        h_stats(&st);
        return st.clients == w->clients && st.refused == w->refused && st.handshaking == w->handshaking;
}

/* A connection that never says HELLO is dropped at its deadline, with an
 * ERROR that says so; one that did stays. */
static void test_handshake_deadline(void **state) {
        struct server_config cfg = { .handshake_timeout_ns = 100 * NSEC_PER_MSEC };
        struct server_stats st;
        char text[256];
        int idle[3], ok;

        h_start(cfg, NULL);
        for (int i = 0; i < 3; i++)
                idle[i] = raw_connect(false);
        ok = raw_connect(false);
        raw_hello(ok, "talker");
        h_settle();
        server_get_stats(H.s, &st);
        assert_int_equal(st.clients, 4);
        assert_int_equal(st.handshaking, 3);
        /* The timerfd wakes the server: no polling of ours makes it. */
        for (int i = 0; i < 3; i++) {
                raw_expect_error(idle[i], true, text, sizeof(text));
                assert_non_null(strstr(text, "no HELLO within 100 ms"));
                close(idle[i]);
        }
        server_get_stats(H.s, &st);
        assert_int_equal(st.clients, 1);
        assert_int_equal(st.handshaking, 0);
        assert_int_equal(st.handshake_expired, 3);
        close(ok);
        h_stop();
}

/* One user cannot take every slot: 8 per unprivileged uid (max_clients /
 * 8), the last 4 (max_clients / 16) for privileged clients only, root still
 * gets in when every other slot is taken; the refusals make one log line
 * per interval, not one each. */
static void test_caps_per_uid_and_reserve(void **state) {
        struct server_config cfg = { .max_clients = 64, .handshake_timeout_ns = 600 * NSEC_PER_SEC };
        struct count_want w = { 0 };
        int fds[200], n = 0, fd;

        NEED_ROOT();
        h_start(cfg, NULL);
        h_pump_start();
        /* 50 connections from one user: 8 admitted. */
        as_user(60001, NULL, 0);
        for (int i = 0; i < 50; i++)
                if ((fd = raw_connect(false)) >= 0)
                        fds[n++] = fd;
        as_root();
        w = (struct count_want){ .clients = 8, .refused = 42, .handshaking = 8 };
        assert_true(h_wait(stats_reach, &w));
        /* Other users fill up to max_clients - reserve = 60. */
        for (uid_t u = 60002; u < 60009; u++) {
                as_user(u, NULL, 0);
                for (int i = 0; i < 8; i++)
                        if ((fd = raw_connect(false)) >= 0)
                                fds[n++] = fd;
                as_root();
        }
        w = (struct count_want){ .clients = 60, .refused = 46, .handshaking = 60 };
        assert_true(h_wait(stats_reach, &w));
        /* Root: the reserve, then the global cap. */
        for (int i = 0; i < 5; i++)
                fds[n++] = raw_connect(false);
        w = (struct count_want){ .clients = 64, .refused = 47, .handshaking = 64 };
        assert_true(h_wait(stats_reach, &w));
        pthread_mutex_lock(&H.log_lock);
        assert_true(H.refusal_lines <= 2);
        pthread_mutex_unlock(&H.log_lock);
        for (int i = 0; i < n; i++)
                close(fds[i]);
        h_stop();
}

/* 1000 clients at once, each welcomed; one STATUS lists them all. */
static void test_thousand_clients(void **state) {
        struct server_config cfg = { .max_clients = 1100, .max_clients_per_uid = 1100 };
        static int fds[1000];
        struct ipc_msg m = { .type = IPC_STATUS, .id = 9 };
        unsigned seen = 0;
        int r;

        h_start(cfg, NULL);
        for (int i = 0; i < 1000; i++) {
                fds[i] = raw_connect(true);
                assert_true(fds[i] >= 0 || fds[i] == -EAGAIN);
                if (fds[i] == -EAGAIN) { /* the backlog is full: accept, then again */
                        h_settle();
                        fds[i] = raw_connect(true);
                }
                assert_true(fds[i] >= 0);
                raw_hello(fds[i], "many");
                if (i % 32 == 31)
                        h_settle();
        }
        h_settle();
        for (int i = 0; i < 1000; i++) {
                struct ipc_msg w;
                assert_int_equal(raw_next(fds[i], &w, 10000, true), 1);
                assert_int_equal(w.type, IPC_WELCOME);
        }
        raw_send(fds[0], &m);
        while ((r = raw_next(fds[0], &m, 10000, true)) > 0 && m.type != IPC_REPLY)
                seen += m.type == IPC_STATUS_CLIENT;
        assert_int_equal(r, 1);
        assert_int_equal(m.reply.status, 0);
        assert_int_equal(seen, 1000);
        for (int i = 0; i < 1000; i++)
                close(fds[i]);
        h_stop();
}

/* ---- 7: the group as captured at connect() ---------------------------------- */

/* A process that connected without the group and has it by the time dhpd
 * accepts (the /proc/PID/status race, made certain here) is not
 * privileged; one that connected with it is. */
static void test_group_from_connect_time(void **state) {
        const gid_t grp = 4242;
        struct ipc_msg m;
        int without, with;

        NEED_ROOT();
        h_start((struct server_config){ 0 }, NULL);
        H.s->group = grp;
        H.s->have_group = true;
        as_user(60001, NULL, 0);
        without = raw_connect(false);
        as_root();
        as_user(60001, &grp, 1);
        with = raw_connect(false);
        /* Now the first one's process has the group too. */
        assert_int_equal(setresuid((uid_t)-1, 0, (uid_t)-1), 0);
        h_settle();
        as_root();
        raw_hello(without, "without");
        raw_hello(with, "with");
        assert_int_equal(raw_next(without, &m, 5000, true), 1);
        assert_int_equal(m.type, IPC_WELCOME);
        assert_false(m.welcome.flags & IPC_WELCOME_PRIVILEGED);
        assert_int_equal(raw_next(with, &m, 5000, true), 1);
        assert_int_equal(m.type, IPC_WELCOME);
        assert_true(m.welcome.flags & IPC_WELCOME_PRIVILEGED);
        close(without);
        close(with);
        h_stop();
}

/* ---- 10: smaller ------------------------------------------------------------ */

/* Out of descriptors: the pending connections are taken and closed, the
 * listening socket does not stay readable (the loop would spin). */
static void test_emfile_does_not_spin(void **state) {
        struct rlimit old, lim;
        struct server_stats st;
        int cl[3], fill[64], nfill = 0;
        struct pollfd p;

        h_start((struct server_config){ 0 }, NULL);
        for (int i = 0; i < 3; i++)
                cl[i] = raw_connect(true);
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
        lim = old;
        lim.rlim_cur = (rlim_t)dup(0) + 1; /* the lowest free one, then no more */
        close((int)lim.rlim_cur - 1);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
        while (nfill < 64 && (fill[nfill] = dup(0)) >= 0)
                nfill++;
        assert_true(nfill < 64);
        for (int i = 0; i < 5; i++)
                server_process(H.s);
        p = (struct pollfd){ .fd = H.s->lfd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 0), 0);
        server_get_stats(H.s, &st);
        assert_int_equal(st.refused, 3);
        assert_int_equal(st.clients, 0);
        for (int i = 0; i < nfill; i++)
                close(fill[i]);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        for (int i = 0; i < 3; i++) {
                struct ipc_msg m;
                assert_int_equal(raw_next(cl[i], &m, 1000, true), 0);
                close(cl[i]);
        }
        /* Descriptors again: served as before. */
        cl[0] = raw_connect(false);
        raw_hello(cl[0], "after");
        {
                struct ipc_msg m;
                assert_int_equal(raw_next(cl[0], &m, 5000, true), 1);
                assert_int_equal(m.type, IPC_WELCOME);
        }
        close(cl[0]);
        h_stop();
}

/* --socket naming a regular file: refused, the file left as it was. */
static void test_socket_path_regular_file(void **state) {
        struct server_config cfg = SERVER_CONFIG_DEFAULT;
        char dir[] = "/tmp/dhp-limits-XXXXXX", path[128], buf[16] = { 0 };
        struct sim_config sc = SIM_CONFIG_DEFAULT;
        struct server *s = NULL;
        struct sim *sim;
        int fd;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/precious", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_int_equal(write(fd, "keep me", 7), 7);
        close(fd);
        assert_int_equal(sim_new(&sim, &sc), 0);
        cfg.socket_path = path;
        assert_int_equal(server_new(&s, sim_engine(sim), sim, &cfg, NULL), -EEXIST);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(read(fd, buf, sizeof(buf)), 7);
        assert_string_equal(buf, "keep me");
        close(fd);
        unlink(path);
        rmdir(dir);
        sim_free(sim);
}

/* Before HELLO, a reserved type is a violation like any other message, not
 * answered -EOPNOTSUPP; after it, it is. */
static void test_reserved_type_before_hello(void **state) {
        uint8_t hdr[IPC_HEADER_SIZE] = { 0x4f, 0, 0, 0, IPC_HEADER_SIZE, 0, 0, 0, 7 };
        char text[256];
        int a, b;

        h_start((struct server_config){ 0 }, NULL);
        assert_true(ipcmsg_reserved(0x4f));
        a = raw_connect(false);
        assert_int_equal(send(a, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
        raw_expect_error(a, true, text, sizeof(text));
        assert_non_null(strstr(text, "the first message must be HELLO"));
        b = raw_connect(false);
        raw_hello(b, "b");
        assert_int_equal(send(b, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
        assert_int_equal(raw_reply(b, 7, true, NULL, 0), -EOPNOTSUPP);
        close(a);
        close(b);
        h_stop();
}

/* An error text names the message that caused it, not the one another
 * client sent before; a datagram shorter than the header has no type. */
static void test_error_text_names_this_message(void **state) {
        struct ipc_msg m = { .type = IPC_PING, .id = 5 };
        char text[256];
        int a, b;

        h_start((struct server_config){ 0 }, NULL);
        a = raw_connect(false);
        b = raw_connect(false);
        raw_hello(a, "a");
        raw_hello(b, "b");
        raw_send(a, &m);
        assert_int_equal(raw_reply(a, 5, true, NULL, 0), 0);
        assert_int_equal(send(b, "12345", 5, 0), 5);
        raw_expect_error(b, true, text, sizeof(text));
        assert_null(strstr(text, "PING"));
        assert_non_null(strstr(text, "5 bytes, shorter than the header"));
        close(a);
        close(b);
        h_stop();
}

/* An empty datagram is a malformed message (ERROR, with its reason), not
 * the client leaving; the end of a connection is still seen as such. */
static void test_empty_datagram_is_not_eof(void **state) {
        struct server_stats st;
        char text[256];
        int a, b;

        h_start((struct server_config){ 0 }, NULL);
        a = raw_connect(false);
        raw_hello(a, "a");
        assert_int_equal(send(a, "", 0, 0), 0);
        raw_expect_error(a, true, text, sizeof(text));
        assert_non_null(strstr(text, "0 bytes"));
        b = raw_connect(false);
        raw_hello(b, "b");
        h_settle();
        close(b);
        h_settle();
        server_get_stats(H.s, &st);
        assert_int_equal(st.clients, 0);
        close(a);
        h_stop();
}

/* The registration cap holds between the worker (synchronous ones) and the
 * main thread (arrival ones) registering for the same client at once: of
 * 8 registrations against max_regs 4, exactly 4 succeed, round after
 * round.  (Before, both checked, then both took: 5.  TSan also sees it.) */
static void test_registration_cap_across_threads(void **state) {
        struct server_config cfg = { .max_regs = 4, .max_jobs = 16 };
        struct ipc_msg m;
        int fd;

        NEED_ROOT(); /* synchronous registrations are privileged */
        h_start(cfg, NULL);
        h_pump_start();
        fd = raw_connect(false);
        raw_hello(fd, "racer");
        assert_int_equal(raw_next(fd, &m, 5000, false), 1);
        for (int round = 0; round < 100; round++) {
                bool sync_ok[4], arr_ok[4];
                unsigned won = 0;

                for (uint32_t k = 0; k < 4; k++) {
                        m = (struct ipc_msg){ .type = IPC_PROC_REGISTER, .id = 100 + k, .proc_register = { .reg = k } };
                        raw_send(fd, &m);
                        m = (struct ipc_msg){ .type = IPC_ARRIVAL_REGISTER, .id = 200 + k };
                        m.arrival_register = (typeof(m.arrival_register)){ .reg = k, .cls = DHP_CLASS_PROCESSOR };
                        raw_send(fd, &m);
                }
                for (int k = 0; k < 8; k++) {
                        assert_int_equal(raw_next(fd, &m, 10000, false), 1);
                        assert_int_equal(m.type, IPC_REPLY);
                        assert_true(m.reply.status == 0 || m.reply.status == -ENOSPC);
                        if (m.id >= 200)
                                arr_ok[m.id - 200] = m.reply.status == 0;
                        else
                                sync_ok[m.id - 100] = m.reply.status == 0;
                        won += m.reply.status == 0;
                }
                assert_int_equal(won, 4);
                for (uint32_t k = 0; k < 4; k++) {
                        if (sync_ok[k]) {
                                m = (struct ipc_msg){ .type = IPC_PROC_DEREGISTER, .id = 300 + k, .unreg = { .reg = k } };
                                raw_send(fd, &m);
                                assert_int_equal(raw_reply(fd, 300 + k, false, NULL, 0), 0);
                        }
                        if (arr_ok[k]) {
                                m = (struct ipc_msg){ .type = IPC_ARRIVAL_UNREGISTER, .id = 400 + k, .unreg = { .reg = k } };
                                raw_send(fd, &m);
                                assert_int_equal(raw_reply(fd, 400 + k, false, NULL, 0), 0);
                        }
                }
        }
        close(fd);
        h_stop();
}

/* ---- 2: bounded work per request -------------------------------------------- */

struct blocker {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool held, release;
};

static int block_fn(struct engine *e, void *userdata) {
        struct blocker *b = userdata;

        pthread_mutex_lock(&b->lock);
        b->held = true;
        pthread_cond_broadcast(&b->cond);
        while (!b->release)
                pthread_cond_wait(&b->cond, &b->lock);
        pthread_mutex_unlock(&b->lock);
        return 0;
}

static void *blocker_thread(void *userdata) {
        engine_txn_call(H.e, block_fn, userdata);
        return NULL;
}

struct jobs_want {
        unsigned jobs;
};

static bool jobs_reach(void *arg) {
        struct server_stats st;

        h_stats(&st);
        return st.jobs == ((struct jobs_want *)arg)->jobs;
}

/* With the worker held (a transaction in progress): an unprivileged
 * client's 100 000 PROC_DEREGISTERs without ids queue nothing, and a
 * privileged client's 100 registrations queue max_jobs, the rest refused
 * -EBUSY at once. */
static void test_work_per_client_is_capped(void **state) {
        struct server_config cfg = { .max_jobs = 16 };
        struct blocker b = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };
        struct jobs_want w = { 1 };
        struct server_stats st;
        pthread_t t;
        unsigned busy = 0;
        int nobody, root;

        NEED_ROOT();
        h_start(cfg, NULL);
        h_pump_start();
        assert_int_equal(pthread_create(&t, NULL, blocker_thread, &b), 0);
        pthread_mutex_lock(&b.lock);
        while (!b.held)
                pthread_cond_wait(&b.cond, &b.lock);
        pthread_mutex_unlock(&b.lock);

        root = raw_connect(false);
        raw_hello(root, "root");
        {
                struct ipc_msg m;
                assert_int_equal(raw_next(root, &m, 5000, false), 1);
                assert_int_equal(m.type, IPC_WELCOME);
        }
        {
                struct ipc_msg m = { .type = IPC_PROC_REGISTER, .id = 100, .proc_register = { .reg = 1 } };
                raw_send(root, &m);
        }
        assert_true(h_wait(jobs_reach, &w)); /* the worker waits in it */

        as_user(60001, NULL, 0);
        nobody = raw_connect(false);
        as_root();
        raw_hello(nobody, "nobody");
        for (int i = 0; i < 100000; i++) {
                struct ipc_msg m = { .type = IPC_PROC_DEREGISTER, .id = 0, .unreg = { .reg = (uint32_t)i } };
                raw_send(nobody, &m);
        }
        {
                struct ipc_msg m = { .type = IPC_PING, .id = 77 };
                raw_send(nobody, &m);
                assert_int_equal(raw_reply(nobody, 77, false, NULL, 0), 0);
        }
        h_stats(&st);
        assert_int_equal(st.jobs, 1);

        for (int i = 0; i < 100; i++) {
                struct ipc_msg m = { .type = IPC_PROC_REGISTER, .id = 200 + i, .proc_register = { .reg = 2 + i } };
                raw_send(root, &m);
        }
        for (int i = 0; i < 100 - 15; i++) {
                struct ipc_msg m;
                assert_int_equal(raw_next(root, &m, 10000, false), 1);
                if (m.type == IPC_REPLY && m.reply.status == -EBUSY) {
                        busy++;
                        assert_non_null(strstr(m.reply.text, "16 requests"));
                }
        }
        assert_int_equal(busy, 100 - 15);
        h_stats(&st);
        assert_int_equal(st.jobs, 16);
        assert_int_equal(st.jobs_refused, 100 - 15);

        pthread_mutex_lock(&b.lock);
        b.release = true;
        pthread_cond_broadcast(&b.cond);
        pthread_mutex_unlock(&b.lock);
        pthread_join(t, NULL);
        w.jobs = 0;
        assert_true(h_wait(jobs_reach, &w));
        close(nobody);
        close(root);
        h_stop();
}

/* The Linux path of CPU_ONLINE (the hotplug thread's hook): each request
 * holds a job slot until the hook answers (here from the test's thread,
 * as the hotplug thread would), then gives it back: after 20 of them
 * nothing is counted and a registration is accepted. */
static _Atomic(struct server_cpu_online *) online_pending;

static void online_hook(void *userdata, struct server_cpu_online *req, uint32_t index) {
        atomic_store(&online_pending, req);
}

static bool online_held(void *arg) {
        return atomic_load(&online_pending) != NULL;
}

static void test_cpu_online_hook_frees_slot(void **state) {
        struct server_config cfg = { .max_jobs = 16 };
        struct server_stats st;
        struct ipc_msg m;
        int root;

        NEED_ROOT();
        h_no_sim = true;
        h_start(cfg, NULL);
        h_no_sim = false;
        server_set_cpu_online(H.s, online_hook, NULL);
        h_pump_start();
        root = raw_connect(false);
        raw_hello(root, "root");
        assert_int_equal(raw_next(root, &m, 5000, false), 1);
        assert_int_equal(m.type, IPC_WELCOME);
        for (int i = 0; i < 20; i++) {
                struct ipc_msg o = { .type = IPC_CPU_ONLINE, .id = 10 + i, .cpu_online = { .index = 0 } };
                raw_send(root, &o);
                assert_true(h_wait(online_held, NULL));
                h_stats(&st);
                assert_int_equal(st.jobs, 1);
                server_cpu_online_done(atomic_exchange(&online_pending, NULL), -EALREADY, 0);
                assert_int_equal(raw_reply(root, 10 + i, false, NULL, 0), -EALREADY);
        }
        h_stats(&st);
        assert_int_equal(st.jobs, 0);
        {
                struct ipc_msg r = { .type = IPC_PROC_REGISTER, .id = 99, .proc_register = { .reg = 1 } };
                raw_send(root, &r);
                assert_int_equal(raw_reply(root, 99, false, NULL, 0), 0);
        }
        close(root);
        h_stop();
}

/* What waits for a client that does not read is bounded in bytes, not only
 * in messages: notifications are dropped (counted for LOST) past half of
 * PEER_OUT_BYTES_MAX, a client past all of it is cut off. */
static void test_send_queue_bytes_capped(void **state) {
        struct server_config cfg = { .max_queue = 100000 };
        struct ipc_msg m = { .type = IPC_REPLY, .id = 5 };
        struct peer *c;
        int fd, r = 0, i;

        h_start(cfg, NULL);
        fd = raw_connect(false);
        raw_hello(fd, "sleeper");
        h_settle();
        c = list_entry(H.s->clients.next, struct peer, node);
        memset(m.reply.text, 'x', IPC_TEXT_MAX - 1);
        for (i = 0; i < 100000; i++) {
                m.type = IPC_RECORD_EXT; /* a droppable notification */
                m.record = (struct ipc_record){ .method = "note", .event = "NOTE" };
                memset(m.record.detail, 'y', sizeof(m.record.detail) - 1);
                peer_send(c, &m, true);
                if (c->lost)
                        break;
        }
        assert_true(c->lost > 0);
        assert_true(c->out_bytes <= PEER_OUT_BYTES_MAX / 2);
        m = (struct ipc_msg){ .type = IPC_REPLY, .id = 5 };
        memset(m.reply.text, 'x', IPC_TEXT_MAX - 1);
        for (i = 0; i < 100000 && r == 0; i++)
                r = peer_send(c, &m, false);
        assert_int_equal(r, -ENOBUFS);
        assert_true(c->out_bytes <= PEER_OUT_BYTES_MAX);
        assert_true(i < 100000);
        pthread_mutex_lock(&H.log_lock);
        H.cut_off_lines = 0;
        pthread_mutex_unlock(&H.log_lock);
        h_settle(); /* the main thread sees the hang-up and drops it, saying why */
        assert_int_equal(H.cut_off_lines, 1);
        {
                struct server_stats st;
                server_get_stats(H.s, &st);
                assert_int_equal(st.clients, 0);
        }
        close(fd);
        h_stop();
}

/* ---- 8: replies as large as the machine ------------------------------------ */

/* 10 000 memory devices: STATUS and an arrival registration with
 * INCLUDE_EXISTING list every one, the client never cut off, and what
 * waits for it stays under the queue cap. */
static void test_status_with_10000_devices(void **state) {
        struct server_config cfg = { .max_queue = 64 };
        struct ipc_msg m = { .type = IPC_STATUS, .id = 3 };
        unsigned mem = 0, arr = 0, maxq = 0;
        int fd, r;

        h_start(cfg, "cpus=2,maxcpus=4,memory=1M,block=1M,maxmem=16G");
        for (int i = 0; i < 10000; i++) {
                assert_int_equal(sim_memory_add(H.sim, 1 << 20, NULL), 0);
                if (i % 256 == 0)
                        engine_dispatch(H.e);
        }
        engine_dispatch(H.e);
        fd = raw_connect(false);
        raw_hello(fd, "reader");
        raw_send(fd, &m);
        while ((r = raw_next(fd, &m, 10000, true)) > 0 && !(m.type == IPC_REPLY && m.id == 3)) {
                mem += m.type == IPC_STATUS_MEM;
                list_for_each(p, &H.s->clients) {
                        struct peer *c = list_entry(p, struct peer, node);
                        maxq = c->out_n > maxq ? c->out_n : maxq;
                }
        }
        assert_int_equal(r, 1);
        assert_int_equal(m.reply.status, 0);
        assert_int_equal(mem, 10001);
        assert_true(maxq <= cfg.max_queue);

        m = (struct ipc_msg){ .type = IPC_ARRIVAL_REGISTER, .id = 4 };
        m.arrival_register = (typeof(m.arrival_register)){ .reg = 1, .cls = DHP_CLASS_MEMORY,
                                                           .flags = DHP_ARRIVAL_INCLUDE_EXISTING };
        raw_send(fd, &m);
        while ((r = raw_next(fd, &m, 10000, true)) > 0 && !(m.type == IPC_REPLY && m.id == 4))
                arr += m.type == IPC_ARRIVAL && (m.arrival.flags & IPC_ARRIVAL_EXISTING);
        assert_int_equal(r, 1);
        assert_int_equal(m.reply.status, 0);
        assert_int_equal(arr, 10001);
        close(fd);
        h_stop();
}

/* ---- 9: names -------------------------------------------------------------------- */

static void test_names_valid_and_escaped(void **state) {
        char out[64];

        assert_true(names_valid("dhpctl", 63));
        assert_true(names_valid("d\xc3\xa4mon \xe2\x9c\x93", 63));
        assert_true(names_valid("", 63));
        assert_false(names_valid("evil\ndhpd: cpu9: add failed: EIO", 63));
        assert_false(names_valid("\x1b[2J", 63));
        assert_false(names_valid("bad\xff", 63));
        assert_false(names_valid("\xc0\xaf", 63));         /* overlong */
        assert_false(names_valid("\xed\xa0\x80", 63));     /* a surrogate */
        assert_false(names_valid("\xc2\x9b" "31m", 63));   /* C1 CSI */
        assert_false(names_valid("\xe2\x9c", 63));         /* cut short */
        assert_false(names_valid("abcdef", 5));
        assert_string_equal(names_escape("a\nb\xff\x1b[c\\", out, sizeof(out)), "a\\x0ab\\xff\\x1b[c\\\\");
        assert_string_equal(names_escape("d\xc3\xa4", out, sizeof(out)), "d\xc3\xa4");
        assert_string_equal(names_escape("\n\n\n", out, 9), "\\x0a\\x0a");
        /* Cut to fit, on a character: "ä" is 2 bytes, "✓" 3. */
        assert_string_equal(names_copy("d\xc3\xa4", out, 3), "d");
        assert_string_equal(names_copy("ab\xe2\x9c\x93", out, 5), "ab");
        assert_string_equal(names_copy("ab\xe2\x9c\x93", out, 6), "ab\xe2\x9c\x93");
        assert_true(names_valid(names_copy("\xe2\x9c\x93\xe2\x9c\x93", out, 5), 63));
}

/* A name with a newline, an escape sequence or invalid UTF-8 is refused
 * at the boundary with a reason: HELLO's drops the client, a registration's
 * is refused -EINVAL; a valid UTF-8 name is taken. */
static void test_names_refused_at_the_boundary(void **state) {
        struct ipc_msg m;
        char text[256];
        int a, b;

        h_start((struct server_config){ 0 }, NULL);
        a = raw_connect(false);
        raw_hello(a, "evil\ndhpd: cpu9: add failed: EIO");
        raw_expect_error(a, true, text, sizeof(text));
        assert_non_null(strstr(text, "hello.name is not printable UTF-8"));
        b = raw_connect(false);
        raw_hello(b, "d\xc3\xa4mon");
        assert_int_equal(raw_next(b, &m, 5000, true), 1);
        assert_int_equal(m.type, IPC_WELCOME);
        m = (struct ipc_msg){ .type = IPC_ARRIVAL_REGISTER, .id = 2 };
        m.arrival_register = (typeof(m.arrival_register)){ .reg = 1, .cls = DHP_CLASS_PROCESSOR };
        strcpy(m.arrival_register.name, "\x1b[2Jbad\xff");
        raw_send(b, &m);
        assert_int_equal(raw_reply(b, 2, true, text, sizeof(text)), -EINVAL);
        assert_non_null(strstr(text, "arrival_register.name"));
        strcpy(m.arrival_register.name, "fine");
        m.id = 3;
        raw_send(b, &m);
        assert_int_equal(raw_reply(b, 3, true, NULL, 0), 0);
        close(a);
        close(b);
        h_stop();
}

/* The daemon's log: one line per message, whatever a name holds. */
static void test_log_escapes(void **state) {
        struct daemon_log dl;
        struct logger log;
        char buf[256] = { 0 };
        int pfd[2], saved;
        ssize_t n;

        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        saved = dup(2);
        dup2(pfd[1], 2);
        daemon_log_open(&dl, false, 7);
        log = daemon_log_logger(&dl);
        log_notice(&log, "client %s connected", "x\ndhpd: cpu9: add failed: EIO\x1b[1A\xff");
        dup2(saved, 2);
        close(saved);
        close(pfd[1]);
        n = read(pfd[0], buf, sizeof(buf) - 1);
        close(pfd[0]);
        assert_true(n > 0);
        assert_string_equal(buf, "dhpd: client x\\x0adhpd: cpu9: add failed: EIO\\x1b[1A\\xff connected\n");
}

/* ---- 5: hung drivers ------------------------------------------------------------ */

struct arrival_wait {
        int fd;
        uint32_t index;
};

/* A client whose 8 devices' drivers never answer: after its first missed
 * deadline it is not waited for again, so another client's ARRIVAL for a
 * second processor comes within about one deadline, not eight. */
static void test_hung_drivers_hold_one_deadline(void **state) {
        struct server_config cfg = { .deadline_ns = 300 * NSEC_PER_MSEC };
        struct ipc_msg m;
        uint32_t first = 0, second = 0;
        uint64_t t0, dt = 0;
        int hung, watcher, r;

        NEED_ROOT(); /* devices are privileged */
        h_start(cfg, NULL);
        h_pump_start();
        h_dispatch_start();
        hung = raw_connect(false);
        raw_hello(hung, "hung");
        for (uint32_t i = 0; i < 8; i++) {
                m = (struct ipc_msg){ .type = IPC_DEVICE_NEW, .id = 10 + i };
                m.device_new.dev = i;
                snprintf(m.device_new.name, sizeof(m.device_new.name), "kdisk%u", i);
                strcpy(m.device_new.setup_class, "Storage");
                raw_send(hung, &m);
                assert_int_equal(raw_reply(hung, 10 + i, false, NULL, 0), 0);
                m = (struct ipc_msg){ .type = IPC_DRIVER_ATTACH, .id = 20 + i };
                m.driver_attach.dev = i;
                m.driver_attach.drv = i;
                strcpy(m.driver_attach.name, "hang");
                raw_send(hung, &m);
                assert_int_equal(raw_reply(hung, 20 + i, false, NULL, 0), 0);
        }
        watcher = raw_connect(false);
        raw_hello(watcher, "watcher");
        m = (struct ipc_msg){ .type = IPC_ARRIVAL_REGISTER, .id = 2 };
        m.arrival_register = (typeof(m.arrival_register)){ .reg = 1, .cls = DHP_CLASS_PROCESSOR };
        raw_send(watcher, &m);
        assert_int_equal(raw_reply(watcher, 2, false, NULL, 0), 0);

        assert_int_equal(sim_cpu_add(H.sim, &first), 0);
        t0 = time_now_ns();
        assert_int_equal(sim_cpu_add(H.sim, &second), 0);
        while ((r = raw_next(watcher, &m, 20000, false)) > 0)
                if (m.type == IPC_ARRIVAL && m.arrival.index == second) {
                        dt = time_now_ns() - t0;
                        break;
                }
        assert_int_equal(r, 1);
        /* Before: 8 devices x 300 ms behind the first rebalance. */
        print_message("# the second ARRIVAL after %llu ms\n", (unsigned long long)(dt / NSEC_PER_MSEC));
        assert_true(dt < 1200 * NSEC_PER_MSEC);
        close(hung);
        close(watcher);
        h_stop();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_handshake_deadline),
                cmocka_unit_test(test_caps_per_uid_and_reserve),
                cmocka_unit_test(test_thousand_clients),
                cmocka_unit_test(test_group_from_connect_time),
                cmocka_unit_test(test_emfile_does_not_spin),
                cmocka_unit_test(test_socket_path_regular_file),
                cmocka_unit_test(test_reserved_type_before_hello),
                cmocka_unit_test(test_error_text_names_this_message),
                cmocka_unit_test(test_empty_datagram_is_not_eof),
                cmocka_unit_test(test_registration_cap_across_threads),
                cmocka_unit_test(test_work_per_client_is_capped),
                cmocka_unit_test(test_cpu_online_hook_frees_slot),
                cmocka_unit_test(test_send_queue_bytes_capped),
                cmocka_unit_test(test_status_with_10000_devices),
                cmocka_unit_test(test_names_valid_and_escaped),
                cmocka_unit_test(test_names_refused_at_the_boundary),
                cmocka_unit_test(test_log_escapes),
                cmocka_unit_test(test_hung_drivers_hold_one_deadline),
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
