/*
 * Unit tests for log.c: each line carries an ISO 8601 UTC time, the
 * program and a severity, or a journald priority prefix when stderr is the
 * journal; a repeated line is counted, not written again; and the rate
 * limit lets the first line out, later ones only once per interval, and
 * the line that goes out learns how many were left out since the one
 * before, and says so only when there were any; a flapping link's lines
 * are limited in pairs and the rest summed up exactly.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex.h>

#include <cmocka.h>

#include "log.h"

static void test_limit(void **state)
{
    struct log_limit l = {0};
    uint64_t suppressed = 99;

    (void)state;
    /* The first line goes out at any time, even at a clock of 0. */
    assert_true(log_limit_allow(&l, 0, 1000, &suppressed));
    assert_int_equal(suppressed, 0);
    /* Within the interval: left out, and counted. */
    for (int i = 0; i < 5; i++)
        assert_false(log_limit_allow(&l, 500 + i, 1000, &suppressed));
    assert_false(log_limit_allow(&l, 999, 1000, &suppressed));
    /* At the interval: out, with the six left out since. */
    assert_true(log_limit_allow(&l, 1000, 1000, &suppressed));
    assert_int_equal(suppressed, 6);
    /* The count restarts, and the interval runs from the last line. */
    assert_false(log_limit_allow(&l, 1999, 1000, &suppressed));
    assert_true(log_limit_allow(&l, 2000, 1000, &suppressed));
    assert_int_equal(suppressed, 1);
    assert_true(log_limit_allow(&l, 10000, 1000, &suppressed));
    assert_int_equal(suppressed, 0);
}

/* One up/down cycle at now_ms: whether its two lines went out (they must
 * agree). */
static bool flap_cycle(struct log_flap *f, int64_t now_ms)
{
    bool is_up_logged = log_flap_up(f, now_ms, 60000, 3);

    assert_int_equal(log_flap_down(f), is_up_logged);
    return is_up_logged;
}

/* A link that flaps: three cycles a minute logged, each up with its down;
 * the rest counted, to the cycle, in a summary due when the minute is
 * over and only then; a link that stops flapping has no summary to give;
 * the next minute logs three again. */
static void test_flap(void **state)
{
    struct log_flap f = {0};
    int64_t span = -1;
    uint64_t logged = 0;

    (void)state;
    assert_false(log_flap_down(&f)); /* a down before any up: nothing to pair */
    assert_int_equal(log_flap_summary(&f, 0, 60000, &span), 0);
    for (int i = 0; i < 100; i++) {
        logged += flap_cycle(&f, 1000 + 100 * i);
        assert_int_equal(log_flap_summary(&f, 1000 + 100 * i, 60000, &span), 0);
    }
    assert_int_equal(logged, 3);
    assert_int_equal(log_flap_summary(&f, 60999, 60000, &span), 0); /* the minute runs */
    assert_int_equal(log_flap_summary(&f, 61000, 60000, &span), 97);
    assert_int_equal(span, 60000);
    assert_int_equal(log_flap_summary(&f, 200000, 60000, &span), 0); /* said once */

    /* Up, not logged, summed up while still up: its down stays unlogged. */
    for (int i = 0; i < 3; i++)
        assert_true(flap_cycle(&f, 200000 + i));
    assert_false(log_flap_up(&f, 200010, 60000, 3));
    assert_int_equal(log_flap_summary(&f, 260000, 60000, &span), 1);
    assert_false(log_flap_down(&f));
    /* A new minute: logged again. */
    assert_true(flap_cycle(&f, 260001));
    assert_true(flap_cycle(&f, 260002));

    /* A link that goes up and down once a minute is always logged. */
    memset(&f, 0, sizeof(f));
    for (int i = 0; i < 10; i++) {
        assert_true(flap_cycle(&f, 60000 * (int64_t)i));
        assert_int_equal(log_flap_summary(&f, 60000 * (int64_t)i + 59999, 60000, &span), 0);
    }
}

