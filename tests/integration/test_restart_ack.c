/*
 * Integration: an ack after the subscriber's node restarted (kill -9, then
 * start). The handle notices the reconnect and subscribes again; an ack of
 * a delivery handed out before the restart must succeed, not reach the node
 * ahead of the subscription and come back as a protocol error. Nothing is
 * lost and, through the library, nothing handed out twice.
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

#define LINK_MS  15000
#define IDLE_MS  15000
#define QUIET_MS 1500
#define WINDOW   16
#define N_FIRST  10 /* received before the node is killed */
#define N_ACKED  4  /* of those, acked before the kill */
#define N_AFTER  5  /* posted after the restart */

static void post_range(struct tmbus *h, const char *tag, uint32_t from, uint32_t to)
{
    static const char *const to_b[] = {"B"};

    for (uint32_t k = from; k < to; k++)
        assert_int_equal(fc_post(h, FC_TLP_AMBER, tag, k, to_b, 1, NULL), TMBUS_OK);
}

static void assert_indexes(const struct fc_inbox *in, size_t from_got, uint32_t first,
                           uint32_t count)
{
    assert_true(in->n >= from_got + count);
    for (uint32_t k = 0; k < count; k++) {
        const struct fc_got *g = &in->got[from_got + k];
        assert_true(g->is_tagged);
        if (g->index != first + k)
            fail_msg("delivery %zu is #%u, expected #%u", from_got + k, g->index, first + k);
    }
}

/* Kills B, starts it again and acks, at once, the last delivery handed out
 * before the kill. */
static void kill_restart_ack(struct fed *f, size_t a, size_t b, struct tmbus *hb, uint64_t number)
{
    long mark;
    int rc;

    fed_kill(f, b);
    mark = fed_log_mark(f, b);
    assert_int_equal(fed_start(f, b), 0);
    rc = tmbus_ack(hb, number, FC_CALL_MS);
    if (rc != TMBUS_OK)
        fail_msg("ack of %llu after the restart: %s (%s)", (unsigned long long)number,
                 tmbus_strerror(rc), tmbus_last_error(hb));
    assert_int_equal(fed_wait_link(f, b, mark, "A", LINK_MS), 0);
    (void)a;
}

static void test_ack_after_node_restart(void **state)
{
    static const char *const ids[] = {"A", "B"};
    struct fed *f = fed_new(2, ids);
    size_t a, b;
    struct tmbus *ha, *hb;
    struct fc_inbox in, again;
    char tag[FC_TAG_MAX];

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    assert_int_equal(fed_start(f, a), 0);
    assert_int_equal(fed_start(f, b), 0);
    assert_int_equal(fed_wait_link(f, a, 0, "B", LINK_MS), 0);

    fc_tag(tag, sizeof(tag), "restart-ack");
    assert_non_null(ha = fc_connect(f, a));
    post_range(ha, tag, 0, N_FIRST);

    fc_inbox_init(&in, tag);
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(tmbus_subscribe(hb, WINDOW, FC_CALL_MS), TMBUS_OK);
    fc_receive(hb, &in, N_ACKED, IDLE_MS, 0);
    assert_int_equal(in.n_tagged, N_ACKED);
    assert_int_equal(tmbus_ack(hb, in.got[N_ACKED - 1].number, FC_CALL_MS), TMBUS_OK);
    fc_receive(hb, &in, N_FIRST, IDLE_MS, 0);
    assert_int_equal(in.n_tagged, N_FIRST);
    assert_indexes(&in, 0, 0, N_FIRST);

    /* The node dies with six deliveries handed out and not acked; the
     * client acks the last of them as soon as the node is back. */
    kill_restart_ack(f, a, b, hb, in.got[N_FIRST - 1].number);

    /* What follows comes once: the redelivered ones were acked, and the
     * library hands out no number twice. */
    post_range(ha, tag, N_FIRST, N_FIRST + N_AFTER);
    fc_receive(hb, &in, N_FIRST + N_AFTER, IDLE_MS, 0);
    assert_int_equal(in.n_tagged, N_FIRST + N_AFTER);
    assert_indexes(&in, 0, 0, N_FIRST + N_AFTER);
    assert_int_equal(fc_check_order(&in), 0);

    /* Twice more, with the ack of a number from before the restart. */
    kill_restart_ack(f, a, b, hb, in.got[in.n - 1].number);
    kill_restart_ack(f, a, b, hb, in.got[in.n - 1].number);
    assert_int_equal(fc_expect_quiet(hb, &in, QUIET_MS), 0);

    /* The cursor is durable at the last ack: a fresh connection finds
     * nothing left to give. */
    tmbus_close(&hb);
    fc_inbox_init(&again, tag);
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(tmbus_subscribe(hb, WINDOW, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(fc_expect_quiet(hb, &again, QUIET_MS), 0);

    tmbus_close(&ha);
    tmbus_close(&hb);
    fc_inbox_free(&in);
    fc_inbox_free(&again);
    assert_int_equal(fed_stop(f, a), 0);
    assert_int_equal(fed_stop(f, b), 0);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ack_after_node_restart, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
