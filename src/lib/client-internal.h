/* SPDX-License-Identifier: MIT */
/*
 * The client of dhpd inside the library, across its files:
 *   client.c           transport: connecting, sending, a request and its
 *                      REPLY, the connection thread;
 *   client-events.c    what the connection thread reads: the synchronous
 *                      phases, arrivals, replies, memory condition states,
 *                      driver requests, and the processor states;
 *   client-registry.c  the registrations dhpd knows by wire id, re-sent
 *                      after a reconnect;
 *   client-requests.c  queries, sim control, memory condition requests;
 *   client-devices.c   user-space devices: the mirror rebalance module's ops.
 * Not for use outside src/lib/client*.c.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/affinity.h"
#include "lib/client.h"
#include "lib/nameidx.h"

enum entry_kind { ENTRY_SYNC, ENTRY_ARRIVAL, ENTRY_MEMCOND, ENTRY_DEVICE, ENTRY_DRIVER };

/* A device an arrival registration knows, with what its REMOVAL names. */
struct known_dev {
        char name[IPC_NAME_MAX];
        uint32_t index;
        uint64_t base, size;
        bool seen; /* present again after a reconnect (struct entry) */
};

/* One registration the daemon knows by its wire id; kept to re-register
 * after a reconnect. */
struct entry {
        struct entry *next;
        enum entry_kind kind;
        uint32_t id;
        uint32_t flags;
        dhp_class cls;
        char name[IPC_NAME_MAX];
        dhp_proc_cb pcb;
        dhp_arrival_cb acb;
        void *userdata;
        dhp_proc_reg *preg;    /* NULL until the daemon accepted it */
        dhp_arrival_reg *areg;
        /* ENTRY_MEMCOND: one subscription per event, for every handle */
        int mkind; /* enum memcond_kind; -1: a name this library lacks */
        unsigned mrefs;
        /* ENTRY_DEVICE, ENTRY_DRIVER (dev_id: its device's entry) */
        dhp_device *dev;
        dhp_driver *drv;
        uint32_t dev_id;
        /* Arrival registrations: the devices of the class this
         * registration knows of (reported, or present when it was made),
         * by name.  Every ARRIVAL_REGISTER asks dhpd for the present
         * devices (INCLUDE_EXISTING): at the first one, those are reported
         * only if the caller asked for them; after a reconnect, those not
         * known are the ones that arrived while dhpd was away, and are
         * reported as arrivals.  Nothing is reported twice.  A known
         * device that is not present again when dhpd answers the
         * re-registration (`resyncing` until then) is reported as a
         * REMOVAL and forgotten, so that its next arrival is reported. */
        struct known_dev *known;
        size_t nknown, capknown;
        struct nameidx knownidx; /* name -> position in known */
        bool reconnected;
        bool resyncing;
};

struct request {
        struct request *next;
        uint64_t id;
        bool done;
        int status;
        uint32_t v32;
        uint64_t v64;
        char text[IPC_TEXT_MAX];
        struct entry *entry; /* PROC_REGISTER: made local on the reply */
        /* PROC_REGISTER: the handle made, for the caller: by the time it
         * reads it the entry may be gone (a racing add's callback may
         * deregister it: dhp_proc_deregister() in dhp.h). */
        dhp_proc_reg *preg;
        struct remote_status *st;
        int st_err;
        struct remote_history *hist; /* HISTORY: the records answered */
        /* A re-registration after a reconnect (client-registry.c): of an
         * arrival registration (its wire id), or the first synchronous one,
         * whose REPLY comes with dhpd's processor states. */
        uint32_t resync_arrival;
        bool resync_procs;
};

struct remote {
        struct engine *local;
        char path[108];
        void (*wake)(void *);
        void *wake_ud;

