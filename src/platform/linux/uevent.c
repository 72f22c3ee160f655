/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "platform/linux/uevent.h"
#include "util/macro.h"

static const char *const action_names[] = {
        [UEVENT_ACTION_UNKNOWN] = "unknown", [UEVENT_ACTION_ADD] = "add",
        [UEVENT_ACTION_REMOVE] = "remove",   [UEVENT_ACTION_CHANGE] = "change",
        [UEVENT_ACTION_MOVE] = "move",       [UEVENT_ACTION_ONLINE] = "online",
        [UEVENT_ACTION_OFFLINE] = "offline", [UEVENT_ACTION_BIND] = "bind",
        [UEVENT_ACTION_UNBIND] = "unbind",
};

const char *uevent_action_to_string(enum uevent_action a) {
        if ((unsigned)a >= ELEMENTSOF(action_names))
                return "unknown";
        return action_names[a];
}

static enum uevent_action action_from(const char *s, size_t n) {
        /* Compare by length first: one memcmp per candidate at most. */
        switch (n) {
        case 3:
                return memcmp(s, "add", 3) == 0 ? UEVENT_ACTION_ADD : UEVENT_ACTION_UNKNOWN;
        case 4:
                if (memcmp(s, "move", 4) == 0)
                        return UEVENT_ACTION_MOVE;
                return memcmp(s, "bind", 4) == 0 ? UEVENT_ACTION_BIND : UEVENT_ACTION_UNKNOWN;
        case 6:
                if (memcmp(s, "remove", 6) == 0)
                        return UEVENT_ACTION_REMOVE;
                if (memcmp(s, "change", 6) == 0)
                        return UEVENT_ACTION_CHANGE;
                if (memcmp(s, "online", 6) == 0)
                        return UEVENT_ACTION_ONLINE;
                return memcmp(s, "unbind", 6) == 0 ? UEVENT_ACTION_UNBIND : UEVENT_ACTION_UNKNOWN;
        case 7:
                return memcmp(s, "offline", 7) == 0 ? UEVENT_ACTION_OFFLINE : UEVENT_ACTION_UNKNOWN;
        default:
                return UEVENT_ACTION_UNKNOWN;
        }
}

