/* SPDX-License-Identifier: MIT */
/*
 * The IPC message codec.  A writer and a reader over a byte buffer, each
 * with a sticky error: a field that does not fit (writing) or is not there
 * (reading) sets it, and every later field is a no-op, so one loop over a
 * message's row of IPC_MESSAGES encodes it, another decodes it, and each
 * checks the error once at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/ipcmsg.h"

struct writer {
        uint8_t *buf;
        size_t cap, len;
        int err;
};

struct reader {
        const uint8_t *buf;
        size_t len, pos;
        int err;
};

static void w_bytes(struct writer *w, const void *p, size_t n) {
        if (w->err)
                return;
        if (n > w->cap - w->len) {
                w->err = -EMSGSIZE;
                return;
        }
        if (n)
                memcpy(w->buf + w->len, p, n);
        w->len += n;
}

static void w_uint(struct writer *w, uint64_t v, unsigned size) {
        uint8_t b[8];

        for (unsigned i = 0; i < size; i++)
                b[i] = (uint8_t)(v >> (8 * i));
        w_bytes(w, b, size);
}

#define w_u8(w, v) w_uint((w), (v), 1)
#define w_u16(w, v) w_uint((w), (v), 2)
#define w_u32(w, v) w_uint((w), (uint32_t)(v), 4)
#define w_u64(w, v) w_uint((w), (v), 8)

/* A string field of a struct: at most max - 1 bytes (it came from a field of
 * that size, NUL included). */
static void w_str(struct writer *w, const char *s, size_t max) {
        size_t n = strnlen(s, max);

        if (n >= max) {
                if (!w->err)
                        w->err = -EINVAL;
                return;
        }
        w_u16(w, n);
        w_bytes(w, s, n);
}

static const uint8_t *r_take(struct reader *r, size_t n) {
        const uint8_t *p;

        if (r->err)
                return NULL;
        if (n > r->len - r->pos) {
                r->err = -EBADMSG;
                return NULL;
        }
        p = r->buf + r->pos;
        r->pos += n;
        return p;
}

