/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dhp.h"
#include "lib/affinity.h"

/* What the library did to one thread. */
struct affinity_thread {
        pid_t tid;
        bool own;               /* the thread set its own mask: left alone */
        bool seen;              /* listed in this pass */
        struct cpuset removed;  /* taken away by the library, owed back */
        struct cpuset mask;     /* the mask the library left */
};

/* ---- the kernel's side ------------------------------------------------------ */

/* Cpus_allowed_list of /proc/self/task/TID/status: the mask as the kernel
 * keeps it, offline processors included (sched_getaffinity() masks those
 * out, and a mask rebuilt from it would lose them for good). */
static int kernel_get(void *ud, pid_t tid, struct cpuset *ret) {
        char path[64], line[4096];
        FILE *f;
        int r = -ENOENT;

        snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ESRCH : -errno;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
                        cpuset_zero(ret);
                        r = cpuset_parse(ret, line + 18 + strspn(line + 18, " \t"));
                        break;
                }
        fclose(f);
        return r;
}

static int kernel_set(void *ud, pid_t tid, const struct cpuset *set) {
        int64_t max = -1;
        cpu_set_t *m;
        size_t size;
        int r = 0;

        for (int64_t c = cpuset_next(set, 0); c >= 0; c = cpuset_next(set, (uint32_t)c + 1))
                max = c;
        if (max < 0)
                return -EINVAL;
        m = CPU_ALLOC((size_t)max + 1);
        if (!m)
                return -ENOMEM;
        size = CPU_ALLOC_SIZE((size_t)max + 1);
        CPU_ZERO_S(size, m);
        for (int64_t c = cpuset_next(set, 0); c >= 0; c = cpuset_next(set, (uint32_t)c + 1))
                CPU_SET_S((size_t)c, size, m);
        if (sched_setaffinity(tid, size, m) < 0)
                r = -errno;
        CPU_FREE(m);
        return r;
}

static int kernel_threads(void *ud, pid_t **ret, size_t *ret_n) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;
        pid_t *v = NULL;
        size_t n = 0, cap = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char *end;
                long tid = strtol(de->d_name, &end, 10);

                if (de->d_name[0] == '.' || *end || tid <= 0)
                        continue;
                if (n == cap) {
                        pid_t *p = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
                        if (!p) {
                                free(v);
                                closedir(d);
                                return -ENOMEM;
                        }
                        v = p;
                }
                v[n++] = (pid_t)tid;
        }
        closedir(d);
        *ret = v;
        *ret_n = n;
        return 0;
}

const struct affinity_sys affinity_sys_kernel = { .get = kernel_get, .set = kernel_set, .threads = kernel_threads };

/* ---- set arithmetic ------------------------------------------------------- */

/* dst = a | b (b may be NULL) minus c (may be NULL). */
static int set_combine(struct cpuset *dst, const struct cpuset *a, const struct cpuset *b, const struct cpuset *c) {
        struct cpuset out = CPUSET_INIT;
        const struct cpuset *in[2] = { a, b };
        int r = 0;

        for (size_t i = 0; i < 2 && r >= 0; i++)
                for (int64_t x = in[i] ? cpuset_next(in[i], 0) : -1; x >= 0 && r >= 0;
                     x = cpuset_next(in[i], (uint32_t)x + 1))
                        if (!c || !cpuset_test(c, (uint32_t)x))
                                r = cpuset_set(&out, (uint32_t)x);
        if (r < 0) {
                cpuset_deinit(&out);
                return r;
        }
        cpuset_deinit(dst);
        *dst = out;
        return 0;
}

/* dst = a & b */
static int set_and(struct cpuset *dst, const struct cpuset *a, const struct cpuset *b) {
        struct cpuset out = CPUSET_INIT;
        int r = 0;

        for (int64_t x = cpuset_next(a, 0); x >= 0 && r >= 0; x = cpuset_next(a, (uint32_t)x + 1))
                if (cpuset_test(b, (uint32_t)x))
                        r = cpuset_set(&out, (uint32_t)x);
        if (r < 0) {
                cpuset_deinit(&out);
                return r;
        }
        cpuset_deinit(dst);
        *dst = out;
        return 0;
}

