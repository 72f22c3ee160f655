/* SPDX-License-Identifier: MIT */
/*
 * dhpd's server (src/daemon/server.c and the files it ties): its request
 * table, then the server end to end: a real dhpd (--platform sim) on a
 * socket in a temporary directory, client processes made with fork().  Every wait
 * is bounded: the daemon's READY line, the clients' events on a pipe, the
 * fd of a context; nothing sleeps and hopes.  (Where a client sleeps, it
 * plays a slow client.)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/server-internal.h"
#include "helpers.h"
#include "ipc-daemon.h"
#include "lib/client.h"
#include "lib/dhp-private.h"
#include "proto/ipcmsg.h"
#include "proto/record-wire.h"
#include "util/macro.h"
#include "util/strbuf.h"
#include "util/time.h"

/* ---- client processes ------------------------------------------------------ */

enum role { ROLE_PLAIN, ROLE_VETO, ROLE_SLEEP, ROLE_HANG };

struct child {
        pid_t pid;
        char tag;
};

static int events[2]; /* children -> test: "A:S\n" ... one write each (atomic) */

static void emit(char tag, char what) {
        char b[4] = { tag, ':', what, '\n' };

        (void)!write(events[1], b, 4);
}

static char g_tag;
static enum role g_role;

static void child_cb(void *userdata, const dhp_proc_change *c) {
        switch (dhp_proc_change_get_state(c)) {
        case DHP_PROC_ADD_START:
                emit(g_tag, 'S');
                if (g_role == ROLE_VETO)
                        dhp_proc_change_veto(c, -EBUSY);
                if (g_role == ROLE_SLEEP)
                        usleep(800 * 1000); /* a slow client, past the 300 ms deadline */
                if (g_role == ROLE_HANG)
                        pause(); /* killed here */
                break;
        case DHP_PROC_ADD_COMPLETE:
                emit(g_tag, 'C');
                break;
        case DHP_PROC_ADD_FAILURE:
                emit(g_tag, 'F');
                break;
        default: /* not registered for removal */
                break;
        }
}

static struct child child_start(char tag, enum role role) {
        struct child ch = { .tag = tag };

        ch.pid = fork();
        assert_true(ch.pid >= 0);
        if (ch.pid == 0) {
                dhp_proc_reg *reg;
                dhp *ctx;
                char target[160];
                g_tag = tag;
                g_role = role;
                snprintf(target, sizeof(target), "unix:%s", ipc_sock);
                if (dhp_open(&ctx, target) < 0 || dhp_proc_register(ctx, NULL, 0, child_cb, NULL, &reg) < 0)
                        _exit(1);
                emit(tag, 'R');
                /* Callbacks run on the connection thread; this one waits
                 * for the daemon to go away or the test to end it. */
                for (;;) {
                        struct pollfd p = { .fd = dhp_get_fd(ctx), .events = POLLIN };
                        poll(&p, 1, -1);
                        if (dhp_process(ctx) < 0)
                                _exit(0);
                }
        }
        return ch;
}

static void child_stop(struct child *ch) {
        int st;

        kill(ch->pid, SIGKILL);
        waitpid(ch->pid, &st, 0);
}

/* The next event line, within ms; "" on timeout. */
static void next_event(char out[4], int ms) {
        struct pollfd p = { .fd = events[0], .events = POLLIN };

        out[0] = 0;
        if (poll(&p, 1, ms) != 1)
                return;
        char b[4];
        if (read(events[0], b, 4) == 4) {
                out[0] = b[0];
                out[1] = b[1];
                out[2] = b[2];
                out[3] = 0;
        }
}

static void expect_event(const char *want, int ms) {
        char e[4];

        next_event(e, ms);
        if (strcmp(e, want) != 0)
                fail_msg("expected event %s, got '%s'", want, e);
}

/* Two events in either order. */
static void expect_both(const char *a, const char *b, int ms) {
        char e1[4], e2[4];

        next_event(e1, ms);
        next_event(e2, ms);
        if (!((strcmp(e1, a) == 0 && strcmp(e2, b) == 0) || (strcmp(e1, b) == 0 && strcmp(e2, a) == 0)))
                fail_msg("expected %s and %s, got '%s' and '%s'", a, b, e1, e2);
}

struct adder {
        dhp *ctx;
        int result;
        uint64_t ns;
        struct flag done;
};

static void *add_thread(void *userdata) {
        struct adder *a = userdata;
        uint64_t t0 = time_now_ns();

        a->result = dhp_sim_cpu_add(a->ctx, NULL);
        a->ns = time_now_ns() - t0;
        flag_set(&a->done, 1);
        return NULL;
}

