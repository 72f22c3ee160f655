/* SPDX-License-Identifier: MIT */
/*
 * The dhpd IPC messages: their table, encoding and decoding.  Pure: no
 * syscalls, no allocation, every length checked, so that it can be fuzzed
 * on its own.  The socket handling lives in src/daemon/server.c and
 * src/lib/client.c; the wire format is documented in doc/protocol.md.
 *
 * A message is one SOCK_SEQPACKET datagram: a 16-byte header
 *   u16 type, u16 flags (0), u32 length (whole message), u64 id
 * then the payload of its type.  Integers are little-endian; a string is a
 * u16 byte count then the bytes (no NUL; NUL bytes inside are refused); a
 * blob is a u32 byte count then the bytes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The protocol's version: a peer of another major version is refused. */
#define IPC_VERSION_MAJOR 1
#define IPC_VERSION_MINOR 3

#define IPC_HEADER_SIZE 16
/* No message is longer; a longer datagram is a protocol violation. */
#define IPC_MSG_MAX 65536
#define IPC_NAME_MAX 64    /* names, with their NUL */
#define IPC_TEXT_MAX 1024  /* reply text, with its NUL */
#define IPC_DETAIL_MAX 256 /* error text, file names, a record's text extras; RECORD's detail */
#define IPC_RECORD_DETAIL_MAX 1024 /* RECORD_EXT's detail (JSON members), CPU lists */
#define IPC_STATUS_PROC_MAX 1024
#define IPC_MEMCOND_NAME_MAX 32 /* memory condition event names, with their NUL */
#define IPC_AFFINITY_MAX 4096   /* CPU lists ("0-3,8"), with their NUL */

/*
 * Every message, described once: its name (IPC_<name> is its type), its
 * type number, who sends it, and its payload's fields in wire order.  The
 * enum ipc_type, the encoder, the decoder, ipcmsg_type_name(),
 * ipcmsg_from_client(), the codec test and the fuzz seeds all come from
 * this list; adding a message is adding a row (and its member of struct
 * ipc_msg).  The field kinds (expanded in proto/ipcmsg.c):
 *   IPC_F_INT(m)     an integer of m's width (1, 2, 4 or 8 bytes)
 *   IPC_F_STR(m)     a string, at most sizeof(m) - 1 bytes
 *   IPC_F_STRN(m, n) a string, at most n - 1 bytes
 *   IPC_F_STR_SET(m) a string, not empty (decoding refuses an empty one)
 *   IPC_F_ABSENT(m)  not on the wire; decoding empties it
 *   IPC_F_BYTES(c, a) u32 count c, then c bytes of the array a
 *   IPC_F_BLOB(p, l) u32 length l, then l bytes at p (decoding points p
 *                    into the datagram)
 * Directions: REQUEST (c->s, ends with a REPLY when it has an id), ANSWER
 * (c->s, a client's answer to a notification), REPLY (s->c, part of the
 * answer to a request), NOTIFY (s->c, unprompted).  Which requests need
 * privilege is the daemon's business (its dispatch table), not the wire's.
 */
#define IPC_RECORD_FIELDS                                                                                  \
        IPC_F_INT(record.seq) IPC_F_INT(record.t_ns) IPC_F_INT(record.fields) IPC_F_INT(record.processor)  \
        IPC_F_INT(record.group) IPC_F_INT(record.number) IPC_F_INT(record.base) IPC_F_INT(record.size)     \
        IPC_F_INT(record.block) IPC_F_INT(record.dur_ns) IPC_F_INT(record.status)                          \
        IPC_F_STR_SET(record.method) IPC_F_STR_SET(record.event) IPC_F_STR(record.cls)                     \
        IPC_F_STR(record.client) IPC_F_STR(record.name)

/* RECORD_EXT's and RECORD_RT's fields, up to the wall-clock time. */
#define IPC_RECORD_EXT_FIELDS                                                                              \
        IPC_RECORD_FIELDS IPC_F_STR(record.detail) IPC_F_STR(record.detail_text)                           \
        IPC_F_STR(record.device) IPC_F_STR(record.driver) IPC_F_STR(record.reason)                         \
        IPC_F_STR(record.old_affinity) IPC_F_STR(record.new_affinity) IPC_F_INT(record.stopped_ns)

