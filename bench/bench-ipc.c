/* SPDX-License-Identifier: MIT */
/*
 * bench-ipc: the ADD_START round trip through dhpd for 1, 10, 100 and 1000
 * client processes (up to MAX_CLIENTS, 100 by default), against a raw SOCK_SEQPACKET socketpair ping-pong of the same
 * message size in the same run.
 *
 *   bench-ipc DHPD [ITERATIONS] [MAX_CLIENTS]
 *
 * Each figure is taken BENCH_RUNS times (bench.h), a run being ITERATIONS
 * adds (or round trips): the median (min-max) of the runs' medians, beside
 * the raw round trip measured in each of the same runs.
 *
 * For each hot-add the ADD_START phase is taken from dhpd's own stream: from
 * the first client's send (t_ns - dur_ns of its record) to the last answer
 * collected (the latest record's t_ns), read by an observer on a connection
 * of its own that keeps only those two times (below).  "add" is the whole
 * dhp_sim_cpu_add() request as the caller sees it (both phases, admission,
 * the reply).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "dhp.h"
#include "proto/ipcmsg.h"
#include "proto/record.h"
#include "util/time.h"

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* The median of one run, microseconds. */
static double run_median(uint64_t *v, size_t n) {
        qsort(v, n, sizeof(*v), cmp_u64);
        return (double)v[n / 2] / 1e3;
}

/* One run of the baseline: the median round trip, microseconds. */
static double raw_baseline(int iterations) {
        double med;
        struct ipc_msg m = { .type = IPC_PROC_CHANGE, .proc_change = { .txn = 1, .state = 1, .index = 3 } };
        uint8_t buf[256];
        uint64_t *v = calloc((size_t)iterations, sizeof(*v));
        int sp[2], len;
        pid_t pid;

        len = ipcmsg_encode(&m, buf, sizeof(buf));
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                exit(1);
        pid = fork();
        if (pid == 0) {
                close(sp[0]);
                for (;;) {
                        ssize_t n = recv(sp[1], buf, sizeof(buf), 0);
                        if (n <= 0 || send(sp[1], buf, (size_t)n, 0) != n)
                                _exit(0);
                }
        }
        close(sp[1]);
        for (int i = 0; i < iterations; i++) {
                uint64_t t0 = time_now_ns();
                if (send(sp[0], buf, (size_t)len, 0) != len || recv(sp[0], buf, sizeof(buf), 0) != len)
                        exit(1);
                v[i] = time_now_ns() - t0;
        }
        close(sp[0]);
        waitpid(pid, NULL, 0);
        med = run_median(v, (size_t)iterations);
        free(v);
        return med;
}

static char sock[128];

static void noop_cb(void *userdata, const dhp_proc_change *c) {
}

static pid_t client(int ready_fd) {
        pid_t pid = fork();

        if (pid == 0) {
                char target[160];
                dhp_proc_reg *reg;
                dhp *ctx;
                snprintf(target, sizeof(target), "unix:%s", sock);
                if (dhp_open(&ctx, target) < 0 || dhp_proc_register(ctx, "bench", 0, noop_cb, NULL, &reg) < 0)
                        _exit(1);
                (void)!write(ready_fd, "r", 1);
                for (;;) {
                        struct pollfd p = { .fd = dhp_get_fd(ctx), .events = POLLIN };
                        poll(&p, 1, -1);
                        if (dhp_process(ctx) < 0)
                                _exit(0);
                }
        }
        return pid;
}

/*
 * The observer: dhpd's record stream read on a context of its own, its
 * callback keeping only what the figure needs (no formatting: turning
 * each record into JSON to read its duration cost the figure a third at
 * 100 clients).  Its connection thread still wakes for the records dhpd
 * sends it during the phase: that is in the figure.  (A SCHED_IDLE
 * observer, tried, fell so far behind at 1000 clients that dhpd dropped
 * most adds' records.)  Per processor: the first send and the last
 * answer of its ADD_START phase, and how many answers.
 */
