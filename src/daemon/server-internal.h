/* SPDX-License-Identifier: MIT */
/*
 * dhpd's client socket, inside: what the files of the server share.  One
 * role per file:
 *   server.c     ties them: the request table, dispatch, reading a peer,
 *                dropping one, creating and freeing the server
 *   listener.c   the listening socket, accepting, credentials and the
 *                privileged group
 *   peer.c       one client's connection: references, send queue, caps;
 *                a phase sent to it and its answer awaited
 *   worker.c     the thread for requests serialised with transactions
 *   syncproxy.c  the synchronous proxy: a client's phases, deadlines, answers
 *   devproxy.c   user-space devices and their proxy drivers
 *   subscribe.c  arrival registrations and memory condition subscriptions
 *   simctl.c     sim control (dhpd --platform sim)
 *   removectl.c  removal carried out by dhpd (CPU_REMOVE, MEMORY_REMOVE)
 *   onlinectl.c  CPU_ONLINE: a new add for a processor whose add failed
 *   status.c     STATUS, the notification stream and HISTORY
 *
 * Threads that touch a peer:
 *   main         reads every peer (server_process), answers requests,
 *                delivers arrivals (engine_dispatch) and flushes queues;
 *                it never blocks on a peer or on a transaction.
 *   worker       runs requests serialised with transactions: synchronous
 *                (de)registration, sim control (the sim's transactions run
 *                here), and the release of a dropped peer's proxy.
 *   transaction  (the worker, or the Linux hotplug thread) sends each phase
 *                and waits for the answers the main thread collects.
 * A peer is refcounted: the main thread's list, the proxy registration
 * and each queued job hold a reference.  Its lock guards the send queue,
 * the answer of the phase in flight and `gone`.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "core/memcond.h"
#include "core/rebalance.h"
#include "daemon/server.h"
#include "proto/ipcmsg.h"
#include "util/list.h"

struct history;

struct outmsg {
        struct outmsg *next;
        size_t len;
        uint8_t data[];
};

struct cl_arrival {
        uint32_t id;
        bool used;
        dhp_arrival_reg *reg;
        struct peer *c;
};

/* A memory condition subscription: a listener on dhpd's engine. */
struct cl_memcond {
        struct memcond_listener l; /* first: the listener leads here */
        struct peer *c;
        uint32_t id;
        bool used;
        bool initial; /* the next call is the state at subscription */
};

/* A client's device, created in dhpd's rebalance module. */
struct cl_device {
        uint32_t id;
        dhp_device *dev; /* NULL: a free slot */
};

/* A client's driver: a proxy in the device's stack whose handler asks the
 * client.  Holds a reference on the client. */
struct cl_driver {
        struct cl_driver *next;
        struct peer *c;
        uint32_t id, dev_id;
        dhp_device *dev;
        dhp_driver *drv;
        bool dead; /* detached or its device freed: the handler asks no more */
};

/* A reply produced as the client reads (STATUS, INCLUDE_EXISTING): never
 * more than half the queue cap waiting, whatever the number of devices. */
enum stream_kind { STREAM_STATUS = 1, STREAM_EXISTING };

struct stream_event {
        uint8_t cls, event, flags;
        uint32_t index;
        uint64_t base, size;
        char name[IPC_NAME_MAX];
};

/* One STATUS_MEM_BLOCKS: consecutive blocks of one state and zone. */
struct stream_run {
        uint64_t device, first_block;
        uint32_t count, state, zone;
};

struct stream {
        enum stream_kind kind;
        uint64_t id;
        unsigned phase;   /* STATUS: 0 processors, 1 memory devices, 2 clients */
        uint64_t cursor;  /* the next processor, device id, or client id */
        /* INCLUDE_EXISTING: the snapshot taken at registration */
        uint32_t reg;
        struct stream_event *ev;
        size_t nev, pos;
        /* STATUS to a 1.3 client: the runs of blocks of the device just
         * sent (STATUS_MEM_BLOCKS), read with it under one lock. */
        struct stream_run *runs;
        size_t nruns, runpos;
        /* STATUS to a 1.3 client: the STATUS_MEM_NAME of the device just
         * sent, due before its runs. */
        bool name_pending;
        struct engine_mem_info name_info;
        uint64_t name_device;
};