static void two_clients(enum role rb, int expect_result, char second) {
        struct child a, b;
        dhp *ctx;

        assert_int_equal(pipe2(events, O_CLOEXEC), 0);
        ipc_daemon_start("deadline = 2s");
        a = child_start('A', ROLE_PLAIN);
        expect_event("A:R", 5000);
        b = child_start('B', rb);
        expect_event("B:R", 5000);
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), expect_result);
        /* Both have ADD_START before either has the second phase. */
        expect_both("A:S", "B:S", 5000);
        expect_both(second == 'C' ? "A:C" : "A:F", second == 'C' ? "B:C" : "B:F", 5000);
        dhp_close(ctx);
        child_stop(&a);
        child_stop(&b);
        close(events[0]);
        close(events[1]);
}

static void test_fanout_two_processes(void **state) {
        two_clients(ROLE_PLAIN, 0, 'C');
}

static void test_veto_in_one_fails_both(void **state) {
        two_clients(ROLE_VETO, 1, 'F');
}

static void late_client(const char *policy, int expect_result) {
        struct remote_status st;
        struct child a, s;
        char conf[64];
        uint64_t t0;
        unsigned late = 0;
        dhp *ctx;
        int r;

        assert_int_equal(pipe2(events, O_CLOEXEC), 0);
        snprintf(conf, sizeof(conf), "deadline = 300ms\nlate_policy = %s", policy);
        ipc_daemon_start(conf);
        a = child_start('A', ROLE_PLAIN);
        expect_event("A:R", 5000);
        s = child_start('Z', ROLE_SLEEP);
        expect_event("Z:R", 5000);
        ctx = ipc_open_ctx();
        t0 = time_now_ns();
        r = dhp_sim_cpu_add(ctx, NULL);
        assert_int_equal(r, expect_result);
        /* Each phase bounded by the deadline (the sleeper, still in
         * ADD_START, misses the second one too). */
        assert_true(time_now_ns() - t0 < 2 * 300 * NSEC_PER_MSEC + 400 * NSEC_PER_MSEC);
        assert_int_equal(remote_status(dhp_internal_remote(ctx), &st), 0);
        for (size_t i = 0; i < st.nclients; i++)
                if (st.clients[i].status_client.pid == (uint32_t)s.pid)
                        late = st.clients[i].status_client.late;
        assert_true(late >= 1);
        remote_status_deinit(&st);
        dhp_close(ctx);
        child_stop(&a);
        child_stop(&s);
        close(events[0]);
        close(events[1]);
}

static void test_late_client_proceed(void **state) {
        late_client("proceed", 0);
}

static void test_late_client_veto(void **state) {
        late_client("veto", 1);
}

static void test_sigkill_during_add_start(void **state) {
        struct adder ad = { 0 };
        struct child a, k;
        pthread_t t;

        assert_int_equal(pipe2(events, O_CLOEXEC), 0);
        ipc_daemon_start("deadline = 2s");
        a = child_start('A', ROLE_PLAIN);
        expect_event("A:R", 5000);
        k = child_start('K', ROLE_HANG);
        expect_event("K:R", 5000);
        ad.ctx = ipc_open_ctx();
        flag_init(&ad.done);
        assert_int_equal(pthread_create(&t, NULL, add_thread, &ad), 0);
        expect_both("A:S", "K:S", 5000);
        child_stop(&k); /* SIGKILL inside ADD_START */
        assert_true(flag_wait(&ad.done, 1, 5000));
        pthread_join(t, NULL);
        assert_int_equal(ad.result, 0);
        /* Well within the deadline: a gone client is not waited for. */
        assert_true(ad.ns < 2 * NSEC_PER_SEC);
        expect_event("A:C", 5000);
        dhp_close(ad.ctx);
        child_stop(&a);
        close(events[0]);
        close(events[1]);
}

/* ---- who may do what ------------------------------------------------------- */

static void arrival_count(void *userdata, const dhp_device_event *e) {
        (*(int *)userdata)++;
}

static void noop_cb(void *userdata, const dhp_proc_change *c) {
}