#define IPC_MESSAGES(X)                                                                                    \
        /* session */                                                                                      \
        X(HELLO, 0x01, REQUEST,                                                                            \
          IPC_F_INT(hello.major) IPC_F_INT(hello.minor) IPC_F_INT(hello.pid) IPC_F_STR(hello.name))        \
        X(WELCOME, 0x02, REPLY,                                                                            \
          IPC_F_INT(welcome.major) IPC_F_INT(welcome.minor) IPC_F_INT(welcome.flags)                       \
          IPC_F_INT(welcome.max_regs) IPC_F_INT(welcome.max_queue) IPC_F_INT(welcome.max_msg)              \
          IPC_F_INT(welcome.client_id))                                                                    \
        /* ends every request with an id */                                                                \
        X(REPLY, 0x03, REPLY,                                                                              \
          IPC_F_INT(reply.status) IPC_F_INT(reply.v32) IPC_F_INT(reply.v64) IPC_F_STR(reply.text))         \
        /* the connection is closed after it */                                                            \
        X(ERROR, 0x04, NOTIFY, IPC_F_INT(error.status) IPC_F_STR(error.text))                              \
        X(PING, 0x05, REQUEST, ) /* REPLY 0 */                                                             \
        /* synchronous processor notification */                                                           \
        X(PROC_REGISTER, 0x10, REQUEST,                                                                    \
          IPC_F_INT(proc_register.reg) IPC_F_INT(proc_register.flags) IPC_F_STR(proc_register.name))       \
        X(PROC_DEREGISTER, 0x11, REQUEST, IPC_F_INT(unreg.reg))                                            \
        /* ADD_START, ADD_COMPLETE, ADD_FAILURE */                                                         \
        X(PROC_CHANGE, 0x12, NOTIFY,                                                                       \
          IPC_F_INT(proc_change.txn) IPC_F_INT(proc_change.state) IPC_F_INT(proc_change.index)             \
          IPC_F_INT(proc_change.status))                                                                   \
        /* the process's answer to a PROC_CHANGE */                                                        \
        X(PROC_ANSWER, 0x13, ANSWER,                                                                       \
          IPC_F_INT(proc_answer.txn) IPC_F_INT(proc_answer.state) IPC_F_INT(proc_answer.status)            \
          IPC_F_INT(proc_answer.ncalls) IPC_F_INT(proc_answer.dur_ns))                                     \
        /* asynchronous arrival notification */                                                            \
        X(ARRIVAL_REGISTER, 0x20, REQUEST,                                                                 \
          IPC_F_INT(arrival_register.reg) IPC_F_INT(arrival_register.cls)                                  \
          IPC_F_INT(arrival_register.flags) IPC_F_STR(arrival_register.name))                              \
        X(ARRIVAL_UNREGISTER, 0x21, REQUEST, IPC_F_INT(unreg.reg))                                         \
        X(ARRIVAL, 0x22, NOTIFY,                                                                           \
          IPC_F_INT(arrival.reg) IPC_F_INT(arrival.cls) IPC_F_INT(arrival.event) IPC_F_INT(arrival.flags)  \
          IPC_F_INT(arrival.index) IPC_F_INT(arrival.base) IPC_F_INT(arrival.size)                         \
          IPC_F_STR(arrival.name))                                                                         \
        /* (1.3) QUERY_REMOVE or REMOVE_CANCEL of a memory removal, to an                                  \
         * arrival registration that opted in; answered by ARRIVAL_ANSWER */                               \
        X(ARRIVAL_QUERY, 0x23, NOTIFY,                                                                     \
          IPC_F_INT(arrival_query.seq) IPC_F_INT(arrival_query.reg) IPC_F_INT(arrival_query.event)         \
          IPC_F_INT(arrival_query.status) IPC_F_INT(arrival_query.base) IPC_F_INT(arrival_query.size)      \
          IPC_F_STR(arrival_query.name))                                                                   \
        X(ARRIVAL_ANSWER, 0x24, ANSWER, IPC_F_INT(arrival_answer.seq) IPC_F_INT(arrival_answer.status))    \
        /* the notification stream */                                                                      \
        X(MONITOR_START, 0x30, REQUEST, )                                                                  \
        X(MONITOR_STOP, 0x31, REQUEST, )                                                                   \
        /* the protocol 1.0 layout: detail shorter, no extras */                                           \
        X(RECORD, 0x32, NOTIFY,                                                                            \
          IPC_RECORD_FIELDS IPC_F_STRN(record.detail, IPC_DETAIL_MAX) IPC_F_ABSENT(record.detail_text)     \
          IPC_F_ABSENT(record.device) IPC_F_ABSENT(record.driver) IPC_F_ABSENT(record.reason)              \
          IPC_F_ABSENT(record.old_affinity) IPC_F_ABSENT(record.new_affinity)                              \
          IPC_F_ABSENT(record.stopped_ns) IPC_F_ABSENT(record.realtime_ns))                                \
        /* notifications dropped for a slow reader */                                                      \
        X(LOST, 0x33, NOTIFY, IPC_F_INT(lost.count))                                                       \
        /* (1.1) the last records again, as RECORD_EXT with the request's id */                            \
        X(HISTORY, 0x34, REQUEST, IPC_F_INT(history.count))                                                \
        /* (1.1) RECORD with the extras; what a 1.1 client receives */                                     \
        X(RECORD_EXT, 0x35, NOTIFY, IPC_RECORD_EXT_FIELDS IPC_F_ABSENT(record.realtime_ns))                \
        /* (1.3) RECORD_EXT with the wall-clock time; what a 1.3 client receives */                        \
        X(RECORD_RT, 0x36, NOTIFY, IPC_RECORD_EXT_FIELDS IPC_F_INT(record.realtime_ns))                    \
        /* memory condition events: the state now, then every change */                                   \
        X(MEMCOND_SUBSCRIBE, 0x40, REQUEST,                                                                \
          IPC_F_INT(memcond_subscribe.sub) IPC_F_STR(memcond_subscribe.name))                              \
        X(MEMCOND_UNSUBSCRIBE, 0x41, REQUEST, IPC_F_INT(unreg.reg))                                        \
        /* SET or CLEAR of one subscription */                                                             \
        X(MEMCOND_STATE, 0x42, NOTIFY,                                                                     \
          IPC_F_INT(memcond_state.sub) IPC_F_INT(memcond_state.flags) IPC_F_INT(memcond_state.available)   \
          IPC_F_INT(memcond_state.total))                                                                  \
        /* a dhp_memcond_configure() spec */                                                             \
        X(MEMCOND_CONFIGURE, 0x43, REQUEST, IPC_F_STR(memcond_configure.spec))                             \
        /* REPLY v64 */                                                                                    \
        X(MEMCOND_GET_THRESHOLD, 0x44, REQUEST, IPC_F_INT(memcond_get_threshold.which))                    \
        /* user-space rebalance devices; DEVICE_NEW: DEVICE_INFO then REPLY */                             \
        X(DEVICE_NEW, 0x50, REQUEST,                                                                       \
          IPC_F_INT(device_new.dev) IPC_F_STR(device_new.name) IPC_F_STR(device_new.setup_class))          \
        X(DEVICE_FREE, 0x51, REQUEST, IPC_F_INT(unreg.reg))                                                \
        /* policy, affinity policy, affinity */                                                            \
        X(DEVICE_SET, 0x52, REQUEST,                                                                       \
          IPC_F_INT(device_set.dev) IPC_F_INT(device_set.what) IPC_F_INT(device_set.value)                 \
          IPC_F_STR(device_set.cpulist))                                                                   \
        /* DEVICE_INFO then REPLY v32 = participates */                                                    \
        X(DEVICE_QUERY, 0x53, REQUEST, IPC_F_INT(unreg.reg))                                               \
        /* a device's affinity and stopped times */                                                        \
        X(DEVICE_INFO, 0x54, REPLY,                                                                        \
          IPC_F_INT(device_info.dev) IPC_F_INT(device_info.flags) IPC_F_INT(device_info.stopped_last)      \
          IPC_F_INT(device_info.stopped_max) IPC_F_STR(device_info.affinity))                              \
        /* set or get a class opt-out */                                                                   \
        X(CLASS_OPTOUT, 0x55, REQUEST,                                                                     \
          IPC_F_INT(class_optout.op) IPC_F_INT(class_optout.optout) IPC_F_STR(class_optout.setup_class))   \
        X(DRIVER_ATTACH, 0x56, REQUEST,                                                                    \
          IPC_F_INT(driver_attach.dev) IPC_F_INT(driver_attach.drv) IPC_F_INT(driver_attach.level)         \
          IPC_F_STR(driver_attach.name))                                                                   \
        X(DRIVER_DETACH, 0x57, REQUEST, IPC_F_INT(unreg.reg))                                              \
        /* QUERY_STOP, CANCEL_STOP, STOP, START for one driver */                                          \
        X(DEVICE_REQUEST, 0x58, NOTIFY,                                                                    \
          IPC_F_INT(device_request.seq) IPC_F_INT(device_request.dev) IPC_F_INT(device_request.drv)        \
          IPC_F_INT(device_request.req) IPC_F_INT(device_request.processor)                                \
          IPC_F_INT(device_request.vectors) IPC_F_STR(device_request.old_affinity)                         \
          IPC_F_STR(device_request.new_affinity))                                                          \
        /* the driver's status */                                                                          \
        X(DEVICE_ANSWER, 0x59, ANSWER,                                                                     \
          IPC_F_INT(device_answer.seq) IPC_F_INT(device_answer.status) IPC_F_INT(device_answer.dur_ns))    \
        /* status: STATUS_* come before the REPLY */                                                       \
        X(STATUS, 0x60, REQUEST, )                                                                         \
        X(STATUS_PROC, 0x61, REPLY,                                                                        \
          IPC_F_INT(status_proc.first) IPC_F_BYTES(status_proc.count, status_proc.state))                  \
        X(STATUS_MEM, 0x62, REPLY,                                                                         \
          IPC_F_INT(status_mem.id) IPC_F_INT(status_mem.base) IPC_F_INT(status_mem.size)                   \
          IPC_F_INT(status_mem.block_size) IPC_F_INT(status_mem.nblocks)                                   \
          IPC_F_INT(status_mem.online_blocks))                                                             \
        /* (1.3) after each STATUS_MEM: the device's name, NUMA node, flags */                          \
        X(STATUS_MEM_NAME, 0x64, REPLY,                                                                    \
          IPC_F_INT(status_mem_name.id) IPC_F_INT(status_mem_name.node) IPC_F_INT(status_mem_name.flags)   \
          IPC_F_STR(status_mem_name.name))                                                                 \
        /* (1.3) after each STATUS_MEM: its blocks, one run of consecutive                                 \
         * blocks with the same state and zone per message, in order */                                   \
        X(STATUS_MEM_BLOCKS, 0x65, REPLY,                                                                  \
          IPC_F_INT(status_mem_blocks.device) IPC_F_INT(status_mem_blocks.first_block)                     \
          IPC_F_INT(status_mem_blocks.count) IPC_F_INT(status_mem_blocks.state)                            \
          IPC_F_INT(status_mem_blocks.zone))                                                               \
        X(STATUS_CLIENT, 0x63, REPLY,                                                                      \
          IPC_F_INT(status_client.pid) IPC_F_INT(status_client.uid) IPC_F_INT(status_client.flags)         \
          IPC_F_INT(status_client.sync_regs) IPC_F_INT(status_client.arrival_regs)                         \
          IPC_F_INT(status_client.late) IPC_F_STR(status_client.name))                                     \
        /* simulated platform control (dhpd --platform sim) */                                             \
        X(SIM_CPU_ADD, 0x70, REQUEST, )                                                                    \
        X(SIM_MEMORY_ADD, 0x71, REQUEST, IPC_F_INT(sim_memory_add.size))                                   \
        X(SIM_RUN, 0x72, REQUEST,                                                                          \
          IPC_F_STR(sim_run.filename) IPC_F_BLOB(sim_run.text, sim_run.text_len))                          \
        /* (1.3) the simulated hardware ejects a processor (a surprise removal) */                         \
        X(SIM_CPU_SURPRISE, 0x73, REQUEST, IPC_F_INT(cpu_remove.index))                                    \
        /* (1.3) removal carried out by dhpd: REPLY status 0 (removed), 1 (it                              \
         * stays: v32 = the positive errno of the veto or the failure) */                                  \
        X(CPU_REMOVE, 0x80, REQUEST, IPC_F_INT(cpu_remove.index))                                          \
        X(MEMORY_REMOVE, 0x81, REQUEST, IPC_F_STR_SET(memory_remove.name))                                 \
        /* (1.3) a new add for a present processor not admitted: REPLY status 0                            \
         * (admitted), 1 (the add failed: v32 = the positive errno of the veto                             \
         * or the failure) */                                                                              \
        X(CPU_ONLINE, 0x82, REQUEST, IPC_F_INT(cpu_online.index))

