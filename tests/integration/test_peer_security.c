/*
 * Integration: what a running tmbusd does with hostile peers and clients,
 * with no client library involved. A rogue transport key must get nothing
 * through either socket (proto/PROTOCOL.md §8.2: libzmq 4.3.4 admits any key unless
 * our ZAP handler answers), and a roster member that misbehaves on a real
 * peer link must see every bad envelope rejected with a logged reason while
 * the node stores exactly the valid ones (PROTOCOL.md §4.3). The test plays
 * member M itself: M is in the roster without a node, and the test holds its
 * member keys.
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
#include <zmq.h>

#include "api.pb-c.h"
#include "envelope.h"
#include "envelope.pb-c.h"
#include "fed.h"
#include "keys.h"
#include "peer.pb-c.h"
#include "player.h"
#include "roster.h"
#include "store.h"

#define SILENCE_MS 1500 /* how long a refused connection must hear nothing */
#define ANSWER_MS  5000 /* how long a legitimate one may wait for an answer */
#define LOG_MS     5000 /* how long a reason may take to reach the log */

/* ---- the test's own peer: M on a DEALER ----------------------------------- */

/* Asserts that nothing at all arrives on s for SILENCE_MS. */
static void assert_silence(void *s)
{
    uint8_t *got;
    int len = player_recv_within(s, SILENCE_MS, &got);

    free(got);
    if (len != -1)
        fail_msg("a refused connection was answered with %d bytes", len);
}

/* Keeps the link alive for ms while draining whatever the node sends. */
static void idle(struct player *p, int ms)
{
    int64_t end = fed_now_ms() + ms;

    while (fed_now_ms() < end) {
        uint8_t *buf;
        if (fed_now_ms() - p->last_sent_ms >= PLAYER_HEARTBEAT_MS) {
            player_send_heartbeat(p->sock);
            p->last_sent_ms = fed_now_ms();
        }
        player_recv_within(p->sock, 50, &buf);
        free(buf);
    }
}

/* ---- fixtures ---------------------------------------------------------------- */

static int setup(void **state)
{
    static const char *const nodes[] = {"A"};
    static const char *const extra[] = {"M"};
    struct fed *f = fed_new_with_extra(1, nodes, 1, extra);

    if (f == NULL)
        return -1;
    *state = f;
    return 0;
}

/* ---- (a) rogue transport keys ------------------------------------------------- */

static void serialized_status_request(uint8_t *buf, size_t size, size_t *len)
{
    Tmbus__Api__Request r = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__StatusRequest st = TMBUS__API__STATUS_REQUEST__INIT;

    r.id = 1;
    r.kind_case = TMBUS__API__REQUEST__KIND_STATUS;
    r.status = &st;
    *len = tmbus__api__request__get_packed_size(&r);
    assert_true(*len <= size);
    tmbus__api__request__pack(&r, buf);
}

static void serialized_post_request(uint8_t *buf, size_t size, size_t *len)
{
    Tmbus__Api__Request r = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Post post = TMBUS__API__POST__INIT;
    static const char payload[] = "rogue post";

    r.id = 2;
    r.kind_case = TMBUS__API__REQUEST__KIND_POST;
    r.post = &post;
    post.payload.data = (uint8_t *)(uintptr_t)payload;
    post.payload.len = sizeof(payload) - 1;
    post.all = true;
    *len = tmbus__api__request__get_packed_size(&r);
    assert_true(*len <= size);
    tmbus__api__request__pack(&r, buf);
}

/* Connects with the given keys to one of A's sockets, sends what a peer or
 * client would, and expects nothing back and a refusal in A's log. */
static void expect_refused(struct fed *f, void *zctx, const void *pk, const void *sk, bool is_z85,
                           bool to_peer_socket, struct player *sealer)
{
    size_t a = fed_index(f, "A");
    long mark = fed_log_mark(f, a);
    void *s = player_dealer(zctx, pk, sk, is_z85, fed_transport_pk(f, a),
                            to_peer_socket ? fed_peer_endpoint(f, a) : fed_client_endpoint(f, a));

    if (to_peer_socket) {
        size_t len;
        struct envelope_info info;
        uint8_t *env = player_seal(sealer, 1, NULL, "smuggled through a rogue link", &len, &info);

        player_send_hello(s, 1);
        player_send_envelope(s, env, len);
        free(env);
    } else {
        uint8_t buf[512];
        size_t len;

        serialized_status_request(buf, sizeof(buf), &len);
        player_send_bytes(s, buf, len);
        serialized_post_request(buf, sizeof(buf), &len);
        player_send_bytes(s, buf, len);
    }
    assert_silence(s);
    assert_int_equal(fed_wait_log_from(f, a, mark, "zap: refused", LOG_MS), 0);
    assert_true(fed_log_count(f, a, mark, to_peer_socket ? "peer socket" : "client socket") > 0);
    zmq_close(s);
    assert_true(fed_is_running(f, a));
}

