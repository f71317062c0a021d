/*
 * Integration: libtmbus's domain API against real tmbusd nodes. A beneficiary's client, connected
 * through a client configuration file, posts a need and gets its id once it is committed; a donor's
 * client, subscribed with the filter kinds={"offer"}, answers it and sees
 * offers only, never the need or its updates; the owner accepts and edits,
 * receives and decodes every kind, and reads the board: the need with its
 * coverage, the offer with its status, filtered by need id and status.
 */
#include <setjmp.h>
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

#define LINK_MS  15000 /* links come up well within this */
#define WAIT_MS  15000 /* longest wait for a delivery or a board change */
#define QUIET_MS 2000  /* how long "nothing more arrives" is watched */
#define WINDOW   64

/* A path under the federation's directory, relative to it, so that the
 * configuration also tests relative paths. */
static const char *relative(const struct fed *f, const char *path)
{
    size_t n = strlen(fed_dir(f));

    if (strncmp(path, fed_dir(f), n) == 0 && path[n] == '/')
        return path + n + 1;
    return path;
}

/* Connects node i's client with a client configuration file written into
 * the federation's directory. */
static struct tmbus *connect_with_config(struct fed *f, size_t i)
{
    char path[1024], err[512] = "";
    struct tmbus *h = NULL;
    FILE *file;
    int rc;

    snprintf(path, sizeof(path), "%s/%s-client.conf", fed_dir(f), fed_id(f, i));
    assert_non_null(file = fopen(path, "w"));
    fprintf(file,
            "# tmbus client configuration\n"
            "[client]\n"
            "endpoint = %s\n"
            "node_key = %s   ; the node's member-public key file\n"
            "key = %s\n",
            fed_client_endpoint(f, i), relative(f, fed_member_pub_path(f, i)),
            relative(f, fed_client_key_path(f, i)));
    fclose(file);
    rc = tmbus_connect_config(path, FC_CONNECT_MS, &h, err, sizeof(err));
    if (rc != TMBUS_OK)
        fail_msg("tmbus_connect_config: %s: %s", tmbus_strerror(rc), err);
    return h;
}

/* Receives from h until the delivery with envelope id arrives; frees (and
 * records the kinds of) those before it. NULL on timeout. */
static struct tmbus_delivery *receive_id(struct tmbus *h, const uint8_t *id)
{
    int64_t deadline = fed_now_ms() + WAIT_MS;

    while (fed_now_ms() < deadline) {
        struct tmbus_delivery *d = NULL;
        int rc = tmbus_next(h, 500, &d);

        if (rc == TMBUS_ETIMEOUT)
            continue;
        assert_int_equal(rc, TMBUS_OK);
        if (memcmp(tmbus_delivery_id(d), id, TMBUS_ID_BYTES) == 0)
            return d;
        tmbus_delivery_free(&d);
    }
    return NULL;
}

/* What wait_board waits for; board is the board that showed it. */
struct board_wait {
    struct tmbus *h;
    const uint8_t *id;
    const char *status;
    struct tmbus_board *board;
};

static bool is_board_shown(void *arg)
{
    struct board_wait *w = arg;
    struct tmbus_board *b = NULL;
    int rc = tmbus_board(w->h, w->id, NULL, FC_CALL_MS, &b);

    if (rc != TMBUS_OK)
        fail_msg("tmbus_board: %s: %s", tmbus_strerror(rc), tmbus_last_error(w->h));
    if (tmbus_board_need_count(b) == 1 &&
        (w->status == NULL || strcmp(tmbus_board_need_at(b, 0)->status, w->status) == 0)) {
        w->board = b;
        return true;
    }
    tmbus_board_free(&b);
    return false;
}

/* Polls h's board until need id shows there with status (NULL: any). */
static struct tmbus_board *wait_board(struct tmbus *h, const uint8_t *id, const char *status)
{
    struct board_wait w = {h, id, status, NULL};

    if (fed_wait_until(is_board_shown, &w, WAIT_MS, 200) == -1)
        return NULL;
    return w.board;
}

static const struct tmbus_need the_need = {
    .beneficiary = "Oblenergo (regional energy operator)",
    .sector = TMBUS_SECTOR_ENERGY,
    .category = TMBUS_CATEGORY_MALWARE_DETECTION,
    .title = "EDR licences for 400 workstations",
    .description = "Endpoint detection for the control-room network.",
    .quantity = 400,
    .unit = "licences",
    .value_cents = 4800000,
    .priority = TMBUS_PRIORITY_HIGH,
    .deadline = "2030-06-30",
    .tlp = TMBUS_TLP_AMBER,
    .contact = "soc@example.ua",
};

