/*
 * keys: a member's, a client's or a governor's key set, on disk and in
 * memory. Owns every secret key: secrets live in sodium_malloc memory, are
 * wiped on free, and never leave this module except the CURVE transport
 * secret that libzmq needs as bytes. Other modules ask for operations
 * (sign, pair key, a derived store key) instead of key bytes.
 *
 * Key files are proto/keyfile's small text files of "name = base64" lines.
 * A secret file is written 0600 and refused on load when its group or
 * others can read it; a public file (kind member-public) can be pasted into
 * a roster source.
 */
#ifndef TMBUS_KEYS_H
#define TMBUS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "keyfile.h"
#include "util.h"

#define KEYS_PUBLIC_BYTES       WIRE_KEY_BYTES /* Ed25519, X25519 and CURVE public keys */
#define KEYS_SIGNATURE_BYTES    64             /* Ed25519 detached signature */
#define KEYS_PAIR_KEY_BYTES     32             /* shared key of two X25519 key pairs */
#define KEYS_CURVE_SECRET_BYTES WIRE_KEY_BYTES
#define KEYS_STORE_KEY_BYTES    32          /* the key the store seals its blobs with */
#define KEYS_FILE_MAX           KEYFILE_MAX /* largest key file we read */

enum keys_kind {
    KEYS_MEMBER = 1,   /* Ed25519 signing + X25519 encryption + CURVE transport */
    KEYS_CLIENT = 2,   /* CURVE transport only */
    KEYS_GOVERNOR = 3, /* Ed25519 only, for signing rosters */
};

/* The public half of a member's keys, as read from a member-public file. */
struct keys_public {
    char member[UTIL_MEMBER_ID_MAX + 1];
    uint8_t sign_pk[KEYS_PUBLIC_BYTES];
    uint8_t box_pk[KEYS_PUBLIC_BYTES];
    uint8_t transport_pk[KEYS_PUBLIC_BYTES];
};

/* A loaded or generated key set. Public fields a kind does not have are
 * zero; member is "" for clients. */
struct keyset {
    enum keys_kind kind;
    char member[UTIL_MEMBER_ID_MAX + 1];
    uint8_t sign_pk[KEYS_PUBLIC_BYTES];
    uint8_t box_pk[KEYS_PUBLIC_BYTES];
    uint8_t transport_pk[KEYS_PUBLIC_BYTES];
    struct keyfile_secret *secret; /* sodium_malloc'd; only keys.c reads it */
};

/* Generates fresh keys of the given kind. member must be a member id for
 * KEYS_MEMBER and KEYS_GOVERNOR (the member holding the governance key) and
 * NULL for KEYS_CLIENT. Returns NULL on failure (logged). */
struct keyset *keys_generate(enum keys_kind kind, const char *member);

/* Derives a key set deterministically from a 32-byte seed, for test
 * vectors and fuzzers only: each key pair's seed is BLAKE2b-256 keyed by
 * seed over "tmbus seed sign", "tmbus seed box" or "tmbus seed transport".
 * Returns NULL on failure. */
struct keyset *keys_from_seed(enum keys_kind kind, const char *member, const uint8_t seed[32]);

/* Wipes the secrets, frees the set, sets *ksp to NULL. Accepts NULL. */
void keys_free(struct keyset **ksp);

/* Exchanges the contents of two key sets, secrets included (no copy of a
 * secret is made: the pointers change hands). A rotation puts its new keys
 * in force this way, in the one set every module borrows. */
void keys_swap(struct keyset *a, struct keyset *b);

/* Writes the secret file (mode 0600, atomically; refuses to replace an
 * existing file) and, for members, governors and clients, the public file
 * (mode 0644). Either path may be NULL to skip it. Returns 0 or -1
 * (logged). */
int keys_save(const struct keyset *ks, const char *secret_path, const char *public_path);

/* Loads a secret key file. Refuses a file that is not a regular file, that
 * group or others can read or write, that is larger than KEYS_FILE_MAX, or
 * whose public keys do not match its secrets. Returns NULL on failure with
 * the reason logged. */
struct keyset *keys_load(const char *path);

/* Loads a public key file of kind member-public (or the public half of a
 * member secret file) into *out. Returns 0 or -1 (logged). */
int keys_load_public(const char *path, struct keys_public *out);

/* Loads a governor's public key file: the holding member into member
 * (UTIL_MEMBER_ID_MAX + 1 bytes) and the Ed25519 key into sign_pk.
 * Returns 0 or -1 (logged). */
int keys_load_governor_public(const char *path, char *member, uint8_t *sign_pk);

/* Ed25519 detached signature over msg with the set's signing key (members
 * and governors only). Returns 0 or -1. */
int keys_sign(const struct keyset *ks, const uint8_t *msg, size_t len,
              uint8_t sig[KEYS_SIGNATURE_BYTES]);

/* The symmetric key this member shares with the holder of peer_box_pk:
 * BLAKE2b-256("tmbus pair v1\0" || X25519(our secret, peer_pk) || the two
 * public keys in byte order). Both sides compute the same key. out should
 * be sodium_malloc'd memory. Returns -1 for a low-order peer key. */
int keys_pair_key(const struct keyset *ks, const uint8_t peer_box_pk[KEYS_PUBLIC_BYTES],
                  uint8_t out[KEYS_PAIR_KEY_BYTES]) __attribute__((warn_unused_result));

/* The key that seals what this member's store keeps at rest:
 * BLAKE2b-256 keyed with the member's X25519 secret over the label
 * "tmbus store v1" and its NUL. Deterministic, so the node finds the same
 * key after a restart; a copy of the data directory without the key file
 * cannot derive it. A new box key (rotation) derives a new store key.
 * Members only. Returns KEYS_STORE_KEY_BYTES bytes of sodium_malloc
 * memory that the caller releases with keys_store_key_free, or NULL
 * (logged). */
uint8_t *keys_derive_store_key(const struct keyset *ks) __attribute__((warn_unused_result));

/* Wipes and frees a key from keys_derive_store_key, sets *keyp to NULL.
 * Accepts NULL. */
void keys_store_key_free(uint8_t **keyp);

/* The CURVE secret key for libzmq's ZMQ_CURVE_SECRETKEY (members, clients).
 * Points into sodium_malloc memory owned by ks; do not copy it elsewhere. */
const uint8_t *keys_transport_secret(const struct keyset *ks);

/* Encodes len bytes as standard base64 into out (size >= 4*((len+2)/3)+1). */
void keys_to_base64(const uint8_t *bin, size_t len, char *out, size_t size);

/* Decodes base64 text of exactly want bytes. Returns 0 or -1. */
int keys_from_base64(const char *text, uint8_t *bin, size_t want);

#endif
