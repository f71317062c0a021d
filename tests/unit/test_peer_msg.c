/*
 * Unit tests for peer_msg.c: each kind of PeerMessage decodes into its
 * typed form; log names that are not member ids are left out; an oversized
 * frame, bytes that are no PeerMessage, another protocol version and an
 * overlong vector are refused with their own fault; a vector of exactly
 * PEER_MSG_MAX_LOGS entries is read whole. A batch is read in order; an
 * empty one, one of too many envelopes (also when split over two fields
 * that protobuf merges) or with an envelope over ENVELOPE_MAX_SIZE is
 * refused as PEER_MSG_E_BATCH. An audit checkpoint and a cosignature
 * decode with their proof and signature; a field of the wrong length, too
 * long a proof, size 0, or audit fields over PEER_MSG_MAX_CHECKPOINT
 * (before parsing) are PEER_MSG_E_CHECKPOINT. peer_msg_log_may_exist admits
 * only members' relayed logs and the direct logs of the pair.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* A Batch of n envelopes of len bytes each (byte i of envelope k is k). */
static uint8_t *pack_batch(size_t n, size_t each, size_t *len)
{
    Tmbus__Peer__PeerMessage pm = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Batch batch = TMBUS__PEER__BATCH__INIT;
    ProtobufCBinaryData *envs = calloc(n ? n : 1, sizeof(*envs));
    uint8_t *data = malloc(n * each + 1), *buf;

    assert_non_null(envs);
    assert_non_null(data);
    for (size_t k = 0; k < n; k++) {
        memset(data + k * each, (int)(k & 0xff), each);
        envs[k] = (ProtobufCBinaryData){each, data + k * each};
    }
    batch.n_envelopes = n;
    batch.envelopes = envs;
    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_BATCH;
    pm.batch = &batch;
    buf = pack(&pm, len);
    free(envs);
    free(data);
    return buf;
}

static void test_batch(void **state)
{
    enum peer_msg_fault fault;
    struct peer_msg m;
    uint8_t *buf, *two;
    size_t len;

    (void)state;
    buf = pack_batch(3, 40, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.kind, PEER_MSG_BATCH);
    assert_int_equal(m.n_envelopes, 3);
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(m.envelope_lens[k], 40);
        assert_int_equal(m.envelopes[k][0], k);
        assert_int_equal(m.envelopes[k][39], k);
    }
    peer_msg_clear(&m);
    free(buf);

    /* Exactly the most envelopes: read whole. One more: refused. */
    buf = pack_batch(PEER_MSG_MAX_BATCH, 1, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.n_envelopes, PEER_MSG_MAX_BATCH);
    peer_msg_clear(&m);
    free(buf);
    buf = pack_batch(PEER_MSG_MAX_BATCH + 1, 1, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_BATCH);
    peer_msg_clear(&m);
    free(buf);

    /* Two batch fields in one message are merged by protobuf: their sum
     * counts. */
    buf = pack_batch(PEER_MSG_MAX_BATCH / 2 + 1, 1, &len);
    two = malloc(2 * len);
    assert_non_null(two);
    memcpy(two, buf, len);
    memcpy(two + len, buf, len);
    assert_int_equal(peer_msg_decode(two, 2 * len, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_BATCH);
    peer_msg_clear(&m);
    free(two);
    free(buf);

    /* An empty batch carries nothing to do. */
    buf = pack_batch(0, 1, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_BATCH);
    peer_msg_clear(&m);
    free(buf);

    /* One envelope over ENVELOPE_MAX_SIZE, the frame within its limit. */
    buf = pack_batch(1, ENVELOPE_MAX_SIZE + 1, &len);
    assert_true(len <= PEER_MSG_MAX_FRAME);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_BATCH);
    peer_msg_clear(&m);
    free(buf);
    /* One of exactly ENVELOPE_MAX_SIZE fits a frame on its own. */
    buf = pack_batch(1, ENVELOPE_MAX_SIZE, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.envelope_lens[0], ENVELOPE_MAX_SIZE);
    peer_msg_clear(&m);
    free(buf);
}

