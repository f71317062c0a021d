/*
 * peer_msg: reads a PeerMessage once into a struct peer_msg. Limits are
 * checked before anything is copied: the frame against PEER_MSG_MAX_FRAME,
 * a vector against PEER_MSG_MAX_LOGS, a batch's count and sizes and an
 * audit checkpoint's or cosignature's size by a walk of the raw bytes
 * before protobuf-c allocates anything for it. Log names that are not member ids
 * are dropped here, so that no caller copies a name it did not check;
 * whether a well-formed name can exist for a given pair of members is
 * peer_msg_log_may_exist's rule, which the link applies.
 */
#include "peer_msg.h"

#include <stdlib.h>
#include <string.h>

#include "peer.pb-c.h"

typedef Tmbus__Peer__PeerMessage PeerMessage;
typedef Tmbus__Peer__VectorEntry VectorEntry;

static bool is_log(const VectorEntry *e)
{
    return util_is_member_id(e->origin, strlen(e->origin)) &&
           (e->peer[0] == '\0' || util_is_member_id(e->peer, strlen(e->peer))) &&
           (e->head.len == 0 || e->head.len == ENVELOPE_HASH_BYTES);
}

/* Copies the well-formed entries of e[0..n). Returns 0 or -1 (ENOMEM). */
static int take_logs(struct peer_msg *m, VectorEntry **e, size_t n)
{
    m->n_sent = n;
    if (n == 0)
        return 0;
    if ((m->logs = calloc(n, sizeof(*m->logs))) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct peer_msg_log *l = &m->logs[m->n_logs];
        if (!is_log(e[i]))
            continue;
        strcpy(l->origin, e[i]->origin);
        strcpy(l->peer, e[i]->peer);
        l->seq = e[i]->seq;
        l->has_head = e[i]->head.len == ENVELOPE_HASH_BYTES;
        if (l->has_head)
            memcpy(l->head, e[i]->head.data, ENVELOPE_HASH_BYTES);
        m->n_logs++;
    }
    return 0;
}

#define FIELD_BATCH      6 /* PeerMessage.batch */
#define FIELD_CHECKPOINT 8 /* PeerMessage.checkpoint */
#define FIELD_COSIGN     9 /* PeerMessage.cosignature */
#define FIELD_ENVELOPES  1 /* Batch.envelopes */
#define WIRE_VARINT      0
#define WIRE_FIXED64     1
#define WIRE_LEN         2
#define WIRE_FIXED32     5
#define VARINT_MAX_BYTES 10

/* Reads a varint at *p (before end). Returns 0, or -1 when it runs off. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;

    for (int i = 0; i < VARINT_MAX_BYTES && *p < end; i++) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Whether the Batch fields of a PeerMessage hold, summed over every
 * occurrence (protobuf merges them), at most PEER_MSG_MAX_BATCH envelopes
 * of at most ENVELOPE_MAX_SIZE bytes each, and its Checkpoint and
 * Cosignature fields at most PEER_MSG_MAX_CHECKPOINT bytes (*fault says
 * which failed). Bytes that do not walk as protobuf pass here: protobuf-c
 * refuses them next. */
static bool is_bounded(const uint8_t *buf, size_t len, enum peer_msg_fault *fault)
{
    const uint8_t *p = buf, *end = buf + len;
    size_t count = 0;
    uint64_t audit_bytes = 0;

    while (p < end) {
        uint64_t tag, n;
        if (read_varint(&p, end, &tag) == -1)
            return true;
        switch (tag & 7) {
        case WIRE_VARINT:
            if (read_varint(&p, end, &n) == -1)
                return true;
            continue;
        case WIRE_FIXED64:
        case WIRE_FIXED32:
            n = (tag & 7) == WIRE_FIXED64 ? 8 : 4;
            break;
        case WIRE_LEN:
            if (read_varint(&p, end, &n) == -1)
                return true;
            break;
        default:
            return true;
        }
        if (n > (uint64_t)(end - p))
            return true;
        if (((tag >> 3) == FIELD_CHECKPOINT || (tag >> 3) == FIELD_COSIGN) &&
            (tag & 7) == WIRE_LEN && (audit_bytes += n) > PEER_MSG_MAX_CHECKPOINT) {
            *fault = PEER_MSG_E_CHECKPOINT;
            return false;
        }
        if ((tag >> 3) == FIELD_BATCH && (tag & 7) == WIRE_LEN) {
            const uint8_t *q = p, *qend = p + n;
            while (q < qend) {
                uint64_t etag, elen;
                if (read_varint(&q, qend, &etag) == -1 || (etag & 7) != WIRE_LEN ||
                    read_varint(&q, qend, &elen) == -1 || elen > (uint64_t)(qend - q))
                    return true;
                if ((etag >> 3) == FIELD_ENVELOPES &&
                    (++count > PEER_MSG_MAX_BATCH || elen > ENVELOPE_MAX_SIZE)) {
                    *fault = PEER_MSG_E_BATCH;
                    return false;
                }
                q += elen;
            }
        }
        p += n;
    }
    return true;
}

