/*
 * test_vectors: checks the known-answer vectors in tests/vectors/
 * envelope-v1.txt, envelope-v1-cases.txt, envelope-v1-run.txt and
 * envelope-v1-pruned.txt two ways. First every
 * intermediate value is recomputed from raw libsodium calls and a
 * hand-written protobuf encoder, never through envelope.c or keys.c, so
 * that the files and the construction written in envelope.h agree on their
 * own; then envelope_seal must produce each file's envelope byte for byte,
 * its recipients must open it and nobody else may.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "envelope.h"
#include "keys.h"
#include "util.h"

#define VECTORS_FILE TMBUS_VECTORS_DIR "/envelope-v1.txt"
#define CASES_FILE   TMBUS_VECTORS_DIR "/envelope-v1-cases.txt"
#define RUN_FILE     TMBUS_VECTORS_DIR "/envelope-v1-run.txt"
#define PRUNED_FILE  TMBUS_VECTORS_DIR "/envelope-v1-pruned.txt"
#define RUN_LENGTH   3
#define MAX_ENTRIES  256
#define MAX_VALUE    (64 * 1024)
#define AEAD_TAG     crypto_aead_xchacha20poly1305_ietf_ABYTES
#define N_MEMBERS    3

static const char *const ids[N_MEMBERS] = {"EE", "UA", "PL"}; /* sender first */

/* ---- the vector file: "name = value" lines, '#' comment lines ---------- */

struct entry {
    char name[64];
    char *value;
};

static struct entry entries[MAX_ENTRIES];
static size_t n_entries;

/* Adds the file's values to the one table: the cases file's names all
 * start with their case, so no name is given twice. */
static void parse_vectors(const char *path)
{
    uint8_t *text;
    size_t len;
    char *line, *save = NULL;

    if (util_read_file(path, 1024 * 1024, &text, &len) == -1)
        fail_msg("cannot read %s", path);
    text = realloc(text, len + 1);
    assert_non_null(text);
    text[len] = '\0';
    for (line = strtok_r((char *)text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq, *name = line, *value, *end;
        if (line[0] == '#' || line[strspn(line, " \t\r")] == '\0')
            continue;
        eq = strstr(line, " = ");
        if (eq == NULL)
            fail_msg("vector line without \" = \": %.40s", line);
        *eq = '\0';
        value = eq + 3;
        for (end = value + strlen(value); end > value && (end[-1] == '\r' || end[-1] == ' ');)
            *--end = '\0';
        assert_true(n_entries < MAX_ENTRIES);
        assert_true(strlen(name) < sizeof(entries[0].name));
        for (size_t i = 0; i < n_entries; i++)
            if (strcmp(entries[i].name, name) == 0)
                fail_msg("duplicate vector %s", name);
        strcpy(entries[n_entries].name, name);
        entries[n_entries].value = strdup(value);
        assert_non_null(entries[n_entries].value);
        n_entries++;
    }
    free(text);
}

static bool vec_has(const char *name)
{
    for (size_t i = 0; i < n_entries; i++)
        if (strcmp(entries[i].name, name) == 0)
            return true;
    return false;
}

static const char *vec_text(const char *name)
{
    for (size_t i = 0; i < n_entries; i++)
        if (strcmp(entries[i].name, name) == 0)
            return entries[i].value;
    fail_msg("vector %s missing", name);
    return NULL;
}

/* A hex value into a static slot; the returned pointer lives until the
 * slots wrap around (plenty for one test). */
static const uint8_t *vec_hex(const char *name, size_t *len)
{
    static uint8_t slots[16][MAX_VALUE];
    static size_t next;
    const char *hex = vec_text(name);
    uint8_t *out = slots[next++ % 16];
    size_t got;
    const char *end;

    if (sodium_hex2bin(out, MAX_VALUE, hex, strlen(hex), NULL, &got, &end) != 0 || *end != '\0')
        fail_msg("vector %s is not hex", name);
    if (len != NULL)
        *len = got;
    return out;
}

/* A hex value that must be exactly want bytes long. */
static const uint8_t *vec_fixed(const char *name, size_t want)
{
    size_t len;
    const uint8_t *v = vec_hex(name, &len);

    if (len != want)
        fail_msg("vector %s is %zu bytes, want %zu", name, len, want);
    return v;
}

static uint64_t vec_u64(const char *name)
{
    const char *s = vec_text(name);
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*s == '\0' || *end != '\0')
        fail_msg("vector %s is not a decimal number", name);
    return v;
}

static const uint8_t *member_vec(const char *id, const char *what, size_t want)
{
    char name[128];

    snprintf(name, sizeof(name), "%s.%s", id, what);
    return vec_fixed(name, want);
}

static void assert_vec(const char *name, const uint8_t *got, size_t len)
{
    size_t want_len;
    const uint8_t *want = vec_hex(name, &want_len);

    if (want_len != len || memcmp(want, got, len) != 0)
        fail_msg("%s differs from the vector file", name);
}

/* ---- a minimal protobuf encoder for the three messages ---------------- */

struct pb {
    uint8_t buf[MAX_VALUE];
    size_t len;
};

