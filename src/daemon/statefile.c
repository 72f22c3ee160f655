/* SPDX-License-Identifier: MIT */
/*
 * The state file (statefile.h, doc/protocol.md "The state file").
 *
 * Locks: refresh_lock (one engine read at a time, taken on the hook's
 * thread) -> the engine's locks; the memory condition module's lock ->
 * lock (the rendered state and the queue).  Nothing calls the engine with
 * `lock` held, so the listener, which runs under the memory condition
 * module's lock, may take it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/memcond.h"
#include "daemon/statefile.h"
#include "util/cpuset.h"
#include "util/strbuf.h"

/* Versions waiting for the writer.  Past this many (a writer stalled on a
 * full or slow disk) the newest one queued is replaced: the file always
 * reaches the latest state, and its seq then skips the versions never
 * written. */
#define STATEFILE_QUEUE_MAX 64

struct version {
        struct version *next;
        char *text;
};

struct cond_listener {
        struct memcond_listener l;
        struct statefile *sf;
};

struct statefile {
        struct engine *engine;
        struct logger log;
        char *path, *tmp_path;

        pthread_mutex_t refresh_lock;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        /* Under lock: the state as last learnt, and its last rendering. */
        char *cpus;          /* the admitted processors, a CPU list */
        uint32_t ncpus;      /* how many */
        uint64_t memory;     /* bytes online */
        bool cond_set[_MEMCOND_MAX];
        bool following;      /* the first version was rendered */
        char *last;          /* the last rendering, seq line aside */
        uint64_t seq;
        struct version *head, *tail;
        unsigned queued;
        bool writing, stop;
        int last_error;      /* of the writer, reported once per streak */

        struct cond_listener listeners[_MEMCOND_MAX];
        pthread_t writer;
        bool started;        /* version 1 written: later ones are the writer's */
        bool writer_running; /* under lock */
};

/* The file's content, without its seq line (compared to tell a change). */
static char *render_body_locked(struct statefile *sf) {
        struct strbuf sb = STRBUF_INIT;

        strbuf_printf(&sb, "cpus=%s\nncpus=%u\nmemory=%llu\n", sf->cpus ? sf->cpus : "", sf->ncpus,
                      (unsigned long long)sf->memory);
        for (unsigned k = 0; k < _MEMCOND_MAX; k++)
                strbuf_printf(&sb, "%s=%d\n", memcond_name((enum memcond_kind)k), sf->cond_set[k]);
        return strbuf_steal(&sb);
}

static void *writer_thread(void *userdata);

/* The writer starts with the first version after version 1 (which
 * statefile_new() writes itself): a partition that never changes keeps no
 * thread for it.  Failing that, the version waits, and the next change
 * tries again.  Called with lock held. */
static void writer_ensure_locked(struct statefile *sf) {
        int r;

        if (sf->writer_running || sf->stop || !sf->started)
                return;
        r = -pthread_create(&sf->writer, NULL, writer_thread, sf);
        if (r < 0)
                log_warning(&sf->log, "state file: cannot start its writer: %s; %s is behind until the next change",
                            strerror(-r), sf->path);
        sf->writer_running = r == 0;
}

/* Render a version when the content changed, and queue it for the writer.
 * Called with lock held. */
static void publish_locked(struct statefile *sf) {
        struct version *v;
        char *body, *text;

        if (!sf->following)
                return;
        body = render_body_locked(sf);
        if (!body)
                goto nomem;
        if (sf->last && strcmp(body, sf->last) == 0) {
                free(body);
                return;
        }
        if (asprintf(&text, "# dhpd state (doc/protocol.md)\nversion=1\nseq=%llu\n%s",
                     (unsigned long long)(sf->seq + 1), body) < 0) {
                free(body);
                goto nomem;
        }
        sf->seq++;
        free(sf->last);
        sf->last = body;
        if (sf->queued >= STATEFILE_QUEUE_MAX) {
                free(sf->tail->text);
                sf->tail->text = text;
        } else {
                v = calloc(1, sizeof(*v));
                if (!v) {
                        free(text);
                        goto nomem;
                }
                v->text = text;
                if (sf->tail)
                        sf->tail->next = v;
                else
                        sf->head = v;
                sf->tail = v;
                sf->queued++;
        }
        writer_ensure_locked(sf);
        pthread_cond_broadcast(&sf->cond);
        return;
nomem:
        /* Forget the last rendering: the next change, whatever it is,
         * writes the whole state again. */
        free(sf->last);
        sf->last = NULL;
        log_warning(&sf->log, "state file: out of memory; %s is behind until the next change", sf->path);
}

