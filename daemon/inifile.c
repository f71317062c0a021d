/*
 * inifile: one line reader for inih, shared by every INI format we read.
 * It reads the whole file under a size cap, hands inih one counted line at
 * a time, refuses what inih would silently split or cut (over-long lines,
 * NUL bytes), tells the caller about each section header, and turns the
 * first failure, whoever found it, into "file:line: what". It never
 * interprets a section or an option and never logs.
 */
#include "inifile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "util.h"

#define MIB (1024 * 1024)

struct reader {
    const struct inifile_handlers *h;
    void *arg;
    const char *text;
    size_t len, pos;
    int lineno;
    char section[INIFILE_SECTION_MAX + 1]; /* as last given to on_section */
    int err_line;                          /* 0: no error yet */
    char why[INIFILE_WHY_MAX];
};

static void fail(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records an error on the current line. The reader stops at the first, so
 * there is never a second to keep out. */
static void fail(struct reader *r, const char *fmt, ...)
{
    va_list ap;

    r->err_line = r->lineno;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
}

/* A handler said no: keep its reason, or say something if it gave none. */
static void refused(struct reader *r)
{
    r->err_line = r->lineno;
    if (r->why[0] == '\0')
        snprintf(r->why, sizeof(r->why), "refused");
}

/* line starts with '['. Inih does not tell its handler about sections, and
 * an empty section must still be checked, so we tell ours here. Returns 0,
 * or -1 with the error recorded. */
static int begin_section(struct reader *r, const char *line)
{
    const char *end = strchr(line, ']');
    size_t len;

    /* Without a ']' the line is inih's syntax error to report. */
    if (end == NULL)
        return 0;
    len = (size_t)(end - line - 1);
    if (len > INIFILE_SECTION_MAX) {
        fail(r, "section name longer than %d characters", INIFILE_SECTION_MAX);
        return -1;
    }
    memcpy(r->section, line + 1, len);
    r->section[len] = '\0';
    r->why[0] = '\0';
    if (r->h->on_section != NULL &&
        r->h->on_section(r->arg, r->section, r->lineno, r->why, sizeof(r->why)) == -1) {
        refused(r);
        return -1;
    }
    return 0;
}

/* An ini_reader over the file's text: one whole line per call, counted,
 * with a BOM and leading blanks removed. Removing blanks keeps inih from
 * reading an indented line as the continuation of the previous value:
 * none of our formats has those. Returns NULL at the end or at the first
 * error, ours or a handler's. */
static char *read_line(char *str, int num, void *stream)
{
    struct reader *r = stream;
    const char *start, *nl, *s;
    size_t n;

    if (r->err_line != 0 || r->pos >= r->len || num < 2)
        return NULL;
    start = r->text + r->pos;
    nl = memchr(start, '\n', r->len - r->pos);
    n = nl != NULL ? (size_t)(nl - start) + 1 : r->len - r->pos;
    r->lineno++;
    r->pos += n;
    /* Inih would cut such a line in two and read the tail as a line. */
    if (n > (size_t)num - 1) {
        fail(r, "line longer than %d characters", num - 2);
        return NULL;
    }
    if (memchr(start, '\0', n) != NULL) {
        fail(r, "NUL byte in line");
        return NULL;
    }
    s = start;
    if (r->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    while (s < start + n && (*s == ' ' || *s == '\t'))
        s++;
    n -= (size_t)(s - start);
    memcpy(str, s, n);
    str[n] = '\0';
    if (str[0] == '[' && begin_section(r, str) == -1)
        return NULL;
    return str;
}

/* Inih's handler: nonzero to go on. Its section is ignored: inih cuts it
 * at 50 characters, and ours is the one the caller was told about. */
static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct reader *r = user;

    (void)section;
    r->why[0] = '\0';
    if (r->h->on_value(r->arg, r->section, name, value, r->lineno, r->why, sizeof(r->why)) == -1) {
        refused(r);
        return 0;
    }
    return 1;
}

int inifile_read(const char *path, size_t max_size, const struct inifile_handlers *h, void *arg,
                 char *err, size_t errlen)
{
    struct reader r = {.h = h, .arg = arg};
    uint8_t *text = NULL;
    size_t len = 0;
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    if (util_read_file(path, max_size, &text, &len) == -1) {
        if (errno != EFBIG)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        else if (max_size % MIB == 0)
            snprintf(err, errlen, "%s: cannot read: larger than %zu MiB", path, max_size / MIB);
        else
            snprintf(err, errlen, "%s: cannot read: larger than %zu bytes", path, max_size);
        return -1;
    }
    r.text = (const char *)text;
    r.len = len;
    rc = ini_parse_stream(read_line, &r, on_pair, &r);
    free(text);
    /* Inih returns the first line it could not parse or that on_pair
     * refused; the reader keeps the first error of its own or of a
     * handler. When inih's line comes first, it is a syntax error. */
    if (rc > 0 && (r.err_line == 0 || rc < r.err_line)) {
        snprintf(err, errlen, "%s:%d: syntax error (expected [section] or name = value)", path, rc);
        return -1;
    }
    if (rc < 0 && r.err_line == 0) {
        snprintf(err, errlen, "%s: cannot parse (inih error %d)", path, rc);
        return -1;
    }
    if (r.err_line != 0) {
        snprintf(err, errlen, "%s:%d: %s", path, r.err_line, r.why);
        return -1;
    }
    return 0;
}
