/*
 * keys: generates, derives, saves and loads key sets, and performs the only
 * operations that touch their secrets (sign, pair key, store key). The file format is
 * proto/keyfile's, shared with the client and the tools; this file maps it
 * onto key sets and logs why a file is refused. Every secret byte lives in
 * one sodium_malloc allocation per key set and is wiped on every path. This
 * file must never log key material and never hand out a secret key other
 * than the CURVE one.
 */
#include "keys.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyfile.h"
#include "log.h"

#define SEED_BYTES  32
#define PAIR_LABEL  "tmbus pair v1"  /* hashed with its NUL: 14 bytes */
#define STORE_LABEL "tmbus store v1" /* hashed with its NUL: 15 bytes */

static bool kind_is_valid(enum keys_kind kind)
{
    return kind == KEYS_MEMBER || kind == KEYS_CLIENT || kind == KEYS_GOVERNOR;
}

/* The secret file kind of a valid key kind, and the key kind of a file
 * kind. */
static enum keyfile_kind file_kind_of(enum keys_kind kind)
{
    switch (kind) {
    case KEYS_MEMBER:
        return KEYFILE_MEMBER_SECRET;
    case KEYS_CLIENT:
        return KEYFILE_CLIENT_SECRET;
    case KEYS_GOVERNOR:
        return KEYFILE_GOVERNOR_SECRET;
    }
    log_abort(__FILE__, __LINE__, "no file kind for a valid key kind");
}

static enum keys_kind kind_of(enum keyfile_kind fk)
{
    switch (keyfile_kind_public(fk)) {
    case KEYFILE_MEMBER_PUBLIC:
        return KEYS_MEMBER;
    case KEYFILE_CLIENT_PUBLIC:
        return KEYS_CLIENT;
    default:
        return KEYS_GOVERNOR;
    }
}

/* Checks the member argument against the kind; logs why it is refused. */
static int check_member_arg(enum keys_kind kind, const char *member)
{
    if (!kind_is_valid(kind)) {
        log_warnx("keys: unknown key kind %d", (int)kind);
        return -1;
    }
    if (kind == KEYS_CLIENT) {
        if (member != NULL) {
            log_warnx("keys: client keys belong to no member");
            return -1;
        }
        return 0;
    }
    if (member == NULL || !util_is_member_id(member, strlen(member))) {
        log_warnx("keys: a member or governor key set needs a valid member id");
        return -1;
    }
    return 0;
}

/* A zeroed key set with its zeroed secret allocation, or NULL. */
static struct keyset *keyset_new(enum keys_kind kind, const char *member)
{
    struct keyset *ks;

    if (sodium_init() < 0) {
        log_warnx("keys: libsodium failed to initialise");
        return NULL;
    }
    if ((ks = calloc(1, sizeof(*ks))) == NULL) {
        log_warn("keys: calloc");
        return NULL;
    }
    if ((ks->secret = sodium_malloc(sizeof(*ks->secret))) == NULL) {
        log_warn("keys: sodium_malloc");
        free(ks);
        return NULL;
    }
    sodium_memzero(ks->secret, sizeof(*ks->secret));
    ks->kind = kind;
    if (member != NULL)
        memcpy(ks->member, member, strlen(member) + 1);
    return ks;
}

struct keyset *keys_generate(enum keys_kind kind, const char *member)
{
    struct keyset *ks;

    if (check_member_arg(kind, member) == -1 || (ks = keyset_new(kind, member)) == NULL)
        return NULL;
    if (kind == KEYS_MEMBER || kind == KEYS_GOVERNOR)
        crypto_sign_keypair(ks->sign_pk, ks->secret->sign_sk);
    if (kind == KEYS_MEMBER)
        crypto_box_keypair(ks->box_pk, ks->secret->box_sk);
    /* CurveZMQ keys are X25519 key pairs, so crypto_box makes them too. */
    if (kind == KEYS_MEMBER || kind == KEYS_CLIENT)
        crypto_box_keypair(ks->transport_pk, ks->secret->transport_sk);
    return ks;
}

/* BLAKE2b-256 keyed by seed over label: the seed of one key pair. */
static void derive_seed(uint8_t out[SEED_BYTES], const uint8_t seed[SEED_BYTES], const char *label)
{
    crypto_generichash(out, SEED_BYTES, (const uint8_t *)label, strlen(label), seed, SEED_BYTES);
}

struct keyset *keys_from_seed(enum keys_kind kind, const char *member, const uint8_t seed[32])
{
    uint8_t sub[SEED_BYTES];
    struct keyset *ks;