/* ---- the records -------------------------------------------------------------- */

static struct affinity_thread *record_find(struct affinity *a, pid_t tid) {
        for (size_t i = 0; i < a->nthreads; i++)
                if (a->threads[i].tid == tid)
                        return &a->threads[i];
        return NULL;
}

/* A thread not in the records: one created while processors were
 * withheld, from a thread the library reduced, carries that thread's
 * mask and takes its record; any other starts with nothing owed. */
static struct affinity_thread *record_new(struct affinity *a, pid_t tid, const struct cpuset *cur) {
        struct affinity_thread *t, *from = NULL;

        for (size_t i = 0; i < a->nthreads && !from; i++)
                if (!a->threads[i].own && cpuset_count(&a->threads[i].removed) > 0 &&
                    cpuset_equal(&a->threads[i].mask, cur))
                        from = &a->threads[i];
        if (a->nthreads == a->capthreads) {
                size_t cap = a->capthreads ? 2 * a->capthreads : 16;
                size_t at = from ? (size_t)(from - a->threads) : 0;
                t = realloc(a->threads, cap * sizeof(*t));
                if (!t)
                        return NULL;
                a->threads = t;
                a->capthreads = cap;
                if (from)
                        from = &a->threads[at];
        }
        t = &a->threads[a->nthreads];
        *t = (struct affinity_thread){ .tid = tid, .removed = CPUSET_INIT, .mask = CPUSET_INIT };
        if (cpuset_copy(&t->mask, cur) < 0 || (from && cpuset_copy(&t->removed, &from->removed) < 0)) {
                cpuset_deinit(&t->mask);
                cpuset_deinit(&t->removed);
                return NULL;
        }
        a->nthreads++;
        return t;
}

static void records_sweep(struct affinity *a, bool all) {
        size_t j = 0;

        for (size_t i = 0; i < a->nthreads; i++) {
                if (!all && a->threads[i].seen) {
                        a->threads[j++] = a->threads[i];
                        continue;
                }
                cpuset_deinit(&a->threads[i].removed);
                cpuset_deinit(&a->threads[i].mask);
        }
        a->nthreads = j;
}

/* One thread: give back what it is owed and (unless releasing) take away
 * what is not admitted; record the outcome. */
static void thread_pass(struct affinity *a, struct affinity_thread *t, const struct cpuset *cur, bool releasing) {
        struct cpuset back = CPUSET_INIT, take = CPUSET_INIT, want = CPUSET_INIT;

        if (releasing) {
                if (cpuset_copy(&back, &t->removed) < 0)
                        goto out;
        } else if (set_and(&back, &t->removed, &a->admitted) < 0 || set_combine(&take, cur, NULL, &a->admitted) < 0) {
                goto out;
        }
        if (cpuset_count(&back) == 0 && cpuset_count(&take) == 0)
                goto out;
        if (set_combine(&want, cur, &back, &take) < 0)
                goto out;
        if (cpuset_count(&want) == 0) {
                /* Pinned only to processors not admitted: the
                 * application's choice, left alone. */
                t->own = true;
                goto out;
        }
        if (a->sys.set(a->sys.userdata, t->tid, &want) < 0)
                goto out;
        (void)set_combine(&t->removed, &t->removed, &take, &back);
        /* What the kernel made of it (a cgroup may narrow it). */
        if (a->sys.get(a->sys.userdata, t->tid, &t->mask) < 0)
                (void)cpuset_copy(&t->mask, &want);
out:
        cpuset_deinit(&back);
        cpuset_deinit(&take);
        cpuset_deinit(&want);
}

/* Every thread of the process, under a->lock.  Two rounds: every mask is
 * read and every new thread matched to its creator's record first, then
 * masks change; matching after a change would miss the creator's old
 * mask. */