/* The bytes queued for one client, whatever the messages: notifications are
 * dropped (LOST) past half of it, the client is cut off past it. */
#define PEER_OUT_BYTES_MAX (2u << 20)

/* Streams one client may have waiting (one produced at a time). */
#define PEER_STREAMS_MAX 4

struct peer {
        struct list node; /* server.clients; main thread */
        bool listed;      /* in server.clients (and the epoll set); main */
        struct list hs_node; /* server.handshaking until HELLO; main */
        uint64_t hello_deadline;
        struct server *s;
        int fd;
        atomic_uint refs;
        uint64_t id;
        pid_t pid;
        uid_t uid;
        gid_t gid;
        bool privileged;
        bool hello_done;
        unsigned njobs; /* queued for the worker; under s->jlock */
        struct stream streams[PEER_STREAMS_MAX]; /* main */
        unsigned nstreams;
        uint16_t minor; /* the client's protocol minor version, from HELLO */
        char name[IPC_NAME_MAX];

        pthread_mutex_t lock;
        pthread_cond_t cond; /* an answer came, or the client went */
        struct outmsg *out_head, **out_tail;
        unsigned out_n;   /* queued messages */
        size_t out_bytes; /* their bytes */
        bool want_out;    /* EPOLLOUT armed */
        bool streaming;   /* a stream waits: keep EPOLLOUT armed */
        uint64_t lost;    /* notifications dropped since the last LOST */
        bool gone;
        bool cut_off; /* gone because it did not read: the log says so */
        uint64_t await_txn;
        bool answered;
        bool wake_answer; /* answered in this batch of events: cond to broadcast */
        int answer;
        uint64_t answered_at;
        unsigned late;

        /* worker */
        dhp_proc_reg *proxy;
        uint32_t *sync_ids;
        unsigned nsync; /* also read by main under lock */

        /* main */
        struct cl_arrival *arr;
        unsigned narr;
        dhp_monitor *mon;

        /* memory conditions and devices (main; drivers also under lock) */
        struct cl_memcond *mcs;   /* max_regs */
        struct cl_device *devs;   /* max_regs */
        struct cl_driver *drivers;
        /* the rebalance request in flight (one at a time: dhpd's
         * notification thread runs one sequence), under lock */
        uint64_t rb_seq;
        bool rb_answered;
        int rb_answer;
        /* Missed a driver deadline and has not answered since: its drivers
         * are asked without waiting, so that one hung client holds a
         * rebalance (and the arrivals queued behind it) one deadline at
         * most.  Under lock. */
        bool rb_unresponsive;
};

enum job_kind {
        JOB_PROC_REGISTER,
        JOB_PROC_DEREGISTER,
        JOB_DROP,
        JOB_SIM_CPU,
        JOB_SIM_MEM,
        JOB_SIM_RUN,
        JOB_SIM_SURPRISE, /* reg: the processor */
        JOB_CPU_REMOVE,   /* reg: the processor */
        JOB_MEM_REMOVE,   /* filename: the device's name */
        JOB_CPU_ONLINE, /* reg: the processor (the sim's; another platform's goes to its hook) */
        JOB_DEVICE_FREE, /* dev, drivers: unlisted on main, freed here */
        JOB_DRIVER_FREE, /* drivers (one): unlisted on main, freed here */
};

struct job {
        struct job *next;
        enum job_kind kind;
        struct peer *c;
        uint64_t msgid;
        uint32_t reg, flags;
        uint64_t size;
        char filename[IPC_DETAIL_MAX];
        char *text;
        dhp_device *dev;
        struct cl_driver *drivers;
};

struct server {
        struct engine *e;
        struct sim *sim;
        struct rebalance *rb; /* user-space devices of clients; NULL: none */
        struct logger log;
        struct server_config cfg;
        char path[108];
        gid_t group;
        bool have_group;
        int lfd, epfd;
        int tfd;      /* the handshake deadline (timerfd) */
        int spare_fd; /* given up to accept() on EMFILE */
        bool accept_paused;
        struct list clients;
        unsigned nclients;
        struct list handshaking; /* peers before HELLO, in accept order */
        /* refusals of connections, logged once per interval */
        uint64_t refused_total, refused_logged_at, handshake_expired;
        unsigned refused_unlogged;
        char refused_last[128];
        unsigned nstreams;
        uint64_t jobs_refused;
        uint64_t next_id;

