/* SPDX-License-Identifier: MIT */
/*
 * dhp_reconnect() after a restart of dhpd (doc/model.md D28, D36), through
 * a real dhpd --platform sim: a restarted simulated dhpd starts from its
 * --sim options, so a test chooses what "happened while dhpd was away" by
 * the options of the restart.
 *   - a device the client knew that did not come back is reported as a
 *     REMOVAL, and a later device of the same name as an ARRIVAL (it used
 *     to be dropped as "already reported");
 *   - a processor admitted while dhpd was away reaches the synchronous
 *     callbacks as ADD_START then ADD_COMPLETE before dhp_reconnect()
 *     returns; one the process saw admitted is not told again; adds after
 *     the reconnection come once, as usual.
 * The crash of dhpd in the middle of a transaction, with a client process
 * connected, is tests/daemon/test-faults.py (resync-client.c).  Two
 * interleavings a real dhpd cannot be made to produce on demand are played
 * by a scripted one (test_reconnect_view_*).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "helpers.h"
#include "ipc-daemon.h"
#include "proto/ipcmsg.h"
#include "util/time.h"

struct events {
        char what[16][32]; /* "ARRIVAL cpu2", "ADD_START 2", ... */
        int n;
};

static void arrival_cb(void *userdata, const dhp_device_event *e) {
        struct events *ev = userdata;

        if (ev->n < 16)
                snprintf(ev->what[ev->n++], sizeof(ev->what[0]), "%s %s",
                         dhp_device_event_get_event(e) == DHP_EVENT_REMOVAL ? "REMOVAL" : "ARRIVAL",
                         dhp_device_event_get_name(e));
}

static const char *state_name(dhp_proc_change_state s) {
        return s == DHP_PROC_ADD_START ? "ADD_START" : s == DHP_PROC_ADD_COMPLETE ? "ADD_COMPLETE" : "ADD_FAILURE";
}

/* On the connection thread; the test reads the events once dhp_reconnect()
 * or a flag says they are done. */
struct sync_events {
        struct events ev;
        struct flag completes;
        struct flag calls;
};

static void sync_cb(void *userdata, const dhp_proc_change *c) {
        struct sync_events *s = userdata;

        if (s->ev.n < 16)
                snprintf(s->ev.what[s->ev.n++], sizeof(s->ev.what[0]), "%s %u", state_name(dhp_proc_change_get_state(c)),
                         dhp_proc_change_get_index(c));
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_COMPLETE)
                flag_set(&s->completes, flag_get(&s->completes) + 1);
        flag_set(&s->calls, flag_get(&s->calls) + 1);
}

static void process_until(dhp *ctx, const int *n, int want) {
        for (uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC; *n < want && time_now_ns() < end;)
                if (dhp_wait(ctx, 500) > 0)
                        assert_true(dhp_process(ctx) >= 0);
}

/* dhpd gone and back with `sim_opts`; the client reconnected. */
static void restart_and_reconnect(dhp *ctx, const char *sim_opts) {
        ipc_daemon_stop();
        assert_int_equal(dhp_wait(ctx, 5000), 1);
        assert_int_equal(dhp_process(ctx), -ECONNRESET);
        ipc_sim_opts = sim_opts;
        ipc_daemon_start("deadline = 2s");
        ipc_sim_opts = "cpus=2,maxcpus=64,maxmem=1T";
        assert_int_equal(dhp_reconnect(ctx), 0);
}

/* The Go client's author's report: after a restart that lost cpu2 (any
 * restart of a simulated dhpd), the next cpu2 was never reported. */
