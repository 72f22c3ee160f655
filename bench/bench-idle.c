/* SPDX-License-Identifier: MIT */
/*
 * bench-idle: what an idle dhpd costs the machine, beside an idle
 * `sleep`, in the same run: wake-ups over a window (the voluntary and
 * involuntary context switches of every thread, /proc/PID/task/N/status)
 * and resident memory (VmRSS, with its anonymous and file-backed parts).
 *
 *   sim     dhpd --platform sim --foreground
 *   linux   dhpd --platform linux --root TREE --uevent-fd N --foreground,
 *           against a fake sysfs (8 CPUs, 64 blocks) on tmpfs, with no PSI
 *           trigger there: the memory conditions' slow timer (30 s by
 *           default) is its only expected wake-up.  It runs because the
 *           state file (on by default) shows the five memory conditions
 *           to readers dhpd cannot know of: nothing else tells dhpd that
 *           MemAvailable drifted (PSI reports pressure only, never that
 *           memory became plentiful, HighMemoryCondition)
 *   linux, no state file   the same with --state-dir "": nobody is told
 *           of the memory conditions, so the timer does not run (it starts
 *           with a client's subscription) and dhpd never wakes
 *
 *   bench-idle DHPD [WINDOW_SECONDS]   (default 60)
 *   BENCH_IDLE_ONLY=sim|nss|linux|quiet: that dhpd alone, beside sleep
 *   BENCH_IDLE_SMAPS=1: each process's mappings (Rss, anonymous) on stderr
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tests/fake-sysfs.h"
#include "bench.h"

struct sample {
        unsigned long long switches; /* voluntary + involuntary, all threads */
        unsigned threads;
        unsigned long rss_kb, anon_kb, file_kb;
};

static unsigned long long field(const char *text, const char *name) {
        const char *p = strstr(text, name);
        return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

static int read_text(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        close(fd);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

static int take(pid_t pid, struct sample *s) {
        char path[512], buf[4096];
        struct dirent *de;
        DIR *d;

        *s = (struct sample){ 0 };
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        if (read_text(path, buf, sizeof(buf)) < 0)
                return -1;
        s->rss_kb = field(buf, "VmRSS:");
        s->anon_kb = field(buf, "RssAnon:");
        s->file_kb = field(buf, "RssFile:");
        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, de->d_name);
                if (read_text(path, buf, sizeof(buf)) < 0)
                        continue;
                s->switches += field(buf, "\nvoluntary_ctxt_switches:") + field(buf, "nonvoluntary_ctxt_switches:");
                s->threads++;
        }
        closedir(d);
        return 0;
}

/* Start argv with stdout on a pipe and wait for `ready` on it (NULL: no
 * wait).  keep_fd stays open in the child. */
static pid_t spawn(char *const argv[], const char *ready, int keep_fd) {
        int p[2];
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(p[1], 1);
                if (null >= 0)
                        dup2(null, 2);
                if (keep_fd >= 0)
                        fcntl(keep_fd, F_SETFD, 0);
                execv(argv[0], argv);
                _exit(127);
        }
        close(p[1]);
        if (ready) {
                char buf[256] = "";
                size_t len = 0;
                while (len < sizeof(buf) - 1) {
                        ssize_t n = read(p[0], buf + len, sizeof(buf) - 1 - len);
                        if (n <= 0)
                                break;
                        len += (size_t)n;
                        buf[len] = 0;
                        if (strstr(buf, ready))
                                break;
                }
                if (!strstr(buf, ready)) {
                        fprintf(stderr, "bench-idle: %s did not say %s\n", argv[0], ready);
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        close(p[0]);
                        return -1;
                }
        }
        close(p[0]);
        return pid;
}

static void stop(pid_t pid) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
}

struct result {
        struct sample a, b;
};

/* BENCH_IDLE_SMAPS=1: where the resident memory is, mapping by mapping
 * (Rss and its anonymous part, kB), on stderr: what to look at when the
 * figures move. */