        server_cpu_online_fn *cpu_online; /* CPU_ONLINE off the sim; NULL: none */
        void *cpu_online_userdata;

        struct history *history;
        dhp_monitor *history_mon;

        /* The message being handled (main thread): decoded into this one
         * buffer rather than into a zeroed 8 KiB one on the stack per
         * message; a handler reads only its type's fields, all of which
         * the decoder writes. */
        struct ipc_msg *in;

        pthread_t worker;
        bool worker_running;
        pthread_mutex_t jlock;
        pthread_cond_t jcond;
        struct job *jhead, **jtail;
        unsigned njobs;
        bool jstop;
};

/* ---- the request table (server.c) ---------------------------------------- */

/* A request's handler, on the main thread, after the checks of its row.
 * Returns false when the peer was dropped. */
typedef bool server_request_fn(struct server *s, struct peer *c, const struct ipc_msg *m);

enum server_request_priv {
        REQUEST_ANYONE,
        REQUEST_PRIVILEGED,
        /* CLASS_OPTOUT: setting is privileged, reading (op GET) is not */
        REQUEST_PRIVILEGED_TO_SET,
};

enum server_request_needs {
        REQUEST_NEEDS_NOTHING,
        REQUEST_NEEDS_SIM,       /* -EOPNOTSUPP without the simulated platform */
        REQUEST_NEEDS_REBALANCE, /* -EOPNOTSUPP without server_set_rebalance() */
};

/* One row per message a client may send.  The checks run in this order:
 * `needs`, then `priv`, then the names it carries (printable UTF-8),
 * then the handler. */
struct server_request {
        uint16_t type;
        enum server_request_priv priv;
        enum server_request_needs needs;
        server_request_fn *fn;
};

extern const struct server_request server_requests[];
extern const size_t server_requests_count;
/* The row of `type`, NULL when a client may not send it. */
const struct server_request *server_request_find(uint16_t type);
/* Whether this message of this row is refused to an unprivileged peer. */
bool server_request_needs_privilege(const struct server_request *rq, const struct ipc_msg *m);

/* Drop a peer: unregister all it holds, hand its proxy and devices to the
 * worker, drop the list's reference.  Main thread. */
void server_peer_drop(struct server *s, struct peer *c, const char *why);
/* A protocol violation: say why (best effort), then drop. */
void server_violation(struct server *s, struct peer *c, int status, const char *why);

/* ---- listener.c ----------------------------------------------------------- */

int listener_resolve_group(struct server *s, const char *group);
/* The gid of group `name` in an /etc/group stream: 0, -ENOENT when not
 * there, -EINVAL for its line malformed. */
int listener_group_lookup(FILE *f, const char *name, gid_t *ret);
/* Whether the peer of a connected socket was in `group` at connect()
 * (SO_PEERGROUPS): 1, 0, or -errno. */
int listener_peer_in_group(int fd, gid_t group);
int listener_listen(struct server *s);
void listener_accept(struct server *s);
/* Stop (or resume) accepting: out of descriptors without a spare. */
void listener_pause(struct server *s, bool pause);
/* Log the count of refusals held back, once the interval has passed. */
void listener_refusals_flush(struct server *s, uint64_t now);
void listener_arm_handshake(struct server *s);
void listener_handshake_done(struct server *s, struct peer *c);
/* The timer fired: drop every peer past its HELLO deadline. */
void listener_expire_handshakes(struct server *s);

/* ---- peer.c ---------------------------------------------------------------- */

struct peer *peer_new(struct server *s, int fd, pid_t pid, uid_t uid, gid_t gid, bool privileged);
void peer_ref(struct peer *c);
void peer_unref(struct peer *c);
struct outmsg *peer_queue_msg_locked(struct peer *c, const void *data, size_t len);
void peer_flush_locked(struct peer *c);
void peer_flush(struct peer *c);
/* Keep EPOLLOUT armed while a stream waits (status.c). */
void peer_set_streaming(struct peer *c, bool on);
int peer_send(struct peer *c, const struct ipc_msg *m, bool droppable);
void peer_reply(struct peer *c, uint64_t id, int status, uint32_t v32, uint64_t v64, const char *text);
/* The participant ops of a peer's synchronous registrations (core/peer.h):
 * send a phase as PROC_CHANGE, wait for its PROC_ANSWER (syncproxy.c). */
