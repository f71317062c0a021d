/*
 * gen_vectors: prints the envelope's known-answer vectors:
 * tests/vectors/envelope-v1.txt (one relayed envelope, every step) and,
 * with the argument "cases", tests/vectors/envelope-v1-cases.txt (a direct
 * log, the first envelope of a log, a body past the smallest bucket). Each
 * envelope comes from envelope_seal with fixed randomness; the
 * intermediate values are taken apart from it (protobuf-c, a decryption
 * with the fixed payload key) or recomputed where envelope.c keeps them
 * inside, and each recomputed stanza must be found in the real header or
 * nothing is printed. With "run" it prints tests/vectors/envelope-v1-run.txt:
 * three chained envelopes of one log, the run a peer may verify with one
 * signature. With "pruned" it prints tests/vectors/envelope-v1-pruned.txt:
 * the pruned form of envelope-v1.txt's envelope (PROTOCOL.md 5.8).
 * tests/unit/test_vectors.c then checks every value again from raw
 * libsodium calls.
 *
 *   gen_vectors > tests/vectors/envelope-v1.txt
 *   gen_vectors cases > tests/vectors/envelope-v1-cases.txt
 *   gen_vectors run > tests/vectors/envelope-v1-run.txt
 *   gen_vectors pruned > tests/vectors/envelope-v1-pruned.txt
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"
#include "envelope.pb-c.h"
#include "keys.h"
#include "log.h"

#define N_MEMBERS 3 /* EE sends, UA and PL receive */
#define COALITION "tallinn-mechanism"
#define SEQ       2
#define ROSTER_V  3
#define CREATED   1767225600 /* 2026-01-01T00:00:00Z */
#define EXPIRES   1769904000 /* 2026-02-01T00:00:00Z */
#define PAYLOAD   "need: two incident responders for a regional grid operator, TLP:AMBER"

static const char *const ids[N_MEMBERS] = {"EE", "UA", "PL"};

/* Fixed inputs: byte patterns anyone can type in. */
static void pattern(uint8_t *out, size_t len, uint8_t first)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(first + i);
}

static void put_hex(const char *name, const uint8_t *bin, size_t len)
{
    printf("%s = ", name);
    for (size_t i = 0; i < len; i++)
        printf("%02x", bin[i]);
    printf("\n");
}

static void put_text(const char *name, const char *text)
{
    printf("# %s: \"%s\"\n", name, text);
    put_hex(name, (const uint8_t *)text, strlen(text));
}

static void put_name_hex(const char *prefix, const char *member, const char *suffix,
                         const uint8_t *bin, size_t len)
{
    char name[64];

    snprintf(name, sizeof(name), "%s%s%s", prefix, member, suffix);
    put_hex(name, bin, len);
}

/* BLAKE2b-256 keyed by key over label (without NUL): keys_from_seed's
 * per-purpose seed. */
static void sub_seed(uint8_t out[32], const uint8_t seed[32], const char *label)
{
    crypto_generichash(out, 32, (const uint8_t *)label, strlen(label), seed, 32);
}

/* The fixed inputs of envelope-v1.txt and its envelope, sealed by
 * envelope_seal: print_v1 takes it apart, print_pruned prunes it. */
struct v1 {
    uint8_t seeds[N_MEMBERS][32];
    uint8_t nonce[ENVELOPE_NONCE_BYTES], pkey[ENVELOPE_KEY_BYTES], prev[ENVELOPE_HASH_BYTES];
    struct keyset *ks[N_MEMBERS];
    struct envelope_info info;
    uint8_t *buf;
    size_t len;
};

