/* SPDX-License-Identifier: MIT */
/*
 * Removal through dhpd (doc/model.md, "Removal"): a real dhpd --platform
 * sim on a socket in a temporary directory.  The query goes to the client
 * processes that opted in and only to them; a veto keeps the processor; the
 * REMOVAL reaches every arrival registration with the ARRIVAL's name; a
 * surprise removal is flagged; dhpctl cpu remove / memory remove and
 * status --json afterwards.  Every wait is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "ipc-daemon.h"
#include "lib/dhp-private.h"
#include "proto/ipcmsg.h"
#include "util/time.h"

struct seen {
        pthread_mutex_t lock;
        char log[128];
        size_t n;
        int veto;
        char name[64];
        uint64_t size;
};

static void seen_add(struct seen *s, char c) {
        pthread_mutex_lock(&s->lock);
        if (s->n + 1 < sizeof(s->log))
                s->log[s->n++] = c;
        s->log[s->n] = 0;
        pthread_mutex_unlock(&s->lock);
}

static void proc_cb(void *userdata, const dhp_proc_change *c) {
        struct seen *s = userdata;

        switch (dhp_proc_change_get_state(c)) {
        case DHP_PROC_REMOVE_QUERY:
                seen_add(s, 'Q');
                if (s->veto < 0)
                        dhp_proc_change_veto(c, s->veto);
                break;
        case DHP_PROC_REMOVE_COMPLETE:
                seen_add(s, 'C');
                if (dhp_proc_change_is_surprise(c))
                        seen_add(s, 'S');
                break;
        case DHP_PROC_REMOVE_CANCEL:
                seen_add(s, 'X');
                break;
        default:
                seen_add(s, '+');
                break;
        }
}

static void arrival_cb(void *userdata, const dhp_device_event *e) {
        struct seen *s = userdata;
        uint64_t base;

        switch (dhp_device_event_get_event(e)) {
        case DHP_EVENT_QUERY_REMOVE:
                seen_add(s, 'Q');
                if (s->veto < 0)
                        dhp_device_event_veto(e, s->veto);
                return;
        case DHP_EVENT_REMOVE_CANCEL:
                seen_add(s, 'X');
                return;
        default:
                break;
        }
        seen_add(s, dhp_device_event_get_event(e) == DHP_EVENT_ARRIVAL ? 'A' : 'R');
        if (dhp_device_event_is_surprise(e))
                seen_add(s, 'S');
        pthread_mutex_lock(&s->lock);
        snprintf(s->name, sizeof(s->name), "%s", dhp_device_event_get_name(e));
        dhp_device_event_get_memory(e, &base, &s->size);
        pthread_mutex_unlock(&s->lock);
}

static bool seen_is(struct seen *s, const char *want) {
        bool eq;

        pthread_mutex_lock(&s->lock);
        eq = strcmp(s->log, want) == 0;
        pthread_mutex_unlock(&s->lock);
        return eq;
}

/* Deliver ctx's arrivals until s->log is `want` (5 s at most). */
static void wait_log(dhp *ctx, struct seen *s, const char *want) {
        uint64_t end = time_now_ns() + 5 * NSEC_PER_SEC;

        while (!seen_is(s, want)) {
                if (time_now_ns() > end)
                        fail_msg("saw '%s', expected '%s'", s->log, want);
                if (ctx && dhp_wait(ctx, 100) > 0)
                        dhp_process(ctx);
                else if (!ctx)
                        usleep(10000);
        }
}

/* Run dhpctl to its end (10 s at most); its exit status, stdout in out. */
static int dhpctl(char *out, size_t outsize, const char *a, const char *b, const char *c) {
        char *argv[] = { getenv("DHPCTL"), "--socket", ipc_sock, (char *)a, (char *)b, (char *)c, NULL };

        assert_non_null(argv[0]);
        return ipc_run(argv, out, outsize, 10);
}

static void test_cpu_removal(void **state) {
        struct seen in = { .lock = PTHREAD_MUTEX_INITIALIZER }, out = { .lock = PTHREAD_MUTEX_INITIALIZER },
                    arr = { .lock = PTHREAD_MUTEX_INITIALIZER };
        dhp *c0, *c1, *c2, *c3;
        dhp_proc_reg *r1, *r2;
        dhp_arrival_reg *a;
        struct remote_status st;
        int status = 1;

        ipc_sim_opts = "cpus=4,maxcpus=8,maxmem=1T";
        ipc_daemon_start("deadline = 2s");
        c0 = ipc_open_ctx();
        c1 = ipc_open_ctx();
        c2 = ipc_open_ctx();
        c3 = ipc_open_ctx();
        assert_int_equal(dhp_proc_register(c1, "in", DHP_PROC_QUERY_REMOVE, proc_cb, &in, &r1), 0);
        assert_int_equal(dhp_proc_register(c2, "out", 0, proc_cb, &out, &r2), 0);
        assert_int_equal(dhp_arrival_register(c3, "arr", DHP_CLASS_PROCESSOR, 0, arrival_cb, &arr, &a), 0);

        /* R32-R34: the opted-in process is asked; the other sees nothing. */
        assert_int_equal(dhp_proc_remove(c0, 3, &status), 0);
        assert_int_equal(status, 0);
        if (!seen_is(&in, "QC"))
                fail_msg("in saw '%s'", in.log);
        assert_true(seen_is(&out, ""));
        wait_log(c3, &arr, "R");
        assert_string_equal(arr.name, "cpu3");

        /* A veto: it stays, the queried one gets the cancel. */
        in.veto = -EBUSY;
        assert_int_equal(dhp_proc_remove(c0, 2, &status), 1);
        assert_int_equal(status, -EBUSY);
        assert_true(seen_is(&in, "QCQX"));
        in.veto = 0;

        /* A surprise: REMOVE_COMPLETE alone, REMOVAL flagged. */
        assert_int_equal(dhp_sim_cpu_surprise_remove(c0, 2), 0);
        wait_log(NULL, &in, "QCQXCS");
        wait_log(c3, &arr, "RRS");
        assert_string_equal(arr.name, "cpu2");

        /* status never shows what is gone. */
        assert_int_equal(dhp_internal_status(c0, &st), 0);
        assert_int_equal(st.cpu_state[3], DHP_PROC_PRESENT);
        assert_int_equal(st.cpu_state[2], DHP_PROC_ABSENT);
        assert_int_equal(st.cpu_state[1], DHP_PROC_ADMITTED);
        remote_status_deinit(&st);

        /* Not admitted; the last one. */
        assert_int_equal(dhp_proc_remove(c0, 3, NULL), -ENODEV);
        assert_int_equal(dhp_proc_remove(c0, 1, NULL), 0);
        assert_int_equal(dhp_proc_remove(c0, 0, NULL), -EBUSY);
        assert_true(strstr(dhp_internal_last_text(c0), "last admitted processor") != NULL);
        assert_true(seen_is(&out, ""));

        dhp_proc_deregister(r1);
        dhp_proc_deregister(r2);
        dhp_arrival_unregister(a);
        dhp_close(c3);
        dhp_close(c2);
        dhp_close(c1);
        dhp_close(c0);
}

