/*
 * make_corpus: writes the seed corpora of fuzz_envelope_verify and
 * fuzz_envelope_open: a few small valid envelopes of the fuzz federation
 * (fuzz_common.h) and a few broken ones; and those of the codec fuzzers
 * (fuzz_message_decode, fuzz_receipt_decode, fuzz_peer_msg, fuzz_api_msg):
 * one message of each kind; and fuzz_bundle's: bundles and a vector signed
 * by A, one altered and one cut short; and fuzz_reply's: one honest reply
 * for each of libtmbus's readers and a few each must refuse, behind the
 * byte that chooses the reader. Nonces and payload keys are fixed and
 * Ed25519 is deterministic, so every run writes the same bytes; rerun it
 * only when the envelope format or a .proto changes.
 *
 *   make_corpus tests/fuzz/corpus
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "api.pb-c.h"
#include "bundle.h"
#include "envelope.h"
#include "fuzz_common.h"
#include "log.h"
#include "merkle.h"
#include "payload.pb-c.h"
#include "peer.pb-c.h"
#include "receipt.h"
#include "util.h"

#define CREATED_AT 1800000000 /* 2027-01-15 */
#define EXPIRES_AT 1802592000 /* thirty days later */

static const char *const targets[] = {"fuzz_envelope_verify", "fuzz_envelope_open"};

struct sealed {
    uint8_t *buf;
    size_t len;
    uint8_t id[ENVELOPE_HASH_BYTES];
};

/* Writes one corpus file into every target's directory. */
static void emit(const char *root, const char *name, const uint8_t *buf, size_t len)
{
    char path[4096];

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, targets[i]);
        if (mkdir(path, 0755) == -1 && errno != EEXIST)
            fatal("mkdir %s", path);
        snprintf(path, sizeof(path), "%s/%s/%s.bin", root, targets[i], name);
        if (util_write_file(path, buf, len, 0644) == -1)
            fatal("write %s", path);
    }
    printf("%-28s %6zu bytes\n", name, len);
}

/* Writes one corpus file into target's directory only. */
static void emit_to(const char *root, const char *target, const char *name, const uint8_t *buf,
                    size_t len)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", root, target);
    if (mkdir(path, 0755) == -1 && errno != EEXIST)
        fatal("mkdir %s", path);
    snprintf(path, sizeof(path), "%s/%s/%s.bin", root, target, name);
    if (util_write_file(path, buf, len, 0644) == -1)
        fatal("write %s", path);
    printf("%-28s %6zu bytes\n", name, len);
}

/* Packs any generated message and writes it for target. */
static void emit_packed(const char *root, const char *target, const char *name,
                        const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);

    ensure(buf != NULL);
    protobuf_c_message_pack(m, buf);
    emit_to(root, target, name, buf, len);
    free(buf);
}

/* One payload of each kind, for the payload view and the receipts. */
static void payload_seeds(const char *root)
{
    static uint8_t id[32] = {1, 2, 3};
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need need = TMBUS__PAYLOAD__NEED__INIT;
    Tmbus__Payload__Offer offer = TMBUS__PAYLOAD__OFFER__INIT;
    Tmbus__Payload__NeedUpdate nu = TMBUS__PAYLOAD__NEED_UPDATE__INIT;
    Tmbus__Payload__OfferUpdate ou = TMBUS__PAYLOAD__OFFER_UPDATE__INIT;
    Tmbus__Payload__NeedShare sh = TMBUS__PAYLOAD__NEED_SHARE__INIT;
    struct receipt_entry e[2] = {{.state = RECEIPT_DELIVERED},
                                 {.state = RECEIPT_REJECTED, .reason = "expired"}};
    uint8_t *buf;
    size_t len;

    need.beneficiary = "Regional grid operator";
    need.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_OTHER;
    need.category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_OTHER;
    need.title = "Firewall licences";
    need.quantity = 10;
    need.unit = "licences";
    need.value_cents = 100000;
    need.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_LOW;
    need.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &need;
    emit_packed(root, "fuzz_message_decode", "need", &p.base);

    offer.need_id = (ProtobufCBinaryData){sizeof(id), id};
    offer.quantity = 4;
    offer.tlp = TMBUS__PAYLOAD__TLP__TLP_GREEN;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER;
    p.offer = &offer;
    emit_packed(root, "fuzz_message_decode", "offer", &p.base);

    nu.need_id = (ProtobufCBinaryData){sizeof(id), id};
    nu.action = TMBUS__PAYLOAD__NEED_UPDATE__ACTION__ACTION_EDIT;
    nu.need = &need;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_UPDATE;
    p.need_update = &nu;
    emit_packed(root, "fuzz_message_decode", "need-edit", &p.base);

    ou.offer_id = (ProtobufCBinaryData){sizeof(id), id};
    ou.action = TMBUS__PAYLOAD__OFFER_UPDATE__ACTION__ACTION_ACCEPT;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_OFFER_UPDATE;
    p.offer_update = &ou;
    emit_packed(root, "fuzz_message_decode", "offer-accept", &p.base);
    emit_packed(root, "fuzz_receipt_decode", "not-a-receipt", &p.base);

    sh.need_id = (ProtobufCBinaryData){sizeof(id), id};
    sh.seq = 3;
    sh.created_at = 1764460800;
    sh.need = &need;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED_SHARE;
    p.need_share = &sh;
    emit_packed(root, "fuzz_message_decode", "need-share", &p.base);

    memcpy(e[0].envelope_id, id, sizeof(id));
    memcpy(e[1].envelope_id, id, sizeof(id));
    e[1].envelope_id[31] = 9;
    ensure(receipt_encode(e, 1, &buf, &len) == 0);
    emit_to(root, "fuzz_message_decode", "receipt", buf, len);
    emit_to(root, "fuzz_receipt_decode", "receipt-delivered", buf, len);
    free(buf);
    ensure(receipt_encode(e, 2, &buf, &len) == 0);
    emit_to(root, "fuzz_receipt_decode", "receipt-two", buf, len);
    emit_to(root, "fuzz_receipt_decode", "receipt-truncated", buf, len - 3);
    free(buf);
}

