/* SPDX-License-Identifier: MIT */
/*
 * dhpd's history ring (daemon/history.c) and the HISTORY reply made from it
 * (daemon/status.c): a bounded ring that drops its oldest message, hands
 * out the newest n oldest first, reuses each slot's buffer once full, keeps
 * each record as the RECORD_RT a monitor would have received, and answers
 * HISTORY with those messages under the request's id (as RECORD_EXT for a
 * client older than protocol 1.3), then a REPLY that counts them.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/history.h"
#include "daemon/server-internal.h"
#include "proto/ipcmsg.h"
#include "proto/record-wire.h"
#include "proto/record.h"
#include "helpers.h"

/* What history_foreach() handed out, in order. */
struct seen {
        unsigned n;
        char text[16][64];
        const void *ptr[16];
};

static void collect(void *userdata, const void *msg, size_t len) {
        struct seen *s = userdata;

        assert_true(s->n < 16);
        assert_true(len < sizeof(s->text[0]));
        memcpy(s->text[s->n], msg, len);
        s->text[s->n][len] = 0;
        s->ptr[s->n++] = msg;
}

static void add_str(struct history *h, const char *s) {
        assert_int_equal(history_add(h, s, strlen(s)), 0);
}

static void test_new_rejects_zero(void **state) {
        struct history *h = NULL;

        assert_int_equal(history_new(&h, 0), -EINVAL);
        assert_null(h);
        assert_int_equal(history_new(NULL, 4), -EINVAL);
}

static void test_empty(void **state) {
        struct history *h;
        struct seen s = { 0 };

        assert_int_equal(history_new(&h, 4), 0);
        assert_int_equal(history_foreach(h, 0, collect, &s), 0);
        assert_int_equal(s.n, 0);
        history_free(h);
        history_free(NULL);
}

/* Under capacity every message is kept; n 0 or past the count is all of
 * them; a smaller n is the newest n, oldest first. */
static void test_foreach_newest_oldest_first(void **state) {
        struct history *h;
        struct seen s = { 0 };

        assert_int_equal(history_new(&h, 4), 0);
        add_str(h, "a");
        add_str(h, "b");
        add_str(h, "c");
        assert_int_equal(history_foreach(h, 0, collect, &s), 3);
        assert_string_equal(s.text[0], "a");
        assert_string_equal(s.text[2], "c");
        s.n = 0;
        assert_int_equal(history_foreach(h, 99, collect, &s), 3);
        s.n = 0;
        assert_int_equal(history_foreach(h, 2, collect, &s), 2);
        assert_string_equal(s.text[0], "b");
        assert_string_equal(s.text[1], "c");
        history_free(h);
}

/* Past capacity the oldest goes, one per message. */
static void test_ring_drops_oldest(void **state) {
        const char *want[] = { "m3", "m4", "m5", "m6" };
        struct history *h;
        struct seen s = { 0 };
        char buf[8];

        assert_int_equal(history_new(&h, 4), 0);
        for (int i = 0; i < 7; i++) {
                snprintf(buf, sizeof(buf), "m%d", i);
                add_str(h, buf);
        }
        assert_int_equal(history_foreach(h, 0, collect, &s), 4);
        for (int i = 0; i < 4; i++)
                assert_string_equal(s.text[i], want[i]);
        history_free(h);
}

/* Once full, a message no longer than a slot's buffer goes into that
 * buffer: the ring's buffers stay the same set, however many go through;
 * a longer one is grown in place and kept whole. */
static void test_buffers_reused(void **state) {
        struct history *h;
        struct seen first = { 0 }, later = { 0 };

        assert_int_equal(history_new(&h, 3), 0);
        add_str(h, "xxxx");
        add_str(h, "yyyy");
        add_str(h, "zzzz");
        assert_int_equal(history_foreach(h, 0, collect, &first), 3);
        for (int i = 0; i < 9; i++)
                add_str(h, i % 2 ? "ab" : "abcd");
        assert_int_equal(history_foreach(h, 0, collect, &later), 3);
        for (unsigned i = 0; i < 3; i++) {
                bool found = false;
                for (unsigned k = 0; k < 3; k++)
                        found |= later.ptr[i] == first.ptr[k];
                assert_true(found);
        }
        add_str(h, "a longer message than any before");
        later.n = 0;
        assert_int_equal(history_foreach(h, 1, collect, &later), 1);
        assert_string_equal(later.text[0], "a longer message than any before");
        history_free(h);
}

static const dhp_record rec_started = {
        .seq = 41,
        .t_ns = 1500000,
        .realtime_ns = 1780000000123456789ULL,
        .method = "txn",
        .event = "STARTED",
        .cls = "processor",
        .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS,
        .processor = 3,
        .number = { .group = 0, .number = 3 },
};

static const dhp_record rec_veto = {
        .seq = 42,
        .t_ns = 2500000,
        .realtime_ns = 1780000000223456789ULL,
        .method = "sync",
        .event = "ADD_START",
        .cls = "processor",
        .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS | REC_HAS_CLIENT | REC_VETO | REC_HAS_DURATION,
        .processor = 3,
        .number = { .group = 0, .number = 3 },
        .status = -ENOMEM,
        .client = "auditor",
        .dur_ns = 1200,
};

/* A kept record is the message of it: decoded and formatted, it reads as
 * the record itself, in both forms. */
