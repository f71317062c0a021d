/*
 * log: the one logging API of tmbus, after OpenBSD's log.h. Lines go to
 * stderr as "TIME PROG[PID] SEVERITY: text" (TIME in ISO 8601 UTC), or,
 * when stderr is the systemd journal, as "<N>SEVERITY: text" so that
 * journald files each line under its syslog priority. A line that repeats
 * the one before is counted instead of written. Never pass keys or message
 * plaintext to these functions; name things by member id and envelope id.
 */
#ifndef TMBUS_LOG_H
#define TMBUS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_WARN = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_DEBUG = 2 };

/* Sets the process name printed on each line and the most verbose level
 * shown, and looks whether stderr is the journal ($JOURNAL_STREAM). Not
 * thread-safe; call at start (again to change the level). */
void log_init(const char *progname, enum log_level level);

/* For a command-line tool (tmbus-admin) rather than a daemon: lines are
 * "PROG: text", as a person at a terminal reads errors, with no time, pid
 * or severity (the journal form is kept when stderr is the journal). Call
 * after log_init, which resets it. */
void log_set_plain(void);

/* Whether log_init found stderr to be the systemd journal. */
bool log_to_journal(void);

#define LOG_TIME_MAX 32

/* Writes unix_ms (milliseconds since 1970, UTC) as ISO 8601 with
 * milliseconds, "2026-11-30T07:29:31.123Z", into out (LOG_TIME_MAX bytes
 * suffice). */
void log_format_time(int64_t unix_ms, char *out, size_t size);

/* Severities: log_warn and log_warnx "warning" (journal priority 4),
 * log_info "info" (6), log_debug "debug" (7), fatal and fatalx "error"
 * (3), log_abort "critical" (2). log_warn appends strerror(errno);
 * log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Log and exit(1). fatal appends strerror(errno). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A rate limit on one kind of line, so that whoever can make the node
 * refuse something cannot also flood its log. Zero it to start. */
struct log_limit {
    int64_t last_ms;     /* when the last line went out */
    uint64_t suppressed; /* lines left out since */
    bool is_used;        /* a line went out once */
};

/* Whether a line may go out at now_ms (a monotonic clock): the first one
 * does, then at most one per interval_ms. When it may, *suppressed is set
 * to the lines left out since the last one (for the line to mention) and
 * the count restarts; when not, the line is counted as left out. Never
 * blocks, never logs. */
bool log_limit_allow(struct log_limit *l, int64_t now_ms, int64_t interval_ms,
                     uint64_t *suppressed);

#define LOG_LIMIT_NOTE_MAX 48

/* What a line let through by log_limit_allow appends: "" when nothing was
 * left out, else " (N like it left out)". Written to buf, returned. */
const char *log_limit_note(char buf[LOG_LIMIT_NOTE_MAX], uint64_t suppressed);

/* A limit on the lines of something that goes up and down, a peer link:
 * the first `burst` up/down cycles of each interval are logged one by one,
 * the rest are only counted, and a summary says how many there were. A
 * cycle's down line is logged exactly when its up line was, so the lines
 * that are written always come in pairs. Zero it to start. */
struct log_flap {
    int64_t since_ms; /* start of the current interval */
    uint32_t logged;  /* cycles logged one by one in it */
    uint64_t quiet;   /* cycles since it began that were not */
    bool is_used;     /* an interval has begun */
    bool is_quiet;    /* the current cycle's up was not logged */
};

/* It came up at now_ms (a monotonic clock): whether to log that. Call
 * log_flap_summary first, so that a summary due goes out before. Never
 * blocks, never logs. */
bool log_flap_up(struct log_flap *f, int64_t now_ms, int64_t interval_ms, uint32_t burst);

/* It went down: whether to log that (exactly when its up was logged). */
bool log_flap_down(const struct log_flap *f);

/* The cycles not logged one by one in the interval that ended by now_ms,
 * with *span_ms set to its length: the caller writes one summary line of
 * them, and a new interval begins. 0 while the interval runs or when every
 * cycle of it was logged. Never blocks, never logs. */
uint64_t log_flap_summary(struct log_flap *f, int64_t now_ms, int64_t interval_ms,
                          int64_t *span_ms);

/* A broken invariant: logs file and line and aborts. Never compiled out. */
#define ensure(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            log_abort(__FILE__, __LINE__, #cond);                                                  \
    } while (0)
void log_abort(const char *file, int line, const char *what) __attribute__((noreturn));

#endif
