/* SPDX-License-Identifier: MIT */
/*
 * Text that comes from outside (a client's name, a device's, a file name)
 * checked at the protocol boundary and escaped wherever dhpd prints it, so
 * that no client can forge a log line, move a terminal's cursor or make
 * dhpd emit invalid UTF-8.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Whether s is valid UTF-8 without control characters (C0, DEL, C1), at
 * most max bytes long (its NUL aside).  An empty string is valid. */
bool names_valid(const char *s, size_t max);

/*
 * names_escape - copy `in` into out[size] with every control character,
 * DEL, C1 control and byte of an invalid UTF-8 sequence written as \xNN and
 * a backslash as \\; truncated on a character boundary, always
 * NUL-terminated (size > 0).  Returns out.
 */
char *names_escape(const char *in, char *out, size_t size);

/* Copy valid UTF-8 `in` into out[size], cut on a character boundary (a
 * name shortened to fit stays valid UTF-8).  Returns out. */
char *names_copy(const char *in, char *out, size_t size);
