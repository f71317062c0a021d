/*
 * Integration, adversarial: what receipts and delivery state tell parties
 * other than a post's poster (proto/PROTOCOL.md §6.6). No client, whatever
 * its role, can post a receipt of its own; a post's delivery state (who it
 * went to) is told only to the client that posted it or an admin client,
 * and any other client of the same node gets exactly the answer an unknown
 * id gets; and a receipt travels only between the recipient's node and the
 * poster's, so a relay never learns who answered a post.
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

#define LINK_MS   15000 /* links come up well within this */
#define SETTLE_MS 15000 /* longest wait for a receipt */
#define WHY_SZ    512

/* One counter of h's node (0 when it never counted). */
static uint64_t counter(struct tmbus *h, const char *name)
{
    uint64_t value;

    assert_int_equal(fc_counter(h, name, &value), TMBUS_OK);
    return value;
}

/* Connects to node i as the client whose secret key file is key. */
static struct tmbus *connect_as(struct fed *f, size_t i, const char *key)
{
    struct tmbus *h = NULL;
    char err[256] = "";

    if (tmbus_connect_files(fed_client_endpoint(f, i), fed_member_pub_path(f, i), key,
                            FC_CONNECT_MS, &h, err, sizeof(err)) != TMBUS_OK)
        fail_msg("cannot connect to node %s as %s: %s", fed_id(f, i), key, err);
    return h;
}

/* Whether h's node tells h that member's state of post id is delivered. */
static bool is_delivered_to(struct tmbus *h, const uint8_t *id, const char *member)
{
    struct tmbus_delivery_state *s = NULL;
    bool is_delivered = false;

    if (tmbus_delivery_state(h, id, FC_CALL_MS, &s) != TMBUS_OK)
        return false;
    for (size_t i = 0; i < tmbus_delivery_state_count(s); i++) {
        const struct tmbus_delivery_entry *e = tmbus_delivery_state_at(s, i);
        is_delivered |= strcmp(e->member, member) == 0 && strcmp(e->state, "delivered") == 0;
    }
    tmbus_delivery_state_free(&s);
    return is_delivered;
}

struct delivered_wait {
    struct tmbus *h;
    const uint8_t *id;
    const char *member;
};

static bool is_delivered(void *arg)
{
    const struct delivered_wait *w = arg;

    return is_delivered_to(w->h, w->id, w->member);
}

/* Asks h's node for the state of id and of an id no post has: both must
 * get TMBUS_ENOTFOUND with the same reason. */
static void assert_answers_as_unknown(struct tmbus *h, const uint8_t *id)
{
    struct tmbus_delivery_state *s = NULL;
    uint8_t unknown[TMBUS_ID_BYTES];
    char why_id[WHY_SZ], why_unknown[WHY_SZ];

    randombytes_buf(unknown, sizeof(unknown));
    assert_int_equal(tmbus_delivery_state(h, id, FC_CALL_MS, &s), TMBUS_ENOTFOUND);
    assert_null(s);
    snprintf(why_id, sizeof(why_id), "%s", tmbus_last_error(h));
    assert_int_equal(tmbus_delivery_state(h, unknown, FC_CALL_MS, &s), TMBUS_ENOTFOUND);
    snprintf(why_unknown, sizeof(why_unknown), "%s", tmbus_last_error(h));
    assert_string_equal(why_id, why_unknown);
}

/* Two members in a mesh, both running, the link up. */
static struct fed *pair(void **state)
{
    static const char *const ids[] = {"A", "B"};
    struct fed *f = fed_new(2, ids);

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_topology_mesh(f), 0);
    return f;
}

/* Seen: any poster client could post its own Receipt payload, pre-empting
 * the node's real one. Neither a poster nor an admin client may. */