static void test_unprivileged_client(void **state) {
        int res[2];
        pid_t pid;
        int st;
        dhp *ctx;

        if (geteuid() != 0) {
                skip(); /* needs root to become another uid: run `make check` as root */
                return;
        }
        assert_int_equal(pipe2(events, O_CLOEXEC), 0);
        assert_int_equal(pipe2(res, O_CLOEXEC), 0);
        ipc_daemon_start("deadline = 2s");
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dhp_proc_reg *reg;
                dhp_arrival_reg *areg;
                dhp *c;
                int n = 0, r1, r2;
                /* nobody, no supplementary groups */
                c = ipc_open_as_nobody();
                r1 = dhp_proc_register(c, NULL, 0, noop_cb, NULL, &reg);
                r2 = dhp_arrival_register(c, NULL, DHP_CLASS_PROCESSOR, 0, arrival_count, &n, &areg);
                (void)!write(res[1], &r1, sizeof(r1));
                (void)!write(res[1], &r2, sizeof(r2));
                /* wait for one arrival, bounded */
                uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC;
                while (n == 0 && time_now_ns() < end) {
                        if (dhp_wait(c, 5000) > 0 && dhp_process(c) < 0)
                                break;
                }
                (void)!write(res[1], &n, sizeof(n));
                _exit(0);
        }
        {
                int r1 = 1, r2 = 1, n = 0;
                struct pollfd p = { .fd = res[0], .events = POLLIN };
                assert_int_equal(poll(&p, 1, 5000), 1);
                assert_int_equal(read(res[0], &r1, sizeof(r1)), sizeof(r1));
                assert_int_equal(read(res[0], &r2, sizeof(r2)), sizeof(r2));
                assert_int_equal(r1, -EPERM);
                assert_int_equal(r2, 0);
                ctx = ipc_open_ctx();
                assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
                assert_int_equal(poll(&p, 1, 5000), 1);
                assert_int_equal(read(res[0], &n, sizeof(n)), sizeof(n));
                assert_int_equal(n, 1);
                dhp_close(ctx);
        }
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        close(res[0]);
        close(res[1]);
        close(events[0]);
        close(events[1]);
}

/* ---- raw protocol: malformed, oversized, version, slow reader --------------- */

static int raw_connect(uint16_t major) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct ipc_msg m = { .type = IPC_HELLO, .id = 1, .hello = { .major = major, .minor = 0, .pid = 1 } };
        uint8_t buf[256];
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        int n;

        strcpy(sa.sun_path, ipc_sock);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        strcpy(m.hello.name, "raw");
        n = ipcmsg_encode(&m, buf, sizeof(buf));
        assert_int_equal(send(fd, buf, (size_t)n, 0), n);
        return fd;
}

/* Read one message within ms; returns its length, 0 on EOF, -1 on timeout. */
static int raw_recv(int fd, uint8_t *buf, size_t size, int ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        if (poll(&p, 1, ms) != 1)
                return -1;
        return (int)recv(fd, buf, size, 0);
}

static void expect_error_then_eof(int fd, const char *fragment) {
        static uint8_t buf[IPC_MSG_MAX];
        static struct ipc_msg m;
        int n;

        for (;;) {
                n = raw_recv(fd, buf, sizeof(buf), 5000);
                assert_true(n > 0);
                assert_int_equal(ipcmsg_decode(buf, (size_t)n, &m), 0);
                if (m.type == IPC_ERROR)
                        break;
        }
        if (fragment && !strstr(m.error.text, fragment))
                fail_msg("error text '%s' lacks '%s'", m.error.text, fragment);
        assert_int_equal(raw_recv(fd, buf, sizeof(buf), 5000), 0);
}

/* ---- the request table ------------------------------------------------------- */

/* The messages that need privilege (CLASS_OPTOUT: to set); the table must
 * say exactly these. */
static const uint16_t privileged_types[] = {
        IPC_PROC_REGISTER, IPC_PROC_DEREGISTER, IPC_MEMCOND_CONFIGURE, IPC_SIM_CPU_ADD, IPC_SIM_MEMORY_ADD,
        IPC_SIM_RUN,       IPC_DEVICE_NEW,      IPC_DEVICE_SET,        IPC_DRIVER_ATTACH,     IPC_CPU_ONLINE,
        IPC_SIM_CPU_SURPRISE, IPC_CPU_REMOVE,   IPC_MEMORY_REMOVE,
};

static bool is_privileged_type(uint16_t type) {
        for (size_t i = 0; i < ELEMENTSOF(privileged_types); i++)
                if (privileged_types[i] == type)
                        return true;
        return false;
}

/* One row for each message a client may send, none for the rest, each
 * with a handler, and the privilege rule of today. */
