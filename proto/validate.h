/*
 * validate: the rules every need, offer, update and receipt must pass, on
 * the decoded tmbus.payload messages. The client library validates the
 * message it is about to encode and the node validates the message it has
 * just decoded with the same functions, so a post one accepts the other
 * accepts too. These are the field rules only (sizes, one-line text, UTF-8
 * without control characters, real dates, enum ranges, quantity bounds);
 * who may post what, and in which state, is the board's to decide.
 */
#ifndef TMBUS_VALIDATE_H
#define TMBUS_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "payload.pb-c.h"

/* Enough for any reason these functions write. */
#define VALIDATE_WHY_MAX 256

/* What is wrong with a message. */
enum validate_fault {
    VALIDATE_OK = 0,
    VALIDATE_MALFORMED, /* no kind, a missing sub-message, or fields this side does not know */
    VALIDATE_BAD_FIELD, /* a field out of bounds: enum, quantity, text, date or id */
};

/* How a text field is held to account (validate_text's flags). */
#define VALIDATE_ONE_LINE 1u /* no line breaks either */
#define VALIDATE_REQUIRED 2u /* NULL or "" is refused */

/* True if the len bytes at s are strict UTF-8: no overlong forms, no
 * surrogates, nothing past U+10FFFF (what protobuf demands of a string). */
bool validate_is_utf8(const uint8_t *s, size_t len);

/* Checks one text field named field (for the reason): at most max bytes of
 * UTF-8 without control characters; tab is allowed, and so are line breaks
 * unless flags has VALIDATE_ONE_LINE. NULL counts as "". Writes a
 * one-line reason into why (may be NULL) when it fails. */
enum validate_fault validate_text(const char *field, const char *s, size_t max, unsigned flags,
                                  char *why, size_t why_size) __attribute__((warn_unused_result));

/* Checks a need. With is_edit (the values of a NeedUpdate edit) every
 * field may be unset (0 or ""), the set ones are checked as usual, and at
 * least one must be set; otherwise sector, category, title, quantity,
 * priority and TLP are required. */
enum validate_fault validate_need(const Tmbus__Payload__Need *n, bool is_edit, char *why,
                                  size_t why_size) __attribute__((warn_unused_result));

/* Checks an offer: need id empty (a catalogue offer) or WIRE_ID_BYTES,
 * quantity 1..INT64_MAX, TLP required. */
enum validate_fault validate_offer(const Tmbus__Payload__Offer *o, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Checks a need update: a WIRE_ID_BYTES need id, a known action, new
 * values (validate_need with is_edit) exactly when the action is an edit,
 * and a one-line reason. */
enum validate_fault validate_need_update(const Tmbus__Payload__NeedUpdate *u, char *why,
                                         size_t why_size) __attribute__((warn_unused_result));

/* Checks an offer update: a WIRE_ID_BYTES offer id, a known action and a
 * one-line reason. */
enum validate_fault validate_offer_update(const Tmbus__Payload__OfferUpdate *u, char *why,
                                          size_t why_size) __attribute__((warn_unused_result));

/* Checks a receipt: 1..WIRE_RECEIPT_ENTRIES_MAX entries, each with a
 * WIRE_ID_BYTES envelope id, a known state and a one-line reason. */
enum validate_fault validate_receipt(const Tmbus__Payload__Receipt *r, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Checks a need share: a WIRE_ID_BYTES need id, a seq of 1 or more, a
 * created_at of 0 or more, and a need that validate_need takes as posted
 * (not an edit) and that is not TLP:RED: a share travels in a relayed log,
 * which every node stores (PROTOCOL.md 6.7). */
enum validate_fault validate_need_share(const Tmbus__Payload__NeedShare *s, char *why,
                                        size_t why_size) __attribute__((warn_unused_result));

/* Checks a whole decoded Payload: exactly one kind, set, and that kind's
 * rules above. The node calls it on what it decodes; never crashes on
 * anything protobuf-c unpacked. */
enum validate_fault validate_payload(const Tmbus__Payload__Payload *p, char *why, size_t why_size)
    __attribute__((warn_unused_result));

#endif