/* The message types (IPC_HELLO, ...) come from IPC_MESSAGES above. */
enum ipc_type {
#define IPC_X_ENUM(name, number, dir, fields) IPC_##name = number,
        IPC_MESSAGES(IPC_X_ENUM)
#undef IPC_X_ENUM
        /* 0x40..0x4f: memory condition events (dhp_memcond_*) */
        IPC_RESERVED_MEMCOND_FIRST = 0x40,
        IPC_RESERVED_MEMCOND_LAST = 0x4f,
        /* 0x50..0x5f: user-space rebalance devices (dhp_device_*, dhp_driver_*) */
        IPC_RESERVED_REBALANCE_FIRST = 0x50,
        IPC_RESERVED_REBALANCE_LAST = 0x5f,
};

enum {
        IPC_WELCOME_PRIVILEGED = 1u << 0, /* may register synchronously, drive the sim */
        IPC_WELCOME_SIMULATED = 1u << 1,  /* dhpd runs the simulated platform: its processors are not this machine's */
};

enum {
        IPC_ARRIVAL_EXISTING = 1u << 0,
        IPC_ARRIVAL_SURPRISE = 1u << 1, /* (1.3) a REMOVAL the platform did */
};

enum {
        IPC_STATUS_MEM_VIRTIO = 1u << 0, /* STATUS_MEM_NAME: a virtio-mem device (size: plugged) */
};

