/*
 * envelope: seals, verifies and opens tmbus envelopes as envelope.h
 * describes. Owns the payload key, wrap keys and the pair-key cache, all in
 * sodium_malloc memory; the member's long-term secrets stay in keys.c. It
 * does no I/O, keeps no globals, and never lets a protobuf type out.
 */
#include "envelope.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.pb-c.h"

#define TAG_SIGN   "tmbus envelope v1"
#define TAG_ID     "tmbus id v1"
#define TAG_COMMIT "tmbus commit v1"
#define TAG_WRAP   "tmbus wrap v1"
/* Domain tags are hashed with their terminating NUL. */
#define TAG_LEN(t) sizeof(t)

#define AEAD_TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

/* A pair-key cache never grows past this many peers; beyond it, it starts
 * over (a roster has at most a few hundred members). */
#define PAIR_CACHE_MAX 1024

struct pair_entry {
    uint8_t own_pk[KEYS_PUBLIC_BYTES]; /* which of our box keys it was made with */
    uint8_t peer_pk[KEYS_PUBLIC_BYTES];
    uint8_t key[KEYS_PAIR_KEY_BYTES];
};

/* Per-operation secrets, kept in one sodium_malloc region so that no
 * payload or wrap key ever sits on the stack. */
struct scratch {
    uint8_t payload_key[ENVELOPE_KEY_BYTES];
    uint8_t wrap_key[ENVELOPE_KEY_BYTES];
};

struct envelope_keyring {
    const struct keyset *self;
    /* Our other generations during a rotation: tried after self to open
     * what was sealed to them (envelope_keyring_add). */
    const struct keyset *others[ENVELOPE_MAX_OTHER_KEYS];
    size_t n_others;
    struct pair_entry *pairs; /* sodium_malloc'd, cap entries */
    size_t n_pairs;
    size_t cap;
    struct scratch *scratch; /* sodium_malloc'd */
};

static const char *const status_names[ENVELOPE_STATUS_COUNT] = {
    [ENVELOPE_OK] = "ok",
    [ENVELOPE_E_SIZE] = "too-large",
    [ENVELOPE_E_MALFORMED] = "malformed",
    [ENVELOPE_E_FIELD] = "bad-field",
    [ENVELOPE_E_VERSION] = "bad-version",
    [ENVELOPE_E_COALITION] = "wrong-coalition",
    [ENVELOPE_E_SENDER] = "unknown-sender",
    [ENVELOPE_E_SIGNATURE] = "bad-signature",
    [ENVELOPE_E_NOT_RECIPIENT] = "not-recipient",
    [ENVELOPE_E_COMMITMENT] = "bad-key-commitment",
    [ENVELOPE_E_DECRYPT] = "decrypt-failed",
    [ENVELOPE_E_PADDING] = "bad-padding",
    [ENVELOPE_E_BODY] = "body-mismatch",
    [ENVELOPE_E_PRUNED] = "pruned",
    [ENVELOPE_E_INTERNAL] = "internal-error",
};

const char *envelope_status_name(enum envelope_status st)
{
    if ((unsigned)st >= ENVELOPE_STATUS_COUNT)
        return "unknown-status";
    return status_names[st];
}

/* ---- keyring ---------------------------------------------------------- */

struct envelope_keyring *envelope_keyring_new(const struct keyset *self)
{
    struct envelope_keyring *kr;

    if (self == NULL || self->kind != KEYS_MEMBER)
        return NULL;
    if ((kr = calloc(1, sizeof(*kr))) == NULL)
        return NULL;
    kr->self = self;
    kr->cap = 32;
    kr->pairs = sodium_malloc(kr->cap * sizeof(*kr->pairs));
    kr->scratch = sodium_malloc(sizeof(*kr->scratch));
    if (kr->pairs == NULL || kr->scratch == NULL) {
        envelope_keyring_free(&kr);
        return NULL;
    }
    return kr;
}

int envelope_keyring_add(struct envelope_keyring *kr, const struct keyset *other)
{
    if (other == NULL || other->kind != KEYS_MEMBER || kr->n_others == ENVELOPE_MAX_OTHER_KEYS ||
        strcmp(other->member, kr->self->member) != 0)
        return -1;
    kr->others[kr->n_others++] = other;
    return 0;
}

void envelope_keyring_free(struct envelope_keyring **krp)
{
    struct envelope_keyring *kr;

    if (krp == NULL || (kr = *krp) == NULL)
        return;
    /* sodium_free wipes before unmapping. */
    sodium_free(kr->pairs);
    sodium_free(kr->scratch);
    free(kr);
    *krp = NULL;
}

/* The pair key shared with peer_pk, computed once and cached: this is what
 * makes a 20-recipient broadcast cost 20 hashes instead of 20 X25519s.
 * Returns NULL with *st set: ENVELOPE_E_INTERNAL when out of memory, else
 * bad_key_status for a low-order key. */
static const uint8_t *pair_key(struct envelope_keyring *kr, const struct keyset *own,
                               const uint8_t *peer_pk, enum envelope_status bad_key_status,
                               enum envelope_status *st)
{
    struct pair_entry *e;

