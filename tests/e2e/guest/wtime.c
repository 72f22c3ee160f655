/*
 * wtime: time one sysfs write, or one command, on the guest's
 * CLOCK_MONOTONIC (the clock of e2eclient's marker lines), for the removal
 * benchmark (BENCHMARKS.md, "Removal"):
 *
 *   wtime LABEL FILE VALUE     write VALUE to FILE (one write(2))
 *   wtime LABEL -- CMD ARG...  run CMD and wait for it
 *
 * prints "E2E-TIME LABEL start=SEC end=SEC rc=R" on stdout (one write):
 * the write's or the command's start and end, and its result (0 or
 * -errno; the command's exit status).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char buf[256];
	double t0, t1;
	int rc, n;

	if (argc < 4) {
		fprintf(stderr, "usage: wtime LABEL FILE VALUE | wtime LABEL -- CMD [ARG...]\n");
		return 2;
	}
	if (strcmp(argv[2], "--") == 0) {
		pid_t pid;
		int st = 0;

		t0 = now();
		pid = fork();
		if (pid == 0) {
			execv(argv[3], argv + 3);
			_exit(127);
		}
		waitpid(pid, &st, 0);
		t1 = now();
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	} else {
		int fd = open(argv[2], O_WRONLY | O_CLOEXEC);
		ssize_t w;

		if (fd < 0) {
			fprintf(stderr, "wtime: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		t0 = now();
		w = write(fd, argv[3], strlen(argv[3]));
		t1 = now();
		rc = w < 0 ? -errno : 0;
		close(fd);
	}
	n = snprintf(buf, sizeof(buf), "E2E-TIME %s start=%.9f end=%.9f rc=%d\n", argv[1], t0, t1, rc);
	(void)!write(1, buf, (size_t)n);
	return 0;
}