extern const struct peer_phase_ops peer_phase_proxy;

/* ---- worker.c -------------------------------------------------------------- */

struct job *job_new(struct peer *c, enum job_kind kind, uint64_t msgid);
/* Queue a job; it takes a reference on its peer.  A request's job counts
 * against the peer's max_jobs: job_reserve() before accepting the request
 * (-EBUSY at the cap, then refused), job_queue() takes the reservation
 * over; job_unreserve() gives it back if the job is not queued.  JOB_DROP
 * does not count. */
int job_reserve(struct server *s, struct peer *c);
void job_unreserve(struct server *s, struct peer *c);
void job_queue(struct server *s, struct job *j);
/* A request refused for the cap: the reply that says so. */
void job_refuse(struct server *s, struct peer *c, uint64_t msgid);
int worker_start(struct server *s);
/* Run what is queued, then stop. */
void worker_stop(struct server *s);

/* ---- syncproxy.c ----------------------------------------------------------- */

server_request_fn syncproxy_handle_register, syncproxy_handle_deregister, syncproxy_handle_answer;
void syncproxy_run_register(struct server *s, struct job *j);
void syncproxy_run_deregister(struct server *s, struct job *j);
/* Worker: deregister a peer's proxy (waits for a phase in flight). */
void syncproxy_release(struct peer *c);

/* ---- devproxy.c ------------------------------------------------------------ */

server_request_fn devproxy_handle_device_new, devproxy_handle_device_set, devproxy_handle_device_query,
        devproxy_handle_device_free, devproxy_handle_driver_attach, devproxy_handle_driver_detach,
        devproxy_handle_class_optout, devproxy_handle_answer;
/* Main: a dropped peer's devices out of the lists, its drivers into `j`. */
void devproxy_unlist_all(struct peer *c, struct job *j);
/* Worker: free what `j` holds (JOB_DEVICE_FREE, JOB_DRIVER_FREE, JOB_DROP). */
void devproxy_release(struct job *j);

/* ---- subscribe.c ----------------------------------------------------------- */

server_request_fn subscribe_handle_arrival_register, subscribe_handle_arrival_unregister, subscribe_handle_arrival_answer,
        subscribe_handle_memcond_subscribe, subscribe_handle_memcond_unsubscribe,
        subscribe_handle_memcond_configure, subscribe_handle_memcond_get_threshold;
/* Main: a dropped peer's arrival registrations and memory condition
 * subscriptions off the engine. */
void subscribe_drop(struct server *s, struct peer *c);

/* ---- simctl.c -------------------------------------------------------------- */

server_request_fn simctl_handle;
void simctl_run(struct server *s, struct job *j);

/* ---- removectl.c ----------------------------------------------------------- */

server_request_fn removectl_handle;
void removectl_run(struct server *s, struct job *j);

/* ---- onlinectl.c ----------------------------------------------------------- */

server_request_fn onlinectl_handle;
/* CPU_ONLINE's REPLY (any thread). */
void onlinectl_reply(struct peer *c, uint64_t id, uint32_t index, int r, int status);
/* Worker: JOB_CPU_ONLINE on the sim (simctl.c). */
void simctl_cpu_online(struct server *s, struct job *j);

/* ---- status.c -------------------------------------------------------------- */

server_request_fn status_handle_status, status_handle_monitor_start, status_handle_monitor_stop,
        status_handle_history;
/* STATUS_PROC messages with the state of every processor, answer of `id`. */
void status_send_procs(struct engine *e, struct peer *c, uint64_t id);
/* Queue a stream for the peer (-EBUSY: PEER_STREAMS_MAX waiting already);
 * it takes `st->ev`.  Main thread. */
int status_stream_add(struct server *s, struct peer *c, struct stream *st);
/* Produce what the peer's queue has room for; main thread, after a flush. */
void status_stream_continue(struct server *s, struct peer *c);
/* A dropped peer's streams. */
void status_stream_drop(struct server *s, struct peer *c);
/* The history ring and the monitor that fills it. */
int status_history_start(struct server *s);
void status_history_stop(struct server *s);
