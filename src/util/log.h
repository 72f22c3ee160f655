/* SPDX-License-Identifier: MIT */
/*
 * A logger is a function and its userdata, owned by whoever embeds the
 * engine.  The library only emits debug messages through it; the daemon and
 * the CLI decide what reaches a person.
 *
 * The log_*() macros check the level before anything is formatted, and do
 * not evaluate their arguments for a record below it: a debug line on a hot
 * path costs a load and a compare when debug is off.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_NOTICE = 5, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

typedef void (*log_fn)(void *userdata, int level, const char *msg);

struct logger {
        log_fn fn;
        void *userdata;
        /* The most verbose level fn takes, read before any formatting; NULL:
         * every level (fn decides).  A pointer into the owner's state, so
         * that a change (dhpd's SIGHUP) reaches every copy of the logger. */
        const int *max_level;
};

/* Whether a record of this level would reach fn. */
static inline bool logger_enabled(const struct logger *l, int level) {
        return l && l->fn && (!l->max_level || level <= __atomic_load_n(l->max_level, __ATOMIC_RELAXED));
}

/* Format and pass on, unless the level is off (checked here too, for a
 * caller that computes its level). */
void logger_printf(const struct logger *l, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void logger_vprintf(const struct logger *l, int level, const char *fmt, va_list ap);

#define logger_log(l, level, ...)                                    \
        do {                                                         \
                const struct logger *log_l_ = (l);                   \
                if (logger_enabled(log_l_, (level)))                 \
                        logger_printf(log_l_, (level), __VA_ARGS__); \
        } while (0)

#define log_debug(l, ...) logger_log((l), LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(l, ...) logger_log((l), LOG_LEVEL_INFO, __VA_ARGS__)
#define log_notice(l, ...) logger_log((l), LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_warning(l, ...) logger_log((l), LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(l, ...) logger_log((l), LOG_LEVEL_ERR, __VA_ARGS__)
