/*
 * bundle: the file format that carries envelopes between two nodes that
 * never link (a courier, an intermittent satellite link), and the vector a
 * node sends back so that the next bundle holds only what it lacks
 * (proto/PROTOCOL.md 14). It reads and writes the format and checks its
 * signature; it never judges an envelope (route does, when a bundle is
 * imported) and never touches the store. A reader streams: it holds one
 * envelope at a time, never a whole file.
 */
#ifndef TMBUS_BUNDLE_H
#define TMBUS_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "envelope.h"
#include "keys.h"
#include "util.h"

#define BUNDLE_MAGIC            "TMBUSBDL" /* the file's first 8 bytes */
#define BUNDLE_MAGIC_BYTES      8
#define BUNDLE_FORMAT           1
#define BUNDLE_HASH_BYTES       32 /* the answered vector's BLAKE2b-256 */
#define BUNDLE_SIGNATURE_BYTES  KEYS_SIGNATURE_BYTES
#define BUNDLE_MAX_BYTES        ((uint64_t)4 << 30) /* one bundle file */
#define BUNDLE_VECTOR_MAX_BYTES (1024 * 1024)       /* one vector file */
#define BUNDLE_MAX_LOGS         4096                /* sections of a bundle, entries of a vector */
#define BUNDLE_MAX_ENVELOPES    4000000             /* envelopes in one bundle */
#define BUNDLE_ENVELOPE_MAX     ENVELOPE_MAX_SIZE   /* one envelope record */

/* What a file carries. */
enum bundle_kind {
    BUNDLE_KIND_ENVELOPES = 1, /* a bundle: log sections of envelopes */
    BUNDLE_KIND_VECTOR = 2,    /* a vector: one head per log */
};

/* Why a file was refused; a short stable name for each (bundle_status_name)
 * names the counter "bundle.refused.NAME". */
enum bundle_status {
    BUNDLE_OK = 0,
    BUNDLE_E_IO,        /* the file could not be read */
    BUNDLE_E_TRUNCATED, /* it ends before its signature, or inside a record */
    BUNDLE_E_MALFORMED, /* a field out of bounds or out of order, bytes after the end */
    BUNDLE_E_TOO_LARGE, /* over BUNDLE_MAX_BYTES, BUNDLE_MAX_LOGS or BUNDLE_MAX_ENVELOPES */
    BUNDLE_E_SIGNATURE, /* the signature does not verify under the signer's key */
    BUNDLE_E_NOMEM,
    BUNDLE_STATUS_COUNT
};

/* A short stable name ("truncated", "bad-signature", ...). Never NULL. */
const char *bundle_status_name(enum bundle_status st);

/* The signed header: who wrote the file for whom, when, and (a bundle)
 * the BLAKE2b-256 of the vector file it answers. */
struct bundle_header {
    enum bundle_kind kind;
    char coalition[ENVELOPE_COALITION_MAX + 1];
    char from[UTIL_MEMBER_ID_MAX + 1];  /* the signer: exporter, or the vector's node */
    char to[UTIL_MEMBER_ID_MAX + 1];    /* the importer, or the member asked to answer */
    int64_t created_at;                 /* Unix seconds */
    uint8_t answers[BUNDLE_HASH_BYTES]; /* zeros in a vector */
};

/* What bundle_reader_next found. */
enum bundle_item_kind {
    BUNDLE_ITEM_SECTION,  /* a log section begins: log, seq (its first), count */
    BUNDLE_ITEM_ENVELOPE, /* the next envelope of the section: seq, env, len */
    BUNDLE_ITEM_HEAD,     /* a vector entry: log, seq, id */
    BUNDLE_ITEM_END,      /* the signature was read and nothing follows it */
};

struct bundle_item {
    enum bundle_item_kind kind;
    char origin[UTIL_MEMBER_ID_MAX + 1];
    char peer[UTIL_MEMBER_ID_MAX + 1]; /* "" for a relayed log */
    uint64_t seq;
    uint32_t count;
    uint8_t id[ENVELOPE_HASH_BYTES];
    const uint8_t *env; /* the reader's buffer: valid until the next call */
    size_t len;
};