static void test_request_table(void **state) {
        static struct ipc_msg m;

        for (uint32_t t = 0; t <= UINT16_MAX; t++) {
                const struct server_request *rq = server_request_find((uint16_t)t);

                if (ipcmsg_from_client((uint16_t)t) != (rq != NULL))
                        fail_msg("type 0x%x (%s): %s", t, ipcmsg_type_name((uint16_t)t),
                                 rq ? "a row for a message a client may not send" : "no row");
                if (!rq)
                        continue;
                assert_int_equal(rq->type, t);
                assert_non_null(rq->fn);
                m = (struct ipc_msg){ .type = (uint16_t)t };
                if (t == IPC_CLASS_OPTOUT) {
                        m.class_optout.op = IPC_CLASS_OPTOUT_GET;
                        assert_false(server_request_needs_privilege(rq, &m));
                        m.class_optout.op = IPC_CLASS_OPTOUT_SET;
                        assert_true(server_request_needs_privilege(rq, &m));
                        continue;
                }
                if (server_request_needs_privilege(rq, &m) != is_privileged_type((uint16_t)t))
                        fail_msg("%s: the table says %s", ipcmsg_type_name((uint16_t)t),
                                 is_privileged_type((uint16_t)t) ? "anyone" : "privileged");
        }
        for (size_t i = 0; i < server_requests_count; i++)
                for (size_t j = i + 1; j < server_requests_count; j++)
                        assert_int_not_equal(server_requests[i].type, server_requests[j].type);
}

/* In the child: the REPLY to `id`'s status; 1 when none came. */
static int raw_reply_status(int fd, uint64_t id) {
        static uint8_t buf[IPC_MSG_MAX];
        static struct ipc_msg m;
        int n;

        while ((n = raw_recv(fd, buf, sizeof(buf), 5000)) > 0)
                if (ipcmsg_decode(buf, (size_t)n, &m) == 0 && m.type == IPC_REPLY && m.id == id)
                        return m.reply.status;
        return 1;
}

/* In the child: send one message; the status of its REPLY. */
static int raw_request(int fd, struct ipc_msg *m) {
        uint8_t buf[512];
        int len = ipcmsg_encode(m, buf, sizeof(buf));

        if (len < 0 || send(fd, buf, (size_t)len, 0) != len)
                _exit(5);
        return raw_reply_status(fd, m->id);
}

/* In a child that is nobody: every row the table marks privileged, sent
 * raw (CLASS_OPTOUT as a set), then CLASS_OPTOUT's read; the statuses, in
 * table order, the read's last. */
static void raw_privileged_rows(int *ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct ipc_msg m = { .type = IPC_HELLO, .id = 1 };
        uint8_t buf[512];
        int fd, len;

        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                _exit(3);
        strcpy(sa.sun_path, ipc_sock);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                _exit(4);
        m.hello = (typeof(m.hello)){ .major = IPC_VERSION_MAJOR, .minor = IPC_VERSION_MINOR };
        strcpy(m.hello.name, "nobody");
        len = ipcmsg_encode(&m, buf, sizeof(buf));
        if (len < 0 || send(fd, buf, (size_t)len, 0) != len)
                _exit(5);
        for (size_t i = 0; i < server_requests_count; i++) {
                m = (struct ipc_msg){ .type = server_requests[i].type, .id = 100 + i };
                m.class_optout.op = IPC_CLASS_OPTOUT_SET;
                if (server_request_needs_privilege(&server_requests[i], &m)) {
                        if (m.type == IPC_CLASS_OPTOUT)
                                strcpy(m.class_optout.setup_class, "Storage");
                        ret[i] = raw_request(fd, &m);
                }
        }
        m = (struct ipc_msg){ .type = IPC_CLASS_OPTOUT, .id = 99 };
        m.class_optout.op = IPC_CLASS_OPTOUT_GET;
        strcpy(m.class_optout.setup_class, "Storage");
        ret[server_requests_count] = raw_request(fd, &m);
        close(fd);
}

/* A client that is neither root nor in the group: every message the table
 * marks privileged is refused with -EPERM (ahead of its handler, so
 * whatever it carries), and the connection still serves a read. */
