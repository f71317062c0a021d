/*
 * Integration: nothing is lost when nodes crash or stay down
 * (proto/PROTOCOL.md §4, §7.4). A relay killed with SIGKILL in the middle
 * of a stream and started again must leave the recipient's client with
 * every message its sender got a receipt for, exactly once and in the
 * sender's order; a recipient that was down while thousands were posted
 * catches up from its peer, in batches of limits.batch_envelopes, and as
 * well when its rounds are cut short by limits.peer_round_ms (§7.6).
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

#define LINK_MS    15000
#define IDLE_MS    30000 /* longest silence while deliveries are still due */
#define N_STREAM   5000  /* messages in the stream that loses its relay */
#define KILL_AT    1500  /* B dies after this many receipts ... */
#define RESTART_AT 3000  /* ... and comes back after this many */
#define N_CATCH_UP 10000 /* messages posted while the recipient is down */
#define N_CUT      3000  /* the same with the recipient's rounds cut short */
#define ACK_EVERY  256

/* What the poster was told: the envelope id of each message, and whether
 * the post was acknowledged at all. */
struct posted {
    uint8_t (*id)[TMBUS_ID_BYTES];
    bool *is_receipted;
    uint32_t n, n_receipted;
};

static void posted_init(struct posted *p, uint32_t n)
{
    p->id = calloc(n, TMBUS_ID_BYTES);
    p->is_receipted = calloc(n, sizeof(bool));
    p->n = n;
    p->n_receipted = 0;
    assert_non_null(p->id);
    assert_non_null(p->is_receipted);
}

static void posted_free(struct posted *p)
{
    free(p->id);
    free(p->is_receipted);
}

static void post_one(struct tmbus *h, struct posted *p, const char *tag, uint32_t k, const char *to)
{
    const char *const rcpt[] = {to};
    int rc = fc_post(h, FC_TLP_GREEN, tag, k, rcpt, 1, p->id[k]);

    /* A post that timed out may or may not be committed; the check below
     * only demands what was receipted, and tolerates the rest arriving. */
    if (rc == TMBUS_OK) {
        p->is_receipted[k] = true;
        p->n_receipted++;
    } else if (rc != TMBUS_ETIMEOUT) {
        fail_msg("post #%u failed: %s (%s)", k, tmbus_strerror(rc), tmbus_last_error(h));
    }
}

/* Every receipted message arrived once, with its receipted id, and all
 * tagged deliveries are in the order posted (one poster, so post order is
 * the order of A's log). */
static void assert_receipted_once_in_order(const struct fc_inbox *in, const struct posted *p)
{
    int64_t last = -1;

    assert_int_equal(fc_check_order(in), 0);
    for (size_t i = 0; i < in->n; i++) {
        const struct fc_got *g = &in->got[i];
        if (!g->is_tagged)
            continue;
        assert_string_equal(g->sender, "A");
        assert_true(g->index < p->n);
        if ((int64_t)g->index <= last)
            fail_msg("message #%u arrived after #%lld", g->index, (long long)last);
        last = g->index;
        if (p->is_receipted[g->index])
            assert_memory_equal(g->id, p->id[g->index], TMBUS_ID_BYTES);
    }
    for (uint32_t k = 0; k < p->n; k++)
        if (p->is_receipted[k] && fc_find_index(in, k) == NULL)
            fail_msg("receipted message #%u never arrived", k);
}

static void test_relay_killed_mid_stream(void **state)
{
    static const char *const ids[] = {"A", "B", "C"};
    struct fed *f = fed_new(3, ids);
    size_t a, b, c;
    struct tmbus *ha, *hc;
    struct fc_inbox in;
    struct posted p;
    char tag[FC_TAG_MAX];
    long b_mark;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    c = fed_index(f, "C");
    assert_int_equal(fed_topology_line(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_link(f, a, 0, "B", LINK_MS), 0);
    assert_int_equal(fed_wait_link(f, c, 0, "B", LINK_MS), 0);

    fc_tag(tag, sizeof(tag), "crash");
    fc_inbox_init(&in, tag);
    posted_init(&p, N_STREAM);
    assert_non_null(ha = fc_connect(f, a));
    assert_non_null(hc = fc_connect(f, c));
    assert_int_equal(tmbus_subscribe(hc, 512, FC_CALL_MS), TMBUS_OK);

    for (uint32_t k = 0; k < N_STREAM; k++) {
        post_one(ha, &p, tag, k, "C");
        if (k == KILL_AT) {
            /* Mid-stream: C must have some of it, not all. */
            fc_receive(hc, &in, 1, IDLE_MS, ACK_EVERY);
            assert_true(in.n_tagged >= 1);
            fed_kill(f, b);
        } else if (k == RESTART_AT) {
            b_mark = fed_log_mark(f, b);
            assert_int_equal(fed_start(f, b), 0);
            assert_int_equal(fed_wait_link(f, b, b_mark, "A", LINK_MS), 0);
        } else if (k % 500 == 0) {
            /* Drain what is there, so C receives while A still posts. */
            fc_receive(hc, &in, N_STREAM, 100, ACK_EVERY);
        }
    }
    fc_receive(hc, &in, p.n_receipted, IDLE_MS, ACK_EVERY);
    assert_receipted_once_in_order(&in, &p);
    assert_int_equal(in.n_tagged, p.n_receipted);

    tmbus_close(&ha);
    tmbus_close(&hc);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fed_stop(f, i), 0);
    fc_inbox_free(&in);
    posted_free(&p);
    fed_pass(f);
}