static void pass(struct affinity *a, bool releasing) {
        struct cpuset *cur = NULL;
        pid_t *tids = NULL;
        size_t n = 0;

        if (!releasing && !a->known)
                return;
        if (a->sys.threads(a->sys.userdata, &tids, &n) < 0)
                return;
        cur = calloc(n ? n : 1, sizeof(*cur));
        if (!cur) {
                free(tids);
                return;
        }
        for (size_t i = 0; i < a->nthreads; i++)
                a->threads[i].seen = false;
        for (size_t i = 0; i < n; i++) {
                struct affinity_thread *t;

                if (a->sys.get(a->sys.userdata, tids[i], &cur[i]) < 0) {
                        tids[i] = 0; /* exited meanwhile */
                        continue;
                }
                t = record_find(a, tids[i]);
                if (t && !t->own && !cpuset_equal(&cur[i], &t->mask))
                        t->own = true; /* it set its own mask: that wins */
                if (t)
                        t->seen = true;
        }
        /* Releasing too: an inheritor still gets its due. */
        for (size_t i = 0; i < n; i++) {
                struct affinity_thread *t;

                if (tids[i] && !record_find(a, tids[i]) && (t = record_new(a, tids[i], &cur[i])))
                        t->seen = true;
        }
        for (size_t i = 0; i < n; i++) {
                struct affinity_thread *t = tids[i] ? record_find(a, tids[i]) : NULL;

                if (t && !t->own)
                        thread_pass(a, t, &cur[i], releasing);
                cpuset_deinit(&cur[i]);
        }
        free(cur);
        free(tids);
        records_sweep(a, releasing);
}

/* ---- the API -------------------------------------------------------------------- */

void affinity_init(struct affinity *a) {
        *a = (struct affinity){ .sys = affinity_sys_kernel, .admitted = CPUSET_INIT };
        pthread_mutex_init(&a->lock, NULL);
}

void affinity_deinit(struct affinity *a) {
        pthread_mutex_lock(&a->lock);
        if (a->holds > 0)
                pass(a, true);
        records_sweep(a, true);
        pthread_mutex_unlock(&a->lock);
        free(a->threads);
        cpuset_deinit(&a->admitted);
        pthread_mutex_destroy(&a->lock);
}

void affinity_set_sys(struct affinity *a, const struct affinity_sys *sys) {
        pthread_mutex_lock(&a->lock);
        a->sys = *sys;
        pthread_mutex_unlock(&a->lock);
}

void affinity_set_admitted(struct affinity *a, const struct cpuset *set) {
        pthread_mutex_lock(&a->lock);
        if (cpuset_copy(&a->admitted, set) >= 0)
                a->known = cpuset_count(set) > 0;
        if (a->holds > 0)
                pass(a, false);
        pthread_mutex_unlock(&a->lock);
}

void affinity_set_states(struct affinity *a, const uint8_t *state, uint32_t n) {
        struct cpuset set = CPUSET_INIT;

        for (uint32_t i = 0; i < n; i++)
                if (state[i] == DHP_PROC_ADMITTED && cpuset_set(&set, i) < 0)
                        goto out;
        affinity_set_admitted(a, &set);
out:
        cpuset_deinit(&set);
}

void affinity_admit(struct affinity *a, uint32_t cpu) {
        pthread_mutex_lock(&a->lock);
        if (cpuset_set(&a->admitted, cpu) >= 0)
                a->known = true;
        if (a->holds > 0)
                pass(a, false);
        pthread_mutex_unlock(&a->lock);
}

void affinity_hold(struct affinity *a) {
        pthread_mutex_lock(&a->lock);
        if (a->holds++ == 0)
                pass(a, false);
        pthread_mutex_unlock(&a->lock);
}

void affinity_release(struct affinity *a) {
        pthread_mutex_lock(&a->lock);
        if (a->holds > 0 && --a->holds == 0)
                pass(a, true);
        pthread_mutex_unlock(&a->lock);
}
