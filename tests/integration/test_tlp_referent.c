/*
 * Integration: TLP follows what a message is about (proto/PROTOCOL.md §6.5).
 * Three nodes in a mesh: UA (beneficiary), EE and NL (donors). Each test acts
 * as a member's clients would, and as a careless or curious one: an edit of
 * an AMBER need must not reach a GREEN reader, a client must not act on a
 * need above its clearance nor learn that it exists, an offer may not carry
 * a lower label than its need, and an update of a TLP:RED need travels only
 * in the direct log to the member the need went to, never through a third
 * node. The last test plays a hostile member M on a raw peer link with M's
 * real keys, sending what no well-behaved node would: a TLP:RED payload in
 * a relayed log and an offer labelled below its need.
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
#include <zmq.h>

#include "envelope.h"
#include "fed.h"
#include "fedclient.h"
#include "keys.h"
#include "payload.pb-c.h"
#include "peer.pb-c.h"
#include "roster.h"
#include "tmbus.h"

#define LINK_MS      15000
#define IDLE_MS      15000
#define LOG_MS       5000
#define HEARTBEAT_MS 200
#define PEER_VERSION 1

static const char *const members[] = {"UA", "EE", "NL"};

/* A mesh of the three members, running, with EE's client at clearance
 * `ee_clearance`. */
static struct fed *mesh(void **state, const char *ee_clearance)
{
    struct fed *f = fed_new(3, members);

    assert_non_null(f);
    *state = f;
    assert_int_equal(fed_topology_mesh(f), 0);
    assert_int_equal(fed_set_clearance(f, fed_index(f, "EE"), ee_clearance), 0);
    assert_int_equal(fed_start_all(f), 0);
    for (size_t i = 0; i < 3; i++)
        for (size_t k = i + 1; k < 3; k++)
            assert_int_equal(fed_wait_links(f, members[i], 0, members[k], 0, LINK_MS), 0);
    return f;
}

static struct tmbus_need need_of(const char *title, int tlp)
{
    return (struct tmbus_need){
        .sector = TMBUS_SECTOR_ENERGY,
        .category = TMBUS_CATEGORY_OTHER,
        .title = title,
        .description = "before",
        .quantity = 10,
        .priority = TMBUS_PRIORITY_HIGH,
        .tlp = tlp,
    };
}

/* What one client received until a need titled marker came. */
struct seen {
    size_t n_updates; /* need updates about need */
    bool has_need;    /* need itself */
    bool has_marker;
    char update_log[TMBUS_MEMBER_MAX + 1]; /* the log_peer of the last such update */
};

static void receive_until(struct tmbus *h, const char *marker, const uint8_t *need, struct seen *s)
{
    int64_t deadline = fed_now_ms() + IDLE_MS;

    memset(s, 0, sizeof(*s));
    while (!s->has_marker && fed_now_ms() < deadline) {
        struct tmbus_delivery *d = NULL;
        const char *kind;

        if (tmbus_next(h, 500, &d) != TMBUS_OK)
            continue;
        kind = tmbus_delivery_kind(d);
        if (kind != NULL && strcmp(kind, "need") == 0) {
            const struct tmbus_need *n = tmbus_delivery_need(d);
            s->has_marker = strcmp(n->title, marker) == 0;
            s->has_need |= memcmp(tmbus_delivery_id(d), need, TMBUS_ID_BYTES) == 0;
        } else if (kind != NULL && strcmp(kind, "need_update") == 0) {
            s->n_updates++;
            snprintf(s->update_log, sizeof(s->update_log), "%s", tmbus_delivery_log_peer(d));
        }
        assert_int_equal(tmbus_ack(h, tmbus_delivery_number(d), FC_CALL_MS), TMBUS_OK);
        tmbus_delivery_free(&d);
    }
    if (!s->has_marker)
        fail_msg("the marker %s never arrived", marker);
}

/* Seen: UA posts an AMBER need to all and edits its description; a GREEN
 * reader at EE received the edit's text while `need list` hid the need. */
