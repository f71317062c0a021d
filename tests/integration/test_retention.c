/*
 * Integration: retention of old ciphertext (proto/PROTOCOL.md 5.8) between
 * real tmbusd nodes. B prunes, with a retention day made one second long
 * ([retention] day_seconds): a withdrawn need's envelopes and an expired
 * one lose their ciphertext, B's board still shows the withdrawn need with
 * its status, and B's status counts what was freed. Then a new node C,
 * which only B can reach, catches up the origin's log from B: the pruned
 * envelopes fill their places in the chain and are not delivered, the one
 * left whole is.
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

#include "fed.h"
#include "fedclient.h"
#include "tmbus.h"

#define LINK_MS   15000 /* links come up well within this */
#define IDLE_MS   15000 /* longest silence while deliveries are due (fed_ms scales it) */
#define PRUNE_MS  15000 /* retention runs every 100 ms; a day is a second */
#define QUIET_MS  2000  /* how long "nothing more arrives" is watched */
#define EXPIRES_S 2     /* the expiring need's life */
#define N_PRUNED  3     /* the withdrawn need, its withdrawal, the expired need */

#define RETENTION                                                                                  \
    "[retention]\n"                                                                                \
    "after_expiry = 1\n"                                                                           \
    "after_closed = 1\n"                                                                           \
    "day_seconds = 1\n"                                                                            \
    "interval_ms = 100\n"                                                                          \
    "batch = 2\n"

struct pruned_wait {
    struct tmbus *h;
    uint64_t want;
};

static bool is_pruned(void *arg)
{
    struct pruned_wait *w = arg;
    uint64_t n = 0;

    return fc_counter(w->h, "retention.pruned", &n) == TMBUS_OK && n >= w->want;
}

/* The need id's status on h's board: a static string, or NULL when the
 * board does not list it. */
static const char *board_status(struct tmbus *h, const uint8_t *id)
{
    static char status[32];
    struct tmbus_board *b = NULL;
    const char *found = NULL;

    assert_int_equal(tmbus_board(h, NULL, NULL, FC_CALL_MS, &b), TMBUS_OK);
    for (size_t i = 0; i < tmbus_board_need_count(b); i++) {
        const struct tmbus_board_need *n = tmbus_board_need_at(b, i);
        if (n != NULL && memcmp(n->id, id, TMBUS_ID_BYTES) == 0) {
            snprintf(status, sizeof(status), "%s", n->status);
            found = status;
        }
    }
    tmbus_board_free(&b);
    return found;
}

