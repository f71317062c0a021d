/*
 * log: formats and writes log lines to stderr. Owns only the progname and
 * level; holds no message content beyond the line being written.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_progname = "tmbus";
static enum log_level log_max = LOG_LEVEL_INFO;

void log_init(const char *progname, enum log_level level)
{
    log_progname = progname;
    log_max = level;
}

static void vlog(enum log_level level, const char *tag, const char *fmt, va_list ap, int errnum)
    __attribute__((format(printf, 3, 0)));

static void vlog(enum log_level level, const char *tag, const char *fmt, va_list ap, int errnum)
{
    char line[1024];

    if (level > log_max)
        return;
    vsnprintf(line, sizeof(line), fmt, ap);
    if (errnum)
        fprintf(stderr, "%s: %s%s: %s\n", log_progname, tag, line, strerror(errnum));
    else
        fprintf(stderr, "%s: %s%s\n", log_progname, tag, line);
}

#define LOG_BODY(level, tag, errnum)                                                               \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    vlog(level, tag, fmt, ap, errnum);                                                             \
    va_end(ap)

void log_warn(const char *fmt, ...)
{
    int saved = errno;
    LOG_BODY(LOG_LEVEL_WARN, "", saved);
    errno = saved;
}

void log_warnx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_WARN, "", 0);
}

void log_info(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_INFO, "", 0);
}

void log_debug(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_DEBUG, "debug: ", 0);
}

void fatal(const char *fmt, ...)
{
    int saved = errno;
    LOG_BODY(LOG_LEVEL_WARN, "fatal: ", saved);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_WARN, "fatal: ", 0);
    exit(1);
}

void log_abort(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s: %s:%d: invariant broken: %s\n", log_progname, file, line, what);
    abort();
}

const char *log_limit_note(char buf[LOG_LIMIT_NOTE_MAX], uint64_t suppressed)
{
    buf[0] = '\0';
    if (suppressed > 0)
        snprintf(buf, LOG_LIMIT_NOTE_MAX, " (%llu like it left out)",
                 (unsigned long long)suppressed);
    return buf;
}

bool log_limit_allow(struct log_limit *l, int64_t now_ms, int64_t interval_ms, uint64_t *suppressed)
{
    if (l->is_used && now_ms - l->last_ms < interval_ms) {
        l->suppressed++;
        return false;
    }
    *suppressed = l->suppressed;
    l->suppressed = 0;
    l->last_ms = now_ms;
    l->is_used = true;
    return true;
}
