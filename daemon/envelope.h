/*
 * envelope: the end-to-end layer. Pure crypto over bytes and keys: no I/O,
 * no globals, no roster; the caller supplies member keys through a lookup
 * function. Seals a payload for 1..ENVELOPE_MAX_RECIPIENTS members, verifies
 * an envelope with public keys only (the relay path) and opens one addressed
 * to us (the recipient path). Never exposes protobuf types.
 *
 * Construction (version 1), with H = BLAKE2b-256 and header = the exact
 * serialized Header bytes:
 *   payload key K    32 random bytes; nonce N 24 random bytes
 *   commitment       H(key = K, "tmbus commit v1\0" || N)
 *   body             Body{sender, recipients, payload}, padded with
 *                    sodium_pad (ISO 7816-4) to the smallest bucket
 *                    256 * 2^i that holds it plus one byte
 *   ciphertext       XChaCha20-Poly1305(K, N, AD = header, padded body)
 *   signature        Ed25519(sender, "tmbus envelope v1\0" || header ||
 *                    H(ciphertext))
 *   envelope id      H("tmbus id v1\0" || header || H(ciphertext) ||
 *                    signature); the next envelope of the log carries it
 *                    as prev_hash, so it commits to the signature too
 *   stanza for R     XChaCha20-Poly1305(W, N, AD = "", K), 48 bytes, where
 *                    W = H(key = P, "tmbus wrap v1\0" || sender box key ||
 *                    R's box key || N) and P = keys_pair_key(sender, R)
 *   stanza order     sorted bytewise, so position says nothing of who
 *
 * Recipient wrapping, measured with bench/bench_envelope (see README): a
 * per-pair key P costs one X25519 the first time a pair is used and is then
 * cached in the keyring, so wrapping for R costs one BLAKE2b and one 32-byte
 * AEAD, about 1 µs, against about 60 µs for crypto_box_seal's fresh
 * ephemeral X25519 per recipient. What we give up: sealed boxes hide the
 * sender from the stanza and give per-message ephemeral keys on the sender's
 * side; with static pairs, theft of either member's X25519 secret opens all
 * traffic between the two (with sealed boxes, only the recipient's). The
 * sender is named and signed in the header anyway, and recipient-key theft
 * breaks sealed boxes just as fully, so the loss is small against a 20x to
 * 60x cheaper broadcast. The wrap key W mixes in the fresh nonce, so no two
 * envelopes ever use the same (key, nonce).
 */
#ifndef TMBUS_ENVELOPE_H
#define TMBUS_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "util.h"
#include "wire_limits.h"

/* Named limits, all checked before or right after parsing. */
#define ENVELOPE_MAX_SIZE        (1024 * 1024) /* whole serialized envelope */
#define ENVELOPE_MAX_HEADER      (16 * 1024)   /* serialized header */
#define ENVELOPE_MAX_RECIPIENTS  WIRE_MAX_RECIPIENTS
#define ENVELOPE_MAX_PAYLOAD     WIRE_MAX_PAYLOAD /* opaque payload bytes */
#define ENVELOPE_MIN_BUCKET      256
#define ENVELOPE_MAX_BUCKET      (512 * 1024) /* largest padded body */
#define ENVELOPE_COALITION_MAX   WIRE_COALITION_MAX
#define ENVELOPE_HASH_BYTES      32
#define ENVELOPE_NONCE_BYTES     24
#define ENVELOPE_KEY_BYTES       32
#define ENVELOPE_STANZA_BYTES    48 /* wrapped key + Poly1305 tag */
#define ENVELOPE_SIGNATURE_BYTES 64
#define ENVELOPE_VERSION         1

/* Why an envelope was refused. Each has a name for logs and counters. */
enum envelope_status {
    ENVELOPE_OK = 0,
    ENVELOPE_E_SIZE,          /* over a named size limit, checked before parsing */
    ENVELOPE_E_MALFORMED,     /* not a well-formed Envelope/Header/Body */
    ENVELOPE_E_FIELD,         /* a field out of its bounds or of the wrong length */
    ENVELOPE_E_VERSION,       /* unknown format version */
    ENVELOPE_E_COALITION,     /* sealed for another coalition */
    ENVELOPE_E_SENDER,        /* sender unknown to the roster or its key not usable */
    ENVELOPE_E_SIGNATURE,     /* Ed25519 signature does not verify */
    ENVELOPE_E_NOT_RECIPIENT, /* no stanza opens with our keys */
    ENVELOPE_E_COMMITMENT,    /* unwrapped key does not match the key commitment */
    ENVELOPE_E_DECRYPT,       /* body AEAD failed */
    ENVELOPE_E_PADDING,       /* padded body not a bucket, or bad padding */
    ENVELOPE_E_BODY,          /* body disagrees with header (sender, recipients) */
    ENVELOPE_E_PRUNED,        /* ours, but pruned: its ciphertext is gone */
    ENVELOPE_E_INTERNAL,      /* out of memory or a libsodium failure */
    ENVELOPE_STATUS_COUNT
};

