/*
 * bundle: reads and writes bundle and vector files (proto/PROTOCOL.md 14).
 * Every length is checked against its limit before the bytes it announces
 * are read, and the reader keeps one envelope in memory, so a file of any
 * size costs at most BUNDLE_ENVELOPE_MAX bytes. The signature covers a
 * BLAKE2b-512 of every byte before it, computed while reading: it says who wrote the
 * file, for whom, and that nothing in it changed. Whether an envelope
 * belongs in the store is not decided here.
 */
#include "bundle.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "domain.h"
#include "log.h"

#define TAG_SECTION 'S'
#define TAG_HEAD    'H'
#define TAG_END     'E'

/* What the signature signs: this context, then the file's hash. */
#define SIGNED_CONTEXT       "tmbus bundle v1" /* and its NUL: 16 bytes */
#define SIGNED_CONTEXT_BYTES 16
#define FILE_HASH_BYTES      64

static const char *const status_names[BUNDLE_STATUS_COUNT] = {
    [BUNDLE_OK] = "ok",
    [BUNDLE_E_IO] = "io-error",
    [BUNDLE_E_TRUNCATED] = "truncated",
    [BUNDLE_E_MALFORMED] = "malformed",
    [BUNDLE_E_TOO_LARGE] = "too-large",
    [BUNDLE_E_SIGNATURE] = "bad-signature",
    [BUNDLE_E_NOMEM] = "out-of-memory",
};

const char *bundle_status_name(enum bundle_status st)
{
    return (unsigned)st < BUNDLE_STATUS_COUNT ? status_names[st] : "unknown";
}

void bundle_hash(const uint8_t *buf, size_t len, uint8_t out[BUNDLE_HASH_BYTES])
{
    crypto_generichash(out, BUNDLE_HASH_BYTES, buf, len, NULL, 0);
}

/* The 80 bytes a signature signs. */
static void signed_message(const uint8_t hash[FILE_HASH_BYTES],
                           uint8_t out[SIGNED_CONTEXT_BYTES + FILE_HASH_BYTES])
{
    memcpy(out, SIGNED_CONTEXT, SIGNED_CONTEXT_BYTES);
    memcpy(out + SIGNED_CONTEXT_BYTES, hash, FILE_HASH_BYTES);
}

/* ---- reading ------------------------------------------------------------ */

enum reader_state {
    AT_HEADER,
    AT_TAG,     /* between sections or heads */
    IN_SECTION, /* envelopes of a section remain */
    AT_FINISH,  /* BUNDLE_ITEM_END was returned */
    FAILED,
};

struct bundle_reader {
    bundle_read_fn read;
    void *arg;
    uint64_t max_bytes, offset;
    enum reader_state state;
    enum bundle_kind kind;
    crypto_generichash_state hash; /* every byte up to and including the end tag */
    bool is_hashing;
    uint8_t file_hash[FILE_HASH_BYTES];
    uint8_t signature[BUNDLE_SIGNATURE_BYTES];
    char last_origin[UTIL_MEMBER_ID_MAX + 1], last_peer[UTIL_MEMBER_ID_MAX + 1];
    bool has_last;
    size_t n_logs;
    uint64_t n_envelopes;
    uint64_t next_seq;  /* the next envelope's seq in the open section */
    uint32_t remaining; /* envelopes left in the open section */
    uint8_t *buf;       /* grown to the largest envelope read, at most BUNDLE_ENVELOPE_MAX */
    size_t cap;
};

struct bundle_reader *bundle_reader_new(bundle_read_fn fn, void *arg, uint64_t max_bytes)
{
    struct bundle_reader *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->read = fn;
    r->arg = arg;
    r->max_bytes = max_bytes < BUNDLE_MAX_BYTES ? max_bytes : BUNDLE_MAX_BYTES;
    r->state = AT_HEADER;
    crypto_generichash_init(&r->hash, NULL, 0, FILE_HASH_BYTES);
    r->is_hashing = true;
    return r;
}

void bundle_reader_free(struct bundle_reader **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    free((*rp)->buf);
    free(*rp);
    *rp = NULL;
}

static enum bundle_status fail(struct bundle_reader *r, enum bundle_status st)
{
    r->state = FAILED;
    return st;
}