/* The processors and memory as the engine has them now. */
static void refresh(struct statefile *sf) {
        struct cpuset set = CPUSET_INIT;
        struct strbuf sb = STRBUF_INIT;
        struct engine_mem_info mi;
        uint64_t memory = 0;
        uint32_t n = engine_cpu_count(sf->engine);
        char *cpus;

        pthread_mutex_lock(&sf->refresh_lock);
        for (uint32_t i = 0; i < n; i++) {
                dhp_proc_state st;
                if (engine_cpu_get_state(sf->engine, i, &st) == 0 && st == DHP_PROC_ADMITTED)
                        cpuset_set(&set, i);
        }
        for (uint64_t id = 0; engine_mem_device_info(sf->engine, id, &mi) == 0; id++)
                if (mi.nblocks && !mi.removed)
                        memory += mi.size / mi.nblocks * mi.online_blocks;
        cpuset_format(&set, &sb);
        cpus = strbuf_steal(&sb);
        pthread_mutex_lock(&sf->lock);
        if (cpus) {
                free(sf->cpus);
                sf->cpus = cpus;
                sf->ncpus = cpuset_count(&set);
        }
        sf->memory = memory;
        publish_locked(sf);
        pthread_mutex_unlock(&sf->lock);
        pthread_mutex_unlock(&sf->refresh_lock);
        cpuset_deinit(&set);
}

/* Every hook kind, present and future (a processor removed, ...), may
 * change the processors or the memory: read both; an unchanged content
 * writes nothing. */
static void on_hook(struct engine *e, enum engine_hook_kind kind, uint64_t arg, void *userdata) {
        refresh(userdata);
}

/* Under the memory condition module's lock: no engine call. */
static void on_cond(struct memcond_listener *l, bool set) {
        struct cond_listener *cl = (struct cond_listener *)l;
        struct statefile *sf = cl->sf;

        pthread_mutex_lock(&sf->lock);
        sf->cond_set[l->kind] = set;
        publish_locked(sf);
        pthread_mutex_unlock(&sf->lock);
}

/* Write one version: a temporary file, renamed over the state file.  No
 * fsync: the directory is on tmpfs (/run), which a crash empties anyway;
 * what readers need is the rename's atomicity. */