/* Reads up to len bytes into buf. Returns how many (0 at the end of the
 * file only), or -1 on an I/O error. */
typedef long (*bundle_read_fn)(void *arg, uint8_t *buf, size_t len);

struct bundle_reader;

/* A reader pulling bytes from fn(arg), refusing a file beyond max_bytes
 * (at most BUNDLE_MAX_BYTES). It holds one envelope's buffer, grown to the
 * largest envelope read (at most BUNDLE_ENVELOPE_MAX). Returns NULL when
 * out of memory. */
struct bundle_reader *bundle_reader_new(bundle_read_fn fn, void *arg, uint64_t max_bytes);

/* Frees the reader; clears *rp. Accepts NULL. */
void bundle_reader_free(struct bundle_reader **rp);

/* Reads and checks the header: magic, format, kind, ids. Call it once,
 * first. Returns BUNDLE_OK or why not. */
enum bundle_status bundle_reader_header(struct bundle_reader *r, struct bundle_header *out);

/*
 * Reads the next item, checking sizes before reading what they announce:
 * sections (in a bundle) or heads (in a vector) in strictly increasing
 * (origin, peer) order, a section's envelopes one by one, then the end
 * and its signature, after which the file must end. Returns BUNDLE_OK with
 * *out filled, or why not; after an error or BUNDLE_ITEM_END, nothing more
 * can be read.
 */
enum bundle_status bundle_reader_next(struct bundle_reader *r, struct bundle_item *out);

/* After BUNDLE_ITEM_END: whether the signature verifies under sign_pk
 * (KEYS_PUBLIC_BYTES, the signer's active Ed25519 key). Returns BUNDLE_OK
 * or BUNDLE_E_SIGNATURE. */
enum bundle_status bundle_reader_verify(const struct bundle_reader *r, const uint8_t *sign_pk)
    __attribute__((warn_unused_result));

/* Reads a whole file held in memory (a fuzz target, a vector file): the
 * header into *header (may be NULL), every item, and the signature when
 * sign_pk is not NULL. fn (may be NULL) sees every item. Returns
 * BUNDLE_OK or the first fault. */
typedef int (*bundle_item_fn)(void *arg, const struct bundle_item *item);
enum bundle_status bundle_check(const uint8_t *buf, size_t len, const uint8_t *sign_pk,
                                struct bundle_header *header, bundle_item_fn fn, void *arg);

/* BLAKE2b-256 of len bytes: what a bundle's answers field holds of the
 * vector file it answers. */
void bundle_hash(const uint8_t *buf, size_t len, uint8_t out[BUNDLE_HASH_BYTES]);

struct bundle_writer;

/* A writer appending to f (borrowed; the caller closes it), which first
 * writes header. Returns NULL on a write error or out of memory (logged). */
struct bundle_writer *bundle_writer_new(FILE *f, const struct bundle_header *header);

/* Frees the writer; clears *wp. Accepts NULL. */
void bundle_writer_free(struct bundle_writer **wp);

/* Begins a section of count envelopes of log (origin, peer) from seq
 * first; exactly count bundle_writer_envelope calls follow. Sections come
 * in strictly increasing (origin, peer) order. Returns 0 or -1 (logged). */
int bundle_writer_section(struct bundle_writer *w, const char *origin, const char *peer,
                          uint64_t first, uint32_t count);

/* Writes the section's next envelope (1..BUNDLE_ENVELOPE_MAX bytes).
 * Returns 0 or -1 (logged). */
int bundle_writer_envelope(struct bundle_writer *w, const uint8_t *env, size_t len);

/* Writes a vector's head of log (origin, peer): seq held and the id of the
 * envelope there (zeros for seq 0). Returns 0 or -1 (logged). */
int bundle_writer_head(struct bundle_writer *w, const char *origin, const char *peer, uint64_t seq,
                       const uint8_t *id);

/* Writes the end and the signature by ks (the member named as from).
 * Returns 0 or -1 (logged); the caller flushes and syncs f. */
int bundle_writer_finish(struct bundle_writer *w, const struct keyset *ks);

#endif