/* Copies a Checkpoint after checking every length. Returns 0 or -1. */
static int take_checkpoint(struct peer_msg_checkpoint *out, const Tmbus__Peer__Checkpoint *c)
{
    if (c->size == 0 || c->root.len != ENVELOPE_HASH_BYTES || c->sig.len != KEYS_SIGNATURE_BYTES ||
        c->n_proof > PEER_MSG_MAX_PROOF)
        return -1;
    for (size_t i = 0; i < c->n_proof; i++)
        if (c->proof[i].len != ENVELOPE_HASH_BYTES)
            return -1;
    out->epoch = c->epoch;
    out->size = c->size;
    memcpy(out->root, c->root.data, ENVELOPE_HASH_BYTES);
    out->at = c->at;
    out->has_sig = true;
    memcpy(out->sig, c->sig.data, KEYS_SIGNATURE_BYTES);
    out->from_size = c->from_size;
    for (size_t i = 0; i < c->n_proof; i++)
        memcpy(out->proof[i], c->proof[i].data, ENVELOPE_HASH_BYTES);
    out->n_proof = c->n_proof;
    return 0;
}

/* Copies a Cosignature: a signature of 64 bytes, or none and then perhaps
 * the checkpoint held, whole (a root of 32 bytes and its signature of 64,
 * of a size above 0) or not at all. */
static int take_cosignature(struct peer_msg_checkpoint *out, const Tmbus__Peer__Cosignature *c)
{
    bool has_held = c->root.len != 0 || c->checkpoint_sig.len != 0;

    if (c->sig.len != 0 && c->sig.len != KEYS_SIGNATURE_BYTES)
        return -1;
    if (has_held && (c->sig.len != 0 || c->size == 0 || c->root.len != ENVELOPE_HASH_BYTES ||
                     c->checkpoint_sig.len != KEYS_SIGNATURE_BYTES))
        return -1;
    out->epoch = c->epoch;
    out->size = c->size;
    out->has_sig = c->sig.len != 0;
    if (out->has_sig)
        memcpy(out->sig, c->sig.data, KEYS_SIGNATURE_BYTES);
    out->has_held = has_held;
    if (has_held) {
        memcpy(out->root, c->root.data, ENVELOPE_HASH_BYTES);
        out->at = c->at;
        memcpy(out->held_sig, c->checkpoint_sig.data, KEYS_SIGNATURE_BYTES);
    }
    return 0;
}

static int fail(enum peer_msg_fault *fault, enum peer_msg_fault why)
{
    *fault = why;
    return -1;
}

int peer_msg_decode(const uint8_t *buf, size_t len, struct peer_msg *out,
                    enum peer_msg_fault *fault)
{
    PeerMessage *m;

