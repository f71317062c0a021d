/*
 * Integration: a peer link that flaps does not flood the log. Node A logs
 * at most limits.link_log_burst up/down cycles of one link a minute, each
 * "link up" with its "link down", while its counters peer.link-up and
 * peer.link-down count every change: B is killed and started again six
 * times (at least six cycles, where A logs two), and A's log and counters
 * are compared with what happened.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <sodium.h>

#include "fed.h"
#include "fedclient.h"
#include "tmbus.h"

#define LINK_MS  15000 /* how long a link may take to change state */
#define BURST    2     /* A's limits.link_log_burst */
#define RESTARTS 6     /* B killed and started again: more cycles than BURST */

struct counter_wait {
    struct tmbus *h;
    const char *name;
    uint64_t want, last;
};

static bool is_counted(void *arg)
{
    struct counter_wait *w = arg;

    return fc_counter(w->h, w->name, &w->last) == TMBUS_OK && w->last >= w->want;
}

/* Waits until h's node has counted name at least want times. */
static void wait_counter(struct tmbus *h, const char *name, uint64_t want)
{
    struct counter_wait w = {h, name, want, 0};

    if (fed_wait_until(is_counted, &w, LINK_MS, 50) != 0)
        fail_msg("%s stayed at %llu, want %llu", name, (unsigned long long)w.last,
                 (unsigned long long)want);
}

/* The link is up and has been counted as such: one up more than downs,
 * the same on a second look. */
static bool is_balanced(void *arg)
{
    struct tmbus *h = arg;
    uint64_t ups, downs, again;

    return fc_counter(h, "peer.link-up", &ups) == TMBUS_OK &&
           fc_counter(h, "peer.link-down", &downs) == TMBUS_OK &&
           fc_counter(h, "peer.link-up", &again) == TMBUS_OK && ups == again && ups == downs + 1;
}

static void test_flapping_link(void **state)
{
    static const char *const ids[] = {"A", "B"};
    struct fed *f = fed_new(2, ids);
    struct tmbus *h;
    uint64_t ups, downs;
    size_t a, b;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    assert_int_equal(fed_set_limit(f, a, "link_log_burst", BURST), 0);
    assert_int_equal(fed_start(f, a), 0);
    assert_int_equal(fed_start(f, b), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    assert_non_null(h = fc_connect(f, a));
    wait_counter(h, "peer.link-up", 1);

    for (uint64_t i = 0; i < RESTARTS; i++) {
        long mark = fed_log_mark(f, b);

        fed_kill(f, b);
        wait_counter(h, "peer.link-down", i + 1);
        assert_int_equal(fed_start(f, b), 0);
        /* B starts afresh and logs its side of every cycle. */
        assert_int_equal(fed_wait_link(f, b, mark, "A", LINK_MS), 0);
        wait_counter(h, "peer.link-up", i + 2);
    }

    /* Every change counted: a restart is at least one cycle (A may see
     * more: the old connection dropping, then the new conversation), and
     * with the link up there is one up more than downs. */
    if (fed_wait_until(is_balanced, h, LINK_MS, 50) != 0)
        fail_msg("peer.link-up and peer.link-down never differed by the link that is up");
    assert_int_equal(fc_counter(h, "peer.link-up", &ups), TMBUS_OK);
    assert_int_equal(fc_counter(h, "peer.link-down", &downs), TMBUS_OK);
    assert_true(ups >= RESTARTS + 1);
    assert_int_equal(ups, downs + 1);
    /* Only the first BURST cycles in A's log, each up with its down: the
     * rest of the minute's are not there. */
    if (fed_log_count(f, a, 0, "peer B: link up") != BURST ||
        fed_log_count(f, a, 0, "peer B: link down") != BURST) {
        fed_dump_log(f, a, 40);
        fail_msg("A logged %zu link up and %zu link down lines of B, want %d of each",
                 fed_log_count(f, a, 0, "peer B: link up"),
                 fed_log_count(f, a, 0, "peer B: link down"), BURST);
    }
    tmbus_close(&h);
    assert_int_equal(fed_stop(f, a), 0);
    assert_int_equal(fed_stop(f, b), 0);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_flapping_link, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