static void assert_message_is(const void *msg, size_t len, uint16_t type, const dhp_record *want, uint64_t id) {
        struct ipc_msg *m = malloc(sizeof(*m));
        char got_json[1024], want_json[1024], got_text[512], want_text[512];

        assert_non_null(m);
        assert_int_equal(ipcmsg_decode(msg, len, m), 0);
        assert_int_equal(m->type, type);
        assert_int_equal(m->id, id);
        assert_true(record_wire_format(&m->record, DHP_RECORD_JSON, got_json, sizeof(got_json)) > 0);
        assert_true(dhp_record_format(want, DHP_RECORD_JSON, want_json, sizeof(want_json)) > 0);
        assert_string_equal(got_json, want_json);
        assert_true(record_wire_format(&m->record, DHP_RECORD_TEXT, got_text, sizeof(got_text)) > 0);
        assert_true(dhp_record_format(want, DHP_RECORD_TEXT, want_text, sizeof(want_text)) > 0);
        assert_string_equal(got_text, want_text);
        free(m);
}

struct kept {
        unsigned n;
        uint8_t msg[4][IPC_MSG_MAX];
        size_t len[4];
};

static void keep(void *userdata, const void *msg, size_t len) {
        struct kept *k = userdata;

        assert_true(k->n < 4 && len <= IPC_MSG_MAX);
        memcpy(k->msg[k->n], msg, len);
        k->len[k->n++] = len;
}

static void test_record_kept_as_record_rt(void **state) {
        struct history *h;
        struct kept *k = calloc(1, sizeof(*k));

        assert_non_null(k);
        assert_int_equal(history_new(&h, 8), 0);
        assert_int_equal(history_add_record(h, &rec_started), 0);
        history_record(h, &rec_veto); /* the monitor callback */
        assert_int_equal(history_foreach(h, 0, keep, k), 2);
        assert_message_is(k->msg[0], k->len[0], IPC_RECORD_RT, &rec_started, 0);
        assert_message_is(k->msg[1], k->len[1], IPC_RECORD_RT, &rec_veto, 0);
        history_free(h);
        free(k);
}

/* HISTORY through status.c to a peer on a socketpair: `count` RECORD_EXTs,
 * the newest, oldest first, each under the request's id, then the REPLY
 * with how many were sent. */
static void test_history_reply(void **state) {
        struct server s = { .cfg = SERVER_CONFIG_DEFAULT, .epfd = -1, .lfd = -1 };
        struct ipc_msg req = { .type = IPC_HISTORY, .id = 77, .history = { .count = 2 } };
        struct ipc_msg *m = malloc(sizeof(*m));
        uint8_t *buf = malloc(IPC_MSG_MAX);
        dhp_record third = rec_started, third_no_rt, veto_no_rt = rec_veto;
        struct peer *c;
        int sv[2];
        ssize_t n;

        assert_non_null(m);
        assert_non_null(buf);
        third.seq = 43;
        third.event = "ADMITTED";
        third_no_rt = third;
        third_no_rt.realtime_ns = 0;
        veto_no_rt.realtime_ns = 0;
        assert_int_equal(history_new(&s.history, 8), 0);
        assert_int_equal(history_add_record(s.history, &rec_started), 0);
        assert_int_equal(history_add_record(s.history, &rec_veto), 0);
        assert_int_equal(history_add_record(s.history, &third), 0);
        s.epfd = epoll_create1(EPOLL_CLOEXEC);
        assert_true(s.epfd >= 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        c = peer_new(&s, sv[0], getpid(), getuid(), getgid(), false);
        assert_non_null(c);

        /* A 1.0 client (minor 0): each kept RECORD_RT goes out as a
         * RECORD_EXT, without the wall-clock time. */
        assert_true(status_handle_history(&s, c, &req));
        n = recv(sv[1], buf, IPC_MSG_MAX, MSG_DONTWAIT);
        assert_true(n > 0);
        assert_message_is(buf, (size_t)n, IPC_RECORD_EXT, &veto_no_rt, 77);
        n = recv(sv[1], buf, IPC_MSG_MAX, MSG_DONTWAIT);
        assert_true(n > 0);
        assert_message_is(buf, (size_t)n, IPC_RECORD_EXT, &third_no_rt, 77);
        n = recv(sv[1], buf, IPC_MSG_MAX, MSG_DONTWAIT);
        assert_true(n > 0);
        assert_int_equal(ipcmsg_decode(buf, (size_t)n, m), 0);
        assert_int_equal(m->type, IPC_REPLY);
        assert_int_equal(m->id, 77);
        assert_int_equal(m->reply.status, 0);
        assert_int_equal(m->reply.v32, 2);
        assert_true(recv(sv[1], buf, IPC_MSG_MAX, MSG_DONTWAIT) < 0);

        /* A 1.3 client, count 0: every record kept (under the queue
         * budget), as kept. */
        c->minor = 3;
        req.history.count = 0;
        assert_true(status_handle_history(&s, c, &req));
        for (int i = 0; i < 3; i++) {
                n = recv(sv[1], buf, IPC_MSG_MAX, MSG_DONTWAIT);
                assert_true(n > 0);
                assert_message_is(buf, (size_t)n, IPC_RECORD_RT, i == 0 ? &rec_started : i == 1 ? &rec_veto : &third,
                                  77);
        }
        n = recv(sv[1], buf, IPC_MSG_MAX, MSG_DONTWAIT);
        assert_true(n > 0);
        assert_int_equal(ipcmsg_decode(buf, (size_t)n, m), 0);
        assert_int_equal(m->type, IPC_REPLY);
        assert_int_equal(m->reply.v32, 3);

        peer_unref(c); /* closes sv[0] */
        close(sv[1]);
        close(s.epfd);
        history_free(s.history);
        free(buf);
        free(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_new_rejects_zero),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_foreach_newest_oldest_first),
                cmocka_unit_test(test_ring_drops_oldest),
                cmocka_unit_test(test_buffers_reused),
                cmocka_unit_test(test_record_kept_as_record_rt),
                cmocka_unit_test(test_history_reply),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
