/*
 * Integration: the bad-input catalogue (tests/bad-input.md lists every
 * case, these and the ones other tests own). One node A runs; the test
 * plays roster member M on a raw CURVE link with M's real keys, and A's
 * own clients on raw DEALERs with their real keys, and sends what no
 * well-behaved program would: truncated, malformed, oversized and
 * reordered input, envelopes of strangers, other coalitions and revoked
 * keys, replays after a restart, requests a client's role or clearance
 * forbids, sockets without CURVE, and configurations a node must refuse.
 * Each case expects its logged reason and its counter, and checks through
 * A's status that nothing else moved: envelopes held, inbox and board
 * digest. Every wait is bounded; loopback only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <zmq.h>

#include "api.pb-c.h"
#include "api_msg.h"
#include "envelope.h"
#include "fed.h"
#include "keys.h"
#include "payload.pb-c.h"
#include "peer.pb-c.h"
#include "peer_msg.h"
#include "player.h"
#include "roster.h"

#define ANSWER_MS  5000 /* how long A may take to answer a client */
#define LOG_MS     5000 /* how long a reason may take to reach the log */
#define SILENCE_MS 1500 /* how long a refused connection must hear nothing */
#define LONG_LINE  300  /* characters of the over-long configuration line */

/* What A's status says, as far as a case must leave it alone. */
struct snap {
    uint64_t envelopes, inbox;
    uint8_t digest[32];
    size_t digest_len;
    size_t n_counters;
    char (*names)[64];
    uint64_t *values;
};

struct ctx {
    struct fed *f;
    size_t a;
    struct player p;
    char low_key[FED_PATH_MAX]; /* A's second client: role reader, clearance green */
    uint8_t *env1, *env2;
    size_t len1, len2;
    struct envelope_info info1, info2;
};

/* ---- A's status through its own client -------------------------------- */

static void *client_dealer(struct ctx *c, const char *key_path)
{
    struct keyset *k = keys_load(key_path);
    void *s;

    assert_non_null(k);
    s = player_dealer(c->p.zctx, k->transport_pk, keys_transport_secret(k), false,
                      fed_transport_pk(c->f, c->a), fed_client_endpoint(c->f, c->a));
    keys_free(&k);
    return s;
}

/* Sends one request frame and returns the reply, or fails the test. */
static Tmbus__Api__Reply *ask(void *s, const uint8_t *req, size_t len)
{
    Tmbus__Api__Reply *r;
    uint8_t *got;
    int got_len;

    player_send_bytes(s, req, len);
    got_len = player_recv_within(s, ANSWER_MS, &got);
    if (got_len <= 0)
        fail_msg("A did not answer a client within %d ms", ANSWER_MS);
    r = tmbus__api__reply__unpack(NULL, (size_t)got_len, got);
    free(got);
    assert_non_null(r);
    return r;
}

static size_t pack_request(Tmbus__Api__Request *r, uint8_t **out)
{
    size_t len = tmbus__api__request__get_packed_size(r);

    *out = malloc(len);
    assert_non_null(*out);
    tmbus__api__request__pack(r, *out);
    return len;
}

static void snap_free(struct snap *s)
{
    free(s->names);
    free(s->values);
    memset(s, 0, sizeof(*s));
}

static void snapshot(struct ctx *c, struct snap *out)
{
    Tmbus__Api__Request r = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__StatusRequest st = TMBUS__API__STATUS_REQUEST__INIT;
    Tmbus__Api__Reply *reply;
    uint8_t *req;
    size_t len;
    void *s = client_dealer(c, fed_client_key_path(c->f, c->a));

    r.id = 7;
    r.kind_case = TMBUS__API__REQUEST__KIND_STATUS;
    r.status = &st;
    len = pack_request(&r, &req);
    reply = ask(s, req, len);
    free(req);
    zmq_close(s);
    assert_int_equal(reply->code, TMBUS__API__CODE__CODE_OK);
    assert_int_equal(reply->kind_case, TMBUS__API__REPLY__KIND_STATUS);
    memset(out, 0, sizeof(*out));
    out->envelopes = reply->status->envelopes;
    out->inbox = reply->status->inbox;
    assert_true(reply->status->board_digest.len <= sizeof(out->digest));
    out->digest_len = reply->status->board_digest.len;
    memcpy(out->digest, reply->status->board_digest.data, out->digest_len);
    out->n_counters = reply->status->n_counters;
    out->names = calloc(out->n_counters + 1, sizeof(*out->names));
    out->values = calloc(out->n_counters + 1, sizeof(*out->values));
    assert_true(out->names != NULL && out->values != NULL);
    for (size_t i = 0; i < out->n_counters; i++) {
        snprintf(out->names[i], sizeof(out->names[i]), "%s", reply->status->counters[i]->name);
        out->values[i] = reply->status->counters[i]->value;
    }
    tmbus__api__reply__free_unpacked(reply, NULL);
}

