/*
 * audit: the node's tamper-evident audit log, an append-only Merkle tree
 * in the style of Certificate Transparency (RFC 9162 hashing, BLAKE2b-256).
 * Every leaf is one small structured entry (when, what, by whom, about
 * which envelope, with which outcome), never a payload or a secret; the
 * node signs checkpoints (epoch, tree size, root, time) with its member
 * key, so that a history rewritten, truncated or reordered afterwards no
 * longer matches a signed root; a log whose store lost what it signed
 * begins a new epoch that its peers record (PROTOCOL.md 13.2). Appends are queued in memory with
 * the tree's frontier (O(log n) hashing each) and written by audit_flush into the batch the loop
 * round commits anyway: no fsync of their own. The pure functions (codec, hashing, proofs) need no
 * node and are what `tmbus-admin audit` and the fuzzers call.
 */
#ifndef TMBUS_AUDIT_H
#define TMBUS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "stats.h"
#include "store.h"

#define AUDIT_HASH_BYTES        32  /* BLAKE2b-256 */
#define AUDIT_FORMAT            1   /* first byte of every encoded entry */
#define AUDIT_ACTOR_MAX         64  /* a member id or a client name */
#define AUDIT_DETAIL_MAX        128 /* a reason or a query name; longer is cut */
#define AUDIT_ENTRY_MAX         512 /* largest encoded entry (fits every field at its max) */
#define AUDIT_MAX_DEPTH         64  /* a tree of up to 2^64 - 1 leaves */
#define AUDIT_PROOF_MAX         AUDIT_MAX_DEPTH
#define AUDIT_CHECKPOINT_DOMAIN "tmbus audit checkpoint v1" /* signed with its NUL */
/* A checkpoint of an epoch above 0 is signed under this domain, with the
 * epoch (PROTOCOL.md 13.2); epoch 0 keeps the bytes of the first version,
 * so that checkpoints signed before epochs existed still verify. */
#define AUDIT_CHECKPOINT_DOMAIN_EPOCH "tmbus audit checkpoint v2"
/* A checkpoint is signed every AUDIT_CHECKPOINT_ENTRIES entries, or at the
 * first flush AUDIT_CHECKPOINT_SECONDS after the last one when entries
 * came since, and when the node stops. */
#define AUDIT_CHECKPOINT_ENTRIES 1024
#define AUDIT_CHECKPOINT_SECONDS 60
/* Queued entries that make a flush due even in a round with no batch of
 * its own (audit_is_due); a quiet node flushes after AUDIT_FLUSH_SECONDS. */
#define AUDIT_FLUSH_ENTRIES 4096
#define AUDIT_FLUSH_SECONDS 1

/* What an entry records. Values are part of the encoding: never reuse. */
enum audit_kind {
    AUDIT_ENVELOPE = 1, /* an envelope from a peer, accepted or refused */
    AUDIT_POST = 2,     /* a client's post, sealed or refused */
    AUDIT_ACK = 3,      /* a client's ack of its inbox up to seq */
    AUDIT_QUERY = 4,    /* a client's board, report, delivery or status query */
    AUDIT_ROSTER = 5,   /* a roster put in force (seq: its version) or refused */
    AUDIT_ALARM = 6,    /* equivocation: the log at origin/peer/seq halted */
    AUDIT_RELOAD = 7,   /* a configuration reload, applied or refused */
    AUDIT_START = 8,    /* the node started (seq: the tree size it found) */
    AUDIT_EPOCH = 9,    /* a log began a new epoch (seq: the epoch; id: the old root) */
    AUDIT_KIND_MAX_ = 9
};

enum audit_outcome { AUDIT_OK = 1, AUDIT_REFUSED = 2, AUDIT_OUTCOME_MAX_ = 2 };

enum audit_actor {
    AUDIT_BY_NODE = 1,   /* the node itself; actor is its member id */
    AUDIT_BY_MEMBER = 2, /* a peer's node; actor is the member id */
    AUDIT_BY_CLIENT = 3, /* a client; actor is its name ("" unknown), key is set */
    AUDIT_ACTOR_MAX_ = 3
};

