/* SPDX-License-Identifier: MIT */
/* The IPC codec: the message table, round trips, and every way a datagram
 * can be wrong. */
#include <errno.h>

#include "helpers.h"
#include "proto/ipcmsg.h"
#include "proto/record-wire.h"
#include "proto/record.h"

static uint8_t buf[IPC_MSG_MAX + 64];

/* One message of every type, with every field set. */
static size_t samples(struct ipc_msg *v) {
        static const char text[] = "cpu add\nsettle\n";
        size_t n = 0;

        v[n] = (struct ipc_msg){ .type = IPC_HELLO, .id = 1, .hello = { .major = 1, .minor = 7, .pid = 42 } };
        strcpy(v[n++].hello.name, "client-a");
        v[n++] = (struct ipc_msg){ .type = IPC_WELCOME, .id = 1, .welcome = { 1, 0, 1, 64, 256, 65536, 99 } };
        v[n] = (struct ipc_msg){ .type = IPC_REPLY, .id = 0xffffffffffffULL, .reply = { .status = -EPERM, .v32 = 3, .v64 = 1ULL << 40 } };
        strcpy(v[n++].reply.text, "not in group dhp");
        v[n] = (struct ipc_msg){ .type = IPC_ERROR, .error = { .status = -EPROTO } };
        strcpy(v[n++].error.text, "bye");
        v[n++] = (struct ipc_msg){ .type = IPC_PING, .id = 5 };
        v[n] = (struct ipc_msg){ .type = IPC_PROC_REGISTER, .id = 6, .proc_register = { .reg = 3, .flags = 1 } };
        strcpy(v[n++].proc_register.name, "percpu");
        v[n++] = (struct ipc_msg){ .type = IPC_PROC_DEREGISTER, .unreg = { .reg = 3 } };
        v[n++] = (struct ipc_msg){ .type = IPC_PROC_CHANGE, .proc_change = { .txn = 7, .state = 1, .index = 3, .status = 0 } };
        v[n++] = (struct ipc_msg){ .type = IPC_PROC_ANSWER, .proc_answer = { 7, 1, -EBUSY, 2, 12345 } };
        v[n] = (struct ipc_msg){ .type = IPC_ARRIVAL_REGISTER, .id = 8, .arrival_register = { 4, 2, 1 } };
        strcpy(v[n++].arrival_register.name, "cache");
        v[n++] = (struct ipc_msg){ .type = IPC_ARRIVAL_UNREGISTER, .unreg = { .reg = 4 } };
        v[n] = (struct ipc_msg){ .type = IPC_ARRIVAL, .arrival = { 4, 2, 1, 1, 0, 1ULL << 30, 512ULL << 20 } };
        strcpy(v[n++].arrival.name, "memory@0x40000000");
        v[n++] = (struct ipc_msg){ .type = IPC_MONITOR_START, .id = 9 };
        v[n++] = (struct ipc_msg){ .type = IPC_MONITOR_STOP, .id = 10 };
        v[n] = (struct ipc_msg){ .type = IPC_RECORD, .record = { .seq = 1, .t_ns = 2, .fields = 0x1ff, .processor = 65,
                                  .group = 1, .number = 1, .base = 3, .size = 4, .block = 5, .dur_ns = 6, .status = -5 } };
        strcpy(v[n].record.method, "sync");
        strcpy(v[n].record.event, "ADD_START");
        strcpy(v[n].record.cls, "processor");
        strcpy(v[n].record.client, "pool");
        strcpy(v[n++].record.detail, "\"x\":1");
        v[n] = (struct ipc_msg){ .type = IPC_RECORD_EXT, .record = { .seq = 7, .t_ns = 8, .fields = 0x200,
                                  .processor = 3, .stopped_ns = 123456 } };
        strcpy(v[n].record.method, "rebalance");
        strcpy(v[n].record.event, "REBALANCED");
        memset(v[n].record.detail, 'd', IPC_RECORD_DETAIL_MAX - 1);
        strcpy(v[n].record.detail_text, "HighMemoryCondition  available=20M");
        strcpy(v[n].record.device, "disk0");
        strcpy(v[n].record.driver, "stor-filter");
        strcpy(v[n].record.reason, "query-stop-refused");
        strcpy(v[n].record.old_affinity, "0-1");
        strcpy(v[n++].record.new_affinity, "0-2,64");
        /* (1.3) the same with the wall-clock time. */
        v[n] = v[n - 1];
        v[n].type = IPC_RECORD_RT;
        v[n++].record.realtime_ns = 1764508492123456789ULL;
        v[n++] = (struct ipc_msg){ .type = IPC_HISTORY, .id = 15, .history = { 512 } };
        v[n++] = (struct ipc_msg){ .type = IPC_LOST, .lost = { 17 } };
        v[n++] = (struct ipc_msg){ .type = IPC_STATUS, .id = 11 };
        v[n] = (struct ipc_msg){ .type = IPC_STATUS_PROC, .id = 11, .status_proc = { .first = 0, .count = IPC_STATUS_PROC_MAX } };
        for (unsigned i = 0; i < IPC_STATUS_PROC_MAX; i++)
                v[n].status_proc.state[i] = (uint8_t)(i % 4);
        n++;
        v[n++] = (struct ipc_msg){ .type = IPC_STATUS_MEM, .id = 11, .status_mem = { 1, 2, 3, 4, 5, 6 } };
        v[n] = (struct ipc_msg){ .type = IPC_STATUS_CLIENT, .id = 11, .status_client = { 1, 2, 3, 4, 5, 6 } };
        strcpy(v[n++].status_client.name, "dhpctl");
        v[n++] = (struct ipc_msg){ .type = IPC_SIM_CPU_ADD, .id = 12 };
        v[n++] = (struct ipc_msg){ .type = IPC_SIM_MEMORY_ADD, .id = 13, .sim_memory_add = { 512ULL << 20 } };
        v[n] = (struct ipc_msg){ .type = IPC_SIM_RUN, .id = 14, .sim_run = { .text = text, .text_len = sizeof(text) - 1 } };
        strcpy(v[n++].sim_run.filename, "x.scenario");
        v[n++] = (struct ipc_msg){ .type = IPC_SIM_CPU_SURPRISE, .id = 15, .cpu_remove = { 3 } };
        v[n++] = (struct ipc_msg){ .type = IPC_CPU_REMOVE, .id = 16, .cpu_remove = { 5 } };
        v[n] = (struct ipc_msg){ .type = IPC_MEMORY_REMOVE, .id = 17 };
        strcpy(v[n++].memory_remove.name, "virtio-mem:virtio2");
        v[n] = (struct ipc_msg){ .type = IPC_ARRIVAL_QUERY,
                                 .arrival_query = { 1ULL << 63 | 5, 3, DHP_EVENT_QUERY_REMOVE, 0, 1ULL << 32, 1ULL << 28 } };
        strcpy(v[n++].arrival_query.name, "memory@0x100000000");
        v[n++] = (struct ipc_msg){ .type = IPC_ARRIVAL_ANSWER, .arrival_answer = { 1ULL << 63 | 5, -EBUSY } };
        v[n] = (struct ipc_msg){ .type = IPC_STATUS_MEM_NAME, .id = 18, .status_mem_name = { 2, 1, 1 } };
        strcpy(v[n++].status_mem_name.name, "virtio-mem:virtio2");
        v[n++] = (struct ipc_msg){ .type = IPC_CPU_ONLINE, .id = 19, .cpu_online = { 4 } };
        v[n++] = (struct ipc_msg){ .type = IPC_STATUS_MEM_BLOCKS, .id = 20,
                                   .status_mem_blocks = { .device = 1, .first_block = 8, .count = 2, .state = 1,
                                                          .zone = 2 } };
        /* memory condition events */
        v[n] = (struct ipc_msg){ .type = IPC_MEMCOND_SUBSCRIBE, .id = 15, .memcond_subscribe = { .sub = 7 } };
        strcpy(v[n++].memcond_subscribe.name, "LowMemoryCondition");
        v[n++] = (struct ipc_msg){ .type = IPC_MEMCOND_UNSUBSCRIBE, .unreg = { .reg = 7 } };
        v[n++] = (struct ipc_msg){ .type = IPC_MEMCOND_STATE,
                                   .memcond_state = { 7, IPC_MEMCOND_SET | IPC_MEMCOND_INITIAL, 5ULL << 20, 1ULL << 30 } };
        v[n] = (struct ipc_msg){ .type = IPC_MEMCOND_CONFIGURE, .id = 16 };
        strcpy(v[n++].memcond_configure.spec, "low=16M,high=64M");
        v[n++] = (struct ipc_msg){ .type = IPC_MEMCOND_GET_THRESHOLD, .id = 17, .memcond_get_threshold = { 2 } };
        /* rebalance devices */
        v[n] = (struct ipc_msg){ .type = IPC_DEVICE_NEW, .id = 18, .device_new = { .dev = 9 } };
        strcpy(v[n].device_new.name, "disk0");
        strcpy(v[n++].device_new.setup_class, "Storage");
        v[n++] = (struct ipc_msg){ .type = IPC_DEVICE_FREE, .unreg = { .reg = 9 } };
        v[n] = (struct ipc_msg){ .type = IPC_DEVICE_SET, .id = 19, .device_set = { 9, IPC_DEVICE_SET_AFFINITY, 0 } };
        strcpy(v[n++].device_set.cpulist, "0-3,8");
        v[n++] = (struct ipc_msg){ .type = IPC_DEVICE_QUERY, .id = 20, .unreg = { .reg = 9 } };
        v[n] = (struct ipc_msg){ .type = IPC_DEVICE_INFO, .id = 20, .device_info = { 9, 0, 1000, 2000 } };
        memset(v[n].device_info.affinity, '7', IPC_AFFINITY_MAX - 1); /* the longest */
        n++;
        v[n] = (struct ipc_msg){ .type = IPC_CLASS_OPTOUT, .id = 21, .class_optout = { IPC_CLASS_OPTOUT_SET, 1 } };
        strcpy(v[n++].class_optout.setup_class, "Net");
        v[n] = (struct ipc_msg){ .type = IPC_DRIVER_ATTACH, .id = 22, .driver_attach = { 9, 10, UINT32_MAX } };
        strcpy(v[n++].driver_attach.name, "upper");
        v[n++] = (struct ipc_msg){ .type = IPC_DRIVER_DETACH, .unreg = { .reg = 10 } };
        v[n] = (struct ipc_msg){ .type = IPC_DEVICE_REQUEST, .device_request = { 99, 9, 10, 4, 2, 3 } };
        strcpy(v[n].device_request.old_affinity, "0-1");
        strcpy(v[n++].device_request.new_affinity, "0-2");
        v[n++] = (struct ipc_msg){ .type = IPC_DEVICE_ANSWER, .device_answer = { 99, -EBUSY, 4242 } };
        return n;
}

