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
        pthread_t thread;
};

static void kicked(struct linux_hotplug *hp) {
        wakefd_drain(hp->kick_fd);
        if (hp->cfg.on_kick)
                hp->cfg.on_kick(hp->cfg.userdata);
        linux_platform_resync(hp->cfg.lp);
}

static void *hotplug_thread(void *userdata) {
        struct linux_hotplug *hp = userdata;
        const struct logger *log = hp->cfg.log;
        struct engine *e = hp->cfg.memcond_engine;
        struct pollfd p[4] = {
                { .fd = linux_platform_get_fd(hp->cfg.lp), .events = POLLIN },
                { .fd = hp->stop_fd, .events = POLLIN },
                { .fd = hp->kick_fd, .events = POLLIN },
                { .fd = hp->cfg.psi_fd, .events = POLLPRI },
        };

        for (;;) {
                int n = poll(p, 4, e ? memcond_next_timeout_ms(e) : -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error(log, "hotplug thread: poll: %s", strerror(errno));
                        break;
                }
                if (n == 0) {
                        if (e)
                                memcond_tick(e);
                        continue;
                }
                if (p[1].revents)
                        break;
                if (p[2].revents)
                        kicked(hp);
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
        return NULL;
}

static void hotplug_free(struct linux_hotplug *hp) {
        if (hp->stop_fd >= 0)
                close(hp->stop_fd);
        if (hp->kick_fd >= 0)
                close(hp->kick_fd);
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
        if (hp->stop_fd < 0 || hp->kick_fd < 0) {
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

void linux_hotplug_stop(struct linux_hotplug *hp) {
        if (!hp)
                return;
        wakefd_signal(hp->stop_fd);
        pthread_join(hp->thread, NULL);
        hotplug_free(hp);
}