/* A's own client asks for status on the client socket and is answered. */
static void assert_client_answered(struct fed *f, size_t a)
{
    void *zctx = zmq_ctx_new();
    struct keyset *client = keys_load(fed_client_key_path(f, a));
    uint8_t buf[512], *got;
    Tmbus__Api__Reply *r;
    size_t len;
    int got_len;
    void *s;

    assert_non_null(zctx);
    assert_non_null(client);
    s = player_dealer(zctx, client->transport_pk, keys_transport_secret(client), false,
                      fed_transport_pk(f, a), fed_client_endpoint(f, a));
    keys_free(&client);
    serialized_status_request(buf, sizeof(buf), &len);
    player_send_bytes(s, buf, len);
    got_len = player_recv_within(s, ANSWER_MS, &got);
    assert_true(got_len > 0);
    r = tmbus__api__reply__unpack(NULL, (size_t)got_len, got);
    free(got);
    assert_non_null(r);
    assert_int_equal(r->id, 1);
    assert_int_equal(r->code, TMBUS__API__CODE__CODE_OK);
    tmbus__api__reply__free_unpacked(r, NULL);
    zmq_close(s);
    zmq_ctx_term(zctx);
}

static void test_rogue_keys_get_nothing(void **state)
{
    struct fed *f = *state;
    size_t a = fed_index(f, "A");
    char rogue_pk[41], rogue_sk[41];
    struct keyset *client;
    struct player p;
    bool hello_reply = false;

    assert_int_equal(fed_start(f, a), 0);
    player_open(&p, f, a);
    assert_int_equal(zmq_curve_keypair(rogue_pk, rogue_sk), 0);

    /* A key nobody knows, on both sockets, with A's right server key. */
    expect_refused(f, p.zctx, rogue_pk, rogue_sk, true, true, &p);
    expect_refused(f, p.zctx, rogue_pk, rogue_sk, true, false, &p);

    /* Known keys on the wrong socket: A's own client on the peer socket,
     * roster member M on the client socket. */
    client = keys_load(fed_client_key_path(f, a));
    assert_non_null(client);
    expect_refused(f, p.zctx, client->transport_pk, keys_transport_secret(client), false, true, &p);
    keys_free(&client);
    expect_refused(f, p.zctx, p.keys->transport_pk, keys_transport_secret(p.keys), false, false,
                   &p);

    /* Controls: the same dialling code with M's keys on the peer socket is
     * answered, so the silence above was the refusal and nothing else. The
     * answer also tells what A holds: nothing of M's log. */
    player_dial(&p);
    player_send_hello(p.sock, 1);
    p.last_sent_ms = fed_now_ms();
    player_wait_ack(&p, 0, &hello_reply);
    assert_true(hello_reply);
    player_close(&p);

    /* And A's own client is answered on the client socket. */
    assert_client_answered(f, a);

    assert_true(fed_is_running(f, a));
    assert_int_equal(fed_stop(f, a), 0);

    /* Nothing the rogues sent was stored. */
    struct store *s = fed_store_open(f, a);
    uint64_t envelopes = 99, evidence = 99;
    assert_non_null(s);
    assert_int_equal(store_count(s, &envelopes, &evidence), 0);
    store_close(&s);
    assert_int_equal(envelopes, 0);
    assert_int_equal(evidence, 0);
    fed_pass(f);
}

/* ---- (b) a misbehaving roster member on a real link ---------------------------- */

/* Sends env and waits for A's log to give the reason it was refused. */
static void expect_rejected(struct player *p, const uint8_t *env, size_t len, const char *reason)
{
    long mark = fed_log_mark(p->fed, p->node);

    player_send_envelope(p->sock, env, len);
    p->last_sent_ms = fed_now_ms();
    if (fed_wait_log_from(p->fed, p->node, mark, reason, LOG_MS) != 0)
        fail_msg("node %s did not log \"%s\"", fed_id(p->fed, p->node), reason);
    assert_int_equal(fed_log_count(p->fed, p->node, mark, "peer M: rejected"), 1);
}

/* A copy of env with one bit of its signature flipped. */
static uint8_t *forge(const uint8_t *env, size_t len, size_t *out_len)
{
    Tmbus__Envelope__Envelope *e = tmbus__envelope__envelope__unpack(NULL, len, env);
    uint8_t *out;

    assert_non_null(e);
    assert_int_equal(e->signature.len, ENVELOPE_SIGNATURE_BYTES);
    e->signature.data[17] ^= 0x04;
    *out_len = tmbus__envelope__envelope__get_packed_size(e);
    out = malloc(*out_len);
    assert_non_null(out);
    tmbus__envelope__envelope__pack(e, out);
    tmbus__envelope__envelope__free_unpacked(e, NULL);
    return out;
}

static void assert_held(struct store *s, uint64_t seq, const uint8_t *env, size_t len,
                        const uint8_t *id)
{
    struct store_log log = {.origin = "M", .peer = ""};
    uint8_t got_id[STORE_HASH_BYTES], *got = NULL;
    size_t got_len = 0;

    assert_int_equal(store_get(s, &log, seq, &got, &got_len, got_id), 1);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, env, len);
    assert_memory_equal(got_id, id, STORE_HASH_BYTES);
    free(got);
}