static void test_request_table_refuses_unprivileged(void **state) {
        int res[2], st, r[64] = { 0 };
        pid_t pid;

        if (geteuid() != 0) {
                skip(); /* needs root to become another uid */
                return;
        }
        assert_true(server_requests_count < ELEMENTSOF(r));
        assert_int_equal(server_requests[0].type, IPC_HELLO); /* sent first by the child */
        assert_int_equal(pipe2(res, O_CLOEXEC), 0);
        ipc_daemon_start("deadline = 2s");
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                raw_privileged_rows(r);
                (void)!write(res[1], r, sizeof(r));
                _exit(0);
        }
        {
                struct pollfd p = { .fd = res[0], .events = POLLIN };
                assert_int_equal(poll(&p, 1, 30000), 1);
                assert_int_equal(read(res[0], r, sizeof(r)), sizeof(r));
        }
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        for (size_t i = 0; i < server_requests_count; i++) {
                struct ipc_msg m = { .type = server_requests[i].type, .class_optout.op = IPC_CLASS_OPTOUT_SET };
                bool priv = server_request_needs_privilege(&server_requests[i], &m);
                if (priv && r[i] != -EPERM)
                        fail_msg("%s from an unprivileged client: %d, expected -EPERM",
                                 ipcmsg_type_name(server_requests[i].type), r[i]);
        }
        /* Reading a class opt-out is anyone's: answered, not refused. */
        assert_int_not_equal(r[server_requests_count], -EPERM);
        assert_int_not_equal(r[server_requests_count], 1);
        close(res[0]);
        close(res[1]);
}

static void test_malformed_and_oversized(void **state) {
        static uint8_t big[70000];
        uint8_t buf[256];
        dhp *ctx;
        int fd;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();

        /* A header whose length lies. */
        fd = raw_connect(IPC_VERSION_MAJOR);
        memset(buf, 0, sizeof(buf));
        buf[0] = IPC_PING;
        buf[4] = 99; /* says 99 bytes, sends 16 */
        assert_int_equal(send(fd, buf, 16, 0), 16);
        expect_error_then_eof(fd, "malformed");
        close(fd);
        assert_int_equal(remote_ping(dhp_internal_remote(ctx)), 0);

        /* A message past IPC_MSG_MAX. */
        fd = raw_connect(IPC_VERSION_MAJOR);
        big[0] = IPC_PING;
        assert_int_equal(send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
        expect_error_then_eof(fd, "70000 bytes");
        close(fd);
        assert_int_equal(remote_ping(dhp_internal_remote(ctx)), 0);

        /* A message only the daemon sends. */
        fd = raw_connect(IPC_VERSION_MAJOR);
        {
                struct ipc_msg m = { .type = IPC_LOST, .lost = { 1 } };
                int n = ipcmsg_encode(&m, buf, sizeof(buf));
                assert_int_equal(send(fd, buf, (size_t)n, 0), n);
        }
        expect_error_then_eof(fd, "LOST");
        close(fd);

        /* Another major version: refused, both versions named. */
        fd = raw_connect(IPC_VERSION_MAJOR + 1);
        {
                char want[80];
                snprintf(want, sizeof(want), "the client speaks 2.0, dhpd speaks %d.%d", IPC_VERSION_MAJOR,
                         IPC_VERSION_MINOR);
                expect_error_then_eof(fd, want);
        }
        close(fd);

        assert_int_equal(remote_ping(dhp_internal_remote(ctx)), 0);
        dhp_close(ctx);
}

static void test_slow_reader_gets_lost_marker(void **state) {
        static uint8_t buf[IPC_MSG_MAX];
        static struct ipc_msg m;
        char *text;
        size_t len = 0, cap = 16384;
        uint64_t lost = 0, records = 0;
        uint8_t out[64];
        dhp *ctx;
        int fd, n;

        ipc_daemon_start("deadline = 2s");
        fd = raw_connect(IPC_VERSION_MAJOR);
        m = (struct ipc_msg){ .type = IPC_MONITOR_START, .id = 2 };
        n = ipcmsg_encode(&m, out, sizeof(out));
        assert_int_equal(send(fd, out, (size_t)n, 0), n);
        /* Does not read while the stream floods it. */
        text = malloc(cap);
        for (int i = 0; i < 1000; i++)
                len += (size_t)snprintf(text + len, cap - len, "memory add 128M\n");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_sim_run_scenario(ctx, "flood", text, NULL), 0);
        assert_int_equal(remote_ping(dhp_internal_remote(ctx)), 0);
        free(text);
        /* Now read everything: the marker is there. */
        while ((n = raw_recv(fd, buf, sizeof(buf), 1000)) > 0) {
                assert_int_equal(ipcmsg_decode(buf, (size_t)n, &m), 0);
                if (m.type == IPC_LOST)
                        lost += m.lost.count;
                if (m.type == IPC_RECORD)
                        records++;
        }
        assert_true(lost > 0);
        assert_true(records > 0);
        close(fd);
        dhp_close(ctx);
}

/* ---- records and history ---------------------------------------------------- */

struct lines {
        pthread_mutex_t lock;
        char *text; /* JSON lines, as `dhpctl monitor --json` prints them */
        size_t len;
};