static void test_pruned_node_serves_a_new_one(void **state)
{
    static const char *const ids[] = {"A", "B", "C"};
    struct fed *f = fed_new(3, ids);
    struct tmbus *ha, *hb, *hc;
    struct fc_inbox in_b, in_c;
    struct tmbus_status *st = NULL;
    uint8_t withdrawn[TMBUS_ID_BYTES], kept[TMBUS_ID_BYTES], expiring[TMBUS_ID_BYTES];
    uint8_t buf[FC_PAYLOAD_MAX];
    char tag[FC_TAG_MAX];
    size_t len;
    uint64_t n = 0;
    size_t a, b, c;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    c = fed_index(f, "C");
    assert_int_equal(fed_set_dial(f, a, "B"), 0);
    assert_int_equal(fed_set_dial(f, b, "A,C"), 0);
    assert_int_equal(fed_set_dial(f, c, "B"), 0);
    assert_int_equal(fed_set_extra(f, b, RETENTION), 0);
    assert_int_equal(fed_start(f, a), 0);
    assert_int_equal(fed_start(f, b), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);

    fc_tag(tag, sizeof(tag), "retention");
    fc_inbox_init(&in_b, tag);
    fc_inbox_init(&in_c, tag);
    assert_non_null(ha = fc_connect(f, a));
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(tmbus_subscribe(hb, 64, FC_CALL_MS), TMBUS_OK);

    /* A's relayed log: need #0, its withdrawal, need #1 (kept open), and
     * need #2 that expires in EXPIRES_S. */
    assert_int_equal(fc_post(ha, FC_TLP_GREEN, tag, 0, NULL, 0, withdrawn), TMBUS_OK);
    assert_int_equal(tmbus_need_update(ha, withdrawn, TMBUS_NEED_WITHDRAW, NULL, "no longer needed",
                                       NULL, 0, true, FC_CALL_MS, NULL),
                     TMBUS_OK);
    assert_int_equal(fc_post(ha, FC_TLP_GREEN, tag, 1, NULL, 0, kept), TMBUS_OK);
    assert_true((len = fc_need(buf, sizeof(buf), FC_TLP_GREEN, tag, 2)) > 0);
    assert_int_equal(tmbus_post(ha, buf, len, NULL, 0, true, (int64_t)time(NULL) + EXPIRES_S,
                                FC_CALL_MS, expiring),
                     TMBUS_OK);

    /* B's client takes and acks all of it: the closed-need rule waits for
     * that. */
    assert_int_equal(fc_receive(hb, &in_b, 3, fed_ms(IDLE_MS), 1), 3);
    {
        struct pruned_wait w = {hb, N_PRUNED};
        if (fed_wait_until(is_pruned, &w, PRUNE_MS, 100) != 0) {
            fc_counter(hb, "retention.pruned", &n);
            fail_msg("B pruned %llu envelopes, not %d", (unsigned long long)n, N_PRUNED);
        }
    }
    fc_counter(hb, "retention.pruned", &n);
    assert_int_equal(n, N_PRUNED);
    assert_int_equal(tmbus_status(hb, FC_CALL_MS, &st), TMBUS_OK);
    assert_int_equal(tmbus_status_retention_pruned(st), N_PRUNED);
    /* Each ciphertext (at least the 256-byte bucket and its 16-byte tag)
     * gave way to a 32-byte hash; the header and signature stay. */
    assert_true(tmbus_status_retention_bytes_freed(st) >= N_PRUNED * (256 + 16 - 32));
    assert_true(tmbus_status_envelopes(st) >= 4);
    tmbus_status_free(&st);
    /* The board keeps what was decided. */
    {
        const char *s = board_status(hb, withdrawn);
        assert_non_null(s);
        assert_string_equal(s, "withdrawn");
        assert_non_null(board_status(hb, kept));
    }

    /* A goes away; C, empty, can reach only B. */
    tmbus_close(&ha);
    assert_int_equal(fed_stop(f, a), 0);
    assert_int_equal(fed_start(f, c), 0);
    assert_int_equal(fed_wait_links(f, "B", 0, "C", 0, LINK_MS), 0);
    assert_non_null(hc = fc_connect(f, c));
    assert_int_equal(tmbus_subscribe(hc, 64, FC_CALL_MS), TMBUS_OK);
    /* Only need #1 kept its ciphertext: C delivers it and nothing else. */
    assert_int_equal(fc_receive(hc, &in_c, 1, fed_ms(IDLE_MS), 1), 1);
    assert_non_null(fc_find_index(&in_c, 1));
    assert_memory_equal(fc_find_index(&in_c, 1)->id, kept, TMBUS_ID_BYTES);
    assert_int_equal(fc_find_index(&in_c, 1)->seq, 3);
    fc_expect_quiet(hc, &in_c, QUIET_MS);
    assert_int_equal(in_c.n_tagged, 1);
    /* The whole chain is there, pruned entries in their places: need #1
     * at seq 3 chains onto the pruned withdrawal, the expired need at seq
     * 4 onto need #1, and C took every pruned one as verified. */
    fc_counter(hc, "retention.received-pruned", &n);
    assert_int_equal(n, N_PRUNED);
    fc_counter(hc, "accepted", &n);
    assert_true(n >= 4);
    fc_counter(hc, "rejected.out-of-order", &n);
    assert_int_equal(n, 0);
    fc_counter(hc, "rejected.bad-signature", &n);
    assert_int_equal(n, 0);
    assert_null(board_status(hc, withdrawn));
    assert_non_null(board_status(hc, kept));

    tmbus_close(&hb);
    tmbus_close(&hc);
    fc_inbox_free(&in_b);
    fc_inbox_free(&in_c);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pruned_node_serves_a_new_one, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