enum {
        IPC_MEMCOND_SET = 1u << 0,     /* MEMCOND_STATE: the event is set (else clear) */
        IPC_MEMCOND_INITIAL = 1u << 1, /* MEMCOND_STATE: the state at subscription */
};

enum {
        IPC_DEVICE_SET_POLICY = 1,          /* DEVICE_SET value: dhp_rebalance_policy */
        IPC_DEVICE_SET_AFFINITY_POLICY = 2, /* DEVICE_SET value: dhp_affinity_policy */
        IPC_DEVICE_SET_AFFINITY = 3,        /* DEVICE_SET cpulist */
};

enum {
        IPC_CLASS_OPTOUT_SET = 1, /* CLASS_OPTOUT op: privileged */
        IPC_CLASS_OPTOUT_GET = 2, /* CLASS_OPTOUT op: REPLY v32 = opt-out */
};

enum {
        IPC_CLIENT_PRIVILEGED = 1u << 0,
        IPC_CLIENT_MONITOR = 1u << 1,
        IPC_CLIENT_SELF = 1u << 2, /* the client asking */
        IPC_CLIENT_GONE_LATE = 1u << 3,
};

/* A record of the notification stream on the wire (dhp_record's fields);
 * an empty string stands for NULL except in method and event.  RECORD (the
 * protocol 1.0 layout, for a client that said minor 0) carries up to detail,
 * which must then be shorter than IPC_DETAIL_MAX; RECORD_EXT (1.1, 1.2)
 * carries every field but the wall-clock time, RECORD_RT (1.3) every field.
 * Decoding a RECORD leaves the extras empty, a RECORD_EXT the time 0. */
