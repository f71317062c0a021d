/*
 * Integration: the node's named counters survive a restart. After a clean
 * stop every counter the status listed comes back at least as high; after
 * kill -9 every counter is at least what the last commit before the kill
 * recorded (the counters are written with each commit, never on their own).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "fed.h"
#include "fedclient.h"
#include "tmbus.h"

#define N_POSTS     5
#define MAX_COUNTED 128

struct counted {
    char name[MAX_COUNTED][128];
    uint64_t value[MAX_COUNTED];
    size_t n;
};

static void read_counters(struct tmbus *h, struct counted *out)
{
    struct tmbus_status *s = NULL;

    assert_int_equal(tmbus_status(h, FC_CALL_MS, &s), TMBUS_OK);
    out->n = 0;
    for (size_t i = 0; i < tmbus_status_counter_count(s) && out->n < MAX_COUNTED; i++) {
        const struct tmbus_counter *c = tmbus_status_counter_at(s, i);
        assert_non_null(c);
        snprintf(out->name[out->n], sizeof(out->name[0]), "%s", c->name);
        out->value[out->n++] = c->value;
    }
    tmbus_status_free(&s);
}

static uint64_t value_of(const struct counted *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->name[i], name) == 0)
            return c->value[i];
    return 0;
}

/* Every counter of before is in after, at least as high. */
static void assert_not_lower(const struct counted *before, const struct counted *after)
{
    for (size_t i = 0; i < before->n; i++) {
        uint64_t now = value_of(after, before->name[i]);
        if (now < before->value[i])
            fail_msg("counter %s went from %llu down to %llu over a restart", before->name[i],
                     (unsigned long long)before->value[i], (unsigned long long)now);
    }
}

static void post_some(struct tmbus *h, const char *tag, uint32_t from)
{
    static const char *const to_b[] = {"B"};

    for (uint32_t k = from; k < from + N_POSTS; k++)
        assert_int_equal(fc_post(h, FC_TLP_AMBER, tag, k, to_b, 1, NULL), TMBUS_OK);
}

static void test_counters_survive_restarts(void **state)
{
    static const char *const ids[] = {"A", "B"};
    struct fed *f = fed_new(2, ids);
    static struct counted before, after;
    struct tmbus *h;
    char tag[FC_TAG_MAX];
    size_t a;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    assert_int_equal(fed_start(f, a), 0);
    fc_tag(tag, sizeof(tag), "counters");
    assert_non_null(h = fc_connect(f, a));
    post_some(h, tag, 0);
    read_counters(h, &before);
    assert_int_equal(value_of(&before, "api.posted"), N_POSTS);
    assert_true(value_of(&before, "commit.batches") >= N_POSTS);
    tmbus_close(&h);

    /* A clean stop keeps everything counted. */
    assert_int_equal(fed_stop(f, a), 0);
    assert_int_equal(fed_start(f, a), 0);
    assert_non_null(h = fc_connect(f, a));
    read_counters(h, &after);
    assert_not_lower(&before, &after);
    assert_int_equal(value_of(&after, "api.posted"), N_POSTS);

    /* More posts, a status read after their commits, then kill -9: what
     * the status showed was written by a commit since (the posts' own
     * counters by the next post's commit), except what the last commit
     * itself counted. */
    post_some(h, tag, N_POSTS);
    read_counters(h, &before);
    assert_int_equal(
        fc_post(h, FC_TLP_AMBER, tag, 2 * N_POSTS, (const char *const[]){"B"}, 1, NULL), TMBUS_OK);
    tmbus_close(&h);
    fed_kill(f, a);
    assert_int_equal(fed_start(f, a), 0);
    assert_non_null(h = fc_connect(f, a));
    read_counters(h, &after);
    assert_true(value_of(&after, "api.posted") >= 2 * N_POSTS);
    for (size_t i = 0; i < before.n; i++)
        if (strcmp(before.name[i], "commit.batches") == 0)
            before.value[i]--; /* the last one is counted after its commit */
    assert_not_lower(&before, &after);

    tmbus_close(&h);
    assert_int_equal(fed_stop(f, a), 0);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counters_survive_restarts, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
