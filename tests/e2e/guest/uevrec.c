/*
 * uevrec: record every kernel uevent, verbatim, for the e2e probes
 * (tests/e2e/PROBES.md).  Unlike ueventwatch it tracks nothing and onlines
 * nothing: it prints each uevent as one console line and stops when the
 * expected ones have been seen, plus a settle window for the stragglers.
 *
 * Usage: uevrec [-r MARKER] [-l LABEL] [-u ACTION:SUBSTR:N]... [-s MS]
 *               [-t SECONDS]
 *   -r MARKER          printed once the netlink socket is bound
 *   -u ACTION:SUBSTR:N the stop condition: N uevents whose ACTION is ACTION
 *                      and whose DEVPATH contains SUBSTR (all -u must hold)
 *   -s MS              after the condition holds (or, without -u, after the
 *                      first uevent), keep recording until MS ms pass with
 *                      no uevent (default 1000): the probe's settle window,
 *                      which is what catches uevents nobody expected
 *   -t SECONDS         give up (E2E-TIMEOUT, status 2) after this long
 *
 * Output, one line each, flushed at once:
 *   E2E-UEV LABEL t=MS ACTION DEVPATH KEY=VAL...   every uevent, the rest
 *       of its environment in the kernel's order (SEQNUM included), control
 *       characters written \xNN
 *   E2E-DONE LABEL n=N first_ms=A last_ms=B       (or E2E-TIMEOUT)
 * t is guest CLOCK_MONOTONIC in ms, relative to the marker.
 *
 * Built statically (gcc -static) so that the busybox initramfs needs no libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_UNTIL 8

struct until {
	char action[32];
	char substr[200];
	int want, seen;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* " VALUE" into out, control characters as \xNN (the x86 cpu MODALIAS
 * ends with a newline), so that one uevent stays one console line. */
static int escape(char *out, size_t sz, const char *v)
{
	size_t n = 0;

	out[n++] = ' ';
	for (; *v && n + 5 < sz; v++) {
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			n += snprintf(out + n, sz - n, "\\x%02x", (unsigned char)*v);
		else
			out[n++] = *v;
	}
	out[n] = '\0';
	return (int)n;
}

static int parse_until(struct until *u, const char *arg)
{
	const char *c1 = strchr(arg, ':');
	const char *c2 = c1 ? strrchr(c1 + 1, ':') : NULL;

	if (!c1 || !c2 || (size_t)(c1 - arg) >= sizeof(u->action) ||
	    (size_t)(c2 - c1 - 1) >= sizeof(u->substr))
		return -1;
	memcpy(u->action, arg, c1 - arg);
	memcpy(u->substr, c1 + 1, c2 - c1 - 1);
	u->want = atoi(c2 + 1);
	return u->want > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *marker = NULL, *label = "rec";
	struct until until[MAX_UNTIL];
	int nuntil = 0, settle_ms = 1000, timeout_s = 60, opt, nev = 0;

	memset(until, 0, sizeof(until));
	while ((opt = getopt(argc, argv, "r:l:u:s:t:")) != -1) {
		switch (opt) {
		case 'r': marker = optarg; break;
		case 'l': label = optarg; break;
		case 'u':
			if (nuntil == MAX_UNTIL || parse_until(&until[nuntil++], optarg) < 0) {
				fprintf(stderr, "uevrec: bad -u %s\n", optarg);
				return 1;
			}
			break;
		case 's': settle_ms = atoi(optarg); break;
		case 't': timeout_s = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: uevrec [-r MARKER] [-l LABEL] [-u ACTION:SUBSTR:N]..."
				" [-s MS] [-t SECONDS]\n");
			return 1;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (fd < 0) {
		perror("uevrec: socket");
		return 1;
	}
	int rcvbuf = 4 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("uevrec: bind");
		return 1;
	}
	double t0 = now_ms(), first = -1, last = -1, settle_from = -1;
	double deadline = t0 + timeout_s * 1e3;
	if (marker)
		printf("%s\n", marker);

	for (;;) {
		double now = now_ms(), left = deadline - now;
		int done = settle_from >= 0;

		if (done && now - (last > settle_from ? last : settle_from) >= settle_ms) {
			printf("E2E-DONE %s n=%d first_ms=%.1f last_ms=%.1f\n", label, nev,
			       first - t0, last - t0);
			return 0;
		}
		if (left <= 0) {
			printf("E2E-TIMEOUT %s n=%d", label, nev);
			for (int i = 0; i < nuntil; i++)
				printf(" %s:%s=%d/%d", until[i].action, until[i].substr,
				       until[i].seen, until[i].want);
			printf("\n");
			return 2;
		}
		int wait = (int)left + 1;
		if (done) {
			double quiet = (last > settle_from ? last : settle_from) + settle_ms - now;
			wait = (int)quiet + 1 < wait ? (int)quiet + 1 : wait;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("uevrec: poll");
			return 1;
		}
		if (r == 0)
			continue;

		char buf[8192 + 1];
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			if (errno == ENOBUFS) {
				printf("E2E-ENOBUFS %s\n", label);
				continue;
			}
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("uevrec: recv");
			return 1;
		}
		buf[n] = '\0';
		double t = now_ms();
		/* "ACTION@DEVPATH\0KEY=VAL\0KEY=VAL\0...": the header is
		 * redundant with ACTION= and DEVPATH=; print the environment. */
		const char *action = "", *devpath = "";
		char line[8192 + 256];
		int len = 0;
		for (char *p = buf + strlen(buf) + 1; p < buf + n; p += strlen(p) + 1) {
			if (!strncmp(p, "ACTION=", 7))
				action = p + 7;
			else if (!strncmp(p, "DEVPATH=", 8))
				devpath = p + 8;
			else if (len < (int)sizeof(line) - 8)
				len += escape(line + len, sizeof(line) - len, p);
		}
		if (!*action)
			continue;       /* not a kernel uevent (a udev one) */
		nev++;
		if (first < 0)
			first = t;
		last = t;
		printf("E2E-UEV %s t=%.1f %s %s%s\n", label, t - t0, action, devpath, line);
		int all = 1;
		for (int i = 0; i < nuntil; i++) {
			if (!strcmp(action, until[i].action) && strstr(devpath, until[i].substr))
				until[i].seen++;
			all &= until[i].seen >= until[i].want;
		}
		if (all && settle_from < 0)
			settle_from = t;
	}
}