static void seal_v1(struct v1 *v)
{
    struct envelope_recipient rcpt[N_MEMBERS - 1];
    struct envelope_seal_args a = {0};
    struct envelope_keyring *kr;

    for (size_t i = 0; i < N_MEMBERS; i++) {
        pattern(v->seeds[i], 32, (uint8_t)(0x20 * i));
        ensure((v->ks[i] = keys_from_seed(KEYS_MEMBER, ids[i], v->seeds[i])) != NULL);
    }
    pattern(v->prev, sizeof(v->prev), 0x80);
    pattern(v->nonce, sizeof(v->nonce), 0xa0);
    pattern(v->pkey, sizeof(v->pkey), 0xc0);

    for (size_t i = 1; i < N_MEMBERS; i++) {
        rcpt[i - 1].member = ids[i];
        rcpt[i - 1].box_pk = v->ks[i]->box_pk;
    }
    a.coalition = COALITION;
    a.seq = SEQ;
    a.prev_hash = v->prev;
    a.roster_version = ROSTER_V;
    a.created_at = CREATED;
    a.expires_at = EXPIRES;
    a.payload = (const uint8_t *)PAYLOAD;
    a.payload_len = strlen(PAYLOAD);
    a.recipients = rcpt;
    a.n_recipients = N_MEMBERS - 1;
    a.fixed_nonce = v->nonce;
    a.fixed_payload_key = v->pkey;
    ensure((kr = envelope_keyring_new(v->ks[0])) != NULL);
    if (envelope_seal(kr, &a, &v->buf, &v->len, &v->info) != ENVELOPE_OK)
        fatalx("envelope_seal failed");
    envelope_keyring_free(&kr);
}

