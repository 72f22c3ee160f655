/* SPDX-License-Identifier: MIT */
/*
 * A logger is a function and its userdata, owned by whoever embeds the
 * engine.  The library only emits debug messages through it; the daemon and
 * the CLI decide what reaches a person.
 */
#pragma once

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_NOTICE = 5, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

typedef void (*log_fn)(void *userdata, int level, const char *msg);

struct logger {
        log_fn fn;
        void *userdata;
};

void logger_printf(const struct logger *l, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void logger_vprintf(const struct logger *l, int level, const char *fmt, va_list ap);

#define log_debug(l, ...) logger_printf((l), LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(l, ...) logger_printf((l), LOG_LEVEL_INFO, __VA_ARGS__)
#define log_notice(l, ...) logger_printf((l), LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_warning(l, ...) logger_printf((l), LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(l, ...) logger_printf((l), LOG_LEVEL_ERR, __VA_ARGS__)