static uint64_t counter(const struct snap *s, const char *name)
{
    for (size_t i = 0; i < s->n_counters; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->values[i];
    return 0;
}

/* The case named moved counter_name and nothing A holds. */
static void assert_refused(struct ctx *c, const char *name, const struct snap *before,
                           const char *counter_name)
{
    struct snap after;

    snapshot(c, &after);
    if (after.envelopes != before->envelopes || after.inbox != before->inbox ||
        after.digest_len != before->digest_len ||
        memcmp(after.digest, before->digest, after.digest_len) != 0)
        fail_msg("%s: A's state moved (envelopes %llu -> %llu, inbox %llu -> %llu)", name,
                 (unsigned long long)before->envelopes, (unsigned long long)after.envelopes,
                 (unsigned long long)before->inbox, (unsigned long long)after.inbox);
    if (counter_name != NULL && counter(&after, counter_name) <= counter(before, counter_name))
        fail_msg("%s: counter %s did not move (%llu)", name, counter_name,
                 (unsigned long long)counter(&after, counter_name));
    snap_free(&after);
}

/* Waits at most LOG_MS for A's counter name to pass what before says:
 * some refusals are counted when libzmq reports them, a moment after the
 * connection closed. */
static void wait_counter(struct ctx *c, const struct snap *before, const char *name)
{
    for (int64_t end = fed_now_ms() + LOG_MS;; fed_sleep_ms(100)) {
        struct snap now;
        bool is_done;

        snapshot(c, &now);
        is_done = counter(&now, name) > counter(before, name);
        snap_free(&now);
        if (is_done || fed_now_ms() > end)
            return;
    }
}

/* ---- the peer socket: M on a real link --------------------------------- */

/* Keeps M's link alive while A works. */
static void heartbeat(struct ctx *c)
{
    uint8_t *buf;

    player_send_heartbeat(c->p.sock);
    c->p.last_sent_ms = fed_now_ms();
    while (player_recv_within(c->p.sock, 0, &buf) != -1)
        free(buf);
}

/* Waits at most LOG_MS for text in A's log after mark, keeping M's link
 * alive meanwhile (A drops a link silent for its peer timeout). A line
 * equal to the one before it is folded into a later "repeated" line, so
 * consecutive cases log different reasons. */
static int wait_log(struct ctx *c, long mark, const char *text)
{
    for (int64_t end = fed_now_ms() + LOG_MS; fed_now_ms() < end; fed_sleep_ms(50)) {
        if (c->p.sock != NULL && fed_now_ms() - c->p.last_sent_ms >= PLAYER_HEARTBEAT_MS)
            heartbeat(c);
        if (fed_log_count(c->f, c->a, mark, text) > 0)
            return 0;
    }
    fed_dump_log(c->f, c->a, 20);
    return -1;
}

static uint8_t *seal_as(struct envelope_keyring *kr, const struct roster *r, const char *to,
                        const char *coalition, uint64_t seq, const uint8_t *prev,
                        const char *payload, size_t *len, struct envelope_info *info)
{
    struct roster_member target;
    struct envelope_recipient rcpt;
    struct envelope_seal_args a = {0};
    uint8_t *env = NULL;

    assert_int_equal(roster_find(r, to, &target), 0);
    rcpt.member = target.id;
    rcpt.box_pk = target.box_pk;
    a.coalition = coalition;
    a.seq = seq;
    a.prev_hash = prev;
    a.roster_version = roster_version(r);
    a.created_at = (int64_t)time(NULL);
    a.payload = (const uint8_t *)payload;
    a.payload_len = strlen(payload);
    a.recipients = &rcpt;
    a.n_recipients = 1;
    assert_int_equal(envelope_seal(kr, &a, &env, len, info), ENVELOPE_OK);
    return env;
}

/* A peer case: what M sends (one PeerMessage frame, or one envelope),
 * the reason A logs and the counter it moves. */
struct peer_case {
    const char *name;
    const char *log;
    const char *counter;
    /* Fills *out (malloc'd) with the bytes to send; *is_envelope says
     * whether they are an envelope to wrap or a whole frame. */
    void (*make)(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope);
};

static void make_truncated(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    struct envelope_info info;
    uint8_t *env = player_seal(&c->p, 3, c->info2.id, "need: cut in half", len, &info);

    *len /= 2;
    *out = env;
    *is_envelope = true;
}

static void make_stranger(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    struct keyset *z = keys_generate(KEYS_MEMBER, "Z");
    struct envelope_keyring *kr;
    struct envelope_info info;

    assert_non_null(z);
    kr = envelope_keyring_new(z);
    assert_non_null(kr);
    *out = seal_as(kr, c->p.roster, "A", FED_COALITION, 1, NULL, "need: from nobody", len, &info);
    envelope_keyring_free(&kr);
    keys_free(&z);
    *is_envelope = true;
}

static void make_other_coalition(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    struct envelope_info info;

    *out = seal_as(c->p.keyring, c->p.roster, "A", "another-coalition", 3, c->info2.id,
                   "need: for another coalition", len, &info);
    *is_envelope = true;
}

/* Seq 4 before seq 3: both valid, in the wrong order. */
static void make_reordered(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    struct envelope_info info3, info4;
    size_t len3;
    uint8_t *env3 = player_seal(&c->p, 3, c->info2.id, "need: seq 3", &len3, &info3);

    *out = player_seal(&c->p, 4, info3.id, "need: seq 4, sent first", len, &info4);
    free(env3);
    *is_envelope = true;
}

static void make_garbage(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    (void)c;
    *len = 64;
    *out = malloc(*len);
    assert_non_null(*out);
    memset(*out, 0xff, *len); /* field 31, wire type 7: no such wire type */
    *is_envelope = false;
}

/* Field 3 (envelope, length-delimited) whose length is a ten-byte varint
 * of 2^63 - 1, far past the frame. */
static void make_huge_varint(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    static const uint8_t frame[] = {0x1a, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0x7f, 0x00};

    (void)c;
    *out = malloc(sizeof(frame));
    assert_non_null(*out);
    memcpy(*out, frame, sizeof(frame));
    *len = sizeof(frame);
    *is_envelope = false;
}

/* An eleven-byte varint: longer than any 64-bit value takes. */
static void make_overlong_varint(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    (void)c;
    *len = 12;
    *out = malloc(*len);
    assert_non_null(*out);
    (*out)[0] = 0x08; /* field 1, varint: a Hello would be field 1 length-delimited */
    memset(*out + 1, 0xff, 10);
    (*out)[11] = 0x01;
    *is_envelope = false;
}

static void make_oversized_frame(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    (void)c;
    *len = PEER_MSG_MAX_FRAME + 1;
    *out = calloc(1, *len);
    assert_non_null(*out);
    *is_envelope = false;
}

/* An empty PeerMessage: well formed, of no kind. */
static void make_no_kind(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    (void)c;
    *out = malloc(1);
    assert_non_null(*out);
    *len = 0;
    *is_envelope = false;
}

static void make_empty_batch(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Batch b = TMBUS__PEER__BATCH__INIT;

    (void)c;
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_BATCH;
    m.batch = &b;
    *len = tmbus__peer__peer_message__get_packed_size(&m);
    *out = malloc(*len);
    assert_non_null(*out);
    tmbus__peer__peer_message__pack(&m, *out);
    *is_envelope = false;
}

static void make_bad_hello(struct ctx *c, uint8_t **out, size_t *len, bool *is_envelope)
{
    Tmbus__Peer__PeerMessage m = TMBUS__PEER__PEER_MESSAGE__INIT;
    Tmbus__Peer__Hello h = TMBUS__PEER__HELLO__INIT;

    h.version = 99;
    h.roster_version = roster_version(c->p.roster);
    m.kind_case = TMBUS__PEER__PEER_MESSAGE__KIND_HELLO;
    m.hello = &h;
    *len = tmbus__peer__peer_message__get_packed_size(&m);
    *out = malloc(*len);
    assert_non_null(*out);
    tmbus__peer__peer_message__pack(&m, *out);
    *is_envelope = false;
}

/* In an order where no two consecutive cases log the same line. */
static const struct peer_case peer_cases[] = {
    {"peer.truncated-envelope", "peer M: rejected an envelope: malformed", "rejected.malformed",
     make_truncated},
    {"peer.unknown-member", "peer M: rejected an envelope: unknown-sender",
     "rejected.unknown-sender", make_stranger},
    {"peer.wrong-coalition", "peer M: rejected an envelope: wrong-coalition",
     "rejected.wrong-coalition", make_other_coalition},
    {"peer.reordered", "peer M: rejected an envelope: seq is not held + 1", "rejected.out-of-order",
     make_reordered},
    {"peer.malformed-frame", "peer M: rejected a malformed message", "peer.malformed",
     make_garbage},
    {"peer.oversized-frame", "-byte message: over the", "rejected.too-large", make_oversized_frame},
    {"peer.huge-varint", "peer M: rejected a malformed message", "peer.malformed",
     make_huge_varint},
    {"peer.empty-batch", "peer M: rejected a batch", "peer.bad-batch", make_empty_batch},
    {"peer.overlong-varint", "peer M: rejected a malformed message", "peer.malformed",
     make_overlong_varint},
    {"peer.no-kind", "peer M: rejected a message of no known kind", "peer.malformed", make_no_kind},
    {"peer.bad-hello", "peer M: refused a hello (version 99", "peer.bad-hello", make_bad_hello},
};

static void run_peer_case(struct ctx *c, const struct peer_case *pc)
{
    struct snap before;
    uint8_t *bytes;
    size_t len;
    bool is_envelope;
    long mark;

    heartbeat(c);
    snapshot(c, &before);
    pc->make(c, &bytes, &len, &is_envelope);
    mark = fed_log_mark(c->f, c->a);
    if (is_envelope)
        player_send_envelope(c->p.sock, bytes, len);
    else
        player_send_bytes(c->p.sock, bytes, len);
    free(bytes);
    if (wait_log(c, mark, pc->log) != 0)
        fail_msg("%s: A did not log \"%s\"", pc->name, pc->log);
    assert_refused(c, pc->name, &before, pc->counter);
    snap_free(&before);
    assert_true(fed_is_running(c->f, c->a));
}

/* ---- sockets without CURVE ---------------------------------------------- */

/* A DEALER with the NULL (is_plain false) or PLAIN mechanism, whichever
 * socket of A it dials, must hear nothing and be counted. The line is
 * rate-limited per socket (one per 10 s, the next says how many were left
 * out), so only the first case on each socket expects it. */
static void run_mechanism_case(struct ctx *c, const char *name, bool is_plain, bool to_peer,
                               bool expect_line)
{
    static const uint8_t hello[] = {0x0a, 0x02, 0x08, 0x01}; /* Hello{version 1} */
    struct snap before;
    void *s;
    int linger = 0;
    uint8_t *got;
    long mark;

    heartbeat(c);
    snapshot(c, &before);
    mark = fed_log_mark(c->f, c->a);
    s = zmq_socket(c->p.zctx, ZMQ_DEALER);
    assert_non_null(s);
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)), 0);
    if (is_plain) {
        assert_int_equal(zmq_setsockopt(s, ZMQ_PLAIN_USERNAME, "M", 1), 0);
        assert_int_equal(zmq_setsockopt(s, ZMQ_PLAIN_PASSWORD, "secret", 6), 0);
    }
    assert_int_equal(
        zmq_connect(s, to_peer ? fed_peer_endpoint(c->f, c->a) : fed_client_endpoint(c->f, c->a)),
        0);
    player_send_bytes(s, hello, sizeof(hello));
    if (player_recv_within(s, SILENCE_MS, &got) != -1)
        fail_msg("%s: a connection without CURVE was answered", name);
    zmq_close(s);
    if (expect_line && wait_log(c, mark,
                                to_peer ? "zap: refused a connection on the peer socket"
                                        : "zap: refused a connection on the client socket") != 0)
        fail_msg("%s: A did not log the refused handshake", name);
    wait_counter(c, &before, to_peer ? "zap.handshake-failed.peer" : "zap.handshake-failed.client");
    assert_refused(c, name, &before,
                   to_peer ? "zap.handshake-failed.peer" : "zap.handshake-failed.client");
    snap_free(&before);
}