/* The samples, then for every row of the table two examples made from the
 * row itself (so a message added to the table is tested without a line
 * here). */
static size_t messages(struct ipc_msg *v) {
        size_t n = samples(v);

        for (size_t i = 0; i < ipcmsg_table_len; i++)
                for (uint64_t seed = 1; seed <= 2; seed++)
                        assert_int_equal(ipcmsg_example(ipcmsg_table[i].type, seed * 1000 + i, &v[n++]), 0);
        return n;
}

/* Names and numbers are unique, every row is known by its number, and the
 * samples above cover every row. */
static void test_table(void **state) {
        static struct ipc_msg v[64];
        size_t n = samples(v);

        assert_true(ipcmsg_table_len > 0);
        for (size_t i = 0; i < ipcmsg_table_len; i++) {
                const struct ipc_desc *d = &ipcmsg_table[i];
                bool sampled = false;

                assert_ptr_equal(ipcmsg_desc(d->type), d);
                assert_string_equal(ipcmsg_type_name(d->type), d->name);
                assert_false(ipcmsg_reserved(d->type));
                assert_true(d->dir >= IPC_DIR_REQUEST && d->dir <= IPC_DIR_NOTIFY);
                assert_true(ipcmsg_from_client(d->type) == (d->dir == IPC_DIR_REQUEST || d->dir == IPC_DIR_ANSWER));
                for (size_t j = 0; j < i; j++) {
                        assert_int_not_equal(ipcmsg_table[j].type, d->type);
                        assert_string_not_equal(ipcmsg_table[j].name, d->name);
                }
                for (size_t j = 0; j < n; j++)
                        sampled |= v[j].type == d->type;
                assert_true(sampled);
        }
        assert_null(ipcmsg_desc(0));
        assert_null(ipcmsg_desc(0x7e));
        assert_string_equal(ipcmsg_type_name(0x7e), "UNKNOWN");
        assert_string_equal(ipcmsg_type_name(0x4f), "RESERVED");
        assert_int_equal(ipcmsg_example(0x7e, 1, &v[0]), -EPROTO);
}