    /* Keyed by our box key too: a rotation swaps the keys in self, and
     * the other generations pair with the same peers. */
    for (size_t i = 0; i < kr->n_pairs; i++)
        if (memcmp(kr->pairs[i].peer_pk, peer_pk, KEYS_PUBLIC_BYTES) == 0 &&
            memcmp(kr->pairs[i].own_pk, own->box_pk, KEYS_PUBLIC_BYTES) == 0)
            return kr->pairs[i].key;
    if (kr->n_pairs == kr->cap) {
        if (kr->cap >= PAIR_CACHE_MAX) {
            sodium_memzero(kr->pairs, kr->cap * sizeof(*kr->pairs));
            kr->n_pairs = 0;
        } else {
            struct pair_entry *grown = sodium_malloc(2 * kr->cap * sizeof(*grown));
            if (grown == NULL) {
                *st = ENVELOPE_E_INTERNAL;
                return NULL;
            }
            memcpy(grown, kr->pairs, kr->n_pairs * sizeof(*grown));
            sodium_free(kr->pairs);
            kr->pairs = grown;
            kr->cap *= 2;
        }
    }
    e = &kr->pairs[kr->n_pairs];
    if (keys_pair_key(own, peer_pk, e->key) == -1) {
        *st = bad_key_status;
        return NULL;
    }
    memcpy(e->own_pk, own->box_pk, KEYS_PUBLIC_BYTES);
    memcpy(e->peer_pk, peer_pk, KEYS_PUBLIC_BYTES);
    kr->n_pairs++;
    return e->key;
}

/* ---- construction pieces ---------------------------------------------- */

static void key_commitment(const uint8_t *payload_key, const uint8_t *nonce, uint8_t *out)
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, payload_key, ENVELOPE_KEY_BYTES, ENVELOPE_HASH_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)TAG_COMMIT, TAG_LEN(TAG_COMMIT));
    crypto_generichash_update(&st, nonce, ENVELOPE_NONCE_BYTES);
    crypto_generichash_final(&st, out, ENVELOPE_HASH_BYTES);
    sodium_memzero(&st, sizeof(st));
}

static void wrap_key(const uint8_t *pair, const uint8_t *sender_pk, const uint8_t *recipient_pk,
                     const uint8_t *nonce, uint8_t *out)
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, pair, KEYS_PAIR_KEY_BYTES, ENVELOPE_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)TAG_WRAP, TAG_LEN(TAG_WRAP));
    crypto_generichash_update(&st, sender_pk, KEYS_PUBLIC_BYTES);
    crypto_generichash_update(&st, recipient_pk, KEYS_PUBLIC_BYTES);
    crypto_generichash_update(&st, nonce, ENVELOPE_NONCE_BYTES);
    crypto_generichash_final(&st, out, ENVELOPE_KEY_BYTES);
    sodium_memzero(&st, sizeof(st));
}

/* The id covers the signature, so that the next envelope's prev_hash
 * commits to it: a valid signature on the last envelope of a chained run
 * then vouches for every earlier envelope of the run, signatures included
 * (route_accept_run). Ed25519 in libsodium is deterministic and refuses
 * non-canonical signatures, so one signed envelope has exactly one id. */
static void envelope_id(const uint8_t *header, size_t header_len, const uint8_t *ct_hash,
                        const uint8_t *signature, uint8_t *out)
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, ENVELOPE_HASH_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)TAG_ID, TAG_LEN(TAG_ID));
    crypto_generichash_update(&st, header, header_len);
    crypto_generichash_update(&st, ct_hash, ENVELOPE_HASH_BYTES);
    crypto_generichash_update(&st, signature, ENVELOPE_SIGNATURE_BYTES);
    crypto_generichash_final(&st, out, ENVELOPE_HASH_BYTES);
}

/* The exact bytes the sender signs: tag || header || H(ciphertext). */
static uint8_t *signed_message(const uint8_t *header, size_t header_len, const uint8_t *ct_hash,
                               size_t *len)
{
    uint8_t *m;

    *len = TAG_LEN(TAG_SIGN) + header_len + ENVELOPE_HASH_BYTES;
    if ((m = malloc(*len)) == NULL)
        return NULL;
    memcpy(m, TAG_SIGN, TAG_LEN(TAG_SIGN));
    memcpy(m + TAG_LEN(TAG_SIGN), header, header_len);
    memcpy(m + TAG_LEN(TAG_SIGN) + header_len, ct_hash, ENVELOPE_HASH_BYTES);
    return m;
}

/* Smallest bucket that holds n bytes plus the mandatory padding byte, or 0
 * when none does. */
static size_t bucket_for(size_t n)
{
    size_t b = ENVELOPE_MIN_BUCKET;

    while (b <= n) {
        if (b >= ENVELOPE_MAX_BUCKET)
            return 0;
        b *= 2;
    }
    return b;
}

static bool is_bucket(size_t n)
{
    return n >= ENVELOPE_MIN_BUCKET && n <= ENVELOPE_MAX_BUCKET && (n & (n - 1)) == 0;
}

static int compare_stanzas(const void *a, const void *b)
{
    return memcmp(a, b, ENVELOPE_STANZA_BYTES);
}

static bool is_id(const char *s)
{
    return s != NULL && util_is_member_id(s, strlen(s));
}

/* ---- seal ------------------------------------------------------------- */

static enum envelope_status check_seal_args(const struct keyset *self,
                                            const struct envelope_seal_args *a)
{
    size_t clen;

    if (a->coalition == NULL || (clen = strlen(a->coalition)) == 0 || clen > ENVELOPE_COALITION_MAX)
        return ENVELOPE_E_FIELD;
    if (a->seq == 0 || (a->seq == 1) != (a->prev_hash == NULL))
        return ENVELOPE_E_FIELD;
    if (a->expires_at < 0 || a->created_at < 0)
        return ENVELOPE_E_FIELD;
    if (a->payload_len > ENVELOPE_MAX_PAYLOAD)
        return ENVELOPE_E_SIZE;
    if (a->payload_len > 0 && a->payload == NULL)
        return ENVELOPE_E_FIELD;
    if (a->n_recipients == 0 || a->n_recipients > ENVELOPE_MAX_RECIPIENTS || a->recipients == NULL)
        return ENVELOPE_E_FIELD;
    for (size_t i = 0; i < a->n_recipients; i++) {
        if (!is_id(a->recipients[i].member) || a->recipients[i].box_pk == NULL)
            return ENVELOPE_E_FIELD;
        /* Two recipients sharing a box key would get identical stanzas. */
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->recipients[i].member, a->recipients[j].member) == 0 ||
                memcmp(a->recipients[i].box_pk, a->recipients[j].box_pk, KEYS_PUBLIC_BYTES) == 0)
                return ENVELOPE_E_FIELD;
    }
    /* A direct log carries traffic for exactly its one named peer. */
    if (a->log_peer != NULL &&
        (!is_id(a->log_peer) || strcmp(a->log_peer, self->member) == 0 || a->n_recipients != 1 ||
         strcmp(a->recipients[0].member, a->log_peer) != 0))
        return ENVELOPE_E_FIELD;
    return ENVELOPE_OK;
}