/* A client of node i asks for its status, again and again, until it holds
 * n envelopes: a request waiting is what cuts a round short (PROTOCOL.md
 * 7.6). Returns whether it saw the node hold fewer. */
static bool ask_while_behind(struct fed *f, size_t i, uint64_t n)
{
    struct tmbus *h = fc_connect(f, i);
    uint64_t held = 0;
    bool was_behind = false;
    int64_t until = fed_now_ms() + fed_ms(IDLE_MS);

    assert_non_null(h);
    while (held < n && fed_now_ms() < until) {
        assert_int_equal(fc_envelopes(h, &held), TMBUS_OK);
        was_behind = was_behind || held < n;
    }
    tmbus_close(&h);
    return was_behind;
}

/* C is down while A's client posts n messages to it; C comes back and
 * its client gets every one, once, in order. A sends batches of at most
 * batch envelopes (0: its default, 64) and C's rounds read peers for at
 * most round_ms (0: its default, 50 ms). */
static void catch_up(void **state, uint32_t n, unsigned batch, unsigned round_ms)
{
    static const char *const ids[] = {"A", "C"};
    struct fed *f = fed_new(2, ids);
    size_t a, c;
    struct tmbus *ha, *hc;
    struct fc_inbox in;
    struct posted p;
    char tag[FC_TAG_MAX];
    long a_mark;
    uint64_t batches, cut;
    bool was_behind = false;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    c = fed_index(f, "C");
    if (batch > 0)
        assert_int_equal(fed_set_limit(f, a, "batch_envelopes", batch), 0);
    if (round_ms > 0)
        assert_int_equal(fed_set_limit(f, c, "peer_round_ms", round_ms), 0);
    assert_int_equal(fed_start(f, a), 0);
    assert_int_equal(fed_start(f, c), 0);
    assert_int_equal(fed_wait_link(f, a, 0, "C", LINK_MS), 0);
    assert_int_equal(fed_stop(f, c), 0);

    fc_tag(tag, sizeof(tag), "catchup");
    fc_inbox_init(&in, tag);
    posted_init(&p, n);
    assert_non_null(ha = fc_connect(f, a));
    for (uint32_t k = 0; k < n; k++)
        post_one(ha, &p, tag, k, "C");
    assert_int_equal(p.n_receipted, n);

    a_mark = fed_log_mark(f, a);
    assert_int_equal(fed_start(f, c), 0);
    if (round_ms > 0 && round_ms < 5)
        was_behind = ask_while_behind(f, c, n);
    assert_int_equal(fed_wait_link(f, a, a_mark, "C", LINK_MS), 0);
    assert_non_null(hc = fc_connect(f, c));
    assert_int_equal(tmbus_subscribe(hc, 1024, FC_CALL_MS), TMBUS_OK);
    fc_receive(hc, &in, n, fed_ms(IDLE_MS), ACK_EVERY);
    assert_receipted_once_in_order(&in, &p);
    assert_int_equal(in.n_tagged, n);
    /* No batch took more than its share: A sent at least n / batch. */
    assert_int_equal(fc_counter(ha, "peer.batches-sent", &batches), TMBUS_OK);
    if (batches < n / (batch > 0 ? batch : 64))
        fail_msg("A sent %u messages in %llu batches, over %u a batch", n,
                 (unsigned long long)batches, batch > 0 ? batch : 64);
    /* C's rounds were cut short for the client asking, and the cut lost
     * nothing (above). */
    assert_int_equal(fc_counter(hc, "peer.round-time", &cut), TMBUS_OK);
    if (round_ms > 0 && round_ms < 5) {
        assert_true(was_behind);
        assert_true(cut > 0);
    }

    tmbus_close(&ha);
    tmbus_close(&hc);
    assert_int_equal(fed_stop(f, a), 0);
    assert_int_equal(fed_stop(f, c), 0);
    fc_inbox_free(&in);
    posted_free(&p);
    fed_pass(f);
}

static void test_recipient_down_catches_up(void **state)
{
    catch_up(state, N_CATCH_UP, 0, 0);
}

/* The largest batches there are, and rounds that read peers for 1 ms: C
 * takes a batch, commits and answers, and takes the next in a later
 * round; nothing is lost or reordered between them. */
static void test_catch_up_over_short_rounds(void **state)
{
    catch_up(state, N_CUT, 1024, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_relay_killed_mid_stream, fed_teardown),
        cmocka_unit_test_teardown(test_recipient_down_catches_up, fed_teardown),
        cmocka_unit_test_teardown(test_catch_up_over_short_rounds, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