/* ---- the client socket ---------------------------------------------------- */

struct client_case {
    const char *name;
    bool as_low;    /* A's reader client, else its poster */
    bool two_parts; /* sends the request in two frames */
    Tmbus__Api__Code code;
    const char *log; /* after "refused: " */
    const char *counter;
    size_t (*make)(struct ctx *c, uint8_t **out);
};

static size_t make_req_garbage(struct ctx *c, uint8_t **out)
{
    (void)c;
    *out = malloc(32);
    assert_non_null(*out);
    memset(*out, 0xff, 32);
    return 32;
}

static size_t make_req_huge_varint(struct ctx *c, uint8_t **out)
{
    static const uint8_t req[] = {0x08, 0x01, 0x2a, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0x7f}; /* id 1, status of 2^63 bytes */
    (void)c;
    *out = malloc(sizeof(req));
    assert_non_null(*out);
    memcpy(*out, req, sizeof(req));
    return sizeof(req);
}

static size_t make_req_oversized(struct ctx *c, uint8_t **out)
{
    (void)c;
    *out = calloc(1, API_MSG_MAX_REQUEST + 1);
    assert_non_null(*out);
    return API_MSG_MAX_REQUEST + 1;
}

static size_t make_post(const Tmbus__Payload__Payload *p, uint64_t id, uint8_t **out)
{
    Tmbus__Api__Request r = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Post post = TMBUS__API__POST__INIT;
    size_t plen = tmbus__payload__payload__get_packed_size(p), len;
    uint8_t *payload = malloc(plen);

    assert_non_null(payload);
    tmbus__payload__payload__pack(p, payload);
    r.id = id;
    r.kind_case = TMBUS__API__REQUEST__KIND_POST;
    r.post = &post;
    post.payload.data = payload;
    post.payload.len = plen;
    post.all = true;
    len = pack_request(&r, out);
    free(payload);
    return len;
}