/* Serializes and pads the body into a malloc'd buffer of bucket size. */
static enum envelope_status padded_body(const struct keyset *self,
                                        const struct envelope_seal_args *a, uint8_t **out,
                                        size_t *out_len)
{
    Tmbus__Envelope__Body body = TMBUS__ENVELOPE__BODY__INIT;
    char **ids;
    uint8_t *buf;
    size_t packed, bucket, padded;

    if ((ids = calloc(a->n_recipients, sizeof(*ids))) == NULL)
        return ENVELOPE_E_INTERNAL;
    for (size_t i = 0; i < a->n_recipients; i++)
        ids[i] = (char *)(uintptr_t)a->recipients[i].member;
    body.sender = (char *)(uintptr_t)self->member;
    body.n_recipients = a->n_recipients;
    body.recipients = ids;
    body.payload.data = (uint8_t *)(uintptr_t)a->payload;
    body.payload.len = a->payload_len;

    packed = tmbus__envelope__body__get_packed_size(&body);
    if ((bucket = bucket_for(packed)) == 0) {
        free(ids);
        return ENVELOPE_E_SIZE;
    }
    if ((buf = malloc(bucket)) == NULL) {
        free(ids);
        return ENVELOPE_E_INTERNAL;
    }
    tmbus__envelope__body__pack(&body, buf);
    free(ids);
    if (sodium_pad(&padded, buf, packed, bucket, bucket) != 0 || padded != bucket) {
        sodium_memzero(buf, bucket);
        free(buf);
        return ENVELOPE_E_INTERNAL;
    }
    *out = buf;
    *out_len = bucket;
    return ENVELOPE_OK;
}