static void test_reconnect_reports_lost_devices_and_their_return(void **state) {
        struct events plain = { 0 }, incl = { 0 };
        dhp_arrival_reg *areg, *areg2;
        dhp *ctx, *drv;

        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_arrival_register(ctx, "plain", DHP_CLASS_PROCESSOR, 0, arrival_cb, &plain, &areg), 0);
        assert_int_equal(dhp_arrival_register(ctx, "incl", DHP_CLASS_PROCESSOR, DHP_ARRIVAL_INCLUDE_EXISTING,
                                              arrival_cb, &incl, &areg2),
                         0);
        process_until(ctx, &incl.n, 2); /* cpu0, cpu1 */
        drv = ipc_open_ctx();
        assert_int_equal(dhp_sim_cpu_add(drv, NULL), 0);
        process_until(ctx, &plain.n, 1);
        process_until(ctx, &incl.n, 3);
        assert_int_equal(plain.n, 1);
        assert_string_equal(plain.what[0], "ARRIVAL cpu2");
        dhp_close(drv);

        /* The restarted dhpd has cpu0 and cpu1 only: cpu2 went. */
        restart_and_reconnect(ctx, "cpus=2,maxcpus=64,maxmem=1T");
        process_until(ctx, &plain.n, 2);
        process_until(ctx, &incl.n, 4);
        assert_int_equal(plain.n, 2);
        assert_string_equal(plain.what[1], "REMOVAL cpu2");
        assert_int_equal(incl.n, 4);
        assert_string_equal(incl.what[3], "REMOVAL cpu2");
        assert_int_equal(dhp_wait(ctx, 200), 0); /* cpu0, cpu1 are not told again */

        /* A new cpu2: reported, to both. */
        drv = ipc_open_ctx();
        assert_int_equal(dhp_sim_cpu_add(drv, NULL), 0);
        process_until(ctx, &plain.n, 3);
        process_until(ctx, &incl.n, 5);
        assert_int_equal(plain.n, 3);
        assert_string_equal(plain.what[2], "ARRIVAL cpu2");
        assert_int_equal(incl.n, 5);
        assert_string_equal(incl.what[4], "ARRIVAL cpu2");
        assert_int_equal(dhp_wait(ctx, 200), 0);
        dhp_arrival_unregister(areg);
        dhp_arrival_unregister(areg2);
        dhp_close(drv);
        dhp_close(ctx);
}

/* D36: what was admitted while dhpd was away reaches the synchronous
 * callbacks as an add, before dhp_reconnect() returns; nothing twice. */
static void test_reconnect_resyncs_sync_registrations(void **state) {
        struct sync_events a = { 0 }, b = { 0 };
        dhp_proc_reg *ra, *rb;
        dhp *ctx, *drv;

        flag_init(&a.completes);
        flag_init(&b.completes);
        flag_init(&a.calls);
        flag_init(&b.calls);
        ipc_daemon_start("deadline = 2s");
        ctx = ipc_open_ctx();
        assert_int_equal(dhp_proc_register(ctx, "first", 0, sync_cb, &a, &ra), 0);
        assert_int_equal(dhp_proc_register(ctx, "second", 0, sync_cb, &b, &rb), 0);

        /* cpu2 came while dhpd was away (the restart has 3 processors). */
        restart_and_reconnect(ctx, "cpus=3,maxcpus=64,maxmem=1T");
        assert_int_equal(flag_get(&a.completes), 1); /* before dhp_reconnect() returned */
        assert_int_equal(flag_get(&b.completes), 1);
        assert_int_equal(a.ev.n, 2);
        assert_string_equal(a.ev.what[0], "ADD_START 2");
        assert_string_equal(a.ev.what[1], "ADD_COMPLETE 2");
        assert_int_equal(b.ev.n, 2);
        assert_string_equal(b.ev.what[0], "ADD_START 2");
        assert_string_equal(b.ev.what[1], "ADD_COMPLETE 2");

        /* The same again: cpu2 was seen, nothing to tell. */
        restart_and_reconnect(ctx, "cpus=3,maxcpus=64,maxmem=1T");
        assert_int_equal(a.ev.n, 2);
        assert_int_equal(b.ev.n, 2);

        /* Adds after the reconnection: once, both registrations. */
        drv = ipc_open_ctx();
        assert_int_equal(dhp_sim_cpu_add(drv, NULL), 0);
        assert_true(flag_wait(&a.completes, 2, 5000));
        assert_true(flag_wait(&b.completes, 2, 5000));
        assert_int_equal(a.ev.n, 4);
        assert_string_equal(a.ev.what[2], "ADD_START 3");
        assert_string_equal(a.ev.what[3], "ADD_COMPLETE 3");
        assert_int_equal(b.ev.n, 4);
        dhp_close(drv);

        /* A restart with fewer processors: no synchronous phase for what
         * went (the model has none yet), and the next add of cpu2 is an
         * add as any. */
        restart_and_reconnect(ctx, "cpus=2,maxcpus=64,maxmem=1T");
        assert_int_equal(a.ev.n, 4);
        drv = ipc_open_ctx();
        assert_int_equal(dhp_sim_cpu_add(drv, NULL), 0);
        assert_true(flag_wait(&a.completes, 3, 5000));
        assert_int_equal(a.ev.n, 6);
        assert_string_equal(a.ev.what[4], "ADD_START 2");
        assert_string_equal(a.ev.what[5], "ADD_COMPLETE 2");
        dhp_close(drv);
        dhp_proc_deregister(ra);
        dhp_proc_deregister(rb);
        dhp_close(ctx);
}