/* A Hello, a Vector, an Envelope, a Heartbeat and a Batch, as peers send
 * them. */
static void peer_seeds(const char *root)
{
    static uint8_t env[64] = {0x0a, 0x01, 0x01};
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Hello hello = TMBUS__PEER__HELLO__INIT;
    Tmbus__Peer__Vector vector = TMBUS__PEER__VECTOR__INIT;
    Tmbus__Peer__Heartbeat beat = TMBUS__PEER__HEARTBEAT__INIT;
    Tmbus__Peer__VectorEntry e[2] = {TMBUS__PEER__VECTOR_ENTRY__INIT,
                                     TMBUS__PEER__VECTOR_ENTRY__INIT};
    Tmbus__Peer__VectorEntry *ep[2] = {&e[0], &e[1]};

    e[0].origin = "A";
    e[0].seq = 3;
    e[1].origin = "A";
    e[1].peer = "B";
    e[1].seq = 1;
    hello.version = 1;
    hello.roster_version = 2;
    hello.n_vector = 2;
    hello.vector = ep;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HELLO;
    m.hello = &hello;
    emit_packed(root, "fuzz_peer_msg", "hello", &m.base);
    hello.reply = 1;
    hello.version = 2;
    emit_packed(root, "fuzz_peer_msg", "hello-other-version", &m.base);

    vector.n_entries = 2;
    vector.entries = ep;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR;
    m.vector = &vector;
    emit_packed(root, "fuzz_peer_msg", "vector", &m.base);

    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_ENVELOPE;
    m.envelope = (ProtobufCBinaryData){sizeof(env), env};
    emit_packed(root, "fuzz_peer_msg", "envelope", &m.base);

    beat.sent_ms = 1000;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HEARTBEAT;
    m.heartbeat = &beat;
    emit_packed(root, "fuzz_peer_msg", "heartbeat", &m.base);

    ProtobufCBinaryData three[3] = {{sizeof(env), env}, {sizeof(env), env}, {3, env}};
    Tmbus__Peer__Batch batch = TMBUS__PEER__BATCH__INIT;
    batch.n_envelopes = 3;
    batch.envelopes = three;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_BATCH;
    m.batch = &batch;
    emit_packed(root, "fuzz_peer_msg", "batch", &m.base);

    uint8_t hash[32], sig[64];
    ProtobufCBinaryData proof[3] = {{32, hash}, {32, hash}, {32, hash}};
    Tmbus__Peer__Checkpoint cp = TMBUS__PEER__CHECKPOINT__INIT;
    memset(hash, 0xab, sizeof(hash));
    memset(sig, 0xcd, sizeof(sig));
    cp.size = 12;
    cp.root = (ProtobufCBinaryData){sizeof(hash), hash};
    cp.at = 1790000000;
    cp.sig = (ProtobufCBinaryData){sizeof(sig), sig};
    cp.from_size = 5;
    cp.n_proof = 3;
    cp.proof = proof;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_CHECKPOINT;
    m.checkpoint = &cp;
    emit_packed(root, "fuzz_peer_msg", "checkpoint", &m.base);
    cp.from_size = 0;
    cp.n_proof = 0;
    emit_packed(root, "fuzz_peer_msg", "checkpoint-first", &m.base);
    cp.epoch = 3;
    emit_packed(root, "fuzz_peer_msg", "checkpoint-epoch", &m.base);

    Tmbus__Peer__Cosignature cosig = TMBUS__PEER__COSIGNATURE__INIT;
    cosig.size = 12;
    cosig.sig = (ProtobufCBinaryData){sizeof(sig), sig};
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_COSIGNATURE;
    m.cosignature = &cosig;
    emit_packed(root, "fuzz_peer_msg", "cosignature", &m.base);
    cosig.sig = (ProtobufCBinaryData){0, NULL};
    emit_packed(root, "fuzz_peer_msg", "cosignature-prove-from", &m.base);
    /* "Prove from 12", showing the checkpoint held whole (PROTOCOL.md 13.2). */
    cosig.epoch = 2;
    cosig.root = (ProtobufCBinaryData){sizeof(hash), hash};
    cosig.at = 1790000000;
    cosig.checkpoint_sig = (ProtobufCBinaryData){sizeof(sig), sig};
    emit_packed(root, "fuzz_peer_msg", "cosignature-held", &m.base);
    cosig.root = (ProtobufCBinaryData){0, NULL};
    cosig.checkpoint_sig = (ProtobufCBinaryData){0, NULL};
    /* A roster frame: its bytes are the node's to judge, only the size is
     * the decoder's. */
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_ROSTER;
    m.roster = (ProtobufCBinaryData){sizeof(env), env};
    emit_packed(root, "fuzz_peer_msg", "roster", &m.base);
}