static int parse_seqnum(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!*s)
                return -EBADMSG;
        for (; *s; s++) {
                unsigned d = (unsigned)(*s - '0');
                if (d > 9)
                        return -EBADMSG;
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* The keys uevent_parse() reads, each allowed once. */
struct uevent_known {
        const char *action, *devpath, *subsystem;
        uint64_t seqnum;
        bool has_seqnum;
};

/* One KEY=VALUE field (KEY is KLEN bytes at P, VAL after the '='): keep it if
 * it is one of the known keys; a known key given twice is malformed. */
static int uevent_take_known(const char *p, size_t klen, const char *val, struct uevent_known *k) {
        int r;

        switch (klen) {
        case 6:
                if (memcmp(p, "ACTION", 6) == 0) {
                        if (k->action)
                                return -EBADMSG;
                        k->action = val;
                } else if (memcmp(p, "SEQNUM", 6) == 0) {
                        if (k->has_seqnum)
                                return -EBADMSG;
                        r = parse_seqnum(val, &k->seqnum);
                        if (r < 0)
                                return r;
                        k->has_seqnum = true;
                }
                break;
        case 7:
                if (memcmp(p, "DEVPATH", 7) == 0) {
                        if (k->devpath)
                                return -EBADMSG;
                        k->devpath = val;
                }
                break;
        case 9:
                if (memcmp(p, "SUBSYSTEM", 9) == 0) {
                        if (k->subsystem)
                                return -EBADMSG;
                        k->subsystem = val;
                }
                break;
        default:
                break;
        }
        return 0;
}

int uevent_parse(const char *buf, size_t len, struct uevent *ret) {
        const char *end = buf + len, *p, *at;
        struct uevent_known k = { 0 };
        size_t hl, alen;
        const char *keys[UEVENT_KEYS_MAX];
        unsigned n = 0;
        int r;

        if (len == 0)
                return -ENODATA;
        if (len > UEVENT_MSG_MAX)
                return -EMSGSIZE;
        if (len >= 8 && memcmp(buf, "libudev", 8) == 0)
                return -EPROTO;
        /* With the last byte a NUL every strlen() below stays in bounds. */
        if (buf[len - 1] != 0)
                return -ENOMSG;

        hl = strlen(buf);
        at = memchr(buf, '@', hl);
        if (!at || at == buf || at[1] != '/')
                return -EBADMSG;
        alen = (size_t)(at - buf);

        for (p = buf + hl + 1; p < end;) {
                size_t fl = strlen(p);
                const char *eq = memchr(p, '=', fl);

                if (!eq || eq == p)
                        return -EBADMSG;
                if (n >= UEVENT_KEYS_MAX)
                        return -E2BIG;
                keys[n++] = p;
                r = uevent_take_known(p, (size_t)(eq - p), eq + 1, &k);
                if (r < 0)
                        return r;
                p += fl + 1;
        }

        if (!k.action || !k.devpath)
                return -EBADMSG;
        if (strncmp(k.action, buf, alen) != 0 || k.action[alen] != 0)
                return -EILSEQ;
        if (strcmp(k.devpath, at + 1) != 0)
                return -EILSEQ;

        ret->action = action_from(k.action, alen);
        ret->action_str = k.action;
        ret->devpath = k.devpath;
        ret->subsystem = k.subsystem;
        ret->seqnum = k.seqnum;
        ret->has_seqnum = k.has_seqnum;
        ret->n_keys = n;
        memcpy(ret->keys, keys, n * sizeof(keys[0]));
        return 0;
}

const char *uevent_get(const struct uevent *u, const char *key) {
        size_t kl = strlen(key);

        for (unsigned i = 0; i < u->n_keys; i++)
                if (strncmp(u->keys[i], key, kl) == 0 && u->keys[i][kl] == '=')
                        return u->keys[i] + kl + 1;
        return NULL;
}

const char *uevent_strerror(int r) {
        switch (-r) {
        case 0:
                return "ok";
        case ENODATA:
                return "empty message";
        case EMSGSIZE:
                return "message too large";
        case EPROTO:
                return "udev message, not from the kernel";
        case ENOMSG:
                return "truncated message (last field not NUL-terminated)";
        case EBADMSG:
                return "malformed message (bad header or field, or ACTION/DEVPATH/SEQNUM missing or repeated)";
        case EILSEQ:
                return "header does not match the ACTION or DEVPATH field";
        case E2BIG:
                return "too many fields";
        case ERANGE:
                return "SEQNUM out of range";
        case EPERM:
                return "sender is not the kernel";
        case EAGAIN:
                return "no message queued";
        default:
                return "receive failed";
        }
}

/* ---- monitor ---------------------------------------------------------- */

struct uevent_monitor {
        int fd;
        unsigned flags;
        bool have_seqnum;
        uint64_t last_seqnum;
        const struct logger *log;
        uevent_recvmsg_fn recvmsg; /* NULL: recvmsg(2) */
        /* One byte more than we accept so an oversized datagram is seen as
         * such, not silently cut. */
        char buf[UEVENT_MSG_MAX + 1];
};

int uevent_monitor_new_from_fd(struct uevent_monitor **ret, int fd, unsigned flags, const struct logger *log) {
        struct uevent_monitor *m;

        if (fd < 0)
                return -EBADF;
        m = calloc(1, sizeof(*m));
        if (!m) {
                close(fd);
                return -ENOMEM;
        }
        m->fd = fd;
        m->flags = flags;
        m->log = log;
        *ret = m;
        return 0;
}

int uevent_monitor_new(struct uevent_monitor **ret, size_t rcvbuf, const struct logger *log) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
        _cleanup_close_ int fd = -1;
        int sz, one = 1;

        if (rcvbuf == 0)
                rcvbuf = UEVENT_MONITOR_RCVBUF_DEFAULT;
        sz = rcvbuf > INT_MAX / 2 ? INT_MAX / 2 : (int)rcvbuf;

        fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
        if (fd < 0)
                return -errno;
        /* A burst of hot-add uevents (one per memory block) must not
         * overflow the queue; FORCE passes rmem_max but needs privilege. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0) {
                log_debug(log, "SO_RCVBUFFORCE failed (%s), using SO_RCVBUF", strerror(errno));
                if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)) < 0)
                        return -errno;
        }
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return uevent_monitor_new_from_fd(ret, TAKE_FD(fd), 0, log);
}

void uevent_monitor_free(struct uevent_monitor *m) {
        if (!m)
                return;
        if (m->fd >= 0)
                close(m->fd);
        free(m);
}

int uevent_monitor_get_fd(const struct uevent_monitor *m) {
        return m->fd;
}

void uevent_monitor_set_recvmsg(struct uevent_monitor *m, uevent_recvmsg_fn fn) {
        m->recvmsg = fn;
}

void uevent_monitor_reset_seqnum(struct uevent_monitor *m) {
        m->have_seqnum = false;
}

int uevent_monitor_check_sender(const struct sockaddr *addr, socklen_t addrlen, const struct ucred *cred) {
        const struct sockaddr_nl *nl = (const struct sockaddr_nl *)addr;

        if (!addr || addrlen < sizeof(struct sockaddr_nl) || nl->nl_family != AF_NETLINK)
                return -EPERM;
        if (nl->nl_pid != 0)
                return -EPERM;
        if (!cred || cred->uid != 0)
                return -EPERM;
        return 0;
}

int uevent_monitor_receive(struct uevent_monitor *m, struct uevent *ret) {
        union {
                struct sockaddr sa;
                struct sockaddr_nl nl;
                struct sockaddr_storage ss;
        } addr;
        union {
                struct cmsghdr hdr;
                char buf[CMSG_SPACE(sizeof(struct ucred))];
        } control;
        struct iovec iov = { m->buf, sizeof(m->buf) };
        struct msghdr msg = {
                .msg_name = &addr,
                .msg_namelen = sizeof(addr),
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        const struct ucred *cred = NULL;
        struct uevent u;
        ssize_t n;
        int r, result = 0;

        do
                n = (m->recvmsg ? m->recvmsg : recvmsg)(m->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno == ENOBUFS) {
                        /* The next event will not be last+1; this loss is
                         * reported now, once. */
                        m->have_seqnum = false;
                        log_debug(m->log, "uevent socket overflowed, events lost");
                        return UEVENT_MONITOR_LOST;
                }
                return -errno;
        }
        if (msg.msg_flags & MSG_TRUNC)
                return -EMSGSIZE;

        if (!(m->flags & UEVENT_MONITOR_TRUST_SENDER)) {
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                            c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
                                cred = (const struct ucred *)CMSG_DATA(c);
                if (msg.msg_flags & MSG_CTRUNC)
                        cred = NULL;
                r = uevent_monitor_check_sender(&addr.sa, msg.msg_namelen, cred);
                if (r < 0) {
                        log_debug(m->log, "dropping uevent from a sender other than the kernel");
                        return r;
                }
        }

        r = uevent_parse(m->buf, (size_t)n, &u);
        if (r < 0) {
                log_debug(m->log, "dropping uevent: %s", uevent_strerror(r));
                return r;
        }
        if (!u.has_seqnum)
                return -EBADMSG;
        if (m->have_seqnum && u.seqnum != m->last_seqnum + 1) {
                log_debug(m->log, "uevent SEQNUM gap: %llu after %llu", (unsigned long long)u.seqnum,
                          (unsigned long long)m->last_seqnum);
                result = UEVENT_MONITOR_GAP;
        }
        m->have_seqnum = true;
        m->last_seqnum = u.seqnum;
        *ret = u;
        return result;
}