    memset(out, 0, sizeof(*out));
    *fault = PEER_MSG_OK;
    if (len > PEER_MSG_MAX_FRAME)
        return fail(fault, PEER_MSG_E_SIZE);
    if (!is_bounded(buf, len, fault))
        return -1;
    if ((m = tmbus__peer__peer_message__unpack(NULL, len, buf)) == NULL)
        return fail(fault, PEER_MSG_E_MALFORMED);
    out->pb = m;
    if (m->base.n_unknown_fields != 0)
        return fail(fault, PEER_MSG_E_MALFORMED);
    switch (m->kind_case) {
    case TMBUS__PEER__PEER_MESSAGE__KIND_HELLO:
        out->kind = PEER_MSG_HELLO;
        out->version = m->hello->version;
        out->roster_version = m->hello->roster_version;
        out->is_reply = m->hello->reply;
        out->n_sent = m->hello->n_vector;
        if (m->hello->version != PEER_MSG_VERSION || m->hello->n_vector > PEER_MSG_MAX_LOGS)
            return fail(fault, PEER_MSG_E_HELLO);
        if (take_logs(out, m->hello->vector, m->hello->n_vector) == -1)
            return fail(fault, PEER_MSG_E_MALFORMED);
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_VECTOR:
        out->kind = PEER_MSG_VECTOR;
        out->n_sent = m->vector->n_entries;
        if (m->vector->n_entries > PEER_MSG_MAX_LOGS)
            return fail(fault, PEER_MSG_E_VECTOR);
        if (take_logs(out, m->vector->entries, m->vector->n_entries) == -1)
            return fail(fault, PEER_MSG_E_MALFORMED);
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_ENVELOPE:
        out->kind = PEER_MSG_ENVELOPE;
        out->envelope = m->envelope.data;
        out->envelope_len = m->envelope.len;
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_HEARTBEAT:
        out->kind = PEER_MSG_HEARTBEAT;
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_FETCH:
        out->kind = PEER_MSG_FETCH;
        if (take_logs(out, &m->fetch, 1) == -1 || out->n_logs != 1)
            return fail(fault, PEER_MSG_E_MALFORMED);
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_BATCH:
        out->kind = PEER_MSG_BATCH;
        if (m->batch->n_envelopes == 0 || m->batch->n_envelopes > PEER_MSG_MAX_BATCH)
            return fail(fault, PEER_MSG_E_BATCH);
        out->envelopes = calloc(m->batch->n_envelopes, sizeof(*out->envelopes));
        out->envelope_lens = calloc(m->batch->n_envelopes, sizeof(*out->envelope_lens));
        if (out->envelopes == NULL || out->envelope_lens == NULL)
            return fail(fault, PEER_MSG_E_MALFORMED);
        for (size_t i = 0; i < m->batch->n_envelopes; i++) {
            out->envelopes[i] = m->batch->envelopes[i].data;
            out->envelope_lens[i] = m->batch->envelopes[i].len;
        }
        out->n_envelopes = m->batch->n_envelopes;
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_CHECKPOINT:
        out->kind = PEER_MSG_CHECKPOINT;
        if (take_checkpoint(&out->checkpoint, m->checkpoint) != 0)
            return fail(fault, PEER_MSG_E_CHECKPOINT);
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_COSIGNATURE:
        out->kind = PEER_MSG_COSIGNATURE;
        if (take_cosignature(&out->checkpoint, m->cosignature) != 0)
            return fail(fault, PEER_MSG_E_CHECKPOINT);
        return 0;
    case TMBUS__PEER__PEER_MESSAGE__KIND_ROSTER:
        /* Only the size here: the node judges the roster itself. */
        out->kind = PEER_MSG_ROSTER;
        if (m->roster.len == 0 || m->roster.len > ROSTER_MAX_SIZE)
            return fail(fault, PEER_MSG_E_ROSTER);
        out->roster = m->roster.data;
        out->roster_len = m->roster.len;
        return 0;
    default:
        return fail(fault, PEER_MSG_E_KIND);
    }
}

bool peer_msg_log_may_exist(const struct peer_msg_log *log, const char *peer, const char *self,
                            peer_msg_is_member_fn is_member, void *arg)
{
    if (log->peer[0] == '\0')
        return is_member(arg, log->origin);
    return (strcmp(log->origin, peer) == 0 && strcmp(log->peer, self) == 0) ||
           (strcmp(log->origin, self) == 0 && strcmp(log->peer, peer) == 0);
}

void peer_msg_clear(struct peer_msg *m)
{
    free(m->logs);
    free(m->envelopes);
    free(m->envelope_lens);
    if (m->pb != NULL)
        tmbus__peer__peer_message__free_unpacked(m->pb, NULL);
    memset(m, 0, sizeof(*m));
}
