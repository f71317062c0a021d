/*
 * Integration: sessions belong to keys, not to names (proto/PROTOCOL.md
 * §7.1 and §8.2). A client whose key the operator replaces and reloads
 * loses its open subscription at once: nothing more is pushed to it, its
 * acks are refused and never move the cursor the new key resumes from. Two
 * subscriptions of one client are both served, up to a bound past which one
 * more is refused. A member whose transport key a reloaded roster revokes
 * loses its links at both ends within a second, and they stay down on the
 * old key. The watchers here are raw libzmq
 * DEALERs with the real client keys, so they can keep a connection open
 * after its key is gone, as a hostile client would; posts go through
 * libtmbus.
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
#include "fedclient.h"
#include "keys.h"
#include "tmbus.h"

#define ANSWER_MS  5000 /* how long a legitimate request may wait */
#define SILENCE_MS 1500 /* how long a shut-out session must hear no delivery */
#define LINK_MS    15000
#define DOWN_MS    1000 /* a revoked link is down at both ends within this */
#define STAY_MS    3000 /* ...and stays down longer than the peer timeout */
#define MAX_SUBS   8    /* subscriptions a node serves one client at once */

/* ---- a raw client ---------------------------------------------------------- */

struct watcher {
    void *zctx;
    void *sock;
    uint64_t next_id;
};

/* A CURVE DEALER to node i's client socket with the client key file at
 * key_path. */
static void watcher_open(struct watcher *w, struct fed *f, size_t i, const char *key_path)
{
    struct keyset *k = keys_load(key_path);
    int linger = 0;

    assert_non_null(k);
    w->zctx = zmq_ctx_new();
    assert_non_null(w->zctx);
    w->sock = zmq_socket(w->zctx, ZMQ_DEALER);
    assert_non_null(w->sock);
    w->next_id = 1;
    assert_int_equal(zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof(linger)), 0);
    assert_int_equal(zmq_setsockopt(w->sock, ZMQ_CURVE_PUBLICKEY, k->transport_pk, 32), 0);
    assert_int_equal(zmq_setsockopt(w->sock, ZMQ_CURVE_SECRETKEY, keys_transport_secret(k), 32), 0);
    assert_int_equal(zmq_setsockopt(w->sock, ZMQ_CURVE_SERVERKEY, fed_transport_pk(f, i), 32), 0);
    assert_int_equal(zmq_connect(w->sock, fed_client_endpoint(f, i)), 0);
    keys_free(&k);
}

static void watcher_close(struct watcher *w)
{
    zmq_close(w->sock);
    zmq_ctx_term(w->zctx);
}

/* Sends req under the next id; returns the id. */
static uint64_t watcher_send(struct watcher *w, Tmbus__Api__Request *req)
{
    size_t len;
    uint8_t *buf;

    req->id = w->next_id++;
    len = tmbus__api__request__get_packed_size(req);
    buf = malloc(len ? len : 1);
    assert_non_null(buf);
    tmbus__api__request__pack(req, buf);
    assert_int_equal(zmq_send(w->sock, buf, len, 0), (int)len);
    free(buf);
    return req->id;
}

/* The next reply within timeout_ms, or NULL. */
static Tmbus__Api__Reply *watcher_recv(struct watcher *w, int timeout_ms)
{
    zmq_pollitem_t item = {w->sock, 0, ZMQ_POLLIN, 0};
    Tmbus__Api__Reply *r;
    zmq_msg_t msg;

    if (zmq_poll(&item, 1, timeout_ms) != 1)
        return NULL;
    zmq_msg_init(&msg);
    assert_true(zmq_msg_recv(&msg, w->sock, 0) >= 0);
    r = tmbus__api__reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
    zmq_msg_close(&msg);
    assert_non_null(r);
    return r;
}

/* The reply to request id, skipping anything else; NULL on timeout. */
static Tmbus__Api__Reply *watcher_answer(struct watcher *w, uint64_t id, int timeout_ms)
{
    int64_t deadline = fed_now_ms() + timeout_ms;
    Tmbus__Api__Reply *r;

    while (fed_now_ms() < deadline) {
        if ((r = watcher_recv(w, (int)(deadline - fed_now_ms()))) == NULL)
            return NULL;
        if (r->id == id)
            return r;
        tmbus__api__reply__free_unpacked(r, NULL);
    }
    return NULL;
}

/* Subscribes; returns the reply's code (asserting there is one). */
static int watcher_subscribe_code(struct watcher *w)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Subscribe sub = TMBUS__API__SUBSCRIBE__INIT;
    Tmbus__Api__Reply *r;
    int code;

    sub.window = 8;
    req.kind_case = TMBUS__API__REQUEST__KIND_SUBSCRIBE;
    req.subscribe = &sub;
    r = watcher_answer(w, watcher_send(w, &req), ANSWER_MS);
    assert_non_null(r);
    code = (int)r->code;
    tmbus__api__reply__free_unpacked(r, NULL);
    return code;
}

