/*
 * Integration: receipts and per-recipient delivery state (proto/PROTOCOL.md §6.6)
 * between three real tmbusd nodes. A post is pending for a recipient whose
 * node is down and becomes delivered when it comes back; an update a
 * recipient's board refuses shows as rejected with the board's reason; no
 * client can post a receipt, so nothing but a recipient's node moves a
 * post's state (test_receipt_privacy has the adversarial cases); an
 * envelope that expired before it reached a recipient is rejected as
 * "expired"; every receipt travels in the direct log from the recipient
 * to the poster, so only those two nodes hold it; and a
 * receipt is never answered, so every node settles holding the envelopes
 * the exchange accounts for. A node sends one receipt per sender and loop
 * round, however many envelopes it covers, so how many receipts a phase
 * costs depends on timing: the counts are bounded, and exact where the
 * nodes' counters account for every receipt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "fed.h"
#include "fedclient.h"
#include "tmbus.h"

#define LINK_MS   15000 /* links come up well within this */
#define SETTLE_MS 15000 /* longest wait for a receipt or a board change */
#define QUIET_MS  2000  /* how long "nothing more happens" is watched */
#define REASON_SZ (TMBUS_REASON_MAX + 1)

/* The number of recipients h's node lists for post id, and member's state
 * (NULL when member is not listed) with its reason copied to reason. */
static size_t state_of(struct tmbus *h, const uint8_t *id, const char *member, const char **state,
                       char *reason)
{
    static const char *const names[] = {"pending", "delivered", "rejected"};
    struct tmbus_delivery_state *s = NULL;
    size_t n;

    assert_int_equal(tmbus_delivery_state(h, id, FC_CALL_MS, &s), TMBUS_OK);
    *state = NULL;
    reason[0] = '\0';
    n = tmbus_delivery_state_count(s);
    for (size_t i = 0; i < n; i++) {
        const struct tmbus_delivery_entry *e = tmbus_delivery_state_at(s, i);
        if (strcmp(e->member, member) != 0)
            continue;
        for (size_t k = 0; k < 3; k++)
            if (strcmp(e->state, names[k]) == 0)
                *state = names[k];
        snprintf(reason, REASON_SZ, "%s", e->reason);
        assert_true(e->at > 0);
    }
    tmbus_delivery_state_free(&s);
    return n;
}

/* What wait_state waits for, and the state last seen. */
struct state_wait {
    struct tmbus *h;
    const uint8_t *id;
    const char *member, *want;
    char *reason;
    const char *state;
};

static bool is_state(void *arg)
{
    struct state_wait *w = arg;

    state_of(w->h, w->id, w->member, &w->state, w->reason);
    return w->state != NULL && strcmp(w->state, w->want) == 0;
}

/* Waits until h's node says member's state for id is want. */
static void wait_state(struct tmbus *h, const uint8_t *id, const char *member, const char *want,
                       char *reason)
{
    struct state_wait w = {h, id, member, want, reason, NULL};

    if (fed_wait_until(is_state, &w, SETTLE_MS, 50) == -1)
        fail_msg("%s never became %s (it is %s)", member, want, w.state ? w.state : "absent");
}

/* One counter of h's node (0 when it never counted). */
static uint64_t counter(struct tmbus *h, const char *name)
{
    uint64_t value;

    assert_int_equal(fc_counter(h, name, &value), TMBUS_OK);
    return value;
}

static uint64_t envelopes(struct tmbus *h)
{
    uint64_t n;

    assert_int_equal(fc_envelopes(h, &n), TMBUS_OK);
    return n;
}

/* Waits until node i holds at least lo[i] envelopes and then until no
 * node's count has moved for QUIET_MS: receipts are not answered, so
 * nothing keeps moving. Then each count, left in got[i], is at most hi[i]. */