static void test_roundtrip(void **state) {
        static struct ipc_msg v[256], d;
        size_t n = messages(v);

        for (size_t i = 0; i < n; i++) {
                int len = ipcmsg_encode(&v[i], buf, sizeof(buf));
                assert_true(len >= IPC_HEADER_SIZE);
                memset(&d, 0xaa, sizeof(d));
                assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), 0);
                assert_int_equal(d.type, v[i].type);
                assert_true(d.id == v[i].id);
                if (v[i].type == IPC_SIM_RUN) {
                        assert_int_equal(d.sim_run.text_len, v[i].sim_run.text_len);
                        assert_memory_equal(d.sim_run.text, v[i].sim_run.text, d.sim_run.text_len);
                        assert_string_equal(d.sim_run.filename, v[i].sim_run.filename);
                        continue;
                }
                if (v[i].type == IPC_STATUS_PROC) {
                        /* The samples' count is IPC_STATUS_PROC_MAX. */
                        assert_int_equal(d.status_proc.first, v[i].status_proc.first);
                        assert_int_equal(d.status_proc.count, v[i].status_proc.count);
                        assert_memory_equal(d.status_proc.state, v[i].status_proc.state, v[i].status_proc.count);
                        continue;
                }
                /* Every other payload decodes to exactly what was encoded:
                 * compare by encoding again. */
                static uint8_t again[IPC_MSG_MAX];
                assert_int_equal(ipcmsg_encode(&d, again, sizeof(again)), len);
                assert_memory_equal(again, buf, (size_t)len);
                assert_true(ipcmsg_from_client(v[i].type) ==
                            (v[i].type != IPC_WELCOME && v[i].type != IPC_REPLY && v[i].type != IPC_ERROR &&
                             v[i].type != IPC_PROC_CHANGE && v[i].type != IPC_ARRIVAL && v[i].type != IPC_RECORD &&
                             v[i].type != IPC_RECORD_EXT && v[i].type != IPC_RECORD_RT &&
                             v[i].type != IPC_LOST && v[i].type != IPC_STATUS_PROC && v[i].type != IPC_STATUS_MEM &&
                             v[i].type != IPC_STATUS_CLIENT && v[i].type != IPC_MEMCOND_STATE &&
                             v[i].type != IPC_DEVICE_INFO && v[i].type != IPC_DEVICE_REQUEST &&
                             v[i].type != IPC_STATUS_MEM_NAME && v[i].type != IPC_ARRIVAL_QUERY &&
                             v[i].type != IPC_STATUS_MEM_BLOCKS));
                assert_false(ipcmsg_reserved(v[i].type));
                assert_string_not_equal(ipcmsg_type_name(v[i].type), "UNKNOWN");
        }
}