/* One request of each kind, as a client sends them. */
static void api_seeds(const char *root)
{
    static uint8_t payload[8] = {0x0a, 0x02, 0x08, 0x01};
    static char *recipients[] = {"A", "B"};
    static char *kinds[] = {"need", "offer"};
    static uint32_t tlps[] = {2, 3};
    Tmbus__Api__Request rq = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Post post = TMBUS__API__POST__INIT;
    Tmbus__Api__Subscribe sub = TMBUS__API__SUBSCRIBE__INIT;
    Tmbus__Api__Filter filter = TMBUS__API__FILTER__INIT;
    Tmbus__Api__Ack ack = TMBUS__API__ACK__INIT;
    Tmbus__Api__StatusRequest status = TMBUS__API__STATUS_REQUEST__INIT;
    Tmbus__Api__BoardQuery board = TMBUS__API__BOARD_QUERY__INIT;
    Tmbus__Api__DeliveryQuery delivery = TMBUS__API__DELIVERY_QUERY__INIT;

    rq.id = 7;
    post.payload = (ProtobufCBinaryData){sizeof(payload), payload};
    post.n_recipients = 2;
    post.recipients = recipients;
    rq.kind_case = TMBUS__API__REQUEST__KIND_POST;
    rq.post = &post;
    emit_packed(root, "fuzz_api_msg", "post", &rq.base);

    filter.n_kinds = 2;
    filter.kinds = kinds;
    filter.n_tlps = 2;
    filter.tlps = tlps;
    sub.window = 16;
    sub.filter = &filter;
    rq.kind_case = TMBUS__API__REQUEST__KIND_SUBSCRIBE;
    rq.subscribe = &sub;
    emit_packed(root, "fuzz_api_msg", "subscribe", &rq.base);

    ack.number = 12;
    rq.kind_case = TMBUS__API__REQUEST__KIND_ACK;
    rq.ack = &ack;
    emit_packed(root, "fuzz_api_msg", "ack", &rq.base);

    rq.kind_case = TMBUS__API__REQUEST__KIND_STATUS;
    rq.status = &status;
    emit_packed(root, "fuzz_api_msg", "status", &rq.base);

    rq.kind_case = TMBUS__API__REQUEST__KIND_BOARD;
    rq.board = &board;
    emit_packed(root, "fuzz_api_msg", "board", &rq.base);

    /* A page of offers with every filter and a cursor, as libtmbus asks. */
    {
        static char *statuses[] = {"proposed", "accepted"};
        static char *members[] = {"UA", "EE"};
        static uint8_t cursor[2 + 32] = {1, 2, 0xab};
        board.list = TMBUS__API__BOARD_LIST__BOARD_LIST_OFFERS;
        board.limit = 50;
        board.after = (ProtobufCBinaryData){sizeof(cursor), cursor};
        board.n_statuses = 2;
        board.statuses = statuses;
        board.n_members = 2;
        board.members = members;
        board.updated_since = 1700000000;
        board.id_prefix = "ab01";
        emit_packed(root, "fuzz_api_msg", "board-page", &rq.base);
    }

    delivery.id = (ProtobufCBinaryData){sizeof(payload), payload};
    rq.kind_case = TMBUS__API__REQUEST__KIND_DELIVERY;
    rq.delivery = &delivery;
    emit_packed(root, "fuzz_api_msg", "delivery", &rq.base);

    Tmbus__Api__RosterRequest roster = TMBUS__API__ROSTER_REQUEST__INIT;
    rq.kind_case = TMBUS__API__REQUEST__KIND_ROSTER;
    rq.roster = &roster;
    emit_packed(root, "fuzz_api_msg", "roster-history", &rq.base);
    roster.publish = (ProtobufCBinaryData){sizeof(payload), payload};
    emit_packed(root, "fuzz_api_msg", "roster-publish", &rq.base);

    rq.id = 0;
    emit_packed(root, "fuzz_api_msg", "no-id", &rq.base);

    rq.id = 9;
    Tmbus__Api__AuditQuery audit = TMBUS__API__AUDIT_QUERY__INIT;
    audit.before = 120;
    audit.limit = 20;
    rq.kind_case = TMBUS__API__REQUEST__KIND_AUDIT;
    rq.audit = &audit;
    emit_packed(root, "fuzz_api_msg", "audit-page", &rq.base);
    audit.before = 0;
    audit.limit = 0;
    audit.prove = 1;
    audit.index = 7;
    emit_packed(root, "fuzz_api_msg", "audit-prove", &rq.base);
}

