/*
 * receipt: the codec of Receipt payloads (proto/payload.proto), the word a
 * recipient's node sends back about one envelope: delivered, or rejected
 * with a reason. Pure functions over bytes: no I/O, no store, no keys. It
 * never decides whether a receipt is believed; node.c does, against the
 * recipients the store recorded for the post.
 */
#ifndef TMBUS_RECEIPT_H
#define TMBUS_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#define RECEIPT_ID_BYTES   32
#define RECEIPT_REASON_MAX 1024 /* bytes of a rejection's reason, one line */

/* Per-recipient delivery states; codes kept by the store. Pending is never
 * sent: it is what a post's recipients start as. */
enum receipt_state {
    RECEIPT_PENDING = 0,
    RECEIPT_DELIVERED = 1,
    RECEIPT_REJECTED = 2,
};

/* A decoded receipt. reason is "" unless state is RECEIPT_REJECTED. */
struct receipt {
    uint8_t envelope_id[RECEIPT_ID_BYTES];
    enum receipt_state state;
    char reason[RECEIPT_REASON_MAX + 1];
};

/* What receipt_decode found in a payload. */
enum receipt_kind {
    RECEIPT_NOT_A_RECEIPT = 0, /* another kind, or not a Payload at all */
    RECEIPT_VALID = 1,
    RECEIPT_MALFORMED = 2, /* says it is a receipt, but is not a sound one */
};

/*
 * Encodes Payload{receipt{envelope_id, state, reason}} into a malloc'd
 * buffer the caller frees. state is RECEIPT_DELIVERED or RECEIPT_REJECTED;
 * reason (may be NULL) is cut to RECEIPT_REASON_MAX bytes and to its first
 * line. Returns 0, or -1 on a bad argument or ENOMEM (logged).
 */
int receipt_encode(const uint8_t *envelope_id, enum receipt_state state, const char *reason,
                   uint8_t **out, size_t *len) __attribute__((warn_unused_result));

/*
 * Reads payload: fills *out and returns RECEIPT_VALID for a sound receipt
 * (a 32-byte id, a known state other than pending, a one-line reason of at
 * most RECEIPT_REASON_MAX bytes, no unknown fields), RECEIPT_MALFORMED for
 * a Payload of kind receipt that is not sound, RECEIPT_NOT_A_RECEIPT for
 * anything else. Never logs the payload.
 */
enum receipt_kind receipt_decode(const uint8_t *payload, size_t len, struct receipt *out)
    __attribute__((warn_unused_result));

/* "pending", "delivered", "rejected"; "unknown" out of range. */
const char *receipt_state_name(int state);

#endif