/* Every prefix, and every message one byte longer, is refused; encoding
 * into every buffer shorter than the message says so. */
static void test_truncated_and_extended(void **state) {
        static struct ipc_msg v[256], d;
        size_t n = messages(v);

        for (size_t i = 0; i < n; i++) {
                int len = ipcmsg_encode(&v[i], buf, sizeof(buf));
                assert_true(len >= IPC_HEADER_SIZE);
                for (int cap = 0; cap < len; cap++)
                        assert_int_equal(ipcmsg_encode(&v[i], buf, (size_t)cap), -EMSGSIZE);
                assert_int_equal(ipcmsg_encode(&v[i], buf, sizeof(buf)), len);
                for (int cut = 0; cut < len; cut++) {
                        int r;
                        /* The length field says the truth about the cut
                         * datagram: only the payload is short. */
                        uint8_t save[4];
                        memcpy(save, buf + 4, 4);
                        buf[4] = (uint8_t)cut;
                        buf[5] = (uint8_t)(cut >> 8);
                        buf[6] = (uint8_t)(cut >> 16);
                        buf[7] = 0;
                        r = ipcmsg_decode(buf, (size_t)cut, &d);
                        assert_int_equal(r, -EBADMSG);
                        memcpy(buf + 4, save, 4);
                        /* The length field unchanged: it disagrees. */
                        assert_int_equal(ipcmsg_decode(buf, (size_t)cut, &d), -EBADMSG);
                }
                /* A trailing byte, with a length field that admits it. */
                buf[len] = 0;
                buf[4] = (uint8_t)(len + 1);
                buf[5] = (uint8_t)((len + 1) >> 8);
                buf[6] = (uint8_t)((len + 1) >> 16);
                assert_int_equal(ipcmsg_decode(buf, (size_t)len + 1, &d), -EBADMSG);
        }
}