static void test_misbehaving_peer(void **state)
{
    struct fed *f = *state;
    size_t a = fed_index(f, "A");
    struct envelope_info info1, info2, info5, info_eq;
    uint8_t *env1, *env2, *env5, *env_eq, *forged, *big, random_prev[ENVELOPE_HASH_BYTES];
    size_t len1, len2, len5, len_eq, forged_len, big_len = ENVELOPE_MAX_SIZE + 10;
    struct player p;
    bool hello_reply = false;
    long mark;

    assert_int_equal(fed_start(f, a), 0);
    player_open(&p, f, a);

    env1 = player_seal(&p, 1, NULL, "need: 40 licences, seq 1", &len1, &info1);
    env2 = player_seal(&p, 2, info1.id, "need: 12 firewalls, seq 2", &len2, &info2);
    randombytes_buf(random_prev, sizeof(random_prev));
    env5 = player_seal(&p, 5, random_prev, "need: out of order, seq 5", &len5, &info5);
    env_eq = player_seal(&p, 1, NULL, "need: a second story for seq 1", &len_eq, &info_eq);
    forged = forge(env2, len2, &forged_len);
    big = malloc(big_len);
    assert_non_null(big);
    randombytes_buf(big, big_len);

    /* The link: our Hello, A's reply. */
    mark = fed_log_mark(f, a);
    player_dial(&p);
    player_send_hello(p.sock, 1);
    p.last_sent_ms = fed_now_ms();
    player_wait_ack(&p, 0, &hello_reply);
    assert_true(hello_reply);
    assert_int_equal(fed_wait_link(f, a, mark, "M", LOG_MS), 0);

    /* 1. A valid seq 1: committed and acked by vector. */
    player_send_envelope(p.sock, env1, len1);
    player_wait_ack(&p, 1, NULL);

    /* 2. Seq 2 with one bit of its signature flipped. */
    expect_rejected(&p, forged, forged_len, "rejected an envelope: bad-signature");

    /* 3. Seq 1 again: a harmless duplicate, neither stored twice nor a
     * reason to complain. The valid seq 2 behind it shows A read it. */
    mark = fed_log_mark(f, a);
    player_send_envelope(p.sock, env1, len1);
    player_send_envelope(p.sock, env2, len2);
    player_wait_ack(&p, 2, NULL);
    assert_int_equal(fed_log_count(f, a, mark, "rejected"), 0);
    assert_int_equal(fed_log_count(f, a, mark, "ALARM"), 0);

    /* 4. Seq 5 after 2: a gap. */
    expect_rejected(&p, env5, len5, "rejected an envelope: seq is not held + 1");

    /* 5. An envelope over ENVELOPE_MAX_SIZE, refused before parsing. */
    expect_rejected(&p, big, big_len, "rejected an envelope: too-large");

    /* 6. A second, validly signed seq 1: equivocation. */
    mark = fed_log_mark(f, a);
    player_send_envelope(p.sock, env_eq, len_eq);
    p.last_sent_ms = fed_now_ms();
    assert_int_equal(fed_wait_log_from(f, a, mark, "ALARM", LOG_MS), 0);
    assert_true(fed_log_count(f, a, mark, "member M signed two different envelopes") > 0);
    idle(&p, 300);

    assert_true(fed_is_running(f, a));
    player_close(&p);
    assert_int_equal(fed_stop(f, a), 0);

    /* A holds exactly seq 1 and 2 as sent, the equivocation as evidence,
     * and M's log is halted. Besides, A's direct log to M holds exactly one
     * receipt for each of M's two envelopes (addressed to A, but no tmbus payload,
     * so A's board refuses them and A tells M so): none for the duplicate,
     * the rejected ones or the equivocation. */
    struct store *s = fed_store_open(f, a);
    struct store_log log = {.origin = "M", .peer = ""};
    struct store_log own = {.origin = "A", .peer = "M"};
    struct store_head head;
    uint64_t envelopes = 0, evidence = 0;
    uint8_t *none = NULL;
    size_t none_len = 0;

    assert_non_null(s);
    assert_int_equal(store_count(s, &envelopes, &evidence), 0);
    assert_int_equal(envelopes, 2 + 2);
    assert_int_equal(store_head(s, &own, &head), 0);
    assert_int_equal(head.seq, 2);
    assert_int_equal(evidence, 1);
    assert_int_equal(store_head(s, &log, &head), 0);
    assert_int_equal(head.seq, 2);
    assert_true(head.is_halted);
    assert_held(s, 1, env1, len1, info1.id);
    assert_held(s, 2, env2, len2, info2.id);
    assert_int_equal(store_get(s, &log, 3, &none, &none_len, NULL), 0);
    assert_int_equal(store_get(s, &log, 5, &none, &none_len, NULL), 0);
    store_close(&s);

    free(env1);
    free(env2);
    free(env5);
    free(env_eq);
    free(forged);
    free(big);
    fed_pass(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rogue_keys_get_nothing, setup, fed_teardown),
        cmocka_unit_test_setup_teardown(test_misbehaving_peer, setup, fed_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