/* A short stable name for a status ("bad-signature"), for logs and
 * counters. Never NULL. */
const char *envelope_status_name(enum envelope_status st);

#define ENVELOPE_MAX_OLDER_KEYS 16 /* older key generations one lookup may offer */

/* One generation of a member's public keys. */
struct envelope_key_pair {
    uint8_t sign_pk[KEYS_PUBLIC_BYTES];
    uint8_t box_pk[KEYS_PUBLIC_BYTES];
};

/* What the caller's roster says about a member: its current public keys,
 * and the older generations that may have signed the envelope at hand
 * (retired keys whose signing window covers its log and seq), tried in
 * order when the current one does not verify. The lookup returns 0 when
 * the member is known and its keys may be used, -1 otherwise (unknown, or
 * keys revoked). out arrives zeroed, so a lookup that knows only current
 * keys leaves n_older at 0. */
struct envelope_member_keys {
    uint8_t sign_pk[KEYS_PUBLIC_BYTES];
    uint8_t box_pk[KEYS_PUBLIC_BYTES];
    size_t n_older;
    struct envelope_key_pair older[ENVELOPE_MAX_OLDER_KEYS];
};
/* member, log_peer ("" for the relayed log) and seq are the envelope's
 * header fields, already checked for form. */
typedef int (*envelope_lookup_fn)(void *arg, const char *member, const char *log_peer, uint64_t seq,
                                  struct envelope_member_keys *out);

/* The verified cleartext facts of an envelope. */
struct envelope_info {
    uint32_t version;
    char coalition[ENVELOPE_COALITION_MAX + 1];
    char sender[UTIL_MEMBER_ID_MAX + 1];
    bool is_direct;                        /* direct (TLP:RED) log */
    char log_peer[UTIL_MEMBER_ID_MAX + 1]; /* direct logs: the named recipient */
    uint64_t seq;
    bool has_prev; /* false exactly when seq == 1 */
    uint8_t prev_hash[ENVELOPE_HASH_BYTES];
    uint64_t roster_version;
    int64_t created_at;
    int64_t expires_at; /* 0: never */
    size_t n_stanzas;
    uint8_t id[ENVELOPE_HASH_BYTES]; /* envelope id, see above */
    uint8_t ciphertext_hash[ENVELOPE_HASH_BYTES];
    bool is_pruned; /* the pruned form: the hash stands in for the ciphertext */
};

/* An opened body. recipients[i] point into storage owned by the body. */
struct envelope_body {
    char sender[UTIL_MEMBER_ID_MAX + 1];
    size_t n_recipients;
    char **recipients;
    uint8_t *payload; /* opaque: a serialized tmbus.payload.Payload */
    size_t payload_len;
};

/* Frees an opened body (wiping the payload) and sets *bp to NULL. Accepts
 * NULL. */
void envelope_body_free(struct envelope_body **bp);

/* Our member's keys plus a cache of pair keys, both in sodium_malloc
 * memory. Not thread-safe: one keyring per thread. */
struct envelope_keyring;

/* Borrows self (which must outlive the keyring; a KEYS_MEMBER set). Returns
 * NULL on failure. */
struct envelope_keyring *envelope_keyring_new(const struct keyset *self);

#define ENVELOPE_MAX_OTHER_KEYS 2 /* our other generations a keyring tries */

/* Borrows other (which must outlive the keyring): another generation of
 * our own member's keys, whose box secret opens what was sealed to it
 * (a rotation's old or next keys, previous_keys). Seals and signatures
 * stay self's. Returns 0, or -1 when full or not our member's keys. */
int envelope_keyring_add(struct envelope_keyring *kr, const struct keyset *other);

/* Wipes the pair-key cache, frees, sets *krp to NULL. Accepts NULL. */
void envelope_keyring_free(struct envelope_keyring **krp);

/* One recipient of a seal. box_pk comes from the roster. */
struct envelope_recipient {
    const char *member;
    const uint8_t *box_pk;
};

/* Everything a seal needs besides our keys. */
struct envelope_seal_args {
    const char *coalition;
    const char *log_peer;     /* NULL: relayed log; else direct log to this member */
    uint64_t seq;             /* >= 1 */
    const uint8_t *prev_hash; /* id of seq - 1; NULL exactly when seq == 1 */
    uint64_t roster_version;
    int64_t created_at;
    int64_t expires_at; /* 0: never */
    const uint8_t *payload;
    size_t payload_len; /* <= ENVELOPE_MAX_PAYLOAD */
    const struct envelope_recipient *recipients;
    size_t n_recipients; /* 1..ENVELOPE_MAX_RECIPIENTS, distinct members */
    /* Test vectors only: fixed randomness. Leave NULL in real use. */
    const uint8_t *fixed_nonce;       /* ENVELOPE_NONCE_BYTES */
    const uint8_t *fixed_payload_key; /* ENVELOPE_KEY_BYTES */
};

