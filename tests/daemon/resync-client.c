/* SPDX-License-Identifier: MIT */
/*
 * A client process of dhpd for tests/daemon/test-faults.py: one
 * synchronous registration (ADD_EXISTING) and one processor arrival
 * registration whose callbacks it reports, and
 * dhp_reconnect() retried after a loss, as an application would.  Its view
 * of the processors is what its callbacks were told: admitted after
 * ADD_COMPLETE, not after ADD_FAILURE.  After each reconnection it prints
 * that view and dhpd's (dhp_proc_get_state()), which must agree
 * (doc/model.md D36).
 *
 *   resync-client SOCKET [--hold ADD_START|ADD_COMPLETE] [--veto-once]
 *
 * stdout, one line each, flushed:
 *   REGISTERED                 the registration is in place
 *   EV <state> <index> <status>  a callback (on the connection thread)
 *   HELD                       --hold: inside that callback for a processor
 *                              not existing at registration; it returns
 *                              once a line is read on stdin
 *   AR <ARRIVAL|REMOVAL> <name>  a processor arrival registration's event
 *   LOST / RECONNECTED
 *   VIEW <list> / DHPD <list>  the admitted processors, "-" for none
 * --veto-once vetoes the first ADD_START after registration.  Ends at
 * SIGTERM; exits 1 when dhpd stays away for 30 s.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dhp.h"

#define MAX_CPUS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool view[MAX_CPUS];
static bool registered, vetoed, held;
static dhp_proc_change_state hold_state;
static bool veto_once;

static const char *state_name(dhp_proc_change_state s) {
        return s == DHP_PROC_ADD_START ? "ADD_START" : s == DHP_PROC_ADD_COMPLETE ? "ADD_COMPLETE" : "ADD_FAILURE";
}

static void cb(void *userdata, const dhp_proc_change *c) {
        dhp_proc_change_state st = dhp_proc_change_get_state(c);
        uint32_t i = dhp_proc_change_get_index(c);
        bool hold = false;

        pthread_mutex_lock(&lock);
        if (st == DHP_PROC_ADD_START && veto_once && registered && !vetoed) {
                vetoed = true;
                dhp_proc_change_veto(c, -EBUSY);
        }
        if (i < MAX_CPUS && st == DHP_PROC_ADD_COMPLETE)
                view[i] = true;
        if (i < MAX_CPUS && st == DHP_PROC_ADD_FAILURE)
                view[i] = false;
        if (hold_state && st == hold_state && registered && !held)
                hold = held = true;
        printf("EV %s %u %d\n", state_name(st), i, dhp_proc_change_get_status(c));
        fflush(stdout);
        pthread_mutex_unlock(&lock);
        if (hold) {
                char line[64];
                printf("HELD\n");
                fflush(stdout);
                if (!fgets(line, sizeof(line), stdin))
                        return;
        }
}

/* On the thread of dhp_process(), after the callbacks of the add (R12). */
static void arrival_cb(void *userdata, const dhp_device_event *e) {
        pthread_mutex_lock(&lock);
        printf("AR %s %s\n", dhp_device_event_get_event(e) == DHP_EVENT_REMOVAL ? "REMOVAL" : "ARRIVAL",
               dhp_device_event_get_name(e));
        fflush(stdout);
        pthread_mutex_unlock(&lock);
}

static void print_views(dhp *ctx) {
        uint32_t n = 0;
        bool any = false;

        pthread_mutex_lock(&lock);
        printf("VIEW ");
        for (uint32_t i = 0; i < MAX_CPUS; i++)
                if (view[i]) {
                        printf("%s%u", any ? "," : "", i);
                        any = true;
                }
        pthread_mutex_unlock(&lock);
        printf("%s\nDHPD ", any ? "" : "-");
        any = false;
        if (dhp_proc_count(ctx, &n) < 0)
                n = 0;
        for (uint32_t i = 0; i < n && i < MAX_CPUS; i++) {
                dhp_proc_state s;
                if (dhp_proc_get_state(ctx, i, &s) == 0 && s == DHP_PROC_ADMITTED) {
                        printf("%s%u", any ? "," : "", i);
                        any = true;
                }
        }
        printf("%s\n", any ? "" : "-");
        fflush(stdout);
}

static int reconnect(dhp *ctx) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };

        for (int i = 0; i < 1500; i++) {
                int r = dhp_reconnect(ctx);
                if (r == 0)
                        return 0;
                if (r != -ENOENT && r != -ECONNREFUSED && r != -ECONNRESET) {
                        fprintf(stderr, "resync-client: dhp_reconnect: %s\n", dhp_strerror(r));
                        return r;
                }
                nanosleep(&ts, NULL);
        }
        return -ETIMEDOUT;
}

int main(int argc, char **argv) {
        char target[4200];
        dhp_arrival_reg *areg;
        dhp_proc_reg *reg;
        dhp *ctx;
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: resync-client SOCKET [--hold ADD_START|ADD_COMPLETE] [--veto-once]\n");
                return 2;
        }
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--veto-once") == 0)
                        veto_once = true;
                else if (strcmp(argv[i], "--hold") == 0 && i + 1 < argc)
                        hold_state = strcmp(argv[++i], "ADD_START") == 0 ? DHP_PROC_ADD_START : DHP_PROC_ADD_COMPLETE;
        }
        snprintf(target, sizeof(target), "unix:%s", argv[1]);
        r = dhp_open(&ctx, target);
        if (r < 0) {
                fprintf(stderr, "resync-client: %s\n", dhp_strerror(r));
                return 1;
        }
        r = dhp_proc_register(ctx, "resync-client", DHP_PROC_ADD_EXISTING, cb, NULL, &reg);
        if (r < 0) {
                fprintf(stderr, "resync-client: register: %s\n", dhp_strerror(r));
                return 1;
        }
        r = dhp_arrival_register(ctx, "resync-client", DHP_CLASS_PROCESSOR, 0, arrival_cb, NULL, &areg);
        if (r < 0) {
                fprintf(stderr, "resync-client: arrival register: %s\n", dhp_strerror(r));
                return 1;
        }
        pthread_mutex_lock(&lock);
        registered = true;
        pthread_mutex_unlock(&lock);
        printf("REGISTERED\n");
        fflush(stdout);
        for (;;) {
                if (dhp_wait(ctx, -1) <= 0)
                        continue;
                r = dhp_process(ctx);
                if (r != -ECONNRESET)
                        continue;
                printf("LOST\n");
                fflush(stdout);
                if (reconnect(ctx) < 0)
                        return 1;
                printf("RECONNECTED\n");
                print_views(ctx);
        }
}
