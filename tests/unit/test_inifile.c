/*
 * test_inifile: unit tests of the inifile module, the INI reader that the
 * config and roster modules share. A recording handler writes every call
 * into one line of text, so each test states the calls it expects, with
 * their line numbers, and the exact error. Each test works in its own
 * temporary directory and removes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inifile.h"
#include "testutil.h"

#define LOG_MAX (4 * 1024)
#define ERR_MAX 4200
#define MIB     (1024 * 1024)
#define SYNTAX  ": syntax error (expected [section] or name = value)"

/* What the handlers saw, and what they are to refuse. */
struct record {
    char log[LOG_MAX];
    const char *refuse; /* a section or option name to say no to, or NULL */
};

static void note(struct record *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct record *r, const char *fmt, ...)
{
    size_t used = strlen(r->log);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->log + used, sizeof(r->log) - used, fmt, ap);
    va_end(ap);
}

static int on_section(void *arg, const char *name, int lineno, char *why, size_t whylen)
{
    struct record *r = arg;

    note(r, "%d[%s] ", lineno, name);
    if (r->refuse != NULL && strcmp(name, r->refuse) == 0) {
        snprintf(why, whylen, "no section %s", name);
        return -1;
    }
    return 0;
}

static int on_value(void *arg, const char *section, const char *name, const char *value, int lineno,
                    char *why, size_t whylen)
{
    struct record *r = arg;

    note(r, "%d%s.%s=%s ", lineno, section, name, value);
    if (r->refuse != NULL && strcmp(name, r->refuse) == 0) {
        snprintf(why, whylen, "no %s here", name);
        return -1;
    }
    return 0;
}

static const struct inifile_handlers handlers = {on_section, on_value};

static int setup(void **state)
{
    char *dir = strdup(tu_tempdir());

    assert_non_null(dir);
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    tu_rmtree(*state);
    free(*state);
    return 0;
}