enum envelope_status envelope_seal(struct envelope_keyring *kr, const struct envelope_seal_args *a,
                                   uint8_t **out, size_t *out_len, struct envelope_info *info)
{
    Tmbus__Envelope__Header hdr = TMBUS__ENVELOPE__HEADER__INIT;
    Tmbus__Envelope__Envelope env = TMBUS__ENVELOPE__ENVELOPE__INIT;
    const struct keyset *self = kr->self;
    uint8_t *payload_key = kr->scratch->payload_key;
    uint8_t nonce[ENVELOPE_NONCE_BYTES], commitment[ENVELOPE_HASH_BYTES];
    uint8_t ct_hash[ENVELOPE_HASH_BYTES], id[ENVELOPE_HASH_BYTES];
    uint8_t sig[ENVELOPE_SIGNATURE_BYTES];
    uint8_t *stanzas = NULL, *body = NULL, *ct = NULL, *header = NULL, *msg = NULL, *buf = NULL;
    ProtobufCBinaryData *stanza_refs = NULL;
    size_t body_len, header_len, msg_len, env_len;
    unsigned long long ct_len;
    enum envelope_status st;

    if ((st = check_seal_args(self, a)) != ENVELOPE_OK)
        return st;
    st = ENVELOPE_E_INTERNAL;

    if (a->fixed_nonce != NULL)
        memcpy(nonce, a->fixed_nonce, sizeof(nonce));
    else
        randombytes_buf(nonce, sizeof(nonce));
    if (a->fixed_payload_key != NULL)
        memcpy(payload_key, a->fixed_payload_key, ENVELOPE_KEY_BYTES);
    else
        crypto_aead_xchacha20poly1305_ietf_keygen(payload_key);
    key_commitment(payload_key, nonce, commitment);

    /* One stanza per recipient, then sorted so that position reveals
     * nothing about who is who. */
    stanzas = malloc(a->n_recipients * ENVELOPE_STANZA_BYTES);
    stanza_refs = calloc(a->n_recipients, sizeof(*stanza_refs));
    if (stanzas == NULL || stanza_refs == NULL)
        goto out;
    for (size_t i = 0; i < a->n_recipients; i++) {
        /* A low-order recipient key is a bad argument. */
        const uint8_t *pair =
            pair_key(kr, kr->self, a->recipients[i].box_pk, ENVELOPE_E_FIELD, &st);
        if (pair == NULL)
            goto out;
        wrap_key(pair, self->box_pk, a->recipients[i].box_pk, nonce, kr->scratch->wrap_key);
        crypto_aead_xchacha20poly1305_ietf_encrypt(stanzas + i * ENVELOPE_STANZA_BYTES, NULL,
                                                   payload_key, ENVELOPE_KEY_BYTES, NULL, 0, NULL,
                                                   nonce, kr->scratch->wrap_key);
    }
    qsort(stanzas, a->n_recipients, ENVELOPE_STANZA_BYTES, compare_stanzas);
    for (size_t i = 0; i < a->n_recipients; i++) {
        stanza_refs[i].data = stanzas + i * ENVELOPE_STANZA_BYTES;
        stanza_refs[i].len = ENVELOPE_STANZA_BYTES;
    }

    hdr.version = ENVELOPE_VERSION;
    hdr.coalition = (char *)(uintptr_t)a->coalition;
    hdr.sender = (char *)(uintptr_t)self->member;
    hdr.log_kind = a->log_peer != NULL ? TMBUS__ENVELOPE__LOG_KIND__LOG_KIND_DIRECT
                                       : TMBUS__ENVELOPE__LOG_KIND__LOG_KIND_RELAYED;
    if (a->log_peer != NULL)
        hdr.log_peer = (char *)(uintptr_t)a->log_peer;
    hdr.seq = a->seq;
    if (a->prev_hash != NULL) {
        hdr.prev_hash.data = (uint8_t *)(uintptr_t)a->prev_hash;
        hdr.prev_hash.len = ENVELOPE_HASH_BYTES;
    }
    hdr.roster_version = a->roster_version;
    hdr.created_at = a->created_at;
    hdr.expires_at = a->expires_at;
    hdr.nonce.data = nonce;
    hdr.nonce.len = sizeof(nonce);
    hdr.key_commitment.data = commitment;
    hdr.key_commitment.len = sizeof(commitment);
    hdr.n_stanzas = a->n_recipients;
    hdr.stanzas = stanza_refs;
    header_len = tmbus__envelope__header__get_packed_size(&hdr);
    if (header_len > ENVELOPE_MAX_HEADER) {
        st = ENVELOPE_E_SIZE;
        goto out;
    }
    if ((header = malloc(header_len)) == NULL)
        goto out;
    tmbus__envelope__header__pack(&hdr, header);

    if ((st = padded_body(self, a, &body, &body_len)) != ENVELOPE_OK)
        goto out;
    st = ENVELOPE_E_INTERNAL;
    if ((ct = malloc(body_len + AEAD_TAG_BYTES)) == NULL)
        goto out;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, body, body_len, header, header_len,
                                               NULL, nonce, payload_key);
    crypto_generichash(ct_hash, sizeof(ct_hash), ct, (size_t)ct_len, NULL, 0);

    if ((msg = signed_message(header, header_len, ct_hash, &msg_len)) == NULL)
        goto out;
    if (keys_sign(self, msg, msg_len, sig) == -1)
        goto out;
    envelope_id(header, header_len, ct_hash, sig, id);

    env.header.data = header;
    env.header.len = header_len;
    env.ciphertext.data = ct;
    env.ciphertext.len = (size_t)ct_len;
    env.signature.data = sig;
    env.signature.len = sizeof(sig);
    env_len = tmbus__envelope__envelope__get_packed_size(&env);
    if (env_len > ENVELOPE_MAX_SIZE) {
        st = ENVELOPE_E_SIZE;
        goto out;
    }
    if ((buf = malloc(env_len)) == NULL)
        goto out;
    tmbus__envelope__envelope__pack(&env, buf);

    if (info != NULL) {
        memset(info, 0, sizeof(*info));
        info->version = ENVELOPE_VERSION;
        strcpy(info->coalition, a->coalition);
        strcpy(info->sender, self->member);
        info->is_direct = a->log_peer != NULL;
        if (a->log_peer != NULL)
            strcpy(info->log_peer, a->log_peer);
        info->seq = a->seq;
        info->has_prev = a->prev_hash != NULL;
        if (a->prev_hash != NULL)
            memcpy(info->prev_hash, a->prev_hash, ENVELOPE_HASH_BYTES);
        info->roster_version = a->roster_version;
        info->created_at = a->created_at;
        info->expires_at = a->expires_at;
        info->n_stanzas = a->n_recipients;
        memcpy(info->id, id, sizeof(id));
        memcpy(info->ciphertext_hash, ct_hash, sizeof(ct_hash));
    }
    *out = buf;
    *out_len = env_len;
    buf = NULL;
    st = ENVELOPE_OK;
out:
    sodium_memzero(kr->scratch, sizeof(*kr->scratch));
    if (body != NULL) {
        sodium_memzero(body, body_len);
        free(body);
    }
    free(buf);
    free(msg);
    free(ct);
    free(header);
    free(stanza_refs);
    free(stanzas);
    return st;
}

/* ---- verify ----------------------------------------------------------- */

/* Parsed and checked cleartext of an envelope. Owns both unpacked
 * messages; the header bytes point into the caller's buffer. */
struct parsed {
    Tmbus__Envelope__Envelope *env;
    Tmbus__Envelope__Header *hdr;
    struct envelope_member_keys sender_keys;
};

static void parsed_clear(struct parsed *p)
{
    if (p->hdr != NULL)
        tmbus__envelope__header__free_unpacked(p->hdr, NULL);
    if (p->env != NULL)
        tmbus__envelope__envelope__free_unpacked(p->env, NULL);
    p->hdr = NULL;
    p->env = NULL;
}

/* True when re-encoding msg gives back exactly buf: no unknown fields,
 * no duplicate or out-of-order fields, no overlong varints. A signed header
 * must have one meaning only. */
static bool is_canonical(const ProtobufCMessage *msg, const uint8_t *buf, size_t len)
{
    uint8_t *again;
    bool same;

    if (msg->n_unknown_fields != 0 || protobuf_c_message_get_packed_size(msg) != len)
        return false;
    if ((again = malloc(len ? len : 1)) == NULL)
        return false;
    protobuf_c_message_pack(msg, again);
    same = memcmp(again, buf, len) == 0;
    free(again);
    return same;
}