static void test_client_receipt_refused(void **state)
{
    struct fed *f = pair(state);
    size_t a = fed_index(f, "A"), b = fed_index(f, "B");
    static const char *const to_b[] = {"B"};
    char admin_key[FED_PATH_MAX], tag[FC_TAG_MAX];
    struct tmbus *ha, *hb, *hadmin;
    uint8_t x[TMBUS_ID_BYTES];

    assert_int_equal(fed_add_client(f, a, "A-admin", "admin", "red", admin_key), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    ha = fc_connect(f, a);
    hb = fc_connect(f, b);
    hadmin = connect_as(f, a, admin_key);
    assert_non_null(ha);
    assert_non_null(hb);

    /* B stops before it can answer: only a forged receipt could settle x. */
    fc_tag(tag, sizeof(tag), "rcpt-forge");
    assert_int_equal(fed_stop(f, b), 0);
    assert_int_equal(fc_post(ha, FC_TLP_GREEN, tag, 0, to_b, 1, x), TMBUS_OK);
    assert_int_equal(fc_post_receipt(ha, x, "A"), TMBUS_EDENIED);
    assert_string_equal(tmbus_last_error(ha), "only a node writes receipts");
    assert_int_equal(fc_post_receipt(hadmin, x, "B"), TMBUS_EDENIED);
    assert_int_equal(counter(ha, "api.rejected.receipt"), 2);
    assert_false(is_delivered_to(ha, x, "B"));

    tmbus_close(&hb);
    assert_int_equal(fed_start(f, b), 0);
    assert_non_null(hb = fc_connect(f, b));
    assert_int_equal(fc_post_receipt(hb, x, "A"), TMBUS_EDENIED);
    assert_int_equal(counter(hb, "api.rejected.receipt"), 1);
    {
        struct delivered_wait w = {ha, x, "B"};
        if (fed_wait_until(is_delivered, &w, SETTLE_MS, 50) == -1)
            fail_msg("B's node never receipted x");
    }
    assert_int_equal(counter(ha, "receipts.recorded"), 1);
    tmbus_close(&ha);
    tmbus_close(&hb);
    tmbus_close(&hadmin);
    fed_pass(f);
}

/* Seen: any reader could ask the delivery state (the recipients) of any
 * post. Only the poster and an admin client are told, each within its
 * clearance. */
static void test_delivery_state_only_to_poster(void **state)
{
    struct fed *f = pair(state);
    size_t a = fed_index(f, "A");
    static const char *const to_b[] = {"B"};
    char desk_key[FED_PATH_MAX], admin_key[FED_PATH_MAX], tag[FC_TAG_MAX];
    struct tmbus *ha, *hdesk, *hadmin;
    uint8_t x[TMBUS_ID_BYTES], mine[TMBUS_ID_BYTES];

    assert_int_equal(fed_add_client(f, a, "A-desk", "poster", "red", desk_key), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    assert_non_null(ha = fc_connect(f, a));
    hdesk = connect_as(f, a, desk_key);

    fc_tag(tag, sizeof(tag), "rcpt-who");
    assert_int_equal(fc_post(ha, FC_TLP_GREEN, tag, 0, to_b, 1, x), TMBUS_OK);
    {
        struct delivered_wait w = {ha, x, "B"};
        if (fed_wait_until(is_delivered, &w, SETTLE_MS, 50) == -1)
            fail_msg("B's node never receipted x");
    }
    /* Another client of the same node learns nothing, not even that x is
     * a post; its own post it may ask about. */
    assert_answers_as_unknown(hdesk, x);
    assert_int_equal(fc_post(hdesk, FC_TLP_GREEN, tag, 1, to_b, 1, mine), TMBUS_OK);
    {
        struct tmbus_delivery_state *s = NULL;
        assert_int_equal(tmbus_delivery_state(hdesk, mine, FC_CALL_MS, &s), TMBUS_OK);
        assert_int_equal(tmbus_delivery_state_count(s), 1);
        tmbus_delivery_state_free(&s);
    }
    assert_answers_as_unknown(ha, mine);
    tmbus_close(&hdesk);

    /* An admin client is told, within its clearance. */
    assert_int_equal(fed_add_client(f, a, "A-admin", "admin", "red", admin_key), 0);
    assert_int_equal(fed_reload(f, a), 0);
    hadmin = connect_as(f, a, admin_key);
    {
        struct delivered_wait w = {hadmin, x, "B"};
        if (fed_wait_until(is_delivered, &w, SETTLE_MS, 50) == -1)
            fail_msg("the admin client is never told x's state");
    }
    tmbus_close(&hadmin);
    assert_int_equal(fed_add_client(f, a, "A-admin", "admin", "clear", admin_key), 0);
    assert_int_equal(fed_reload(f, a), 0);
    hadmin = connect_as(f, a, admin_key);
    {
        struct tmbus_need need = {.sector = TMBUS_SECTOR_ENERGY,
                                  .category = TMBUS_CATEGORY_OTHER,
                                  .title = "amber need",
                                  .quantity = 1,
                                  .priority = TMBUS_PRIORITY_HIGH,
                                  .tlp = TMBUS_TLP_AMBER};
        uint8_t amber[TMBUS_ID_BYTES];
        assert_int_equal(tmbus_post_need(ha, &need, to_b, 1, false, FC_CALL_MS, amber), TMBUS_OK);
        assert_answers_as_unknown(hadmin, amber);
    }
    tmbus_close(&hadmin);
    tmbus_close(&ha);
    fed_pass(f);
}

/* Envelopes h's node holds. */
static uint64_t envelopes(struct tmbus *h)
{
    uint64_t n;

    assert_int_equal(fc_envelopes(h, &n), TMBUS_OK);
    return n;
}

struct count_wait {
    struct tmbus *h;
    const char *name; /* a counter, or NULL for the envelopes held */
    uint64_t at_least;
};

static bool has_count(void *arg)
{
    const struct count_wait *w = arg;

    return (w->name != NULL ? counter(w->h, w->name) : envelopes(w->h)) >= w->at_least;
}

/* Seen: a recipient answered in its relayed log in the same round, so a
 * relay linked seq n of the poster's log to the receipts that followed: the
 * recipient list. In a line A-B-C, A posts to C: B relays the post but
 * never holds C's receipt; A learns C's word once A and C link. */
static void test_relay_never_holds_receipt(void **state)
{
    static const char *const ids[] = {"A", "B", "C"};
    static const char *const to_c[] = {"C"};
    struct fed *f = fed_new(3, ids);
    size_t a, b, c;
    struct tmbus *ha, *hb, *hc;
    uint8_t x[TMBUS_ID_BYTES];
    char tag[FC_TAG_MAX];
    long mark_a, mark_c;

    assert_non_null(f);
    *state = f;
    a = fed_index(f, "A");
    b = fed_index(f, "B");
    c = fed_index(f, "C");
    assert_int_equal(fed_topology_line(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    assert_int_equal(fed_wait_links(f, "B", 0, "C", 0, LINK_MS), 0);
    assert_non_null(ha = fc_connect(f, a));
    assert_non_null(hb = fc_connect(f, b));
    assert_non_null(hc = fc_connect(f, c));

    fc_tag(tag, sizeof(tag), "rcpt-relay");
    assert_int_equal(fc_post(ha, FC_TLP_GREEN, tag, 0, to_c, 1, x), TMBUS_OK);
    {
        struct count_wait w = {hc, "receipts.envelopes", 1};
        if (fed_wait_until(has_count, &w, SETTLE_MS, 50) == -1)
            fail_msg("C's node never sealed its receipt");
    }
    /* B holds A's post and nothing C sealed: the receipt is not on its way
     * through B (a relayed one reaches B within a heartbeat). */
    assert_int_equal(envelopes(hb), 1);
    {
        struct count_wait w = {hb, NULL, 2};
        assert_int_equal(fed_wait_until(has_count, &w, 2000, 50), -1);
    }
    assert_false(is_delivered_to(ha, x, "C"));

    /* A and C link: C's receipt comes over that link alone. */
    mark_a = fed_log_mark(f, a);
    mark_c = fed_log_mark(f, c);
    assert_int_equal(fed_set_dial(f, a, "B,C"), 0);
    assert_int_equal(fed_reload(f, a), 0);
    assert_int_equal(fed_wait_links(f, "A", mark_a, "C", mark_c, LINK_MS), 0);
    {
        struct delivered_wait w = {ha, x, "C"};
        if (fed_wait_until(is_delivered, &w, SETTLE_MS, 50) == -1)
            fail_msg("A never learnt C's word");
    }
    assert_int_equal(envelopes(ha), 2);
    assert_int_equal(envelopes(hc), 2);
    assert_int_equal(envelopes(hb), 1);
    assert_int_equal(counter(hb, "receipts.envelopes"), 0);

    tmbus_close(&ha);
    tmbus_close(&hb);
    tmbus_close(&hc);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_client_receipt_refused, fed_teardown),
        cmocka_unit_test_teardown(test_delivery_state_only_to_poster, fed_teardown),
        cmocka_unit_test_teardown(test_relay_never_holds_receipt, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
