/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "platform/linux/uevent.h"

/* Join NULL-terminated fields, each followed by a NUL, kernel style. */
static size_t msg(char *buf, size_t size, ...) {
        va_list ap;
        size_t len = 0;
        const char *s;

        va_start(ap, size);
        while ((s = va_arg(ap, const char *))) {
                size_t n = strlen(s) + 1;
                assert_true(len + n <= size);
                memcpy(buf + len, s, n);
                len += n;
        }
        va_end(ap);
        return len;
}

#define MEM_ADD(buf, seq)                                                                              \
        msg(buf, sizeof(buf), "add@/devices/system/memory/memory32", "ACTION=add",                    \
            "DEVPATH=/devices/system/memory/memory32", "SUBSYSTEM=memory", "SEQNUM=" seq, NULL)

static void test_parse_ok(void **state) {
        char buf[512];
        struct uevent u;
        size_t len = MEM_ADD(buf, "4242");

        assert_int_equal(uevent_parse(buf, len, &u), 0);
        assert_int_equal(u.action, UEVENT_ACTION_ADD);
        assert_string_equal(u.action_str, "add");
        assert_string_equal(u.devpath, "/devices/system/memory/memory32");
        assert_string_equal(u.subsystem, "memory");
        assert_true(u.has_seqnum);
        assert_int_equal(u.seqnum, 4242);
        assert_int_equal(u.n_keys, 4);
        assert_string_equal(uevent_get(&u, "SUBSYSTEM"), "memory");
        assert_null(uevent_get(&u, "SUBSYS"));
        assert_null(uevent_get(&u, "DRIVER"));

        len = msg(buf, sizeof(buf), "online@/devices/system/cpu/cpu3", "ACTION=online",
                  "DEVPATH=/devices/system/cpu/cpu3", "SUBSYSTEM=cpu", "DRIVER=processor", "SEQNUM=1", NULL);
        assert_int_equal(uevent_parse(buf, len, &u), 0);
        assert_int_equal(u.action, UEVENT_ACTION_ONLINE);
        assert_string_equal(uevent_get(&u, "DRIVER"), "processor");
        assert_string_equal(uevent_action_to_string(u.action), "online");
}

static void test_parse_actions(void **state) {
        static const struct { const char *s; enum uevent_action a; } t[] = {
                { "add", UEVENT_ACTION_ADD },       { "remove", UEVENT_ACTION_REMOVE },
                { "change", UEVENT_ACTION_CHANGE }, { "move", UEVENT_ACTION_MOVE },
                { "online", UEVENT_ACTION_ONLINE }, { "offline", UEVENT_ACTION_OFFLINE },
                { "bind", UEVENT_ACTION_BIND },     { "unbind", UEVENT_ACTION_UNBIND },
                { "frob", UEVENT_ACTION_UNKNOWN },  { "adder", UEVENT_ACTION_UNKNOWN },
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                char hdr[64], act[64], buf[256];
                struct uevent u;
                size_t len;

                snprintf(hdr, sizeof(hdr), "%s@/devices/x", t[i].s);
                snprintf(act, sizeof(act), "ACTION=%s", t[i].s);
                len = msg(buf, sizeof(buf), hdr, act, "DEVPATH=/devices/x", NULL);
                assert_int_equal(uevent_parse(buf, len, &u), 0);
                assert_int_equal(u.action, t[i].a);
                assert_string_equal(u.action_str, t[i].s);
                assert_false(u.has_seqnum);
                assert_null(u.subsystem);
        }
}

static void expect_error(const char *buf, size_t len, int err) {
        struct uevent u;

        memset(&u, 0xa5, sizeof(u));
        assert_int_equal(uevent_parse(buf, len, &u), err);
        /* Nothing written on failure. */
        assert_int_equal(u.n_keys, 0xa5a5a5a5u);
        assert_true(strlen(uevent_strerror(err)) > 0);
}