static uint64_t r_uint(struct reader *r, unsigned size) {
        const uint8_t *p = r_take(r, size);
        uint64_t v = 0;

        if (!p)
                return 0;
        for (unsigned i = 0; i < size; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

#define r_u8(r) ((uint8_t)r_uint((r), 1))
#define r_u16(r) ((uint16_t)r_uint((r), 2))
#define r_u32(r) ((uint32_t)r_uint((r), 4))
#define r_i32(r) ((int32_t)(uint32_t)r_uint((r), 4))
#define r_u64(r) (r_uint((r), 8))

/* Into a field of `size` bytes: at most size - 1, no NUL inside. */
static void r_str(struct reader *r, char *dst, size_t size) {
        uint16_t n = r_u16(r);
        const uint8_t *p;

        dst[0] = 0;
        if (r->err)
                return;
        if (n >= size) {
                r->err = -EBADMSG;
                return;
        }
        p = r_take(r, n);
        if (!p)
                return;
        if (memchr(p, 0, n)) {
                r->err = -EBADMSG;
                return;
        }
        memcpy(dst, p, n);
        dst[n] = 0;
}

/* ---- the table ------------------------------------------------------------ */

#define IPC_MEMBER_SIZE(m) sizeof(((struct ipc_msg *)0)->m)
#define IPC_F_INT(m) { IPC_FIELD_INT, offsetof(struct ipc_msg, m), IPC_MEMBER_SIZE(m), 0 },
#define IPC_F_STR(m) { IPC_FIELD_STR, offsetof(struct ipc_msg, m), IPC_MEMBER_SIZE(m), 0 },
#define IPC_F_STRN(m, n) { IPC_FIELD_STR, offsetof(struct ipc_msg, m), (n), 0 },
#define IPC_F_STR_SET(m) { IPC_FIELD_STR_SET, offsetof(struct ipc_msg, m), IPC_MEMBER_SIZE(m), 0 },
#define IPC_F_ABSENT(m) { IPC_FIELD_ABSENT, offsetof(struct ipc_msg, m), IPC_MEMBER_SIZE(m), 0 },
#define IPC_F_BYTES(c, a) { IPC_FIELD_BYTES, offsetof(struct ipc_msg, c), IPC_MEMBER_SIZE(a), offsetof(struct ipc_msg, a) },
#define IPC_F_BLOB(p, l) { IPC_FIELD_BLOB, offsetof(struct ipc_msg, l), 0, offsetof(struct ipc_msg, p) },

#define IPC_X_DESC(n, number, d, f) \
        { .type = number, .dir = IPC_DIR_##d, .name = #n, .fields = (const struct ipc_field[]){ f { IPC_FIELD_END, 0, 0, 0 } } },
const struct ipc_desc ipcmsg_table[] = { IPC_MESSAGES(IPC_X_DESC) };
#undef IPC_X_DESC
const size_t ipcmsg_table_len = sizeof(ipcmsg_table) / sizeof(ipcmsg_table[0]);

/* Each type's row in ipcmsg_table. */
enum {
#define IPC_X_ROW(n, number, d, f) ROW_##n,
        IPC_MESSAGES(IPC_X_ROW)
#undef IPC_X_ROW
};

const struct ipc_desc *ipcmsg_desc(uint16_t type) {
        switch (type) {
#define IPC_X_CASE(n, number, d, f) \
        case IPC_##n:               \
                return &ipcmsg_table[ROW_##n];
                IPC_MESSAGES(IPC_X_CASE)
#undef IPC_X_CASE
        }
        return NULL;
}

bool ipcmsg_from_client(uint16_t type) {
        const struct ipc_desc *d = ipcmsg_desc(type);

        return d && (d->dir == IPC_DIR_REQUEST || d->dir == IPC_DIR_ANSWER);
}

bool ipcmsg_reserved(uint16_t type) {
        return !ipcmsg_desc(type) &&
               ((type >= IPC_RESERVED_MEMCOND_FIRST && type <= IPC_RESERVED_MEMCOND_LAST) ||
                (type >= IPC_RESERVED_REBALANCE_FIRST && type <= IPC_RESERVED_REBALANCE_LAST));
}

const char *ipcmsg_type_name(uint16_t type) {
        const struct ipc_desc *d = ipcmsg_desc(type);

        if (d)
                return d->name;
        return ipcmsg_reserved(type) ? "RESERVED" : "UNKNOWN";
}

/* ---- one codec, driven by the table ------------------------------------------- */

static uint64_t load_int(const void *p, size_t size) {
        uint8_t v8;
        uint16_t v16;
        uint32_t v32;
        uint64_t v64;

        switch (size) {
        case 1: memcpy(&v8, p, 1); return v8;
        case 2: memcpy(&v16, p, 2); return v16;
        case 4: memcpy(&v32, p, 4); return v32;
        default: memcpy(&v64, p, 8); return v64;
        }
}

static void store_int(void *p, size_t size, uint64_t v) {
        uint8_t v8 = (uint8_t)v;
        uint16_t v16 = (uint16_t)v;
        uint32_t v32 = (uint32_t)v;

        switch (size) {
        case 1: memcpy(p, &v8, 1); break;
        case 2: memcpy(p, &v16, 2); break;
        case 4: memcpy(p, &v32, 4); break;
        default: memcpy(p, &v, 8); break;
        }
}

/* An integer field of its width, one of four constants, so that each case
 * is the inlined fixed-size write rather than a loop over a variable width
 * (a small message's round trip cost about twice as much with the loop). */
static void w_int(struct writer *w, const void *p, size_t size) {
        switch (size) {
        case 1: w_uint(w, load_int(p, 1), 1); break;
        case 2: w_uint(w, load_int(p, 2), 2); break;
        case 4: w_uint(w, load_int(p, 4), 4); break;
        default: w_uint(w, load_int(p, 8), 8); break;
        }
}

static void r_int(struct reader *r, void *p, size_t size) {
        switch (size) {
        case 1: store_int(p, 1, r_uint(r, 1)); break;
        case 2: store_int(p, 2, r_uint(r, 2)); break;
        case 4: store_int(p, 4, r_uint(r, 4)); break;
        default: store_int(p, 8, r_uint(r, 8)); break;
        }
}

/* Returns -EINVAL for a count or a pointer that does not describe its
 * bytes (checked before anything else is, as the fields came), else the
 * writer's sticky error. */
static int encode_fields(const struct ipc_desc *d, const struct ipc_msg *m, struct writer *w) {
        const uint8_t *base = (const uint8_t *)m;

        for (const struct ipc_field *f = d->fields; f->kind != IPC_FIELD_END; f++) {
                const uint8_t *p = base + f->off;
                uint32_t n;

                switch (f->kind) {
                case IPC_FIELD_INT:
                        w_int(w, p, f->size);
                        break;
                case IPC_FIELD_STR:
                case IPC_FIELD_STR_SET:
                        w_str(w, (const char *)p, f->size);
                        break;
                case IPC_FIELD_ABSENT:
                        break;
                case IPC_FIELD_BYTES:
                        n = (uint32_t)load_int(p, 4);
                        if (n > f->size)
                                return -EINVAL;
                        w_u32(w, n);
                        w_bytes(w, base + f->aux, n);
                        break;
                case IPC_FIELD_BLOB: {
                        const void *data;
                        n = (uint32_t)load_int(p, 4);
                        memcpy(&data, base + f->aux, sizeof(data));
                        if (n && !data)
                                return -EINVAL;
                        w_u32(w, n);
                        w_bytes(w, data, n);
                        break;
                }
                }
        }
        return w->err;
}

/* The bytes of *m that type d's fields occupy, [*ret_lo, *ret_hi). */
static void fields_extent(const struct ipc_desc *d, size_t *ret_lo, size_t *ret_hi) {
        size_t lo = sizeof(struct ipc_msg), hi = 0;

        for (const struct ipc_field *f = d->fields; f->kind != IPC_FIELD_END; f++) {
                size_t end = (size_t)f->off + (f->kind == IPC_FIELD_BYTES || f->kind == IPC_FIELD_BLOB ? 4 : f->size);
                lo = f->off < lo ? f->off : lo;
                hi = end > hi ? end : hi;
                if (f->kind == IPC_FIELD_BYTES || f->kind == IPC_FIELD_BLOB) {
                        size_t at = f->aux, aend = at + (f->kind == IPC_FIELD_BYTES ? f->size : sizeof(void *));
                        lo = at < lo ? at : lo;
                        hi = aend > hi ? aend : hi;
                }
        }
        *ret_lo = lo < hi ? lo : hi;
        *ret_hi = hi;
}

/* Field errors are left in r->err. */
static void decode_fields(const struct ipc_desc *d, struct reader *r, struct ipc_msg *m) {
        uint8_t *base = (uint8_t *)m;
        size_t lo, hi;

        /* The type's own bytes start zeroed, whatever *m held before (a
         * buffer reused message after message): padding and the unused
         * tail of a byte array included.  Only those: a small message
         * does not pay for the 8 KiB union. */
        fields_extent(d, &lo, &hi);
        memset(base + lo, 0, hi - lo);

        for (const struct ipc_field *f = d->fields; f->kind != IPC_FIELD_END; f++) {
                uint8_t *p = base + f->off;
                const uint8_t *bytes;
                uint32_t n;

                switch (f->kind) {
                case IPC_FIELD_INT:
                        r_int(r, p, f->size);
                        break;
                case IPC_FIELD_STR:
                        r_str(r, (char *)p, f->size);
                        break;
                case IPC_FIELD_STR_SET:
                        r_str(r, (char *)p, f->size);
                        if (!r->err && !p[0])
                                r->err = -EBADMSG;
                        break;
                case IPC_FIELD_ABSENT:
                        memset(p, 0, f->size);
                        break;
                case IPC_FIELD_BYTES:
                        n = r_u32(r);
                        store_int(p, 4, n);
                        if (!r->err && n > f->size)
                                r->err = -EBADMSG;
                        bytes = r_take(r, n);
                        if (bytes)
                                memcpy(base + f->aux, bytes, n);
                        break;
                case IPC_FIELD_BLOB:
                        n = r_u32(r);
                        store_int(p, 4, n);
                        bytes = r_take(r, n);
                        memcpy(base + f->aux, &bytes, sizeof(bytes));
                        break;
                }
        }
}

int ipcmsg_encode(const struct ipc_msg *m, void *buf, size_t size) {
        struct writer w = { .buf = buf, .cap = size < IPC_MSG_MAX ? size : IPC_MSG_MAX };
        const struct ipc_desc *d;
        int r;

        if (!m || !buf)
                return -EINVAL;
        d = ipcmsg_desc(m->type);
        if (!d)
                return -EINVAL;
        w_u16(&w, m->type);
        w_u16(&w, 0);
        w_u32(&w, 0); /* the length, patched below */
        w_u64(&w, m->id);
        r = encode_fields(d, m, &w);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < 4; i++)
                w.buf[4 + i] = (uint8_t)(w.len >> (8 * i));
        return (int)w.len;
}

int ipcmsg_decode(const void *buf, size_t len, struct ipc_msg *m) {
        struct reader r = { .buf = buf, .len = len };
        const struct ipc_desc *d;
        uint16_t flags;
        uint32_t length;

        if (!buf || !m)
                return -EINVAL;
        if (len > IPC_MSG_MAX)
                return -EMSGSIZE;
        if (len < IPC_HEADER_SIZE)
                return -EBADMSG;
        m->type = r_u16(&r);
        flags = r_u16(&r);
        length = r_u32(&r);
        m->id = r_u64(&r);
        if (flags != 0 || length != len)
                return -EBADMSG;
        if (ipcmsg_reserved(m->type))
                return -EOPNOTSUPP;
        d = ipcmsg_desc(m->type);
        if (!d)
                return -EPROTO;
        decode_fields(d, &r, m);
        if (r.err)
                return r.err;
        return r.pos == r.len ? 0 : -EBADMSG;
}

int ipcmsg_set_id(void *buf, size_t len, uint64_t id) {
        uint8_t *p = buf;

        if (!buf || len < IPC_HEADER_SIZE)
                return -EBADMSG;
        for (unsigned i = 0; i < 8; i++)
                p[8 + i] = (uint8_t)(id >> (8 * i));
        return 0;
}

int ipcmsg_example(uint16_t type, uint64_t seed, struct ipc_msg *m) {
        static const char text[] = "cpu add\nsettle\n";
        const struct ipc_desc *d = ipcmsg_desc(type);
        uint8_t *base = (uint8_t *)m;
        const char *blob = text;

        if (!d)
                return -EPROTO;
        memset(m, 0, sizeof(*m));
        m->type = type;
        m->id = seed;
        for (const struct ipc_field *f = d->fields; f->kind != IPC_FIELD_END; f++) {
                uint8_t *p = base + f->off;
                uint64_t v = seed * 0x9e3779b97f4a7c15ULL + f->off;

                switch (f->kind) {
                case IPC_FIELD_INT:
                        store_int(p, f->size, v);
                        break;
                case IPC_FIELD_STR:
                case IPC_FIELD_STR_SET:
                        snprintf((char *)p, f->size, "%s-%llu", d->name, (unsigned long long)(seed % 1000));
                        break;
                case IPC_FIELD_ABSENT:
                        break;
                case IPC_FIELD_BYTES:
                        store_int(p, 4, 1 + seed % 8);
                        memset(base + f->aux, (int)(v >> 56), 1 + seed % 8);
                        break;
                case IPC_FIELD_BLOB:
                        store_int(p, 4, sizeof(text) - 1);
                        memcpy(base + f->aux, &blob, sizeof(blob));
                        break;
                }
        }
        return 0;
}
