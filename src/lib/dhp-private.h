/* SPDX-License-Identifier: MIT */
/*
 * What the library keeps to itself but its own CLI, benchmarks and tests
 * reach through the static archive: never exported from libdhp.so (none
 * is marked DHP_EXPORT).  One name each; nobody declares these by hand.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dhp.h"
#include "proto/ipcmsg.h"

/* Where dhpd listens unless told otherwise (--socket, $DHP_TARGET). */
#define DHP_DEFAULT_SOCKET "/run/dhp/dhpd.sock"

struct engine;
struct linux_platform;
struct remote;
struct sim;

/* dhp_open() with a message a person can act on in err (dhpctl). */
int dhp_internal_open(dhp **ret, const char *target, char *err, size_t errsize);

/* The engine behind a context (a "unix:" context's local one). */
struct engine *dhp_internal_engine(dhp *ctx);
/* The simulated platform behind a "sim" context, else NULL. */
struct sim *dhp_internal_sim(dhp *ctx);
/* The Linux platform behind a "linux" context, else NULL. */
struct linux_platform *dhp_internal_linux(dhp *ctx);
/* The connection behind a "unix:" context, else NULL. */
struct remote *dhp_internal_remote(dhp *ctx);
/* A device by name (scenarios run by the CLI and tests). */
dhp_device *dhp_internal_device(dhp *ctx, const char *name);

/* ---- what `dhpctl status` and `dhpctl plot` ask dhpd ("unix:" only;
 * -EOPNOTSUPP on another context) ------------------------------------ */

/* A run of a memory device's blocks (IPC_STATUS_MEM_BLOCKS, 1.3). */
struct remote_mem_run {
        uint64_t device, first_block;
        uint32_t count, state, zone;
};

/* A memory device, its name and a client as STATUS lists them: only the payload of
 * their message (a whole struct ipc_msg is 8 KiB: 10 000 devices would
 * take 80 MiB). */
struct remote_mem {
        typeof(((struct ipc_msg *)0)->status_mem) status_mem;
};
struct remote_mem_name {
        typeof(((struct ipc_msg *)0)->status_mem_name) status_mem_name;
};
struct remote_client {
        typeof(((struct ipc_msg *)0)->status_client) status_client;
};

/* How many of each a STATUS reply may list (more is -EPROTO: a daemon
 * gone mad).  Every device has at least one block, and a run per block at
 * most; one name per device; dhpd serves at most 65536 clients ([daemon]
 * max_clients). */
#define REMOTE_STATUS_MEM_MAX ((size_t)1 << 22)
#define REMOTE_STATUS_RUNS_MAX ((size_t)1 << 22)
#define REMOTE_STATUS_CLIENTS_MAX ((size_t)65536)

struct remote_status {
        uint32_t ncpus;
        uint8_t *cpu_state; /* dhp_proc_state per slot */
        size_t nmem;
        struct remote_mem *mem; /* IPC_STATUS_MEM */
        size_t nmem_names;
        struct remote_mem_name *mem_names; /* IPC_STATUS_MEM_NAME (dhpd 1.3), by status_mem_name.id */
        bool has_blocks;                   /* dhpd sent the runs (protocol 1.3) */
        size_t nruns;
        struct remote_mem_run *runs; /* in the order sent: each device's after its STATUS_MEM */
        size_t nclients;
        struct remote_client *clients; /* IPC_STATUS_CLIENT */
};
int dhp_internal_status(dhp *ctx, struct remote_status *ret);
void remote_status_deinit(struct remote_status *st);

/* The last records of dhpd's stream (HISTORY, protocol 1.1), oldest first:
 * at most count (0: as many as dhpd keeps and sends at once).  -EOPNOTSUPP
 * from a 1.0 dhpd, -EBUSY while dhpd's queue for this client is full. */
#define REMOTE_HISTORY_MAX 4096
struct remote_history {
        size_t n, cap;
        struct ipc_record *records;
};
int dhp_internal_history(dhp *ctx, uint32_t count, struct remote_history *ret);
void remote_history_deinit(struct remote_history *h);
/* One record of a history as dhp_record_format() formats a record. */
int dhp_internal_record_format(const struct ipc_record *rec, dhp_record_format_kind kind, char *buf, size_t size);

/* dhp_proc_online() of a "unix:" context: CPU_ONLINE. */
int dhp_internal_cpu_online(dhp *ctx, uint32_t index, int *ret_status);

/* Tests: the system calls of the affinity bookkeeping (lib/affinity.h;
 * NULL: the kernel's), and whether a client of a simulated dhpd keeps it
 * anyway (its processors are not this machine's, but a test can map
 * them).  Before the first synchronous registration.  -EOPNOTSUPP on
 * target "sim". */
struct affinity_sys;
int dhp_internal_affinity_seam(dhp *ctx, const struct affinity_sys *sys, bool on_simulated);

/* dhpd's explanation of the last refused request ("" if none). */
const char *dhp_internal_last_text(dhp *ctx);