/* Writes r packed behind fuzz_reply's reader byte (its enum reader). */
static void emit_reply(const char *root, const char *name, uint8_t reader,
                       const Tmbus__Api__Reply *r)
{
    size_t len = tmbus__api__reply__get_packed_size(r);
    uint8_t *buf = malloc(len + 1);

    ensure(buf != NULL);
    buf[0] = reader;
    tmbus__api__reply__pack(r, buf + 1);
    emit_to(root, "fuzz_reply", name, buf, len + 1);
    free(buf);
}

/* Packs a payload message into static storage for a board entry. */
static ProtobufCBinaryData packed_in(const ProtobufCMessage *m, uint8_t *buf, size_t size)
{
    size_t len = protobuf_c_message_get_packed_size(m);

    ensure(len <= size);
    protobuf_c_message_pack(m, buf);
    return (ProtobufCBinaryData){len, buf};
}

/* One honest reply for each reader fuzz_reply drives, as a node sends
 * them, and dishonest ones that must be refused (the reader bytes follow
 * fuzz_reply.c's enum reader). */
static void reply_seeds(const char *root)
{
    static uint8_t id1[32] = {1, 2, 3}, id2[32] = {4, 5, 6}, cursor[32] = {0xab, 0xcd};
    static uint8_t need_buf[256], offer_buf[256], key[32] = {9}, sig[64] = {7};
    static uint8_t entry[] = "an audit entry as the log encodes it";
    uint8_t root_hash[MERKLE_HASH_BYTES];
    Tmbus__Api__Reply r = TMBUS__API__REPLY__INIT;
    Tmbus__Payload__Need need = TMBUS__PAYLOAD__NEED__INIT;
    Tmbus__Payload__Offer offer = TMBUS__PAYLOAD__OFFER__INIT;
    Tmbus__Api__Board board = TMBUS__API__BOARD__INIT;
    Tmbus__Api__BoardNeed bn = TMBUS__API__BOARD_NEED__INIT;
    Tmbus__Api__BoardOffer bo = TMBUS__API__BOARD_OFFER__INIT;
    Tmbus__Api__BoardNeed *bns[] = {&bn};
    Tmbus__Api__BoardOffer *bos[] = {&bo};
    Tmbus__Api__Report report = TMBUS__API__REPORT__INIT;
    Tmbus__Api__ReportNeed rn = TMBUS__API__REPORT_NEED__INIT;
    Tmbus__Api__ReportNeed *rns[] = {&rn};
    Tmbus__Api__ReportTotal donor = TMBUS__API__REPORT_TOTAL__INIT;
    Tmbus__Api__ReportTotal cat = TMBUS__API__REPORT_TOTAL__INIT;
    Tmbus__Api__ReportTotal total = TMBUS__API__REPORT_TOTAL__INIT;
    Tmbus__Api__ReportTotal *donors[] = {&donor}, *cats[] = {&cat};
    Tmbus__Api__DeliveryState ds = TMBUS__API__DELIVERY_STATE__INIT;
    Tmbus__Api__DeliveryState__Entry de1 = TMBUS__API__DELIVERY_STATE__ENTRY__INIT;
    Tmbus__Api__DeliveryState__Entry de2 = TMBUS__API__DELIVERY_STATE__ENTRY__INIT;
    Tmbus__Api__DeliveryState__Entry *des[] = {&de1, &de2};
    Tmbus__Api__Status st = TMBUS__API__STATUS__INIT;
    Tmbus__Api__PeerStatus peer = TMBUS__API__PEER_STATUS__INIT;
    Tmbus__Api__PeerStatus *peers[] = {&peer};
    Tmbus__Api__Counter counter = TMBUS__API__COUNTER__INIT;
    Tmbus__Api__Counter *counters[] = {&counter};
    Tmbus__Api__KeySwitch ks = TMBUS__API__KEY_SWITCH__INIT;
    Tmbus__Api__KeySwitch__Head head = TMBUS__API__KEY_SWITCH__HEAD__INIT;
    Tmbus__Api__KeySwitch__Head *heads[] = {&head};
    Tmbus__Api__RosterHistory rh = TMBUS__API__ROSTER_HISTORY__INIT;
    Tmbus__Api__RosterHistory__Entry re = TMBUS__API__ROSTER_HISTORY__ENTRY__INIT;
    Tmbus__Api__RosterHistory__Entry *res[] = {&re};
    Tmbus__Api__AuditPage page = TMBUS__API__AUDIT_PAGE__INIT;
    Tmbus__Api__AuditEntry ae = TMBUS__API__AUDIT_ENTRY__INIT;
    Tmbus__Api__AuditEntry *aes[] = {&ae};
    Tmbus__Api__AuditCheckpoint cp = TMBUS__API__AUDIT_CHECKPOINT__INIT;
    Tmbus__Api__Receipt receipt = TMBUS__API__RECEIPT__INIT;
    Tmbus__Api__Receipt__Placed pl1 = TMBUS__API__RECEIPT__PLACED__INIT;
    Tmbus__Api__Receipt__Placed pl2 = TMBUS__API__RECEIPT__PLACED__INIT;
    Tmbus__Api__Receipt__Placed *placed[] = {&pl1, &pl2};

    r.id = 5;
    need.beneficiary = "Regional grid operator";
    need.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_OTHER;
    need.category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_OTHER;
    need.title = "Firewall licences";
    need.quantity = 10;
    need.unit = "licences";
    need.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_LOW;
    need.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    offer.need_id = (ProtobufCBinaryData){sizeof(id1), id1};
    offer.quantity = 4;
    offer.tlp = TMBUS__PAYLOAD__TLP__TLP_GREEN;
    bn.id = (ProtobufCBinaryData){sizeof(id1), id1};
    bn.owner = "A";
    bn.created_at = 1764460800;
    bn.need = packed_in(&need.base, need_buf, sizeof(need_buf));
    bn.status = "partially_covered";
    bn.accepted_quantity = 4;
    bo.id = (ProtobufCBinaryData){sizeof(id2), id2};
    bo.donor = "B";
    bo.offer = packed_in(&offer.base, offer_buf, sizeof(offer_buf));
    bo.status = "accepted";
    bn.owner = "A\x1b[2J";
    emit_reply(root, "bad-board-owner", 0, &r);
    bn.owner = "A";
    bo.author_revoked = true;
    board.n_needs = 1;
    board.needs = bns;
    board.n_offers = 1;
    board.offers = bos;
    board.next = (ProtobufCBinaryData){2, cursor};
    r.kind_case = TMBUS__API__REPLY__KIND_BOARD;
    r.board = &board;
    emit_reply(root, "board-page", 0, &r);
    board.next.len = 0;
    emit_reply(root, "board-last-page-twice", 1, &r);
    /* Replies that break a promise of tmbus.h (a status from its list, a
     * member id, one line), each refused: the bad-* seeds. */
    bn.status = "p`rtially_covered";
    emit_reply(root, "bad-board-need-status", 0, &r);
    bn.status = "partially_covered";
    bo.status = "Accepted";
    emit_reply(root, "bad-board-offer-status", 0, &r);
    bo.status = "accepted";
    bn.owner = "A\x1b[2J";
    emit_reply(root, "bad-board-owner", 0, &r);
    bn.owner = "A";

    rn.id = (ProtobufCBinaryData){sizeof(id1), id1};
    rn.owner = "A";
    rn.title = "Firewall licences";
    rn.status = "open";
    rn.priority = 1;
    rn.deadline = "2027-01-31";
    rn.quantity = 10;
    donor.donor = "B";
    donor.pledged_cents = 40000;
    cat.code = 1;
    cat.pledged_cents = 40000;
    total.pledged_cents = 40000;
    report.n_open_needs = 1;
    report.open_needs = rns;
    report.n_donors = 1;
    report.donors = donors;
    report.n_categories = 1;
    report.categories = cats;
    report.total = &total;
    report.open_needs_total = 3;
    r.kind_case = TMBUS__API__REPLY__KIND_REPORT;
    r.report = &report;
    emit_reply(root, "report", 2, &r);
    rn.status = "covered";
    emit_reply(root, "bad-report-need-status", 2, &r);
    rn.status = "open";
    donor.donor = "";
    emit_reply(root, "bad-report-donor", 2, &r);
    donor.donor = "B";

    de1.member = "B";
    de1.state = "delivered";
    de1.at = 1764460900;
    de2.member = "C";
    de2.state = "rejected";
    de2.reason = "expired";
    ds.n_entries = 2;
    ds.entries = des;
    r.kind_case = TMBUS__API__REPLY__KIND_DELIVERY_STATE;
    r.delivery_state = &ds;
    emit_reply(root, "delivery-state", 3, &r);
    de2.reason = "expired\nrejected: forged";
    emit_reply(root, "bad-delivery-reason-lines", 3, &r);

    peer.member = "B";
    peer.state = "up";
    peer.silent_ms = 120;
    counter.name = "delivered";
    counter.value = 7;
    head.log_peer = "";
    head.last_seq = 12;
    ks.key_id = 1;
    ks.n_heads = 1;
    ks.heads = heads;
    st.member = "A";
    st.roster_version = 2;
    st.n_peers = 1;
    st.peers = peers;
    st.n_counters = 1;
    st.counters = counters;
    st.board_digest = (ProtobufCBinaryData){sizeof(id2), id2};
    st.version = "0.2.0";
    st.key_switch = &ks;
    st.audit_epoch = 1;
    r.kind_case = TMBUS__API__REPLY__KIND_STATUS;
    r.status = &st;
    emit_reply(root, "status", 4, &r);
    peer.state = "up\n";
    emit_reply(root, "bad-status-peer-state", 4, &r);
    peer.state = "up";
    head.log_peer = "../B";
    emit_reply(root, "bad-status-key-switch-peer", 4, &r);
    head.log_peer = "";
    peer.member = "B C";
    emit_reply(root, "bad-status-peer-member", 4, &r);
    peer.member = "B";

    re.version = 2;
    re.hash = (ProtobufCBinaryData){sizeof(id1), id1};
    re.trusted_at = 1764460800;
    re.size = 900;
    rh.n_entries = 1;
    rh.entries = res;
    r.kind_case = TMBUS__API__REPLY__KIND_ROSTER_HISTORY;
    r.roster_history = &rh;
    emit_reply(root, "roster-history", 5, &r);
    emit_reply(root, "roster-published", 6, &r);

    ae.entry = (ProtobufCBinaryData){sizeof(entry) - 1, entry};
    ae.at_ms = 1764460800000;
    ae.kind = "post";
    ae.outcome = "ok";
    ae.actor_kind = "client";
    ae.actor = "ops";
    ae.key = (ProtobufCBinaryData){sizeof(key), key};
    ae.origin = "A";
    ae.peer = "";
    ae.seq = 3;
    ae.envelope_id = (ProtobufCBinaryData){sizeof(id1), id1};
    ae.detail = "post";
    page.n_entries = 1;
    page.entries = aes;
    page.size = 1;
    r.kind_case = TMBUS__API__REPLY__KIND_AUDIT;
    r.audit = &page;
    emit_reply(root, "audit-page", 7, &r);

    /* A log of one entry: its root is the entry's leaf, the proof empty. */
    merkle_hash_leaf(entry, sizeof(entry) - 1, root_hash);
    cp.member = "A";
    cp.size = 1;
    cp.root = (ProtobufCBinaryData){sizeof(root_hash), root_hash};
    cp.at = 1764460800;
    cp.sig = (ProtobufCBinaryData){sizeof(sig), sig};
    page.checkpoint = &cp;
    emit_reply(root, "audit-proof", 8, &r);

    r.kind_case = TMBUS__API__REPLY__KIND_RECEIPT;
    r.receipt = &receipt;
    receipt.n_placed = 2;
    receipt.placed = placed;
    pl1.id = (ProtobufCBinaryData){sizeof(id1), id1};
    pl1.log_peer = "B";
    pl2.id = (ProtobufCBinaryData){sizeof(id2), id2};
    pl2.log_peer = "C";
    emit_reply(root, "posted-red", 9, &r);
    r.kind_case = TMBUS__API__REPLY__KIND__NOT_SET;
    r.code = TMBUS__API__CODE__CODE_DENIED;
    r.reason = "not allowed\nposted: ok";
    emit_reply(root, "bad-posted-reason-lines", 9, &r);
}