/* ---- a scripted dhpd ------------------------------------------------------- */

/* cmocka's assertions belong to the test's thread: the script says what
 * failed and aborts. */
#define fake_check(c)                                                                          \
        do {                                                                                   \
                if (!(c)) {                                                                    \
                        fprintf(stderr, "scripted dhpd, line %d: %s failed\n", __LINE__, #c); \
                        abort();                                                               \
                }                                                                              \
        } while (0)

struct fake {
        int lfd, cfd;
        pthread_t thread;
};

static void fake_send(struct fake *f, const struct ipc_msg *m) {
        uint8_t buf[IPC_MSG_MAX];
        int n = ipcmsg_encode(m, buf, sizeof(buf));

        fake_check(n > 0);
        fake_check((send(f->cfd, buf, (size_t)n, MSG_NOSIGNAL)) == (n));
}

static void fake_recv(struct fake *f, struct ipc_msg *m) {
        static uint8_t buf[IPC_MSG_MAX];
        struct pollfd p = { .fd = f->cfd, .events = POLLIN };
        ssize_t n;

        fake_check(poll(&p, 1, 5000) == 1);
        n = recv(f->cfd, buf, sizeof(buf), 0);
        fake_check(n > 0);
        fake_check(ipcmsg_decode(buf, (size_t)n, m) == 0);
}

/* The next message, which must be of type `type`. */
static void fake_expect(struct fake *f, uint16_t type, struct ipc_msg *m) {
        fake_recv(f, m);
        if (m->type != type)
                fprintf(stderr, "scripted dhpd: got message type 0x%x, expected 0x%x\n", m->type, type);
        fake_check(m->type == type);
}

static void fake_accept(struct fake *f) {
        struct ipc_msg m;

        f->cfd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
        fake_check(f->cfd >= 0);
        fake_expect(f, IPC_HELLO, &m);
        m = (struct ipc_msg){ .type = IPC_WELCOME, .id = m.id };
        m.welcome.major = IPC_VERSION_MAJOR;
        m.welcome.minor = IPC_VERSION_MINOR;
        m.welcome.flags = IPC_WELCOME_SIMULATED;
        m.welcome.max_regs = 64;
        m.welcome.max_queue = 1024;
        m.welcome.max_msg = IPC_MSG_MAX;
        fake_send(f, &m);
}

/* Processor states 0..2: cpu0 and cpu1 admitted, cpu2 as given. */
static void fake_states(struct fake *f, uint64_t id, dhp_proc_state cpu2) {
        struct ipc_msg m = { .type = IPC_STATUS_PROC, .id = id };

        m.status_proc.first = 0;
        m.status_proc.count = 3;
        m.status_proc.state[0] = m.status_proc.state[1] = DHP_PROC_ADMITTED;
        m.status_proc.state[2] = (uint8_t)cpu2;
        fake_send(f, &m);
}

static void fake_reply(struct fake *f, uint64_t id) {
        fake_send(f, &(struct ipc_msg){ .type = IPC_REPLY, .id = id });
}

static void fake_answer_status(struct fake *f, dhp_proc_state cpu2) {
        struct ipc_msg m;

        fake_expect(f, IPC_STATUS, &m);
        fake_states(f, m.id, cpu2);
        fake_reply(f, m.id);
}

static void fake_crash(struct fake *f) {
        close(f->cfd);
        f->cfd = -1;
}

/*
 * Connection 1: cpu2's ADD_START is answered; the client reads a status
 * in which dhpd has admitted cpu2 (dhpd admits before it sends
 * ADD_COMPLETE); dhpd dies.  Connection 2: dhpd dies after it sent the
 * states with the synchronous re-registration, before its REPLY.
 * Connection 3: all goes well.
 */
static void *fake_script(void *userdata) {
        struct fake *f = userdata;
        struct ipc_msg m;

        fake_accept(f);
        fake_answer_status(f, DHP_PROC_PRESENT); /* dhp_open() */
        fake_expect(f, IPC_PROC_REGISTER, &m);
        fake_check((m.proc_register.flags) == (0));
        fake_reply(f, m.id);
        fake_send(f, &(struct ipc_msg){ .type = IPC_PROC_CHANGE,
                                        .proc_change = { .txn = 1, .state = DHP_PROC_ADD_START, .index = 2 } });
        /* The answer and the test's dhp_proc_get_state(), in either
         * order: the status is sent once the callback ran, the answer once
         * it returned. */
        fake_recv(f, &m);
        if (m.type == IPC_PROC_ANSWER) {
                fake_answer_status(f, DHP_PROC_ADMITTED);
        } else {
                fake_check(m.type == IPC_STATUS);
                fake_states(f, m.id, DHP_PROC_ADMITTED);
                fake_reply(f, m.id);
                fake_expect(f, IPC_PROC_ANSWER, &m);
        }
        fake_crash(f);

        fake_accept(f);
        fake_expect(f, IPC_PROC_REGISTER, &m);
        fake_check((m.proc_register.flags) == (DHP_PROC_ADD_EXISTING)); /* the states come with it */
        fake_check(m.id != 0);
        fake_states(f, m.id, DHP_PROC_ADMITTED);
        fake_crash(f);

        fake_accept(f);
        fake_expect(f, IPC_PROC_REGISTER, &m);
        fake_states(f, m.id, DHP_PROC_ADMITTED);
        fake_reply(f, m.id);
        fake_answer_status(f, DHP_PROC_ADMITTED); /* dhp_reconnect()'s refresh */
        /* Until the client leaves. */
        while (recv(f->cfd, &m, sizeof(m), 0) > 0)
                ;
        fake_crash(f);
        return NULL;
}

static void wait_loss(dhp *ctx) {
        assert_int_equal(dhp_wait(ctx, 5000), 1);
        assert_int_equal(dhp_process(ctx), -ECONNRESET);
}

/* D36 with the two interleavings: the view is what the callbacks were
 * told, not what a status said meanwhile, and an attempt that failed
 * after dhpd's states came does not count as told. */
static void test_reconnect_view_is_the_callbacks(void **state) {
        struct sync_events a = { 0 };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct fake f = { .cfd = -1 };
        char dir[160];
        dhp_proc_state st;
        dhp_proc_reg *reg;
        dhp *ctx;

        flag_init(&a.completes);
        flag_init(&a.calls);
        snprintf(dir, sizeof(dir), "%s/run", ipc_dir);
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_true(strlen(ipc_sock) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, ipc_sock, strlen(ipc_sock) + 1);
        f.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(f.lfd, 4), 0);
        assert_int_equal(pthread_create(&f.thread, NULL, fake_script, &f), 0);

        ctx = ipc_open_ctx();
        assert_int_equal(dhp_proc_register(ctx, "view", 0, sync_cb, &a, &reg), 0);
        assert_true(flag_wait(&a.calls, 1, 5000)); /* ADD_START */
        assert_int_equal(dhp_proc_get_state(ctx, 2, &st), 0);
        assert_int_equal(st, DHP_PROC_ADMITTED); /* dhpd's state, as before */
        wait_loss(ctx);
        assert_true(flag_wait(&a.calls, 2, 5000)); /* ADD_FAILURE, at the loss */
        assert_int_equal(a.ev.n, 2);
        assert_string_equal(a.ev.what[0], "ADD_START 2");
        assert_string_equal(a.ev.what[1], "ADD_FAILURE 2"); /* the outcome is unknown */

        assert_int_equal(dhp_reconnect(ctx), -ECONNRESET); /* dhpd died again */
        assert_int_equal(a.ev.n, 2);
        assert_int_equal(dhp_reconnect(ctx), 0);
        assert_int_equal(a.ev.n, 4);
        assert_string_equal(a.ev.what[2], "ADD_START 2");
        assert_string_equal(a.ev.what[3], "ADD_COMPLETE 2");

        dhp_proc_deregister(reg);
        dhp_close(ctx);
        pthread_join(f.thread, NULL);
        close(f.lfd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_reconnect_reports_lost_devices_and_their_return, ipc_setup,
                                                ipc_teardown),
                cmocka_unit_test_setup_teardown(test_reconnect_resyncs_sync_registrations, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_reconnect_view_is_the_callbacks, ipc_setup, ipc_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