static void test_domain_api(void **state)
{
    static const char *const ids[] = {"A", "B"};
    static const char *const offer_kind[] = {"offer"};
    struct fed *f = fed_new(2, ids);
    struct tmbus *ha, *hb;
    struct tmbus_delivery *d = NULL;
    struct tmbus_board *b = NULL;
    struct tmbus_need bad = the_need;
    const struct tmbus_need *need;
    const struct tmbus_offer *got;
    struct tmbus_offer offer = {
        .description = "200 EDR licences, 3 years, with onboarding",
        .quantity = 200,
        .value_cents = 2400000,
        .delivery_date = "2030-03-15",
        .tlp = TMBUS_TLP_AMBER,
    };
    struct tmbus_filter only_offers = {.kinds = offer_kind, .n_kinds = 1};
    struct tmbus_need edit = {.priority = TMBUS_PRIORITY_CRITICAL};
    const struct tmbus_need_change *nc;
    const struct tmbus_offer_change *oc;
    uint8_t need_id[TMBUS_ID_BYTES], offer_id[TMBUS_ID_BYTES], accept_id[TMBUS_ID_BYTES],
        edit_id[TMBUS_ID_BYTES], zero[TMBUS_ID_BYTES] = {0};
    const struct tmbus_board_need *bn;
    const struct tmbus_board_offer *bo;
    size_t n_offers_seen = 0;

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_topology_mesh(f), 0);
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_links(f, "A", 0, "B", 0, LINK_MS), 0);
    assert_non_null(ha = connect_with_config(f, 0)); /* A: the beneficiary */
    assert_non_null(hb = fc_connect(f, 1));          /* B: a donor */

    /* Refused before anything is sent, with the reason. */
    bad.quantity = 0;
    assert_int_equal(tmbus_post_need(ha, &bad, NULL, 0, true, FC_CALL_MS, need_id), TMBUS_EINVALID);
    assert_non_null(strstr(tmbus_last_error(ha), "quantity"));
    bad = the_need;
    bad.tlp = TMBUS_TLP_RED;
    assert_int_equal(tmbus_post_need(ha, &bad, NULL, 0, true, FC_CALL_MS, need_id), TMBUS_EINVALID);
    assert_non_null(strstr(tmbus_last_error(ha), "TLP:RED"));

    /* B sees offers only. */
    assert_int_equal(tmbus_subscribe_filtered(hb, WINDOW, &only_offers, FC_CALL_MS), TMBUS_OK);

    /* A posts the need: the id comes back once A's node committed it. */
    memset(need_id, 0, sizeof(need_id));
    assert_int_equal(tmbus_post_need(ha, &the_need, NULL, 0, true, FC_CALL_MS, need_id), TMBUS_OK);
    assert_memory_not_equal(need_id, zero, sizeof(zero));

    /* BOARD (daemon board query): B's node knows the need once it is
     * relayed; B answers it. */
    assert_non_null(b = wait_board(hb, need_id, "open"));
    bn = tmbus_board_need_at(b, 0);
    assert_memory_equal(bn->id, need_id, TMBUS_ID_BYTES);
    assert_string_equal(bn->owner, "A");
    assert_string_equal(bn->need.title, the_need.title);
    tmbus_board_free(&b);
    offer.need_id = need_id;
    assert_int_equal(tmbus_post_offer(hb, &offer, NULL, 0, true, FC_CALL_MS, offer_id), TMBUS_OK);

    /* A, unfiltered, receives and decodes the need and the offer. */
    assert_int_equal(tmbus_subscribe(ha, WINDOW, FC_CALL_MS), TMBUS_OK);
    assert_non_null(d = receive_id(ha, need_id));
    assert_string_equal(tmbus_delivery_kind(d), "need");
    assert_string_equal(tmbus_delivery_sender(d), "A");
    assert_non_null(need = tmbus_delivery_need(d));
    assert_string_equal(need->title, the_need.title);
    assert_string_equal(need->beneficiary, the_need.beneficiary);
    assert_string_equal(need->deadline, the_need.deadline);
    assert_int_equal(need->quantity, the_need.quantity);
    assert_int_equal(need->category, the_need.category);
    assert_int_equal(need->tlp, the_need.tlp);
    assert_null(tmbus_delivery_offer(d)); /* not an offer */
    assert_null(tmbus_delivery_need_update(d));
    assert_null(tmbus_delivery_receipt_at(d, 0));
    tmbus_delivery_free(&d);
    assert_non_null(d = receive_id(ha, offer_id));
    assert_string_equal(tmbus_delivery_kind(d), "offer");
    assert_string_equal(tmbus_delivery_sender(d), "B");
    assert_non_null(got = tmbus_delivery_offer(d));
    assert_null(tmbus_delivery_need(d));
    assert_non_null(got->need_id);
    assert_memory_equal(got->need_id, need_id, TMBUS_ID_BYTES);
    assert_int_equal(got->quantity, 200);
    tmbus_delivery_free(&d);

    /* The owner accepts the offer and raises the need's priority. */
    assert_int_equal(tmbus_offer_update(ha, offer_id, TMBUS_OFFER_ACCEPT, "thank you", NULL, 0,
                                        true, FC_CALL_MS, accept_id),
                     TMBUS_OK);
    assert_int_equal(tmbus_need_update(ha, need_id, TMBUS_NEED_EDIT, &edit, "the outage widened",
                                       NULL, 0, true, FC_CALL_MS, edit_id),
                     TMBUS_OK);
    assert_non_null(d = receive_id(ha, accept_id));
    assert_string_equal(tmbus_delivery_kind(d), "offer_update");
    assert_non_null(oc = tmbus_delivery_offer_update(d));
    assert_int_equal(oc->action, TMBUS_OFFER_ACCEPT);
    assert_memory_equal(oc->offer_id, offer_id, TMBUS_ID_BYTES);
    assert_string_equal(oc->reason, "thank you");
    tmbus_delivery_free(&d);
    assert_non_null(d = receive_id(ha, edit_id));
    assert_string_equal(tmbus_delivery_kind(d), "need_update");
    assert_non_null(nc = tmbus_delivery_need_update(d));
    assert_int_equal(nc->action, TMBUS_NEED_EDIT);
    assert_true(nc->has_edit);
    assert_int_equal(nc->edit.priority, TMBUS_PRIORITY_CRITICAL);
    assert_string_equal(nc->edit.title, "");
    assert_memory_equal(nc->need_id, need_id, TMBUS_ID_BYTES);
    assert_int_equal(tmbus_ack(ha, tmbus_delivery_number(d), FC_CALL_MS), TMBUS_OK);
    tmbus_delivery_free(&d);

    /* FILTER (daemon filter): B got its offer and nothing else — not the
     * need, not the accept, not the edit. */
    for (;;) {
        int rc = tmbus_next(hb, n_offers_seen == 0 ? WAIT_MS : QUIET_MS, &d);
        if (rc == TMBUS_ETIMEOUT)
            break;
        assert_int_equal(rc, TMBUS_OK);
        if (tmbus_delivery_kind(d) == NULL || strcmp(tmbus_delivery_kind(d), "offer") != 0)
            fail_msg("a subscription with kinds={offer} received a '%s'",
                     tmbus_delivery_kind(d) != NULL ? tmbus_delivery_kind(d) : "(unreadable)");
        assert_memory_equal(tmbus_delivery_id(d), offer_id, TMBUS_ID_BYTES);
        n_offers_seen++;
        assert_int_equal(tmbus_ack(hb, tmbus_delivery_number(d), FC_CALL_MS), TMBUS_OK);
        tmbus_delivery_free(&d);
    }
    assert_int_equal(n_offers_seen, 1);

    /* BOARD (daemon board query): A's board shows the edit, the coverage
     * and the accepted offer; status and need id filter it. */
    assert_non_null(b = wait_board(ha, need_id, "partially_covered"));
    bn = tmbus_board_need_at(b, 0);
    assert_string_equal(bn->owner, "A");
    assert_int_equal(bn->need.priority, TMBUS_PRIORITY_CRITICAL);
    assert_string_equal(bn->need.title, the_need.title); /* untouched by the edit */
    assert_int_equal(bn->accepted_quantity, 200);
    assert_int_equal(bn->delivered_quantity, 0);
    assert_int_equal(tmbus_board_offer_count(b), 1);
    bo = tmbus_board_offer_at(b, 0);
    assert_memory_equal(bo->id, offer_id, TMBUS_ID_BYTES);
    assert_string_equal(bo->donor, "B");
    assert_string_equal(bo->status, "accepted");
    assert_non_null(bo->offer.need_id);
    assert_memory_equal(bo->offer.need_id, need_id, TMBUS_ID_BYTES);
    assert_null(tmbus_board_need_at(b, 1));
    assert_null(tmbus_board_offer_at(b, 1));
    tmbus_board_free(&b);
    assert_null(b);

    assert_int_equal(tmbus_board(ha, NULL, "partially-covered", FC_CALL_MS, &b), TMBUS_OK);
    assert_int_equal(tmbus_board_need_count(b), 1);
    tmbus_board_free(&b);
    assert_int_equal(tmbus_board(ha, NULL, "covered", FC_CALL_MS, &b), TMBUS_OK);
    assert_int_equal(tmbus_board_need_count(b), 0);
    tmbus_board_free(&b);
    assert_int_equal(tmbus_board(ha, NULL, "nearly", FC_CALL_MS, &b), TMBUS_EINVALID);
    assert_null(b);

    /* Only the owner closes a need: B is refused by its own node. */
    assert_int_equal(tmbus_need_update(hb, need_id, TMBUS_NEED_CLOSE, NULL, NULL, NULL, 0, true,
                                       FC_CALL_MS, NULL),
                     TMBUS_EDENIED);

    tmbus_close(&ha);
    tmbus_close(&hb);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_domain_api, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