static void collect_cb(void *userdata, const dhp_record *r) {
        struct lines *l = userdata;
        char buf[8192];
        int n = dhp_record_format(r, DHP_RECORD_JSON, buf, sizeof(buf));

        assert_true(n > 0 && (size_t)n < sizeof(buf));
        pthread_mutex_lock(&l->lock);
        l->text = realloc(l->text, l->len + (size_t)n + 2);
        memcpy(l->text + l->len, buf, (size_t)n);
        l->len += (size_t)n;
        l->text[l->len++] = '\n';
        l->text[l->len] = 0;
        pthread_mutex_unlock(&l->lock);
}

static const char *find_line(const char *text, const char *a, const char *b) {
        for (const char *p = text; p && *p;) {
                const char *end = strchr(p, '\n');
                size_t n = end ? (size_t)(end - p) : strlen(p);
                if (memmem(p, n, a, strlen(a)) && memmem(p, n, b, strlen(b)))
                        return p;
                p = end ? end + 1 : NULL;
        }
        return NULL;
}

/* A scenario's note longer than a record name (64 bytes) arrives whole. */
#define LONG_NOTE "a note longer than the 64 bytes of a record name, as the demo's: it must arrive whole, to the end."

/* The memory condition and rebalance extras reach a client of dhpd: what
 * `dhpctl monitor --json` prints is what `dhpctl demo --json` would.  And
 * HISTORY replays the same records, formatted the same. */
static void test_records_whole_and_history(void **state) {
        static const char scenario[] = "memory level available=1M\nsettle\n"
                                       "device add disk0 Storage\ncpu add\nsettle\n"
                                       "echo " LONG_NOTE "\n";
        struct lines l = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct remote_history h;
        struct strbuf hist = STRBUF_INIT;
        dhp_monitor *mon;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_monitor_add(ctx, collect_cb, &l, &mon), 0);
        assert_int_equal(dhp_sim_run_scenario(ctx, "extras", scenario, NULL), 0);
        /* The records came before the run's REPLY, on the same connection. */
        pthread_mutex_lock(&l.lock);
        assert_non_null(l.text);
        if (!find_line(l.text, "\"method\":\"memcond\",\"event\":\"SET\"", "\"condition\":\"LowMemoryCondition\"") ||
            !find_line(l.text, "\"event\":\"START\"", "\"old_affinity\":\"0-1\",\"new_affinity\":\"0-2\"") ||
            !find_line(l.text, "\"event\":\"REBALANCED\"", "\"stopped_ns\":") ||
            !find_line(l.text, "\"event\":\"QUERY_STOP\"", "\"device\":\"disk0\",\"driver\":") ||
            !find_line(l.text, "\"event\":\"NOTE\"", "\"name\":\"" LONG_NOTE "\""))
                fail_msg("extras missing from the stream:\n%s", l.text);
        pthread_mutex_unlock(&l.lock);

        assert_int_equal(remote_history(dhp_internal_remote(ctx), 0, &h), 0);
        assert_true(h.n > 0 && h.n <= 512);
        for (size_t i = 0; i < h.n; i++) {
                char buf[8192];
                int n = record_wire_format(&h.records[i], DHP_RECORD_JSON, buf, sizeof(buf));
                assert_true(n > 0 && (size_t)n < sizeof(buf));
                strbuf_printf(&hist, "%s\n", buf);
        }
        /* Every record of the run, in the history too, byte for byte
         * (the history also holds what came before the monitor). */
        pthread_mutex_lock(&l.lock);
        assert_non_null(strstr(strbuf_str(&hist), l.text));
        pthread_mutex_unlock(&l.lock);
        /* The newest 3 only. */
        remote_history_deinit(&h);
        assert_int_equal(remote_history(dhp_internal_remote(ctx), 3, &h), 0);
        assert_int_equal(h.n, 3);
        remote_history_deinit(&h);

        strbuf_deinit(&hist);
        dhp_monitor_remove(mon);
        dhp_close(ctx);
        free(l.text);
}

/* ---- a lost daemon ---------------------------------------------------------- */

static void count_cb(void *userdata, const dhp_proc_change *c) {
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_COMPLETE)
                flag_set(userdata, flag_get(userdata) + 1);
}