static void pb_varint(struct pb *p, uint64_t v)
{
    do {
        assert_true(p->len < sizeof(p->buf));
        p->buf[p->len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
}

/* proto3: a scalar at its default value is not written. */
static void pb_uint(struct pb *p, unsigned field, uint64_t v)
{
    if (v == 0)
        return;
    pb_varint(p, (uint64_t)field << 3 | 0);
    pb_varint(p, v);
}

/* Length-delimited; empty strings and bytes are not written, except for
 * repeated fields (always). */
static void pb_bytes(struct pb *p, unsigned field, const void *data, size_t len, bool repeated)
{
    if (len == 0 && !repeated)
        return;
    pb_varint(p, (uint64_t)field << 3 | 2);
    pb_varint(p, len);
    assert_true(p->len + len <= sizeof(p->buf));
    memcpy(p->buf + p->len, data, len);
    p->len += len;
}

/* ---- raw libsodium recomputations -------------------------------------- */

static void hash_parts(uint8_t *out, size_t out_len, const uint8_t *key, size_t key_len,
                       const void *a, size_t a_len, const void *b, size_t b_len, const void *c,
                       size_t c_len, const void *d, size_t d_len)
{
    crypto_generichash_state st;

    assert_int_equal(crypto_generichash_init(&st, key, key_len, out_len), 0);
    crypto_generichash_update(&st, a, a_len);
    crypto_generichash_update(&st, b, b_len);
    crypto_generichash_update(&st, c, c_len);
    crypto_generichash_update(&st, d, d_len);
    crypto_generichash_final(&st, out, out_len);
}

/* The X25519 secret of a member, from its seed as keys_from_seed does. */
static void box_secret(const char *id, uint8_t sk[crypto_box_SECRETKEYBYTES],
                       uint8_t pk[crypto_box_PUBLICKEYBYTES])
{
    uint8_t sub[32];
    const char *label = "tmbus seed box";

    crypto_generichash(sub, sizeof(sub), (const uint8_t *)label, strlen(label),
                       member_vec(id, "seed", 32), 32);
    crypto_box_seed_keypair(pk, sk, sub);
}

static void sign_secret(const char *id, uint8_t sk[crypto_sign_SECRETKEYBYTES],
                        uint8_t pk[crypto_sign_PUBLICKEYBYTES])
{
    uint8_t sub[32];
    const char *label = "tmbus seed sign";

    crypto_generichash(sub, sizeof(sub), (const uint8_t *)label, strlen(label),
                       member_vec(id, "seed", 32), 32);
    crypto_sign_seed_keypair(pk, sk, sub);
}

static void pair_of(const char *r, uint8_t pair[32])
{
    uint8_t ee_sk[32], ee_pk[32], r_sk[32], r_pk[32], shared[32];
    const uint8_t *lo, *hi;

    box_secret("EE", ee_sk, ee_pk);
    box_secret(r, r_sk, r_pk);
    assert_int_equal(crypto_scalarmult(shared, ee_sk, r_pk), 0);
    lo = memcmp(ee_pk, r_pk, 32) <= 0 ? ee_pk : r_pk;
    hi = lo == ee_pk ? r_pk : ee_pk;
    hash_parts(pair, 32, NULL, 0, "tmbus pair v1", 14, shared, 32, lo, 32, hi, 32);
    sodium_memzero(ee_sk, sizeof(ee_sk));
    sodium_memzero(r_sk, sizeof(r_sk));
    sodium_memzero(shared, sizeof(shared));
}

static void wrap_of(const char *r, uint8_t wrap[32])
{
    uint8_t pair[32];

    pair_of(r, pair);
    hash_parts(wrap, 32, pair, 32, "tmbus wrap v1", 14, member_vec("EE", "box_pk", 32), 32,
               member_vec(r, "box_pk", 32), 32, vec_fixed("nonce", 24), 24);
}

/* ---- tests ------------------------------------------------------------- */

static void test_member_keys(void **state)
{
    uint8_t sk[64], pk[32], sub[32];

    (void)state;
    for (size_t i = 0; i < N_MEMBERS; i++) {
        const uint8_t *seed = member_vec(ids[i], "seed", 32);
        struct keyset *ks = keys_from_seed(KEYS_MEMBER, ids[i], seed);

        crypto_generichash(sub, 32, (const uint8_t *)"tmbus seed sign", 15, seed, 32);
        assert_memory_equal(sub, member_vec(ids[i], "sign_seed", 32), 32);
        sign_secret(ids[i], sk, pk);
        assert_memory_equal(pk, member_vec(ids[i], "sign_pk", 32), 32);
        crypto_generichash(sub, 32, (const uint8_t *)"tmbus seed box", 14, seed, 32);
        assert_memory_equal(sub, member_vec(ids[i], "box_seed", 32), 32);
        box_secret(ids[i], sk, pk);
        assert_memory_equal(sk, member_vec(ids[i], "box_sk", 32), 32);
        assert_memory_equal(pk, member_vec(ids[i], "box_pk", 32), 32);
        /* X25519 of the base point, computed on its own. */
        assert_int_equal(crypto_scalarmult_base(pk, sk), 0);
        assert_memory_equal(pk, member_vec(ids[i], "box_pk", 32), 32);

        assert_non_null(ks);
        assert_memory_equal(ks->sign_pk, member_vec(ids[i], "sign_pk", 32), 32);
        assert_memory_equal(ks->box_pk, member_vec(ids[i], "box_pk", 32), 32);
        keys_free(&ks);
    }
    sodium_memzero(sk, sizeof(sk));
}

static void test_pair_keys(void **state)
{
    (void)state;
    for (size_t i = 1; i < N_MEMBERS; i++) {
        uint8_t ee_sk[32], ee_pk[32], r_sk[32], r_pk[32], s1[32], s2[32], pair[32];
        char name[32];
        struct keyset *ee = keys_from_seed(KEYS_MEMBER, "EE", member_vec("EE", "seed", 32));
        struct keyset *r = keys_from_seed(KEYS_MEMBER, ids[i], member_vec(ids[i], "seed", 32));

        box_secret("EE", ee_sk, ee_pk);
        box_secret(ids[i], r_sk, r_pk);
        assert_int_equal(crypto_scalarmult(s1, ee_sk, r_pk), 0);
        assert_int_equal(crypto_scalarmult(s2, r_sk, ee_pk), 0);
        assert_memory_equal(s1, s2, 32);
        snprintf(name, sizeof(name), "shared.EE-%s", ids[i]);
        assert_vec(name, s1, 32);

        pair_of(ids[i], pair);
        snprintf(name, sizeof(name), "pair.EE-%s", ids[i]);
        assert_vec(name, pair, 32);
        /* keys.c agrees from both ends. */
        assert_non_null(ee);
        assert_non_null(r);
        assert_int_equal(keys_pair_key(ee, r_pk, s1), 0);
        assert_memory_equal(s1, pair, 32);
        assert_int_equal(keys_pair_key(r, ee_pk, s2), 0);
        assert_memory_equal(s2, pair, 32);
        keys_free(&ee);
        keys_free(&r);
    }
}

static void test_wrap_keys_and_stanzas(void **state)
{
    uint8_t stanzas[N_MEMBERS - 1][ENVELOPE_STANZA_BYTES];

    (void)state;
    for (size_t i = 1; i < N_MEMBERS; i++) {
        uint8_t wrap[32], key[32];
        char name[32];

        wrap_of(ids[i], wrap);
        snprintf(name, sizeof(name), "wrap.%s", ids[i]);
        assert_vec(name, wrap, 32);
        crypto_aead_xchacha20poly1305_ietf_encrypt(stanzas[i - 1], NULL,
                                                   vec_fixed("payload_key", 32), 32, NULL, 0, NULL,
                                                   vec_fixed("nonce", 24), wrap);
        snprintf(name, sizeof(name), "stanza.%s", ids[i]);
        assert_vec(name, stanzas[i - 1], ENVELOPE_STANZA_BYTES);
        assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
                             key, NULL, NULL, vec_fixed(name, ENVELOPE_STANZA_BYTES),
                             ENVELOPE_STANZA_BYTES, NULL, 0, vec_fixed("nonce", 24), wrap),
                         0);
        assert_memory_equal(key, vec_fixed("payload_key", 32), 32);
    }
    assert_vec("stanza.first",
               memcmp(stanzas[0], stanzas[1], ENVELOPE_STANZA_BYTES) < 0 ? stanzas[0] : stanzas[1],
               ENVELOPE_STANZA_BYTES);
}