static int write_version(struct statefile *sf, const char *text) {
        size_t len = strlen(text), off = 0;
        int fd, r = 0;

        fd = open(sf->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        while (off < len) {
                ssize_t n = write(fd, text + off, len - off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                off += (size_t)n;
        }
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(sf->tmp_path, sf->path) < 0)
                r = -errno;
        if (r < 0)
                unlink(sf->tmp_path);
        return r;
}

static void *writer_thread(void *userdata) {
        struct statefile *sf = userdata;

        pthread_mutex_lock(&sf->lock);
        for (;;) {
                struct version *v;
                int r;

                /* writing: statefile_new() writes version 1 itself. */
                while ((!sf->head || sf->writing) && !sf->stop)
                        pthread_cond_wait(&sf->cond, &sf->lock);
                if (!sf->head)
                        break; /* stopping, everything written */
                v = sf->head;
                sf->head = v->next;
                if (!sf->head)
                        sf->tail = NULL;
                sf->queued--;
                sf->writing = true;
                pthread_mutex_unlock(&sf->lock);
                r = write_version(sf, v->text);
                if (r < 0 && r != sf->last_error)
                        log_warning(&sf->log, "cannot write the state file %s: %s", sf->path, strerror(-r));
                free(v->text);
                free(v);
                pthread_mutex_lock(&sf->lock);
                sf->last_error = r;
                sf->writing = false;
                pthread_cond_broadcast(&sf->cond);
        }
        pthread_mutex_unlock(&sf->lock);
        return NULL;
}

/* mkdir -p: /run exists on a real system, not always under a test root. */
static int make_dir(const char *dir) {
        char p[4096];

        if (snprintf(p, sizeof(p), "%s/", dir) >= (int)sizeof(p))
                return -ENAMETOOLONG;
        for (char *s = p + 1; (s = strchr(s, '/')); s++) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

int statefile_new(struct statefile **ret, struct engine *e, const char *dir, struct logger *log) {
        struct statefile *sf;
        struct version *v;
        int r;

        if (!ret || !e || !dir || !dir[0])
                return -EINVAL;
        r = make_dir(dir);
        if (r < 0)
                return r;
        sf = calloc(1, sizeof(*sf));
        if (!sf)
                return -ENOMEM;
        sf->engine = e;
        if (log)
                sf->log = *log;
        pthread_mutex_init(&sf->refresh_lock, NULL);
        pthread_mutex_init(&sf->lock, NULL);
        pthread_cond_init(&sf->cond, NULL);
        if (asprintf(&sf->path, "%s/" STATEFILE_NAME, dir) < 0 ||
            asprintf(&sf->tmp_path, "%s/" STATEFILE_TMP_NAME, dir) < 0) {
                sf->path = sf->tmp_path = NULL; /* asprintf leaves them undefined */
                statefile_free(sf);
                return -ENOMEM;
        }
        /* The conditions first (each listener is told at once when its
         * event is set), then the hook, then the first reading: a change
         * from now on renders a version of its own. */
        for (unsigned k = 0; k < _MEMCOND_MAX; k++) {
                sf->listeners[k] = (struct cond_listener){ .l.kind = (enum memcond_kind)k, .l.fn = on_cond, .sf = sf };
                memcond_listen(e, &sf->listeners[k].l);
        }
        r = engine_hook_add(e, on_hook, sf);
        if (r < 0) {
                statefile_free(sf);
                return r;
        }
        /* Version 1 on disk before dhpd goes on (it says READY later), written
         * here rather than waiting for the writer to be scheduled: `writing`
         * keeps the writer off the queue meanwhile. */
        pthread_mutex_lock(&sf->lock);
        sf->following = true;
        sf->writing = true;
        pthread_mutex_unlock(&sf->lock);
        refresh(sf);
        pthread_mutex_lock(&sf->lock);
        v = sf->head;
        if (v) {
                sf->head = v->next;
                if (!sf->head)
                        sf->tail = NULL;
                sf->queued--;
        }
        pthread_mutex_unlock(&sf->lock);
        r = v ? write_version(sf, v->text) : -ENOMEM;
        if (v) {
                free(v->text);
                free(v);
        }
        pthread_mutex_lock(&sf->lock);
        sf->writing = false;
        sf->last_error = r;
        sf->started = true;
        if (sf->head)
                writer_ensure_locked(sf); /* changes came meanwhile */
        pthread_cond_broadcast(&sf->cond);
        pthread_mutex_unlock(&sf->lock);
        if (r < 0)
                log_warning(&sf->log, "cannot write the state file %s: %s; each change tries again", sf->path,
                            strerror(-r));
        *ret = sf;
        return 0;
}

void statefile_open(struct statefile **ret, struct engine *e, const char *state_dir, const char *root,
                    const char *socket_path, struct logger *log) {
        char dir[4096];
        int r;

        *ret = NULL;
        if (state_dir)
                snprintf(dir, sizeof(dir), "%s", state_dir);
        else if (root && root[0])
                snprintf(dir, sizeof(dir), "%s/run/dhp", root);
        else {
                snprintf(dir, sizeof(dir), "%s", socket_path ? socket_path : "");
                *(strrchr(dir, '/') ? strrchr(dir, '/') : dir) = 0;
        }
        if (!dir[0])
                return;
        r = statefile_new(ret, e, dir, log);
        if (r < 0)
                log_warning(log, "no state file in %s: %s", dir, strerror(-r));
}

void statefile_free(struct statefile *sf) {
        bool running;

        if (!sf)
                return;
        for (unsigned k = 0; k < _MEMCOND_MAX; k++)
                if (sf->listeners[k].sf)
                        memcond_unlisten(sf->engine, &sf->listeners[k].l);
        pthread_mutex_lock(&sf->lock);
        sf->stop = true;
        running = sf->writer_running;
        pthread_cond_broadcast(&sf->cond);
        pthread_mutex_unlock(&sf->lock);
        if (running)
                pthread_join(sf->writer, NULL);
        while (sf->head) {
                struct version *v = sf->head;
                sf->head = v->next;
                free(v->text);
                free(v);
        }
        free(sf->cpus);
        free(sf->last);
        free(sf->path);
        free(sf->tmp_path);
        pthread_cond_destroy(&sf->cond);
        pthread_mutex_destroy(&sf->lock);
        pthread_mutex_destroy(&sf->refresh_lock);
        free(sf);
}

uint64_t statefile_seq(struct statefile *sf) {
        uint64_t seq;

        pthread_mutex_lock(&sf->lock);
        seq = sf->seq;
        pthread_mutex_unlock(&sf->lock);
        return seq;
}