/* Reads exactly len bytes, hashing them while the signed part lasts. */
static enum bundle_status take(struct bundle_reader *r, uint8_t *out, size_t len)
{
    size_t got = 0;

    if (len > r->max_bytes - r->offset)
        return fail(r, BUNDLE_E_TOO_LARGE);
    while (got < len) {
        long n = r->read(r->arg, out + got, len - got);
        if (n < 0)
            return fail(r, BUNDLE_E_IO);
        if (n == 0)
            return fail(r, BUNDLE_E_TRUNCATED);
        got += (size_t)n;
    }
    r->offset += len;
    if (r->is_hashing)
        crypto_generichash_update(&r->hash, out, len);
    return BUNDLE_OK;
}

static uint64_t get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* A length-prefixed string of at most max bytes (at least min) into out
 * (max + 1 bytes). */
static enum bundle_status take_string(struct bundle_reader *r, char *out, size_t min, size_t max)
{
    uint8_t len;
    enum bundle_status st;

    if ((st = take(r, &len, 1)) != BUNDLE_OK)
        return st;
    if (len < min || len > max)
        return fail(r, BUNDLE_E_MALFORMED);
    if ((st = take(r, (uint8_t *)out, len)) != BUNDLE_OK)
        return st;
    out[len] = '\0';
    return BUNDLE_OK;
}

/* A member id, or "" when is_optional. */
static enum bundle_status take_member(struct bundle_reader *r, char *out, bool is_optional)
{
    enum bundle_status st = take_string(r, out, is_optional ? 0 : 1, UTIL_MEMBER_ID_MAX);

    if (st != BUNDLE_OK)
        return st;
    if (out[0] != '\0' && !util_is_member_id(out, strlen(out)))
        return fail(r, BUNDLE_E_MALFORMED);
    return BUNDLE_OK;
}

enum bundle_status bundle_reader_header(struct bundle_reader *r, struct bundle_header *out)
{
    uint8_t fixed[BUNDLE_MAGIC_BYTES + 2], when[8];
    enum bundle_status st;

    if (r->state != AT_HEADER)
        return fail(r, BUNDLE_E_MALFORMED);
    memset(out, 0, sizeof(*out));
    if ((st = take(r, fixed, sizeof(fixed))) != BUNDLE_OK)
        return st;
    if (memcmp(fixed, BUNDLE_MAGIC, BUNDLE_MAGIC_BYTES) != 0 ||
        fixed[BUNDLE_MAGIC_BYTES] != BUNDLE_FORMAT ||
        (fixed[BUNDLE_MAGIC_BYTES + 1] != BUNDLE_KIND_ENVELOPES &&
         fixed[BUNDLE_MAGIC_BYTES + 1] != BUNDLE_KIND_VECTOR))
        return fail(r, BUNDLE_E_MALFORMED);
    out->kind = (enum bundle_kind)fixed[BUNDLE_MAGIC_BYTES + 1];
    if ((st = take_string(r, out->coalition, 1, ENVELOPE_COALITION_MAX)) != BUNDLE_OK)
        return st;
    if (!domain_is_word(out->coalition, ENVELOPE_COALITION_MAX))
        return fail(r, BUNDLE_E_MALFORMED);
    if ((st = take_member(r, out->from, false)) != BUNDLE_OK ||
        (st = take_member(r, out->to, false)) != BUNDLE_OK)
        return st;
    if (strcmp(out->from, out->to) == 0)
        return fail(r, BUNDLE_E_MALFORMED);
    if ((st = take(r, when, sizeof(when))) != BUNDLE_OK ||
        (st = take(r, out->answers, BUNDLE_HASH_BYTES)) != BUNDLE_OK)
        return st;
    if (get_be(when, 8) > INT64_MAX)
        return fail(r, BUNDLE_E_MALFORMED);
    out->created_at = (int64_t)get_be(when, 8);
    r->kind = out->kind;
    r->state = AT_TAG;
    return BUNDLE_OK;
}

/* The log of a section or head: ids, origin != peer, strictly after the
 * one before. */
static enum bundle_status take_log(struct bundle_reader *r, struct bundle_item *out)
{
    enum bundle_status st;
    int order;

