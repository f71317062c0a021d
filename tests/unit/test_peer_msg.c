/*
 * Unit tests for peer_msg.c: each kind of PeerMessage decodes into its
 * typed form; log names that are not member ids are left out; an oversized
 * frame, bytes that are no PeerMessage, another protocol version and an
 * overlong vector are refused with their own fault.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peer.pb-c.h"
#include "peer_msg.h"

static uint8_t *pack(const Tmbus__Peer__PeerMessage *m, size_t *len)
{
    uint8_t *buf;

    *len = tmbus__peer__peer_message__get_packed_size(m);
    buf = malloc(*len + 1);
    assert_non_null(buf);
    tmbus__peer__peer_message__pack(m, buf);
    return buf;
}

static void test_hello_and_vector(void **state)
{
    Tmbus__Peer__PeerMessage pm = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Hello hello = TMBUS__PEER__HELLO__INIT;
    Tmbus__Peer__Vector vector = TMBUS__PEER__VECTOR__INIT;
    Tmbus__Peer__VectorEntry e[3] = {TMBUS__PEER__VECTOR_ENTRY__INIT,
                                     TMBUS__PEER__VECTOR_ENTRY__INIT,
                                     TMBUS__PEER__VECTOR_ENTRY__INIT};
    Tmbus__Peer__VectorEntry *ep[3] = {&e[0], &e[1], &e[2]};
    enum peer_msg_fault fault;
    struct peer_msg m;
    uint8_t *buf;
    size_t len;

    (void)state;
    e[0].origin = "EE";
    e[0].seq = 7;
    e[1].origin = "not a member";
    e[1].seq = 9;
    e[2].origin = "EE";
    e[2].peer = "LV";
    e[2].seq = 2;
    hello.version = PEER_MSG_VERSION;
    hello.roster_version = 4;
    hello.reply = 1;
    hello.n_vector = 3;
    hello.vector = ep;
    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HELLO;
    pm.hello = &hello;
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(fault, PEER_MSG_OK);
    assert_int_equal(m.kind, PEER_MSG_HELLO);
    assert_int_equal(m.roster_version, 4);
    assert_true(m.is_reply);
    assert_int_equal(m.n_sent, 3);
    assert_int_equal(m.n_logs, 2);
    assert_string_equal(m.logs[0].origin, "EE");
    assert_string_equal(m.logs[0].peer, "");
    assert_int_equal(m.logs[0].seq, 7);
    assert_string_equal(m.logs[1].peer, "LV");
    peer_msg_clear(&m);
    free(buf);

    hello.version = PEER_MSG_VERSION + 1;
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_HELLO);
    assert_int_equal(m.version, PEER_MSG_VERSION + 1);
    peer_msg_clear(&m);
    free(buf);

    vector.n_entries = 3;
    vector.entries = ep;
    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR;
    pm.vector = &vector;
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.kind, PEER_MSG_VECTOR);
    assert_int_equal(m.n_logs, 2);
    peer_msg_clear(&m);
    free(buf);
}

static void test_envelope_and_faults(void **state)
{
    Tmbus__Peer__PeerMessage pm = TMBUS__PEER__PEER_MESSAGE__INIT;
    static uint8_t env[5] = {1, 2, 3, 4, 5};
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    enum peer_msg_fault fault;
    struct peer_msg m;
    uint8_t *buf, *big;
    size_t len;

    (void)state;
    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_ENVELOPE;
    pm.envelope = (ProtobufCBinaryData){sizeof(env), env};
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.kind, PEER_MSG_ENVELOPE);
    assert_int_equal(m.envelope_len, sizeof(env));
    assert_memory_equal(m.envelope, env, sizeof(env));
    peer_msg_clear(&m);
    free(buf);

    /* An empty message has no kind. */
    assert_int_equal(peer_msg_decode((const uint8_t *)"", 0, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_KIND);
    peer_msg_clear(&m);
    assert_int_equal(peer_msg_decode(garbage, sizeof(garbage), &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_MALFORMED);
    peer_msg_clear(&m);
    big = calloc(1, PEER_MSG_MAX_FRAME + 1);
    assert_non_null(big);
    assert_int_equal(peer_msg_decode(big, PEER_MSG_MAX_FRAME + 1, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_SIZE);
    peer_msg_clear(&m);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_and_vector),
        cmocka_unit_test(test_envelope_and_faults),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
