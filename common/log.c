#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

/* The level is process-wide configuration set once at start-up, the one static we allow. */
static int log_level = -1;

int log_level_parse(const char *name)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (name == NULL) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void log_set_level(int level)
{
    log_level = level;
}

int log_get_level(void)
{
    if (log_level < 0) {
        int l = log_level_parse(getenv("DK_LOG"));
        log_level = l >= 0 ? l : LOG_INFO;
    }
    return log_level;
}

void log_write(int level, const char *tag, const char *fmt, ...)
{
    static const char *label[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    if (level > log_get_level()) {
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    /* Vietnam is UTC+7 all year; logs use its local time whatever TZ the machine has. */
    time_t t = tv.tv_sec + 7 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    char line[2048];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+07:00 %s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), label[level < 0 ? 0 : level > 3 ? 3 : level], tag);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) {
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    }
    va_end(ap);
    /* One write per line so lines from several processes sharing stderr do not interleave. */
    size_t len = strnlen(line, sizeof line - 2);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}
