/*
 * Integration: the board (proto/PROTOCOL.md §6.3) across three real nodes. UA (the
 * beneficiary) posts a need to all, EE (a donor) offers, UA accepts, EE
 * delivers, UA confirms; the board at UA and at PL (an observer) then shows
 * the same statuses and coverage. The api refuses what roles and the board's
 * rules forbid, and a subscription filter chooses what a client sees. The
 * test speaks the client protocol (proto/api.proto) over its own CurveZMQ
 * socket, so it needs nothing of libtmbus beyond what a member's program
 * would send.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "api.pb-c.h"
#include "fed.h"
#include "keys.h"
#include "payload.pb-c.h"

#define LINK_MS   15000
#define CALL_MS   10000
#define SETTLE_MS 20000 /* longest wait for a change to reach another board */
#define ID_BYTES  32
#define QUANTITY  5

/* One client connection, speaking Request/Reply frames itself. */
struct raw {
    void *ctx, *socket;
    uint64_t next_id;
};

static void raw_connect(struct raw *r, struct fed *f, size_t i)
{
    struct keyset *ks = keys_load(fed_client_key_path(f, i));
    int linger = 0, timeout = CALL_MS;

    assert_non_null(ks);
    memset(r, 0, sizeof(*r));
    r->next_id = 1;
    assert_non_null(r->ctx = zmq_ctx_new());
    assert_non_null(r->socket = zmq_socket(r->ctx, ZMQ_DEALER));
    assert_int_equal(zmq_setsockopt(r->socket, ZMQ_LINGER, &linger, sizeof(linger)), 0);
    assert_int_equal(zmq_setsockopt(r->socket, ZMQ_RCVTIMEO, &timeout, sizeof(timeout)), 0);
    assert_int_equal(
        zmq_setsockopt(r->socket, ZMQ_CURVE_SERVERKEY, fed_transport_pk(f, i), KEYS_PUBLIC_BYTES),
        0);
    assert_int_equal(
        zmq_setsockopt(r->socket, ZMQ_CURVE_PUBLICKEY, ks->transport_pk, KEYS_PUBLIC_BYTES), 0);
    assert_int_equal(zmq_setsockopt(r->socket, ZMQ_CURVE_SECRETKEY, keys_transport_secret(ks),
                                    KEYS_CURVE_SECRET_BYTES),
                     0);
    assert_int_equal(zmq_connect(r->socket, fed_client_endpoint(f, i)), 0);
    keys_free(&ks);
}

static void raw_close(struct raw *r)
{
    zmq_close(r->socket);
    zmq_ctx_term(r->ctx);
}

/* Receives the next reply frame (a delivery or an answer); NULL on timeout. */
static Tmbus__Api__Reply *raw_recv(struct raw *r)
{
    zmq_msg_t msg;
    Tmbus__Api__Reply *reply = NULL;

    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, r->socket, 0) >= 0)
        reply = tmbus__api__reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
    zmq_msg_close(&msg);
    return reply;
}

/* Sends req with a fresh id and returns its answer, skipping deliveries. */
static Tmbus__Api__Reply *raw_call(struct raw *r, Tmbus__Api__Request *req)
{
    size_t len;
    uint8_t *buf;

    req->id = r->next_id++;
    len = tmbus__api__request__get_packed_size(req);
    assert_non_null(buf = malloc(len));
    tmbus__api__request__pack(req, buf);
    assert_int_equal(zmq_send(r->socket, buf, len, 0), (int)len);
    free(buf);
    for (;;) {
        Tmbus__Api__Reply *reply = raw_recv(r);
        if (reply == NULL)
            fail_msg("no answer to request %llu", (unsigned long long)req->id);
        if (reply->id == req->id)
            return reply;
        tmbus__api__reply__free_unpacked(reply, NULL);
    }
}

/* Posts a payload to every member. Returns the reply's code; id gets the
 * envelope id on success (may be NULL). */
