/*
 * Integration: durable client subscriptions (proto/PROTOCOL.md §8.5). A client that
 * disconnects and reconnects, and one whose node restarts, resumes at its
 * durable cursor: what it acked never comes again, what it did not ack
 * comes again, and nothing is lost.
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

#define LINK_MS   15000
#define IDLE_MS   15000
#define QUIET_MS  1500
#define WINDOW    16
#define N_FIRST   30 /* posted before the client goes away */
#define N_ACKED   12 /* of those, received and acked */
#define N_UNACKED 6  /* then received but never acked */
#define N_SECOND  20 /* posted while the client is away */
#define N_THIRD   25 /* posted while the node is down */

static void post_range(struct tmbus *h, const char *tag, uint32_t from, uint32_t to)
{
    static const char *const to_b[] = {"B"};

    for (uint32_t k = from; k < to; k++)
        assert_int_equal(fc_post(h, FC_TLP_AMBER, tag, k, to_b, 1, NULL), TMBUS_OK);
}

/* Takes n more deliveries from h without acking them. */
static void receive_exactly(struct tmbus *h, struct fc_inbox *in, size_t n)
{
    size_t before = in->n_tagged;

    fc_receive(h, in, before + n, IDLE_MS, 0);
    assert_int_equal(in->n_tagged, before + n);
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

static void test_client_and_node_restart_resume_at_cursor(void **state)
{
    static const char *const ids[] = {"A", "B"};
    struct fed *f = fed_new(2, ids);
    size_t a, b;
    struct tmbus *ha, *hb;
    struct fc_inbox first, second;
    char tag[FC_TAG_MAX];
    long mark;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    assert_int_equal(fed_start(f, a), 0);
    assert_int_equal(fed_start(f, b), 0);
    assert_int_equal(fed_wait_link(f, a, 0, "B", LINK_MS), 0);

    fc_tag(tag, sizeof(tag), "resume");
    assert_non_null(ha = fc_connect(f, a));
    post_range(ha, tag, 0, N_FIRST);

    /* First connection: N_ACKED acked (durably), N_UNACKED only received. */
    fc_inbox_init(&first, tag);
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(tmbus_subscribe(hb, WINDOW, FC_CALL_MS), TMBUS_OK);
    receive_exactly(hb, &first, N_ACKED);
    assert_int_equal(tmbus_ack(hb, first.got[first.n - 1].number, FC_CALL_MS), TMBUS_OK);
    receive_exactly(hb, &first, N_UNACKED);
    assert_indexes(&first, 0, 0, N_ACKED + N_UNACKED);
    assert_int_equal(fc_check_order(&first), 0);
    tmbus_close(&hb);

    /* More arrives while the client is away. */
    post_range(ha, tag, N_FIRST, N_FIRST + N_SECOND);

    /* Second connection: resumes right after the ack, so the unacked ones
     * come again and the acked ones never do; then everything else. */
    fc_inbox_init(&second, tag);
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(tmbus_subscribe(hb, WINDOW, FC_CALL_MS), TMBUS_OK);
    fc_receive(hb, &second, N_FIRST + N_SECOND - N_ACKED, IDLE_MS, 4);
    assert_int_equal(second.n_tagged, N_FIRST + N_SECOND - N_ACKED);
    assert_indexes(&second, 0, N_ACKED, N_FIRST + N_SECOND - N_ACKED);
    assert_int_equal(fc_check_order(&second), 0);
    assert_true(second.got[0].number > first.got[N_ACKED - 1].number);
    assert_int_equal(second.got[0].number, first.got[N_ACKED].number);
    assert_int_equal(fc_expect_quiet(hb, &second, QUIET_MS), 0);

    /* Everything acked. B's node stops and starts again while A posts; the
     * same handle resubscribes by itself and resumes after its cursor:
     * nothing lost, nothing repeated. */
    assert_int_equal(fed_stop(f, b), 0);
    post_range(ha, tag, N_FIRST + N_SECOND, N_FIRST + N_SECOND + N_THIRD);
    mark = fed_log_mark(f, b);
    assert_int_equal(fed_start(f, b), 0);
    assert_int_equal(fed_wait_link(f, b, mark, "A", LINK_MS), 0);
    fc_receive(hb, &second, N_FIRST + N_SECOND - N_ACKED + N_THIRD, IDLE_MS, 4);
    assert_int_equal(second.n_tagged, N_FIRST + N_SECOND - N_ACKED + N_THIRD);
    assert_indexes(&second, 0, N_ACKED, N_FIRST + N_SECOND + N_THIRD - N_ACKED);
    assert_int_equal(fc_check_order(&second), 0);
    assert_int_equal(fc_expect_quiet(hb, &second, QUIET_MS), 0);

    /* And a fresh connection after all that finds nothing left to give. */
    tmbus_close(&hb);
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(tmbus_subscribe(hb, WINDOW, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(fc_expect_quiet(hb, &second, QUIET_MS), 0);

    tmbus_close(&ha);
    tmbus_close(&hb);
    fc_inbox_free(&first);
    fc_inbox_free(&second);
    assert_int_equal(fed_stop(f, a), 0);
    assert_int_equal(fed_stop(f, b), 0);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_client_and_node_restart_resume_at_cursor, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
