/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/memcond.h"
#include "platform/linux/hotplug.h"
#include "util/wakefd.h"

struct linux_hotplug {
        struct linux_hotplug_config cfg;
        int stop_fd; /* readable: the thread must stop */
        int kick_fd; /* readable: on_kick and a resync are asked */
        int work_fd; /* readable: works are queued */
        pthread_t thread;
        pthread_mutex_t lock; /* works, stopped */
        struct linux_hotplug_work *works, **works_tail;
        bool stopped;
};

static void kicked(struct linux_hotplug *hp) {
        wakefd_drain(hp->kick_fd);
        if (hp->cfg.on_kick)
                hp->cfg.on_kick(hp->cfg.userdata);
        linux_platform_resync(hp->cfg.lp);
}

/* Take the queued works, in order. */
static struct linux_hotplug_work *works_take(struct linux_hotplug *hp) {
        struct linux_hotplug_work *w;

        pthread_mutex_lock(&hp->lock);
        w = hp->works;
        hp->works = NULL;
        hp->works_tail = &hp->works;
        pthread_mutex_unlock(&hp->lock);
        return w;
}

static void works_run(struct linux_hotplug_work *w, bool cancelled) {
        while (w) {
                struct linux_hotplug_work *next = w->next;
                w->fn(w, cancelled);
                w = next;
        }
}

/* The thread runs no more work: what is queued, and what comes, is
 * cancelled (answered) at once. */
static void works_close(struct linux_hotplug *hp) {
        pthread_mutex_lock(&hp->lock);
        hp->stopped = true;
        pthread_mutex_unlock(&hp->lock);
        works_run(works_take(hp), true);
}

static void *hotplug_thread(void *userdata) {
        struct linux_hotplug *hp = userdata;
        const struct logger *log = hp->cfg.log;
        struct engine *e = hp->cfg.memcond_engine;
        struct pollfd p[5] = {
                { .fd = linux_platform_get_fd(hp->cfg.lp), .events = POLLIN },
                { .fd = hp->stop_fd, .events = POLLIN },
                { .fd = hp->kick_fd, .events = POLLIN },
                { .fd = hp->cfg.psi_fd, .events = POLLPRI },
                { .fd = hp->work_fd, .events = POLLIN },
        };

        for (;;) {
                /* The earlier of the memory conditions' fallback timer and
                 * the platform's (a virtio-mem resize step that went quiet,
                 * memory the kernel was to online). */
                int tm = e ? memcond_next_timeout_ms(e) : -1, tp = linux_platform_next_timeout_ms(hp->cfg.lp);
                int n = poll(p, 5, tp >= 0 && (tm < 0 || tp < tm) ? tp : tm);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error(log, "hotplug thread: poll: %s", strerror(errno));
                        break;
                }
                if (n == 0) {
                        if (tp >= 0 && (tm < 0 || tp <= tm))
                                linux_platform_tick(hp->cfg.lp);
                        if (e && tm >= 0 && (tp < 0 || tm <= tp))
                                memcond_tick(e);
                        continue;
                }
                if (p[1].revents)
                        break;
                if (p[2].revents)
                        kicked(hp);
                if (p[4].revents) {
                        uint64_t v;
                        (void)!read(hp->work_fd, &v, sizeof(v));
                        works_run(works_take(hp), false);
                }
                if ((p[3].revents & POLLPRI) && e)
                        memcond_evaluate(e); /* memory pressure: re-read the levels now */
                if (p[3].revents & (POLLERR | POLLNVAL)) {
                        log_warning(log, "the PSI memory trigger failed; relying on the slow timer");
                        p[3].fd = -1;
                }
                if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
                        log_error(log, "the uevent socket failed; hot-added hardware is no longer seen");
                        break;
                }
                if (p[0].revents && linux_platform_process(hp->cfg.lp) < 0)
                        break;
        }
        /* Stopped early or asked to: whoever waits for a work gets an answer. */
        works_close(hp);
        return NULL;
}

static void hotplug_free(struct linux_hotplug *hp) {
        if (hp->stop_fd >= 0)
                close(hp->stop_fd);
        if (hp->kick_fd >= 0)
                close(hp->kick_fd);
        if (hp->work_fd >= 0)
                close(hp->work_fd);
        pthread_mutex_destroy(&hp->lock);
        free(hp);
}

int linux_hotplug_start(struct linux_hotplug **ret, const struct linux_hotplug_config *cfg) {
        struct linux_hotplug *hp;
        int r;

        hp = calloc(1, sizeof(*hp));
        if (!hp)
                return -ENOMEM;
        hp->cfg = *cfg;
        hp->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        hp->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        hp->work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        pthread_mutex_init(&hp->lock, NULL);
        hp->works_tail = &hp->works;
        if (hp->stop_fd < 0 || hp->kick_fd < 0 || hp->work_fd < 0) {
                r = -errno;
                hotplug_free(hp);
                return r;
        }
        r = -pthread_create(&hp->thread, NULL, hotplug_thread, hp);
        if (r < 0) {
                hotplug_free(hp);
                return r;
        }
        *ret = hp;
        return 0;
}

void linux_hotplug_kick(struct linux_hotplug *hp) {
        wakefd_signal(hp->kick_fd);
}

void linux_hotplug_submit(struct linux_hotplug *hp, struct linux_hotplug_work *w) {
        bool stopped;

        w->next = NULL;
        pthread_mutex_lock(&hp->lock);
        stopped = hp->stopped;
        if (!stopped) {
                *hp->works_tail = w;
                hp->works_tail = &w->next;
        }
        pthread_mutex_unlock(&hp->lock);
        if (stopped)
                w->fn(w, true);
        else
                wakefd_signal(hp->work_fd);
}

void linux_hotplug_stop(struct linux_hotplug *hp) {
        if (!hp)
                return;
        wakefd_signal(hp->stop_fd);
        pthread_join(hp->thread, NULL);
        works_close(hp);
        hotplug_free(hp);
}