static Tmbus__Api__Code post_all(struct raw *r, const Tmbus__Payload__Payload *p, uint8_t *id)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Post post = TMBUS__API__POST__INIT;
    Tmbus__Api__Reply *reply;
    Tmbus__Api__Code code;
    uint8_t buf[4096];

    post.payload.len = tmbus__payload__payload__get_packed_size(p);
    assert_true(post.payload.len <= sizeof(buf));
    tmbus__payload__payload__pack(p, buf);
    post.payload.data = buf;
    post.all = true;
    req.kind_case = TMBUS__API__REQUEST__KIND_POST;
    req.post = &post;
    reply = raw_call(r, &req);
    code = reply->code;
    if (code == TMBUS__API__CODE__CODE_OK) {
        assert_int_equal(reply->kind_case, TMBUS__API__REPLY__KIND_RECEIPT);
        assert_int_equal(reply->receipt->n_placed, 1);
        assert_int_equal(reply->receipt->placed[0]->id.len, ID_BYTES);
        if (id != NULL)
            memcpy(id, reply->receipt->placed[0]->id.data, ID_BYTES);
    } else {
        fprintf(stderr, "post refused: code %d: %s\n", code, reply->reason);
    }
    tmbus__api__reply__free_unpacked(reply, NULL);
    return code;
}

static Tmbus__Api__Code post_need(struct raw *r, uint8_t *id)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need n = TMBUS__PAYLOAD__NEED__INIT;

    n.beneficiary = "Regional energy operator (test)";
    n.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_ENERGY;
    n.category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_MALWARE_DETECTION;
    n.title = "EDR licences for substations";
    n.description = "Integration test need.";
    n.quantity = QUANTITY;
    n.unit = "licences";
    n.value_cents = 500000;
    n.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_HIGH;
    n.deadline = "2030-06-30";
    n.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    n.contact = "duty desk";
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &n;
    return post_all(r, &p, id);
}

static Tmbus__Api__Code post_offer(struct raw *r, const uint8_t *need_id, uint8_t *id)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Offer o = TMBUS__PAYLOAD__OFFER__INIT;

    o.need_id.data = (uint8_t *)need_id;
    o.need_id.len = ID_BYTES;
    o.description = "Licences from our national stock.";
    o.quantity = QUANTITY;
    o.value_cents = 500000;
    o.delivery_date = "2030-05-01";
    o.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER;
    p.offer = &o;
    return post_all(r, &p, id);
}

static Tmbus__Api__Code post_offer_update(struct raw *r, const uint8_t *offer_id,
                                          Tmbus__Payload__OfferUpdate__Action action)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__OfferUpdate u = TMBUS__PAYLOAD__OFFER_UPDATE__INIT;

    u.offer_id.data = (uint8_t *)offer_id;
    u.offer_id.len = ID_BYTES;
    u.action = action;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE;
    p.offer_update = &u;
    return post_all(r, &p, NULL);
}

/* What one node's board says about the need and its one offer. */
struct seen {
    bool has_need, has_offer;
    char need_status[32], offer_status[32];
    uint64_t accepted, delivered;
    char owner[UTIL_MEMBER_ID_MAX + 1], donor[UTIL_MEMBER_ID_MAX + 1];
};

