/* SPDX-License-Identifier: MIT */
/*
 * The dhpd IPC messages: encoding and decoding, nothing else.  Pure: no
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
#define IPC_VERSION_MINOR 2

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

enum ipc_type {
        /* session */
        IPC_HELLO = 0x01,   /* c->s */
        IPC_WELCOME = 0x02, /* s->c */
        IPC_REPLY = 0x03,   /* s->c: ends every request with an id */
        IPC_ERROR = 0x04,   /* s->c: the connection is closed after it */
        IPC_PING = 0x05,    /* c->s: REPLY 0 */
        /* synchronous processor notification */
        IPC_PROC_REGISTER = 0x10,
        IPC_PROC_DEREGISTER = 0x11,
        IPC_PROC_CHANGE = 0x12, /* s->c: ADD_START, ADD_COMPLETE, ADD_FAILURE */
        IPC_PROC_ANSWER = 0x13, /* c->s: the process's answer to a PROC_CHANGE */
        /* asynchronous arrival notification */
        IPC_ARRIVAL_REGISTER = 0x20,
        IPC_ARRIVAL_UNREGISTER = 0x21,
        IPC_ARRIVAL = 0x22, /* s->c */
        /* the notification stream */
        IPC_MONITOR_START = 0x30,
        IPC_MONITOR_STOP = 0x31,
        IPC_RECORD = 0x32, /* s->c */
        IPC_LOST = 0x33,   /* s->c: notifications dropped for a slow reader */
        IPC_HISTORY = 0x34,    /* c->s (1.1): the last records again, as RECORD_EXT with the request's id */
        IPC_RECORD_EXT = 0x35, /* s->c (1.1): RECORD with the extras; what a 1.1 client receives */
        /* 0x40..0x4f: memory condition events (dhp_memcond_*) */
        IPC_MEMCOND_SUBSCRIBE = 0x40,     /* c->s: the state now, then every change */
        IPC_MEMCOND_UNSUBSCRIBE = 0x41,   /* c->s */
        IPC_MEMCOND_STATE = 0x42,         /* s->c: SET or CLEAR of one subscription */
        IPC_MEMCOND_CONFIGURE = 0x43,     /* c->s: privileged; a dhp_memcond_configure() spec */
        IPC_MEMCOND_GET_THRESHOLD = 0x44, /* c->s: REPLY v64 */
        IPC_RESERVED_MEMCOND_FIRST = 0x40,
        IPC_RESERVED_MEMCOND_LAST = 0x4f,
        /* 0x50..0x5f: user-space rebalance devices (dhp_device_*, dhp_driver_*) */
        IPC_DEVICE_NEW = 0x50,      /* c->s: privileged; DEVICE_INFO then REPLY */
        IPC_DEVICE_FREE = 0x51,     /* c->s */
        IPC_DEVICE_SET = 0x52,      /* c->s: privileged; policy, affinity policy, affinity */
        IPC_DEVICE_QUERY = 0x53,    /* c->s: DEVICE_INFO then REPLY v32 = participates */
        IPC_DEVICE_INFO = 0x54,     /* s->c: a device's affinity and stopped times */
        IPC_CLASS_OPTOUT = 0x55,    /* c->s: set (privileged) or get a class opt-out */
        IPC_DRIVER_ATTACH = 0x56,   /* c->s: privileged */
        IPC_DRIVER_DETACH = 0x57,   /* c->s */
        IPC_DEVICE_REQUEST = 0x58,  /* s->c: QUERY_STOP, CANCEL_STOP, STOP, START for one driver */
        IPC_DEVICE_ANSWER = 0x59,   /* c->s: the driver's status */
        IPC_RESERVED_REBALANCE_FIRST = 0x50,
        IPC_RESERVED_REBALANCE_LAST = 0x5f,
        /* status */
        IPC_STATUS = 0x60,        /* c->s */
        IPC_STATUS_PROC = 0x61,   /* s->c, before the REPLY */
        IPC_STATUS_MEM = 0x62,    /* s->c, before the REPLY */
        IPC_STATUS_CLIENT = 0x63, /* s->c, before the REPLY */
        /* simulated platform control (dhpd --platform sim) */
        IPC_SIM_CPU_ADD = 0x70,
        IPC_SIM_MEMORY_ADD = 0x71,
        IPC_SIM_RUN = 0x72,
};

enum {
        IPC_WELCOME_PRIVILEGED = 1u << 0, /* may register synchronously, drive the sim */
        IPC_WELCOME_SIMULATED = 1u << 1,  /* dhpd runs the simulated platform: its processors are not this machine's */
};

enum {
        IPC_ARRIVAL_EXISTING = 1u << 0,
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
 * which must then be shorter than IPC_DETAIL_MAX; RECORD_EXT carries every
 * field.  Decoding a RECORD leaves the extras empty. */
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
                        uint32_t pid, uid, flags, sync_regs, arrival_regs, late;
                        char name[IPC_NAME_MAX];
                } status_client;
                struct {
                        uint64_t size;
                } sim_memory_add;
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
 */
int ipcmsg_decode(const void *buf, size_t len, struct ipc_msg *m);

/* Rewrite the id of an encoded message of len bytes (a stored message
 * replayed in answer to a request).  -EBADMSG when len is shorter than a
 * header. */
int ipcmsg_set_id(void *buf, size_t len, uint64_t id);
