/* SPDX-License-Identifier: MIT */
/*
 * dhpd's client socket: the IPC protocol of doc/protocol.md over a
 * SOCK_SEQPACKET Unix socket.  The server owns one epoll fd for the
 * listening socket and every client (the daemon's main thread polls it and
 * calls server_process()), and one worker thread for the requests that must
 * run serialised with transactions (ADD_EXISTING registrations, sim
 * control) or may block (dropping a client's synchronous proxy).
 *
 * Who may do what: every connection's credentials are the ones the kernel
 * captured at connect() (SO_PEERCRED, SO_PEERGROUPS).  Synchronous
 * registration and sim control need root or membership (primary or
 * supplementary) in the configured group; anyone may register for arrivals
 * and read the notification stream.  What one client and one user may hold
 * is capped (connections, the worker's jobs, queued bytes): see
 * RELIABILITY.md, "Limits under attack".
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/engine.h"
#include "util/log.h"

struct rebalance;
struct sim;
struct server;

struct server_config {
        const char *socket_path;
        const char *group; /* "" or a missing group: root only */
        uint64_t deadline_ns;
        bool late_veto;
        unsigned max_clients;
        /* Unprivileged connections per uid; 0: max_clients / 8 (at least 1). */
        unsigned max_clients_per_uid;
        /* The last connections of max_clients, for privileged clients only;
         * 0: max_clients / 16 (at least 1, less than max_clients). */
        unsigned reserved_clients;
        /* A connection that has not said HELLO by then is dropped; 0: 5 s. */
        uint64_t handshake_timeout_ns;
        /* Requests of one client queued for the worker at once (more are
         * refused -EBUSY); 0: 16. */
        unsigned max_jobs;
        unsigned max_regs;  /* per client, both kinds */
        unsigned max_queue; /* queued notifications per client before "lost" */
        struct rebalance *rebalance; /* where SIM_RUN's `device add` puts devices; NULL: refused */
};

#define SERVER_CONFIG_DEFAULT { .max_clients = 256, .max_regs = 64, .max_queue = 256 }

/*
 * server_new - create the socket directory (0755) if missing, refuse when
 * another daemon answers on the socket, replace a stale one, listen (0666:
 * permissions are checked by credentials) and start the worker.  `sim` may
 * be NULL (sim control is then -EOPNOTSUPP).
 */
int server_new(struct server **ret, struct engine *e, struct sim *sim, const struct server_config *cfg,
               const struct logger *log);
void server_free(struct server *s);
int server_get_fd(struct server *s);
/* Handle what is ready on the socket and the clients; never blocks. */
int server_process(struct server *s);

/* What the server holds now and has refused, for tests and STATUS. */
struct server_stats {
        unsigned clients, handshaking;
        unsigned jobs;             /* queued for the worker, all clients */
        unsigned streams;          /* STATUS / INCLUDE_EXISTING replies being produced */
        uint64_t refused;          /* connections refused (caps, no descriptor) */
        uint64_t handshake_expired; /* dropped for not saying HELLO in time */
        uint64_t jobs_refused;     /* requests refused -EBUSY: the client's jobs at max_jobs */
};
void server_get_stats(struct server *s, struct server_stats *ret);

struct rebalance;
/*
 * server_set_rebalance - the module in which clients' user-space devices
 * are created (each client driver a proxy that asks the client).  Without
 * it the device requests are answered -EOPNOTSUPP.  Its sequences must not
 * run on the thread that calls server_process(): they wait for answers that
 * thread reads.
 */
void server_set_rebalance(struct server *s, struct rebalance *rb);

/*
 * CPU_ONLINE on a platform other than the sim (whose sim_cpu_retry() the
 * worker runs): fn is called on the main thread with a request to answer
 * once, from any thread, with server_cpu_online_done(); it must not run the
 * transaction there (dhpd hands it to the Linux hotplug thread).  Without
 * it (and without a sim) CPU_ONLINE is answered -EOPNOTSUPP.
 */
struct server_cpu_online;
typedef void server_cpu_online_fn(void *userdata, struct server_cpu_online *req, uint32_t index);
void server_set_cpu_online(struct server *s, server_cpu_online_fn *fn, void *userdata);
/* The answer: r and status as dhp_proc_online()'s; frees req. */
void server_cpu_online_done(struct server_cpu_online *req, int r, int status);