static int print_v1(void)
{
    struct v1 v;
    uint8_t(*seeds)[32] = v.seeds, *nonce = v.nonce, *pkey = v.pkey, *prev = v.prev;
    uint8_t pair[KEYS_PAIR_KEY_BYTES], wrap[ENVELOPE_KEY_BYTES];
    uint8_t stanza[ENVELOPE_STANZA_BYTES], shared[crypto_scalarmult_BYTES];
    uint8_t sub[32], pk[32], sk[64];
    struct keyset **ks = v.ks;
    struct envelope_info info;
    Tmbus__Envelope__Envelope *env;
    Tmbus__Envelope__Header *hdr;
    uint8_t *buf, *padded, *msg;
    size_t len, padded_len, body_len, msg_len;

    seal_v1(&v);
    info = v.info;
    buf = v.buf;
    len = v.len;

    ensure((env = tmbus__envelope__envelope__unpack(NULL, len, buf)) != NULL);
    ensure((hdr = tmbus__envelope__header__unpack(NULL, env->header.len, env->header.data)) !=
           NULL);
    ensure(hdr->n_stanzas == N_MEMBERS - 1 && hdr->key_commitment.len == ENVELOPE_HASH_BYTES);
    padded_len = env->ciphertext.len - crypto_aead_xchacha20poly1305_ietf_ABYTES;
    ensure((padded = malloc(padded_len)) != NULL);
    ensure(crypto_aead_xchacha20poly1305_ietf_decrypt(padded, NULL, NULL, env->ciphertext.data,
                                                      env->ciphertext.len, env->header.data,
                                                      env->header.len, nonce, pkey) == 0);
    ensure(sodium_unpad(&body_len, padded, padded_len, padded_len) == 0);

    printf("# tmbus envelope format version 1: known-answer vectors.\n");
    printf("# Written by tests/vectors/gen_vectors; checked by tests/unit/test_vectors.c.\n");
    printf("# README.md in this folder explains each step. Format: \"name = value\"\n");
    printf("# lines; '#' starts a comment line. Values are lowercase hex, except\n");
    printf("# seq, roster_version, created_at and expires_at, which are decimal.\n");
    printf("# Strings are given as the hex of their UTF-8 bytes, without a NUL.\n\n");

    printf("## Inputs\n\n");
    printf("# Each member's 32-byte key seed (keys_from_seed).\n");
    for (size_t i = 0; i < N_MEMBERS; i++)
        put_name_hex("", ids[i], ".seed", seeds[i], 32);
    printf("\n");
    put_text("coalition", COALITION);
    put_text("sender", ids[0]);
    printf("# Recipients in the order the sender lists them (the body keeps it).\n");
    put_text("recipient.0", ids[1]);
    put_text("recipient.1", ids[2]);
    printf("# A relayed log (log_kind 1, no log_peer).\n");
    printf("seq = %d\nroster_version = %d\ncreated_at = %d\nexpires_at = %d\n", SEQ, ROSTER_V,
           CREATED, EXPIRES);
    printf("# The id of seq 1 in the same log (any 32 bytes for this vector).\n");
    put_hex("prev_hash", prev, ENVELOPE_HASH_BYTES);
    printf("# Opaque payload bytes (a real one is a serialized tmbus.payload.Payload).\n");
    put_text("payload", PAYLOAD);
    printf("# Randomness, fixed here: the nonce N and the payload key K.\n");
    put_hex("nonce", nonce, ENVELOPE_NONCE_BYTES);
    put_hex("payload_key", pkey, ENVELOPE_KEY_BYTES);

    printf("\n## Member keys\n\n");
    printf("# sign_seed = BLAKE2b-256(key = seed, \"tmbus seed sign\"), box_seed likewise\n");
    printf("# with \"tmbus seed box\" (labels without NUL). sign_pk from\n");
    printf("# crypto_sign_seed_keypair(sign_seed) (RFC 8032); box_sk = first 32 bytes\n");
    printf("# of SHA-512(box_seed) (crypto_box_seed_keypair), box_pk = X25519(box_sk, 9).\n");
    for (size_t i = 0; i < N_MEMBERS; i++) {
        sub_seed(sub, seeds[i], "tmbus seed sign");
        put_name_hex("", ids[i], ".sign_seed", sub, 32);
        crypto_sign_seed_keypair(pk, sk, sub);
        ensure(memcmp(pk, ks[i]->sign_pk, 32) == 0);
        put_name_hex("", ids[i], ".sign_pk", ks[i]->sign_pk, 32);
        sub_seed(sub, seeds[i], "tmbus seed box");
        put_name_hex("", ids[i], ".box_seed", sub, 32);
        crypto_box_seed_keypair(pk, sk, sub);
        ensure(memcmp(pk, ks[i]->box_pk, 32) == 0);
        put_name_hex("", ids[i], ".box_sk", sk, 32);
        put_name_hex("", ids[i], ".box_pk", ks[i]->box_pk, 32);
    }

    printf("\n## Recipient stanzas\n\n");
    printf("# shared = X25519(EE.box_sk, R.box_pk) = X25519(R.box_sk, EE.box_pk).\n");
    printf("# pair = BLAKE2b-256(\"tmbus pair v1\\0\" || shared || the two box_pk,\n");
    printf("#        smaller first).\n");
    printf("# wrap = BLAKE2b-256(key = pair, \"tmbus wrap v1\\0\" || EE.box_pk ||\n");
    printf("#        R.box_pk || nonce).\n");
    printf("# stanza = XChaCha20-Poly1305(key = wrap, nonce, AD = \"\", payload_key).\n");
    for (size_t i = 1; i < N_MEMBERS; i++) {
        bool found = false;
        sub_seed(sub, seeds[0], "tmbus seed box");
        crypto_box_seed_keypair(pk, sk, sub);
        ensure(crypto_scalarmult(shared, sk, ks[i]->box_pk) == 0);
        put_name_hex("shared.EE-", ids[i], "", shared, sizeof(shared));
        ensure(keys_pair_key(ks[0], ks[i]->box_pk, pair) == 0);
        put_name_hex("pair.EE-", ids[i], "", pair, sizeof(pair));
        crypto_generichash_state st;
        crypto_generichash_init(&st, pair, sizeof(pair), sizeof(wrap));
        crypto_generichash_update(&st, (const uint8_t *)"tmbus wrap v1", 14);
        crypto_generichash_update(&st, ks[0]->box_pk, 32);
        crypto_generichash_update(&st, ks[i]->box_pk, 32);
        crypto_generichash_update(&st, nonce, ENVELOPE_NONCE_BYTES);
        crypto_generichash_final(&st, wrap, sizeof(wrap));
        put_name_hex("wrap.", ids[i], "", wrap, sizeof(wrap));
        crypto_aead_xchacha20poly1305_ietf_encrypt(stanza, NULL, pkey, ENVELOPE_KEY_BYTES, NULL, 0,
                                                   NULL, nonce, wrap);
        put_name_hex("stanza.", ids[i], "", stanza, sizeof(stanza));
        for (size_t j = 0; j < hdr->n_stanzas; j++)
            found |= hdr->stanzas[j].len == sizeof(stanza) &&
                     memcmp(hdr->stanzas[j].data, stanza, sizeof(stanza)) == 0;
        if (!found)
            fatalx("the recomputed stanza for %s is not in the header", ids[i]);
    }
    printf("# The header lists the stanzas sorted bytewise: this one first.\n");
    put_hex("stanza.first", hdr->stanzas[0].data, hdr->stanzas[0].len);

    printf("\n## Header, body, signature\n\n");
    printf("# key_commitment = BLAKE2b-256(key = payload_key, \"tmbus commit v1\\0\" ||\n");
    printf("#                  nonce).\n");
    put_hex("key_commitment", hdr->key_commitment.data, hdr->key_commitment.len);
    printf("# The serialized Header (proto/envelope.proto), fields in number order.\n");
    put_hex("header", env->header.data, env->header.len);
    printf("# The serialized Body{sender, recipients, payload}, then padded with\n");
    printf("# ISO 7816-4 (0x80, zeros) to the smallest bucket 256 * 2^i > its length.\n");
    put_hex("body", padded, body_len);
    put_hex("padded_body", padded, padded_len);
    printf("# XChaCha20-Poly1305(key = payload_key, nonce, AD = header, padded_body).\n");
    put_hex("ciphertext", env->ciphertext.data, env->ciphertext.len);
    printf("# ciphertext_hash = BLAKE2b-256(ciphertext), unkeyed.\n");
    put_hex("ciphertext_hash", info.ciphertext_hash, sizeof(info.ciphertext_hash));
    msg_len = 18 + env->header.len + ENVELOPE_HASH_BYTES;
    ensure((msg = malloc(msg_len)) != NULL);
    memcpy(msg, "tmbus envelope v1", 18);
    memcpy(msg + 18, env->header.data, env->header.len);
    memcpy(msg + 18 + env->header.len, info.ciphertext_hash, ENVELOPE_HASH_BYTES);
    printf("# signed_message = \"tmbus envelope v1\\0\" || header || ciphertext_hash.\n");
    put_hex("signed_message", msg, msg_len);
    printf("# signature = Ed25519(EE's signing key, signed_message).\n");
    put_hex("signature", env->signature.data, env->signature.len);
    printf("# envelope_id = BLAKE2b-256(\"tmbus id v1\\0\" || header || ciphertext_hash ||\n");
    printf("#               signature).\n");
    put_hex("envelope_id", info.id, sizeof(info.id));
    printf("# The serialized Envelope{header, ciphertext, signature}.\n");
    put_hex("envelope", buf, len);

    free(msg);
    sodium_memzero(padded, padded_len);
    free(padded);
    tmbus__envelope__header__free_unpacked(hdr, NULL);
    tmbus__envelope__envelope__free_unpacked(env, NULL);
    free(buf);
    for (size_t i = 0; i < N_MEMBERS; i++)
        keys_free(&ks[i]);
    sodium_memzero(sk, sizeof(sk));
    return 0;
}

