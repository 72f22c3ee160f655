/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dhp.h"
#include "lib/affinity.h"

static cpu_set_t *to_mask(const struct cpuset *set, size_t *ret_size) {
        int64_t max = -1;
        cpu_set_t *m;
        size_t n;

        for (int64_t c = cpuset_next(set, 0); c >= 0; c = cpuset_next(set, (uint32_t)c + 1))
                max = c;
        n = (size_t)(max < 1023 ? 1024 : max + 1);
        m = CPU_ALLOC(n);
        if (!m)
                return NULL;
        *ret_size = CPU_ALLOC_SIZE(n);
        CPU_ZERO_S(*ret_size, m);
        for (int64_t c = cpuset_next(set, 0); c >= 0; c = cpuset_next(set, (uint32_t)c + 1))
                CPU_SET_S((size_t)c, *ret_size, m);
        return m;
}

int affinity_set_process(const struct cpuset *set, const struct logger *log) {
        size_t size;
        cpu_set_t *m;
        DIR *d;
        struct dirent *de;
        int n = 0, first_error = 0;

        if (cpuset_count(set) == 0)
                return -EINVAL;
        m = to_mask(set, &size);
        if (!m)
                return -ENOMEM;
        d = opendir("/proc/self/task");
        if (!d) {
                int r = -errno;
                CPU_FREE(m);
                return r;
        }
        while ((de = readdir(d))) {
                char *end;
                long tid = strtol(de->d_name, &end, 10);

                if (de->d_name[0] == '.' || *end || tid <= 0)
                        continue;
                if (sched_setaffinity((pid_t)tid, size, m) < 0) {
                        /* A thread that exited meanwhile is no error. */
                        if (errno != ESRCH) {
                                log_debug(log, "thread %ld: sched_setaffinity: %s", tid, strerror(errno));
                                if (!first_error)
                                        first_error = -errno;
                        }
                        continue;
                }
                n++;
        }
        closedir(d);
        CPU_FREE(m);
        return n > 0 ? n : (first_error ? first_error : -ESRCH);
}

void affinity_apply_states(const uint8_t *state, uint32_t n) {
        struct cpuset set = CPUSET_INIT;

        for (uint32_t i = 0; i < n; i++)
                if (state[i] == DHP_PROC_ADMITTED && cpuset_set(&set, i) < 0)
                        goto out;
        /* An empty set (nothing admitted yet) is refused: threads keep
         * their mask. */
        affinity_set_process(&set, NULL);
out:
        cpuset_deinit(&set);
}

void affinity_admitted_init(struct affinity_admitted *a) {
        pthread_mutex_init(&a->lock, NULL);
        a->set = (struct cpuset)CPUSET_INIT;
}

void affinity_admitted_deinit(struct affinity_admitted *a) {
        cpuset_deinit(&a->set);
        pthread_mutex_destroy(&a->lock);
}

void affinity_admitted_reset(struct affinity_admitted *a, struct cpuset *set) {
        pthread_mutex_lock(&a->lock);
        cpuset_deinit(&a->set);
        a->set = *set;
        *set = (struct cpuset)CPUSET_INIT;
        if (cpuset_count(&a->set) > 0)
                affinity_set_process(&a->set, NULL);
        pthread_mutex_unlock(&a->lock);
}

int affinity_admitted_add(struct affinity_admitted *a, uint32_t cpu) {
        int r;

        pthread_mutex_lock(&a->lock);
        r = cpuset_set(&a->set, cpu);
        if (r >= 0)
                r = affinity_set_process(&a->set, NULL);
        pthread_mutex_unlock(&a->lock);
        return r;
}
