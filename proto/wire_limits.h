/*
 * wire_limits: every size limit of what tmbus carries, once. The node, the
 * client library and the tools include this header instead of restating a
 * number; the public tmbus.h repeats a few as TMBUS_* macros, and a build
 * time check keeps those equal to these. Only sizes that are part of the
 * domain or the wire live here: buffer sizes private to one module stay in
 * that module.
 */
#ifndef TMBUS_WIRE_LIMITS_H
#define TMBUS_WIRE_LIMITS_H

/* Identities. */
#define WIRE_MEMBER_ID_MAX   32 /* a member id: 1..32 of A-Z a-z 0-9 _ - */
#define WIRE_CLIENT_NAME_MAX 64 /* a client name: 1..64 of A-Z a-z 0-9 _ . -, no leading '.' */
#define WIRE_COALITION_MAX   64 /* a coalition id: 1..64 of A-Z a-z 0-9 _ . - */
#define WIRE_ID_BYTES        32 /* an envelope (message) id: BLAKE2b-256 */
#define WIRE_KEY_BYTES       32 /* Ed25519, X25519 and CURVE public keys, CURVE secrets */

/* Envelopes. */
#define WIRE_MAX_PAYLOAD    (504 * 1024) /* opaque payload bytes in one envelope */
#define WIRE_MAX_RECIPIENTS 128          /* distinct members one envelope is sealed to */

/* A payload's text fields, in bytes of UTF-8 (tmbus.payload). */
#define WIRE_TITLE_MAX       200  /* a need's title: one line, required */
#define WIRE_DESCRIPTION_MAX 8192 /* a need's or offer's description: free text */
#define WIRE_CONDITIONS_MAX  2048 /* an offer's conditions: free text */
#define WIRE_FIELD_MAX       256  /* a need's beneficiary and contact: one line */
#define WIRE_UNIT_MAX        64   /* a need's unit: one line */
#define WIRE_REASON_MAX      1024 /* an update's or a receipt entry's reason: one line */
#define WIRE_DATE_LEN        10   /* "YYYY-MM-DD", without a NUL */

/* The client API (api.proto). */
#define WIRE_WINDOW_DEFAULT 64   /* envelopes a subscription may have unacked when it names none */
#define WIRE_WINDOW_MAX     1024 /* the most it may name */

/* Receipts. */
#define WIRE_RECEIPT_ENTRIES_MAX 256 /* entries in one Receipt; a sender splits beyond */

#endif
