/*
 * player: roster member M played by a test on a raw DEALER with its real
 * keys (see player.h). It builds peer messages by hand and never goes
 * through the daemon's own peer code, so that what a test sends is exactly
 * what it wrote. Every failure fails the running cmocka test.
 */
#include "player.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <zmq.h>

void *player_dealer(void *zctx, const void *pk, const void *sk, bool is_z85,
                    const uint8_t *server_pk, const char *endpoint)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    size_t klen = is_z85 ? 40 : KEYS_PUBLIC_BYTES;
    int linger = 0;

    assert_non_null(s);
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pk, klen), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sk, klen), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pk, KEYS_PUBLIC_BYTES), 0);
    assert_int_equal(zmq_connect(s, endpoint), 0);
    return s;
}

void player_send_bytes(void *s, const void *data, size_t len)
{
    assert_int_equal(zmq_send(s, data, len, 0), (int)len);
}

void player_send_message(void *s, const Tmbus__Peer__PeerMessage *m)
{
    size_t len = tmbus__peer__peer_message__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);

    assert_non_null(buf);
    tmbus__peer__peer_message__pack(m, buf);
    player_send_bytes(s, buf, len);
    free(buf);
}

void player_send_hello(void *s, uint64_t roster_version)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Hello hello = TMBUS__PEER__HELLO__INIT;

    hello.version = PLAYER_PEER_VERSION;
    hello.roster_version = roster_version;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HELLO;
    m.hello = &hello;
    player_send_message(s, &m);
}

void player_send_envelope(void *s, const uint8_t *env, size_t len)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;

    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_ENVELOPE;
    m.envelope.data = (uint8_t *)(uintptr_t)env;
    m.envelope.len = len;
    player_send_message(s, &m);
}

void player_send_heartbeat(void *s)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Heartbeat hb = TMBUS__PEER__HEARTBEAT__INIT;

    hb.sent_ms = (uint64_t)fed_now_ms();
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HEARTBEAT;
    m.heartbeat = &hb;
    player_send_message(s, &m);
}

int player_recv_within(void *s, int timeout_ms, uint8_t **out)
{
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    zmq_msg_t msg;
    int len;

    *out = NULL;
    if (zmq_poll(&item, 1, timeout_ms) != 1)
        return -1;
    zmq_msg_init(&msg);
    if ((len = zmq_msg_recv(&msg, s, ZMQ_DONTWAIT)) == -1) {
        zmq_msg_close(&msg);
        return -1;
    }
    *out = malloc((size_t)len + 1);
    assert_non_null(*out);
    memcpy(*out, zmq_msg_data(&msg), (size_t)len);
    zmq_msg_close(&msg);
    return len;
}

int64_t player_entry_seq(Tmbus__Peer__VectorEntry **e, size_t n, const char *origin)
{
    int64_t seq = -1;

    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i]->origin, origin) == 0 && e[i]->peer[0] == '\0' && (int64_t)e[i]->seq > seq)
            seq = (int64_t)e[i]->seq;
    return seq;
}

void player_open(struct player *p, struct fed *f, size_t node)
{
    memset(p, 0, sizeof(*p));
    p->fed = f;
    p->node = node;
    p->zctx = zmq_ctx_new();
    assert_non_null(p->zctx);
    assert_int_equal(roster_load(fed_roster_path(f), FED_COALITION, &p->roster), 0);
    player_use_keys(p, fed_member_key_path(f, fed_index(f, "M")));
}

void player_use_keys(struct player *p, const char *key_file)
{
    /* The keyring borrows the keyset, so it goes first. */
    envelope_keyring_free(&p->keyring);
    keys_free(&p->keys);
    p->keys = keys_load(key_file);
    assert_non_null(p->keys);
    p->keyring = envelope_keyring_new(p->keys);
    assert_non_null(p->keyring);
}

void player_dial(struct player *p)
{
    p->sock = player_dealer(p->zctx, p->keys->transport_pk, keys_transport_secret(p->keys), false,
                            fed_transport_pk(p->fed, p->node), fed_peer_endpoint(p->fed, p->node));
}

void player_close(struct player *p)
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

void player_wait_ack(struct player *p, uint64_t want, bool *hello_reply)
{
    int64_t deadline = fed_now_ms() + fed_ms(PLAYER_ANSWER_MS);

    for (;;) {
        int64_t now = fed_now_ms(), seq = -1;
        Tmbus__Peer__PeerMessage *m;
        uint8_t *buf;
        int len;

        if (now > deadline)
            fail_msg("node %s never acked M's log at seq %llu", fed_id(p->fed, p->node),
                     (unsigned long long)want);
        if (now - p->last_sent_ms >= PLAYER_HEARTBEAT_MS) {
            player_send_heartbeat(p->sock);
            p->last_sent_ms = now;
        }
        if ((len = player_recv_within(p->sock, 50, &buf)) == -1)
            continue;
        m = tmbus__peer__peer_message__unpack(NULL, (size_t)len, buf);
        free(buf);
        assert_non_null(m);
        if (m->kind_case == TMBUS__PEER__PEER_MESSAGE__KIND_HELLO) {
            if (m->hello->reply && hello_reply != NULL)
                *hello_reply = true;
            /* A Hello lists every log: one not listed is held to 0. */
            seq = player_entry_seq(m->hello->vector, m->hello->n_vector, "M");
            if (seq == -1)
                seq = 0;
        } else if (m->kind_case == TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR) {
            seq = player_entry_seq(m->vector->entries, m->vector->n_entries, "M");
        }
        tmbus__peer__peer_message__free_unpacked(m, NULL);
        if (seq > (int64_t)want)
            fail_msg("node acked M's log at seq %lld, beyond %llu", (long long)seq,
                     (unsigned long long)want);
        if (seq == (int64_t)want)
            return;
    }
}

uint8_t *player_seal(struct player *p, uint64_t seq, const uint8_t *prev, const char *payload,
                     size_t *len, struct envelope_info *info)
{
    struct roster_member target;
    struct envelope_recipient rcpt;
    struct envelope_seal_args a = {0};
    uint8_t *env = NULL;

    assert_int_equal(roster_find(p->roster, fed_id(p->fed, p->node), &target), 0);
    rcpt.member = target.id;
    rcpt.box_pk = target.box_pk;
    a.coalition = FED_COALITION;
    a.seq = seq;
    a.prev_hash = prev;
    a.roster_version = roster_version(p->roster);
    a.created_at = (int64_t)time(NULL);
    a.payload = (const uint8_t *)payload;
    a.payload_len = strlen(payload);
    a.recipients = &rcpt;
    a.n_recipients = 1;
    assert_int_equal(envelope_seal(p->keyring, &a, &env, len, info), ENVELOPE_OK);
    return env;
}
