/*
 * Integration: pipelined posts through libtmbus against real tmbusd
 * nodes. Many posts in flight on one handle each complete exactly once,
 * with the envelope id the recipient then receives, in the order they
 * were sent, while synchronous calls share the handle; an invalid post in
 * the middle fails alone with the node's reason; a node that is stopped
 * and killed with posts in flight makes them fail (never hang), a full
 * window says busy, and the handle posts again once the node is back.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fed.h"
#include "fedclient.h"
#include "tmbus.h"

#define LINK_MS   15000
#define WAIT_MS   15000 /* longest wait for outcomes or deliveries */
#define N_POSTS   300   /* posts in flight test */
#define WINDOW    32
#define N_MIDDLE  9 /* posts around the invalid one */
#define N_STOPPED 20
#define SHORT_MS  300 /* a post's own timeout in the stopped-node test */

static const char *const ids[] = {"UA", "PL"};

/* Starts A (UA) and B (PL) and waits for their link. */
static struct fed *start_pair(void **state)
{
    struct fed *f = fed_new(2, ids);

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "UA", 0, "PL", 0, LINK_MS), 0);
    return f;
}

/* Sends need "TAG #index" to PL as a pipelined post. */
static int send_need(struct tmbus *h, const char *tag, uint32_t index, int flags, int timeout_ms,
                     uint64_t *ticket)
{
    static const char *const to[] = {"PL"};
    uint8_t buf[FC_PAYLOAD_MAX];
    size_t len = fc_need(buf, sizeof(buf), FC_TLP_GREEN, tag, index);

    assert_true(len > 0);
    return tmbus_post_send(h, buf, len, to, 1, false, 0, flags, timeout_ms, ticket);
}

/* Takes outcomes from h until none is in flight; each must name a ticket
 * of tickets[0..n) not seen before. Fills ok[] with their ids and
 * results[] with their results, by position in tickets[]. */
static void take_all(struct tmbus *h, const uint64_t *tickets, size_t n, int *results,
                     uint8_t (*got_ids)[TMBUS_ID_BYTES], char (*reasons)[256])
{
    int64_t deadline = fed_now_ms() + WAIT_MS;
    size_t taken = 0;

    for (size_t i = 0; i < n; i++)
        results[i] = 1; /* not yet */
    while (taken < n) {
        struct tmbus_posted *p = NULL;
        size_t k;
        int rc;

        if (fed_now_ms() > deadline)
            fail_msg("only %zu of %zu posts completed in %d ms", taken, n, WAIT_MS);
        rc = tmbus_posted_next(h, 500, &p);
        if (rc == TMBUS_ETIMEOUT)
            continue;
        if (rc != TMBUS_OK)
            fail_msg("tmbus_posted_next: %s: %s", tmbus_strerror(rc), tmbus_last_error(h));
        for (k = 0; k < n && tickets[k] != tmbus_posted_ticket(p); k++)
            ;
        if (k == n)
            fail_msg("an outcome for ticket %llu that was never sent",
                     (unsigned long long)tmbus_posted_ticket(p));
        if (results[k] != 1)
            fail_msg("ticket %llu completed twice", (unsigned long long)tickets[k]);
        results[k] = tmbus_posted_result(p);
        if (results[k] == TMBUS_OK) {
            assert_int_equal(tmbus_posted_count(p), 1);
            assert_null(tmbus_posted_id(p, 1));
            if (got_ids != NULL)
                memcpy(got_ids[k], tmbus_posted_id(p, 0), TMBUS_ID_BYTES);
            assert_string_equal(tmbus_posted_reason(p), "");
        } else {
            assert_int_equal(tmbus_posted_count(p), 0);
            assert_true(tmbus_posted_reason(p)[0] != '\0');
        }
        if (reasons != NULL)
            snprintf(reasons[k], sizeof(reasons[k]), "%s", tmbus_posted_reason(p));
        tmbus_posted_free(&p);
        assert_null(p);
        taken++;
    }
    assert_int_equal(tmbus_posts_in_flight(h), 0);
}

/* N_POSTS through a window of WINDOW, a synchronous post and a status in
 * the middle; B's subscriber gets each once, in sending order, with the id
 * its outcome named. */