/* ---- envelope-v1-cases.txt ---------------------------------------------- */

/* One more envelope by EE, with the members' keys of envelope-v1.txt. */
struct vcase {
    const char *name;    /* prefix of every value of the case */
    const char *comment; /* what the case shows */
    const char *log_peer;
    size_t n_recipients;
    const char *recipients[N_MEMBERS - 1];
    uint64_t seq;
    uint8_t prev_first; /* prev_hash pattern; unused when seq is 1 */
    uint64_t roster_version;
    int64_t created_at;
    int64_t expires_at;
    const char *payload;
    size_t payload_len; /* 0: strlen(payload); else the pattern is repeated */
    uint8_t nonce_first;
    uint8_t key_first;
};

/* Body = 4 (sender) + 2 * 4 (recipients) + 3 (payload tag and a two-byte
 * length) + 241 = 256 bytes, exactly the smallest bucket: with the
 * mandatory 0x80 it pads to the next one, 512. */
#define LARGE_PAYLOAD_LEN 241

static const struct vcase cases[] = {
    {"direct",
     "EE's direct (TLP:RED) log to UA: log_kind 2, log_peer UA, one stanza.",
     "UA",
     1,
     {"UA"},
     4,
     0x60,
     3,
     1767312000,
     1767916800,
     "need_update: TLP:RED contact for the substation team, call before 18:00",
     0,
     0x10,
     0x40},
    {"first",
     "The first envelope of EE's relayed log: seq 1, no prev_hash (field 7 absent),\n"
     "# no expiry (expires_at 0, field 10 absent).",
     NULL,
     2,
     {"UA", "PL"},
     1,
     0,
     1,
     1767225600,
     0,
     "offer: 40 EDR licences for one year, TLP:GREEN",
     0,
     0x30,
     0x50},
    {"large",
     "A body of exactly 256 bytes, the smallest bucket: padding needs one byte more,\n"
     "# so it goes to the next bucket, 512.",
     NULL,
     2,
     {"UA", "PL"},
     7,
     0x70,
     3,
     1767398400,
     1775001600,
     "need: satellite terminals with power kits for field teams; ",
     LARGE_PAYLOAD_LEN,
     0xe0,
     0x90},
};