static void test_commitment(void **state)
{
    uint8_t c[32];

    (void)state;
    hash_parts(c, 32, vec_fixed("payload_key", 32), 32, "tmbus commit v1", 16,
               vec_fixed("nonce", 24), 24, NULL, 0, NULL, 0);
    assert_vec("key_commitment", c, 32);
}

/* The Header, encoded by hand from the inputs and the stanzas. */
static void encode_header(struct pb *p)
{
    uint8_t s[2][ENVELOPE_STANZA_BYTES];
    size_t len;
    const uint8_t *v;

    memcpy(s[0], vec_fixed("stanza.UA", ENVELOPE_STANZA_BYTES), ENVELOPE_STANZA_BYTES);
    memcpy(s[1], vec_fixed("stanza.PL", ENVELOPE_STANZA_BYTES), ENVELOPE_STANZA_BYTES);
    p->len = 0;
    pb_uint(p, 1, ENVELOPE_VERSION);
    v = vec_hex("coalition", &len);
    pb_bytes(p, 2, v, len, false);
    v = vec_hex("sender", &len);
    pb_bytes(p, 3, v, len, false);
    pb_uint(p, 4, 1); /* LOG_KIND_RELAYED; field 5, log_peer, is empty */
    pb_uint(p, 6, vec_u64("seq"));
    pb_bytes(p, 7, vec_fixed("prev_hash", 32), 32, false);
    pb_uint(p, 8, vec_u64("roster_version"));
    pb_uint(p, 9, vec_u64("created_at"));
    pb_uint(p, 10, vec_u64("expires_at"));
    pb_bytes(p, 11, vec_fixed("nonce", 24), 24, false);
    pb_bytes(p, 12, vec_fixed("key_commitment", 32), 32, false);
    for (int i = 0; i < 2; i++) {
        int first = memcmp(s[0], s[1], ENVELOPE_STANZA_BYTES) < 0 ? 0 : 1;
        pb_bytes(p, 13, s[i == 0 ? first : 1 - first], ENVELOPE_STANZA_BYTES, true);
    }
}

static void test_header(void **state)
{
    static struct pb p;

    (void)state;
    encode_header(&p);
    assert_vec("header", p.buf, p.len);
}

static void test_body_and_ciphertext(void **state)
{
    static struct pb p;
    static uint8_t plain[MAX_VALUE];
    size_t len, bucket, header_len, ct_len;
    const uint8_t *v, *header, *ct;
    uint8_t *padded;

    (void)state;
    p.len = 0;
    v = vec_hex("sender", &len);
    pb_bytes(&p, 1, v, len, false);
    v = vec_hex("recipient.0", &len);
    pb_bytes(&p, 2, v, len, true);
    v = vec_hex("recipient.1", &len);
    pb_bytes(&p, 2, v, len, true);
    v = vec_hex("payload", &len);
    pb_bytes(&p, 3, v, len, false);
    assert_vec("body", p.buf, p.len);

    /* ISO 7816-4 padding to the smallest bucket with room for 0x80. */
    for (bucket = ENVELOPE_MIN_BUCKET; bucket <= p.len; bucket *= 2)
        ;
    padded = p.buf;
    padded[p.len] = 0x80;
    memset(padded + p.len + 1, 0, bucket - p.len - 1);
    assert_vec("padded_body", padded, bucket);

    header = vec_hex("header", &header_len);
    ct = vec_hex("ciphertext", &ct_len);
    assert_int_equal(ct_len, bucket + AEAD_TAG);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
                         plain, NULL, NULL, ct, ct_len, header, header_len, vec_fixed("nonce", 24),
                         vec_fixed("payload_key", 32)),
                     0);
    assert_memory_equal(plain, padded, bucket);
    crypto_aead_xchacha20poly1305_ietf_encrypt(plain, NULL, padded, bucket, header, header_len,
                                               NULL, vec_fixed("nonce", 24),
                                               vec_fixed("payload_key", 32));
    assert_vec("ciphertext", plain, ct_len);
}

