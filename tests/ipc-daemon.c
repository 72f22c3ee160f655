/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "ipc-daemon.h"
#include "util/time.h"

char ipc_dir[64];
char ipc_sock[128];
pid_t ipc_daemon_pid = -1;
const char *ipc_sim_opts = "cpus=2,maxcpus=64,maxmem=1T";

void ipc_daemon_start(const char *sync_conf) {
        const char *dhpd = getenv("DHPD");
        char conf[160], line[64];
        int out[2];
        FILE *f;

        assert_non_null(dhpd);
        /* Never the host's socket: only one inside this test's directory
         * (scripts/check-test-paths.sh checks that dhpd gets --socket). */
        assert_true(ipc_dir[0] == '/' && strncmp(ipc_sock, ipc_dir, strlen(ipc_dir)) == 0 &&
                    ipc_sock[strlen(ipc_dir)] == '/' && !strstr(ipc_sock, ".."));
        snprintf(conf, sizeof(conf), "%s/dhpd.conf", ipc_dir);
        f = fopen(conf, "w");
        assert_non_null(f);
        fprintf(f, "[daemon]\nlog_level = warning\n[sync]\n%s\n", sync_conf);
        fclose(f);
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        ipc_daemon_pid = fork();
        assert_true(ipc_daemon_pid >= 0);
        if (ipc_daemon_pid == 0) {
                /* Under ASan, freed memory waits in a quarantine of up to
                 * 256 MB: a small one keeps dhpd's RSS meaningful for the
                 * tests that bound it (the flooding client). */
                const char *asan = getenv("ASAN_OPTIONS");
                char opts[512];
                snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=4", asan ? asan : "", asan && *asan ? ":" : "");
                setenv("ASAN_OPTIONS", opts, 1);
                dup2(out[1], 1);
                execl(dhpd, dhpd, "--platform", "sim", "--sim", ipc_sim_opts, "--foreground",
                      "--socket", ipc_sock, "-c", conf, (char *)NULL);
                _exit(127);
        }
        close(out[1]);
        {
                struct pollfd p = { .fd = out[0], .events = POLLIN };
                size_t n = 0;
                while (n < sizeof(line) - 1) {
                        assert_true(poll(&p, 1, 10000) == 1); /* READY within 10 s */
                        ssize_t k = read(out[0], line + n, 1);
                        assert_true(k == 1);
                        if (line[n++] == '\n')
                                break;
                }
                line[n] = 0;
                assert_string_equal(line, "READY\n");
        }
        close(out[0]);
}

void ipc_daemon_stop(void) {
        int st;

        if (ipc_daemon_pid <= 0)
                return;
        kill(ipc_daemon_pid, SIGTERM);
        waitpid(ipc_daemon_pid, &st, 0);
        ipc_daemon_pid = -1;
}

int ipc_setup(void **state) {
        strcpy(ipc_dir, "/tmp/dhp-test-ipc-XXXXXX");
        assert_non_null(mkdtemp(ipc_dir));
        chmod(ipc_dir, 0755); /* the unprivileged client reaches the socket */
        snprintf(ipc_sock, sizeof(ipc_sock), "%s/run/dhpd.sock", ipc_dir);
        return 0;
}

int ipc_teardown(void **state) {
        char cmd[128];

        ipc_daemon_stop();
        snprintf(cmd, sizeof(cmd), "rm -rf %s", ipc_dir);
        return system(cmd) == 0 ? 0 : -1;
}

dhp *ipc_open_ctx(void) {
        char target[160];
        dhp *ctx = NULL;

        snprintf(target, sizeof(target), "unix:%s", ipc_sock);
        assert_int_equal(dhp_open(&ctx, target), 0);
        return ctx;
}

dhp *ipc_open_as_nobody(void) {
        char target[160];
        dhp *ctx;

        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                _exit(3);
        snprintf(target, sizeof(target), "unix:%s", ipc_sock);
        if (dhp_open(&ctx, target) < 0)
                _exit(4);
        return ctx;
}

int ipc_run(char *const argv[], char *out, size_t outsize, unsigned seconds) {
        int p[2], st = -1;
        size_t n = 0;
        pid_t pid;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(p[1], 1);
                execv(argv[0], argv);
                _exit(127);
        }
        close(p[1]);
        for (uint64_t end = time_now_ns() + seconds * NSEC_PER_SEC;;) {
                struct pollfd q = { .fd = p[0], .events = POLLIN };
                char b[512];
                ssize_t k;
                assert_true(time_now_ns() < end);
                assert_true(poll(&q, 1, (int)seconds * 1000) == 1);
                k = read(p[0], b, sizeof(b));
                if (k <= 0)
                        break;
                if (out && n + (size_t)k < outsize) {
                        memcpy(out + n, b, (size_t)k);
                        n += (size_t)k;
                }
        }
        if (out)
                out[n] = 0;
        close(p[0]);
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