static void query(struct raw *r, const uint8_t *need_id, struct seen *out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__BoardQuery q = TMBUS__API__BOARD_QUERY__INIT;
    Tmbus__Api__Reply *reply;

    memset(out, 0, sizeof(*out));
    q.need_id.data = (uint8_t *)need_id;
    q.need_id.len = ID_BYTES;
    req.kind_case = TMBUS__API__REQUEST__KIND_BOARD;
    req.board = &q;
    reply = raw_call(r, &req);
    if (reply->code == TMBUS__API__CODE__CODE_OK) {
        assert_int_equal(reply->kind_case, TMBUS__API__REPLY__KIND_BOARD);
        assert_int_equal(reply->board->n_needs, 1);
        assert_memory_equal(reply->board->needs[0]->id.data, need_id, ID_BYTES);
        out->has_need = true;
        snprintf(out->need_status, sizeof(out->need_status), "%s", reply->board->needs[0]->status);
        snprintf(out->owner, sizeof(out->owner), "%s", reply->board->needs[0]->owner);
        out->accepted = reply->board->needs[0]->accepted_quantity;
        out->delivered = reply->board->needs[0]->delivered_quantity;
        assert_true(reply->board->n_offers <= 1);
        if (reply->board->n_offers == 1) {
            out->has_offer = true;
            snprintf(out->offer_status, sizeof(out->offer_status), "%s",
                     reply->board->offers[0]->status);
            snprintf(out->donor, sizeof(out->donor), "%s", reply->board->offers[0]->donor);
        }
    } else {
        assert_int_equal(reply->code, TMBUS__API__CODE__CODE_NOT_FOUND);
    }
    tmbus__api__reply__free_unpacked(reply, NULL);
}

/* What wait_board waits for, and what the board last said. */
struct board_wait {
    struct raw *r;
    const uint8_t *need_id;
    const char *offer_status;
    struct seen *out;
};

static bool is_board_shown(void *arg)
{
    struct board_wait *w = arg;

    query(w->r, w->need_id, w->out);
    return w->out->has_need &&
           (w->offer_status == NULL ||
            (w->out->has_offer && strcmp(w->out->offer_status, w->offer_status) == 0));
}

/* Waits until r's board shows the offer in offer_status (or, with NULL,
 * just the need). */
static void wait_board(struct raw *r, const char *who, const uint8_t *need_id,
                       const char *offer_status, struct seen *out)
{
    struct board_wait w = {r, need_id, offer_status, out};

    if (fed_wait_until(is_board_shown, &w, SETTLE_MS, 50) == -1)
        fail_msg("%s's board never showed the offer %s (need %s, offer %s)", who,
                 offer_status ? offer_status : "-", out->has_need ? out->need_status : "absent",
                 out->has_offer ? out->offer_status : "absent");
}

/* PL's client subscribes for offers only: of the five messages it was sent
 * it sees exactly the offer. */
static void check_filter(struct raw *r, const uint8_t *offer_id)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Subscribe sub = TMBUS__API__SUBSCRIBE__INIT;
    Tmbus__Api__Filter filter = TMBUS__API__FILTER__INIT;
    char *kinds[] = {"offer"};
    Tmbus__Api__Reply *reply;
    size_t n_offers = 0, n_other = 0;
    int timeout = 2000;

    filter.n_kinds = 1;
    filter.kinds = kinds;
    sub.filter = &filter;
    req.kind_case = TMBUS__API__REQUEST__KIND_SUBSCRIBE;
    req.subscribe = &sub;
    reply = raw_call(r, &req);
    assert_int_equal(reply->code, TMBUS__API__CODE__CODE_OK);
    tmbus__api__reply__free_unpacked(reply, NULL);
    assert_int_equal(zmq_setsockopt(r->socket, ZMQ_RCVTIMEO, &timeout, sizeof(timeout)), 0);
    while ((reply = raw_recv(r)) != NULL) {
        if (reply->kind_case == TMBUS__API__REPLY__KIND_DELIVERY) {
            Tmbus__Api__Delivery *d = reply->delivery;
            if (d->id.len == ID_BYTES && memcmp(d->id.data, offer_id, ID_BYTES) == 0)
                n_offers++;
            else
                n_other++;
        }
        tmbus__api__reply__free_unpacked(reply, NULL);
    }
    assert_int_equal(n_offers, 1);
    assert_int_equal(n_other, 0);
}