struct ipc_record {
        uint64_t seq, t_ns;
        uint32_t fields;
        uint32_t processor;
        uint16_t group;
        uint8_t number;
        uint64_t base, size, block, dur_ns;
        int32_t status;
        char method[16];
        char event[32];
        char cls[16];
        char client[IPC_NAME_MAX];
        char name[IPC_NAME_MAX];
        char detail[IPC_RECORD_DETAIL_MAX]; /* JSON members */
        /* RECORD_EXT only */
        char detail_text[IPC_DETAIL_MAX]; /* the same extras for the text line */
        char device[IPC_NAME_MAX];        /* rebalance */
        char driver[IPC_NAME_MAX];
        char reason[IPC_NAME_MAX];
        char old_affinity[IPC_RECORD_DETAIL_MAX]; /* CPU lists */
        char new_affinity[IPC_RECORD_DETAIL_MAX];
        uint64_t stopped_ns;
        /* RECORD_RT only */
        uint64_t realtime_ns; /* CLOCK_REALTIME when dhpd made it; 0: unknown */
};

struct ipc_msg {
        uint16_t type;
        uint64_t id; /* a request's id, echoed by its REPLY; 0: no reply wanted */
        union {
                struct {
                        uint16_t major, minor;
                        uint32_t pid;
                        char name[IPC_NAME_MAX];
                } hello;
                struct {
                        uint16_t major, minor;
                        uint32_t flags, max_regs, max_queue, max_msg;
                        uint64_t client_id;
                } welcome;
                struct {
                        int32_t status;
                        uint32_t v32;
                        uint64_t v64;
                        char text[IPC_TEXT_MAX];
                } reply;
                struct {
                        int32_t status;
                        char text[IPC_DETAIL_MAX];
                } error;
                struct {
                        uint32_t reg, flags;
                        char name[IPC_NAME_MAX];
                } proc_register;
                struct {
                        uint32_t reg;
                } unreg; /* PROC_DEREGISTER, ARRIVAL_UNREGISTER */
                struct {
                        uint64_t txn;
                        uint32_t state, index;
                        int32_t status;
                } proc_change;
                struct {
                        uint64_t txn;
                        uint32_t state;
                        int32_t status;
                        uint32_t ncalls;
                        uint64_t dur_ns;
                } proc_answer;
                struct {
                        uint32_t reg, cls, flags;
                        char name[IPC_NAME_MAX];
                } arrival_register;
                struct {
                        uint32_t reg, cls, event, flags, index;
                        uint64_t base, size;
                        char name[IPC_NAME_MAX];
                } arrival;
                struct ipc_record record; /* RECORD, RECORD_EXT */
                struct {
                        uint64_t count;
                } lost;
                struct {
                        uint32_t count; /* at most this many, the newest; 0: every record kept */
                } history;
                struct {
                        uint32_t first, count;
                        uint8_t state[IPC_STATUS_PROC_MAX];
                } status_proc;
                struct {
                        uint64_t id, base, size, block_size;
                        uint32_t nblocks, online_blocks;
                } status_mem;
                struct {
                        uint64_t device, first_block; /* STATUS_MEM's id; the kernel's block index */
                        uint32_t count, state, zone;  /* dhp_memory_block_state, dhp_memory_zone */
                } status_mem_blocks;
                struct {
                        uint32_t pid, uid, flags, sync_regs, arrival_regs, late;
                        char name[IPC_NAME_MAX];
                } status_client;
                struct {
                        uint64_t size;
                } sim_memory_add;
                struct {
                        uint32_t index;
                } cpu_remove; /* CPU_REMOVE, SIM_CPU_SURPRISE */
                struct {
                        uint64_t seq;
                        uint32_t reg, event;
                        int32_t status;
                        uint64_t base, size;
                        char name[IPC_NAME_MAX];
                } arrival_query;
                struct {
                        uint64_t seq;
                        int32_t status;
                } arrival_answer;
                struct {
                        uint64_t id;
                        uint32_t node; /* UINT32_MAX: unknown */
                        uint32_t flags; /* IPC_STATUS_MEM_* */
                        char name[IPC_NAME_MAX];
                } status_mem_name;
                struct {
                        char name[IPC_NAME_MAX];
                } memory_remove;
                struct {
                        uint32_t index;
                } cpu_online;
                struct {
                        uint32_t sub;
                        char name[IPC_MEMCOND_NAME_MAX];
                } memcond_subscribe; /* MEMCOND_UNSUBSCRIBE: unreg.reg = sub */
                struct {
                        uint32_t sub, flags;
                        uint64_t available, total;
                } memcond_state;
                struct {
                        char spec[IPC_DETAIL_MAX];
                } memcond_configure;
                struct {
                        uint32_t which; /* dhp_memcond_threshold */
                } memcond_get_threshold;
                struct {
                        uint32_t dev;
                        char name[IPC_NAME_MAX];
                        char setup_class[IPC_NAME_MAX];
                } device_new; /* DEVICE_FREE, DEVICE_QUERY, DRIVER_DETACH: unreg.reg */
                struct {
                        uint32_t dev, what, value;
                        char cpulist[IPC_AFFINITY_MAX];
                } device_set;
                struct {
                        uint32_t dev, flags;
                        uint64_t stopped_last, stopped_max;
                        char affinity[IPC_AFFINITY_MAX];
                } device_info;
                struct {
                        uint32_t op, optout;
                        char setup_class[IPC_NAME_MAX];
                } class_optout;
                struct {
                        uint32_t dev, drv, level;
                        char name[IPC_NAME_MAX];
                } driver_attach;
                struct {
                        uint64_t seq;
                        uint32_t dev, drv, req, processor, vectors;
                        char old_affinity[IPC_AFFINITY_MAX];
                        char new_affinity[IPC_AFFINITY_MAX];
                } device_request;
                struct {
                        uint64_t seq;
                        int32_t status;
                        uint64_t dur_ns;
                } device_answer;
                struct {
                        char filename[IPC_DETAIL_MAX];
                        const char *text; /* points into the decoded buffer; not NUL-terminated */
                        uint32_t text_len;
                } sim_run;
        };
};

