/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "platform/linux/cgwatch.h"

enum { TAG_INOTIFY = 1, TAG_TIMER, TAG_EVENTS, TAG_PSI };

struct cgwatch {
        struct cgpart cg;
        struct cgpart_limits cur;
        cgwatch_fn cb;
        void *userdata;
        int epfd, ifd, tfd, evfd, psifd;
        dev_t dev;       /* the cgroup directory's identity, to tell a */
        ino_t ino;       /* removal from a same-named replacement */
        bool removed;
        bool pressure; /* the PSI trigger fired since cgwatch_pressure_take() */
        struct cgpart_err err;
};

/* The files whose writes change a limit, at every level. */
static const char *const watched[] = {
        "cpu.max", "memory.max", "memory.high", "cpuset.cpus", "cpuset.cpus.effective", "cgroup.events",
};

static int dir_identity(const struct cgwatch *w, dev_t *dev, ino_t *ino) {
        char p[8192];
        struct stat st;

        if (snprintf(p, sizeof(p), "%s%s", w->cg.root, w->cg.dir) >= (int)sizeof(p))
                return -ENAMETOOLONG;
        if (stat(p, &st) < 0)
                return -errno;
        *dev = st.st_dev;
        *ino = st.st_ino;
        return 0;
}

/* (Re)add the inotify watches: adding an existing one is a no-op for the
 * kernel, and a file that appeared since (a controller enabled) is
 * picked up.  Missing files are skipped. */
static void add_watches(struct cgwatch *w) {
        char p[8192];

        for (uint32_t i = 0; i <= w->cg.depth; i++) {
                const char *dir = i == 0 ? w->cg.dir : w->cg.ancestors[i - 1];
                for (size_t f = 0; f < sizeof(watched) / sizeof(watched[0]); f++) {
                        if (snprintf(p, sizeof(p), "%s%s/%s", w->cg.root, dir, watched[f]) >= (int)sizeof(p))
                                continue;
                        (void)inotify_add_watch(w->ifd, p, IN_MODIFY | IN_DELETE_SELF);
                }
        }
        /* The directory itself: IN_DELETE_SELF where the file system
         * reports the rmdir. */
        if (snprintf(p, sizeof(p), "%s%s", w->cg.root, w->cg.dir) < (int)sizeof(p))
                (void)inotify_add_watch(w->ifd, p, IN_DELETE_SELF | IN_ONLYDIR);
}

static int epoll_add(int epfd, int fd, uint32_t events, uint32_t tag) {
        struct epoll_event ev = { .events = events, .data.u32 = tag };

        return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* The memory.pressure trigger, if asked for and the kernel accepts it. */
static void setup_psi(struct cgwatch *w, const struct cgwatch_config *wcfg) {
        uint64_t stall, window;
        int r;

        if (!wcfg || !wcfg->psi_kind)
                return;
        stall = wcfg->psi_stall_us;
        window = wcfg->psi_window_us;
        r = cgpart_psi_open(&w->cg, wcfg->psi_kind, stall, window, &w->psifd, NULL);
        if ((r == -EPERM || r == -EACCES) && window % 2000000 != 0) {
                /* An unprivileged trigger needs a window that is a multiple
                 * of 2 s: the same ratio over the next one. */
                uint64_t w2 = (window / 2000000 + 1) * 2000000;
                r = cgpart_psi_open(&w->cg, wcfg->psi_kind, stall * w2 / window, w2, &w->psifd, NULL);
        }
        if (r < 0)
                return;
        /* A regular file (the tests' fake tree) cannot be polled: EPERM. */
        if (epoll_add(w->epfd, w->psifd, EPOLLPRI, TAG_PSI) < 0) {
                close(w->psifd);
                w->psifd = -1;
        }
}

static int setup_fds(struct cgwatch *w, uint64_t reread_ms) {
        char p[8192];
        int r;

        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->epfd < 0 || w->ifd < 0)
                return -errno;
        r = epoll_add(w->epfd, w->ifd, EPOLLIN, TAG_INOTIFY);
        if (r < 0)
                return r;
        add_watches(w);
        if (reread_ms != CGWATCH_REREAD_OFF) {
                struct itimerspec its = {
                        .it_value = { (time_t)(reread_ms / 1000), (long)(reread_ms % 1000) * 1000000L },
                };
                its.it_interval = its.it_value;
                w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
                if (w->tfd < 0)
                        return -errno;
                if (timerfd_settime(w->tfd, 0, &its, NULL) < 0)
                        return -errno;
                r = epoll_add(w->epfd, w->tfd, EPOLLIN, TAG_TIMER);
                if (r < 0)
                        return r;
        }
        /* cgroup.events: POLLPRI on kernfs.  A regular file cannot be
         * polled (EPERM): inotify covers it then. */
        if (cgpart_file_path(&w->cg, "cgroup.events", p, sizeof(p)) == 0) {
                w->evfd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
                if (w->evfd >= 0 && epoll_add(w->epfd, w->evfd, EPOLLPRI, TAG_EVENTS) < 0) {
                        close(w->evfd);
                        w->evfd = -1;
                }
        }
        return 0;
}