    if ((st = take_member(r, out->origin, false)) != BUNDLE_OK ||
        (st = take_member(r, out->peer, true)) != BUNDLE_OK)
        return st;
    if (strcmp(out->origin, out->peer) == 0)
        return fail(r, BUNDLE_E_MALFORMED);
    order = strcmp(out->origin, r->last_origin);
    if (order == 0)
        order = strcmp(out->peer, r->last_peer);
    if (r->has_last && order <= 0)
        return fail(r, BUNDLE_E_MALFORMED);
    if (++r->n_logs > BUNDLE_MAX_LOGS)
        return fail(r, BUNDLE_E_TOO_LARGE);
    strcpy(r->last_origin, out->origin);
    strcpy(r->last_peer, out->peer);
    r->has_last = true;
    return BUNDLE_OK;
}

static enum bundle_status next_envelope(struct bundle_reader *r, struct bundle_item *out)
{
    uint8_t len4[4];
    enum bundle_status st;
    uint64_t len;

    if ((st = take(r, len4, sizeof(len4))) != BUNDLE_OK)
        return st;
    len = get_be(len4, 4);
    if (len == 0 || len > BUNDLE_ENVELOPE_MAX)
        return fail(r, BUNDLE_E_MALFORMED);
    if (len > r->cap) {
        uint8_t *grown = realloc(r->buf, (size_t)len);
        if (grown == NULL)
            return fail(r, BUNDLE_E_NOMEM);
        r->buf = grown;
        r->cap = (size_t)len;
    }
    if ((st = take(r, r->buf, (size_t)len)) != BUNDLE_OK)
        return st;
    out->kind = BUNDLE_ITEM_ENVELOPE;
    strcpy(out->origin, r->last_origin);
    strcpy(out->peer, r->last_peer);
    out->seq = r->next_seq++;
    out->env = r->buf;
    out->len = (size_t)len;
    if (--r->remaining == 0)
        r->state = AT_TAG;
    return BUNDLE_OK;
}

static enum bundle_status next_section(struct bundle_reader *r, struct bundle_item *out)
{
    uint8_t nums[12];
    enum bundle_status st;

    if ((st = take_log(r, out)) != BUNDLE_OK || (st = take(r, nums, sizeof(nums))) != BUNDLE_OK)
        return st;
    out->kind = BUNDLE_ITEM_SECTION;
    out->seq = get_be(nums, 8);
    out->count = (uint32_t)get_be(nums + 8, 4);
    if (out->seq == 0 || out->count == 0 || out->seq > (uint64_t)INT64_MAX - out->count)
        return fail(r, BUNDLE_E_MALFORMED);
    if (out->count > BUNDLE_MAX_ENVELOPES - r->n_envelopes)
        return fail(r, BUNDLE_E_TOO_LARGE);
    r->n_envelopes += out->count;
    r->next_seq = out->seq;
    r->remaining = out->count;
    r->state = IN_SECTION;
    return BUNDLE_OK;
}

static enum bundle_status next_head(struct bundle_reader *r, struct bundle_item *out)
{
    uint8_t seq[8], zero[ENVELOPE_HASH_BYTES] = {0};
    enum bundle_status st;

    if ((st = take_log(r, out)) != BUNDLE_OK || (st = take(r, seq, sizeof(seq))) != BUNDLE_OK ||
        (st = take(r, out->id, ENVELOPE_HASH_BYTES)) != BUNDLE_OK)
        return st;
    out->kind = BUNDLE_ITEM_HEAD;
    out->seq = get_be(seq, 8);
    if (out->seq > INT64_MAX || (out->seq == 0 && memcmp(out->id, zero, sizeof(zero)) != 0))
        return fail(r, BUNDLE_E_MALFORMED);
    return BUNDLE_OK;
}

/* The signature, then nothing: a byte after it is refused. */
static enum bundle_status next_end(struct bundle_reader *r, struct bundle_item *out)
{
    enum bundle_status st;
    uint8_t extra;
    long n;

    crypto_generichash_final(&r->hash, r->file_hash, FILE_HASH_BYTES);
    r->is_hashing = false;
    if ((st = take(r, r->signature, BUNDLE_SIGNATURE_BYTES)) != BUNDLE_OK)
        return st;
    if ((n = r->read(r->arg, &extra, 1)) != 0)
        return fail(r, n < 0 ? BUNDLE_E_IO : BUNDLE_E_MALFORMED);
    out->kind = BUNDLE_ITEM_END;
    r->state = AT_FINISH;
    return BUNDLE_OK;
}

