/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dhp.h"
#include "lib/errtext.h"

#define ERRTEXT_MAX 512

struct errtext {
        int error; /* 0: nothing recorded */
        char text[ERRTEXT_MAX];
};

static pthread_key_t errtext_key;
static pthread_once_t errtext_once = PTHREAD_ONCE_INIT;
static int errtext_key_error;

static void errtext_key_make(void) {
        errtext_key_error = pthread_key_create(&errtext_key, free);
}

static struct errtext *errtext_get(bool create) {
        struct errtext *t;

        pthread_once(&errtext_once, errtext_key_make);
        if (errtext_key_error)
                return NULL;
        t = pthread_getspecific(errtext_key);
        if (!t && create) {
                t = calloc(1, sizeof(*t));
                if (t && pthread_setspecific(errtext_key, t) != 0) {
                        free(t);
                        t = NULL;
                }
        }
        return t;
}

void errtext_set(int error, const char *fmt, ...) {
        struct errtext *t = errtext_get(true);
        va_list ap;

        if (!t)
                return;
        t->error = error;
        va_start(ap, fmt);
        vsnprintf(t->text, sizeof(t->text), fmt, ap);
        va_end(ap);
}

void errtext_clear(void) {
        struct errtext *t = errtext_get(false);

        if (t)
                t->error = 0;
}

DHP_EXPORT const char *dhp_strerror(int error) {
        struct errtext *t = errtext_get(true);

        if (error > 0)
                error = -error;
        if (t && t->error == error && error < 0)
                return t->text;
        if (!t)
                return error == 0 ? "Success" : "Unknown error (no memory for its explanation)";
        /* The errno's own text, in this thread's buffer (strerror() is
         * not thread-safe for unknown values). */
        t->error = 0;
        if (error == 0)
                snprintf(t->text, sizeof(t->text), "Success");
        else
                snprintf(t->text, sizeof(t->text), "%s", strerrordesc_np(-error) ? strerrordesc_np(-error)
                                                                                   : "Unknown error");
        return t->text;
}