/* Seals payload from sender to the comma-free list of member ids in to
 * (one character each), with randomness fixed by name. */
static struct sealed seal(const char *name, const char *sender, const char *to,
                          const char *coalition, const char *log_peer, uint64_t seq,
                          const uint8_t *prev, size_t payload_len)
{
    struct envelope_recipient rcpt[FUZZ_N_MEMBERS + 1];
    struct envelope_seal_args a = {0};
    struct envelope_keyring *kr;
    struct envelope_info info;
    struct sealed s = {0};
    uint8_t nonce[ENVELOPE_NONCE_BYTES], key[ENVELOPE_KEY_BYTES];
    uint8_t payload[512];
    char ids[FUZZ_N_MEMBERS + 1][2];
    const struct keyset *self = fuzz_member(sender);
    struct keyset *stranger = NULL;
    size_t n = strlen(to);

    ensure(n >= 1 && n <= FUZZ_N_MEMBERS && payload_len <= sizeof(payload));
    /* "D" is outside the federation: keys of its own, unknown to lookup. */
    if (self == NULL) {
        uint8_t seed[32];
        crypto_generichash(seed, sizeof(seed), (const uint8_t *)sender, strlen(sender), NULL, 0);
        ensure((stranger = keys_from_seed(KEYS_MEMBER, sender, seed)) != NULL);
        self = stranger;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i][0] = to[i];
        ids[i][1] = '\0';
        ensure(fuzz_member(ids[i]) != NULL);
        rcpt[i].member = ids[i];
        rcpt[i].box_pk = fuzz_member(ids[i])->box_pk;
    }
    crypto_generichash(nonce, sizeof(nonce), (const uint8_t *)name, strlen(name),
                       (const uint8_t *)"corpus nonce", 12);
    crypto_generichash(key, sizeof(key), (const uint8_t *)name, strlen(name),
                       (const uint8_t *)"corpus payload key", 18);
    for (size_t i = 0; i < payload_len; i++)
        payload[i] = (uint8_t)('a' + i % 26);

    a.coalition = coalition;
    a.log_peer = log_peer;
    a.seq = seq;
    a.prev_hash = prev;
    a.roster_version = 1;
    a.created_at = CREATED_AT;
    a.expires_at = EXPIRES_AT;
    a.payload = payload;
    a.payload_len = payload_len;
    a.recipients = rcpt;
    a.n_recipients = n;
    a.fixed_nonce = nonce;
    a.fixed_payload_key = key;
    ensure((kr = envelope_keyring_new(self)) != NULL);
    if (envelope_seal(kr, &a, &s.buf, &s.len, &info) != ENVELOPE_OK)
        fatalx("seal %s failed", name);
    memcpy(s.id, info.id, sizeof(s.id));
    envelope_keyring_free(&kr);
    keys_free(&stranger);
    return s;
}

