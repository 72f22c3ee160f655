/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/names.h"

/* The length of the valid UTF-8 sequence at p (not a control character),
 * 0 when it is not one.  Overlong forms and surrogates are invalid. */
static size_t utf8_char(const unsigned char *p) {
        uint32_t cp;
        size_t n;

        if (p[0] < 0x20 || p[0] == 0x7f)
                return 0;
        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2, cp = p[0] & 0x1f;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                n = 3, cp = p[0] & 0x0f;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                n = 4, cp = p[0] & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
                return 0;
        return n;
}

bool names_valid(const char *s, size_t max) {
        const unsigned char *p = (const unsigned char *)s;
        size_t len = strnlen(s, max + 1);

        if (len > max)
                return false;
        for (size_t i = 0; i < len;) {
                size_t n = utf8_char(p + i);
                if (n == 0)
                        return false;
                i += n;
        }
        return true;
}

char *names_escape(const char *in, char *out, size_t size) {
        const unsigned char *p = (const unsigned char *)in;
        size_t o = 0;

        if (!size)
                return out;
        while (*p) {
                size_t n = utf8_char(p);
                char esc[5];
                const char *src = (const char *)p;
                size_t len = n;

                if (n == 1 && *p == '\\') {
                        src = "\\\\";
                        len = 2;
                } else if (n == 0) {
                        snprintf(esc, sizeof(esc), "\\x%02x", *p);
                        src = esc;
                        len = 4;
                        n = 1;
                }
                if (o + len >= size)
                        break;
                memcpy(out + o, src, len);
                o += len;
                p += n;
        }
        out[o] = 0;
        return out;
}

char *names_copy(const char *in, char *out, size_t size) {
        size_t n = strlen(in);

        if (!size)
                return out;
        if (n >= size) {
                n = size - 1;
                /* Back over continuation bytes to the start of the
                 * character that did not fit. */
                while (n > 0 && ((unsigned char)in[n] & 0xc0) == 0x80)
                        n--;
        }
        memcpy(out, in, n);
        out[n] = 0;
        return out;
}
