/*
 * bench_envelope: measures what an envelope costs, in one run on one
 * machine, so that the numbers can be compared with each other: seal for 1
 * and 20 recipients (with a warm and a cold pair-key cache), verify, open,
 * raw Ed25519 beside them, and the two ways of wrapping a payload key that
 * envelope.h weighs. A program, never a timed test; every loop is bounded
 * in both count and time.
 *
 *   bench_envelope [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "bench_util.h"
#include "envelope.h"
#include "keys.h"
#include "log.h"

#define ROUNDS       5
#define N_RCPT       20
#define PAYLOAD_LEN  512 /* a typical need or offer */
#define SIGN_MSG_LEN 400 /* about tag + header + hash of a 20-recipient envelope */
#define COALITION    "bench-coalition"
#define NAME_WIDTH   52

/* Per-round bounds; --quick divides both by ten. */
static double round_seconds = 0.5;
static unsigned long round_max_ops = 200000;

struct bench {
    struct keyset *sender;
    struct keyset *rcpt[N_RCPT];
    char rcpt_ids[N_RCPT][8];
    struct envelope_recipient recipients[N_RCPT];
    struct envelope_keyring *kr_warm;
    struct envelope_keyring *kr_last;  /* the recipient whose stanza sorts last */
    struct envelope_keyring *kr_first; /* ... and first */
    struct envelope_seal_args args1, args20;
    uint8_t payload[PAYLOAD_LEN];
    uint8_t *env20;
    size_t env20_len;
    /* Raw primitives. */
    uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES], sign_sk[crypto_sign_SECRETKEYBYTES];
    uint8_t msg[SIGN_MSG_LEN], sig[crypto_sign_BYTES];
    uint8_t key[ENVELOPE_KEY_BYTES], nonce[ENVELOPE_NONCE_BYTES];
    uint8_t pair[N_RCPT][KEYS_PAIR_KEY_BYTES];
    uint8_t wrapped[N_RCPT][crypto_box_SEALBYTES + ENVELOPE_KEY_BYTES];
};

typedef void (*bench_fn)(struct bench *b);

/* Median over ROUNDS rounds of ops per second; each round stops at
 * round_max_ops operations or round_seconds, whichever comes first. */
static double measure(bench_fn fn, struct bench *b)
{
    double rates[ROUNDS];

    fn(b); /* warm-up: caches, page faults, lazy init */
    for (int r = 0; r < ROUNDS; r++) {
        double start = bench_now(), t = start;
        unsigned long n = 0;
        while (n < round_max_ops) {
            fn(b);
            n++;
            if ((t = bench_now()) - start >= round_seconds)
                break;
        }
        rates[r] = (double)n / (t - start);
    }
    qsort(rates, ROUNDS, sizeof(rates[0]), bench_compare_double);
    return rates[ROUNDS / 2];
}

static void seal_or_die(struct envelope_keyring *kr, const struct envelope_seal_args *a)
{
    uint8_t *out;
    size_t len;
    enum envelope_status st = envelope_seal(kr, a, &out, &len, NULL);

    if (st != ENVELOPE_OK)
        fatalx("seal: %s", envelope_status_name(st));
    free(out);
}

static void op_seal1(struct bench *b)
{
    seal_or_die(b->kr_warm, &b->args1);
}

static void op_seal20(struct bench *b)
{
    seal_or_die(b->kr_warm, &b->args20);
}

/* A fresh keyring has an empty pair-key cache: 20 X25519s per seal. */
static void op_seal20_cold(struct bench *b)
{
    struct envelope_keyring *kr = envelope_keyring_new(b->sender);

    ensure(kr != NULL);
    seal_or_die(kr, &b->args20);
    envelope_keyring_free(&kr);
}

static int lookup(void *arg, const char *member, const char *log_peer, uint64_t seq,
                  struct envelope_member_keys *out)
{
    const struct bench *b = arg;
    const struct keyset *ks = NULL;

    (void)log_peer;
    (void)seq;
    if (strcmp(member, b->sender->member) == 0)
        ks = b->sender;
    for (size_t i = 0; ks == NULL && i < N_RCPT; i++)
        if (strcmp(member, b->rcpt[i]->member) == 0)
            ks = b->rcpt[i];
    if (ks == NULL)
        return -1;
    memcpy(out->sign_pk, ks->sign_pk, KEYS_PUBLIC_BYTES);
    memcpy(out->box_pk, ks->box_pk, KEYS_PUBLIC_BYTES);
    return 0;
}

static void op_verify(struct bench *b)
{
    struct envelope_info info;

    if (envelope_verify(b->env20, b->env20_len, COALITION, lookup, b, &info) != ENVELOPE_OK)
        fatalx("verify failed");
}

static void open_with(struct bench *b, struct envelope_keyring *kr)
{
    struct envelope_info info;
    struct envelope_body *body = NULL;

    if (envelope_open(kr, b->env20, b->env20_len, COALITION, lookup, b, &info, &body) !=
        ENVELOPE_OK)
        fatalx("open failed");
    envelope_body_free(&body);
}