/* One entry, decoded. Strings are printable ASCII. */
struct audit_entry {
    int64_t at_ms; /* Unix time in milliseconds */
    enum audit_kind kind;
    enum audit_outcome outcome;
    enum audit_actor actor_kind;
    char actor[AUDIT_ACTOR_MAX + 1];
    bool has_key;
    uint8_t key[KEYS_PUBLIC_BYTES]; /* the client's CURVE key */
    /* The subject: a log position (origin, peer, seq) and an envelope id
     * when there is one; empty strings and 0 otherwise. */
    char origin[UTIL_MEMBER_ID_MAX + 1];
    char peer[UTIL_MEMBER_ID_MAX + 1];
    uint64_t seq;
    bool has_id;
    uint8_t id[AUDIT_HASH_BYTES];
    char detail[AUDIT_DETAIL_MAX + 1]; /* the reason, or the query's name */
};

/* A signed checkpoint: member's Ed25519 signature over
 * AUDIT_CHECKPOINT_DOMAIN, its NUL, len(member) as one byte, member, size
 * (8 bytes big-endian), root, at (8 bytes big-endian, Unix seconds); for
 * an epoch above 0, AUDIT_CHECKPOINT_DOMAIN_EPOCH, its NUL, len(member),
 * member, epoch (8 bytes big-endian), then size, root and at alike. */
struct audit_checkpoint {
    uint64_t epoch; /* 0 until the member's log was first started again */
    uint64_t size;
    uint8_t root[AUDIT_HASH_BYTES];
    int64_t at;
    char member[UTIL_MEMBER_ID_MAX + 1];
    uint8_t sig[KEYS_SIGNATURE_BYTES];
};

/* ---- pure functions ---------------------------------------------------- */

/* Encodes e into buf (size >= AUDIT_ENTRY_MAX always suffices). Strings
 * longer than their field or not printable ASCII are cut at the first
 * offending byte. Returns the length, or -1 when e's enums are out of
 * range or buf is too small. */
int audit_entry_encode(const struct audit_entry *e, uint8_t *buf, size_t size);

/* Decodes one encoded entry: every length is checked against its limit
 * before it is read, and trailing bytes are refused. Returns 0, or -1 for
 * anything malformed. Never allocates. */
int audit_entry_decode(const uint8_t *buf, size_t len, struct audit_entry *out)
    __attribute__((warn_unused_result));

/* The name of a kind, outcome or actor kind ("envelope", "refused", ...). */
const char *audit_kind_name(enum audit_kind k);
const char *audit_outcome_name(enum audit_outcome o);
const char *audit_actor_name(enum audit_actor a);

/* RFC 9162 hashing with BLAKE2b-256: a leaf is H(0x00 || entry bytes), an
 * inner node H(0x01 || left || right), the empty tree H(""). */
void audit_hash_leaf(const uint8_t *entry, size_t len, uint8_t out[AUDIT_HASH_BYTES]);
void audit_hash_node(const uint8_t left[AUDIT_HASH_BYTES], const uint8_t right[AUDIT_HASH_BYTES],
                     uint8_t out[AUDIT_HASH_BYTES]);

/* A tree's right edge: the roots of its complete subtrees, one per set
 * bit of size. Appending costs O(log n) hashes; nothing else is kept. */
struct audit_frontier {
    uint64_t size;
    uint8_t hash[AUDIT_MAX_DEPTH][AUDIT_HASH_BYTES]; /* hash[k]: 2^k leaves, if bit k */
};

/* Appends a leaf hash. */
void audit_frontier_append(struct audit_frontier *f, const uint8_t leaf[AUDIT_HASH_BYTES]);

/* The tree's root (the empty tree's for size 0). */
void audit_frontier_root(const struct audit_frontier *f, uint8_t out[AUDIT_HASH_BYTES]);

/* Gives the leaf hash at index i of the tree being proved; 0 or -1. */
typedef int (*audit_leaf_fn)(void *arg, uint64_t i, uint8_t out[AUDIT_HASH_BYTES]);