static void test_bad_fields(void **state) {
        static struct ipc_msg m, d;
        int len;

        m = (struct ipc_msg){ .type = IPC_HELLO, .hello = { 1, 0, 1 } };
        strcpy(m.hello.name, "abc");
        len = ipcmsg_encode(&m, buf, sizeof(buf));
        /* flags must be 0 */
        buf[2] = 1;
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), -EBADMSG);
        buf[2] = 0;
        /* a NUL inside a string */
        buf[len - 2] = 0;
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), -EBADMSG);
        buf[len - 2] = 'b';
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), 0);
        /* a string length past its field: 64 bytes for a 64-byte field */
        {
                uint8_t big[IPC_HEADER_SIZE + 8 + 2 + 64];
                memcpy(big, buf, IPC_HEADER_SIZE + 8);
                big[4] = sizeof(big);
                big[5] = big[6] = big[7] = 0;
                big[IPC_HEADER_SIZE + 8] = 64;
                big[IPC_HEADER_SIZE + 9] = 0;
                memset(big + IPC_HEADER_SIZE + 10, 'x', 64);
                assert_int_equal(ipcmsg_decode(big, sizeof(big), &d), -EBADMSG);
        }
        /* unknown and reserved types */
        buf[0] = 0x7e;
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), -EPROTO);
        buf[0] = 0x4f;
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), -EOPNOTSUPP);
        assert_int_equal(d.type, 0x4f);
        buf[0] = 0x5a; /* past the device types this version has */
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), -EOPNOTSUPP);
        buf[0] = 0x45;
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), -EOPNOTSUPP);
        /* oversized and undersized datagrams */
        assert_int_equal(ipcmsg_decode(buf, IPC_MSG_MAX + 1, &d), -EMSGSIZE);
        assert_int_equal(ipcmsg_decode(buf, 3, &d), -EBADMSG);
        /* a STATUS_PROC count past the cap */
        m = (struct ipc_msg){ .type = IPC_STATUS_PROC, .status_proc = { .count = IPC_STATUS_PROC_MAX + 1 } };
        assert_int_equal(ipcmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        /* encoding into a buffer too small, and an unterminated string */
        m = (struct ipc_msg){ .type = IPC_PING };
        assert_int_equal(ipcmsg_encode(&m, buf, 8), -EMSGSIZE);
        m = (struct ipc_msg){ .type = IPC_HELLO };
        memset(m.hello.name, 'x', sizeof(m.hello.name));
        assert_int_equal(ipcmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        m = (struct ipc_msg){ .type = 0x7e };
        assert_int_equal(ipcmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        /* a SIM_RUN text longer than the message */
        {
                static char text[IPC_MSG_MAX];
                memset(text, 'a', sizeof(text));
                m = (struct ipc_msg){ .type = IPC_SIM_RUN, .sim_run = { .text = text, .text_len = sizeof(text) } };
                assert_int_equal(ipcmsg_encode(&m, buf, sizeof(buf)), -EMSGSIZE);
        }
}

/* The limits of the memory condition and device fields. */
static void test_memcond_device_fields(void **state) {
        static struct ipc_msg m, d;
        static uint8_t raw[IPC_HEADER_SIZE + 64 + IPC_AFFINITY_MAX];
        int len;

        /* An event name of 32 bytes does not fit its field. */
        m = (struct ipc_msg){ .type = IPC_MEMCOND_SUBSCRIBE };
        memset(m.memcond_subscribe.name, 'x', sizeof(m.memcond_subscribe.name));
        assert_int_equal(ipcmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        /* An affinity of IPC_AFFINITY_MAX bytes on the wire is refused:
         * the message is rebuilt from the header and the three u32s. */
        m = (struct ipc_msg){ .type = IPC_DEVICE_SET, .device_set = { 1, IPC_DEVICE_SET_AFFINITY, 0 } };
        strcpy(m.device_set.cpulist, "0");
        len = ipcmsg_encode(&m, raw, sizeof(raw));
        assert_true(len > 0);
        len -= 3; /* the header, 3 x u32, u16 count + "0" */
        raw[len] = (uint8_t)(IPC_AFFINITY_MAX & 0xff);
        raw[len + 1] = (uint8_t)(IPC_AFFINITY_MAX >> 8);
        memset(raw + len + 2, '1', IPC_AFFINITY_MAX);
        len += 2 + IPC_AFFINITY_MAX;
        raw[4] = (uint8_t)len;
        raw[5] = (uint8_t)(len >> 8);
        assert_int_equal(ipcmsg_decode(raw, (size_t)len, &d), -EBADMSG);
        /* One byte less fits: shorten the string and the datagram. */
        len -= 1;
        raw[len - (IPC_AFFINITY_MAX - 1) - 2] = (uint8_t)((IPC_AFFINITY_MAX - 1) & 0xff);
        raw[len - (IPC_AFFINITY_MAX - 1) - 1] = (uint8_t)((IPC_AFFINITY_MAX - 1) >> 8);
        raw[4] = (uint8_t)len;
        raw[5] = (uint8_t)(len >> 8);
        assert_int_equal(ipcmsg_decode(raw, (size_t)len, &d), 0);
        assert_int_equal(strlen(d.device_set.cpulist), IPC_AFFINITY_MAX - 1);
        /* A device request with a NUL inside its affinity. */
        m = (struct ipc_msg){ .type = IPC_DEVICE_REQUEST, .device_request = { 1, 2, 3, 1, 0, 1 } };
        strcpy(m.device_request.old_affinity, "0-1");
        strcpy(m.device_request.new_affinity, "0-2");
        len = ipcmsg_encode(&m, buf, sizeof(buf));
        buf[len - 2] = 0;
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), -EBADMSG);
}

/* Random bytes and random mutations of valid messages never crash and are
 * refused or accepted cleanly (run under ASan in `make check`). */
static void test_fuzz(void **state) {
        static struct ipc_msg v[64], d;
        size_t n = samples(v);
        uint64_t x = 0x9e3779b97f4a7c15ULL;

        for (int iter = 0; iter < 200000; iter++) {
                size_t i = (size_t)(iter % (int)n);
                int len = ipcmsg_encode(&v[i], buf, sizeof(buf));
                int flips;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                flips = 1 + (int)(x % 4);
                for (int f = 0; f < flips; f++) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        buf[x % (uint64_t)len] = (uint8_t)(x >> 32);
                }
                (void)ipcmsg_decode(buf, (size_t)len, &d);
                (void)ipcmsg_decode(buf, (size_t)(x % (uint64_t)len), &d);
        }
}