        pthread_mutex_t lock; /* everything below, and sending */
        pthread_cond_t cond;  /* a request is done */
        /* STATUS and arrival registrations awaiting their REPLY: dhpd
         * answers a fifth one -EBUSY (doc/protocol.md), an error dhp.h
         * promises to none of the calls that make them, so a fifth thread
         * waits here for a free one (client_stream_begin). */
        unsigned nstreams;
        pthread_cond_t stream_cond;
        int fd;
        /* The connection thread is being stopped: its recv() was woken by
         * shutdown(SHUT_RD), not by dhpd.  (A blocking recv() rather than
         * poll() on the socket and a stop eventfd: one system call per
         * message instead of two, on every client at every phase.) */
        atomic_bool stopping;
        pthread_t thread;
        bool thread_running;
        int error; /* sticky: -ECONNRESET after a loss */
        uint32_t welcome_flags;
        uint16_t welcome_minor;
        atomic_uint_fast64_t next_id;
        struct request *requests;
        struct entry *entries;
        uint32_t next_reg;
        unsigned nmonitors;
        char last_text[IPC_TEXT_MAX]; /* the last failed request's explanation */
        pid_t pid; /* the process that connected: a child after fork() has no connection thread */

        /* the connection thread only */
        struct peer_phases *split;
        uint32_t split_index; /* the processor of `split` */
        /* From a loss until a reconnection succeeds: the processor states
         * this process's callbacks saw (doc/model.md D36), kept across
         * failed attempts (one may have brought states, not the REPLY
         * that runs the callbacks).  Written by the reconnecting thread
         * while the connection thread is stopped, and by the connection
         * thread at the REPLY of the synchronous re-registration. */
        uint8_t *seen;
        uint32_t nseen;
        bool seen_kept;
        uint8_t *admitted; /* dhp_proc_state per slot, for affinity */
        uint32_t nadmitted;
        /* The same, as this process's callbacks saw it (doc/model.md D36):
         * a status read during a phase leaves its processor as it was. */
        uint8_t *view;

        /* Threads off processors not admitted while a synchronous
         * registration exists (a dhpd on real hardware only, unless a
         * test says otherwise). */
        struct affinity aff;
        atomic_bool aff_on_simulated; /* set by a test, read by the connection thread */
};

/* ---- client.c ---- */

/* Whether the caller is the connection thread (which cannot wait for a
 * reply it would have to read itself). */
bool client_on_conn_thread(struct remote *r);
/* Send one message; the caller holds r->lock. */
int client_send(struct remote *r, const struct ipc_msg *m);
/* Send a request and wait for its REPLY (and what came before it with the
 * same id).  Returns the reply's status, or -ECONNRESET. */
int client_call(struct remote *r, struct ipc_msg *m, struct request *req);
/* The processor states, for affinity and ADD_EXISTING. */
int client_refresh_states(struct remote *r);
void client_stream_begin(struct remote *r);
void client_stream_end(struct remote *r);

/* ---- client-events.c ---- */

/* One message read from dhpd; false when the connection must end. */
bool client_dispatch(struct remote *r, const struct ipc_msg *m);
/* The connection thread (client-events.c): started by client.c. */
void *client_conn_thread(void *userdata);
/* Tell the affinity bookkeeping what is admitted (real hardware only). */
void client_affinity_apply(struct remote *r);
/* Whether this connection keeps threads off processors not admitted. */
bool client_affinity_enabled(struct remote *r);

/* ---- client-registry.c ---- */

struct entry *client_entry_find(struct remote *r, enum entry_kind kind, uint32_t id);
struct entry *client_entry_new(struct remote *r, enum entry_kind kind, const char *name, uint32_t flags);
void client_entry_remove(struct remote *r, struct entry *e);
/* Free an entry no longer in the list, and what it owns (NULL-safe). */
void client_entry_free(struct entry *e);
/* Whether to deliver an ARRIVAL or REMOVAL read from dhpd, and as an
 * existing device or not (see struct entry); under r->lock. */
bool client_arrival_filter(struct entry *e, const struct ipc_msg *m, bool *ret_existing);
/* Re-send every registration after a reconnect (r->seen: what the
 * callbacks saw, doc/model.md D36). */
int client_reregister(struct remote *r);
/* On the connection thread, at the REPLY of a re-registration: report the
 * known devices that did not come back as REMOVAL (under r->lock) ... */
void client_arrival_prune(struct remote *r, uint32_t id);
/* ... and run ADD_START, ADD_COMPLETE for each processor admitted now that
 * the process did not see admitted (not under r->lock). */
void client_proc_resync(struct remote *r);
