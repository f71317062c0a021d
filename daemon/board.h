/*
 * board: the need/offer state machine of DESIGN §5, fed only by opened and
 * verified payloads: what this member posts and what is delivered to it.
 * It decides (who may change what, which transition is allowed, what a
 * need's coverage is) and keeps its state through the store's board
 * functions inside the node's open batch; it never speaks SQL, never does
 * I/O of its own and never logs a payload's text. Version 0: updates apply
 * in arrival order (see the comment at the top of board.c).
 */
#ifndef TMBUS_BOARD_H
#define TMBUS_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Limits of a payload's text fields, in bytes. */
#define BOARD_TITLE_MAX       200
#define BOARD_DESCRIPTION_MAX (8 * 1024)
#define BOARD_CONDITIONS_MAX  (2 * 1024)
#define BOARD_NAME_MAX        256 /* beneficiary, contact */
#define BOARD_UNIT_MAX        64
#define BOARD_REASON_MAX      1024 /* an update's reason */
#define BOARD_ID_BYTES        32

/* A need's status; codes kept by the store. */
enum board_need_status {
    BOARD_NEED_OPEN = 1,
    BOARD_NEED_PARTIALLY_COVERED = 2,
    BOARD_NEED_COVERED = 3,
    BOARD_NEED_CLOSED = 4,
    BOARD_NEED_WITHDRAWN = 5,
};

/* An offer's status; codes kept by the store. */
enum board_offer_status {
    BOARD_OFFER_PROPOSED = 1,
    BOARD_OFFER_ACCEPTED = 2,
    BOARD_OFFER_DECLINED = 3,
    BOARD_OFFER_DELIVERED = 4,
    BOARD_OFFER_CONFIRMED = 5,
    BOARD_OFFER_WITHDRAWN = 6,
};

/* Why a payload was refused, by board_check_post or board_apply. Each has
 * a counter "board.rejected.<name>". */
enum board_reason {
    BOARD_R_NONE = 0,
    BOARD_R_MALFORMED,     /* not a Payload, no kind, unknown fields */
    BOARD_R_BAD_FIELD,     /* enum, quantity, text, date or id out of bounds */
    BOARD_R_UNKNOWN_NEED,  /* names a need this board does not hold */
    BOARD_R_UNKNOWN_OFFER, /* names an offer this board does not hold */
    BOARD_R_NOT_OWNER,     /* only the need's owner may do that */
    BOARD_R_NOT_DONOR,     /* only the offer's donor may do that */
    BOARD_R_NEED_FINAL,    /* the need is closed or withdrawn */
    BOARD_R_NEED_NOT_OPEN, /* an offer to a need that is no longer open */
    BOARD_R_TRANSITION,    /* the offer's status does not allow that */
    BOARD_R_CATALOGUE,     /* accept/decline/confirm of a catalogue offer */
    BOARD_R_COUNT
};

/* How board_check_post judges a post, mapped by api onto its codes. */
enum board_verdict {
    BOARD_CHECK_OK = 0,
    BOARD_CHECK_INVALID,
    BOARD_CHECK_NOT_FOUND,
    BOARD_CHECK_DENIED,
    BOARD_CHECK_ERROR, /* the store failed */
};

/* Where an opened payload came from: its envelope's verified header. */
struct board_msg {
    const uint8_t *id;    /* envelope id, BOARD_ID_BYTES: the id of what it creates */
    const char *sender;   /* the signing member */
    const char *log_peer; /* "" for a relayed log, else the direct log's recipient */
    uint64_t seq;         /* its place in that log */
    int64_t created_at;
};

/* Called once per event with a static counter name ("board.applied",
 * "board.waiting", "board.rejected.<reason>"). */
typedef void (*board_count_fn)(void *arg, const char *counter);

/*
 * Applies one payload to the board inside the store's open batch. A need
 * or offer is recorded; an update changes its object when the rules allow
 * it and is recorded either way (applied, rejected with its reason, or
 * waiting for an object not seen yet, to be applied when it arrives). A
 * receipt changes nothing. The same envelope applied twice changes nothing
 * the second time. Rejections are logged here and counted through count
 * (may be NULL). Returns 0, or -1 when the store failed (logged): then the
 * caller must not keep the batch's envelope either.
 */
int board_apply(struct store *s, const struct board_msg *m, const uint8_t *payload, size_t len,
                board_count_fn count, void *arg) __attribute__((warn_unused_result));

/*
 * Validates a payload that member self is about to post, before it is
 * sealed, against the same rules board_apply will use, plus one of the
 * poster's own: an offer must answer a need this board holds that is open
 * or partially covered. Writes nothing. Returns BOARD_CHECK_OK, or another
 * verdict with a one-line reason for the client in *reason.
 */
enum board_verdict board_check_post(struct store *s, const char *self, const uint8_t *payload,
                                    size_t len, const char **reason)
    __attribute__((warn_unused_result));

/* The category a payload is filed under, for subscription filters: a
 * need's own; an offer's or an update's is its need's, as this board knows
 * it. 0 when none is known. */
uint32_t board_category_of(struct store *s, const uint8_t *payload, size_t len);

/* Stable names: "open", "partially_covered", …; "proposed", "accepted", …;
 * "not-owner", … Never NULL ("unknown" for a code out of range). */
const char *board_need_status_name(int status);
const char *board_offer_status_name(int status);
const char *board_reason_name(enum board_reason r);

/* "open" … "withdrawn" → its code; -1 when unknown. */
int board_need_status_parse(const char *name);

#endif