static void print_smaps(pid_t pid) {
        char path[64], line[512], name[512] = "";
        unsigned long rss = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return;
        fprintf(stderr, "smaps of %d: Rss Anonymous mapping\n", (int)pid);
        while (fgets(line, sizeof(line), f)) {
                unsigned long v;
                if (sscanf(line, "Rss: %lu", &v) == 1)
                        rss = v;
                else if (sscanf(line, "Anonymous: %lu", &v) == 1) {
                        if (rss)
                                fprintf(stderr, "%6lu %6lu %s", rss, v, name);
                } else if (strspn(line, "0123456789abcdef") > 0 && line[strspn(line, "0123456789abcdef")] == '-') {
                        snprintf(name, sizeof(name), "%s", line);
                }
        }
        fclose(f);
}

static int measure(pid_t pid, unsigned window, struct result *r) {
        /* Let start-up settle (the first memory evaluation, thread start). */
        usleep(200 * 1000);
        if (take(pid, &r->a) < 0)
                return -1;
        sleep(window);
        if (getenv("BENCH_IDLE_SMAPS"))
                print_smaps(pid);
        return take(pid, &r->b);
}

/* One dhpd's runs beside the baseline's (sleep) runs. */
static void print(const char *what, const struct result *r, const struct result *base, unsigned runs,
                  unsigned expected) {
        double w[BENCH_RUNS_MAX], bw[BENCH_RUNS_MAX], m[BENCH_RUNS_MAX], bm[BENCH_RUNS_MAX], a[BENCH_RUNS_MAX],
                ba[BENCH_RUNS_MAX];

        for (unsigned k = 0; k < runs; k++) {
                w[k] = (double)(r[k].b.switches - r[k].a.switches);
                bw[k] = (double)(base[k].b.switches - base[k].a.switches);
                m[k] = (double)r[k].b.rss_kb;
                bm[k] = (double)base[k].b.rss_kb;
                a[k] = (double)r[k].b.anon_kb;
                ba[k] = (double)base[k].b.anon_kb;
        }
        printf("  %s: %u thread(s), %u wake-up(s) expected\n", what, r[0].b.threads, expected);
        bench_print_pair("  wake-ups / sleep", bench_stat_of(w, runs), bench_stat_of(bw, runs), NULL, "");
        bench_print_pair("  VmRSS / sleep", bench_stat_of(m, runs), bench_stat_of(bm, runs), NULL, "kB");
        bench_print_pair("  RssAnon / sleep", bench_stat_of(a, runs), bench_stat_of(ba, runs), NULL, "kB");
}

/* BENCH_IDLE_ONLY=sim|nss|linux|quiet measures that dhpd alone (beside sleep). */
static bool want(const char *only, const char *what) {
        return !only || !only[0] || strcmp(only, what) == 0;
}

/* Start argv, measure it over the window, stop it. */
static int run_one(char *const argv[], const char *ready, int keep_fd, unsigned window, struct result *r) {
        pid_t pid = spawn(argv, ready, keep_fd);
        int ret;

        if (pid < 0)
                return -1;
        ret = measure(pid, window, r);
        stop(pid);
        return ret;
}