#define MAX_PROCS 4096

struct observer {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint64_t first[MAX_PROCS], last[MAX_PROCS];
        unsigned n[MAX_PROCS];
        dhp *ctx;
        dhp_monitor *mon;
        int error;
};

static void on_record(void *userdata, const dhp_record *r) {
        struct observer *o = userdata;
        uint64_t t = r->t_ns, start = r->t_ns - r->dur_ns;
        uint32_t p = r->processor;

        if (!r->event || strcmp(r->event, "ADD_START") != 0 || p >= MAX_PROCS)
                return;
        pthread_mutex_lock(&o->lock);
        if (!o->n[p] || start < o->first[p])
                o->first[p] = start;
        if (!o->n[p] || t > o->last[p])
                o->last[p] = t;
        o->n[p]++;
        pthread_cond_broadcast(&o->cond);
        pthread_mutex_unlock(&o->lock);
}

static void observer_open(struct observer *o) {
        char target[160];

        snprintf(target, sizeof(target), "unix:%s", sock);
        o->error = dhp_open(&o->ctx, target);
        if (o->error == 0)
                o->error = dhp_monitor_add(o->ctx, on_record, o, &o->mon);
}

/* Wait for processor p's n answers, 1 s at most.  Returns the phase in
 * ns, 0 if records were missing (the stream dropped some: not counted). */
static uint64_t observer_phase(struct observer *o, uint32_t p, unsigned n) {
        struct timespec ts;
        uint64_t v = 0;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_mutex_lock(&o->lock);
        while (o->n[p] < n && pthread_cond_timedwait(&o->cond, &o->lock, &ts) == 0)
                ;
        if (o->n[p] == n)
                v = o->last[p] - o->first[p];
        pthread_mutex_unlock(&o->lock);
        return v;
}

static void through_dhpd(int nclients, int iterations) {
        pid_t *pids = calloc((size_t)nclients, sizeof(*pids));
        uint64_t *phase = calloc((size_t)iterations, sizeof(*phase)), *add = calloc((size_t)iterations, sizeof(*add));
        double raw[BENCH_RUNS_MAX], ph_med[BENCH_RUNS_MAX], add_med[BENCH_RUNS_MAX];
        struct observer *o = calloc(1, sizeof(*o));
        unsigned runs = bench_runs(), missing = 0;
        char target[160], label[64];
        int ready[2];
        dhp *ctx;
        size_t np = 0;

        if (!pids || !phase || !add || !o || pipe2(ready, O_CLOEXEC) < 0)
                exit(1);
        for (int i = 0; i < nclients; i++)
                pids[i] = client(ready[1]);
        for (int i = 0; i < nclients; i++) {
                struct pollfd p = { .fd = ready[0], .events = POLLIN };
                char c;
                if (poll(&p, 1, 60000) != 1 || read(ready[0], &c, 1) != 1) {
                        fprintf(stderr, "bench-ipc: client %d did not register\n", i);
                        exit(1);
                }
        }
        pthread_mutex_init(&o->lock, NULL);
        pthread_cond_init(&o->cond, NULL);
        observer_open(o);
        if (o->error < 0) {
                fprintf(stderr, "bench-ipc: the observer: %s\n", strerror(-o->error));
                exit(1);
        }
        snprintf(target, sizeof(target), "unix:%s", sock);
        if (dhp_open(&ctx, target) < 0)
                exit(1);
        for (unsigned k = 0; k < runs; k++) {
                raw[k] = raw_baseline(iterations);
                np = 0;
                for (int i = 0; i < iterations; i++) {
                        uint64_t t0, v;
                        uint32_t idx;

                        t0 = time_now_ns();
                        if (dhp_sim_cpu_add(ctx, &idx) != 0) {
                                fprintf(stderr, "bench-ipc: add failed\n");
                                exit(1);
                        }
                        add[i] = time_now_ns() - t0;
                        /* Outside the timed add: the observer catches up. */
                        if ((v = observer_phase(o, idx, (unsigned)nclients)))
                                phase[np++] = v;
                        else
                                missing++;
                }
                ph_med[k] = np ? run_median(phase, np) : 0;
                add_med[k] = run_median(add, (size_t)iterations);
        }
        snprintf(label, sizeof(label), "ADD_START, %d client%s / raw", nclients, nclients > 1 ? "s" : "");
        bench_print_pair(label, bench_stat_of(ph_med, runs), bench_stat_of(raw, runs), NULL, "us");
        snprintf(label, sizeof(label), "whole add, %d client%s / raw", nclients, nclients > 1 ? "s" : "");
        bench_print_pair(label, bench_stat_of(add_med, runs), bench_stat_of(raw, runs), NULL, "us");
        if (missing)
                printf("    (%u add(s) of %u left out of ADD_START: the stream dropped records of theirs)\n", missing,
                       runs * (unsigned)iterations);
        dhp_monitor_remove(o->mon);
        dhp_close(o->ctx);
        dhp_close(ctx);
        for (int i = 0; i < nclients; i++) {
                kill(pids[i], SIGKILL);
                waitpid(pids[i], NULL, 0);
        }
        close(ready[0]);
        close(ready[1]);
        pthread_mutex_destroy(&o->lock);
        pthread_cond_destroy(&o->cond);
        free(o);
        free(pids);
        free(phase);
        free(add);
}