/* A RECORD (the 1.0 layout) carries a detail of at most 255 bytes and no
 * extras; decoding one leaves the extras empty. */
static void test_record_layouts(void **state) {
        static struct ipc_msg m, d;
        int len;

        m = (struct ipc_msg){ .type = IPC_RECORD, .record = { .seq = 1, .stopped_ns = 5 } };
        strcpy(m.record.method, "memcond");
        strcpy(m.record.event, "SET");
        strcpy(m.record.device, "disk0");
        memset(m.record.detail, 'x', IPC_DETAIL_MAX);
        assert_int_equal(ipcmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        m.record.detail[IPC_DETAIL_MAX - 1] = 0;
        len = ipcmsg_encode(&m, buf, sizeof(buf));
        assert_true(len > 0);
        memset(&d, 0xaa, sizeof(d));
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), 0);
        assert_int_equal(strlen(d.record.detail), IPC_DETAIL_MAX - 1);
        assert_string_equal(d.record.device, "");
        assert_string_equal(d.record.detail_text, "");
        assert_string_equal(d.record.old_affinity, "");
        assert_true(d.record.stopped_ns == 0);
        /* The same bytes as a RECORD_EXT are cut short. */
        buf[0] = IPC_RECORD_EXT;
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), -EBADMSG);
        /* A stored message replayed with a request's id. */
        assert_int_equal(ipcmsg_set_id(buf, (size_t)len, 0x0102030405060708ULL), 0);
        buf[0] = IPC_RECORD;
        assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), 0);
        assert_true(d.id == 0x0102030405060708ULL);
        assert_int_equal(ipcmsg_set_id(buf, 15, 1), -EBADMSG);
}

