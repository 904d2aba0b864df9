/* log — one line per event on stderr, tagged with the module.
 *
 * Each .c file names its module before including this header:
 *     #define LOG_TAG "store"
 *     #include "log.h"
 * and logs with the ids a person needs: log_info("commit events=%d version=%llu", n, v).
 * Lines look like: 2026-11-28T23:40:01.123+07:00 INFO  [store] commit events=12 version=40
 * Never log a secret key. */
#ifndef DK_LOG_H
#define DK_LOG_H

#include <stdarg.h>

#ifndef LOG_TAG
#define LOG_TAG "main"
#endif

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Sets the most verbose level printed (default LOG_INFO; DK_LOG=debug in the environment also
 * sets it at the first log call). Not thread-safe against concurrent log calls; call at start-up. */
void log_set_level(int level);
int log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns the level or -1. */
int log_level_parse(const char *name);

void log_write(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) do { log_write(LOG_ERROR, LOG_TAG, __VA_ARGS__); } while (0)
#define log_warn(...) do { log_write(LOG_WARN, LOG_TAG, __VA_ARGS__); } while (0)
#define log_info(...) do { log_write(LOG_INFO, LOG_TAG, __VA_ARGS__); } while (0)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() >= LOG_DEBUG) {                                                        \
            log_write(LOG_DEBUG, LOG_TAG, __VA_ARGS__);                                            \
        }                                                                                          \
    } while (0)

#endif
