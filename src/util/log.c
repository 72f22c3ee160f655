/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "util/log.h"

void logger_vprintf(const struct logger *l, int level, const char *fmt, va_list ap) {
        char buf[1024];

        if (!logger_enabled(l, level))
                return;
        vsnprintf(buf, sizeof(buf), fmt, ap);
        l->fn(l->userdata, level, buf);
}

void logger_printf(const struct logger *l, int level, const char *fmt, ...) {
        va_list ap;

        if (!logger_enabled(l, level))
                return;
        va_start(ap, fmt);
        logger_vprintf(l, level, fmt, ap);
        va_end(ap);
}