int main(int argc, char **argv) {
        const char *dhpd = argc > 1 ? argv[1] : "build/src/dhpd";
        unsigned window = argc > 2 ? (unsigned)atoi(argv[2]) : 60;
        char conf[] = "/tmp/dhp-bench-idle-XXXXXX", nssconf[] = "/tmp/dhp-bench-idle-nss-XXXXXX";
        static const char nss_text[] = "[daemon]\ngroup = dhp-bench-no-such-group\n";
        char sockdir[] = "/tmp/dhp-bench-idle-sock-XXXXXX", sock[64] = "";
        char win[16], fdarg[16];
        struct fake_sysfs f = { 0 };
        static struct result rs[BENCH_RUNS_MAX], rb[BENCH_RUNS_MAX], rl[BENCH_RUNS_MAX], rn[BENCH_RUNS_MAX],
                rq[BENCH_RUNS_MAX];
        unsigned runs = bench_runs();
        const char *only = getenv("BENCH_IDLE_ONLY");
        struct stat st;
        int sv[2], cfd, rc = 1;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (window == 0)
                window = 1;
        if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
                setenv("TMPDIR", "/dev/shm", 1);
        /* Every default, whatever /etc holds, but the group: one that is in
         * /etc/group, as systemd-sysusers makes dhp's ("root" stands in for
         * it on a machine without dhp installed).  The second configuration
         * names a group /etc/group lacks, so glibc's NSS modules are asked
         * and stay loaded: the difference is what they cost. */
        cfd = mkstemp(conf);
        if (cfd < 0)
                return 1;
        if (write(cfd, "[daemon]\ngroup = root\n", 22) != 22)
                return 1;
        close(cfd);
        cfd = mkstemp(nssconf);
        if (cfd < 0)
                return 1;
        if (write(cfd, nss_text, strlen(nss_text)) != (ssize_t)strlen(nss_text))
                return 1;
        close(cfd);
        snprintf(win, sizeof(win), "%u", window + 5);

        if (fake_sysfs_init(&f) < 0 || fake_sysfs_add_cpus(&f, 8, "0-7") < 0 ||
            fake_sysfs_add_memory(&f, 128ULL << 20, 0, 64, "online", NULL) < 0 ||
            fake_sysfs_write(&f, "proc/meminfo",
                             "MemTotal: 8388608 kB\nMemAvailable: 4194304 kB\nCommitLimit: 8388608 kB\n"
                             "Committed_AS: 102400 kB\n") < 0 ||
            socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
                fprintf(stderr, "bench-idle: cannot build the fake tree\n");
                goto out;
        }
        snprintf(fdarg, sizeof(fdarg), "%d", sv[0]);
        /* Never the system's socket (/run/dhp). */
        if (!mkdtemp(sockdir))
                goto out;
        snprintf(sock, sizeof(sock), "%s/dhpd.sock", sockdir);

        printf("6. dhpd idle over %u s per run (wake-ups: context switches of every thread; memory: kB)\n", window);
        bench_print_header();
        {
                char *sleep_args[] = { "/bin/sleep", win, NULL };
                char *sim_args[] = { (char *)dhpd, "--platform", "sim", "--foreground", "--config", conf,
                                     "--socket", sock, NULL };
                char *nss_args[] = { (char *)dhpd, "--platform", "sim", "--foreground", "--config", nssconf,
                                     "--socket", sock, NULL };
                char *linux_args[] = { (char *)dhpd, "--platform", "linux", "--foreground", "--config", conf,
                                       "--socket", sock, "--root", f.root, "--uevent-fd", fdarg, NULL };
                char *quiet_args[] = { (char *)dhpd, "--platform", "linux", "--foreground", "--config", conf,
                                       "--socket", sock, "--root", f.root, "--uevent-fd", fdarg,
                                       "--state-dir", "", NULL };

                /* Run by run, the baseline and then each dhpd. */
                for (unsigned k = 0; k < runs; k++)
                        if (run_one(sleep_args, NULL, -1, window, &rb[k]) < 0 ||
                            (want(only, "sim") && run_one(sim_args, "READY", -1, window, &rs[k]) < 0) ||
                            (want(only, "nss") && run_one(nss_args, "READY", -1, window, &rn[k]) < 0) ||
                            (want(only, "linux") && run_one(linux_args, "READY", sv[0], window, &rl[k]) < 0) ||
                            (want(only, "quiet") && run_one(quiet_args, "READY", sv[0], window, &rq[k]) < 0))
                                goto out;
        }
        if (want(only, "sim"))
                print("dhpd --platform sim", rs, rb, runs, 0);
        if (want(only, "nss"))
                print("dhpd --platform sim, group via NSS", rn, rb, runs, 0);
        if (want(only, "linux"))
                print("dhpd --platform linux (fake tree)", rl, rb, runs, window / 30);
        if (want(only, "quiet"))
                print("dhpd --platform linux (fake tree), no state file", rq, rb, runs, 0);
        printf("  (expected: the slow memory timer, one wake-up per 30 s, the linux platform with its state file "
               "only)\n");
        rc = 0;
out:
        fake_sysfs_deinit(&f);
        unlink(conf);
        unlink(nssconf);
        if (sock[0])
                rmdir(sockdir);
        return rc;
}