static enum envelope_status check_header(const Tmbus__Envelope__Header *h, const char *coalition)
{
    if (h->version != ENVELOPE_VERSION)
        return ENVELOPE_E_VERSION;
    if (strlen(h->coalition) > ENVELOPE_COALITION_MAX || !is_id(h->sender))
        return ENVELOPE_E_FIELD;
    switch (h->log_kind) {
    case TMBUS__ENVELOPE__LOG_KIND__LOG_KIND_RELAYED:
        if (h->log_peer[0] != '\0')
            return ENVELOPE_E_FIELD;
        break;
    case TMBUS__ENVELOPE__LOG_KIND__LOG_KIND_DIRECT:
        if (!is_id(h->log_peer) || strcmp(h->log_peer, h->sender) == 0)
            return ENVELOPE_E_FIELD;
        break;
    default:
        return ENVELOPE_E_FIELD;
    }
    if (h->seq == 0 || h->prev_hash.len != (h->seq == 1 ? 0 : ENVELOPE_HASH_BYTES))
        return ENVELOPE_E_FIELD;
    if (h->created_at < 0 || h->expires_at < 0)
        return ENVELOPE_E_FIELD;
    if (h->nonce.len != ENVELOPE_NONCE_BYTES || h->key_commitment.len != ENVELOPE_HASH_BYTES)
        return ENVELOPE_E_FIELD;
    if (h->n_stanzas == 0 || h->n_stanzas > ENVELOPE_MAX_RECIPIENTS)
        return ENVELOPE_E_FIELD;
    for (size_t i = 0; i < h->n_stanzas; i++) {
        if (h->stanzas[i].len != ENVELOPE_STANZA_BYTES)
            return ENVELOPE_E_FIELD;
        /* Strictly ascending: sorted as seal leaves them, no duplicates. */
        if (i > 0 && memcmp(h->stanzas[i - 1].data, h->stanzas[i].data, ENVELOPE_STANZA_BYTES) >= 0)
            return ENVELOPE_E_FIELD;
    }
    /* The coalition is compared after the structure, so a stranger's
     * well-formed envelope gets the more useful reason. */
    if (strcmp(h->coalition, coalition) != 0)
        return ENVELOPE_E_COALITION;
    return ENVELOPE_OK;
}

static bool is_pruned(const Tmbus__Envelope__Envelope *env)
{
    return env->ciphertext.len == 0;
}

/* Exactly one of the two forms (PROTOCOL.md 5.8): a ciphertext of a
 * bucket plus the tag and no hash, or no ciphertext and a 32-byte hash. */
static bool is_body_form(const Tmbus__Envelope__Envelope *env)
{
    if (is_pruned(env))
        return env->ciphertext_hash.len == ENVELOPE_HASH_BYTES;
    return env->ciphertext_hash.len == 0 && env->ciphertext.len > AEAD_TAG_BYTES &&
           is_bucket(env->ciphertext.len - AEAD_TAG_BYTES);
}

/* How much of the signature check parse_and_verify does. */
enum signature_mode {
    SIGNATURE_VERIFY,  /* check it */
    SIGNATURE_TRUSTED, /* verified before; only find the signing generation */
    SIGNATURE_SKIP,    /* not at all: envelope_inspect */
};

/* Everything the relay path checks; on success p holds the parsed parts and
 * info is filled. On failure p is cleared. */
static enum envelope_status parse_and_verify(const uint8_t *buf, size_t len, const char *coalition,
                                             envelope_lookup_fn lookup, void *lookup_arg,
                                             enum signature_mode mode, struct parsed *p,
                                             struct envelope_info *info)
{
    const Tmbus__Envelope__Envelope *env;
    const Tmbus__Envelope__Header *h;
    uint8_t ct_hash[ENVELOPE_HASH_BYTES];
    uint8_t *msg;
    size_t msg_len;
    enum envelope_status st;
    int bad_sig;

    memset(p, 0, sizeof(*p));
    if (buf == NULL || len == 0 || len > ENVELOPE_MAX_SIZE)
        return len > ENVELOPE_MAX_SIZE ? ENVELOPE_E_SIZE : ENVELOPE_E_MALFORMED;
    if ((p->env = tmbus__envelope__envelope__unpack(NULL, len, buf)) == NULL) {
        st = ENVELOPE_E_MALFORMED;
        goto fail;
    }
    env = p->env;
    if (!is_canonical(&env->base, buf, len)) {
        st = ENVELOPE_E_MALFORMED;
        goto fail;
    }
    if (env->header.len == 0 || env->header.len > ENVELOPE_MAX_HEADER ||
        env->signature.len != ENVELOPE_SIGNATURE_BYTES || !is_body_form(env)) {
        st = ENVELOPE_E_FIELD;
        goto fail;
    }
    p->hdr = tmbus__envelope__header__unpack(NULL, env->header.len, env->header.data);
    if (p->hdr == NULL || !is_canonical(&p->hdr->base, env->header.data, env->header.len)) {
        st = ENVELOPE_E_MALFORMED;
        goto fail;
    }
    h = p->hdr;
    if ((st = check_header(h, coalition)) != ENVELOPE_OK)
        goto fail;
    memset(&p->sender_keys, 0, sizeof(p->sender_keys));
    if (lookup(lookup_arg, h->sender, h->log_peer, h->seq, &p->sender_keys) != 0 ||
        p->sender_keys.n_older > ENVELOPE_MAX_OLDER_KEYS) {
        st = ENVELOPE_E_SENDER;
        goto fail;
    }