/* Writes len bytes of text to dir/test.ini; returns the path (static). */
static const char *write_ini(const char *dir, const char *text, size_t len)
{
    static char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/test.ini", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Reads text with the recording handlers into r; returns inifile_read's
 * result and leaves its message in err. */
static int read_text(const char *dir, const char *text, size_t len, struct record *r, char *err)
{
    const char *path = write_ini(dir, text, len);

    return inifile_read(path, MIB, &handlers, r, err, ERR_MAX);
}

/* Reads text, which must load, and checks the calls it made. */
static void must_read(const char *dir, const char *text, const char *want)
{
    struct record r = {{0}};
    char err[ERR_MAX];

    if (read_text(dir, text, strlen(text), &r, err) != 0)
        fail_msg("refused: %s", err);
    assert_string_equal(err, "");
    assert_string_equal(r.log, want);
}

/* Reads len bytes of text, which must be refused with ":want" after the
 * path, having made the calls in log. */
static void must_refuse(const char *dir, const char *text, size_t len, const char *refuse,
                        const char *want, const char *log)
{
    struct record r = {{0}, refuse};
    char err[ERR_MAX], full[ERR_MAX];

    assert_int_equal(read_text(dir, text, len, &r, err), -1);
    snprintf(full, sizeof(full), "%s/test.ini%s", dir, want);
    assert_string_equal(err, full);
    assert_string_equal(r.log, log);
}

/* Sections and values arrive in order, with their lines; comments, blank
 * lines, leading blanks and CRs are the reader's business. */
static void test_calls_and_lines(void **state)
{
    must_read(
        *state,
        "; a comment\n"
        "top = 0\n"
        "\n"
        "[a]\n"
        "  x = 1 ; inline comment\n"
        "\ty = two words\n"
        "# another\n"
        "[empty]\n"
        "[b c]\r\n"
        "z = 3\r\n"
        "last = no newline",
        "2.top=0 4[a] 5a.x=1 6a.y=two words 8[empty] 9[b c] 10b c.z=3 11b c.last=no newline ");
    /* An indented line is an ordinary line, never a continuation. */
    must_read(*state, "[a]\nx = 1\n    y = 2\n", "1[a] 2a.x=1 3a.y=2 ");
    must_read(*state, "", "");
}

/* A BOM is dropped from the first line only, so the header behind it counts. */
static void test_bom(void **state)
{
    must_read(*state, "\xEF\xBB\xBF[a]\nx = 1\n", "1[a] 2a.x=1 ");
    must_read(*state, "\xEF\xBB\xBF  [a]\n", "1[a] ");
}

/* A line inih cannot hold is refused, not split; the longest one loads. */
static void test_long_line(void **state)
{
    char text[512];

    memset(text, 0, sizeof(text));
    memcpy(text, "[a]\n; ", 6);
    memset(text + 6, 'x', 196); /* "; " and 196: 198 characters */
    strcat(text, "\nx = 1\n");
    must_read(*state, text, "1[a] 3a.x=1 ");
    text[6 + 196] = 'x';
    text[6 + 197] = '\0';
    strcat(text, "\nx = 1\n");
    must_refuse(*state, text, strlen(text), NULL, ":2: line longer than 198 characters", "1[a] ");
}

/* A NUL byte stops the parse at its line. */
static void test_nul(void **state)
{
    static const char text[] = "[a]\nx = 1\ny = \0z\nw = 2\n";

    must_refuse(*state, text, sizeof(text) - 1, NULL, ":3: NUL byte in line", "1[a] 2a.x=1 ");
}

/* Section names up to the limit are given whole; longer ones are refused. */
static void test_section_name(void **state)
{
    char name[INIFILE_SECTION_MAX + 2], text[256], want[512];

    memset(name, 's', sizeof(name) - 1);
    name[INIFILE_SECTION_MAX] = '\0';
    snprintf(text, sizeof(text), "[%s]\nx = 1\n", name);
    snprintf(want, sizeof(want), "1[%s] 2%s.x=1 ", name, name);
    must_read(*state, text, want);
    name[INIFILE_SECTION_MAX] = 's';
    name[INIFILE_SECTION_MAX + 1] = '\0';
    snprintf(text, sizeof(text), "[%s]\nx = 1\n", name);
    must_refuse(*state, text, strlen(text), NULL, ":1: section name longer than 159 characters",
                "");
}

/* A handler's refusal stops the parse and is reported with its line. */
static void test_refusals(void **state)
{
    static const char value[] = "[a]\nx = 1\nstop = 2\ny = 3\n";
    static const char section[] = "x = 1\n[stop]\ny = 3\n";

    must_refuse(*state, value, strlen(value), "stop", ":3: no stop here", "1[a] 2a.x=1 3a.stop=2 ");
    must_refuse(*state, section, strlen(section), "stop", ":2: no section stop", "1.x=1 2[stop] ");
}

/* What inih cannot parse is a syntax error; the first error in the file,
 * whoever found it, is the one reported. */
static void test_syntax(void **state)
{
    static const char garbage_first[] = "[a]\ngarbage\nx = 1\n";
    static const char value_first[] = "[a]\nx = 1\ngarbage\n";
    static const char no_bracket[] = "[a\nx = 1\n";

    must_refuse(*state, garbage_first, strlen(garbage_first), NULL, ":2" SYNTAX, "1[a] 3a.x=1 ");
    must_refuse(*state, garbage_first, strlen(garbage_first), "x", ":2" SYNTAX, "1[a] 3a.x=1 ");
    must_refuse(*state, value_first, strlen(value_first), "x", ":2: no x here", "1[a] 2a.x=1 ");
    must_refuse(*state, no_bracket, strlen(no_bracket), NULL, ":1" SYNTAX, "2.x=1 ");
}

/* Files that cannot be read are named with the reason. */
static void test_unreadable(void **state)
{
    const char *dir = *state;
    struct record r = {{0}};
    char path[4096], err[ERR_MAX], want[ERR_MAX];

    snprintf(path, sizeof(path), "%s/missing.ini", dir);
    assert_int_equal(inifile_read(path, MIB, &handlers, &r, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
    assert_string_equal(err, want);

    snprintf(path, sizeof(path), "%s", write_ini(dir, "[a]\nx = 1\n", 10));
    assert_int_equal(inifile_read(path, 9, &handlers, &r, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: cannot read: larger than 9 bytes", path);
    assert_string_equal(err, want);
    assert_int_equal(inifile_read(path, 10, &handlers, &r, err, sizeof(err)), 0);
    assert_string_equal(r.log, "1[a] 2a.x=1 ");
}

/* on_section may be left out; values still carry their section. */
static void test_no_section_handler(void **state)
{
    static const struct inifile_handlers values_only = {NULL, on_value};
    struct record r = {{0}};
    char err[ERR_MAX];
    const char *path = write_ini(*state, "x = 0\n[a]\nx = 1\n", 16);

    assert_int_equal(inifile_read(path, MIB, &values_only, &r, err, sizeof(err)), 0);
    assert_string_equal(r.log, "1.x=0 3a.x=1 ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_calls_and_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul, setup, teardown),
        cmocka_unit_test_setup_teardown(test_section_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_section_handler, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