static void test_edit_of_amber_need_skips_green_reader(void **state)
{
    struct fed *f = mesh(state, "green");
    struct tmbus_need need = need_of("amber need", TMBUS_TLP_AMBER);
    struct tmbus_need edit = {.description = "the edit's secret text"};
    struct tmbus_need marker = need_of("marker 1", TMBUS_TLP_GREEN);
    struct tmbus *ha, *he, *hn;
    uint8_t id[TMBUS_ID_BYTES];
    struct seen at_ee, at_nl;

    assert_non_null(ha = fc_connect(f, fed_index(f, "UA")));
    assert_non_null(he = fc_connect(f, fed_index(f, "EE")));
    assert_non_null(hn = fc_connect(f, fed_index(f, "NL")));
    assert_int_equal(tmbus_subscribe(he, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_subscribe(hn, 64, FC_CALL_MS), TMBUS_OK);

    assert_int_equal(tmbus_post_need(ha, &need, NULL, 0, true, FC_CALL_MS, id), TMBUS_OK);
    /* An edit states no label: it is handled under its need's. */
    assert_int_equal(
        tmbus_need_update(ha, id, TMBUS_NEED_EDIT, &edit, NULL, NULL, 0, true, FC_CALL_MS, NULL),
        TMBUS_OK);
    assert_int_equal(tmbus_post_need(ha, &marker, NULL, 0, true, FC_CALL_MS, NULL), TMBUS_OK);

    receive_until(hn, "marker 1", id, &at_nl); /* AMBER reads both */
    assert_true(at_nl.has_need);
    assert_int_equal(at_nl.n_updates, 1);
    receive_until(he, "marker 1", id, &at_ee); /* GREEN neither */
    assert_false(at_ee.has_need);
    assert_int_equal(at_ee.n_updates, 0);

    tmbus_close(&ha);
    tmbus_close(&he);
    tmbus_close(&hn);
    fed_pass(f);
}

/* Two answers from one client are the same: code and reason text. */
static void assert_same_answer(int rc_a, const char *why_a, int rc_b, const char *why_b)
{
    assert_int_equal(rc_a, rc_b);
    assert_string_equal(why_a, why_b);
}

/* Seen: a GREEN poster can close or edit a need above its clearance, and a
 * hidden need id answers differently from one that does not exist. UA's
 * client posts an AMBER need at clearance red, then comes back at green. */
static void test_hidden_need_answers_as_unknown(void **state)
{
    struct fed *f = mesh(state, "red");
    size_t ua = fed_index(f, "UA");
    struct tmbus_need need = need_of("amber need", TMBUS_TLP_AMBER);
    struct tmbus_need edit = {.description = "changed"};
    struct tmbus *ha;
    uint8_t id[TMBUS_ID_BYTES], unknown[TMBUS_ID_BYTES];
    char why_hidden[512], why_unknown[512];
    struct tmbus_delivery_state *ds = NULL;
    int rc_hidden, rc_unknown;

    memset(unknown, 0x5a, sizeof(unknown));
    assert_non_null(ha = fc_connect(f, ua));
    assert_int_equal(tmbus_post_need(ha, &need, NULL, 0, true, FC_CALL_MS, id), TMBUS_OK);
    tmbus_close(&ha);
    assert_int_equal(fed_stop(f, ua), 0);
    assert_int_equal(fed_set_clearance(f, ua, "green"), 0);
    assert_int_equal(fed_start(f, ua), 0);
    assert_non_null(ha = fc_connect(f, ua));

    for (int action = TMBUS_NEED_EDIT; action <= TMBUS_NEED_CLOSE; action++) {
        const struct tmbus_need *e = action == TMBUS_NEED_EDIT ? &edit : NULL;
        rc_hidden = tmbus_need_update(ha, id, action, e, NULL, NULL, 0, true, FC_CALL_MS, NULL);
        snprintf(why_hidden, sizeof(why_hidden), "%s", tmbus_last_error(ha));
        rc_unknown =
            tmbus_need_update(ha, unknown, action, e, NULL, NULL, 0, true, FC_CALL_MS, NULL);
        snprintf(why_unknown, sizeof(why_unknown), "%s", tmbus_last_error(ha));
        assert_int_equal(rc_unknown, TMBUS_ENOTFOUND);
        assert_same_answer(rc_hidden, why_hidden, rc_unknown, why_unknown);
    }
    /* The post's delivery state and the board by id say the same. */
    rc_hidden = tmbus_delivery_state(ha, id, FC_CALL_MS, &ds);
    tmbus_delivery_state_free(&ds);
    snprintf(why_hidden, sizeof(why_hidden), "%s", tmbus_last_error(ha));
    rc_unknown = tmbus_delivery_state(ha, unknown, FC_CALL_MS, &ds);
    tmbus_delivery_state_free(&ds);
    snprintf(why_unknown, sizeof(why_unknown), "%s", tmbus_last_error(ha));
    assert_int_equal(rc_unknown, TMBUS_ENOTFOUND);
    assert_same_answer(rc_hidden, why_hidden, rc_unknown, why_unknown);

    tmbus_close(&ha);
    fed_pass(f);
}

/* Seen: offers may carry a lower label than their need. A GREEN client at
 * EE cannot even name UA's AMBER need; an AMBER one may answer it only at
 * AMBER or above. */
static void test_offer_below_its_need_refused(void **state)
{
    struct fed *f = mesh(state, "green");
    struct tmbus_need need = need_of("amber need", TMBUS_TLP_AMBER);
    struct tmbus_need marker = need_of("marker 3", TMBUS_TLP_GREEN);
    struct tmbus *ha, *he, *hn;
    uint8_t id[TMBUS_ID_BYTES], unknown[TMBUS_ID_BYTES];
    struct tmbus_offer offer = {.quantity = 2, .tlp = TMBUS_TLP_GREEN};
    const char *const to_ua[] = {"UA"};
    char why_hidden[512], why_unknown[512];
    struct seen at_nl, at_ee;
    int rc_hidden, rc_unknown;

    memset(unknown, 0xa5, sizeof(unknown));
    assert_non_null(ha = fc_connect(f, fed_index(f, "UA")));
    assert_non_null(he = fc_connect(f, fed_index(f, "EE")));
    assert_non_null(hn = fc_connect(f, fed_index(f, "NL")));
    assert_int_equal(tmbus_subscribe(he, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_subscribe(hn, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_post_need(ha, &need, NULL, 0, true, FC_CALL_MS, id), TMBUS_OK);
    assert_int_equal(tmbus_post_need(ha, &marker, NULL, 0, true, FC_CALL_MS, NULL), TMBUS_OK);
    receive_until(hn, "marker 3", id, &at_nl);
    receive_until(he, "marker 3", id, &at_ee); /* EE's node holds the need now */

    offer.need_id = id;
    rc_hidden = tmbus_post_offer(he, &offer, to_ua, 1, false, FC_CALL_MS, NULL);
    snprintf(why_hidden, sizeof(why_hidden), "%s", tmbus_last_error(he));
    offer.need_id = unknown;
    rc_unknown = tmbus_post_offer(he, &offer, to_ua, 1, false, FC_CALL_MS, NULL);
    snprintf(why_unknown, sizeof(why_unknown), "%s", tmbus_last_error(he));
    assert_int_equal(rc_unknown, TMBUS_ENOTFOUND);
    assert_same_answer(rc_hidden, why_hidden, rc_unknown, why_unknown);

    offer.need_id = id;
    assert_int_equal(tmbus_post_offer(hn, &offer, to_ua, 1, false, FC_CALL_MS, NULL),
                     TMBUS_EINVALID);
    assert_non_null(strstr(tmbus_last_error(hn), "lower than"));
    offer.tlp = TMBUS_TLP_AMBER;
    assert_int_equal(tmbus_post_offer(hn, &offer, to_ua, 1, false, FC_CALL_MS, NULL), TMBUS_OK);

    tmbus_close(&ha);
    tmbus_close(&he);
    tmbus_close(&hn);
    fed_pass(f);
}

/* Seen: a RED need sent to EE, then edited to EE, went through UA's
 * relayed log and was stored by NL. Here the RED need goes to NL and EE
 * is the third node: the edit must reach NL in the direct log and never
 * reach EE's store; an edit to EE instead is refused. */
static void test_red_update_stays_direct(void **state)
{
    struct fed *f = mesh(state, "red");
    size_t ee = fed_index(f, "EE");
    struct tmbus_need need = need_of("red need", TMBUS_TLP_RED);
    struct tmbus_need edit = {.description = "red edit"};
    struct tmbus_need marker = need_of("marker 4", TMBUS_TLP_GREEN);
    const char *const to_nl[] = {"NL"}, *const to_ee[] = {"EE"}, *const to_both[] = {"NL", "EE"};
    const char *names[] = {"tmbus.db", "tmbus.db-wal"};
    struct tmbus *ha, *he, *hn;
    uint8_t id[TMBUS_ID_BYTES], edit_id[TMBUS_ID_BYTES];
    struct seen at_nl, at_ee;

    assert_non_null(ha = fc_connect(f, fed_index(f, "UA")));
    assert_non_null(he = fc_connect(f, ee));
    assert_non_null(hn = fc_connect(f, fed_index(f, "NL")));
    assert_int_equal(tmbus_subscribe(he, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_subscribe(hn, 64, FC_CALL_MS), TMBUS_OK);

    assert_int_equal(tmbus_post_need(ha, &need, to_nl, 1, false, FC_CALL_MS, id), TMBUS_OK);
    assert_int_equal(
        tmbus_need_update(ha, id, TMBUS_NEED_EDIT, &edit, NULL, to_ee, 1, false, FC_CALL_MS, NULL),
        TMBUS_EINVALID);
    assert_int_equal(tmbus_need_update(ha, id, TMBUS_NEED_EDIT, &edit, NULL, to_both, 2, false,
                                       FC_CALL_MS, NULL),
                     TMBUS_EINVALID);
    assert_int_equal(tmbus_need_update(ha, id, TMBUS_NEED_EDIT, &edit, NULL, to_nl, 1, false,
                                       FC_CALL_MS, edit_id),
                     TMBUS_OK);
    assert_int_equal(tmbus_post_need(ha, &marker, NULL, 0, true, FC_CALL_MS, NULL), TMBUS_OK);

    receive_until(hn, "marker 4", id, &at_nl);
    assert_true(at_nl.has_need);
    assert_int_equal(at_nl.n_updates, 1);
    assert_string_equal(at_nl.update_log, "NL"); /* UA's direct log to NL */
    receive_until(he, "marker 4", id, &at_ee);
    assert_int_equal(at_ee.n_updates, 0);

    /* EE relayed and stored everything UA's relayed log held up to the
     * marker; the edit is not among it. */
    tmbus_close(&he);
    assert_int_equal(fed_stop(f, ee), 0);
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        char path[FED_PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", fed_data_dir(f, ee), names[k]);
        assert_int_equal(fed_file_contains(path, edit_id, TMBUS_ID_BYTES), 0);
    }

    tmbus_close(&ha);
    tmbus_close(&hn);
    fed_pass(f);
}

/* ---- a hostile member on a raw peer link --------------------------------- */

struct player {
    void *zctx;
    struct fed *fed;
    size_t node;
    struct keyset *keys; /* M's member keys */
    struct roster *roster;
    struct envelope_keyring *keyring;
    void *sock; /* CURVE DEALER to the node's peer socket, as M */
    int64_t last_sent_ms;
    uint64_t seq; /* M's relayed log, as sent so far */
    uint8_t head[ENVELOPE_HASH_BYTES];
};

static void send_peer(struct player *p, const Tmbus__Peer__PeerMessage *m)
{
    size_t len = tmbus__peer__peer_message__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);

    assert_non_null(buf);
    tmbus__peer__peer_message__pack(m, buf);
    assert_int_equal(zmq_send(p->sock, buf, len, 0), (int)len);
    free(buf);
    p->last_sent_ms = fed_now_ms();
}

static void player_open(struct player *p, struct fed *f, size_t node)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Hello hello = TMBUS__PEER__HELLO__INIT;
    int linger = 0;

    memset(p, 0, sizeof(*p));
    p->fed = f;
    p->node = node;
    assert_non_null(p->zctx = zmq_ctx_new());
    assert_non_null(p->keys = keys_load(fed_member_key_path(f, fed_index(f, "M"))));
    assert_int_equal(roster_load(fed_roster_path(f), FED_COALITION, &p->roster), 0);
    assert_non_null(p->keyring = envelope_keyring_new(p->keys));
    assert_non_null(p->sock = zmq_socket(p->zctx, ZMQ_DEALER));
    assert_int_equal(zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof(linger)), 0);
    assert_int_equal(
        zmq_setsockopt(p->sock, ZMQ_CURVE_PUBLICKEY, p->keys->transport_pk, KEYS_PUBLIC_BYTES), 0);
    assert_int_equal(zmq_setsockopt(p->sock, ZMQ_CURVE_SECRETKEY, keys_transport_secret(p->keys),
                                    KEYS_PUBLIC_BYTES),
                     0);
    assert_int_equal(
        zmq_setsockopt(p->sock, ZMQ_CURVE_SERVERKEY, fed_transport_pk(f, node), KEYS_PUBLIC_BYTES),
        0);
    assert_int_equal(zmq_connect(p->sock, fed_peer_endpoint(f, node)), 0);
    hello.version = PEER_VERSION;
    hello.roster_version = 1;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HELLO;
    m.hello = &hello;
    send_peer(p, &m);
}

static void player_close(struct player *p)
{
    if (p->sock != NULL)
        zmq_close(p->sock);
    envelope_keyring_free(&p->keyring);
    roster_free(&p->roster);
    keys_free(&p->keys);
    if (p->zctx != NULL)
        zmq_ctx_term(p->zctx);
    memset(p, 0, sizeof(*p));
}

/* Keeps the link alive (heartbeats, draining what the node sends) until
 * the node logs substr after mark, at most LOG_MS. Returns 0 or -1. */
static int player_wait_log(struct player *p, long mark, const char *substr)
{
    int64_t end = fed_now_ms() + LOG_MS;

    while (fed_now_ms() < end) {
        zmq_pollitem_t item = {p->sock, 0, ZMQ_POLLIN, 0};
        if (fed_now_ms() - p->last_sent_ms >= HEARTBEAT_MS) {
            Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
            Tmbus__Peer__Heartbeat hb = TMBUS__PEER__HEARTBEAT__INIT;
            hb.sent_ms = (uint64_t)fed_now_ms();
            m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HEARTBEAT;
            m.heartbeat = &hb;
            send_peer(p, &m);
        }
        if (zmq_poll(&item, 1, 50) == 1) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            zmq_msg_recv(&msg, p->sock, ZMQ_DONTWAIT);
            zmq_msg_close(&msg);
        }
        if (fed_log_count(p->fed, p->node, mark, substr) > 0)
            return 0;
    }
    return -1;
}