/* The case's payload: the text, or the text repeated to payload_len. */
static uint8_t *case_payload(const struct vcase *c, size_t *len)
{
    size_t n = c->payload_len ? c->payload_len : strlen(c->payload), k = strlen(c->payload);
    uint8_t *p = malloc(n);

    ensure(p != NULL);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)c->payload[i % k];
    *len = n;
    return p;
}

static void put_case_hex(const struct vcase *c, const char *what, const uint8_t *bin, size_t len)
{
    char name[128];

    snprintf(name, sizeof(name), "%s.%s", c->name, what);
    put_hex(name, bin, len);
}

static void put_case_text(const struct vcase *c, const char *what, const uint8_t *text, size_t len)
{
    char name[128];

    snprintf(name, sizeof(name), "%s.%s", c->name, what);
    printf("# %s: \"%.*s\"\n", name, (int)len, (const char *)text);
    put_hex(name, text, len);
}

static void print_case(const struct vcase *c, struct keyset *const *ks)
{
    uint8_t nonce[ENVELOPE_NONCE_BYTES], pkey[ENVELOPE_KEY_BYTES], prev[ENVELOPE_HASH_BYTES];
    uint8_t pair[KEYS_PAIR_KEY_BYTES], wrap[ENVELOPE_KEY_BYTES], stanza[ENVELOPE_STANZA_BYTES];
    struct envelope_recipient rcpt[N_MEMBERS - 1];
    struct envelope_seal_args a = {0};
    struct envelope_keyring *kr;
    struct envelope_info info;
    Tmbus__Envelope__Envelope *env;
    Tmbus__Envelope__Header *hdr;
    uint8_t *payload, *buf, *padded, *msg;
    size_t payload_len, len, padded_len, body_len, msg_len;
    char what[64];

    pattern(nonce, sizeof(nonce), c->nonce_first);
    pattern(pkey, sizeof(pkey), c->key_first);
    pattern(prev, sizeof(prev), c->prev_first);
    payload = case_payload(c, &payload_len);
    for (size_t i = 0; i < c->n_recipients; i++) {
        size_t m = 1;
        while (strcmp(ids[m], c->recipients[i]) != 0)
            m++;
        rcpt[i].member = ids[m];
        rcpt[i].box_pk = ks[m]->box_pk;
    }
    a.coalition = COALITION;
    a.log_peer = c->log_peer;
    a.seq = c->seq;
    a.prev_hash = c->seq > 1 ? prev : NULL;
    a.roster_version = c->roster_version;
    a.created_at = c->created_at;
    a.expires_at = c->expires_at;
    a.payload = payload;
    a.payload_len = payload_len;
    a.recipients = rcpt;
    a.n_recipients = c->n_recipients;
    a.fixed_nonce = nonce;
    a.fixed_payload_key = pkey;
    ensure((kr = envelope_keyring_new(ks[0])) != NULL);
    if (envelope_seal(kr, &a, &buf, &len, &info) != ENVELOPE_OK)
        fatalx("envelope_seal failed for case %s", c->name);
    envelope_keyring_free(&kr);

    ensure((env = tmbus__envelope__envelope__unpack(NULL, len, buf)) != NULL);
    ensure((hdr = tmbus__envelope__header__unpack(NULL, env->header.len, env->header.data)) !=
           NULL);
    ensure(hdr->n_stanzas == c->n_recipients);
    padded_len = env->ciphertext.len - crypto_aead_xchacha20poly1305_ietf_ABYTES;
    ensure((padded = malloc(padded_len)) != NULL);
    ensure(crypto_aead_xchacha20poly1305_ietf_decrypt(padded, NULL, NULL, env->ciphertext.data,
                                                      env->ciphertext.len, env->header.data,
                                                      env->header.len, nonce, pkey) == 0);
    ensure(sodium_unpad(&body_len, padded, padded_len, padded_len) == 0);

    printf("\n## Case %s\n\n# %s\n", c->name, c->comment);
    printf("%s.recipients = %zu\n", c->name, c->n_recipients);
    for (size_t i = 0; i < c->n_recipients; i++) {
        snprintf(what, sizeof(what), "recipient.%zu", i);
        put_case_text(c, what, (const uint8_t *)c->recipients[i], strlen(c->recipients[i]));
    }
    if (c->log_peer != NULL)
        put_case_text(c, "log_peer", (const uint8_t *)c->log_peer, strlen(c->log_peer));
    printf("%s.seq = %" PRIu64 "\n%s.roster_version = %" PRIu64 "\n", c->name, c->seq, c->name,
           c->roster_version);
    printf("%s.created_at = %" PRId64 "\n%s.expires_at = %" PRId64 "\n", c->name, c->created_at,
           c->name, c->expires_at);
    if (c->seq > 1)
        put_case_hex(c, "prev_hash", prev, sizeof(prev));
    if (c->payload_len == 0) {
        put_case_text(c, "payload", payload, payload_len);
    } else {
        printf("# %s.payload: \"%s\" repeated to %zu bytes.\n", c->name, c->payload, payload_len);
        put_case_hex(c, "payload", payload, payload_len);
    }
    put_case_hex(c, "nonce", nonce, sizeof(nonce));
    put_case_hex(c, "payload_key", pkey, sizeof(pkey));
    for (size_t i = 0; i < c->n_recipients; i++) {
        bool found = false;
        crypto_generichash_state st;

        ensure(keys_pair_key(ks[0], rcpt[i].box_pk, pair) == 0);
        crypto_generichash_init(&st, pair, sizeof(pair), sizeof(wrap));
        crypto_generichash_update(&st, (const uint8_t *)"tmbus wrap v1", 14);
        crypto_generichash_update(&st, ks[0]->box_pk, 32);
        crypto_generichash_update(&st, rcpt[i].box_pk, 32);
        crypto_generichash_update(&st, nonce, sizeof(nonce));
        crypto_generichash_final(&st, wrap, sizeof(wrap));
        snprintf(what, sizeof(what), "wrap.%s", rcpt[i].member);
        put_case_hex(c, what, wrap, sizeof(wrap));
        crypto_aead_xchacha20poly1305_ietf_encrypt(stanza, NULL, pkey, sizeof(pkey), NULL, 0, NULL,
                                                   nonce, wrap);
        snprintf(what, sizeof(what), "stanza.%s", rcpt[i].member);
        put_case_hex(c, what, stanza, sizeof(stanza));
        for (size_t j = 0; j < hdr->n_stanzas; j++)
            found |= hdr->stanzas[j].len == sizeof(stanza) &&
                     memcmp(hdr->stanzas[j].data, stanza, sizeof(stanza)) == 0;
        if (!found)
            fatalx("case %s: the recomputed stanza for %s is not in the header", c->name,
                   rcpt[i].member);
    }
    put_case_hex(c, "key_commitment", hdr->key_commitment.data, hdr->key_commitment.len);
    put_case_hex(c, "header", env->header.data, env->header.len);
    put_case_hex(c, "body", padded, body_len);
    put_case_hex(c, "padded_body", padded, padded_len);
    put_case_hex(c, "ciphertext", env->ciphertext.data, env->ciphertext.len);
    put_case_hex(c, "ciphertext_hash", info.ciphertext_hash, sizeof(info.ciphertext_hash));
    msg_len = 18 + env->header.len + ENVELOPE_HASH_BYTES;
    ensure((msg = malloc(msg_len)) != NULL);
    memcpy(msg, "tmbus envelope v1", 18);
    memcpy(msg + 18, env->header.data, env->header.len);
    memcpy(msg + 18 + env->header.len, info.ciphertext_hash, ENVELOPE_HASH_BYTES);
    put_case_hex(c, "signed_message", msg, msg_len);
    put_case_hex(c, "signature", env->signature.data, env->signature.len);
    put_case_hex(c, "envelope_id", info.id, sizeof(info.id));
    put_case_hex(c, "envelope", buf, len);

    free(msg);
    sodium_memzero(padded, padded_len);
    free(padded);
    tmbus__envelope__header__free_unpacked(hdr, NULL);
    tmbus__envelope__envelope__free_unpacked(env, NULL);
    free(buf);
    free(payload);
}

