/* SPDX-License-Identifier: MIT */
/*
 * The explanation of the last failed call, per thread (dhp_strerror()).
 * A failing request records a sentence a person can act on beside its
 * errno; dhp_strerror(error) returns it while the error matches, else the
 * errno's own text.  Per thread: no call of one thread can overwrite what
 * another thread is about to read.  Kept in a heap block behind a
 * pthread key (not static TLS: that would be zeroed into every thread of
 * the application, whether it uses the library or not).
 */
#pragma once

/* Record `error` (a negative errno) and its explanation for this thread. */
void errtext_set(int error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget this thread's explanation (a new request begins). */
void errtext_clear(void);