/* A Hello or Vector of n entries, all the relayed log of "EE". */
static uint8_t *pack_logs(bool is_hello, size_t n, size_t *len)
{
    Tmbus__Peer__PeerMessage pm = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Hello hello = TMBUS__PEER__HELLO__INIT;
    Tmbus__Peer__Vector vector = TMBUS__PEER__VECTOR__INIT;
    Tmbus__Peer__VectorEntry *e = calloc(n, sizeof(*e));
    Tmbus__Peer__VectorEntry **ep = calloc(n, sizeof(*ep));
    uint8_t *buf;

    assert_non_null(e);
    assert_non_null(ep);
    for (size_t i = 0; i < n; i++) {
        tmbus__peer__vector_entry__init(&e[i]);
        e[i].origin = "EE";
        e[i].seq = i;
        ep[i] = &e[i];
    }
    if (is_hello) {
        hello.version = PEER_MSG_VERSION;
        hello.n_vector = n;
        hello.vector = ep;
        pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HELLO;
        pm.hello = &hello;
    } else {
        vector.n_entries = n;
        vector.entries = ep;
        pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR;
        pm.vector = &vector;
    }
    buf = pack(&pm, len);
    free(ep);
    free(e);
    return buf;
}

static void test_vector_bounds(void **state)
{
    enum peer_msg_fault fault;
    struct peer_msg m;
    uint8_t *buf;
    size_t len;

    (void)state;
    for (int is_hello = 0; is_hello <= 1; is_hello++) {
        buf = pack_logs(is_hello, PEER_MSG_MAX_LOGS, &len);
        assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
        assert_int_equal(m.n_sent, PEER_MSG_MAX_LOGS);
        assert_int_equal(m.n_logs, PEER_MSG_MAX_LOGS);
        assert_int_equal(m.logs[PEER_MSG_MAX_LOGS - 1].seq, PEER_MSG_MAX_LOGS - 1);
        peer_msg_clear(&m);
        free(buf);

        /* One more is refused whole, before any entry is copied. */
        buf = pack_logs(is_hello, PEER_MSG_MAX_LOGS + 1, &len);
        assert_int_equal(peer_msg_decode(buf, len, &m, &fault), -1);
        assert_int_equal(fault, is_hello ? PEER_MSG_E_HELLO : PEER_MSG_E_VECTOR);
        assert_int_equal(m.n_sent, PEER_MSG_MAX_LOGS + 1);
        assert_int_equal(m.n_logs, 0);
        assert_null(m.logs);
        peer_msg_clear(&m);
        free(buf);
    }
}

/* The roster of the tests below: EE, LV and LT. */
static bool is_member(void *arg, const char *id)
{
    (void)arg;
    return strcmp(id, "EE") == 0 || strcmp(id, "LV") == 0 || strcmp(id, "LT") == 0;
}

static bool may_exist(const char *origin, const char *peer)
{
    struct peer_msg_log log = {.seq = 1};

    strcpy(log.origin, origin);
    strcpy(log.peer, peer);
    /* Said by LV to EE's node. */
    return peer_msg_log_may_exist(&log, "LV", "EE", is_member, NULL);
}

static void test_log_may_exist(void **state)
{
    (void)state;
    /* Every member's relayed log, ours and the peer's included. */
    assert_true(may_exist("EE", ""));
    assert_true(may_exist("LV", ""));
    assert_true(may_exist("LT", ""));
    assert_false(may_exist("XX", ""));
    /* The direct logs of the pair, both ways. */
    assert_true(may_exist("LV", "EE"));
    assert_true(may_exist("EE", "LV"));
    /* Direct logs with a third member or a stranger at one end, and a
     * member's direct log to itself. */
    assert_false(may_exist("LT", "EE"));
    assert_false(may_exist("EE", "LT"));
    assert_false(may_exist("LV", "LT"));
    assert_false(may_exist("LV", "XX"));
    assert_false(may_exist("XX", "EE"));
    assert_false(may_exist("EE", "EE"));
    assert_false(may_exist("LV", "LV"));
}