    /* A pruned envelope brings the hash the sender signed; a full one is
     * hashed here, so the two forms of one envelope verify alike. */
    if (is_pruned(env))
        memcpy(ct_hash, env->ciphertext_hash.data, sizeof(ct_hash));
    else
        crypto_generichash(ct_hash, sizeof(ct_hash), env->ciphertext.data, env->ciphertext.len,
                           NULL, 0);
    if ((msg = signed_message(env->header.data, env->header.len, ct_hash, &msg_len)) == NULL) {
        st = ENVELOPE_E_INTERNAL;
        goto fail;
    }
    /* An envelope verified before still needs its signer found when older
     * generations are on offer: opening it takes that generation's box key. */
    if (mode == SIGNATURE_SKIP)
        bad_sig = 0;
    else if (mode == SIGNATURE_TRUSTED && p->sender_keys.n_older == 0)
        bad_sig = 0;
    else
        bad_sig =
            crypto_sign_verify_detached(env->signature.data, msg, msg_len, p->sender_keys.sign_pk);
    for (size_t i = 0; bad_sig && i < p->sender_keys.n_older; i++) {
        const struct envelope_key_pair *k = &p->sender_keys.older[i];
        if (crypto_sign_verify_detached(env->signature.data, msg, msg_len, k->sign_pk) == 0) {
            memcpy(p->sender_keys.sign_pk, k->sign_pk, KEYS_PUBLIC_BYTES);
            memcpy(p->sender_keys.box_pk, k->box_pk, KEYS_PUBLIC_BYTES);
            bad_sig = 0;
        }
    }
    free(msg);
    if (bad_sig) {
        st = ENVELOPE_E_SIGNATURE;
        goto fail;
    }

    if (info != NULL) {
        memset(info, 0, sizeof(*info));
        info->version = h->version;
        strcpy(info->coalition, h->coalition);
        strcpy(info->sender, h->sender);
        info->is_direct = h->log_kind == TMBUS__ENVELOPE__LOG_KIND__LOG_KIND_DIRECT;
        strcpy(info->log_peer, h->log_peer);
        info->seq = h->seq;
        info->has_prev = h->prev_hash.len != 0;
        if (info->has_prev)
            memcpy(info->prev_hash, h->prev_hash.data, ENVELOPE_HASH_BYTES);
        info->roster_version = h->roster_version;
        info->created_at = h->created_at;
        info->expires_at = h->expires_at;
        info->n_stanzas = h->n_stanzas;
        envelope_id(env->header.data, env->header.len, ct_hash, env->signature.data, info->id);
        memcpy(info->ciphertext_hash, ct_hash, sizeof(ct_hash));
        info->is_pruned = is_pruned(env);
    }
    return ENVELOPE_OK;
fail:
    parsed_clear(p);
    return st;
}

enum envelope_status envelope_verify(const uint8_t *env, size_t len, const char *coalition,
                                     envelope_lookup_fn lookup, void *lookup_arg,
                                     struct envelope_info *info)
{
    struct parsed p;
    enum envelope_status st;

    st = parse_and_verify(env, len, coalition, lookup, lookup_arg, SIGNATURE_VERIFY, &p, info);
    parsed_clear(&p);
    return st;
}

enum envelope_status envelope_inspect(const uint8_t *env, size_t len, const char *coalition,
                                      envelope_lookup_fn lookup, void *lookup_arg,
                                      struct envelope_info *info)
{
    struct parsed p;
    enum envelope_status st;

    st = parse_and_verify(env, len, coalition, lookup, lookup_arg, SIGNATURE_SKIP, &p, info);
    parsed_clear(&p);
    return st;
}

/* ---- peek ------------------------------------------------------------- */

/* Protocol buffers wire types envelope_peek meets. */
enum {
    WIRE_VARINT = 0,
    WIRE_FIXED64 = 1,
    WIRE_BYTES = 2,
    WIRE_FIXED32 = 5,
};

/* One field of a serialized message: its number, wire type, and either its
 * varint value or its bytes. */
struct wire_field {
    uint32_t number;
    unsigned type;
    uint64_t value;
    const uint8_t *data;
    size_t len;
};

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Reads the field at *p and moves past it. Returns 0, or -1 when the bytes
 * end early or the wire type is unknown. */