/* What dhpctl monitor prints of a record it got from dhpd is what dhpctl
 * demo prints of the same record: every field crosses the socket. */
static void format_both(const dhp_record *r, char *json, char *text, size_t size) {
        assert_true(dhp_record_format(r, DHP_RECORD_JSON, json, size) < (int)size);
        assert_true(dhp_record_format(r, DHP_RECORD_TEXT, text, size) < (int)size);
}

static void test_record_wire_identity(void **state) {
#define DETAIL "\"condition\":\"HighMemoryCondition\",\"available\":557842432,\"total\":1610612736"
        static const dhp_record recs[] = {
                { .seq = 69, .t_ns = 1879924, .method = "memcond", .event = "SET", .detail = DETAIL,
                  .detail_text = "HighMemoryCondition  available=532M (high 36M)" },
                { .seq = 23, .t_ns = 1498748, .method = "rebalance", .event = "START",
                  .fields = REC_HAS_PROCESSOR | REC_HAS_STATUS | REC_HAS_DURATION, .processor = 2,
                  .number = { 0, 2 }, .dur_ns = 251, .device = "disk0", .driver = "disk",
                  .old_affinity = "0-1", .new_affinity = "0-2" },
                { .seq = 25, .t_ns = 1502083, .method = "rebalance", .event = "REBALANCED",
                  .fields = REC_HAS_PROCESSOR | REC_HAS_STOPPED, .processor = 2, .number = { 0, 2 },
                  .device = "disk0", .old_affinity = "0-1", .new_affinity = "0-2", .stopped_ns = 133339 },
                { .seq = 30, .t_ns = 1510575, .method = "rebalance", .event = "KEPT",
                  .fields = REC_HAS_PROCESSOR, .processor = 2, .device = "gpu0", .reason = "query-stop-refused",
                  .old_affinity = "0-1" },
                /* Every field at once, and text that needs escaping. */
                { .seq = 1ULL << 40, .t_ns = 99, .method = "sync", .event = "ADD_FAILURE", .cls = "processor",
                  .fields = REC_HAS_PROCESSOR | REC_HAS_MEMORY | REC_HAS_STATUS | REC_HAS_CLIENT | REC_LATE |
                            REC_HAS_BLOCK | REC_VETO | REC_EXISTING | REC_HAS_DURATION | REC_HAS_STOPPED |
                            REC_MISSED,
                  .processor = 65, .number = { 1, 1 }, .base = 1ULL << 30, .size = 128ULL << 20, .block = 8,
                  .dur_ns = 7, .status = -EBUSY, .client = "pool \"a\"\n", .name = "cpu65", .detail = DETAIL,
                  .detail_text = "x=1", .device = "eth0", .driver = "net<drv>", .reason = "driver-bug",
                  .old_affinity = "0-63", .new_affinity = "0-65", .stopped_ns = 42 },
        };
        static char a_json[8192], a_text[8192], b_json[8192], b_text[8192];
        static struct ipc_msg m, d;

        for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
                dhp_record back;
                int len;

                format_both(&recs[i], a_json, a_text, sizeof(a_json));
                m = (struct ipc_msg){ .type = IPC_RECORD_EXT };
                record_wire_export(&recs[i], &m.record);
                len = ipcmsg_encode(&m, buf, sizeof(buf));
                assert_true(len > 0);
                memset(&d, 0x55, sizeof(d));
                assert_int_equal(ipcmsg_decode(buf, (size_t)len, &d), 0);
                record_wire_import(&d.record, &back);
                format_both(&back, b_json, b_text, sizeof(b_json));
                assert_string_equal(b_json, a_json);
                assert_string_equal(b_text, a_text);
        }
}

