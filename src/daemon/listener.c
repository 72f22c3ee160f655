/* SPDX-License-Identifier: MIT */
/*
 * The listening socket and who connects to it: the socket file (its
 * directory created, a stale file replaced, a live daemon refused),
 * accepting, and the credentials of each peer (SO_PEERCRED): root or a
 * member of the configured group is privileged.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/server-internal.h"
#include "util/macro.h"
#include "util/time.h"

static int mkdir_parents(const char *path) {
        char buf[108];
        char *p;

        snprintf(buf, sizeof(buf), "%s", path);
        p = strrchr(buf, '/');
        if (!p || p == buf)
                return 0;
        *p = 0;
        for (char *q = buf + 1; *q; q++) {
                if (*q != '/')
                        continue;
                *q = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *q = '/';
        }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* The socket file: a socket left by a daemon that died is replaced, one
 * that answers belongs to a running daemon, and anything else (a regular
 * file, a directory: a mistyped --socket) is refused, never deleted. */
static int claim_path(struct server *s, const struct sockaddr_un *sa) {
        struct stat st;
        int probe;

        if (lstat(s->path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode)) {
                log_error(&s->log, "%s exists and is not a socket: refusing to replace it", s->path);
                return -EEXIST;
        }
        probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
                close(probe);
                log_error(&s->log, "%s: another dhpd is running (it answers on the socket)", s->path);
                return -EADDRINUSE;
        }
        if (probe >= 0)
                close(probe);
        if (unlink(s->path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int listener_listen(struct server *s) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        if (strlen(s->path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, s->path);
        r = mkdir_parents(s->path);
        if (r < 0) {
                log_error(&s->log, "cannot create the directory of %s: %s", s->path, strerror(-r));
                return r;
        }
        r = claim_path(s, &sa);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(s->path, 0666) < 0 || listen(fd, 64) < 0) {
                r = -errno;
                log_error(&s->log, "cannot listen on %s: %s", s->path, strerror(-r));
                close(fd);
                return r;
        }
        s->lfd = fd;
        /* Kept for the moment accept() fails with EMFILE: closed, the
         * connection taken and closed, reopened (see listener_accept). */
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return 0;
}

int listener_group_lookup(FILE *f, const char *name, gid_t *ret) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, n = strlen(name);
        ssize_t len;

        if (!n || strchr(name, ':'))
                return -ENOENT;
        /* getline: a line longer than any buffer is one line, never split
         * into a second one a long member list could forge. */
        while ((len = getline(&line, &cap, f)) >= 0) {
                char *p, *end;
                unsigned long gid;

                if ((size_t)len <= n || strncmp(line, name, n) != 0 || line[n] != ':')
                        continue;
                p = memchr(line + n + 1, ':', (size_t)len - n - 1); /* past the password field */
                if (!p || p[1] < '0' || p[1] > '9')
                        return -EINVAL;
                errno = 0;
                gid = strtoul(p + 1, &end, 10);
                if (errno || *end != ':' || gid > UINT32_MAX - 1)
                        return -EINVAL;
                *ret = (gid_t)gid;
                return 0;
        }
        return -ENOENT;
}

/* Look a group up in /etc/group, the "files" source of NSS, where
 * systemd-sysusers creates it.  Asking NSS itself (getgrnam) loads every
 * module nsswitch.conf names into dhpd for good (libnss_systemd alone
 * brings libm and libcap: ~650 kB of the daemon's RSS), so NSS is only the
 * fallback for a group defined elsewhere (LDAP, sssd).  -ENOENT when not
 * there. */
static int group_from_files(const char *name, gid_t *ret) {
        FILE *f;
        int r;

        f = fopen("/etc/group", "re");
        if (!f)
                return -errno;
        r = listener_group_lookup(f, name, ret);
        fclose(f);
        return r;
}

/* The configured group's id, from /etc/group, else NSS; without it only
 * root is privileged.  Always 0: a missing group is not an error. */
