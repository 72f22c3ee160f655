/* SPDX-License-Identifier: MIT */
/*
 * partition-app: one application that uses every notification method of
 * dhp.h — a memory condition event, a synchronous processor callback,
 * arrival notification, and a user-space device whose two drivers hold
 * their I/O in a dhp_ioq across a rebalance — and logs each callback, in
 * the order it ran, on stdout.
 *
 * The same source runs in-process and as a client of dhpd, unchanged:
 *
 *   ./partition-app sim                  the simulated partition, in-process
 *   ./partition-app unix:/run/dhp/x.sock a `dhpd --platform sim` on that socket
 *
 * and prints the same lines (the test ipc suite compares them).  It drives
 * the simulated platform itself: memory levels through a scenario, one
 * processor hot-add.
 *
 * Build:  cc partition-app.c $(pkg-config --cflags --libs dhp) -o partition-app
 */
#include <dhp.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct driver {
        const char *name;
        dhp_ioq *ioq;
        bool started; /* its START ran */
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static void sync_cb(void *userdata, const dhp_proc_change *c) {
        static const char *const names[] = { "?", "ADD_START", "ADD_COMPLETE", "ADD_FAILURE" };

        say("sync %s cpu%u", names[dhp_proc_change_get_state(c)], dhp_proc_change_get_index(c));
}

static void arrival_cb(void *userdata, const dhp_device_event *e) {
        say("arrival %s %s", dhp_device_event_get_event(e) == DHP_EVENT_ARRIVAL ? "ARRIVAL" : "REMOVAL",
            dhp_device_event_get_name(e));
}

/* The hardware: a request completes as soon as it is processed. */
static void process(void *userdata, void *request) {
        struct driver *d = userdata;

        dhp_ioq_complete(d->ioq, request);
}

static int driver_cb(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        static const char *const names[] = { "?", "QUERY_STOP", "CANCEL_STOP", "STOP", "START" };
        struct driver *d = userdata;

        say("driver %s %s %s old=%s new=%s cpu%u", d->name, names[req], dhp_device_get_name(dhp_rebalance_ctx_get_device(c)),
            dhp_rebalance_ctx_get_old_affinity(c), dhp_rebalance_ctx_get_new_affinity(c),
            dhp_rebalance_ctx_get_processor(c));
        switch (req) {
        case DHP_REBALANCE_QUERY_STOP:
                return dhp_ioq_hold(d->ioq);
        case DHP_REBALANCE_STOP:
                return dhp_ioq_drain(d->ioq, 1000);
        case DHP_REBALANCE_START:
                d->started = true;
                /* fallthrough */
        case DHP_REBALANCE_CANCEL_STOP:
                dhp_ioq_release(d->ioq);
                return 0;
        }
        return 0;
}

/* Readable within ms? */
static bool readable(int fd, int ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, ms) == 1;
}

static int fail(const char *what, int r) {
        fprintf(stderr, "partition-app: %s: %s\n", what, strerror(-r));
        return 1;
}

int main(int argc, char **argv) {
        struct driver lower = { .name = "lower" }, upper = { .name = "upper" };
        const char *target = argc > 1 ? argv[1] : NULL;
        dhp_arrival_reg *areg = NULL;
        dhp_proc_reg *preg = NULL;
        dhp_driver *dl = NULL, *du = NULL;
        dhp_memcond *low = NULL;
        dhp_device *dev = NULL;
        char *aff = NULL, *err = NULL;
        uint64_t holds = 0, completed = 0;
        uint32_t cpu = 0;
        int requests[4] = { 1, 2, 3, 4 };
        dhp *ctx;
        int r;

        r = dhp_open(&ctx, target);
        if (r < 0)
                return fail("dhp_open", r);
        if ((r = dhp_memcond_open(ctx, "LowMemoryCondition", &low)) < 0)
                return fail("dhp_memcond_open", r);
        if ((r = dhp_proc_register(ctx, "partition-app", 0, sync_cb, NULL, &preg)) < 0)
                return fail("dhp_proc_register", r);
        if ((r = dhp_arrival_register(ctx, "partition-app", DHP_CLASS_PROCESSOR, 0, arrival_cb, NULL, &areg)) < 0)
                return fail("dhp_arrival_register", r);
        if ((r = dhp_device_new(ctx, "app-disk", DHP_SETUP_CLASS_STORAGE, &dev)) < 0)
                return fail("dhp_device_new", r);
        if ((r = dhp_ioq_new(&lower.ioq, process, &lower)) < 0 || (r = dhp_ioq_new(&upper.ioq, process, &upper)) < 0)
                return fail("dhp_ioq_new", r);
        if ((r = dhp_driver_attach(dev, "lower", driver_cb, &lower, &dl)) < 0 ||
            (r = dhp_driver_attach(dev, "upper", driver_cb, &upper, &du)) < 0)
                return fail("dhp_driver_attach", r);
        if ((r = dhp_device_get_affinity(dev, &aff)) < 0)
                return fail("dhp_device_get_affinity", r);
        say("device %s affinity=%s participates=%d", dhp_device_get_name(dev), aff, dhp_device_participates(dev));
        free(aff);
        say("memcond %s set=%d", dhp_memcond_get_name(low), dhp_memcond_is_set(low));

        /* Memory runs low, then recovers. */
        if ((r = dhp_sim_run_scenario(ctx, "low", "memory level available=4M\n", &err)) < 0)
                return fail(err ? err : "dhp_sim_run_scenario", r);
        say("memcond %s readable=%d set=%d", dhp_memcond_get_name(low), readable(dhp_memcond_get_fd(low), 5000),
            dhp_memcond_is_set(low));
        if ((r = dhp_sim_run_scenario(ctx, "recover", "memory level available=512M\n", &err)) < 0)
                return fail(err ? err : "dhp_sim_run_scenario", r);
        say("memcond %s readable=%d set=%d", dhp_memcond_get_name(low), readable(dhp_memcond_get_fd(low), 0),
            dhp_memcond_is_set(low));

        /* I/O before the add is dispatched at once. */
        for (int i = 0; i < 4; i++)
                dhp_ioq_submit(i % 2 ? upper.ioq : lower.ioq, &requests[i]);

        /* One processor: ADD_START and ADD_COMPLETE before this returns,
         * then its arrival and the rebalance on dhp_process(). */
        r = dhp_sim_cpu_add(ctx, &cpu);
        say("cpu add cpu%u -> %d", cpu, r);
        for (int rounds = 0; !upper.started && rounds < 100; rounds++)
                if (dhp_wait(ctx, 100) > 0 && (r = dhp_process(ctx)) < 0)
                        return fail("dhp_process", r);
        if ((r = dhp_device_get_affinity(dev, &aff)) < 0)
                return fail("dhp_device_get_affinity", r);
        dhp_ioq_get_stat(upper.ioq, DHP_IOQ_STAT_HOLDS, &holds);
        dhp_ioq_get_stat(lower.ioq, DHP_IOQ_STAT_COMPLETED, &completed);
        say("device %s affinity=%s has cpu%u=%d holds=%llu completed=%llu", dhp_device_get_name(dev), aff, cpu,
            dhp_device_affinity_has(dev, cpu), (unsigned long long)holds, (unsigned long long)completed);
        free(aff);

        dhp_driver_detach(du);
        dhp_driver_detach(dl);
        dhp_device_free(dev);
        dhp_ioq_free(upper.ioq);
        dhp_ioq_free(lower.ioq);
        dhp_arrival_unregister(areg);
        dhp_proc_deregister(preg);
        dhp_memcond_close(low);
        dhp_close(ctx);
        say("done");
        return 0;
}