/* Seals a payload: signs with our signing key and encrypts for every
 * recipient. On success *out is a malloc'd envelope the caller frees, and
 * info (if not NULL) holds its cleartext facts and id. Does not block. */
enum envelope_status envelope_seal(struct envelope_keyring *kr, const struct envelope_seal_args *a,
                                   uint8_t **out, size_t *out_len, struct envelope_info *info)
    __attribute__((warn_unused_result));

/* The relay path: checks size before parsing, parses strictly (no unknown
 * fields, exact lengths, canonical encoding), checks the coalition and the
 * signature against the sender's key from lookup (its current key, then
 * any older generation the lookup offers for this log position). Needs no secret key and
 * learns nothing of the body. Fills *info on success. Does not check seq or
 * prev_hash against a log: that is replication's job. */
enum envelope_status envelope_verify(const uint8_t *env, size_t len, const char *coalition,
                                     envelope_lookup_fn lookup, void *lookup_arg,
                                     struct envelope_info *info)
    __attribute__((warn_unused_result));

/* envelope_verify without the signature: size, strict decoding, fields,
 * coalition and the sender's keys being usable, and info with the id. For
 * a caller that decides cheaply whether the envelope is worth a signature
 * check at all (a duplicate, a stale or out-of-order seq, a halted log).
 * Nothing in info is proven: never store, relay or act on it beyond
 * dropping the envelope, before envelope_verify returned ENVELOPE_OK. */
enum envelope_status envelope_inspect(const uint8_t *env, size_t len, const char *coalition,
                                      envelope_lookup_fn lookup, void *lookup_arg,
                                      struct envelope_info *info);

/* Where an envelope claims to sit and its signature, read without hashing,
 * verifying or copying anything. */
struct envelope_peek {
    char sender[UTIL_MEMBER_ID_MAX + 1];
    char log_peer[UTIL_MEMBER_ID_MAX + 1]; /* "" for the relayed log */
    uint64_t seq;
    const uint8_t *signature; /* ENVELOPE_SIGNATURE_BYTES inside the envelope */
};

/* Reads Envelope.signature and Header.sender, log_kind, log_peer and seq
 * from the wire bytes: sizes checked against ENVELOPE_MAX_SIZE and
 * ENVELOPE_MAX_HEADER, no field twice, the three ids well formed, seq >= 1
 * and a signature of ENVELOPE_SIGNATURE_BYTES; every other field is
 * skipped unread. No cryptography, no allocation. Nothing in *out is
 * proven: a caller may use it only to recognise bytes it already holds
 * verified (a duplicate), never to store, relay or act on them. Returns 0,
 * or -1 when env is not shaped like an envelope. */
int envelope_peek(const uint8_t *env, size_t len, struct envelope_peek *out)
    __attribute__((warn_unused_result));

/* The recipient path: everything envelope_verify does, then finds our
 * stanza (ENVELOPE_E_NOT_RECIPIENT when none opens; ENVELOPE_E_PRUNED when
 * one does but the envelope is pruned), checks the key commitment, decrypts, removes the padding,
 * and checks the body (sender matches the header, we are among exactly n_stanzas distinct
 * recipients). On success *body is ours to free with envelope_body_free. */
enum envelope_status envelope_open(struct envelope_keyring *kr, const uint8_t *env, size_t len,
                                   const char *coalition, envelope_lookup_fn lookup,
                                   void *lookup_arg, struct envelope_info *info,
                                   struct envelope_body **body) __attribute__((warn_unused_result));

/* envelope_open without checking the signature again, for a caller that
 * holds exactly these bytes, unchanged, from an envelope_verify that
 * returned ENVELOPE_OK with the same coalition and lookup (the relay path:
 * verify, store, then see whether it is ours). Everything else is checked
 * as in envelope_open. Never use it on bytes from anywhere else. */
enum envelope_status envelope_open_verified(struct envelope_keyring *kr, const uint8_t *env,
                                            size_t len, const char *coalition,
                                            envelope_lookup_fn lookup, void *lookup_arg,
                                            struct envelope_info *info, struct envelope_body **body)
    __attribute__((warn_unused_result));

/* The pruned form of an envelope (PROTOCOL.md 5.8): the same header and
 * signature, with H(ciphertext) in place of the ciphertext, so that it
 * keeps its id and still verifies. For a caller that holds env verified
 * (the store's retention); it parses env strictly but checks no signature.
 * Returns 1 with a malloc'd *out the caller frees, 0 when env is pruned
 * already (*out NULL), -1 when env is no envelope or memory ran out.
 * Does not block. */
int envelope_prune(const uint8_t *env, size_t len, uint8_t **out, size_t *out_len)
    __attribute__((warn_unused_result));

/* BLAKE2b-256 of data, for digests that are not envelopes (the board's).
 * Never fails. */
void envelope_hash(const uint8_t *data, size_t len, uint8_t out[ENVELOPE_HASH_BYTES]);

#endif