/* A vector entry's head: 32 bytes kept, empty means none, any other
 * length drops the entry as not well-formed. A Fetch names one log. */
static void test_head_and_fetch(void **state)
{
    Tmbus__Peer__PeerMessage pm = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Vector vector = TMBUS__PEER__VECTOR__INIT;
    Tmbus__Peer__VectorEntry e[3] = {TMBUS__PEER__VECTOR_ENTRY__INIT,
                                     TMBUS__PEER__VECTOR_ENTRY__INIT,
                                     TMBUS__PEER__VECTOR_ENTRY__INIT};
    Tmbus__Peer__VectorEntry *ep[3] = {&e[0], &e[1], &e[2]};
    uint8_t head[ENVELOPE_HASH_BYTES + 1];
    enum peer_msg_fault fault;
    struct peer_msg m;
    uint8_t *buf;
    size_t len;

    (void)state;
    memset(head, 0xab, sizeof(head));
    e[0].origin = "EE";
    e[0].seq = 7;
    e[0].head.data = head;
    e[0].head.len = ENVELOPE_HASH_BYTES;
    e[1].origin = "LV";
    e[1].seq = 3;
    e[2].origin = "FI";
    e[2].seq = 4;
    e[2].head.data = head;
    e[2].head.len = ENVELOPE_HASH_BYTES + 1;
    vector.n_entries = 3;
    vector.entries = ep;
    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR;
    pm.vector = &vector;
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.n_sent, 3);
    assert_int_equal(m.n_logs, 2);
    assert_string_equal(m.logs[0].origin, "EE");
    assert_true(m.logs[0].has_head);
    assert_memory_equal(m.logs[0].head, head, ENVELOPE_HASH_BYTES);
    assert_string_equal(m.logs[1].origin, "LV");
    assert_false(m.logs[1].has_head);
    peer_msg_clear(&m);
    free(buf);

    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_FETCH;
    pm.fetch = &e[1];
    e[1].peer = "EE";
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.kind, PEER_MSG_FETCH);
    assert_int_equal(m.n_logs, 1);
    assert_string_equal(m.logs[0].origin, "LV");
    assert_string_equal(m.logs[0].peer, "EE");
    assert_int_equal(m.logs[0].seq, 3);
    peer_msg_clear(&m);
    free(buf);

    pm.fetch = &e[2]; /* a bad head: no log at all */
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_MALFORMED);
    peer_msg_clear(&m);
    free(buf);
}

/* Decodes a Checkpoint built from cp and expects fault (PEER_MSG_OK: it
 * decodes). */
static void expect_checkpoint(const Tmbus__Peer__Checkpoint *cp, enum peer_msg_fault want)
{
    Tmbus__Peer__PeerMessage pm = TMBUS__PEER__PEER_MESSAGE__INIT;
    enum peer_msg_fault fault;
    struct peer_msg m;
    uint8_t *buf;
    size_t len;

    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_CHECKPOINT;
    pm.checkpoint = (Tmbus__Peer__Checkpoint *)cp;
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), want == PEER_MSG_OK ? 0 : -1);
    assert_int_equal(fault, want);
    peer_msg_clear(&m);
    free(buf);
}

/* Decodes a PeerMessage holding cs and checks the fault. */
static void expect_cosignature(Tmbus__Peer__Cosignature *cs, enum peer_msg_fault want)
{
    Tmbus__Peer__PeerMessage pm = TMBUS__PEER__PEER_MESSAGE__INIT;
    enum peer_msg_fault fault;
    struct peer_msg m;
    uint8_t *buf;
    size_t len;

    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_COSIGNATURE;
    pm.cosignature = cs;
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), want == PEER_MSG_OK ? 0 : -1);
    assert_int_equal(fault, want);
    peer_msg_clear(&m);
    free(buf);
}