static void test_note(void **state)
{
    char note[LOG_LIMIT_NOTE_MAX];

    (void)state;
    assert_string_equal(log_limit_note(note, 0), "");
    assert_string_equal(log_limit_note(note, 6), " (6 like it left out)");
    assert_string_equal(log_limit_note(note, UINT64_MAX),
                        " (18446744073709551615 like it left out)");
}

/* Runs fn with stderr sent to a fresh file and returns what it wrote (the
 * caller frees it). JOURNAL_STREAM is set to that file's DEVICE:INODE
 * when as_journal, to another inode's otherwise. */
static char *capture(void (*fn)(void), bool as_journal)
{
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);
    struct stat st;
    char js[64], *text;
    long len;

    assert_non_null(f);
    assert_true(saved >= 0);
    fflush(stderr);
    assert_int_equal(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
    assert_int_equal(fstat(fileno(f), &st), 0);
    snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + (as_journal ? 0 : 1));
    assert_int_equal(setenv("JOURNAL_STREAM", js, 1), 0);
    fn();
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    unsetenv("JOURNAL_STREAM");
    len = ftell(f);
    assert_true(len >= 0);
    text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return text;
}

static void lines_plain(void)
{
    log_init("tlog", LOG_LEVEL_INFO);
    log_info("node %s up", "EE");
    log_debug("not shown at info");
    errno = ENOENT;
    log_warn("open %s", "x.conf");
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    int rc;

    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
    rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("'%s' does not match /%s/", text, pattern);
}

static void test_line_format(void **state)
{
    char *text;

    (void)state;
    text = capture(lines_plain, false);
    assert_matches(text, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                         "tlog\\[[0-9]+\\] info: node EE up\n"
                         "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z tlog\\[[0-9]+\\] warning: "
                         "open x.conf: No such file or directory\n$");
    assert_null(strstr(text, "not shown"));
    free(text);
}

static void lines_journal(void)
{
    log_init("tlog", LOG_LEVEL_DEBUG);
    log_warnx("peer %s: link down", "LV");
    log_info("peer %s: link up", "LV");
    log_debug("dialling");
}

static void test_journal(void **state)
{
    char *text;

    (void)state;
    text = capture(lines_journal, true);
    assert_true(log_to_journal());
    assert_string_equal(text, "<4>warning: peer LV: link down\n"
                              "<6>info: peer LV: link up\n"
                              "<7>debug: dialling\n");
    free(text);
    /* Another stream's JOURNAL_STREAM (a child that inherited it) is not
     * the journal: lines carry their time. */
    text = capture(lines_journal, false);
    assert_false(log_to_journal());
    assert_non_null(strstr(text, "Z tlog["));
    assert_null(strstr(text, "<4>"));
    free(text);
}

static void lines_repeated(void)
{
    log_init("tlog", LOG_LEVEL_INFO);
    for (int i = 0; i < 7; i++)
        log_warnx("peer %s: rejected a malformed message", "M");
    log_info("something else");
    log_info("once");
}

static void test_repeats(void **state)
{
    char *text;

    (void)state;
    text = capture(lines_repeated, true);
    assert_string_equal(text, "<4>warning: peer M: rejected a malformed message\n"
                              "<4>warning: the line before repeated 6 more times\n"
                              "<6>info: something else\n"
                              "<6>info: once\n");
    free(text);
}

static void lines_plain_tool(void)
{
    log_init("ttool", LOG_LEVEL_INFO);
    log_set_plain();
    log_warnx("roster.ini:3: bad role");
}

static void test_plain(void **state)
{
    char *text;

    (void)state;
    text = capture(lines_plain_tool, false);
    assert_string_equal(text, "ttool: roster.ini:3: bad role\n");
    free(text);
}

static void test_format_time(void **state)
{
    char when[LOG_TIME_MAX];

    (void)state;
    log_format_time(0, when, sizeof(when));
    assert_string_equal(when, "1970-01-01T00:00:00.000Z");
    log_format_time(1795945771123LL, when, sizeof(when));
    assert_string_equal(when, "2026-11-29T09:49:31.123Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_format), cmocka_unit_test(test_journal),
        cmocka_unit_test(test_repeats),     cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_limit),       cmocka_unit_test(test_note),
        cmocka_unit_test(test_plain),       cmocka_unit_test(test_flap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