static void op_open_last(struct bench *b)
{
    open_with(b, b->kr_last);
}

static void op_open_first(struct bench *b)
{
    open_with(b, b->kr_first);
}

static void op_sign(struct bench *b)
{
    crypto_sign_detached(b->sig, NULL, b->msg, sizeof(b->msg), b->sign_sk);
}

static void op_sign_verify(struct bench *b)
{
    if (crypto_sign_verify_detached(b->sig, b->msg, sizeof(b->msg), b->sign_pk) != 0)
        fatalx("raw signature does not verify");
}

/* The alternative envelope.h turned down: a sealed box per recipient, each
 * with its own ephemeral X25519. */
static void op_wrap_box_seal(struct bench *b)
{
    for (size_t i = 0; i < N_RCPT; i++)
        crypto_box_seal(b->wrapped[i], b->key, sizeof(b->key), b->rcpt[i]->box_pk);
}

/* What envelope.c does per recipient once the pair key is cached: one
 * keyed BLAKE2b for the wrap key and one 32-byte AEAD. */
static void op_wrap_pair(struct bench *b)
{
    uint8_t w[ENVELOPE_KEY_BYTES];
    crypto_generichash_state st;

    for (size_t i = 0; i < N_RCPT; i++) {
        crypto_generichash_init(&st, b->pair[i], KEYS_PAIR_KEY_BYTES, sizeof(w));
        crypto_generichash_update(&st, (const uint8_t *)"tmbus wrap v1", 14);
        crypto_generichash_update(&st, b->sender->box_pk, KEYS_PUBLIC_BYTES);
        crypto_generichash_update(&st, b->rcpt[i]->box_pk, KEYS_PUBLIC_BYTES);
        crypto_generichash_update(&st, b->nonce, sizeof(b->nonce));
        crypto_generichash_final(&st, w, sizeof(w));
        crypto_aead_xchacha20poly1305_ietf_encrypt(b->wrapped[i], NULL, b->key, sizeof(b->key),
                                                   NULL, 0, NULL, b->nonce, w);
    }
    sodium_memzero(w, sizeof(w));
}

static struct keyset *member(const char *id)
{
    uint8_t seed[32];
    struct keyset *ks;

    crypto_generichash(seed, sizeof(seed), (const uint8_t *)id, strlen(id), NULL, 0);
    if ((ks = keys_from_seed(KEYS_MEMBER, id, seed)) == NULL)
        fatalx("keys_from_seed %s failed", id);
    return ks;
}

/* Offset of needle in hay, or -1. */
static long find(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t len)
{
    for (size_t i = 0; i + len <= hay_len; i++)
        if (memcmp(hay + i, needle, len) == 0)
            return (long)i;
    return -1;
}

/* Seals the 20-recipient envelope that verify and open measure, with fixed
 * randomness so that we can tell whose stanza sorts first and last: the
 * stanzas are recomputed here by envelope.h's construction and located in
 * the envelope, which also checks that construction. */
static void setup_env20(struct bench *b)
{
    uint8_t stanza[N_RCPT][ENVELOPE_STANZA_BYTES], w[ENVELOPE_KEY_BYTES];
    crypto_generichash_state st;
    size_t first = 0, last = 0;
    long at[N_RCPT];

    b->args20.fixed_nonce = b->nonce;
    b->args20.fixed_payload_key = b->key;
    if (envelope_seal(b->kr_warm, &b->args20, &b->env20, &b->env20_len, NULL) != ENVELOPE_OK)
        fatalx("seal of the 20-recipient envelope failed");
    b->args20.fixed_nonce = NULL;
    b->args20.fixed_payload_key = NULL;
    for (size_t i = 0; i < N_RCPT; i++) {
        crypto_generichash_init(&st, b->pair[i], KEYS_PAIR_KEY_BYTES, sizeof(w));
        crypto_generichash_update(&st, (const uint8_t *)"tmbus wrap v1", 14);
        crypto_generichash_update(&st, b->sender->box_pk, KEYS_PUBLIC_BYTES);
        crypto_generichash_update(&st, b->rcpt[i]->box_pk, KEYS_PUBLIC_BYTES);
        crypto_generichash_update(&st, b->nonce, sizeof(b->nonce));
        crypto_generichash_final(&st, w, sizeof(w));
        crypto_aead_xchacha20poly1305_ietf_encrypt(stanza[i], NULL, b->key, sizeof(b->key), NULL, 0,
                                                   NULL, b->nonce, w);
        if ((at[i] = find(b->env20, b->env20_len, stanza[i], ENVELOPE_STANZA_BYTES)) < 0)
            fatalx("stanza of %s not found: envelope.c and envelope.h disagree", b->rcpt_ids[i]);
        if (at[i] < at[first])
            first = i;
        if (at[i] > at[last])
            last = i;
    }
    sodium_memzero(w, sizeof(w));
    if ((b->kr_last = envelope_keyring_new(b->rcpt[last])) == NULL ||
        (b->kr_first = envelope_keyring_new(b->rcpt[first])) == NULL)
        fatalx("keyring failed");
}