/* Seals an offer as M, next in M's relayed log, addressed to the node's
 * member, and sends it. need_id NULL: a catalogue offer. */
static void player_offer(struct player *p, const uint8_t *need_id, int tlp)
{
    Tmbus__Payload__Payload pl = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Offer o = TMBUS__PAYLOAD__OFFER__INIT;
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    struct envelope_seal_args a = {0};
    struct envelope_recipient rcpt;
    struct roster_member target;
    struct envelope_info info;
    uint8_t payload[512], *env = NULL;
    size_t len;

    o.need_id.data = (uint8_t *)(uintptr_t)need_id;
    o.need_id.len = need_id != NULL ? TMBUS_ID_BYTES : 0;
    o.quantity = 1;
    o.description = "from a hostile member";
    o.tlp = (Tmbus__Payload__Tlp)tlp;
    pl.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER;
    pl.offer = &o;
    assert_true(tmbus__payload__payload__get_packed_size(&pl) <= sizeof(payload));
    tmbus__payload__payload__pack(&pl, payload);

    assert_int_equal(roster_find(p->roster, fed_id(p->fed, p->node), &target), 0);
    rcpt.member = target.id;
    rcpt.box_pk = target.box_pk;
    a.coalition = FED_COALITION;
    a.seq = ++p->seq;
    a.prev_hash = p->seq > 1 ? p->head : NULL;
    a.roster_version = roster_version(p->roster);
    a.created_at = (int64_t)time(NULL);
    a.payload = payload;
    a.payload_len = tmbus__payload__payload__get_packed_size(&pl);
    a.recipients = &rcpt;
    a.n_recipients = 1;
    assert_int_equal(envelope_seal(p->keyring, &a, &env, &len, &info), ENVELOPE_OK);
    memcpy(p->head, info.id, ENVELOPE_HASH_BYTES);
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_ENVELOPE;
    m.envelope.data = env;
    m.envelope.len = len;
    send_peer(p, &m);
    free(env);
}