static void test_parse_errors(void **state) {
        char buf[UEVENT_MSG_MAX + 64] = "";
        size_t len;

        expect_error(buf, 0, -ENODATA);

        memset(buf, 'a', sizeof(buf));
        buf[UEVENT_MSG_MAX] = 0;
        expect_error(buf, UEVENT_MSG_MAX + 1, -EMSGSIZE);

        memcpy(buf, "libudev\0\xfe\xed\xca\xfe", 12);
        expect_error(buf, 40, -EPROTO);

        len = MEM_ADD(buf, "1");
        expect_error(buf, len - 1, -ENOMSG); /* truncated mid-field */
        expect_error(buf, 10, -ENOMSG);

        len = msg(buf, sizeof(buf), "add/devices/x", "ACTION=add", "DEVPATH=/devices/x", NULL);
        expect_error(buf, len, -EBADMSG); /* no '@' */
        len = msg(buf, sizeof(buf), "@/devices/x", "ACTION=", "DEVPATH=/devices/x", NULL);
        expect_error(buf, len, -EBADMSG); /* empty action */
        len = msg(buf, sizeof(buf), "add@devices", "ACTION=add", "DEVPATH=devices", NULL);
        expect_error(buf, len, -EBADMSG); /* devpath not absolute */
        len = msg(buf, sizeof(buf), "add@/devices/x", "DEVPATH=/devices/x", "SEQNUM=1", NULL);
        expect_error(buf, len, -EBADMSG); /* no ACTION */
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "SEQNUM=1", NULL);
        expect_error(buf, len, -EBADMSG); /* no DEVPATH */
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "NOEQUALS", "DEVPATH=/devices/x", NULL);
        expect_error(buf, len, -EBADMSG);
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "=value", "DEVPATH=/devices/x", NULL);
        expect_error(buf, len, -EBADMSG);
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "", "DEVPATH=/devices/x", NULL);
        expect_error(buf, len, -EBADMSG); /* empty field */
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "ACTION=add", "DEVPATH=/devices/x", NULL);
        expect_error(buf, len, -EBADMSG); /* repeated */
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", "SEQNUM=12x", NULL);
        expect_error(buf, len, -EBADMSG);
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", "SEQNUM=", NULL);
        expect_error(buf, len, -EBADMSG);
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "DEVPATH=/devices/x",
                  "SEQNUM=18446744073709551616", NULL);
        expect_error(buf, len, -ERANGE);

        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=remove", "DEVPATH=/devices/x", NULL);
        expect_error(buf, len, -EILSEQ);
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=addx", "DEVPATH=/devices/x", NULL);
        expect_error(buf, len, -EILSEQ);
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "DEVPATH=/devices/y", NULL);
        expect_error(buf, len, -EILSEQ);

        /* UEVENT_KEYS_MAX fields parse, one more does not. */
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", NULL);
        for (unsigned i = 2; i < UEVENT_KEYS_MAX; i++)
                len += (size_t)sprintf(buf + len, "K%u=v", i) + 1;
        {
                struct uevent u;
                assert_int_equal(uevent_parse(buf, len, &u), 0);
                assert_int_equal(u.n_keys, UEVENT_KEYS_MAX);
                assert_string_equal(uevent_get(&u, "K63"), "v");
        }
        len += (size_t)sprintf(buf + len, "ONE=more") + 1;
        expect_error(buf, len, -E2BIG);
}

static void send_all(int fd, const char *buf, size_t len) {
        assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
}

static void test_monitor_seqnum_gap(void **state) {
        struct uevent_monitor *m;
        struct uevent u;
        char buf[512];
        int sv[2];
        size_t len;

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(uevent_monitor_new_from_fd(&m, sv[0], UEVENT_MONITOR_TRUST_SENDER, NULL), 0);
        assert_int_equal(uevent_monitor_get_fd(m), sv[0]);

        assert_int_equal(uevent_monitor_receive(m, &u), -EAGAIN);

        len = MEM_ADD(buf, "10");
        send_all(sv[1], buf, len);
        len = MEM_ADD(buf, "11");
        send_all(sv[1], buf, len);
        len = MEM_ADD(buf, "13"); /* 12 lost */
        send_all(sv[1], buf, len);
        send_all(sv[1], "garbage", 7);
        len = MEM_ADD(buf, "14");
        send_all(sv[1], buf, len);
        len = msg(buf, sizeof(buf), "add@/devices/x", "ACTION=add", "DEVPATH=/devices/x", NULL);
        send_all(sv[1], buf, len); /* no SEQNUM */

        assert_int_equal(uevent_monitor_receive(m, &u), 0);
        assert_int_equal(u.seqnum, 10);
        assert_int_equal(uevent_monitor_receive(m, &u), 0);
        assert_int_equal(u.seqnum, 11);
        assert_int_equal(uevent_monitor_receive(m, &u), UEVENT_MONITOR_GAP);
        assert_int_equal(u.seqnum, 13);
        assert_string_equal(u.subsystem, "memory");
        assert_int_equal(uevent_monitor_receive(m, &u), -ENOMSG); /* consumed, go on */
        assert_int_equal(uevent_monitor_receive(m, &u), 0);
        assert_int_equal(u.seqnum, 14);
        assert_int_equal(uevent_monitor_receive(m, &u), -EBADMSG);
        assert_int_equal(uevent_monitor_receive(m, &u), -EAGAIN);

        /* After a resync the next number is accepted whatever it is. */
        uevent_monitor_reset_seqnum(m);
        len = MEM_ADD(buf, "100");
        send_all(sv[1], buf, len);
        assert_int_equal(uevent_monitor_receive(m, &u), 0);

        close(sv[1]);
        uevent_monitor_free(m);
}