static void test_signature_and_id(void **state)
{
    static uint8_t msg[MAX_VALUE];
    uint8_t ct_hash[32], id[32], sig[64], sk[64], pk[32];
    size_t header_len, ct_len, msg_len;
    const uint8_t *header = vec_hex("header", &header_len);
    const uint8_t *ct = vec_hex("ciphertext", &ct_len);

    (void)state;
    crypto_generichash(ct_hash, 32, ct, ct_len, NULL, 0);
    assert_vec("ciphertext_hash", ct_hash, 32);
    memcpy(msg, "tmbus envelope v1", 18);
    memcpy(msg + 18, header, header_len);
    memcpy(msg + 18 + header_len, ct_hash, 32);
    msg_len = 18 + header_len + 32;
    assert_vec("signed_message", msg, msg_len);

    assert_int_equal(crypto_sign_verify_detached(vec_fixed("signature", 64), msg, msg_len,
                                                 member_vec("EE", "sign_pk", 32)),
                     0);
    /* Ed25519 is deterministic: the same key and message, the same bytes. */
    sign_secret("EE", sk, pk);
    crypto_sign_detached(sig, NULL, msg, msg_len, sk);
    assert_vec("signature", sig, 64);
    sodium_memzero(sk, sizeof(sk));
    msg[18] ^= 1;
    assert_int_not_equal(crypto_sign_verify_detached(sig, msg, msg_len, pk), 0);

    hash_parts(id, 32, NULL, 0, "tmbus id v1", 12, header, header_len, ct_hash, 32,
               vec_fixed("signature", 64), 64);
    assert_vec("envelope_id", id, 32);
}

static void test_envelope_bytes(void **state)
{
    static struct pb p;
    size_t header_len, ct_len;
    const uint8_t *header = vec_hex("header", &header_len);
    const uint8_t *ct = vec_hex("ciphertext", &ct_len);

    (void)state;
    p.len = 0;
    pb_bytes(&p, 1, header, header_len, false);
    pb_bytes(&p, 2, ct, ct_len, false);
    pb_bytes(&p, 3, vec_fixed("signature", 64), 64, false);
    assert_vec("envelope", p.buf, p.len);
}

/* ---- through envelope.c ------------------------------------------------ */

static struct keyset *members[N_MEMBERS];

static int lookup(void *arg, const char *member, const char *log_peer, uint64_t seq,
                  struct envelope_member_keys *out)
{
    (void)arg;
    (void)log_peer;
    (void)seq;
    for (size_t i = 0; i < N_MEMBERS; i++)
        if (strcmp(member, ids[i]) == 0) {
            memcpy(out->sign_pk, members[i]->sign_pk, 32);
            memcpy(out->box_pk, members[i]->box_pk, 32);
            return 0;
        }
    return -1;
}

static char coalition[ENVELOPE_COALITION_MAX + 1];

static int setup_members(void **state)
{
    size_t len;
    const uint8_t *v;

    (void)state;
    for (size_t i = 0; i < N_MEMBERS; i++)
        if ((members[i] = keys_from_seed(KEYS_MEMBER, ids[i], member_vec(ids[i], "seed", 32))) ==
            NULL)
            return -1;
    v = vec_hex("coalition", &len);
    if (len > ENVELOPE_COALITION_MAX)
        return -1;
    memcpy(coalition, v, len);
    coalition[len] = '\0';
    return 0;
}

static int teardown_members(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_MEMBERS; i++)
        keys_free(&members[i]);
    return 0;
}

static void test_seal_matches(void **state)
{
    static uint8_t payload[MAX_VALUE], prev[32], nonce[24], key[32];
    struct envelope_recipient rcpt[2];
    struct envelope_seal_args a = {0};
    struct envelope_keyring *kr;
    struct envelope_info info;
    const uint8_t *v;
    uint8_t *out;
    size_t out_len, payload_len;

    (void)state;
    v = vec_hex("payload", &payload_len);
    memcpy(payload, v, payload_len);
    memcpy(prev, vec_fixed("prev_hash", 32), 32);
    memcpy(nonce, vec_fixed("nonce", 24), 24);
    memcpy(key, vec_fixed("payload_key", 32), 32);
    rcpt[0].member = ids[1];
    rcpt[0].box_pk = members[1]->box_pk;
    rcpt[1].member = ids[2];
    rcpt[1].box_pk = members[2]->box_pk;
    a.coalition = coalition;
    a.seq = vec_u64("seq");
    a.prev_hash = prev;
    a.roster_version = vec_u64("roster_version");
    a.created_at = (int64_t)vec_u64("created_at");
    a.expires_at = (int64_t)vec_u64("expires_at");
    a.payload = payload;
    a.payload_len = payload_len;
    a.recipients = rcpt;
    a.n_recipients = 2;
    a.fixed_nonce = nonce;
    a.fixed_payload_key = key;

    kr = envelope_keyring_new(members[0]);
    assert_non_null(kr);
    assert_int_equal(envelope_seal(kr, &a, &out, &out_len, &info), ENVELOPE_OK);
    assert_vec("envelope", out, out_len);
    assert_vec("envelope_id", info.id, 32);
    assert_vec("ciphertext_hash", info.ciphertext_hash, 32);
    free(out);
    envelope_keyring_free(&kr);
}

