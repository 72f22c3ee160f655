/*
 * cgprobe: which cgroup v2 files notify, and how (issue 15; PROBES.md).
 *
 * Usage: cgprobe PARENT CHILD [FILE=VALUE | @CMDFILE=VALUE]...
 *
 * Watches, in both cgroup directories, cpu.max, cpuset.cpus,
 * cpuset.cpus.effective, memory.max, memory.high, cgroup.events and
 * memory.events with inotify (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE |
 * IN_OPEN are NOT asked: only IN_MODIFY and IN_ATTRIB, what a watcher that
 * does not want its own reads reported would ask), and polls cgroup.events
 * and memory.events of both for POLLPRI (kernfs_notify).  Then, for each
 * argument in order, writes VALUE and a newline to FILE (a path; PARENT/ and
 * CHILD/ may be written p/ and c/; an empty VALUE writes just the newline,
 * which is how an empty cpuset.cpus is set), and collects every notification for SETTLE ms
 * (default 300; env CGPROBE_SETTLE_MS) after the write returned:
 *
 *   E2E-CG step=K write=FILE value=VALUE rc=0|-errno
 *   E2E-CG step=K ev=inotify file=c/cpu.max mask=IN_MODIFY dt_us=N
 *   E2E-CG step=K ev=poll file=c/cgroup.events revents=PRI|ERR dt_us=N
 *   E2E-CG step=K state p/cpuset.cpus.effective=X c/cpuset.cpus.effective=Y
 *   E2E-CG step=K end events=N
 *
 * dt_us is from the write's return to the event's read (guest monotonic).
 * An event the write itself causes through the VFS (fsnotify_modify on the
 * written inode) shows as IN_MODIFY of the written file; anything on another
 * file is the kernel's own notification.  The settle window is a bounded
 * wait by design: "no event within it" is the finding.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static const char *files[] = {
	"cpu.max", "cpuset.cpus", "cpuset.cpus.effective", "memory.max",
	"memory.high", "cgroup.events", "memory.events",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

struct watch {
	char name[64];          /* "c/cpu.max" */
	int wd;
	int pollfd;             /* -1 unless a poll target */
};

static struct watch w[2 * NFILES];
static int nw;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void mask_str(unsigned m, char *out, size_t sz)
{
	out[0] = '\0';
	if (m & IN_MODIFY)
		strncat(out, "IN_MODIFY|", sz - strlen(out) - 1);
	if (m & IN_ATTRIB)
		strncat(out, "IN_ATTRIB|", sz - strlen(out) - 1);
	if (m & IN_IGNORED)
		strncat(out, "IN_IGNORED|", sz - strlen(out) - 1);
	if (m & IN_DELETE_SELF)
		strncat(out, "IN_DELETE_SELF|", sz - strlen(out) - 1);
	if (m & IN_Q_OVERFLOW)
		strncat(out, "IN_Q_OVERFLOW|", sz - strlen(out) - 1);
	size_t l = strlen(out);
	if (l)
		out[l - 1] = '\0';
	else
		snprintf(out, sz, "0x%x", m);
}

static void add_watches(int ifd, const char *dir, const char *tag)
{
	for (size_t i = 0; i < NFILES; i++) {
		char path[512];
		struct watch *x = &w[nw];

		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		snprintf(x->name, sizeof(x->name), "%s/%s", tag, files[i]);
		x->wd = inotify_add_watch(ifd, path, IN_MODIFY | IN_ATTRIB);
		x->pollfd = -1;
		if (x->wd < 0) {
			printf("E2E-CG watch file=%s error=%s\n", x->name, strerror(errno));
			continue;
		}
		if (strstr(files[i], ".events")) {
			char buf[512];

			x->pollfd = open(path, O_RDONLY | O_CLOEXEC);
			/* kernfs arms the poll at the first read. */
			if (x->pollfd >= 0 && read(x->pollfd, buf, sizeof(buf)) < 0)
				printf("E2E-CG read file=%s error=%s\n", x->name, strerror(errno));
		}
		nw++;
	}
}