static void watcher_subscribe(struct watcher *w)
{
    assert_int_equal(watcher_subscribe_code(w), TMBUS__API__CODE__CODE_OK);
}

/* The number of the next delivery within timeout_ms, or 0 when none came
 * (other replies are skipped). */
static uint64_t watcher_delivery(struct watcher *w, int timeout_ms)
{
    int64_t deadline = fed_now_ms() + timeout_ms;
    Tmbus__Api__Reply *r;

    while (fed_now_ms() < deadline) {
        if ((r = watcher_recv(w, (int)(deadline - fed_now_ms()))) == NULL)
            return 0;
        if (r->kind_case == TMBUS__API__REPLY__KIND_DELIVERY) {
            uint64_t number = r->delivery->number;
            tmbus__api__reply__free_unpacked(r, NULL);
            return number;
        }
        tmbus__api__reply__free_unpacked(r, NULL);
    }
    return 0;
}

/* Acks number; returns the reply's code, or -1 when none came. */
static int watcher_ack(struct watcher *w, uint64_t number)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Ack ack = TMBUS__API__ACK__INIT;
    Tmbus__Api__Reply *r;
    int code;

    ack.number = number;
    req.kind_case = TMBUS__API__REQUEST__KIND_ACK;
    req.ack = &ack;
    if ((r = watcher_answer(w, watcher_send(w, &req), ANSWER_MS)) == NULL)
        return -1;
    code = (int)r->code;
    tmbus__api__reply__free_unpacked(r, NULL);
    return code;
}

/* Node i's state of its link to peer ("up", "connecting", "down"), asked
 * with node i's current client key; "" when there is no such peer. */
static void link_state(struct fed *f, size_t i, const char *peer, char *out, size_t size)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__StatusRequest st = TMBUS__API__STATUS_REQUEST__INIT;
    Tmbus__Api__Reply *r;
    struct watcher w;

    watcher_open(&w, f, i, fed_client_key_path(f, i));
    req.kind_case = TMBUS__API__REQUEST__KIND_STATUS;
    req.status = &st;
    r = watcher_answer(&w, watcher_send(&w, &req), ANSWER_MS);
    assert_non_null(r);
    assert_int_equal(r->kind_case, TMBUS__API__REPLY__KIND_STATUS);
    snprintf(out, size, "%s", "");
    for (size_t k = 0; k < r->status->n_peers; k++)
        if (strcmp(r->status->peers[k]->member, peer) == 0)
            snprintf(out, size, "%s", r->status->peers[k]->state);
    tmbus__api__reply__free_unpacked(r, NULL);
    watcher_close(&w);
}

static bool is_up(struct fed *f, size_t i, const char *peer)
{
    char state[16];

    link_state(f, i, peer, state, sizeof(state));
    return strcmp(state, "up") == 0;
}

/* Posts need #index from node i's client (its current key) to everyone. */
static void post_one(struct fed *f, size_t i, const char *tag, uint32_t index)
{
    struct tmbus *h = fc_connect(f, i);

    assert_non_null(h);
    assert_int_equal(fc_post(h, FC_TLP_GREEN, tag, index, NULL, 0, NULL), TMBUS_OK);
    tmbus_close(&h);
}

/* ---- the tests ------------------------------------------------------------- */

static int setup_one(void **state)
{
    const char *ids[] = {"A"};
    struct fed *f = fed_new(1, ids);

    if (f == NULL || fed_start_all(f) == -1) {
        fed_free(&f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup_two(void **state)
{
    const char *ids[] = {"A", "B"};
    struct fed *f = fed_new(2, ids);
    long mark_a, mark_b;

    if (f == NULL)
        return -1;
    mark_a = fed_log_mark(f, 0);
    mark_b = fed_log_mark(f, 1);
    if (fed_start_all(f) == -1 || fed_wait_links(f, "A", mark_a, "B", mark_b, LINK_MS) == -1) {
        fed_free(&f);
        return -1;
    }
    *state = f;
    return 0;
}

/* The client's key is replaced and the node reloaded while the old key's
 * subscription is open: it hears no more deliveries, its ack is refused,
 * and the new key resumes from the cursor as it was. */
static void test_replaced_key_ends_its_session(void **state)
{
    struct fed *f = *state;
    char tag[FC_TAG_MAX], old_key[FED_PATH_MAX];
    struct watcher old, fresh;
    uint64_t first, number;
    long mark;

    fc_tag(tag, sizeof(tag), "sessions");
    watcher_open(&old, f, 0, fed_client_key_path(f, 0));
    watcher_subscribe(&old);
    post_one(f, 0, tag, 1);
    first = watcher_delivery(&old, ANSWER_MS);
    assert_true(first > 0);

    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_rekey_client(f, 0, old_key), 0);
    assert_int_equal(fed_reload(f, 0), 0);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "reloading configuration", ANSWER_MS), 0);
    post_one(f, 0, tag, 2); /* with the new key */

    /* The old key's session is over: nothing more is pushed to it. */
    number = watcher_delivery(&old, SILENCE_MS);
    if (number != 0)
        fail_msg("the replaced key still received delivery %llu", (unsigned long long)number);
    /* Its ack is refused. */
    assert_int_equal(watcher_ack(&old, first), TMBUS__API__CODE__CODE_DENIED);
    watcher_close(&old);

    /* The new key resumes from the cursor the old key never moved. */
    watcher_open(&fresh, f, 0, fed_client_key_path(f, 0));
    watcher_subscribe(&fresh);
    number = watcher_delivery(&fresh, ANSWER_MS);
    assert_int_equal(number, first);
    watcher_close(&fresh);
    assert_true(fed_is_running(f, 0));
    fed_pass(f);
}