/* An amber need, as the beneficiary A may post it. */
static size_t make_req_amber_need(struct ctx *c, uint8_t **out)
{
    Tmbus__Payload__Payload p = TMBUS__PAYLOAD__PAYLOAD__INIT;
    Tmbus__Payload__Need n = TMBUS__PAYLOAD__NEED__INIT;

    (void)c;
    n.beneficiary = "Regional energy operator (test)";
    n.sector = TMBUS__PAYLOAD__SECTOR__SECTOR_ENERGY;
    n.category = TMBUS__PAYLOAD__CATEGORY__CATEGORY_MALWARE_DETECTION;
    n.title = "EDR licences above the client's clearance";
    n.quantity = 3;
    n.unit = "licences";
    n.value_cents = 500000;
    n.priority = TMBUS__PAYLOAD__PRIORITY__PRIORITY_HIGH;
    n.tlp = TMBUS__PAYLOAD__TLP__TLP_AMBER;
    p.kind_case = TMBUS__PAYLOAD__PAYLOAD__KIND_NEED;
    p.need = &n;
    return make_post(&p, 11, out);
}

static size_t make_req_truncated(struct ctx *c, uint8_t **out)
{
    return make_req_amber_need(c, out) / 2;
}

static size_t make_req_no_id(struct ctx *c, uint8_t **out)
{
    Tmbus__Api__Request r = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__StatusRequest st = TMBUS__API__STATUS_REQUEST__INIT;

    (void)c;
    r.kind_case = TMBUS__API__REQUEST__KIND_STATUS;
    r.status = &st;
    return pack_request(&r, out);
}

