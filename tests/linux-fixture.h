/* SPDX-License-Identifier: MIT */
/*
 * The Linux platform over a fake sysfs tree, for the tests of
 * src/platform/linux that run the whole platform: uevents sent over a
 * socketpair, sysfs writes logged (and failed on demand) by an injected
 * writer, the notification stream recorded.
 */
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "fake-sysfs.h"
#include "helpers.h"
#include "platform/linux/linux.h"

/* The platform's sysfs writes, each as "PATH=VALUE" (PATH from its "/sys/"
 * on), and the injected failures. */
struct linux_fixture_writes {
        char log[64][160];
        int n;
        int fail_err;           /* fail writes matching fail_path/fail_value with this */
        const char *fail_path;  /* substring */
        const char *fail_value; /* exact, NULL: any */
        int fail_times;         /* -1: always */
        int sleeps;
};

static inline int linux_fixture_write(void *userdata, const char *path, const char *value, size_t len) {
        struct linux_fixture_writes *w = userdata;
        const char *tail = strstr(path, "/sys/");

        if (w->n < 64)
                snprintf(w->log[w->n++], sizeof(w->log[0]), "%s=%.*s", tail ? tail : path, (int)len, value);
        if (w->fail_err && w->fail_times != 0 && strstr(path, w->fail_path) &&
            (!w->fail_value || strncmp(value, w->fail_value, len) == 0)) {
                if (w->fail_times > 0)
                        w->fail_times--;
                return w->fail_err;
        }
        return sysfs_write_file(NULL, path, value, len);
}

/* The platform's retry waits are counted, not slept. */
static inline void linux_fixture_sleep(void *userdata, uint64_t ns) {
        struct linux_fixture_writes *w = userdata;

        (void)ns;
        w->sleeps++;
}

struct linux_fixture {
        struct fake_sysfs fs;
        int sv[2];
        uint64_t seq;
        struct linux_fixture_writes w;
        struct sysfs_writer writer;
        struct linux_platform *lp;
        struct engine *e;
        struct recorder rec;
        dhp_monitor *mon;
};

static inline void linux_fixture_send_uevent(struct linux_fixture *f, const char *action, const char *devpath,
                                             const char *subsystem) {
        char buf[512];
        int n;

        n = snprintf(buf, sizeof(buf), "%s@%s%cACTION=%s%cDEVPATH=%s%cSUBSYSTEM=%s%cSEQNUM=%llu", action, devpath, 0,
                     action, 0, devpath, 0, subsystem, 0, (unsigned long long)++f->seq);
        assert_int_equal(send(f->sv[1], buf, (size_t)n + 1, 0), n + 1);
}

/* Start the platform over f->fs (made by the test), managing app.slice;
 * tweak (if not NULL) changes the configuration first. */
static inline void linux_fixture_start(struct linux_fixture *f, void (*tweak)(struct linux_config *)) {
        struct linux_config lc;

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, f->sv), 0);
        f->writer = (struct sysfs_writer){ .write = linux_fixture_write, .sleep = linux_fixture_sleep,
                                           .userdata = &f->w };
        linux_config_defaults(&lc);
        lc.root = f->fs.root;
        lc.uevent_fd = f->sv[0];
        lc.writer = &f->writer;
        lc.cgroups[0] = "app.slice";
        lc.ncgroups = 1;
        if (tweak)
                tweak(&lc);
        assert_int_equal(linux_platform_new(&f->lp, &lc, NULL), 0);
        f->e = linux_platform_engine(f->lp);
        memset(&f->rec, 0, sizeof(f->rec));
        pthread_mutex_init(&f->rec.lock, NULL);
        assert_int_equal(engine_monitor_add(f->e, recorder_cb, &f->rec, &f->mon), 0);
        assert_int_equal(linux_platform_start(f->lp), 0);
}

static inline void linux_fixture_stop(struct linux_fixture *f) {
        engine_monitor_remove(f->mon);
        for (size_t i = 0; i < f->rec.n; i++)
                free(f->rec.line[i]);
        linux_platform_free(f->lp); /* closes sv[0] */
        close(f->sv[1]);
        fake_sysfs_deinit(&f->fs);
}

/* The file's content, its trailing newline dropped, is `want`. */
static inline void linux_fixture_expect_file(struct linux_fixture *f, const char *rel, const char *want) {
        char buf[256];

        assert_true(fake_sysfs_read(&f->fs, rel, buf, sizeof(buf)) >= 0);
        buf[strcspn(buf, "\n")] = 0;
        assert_string_equal(buf, want);
}