static void test_reconnect_after_restart(void **state) {
        struct flag completes;
        dhp_proc_reg *reg;
        dhp_arrival_reg *areg;
        int arrivals = 0;
        dhp *ctx, *drv;

        flag_init(&completes);
        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_proc_register(ctx, "survivor", 0, count_cb, &completes, &reg), 0);
        assert_int_equal(dhp_arrival_register(ctx, "survivor", DHP_CLASS_PROCESSOR, 0, arrival_count, &arrivals, &areg),
                         0);
        ipc_daemon_stop();
        /* The loss shows on the fd, and dhp_process says so. */
        assert_int_equal(dhp_wait(ctx, 5000), 1);
        assert_int_equal(dhp_process(ctx), -ECONNRESET);
        assert_int_equal(dhp_reconnect(ctx), -ENOENT);
        ipc_daemon_start("deadline = 2s");
        assert_int_equal(dhp_reconnect(ctx), 0);
        drv = ipc_open_ctx();
        assert_int_equal(dhp_sim_cpu_add(drv, NULL), 0);
        assert_true(flag_wait(&completes, 1, 5000));
        /* The arrival registration came back too. */
        for (uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC; arrivals == 0 && time_now_ns() < end;)
                if (dhp_wait(ctx, 1000) > 0)
                        assert_true(dhp_process(ctx) >= 0);
        assert_int_equal(arrivals, 1);
        dhp_proc_deregister(reg);
        dhp_arrival_unregister(areg);
        dhp_close(drv);
        dhp_close(ctx);
}


/* An unprivileged client attempting each privileged operation: EPERM every
 * time, and the connection still serves what anyone may do. */
static void test_unprivileged_each_privileged_operation(void **state) {
        int res[2], st;
        pid_t pid;

        if (geteuid() != 0) {
                skip(); /* needs root to become another uid */
                return;
        }
        assert_int_equal(pipe2(res, O_CLOEXEC), 0);
        ipc_daemon_start("deadline = 2s");
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char *err = NULL;
                dhp_proc_reg *reg;
                dhp *c;
                int r[6];
                c = ipc_open_as_nobody();
                r[0] = dhp_proc_register(c, NULL, 0, noop_cb, NULL, &reg);
                r[1] = dhp_proc_register(c, NULL, DHP_PROC_ADD_EXISTING, noop_cb, NULL, &reg);
                r[2] = dhp_sim_cpu_add(c, NULL);
                r[3] = dhp_sim_memory_add(c, 128 << 20, NULL);
                r[4] = dhp_sim_run_scenario(c, "s", "cpu add\n", &err);
                free(err);
                /* Still connected, still served: a request anyone may make. */
                uint32_t n = 0;
                r[5] = dhp_proc_count(c, &n);
                (void)!write(res[1], r, sizeof(r));
                dhp_close(c);
                _exit(0);
        }
        {
                struct pollfd p = { .fd = res[0], .events = POLLIN };
                dhp_proc_state ps;
                int r[6];
                dhp *ctx;

                assert_int_equal(poll(&p, 1, 10000), 1);
                assert_int_equal(read(res[0], r, sizeof(r)), sizeof(r));
                for (int i = 0; i < 5; i++)
                        if (r[i] != -EPERM)
                                fail_msg("privileged operation %d returned %d, expected -EPERM", i, r[i]);
                assert_int_equal(r[5], 0);
                /* None of them happened. */
                ctx = ipc_open_ctx();
                assert_int_equal(dhp_proc_get_state(ctx, 2, &ps), 0);
                assert_int_equal(ps, DHP_PROC_ABSENT);
                dhp_close(ctx);
        }
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        close(res[0]);
        close(res[1]);
}

static long daemon_rss_kb(void) {
        char path[64], line[256];
        long kb = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)ipc_daemon_pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

/* A client that floods requests and never reads the replies: dhpd's memory
 * stays bounded (its queue is capped; past the cap the flooder is dropped),
 * and another client's hot-add still completes promptly. */
static void test_flooding_client(void **state) {
        static uint8_t buf[256];
        struct ipc_msg m = { .type = IPC_PING };
        long before, after;
        uint64_t t0;
        int fd, n, sent = 0;
        dhp *ctx;

        ipc_daemon_start("deadline = 2s");
        before = daemon_rss_kb();
        fd = raw_connect(IPC_VERSION_MAJOR);
        /* Non-blocking sends until the socket pushes back or the daemon
         * drops us: at most 200 000 requests. */
        fcntl(fd, F_SETFL, O_NONBLOCK);
        for (int i = 0; i < 200000; i++) {
                m.id = (uint64_t)i + 2;
                n = ipcmsg_encode(&m, buf, sizeof(buf));
                if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0) {
                        if (errno == EAGAIN) {
                                struct pollfd p = { .fd = fd, .events = POLLOUT };
                                if (poll(&p, 1, 100) == 1 && !(p.revents & (POLLERR | POLLHUP)))
                                        continue;
                        }
                        break;
                }
                sent++;
        }
        assert_true(sent > 0);
        /* Meanwhile, another client is served within the deadline. */
        ctx = ipc_open_ctx();
        t0 = time_now_ns();
        assert_int_equal(dhp_sim_cpu_add(ctx, NULL), 0);
        assert_true(time_now_ns() - t0 < 2 * NSEC_PER_SEC);
        after = daemon_rss_kb();
        fprintf(stderr, "# flooder sent %d requests; dhpd RSS %ld kB -> %ld kB\n", sent, before, after);
        assert_true(before > 0 && after > 0);
        assert_true(after - before < 16 * 1024); /* bounded, not proportional to the flood */
        dhp_close(ctx);
        close(fd);
}

