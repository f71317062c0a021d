/*
 * peer_msg: the decoder of what a peer sends (proto/peer.proto's
 * PeerMessage), a pure function from bytes to a checked, typed message, so
 * that it can be fuzzed and tested without a socket. It checks sizes, the
 * protocol version, vector and batch bounds (a batch's before it is
 * parsed), and keeps only well-formed log names;
 * it never verifies an envelope (the route does) and never logs.
 */
#ifndef TMBUS_PEER_MSG_H
#define TMBUS_PEER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "roster.h"
#include "util.h"

#define PEER_MSG_VERSION   1
#define PEER_MSG_MAX_FRAME (ENVELOPE_MAX_SIZE + 1024) /* one PeerMessage */
#define PEER_MSG_MAX_LOGS  4096                       /* entries in a Hello or Vector */
#define PEER_MSG_MAX_BATCH 1024                       /* envelopes in one Batch */
/* The audit exchange (PROTOCOL.md 13.1): a Checkpoint or Cosignature field,
 * summed over its occurrences, is at most PEER_MSG_MAX_CHECKPOINT bytes,
 * checked before it is parsed; a proof at most PEER_MSG_MAX_PROOF hashes
 * (a tree of up to 2^64 - 1 entries needs no more). */
#define PEER_MSG_MAX_CHECKPOINT 4096
#define PEER_MSG_MAX_PROOF      64

enum peer_msg_kind {
    PEER_MSG_HELLO = 1,
    PEER_MSG_VECTOR = 2,
    PEER_MSG_ENVELOPE = 3,
    PEER_MSG_HEARTBEAT = 4,
    PEER_MSG_FETCH = 5,
    PEER_MSG_BATCH = 6,
    PEER_MSG_ROSTER = 7,
    PEER_MSG_CHECKPOINT = 8,
    PEER_MSG_COSIGNATURE = 9,
};

/* Why bytes were refused. Only PEER_MSG_E_SIZE and PEER_MSG_E_MALFORMED
 * leave the message unread; the others name a message that was read. */
enum peer_msg_fault {
    PEER_MSG_OK = 0,
    PEER_MSG_E_SIZE,       /* over PEER_MSG_MAX_FRAME */
    PEER_MSG_E_MALFORMED,  /* not a PeerMessage, or unknown fields on it */
    PEER_MSG_E_KIND,       /* a PeerMessage of no known kind */
    PEER_MSG_E_HELLO,      /* another version, or too many logs */
    PEER_MSG_E_VECTOR,     /* too many logs */
    PEER_MSG_E_BATCH,      /* a Batch empty, of over PEER_MSG_MAX_BATCH envelopes, or with
                              one over ENVELOPE_MAX_SIZE: checked before it is parsed */
    PEER_MSG_E_CHECKPOINT, /* a Checkpoint or Cosignature over PEER_MSG_MAX_CHECKPOINT
                              bytes (checked before it is parsed), with a root, signature
                              or proof hash of the wrong length, size 0, a proof of
                              over PEER_MSG_MAX_PROOF hashes, or a Cosignature whose
                              held checkpoint is partial or comes with a signature */
    PEER_MSG_E_ROSTER,     /* a roster empty or over ROSTER_MAX_SIZE */
};

/* A peer's audit checkpoint, or its cosignature of ours (PROTOCOL.md
 * 13.1), with every length checked. */
struct peer_msg_checkpoint {
    uint64_t epoch;
    uint64_t size;
    uint8_t root[ENVELOPE_HASH_BYTES];
    int64_t at;
    bool has_sig; /* a Cosignature may have none: "prove from size" */
    uint8_t sig[KEYS_SIGNATURE_BYTES];
    /* A Cosignature without sig may show the checkpoint held whole: epoch,
     * size, root, at, and the checkpoint's own signature here. */
    bool has_held;
    uint8_t held_sig[KEYS_SIGNATURE_BYTES];
    uint64_t from_size;
    uint8_t proof[PEER_MSG_MAX_PROOF][ENVELOPE_HASH_BYTES];
    size_t n_proof;
};

/* How far a peer holds one log: origin's relayed log (peer "") or its
 * direct log to peer. */
struct peer_msg_log {
    char origin[UTIL_MEMBER_ID_MAX + 1];
    char peer[UTIL_MEMBER_ID_MAX + 1];
    uint64_t seq;
    bool has_head; /* the sender named its envelope id at seq */
    uint8_t head[ENVELOPE_HASH_BYTES];
};

/* A decoded message. Owned by the caller; release with peer_msg_clear. */
struct peer_msg {
    enum peer_msg_kind kind;
    /* Hello: */
    uint32_t version;
    uint64_t roster_version;
    bool is_reply;
    /* Hello and Vector: the well-formed entries, in order (entries whose
     * names are not member ids, or whose head is neither empty nor 32
     * bytes, are left out), and how many were sent. Fetch: the one entry
     * asked for (n_logs 1; a malformed one is PEER_MSG_E_MALFORMED). */
    struct peer_msg_log *logs;
    size_t n_logs, n_sent;
    /* Envelope: its bytes, unverified; they live as long as the message. */
    const uint8_t *envelope;
    size_t envelope_len;
    /* Batch: 1..PEER_MSG_MAX_BATCH envelopes' bytes and lengths, in the
     * order sent, unverified; they live as long as the message. */
    const uint8_t **envelopes;
    size_t *envelope_lens;
    size_t n_envelopes;
    /* Checkpoint (size, root, at, sig, from_size, proof) and Cosignature
     * (size, and sig when has_sig). */
    struct peer_msg_checkpoint checkpoint;
    /* Roster: one SignedRoster's bytes (1..ROSTER_MAX_SIZE), unverified;
     * they live as long as the message. */
    const uint8_t *roster;
    size_t roster_len;
    void *pb; /* the unpacked PeerMessage, private to peer_msg.c */
};

/*
 * Decodes buf[0..len) into *out. Returns 0, or -1 with *fault saying why.
 * On -1 with PEER_MSG_E_HELLO, out->version and out->n_sent describe the
 * refused Hello. Never blocks, never logs. Release *out with peer_msg_clear
 * after either result.
 */
int peer_msg_decode(const uint8_t *buf, size_t len, struct peer_msg *out,
                    enum peer_msg_fault *fault) __attribute__((warn_unused_result));

/* Says whether id can have a relayed log: a roster member, or one whose
 * log the node holds though it left the roster. arg is the caller's. */
typedef bool (*peer_msg_is_member_fn)(void *arg, const char *id);

/*
 * Whether the member `peer`, talking to the node of member `self`, may name
 * log in a Hello or Vector: a relayed log of an id is_member admits, or a
 * direct log between the two of them. No other log can exist for that
 * pair, so a name outside this rule is dropped before any state is made
 * for it: that bounds what one peer can make a node hold by the roster and
 * what the node holds itself. Pure; never blocks, never logs.
 */
bool peer_msg_log_may_exist(const struct peer_msg_log *log, const char *peer, const char *self,
                            peer_msg_is_member_fn is_member, void *arg);

/* Frees what peer_msg_decode allocated and zeroes *m. Accepts a zeroed m. */
void peer_msg_clear(struct peer_msg *m);

#endif