/* A member that sends, in its relayed log, a TLP:RED offer, an offer about
 * a TLP:RED need and an offer labelled below its AMBER need: the first two
 * are refused outright (never applied, never delivered), the third is
 * refused by the board; a well-labelled offer after them goes through. */
static void test_hostile_member_relays_red(void **state)
{
    static const char *const nodes[] = {"UA"};
    static const char *const extra[] = {"M"};
    static const char *const to_m[] = {"M"};
    struct fed *f = fed_new_with_extra(1, nodes, 1, extra);
    struct tmbus_need amber = need_of("amber need", TMBUS_TLP_AMBER);
    struct tmbus_need red = need_of("red need", TMBUS_TLP_RED);
    uint8_t amber_id[TMBUS_ID_BYTES], red_id[TMBUS_ID_BYTES];
    bool seen[5] = {false};
    struct tmbus *hu;
    struct player p;
    size_t ua;
    long mark;

    assert_non_null(f);
    *state = f;
    ua = fed_index(f, "UA");
    assert_int_equal(fed_start(f, ua), 0);
    assert_non_null(hu = fc_connect(f, ua));
    assert_int_equal(tmbus_subscribe(hu, 64, FC_CALL_MS), TMBUS_OK);
    assert_int_equal(tmbus_post_need(hu, &amber, NULL, 0, true, FC_CALL_MS, amber_id), TMBUS_OK);
    /* Held in UA's direct log to M: M has no node to take it, but UA's
     * board records the need, and its log. */
    assert_int_equal(tmbus_post_need(hu, &red, to_m, 1, false, FC_CALL_MS, red_id), TMBUS_OK);

    mark = fed_log_mark(f, ua);
    player_open(&p, f, ua);
    assert_int_equal(player_wait_log(&p, mark, "peer M: link up"), 0);
    player_offer(&p, NULL, TMBUS_TLP_RED);       /* seq 1 */
    player_offer(&p, amber_id, TMBUS_TLP_GREEN); /* seq 2 */
    player_offer(&p, red_id, TMBUS_TLP_AMBER);   /* seq 3 */
    player_offer(&p, amber_id, TMBUS_TLP_AMBER); /* seq 4 */
    assert_int_equal(player_wait_log(&p, mark, "tlp-below-referent"), 0);
    assert_int_equal(player_wait_log(&p, mark, "seq 3) refused: TLP:RED in a relayed log"), 0);
    assert_int_equal(fed_log_count(f, ua, mark, "TLP:RED in a relayed log"), 2);

    /* UA's client (clearance red) gets seq 2 (refused by the board, shown
     * under its need's label) and 4, never 1 or 3. */
    for (int64_t end = fed_now_ms() + IDLE_MS; !seen[4] && fed_now_ms() < end;) {
        struct tmbus_delivery *d = NULL;
        assert_int_equal(player_wait_log(&p, mark, "peer M: link up"), 0); /* heartbeats */
        if (tmbus_next(hu, 100, &d) != TMBUS_OK)
            continue;
        if (strcmp(tmbus_delivery_sender(d), "M") == 0 && tmbus_delivery_seq(d) < 5)
            seen[tmbus_delivery_seq(d)] = true;
        tmbus_delivery_free(&d);
    }
    assert_true(seen[4]);
    assert_true(seen[2]);
    assert_false(seen[1]);
    assert_false(seen[3]);

    player_close(&p);
    tmbus_close(&hu);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_edit_of_amber_need_skips_green_reader, fed_teardown),
        cmocka_unit_test_teardown(test_hidden_need_answers_as_unknown, fed_teardown),
        cmocka_unit_test_teardown(test_offer_below_its_need_refused, fed_teardown),
        cmocka_unit_test_teardown(test_red_update_stays_direct, fed_teardown),
        cmocka_unit_test_teardown(test_hostile_member_relays_red, fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