static void test_memory_removal_and_dhpctl(void **state) {
        struct seen arr = { .lock = PTHREAD_MUTEX_INITIALIZER }, qs = { .lock = PTHREAD_MUTEX_INITIALIZER, .veto = -EBUSY };
        int status = 0;
        static char text[8192];
        dhp *c0, *c1;
        dhp_arrival_reg *a, *q;
        uint64_t base;
        char name[64];

        ipc_sim_opts = "cpus=3,maxcpus=8,maxmem=1T";
        ipc_daemon_start("deadline = 2s");
        c0 = ipc_open_ctx();
        c1 = ipc_open_ctx();
        assert_int_equal(dhp_arrival_register(c1, "arr", DHP_CLASS_MEMORY, 0, arrival_cb, &arr, &a), 0);
        /* D34 through dhpd: the query runs on c1's connection thread. */
        assert_int_equal(dhp_arrival_register(c1, "q", DHP_CLASS_MEMORY, DHP_ARRIVAL_QUERY_REMOVE, arrival_cb, &qs,
                                              &q),
                         0);
        assert_int_equal(dhp_sim_memory_add(c0, 256ULL << 20, &base), 0);
        wait_log(c1, &arr, "A");
        wait_log(c1, &qs, "A");
        snprintf(name, sizeof(name), "%s", arr.name);
        assert_int_equal(dhp_memory_remove(c0, name, &status), 1);
        assert_int_equal(status, -EBUSY);
        assert_true(seen_is(&qs, "AQX"));
        qs.veto = 0;

        assert_int_equal(dhpctl(text, sizeof(text), "memory", "remove", name), 0);
        assert_non_null(strstr(text, "removed"));
        wait_log(c1, &arr, "AR");
        wait_log(c1, &qs, "AQXQR");
        assert_string_equal(arr.name, name);
        assert_int_equal(arr.size, 256ULL << 20);
        assert_int_equal(dhpctl(text, sizeof(text), "status", "--json", NULL), 0);
        assert_null(strstr(text, name + 7)); /* the device's address is nowhere */
        assert_non_null(strstr(text, "\"name\":\"memory@0x0\""));
        assert_int_equal(dhpctl(text, sizeof(text), "memory", "remove", name), 1);

        assert_int_equal(dhpctl(text, sizeof(text), "cpu", "remove", "2"), 0);
        assert_non_null(strstr(text, "cpu2 removed"));
        assert_int_equal(dhpctl(text, sizeof(text), "status", "--json", NULL), 0);
        assert_non_null(strstr(text, "{\"index\":2,\"state\":\"present\"}"));
        assert_int_equal(dhpctl(text, sizeof(text), "cpu", "remove", "2"), 1);
        assert_int_equal(dhpctl(text, sizeof(text), "cpu", "remove", "x"), 2);

        dhp_arrival_unregister(a);
        dhp_arrival_unregister(q);
        dhp_close(c1);
        dhp_close(c0);
}

static void test_unprivileged(void **state) {
        int res[2], st, v[3];
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
                dhp *c = ipc_open_as_nobody();
                dhp_arrival_reg *q;
                int r[3];
                r[0] = dhp_proc_remove(c, 1, NULL);
                r[1] = dhp_memory_remove(c, "memory@0x0", NULL);
                r[2] = dhp_arrival_register(c, "q", DHP_CLASS_MEMORY, DHP_ARRIVAL_QUERY_REMOVE, arrival_cb, NULL, &q);
                (void)!write(res[1], r, sizeof(r));
                _exit(0);
        }
        {
                struct pollfd p = { .fd = res[0], .events = POLLIN };
                assert_int_equal(poll(&p, 1, 5000), 1);
                assert_int_equal(read(res[0], v, sizeof(v)), sizeof(v));
        }
        waitpid(pid, &st, 0);
        assert_int_equal(v[0], -EPERM);
        assert_int_equal(v[1], -EPERM);
        assert_int_equal(v[2], -EPERM);
        close(res[0]);
        close(res[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_cpu_removal, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_memory_removal_and_dhpctl, ipc_setup, ipc_teardown),
                cmocka_unit_test_setup_teardown(test_unprivileged, ipc_setup, ipc_teardown),
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
