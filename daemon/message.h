/*
 * message: a checked, typed view of a payload (proto/payload.proto). A
 * payload's bytes are decoded once per envelope, by message_decode, and
 * every reader after it (the api on a post or a delivery, the board, the
 * receipts) works on the view. It also holds the payload rules that more
 * than one module applies: which roster role may post which kind, and
 * which TLP label a payload is handled under. It is the only daemon module
 * that decodes a Payload, and the view carries the verdict of the shared
 * field rules (proto/validate.h) so that no reader checks a field again;
 * only board.c and receipt.c read the generated structs behind the view.
 * It never logs a payload's content.
 */
#ifndef TMBUS_MESSAGE_H
#define TMBUS_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "roster.h"

/* What a payload is; the numbers are the Payload's `kind` field numbers,
 * so that subscription filters can name them as bits. */
enum message_kind {
    MESSAGE_NONE = 0, /* not a Payload, or a Payload with no kind set */
    MESSAGE_NEED = 1,
    MESSAGE_OFFER = 2,
    MESSAGE_NEED_UPDATE = 3,
    MESSAGE_OFFER_UPDATE = 4,
    MESSAGE_RECEIPT = 5,
    MESSAGE_NEED_SHARE = 6, /* a need its owner's node shares with a new member */
};

/* TLP labels, as tmbus.payload.TLP numbers them; 0 is "no label". */
enum message_tlp {
    MESSAGE_TLP_NONE = 0,
    MESSAGE_TLP_CLEAR = 1,
    MESSAGE_TLP_GREEN = 2,
    MESSAGE_TLP_AMBER = 3,
    MESSAGE_TLP_AMBER_STRICT = 4,
    MESSAGE_TLP_RED = 5,
};

/* Room for the reason the field rules give (VALIDATE_WHY_MAX). */
#define MESSAGE_WHY_MAX 256

/* The view. Fields are read-only for everyone but message.c. */
struct message {
    const uint8_t *bytes; /* the payload, borrowed from the caller */
    size_t len;
    bool is_payload; /* the bytes parse as a tmbus.payload.Payload */
    enum message_kind kind;
    /* Unknown fields anywhere a reader looks (the Payload, its kind's
     * message, a need edit's need, receipt entries). A sender that speaks
     * a newer schema is refused rather than half understood. */
    bool has_unknown;
    /* The shared field rules' verdict on the whole Payload (an enum
     * validate_fault: 0 when it passes, else malformed or a bad field),
     * with its one-line reason in why. Never copies field text. */
    int fault;
    char why[MESSAGE_WHY_MAX];
    void *pb; /* the decoded Payload, for board.c and receipt.c only */
};

/*
 * Decodes payload[0..len) into *m, which borrows the bytes: they must
 * outlive it. Returns 0 when the bytes are a Payload (m->is_payload), or -1
 * when they are not; either way *m describes them (is_payload false, kind
 * MESSAGE_NONE for bytes that are no Payload), so a reader that treats
 * unreadable bytes like any other may ignore the result. Never blocks,
 * never logs. Release with message_clear in every case.
 */
int message_decode(const uint8_t *payload, size_t len, struct message *m);

/* Frees what message_decode allocated and zeroes *m. Accepts a zeroed m. */
void message_clear(struct message *m);

/* True when m is a Payload of a known kind that passes every field rule:
 * what a client may post, as far as the payload alone can tell. */
bool message_is_sound(const struct message *m);

/*
 * The role rule: what a member of roster role `role` may post. Needs come
 * from the beneficiary and coordinators (the front and back offices post on
 * its behalf), offers from donors and coordinators; observers read only.
 * Updates are judged by the board (only a need's owner, only an offer's
 * donor), so every role that can own a need or an offer may send them. A
 * need share is a need and takes its rule. A receipt is not a board
 * message: any member may send one. Returns true,
 * or false with a one-line reason in *why.
 */
bool message_role_allows(enum message_kind kind, int role, const char **why);

/*
 * The TLP rule: the label m is handled under, given its recipients (judged
 * against roster r) and whether it travels in a direct log.
 *   - a need or an offer carries its own label, and so do a need edit
 *     that sets one (the new label) and a need share (its need's);
 *   - a receipt says only that an envelope id arrived: TLP:GREEN;
 *   - any other update takes TLP:GREEN when addressed to every roster
 *     member and TLP:AMBER when addressed to some: the narrower the
 *     audience, the more careful. Coverage is judged against the current
 *     roster, so a broadcast made before the roster grew reads as AMBER,
 *     the safe direction;
 *   - anything that travels in a direct log is TLP:RED (message_tlp_in_log).
 * Returns the label; 0 for a need or offer that carries none; -1 for a
 * label outside 1..5 (proto3 enums are open). m must be a Payload.
 */
int message_tlp(const struct message *m, const struct roster *r, const char *const *recipients,
                size_t n, bool is_direct);

/* The label a message of label `label` has in its log: TLP:RED in a
 * direct log, whatever it says, because only TLP:RED may travel there. */
uint32_t message_tlp_in_log(uint32_t label, bool is_direct);

/*
 * What a message is about, and the label it states itself. Anything that
 * refers to a need or an offer (an offer to a need, a need update, an
 * offer update) is handled under the label of what it refers to when that
 * is higher than its own: the effective label is max(own, referent's), as
 * the board records the referent (board_referent_of). A label a message
 * states (an offer's tlp, a need edit's need.tlp) may not be lower than
 * its referent's: the poster's node and every receiving board refuse it
 * (tlp-below-referent). An update that states none (a close, a withdrawal,
 * an edit that keeps the label, an offer update) takes its referent's.
 */

/* The need or offer m names (an offer's need_id, a need update's need_id,
 * an offer update's offer_id: WIRE_ID_BYTES, borrowed from m), or NULL for
 * a need, a catalogue offer, a receipt or a field that is not an id.
 * *is_offer says whether the id names an offer. */
const uint8_t *message_referent(const struct message *m, bool *is_offer);

/* The label m states itself: an offer's or a need's tlp, a need edit's
 * or a need share's need.tlp; 0 when it states none (updates otherwise, receipts). */
uint32_t message_stated_tlp(const struct message *m);

#endif