enum ipc_dir {
        IPC_DIR_REQUEST = 1,
        IPC_DIR_ANSWER,
        IPC_DIR_REPLY,
        IPC_DIR_NOTIFY,
};

enum ipc_field_kind {
        IPC_FIELD_END = 0,
        IPC_FIELD_INT,
        IPC_FIELD_STR,
        IPC_FIELD_STR_SET,
        IPC_FIELD_ABSENT,
        IPC_FIELD_BYTES,
        IPC_FIELD_BLOB,
};

/* One field of a message: where it is in struct ipc_msg, and its size
 * (an integer's width, a string's cap with its NUL, an array's size).  aux
 * is the offset of BYTES' array and BLOB's pointer (off is their count). */
struct ipc_field {
        uint8_t kind;
        uint16_t off, size, aux;
};

/* A row of IPC_MESSAGES; fields end with an IPC_FIELD_END. */
struct ipc_desc {
        uint16_t type;
        uint8_t dir; /* enum ipc_dir */
        const char *name;
        const struct ipc_field *fields;
};

/* The rows of IPC_MESSAGES in their order, for whoever must visit every
 * message (the codec test, the fuzz seeds). */
extern const struct ipc_desc ipcmsg_table[];
extern const size_t ipcmsg_table_len;
/* The row of a type, or NULL for a type this version does not have. */
const struct ipc_desc *ipcmsg_desc(uint16_t type);