/* The inclusion proof of leaf index in the tree of the first size leaves
 * (RFC 9162 2.1.3.1), leaf side first, into proof (AUDIT_PROOF_MAX
 * hashes). Reads every leaf of the tree once: O(size) hashing, for tools
 * and tests. Returns the number of hashes, or -1 (index >= size, a leaf
 * that could not be read). */
int audit_prove_inclusion(audit_leaf_fn leaf, void *arg, uint64_t size, uint64_t index,
                          uint8_t proof[][AUDIT_HASH_BYTES]);

/* Checks that leaf_hash is leaf index of the tree of size leaves with
 * root (RFC 9162 2.1.3.2). Returns true only for a valid proof. */
bool audit_verify_inclusion(const uint8_t leaf_hash[AUDIT_HASH_BYTES], uint64_t index,
                            uint64_t size, const uint8_t root[AUDIT_HASH_BYTES],
                            const uint8_t proof[][AUDIT_HASH_BYTES], size_t n_proof)
    __attribute__((warn_unused_result));

/* The consistency proof between the trees of the first old_size and
 * new_size leaves, 0 < old_size <= new_size (RFC 9162 2.1.4.1), into proof
 * (AUDIT_PROOF_MAX hashes). O(new_size) hashing. Returns the number of
 * hashes or -1. */
int audit_prove_consistency(audit_leaf_fn leaf, void *arg, uint64_t old_size, uint64_t new_size,
                            uint8_t proof[][AUDIT_HASH_BYTES]);

/* Checks that the tree of old_size leaves with old_root is a prefix of the
 * tree of new_size leaves with new_root (RFC 9162 2.1.4.2). Returns true
 * only for a valid proof. */
bool audit_verify_consistency(uint64_t old_size, const uint8_t old_root[AUDIT_HASH_BYTES],
                              uint64_t new_size, const uint8_t new_root[AUDIT_HASH_BYTES],
                              const uint8_t proof[][AUDIT_HASH_BYTES], size_t n_proof)
    __attribute__((warn_unused_result));

/* The bytes a checkpoint's signature covers, into buf (AUDIT_SIGNED_MAX).
 * Returns the length. */
#define AUDIT_SIGNED_MAX                                                                           \
    (sizeof(AUDIT_CHECKPOINT_DOMAIN_EPOCH) + 1 + UTIL_MEMBER_ID_MAX + 8 + 8 + 32 + 8)
size_t audit_checkpoint_signed(const struct audit_checkpoint *cp, uint8_t *buf);

/* Checks cp's signature under the member's Ed25519 key sign_pk. */
bool audit_checkpoint_verify(const struct audit_checkpoint *cp,
                             const uint8_t sign_pk[KEYS_PUBLIC_BYTES])
    __attribute__((warn_unused_result));

/* A cosignature: the cosigner's Ed25519 signature over
 * AUDIT_COSIGN_DOMAIN, its NUL, len(cosigner) as one byte, cosigner, and
 * the checkpoint's signed bytes (audit_checkpoint_signed): "cosigner saw
 * member's log at this size and root, consistent with what it held". */
#define AUDIT_COSIGN_DOMAIN "tmbus audit cosignature v1" /* signed with its NUL */
#define AUDIT_COSIGNED_MAX  (sizeof(AUDIT_COSIGN_DOMAIN) + 1 + UTIL_MEMBER_ID_MAX + AUDIT_SIGNED_MAX)
size_t audit_cosignature_signed(const char *cosigner, const struct audit_checkpoint *cp,
                                uint8_t *buf);

/* Checks sig, by cosigner under its Ed25519 key sign_pk, over cp. */
bool audit_cosignature_verify(const char *cosigner, const struct audit_checkpoint *cp,
                              const uint8_t sig[KEYS_SIGNATURE_BYTES],
                              const uint8_t sign_pk[KEYS_PUBLIC_BYTES])
    __attribute__((warn_unused_result));

/* ---- the node's log ---------------------------------------------------- */

struct audit;

/* The audit log of store, signing checkpoints with ks (borrowed; a member
 * key set) as member; stats (borrowed) counts what is written and lost. Reads the tree's saved
 * frontier (or, for a store that has none, rebuilds it from every entry once) and checks it against
 * the last checkpoint of the same size. Returns NULL on failure (logged).
 * Records an AUDIT_START entry. */