static void assert_envelopes_settle(struct tmbus *const *h, size_t n, const uint64_t *lo,
                                    const uint64_t *hi, uint64_t *got)
{
    int64_t deadline = fed_now_ms() + SETTLE_MS;
    bool is_quiet = false;

    for (size_t i = 0; i < n; i++) {
        while ((got[i] = envelopes(h[i])) < lo[i]) {
            if (fed_now_ms() > deadline)
                fail_msg("node %zu holds %llu envelopes, never %llu", i, (unsigned long long)got[i],
                         (unsigned long long)lo[i]);
            fed_sleep_ms(50);
        }
    }
    deadline = fed_now_ms() + SETTLE_MS;
    while (!is_quiet) {
        if (fed_now_ms() > deadline)
            fail_msg("the envelope counts never stopped moving");
        fed_sleep_ms(QUIET_MS);
        is_quiet = true;
        for (size_t i = 0; i < n; i++) {
            uint64_t now = envelopes(h[i]);
            is_quiet &= now == got[i];
            got[i] = now;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (got[i] > hi[i])
            fail_msg("node %zu holds %llu envelopes, more than %llu", i, (unsigned long long)got[i],
                     (unsigned long long)hi[i]);
}

/* Receipt envelopes and entries the nodes of h sent since they started. */
static uint64_t sum_counter(struct tmbus *const *h, size_t n, const char *name)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += counter(h[i], name);
    return sum;
}

/* What wait_board waits for. */
struct board_wait {
    struct tmbus *h;
    const uint8_t *need, *offer;
};

static bool is_on_board(void *arg)
{
    const struct board_wait *w = arg;
    struct tmbus_board *b = NULL;
    bool is_there = false;

    if (tmbus_board(w->h, w->need, NULL, FC_CALL_MS, &b) == TMBUS_OK) {
        is_there = w->offer == NULL;
        for (size_t i = 0; i < tmbus_board_offer_count(b) && !is_there; i++)
            is_there = memcmp(tmbus_board_offer_at(b, i)->id, w->offer, TMBUS_ID_BYTES) == 0;
    }
    tmbus_board_free(&b);
    return is_there;
}

/* Waits until h's board holds need (and, with offer, that offer). */
static void wait_board(struct tmbus *h, const uint8_t *need, const uint8_t *offer)
{
    struct board_wait w = {h, need, offer};

    if (fed_wait_until(is_on_board, &w, SETTLE_MS, 50) == -1)
        fail_msg("the board never showed the %s", offer ? "offer" : "need");
}

static void test_delivery_state(void **state)
{
    static const char *const ids[] = {"A", "B", "C"};
    static const char *const to_bc[] = {"B", "C"}, *const to_a[] = {"A"}, *const to_b[] = {"B"},
                             *const to_c[] = {"C"};
    struct fed *f = fed_new(3, ids);
    size_t a, b, c;
    struct tmbus *ha, *hb, *hc;
    uint8_t x[TMBUS_ID_BYTES], y[TMBUS_ID_BYTES], need[TMBUS_ID_BYTES], offer[TMBUS_ID_BYTES],
        decline[TMBUS_ID_BYTES], withdraw[TMBUS_ID_BYTES], unknown[TMBUS_ID_BYTES],
        xe[TMBUS_ID_BYTES], red[TMBUS_ID_BYTES], buf[FC_PAYLOAD_MAX];
    size_t len;
    int64_t expires;
    char tag[FC_TAG_MAX], reason[REASON_SZ];
    const char *st;
    long mark_a, mark_b, mark_c;
    struct tmbus_delivery_state *none = NULL;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    c = fed_index(f, "C");
    assert_int_equal(fed_topology_mesh(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    fc_tag(tag, sizeof(tag), "rcpt");
    assert_non_null(ha = fc_connect(f, a));
    assert_non_null(hb = fc_connect(f, b));

    /* 1. C is down: B's node receipts at once, C stays pending. */
    assert_int_equal(fed_stop(f, c), 0);
    assert_int_equal(fc_post(ha, FC_TLP_GREEN, tag, 0, to_bc, 2, x), TMBUS_OK);
    wait_state(ha, x, "B", "delivered", reason);
    assert_string_equal(reason, "");
    assert_int_equal(state_of(ha, x, "C", &st, reason), 2);
    assert_non_null(st);
    assert_string_equal(st, "pending");

    /* xe, for C alone, expires before C is back. */
    len = fc_need(buf, sizeof(buf), FC_TLP_GREEN, tag, 9);
    assert_true(len > 0);
    expires = (int64_t)time(NULL) + 2;
    assert_int_equal(tmbus_post(ha, buf, len, to_c, 1, false, expires, FC_CALL_MS, xe), TMBUS_OK);
    while ((int64_t)time(NULL) <= expires)
        fed_sleep_ms(100);

    /* Only the poster's node knows its posts' state. */
    assert_int_equal(tmbus_delivery_state(hb, x, FC_CALL_MS, &none), TMBUS_ENOTFOUND);
    randombytes_buf(unknown, sizeof(unknown));
    assert_int_equal(tmbus_delivery_state(ha, unknown, FC_CALL_MS, &none), TMBUS_ENOTFOUND);
    assert_null(none);

    /* C comes back, catches up and receipts. */
    mark_a = fed_log_mark(f, a);
    mark_b = fed_log_mark(f, b);
    mark_c = fed_log_mark(f, c);
    assert_int_equal(fed_start(f, c), 0);
    assert_int_equal(fed_wait_links(f, "A", mark_a, "C", mark_c, LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "B", mark_b, "C", mark_c, LINK_MS), 0);
    assert_non_null(hc = fc_connect(f, c));
    wait_state(ha, x, "C", "delivered", reason);
    assert_string_equal(reason, "");
    wait_state(ha, xe, "C", "rejected", reason);
    assert_string_equal(reason, "expired");

    /* No loops: x and xe everywhere; B's receipt at A and B, C's two
     * entries (in one receipt or two, as its rounds fell) at A and C, each
     * in a direct log; nothing else. */
    struct tmbus *const all[] = {ha, hb, hc};
    uint64_t got[3];
    {
        static const uint64_t lo[] = {4, 3, 3}, hi[] = {5, 3, 4};
        assert_envelopes_settle(all, 3, lo, hi, got);
    }
    assert_int_equal(counter(ha, "receipts.sent"), 0);
    assert_int_equal(counter(hb, "receipts.sent"), 1);
    assert_int_equal(counter(hc, "receipts.sent"), 2);
    assert_int_equal(counter(hb, "receipts.envelopes"), 1);
    assert_in_range(counter(hc, "receipts.envelopes"), 1, 2);
    assert_int_equal(counter(ha, "receipts.recorded"), 3);
    assert_int_equal(got[0], 2 + sum_counter(all, 3, "receipts.envelopes"));
    assert_int_equal(got[1], 2 + counter(hb, "receipts.envelopes"));
    assert_int_equal(got[2], 2 + counter(hc, "receipts.envelopes"));

    /* 2. C was no recipient of y: its client cannot say y was delivered
     * while y's one recipient, B, is down. */
    assert_int_equal(fed_stop(f, b), 0);
    assert_int_equal(fc_post(ha, FC_TLP_GREEN, tag, 1, to_b, 1, y), TMBUS_OK);
    assert_int_equal(fc_post_receipt(hc, y, "A"), TMBUS_EDENIED);
    assert_int_equal(counter(hc, "api.rejected.receipt"), 1);
    assert_int_equal(state_of(ha, y, "B", &st, reason), 1);
    assert_non_null(st);
    assert_string_equal(st, "pending");
    assert_int_equal(state_of(ha, y, "C", &st, reason), 1);
    assert_null(st);
    /* Nor does a recipient's second word change its first. */
    assert_int_equal(fc_post_receipt(hc, x, "A"), TMBUS_EDENIED);

    mark_a = fed_log_mark(f, a);
    mark_b = fed_log_mark(f, b);
    mark_c = fed_log_mark(f, c);
    tmbus_close(&hb);
    assert_int_equal(fed_start(f, b), 0);
    assert_int_equal(fed_wait_links(f, "A", mark_a, "B", mark_b, LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "B", mark_b, "C", mark_c, LINK_MS), 0);
    assert_non_null(hb = fc_connect(f, b));
    wait_state(ha, y, "B", "delivered", reason);
    /* Before + y everywhere + B's receipt for y at A and B: C's node sealed
     * neither of its client's receipts. */
    struct tmbus *const all2[] = {ha, hb, hc};
    {
        const uint64_t lo[] = {got[0] + 2, got[1] + 2, got[2] + 1};
        assert_envelopes_settle(all2, 3, lo, lo, got);
    }
    /* One before B's restart (counters survive it), one since. */
    assert_int_equal(counter(hb, "receipts.envelopes"), 2);
    assert_int_equal(counter(hc, "api.rejected.receipt"), 2);
    assert_int_equal(counter(ha, "receipts.ignored.duplicate"), 0);
    uint64_t sent = sum_counter(all2, 3, "receipts.sent"),
             env = sum_counter(all2, 3, "receipts.envelopes");
    assert_int_equal(state_of(ha, x, "C", &st, reason), 2);
    assert_string_equal(st, "delivered");

    /* 3. A refused update: A declines B's offer, telling only C; B, not
     * knowing, withdraws it, telling A, whose board refuses the move from
     * declined. */
    assert_int_equal(fc_post(ha, FC_TLP_GREEN, tag, 2, NULL, 0, need), TMBUS_OK);
    wait_board(hb, need, NULL);
    struct tmbus_offer o = {
        .need_id = need, .description = "tokens", .quantity = 5, .tlp = TMBUS_TLP_GREEN};
    assert_int_equal(tmbus_post_offer(hb, &o, NULL, 0, true, FC_CALL_MS, offer), TMBUS_OK);
    wait_board(ha, need, offer);
    assert_int_equal(tmbus_offer_update(ha, offer, TMBUS_OFFER_DECLINE, "not needed", to_c, 1,
                                        false, FC_CALL_MS, decline),
                     TMBUS_OK);
    assert_int_equal(tmbus_offer_update(hb, offer, TMBUS_OFFER_WITHDRAW, "changed plans", to_a, 1,
                                        false, FC_CALL_MS, withdraw),
                     TMBUS_OK);
    wait_state(hb, withdraw, "A", "rejected", reason);
    assert_non_null(strstr(reason, "bad-transition"));
    wait_state(ha, decline, "C", "delivered", reason);
    /* The need and the offer went to all three (their posters deliver to
     * themselves: two receipt entries each), the decline and the withdraw to
     * one member each (one entry each): six entries. Each receipt is held
     * by its two ends only: A answers B (offer, withdraw: one or two
     * receipts) and hears from B (need) and C (need, decline: one or two);
     * B answers A (need) and hears from C (offer). No node restarted since
     * the last phase, so the counters account for every receipt envelope. */
    {
        const uint64_t lo[] = {got[0] + 7, got[1] + 7, got[2] + 6},
                       hi[] = {got[0] + 9, got[1] + 8, got[2] + 7};
        uint64_t before = got[0] + got[1] + got[2];
        assert_envelopes_settle(all2, 3, lo, hi, got);
        assert_int_equal(sum_counter(all2, 3, "receipts.sent"), sent + 6);
        assert_int_equal(got[0] + got[1] + got[2],
                         before + 12 + 2 * (sum_counter(all2, 3, "receipts.envelopes") - env));
    }
    assert_int_equal(state_of(ha, need, "A", &st, reason), 3);
    assert_string_equal(st, "delivered");

    /* 4. TLP:RED to B and C: one direct envelope each, and each receipt in
     * the direct log back to A, which no third node holds. */
    assert_int_equal(fc_post(ha, FC_TLP_RED, tag, 3, to_bc, 2, red), TMBUS_OK);
    wait_state(ha, red, "B", "delivered", reason);
    wait_state(ha, red, "C", "delivered", reason);
    {
        const uint64_t lo[] = {got[0] + 4, got[1] + 2, got[2] + 2};
        assert_envelopes_settle(all2, 3, lo, lo, got);
    }

    tmbus_close(&ha);
    tmbus_close(&hb);
    tmbus_close(&hc);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_delivery_state, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