/* A status request with field 99 (varint 1) appended. */
static size_t make_req_unknown_field(struct ctx *c, uint8_t **out)
{
    Tmbus__Api__Request r = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__StatusRequest st = TMBUS__API__STATUS_REQUEST__INIT;
    uint8_t *packed;
    size_t len;

    (void)c;
    r.id = 12;
    r.kind_case = TMBUS__API__REQUEST__KIND_STATUS;
    r.status = &st;
    len = pack_request(&r, &packed);
    *out = realloc(packed, len + 3);
    assert_non_null(*out);
    (*out)[len] = 0x98; /* field 99, varint: (99 << 3) = 792 = 0x98 0x06 */
    (*out)[len + 1] = 0x06;
    (*out)[len + 2] = 0x01;
    return len + 3;
}

static size_t make_req_ack(struct ctx *c, uint8_t **out)
{
    Tmbus__Api__Request r = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Ack ack = TMBUS__API__ACK__INIT;

    (void)c;
    r.id = 13;
    r.kind_case = TMBUS__API__REQUEST__KIND_ACK;
    r.ack = &ack;
    ack.number = 5;
    return pack_request(&r, out);
}

/* In an order where no two consecutive cases log the same line. */
static const struct client_case client_cases[] = {
    {"client.malformed", false, false, TMBUS__API__CODE__CODE_INVALID,
     "refused: not a tmbus.api.Request", "api.rejected.malformed", make_req_garbage},
    {"client.oversized", false, false, TMBUS__API__CODE__CODE_INVALID,
     "refused: request larger than the node accepts", "api.rejected.too-large", make_req_oversized},
    {"client.huge-varint", false, false, TMBUS__API__CODE__CODE_INVALID,
     "refused: not a tmbus.api.Request", "api.rejected.malformed", make_req_huge_varint},
    {"client.no-id", false, false, TMBUS__API__CODE__CODE_INVALID,
     "refused: request id must not be 0", "api.rejected.no-id", make_req_no_id},
    {"client.truncated", false, false, TMBUS__API__CODE__CODE_INVALID,
     "refused: not a tmbus.api.Request", "api.rejected.malformed", make_req_truncated},
    {"client.unknown-field", false, false, TMBUS__API__CODE__CODE_INVALID,
     "refused: the request has fields this node does not know", "api.rejected.unknown-field",
     make_req_unknown_field},
    {"client.two-frames", false, true, TMBUS__API__CODE__CODE_INVALID,
     "refused: one frame per request", "api.rejected.frames", make_req_no_id},
    {"client.role", true, false, TMBUS__API__CODE__CODE_DENIED,
     "refused: this client's role may not post", "api.rejected.role", make_req_amber_need},
    {"client.clearance", false, false, TMBUS__API__CODE__CODE_DENIED,
     "refused: the post's TLP is above this client's clearance", "api.rejected.clearance",
     make_req_amber_need},
    {"client.ack-unsubscribed", true, false, TMBUS__API__CODE__CODE_PROTOCOL,
     "refused: ack without a subscription", "api.rejected.not-subscribed", make_req_ack},
};