struct audit *audit_new(struct store *s, const struct keyset *ks, const char *member,
                        struct stats *stats);

/* Frees the log and what is still queued (the node flushes first). Clears
 * *ap; accepts NULL. */
void audit_free(struct audit **ap);

/* Also takes pk (copied) as one of this node's own signing keys when a
 * peer shows a checkpoint of ours (audit_held_by_peer): another generation
 * of its member's keys that it holds (previous_keys, next_keys), so that a
 * store lost after a rotation is recognised as lost, not as forged. At
 * most AUDIT_OWN_KEYS_MAX; a further one is ignored (logged). */
#define AUDIT_OWN_KEYS_MAX 2
void audit_add_own_key(struct audit *a, const uint8_t pk[KEYS_PUBLIC_BYTES]);

/* Queues one entry: stamps at_ms when it is 0, encodes it and hashes it
 * into the tree. Never blocks, never fails the caller: an entry that
 * cannot be encoded is counted ("audit.dropped") and logged. a may be
 * NULL (tests build a route without a log): then nothing happens. */
void audit_record(struct audit *a, const struct audit_entry *e);

/* True when queued entries should be written even in a round without a
 * batch of its own: enough of them, or the oldest waited long enough. */
bool audit_is_due(const struct audit *a);

/* Writes what is queued, the frontier and, when one is due (or is_final),
 * a signed checkpoint into the open batch. Call it right before the
 * commit. Returns 0 or -1 (logged; the batch must not commit then). */
int audit_flush(struct audit *a, bool is_final);

/* After the commit attempt: on success what was flushed is the log's; on
 * failure it was rolled back with the batch, so the tree returns to the
 * last committed frontier and the lost entries are counted. */
void audit_committed(struct audit *a, bool is_committed);

/* The tree as last committed: its size and root. */
void audit_head(const struct audit *a, uint64_t *size, uint8_t root[AUDIT_HASH_BYTES]);

/* ---- the checkpoint exchange (PROTOCOL.md 13.1) --------------------------
 * The link (peer.c) carries the frames; the checks, the state they keep
 * and the rows they write are here. Every refusal is counted and logged
 * here, once. */

/* The last committed checkpoint into *out. Returns 1, or 0 when the node
 * has signed none yet, or none of the epoch it is in (a new epoch waits
 * for its first checkpoint). */
int audit_latest(const struct audit *a, struct audit_checkpoint *out);

/* The epoch the node's log is in (PROTOCOL.md 13.2): 0 until it was first
 * started again after a loss. */
uint64_t audit_epoch(const struct audit *a);

/* True when every peer checkpoint and cosignature taken is committed: a
 * cosignature goes out only then. */
bool audit_is_settled(const struct audit *a);

/* Asks for a checkpoint at the next flush when entries came since the last
 * one (a link came up: the peer should see a recent one). Never blocks. */
void audit_want_checkpoint(struct audit *a);

/* The consistency proof of the committed log from from_size to size (0 <
 * from_size <= size <= the committed size) into proof (AUDIT_PROOF_MAX
 * hashes), on the caller's thread. The roots of complete aligned blocks of
 * 256 entries are kept in memory once a proof has read them from the
 * store, so only the first proof reads the whole log; the others read a
 * few hundred entries and hash O(size / 256). Counts the entries read in
 * audit.proof-leaves. Returns the number of hashes, or -1 (sizes out of
 * range, a store error; logged). */
int audit_prove_since(struct audit *a, uint64_t from_size, uint64_t size,
                      uint8_t proof[][AUDIT_HASH_BYTES]);

/* Entry index of the committed log into entry (AUDIT_ENTRY_MAX bytes,
 * *len), and its inclusion proof in the tree of the first size entries
 * (index < size <= the committed size) into proof (AUDIT_PROOF_MAX
 * hashes). Reads and hashes as audit_prove_since. Returns the number of
 * hashes, or -1 (out of range, a store error; logged). */