static void test_verify_and_open(void **state)
{
    size_t env_len, payload_len;
    const uint8_t *env = vec_hex("envelope", &env_len);
    struct envelope_info info;
    struct envelope_body *body = NULL;
    struct envelope_keyring *kr;

    (void)state;
    assert_int_equal(envelope_verify(env, env_len, coalition, lookup, NULL, &info), ENVELOPE_OK);
    assert_string_equal(info.sender, "EE");
    assert_string_equal(info.coalition, coalition);
    assert_false(info.is_direct);
    assert_int_equal(info.seq, vec_u64("seq"));
    assert_true(info.has_prev);
    assert_memory_equal(info.prev_hash, vec_fixed("prev_hash", 32), 32);
    assert_int_equal(info.roster_version, vec_u64("roster_version"));
    assert_int_equal(info.created_at, vec_u64("created_at"));
    assert_int_equal(info.expires_at, vec_u64("expires_at"));
    assert_int_equal(info.n_stanzas, 2);
    assert_vec("envelope_id", info.id, 32);

    for (size_t i = 1; i < N_MEMBERS; i++) {
        const uint8_t *payload;
        kr = envelope_keyring_new(members[i]);
        assert_non_null(kr);
        assert_int_equal(envelope_open(kr, env, env_len, coalition, lookup, NULL, &info, &body),
                         ENVELOPE_OK);
        assert_non_null(body);
        assert_string_equal(body->sender, "EE");
        assert_int_equal(body->n_recipients, 2);
        assert_string_equal(body->recipients[0], "UA");
        assert_string_equal(body->recipients[1], "PL");
        payload = vec_hex("payload", &payload_len);
        assert_int_equal(body->payload_len, payload_len);
        assert_memory_equal(body->payload, payload, payload_len);
        envelope_body_free(&body);
        envelope_keyring_free(&kr);
    }
    /* The sender is not among the recipients: no stanza opens for it. */
    kr = envelope_keyring_new(members[0]);
    assert_non_null(kr);
    assert_int_equal(envelope_open(kr, env, env_len, coalition, lookup, NULL, &info, &body),
                     ENVELOPE_E_NOT_RECIPIENT);
    assert_null(body);
    envelope_keyring_free(&kr);
}

/* ---- envelope-v1-cases.txt --------------------------------------------- */

/* Each case is one more envelope by EE under the keys of envelope-v1.txt;
 * its values are named "<case>.<value>". */
static const char *const case_names[] = {"direct", "first", "large"};

static const char *cname(const char *c, const char *what)
{
    static char names[8][192];
    static size_t next;
    char *out = names[next++ % 8];

    snprintf(out, sizeof(names[0]), "%s.%s", c, what);
    return out;
}

static const uint8_t *case_fixed(const char *c, const char *what, size_t want)
{
    return vec_fixed(cname(c, what), want);
}

static const uint8_t *case_hex(const char *c, const char *what, size_t *len)
{
    return vec_hex(cname(c, what), len);
}

static uint64_t case_u64(const char *c, const char *what)
{
    return vec_u64(cname(c, what));
}

/* The case's recipient i as a NUL-terminated member id. */
static void case_recipient(const char *c, size_t i, char id[UTIL_MEMBER_ID_MAX + 1])
{
    char what[32];
    size_t len;
    const uint8_t *v;

    snprintf(what, sizeof(what), "recipient.%zu", i);
    v = case_hex(c, what, &len);
    assert_true(len >= 1 && len <= UTIL_MEMBER_ID_MAX);
    memcpy(id, v, len);
    id[len] = '\0';
}

static size_t case_recipients(const char *c, char ids_out[][UTIL_MEMBER_ID_MAX + 1])
{
    size_t n = case_u64(c, "recipients");

    assert_true(n >= 1 && n <= N_MEMBERS - 1);
    for (size_t i = 0; i < n; i++)
        case_recipient(c, i, ids_out[i]);
    return n;
}

/* Wrap keys and stanzas of every recipient, recomputed; returns them
 * sorted bytewise as the header lists them. */
static size_t case_stanzas(const char *c, uint8_t sorted[][ENVELOPE_STANZA_BYTES])
{
    char rids[N_MEMBERS - 1][UTIL_MEMBER_ID_MAX + 1], what[96];
    size_t n = case_recipients(c, rids);

    for (size_t i = 0; i < n; i++) {
        uint8_t pair[32], wrap[32], key[32];

        pair_of(rids[i], pair);
        hash_parts(wrap, 32, pair, 32, "tmbus wrap v1", 14, member_vec("EE", "box_pk", 32), 32,
                   member_vec(rids[i], "box_pk", 32), 32, case_fixed(c, "nonce", 24), 24);
        snprintf(what, sizeof(what), "wrap.%s", rids[i]);
        assert_vec(cname(c, what), wrap, 32);
        crypto_aead_xchacha20poly1305_ietf_encrypt(sorted[i], NULL,
                                                   case_fixed(c, "payload_key", 32), 32, NULL, 0,
                                                   NULL, case_fixed(c, "nonce", 24), wrap);
        snprintf(what, sizeof(what), "stanza.%s", rids[i]);
        assert_vec(cname(c, what), sorted[i], ENVELOPE_STANZA_BYTES);
        assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
                             key, NULL, NULL, sorted[i], ENVELOPE_STANZA_BYTES, NULL, 0,
                             case_fixed(c, "nonce", 24), wrap),
                         0);
        assert_memory_equal(key, case_fixed(c, "payload_key", 32), 32);
    }
    if (n == 2 && memcmp(sorted[0], sorted[1], ENVELOPE_STANZA_BYTES) > 0) {
        uint8_t t[ENVELOPE_STANZA_BYTES];
        memcpy(t, sorted[0], sizeof(t));
        memcpy(sorted[0], sorted[1], sizeof(t));
        memcpy(sorted[1], t, sizeof(t));
    }
    return n;
}