static int print_cases(void)
{
    uint8_t seeds[N_MEMBERS][32];
    struct keyset *ks[N_MEMBERS];

    for (size_t i = 0; i < N_MEMBERS; i++) {
        pattern(seeds[i], 32, (uint8_t)(0x20 * i));
        ensure((ks[i] = keys_from_seed(KEYS_MEMBER, ids[i], seeds[i])) != NULL);
    }
    printf("# tmbus envelope format version 1: more known-answer vectors.\n");
    printf("# Written by \"tests/vectors/gen_vectors cases\"; checked by\n");
    printf("# tests/unit/test_vectors.c. Same format and the same steps as\n");
    printf("# envelope-v1.txt, whose member seeds and keys (EE, UA, PL) and coalition\n");
    printf("# these envelopes use; EE sends every one. Each name starts with its case.\n");
    printf("# A value that is absent is empty on the wire: no prev_hash for seq 1,\n");
    printf("# no log_peer for a relayed log; such fields are left out of the header.\n");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        print_case(&cases[i], ks);
    for (size_t i = 0; i < N_MEMBERS; i++)
        keys_free(&ks[i]);
    return 0;
}

#define RUN_LENGTH  3
#define RUN_PAYLOAD "offer: spare forensic laptops, item "

/* Three envelopes of EE's relayed log, seq 1 to 3, each chained to the one
 * before by its id (which covers the signature): a run. */