int cgwatch_new(struct cgwatch **ret, const struct cgpart_config *pcfg, const struct cgwatch_config *wcfg,
                cgwatch_fn cb, void *userdata, struct cgpart_err *e) {
        uint64_t reread_ms = wcfg && wcfg->reread_ms ? wcfg->reread_ms : CGWATCH_REREAD_MS_DEFAULT;
        struct cgwatch *w;
        int r;

        if (!cb)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->epfd = w->ifd = w->tfd = w->evfd = w->psifd = -1;
        w->cb = cb;
        w->userdata = userdata;
        r = cgpart_init(&w->cg, pcfg, e);
        if (r < 0) {
                free(w);
                return r;
        }
        r = cgpart_read(&w->cg, &w->cur, e);
        if (r >= 0)
                r = dir_identity(w, &w->dev, &w->ino);
        if (r >= 0) {
                r = setup_fds(w, reread_ms);
                if (r < 0 && e)
                        strcpy(e->msg, "cannot set up inotify, timerfd or epoll");
                if (r >= 0)
                        setup_psi(w, wcfg);
        }
        if (r < 0) {
                cgwatch_free(w);
                return r;
        }
        w->cur.seq = 1;
        w->cur.changed = CGPART_CHANGED_ALL;
        *ret = w;
        return 0;
}

void cgwatch_free(struct cgwatch *w) {
        if (!w)
                return;
        if (w->psifd >= 0)
                close(w->psifd);
        if (w->evfd >= 0)
                close(w->evfd);
        if (w->tfd >= 0)
                close(w->tfd);
        if (w->ifd >= 0)
                close(w->ifd);
        if (w->epfd >= 0)
                close(w->epfd);
        cgpart_limits_deinit(&w->cur);
        cgpart_deinit(&w->cg);
        free(w);
}

void cgwatch_abandon(struct cgwatch *w) {
        int *fds[] = { &w->psifd, &w->evfd, &w->tfd, &w->ifd, &w->epfd };

        if (!w)
                return;
        for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
                if (*fds[i] >= 0) {
                        close(*fds[i]);
                        *fds[i] = -1;
                }
}

int cgwatch_get_fd(const struct cgwatch *w) {
        return w->epfd;
}

const struct cgpart_limits *cgwatch_limits(const struct cgwatch *w) {
        return &w->cur;
}

const struct cgpart *cgwatch_cgroup(const struct cgwatch *w) {
        return &w->cg;
}

bool cgwatch_psi_active(const struct cgwatch *w) {
        return w->psifd >= 0;
}

bool cgwatch_pressure_take(struct cgwatch *w) {
        bool p = w->pressure;

        w->pressure = false;
        return p;
}

const char *cgwatch_strerror(const struct cgwatch *w) {
        return w->err.msg;
}

