/*
 * Unit tests for stats.c: counters add up under their name, in the order
 * they were first counted; a name is found by its text as well as by its
 * pointer; a full table counts what it cannot name under STATS_DROPPED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"

static void test_count_and_order(void **state)
{
    struct stats *s = stats_new();
    char copy[] = "api.posted";
    const char *name;
    uint64_t value;

    (void)state;
    assert_non_null(s);
    assert_int_equal(stats_size(s), 0);
    assert_int_equal(stats_get(s, "api.posted"), 0);
    stats_count(s, "api.posted", 1);
    stats_count(s, "delivered", 5);
    stats_count(s, copy, 2); /* the same name at another address */
    assert_int_equal(stats_get(s, "api.posted"), 3);
    assert_int_equal(stats_get(s, "delivered"), 5);
    assert_int_equal(stats_size(s), 2);
    stats_at(s, 0, &name, &value);
    assert_string_equal(name, "api.posted");
    assert_int_equal(value, 3);
    stats_at(s, 1, &name, &value);
    assert_string_equal(name, "delivered");
    stats_free(&s);
    assert_null(s);
    stats_free(&s);
    stats_free(NULL);
    stats_count(NULL, "nothing", 1);
    assert_int_equal(stats_size(NULL), 0);
}

static void test_full_table(void **state)
{
    static char names[STATS_MAX_COUNTERS + 3][16];
    struct stats *s = stats_new();

    (void)state;
    assert_non_null(s);
    for (size_t i = 0; i < STATS_MAX_COUNTERS + 3; i++) {
        snprintf(names[i], sizeof(names[i]), "c%zu", i);
        stats_count(s, names[i], 1);
    }
    /* Every name that fit, then one slot that says how many did not. */
    assert_int_equal(stats_size(s), STATS_MAX_COUNTERS + 1);
    assert_int_equal(stats_get(s, STATS_DROPPED), 3);
    assert_int_equal(stats_get(s, names[STATS_MAX_COUNTERS - 1]), 1);
    assert_int_equal(stats_get(s, names[STATS_MAX_COUNTERS]), 0);
    /* Names already in the table still count. */
    stats_count(s, names[0], 4);
    assert_int_equal(stats_get(s, names[0]), 5);
    stats_free(&s);
}

/* A counter restored from the store keeps its own copy of the name, adds
 * to what was counted before the restore, and is saved until it moves. */
static void test_restore_and_saved(void **state)
{
    struct stats *s = stats_new();
    char name[32];
    const char *got;
    uint64_t value;

    (void)state;
    assert_non_null(s);
    stats_count(s, "early", 2);
    assert_false(stats_is_saved(s, 0));
    snprintf(name, sizeof(name), "restored");
    assert_int_equal(stats_restore(s, name, 40), 0);
    assert_int_equal(stats_restore(s, "early", 5), 0);
    memset(name, 'x', sizeof(name) - 1); /* the table kept a copy */
    assert_int_equal(stats_get(s, "restored"), 40);
    assert_int_equal(stats_get(s, "early"), 7);
    assert_true(stats_is_saved(s, 1));
    assert_false(stats_is_saved(s, 0)); /* 2 were counted before the restore */
    stats_mark_saved(s);
    assert_true(stats_is_saved(s, 0));
    stats_count(s, "restored", 1);
    stats_at(s, 1, &got, &value);
    assert_string_equal(got, "restored");
    assert_int_equal(value, 41);
    assert_false(stats_is_saved(s, 1));
    stats_free(&s);
}

/* Observations land in the first bucket whose bound they do not exceed,
 * or past every bound; count and sum follow; a table past its histograms
 * counts the loss instead. */
static void test_histograms(void **state)
{
    static const double bounds[] = {0.001, 0.01, 0.1};
    static const char *const names[] = {"h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"};
    struct stats *s = stats_new();
    const struct stats_histogram *h;

    (void)state;
    assert_non_null(s);
    stats_observe(s, "commit.seconds", bounds, 3, 0.0005);
    stats_observe(s, "commit.seconds", bounds, 3, 0.001);
    stats_observe(s, "commit.seconds", bounds, 3, 0.05);
    stats_observe(s, "commit.seconds", bounds, 3, 7.0);
    assert_int_equal(stats_histogram_count(s), 1);
    h = stats_histogram_at(s, 0);
    assert_string_equal(h->name, "commit.seconds");
    assert_int_equal(h->n_bounds, 3);
    assert_int_equal(h->counts[0], 2);
    assert_int_equal(h->counts[1], 0);
    assert_int_equal(h->counts[2], 1);
    assert_int_equal(h->counts[3], 1);
    assert_int_equal(h->count, 4);
    assert_true(h->sum > 7.0514 && h->sum < 7.0516);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        stats_observe(s, names[i], bounds, 3, 1);
    assert_int_equal(stats_histogram_count(s), STATS_MAX_HISTOGRAMS);
    assert_int_equal(stats_get(s, STATS_DROPPED), 2);
    stats_observe(NULL, "x", bounds, 3, 1); /* no table, nothing counted */
    assert_int_equal(stats_histogram_count(NULL), 0);
    stats_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_and_order),
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_restore_and_saved),
        cmocka_unit_test(test_histograms),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