static void setup(struct bench *b)
{
    b->sender = member("EE");
    for (size_t i = 0; i < N_RCPT; i++) {
        snprintf(b->rcpt_ids[i], sizeof(b->rcpt_ids[i]), "R%02zu", i + 1);
        b->rcpt[i] = member(b->rcpt_ids[i]);
        b->recipients[i].member = b->rcpt_ids[i];
        b->recipients[i].box_pk = b->rcpt[i]->box_pk;
        if (keys_pair_key(b->sender, b->rcpt[i]->box_pk, b->pair[i]) != 0)
            fatalx("pair key failed");
    }
    if ((b->kr_warm = envelope_keyring_new(b->sender)) == NULL)
        fatalx("keyring failed");
    randombytes_buf(b->payload, sizeof(b->payload));
    randombytes_buf(b->key, sizeof(b->key));
    randombytes_buf(b->nonce, sizeof(b->nonce));
    randombytes_buf(b->msg, sizeof(b->msg));
    crypto_sign_keypair(b->sign_pk, b->sign_sk);
    crypto_sign_detached(b->sig, NULL, b->msg, sizeof(b->msg), b->sign_sk);

    b->args1.coalition = COALITION;
    b->args1.seq = 1;
    b->args1.roster_version = 1;
    b->args1.created_at = 1800000000;
    b->args1.payload = b->payload;
    b->args1.payload_len = sizeof(b->payload);
    b->args1.recipients = b->recipients;
    b->args1.n_recipients = 1;
    b->args20 = b->args1;
    b->args20.n_recipients = N_RCPT;
    setup_env20(b);
}

static void teardown(struct bench *b)
{
    envelope_keyring_free(&b->kr_warm);
    envelope_keyring_free(&b->kr_last);
    envelope_keyring_free(&b->kr_first);
    free(b->env20);
    for (size_t i = 0; i < N_RCPT; i++)
        keys_free(&b->rcpt[i]);
    keys_free(&b->sender);
    sodium_memzero(b->sign_sk, sizeof(b->sign_sk));
    sodium_memzero(b->pair, sizeof(b->pair));
}

/* Prints one row of the main table. */
static void row(const char *name, double rate)
{
    printf("%-*s %12.0f %11.2f\n", NAME_WIDTH, name, rate, 1e6 / rate);
}

int main(int argc, char **argv)
{
    static struct bench b; /* large; keep it off the stack */
    double box, pair;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            round_seconds /= 10;
            round_max_ops /= 10;
        } else {
            fprintf(stderr, "usage: bench_envelope [--quick]\n");
            return 2;
        }
    }
    log_init("bench_envelope", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        fatalx("sodium_init failed");
    setup(&b);

    printf("tmbus envelope benchmark: median of %d rounds, each at most %lu ops and %.2f s;\n",
           ROUNDS, round_max_ops, round_seconds);
    printf("payload %d bytes, 20-recipient envelope %zu bytes.\n\n", PAYLOAD_LEN, b.env20_len);
    /* "µs" is two bytes wide but one column, hence the + 1. */
    printf("%-*s %12s %*s\n", NAME_WIDTH, "operation", "ops/s", 11 + 1, "µs/op");
    row("seal, 1 recipient", measure(op_seal1, &b));
    row("seal, 20 recipients, warm keyring (pair keys cached)", measure(op_seal20, &b));
    row("seal, 20 recipients, cold keyring (20 X25519)", measure(op_seal20_cold, &b));
    row("verify, 20-recipient envelope", measure(op_verify, &b));
    row("open, 20-recipient envelope, our stanza last", measure(op_open_last, &b));
    row("open, 20-recipient envelope, our stanza first", measure(op_open_first, &b));
    row("crypto_sign_detached (Ed25519), raw", measure(op_sign, &b));
    row("crypto_sign_verify_detached (Ed25519), raw", measure(op_sign_verify, &b));

    box = 1e6 / measure(op_wrap_box_seal, &b) / N_RCPT;
    pair = 1e6 / measure(op_wrap_pair, &b) / N_RCPT;
    printf("\n%-*s %*s\n", NAME_WIDTH, "wrapping a 32-byte payload key for 20 recipients", 24 + 1,
           "µs/recipient");
    printf("%-*s %24.2f\n", NAME_WIDTH, "crypto_box_seal (one ephemeral X25519 each)", box);
    printf("%-*s %24.2f\n", NAME_WIDTH, "BLAKE2b + XChaCha20-Poly1305 (cached pair key)", pair);
    printf("%-*s %23.1fx\n", NAME_WIDTH, "ratio, sealed box / pair key", box / pair);

    teardown(&b);
    return 0;
}
