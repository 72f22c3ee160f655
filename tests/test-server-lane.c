/* SPDX-License-Identifier: MIT */
/*
 * Issue 18 item 5: one client's hung drivers must not delay another
 * client's ARRIVAL.  A real dhpd --platform sim; a forked client whose 8
 * devices have drivers that never answer; an observer whose ARRIVAL of
 * each processor must come within a bound that does not depend on the
 * [sync] deadline, while the rebalances still follow each processor's
 * arrival (doc/model.md R22) and run in admission order.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "ipc-daemon.h"
#include "util/time.h"

#define NDEV 8
/* The observer's ARRIVAL after the add began: far under the deadline
 * (2 s), with room for a loaded machine. */
#define ARRIVAL_BOUND_MS 500

static int never_answer(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        int *fd = userdata;

        (void)!write(*fd, "Q", 1);
        for (;;)
                pause(); /* never answers: killed at the end */
        return 0;
}

/* A child with NDEV devices whose one driver each never answers. */
static pid_t hung_child(int *pipefd) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                char target[160], name[16];
                dhp *c;
                snprintf(target, sizeof(target), "unix:%s", ipc_sock);
                if (dhp_open(&c, target) < 0)
                        _exit(1);
                for (int i = 0; i < NDEV; i++) {
                        dhp_device *dev;
                        dhp_driver *d;
                        snprintf(name, sizeof(name), "hung%d", i);
                        if (dhp_device_new(c, name, "Storage", &dev) < 0 ||
                            dhp_driver_attach(dev, "never", never_answer, &pipefd[1], &d) < 0)
                                _exit(1);
                }
                if (dhp_start_thread(c) < 0)
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

        assert_int_equal(poll(&p, 1, 10000), 1);
        assert_int_equal(read(fd, &b, 1), 1);
        assert_int_equal(b, want);
}

struct seen {
        struct flag arrivals; /* the observer's processor arrivals */
        uint64_t at[64];      /* time of each, by processor index */
        /* dhpd's stream: the seq of each processor's ARRIVAL and
         * rebalance BEGIN, and the order of the BEGINs */
        pthread_mutex_t lock;
        uint64_t arrival_seq[64], begin_seq[64];
        int begins[8], nbegins;
};

static void on_arrival(void *userdata, const dhp_device_event *ev) {
        struct seen *s = userdata;
        uint32_t index;

        if (dhp_device_event_get_processor(ev, &index, NULL) == 0 && index < 64) {
                s->at[index] = time_now_ns();
                flag_set(&s->arrivals, flag_get(&s->arrivals) + 1);
        }
}

static int record_processor(const dhp_record *r) {
        char buf[2048];
        const char *p;

        dhp_record_format(r, DHP_RECORD_JSON, buf, sizeof(buf));
        p = strstr(buf, "\"processor\":");
        return p ? atoi(p + strlen("\"processor\":")) : -1;
}

static void on_record(void *userdata, const dhp_record *r) {
        struct seen *s = userdata;
        const char *m = dhp_record_get_method(r), *ev = dhp_record_get_event(r);
        int cpu = record_processor(r);

        if (cpu < 0 || cpu >= 64)
                return;
        pthread_mutex_lock(&s->lock);
        if (strcmp(m, "async") == 0 && strcmp(ev, "ARRIVAL") == 0 && !s->arrival_seq[cpu])
                s->arrival_seq[cpu] = dhp_record_get_seq(r);
        if (strcmp(m, "rebalance") == 0 && strcmp(ev, "BEGIN") == 0) {
                s->begin_seq[cpu] = dhp_record_get_seq(r);
                if (s->nbegins < 8)
                        s->begins[s->nbegins++] = cpu;
        }
        pthread_mutex_unlock(&s->lock);
}

static void test_hung_drivers_do_not_delay_arrivals(void **state) {
        static struct seen s;
        dhp_arrival_reg *areg;
        dhp_monitor *mon;
        uint32_t cpu[3];
        int pfd[2], st;
        uint64_t t;
        pid_t pid;
        dhp *obs, *admin;

        memset(&s, 0, sizeof(s));
        flag_init(&s.arrivals);
        pthread_mutex_init(&s.lock, NULL);
        ipc_daemon_start("deadline = 2s");
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        pid = hung_child(pfd);
        expect_byte(pfd[0], 'R');
        obs = ipc_open_ctx();
        assert_int_equal(dhp_arrival_register(obs, "observer", DHP_CLASS_PROCESSOR, 0, on_arrival, &s, &areg), 0);
        assert_int_equal(dhp_monitor_add(obs, on_record, &s, &mon), 0);
        assert_int_equal(dhp_start_thread(obs), 0);
        admin = ipc_open_ctx();

        for (int i = 0; i < 3; i++) {
                t = time_now_ns();
                assert_int_equal(dhp_sim_cpu_add(admin, &cpu[i]), 0);
                assert_true(flag_wait(&s.arrivals, i + 1, 10000));
                print_message("# cpu%u: the observer's ARRIVAL %llu ms after the add began\n", cpu[i],
                              (unsigned long long)((s.at[cpu[i]] - t) / NSEC_PER_MSEC));
                assert_true(s.at[cpu[i]] < t + ARRIVAL_BOUND_MS * NSEC_PER_MSEC);
                if (i == 0)
                        expect_byte(pfd[0], 'Q'); /* the first rebalance holds on a hung driver */
        }
        /* Each rebalance after its processor's arrival, in admission order:
         * the first one began (and hangs); the others wait their turn. */
        pthread_mutex_lock(&s.lock);
        assert_true(s.nbegins >= 1);
        for (int k = 0; k < s.nbegins; k++) {
                int c = s.begins[k];
                assert_int_equal(c, (int)cpu[k]);
                assert_true(s.arrival_seq[c] != 0 && s.arrival_seq[c] < s.begin_seq[c]);
        }
        pthread_mutex_unlock(&s.lock);

        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        dhp_monitor_remove(mon);
        dhp_arrival_unregister(areg);
        dhp_close(admin);
        dhp_close(obs);
        close(pfd[0]);
        close(pfd[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_hung_drivers_do_not_delay_arrivals, ipc_setup, ipc_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