static int read_field(const uint8_t **p, const uint8_t *end, struct wire_field *f)
{
    uint64_t key;

    if (read_varint(p, end, &key) == -1 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->type = (unsigned)(key & 7);
    f->data = NULL;
    f->len = 0;
    switch (f->type) {
    case WIRE_VARINT:
        return read_varint(p, end, &f->value);
    case WIRE_FIXED64:
    case WIRE_FIXED32:
        f->len = f->type == WIRE_FIXED64 ? 8 : 4;
        break;
    case WIRE_BYTES:
        if (read_varint(p, end, &f->value) == -1)
            return -1;
        f->len = (size_t)f->value;
        if (f->value > (uint64_t)(end - *p))
            return -1;
        break;
    default:
        return -1;
    }
    if (f->len > (size_t)(end - *p))
        return -1;
    f->data = *p;
    *p += f->len;
    return 0;
}

/* Copies a member id field into out (UTIL_MEMBER_ID_MAX + 1 bytes). */
static int take_id(const struct wire_field *f, char *out)
{
    if (f->type != WIRE_BYTES || !util_is_member_id((const char *)f->data, f->len))
        return -1;
    memcpy(out, f->data, f->len);
    out[f->len] = '\0';
    return 0;
}

/* The header's sender, log and seq. */
static int peek_header(const uint8_t *p, const uint8_t *end, struct envelope_peek *out)
{
    uint32_t seen = 0;
    uint64_t kind = 0;
    struct wire_field f;

    while (p < end) {
        if (read_field(&p, end, &f) == -1)
            return -1;
        /* The fields read here are singular; stanzas (13) repeat. */
        if (f.number >= 3 && f.number <= 6) {
            if ((seen & (1u << f.number)) != 0)
                return -1;
            seen |= 1u << f.number;
        }
        if (f.number == 3 && take_id(&f, out->sender) == -1)
            return -1;
        if (f.number == 5 && take_id(&f, out->log_peer) == -1)
            return -1;
        if ((f.number == 4 || f.number == 6) && f.type != WIRE_VARINT)
            return -1;
        if (f.number == 4)
            kind = f.value;
        if (f.number == 6)
            out->seq = f.value;
    }
    if (out->sender[0] == '\0' || out->seq == 0)
        return -1;
    if (kind == TMBUS__ENVELOPE__LOG_KIND__LOG_KIND_RELAYED)
        return out->log_peer[0] == '\0' ? 0 : -1;
    if (kind == TMBUS__ENVELOPE__LOG_KIND__LOG_KIND_DIRECT)
        return out->log_peer[0] != '\0' && strcmp(out->log_peer, out->sender) != 0 ? 0 : -1;
    return -1;
}

int envelope_peek(const uint8_t *env, size_t len, struct envelope_peek *out)
{
    const uint8_t *p = env, *end = env + len, *header = NULL;
    size_t header_len = 0;
    uint32_t seen = 0;
    struct wire_field f;

    memset(out, 0, sizeof(*out));
    if (env == NULL || len == 0 || len > ENVELOPE_MAX_SIZE)
        return -1;
    while (p < end) {
        if (read_field(&p, end, &f) == -1 || f.type != WIRE_BYTES || f.number > 4 ||
            (seen & (1u << f.number)) != 0)
            return -1;
        seen |= 1u << f.number;
        if (f.number == 1) {
            header = f.data;
            header_len = f.len;
        } else if (f.number == 3) {
            if (f.len != ENVELOPE_SIGNATURE_BYTES)
                return -1;
            out->signature = f.data;
        }
    }
    if (header == NULL || out->signature == NULL || header_len > ENVELOPE_MAX_HEADER ||
        peek_header(header, header + header_len, out) == -1) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}

/* ---- open ------------------------------------------------------------- */

void envelope_body_free(struct envelope_body **bp)
{
    struct envelope_body *b;

    if (bp == NULL || (b = *bp) == NULL)
        return;
    if (b->payload != NULL) {
        sodium_memzero(b->payload, b->payload_len);
        free(b->payload);
    }
    for (size_t i = 0; i < b->n_recipients; i++)
        free(b->recipients[i]);
    free(b->recipients);
    free(b);
    *bp = NULL;
}

/* Finds and unwraps our stanza into kr->scratch->payload_key: sealed to
 * our box key in self, or during a rotation to one of our others. */
static enum envelope_status unwrap(struct envelope_keyring *kr, const Tmbus__Envelope__Header *h,
                                   const struct envelope_member_keys *sender)
{
    for (size_t k = 0; k <= kr->n_others; k++) {
        const struct keyset *own = k == 0 ? kr->self : kr->others[k - 1];
        enum envelope_status st = ENVELOPE_OK;
        const uint8_t *pair = pair_key(kr, own, sender->box_pk, ENVELOPE_E_SENDER, &st);

        if (pair == NULL)
            return st;
        wrap_key(pair, sender->box_pk, own->box_pk, h->nonce.data, kr->scratch->wrap_key);
        for (size_t i = 0; i < h->n_stanzas; i++)
            if (crypto_aead_xchacha20poly1305_ietf_decrypt(
                    kr->scratch->payload_key, NULL, NULL, h->stanzas[i].data, ENVELOPE_STANZA_BYTES,
                    NULL, 0, h->nonce.data, kr->scratch->wrap_key) == 0)
                return ENVELOPE_OK;
    }
    return ENVELOPE_E_NOT_RECIPIENT;
}

/* Checks the decrypted body against the header and copies it out. */
static enum envelope_status take_body(const Tmbus__Envelope__Body *b,
                                      const Tmbus__Envelope__Header *h, const char *self,
                                      struct envelope_body **out)
{
    struct envelope_body *body;
    bool found_self = false;

    if (strcmp(b->sender, h->sender) != 0 || b->n_recipients != h->n_stanzas)
        return ENVELOPE_E_BODY;
    if (b->payload.len > ENVELOPE_MAX_PAYLOAD)
        return ENVELOPE_E_BODY;
    for (size_t i = 0; i < b->n_recipients; i++) {
        if (!is_id(b->recipients[i]))
            return ENVELOPE_E_BODY;
        for (size_t j = 0; j < i; j++)
            if (strcmp(b->recipients[i], b->recipients[j]) == 0)
                return ENVELOPE_E_BODY;
        found_self |= strcmp(b->recipients[i], self) == 0;
    }
    if (!found_self)
        return ENVELOPE_E_BODY;
    if (h->log_kind == TMBUS__ENVELOPE__LOG_KIND__LOG_KIND_DIRECT &&
        (b->n_recipients != 1 || strcmp(b->recipients[0], h->log_peer) != 0))
        return ENVELOPE_E_BODY;

    if ((body = calloc(1, sizeof(*body))) == NULL)
        return ENVELOPE_E_INTERNAL;
    strcpy(body->sender, b->sender);
    body->recipients = calloc(b->n_recipients, sizeof(*body->recipients));
    body->payload = malloc(b->payload.len ? b->payload.len : 1);
    if (body->recipients == NULL || body->payload == NULL)
        goto nomem;
    for (; body->n_recipients < b->n_recipients; body->n_recipients++) {
        char *id = strdup(b->recipients[body->n_recipients]);
        if (id == NULL)
            goto nomem;
        body->recipients[body->n_recipients] = id;
    }
    if (b->payload.len > 0)
        memcpy(body->payload, b->payload.data, b->payload.len);
    body->payload_len = b->payload.len;
    *out = body;
    return ENVELOPE_OK;
nomem:
    envelope_body_free(&body);
    return ENVELOPE_E_INTERNAL;
}

static enum envelope_status open_envelope(struct envelope_keyring *kr, const uint8_t *env,
                                          size_t len, const char *coalition,
                                          envelope_lookup_fn lookup, void *lookup_arg,
                                          enum signature_mode mode, struct envelope_info *info,
                                          struct envelope_body **body)
{
    struct parsed p;
    const Tmbus__Envelope__Header *h;
    Tmbus__Envelope__Body *b = NULL;
    uint8_t commitment[ENVELOPE_HASH_BYTES];
    uint8_t *plain = NULL;
    size_t plain_len = 0, unpadded;
    enum envelope_status st;

    *body = NULL;
    st = parse_and_verify(env, len, coalition, lookup, lookup_arg, mode, &p, info);
    if (st != ENVELOPE_OK)
        return st;
    h = p.hdr;
    if ((st = unwrap(kr, h, &p.sender_keys)) != ENVELOPE_OK)
        goto out;
    /* Ours, but there is nothing left to open: the stanza says so from the
     * header alone, and the caller can tell the sender. */
    if (is_pruned(p.env)) {
        st = ENVELOPE_E_PRUNED;
        goto out;
    }
    key_commitment(kr->scratch->payload_key, h->nonce.data, commitment);
    if (sodium_memcmp(commitment, h->key_commitment.data, ENVELOPE_HASH_BYTES) != 0) {
        st = ENVELOPE_E_COMMITMENT;
        goto out;
    }

    plain_len = p.env->ciphertext.len - AEAD_TAG_BYTES;
    if ((plain = malloc(plain_len)) == NULL) {
        st = ENVELOPE_E_INTERNAL;
        goto out;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            plain, NULL, NULL, p.env->ciphertext.data, p.env->ciphertext.len, p.env->header.data,
            p.env->header.len, h->nonce.data, kr->scratch->payload_key) != 0) {
        st = ENVELOPE_E_DECRYPT;
        goto out;
    }
    if (sodium_unpad(&unpadded, plain, plain_len, plain_len) != 0) {
        st = ENVELOPE_E_PADDING;
        goto out;
    }
    /* The bucket must be the smallest that fits: no room for a covert
     * channel in oversized padding. */
    if (bucket_for(unpadded) != plain_len) {
        st = ENVELOPE_E_PADDING;
        goto out;
    }
    b = tmbus__envelope__body__unpack(NULL, unpadded, plain);
    if (b == NULL || !is_canonical(&b->base, plain, unpadded)) {
        st = ENVELOPE_E_MALFORMED;
        goto out;
    }
    st = take_body(b, h, kr->self->member, body);
out:
    sodium_memzero(kr->scratch, sizeof(*kr->scratch));
    if (b != NULL) {
        if (b->payload.data != NULL)
            sodium_memzero(b->payload.data, b->payload.len);
        tmbus__envelope__body__free_unpacked(b, NULL);
    }
    if (plain != NULL) {
        sodium_memzero(plain, plain_len);
        free(plain);
    }
    parsed_clear(&p);
    return st;
}