/* Writes a copy of s with one byte at offset (from the end when negative)
 * flipped. */
static void emit_flipped(const char *root, const char *name, const struct sealed *s, long offset)
{
    uint8_t *copy = malloc(s->len);
    size_t at = offset < 0 ? s->len - (size_t)-offset : (size_t)offset;

    ensure(copy != NULL && at < s->len);
    memcpy(copy, s->buf, s->len);
    copy[at] ^= 0x01;
    emit(root, name, copy, s->len);
    free(copy);
}

/* A bundle from A to B holding envs (one section per log, in log order),
 * or with n == 0 a vector from A for B whose head of A's relayed log is
 * envs[0] at seq 3; written to a malloc'd buffer. */
static uint8_t *bundle_of(const struct sealed *const *envs, const char *const *peers, size_t n,
                          size_t *len)
{
    struct bundle_header h = {.kind = n > 0 ? BUNDLE_KIND_ENVELOPES : BUNDLE_KIND_VECTOR,
                              .created_at = CREATED_AT};
    struct bundle_writer *w;
    char *buf = NULL;
    FILE *f;

    snprintf(h.coalition, sizeof(h.coalition), "%s", FUZZ_COALITION);
    snprintf(h.from, sizeof(h.from), "A");
    snprintf(h.to, sizeof(h.to), "B");
    ensure((f = open_memstream(&buf, len)) != NULL && (w = bundle_writer_new(f, &h)) != NULL);
    for (size_t i = 0; i < n; i++) {
        size_t run = 1;
        while (i + run < n && strcmp(peers[i + run], peers[i]) == 0)
            run++;
        ensure(bundle_writer_section(w, "A", peers[i], 1, (uint32_t)run) == 0);
        for (size_t k = 0; k < run; k++)
            ensure(bundle_writer_envelope(w, envs[i + k]->buf, envs[i + k]->len) == 0);
        i += run - 1;
    }
    if (n == 0) {
        uint8_t zero[ENVELOPE_HASH_BYTES] = {0};
        ensure(bundle_writer_head(w, "A", "", 3, envs[0]->id) == 0);
        ensure(bundle_writer_head(w, "C", "", 0, zero) == 0);
    }
    ensure(bundle_writer_finish(w, fuzz_member("A")) == 0);
    bundle_writer_free(&w);
    ensure(fclose(f) == 0);
    return (uint8_t *)buf;
}