static void run_client_case(struct ctx *c, const struct client_case *cc)
{
    struct snap before;
    Tmbus__Api__Reply *reply;
    uint8_t *req, *got;
    size_t len;
    int got_len;
    long mark;
    void *s;

    heartbeat(c);
    snapshot(c, &before);
    s = client_dealer(c, cc->as_low ? c->low_key : fed_client_key_path(c->f, c->a));
    len = cc->make(c, &req);
    mark = fed_log_mark(c->f, c->a);
    if (cc->two_parts) {
        assert_true(zmq_send(s, req, len, ZMQ_SNDMORE) >= 0);
        player_send_bytes(s, req, len);
        got_len = player_recv_within(s, ANSWER_MS, &got);
        assert_true(got_len > 0);
        reply = tmbus__api__reply__unpack(NULL, (size_t)got_len, got);
        free(got);
        assert_non_null(reply);
    } else {
        reply = ask(s, req, len);
    }
    free(req);
    zmq_close(s);
    if (reply->code != cc->code)
        fail_msg("%s: code %d, not %d (%s)", cc->name, reply->code, cc->code, reply->reason);
    assert_true(reply->reason != NULL && reply->reason[0] != '\0');
    tmbus__api__reply__free_unpacked(reply, NULL);
    if (wait_log(c, mark, cc->log) != 0)
        fail_msg("%s: A did not log \"%s\"", cc->name, cc->log);
    assert_refused(c, cc->name, &before, cc->counter);
    snap_free(&before);
}