enum bundle_status bundle_reader_next(struct bundle_reader *r, struct bundle_item *out)
{
    enum bundle_status st;
    uint8_t tag;

    memset(out, 0, sizeof(*out));
    if (r->state == IN_SECTION)
        return next_envelope(r, out);
    if (r->state != AT_TAG)
        return fail(r, BUNDLE_E_MALFORMED);
    if ((st = take(r, &tag, 1)) != BUNDLE_OK)
        return st;
    if (tag == TAG_END)
        return next_end(r, out);
    if (tag == TAG_SECTION && r->kind == BUNDLE_KIND_ENVELOPES)
        return next_section(r, out);
    if (tag == TAG_HEAD && r->kind == BUNDLE_KIND_VECTOR)
        return next_head(r, out);
    return fail(r, BUNDLE_E_MALFORMED);
}

enum bundle_status bundle_reader_verify(const struct bundle_reader *r, const uint8_t *sign_pk)
{
    uint8_t msg[SIGNED_CONTEXT_BYTES + FILE_HASH_BYTES];

    if (r->state != AT_FINISH)
        return BUNDLE_E_SIGNATURE;
    signed_message(r->file_hash, msg);
    return crypto_sign_verify_detached(r->signature, msg, sizeof(msg), sign_pk) == 0
               ? BUNDLE_OK
               : BUNDLE_E_SIGNATURE;
}

/* A file in memory as a byte source. */
struct memory {
    const uint8_t *buf;
    size_t len, at;
};

static long read_memory(void *arg, uint8_t *buf, size_t len)
{
    struct memory *m = arg;
    size_t n = m->len - m->at < len ? m->len - m->at : len;

    memcpy(buf, m->buf + m->at, n);
    m->at += n;
    return (long)n;
}

enum bundle_status bundle_check(const uint8_t *buf, size_t len, const uint8_t *sign_pk,
                                struct bundle_header *header, bundle_item_fn fn, void *arg)
{
    struct memory m = {buf, len, 0};
    struct bundle_reader *r = bundle_reader_new(read_memory, &m, BUNDLE_MAX_BYTES);
    struct bundle_header h;
    struct bundle_item item;
    enum bundle_status st;

    if (r == NULL)
        return BUNDLE_E_NOMEM;
    if ((st = bundle_reader_header(r, &h)) == BUNDLE_OK) {
        if (header != NULL)
            *header = h;
        do {
            if ((st = bundle_reader_next(r, &item)) != BUNDLE_OK)
                break;
            if (fn != NULL && fn(arg, &item) != 0)
                st = BUNDLE_E_MALFORMED;
        } while (st == BUNDLE_OK && item.kind != BUNDLE_ITEM_END);
    }
    if (st == BUNDLE_OK && sign_pk != NULL)
        st = bundle_reader_verify(r, sign_pk);
    bundle_reader_free(&r);
    return st;
}

/* ---- writing ------------------------------------------------------------ */

struct bundle_writer {
    FILE *f;
    enum bundle_kind kind;
    crypto_generichash_state hash;
    char last_origin[UTIL_MEMBER_ID_MAX + 1], last_peer[UTIL_MEMBER_ID_MAX + 1];
    bool has_last;
    uint32_t remaining; /* envelopes the open section still owes */
    bool is_failed;
};

static int put(struct bundle_writer *w, const void *p, size_t len)
{
    if (w->is_failed || fwrite(p, 1, len, w->f) != len) {
        if (!w->is_failed)
            log_warn("bundle: write");
        w->is_failed = true;
        return -1;
    }
    crypto_generichash_update(&w->hash, p, len);
    return 0;
}

static int put_be(struct bundle_writer *w, uint64_t v, size_t n)
{
    uint8_t b[8];

    for (size_t i = 0; i < n; i++)
        b[n - 1 - i] = (uint8_t)(v >> (8 * i));
    return put(w, b, n);
}

static int put_string(struct bundle_writer *w, const char *s)
{
    size_t len = strlen(s);
    uint8_t l = (uint8_t)len;

    if (len > UINT8_MAX)
        return -1;
    return put(w, &l, 1) == 0 && put(w, s, len) == 0 ? 0 : -1;
}