    if (check_member_arg(kind, member) == -1 || (ks = keyset_new(kind, member)) == NULL)
        return NULL;
    if (kind == KEYS_MEMBER || kind == KEYS_GOVERNOR) {
        derive_seed(sub, seed, "tmbus seed sign");
        crypto_sign_seed_keypair(ks->sign_pk, ks->secret->sign_sk, sub);
    }
    if (kind == KEYS_MEMBER) {
        derive_seed(sub, seed, "tmbus seed box");
        crypto_box_seed_keypair(ks->box_pk, ks->secret->box_sk, sub);
    }
    if (kind == KEYS_MEMBER || kind == KEYS_CLIENT) {
        derive_seed(sub, seed, "tmbus seed transport");
        crypto_box_seed_keypair(ks->transport_pk, ks->secret->transport_sk, sub);
    }
    sodium_memzero(sub, sizeof(sub));
    return ks;
}

void keys_free(struct keyset **ksp)
{
    if (ksp == NULL || *ksp == NULL)
        return;
    sodium_free((*ksp)->secret); /* zeroes before unmapping */
    free(*ksp);
    *ksp = NULL;
}

void keys_swap(struct keyset *a, struct keyset *b)
{
    struct keyset t = *a;

    *a = *b;
    *b = t;
    sodium_memzero(&t, sizeof(t));
}