int listener_resolve_group(struct server *s, const char *group) {
        if (!group || !group[0])
                return 0;
        if (group_from_files(group, &s->group) == 0) {
                s->have_group = true;
        }
#ifndef DHP_NO_NSS
        else {
                struct group gr, *res = NULL;
                char gb[4096];
                if (getgrnam_r(group, &gr, gb, sizeof(gb), &res) == 0 && res) {
                        s->group = res->gr_gid;
                        s->have_group = true;
                }
        }
#endif
        if (!s->have_group)
                log_notice(&s->log, "group '%s' does not exist: only root may register synchronously", group);
        return 0;
}

int listener_peer_in_group(int fd, gid_t group) {
        gid_t small[64], *v = small;
        socklen_t len = sizeof(small);
        bool found = false;

        /* The groups the kernel captured at connect(): what the peer was
         * then, whatever its process (or the one it passed the socket to)
         * has become since.  No fallback: without them, not a member. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, v, &len) < 0) {
                if (errno != ERANGE)
                        return -errno;
                v = malloc(len);
                if (!v)
                        return -ENOMEM;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, v, &len) < 0) {
                        free(v);
                        return -errno;
                }
        }
        for (size_t i = 0; i < len / sizeof(gid_t); i++)
                if (v[i] == group)
                        found = true;
        if (v != small)
                free(v);
        return found;
}

/* Root, or the configured group as the primary group or a supplementary
 * one, all as captured by the kernel at connect(). */
static bool peer_privileged(struct server *s, int fd, uid_t uid, gid_t gid) {
        if (uid == 0)
                return true;
        if (!s->have_group)
                return false;
        if (gid == s->group)
                return true;
        return listener_peer_in_group(fd, s->group) > 0;
}

/* ---- refusals: counted, logged once per interval ---------------------------- */

#define REFUSAL_LOG_INTERVAL_NS (10 * NSEC_PER_SEC)

/* The count of refusals not logged yet, if the interval has passed. */
void listener_refusals_flush(struct server *s, uint64_t now) {
        if (!s->refused_unlogged || now - s->refused_logged_at < REFUSAL_LOG_INTERVAL_NS)
                return;
        log_warning(&s->log, "refused %u more client connection(s) in the last %llu s (last: %s)",
                    s->refused_unlogged, (unsigned long long)((now - s->refused_logged_at) / NSEC_PER_SEC),
                    s->refused_last);
        s->refused_unlogged = 0;
        s->refused_logged_at = now;
}

static void refuse(struct server *s, int fd, const char *why) {
        uint64_t now = time_now_ns();

        if (fd >= 0)
                close(fd);
        s->refused_total++;
        snprintf(s->refused_last, sizeof(s->refused_last), "%s", why);
        if (s->refused_logged_at && now - s->refused_logged_at < REFUSAL_LOG_INTERVAL_NS) {
                s->refused_unlogged++;
                return;
        }
        listener_refusals_flush(s, now);
        log_warning(&s->log, "refusing a client: %s (further refusals: one line per %llu s)", why,
                    (unsigned long long)(REFUSAL_LOG_INTERVAL_NS / NSEC_PER_SEC));
        s->refused_logged_at = now;
}

/* ---- admission --------------------------------------------------------------- */

/* Whether one more connection of this peer fits: the global cap, the part
 * of it kept for privileged clients, the cap per user.  NULL when it does,
 * else why not. */
static const char *admit(struct server *s, uid_t uid, bool privileged, char *buf, size_t size) {
        unsigned same = 0;

        if (s->nclients >= s->cfg.max_clients) {
                snprintf(buf, size, "%u clients connected already (max_clients)", s->nclients);
                return buf;
        }
        if (privileged)
                return NULL;
        if (s->nclients + s->cfg.reserved_clients >= s->cfg.max_clients) {
                snprintf(buf, size, "uid %u: the last %u connections are kept for privileged clients", (unsigned)uid,
                         s->cfg.reserved_clients);
                return buf;
        }
        list_for_each(p, &s->clients)
                if (list_entry(p, struct peer, node)->uid == uid)
                        same++;
        if (same >= s->cfg.max_clients_per_uid) {
                snprintf(buf, size, "uid %u has %u connections already (max_clients_per_uid)", (unsigned)uid, same);
                return buf;
        }
        return NULL;
}

/* Out of file descriptors: the pending connection would keep the socket
 * readable and the loop spinning.  Take it with the spare descriptor and
 * close it; without a spare, stop accepting until a peer leaves. */
static void accept_emfile(struct server *s) {
        int fd;

        if (s->spare_fd >= 0) {
                close(s->spare_fd);
                fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd >= 0)
                        refuse(s, fd, "out of file descriptors");
                s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (s->spare_fd >= 0)
                        return;
        }
        listener_pause(s, true);
}