/* ---- configuration --------------------------------------------------------- */

/* A configuration A must refuse on SIGHUP: it keeps the running one,
 * logged and counted. The file is restored. */
static void run_config_case(struct ctx *c, const char *name, const char *extra, const char *why)
{
    struct snap before;
    long mark;

    heartbeat(c);
    snapshot(c, &before);
    assert_int_equal(fed_set_extra(c->f, c->a, extra), 0);
    mark = fed_log_mark(c->f, c->a);
    assert_int_equal(fed_reload(c->f, c->a), 0);
    if (fed_wait_log_from(c->f, c->a, mark, "reload refused, keeping the running configuration",
                          LOG_MS) != 0)
        fail_msg("%s: the reload was not refused", name);
    assert_true(fed_log_count(c->f, c->a, mark, why) > 0);
    assert_refused(c, name, &before, "config.refused");
    snap_free(&before);
    assert_int_equal(fed_set_extra(c->f, c->a, ""), 0);
    assert_true(fed_is_running(c->f, c->a));
}

/* ---- the catalogue ----------------------------------------------------------- */

static int setup(void **state)
{
    static const char *const nodes[] = {"A"};
    static const char *const extra[] = {"M"};
    struct ctx *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->f = fed_new_with_extra(1, nodes, 1, extra)) == NULL) {
        free(c);
        return -1;
    }
    c->a = fed_index(c->f, "A");
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;

    player_close(&c->p);
    free(c->env1);
    free(c->env2);
    fed_free(&c->f);
    free(c);
    return 0;
}

/* M's link to A, with M's seq 1 and 2 held by A. */
static void link_up(struct ctx *c)
{
    bool hello_reply = false;
    long mark = fed_log_mark(c->f, c->a);

    player_dial(&c->p);
    player_send_hello(c->p.sock, roster_version(c->p.roster));
    c->p.last_sent_ms = fed_now_ms();
    player_wait_ack(&c->p, c->env2 != NULL ? 2 : 0, &hello_reply);
    assert_true(hello_reply);
    assert_int_equal(fed_wait_link(c->f, c->a, mark, "M", LOG_MS), 0);
}