static void test_monitor_oversized(void **state) {
        static char big[UEVENT_MSG_MAX + 512];
        struct uevent_monitor *m;
        struct uevent u;
        int sv[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(uevent_monitor_new_from_fd(&m, sv[0], UEVENT_MONITOR_TRUST_SENDER, NULL), 0);
        memset(big, 'x', sizeof(big));
        send_all(sv[1], big, sizeof(big));
        assert_int_equal(uevent_monitor_receive(m, &u), -EMSGSIZE);
        send_all(sv[1], big, UEVENT_MSG_MAX + 1);
        assert_int_equal(uevent_monitor_receive(m, &u), -EMSGSIZE);
        send_all(sv[1], "libudev\0\xfe\xed\xca\xfe\0\0\0\0", 16);
        assert_int_equal(uevent_monitor_receive(m, &u), -EPROTO);
        close(sv[1]);
        uevent_monitor_free(m);
}

static void test_monitor_rejects_non_kernel(void **state) {
        struct uevent_monitor *m;
        struct uevent u;
        char buf[512];
        int sv[2], one = 1;
        size_t len;

        /* Without the trust flag a socketpair peer is not the kernel, even
         * with credentials passed. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
        assert_int_equal(uevent_monitor_new_from_fd(&m, sv[0], 0, NULL), 0);
        len = MEM_ADD(buf, "1");
        send_all(sv[1], buf, len);
        assert_int_equal(uevent_monitor_receive(m, &u), -EPERM);
        assert_int_equal(uevent_monitor_receive(m, &u), -EAGAIN); /* dropped */
        close(sv[1]);
        uevent_monitor_free(m);
}

static void test_check_sender(void **state) {
        struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_pid = 0 };
        struct sockaddr sa = { .sa_family = AF_UNIX };
        struct ucred root = { .pid = 0, .uid = 0, .gid = 0 }, user = { .pid = 77, .uid = 1000, .gid = 1000 };

        assert_int_equal(uevent_monitor_check_sender((struct sockaddr *)&nl, sizeof(nl), &root), 0);
        assert_int_equal(uevent_monitor_check_sender((struct sockaddr *)&nl, sizeof(nl), &user), -EPERM);
        assert_int_equal(uevent_monitor_check_sender((struct sockaddr *)&nl, sizeof(nl), NULL), -EPERM);
        assert_int_equal(uevent_monitor_check_sender((struct sockaddr *)&nl, 4, &root), -EPERM);
        nl.nl_pid = 4321; /* a user space process on the netlink bus */
        assert_int_equal(uevent_monitor_check_sender((struct sockaddr *)&nl, sizeof(nl), &root), -EPERM);
        assert_int_equal(uevent_monitor_check_sender(&sa, sizeof(sa), &root), -EPERM);
        assert_int_equal(uevent_monitor_check_sender(NULL, 0, &root), -EPERM);
}

static void test_monitor_netlink(void **state) {
        struct uevent_monitor *m;
        int r, flags;

        /* Only opens and binds a socket: reads nothing, writes nothing. */
        r = uevent_monitor_new(&m, 0, NULL);
        if (r == -EPERM || r == -EACCES || r == -EAFNOSUPPORT || r == -EPROTONOSUPPORT) {
                skip();
                return;
        }
        assert_int_equal(r, 0);
        flags = fcntl(uevent_monitor_get_fd(m), F_GETFD);
        assert_true(flags & FD_CLOEXEC);
        flags = fcntl(uevent_monitor_get_fd(m), F_GETFL);
        assert_true(flags & O_NONBLOCK);
        uevent_monitor_free(m);
        uevent_monitor_free(NULL);
}

/* A user space process unicasting in the kernel's format to our netlink
 * socket (needs CAP_NET_ADMIN; only our own sockets are involved, nothing is
 * broadcast) is refused by its nl_pid. */
static void test_monitor_netlink_user_sender(void **state) {
        struct uevent_monitor *m;
        struct sockaddr_nl me = { 0 }, dst = { .nl_family = AF_NETLINK };
        socklen_t sl = sizeof(me);
        struct uevent u;
        char buf[512];
        size_t len;
        int r, tx;

        r = uevent_monitor_new(&m, 0, NULL);
        if (r < 0) {
                skip();
                return;
        }
        assert_int_equal(getsockname(uevent_monitor_get_fd(m), (struct sockaddr *)&me, &sl), 0);
        tx = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
        assert_true(tx >= 0);
        dst.nl_pid = me.nl_pid;
        len = MEM_ADD(buf, "1");
        if (sendto(tx, buf, len, 0, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
                close(tx);
                uevent_monitor_free(m);
                skip(); /* no CAP_NET_ADMIN */
                return;
        }
        /* Real kernel events may arrive meanwhile; the forged one must be the
         * only -EPERM. */
        for (int i = 0; i < 1000; i++) {
                r = uevent_monitor_receive(m, &u);
                if (r != 0 && r != UEVENT_MONITOR_GAP)
                        break;
        }
        assert_int_equal(r, -EPERM);
        close(tx);
        uevent_monitor_free(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_ok),
                cmocka_unit_test(test_parse_actions),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_monitor_seqnum_gap),
                cmocka_unit_test(test_monitor_oversized),
                cmocka_unit_test(test_monitor_rejects_non_kernel),
                cmocka_unit_test(test_check_sender),
                cmocka_unit_test(test_monitor_netlink),
                cmocka_unit_test(test_monitor_netlink_user_sender),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