static int print_run(void)
{
    uint8_t seeds[N_MEMBERS][32], nonce[ENVELOPE_NONCE_BYTES], pkey[ENVELOPE_KEY_BYTES];
    uint8_t prev[ENVELOPE_HASH_BYTES];
    struct keyset *ks[N_MEMBERS];
    struct envelope_recipient rcpt[N_MEMBERS - 1];
    struct envelope_keyring *kr;
    char payload[64], name[64];

    for (size_t i = 0; i < N_MEMBERS; i++) {
        pattern(seeds[i], 32, (uint8_t)(0x20 * i));
        ensure((ks[i] = keys_from_seed(KEYS_MEMBER, ids[i], seeds[i])) != NULL);
    }
    for (size_t i = 1; i < N_MEMBERS; i++) {
        rcpt[i - 1].member = ids[i];
        rcpt[i - 1].box_pk = ks[i]->box_pk;
    }
    ensure((kr = envelope_keyring_new(ks[0])) != NULL);
    printf("# tmbus envelope format version 1: a run of three chained envelopes.\n");
    printf("# Written by \"tests/vectors/gen_vectors run\"; checked by\n");
    printf("# tests/unit/test_vectors.c. Member seeds, keys (EE, UA, PL) and coalition\n");
    printf("# are those of envelope-v1.txt. EE's relayed log, seq 1 to 3, for UA and PL,\n");
    printf("# roster_version %d, expires_at 0. Each envelope's prev_hash is the previous\n",
           ROSTER_V);
    printf("# envelope's id, and the id covers the signature, so a valid signature on\n");
    printf("# run.3 vouches for run.1 and run.2 as well (PROTOCOL.md 4.3).\n");
    for (int k = 1; k <= RUN_LENGTH; k++) {
        struct envelope_seal_args a = {0};
        struct envelope_info info;
        Tmbus__Envelope__Envelope *env;
        uint8_t *buf;
        size_t len;

        snprintf(payload, sizeof(payload), "%s%d", RUN_PAYLOAD, k);
        pattern(nonce, sizeof(nonce), (uint8_t)(0x10 * k));
        pattern(pkey, sizeof(pkey), (uint8_t)(0x10 * k + 0x08));
        a.coalition = COALITION;
        a.seq = (uint64_t)k;
        a.prev_hash = k > 1 ? prev : NULL;
        a.roster_version = ROSTER_V;
        a.created_at = CREATED + k;
        a.payload = (const uint8_t *)payload;
        a.payload_len = strlen(payload);
        a.recipients = rcpt;
        a.n_recipients = N_MEMBERS - 1;
        a.fixed_nonce = nonce;
        a.fixed_payload_key = pkey;
        if (envelope_seal(kr, &a, &buf, &len, &info) != ENVELOPE_OK)
            fatalx("envelope_seal failed");
        ensure((env = tmbus__envelope__envelope__unpack(NULL, len, buf)) != NULL);
        printf("\n## run.%d: seq %d\n\n", k, k);
        snprintf(name, sizeof(name), "run.%d.created_at", k);
        printf("%s = %" PRId64 "\n", name, a.created_at);
        snprintf(name, sizeof(name), "run.%d.payload", k);
        put_text(name, payload);
        snprintf(name, sizeof(name), "run.%d.nonce", k);
        put_hex(name, nonce, sizeof(nonce));
        snprintf(name, sizeof(name), "run.%d.payload_key", k);
        put_hex(name, pkey, sizeof(pkey));
        snprintf(name, sizeof(name), "run.%d.header", k);
        put_hex(name, env->header.data, env->header.len);
        snprintf(name, sizeof(name), "run.%d.ciphertext_hash", k);
        put_hex(name, info.ciphertext_hash, sizeof(info.ciphertext_hash));
        snprintf(name, sizeof(name), "run.%d.signature", k);
        put_hex(name, env->signature.data, env->signature.len);
        printf("# BLAKE2b-256(\"tmbus id v1\\0\" || header || ciphertext_hash || signature);\n");
        printf("# the next envelope's prev_hash.\n");
        snprintf(name, sizeof(name), "run.%d.envelope_id", k);
        put_hex(name, info.id, sizeof(info.id));
        snprintf(name, sizeof(name), "run.%d.envelope", k);
        put_hex(name, buf, len);
        memcpy(prev, info.id, sizeof(prev));
        tmbus__envelope__envelope__free_unpacked(env, NULL);
        free(buf);
    }
    envelope_keyring_free(&kr);
    for (size_t i = 0; i < N_MEMBERS; i++)
        keys_free(&ks[i]);
    return 0;
}

