/* SPDX-License-Identifier: MIT */
/*
 * The listening socket and who connects to it: the socket file (its
 * directory created, a stale file replaced, a live daemon refused),
 * accepting, and the credentials of each peer (SO_PEERCRED): root or a
 * member of the configured group is privileged.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/server-internal.h"

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
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* A socket file left by a daemon that died is replaced; one that
         * answers belongs to a running daemon. */
        {
                int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        close(probe);
                        close(fd);
                        log_error(&s->log, "%s: another dhpd is running (it answers on the socket)", s->path);
                        return -EADDRINUSE;
                }
                if (probe >= 0)
                        close(probe);
                unlink(s->path);
        }
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(s->path, 0666) < 0 || listen(fd, 64) < 0) {
                r = -errno;
                log_error(&s->log, "cannot listen on %s: %s", s->path, strerror(-r));
                close(fd);
                return r;
        }
        s->lfd = fd;
        return 0;
}

/* Look a group up in /etc/group, the "files" source of NSS, where
 * systemd-sysusers creates it.  Asking NSS itself (getgrnam) loads every
 * module nsswitch.conf names into dhpd for good (libnss_systemd alone
 * brings libm and libcap: ~650 kB of the daemon's RSS), so NSS is only the
 * fallback for a group defined elsewhere (LDAP, sssd).  -ENOENT when not
 * there. */
static int group_from_files(const char *name, gid_t *ret) {
        char line[4096];
        size_t n = strlen(name);
        int r = -ENOENT;
        FILE *f;

        f = fopen("/etc/group", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                char *p, *end;
                unsigned long gid;

                if (strncmp(line, name, n) != 0 || line[n] != ':')
                        continue;
                p = strchr(line + n + 1, ':'); /* past the password field */
                if (!p)
                        break;
                errno = 0;
                gid = strtoul(p + 1, &end, 10);
                if (errno || end == p + 1 || *end != ':' || gid > UINT32_MAX - 1)
                        break;
                *ret = (gid_t)gid;
                r = 0;
                break;
        }
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

/* Root, the configured group as primary group, or as a supplementary group
 * of the peer process (/proc/PID/status, else the user's group list). */
static bool peer_privileged(struct server *s, pid_t pid, uid_t uid, gid_t gid) {
        char path[64], line[4096];
        bool found = false, read_groups = false;
        FILE *f;

        if (uid == 0)
                return true;
        if (!s->have_group)
                return false;
        if (gid == s->group)
                return true;
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (f) {
                while (fgets(line, sizeof(line), f)) {
                        char *p, *end;
                        if (strncmp(line, "Groups:", 7) != 0)
                                continue;
                        read_groups = true;
                        for (p = line + 7;; p = end) {
                                unsigned long g = strtoul(p, &end, 10);
                                if (end == p)
                                        break;
                                if ((gid_t)g == s->group)
                                        found = true;
                        }
                        break;
                }
                fclose(f);
        }
        if (read_groups)
                return found;
#ifndef DHP_NO_NSS
        {
                struct passwd pw, *res = NULL;
                char pb[4096];
                gid_t groups[256];
                int ng = 256;
                if (getpwuid_r(uid, &pw, pb, sizeof(pb), &res) != 0 || !res)
                        return false;
                if (getgrouplist(res->pw_name, gid, groups, &ng) < 0)
                        return false;
                for (int i = 0; i < ng; i++)
                        if (groups[i] == s->group)
                                return true;
        }
#endif
        return false;
}

void listener_accept(struct server *s) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        struct peer *c;
        struct epoll_event ev;
        int fd;

        fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
                return;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || s->nclients >= s->cfg.max_clients) {
                if (s->nclients >= s->cfg.max_clients)
                        log_warning(&s->log, "refusing a client: %u clients connected already", s->nclients);
                close(fd);
                return;
        }
        c = peer_new(s, fd, cred.pid, cred.uid, cred.gid, peer_privileged(s, cred.pid, cred.uid, cred.gid));
        if (!c) {
                close(fd);
                return;
        }
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                peer_unref(c);
                return;
        }
        list_append(&s->clients, &c->node);
        s->nclients++;
}