static void bundle_seeds(const char *root, const struct sealed *s1, const struct sealed *s2,
                         const struct sealed *s3, const struct sealed *d)
{
    const struct sealed *const envs[] = {s1, s2, s3, d};
    const char *const peers[] = {"", "", "", "B"};
    uint8_t *b, *v;
    size_t len, vlen;

    b = bundle_of(envs, peers, 4, &len);
    v = bundle_of(&envs[2], NULL, 0, &vlen);
    emit_to(root, "fuzz_bundle", "bundle-a-b", b, len);
    emit_to(root, "fuzz_bundle", "vector-a-b", v, vlen);
    emit_to(root, "fuzz_bundle", "bundle-truncated", b, len / 2);
    b[len / 2] ^= 0x01;
    emit_to(root, "fuzz_bundle", "bundle-altered", b, len);
    free(b);
    free(v);
}

int main(int argc, char **argv)
{
    struct sealed s1, s2, s3, d, c, x, other, stranger;
    const char *root;

    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus CORPUS-DIR (tests/fuzz/corpus)\n");
        return 2;
    }
    root = argv[1];
    log_init("make_corpus", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        fatalx("sodium_init failed");

    /* A's relayed log, seq 1..3: B alone, then B and C, then C alone. */
    s1 = seal("valid-a-b-seq1", "A", "B", FUZZ_COALITION, NULL, 1, NULL, 40);
    s2 = seal("valid-a-bc-seq2", "A", "BC", FUZZ_COALITION, NULL, 2, s1.id, 300);
    s3 = seal("valid-a-c-seq3", "A", "C", FUZZ_COALITION, NULL, 3, s2.id, 10);
    /* A's direct (TLP:RED) log to B. */
    d = seal("valid-direct-a-b-seq1", "A", "B", FUZZ_COALITION, "B", 1, NULL, 64);
    /* C to A and B, with an empty payload. */
    c = seal("valid-c-ab-seq1", "C", "AB", FUZZ_COALITION, NULL, 1, NULL, 0);
    emit(root, "valid-a-b-seq1", s1.buf, s1.len);
    emit(root, "valid-a-bc-seq2", s2.buf, s2.len);
    emit(root, "valid-a-c-seq3", s3.buf, s3.len);
    emit(root, "valid-direct-a-b-seq1", d.buf, d.len);
    emit(root, "valid-c-ab-seq1", c.buf, c.len);

    /* Broken ones, each refused for a different reason. */
    other = seal("bad-coalition", "A", "B", "other-coalition", NULL, 1, NULL, 40);
    stranger = seal("bad-unknown-sender", "D", "B", FUZZ_COALITION, NULL, 1, NULL, 40);
    x = seal("bad-x", "A", "BC", FUZZ_COALITION, NULL, 1, NULL, 40);
    emit(root, "bad-coalition", other.buf, other.len);
    emit(root, "bad-unknown-sender", stranger.buf, stranger.len);
    emit_flipped(root, "bad-signature", &x, -1);
    emit_flipped(root, "bad-ciphertext", &x, -(long)(ENVELOPE_SIGNATURE_BYTES + 2 + 20));
    emit(root, "bad-truncated", x.buf, x.len / 2);
    /* The pruned form (PROTOCOL.md 5.8) of seq 2, and one whose hash is not
     * the signed one. */
    {
        struct sealed p = {0};
        ensure(envelope_prune(s2.buf, s2.len, &p.buf, &p.len) == 1);
        emit(root, "valid-pruned-a-bc-seq2", p.buf, p.len);
        emit_flipped(root, "bad-pruned-hash", &p, -1);
        free(p.buf);
    }

    payload_seeds(root);
    bundle_seeds(root, &s1, &s2, &s3, &d);
    peer_seeds(root);
    api_seeds(root);
    reply_seeds(root);

    free(s1.buf);
    free(s2.buf);
    free(s3.buf);
    free(d.buf);
    free(c.buf);
    free(other.buf);
    free(stranger.buf);
    free(x.buf);
    return 0;
}