/* (1.3) RECORD_RT carries the wall-clock time, RECORD_EXT does not: a
 * record that went as RECORD_EXT formats without "time", one that went as
 * RECORD_RT exactly as it was made; RECORD_RT is RECORD_EXT and 8 bytes. */
static void test_record_realtime(void **state) {
        static const dhp_record rec = { .seq = 4, .t_ns = 1500, .realtime_ns = 1764508492123456789ULL,
                                        .method = "async", .event = "ARRIVAL", .name = "cpu2" };
        static char a_json[1024], b_json[1024], text[1024];
        static struct ipc_msg m, d;
        dhp_record back;
        int len_ext, len_rt;

        format_both(&rec, a_json, text, sizeof(a_json));
        assert_non_null(strstr(a_json, ",\"time\":\"2025-11-30T13:14:52.123456Z\","));
        m = (struct ipc_msg){ .type = IPC_RECORD_RT };
        record_wire_export(&rec, &m.record);
        assert_true(m.record.realtime_ns == rec.realtime_ns);
        len_rt = ipcmsg_encode(&m, buf, sizeof(buf));
        assert_true(len_rt > 0);
        memset(&d, 0x55, sizeof(d));
        assert_int_equal(ipcmsg_decode(buf, (size_t)len_rt, &d), 0);
        assert_int_equal(d.type, IPC_RECORD_RT);
        record_wire_import(&d.record, &back);
        assert_true(dhp_record_get_realtime(&back) == rec.realtime_ns);
        format_both(&back, b_json, text, sizeof(b_json));
        assert_string_equal(b_json, a_json);

        m.type = IPC_RECORD_EXT;
        len_ext = ipcmsg_encode(&m, buf, sizeof(buf));
        assert_int_equal(len_rt, len_ext + 8);
        memset(&d, 0x55, sizeof(d));
        assert_int_equal(ipcmsg_decode(buf, (size_t)len_ext, &d), 0);
        assert_true(d.record.realtime_ns == 0);
        record_wire_import(&d.record, &back);
        assert_true(dhp_record_get_realtime(&back) == 0);
        format_both(&back, b_json, text, sizeof(b_json));
        assert_null(strstr(b_json, "\"time\""));
        assert_string_equal(ipcmsg_type_name(IPC_RECORD_RT), "RECORD_RT");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_record_layouts),
                cmocka_unit_test(test_record_realtime),
                cmocka_unit_test(test_record_wire_identity),
                cmocka_unit_test(test_truncated_and_extended),
                cmocka_unit_test(test_bad_fields),
                cmocka_unit_test(test_memcond_device_fields),
                cmocka_unit_test(test_fuzz),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
