/*
 * receipt: the codec of Receipt payloads (proto/payload.proto), the word a
 * recipient's node sends back about the envelopes of one sender it handled
 * in a loop round: one entry per envelope, delivered or rejected with a
 * reason. Pure functions over bytes: no I/O, no store, no keys. It never
 * decides whether an entry is believed; route.c does, against the
 * recipients the store recorded for the post.
 */
#ifndef TMBUS_RECEIPT_H
#define TMBUS_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "message.h"
#include "wire_limits.h"

/* The wire's receipt limits, under the names the receipt code uses. */
#define RECEIPT_REASON_MAX  WIRE_REASON_MAX          /* a rejection's reason, one line */
#define RECEIPT_MAX_ENTRIES WIRE_RECEIPT_ENTRIES_MAX /* a sender splits beyond */
/* An upper bound on one encoded entry: its own tag and length, the id, the
 * state and the longest reason, each with tag and length. */
#define RECEIPT_ENTRY_MAX_BYTES (4 + 2 + WIRE_ID_BYTES + 2 + 3 + RECEIPT_REASON_MAX)
/* An upper bound on an encoded receipt of RECEIPT_MAX_ENTRIES entries. */
#define RECEIPT_MAX_BYTES (16 + RECEIPT_MAX_ENTRIES * RECEIPT_ENTRY_MAX_BYTES)

/* Per-recipient delivery states; codes kept by the store. Pending is never
 * sent: it is what a post's recipients start as. */
enum receipt_state {
    RECEIPT_PENDING = 0,
    RECEIPT_DELIVERED = 1,
    RECEIPT_REJECTED = 2,
};

/* One envelope's entry. reason is "" unless state is RECEIPT_REJECTED. */
struct receipt_entry {
    uint8_t envelope_id[WIRE_ID_BYTES];
    enum receipt_state state;
    char reason[RECEIPT_REASON_MAX + 1];
};

/* A decoded receipt: 1..RECEIPT_MAX_ENTRIES entries. */
struct receipt {
    size_t n_entries;
    struct receipt_entry entries[];
};

/* What receipt_decode found in a payload. */
enum receipt_kind {
    RECEIPT_NOT_A_RECEIPT = 0, /* another kind, or not a Payload at all */
    RECEIPT_VALID = 1,
    RECEIPT_MALFORMED = 2, /* says it is a receipt, but is not a sound one */
};

/*
 * Encodes Payload{receipt{entries[0..n)}} into a malloc'd buffer of at most
 * RECEIPT_MAX_BYTES that the caller frees. n is 1..RECEIPT_MAX_ENTRIES;
 * each state is RECEIPT_DELIVERED or RECEIPT_REJECTED; a rejection's reason
 * is cut to its first line (a delivery's is not sent). Returns 0, or -1 on
 * a bad argument or ENOMEM (logged).
 */
int receipt_encode(const struct receipt_entry *entries, size_t n, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));

/*
 * Reads payload and returns RECEIPT_VALID for a receipt the shared field
 * rules accept (validate_receipt: 1 to RECEIPT_MAX_ENTRIES entries, each
 * with a 32-byte id, a known state and a one-line reason of at most
 * RECEIPT_REASON_MAX bytes of text; no unknown fields), RECEIPT_MALFORMED
 * for a Payload of kind receipt that they refuse, RECEIPT_NOT_A_RECEIPT for anything else. With out
 * not NULL, a valid receipt is stored in a malloc'd *out the caller releases with receipt_free;
 * *out is NULL otherwise. Never logs the payload.
 */
enum receipt_kind receipt_decode(const uint8_t *payload, size_t len, struct receipt **out)
    __attribute__((warn_unused_result));

/* receipt_decode over a payload already decoded into the view m: the same
 * checks and result, without decoding the bytes again. */
enum receipt_kind receipt_read(const struct message *m, struct receipt **out)
    __attribute__((warn_unused_result));

/* Frees a decoded receipt. Accepts NULL; clears *rp. */
void receipt_free(struct receipt **rp);

/* "pending", and the wire's names (proto/domain.h): "delivered",
 * "rejected"; "unknown" out of range. */
const char *receipt_state_name(int state);

#endif