static void test_checkpoint(void **state)
{
    Tmbus__Peer__PeerMessage pm = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Checkpoint cp = TMBUS__PEER__CHECKPOINT__INIT;
    Tmbus__Peer__Cosignature cs = TMBUS__PEER__COSIGNATURE__INIT;
    static uint8_t root[32], sig[64], hash[32], big[PEER_MSG_MAX_CHECKPOINT];
    ProtobufCBinaryData proof[PEER_MSG_MAX_PROOF + 1];
    enum peer_msg_fault fault;
    struct peer_msg m;
    uint8_t *buf;
    size_t len;

    (void)state;
    memset(root, 1, sizeof(root));
    memset(sig, 2, sizeof(sig));
    memset(hash, 3, sizeof(hash));
    for (size_t i = 0; i <= PEER_MSG_MAX_PROOF; i++)
        proof[i] = (ProtobufCBinaryData){sizeof(hash), hash};
    cp.size = 9;
    cp.root = (ProtobufCBinaryData){sizeof(root), root};
    cp.at = 1790000000;
    cp.sig = (ProtobufCBinaryData){sizeof(sig), sig};
    cp.from_size = 4;
    cp.n_proof = 2;
    cp.proof = proof;
    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_CHECKPOINT;
    pm.checkpoint = &cp;
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.kind, PEER_MSG_CHECKPOINT);
    assert_int_equal(m.checkpoint.size, 9);
    assert_int_equal(m.checkpoint.at, 1790000000);
    assert_int_equal(m.checkpoint.from_size, 4);
    assert_int_equal(m.checkpoint.n_proof, 2);
    assert_true(m.checkpoint.has_sig);
    assert_memory_equal(m.checkpoint.root, root, sizeof(root));
    assert_memory_equal(m.checkpoint.sig, sig, sizeof(sig));
    assert_memory_equal(m.checkpoint.proof[1], hash, sizeof(hash));
    peer_msg_clear(&m);
    free(buf);

    /* A proof of exactly PEER_MSG_MAX_PROOF hashes, and one more. */
    cp.n_proof = PEER_MSG_MAX_PROOF;
    expect_checkpoint(&cp, PEER_MSG_OK);
    cp.n_proof = PEER_MSG_MAX_PROOF + 1;
    expect_checkpoint(&cp, PEER_MSG_E_CHECKPOINT);
    cp.n_proof = 1;
    proof[0].len = 31;
    expect_checkpoint(&cp, PEER_MSG_E_CHECKPOINT);
    proof[0].len = 32;
    cp.root.len = 31;
    expect_checkpoint(&cp, PEER_MSG_E_CHECKPOINT);
    cp.root.len = 32;
    cp.sig.len = 0;
    expect_checkpoint(&cp, PEER_MSG_E_CHECKPOINT);
    cp.sig.len = 64;
    cp.size = 0;
    expect_checkpoint(&cp, PEER_MSG_E_CHECKPOINT);
    cp.size = 9;
    /* Too large as a whole, refused by the walk before protobuf-c reads
     * it (the root is the wrong length too, which the walk never sees). */
    cp.root = (ProtobufCBinaryData){sizeof(big), big};
    expect_checkpoint(&cp, PEER_MSG_E_CHECKPOINT);
    cp.root = (ProtobufCBinaryData){sizeof(root), root};

    /* A cosignature with its signature, and one without. */
    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_COSIGNATURE;
    pm.cosignature = &cs;
    cs.size = 9;
    cs.sig = (ProtobufCBinaryData){sizeof(sig), sig};
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.kind, PEER_MSG_COSIGNATURE);
    assert_int_equal(m.checkpoint.size, 9);
    assert_true(m.checkpoint.has_sig);
    assert_memory_equal(m.checkpoint.sig, sig, sizeof(sig));
    peer_msg_clear(&m);
    free(buf);
    cs.sig = (ProtobufCBinaryData){0, NULL};
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_false(m.checkpoint.has_sig);
    peer_msg_clear(&m);
    free(buf);
    cs.sig = (ProtobufCBinaryData){63, sig};
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_CHECKPOINT);
    peer_msg_clear(&m);
    free(buf);

    /* Without a signature, the checkpoint held shown whole (PROTOCOL.md
     * 13.2): its epoch, root, time and signature. */
    cs.sig = (ProtobufCBinaryData){0, NULL};
    cs.epoch = 2;
    cs.root = (ProtobufCBinaryData){sizeof(root), root};
    cs.at = 1790000001;
    cs.checkpoint_sig = (ProtobufCBinaryData){sizeof(sig), sig};
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_false(m.checkpoint.has_sig);
    assert_true(m.checkpoint.has_held);
    assert_int_equal(m.checkpoint.epoch, 2);
    assert_int_equal(m.checkpoint.size, 9);
    assert_int_equal(m.checkpoint.at, 1790000001);
    assert_memory_equal(m.checkpoint.root, root, sizeof(root));
    assert_memory_equal(m.checkpoint.held_sig, sig, sizeof(sig));
    peer_msg_clear(&m);
    free(buf);
    /* Partial, beside a cosignature, of size 0, or of a wrong length:
     * refused. */
    cs.checkpoint_sig = (ProtobufCBinaryData){0, NULL};
    expect_cosignature(&cs, PEER_MSG_E_CHECKPOINT);
    cs.checkpoint_sig = (ProtobufCBinaryData){sizeof(sig), sig};
    cs.root = (ProtobufCBinaryData){0, NULL};
    expect_cosignature(&cs, PEER_MSG_E_CHECKPOINT);
    cs.root = (ProtobufCBinaryData){31, root};
    expect_cosignature(&cs, PEER_MSG_E_CHECKPOINT);
    cs.root = (ProtobufCBinaryData){sizeof(root), root};
    cs.checkpoint_sig = (ProtobufCBinaryData){63, sig};
    expect_cosignature(&cs, PEER_MSG_E_CHECKPOINT);
    cs.checkpoint_sig = (ProtobufCBinaryData){sizeof(sig), sig};
    cs.size = 0;
    expect_cosignature(&cs, PEER_MSG_E_CHECKPOINT);
    cs.size = 9;
    cs.sig = (ProtobufCBinaryData){sizeof(sig), sig};
    expect_cosignature(&cs, PEER_MSG_E_CHECKPOINT);
    cs.sig = (ProtobufCBinaryData){0, NULL};
    expect_cosignature(&cs, PEER_MSG_OK);

    /* A checkpoint's epoch comes through. */
    cp.epoch = 7;
    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_CHECKPOINT;
    pm.checkpoint = &cp;
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.checkpoint.epoch, 7);
    peer_msg_clear(&m);
    free(buf);
}