/* The case's Header, encoded by hand: a direct log writes log_kind 2 and
 * field 5; seq 1 leaves out field 7; no expiry leaves out field 10. */
static void case_header(const char *c, struct pb *p)
{
    uint8_t s[N_MEMBERS - 1][ENVELOPE_STANZA_BYTES];
    size_t n = case_stanzas(c, s), len;
    bool is_direct = vec_has(cname(c, "log_peer"));
    uint64_t seq = case_u64(c, "seq");
    const uint8_t *v;

    p->len = 0;
    pb_uint(p, 1, ENVELOPE_VERSION);
    v = vec_hex("coalition", &len);
    pb_bytes(p, 2, v, len, false);
    v = vec_hex("sender", &len);
    pb_bytes(p, 3, v, len, false);
    pb_uint(p, 4, is_direct ? 2 : 1);
    if (is_direct) {
        v = case_hex(c, "log_peer", &len);
        pb_bytes(p, 5, v, len, false);
    }
    pb_uint(p, 6, seq);
    assert_int_equal(vec_has(cname(c, "prev_hash")), seq > 1);
    if (seq > 1)
        pb_bytes(p, 7, case_fixed(c, "prev_hash", 32), 32, false);
    pb_uint(p, 8, case_u64(c, "roster_version"));
    pb_uint(p, 9, case_u64(c, "created_at"));
    pb_uint(p, 10, case_u64(c, "expires_at"));
    pb_bytes(p, 11, case_fixed(c, "nonce", 24), 24, false);
    pb_bytes(p, 12, case_fixed(c, "key_commitment", 32), 32, false);
    for (size_t i = 0; i < n; i++)
        pb_bytes(p, 13, s[i], ENVELOPE_STANZA_BYTES, true);
}

static void test_cases_by_hand(void **state)
{
    static struct pb p, body;
    static uint8_t plain[MAX_VALUE], msg[MAX_VALUE];
    char rids[N_MEMBERS - 1][UTIL_MEMBER_ID_MAX + 1];
    uint8_t commitment[32], ct_hash[32], id[32], sig[64], sk[64], pk[32];
    size_t len, bucket, header_len, ct_len, msg_len, n;
    const uint8_t *v, *header, *ct;

    (void)state;
    for (size_t k = 0; k < sizeof(case_names) / sizeof(case_names[0]); k++) {
        const char *c = case_names[k];

        hash_parts(commitment, 32, case_fixed(c, "payload_key", 32), 32, "tmbus commit v1", 16,
                   case_fixed(c, "nonce", 24), 24, NULL, 0, NULL, 0);
        assert_vec(cname(c, "key_commitment"), commitment, 32);
        case_header(c, &p);
        assert_vec(cname(c, "header"), p.buf, p.len);

        body.len = 0;
        v = vec_hex("sender", &len);
        pb_bytes(&body, 1, v, len, false);
        n = case_recipients(c, rids);
        for (size_t i = 0; i < n; i++)
            pb_bytes(&body, 2, rids[i], strlen(rids[i]), true);
        v = case_hex(c, "payload", &len);
        pb_bytes(&body, 3, v, len, false);
        assert_vec(cname(c, "body"), body.buf, body.len);
        for (bucket = ENVELOPE_MIN_BUCKET; bucket <= body.len; bucket *= 2)
            ;
        body.buf[body.len] = 0x80;
        memset(body.buf + body.len + 1, 0, bucket - body.len - 1);
        assert_vec(cname(c, "padded_body"), body.buf, bucket);

        header = case_hex(c, "header", &header_len);
        ct = case_hex(c, "ciphertext", &ct_len);
        assert_int_equal(ct_len, bucket + AEAD_TAG);
        assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
                             plain, NULL, NULL, ct, ct_len, header, header_len,
                             case_fixed(c, "nonce", 24), case_fixed(c, "payload_key", 32)),
                         0);
        assert_memory_equal(plain, body.buf, bucket);
        crypto_aead_xchacha20poly1305_ietf_encrypt(plain, NULL, body.buf, bucket, header,
                                                   header_len, NULL, case_fixed(c, "nonce", 24),
                                                   case_fixed(c, "payload_key", 32));
        assert_vec(cname(c, "ciphertext"), plain, ct_len);

        crypto_generichash(ct_hash, 32, ct, ct_len, NULL, 0);
        assert_vec(cname(c, "ciphertext_hash"), ct_hash, 32);
        memcpy(msg, "tmbus envelope v1", 18);
        memcpy(msg + 18, header, header_len);
        memcpy(msg + 18 + header_len, ct_hash, 32);
        msg_len = 18 + header_len + 32;
        assert_vec(cname(c, "signed_message"), msg, msg_len);
        sign_secret("EE", sk, pk);
        crypto_sign_detached(sig, NULL, msg, msg_len, sk);
        sodium_memzero(sk, sizeof(sk));
        assert_vec(cname(c, "signature"), sig, 64);
        assert_int_equal(crypto_sign_verify_detached(sig, msg, msg_len, pk), 0);
        hash_parts(id, 32, NULL, 0, "tmbus id v1", 12, header, header_len, ct_hash, 32, sig, 64);
        assert_vec(cname(c, "envelope_id"), id, 32);

        p.len = 0;
        pb_bytes(&p, 1, header, header_len, false);
        pb_bytes(&p, 2, ct, ct_len, false);
        pb_bytes(&p, 3, case_fixed(c, "signature", 64), 64, false);
        assert_vec(cname(c, "envelope"), p.buf, p.len);
    }
}

