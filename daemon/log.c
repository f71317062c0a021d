/*
 * log: formats and writes log lines to stderr. Each line says when (ISO
 * 8601 UTC, milliseconds), which program and how severe; when stderr is
 * the systemd journal ($JOURNAL_STREAM names it) a "<N>" syslog priority
 * prefix replaces the time, which journald records itself. A line that
 * merely repeats the one before is counted, not written again. Owns only
 * the progname, the level and the last line; never logs on its own behalf
 * beyond the repeat note.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES  1024
#define REPEAT_FLUSH_MS 30000 /* a repeat run is summed up at least this often */
#define TIMESTAMP_BYTES LOG_TIME_MAX

/* syslog priorities (RFC 5424), what journald files each line under. */
enum priority { PRI_CRIT = 2, PRI_ERR = 3, PRI_WARNING = 4, PRI_INFO = 6, PRI_DEBUG = 7 };

static const char *log_progname = "tmbus";
static enum log_level log_max = LOG_LEVEL_INFO;
static bool log_is_journal;
static bool log_is_plain;

/* The last line written, to recognise a repeat of it. */
static struct {
    char text[LINE_MAX_BYTES];
    enum priority pri;
    int64_t last_ms;  /* when it, or its repeat note, went out */
    uint64_t repeats; /* left out since */
} log_last;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether fd 2 is the stream $JOURNAL_STREAM ("DEVICE:INODE") names:
 * systemd sets it for a service whose stderr goes to the journal, and a
 * child that inherits the variable but not the stream must not use it. */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char end;

    if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) == -1)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *progname, enum log_level level)
{
    log_progname = progname;
    log_max = level;
    log_is_journal = stderr_is_journal();
    log_is_plain = false;
}

void log_set_plain(void)
{
    log_is_plain = true;
}

bool log_to_journal(void)
{
    return log_is_journal;
}

static const char *severity_name(enum priority pri)
{
    switch (pri) {
    case PRI_CRIT:
        return "critical";
    case PRI_ERR:
        return "error";
    case PRI_WARNING:
        return "warning";
    case PRI_INFO:
        return "info";
    case PRI_DEBUG:
        return "debug";
    }
    return "?";
}

void log_format_time(int64_t unix_ms, char *out, size_t size)
{
    time_t s = (time_t)(unix_ms / 1000);
    struct tm tm;

    if (gmtime_r(&s, &tm) == NULL) {
        snprintf(out, size, "-");
        return;
    }
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
}

/* Writes one finished line, in the journal's form or with the time. */
static void emit(enum priority pri, const char *text)
{
    char when[TIMESTAMP_BYTES];
    struct timespec ts;

    if (log_is_journal) {
        fprintf(stderr, "<%d>%s: %s\n", (int)pri, severity_name(pri), text);
        return;
    }
    if (log_is_plain) {
        fprintf(stderr, "%s: %s\n", log_progname, text);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    log_format_time((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, when, sizeof(when));
    fprintf(stderr, "%s %s[%ld] %s: %s\n", when, log_progname, (long)getpid(), severity_name(pri),
            text);
}

/* Sums up a run of repeats of the last line, if there was one. */
static void flush_repeats(int64_t now)
{
    char note[64];

    if (log_last.repeats == 0)
        return;
    snprintf(note, sizeof(note), "the line before repeated %llu more times",
             (unsigned long long)log_last.repeats);
    emit(log_last.pri, note);
    log_last.repeats = 0;
    log_last.last_ms = now;
}

static void vlog(enum priority pri, const char *fmt, va_list ap, int errnum)
    __attribute__((format(printf, 2, 0)));

static void vlog(enum priority pri, const char *fmt, va_list ap, int errnum)
{
    char line[LINE_MAX_BYTES];
    int64_t now = now_ms();
    int n;

    n = vsnprintf(line, sizeof(line), fmt, ap);
    if (errnum != 0 && n >= 0 && (size_t)n < sizeof(line))
        snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(errnum));
    /* A repeat is left out, and summed up when another line comes or
     * REPEAT_FLUSH_MS after the last summary, so that a flood costs one
     * line per interval but the count is never lost. A fatal line is never
     * held back. */
    if (pri > PRI_ERR && pri == log_last.pri && strcmp(line, log_last.text) == 0) {
        log_last.repeats++;
        if (now - log_last.last_ms >= REPEAT_FLUSH_MS)
            flush_repeats(now);
        return;
    }
    flush_repeats(now);
    emit(pri, line);
    memcpy(log_last.text, line, sizeof(line));
    log_last.pri = pri;
    log_last.last_ms = now;
}

#define LOG_BODY(pri, errnum)                                                                      \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    vlog(pri, fmt, ap, errnum);                                                                    \
    va_end(ap)

void log_warn(const char *fmt, ...)
{
    int saved = errno;

    if (log_max >= LOG_LEVEL_WARN) {
        LOG_BODY(PRI_WARNING, saved);
    }
    errno = saved;
}

void log_warnx(const char *fmt, ...)
{
    if (log_max >= LOG_LEVEL_WARN) {
        LOG_BODY(PRI_WARNING, 0);
    }
}

void log_info(const char *fmt, ...)
{
    if (log_max >= LOG_LEVEL_INFO) {
        LOG_BODY(PRI_INFO, 0);
    }
}

void log_debug(const char *fmt, ...)
{
    if (log_max >= LOG_LEVEL_DEBUG) {
        LOG_BODY(PRI_DEBUG, 0);
    }
}

void fatal(const char *fmt, ...)
{
    int saved = errno;
    LOG_BODY(PRI_ERR, saved);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    LOG_BODY(PRI_ERR, 0);
    exit(1);
}

void log_abort(const char *file, int line, const char *what)
{
    char text[LINE_MAX_BYTES];

    flush_repeats(now_ms());
    snprintf(text, sizeof(text), "%s:%d: invariant broken: %s", file, line, what);
    emit(PRI_CRIT, text);
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

bool log_flap_up(struct log_flap *f, int64_t now_ms, int64_t interval_ms, uint32_t burst)
{
    if (!f->is_used || now_ms - f->since_ms >= interval_ms) {
        /* A new interval. Cycles still unsummed stay counted: only
         * log_flap_summary hands them out. */
        f->since_ms = now_ms;
        f->logged = 0;
        f->is_used = true;
    }
    f->is_quiet = f->logged >= burst;
    if (f->is_quiet)
        f->quiet++;
    else
        f->logged++;
    return !f->is_quiet;
}

bool log_flap_down(const struct log_flap *f)
{
    return f->is_used && !f->is_quiet;
}

uint64_t log_flap_summary(struct log_flap *f, int64_t now_ms, int64_t interval_ms, int64_t *span_ms)
{
    uint64_t n = f->quiet;

    if (n == 0 || now_ms - f->since_ms < interval_ms)
        return 0;
    *span_ms = now_ms - f->since_ms;
    f->quiet = 0;
    f->since_ms = now_ms;
    f->logged = 0;
    return n;
}