/* Collect for settle_ms after t0; returns the number of events seen. */
static int collect(int ifd, int step, double t0, int settle_ms)
{
	int events = 0;

	for (;;) {
		struct pollfd p[1 + 2 * NFILES];
		int map[1 + 2 * NFILES], np = 0;
		double left = t0 + settle_ms * 1e3 - now_us();

		if (left <= 0)
			return events;
		p[np].fd = ifd, p[np].events = POLLIN, map[np++] = -1;
		for (int i = 0; i < nw; i++)
			if (w[i].pollfd >= 0)
				p[np].fd = w[i].pollfd, p[np].events = POLLPRI, map[np++] = i;
		int r = poll(p, np, (int)(left / 1e3) + 1);
		if (r <= 0)
			continue;
		double t = now_us();
		for (int k = 0; k < np; k++) {
			if (!p[k].revents)
				continue;
			if (map[k] < 0) {
				char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
				ssize_t n = read(ifd, buf, sizeof(buf));

				for (char *q = buf; n > 0 && q < buf + n;) {
					struct inotify_event *e = (struct inotify_event *)q;
					const char *name = "?";
					char ms[96];

					for (int i = 0; i < nw; i++)
						if (w[i].wd == e->wd)
							name = w[i].name;
					mask_str(e->mask, ms, sizeof(ms));
					printf("E2E-CG step=%d ev=inotify file=%s mask=%s dt_us=%.0f\n",
					       step, name, ms, t - t0);
					events++;
					q += sizeof(*e) + e->len;
				}
			} else {
				struct watch *x = &w[map[k]];
				char buf[512];

				printf("E2E-CG step=%d ev=poll file=%s revents=%s%s dt_us=%.0f\n",
				       step, x->name, p[k].revents & POLLPRI ? "PRI" : "",
				       p[k].revents & POLLERR ? "|ERR" : "", t - t0);
				events++;
				/* Re-arm: kernfs wants a read from the start. */
				lseek(x->pollfd, 0, SEEK_SET);
				if (read(x->pollfd, buf, sizeof(buf)) < 0)
					printf("E2E-CG read file=%s error=%s\n", x->name, strerror(errno));
			}
		}
	}
}

/* What the step did to the effective sets, read after the window. */
static void print_effective(const char *parent, const char *child, int step)
{
	const char *dirs[2] = { parent, child }, *tags[2] = { "p", "c" };

	printf("E2E-CG step=%d state", step);
	for (int i = 0; i < 2; i++) {
		char path[512], buf[128] = "";
		FILE *f;

		snprintf(path, sizeof(path), "%s/cpuset.cpus.effective", dirs[i]);
		f = fopen(path, "re");
		if (f && fgets(buf, sizeof(buf), f))
			buf[strcspn(buf, "\n")] = '\0';
		if (f)
			fclose(f);
		printf(" %s/cpuset.cpus.effective=%s", tags[i], buf);
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	const char *env = getenv("CGPROBE_SETTLE_MS");
	int settle_ms = env ? atoi(env) : 300;

	if (argc < 3) {
		fprintf(stderr, "usage: cgprobe PARENT CHILD [FILE=VALUE]...\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int ifd = inotify_init1(IN_CLOEXEC);
	if (ifd < 0) {
		perror("cgprobe: inotify_init1");
		return 1;
	}
	add_watches(ifd, argv[1], "p");
	add_watches(ifd, argv[2], "c");
	for (int step = 1; step + 2 < argc; step++) {
		char *arg = argv[step + 2], *eq = strchr(arg, '='), path[512];

		if (!eq) {
			fprintf(stderr, "cgprobe: bad step %s\n", arg);
			return 1;
		}
		*eq = '\0';
		if (!strncmp(arg, "p/", 2) || !strncmp(arg, "c/", 2))
			snprintf(path, sizeof(path), "%s/%s", argv[arg[0] == 'p' ? 1 : 2], arg + 2);
		else
			snprintf(path, sizeof(path), "%s", arg);
		char val[256];
		int rc = 0, fd = open(path, O_WRONLY | O_CLOEXEC);
		int len = snprintf(val, sizeof(val), "%s\n", eq + 1);
		if (fd < 0 || write(fd, val, len) < 0)
			rc = -errno;
		if (fd >= 0)
			close(fd);
		double t0 = now_us();
		printf("E2E-CG step=%d write=%s value=%s rc=%d\n", step, arg, eq + 1, rc);
		int n = collect(ifd, step, t0, settle_ms);
		print_effective(argv[1], argv[2], step);
		printf("E2E-CG step=%d end events=%d\n", step, n);
	}
	return 0;
}
