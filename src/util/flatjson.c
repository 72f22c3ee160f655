/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/flatjson.h"

struct parser {
        const char *s;
        size_t len, pos;
        const char *error;
        char *pool;     /* decoded strings, each NUL-terminated */
        size_t pool_len;
};

static bool fail(struct parser *p, const char *why) {
        if (!p->error)
                p->error = why;
        return false;
}

static void skip_blank(struct parser *p) {
        while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\r' ||
                                   p->s[p->pos] == '\n'))
                p->pos++;
}

static bool expect(struct parser *p, char c, const char *why) {
        skip_blank(p);
        if (p->pos >= p->len || p->s[p->pos] != c)
                return fail(p, why);
        p->pos++;
        return true;
}

static int hex4(const char *s) {
        int v = 0;

        for (int i = 0; i < 4; i++) {
                char c = s[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= c - '0';
                else if (c >= 'a' && c <= 'f')
                        v |= c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                        v |= c - 'A' + 10;
                else
                        return -1;
        }
        return v;
}

static void put_utf8(char *out, size_t *n, uint32_t cp) {
        if (cp < 0x80) {
                out[(*n)++] = (char)cp;
        } else if (cp < 0x800) {
                out[(*n)++] = (char)(0xc0 | (cp >> 6));
                out[(*n)++] = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
                out[(*n)++] = (char)(0xe0 | (cp >> 12));
                out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[(*n)++] = (char)(0x80 | (cp & 0x3f));
        } else {
                out[(*n)++] = (char)(0xf0 | (cp >> 18));
                out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[(*n)++] = (char)(0x80 | (cp & 0x3f));
        }
}

/* A string literal at p->pos, decoded into the pool; its offset there.
 * The pool is sized for the whole input: a decoded string is never longer
 * than its literal. */
static bool parse_string(struct parser *p, size_t *ret_off) {
        size_t n = p->pool_len;

        if (!expect(p, '"', "expected a string"))
                return false;
        for (;;) {
                unsigned char c;
                if (p->pos >= p->len)
                        return fail(p, "unterminated string");
                c = (unsigned char)p->s[p->pos];
                if (c == '"') {
                        p->pos++;
                        break;
                }
                if (c < 0x20)
                        return fail(p, "a control character inside a string (escape it)");
                if (c != '\\') {
                        p->pool[n++] = (char)c;
                        p->pos++;
                        continue;
                }
                if (p->pos + 1 >= p->len)
                        return fail(p, "unterminated string");
                switch (p->s[p->pos + 1]) {
                case '"': p->pool[n++] = '"'; break;
                case '\\': p->pool[n++] = '\\'; break;
                case '/': p->pool[n++] = '/'; break;
                case 'b': p->pool[n++] = '\b'; break;
                case 'f': p->pool[n++] = '\f'; break;
                case 'n': p->pool[n++] = '\n'; break;
                case 'r': p->pool[n++] = '\r'; break;
                case 't': p->pool[n++] = '\t'; break;
                case 'u': {
                        int cp = p->pos + 6 <= p->len ? hex4(p->s + p->pos + 2) : -1;
                        if (cp < 0)
                                return fail(p, "\\u needs four hex digits");
                        if (cp == 0)
                                return fail(p, "\\u0000 is not allowed (a NUL inside a string)");
                        if (cp >= 0xdc00 && cp <= 0xdfff)
                                return fail(p, "a lone low surrogate");
                        if (cp >= 0xd800 && cp <= 0xdbff) {
                                int lo = p->pos + 12 <= p->len && p->s[p->pos + 6] == '\\' && p->s[p->pos + 7] == 'u'
                                                 ? hex4(p->s + p->pos + 8)
                                                 : -1;
                                if (lo < 0xdc00 || lo > 0xdfff)
                                        return fail(p, "a high surrogate without its low surrogate");
                                put_utf8(p->pool, &n, 0x10000 + (((uint32_t)cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00));
                                p->pos += 6;
                        } else {
                                put_utf8(p->pool, &n, (uint32_t)cp);
                        }
                        p->pos += 4;
                        break;
                }
                default:
                        return fail(p, "an unknown escape");
                }
                p->pos += 2;
        }
        p->pool[n++] = 0;
        *ret_off = p->pool_len;
        p->pool_len = n;
        return true;
}

static bool parse_integer(struct parser *p, struct flatjson_member *m) {
        uint64_t v = 0;
        size_t start;

        if (p->s[p->pos] == '-') {
                m->negative = true;
                p->pos++;
        }
        start = p->pos;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
                return fail(p, "expected a digit");
        if (p->s[p->pos] == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
                return fail(p, "a number with a leading zero");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
                unsigned d = (unsigned)(p->s[p->pos] - '0');
                if (v > (UINT64_MAX - d) / 10) {
                        p->pos = start;
                        return fail(p, "an integer too large for 64 bits");
                }
                v = v * 10 + d;
                p->pos++;
        }
        if (p->pos < p->len && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
                return fail(p, "a fraction or exponent (dhp records hold integers only)");
        m->u = v;
        m->type = FLATJSON_INTEGER;
        return true;
}

static bool parse_literal(struct parser *p, const char *word) {
        size_t n = strlen(word);

        if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
                return fail(p, "expected a string, an integer, true, false or null");
        p->pos += n;
        return true;
}

static bool parse_value(struct parser *p, struct flatjson_member *m, size_t *ret_off) {
        skip_blank(p);
        if (p->pos >= p->len)
                return fail(p, "expected a value");
        switch (p->s[p->pos]) {
        case '"':
                m->type = FLATJSON_STRING;
                return parse_string(p, ret_off);
        case '{':
        case '[':
                return fail(p, "a nested object or array (dhp records are flat)");
        case 't':
                m->type = FLATJSON_BOOL;
                m->b = true;
                return parse_literal(p, "true");
        case 'f':
                m->type = FLATJSON_BOOL;
                return parse_literal(p, "false");
        case 'n':
                m->type = FLATJSON_NULL;
                return parse_literal(p, "null");
        default:
                return parse_integer(p, m);
        }
}

/* Double the three member arrays (16 at first); each one that grew is kept
 * even when a later one fails, so that the caller frees all three. */
static int grow(struct flatjson_member **v, size_t **keys, size_t **vals, size_t *cap) {
        size_t c2 = *cap ? 2 * *cap : 16;
        struct flatjson_member *v2 = realloc(*v, c2 * sizeof(*v2));
        size_t *k2 = v2 ? realloc(*keys, c2 * sizeof(*k2)) : NULL;
        size_t *s2 = k2 ? realloc(*vals, c2 * sizeof(*s2)) : NULL;

        if (v2)
                *v = v2;
        if (k2)
                *keys = k2;
        if (!s2)
                return -ENOMEM;
        *vals = s2;
        *cap = c2;
        return 0;
}

int flatjson_parse(const char *text, size_t len, struct flatjson *ret, size_t *ret_offset, const char **ret_message) {
        struct parser p = { .s = text, .len = len };
        struct flatjson_member *v = NULL;
        size_t *keys = NULL, *vals = NULL, n = 0, cap = 0;
        int r = -EBADMSG;

        if (!text || !ret)
                return -EINVAL;
        p.pool = malloc(len + 1);
        if (!p.pool)
                return -ENOMEM;
        if (!expect(&p, '{', "expected '{' (one JSON object per line)"))
                goto out;
        skip_blank(&p);
        if (p.pos < p.len && p.s[p.pos] == '}') {
                p.pos++;
        } else {
                for (;;) {
                        size_t key, val = 0, at;
                        skip_blank(&p);
                        at = p.pos;
                        if (!parse_string(&p, &key))
                                goto out;
                        for (size_t i = 0; i < n; i++)
                                if (strcmp(p.pool + keys[i], p.pool + key) == 0) {
                                        p.pos = at;
                                        fail(&p, "a duplicate key");
                                        goto out;
                                }
                        if (n == cap && grow(&v, &keys, &vals, &cap) < 0) {
                                r = -ENOMEM;
                                goto out;
                        }
                        v[n] = (struct flatjson_member){ 0 };
                        if (!expect(&p, ':', "expected ':' after the key") || !parse_value(&p, &v[n], &val))
                                goto out;
                        keys[n] = key;
                        vals[n++] = val;
                        skip_blank(&p);
                        if (p.pos < p.len && p.s[p.pos] == ',') {
                                p.pos++;
                                continue;
                        }
                        if (!expect(&p, '}', "expected ',' or '}'"))
                                goto out;
                        break;
                }
        }
        skip_blank(&p);
        if (p.pos != p.len) {
                fail(&p, "text after the object");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                v[i].key = p.pool + keys[i];
                if (v[i].type == FLATJSON_STRING)
                        v[i].str = p.pool + vals[i];
        }
        *ret = (struct flatjson){ .n = n, .members = v, .pool = p.pool };
        v = NULL;
        p.pool = NULL;
        r = 0;
out:
        if (r == -EBADMSG) {
                if (ret_offset)
                        *ret_offset = p.pos;
                if (ret_message)
                        *ret_message = p.error ? p.error : "malformed";
        }
        free(v);
        free(keys);
        free(vals);
        free(p.pool);
        return r;
}

void flatjson_deinit(struct flatjson *o) {
        if (!o)
                return;
        free(o->members);
        free(o->pool);
        *o = (struct flatjson){ 0 };
}

const struct flatjson_member *flatjson_get(const struct flatjson *o, const char *key) {
        for (size_t i = 0; i < o->n; i++)
                if (strcmp(o->members[i].key, key) == 0)
                        return &o->members[i];
        return NULL;
}

const char *flatjson_get_string(const struct flatjson *o, const char *key) {
        const struct flatjson_member *m = flatjson_get(o, key);

        return m && m->type == FLATJSON_STRING ? m->str : NULL;
}

int flatjson_get_u64(const struct flatjson *o, const char *key, uint64_t *ret) {
        const struct flatjson_member *m = flatjson_get(o, key);

        if (!m)
                return -ENOENT;
        if (m->type != FLATJSON_INTEGER || m->negative)
                return -EINVAL;
        *ret = m->u;
        return 0;
}

bool flatjson_get_true(const struct flatjson *o, const char *key) {
        const struct flatjson_member *m = flatjson_get(o, key);

        return m && m->type == FLATJSON_BOOL && m->b;
}