static void test_many_in_flight(void **state)
{
    struct fed *f = start_pair(state);
    struct tmbus *ha = fc_connect(f, 0), *hb = fc_connect(f, 1);
    static uint64_t tickets[N_POSTS];
    static int results[N_POSTS];
    static uint8_t got[N_POSTS][TMBUS_ID_BYTES];
    uint8_t sync_id[TMBUS_ID_BYTES];
    struct tmbus_status *st = NULL;
    struct tmbus_posted *none = NULL;
    struct fc_inbox in;
    char tag[FC_TAG_MAX];
    static const char *const to[] = {"PL"};

    assert_non_null(ha);
    assert_non_null(hb);
    fc_tag(tag, sizeof(tag), "pipe");
    fc_inbox_init(&in, tag);
    assert_int_equal(tmbus_subscribe(hb, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_post_window(ha, 0), TMBUS_EINVALID);
    assert_int_equal(tmbus_post_window(ha, TMBUS_POST_WINDOW_MAX + 1), TMBUS_EINVALID);
    assert_int_equal(tmbus_post_window(ha, WINDOW), TMBUS_OK);
    assert_int_equal(tmbus_posted_next(ha, 0, &none), TMBUS_ENOTFOUND);
    assert_int_equal(tmbus_post_flush(ha, 0), TMBUS_OK);

    for (uint32_t i = 0; i < N_POSTS; i++) {
        /* Blocks for a place when WINDOW are in flight. */
        assert_int_equal(send_need(ha, tag, i, 0, WAIT_MS, &tickets[i]), TMBUS_OK);
        assert_true(tmbus_posts_in_flight(ha) <= WINDOW);
        if (i > 0)
            assert_true(tickets[i] > tickets[i - 1]);
        if (i == N_POSTS / 2) {
            /* Synchronous calls share the handle meanwhile; the post
             * goes to the log between #i and #i+1. */
            uint8_t buf[FC_PAYLOAD_MAX];
            size_t len = fc_need(buf, sizeof(buf), FC_TLP_GREEN, "pipe-sync", 0);
            assert_int_equal(tmbus_post(ha, buf, len, to, 1, false, 0, FC_CALL_MS, sync_id),
                             TMBUS_OK);
            assert_int_equal(tmbus_status(ha, FC_CALL_MS, &st), TMBUS_OK);
            tmbus_status_free(&st);
        }
    }
    assert_int_equal(tmbus_post_flush(ha, WAIT_MS), TMBUS_OK);
    take_all(ha, tickets, N_POSTS, results, got, NULL);
    for (size_t i = 0; i < N_POSTS; i++)
        if (results[i] != TMBUS_OK)
            fail_msg("post #%zu failed: %s", i, tmbus_strerror(results[i]));
    assert_int_equal(tmbus_posted_next(ha, 0, &none), TMBUS_ENOTFOUND);

    /* What B delivers: every post once, in the order sent, under the ids
     * the outcomes gave. */
    assert_int_equal(fc_receive(hb, &in, N_POSTS, WAIT_MS, 16), N_POSTS);
    assert_int_equal(fc_check_order(&in), 0);
    for (size_t i = 0, k = 0; i < in.n; i++) {
        if (!in.got[i].is_tagged)
            continue;
        assert_int_equal(in.got[i].index, k);
        assert_memory_equal(in.got[i].id, got[k], TMBUS_ID_BYTES);
        k++;
    }
    fc_inbox_free(&in);
    tmbus_close(&ha);
    tmbus_close(&hb);
    fed_pass(f);
}

/* An invalid post among valid ones fails alone, with the node's reason,
 * and the others commit. */
static void test_invalid_in_the_middle(void **state)
{
    struct fed *f = start_pair(state);
    struct tmbus *ha = fc_connect(f, 0);
    static const char *const nobody[] = {"XX"};
    uint64_t tickets[N_MIDDLE];
    int results[N_MIDDLE];
    char reasons[N_MIDDLE][256];
    char tag[FC_TAG_MAX];

    assert_non_null(ha);
    fc_tag(tag, sizeof(tag), "pipe-bad");
    for (uint32_t i = 0; i < N_MIDDLE; i++) {
        if (i == N_MIDDLE / 2) {
            uint8_t buf[FC_PAYLOAD_MAX];
            size_t len = fc_need(buf, sizeof(buf), FC_TLP_GREEN, tag, i);
            /* A recipient the roster does not know: only the node knows. */
            assert_int_equal(
                tmbus_post_send(ha, buf, len, nobody, 1, false, 0, 0, WAIT_MS, &tickets[i]),
                TMBUS_OK);
        } else {
            assert_int_equal(send_need(ha, tag, i, 0, WAIT_MS, &tickets[i]), TMBUS_OK);
        }
    }
    /* Checked before sending: no ticket, nothing in flight added. */
    uint64_t t = 7;
    assert_int_equal(tmbus_post_send(ha, "x", 0, nobody, 1, false, 0, 0, WAIT_MS, &t),
                     TMBUS_EINVALID);
    assert_int_equal(t, 0);
    assert_int_equal(send_need(ha, tag, 0, 0, 0, &t), TMBUS_EINVALID); /* no answer is at once */
    assert_int_equal(tmbus_posts_in_flight(ha) <= N_MIDDLE, true);
    take_all(ha, tickets, N_MIDDLE, results, NULL, reasons);
    for (size_t i = 0; i < N_MIDDLE; i++) {
        if (i == N_MIDDLE / 2) {
            assert_int_equal(results[i], TMBUS_ENOTFOUND);
            assert_non_null(strstr(reasons[i], "roster"));
        } else {
            assert_int_equal(results[i], TMBUS_OK);
        }
    }
    tmbus_close(&ha);
    fed_pass(f);
}

/* A node that stops answering: a post's own timeout ends it, a full
 * window says busy, a flush times out; killed, every post in flight fails
 * with TMBUS_ECLOSED at once; restarted, the handle posts again. */
static void test_node_restart(void **state)
{
    struct fed *f = start_pair(state);
    struct tmbus *ha = fc_connect(f, 0);
    uint64_t tickets[N_STOPPED + 1], busy = 0, late;
    int results[N_STOPPED + 1];
    struct tmbus_posted *p = NULL;
    char tag[FC_TAG_MAX];
    int64_t t0;

    assert_non_null(ha);
    fc_tag(tag, sizeof(tag), "pipe-restart");
    assert_int_equal(tmbus_post_window(ha, N_STOPPED), TMBUS_OK);
    assert_int_equal(kill(fed_pid(f, 0), SIGSTOP), 0);

    /* Its own timeout: the outcome says so, after about SHORT_MS. */
    t0 = fed_now_ms();
    assert_int_equal(send_need(ha, tag, 0, 0, SHORT_MS, &late), TMBUS_OK);
    assert_int_equal(tmbus_posted_next(ha, 0, &p), TMBUS_ETIMEOUT);
    assert_int_equal(tmbus_posted_next(ha, WAIT_MS, &p), TMBUS_OK);
    assert_int_equal(tmbus_posted_ticket(p), late);
    assert_int_equal(tmbus_posted_result(p), TMBUS_ETIMEOUT);
    assert_true(fed_now_ms() - t0 >= SHORT_MS - 50);
    tmbus_posted_free(&p);

    for (uint32_t i = 0; i < N_STOPPED; i++)
        assert_int_equal(send_need(ha, tag, i + 1, TMBUS_POST_NOWAIT, -1, &tickets[i]), TMBUS_OK);
    assert_int_equal(send_need(ha, tag, 99, TMBUS_POST_NOWAIT, -1, &busy), TMBUS_EBUSY);
    assert_int_equal(busy, 0);
    assert_int_equal(send_need(ha, tag, 99, 0, 200, &busy), TMBUS_ETIMEOUT);
    assert_int_equal(tmbus_post_flush(ha, 200), TMBUS_ETIMEOUT);
    assert_int_equal(tmbus_posts_in_flight(ha), N_STOPPED);

    /* Killed while stopped: it answered none of them. */
    fed_kill(f, 0);
    take_all(ha, tickets, N_STOPPED, results, NULL, NULL);
    for (size_t i = 0; i < N_STOPPED; i++)
        assert_int_equal(results[i], TMBUS_ECLOSED);

    /* Back again: the same handle posts and commits. */
    assert_int_equal(fed_start(f, 0), 0);
    assert_int_equal(send_need(ha, tag, 100, 0, WAIT_MS, &tickets[0]), TMBUS_OK);
    take_all(ha, tickets, 1, results, NULL, NULL);
    assert_int_equal(results[0], TMBUS_OK);
    tmbus_close(&ha);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_many_in_flight, fed_teardown),
        cmocka_unit_test_teardown(test_invalid_in_the_middle, fed_teardown),
        cmocka_unit_test_teardown(test_node_restart, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