/*
 * ipcmsg_example - fill *m with a well-formed message of type: every field
 * set from seed (integers, strings a few bytes long, BYTES and BLOB parts a
 * few bytes long; BLOB points to a static text).  For the codec test and the fuzz
 * seeds.  -EPROTO for a type this version does not have.
 */
int ipcmsg_example(uint16_t type, uint64_t seed, struct ipc_msg *m);

/* True for the types a client sends, false for the daemon's. */
bool ipcmsg_from_client(uint16_t type);
/* True for a type reserved for a later method (answered -EOPNOTSUPP). */
bool ipcmsg_reserved(uint16_t type);
const char *ipcmsg_type_name(uint16_t type);

/*
 * ipcmsg_encode - encode m into buf.  Returns the message length, or
 * -EMSGSIZE when it does not fit in `size` (or IPC_MSG_MAX), -EINVAL for an
 * unknown type or a string longer than its field allows.
 */
int ipcmsg_encode(const struct ipc_msg *m, void *buf, size_t size);

/*
 * ipcmsg_decode - decode one whole datagram.  Returns 0, or: -EBADMSG (too
 * short, length field not the datagram's length, a field cut short, a string
 * too long or with a NUL, bytes left over, flags not 0), -EMSGSIZE (longer
 * than IPC_MSG_MAX), -EPROTO (an unknown type), -EOPNOTSUPP (a reserved
 * type: m->type and m->id are set, the payload is not decoded).  On error
 * *m is left with whatever was decoded so far; only m->type and m->id are
 * meaningful, and only for -EOPNOTSUPP.  sim_run.text points into buf.
 * On success every byte of the decoded type's payload is written (what the
 * datagram does not carry, zeroed); the rest of the union is left as it
 * was, so *m can be a buffer reused message after message.
 */
int ipcmsg_decode(const void *buf, size_t len, struct ipc_msg *m);

/* Rewrite the id of an encoded message of len bytes (a stored message
 * replayed in answer to a request).  -EBADMSG when len is shorter than a
 * header. */
int ipcmsg_set_id(void *buf, size_t len, uint64_t id);