void listener_pause(struct server *s, bool pause) {
        struct epoll_event ev = { .events = pause ? 0 : EPOLLIN, .data.ptr = (void *)&s->lfd };

        if (!pause && s->spare_fd < 0)
                s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (s->accept_paused == pause || s->lfd < 0)
                return;
        s->accept_paused = pause;
        epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev);
}

static void accept_one(struct server *s, int fd) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        struct peer *c;
        struct epoll_event ev;
        const char *why;
        char buf[128];
        bool privileged;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                close(fd);
                return;
        }
        privileged = peer_privileged(s, fd, cred.uid, cred.gid);
        why = admit(s, cred.uid, privileged, buf, sizeof(buf));
        if (why) {
                refuse(s, fd, why);
                return;
        }
        c = peer_new(s, fd, cred.pid, cred.uid, cred.gid, privileged);
        if (!c) {
                refuse(s, fd, "out of memory");
                return;
        }
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                peer_unref(c);
                return;
        }
        list_append(&s->clients, &c->node);
        c->listed = true;
        s->nclients++;
        c->hello_deadline = time_now_ns() + s->cfg.handshake_timeout_ns;
        list_append(&s->handshaking, &c->hs_node);
        listener_arm_handshake(s);
}

void listener_accept(struct server *s) {
        /* A bounded batch: a flood of connections does not starve the
         * clients already served. */
        for (int i = 0; i < 32; i++) {
                int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                        if (errno == EMFILE || errno == ENFILE)
                                accept_emfile(s);
                        return;
                }
                accept_one(s, fd);
        }
}

/* ---- the handshake deadline ------------------------------------------------ */

/* A peer that has not said HELLO by its deadline is dropped: a connection
 * that never speaks holds no slot for long.  The peers waiting are in
 * accept order, so the first one's deadline is the next. */
void listener_arm_handshake(struct server *s) {
        struct itimerspec its = { 0 };

        if (!list_empty(&s->handshaking)) {
                struct peer *c = list_entry(s->handshaking.next, struct peer, hs_node);
                its.it_value.tv_sec = (time_t)(c->hello_deadline / NSEC_PER_SEC);
                its.it_value.tv_nsec = (long)(c->hello_deadline % NSEC_PER_SEC);
                if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
                        its.it_value.tv_nsec = 1;
        }
        timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

void listener_handshake_done(struct server *s, struct peer *c) {
        if (!c->hs_node.next || c->hs_node.next == &c->hs_node)
                return; /* never listed, or listed no more */
        list_remove(&c->hs_node);
        listener_arm_handshake(s);
}

void listener_expire_handshakes(struct server *s) {
        uint64_t now = time_now_ns(), ticks;
        char why[96];

        if (read(s->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
                return;
        while (!list_empty(&s->handshaking)) {
                struct peer *c = list_entry(s->handshaking.next, struct peer, hs_node);
                if (c->hello_deadline > now)
                        break;
                snprintf(why, sizeof(why), "no HELLO within %llu ms of connecting",
                         (unsigned long long)(s->cfg.handshake_timeout_ns / NSEC_PER_MSEC));
                s->handshake_expired++;
                server_violation(s, c, -ETIMEDOUT, why);
        }
        listener_arm_handshake(s);
}