struct seen {
        char names[8][64];
        bool existing[8];
        int n;
};

static void arrival_seen(void *userdata, const dhp_device_event *e) {
        struct seen *s = userdata;

        if (s->n < 8) {
                snprintf(s->names[s->n], sizeof(s->names[0]), "%s", dhp_device_event_get_name(e));
                s->existing[s->n] = dhp_device_event_is_existing(e);
        }
        s->n++;
}

static void process_until(dhp *ctx, const int *n, int want) {
        for (uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC; *n < want && time_now_ns() < end;)
                if (dhp_wait(ctx, 500) > 0)
                        assert_true(dhp_process(ctx) >= 0);
}

/* A processor that arrived while dhpd was down (its start-up resync admits
 * it before any client can connect) is reported to a client at reconnect,
 * as an arrival, once; the ones it knew are not reported again.  (Found
 * with a DIMM in the QEMU client-restart scenario: the client never heard
 * of it.) */
static void test_reconnect_reports_what_arrived_meanwhile(void **state) {
        struct seen seen = { 0 }, incl = { 0 };
        dhp_arrival_reg *areg, *areg2;
        dhp *ctx, *drv;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_arrival_register(ctx, "plain", DHP_CLASS_PROCESSOR, 0, arrival_seen, &seen, &areg), 0);
        assert_int_equal(dhp_arrival_register(ctx, "incl", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING,
                                              arrival_seen, &incl, &areg2),
                         0);
        process_until(ctx, &incl.n, 2);
        assert_int_equal(incl.n, 2); /* cpu0, cpu1, existing */
        assert_true(incl.existing[0] && incl.existing[1]);
        assert_int_equal(dhp_process(ctx), 0);
        assert_int_equal(seen.n, 0);
        ipc_daemon_stop();
        assert_int_equal(dhp_wait(ctx, 5000), 1);
        assert_int_equal(dhp_process(ctx), -ECONNRESET);
        ipc_sim_opts = "cpus=3,maxcpus=64,maxmem=1T"; /* cpu2 came meanwhile */
        ipc_daemon_start("deadline = 2s");
        ipc_sim_opts = "cpus=2,maxcpus=64,maxmem=1T";
        assert_int_equal(dhp_reconnect(ctx), 0);
        process_until(ctx, &seen.n, 1);
        process_until(ctx, &incl.n, 3);
        assert_int_equal(seen.n, 1);
        assert_string_equal(seen.names[0], "cpu2");
        assert_false(seen.existing[0]);
        assert_int_equal(incl.n, 3);
        assert_string_equal(incl.names[2], "cpu2");
        assert_false(incl.existing[2]);
        /* Later arrivals as usual, nothing twice. */
        drv = ipc_open_ctx();
        assert_int_equal(dhp_sim_cpu_add(drv, NULL), 0);
        process_until(ctx, &seen.n, 2);
        process_until(ctx, &incl.n, 4);
        assert_int_equal(seen.n, 2);
        assert_string_equal(seen.names[1], "cpu3");
        assert_int_equal(incl.n, 4);
        assert_int_equal(dhp_wait(ctx, 200), 0);
        dhp_arrival_unregister(areg);
        dhp_arrival_unregister(areg2);
        dhp_close(drv);
        dhp_close(ctx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_request_table),
                cmocka_unit_test_setup_teardown(test_request_table_refuses_unprivileged, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_fanout_two_processes, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_veto_in_one_fails_both, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_late_client_proceed, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_late_client_veto, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_sigkill_during_add_start, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_unprivileged_client, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_malformed_and_oversized, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_slow_reader_gets_lost_marker, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_records_whole_and_history, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_reconnect_after_restart, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_unprivileged_each_privileged_operation, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_flooding_client, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_reconnect_reports_what_arrived_meanwhile, ipc_setup, ipc_teardown),
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