/* Two subscriptions of one client on two connections: both are served,
 * and neither waits for ever. */
static void test_second_subscription_is_served_too(void **state)
{
    struct fed *f = *state;
    char tag[FC_TAG_MAX];
    struct watcher one, two;
    uint64_t got_one, got_two;

    fc_tag(tag, sizeof(tag), "sessions");
    watcher_open(&one, f, 0, fed_client_key_path(f, 0));
    watcher_open(&two, f, 0, fed_client_key_path(f, 0));
    watcher_subscribe(&one);
    watcher_subscribe(&two);
    post_one(f, 0, tag, 1);
    got_one = watcher_delivery(&one, ANSWER_MS);
    got_two = watcher_delivery(&two, ANSWER_MS);
    assert_true(got_one > 0);
    assert_int_equal(got_two, got_one);
    /* Each acks on its own connection. */
    assert_int_equal(watcher_ack(&one, got_one), TMBUS__API__CODE__CODE_OK);
    assert_int_equal(watcher_ack(&two, got_two), TMBUS__API__CODE__CODE_OK);

    /* Served, but not without bound: past the most a node serves, one
     * more is refused with a reason, not left waiting. */
    struct watcher more[MAX_SUBS];
    for (size_t k = 2; k < MAX_SUBS; k++) {
        watcher_open(&more[k], f, 0, fed_client_key_path(f, 0));
        watcher_subscribe(&more[k]);
    }
    struct watcher extra;
    watcher_open(&extra, f, 0, fed_client_key_path(f, 0));
    assert_int_equal(watcher_subscribe_code(&extra), TMBUS__API__CODE__CODE_DENIED);
    watcher_close(&extra);
    for (size_t k = 2; k < MAX_SUBS; k++)
        watcher_close(&more[k]);
    watcher_close(&one);
    watcher_close(&two);
    fed_pass(f);
}

static bool is_b_down_at_both(void *arg)
{
    struct fed *f = arg;

    return !is_up(f, 0, "B") && !is_up(f, 1, "A");
}

/* B's transport key is revoked in roster version 2 and A reloads it while
 * B keeps running on the old key: the link is down at both ends within a
 * second and does not come back up on the old key. Once B runs on its new
 * keys, A's redialled link (with B's new server key) comes up. */
static void test_revoked_member_key_loses_its_links(void **state)
{
    struct fed *f = *state;
    char new_key[FED_PATH_MAX];
    long mark, mark_b;
    int64_t start;

    assert_true(is_up(f, 0, "B"));
    assert_true(is_up(f, 1, "A"));
    mark = fed_log_mark(f, 0);
    assert_int_equal(fed_rotate_member(f, 1, new_key), 0);
    assert_int_equal(fed_reload(f, 0), 0);
    assert_int_equal(fed_wait_log_from(f, 0, mark, "roster version 2 in force", ANSWER_MS), 0);
    start = fed_now_ms();
    if (fed_wait_until(is_b_down_at_both, f, DOWN_MS, 50) == -1)
        fail_msg("after the reload A sees B %s and B sees A %s", is_up(f, 0, "B") ? "up" : "down",
                 is_up(f, 1, "A") ? "up" : "down");
    /* And it stays down, well past the peer timeout. */
    while (fed_now_ms() - start < STAY_MS) {
        assert_false(is_up(f, 0, "B"));
        fed_sleep_ms(200);
    }
    assert_int_equal(fed_log_count(f, 0, mark, "peer B: link up"), 0);
    assert_true(fed_is_running(f, 0));
    assert_true(fed_is_running(f, 1));

    /* The control: B's operator installs the new keys and restarts. */
    assert_int_equal(fed_stop(f, 1), 0);
    assert_int_equal(fed_install_member_key(f, 1, new_key), 0);
    mark = fed_log_mark(f, 0);
    mark_b = fed_log_mark(f, 1);
    assert_int_equal(fed_start(f, 1), 0);
    assert_int_equal(fed_wait_links(f, "A", mark, "B", mark_b, LINK_MS), 0);
    assert_true(is_up(f, 0, "B"));
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replaced_key_ends_its_session, setup_one,
                                        fed_teardown),
        cmocka_unit_test_setup_teardown(test_second_subscription_is_served_too, setup_one,
                                        fed_teardown),
        cmocka_unit_test_setup_teardown(test_revoked_member_key_loses_its_links, setup_two,
                                        fed_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