/* The sender's keys for envelope_inspect; arg is the struct v1. */
static int lookup_v1(void *arg, const char *member, const char *log_peer, uint64_t seq,
                     struct envelope_member_keys *out)
{
    const struct v1 *v = arg;

    (void)log_peer;
    (void)seq;
    if (strcmp(member, ids[0]) != 0)
        return -1;
    memcpy(out->sign_pk, v->ks[0]->sign_pk, sizeof(out->sign_pk));
    memcpy(out->box_pk, v->ks[0]->box_pk, sizeof(out->box_pk));
    return 0;
}

/* tests/vectors/envelope-v1-pruned.txt: the pruned form of envelope-v1's
 * envelope (PROTOCOL.md 5.8), which keeps its id and verifies. */
static int print_pruned(void)
{
    struct v1 v;
    struct envelope_info info;
    uint8_t *pruned;
    size_t pruned_len;

    seal_v1(&v);
    ensure(envelope_prune(v.buf, v.len, &pruned, &pruned_len) == 1);
    ensure(envelope_inspect(pruned, pruned_len, COALITION, lookup_v1, &v, &info) == ENVELOPE_OK);
    ensure(info.is_pruned && memcmp(info.id, v.info.id, sizeof(info.id)) == 0);

    printf("# tmbus envelope format version 1: the pruned form (PROTOCOL.md 5.8) of\n");
    printf("# the envelope of envelope-v1.txt. Written by tests/vectors/gen_vectors\n");
    printf("# pruned; checked by tests/unit/test_vectors.c. Same format as\n");
    printf("# envelope-v1.txt, whose values these refer to.\n\n");
    printf("# ciphertext_hash = BLAKE2b-256(ciphertext), as in envelope-v1.txt.\n");
    put_hex("pruned.ciphertext_hash", v.info.ciphertext_hash, ENVELOPE_HASH_BYTES);
    printf("# The id is the full envelope's: it covers the hash, not the ciphertext.\n");
    put_hex("pruned.envelope_id", info.id, sizeof(info.id));
    printf("# Envelope{header = 1, signature = 3, ciphertext_hash = 4}, fields in\n");
    printf("# number order, no field 2: header and signature as in envelope-v1.txt.\n");
    put_hex("pruned.envelope", pruned, pruned_len);
    free(pruned);
    free(v.buf);
    for (size_t i = 0; i < N_MEMBERS; i++)
        keys_free(&v.ks[i]);
    return 0;
}

int main(int argc, char **argv)
{
    log_init("gen_vectors", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        fatalx("sodium_init failed");
    if (argc == 2 && strcmp(argv[1], "cases") == 0)
        return print_cases();
    if (argc == 2 && strcmp(argv[1], "run") == 0)
        return print_run();
    if (argc == 2 && strcmp(argv[1], "pruned") == 0)
        return print_pruned();
    if (argc != 1) {
        fprintf(stderr, "usage: gen_vectors [cases | run | pruned]\n");
        return 2;
    }
    return print_v1();
}
