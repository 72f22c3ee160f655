/* SPDX-License-Identifier: MIT */
/*
 * Kernel uevents: the parser for the netlink wire format and a monitor on
 * the NETLINK_KOBJECT_UEVENT socket.
 *
 * Wire format (one datagram, every string NUL-terminated):
 *     "ACTION@DEVPATH\0ACTION=add\0DEVPATH=/devices/...\0SUBSYSTEM=cpu\0SEQNUM=42\0"
 * Messages that start with "libudev\0" come from udev, not the kernel, and
 * are refused.
 *
 * uevent_parse() does not allocate: struct uevent holds pointers into the
 * caller's buffer, which must outlive it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/log.h"

/* The kernel's UEVENT_BUFFER_SIZE is 2048 and UEVENT_NUM_ENVP 64; accept
 * generously up to this, refuse more. */
#define UEVENT_MSG_MAX 8192
#define UEVENT_KEYS_MAX 64

enum uevent_action {
        UEVENT_ACTION_UNKNOWN = 0, /* well-formed, but not one we name */
        UEVENT_ACTION_ADD,
        UEVENT_ACTION_REMOVE,
        UEVENT_ACTION_CHANGE,
        UEVENT_ACTION_MOVE,
        UEVENT_ACTION_ONLINE,
        UEVENT_ACTION_OFFLINE,
        UEVENT_ACTION_BIND,
        UEVENT_ACTION_UNBIND,
};

struct uevent {
        enum uevent_action action;
        const char *action_str; /* always set */
        const char *devpath;    /* always set, starts with '/' */
        const char *subsystem;  /* NULL if absent */
        uint64_t seqnum;
        bool has_seqnum;
        unsigned n_keys;
        /* Every "KEY=VALUE" field in order, ACTION/DEVPATH/... included. */
        const char *keys[UEVENT_KEYS_MAX];
};

/*
 * Parse one message of len bytes.  On success fills *ret (pointers into buf).
 * Errors, one errno per class:
 *   -ENODATA    empty message
 *   -EMSGSIZE   longer than UEVENT_MSG_MAX
 *   -EPROTO     a udev ("libudev") message, not from the kernel
 *   -ENOMSG     truncated: the last field is not NUL-terminated
 *   -EBADMSG    malformed: no '@' in the header, a field without '=', no
 *               ACTION or DEVPATH key, a duplicated core key, a bad SEQNUM
 *   -EILSEQ     the header's action or devpath differs from ACTION=/DEVPATH=
 *   -E2BIG      more than UEVENT_KEYS_MAX fields
 *   -ERANGE     SEQNUM overflows 64 bits
 */
int uevent_parse(const char *buf, size_t len, struct uevent *ret);

/* The value of KEY in a parsed event, or NULL. */
const char *uevent_get(const struct uevent *u, const char *key);

/* A short human reason for an error of uevent_parse() or
 * uevent_monitor_receive(). */
const char *uevent_strerror(int r);

const char *uevent_action_to_string(enum uevent_action a);

/* ---- monitor ---------------------------------------------------------- */

struct uevent_monitor;

#define UEVENT_MONITOR_RCVBUF_DEFAULT (8u * 1024u * 1024u)

/* Positive results of uevent_monitor_receive(): */
enum {
        /* 0: an event, *ret filled, no loss detected. */
        UEVENT_MONITOR_LOST = 1, /* the socket overflowed (ENOBUFS): events were
                                  * dropped, *ret untouched; resync from sysfs */
        UEVENT_MONITOR_GAP = 2,  /* an event, *ret filled, but its SEQNUM is not
                                  * last+1: events were lost before it; resync */
};

enum {
        /* For uevent_monitor_new_from_fd(): do not check that the sender is the
         * kernel.  Only for tests that feed a socketpair. */
        UEVENT_MONITOR_TRUST_SENDER = 1 << 0,
};

/* Open, bind to the kernel group and configure a netlink uevent socket
 * (nonblocking, close-on-exec).  rcvbuf 0 means the default; SO_RCVBUFFORCE
 * is tried first (needs CAP_NET_ADMIN), then SO_RCVBUF. */
int uevent_monitor_new(struct uevent_monitor **ret, size_t rcvbuf, const struct logger *log);
/* Take ownership of fd (closed by uevent_monitor_free(), also on failure). */
int uevent_monitor_new_from_fd(struct uevent_monitor **ret, int fd, unsigned flags, const struct logger *log);
void uevent_monitor_free(struct uevent_monitor *m);
int uevent_monitor_get_fd(const struct uevent_monitor *m);

/*
 * Receive and parse one datagram.  *ret points into the monitor's buffer and
 * stays valid until the next call.  Returns 0, UEVENT_MONITOR_LOST,
 * UEVENT_MONITOR_GAP, or: -EAGAIN (nothing queued), -EPERM (sender is not
 * the kernel: dropped), -EMSGSIZE (datagram truncated), a parse error of
 * uevent_parse(), -EBADMSG (no SEQNUM), or a recvmsg() errno.  Errors other
 * than -EAGAIN and recvmsg() failures consume the datagram; the caller may
 * just call again.
 */
int uevent_monitor_receive(struct uevent_monitor *m, struct uevent *ret);

/* Replace recvmsg(2) (tests: inject ENOBUFS, which a socketpair never
 * returns).  NULL restores the real one. */
typedef ssize_t (*uevent_recvmsg_fn)(int fd, struct msghdr *msg, int flags);
void uevent_monitor_set_recvmsg(struct uevent_monitor *m, uevent_recvmsg_fn fn);

/* Forget the last SEQNUM, e.g. after a resync. */
void uevent_monitor_reset_seqnum(struct uevent_monitor *m);

/* The sender check of uevent_monitor_receive(): the address must be
 * AF_NETLINK with nl_pid 0 (the kernel) and the credentials uid 0.
 * 0 or -EPERM.  Exposed for tests. */
struct ucred;
int uevent_monitor_check_sender(const struct sockaddr *addr, socklen_t addrlen, const struct ucred *cred);