static void test_need_offer_lifecycle(void **state)
{
    static const char *const ids[] = {"UA", "EE", "PL"};
    static const char *const roles[] = {"beneficiary", "donor", "observer"};
    struct fed *f = fed_new_with_roles(3, ids, roles);
    uint8_t need[ID_BYTES], offer[ID_BYTES], nope[ID_BYTES];
    struct raw ua, ee, pl;
    struct seen at_ua, at_ee, at_pl;
    size_t iua, iee, ipl;

    assert_non_null(f);
    *state = f;
    iua = fed_index(f, "UA");
    iee = fed_index(f, "EE");
    ipl = fed_index(f, "PL");
    assert_int_equal(fed_start_all(f), 0);
    assert_int_equal(fed_wait_link(f, iua, 0, "EE", LINK_MS), 0);
    assert_int_equal(fed_wait_link(f, iua, 0, "PL", LINK_MS), 0);
    assert_int_equal(fed_wait_link(f, iee, 0, "PL", LINK_MS), 0);
    raw_connect(&ua, f, iua);
    raw_connect(&ee, f, iee);
    raw_connect(&pl, f, ipl);

    /* Roles: a donor states no needs, an observer posts nothing. */
    assert_int_equal(post_need(&ee, NULL), TMBUS__API__CODE__CODE_DENIED);
    assert_int_equal(post_need(&pl, NULL), TMBUS__API__CODE__CODE_DENIED);

    assert_int_equal(post_need(&ua, need), TMBUS__API__CODE__CODE_OK);
    wait_board(&ee, "EE", need, NULL, &at_ee);
    assert_string_equal(at_ee.need_status, "open");
    assert_string_equal(at_ee.owner, "UA");

    /* The board's rules at the poster: no offer to a need it does not hold. */
    memset(nope, 0x5a, sizeof(nope));
    assert_int_equal(post_offer(&ee, nope, NULL), TMBUS__API__CODE__CODE_NOT_FOUND);
    assert_int_equal(post_offer(&pl, need, NULL), TMBUS__API__CODE__CODE_DENIED);
    assert_int_equal(post_offer(&ee, need, offer), TMBUS__API__CODE__CODE_OK);
    wait_board(&ua, "UA", need, "proposed", &at_ua);

    /* Only the need's owner accepts. */
    assert_int_equal(
        post_offer_update(&ee, offer, TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_ACCEPT),
        TMBUS__API__CODE__CODE_DENIED);
    assert_int_equal(
        post_offer_update(&ua, offer, TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_ACCEPT),
        TMBUS__API__CODE__CODE_OK);
    wait_board(&ee, "EE", need, "accepted", &at_ee);
    assert_string_equal(at_ee.need_status, "covered");

    assert_int_equal(
        post_offer_update(&ee, offer, TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_DELIVER),
        TMBUS__API__CODE__CODE_OK);
    wait_board(&ua, "UA", need, "delivered", &at_ua);
    /* Confirming twice: the second is a transition the board refuses. */
    assert_int_equal(
        post_offer_update(&ua, offer, TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_CONFIRM),
        TMBUS__API__CODE__CODE_OK);
    wait_board(&ua, "UA", need, "confirmed", &at_ua);
    assert_int_equal(
        post_offer_update(&ua, offer, TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_CONFIRM),
        TMBUS__API__CODE__CODE_INVALID);

    /* The same board at UA and at the observer PL. */
    wait_board(&pl, "PL", need, "confirmed", &at_pl);
    assert_string_equal(at_ua.need_status, "covered");
    assert_int_equal(at_ua.accepted, QUANTITY);
    assert_int_equal(at_ua.delivered, QUANTITY);
    assert_string_equal(at_pl.need_status, at_ua.need_status);
    assert_string_equal(at_pl.offer_status, at_ua.offer_status);
    assert_int_equal(at_pl.accepted, at_ua.accepted);
    assert_int_equal(at_pl.delivered, at_ua.delivered);
    assert_string_equal(at_pl.owner, "UA");
    assert_string_equal(at_pl.donor, "EE");

    check_filter(&pl, offer);

    raw_close(&ua);
    raw_close(&ee);
    raw_close(&pl);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_need_offer_lifecycle, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