enum envelope_status envelope_open(struct envelope_keyring *kr, const uint8_t *env, size_t len,
                                   const char *coalition, envelope_lookup_fn lookup,
                                   void *lookup_arg, struct envelope_info *info,
                                   struct envelope_body **body)
{
    return open_envelope(kr, env, len, coalition, lookup, lookup_arg, SIGNATURE_VERIFY, info, body);
}

enum envelope_status envelope_open_verified(struct envelope_keyring *kr, const uint8_t *env,
                                            size_t len, const char *coalition,
                                            envelope_lookup_fn lookup, void *lookup_arg,
                                            struct envelope_info *info, struct envelope_body **body)
{
    return open_envelope(kr, env, len, coalition, lookup, lookup_arg, SIGNATURE_TRUSTED, info,
                         body);
}

/* ---- prune ------------------------------------------------------------ */

int envelope_prune(const uint8_t *env, size_t len, uint8_t **out, size_t *out_len)
{
    Tmbus__Envelope__Envelope *e;
    Tmbus__Envelope__Envelope pruned = TMBUS__ENVELOPE__ENVELOPE__INIT;
    uint8_t ct_hash[ENVELOPE_HASH_BYTES];
    int ret = -1;

    *out = NULL;
    *out_len = 0;
    if (env == NULL || len == 0 || len > ENVELOPE_MAX_SIZE)
        return -1;
    if ((e = tmbus__envelope__envelope__unpack(NULL, len, env)) == NULL)
        return -1;
    if (!is_canonical(&e->base, env, len) || e->signature.len != ENVELOPE_SIGNATURE_BYTES ||
        e->header.len == 0 || !is_body_form(e))
        goto out;
    if (is_pruned(e)) {
        ret = 0;
        goto out;
    }
    crypto_generichash(ct_hash, sizeof(ct_hash), e->ciphertext.data, e->ciphertext.len, NULL, 0);
    pruned.header = e->header;
    pruned.signature = e->signature;
    pruned.ciphertext_hash.data = ct_hash;
    pruned.ciphertext_hash.len = sizeof(ct_hash);
    *out_len = tmbus__envelope__envelope__get_packed_size(&pruned);
    if ((*out = malloc(*out_len)) == NULL) {
        *out_len = 0;
        goto out;
    }
    tmbus__envelope__envelope__pack(&pruned, *out);
    ret = 1;
out:
    tmbus__envelope__envelope__free_unpacked(e, NULL);
    return ret;
}

void envelope_hash(const uint8_t *data, size_t len, uint8_t out[ENVELOPE_HASH_BYTES])
{
    crypto_generichash(out, ENVELOPE_HASH_BYTES, data, len, NULL, 0);
}
