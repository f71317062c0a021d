/*
 * Unit tests for log.c's rate limit: the first line goes out, later ones
 * only once per interval, and the line that goes out learns how many were
 * left out since the one before, and says so only when there were any.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

static void test_note(void **state)
{
    char note[LOG_LIMIT_NOTE_MAX];

    (void)state;
    assert_string_equal(log_limit_note(note, 0), "");
    assert_string_equal(log_limit_note(note, 6), " (6 like it left out)");
    assert_string_equal(log_limit_note(note, UINT64_MAX),
                        " (18446744073709551615 like it left out)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_note),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