/* a \ b into *ret. */
static int cpus_minus(const struct cpuset *a, const struct cpuset *b, struct cpuset *ret) {
        for (int64_t c = cpuset_next(a, 0); c >= 0; c = cpuset_next(a, (uint32_t)c + 1))
                if (!cpuset_test(b, (uint32_t)c)) {
                        int r = cpuset_set(ret, (uint32_t)c);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int deliver_removed(struct cgwatch *w) {
        struct cpuset none = CPUSET_INIT;

        w->removed = true;
        if (w->tfd >= 0) {
                /* No more re-reads of a cgroup that is gone. */
                epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->tfd, NULL);
                close(w->tfd);
                w->tfd = -1;
        }
        w->cur.seq++;
        w->cur.changed = CGPART_CHANGED_REMOVED;
        w->cb(w->userdata, &w->cur, &none, &w->cur.cpus);
        return -ENODEV;
}

/* Re-read and deliver a change: 1, 0 (nothing changed) or an error. */
static int refresh(struct cgwatch *w) {
        struct cgpart_limits n = { 0 };
        struct cpuset added = CPUSET_INIT, removed = CPUSET_INIT;
        dev_t dev;
        ino_t ino;
        int r;

        r = cgpart_read(&w->cg, &n, &w->err);
        if (r == -ENODEV || (r >= 0 && (dir_identity(w, &dev, &ino) < 0 || dev != w->dev || ino != w->ino))) {
                cgpart_limits_deinit(&n);
                return deliver_removed(w);
        }
        if (r < 0)
                return r;
        add_watches(w);
        n.changed = cgpart_limits_diff(&w->cur, &n);
        if (!n.changed) {
                cgpart_limits_deinit(&n);
                return 0;
        }
        r = cpus_minus(&n.cpus, &w->cur.cpus, &added);
        if (r >= 0)
                r = cpus_minus(&w->cur.cpus, &n.cpus, &removed);
        if (r >= 0) {
                n.seq = w->cur.seq + 1;
                cgpart_limits_deinit(&w->cur);
                w->cur = n;
                n.cpus = (struct cpuset)CPUSET_INIT;
                w->cb(w->userdata, &w->cur, &added, &removed);
                r = 1;
        }
        cpuset_deinit(&n.cpus);
        cpuset_deinit(&added);
        cpuset_deinit(&removed);
        return r;
}

/* Drain the inotify queue; true if the watched directory went away. */
static bool drain_inotify(struct cgwatch *w) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool gone = false;
        ssize_t n;

        while ((n = read(w->ifd, buf, sizeof(buf))) > 0)
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *)p;
                        if ((ev->mask & IN_DELETE_SELF) && (ev->mask & IN_ISDIR))
                                gone = true;
                        p += sizeof(*ev) + ev->len;
                }
        return gone;
}

int cgwatch_process(struct cgwatch *w) {
        struct epoll_event evs[8];
        bool dirty = false;
        char buf[256];
        uint64_t ticks;
        int n;

        if (w->removed)
                return -ENODEV;
        n = epoll_wait(w->epfd, evs, 8, 0);
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        for (int i = 0; i < n; i++) {
                switch (evs[i].data.u32) {
                case TAG_INOTIFY:
                        (void)drain_inotify(w);
                        dirty = true;
                        break;
                case TAG_TIMER:
                        (void)!read(w->tfd, &ticks, sizeof(ticks));
                        dirty = true;
                        break;
                case TAG_EVENTS:
                        /* Reading from the start acknowledges the kernfs
                         * event; EPOLLERR and ENODEV mean the cgroup went
                         * away, which the re-read finds out. */
                        if (pread(w->evfd, buf, sizeof(buf), 0) < 0 || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
                                epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->evfd, NULL);
                                close(w->evfd);
                                w->evfd = -1;
                        }
                        dirty = true;
                        break;
                case TAG_PSI:
                        /* epoll_wait's poll consumed the trigger's event;
                         * EPOLLERR: the cgroup went away, the next re-read
                         * finds out. */
                        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                                epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->psifd, NULL);
                                close(w->psifd);
                                w->psifd = -1;
                                dirty = true;
                        }
                        w->pressure = true;
                        break;
                }
        }
        return dirty ? refresh(w) : 0;
}