int audit_prove_entry(struct audit *a, uint64_t index, uint64_t size, uint8_t *entry, size_t *len,
                      uint8_t proof[][AUDIT_HASH_BYTES]);

/* What became of a peer's checkpoint. */
enum audit_peer_verdict {
    AUDIT_PEER_COSIGNED,   /* consistent: held now, *cosig is our cosignature */
    AUDIT_PEER_PROVE_FROM, /* the proof does not start at what we hold (*held) */
    AUDIT_PEER_REFUSED,    /* bad signature, or inconsistent: alarm logged, recorded */
};

/*
 * Checks cp, the checkpoint of cp->member (a peer, whose Ed25519 key in the
 * roster in force is sign_pk), against the one we hold of it: its
 * signature; then, when we hold one of size h: an epoch below the one held
 * is refused; a higher epoch is a reset of the peer's log, logged,
 * counted ("audit.epoch-reset") and recorded once (an AUDIT_EPOCH entry
 * naming the checkpoint held), and cp is taken on its signature alone;
 * within the epoch held, from_size must be h (else AUDIT_PEER_PROVE_FROM
 * with *held = h) and proof must show our tree of h a prefix of cp's (a
 * smaller size, or a different root at the same size, is a rewritten or
 * truncated history). A checkpoint taken replaces what we hold (written in
 * the next flush) and is cosigned into cosig. A first checkpoint of a peer
 * is taken on its signature alone. Never blocks.
 */
enum audit_peer_verdict audit_peer_checkpoint(struct audit *a, const struct audit_checkpoint *cp,
                                              const uint8_t sign_pk[KEYS_PUBLIC_BYTES],
                                              uint64_t from_size,
                                              const uint8_t proof[][AUDIT_HASH_BYTES],
                                              size_t n_proof, uint64_t *held,
                                              uint8_t cosig[KEYS_SIGNATURE_BYTES]);

/* The checkpoint we hold of member into *out (what a "prove from" answer
 * shows the member, 13.2). Returns 1, or 0 when we hold none. */
int audit_peer_held(const struct audit *a, const char *member, struct audit_checkpoint *out);

/* What our next checkpoint to a peer must prove, after it said which of
 * ours it holds. */
enum audit_held_answer {
    AUDIT_HELD_PROVE,   /* prove from the size the peer holds */
    AUDIT_HELD_RESTART, /* the peer holds an older epoch: send ours from 0 */
};

/*
 * The peer named our checkpoint held, our signature (held->member is this
 * node) checked under our own key. When our log holds it (same epoch, and
 * its root is our tree's at its size), or it is of our epoch and no larger
 * than the log found at start (a log that holds other entries where our
 * signature says it held these was rewritten: the proof fails at the peer,
 * which alarms), prove from it. When it is beyond the log found at start
 * or of a later epoch (our store lost what we signed: a destroyed disk, an
 * older copy), the log begins the epoch after max(ours, held's): an
 * AUDIT_EPOCH entry records what the peer showed, a checkpoint of the new
 * epoch is signed at the next flush, and AUDIT_HELD_RESTART. A checkpoint
 * of an earlier epoch also gives AUDIT_HELD_RESTART. A held checkpoint
 * whose signature is not ours is ignored (counted
 * "audit.held.bad-signature", logged): AUDIT_HELD_PROVE. Reads the
 * committed log once to check (O(size) hashing, as audit_prove_since), on
 * the caller's thread.
 */
enum audit_held_answer audit_held_by_peer(struct audit *a, const char *peer,
                                          const struct audit_checkpoint *held);

/* Takes cosigner's cosignature sig of our checkpoint of size, checked
 * under cosigner's key sign_pk, or next_pk (NULL when none) during a
 * rotation's overlap, when the cosigner may sign with either generation;
 * a valid one is written beside the checkpoint in the next flush.
 * Returns 0, or -1 (no such checkpoint, a bad signature: counted and
 * logged). */
int audit_peer_cosignature(struct audit *a, const char *cosigner, uint64_t size,
                           const uint8_t sig[KEYS_SIGNATURE_BYTES],
                           const uint8_t sign_pk[KEYS_PUBLIC_BYTES], const uint8_t *next_pk);

#endif
