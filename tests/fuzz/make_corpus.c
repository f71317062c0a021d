/*
 * make_corpus: writes the seed corpora of fuzz_envelope_verify and
 * fuzz_envelope_open: a few small valid envelopes of the fuzz federation
 * (fuzz_common.h) and a few broken ones. Nonces and payload keys are fixed
 * and Ed25519 is deterministic, so every run writes the same bytes; rerun
 * it only when the envelope format changes.
 *
 *   make_corpus tests/fuzz/corpus
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "envelope.h"
#include "fuzz_common.h"
#include "log.h"
#include "util.h"

#define CREATED_AT 1800000000 /* 2027-01-15 */
#define EXPIRES_AT 1802592000 /* thirty days later */

static const char *const targets[] = {"fuzz_envelope_verify", "fuzz_envelope_open"};

struct sealed {
    uint8_t *buf;
    size_t len;
    uint8_t id[ENVELOPE_HASH_BYTES];
};

/* Writes one corpus file into every target's directory. */
static void emit(const char *root, const char *name, const uint8_t *buf, size_t len)
{
    char path[4096];

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, targets[i]);
        if (mkdir(path, 0755) == -1 && errno != EEXIST)
            fatal("mkdir %s", path);
        snprintf(path, sizeof(path), "%s/%s/%s.bin", root, targets[i], name);
        if (util_write_file(path, buf, len, 0644) == -1)
            fatal("write %s", path);
    }
    printf("%-28s %6zu bytes\n", name, len);
}

/* Seals payload from sender to the comma-free list of member ids in to
 * (one character each), with randomness fixed by name. */
static struct sealed seal(const char *name, const char *sender, const char *to,
                          const char *coalition, const char *log_peer, uint64_t seq,
                          const uint8_t *prev, size_t payload_len)
{
    struct envelope_recipient rcpt[FUZZ_N_MEMBERS + 1];
    struct envelope_seal_args a = {0};
    struct envelope_keyring *kr;
    struct envelope_info info;
    struct sealed s = {0};
    uint8_t nonce[ENVELOPE_NONCE_BYTES], key[ENVELOPE_KEY_BYTES];
    uint8_t payload[512];
    char ids[FUZZ_N_MEMBERS + 1][2];
    const struct keyset *self = fuzz_member(sender);
    struct keyset *stranger = NULL;
    size_t n = strlen(to);

    ensure(n >= 1 && n <= FUZZ_N_MEMBERS && payload_len <= sizeof(payload));
    /* "D" is outside the federation: keys of its own, unknown to lookup. */
    if (self == NULL) {
        uint8_t seed[32];
        crypto_generichash(seed, sizeof(seed), (const uint8_t *)sender, strlen(sender), NULL, 0);
        ensure((stranger = keys_from_seed(KEYS_MEMBER, sender, seed)) != NULL);
        self = stranger;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i][0] = to[i];
        ids[i][1] = '\0';
        ensure(fuzz_member(ids[i]) != NULL);
        rcpt[i].member = ids[i];
        rcpt[i].box_pk = fuzz_member(ids[i])->box_pk;
    }
    crypto_generichash(nonce, sizeof(nonce), (const uint8_t *)name, strlen(name),
                       (const uint8_t *)"corpus nonce", 12);
    crypto_generichash(key, sizeof(key), (const uint8_t *)name, strlen(name),
                       (const uint8_t *)"corpus payload key", 18);
    for (size_t i = 0; i < payload_len; i++)
        payload[i] = (uint8_t)('a' + i % 26);

    a.coalition = coalition;
    a.log_peer = log_peer;
    a.seq = seq;
    a.prev_hash = prev;
    a.roster_version = 1;
    a.created_at = CREATED_AT;
    a.expires_at = EXPIRES_AT;
    a.payload = payload;
    a.payload_len = payload_len;
    a.recipients = rcpt;
    a.n_recipients = n;
    a.fixed_nonce = nonce;
    a.fixed_payload_key = key;
    ensure((kr = envelope_keyring_new(self)) != NULL);
    if (envelope_seal(kr, &a, &s.buf, &s.len, &info) != ENVELOPE_OK)
        fatalx("seal %s failed", name);
    memcpy(s.id, info.id, sizeof(s.id));
    envelope_keyring_free(&kr);
    keys_free(&stranger);
    return s;
}

/* Writes a copy of s with one byte at offset (from the end when negative)
 * flipped. */
static void emit_flipped(const char *root, const char *name, const struct sealed *s, long offset)
{
    uint8_t *copy = malloc(s->len);
    size_t at = offset < 0 ? s->len - (size_t)-offset : (size_t)offset;

    ensure(copy != NULL && at < s->len);
    memcpy(copy, s->buf, s->len);
    copy[at] ^= 0x01;
    emit(root, name, copy, s->len);
    free(copy);
}

int main(int argc, char **argv)
{
    struct sealed s1, s2, s3, d, c, x, other, stranger;
    const char *root;

    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus CORPUS-DIR (tests/fuzz/corpus)\n");
        return 2;
    }
    root = argv[1];
    log_init("make_corpus", LOG_LEVEL_WARN);
    if (sodium_init() < 0)
        fatalx("sodium_init failed");

    /* A's relayed log, seq 1..3: B alone, then B and C, then C alone. */
    s1 = seal("valid-a-b-seq1", "A", "B", FUZZ_COALITION, NULL, 1, NULL, 40);
    s2 = seal("valid-a-bc-seq2", "A", "BC", FUZZ_COALITION, NULL, 2, s1.id, 300);
    s3 = seal("valid-a-c-seq3", "A", "C", FUZZ_COALITION, NULL, 3, s2.id, 10);
    /* A's direct (TLP:RED) log to B. */
    d = seal("valid-direct-a-b-seq1", "A", "B", FUZZ_COALITION, "B", 1, NULL, 64);
    /* C to A and B, with an empty payload. */
    c = seal("valid-c-ab-seq1", "C", "AB", FUZZ_COALITION, NULL, 1, NULL, 0);
    emit(root, "valid-a-b-seq1", s1.buf, s1.len);
    emit(root, "valid-a-bc-seq2", s2.buf, s2.len);
    emit(root, "valid-a-c-seq3", s3.buf, s3.len);
    emit(root, "valid-direct-a-b-seq1", d.buf, d.len);
    emit(root, "valid-c-ab-seq1", c.buf, c.len);

    /* Broken ones, each refused for a different reason. */
    other = seal("bad-coalition", "A", "B", "other-coalition", NULL, 1, NULL, 40);
    stranger = seal("bad-unknown-sender", "D", "B", FUZZ_COALITION, NULL, 1, NULL, 40);
    x = seal("bad-x", "A", "BC", FUZZ_COALITION, NULL, 1, NULL, 40);
    emit(root, "bad-coalition", other.buf, other.len);
    emit(root, "bad-unknown-sender", stranger.buf, stranger.len);
    emit_flipped(root, "bad-signature", &x, -1);
    emit_flipped(root, "bad-ciphertext", &x, -(long)(ENVELOPE_SIGNATURE_BYTES + 2 + 20));
    emit(root, "bad-truncated", x.buf, x.len / 2);

    free(s1.buf);
    free(s2.buf);
    free(s3.buf);
    free(d.buf);
    free(c.buf);
    free(other.buf);
    free(stranger.buf);
    free(x.buf);
    return 0;
}