static void test_cases_seal_and_open(void **state)
{
    static uint8_t payload[MAX_VALUE], prev[32], nonce[24], key[32];
    char rids[N_MEMBERS - 1][UTIL_MEMBER_ID_MAX + 1], log_peer[UTIL_MEMBER_ID_MAX + 1] = "";
    struct envelope_recipient rcpt[N_MEMBERS - 1];

    (void)state;
    for (size_t k = 0; k < sizeof(case_names) / sizeof(case_names[0]); k++) {
        const char *c = case_names[k];
        struct envelope_seal_args a = {0};
        struct envelope_keyring *kr;
        struct envelope_info info;
        struct envelope_body *body = NULL;
        size_t n = case_recipients(c, rids), payload_len, env_len, len;
        bool is_direct = vec_has(cname(c, "log_peer"));
        const uint8_t *v, *env;
        uint8_t *out;
        size_t out_len;

        v = case_hex(c, "payload", &payload_len);
        memcpy(payload, v, payload_len);
        memcpy(nonce, case_fixed(c, "nonce", 24), 24);
        memcpy(key, case_fixed(c, "payload_key", 32), 32);
        if (is_direct) {
            v = case_hex(c, "log_peer", &len);
            memcpy(log_peer, v, len);
            log_peer[len] = '\0';
        }
        for (size_t i = 0; i < n; i++) {
            size_t m = 1;
            while (strcmp(ids[m], rids[i]) != 0)
                m++;
            rcpt[i].member = ids[m];
            rcpt[i].box_pk = members[m]->box_pk;
        }
        a.coalition = coalition;
        a.log_peer = is_direct ? log_peer : NULL;
        a.seq = case_u64(c, "seq");
        if (a.seq > 1) {
            memcpy(prev, case_fixed(c, "prev_hash", 32), 32);
            a.prev_hash = prev;
        }
        a.roster_version = case_u64(c, "roster_version");
        a.created_at = (int64_t)case_u64(c, "created_at");
        a.expires_at = (int64_t)case_u64(c, "expires_at");
        a.payload = payload;
        a.payload_len = payload_len;
        a.recipients = rcpt;
        a.n_recipients = n;
        a.fixed_nonce = nonce;
        a.fixed_payload_key = key;
        kr = envelope_keyring_new(members[0]);
        assert_non_null(kr);
        assert_int_equal(envelope_seal(kr, &a, &out, &out_len, &info), ENVELOPE_OK);
        assert_vec(cname(c, "envelope"), out, out_len);
        assert_vec(cname(c, "envelope_id"), info.id, 32);
        free(out);
        envelope_keyring_free(&kr);

        env = case_hex(c, "envelope", &env_len);
        assert_int_equal(envelope_verify(env, env_len, coalition, lookup, NULL, &info),
                         ENVELOPE_OK);
        assert_int_equal(info.is_direct, is_direct);
        assert_string_equal(info.log_peer, log_peer);
        assert_int_equal(info.seq, a.seq);
        assert_int_equal(info.has_prev, a.seq > 1);
        assert_int_equal(info.expires_at, a.expires_at);
        assert_int_equal(info.n_stanzas, n);
        assert_vec(cname(c, "envelope_id"), info.id, 32);
        /* Every recipient opens it; every other member finds no stanza. */
        for (size_t m = 0; m < N_MEMBERS; m++) {
            bool is_recipient = false;
            for (size_t i = 0; i < n; i++)
                is_recipient |= strcmp(rids[i], ids[m]) == 0;
            kr = envelope_keyring_new(members[m]);
            assert_non_null(kr);
            assert_int_equal(envelope_open(kr, env, env_len, coalition, lookup, NULL, &info, &body),
                             is_recipient ? ENVELOPE_OK : ENVELOPE_E_NOT_RECIPIENT);
            if (is_recipient) {
                assert_non_null(body);
                assert_string_equal(body->sender, "EE");
                assert_int_equal(body->n_recipients, n);
                for (size_t i = 0; i < n; i++)
                    assert_string_equal(body->recipients[i], rids[i]);
                assert_int_equal(body->payload_len, payload_len);
                assert_memory_equal(body->payload, payload, payload_len);
                envelope_body_free(&body);
            }
            assert_null(body);
            envelope_keyring_free(&kr);
        }
        log_peer[0] = '\0';
    }
}

static const char *run_name(int k, const char *what)
{
    static char name[64];

    snprintf(name, sizeof(name), "run.%d.%s", k, what);
    return name;
}

/* The run: each id recomputed from raw parts (the signature included),
 * each header's prev_hash the id before it, each signature valid, and
 * envelope_seal giving back every envelope byte for byte. */