struct bundle_writer *bundle_writer_new(FILE *f, const struct bundle_header *header)
{
    struct bundle_writer *w = calloc(1, sizeof(*w));
    uint8_t fixed[2] = {BUNDLE_FORMAT, (uint8_t)header->kind};

    if (w == NULL) {
        log_warnx("bundle: out of memory");
        return NULL;
    }
    w->f = f;
    w->kind = header->kind;
    crypto_generichash_init(&w->hash, NULL, 0, FILE_HASH_BYTES);
    if (put(w, BUNDLE_MAGIC, BUNDLE_MAGIC_BYTES) == -1 || put(w, fixed, sizeof(fixed)) == -1 ||
        put_string(w, header->coalition) == -1 || put_string(w, header->from) == -1 ||
        put_string(w, header->to) == -1 || put_be(w, (uint64_t)header->created_at, 8) == -1 ||
        put(w, header->answers, BUNDLE_HASH_BYTES) == -1) {
        bundle_writer_free(&w);
        return NULL;
    }
    return w;
}

void bundle_writer_free(struct bundle_writer **wp)
{
    if (wp == NULL || *wp == NULL)
        return;
    free(*wp);
    *wp = NULL;
}

/* Logs come in strictly increasing (origin, peer) order, as a reader
 * demands. */
static int put_log(struct bundle_writer *w, uint8_t tag, const char *origin, const char *peer)
{
    int order = strcmp(origin, w->last_origin);

    if (order == 0)
        order = strcmp(peer, w->last_peer);
    if (w->remaining != 0 || (w->has_last && order <= 0)) {
        log_warnx("bundle: log %s/%s out of order", origin, peer);
        return -1;
    }
    snprintf(w->last_origin, sizeof(w->last_origin), "%s", origin);
    snprintf(w->last_peer, sizeof(w->last_peer), "%s", peer);
    w->has_last = true;
    return put(w, &tag, 1) == 0 && put_string(w, origin) == 0 && put_string(w, peer) == 0 ? 0 : -1;
}

int bundle_writer_section(struct bundle_writer *w, const char *origin, const char *peer,
                          uint64_t first, uint32_t count)
{
    if (w->kind != BUNDLE_KIND_ENVELOPES || first == 0 || count == 0 ||
        put_log(w, TAG_SECTION, origin, peer) == -1)
        return -1;
    w->remaining = count;
    return put_be(w, first, 8) == 0 && put_be(w, count, 4) == 0 ? 0 : -1;
}

int bundle_writer_envelope(struct bundle_writer *w, const uint8_t *env, size_t len)
{
    if (w->remaining == 0 || len == 0 || len > BUNDLE_ENVELOPE_MAX) {
        log_warnx("bundle: an envelope outside a section or of %zu bytes", len);
        return -1;
    }
    w->remaining--;
    return put_be(w, len, 4) == 0 && put(w, env, len) == 0 ? 0 : -1;
}

int bundle_writer_head(struct bundle_writer *w, const char *origin, const char *peer, uint64_t seq,
                       const uint8_t *id)
{
    if (w->kind != BUNDLE_KIND_VECTOR || put_log(w, TAG_HEAD, origin, peer) == -1)
        return -1;
    return put_be(w, seq, 8) == 0 && put(w, id, ENVELOPE_HASH_BYTES) == 0 ? 0 : -1;
}

int bundle_writer_finish(struct bundle_writer *w, const struct keyset *ks)
{
    uint8_t tag = TAG_END, hash[FILE_HASH_BYTES], sig[BUNDLE_SIGNATURE_BYTES];
    uint8_t msg[SIGNED_CONTEXT_BYTES + FILE_HASH_BYTES];

    if (w->remaining != 0) {
        log_warnx("bundle: a section is %u envelopes short", (unsigned)w->remaining);
        return -1;
    }
    if (put(w, &tag, 1) == -1)
        return -1;
    crypto_generichash_final(&w->hash, hash, sizeof(hash));
    signed_message(hash, msg);
    if (keys_sign(ks, msg, sizeof(msg), sig) == -1) {
        log_warnx("bundle: cannot sign");
        return -1;
    }
    if (w->is_failed || fwrite(sig, 1, sizeof(sig), w->f) != sizeof(sig)) {
        log_warn("bundle: write");
        return -1;
    }
    return 0;
}