/* A roster frame decodes to its bytes; an empty one or one over
 * ROSTER_MAX_SIZE (which still fits a frame) is PEER_MSG_E_ROSTER. */
static void test_roster(void **state)
{
    Tmbus__Peer__PeerMessage pm = TMBUS__PEER__PEER_MESSAGE__INIT;
    struct peer_msg m;
    enum peer_msg_fault fault;
    size_t big = ROSTER_MAX_SIZE + 1, len;
    uint8_t *data = calloc(1, big), *buf;

    (void)state;
    assert_non_null(data);
    pm.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_ROSTER;
    pm.roster = (ProtobufCBinaryData){100, data};
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), 0);
    assert_int_equal(m.kind, PEER_MSG_ROSTER);
    assert_int_equal(m.roster_len, 100);
    peer_msg_clear(&m);
    free(buf);

    pm.roster = (ProtobufCBinaryData){0, NULL};
    buf = pack(&pm, &len);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_ROSTER);
    peer_msg_clear(&m);
    free(buf);

    pm.roster = (ProtobufCBinaryData){big, data};
    buf = pack(&pm, &len);
    assert_true(len <= PEER_MSG_MAX_FRAME);
    assert_int_equal(peer_msg_decode(buf, len, &m, &fault), -1);
    assert_int_equal(fault, PEER_MSG_E_ROSTER);
    peer_msg_clear(&m);
    free(buf);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_hello_and_vector),
        cmocka_unit_test(test_envelope_and_faults),
        cmocka_unit_test(test_vector_bounds),
        cmocka_unit_test(test_log_may_exist),
        cmocka_unit_test(test_head_and_fetch),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_roster),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