static void test_run(void **state)
{
    static uint8_t prev[32];
    struct envelope_recipient rcpt[N_MEMBERS - 1];

    (void)state;
    for (size_t i = 1; i < N_MEMBERS; i++) {
        rcpt[i - 1].member = ids[i];
        rcpt[i - 1].box_pk = members[i]->box_pk;
    }
    for (int k = 1; k <= RUN_LENGTH; k++) {
        struct envelope_seal_args a = {0};
        struct envelope_keyring *kr;
        struct envelope_info info;
        uint8_t id[32], *out;
        size_t header_len, env_len, payload_len, out_len;
        const uint8_t *header = vec_hex(run_name(k, "header"), &header_len);
        const uint8_t *env = vec_hex(run_name(k, "envelope"), &env_len);
        const uint8_t *sig = vec_fixed(run_name(k, "signature"), 64);
        const uint8_t *payload = vec_hex(run_name(k, "payload"), &payload_len);

        hash_parts(id, 32, NULL, 0, "tmbus id v1", 12, header, header_len,
                   vec_fixed(run_name(k, "ciphertext_hash"), 32), 32, sig, 64);
        assert_vec(run_name(k, "envelope_id"), id, 32);
        assert_int_equal(envelope_verify(env, env_len, coalition, lookup, NULL, &info),
                         ENVELOPE_OK);
        assert_int_equal(info.seq, (uint64_t)k);
        assert_int_equal(info.has_prev, k > 1);
        if (k > 1)
            assert_memory_equal(info.prev_hash, prev, 32);
        assert_vec(run_name(k, "envelope_id"), info.id, 32);

        a.coalition = coalition;
        a.seq = (uint64_t)k;
        a.prev_hash = k > 1 ? prev : NULL;
        a.roster_version = 3;
        a.created_at = (int64_t)vec_u64(run_name(k, "created_at"));
        a.payload = payload;
        a.payload_len = payload_len;
        a.recipients = rcpt;
        a.n_recipients = N_MEMBERS - 1;
        a.fixed_nonce = vec_fixed(run_name(k, "nonce"), 24);
        a.fixed_payload_key = vec_fixed(run_name(k, "payload_key"), 32);
        kr = envelope_keyring_new(members[0]);
        assert_non_null(kr);
        assert_int_equal(envelope_seal(kr, &a, &out, &out_len, &info), ENVELOPE_OK);
        assert_vec(run_name(k, "envelope"), out, out_len);
        free(out);
        envelope_keyring_free(&kr);
        memcpy(prev, id, 32);
    }
}

/* envelope-v1-pruned.txt: the pruned form by hand (fields 1, 3 and 4 of
 * the full envelope's parts), then through envelope.c: envelope_prune
 * makes exactly those bytes, they verify with the full form's id, and a
 * recipient finds its stanza but nothing to open. */
static void test_pruned(void **state)
{
    static struct pb p;
    uint8_t ct_hash[32], *out = NULL;
    size_t header_len, ct_len, env_len, pruned_len, out_len;
    const uint8_t *header = vec_hex("header", &header_len);
    const uint8_t *ct = vec_hex("ciphertext", &ct_len);
    const uint8_t *env = vec_hex("envelope", &env_len);
    const uint8_t *pruned = vec_hex("pruned.envelope", &pruned_len);
    struct envelope_info info;
    struct envelope_body *body = NULL;
    struct envelope_keyring *kr;

    (void)state;
    hash_parts(ct_hash, 32, NULL, 0, ct, ct_len, NULL, 0, NULL, 0, NULL, 0);
    assert_vec("pruned.ciphertext_hash", ct_hash, 32);
    assert_vec("ciphertext_hash", ct_hash, 32);
    p.len = 0;
    pb_bytes(&p, 1, header, header_len, false);
    pb_bytes(&p, 3, vec_fixed("signature", 64), 64, false);
    pb_bytes(&p, 4, ct_hash, 32, false);
    assert_vec("pruned.envelope", p.buf, p.len);
    assert_vec("pruned.envelope_id", vec_fixed("envelope_id", 32), 32);

    assert_int_equal(envelope_prune(env, env_len, &out, &out_len), 1);
    assert_vec("pruned.envelope", out, out_len);
    free(out);
    assert_int_equal(envelope_verify(pruned, pruned_len, coalition, lookup, NULL, &info),
                     ENVELOPE_OK);
    assert_true(info.is_pruned);
    assert_vec("pruned.envelope_id", info.id, 32);
    for (size_t i = 0; i < N_MEMBERS; i++) {
        kr = envelope_keyring_new(members[i]);
        assert_non_null(kr);
        assert_int_equal(
            envelope_open(kr, pruned, pruned_len, coalition, lookup, NULL, &info, &body),
            i == 0 ? ENVELOPE_E_NOT_RECIPIENT : ENVELOPE_E_PRUNED);
        assert_null(body);
        envelope_keyring_free(&kr);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_keys),
        cmocka_unit_test(test_pair_keys),
        cmocka_unit_test(test_wrap_keys_and_stanzas),
        cmocka_unit_test(test_commitment),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_body_and_ciphertext),
        cmocka_unit_test(test_signature_and_id),
        cmocka_unit_test(test_envelope_bytes),
        cmocka_unit_test(test_seal_matches),
        cmocka_unit_test(test_verify_and_open),
        cmocka_unit_test(test_cases_by_hand),
        cmocka_unit_test(test_cases_seal_and_open),
        cmocka_unit_test(test_run),
        cmocka_unit_test(test_pruned),
    };
    int failed;

    if (sodium_init() < 0)
        return 1;
    parse_vectors(VECTORS_FILE);
    parse_vectors(CASES_FILE);
    parse_vectors(RUN_FILE);
    parse_vectors(PRUNED_FILE);
    failed = cmocka_run_group_tests(tests, setup_members, teardown_members);
    for (size_t i = 0; i < n_entries; i++)
        free(entries[i].value);
    return failed;
}