static void test_catalogue(void **state)
{
    struct ctx *c = *state;
    struct snap before;
    char line[LONG_LINE + 8], new_key[FED_PATH_MAX];
    long mark;

    /* A's own client may see up to green; its second client only reads. */
    assert_int_equal(fed_set_clearance(c->f, c->a, "green"), 0);
    assert_int_equal(fed_add_client(c->f, c->a, "low", "reader", "green", c->low_key), 0);
    assert_int_equal(fed_start(c->f, c->a), 0);
    player_open(&c->p, c->f, c->a);
    link_up(c);
    c->env1 = player_seal(&c->p, 1, NULL, "need: seq 1", &c->len1, &c->info1);
    c->env2 = player_seal(&c->p, 2, c->info1.id, "need: seq 2", &c->len2, &c->info2);
    player_send_envelope(c->p.sock, c->env1, c->len1);
    player_send_envelope(c->p.sock, c->env2, c->len2);
    player_wait_ack(&c->p, 2, NULL);

    for (size_t i = 0; i < sizeof(peer_cases) / sizeof(peer_cases[0]); i++)
        run_peer_case(c, &peer_cases[i]);

    run_mechanism_case(c, "peer.null-mechanism", false, true, true);
    run_mechanism_case(c, "peer.plain-mechanism", true, true, false);
    run_mechanism_case(c, "client.null-mechanism", false, false, true);
    run_mechanism_case(c, "client.plain-mechanism", true, false, false);

    for (size_t i = 0; i < sizeof(client_cases) / sizeof(client_cases[0]); i++)
        run_client_case(c, &client_cases[i]);

    /* config.long-line: a comment of LONG_LINE characters. */
    memset(line, 'x', sizeof(line));
    line[0] = ';';
    line[LONG_LINE] = '\n';
    line[LONG_LINE + 1] = '\0';
    run_config_case(c, "config.long-line", line, "line longer than");
    run_config_case(c, "config.duplicate-option",
                    "[http]\nlisten = 127.0.0.1:0\nlisten = 127.0.0.1:0\n",
                    "duplicate option 'listen' in [http]");
    run_config_case(c, "config.duplicate-client",
                    "[client low]\nkey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
                    "role = reader\nclearance = clear\n",
                    "duplicate client name 'low'");

    /* peer.replay-after-restart: A restarts; M's seq 1 and 2 again are
     * copies, dropped without a word. */
    player_close(&c->p);
    assert_int_equal(fed_stop(c->f, c->a), 0);
    assert_int_equal(fed_start(c->f, c->a), 0);
    player_open(&c->p, c->f, c->a);
    link_up(c);
    snapshot(c, &before);
    mark = fed_log_mark(c->f, c->a);
    player_send_envelope(c->p.sock, c->env1, c->len1);
    player_send_envelope(c->p.sock, c->env2, c->len2);
    player_send_heartbeat(c->p.sock);
    for (int64_t end = fed_now_ms() + LOG_MS;; fed_sleep_ms(100)) {
        struct snap now;
        snapshot(c, &now);
        bool is_done = counter(&now, "duplicate") >= counter(&before, "duplicate") + 2;
        snap_free(&now);
        if (is_done)
            break;
        if (fed_now_ms() > end)
            fail_msg("peer.replay-after-restart: A did not count two duplicates");
    }
    assert_int_equal(fed_log_count(c->f, c->a, mark, "rejected"), 0);
    assert_refused(c, "peer.replay-after-restart", &before, NULL);
    snap_free(&before);

    /* peer.revoked-key: a roster that revokes M's first keys; M, on its
     * new keys, sends seq 3 signed with the revoked ones. */
    uint8_t *env3;
    size_t len3;
    struct envelope_info info3;
    env3 = player_seal(&c->p, 3, c->info2.id, "need: under a revoked key", &len3, &info3);
    assert_int_equal(fed_rotate_member(c->f, fed_index(c->f, "M"), new_key), 0);
    mark = fed_log_mark(c->f, c->a);
    assert_int_equal(fed_reload(c->f, c->a), 0);
    assert_int_equal(fed_wait_log_from(c->f, c->a, mark, "roster version 2 in force", LOG_MS), 0);
    player_close(&c->p);
    player_open(&c->p, c->f, c->a);
    player_use_keys(&c->p, new_key);
    link_up(c);
    snapshot(c, &before);
    mark = fed_log_mark(c->f, c->a);
    player_send_envelope(c->p.sock, env3, len3);
    free(env3);
    if (fed_wait_log_from(c->f, c->a, mark, "peer M: rejected an envelope: bad-signature",
                          LOG_MS) != 0)
        fail_msg("peer.revoked-key: A did not refuse the envelope");
    assert_refused(c, "peer.revoked-key", &before, "rejected.bad-signature");
    snap_free(&before);
    player_close(&c->p);

    /* config.long-line at start: `tmbusd -n` and a start exit 78. */
    assert_int_equal(fed_stop(c->f, c->a), 0);
    assert_int_equal(fed_set_extra(c->f, c->a, line), 0);
    mark = fed_log_mark(c->f, c->a);
    assert_int_equal(fed_run_exit(c->f, c->a, true), 78);
    assert_int_equal(fed_run_exit(c->f, c->a, false), 78);
    assert_int_equal(fed_log_count(c->f, c->a, mark, "line longer than"), 2);
    assert_int_equal(fed_set_extra(c->f, c->a, ""), 0);

    /* key.loose-permissions: A's member key file readable by others. */
    assert_int_equal(chmod(fed_member_key_path(c->f, c->a), 0644), 0);
    mark = fed_log_mark(c->f, c->a);
    assert_int_equal(fed_run_exit(c->f, c->a, true), 78);
    assert_int_equal(fed_wait_log_from(c->f, c->a, mark, "by group or others", LOG_MS), 0);
    assert_int_equal(fed_run_exit(c->f, c->a, false), 78);
    assert_int_equal(chmod(fed_member_key_path(c->f, c->a), 0600), 0);

    fed_pass(c->f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_catalogue, setup, teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