void keys_to_base64(const uint8_t *bin, size_t len, char *out, size_t size)
{
    ensure(size >= sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL));
    sodium_bin2base64(out, size, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

int keys_from_base64(const char *text, uint8_t *bin, size_t want)
{
    const char *end = NULL;
    size_t got = 0;

    /* Only the canonical, padded encoding of exactly want bytes. libsodium
     * already refuses missing padding, set unused bits and stray bytes; the
     * length checks state the contract outright rather than lean on that. */
    if (strlen(text) != sodium_base64_ENCODED_LEN(want, sodium_base64_VARIANT_ORIGINAL) - 1 ||
        sodium_base642bin(bin, want, text, strlen(text), NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != want || *end != '\0') {
        sodium_memzero(bin, want);
        return -1;
    }
    return 0;
}

/* Reads a key file of kind (any kind when 0) and logs why it is refused. */
static int read_file(const char *path, enum keys_kind kind, struct keyfile *kf)
{
    char why[KEYFILE_WHY_MAX];

    if (keyfile_read(path, kf, why, sizeof(why)) == -1) {
        log_warnx("%s", why);
        return -1;
    }
    if (kind != 0 && kind_of(kf->kind) != kind) {
        log_warnx("%s: kind %s is not a %s key file", path, keyfile_kind_name(kf->kind),
                  keyfile_kind_name(keyfile_kind_public(file_kind_of(kind))));
        keyfile_clear(kf);
        return -1;
    }
    return 0;
}

struct keyset *keys_load(const char *path)
{
    struct keyfile kf;
    struct keyset *ks;

    if (read_file(path, 0, &kf) == -1)
        return NULL;
    if (!keyfile_kind_is_secret(kf.kind)) {
        log_warnx("%s: kind %s is not a secret key file", path, keyfile_kind_name(kf.kind));
        keyfile_clear(&kf);
        return NULL;
    }
    if ((ks = calloc(1, sizeof(*ks))) == NULL) {
        log_warn("keys: calloc");
        keyfile_clear(&kf);
        return NULL;
    }
    ks->kind = kind_of(kf.kind);
    memcpy(ks->member, kf.member, sizeof(ks->member));
    memcpy(ks->sign_pk, kf.sign_pk, sizeof(ks->sign_pk));
    memcpy(ks->box_pk, kf.box_pk, sizeof(ks->box_pk));
    memcpy(ks->transport_pk, kf.transport_pk, sizeof(ks->transport_pk));
    ks->secret = kf.secret; /* the key set takes the secret over */
    kf.secret = NULL;
    keyfile_clear(&kf);
    return ks;
}

int keys_load_public(const char *path, struct keys_public *out)
{
    struct keyfile kf;

    if (read_file(path, KEYS_MEMBER, &kf) == -1)
        return -1;
    memset(out, 0, sizeof(*out));
    memcpy(out->member, kf.member, sizeof(out->member));
    memcpy(out->sign_pk, kf.sign_pk, sizeof(out->sign_pk));
    memcpy(out->box_pk, kf.box_pk, sizeof(out->box_pk));
    memcpy(out->transport_pk, kf.transport_pk, sizeof(out->transport_pk));
    keyfile_clear(&kf);
    return 0;
}

int keys_load_governor_public(const char *path, char *member, uint8_t *sign_pk)
{
    struct keyfile kf;

    if (read_file(path, KEYS_GOVERNOR, &kf) == -1)
        return -1;
    memcpy(member, kf.member, UTIL_MEMBER_ID_MAX + 1);
    memcpy(sign_pk, kf.sign_pk, KEYS_PUBLIC_BYTES);
    keyfile_clear(&kf);
    return 0;
}

/* Fails, logged, when path (or a symbolic link of that name) exists. */
static int check_absent(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0) {
        log_warnx("%s already exists; refusing to overwrite it", path);
        return -1;
    }
    if (errno != ENOENT) {
        log_warn("cannot check %s", path);
        return -1;
    }
    return 0;
}

int keys_save(const struct keyset *ks, const char *secret_path, const char *public_path)
{
    struct keyfile kf = {0};
    char why[KEYFILE_WHY_MAX];
    bool wrote_secret = false;
    int rc = -1;

    if (ks == NULL || !kind_is_valid(ks->kind)) {
        log_warnx("keys: cannot save an invalid key set");
        return -1;
    }
    /* Check both names first so that a refusal leaves nothing half done. */
    if ((secret_path != NULL && check_absent(secret_path) == -1) ||
        (public_path != NULL && check_absent(public_path) == -1))
        return -1;
    /* A view of ks: the secret is borrowed, never cleared here. */
    kf.kind = file_kind_of(ks->kind);
    memcpy(kf.member, ks->member, sizeof(kf.member));
    memcpy(kf.sign_pk, ks->sign_pk, sizeof(kf.sign_pk));
    memcpy(kf.box_pk, ks->box_pk, sizeof(kf.box_pk));
    memcpy(kf.transport_pk, ks->transport_pk, sizeof(kf.transport_pk));
    kf.secret = ks->secret;
    if (secret_path != NULL) {
        if (keyfile_write(secret_path, &kf, true, why, sizeof(why)) == -1) {
            log_warnx("%s", why);
            goto out;
        }
        wrote_secret = true;
    }
    if (public_path != NULL && keyfile_write(public_path, &kf, false, why, sizeof(why)) == -1) {
        log_warnx("%s", why);
        goto out;
    }
    rc = 0;
out:
    /* Both files or neither: a lone secret would be a key nobody can use. */
    if (rc == -1 && wrote_secret)
        unlink(secret_path);
    return rc;
}

int keys_sign(const struct keyset *ks, const uint8_t *msg, size_t len,
              uint8_t sig[KEYS_SIGNATURE_BYTES])
{
    if (ks == NULL || (ks->kind != KEYS_MEMBER && ks->kind != KEYS_GOVERNOR)) {
        log_warnx("keys: this key set cannot sign");
        return -1;
    }
    return crypto_sign_detached(sig, NULL, msg, len, ks->secret->sign_sk) == 0 ? 0 : -1;
}

int keys_pair_key(const struct keyset *ks, const uint8_t peer_box_pk[KEYS_PUBLIC_BYTES],
                  uint8_t out[KEYS_PAIR_KEY_BYTES])
{
    crypto_generichash_state st;
    uint8_t shared[crypto_scalarmult_BYTES];
    const uint8_t *lo, *hi;
    int rc = -1;

    if (ks == NULL || ks->kind != KEYS_MEMBER) {
        log_warnx("keys: only a member key set has pair keys");
        goto out;
    }
    /* libsodium refuses a result of all zeros, i.e. a low-order peer key. */
    if (crypto_scalarmult(shared, ks->secret->box_sk, peer_box_pk) != 0)
        goto out;
    if (memcmp(ks->box_pk, peer_box_pk, KEYS_PUBLIC_BYTES) <= 0) {
        lo = ks->box_pk;
        hi = peer_box_pk;
    } else {
        lo = peer_box_pk;
        hi = ks->box_pk;
    }
    crypto_generichash_init(&st, NULL, 0, KEYS_PAIR_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)PAIR_LABEL, sizeof(PAIR_LABEL));
    crypto_generichash_update(&st, shared, sizeof(shared));
    crypto_generichash_update(&st, lo, KEYS_PUBLIC_BYTES);
    crypto_generichash_update(&st, hi, KEYS_PUBLIC_BYTES);
    crypto_generichash_final(&st, out, KEYS_PAIR_KEY_BYTES);
    rc = 0;
out:
    if (rc == -1)
        sodium_memzero(out, KEYS_PAIR_KEY_BYTES);
    sodium_memzero(shared, sizeof(shared));
    sodium_memzero(&st, sizeof(st));
    return rc;
}

uint8_t *keys_derive_store_key(const struct keyset *ks)
{
    uint8_t *key;

    if (ks == NULL || ks->kind != KEYS_MEMBER) {
        log_warnx("keys: only a member key set has a store key");
        return NULL;
    }
    if ((key = sodium_malloc(KEYS_STORE_KEY_BYTES)) == NULL) {
        log_warn("keys: sodium_malloc");
        return NULL;
    }
    /* A keyed hash of a fixed label: a PRF of the box secret, which never
     * leaves this file, separated from every other use of it by the label. */
    crypto_generichash(key, KEYS_STORE_KEY_BYTES, (const uint8_t *)STORE_LABEL, sizeof(STORE_LABEL),
                       ks->secret->box_sk, sizeof(ks->secret->box_sk));
    return key;
}

void keys_store_key_free(uint8_t **keyp)
{
    if (keyp == NULL || *keyp == NULL)
        return;
    sodium_free(*keyp); /* wipes before it frees */
    *keyp = NULL;
}

const uint8_t *keys_transport_secret(const struct keyset *ks)
{
    if (ks == NULL || (ks->kind != KEYS_MEMBER && ks->kind != KEYS_CLIENT))
        return NULL;
    return ks->secret->transport_sk;
}