int main(int argc, char **argv) {
        int iterations = argc > 2 ? atoi(argv[2]) : 200, max_clients = argc > 3 ? atoi(argv[3]) : 100;
        static const int counts[] = { 1, 10, 100, 1000 };
        char dir[] = "/tmp/dhp-bench-XXXXXX", line[16], conf[160];
        unsigned nfigures = 0;
        FILE *f;
        int out[2];
        pid_t d;

        if (argc < 2 || iterations <= 0 || iterations > 900) {
                fprintf(stderr, "Usage: bench-ipc DHPD [ITERATIONS (1-900)]\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]) && counts[i] <= max_clients; i++)
                nfigures++;
        /* Every add takes one of the sim's 4096 processors. */
        if ((unsigned)iterations * bench_runs() * nfigures > 4000)
                iterations = (int)(4000 / (bench_runs() * nfigures));
        printf("7. ADD_START through dhpd, %d adds per run, us (ADD_START: first send to last answer; raw: "
               "socketpair round trip)\n",
               iterations);
        bench_print_header();
        if (!mkdtemp(dir))
                return 1;
        snprintf(sock, sizeof(sock), "%s/dhpd.sock", dir);
        /* dhpd's own cap on connections, above the clients and the bench. */
        snprintf(conf, sizeof(conf), "%s/dhpd.conf", dir);
        if (!(f = fopen(conf, "w")))
                return 1;
        fprintf(f, "[daemon]\nmax_clients = %d\n", max_clients + 64 > 256 ? max_clients + 64 : 256);
        fclose(f);
        if (pipe2(out, O_CLOEXEC) < 0)
                return 1;
        d = fork();
        if (d == 0) {
                dup2(out[1], 1);
                execl(argv[1], argv[1], "--platform", "sim", "--sim", "cpus=2,maxcpus=4096", "--foreground", "--socket",
                      sock, "--log-level", "err", "-c", conf, (char *)NULL);
                _exit(127);
        }
        close(out[1]);
        {
                struct pollfd p = { .fd = out[0], .events = POLLIN };
                ssize_t n;
                if (poll(&p, 1, 10000) != 1 || (n = read(out[0], line, sizeof(line) - 1)) <= 0 ||
                    strncmp(line, "READY", 5) != 0) {
                        fprintf(stderr, "bench-ipc: dhpd did not start\n");
                        return 1;
                }
        }
        for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]) && counts[i] <= max_clients; i++)
                through_dhpd(counts[i], iterations);
        kill(d, SIGTERM);
        waitpid(d, NULL, 0);
        unlink(conf);
        rmdir(dir);
        return 0;
}
