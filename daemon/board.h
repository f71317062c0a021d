/*
 * board: the need/offer state machine (proto/PROTOCOL.md §6.3), fed only
 * by opened and verified payloads: what this member posts and what is delivered to it.
 * It decides (who may change what, which transition is allowed, what a
 * need's coverage is) and keeps its state through the store's board
 * functions inside the node's open batch; it never speaks SQL, never does
 * I/O of its own and never logs a payload's text.
 *
 * The board is a function of the set of board messages this member can
 * read, not of the order they arrived in. Every applied need, offer and
 * update is kept (board_updates); the objects are grouped into clusters (a
 * need, the offers that answer it and every update about either; a
 * catalogue offer and its updates) and each arrival recomputes its cluster
 * from scratch by replaying the cluster's messages in the canonical order:
 *
 *   key(m) = (t(m), origin, log peer, seq, id), ascending, where
 *   t(m)   = max(created_at(m), t(p)) and p is the previous message of the
 *            same cluster in the same log (origin, peer), by seq.
 *
 * Within one log t never decreases with seq, so a log's own order always
 * wins over its sender's clock; across logs the sender's clock orders, and
 * the names and seq break ties. The key depends only on the cluster's
 * messages, so two nodes holding the same messages sort them alike. In
 * that order a need or offer creates its object and an update is decided
 * by the rules (decide_*() in board.c) against the state built so far; an
 * update whose object is not created yet waits and is decided right after
 * that object is created (waiting ones in key order), or stays waiting.
 * Clocks are coarse and skewed, so a donor's "delivered" may sort before
 * the owner's "accepted" it answers: an update refused only because the
 * offer's status does not allow it yet is blocked, and retried (first
 * blocked first, in key order) after each later change of its cluster by a
 * message whose t is at most BOARD_SKEW_S after its own; it is rejected
 * (bad-transition) when no such change allows it. An update clearly older
 * than what would allow it was premature and stays rejected.
 * Verdicts (applied, rejected with a reason, waiting) are kept per message
 * and are the same on every node that replays the same messages.
 */
#ifndef TMBUS_BOARD_H
#define TMBUS_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"
#include "store.h"
#include "wire_limits.h"

/* How far apart, in seconds, two messages' times may be for the board to
 * still treat them as concurrent (members' clocks and their posting race). */
#define BOARD_SKEW_S 300

/* A need's status; codes kept by the store, named by proto/domain.h's
 * DOMAIN_NEED_STATUS table. */
enum board_need_status {
    BOARD_NEED_OPEN = 1,
    BOARD_NEED_PARTIALLY_COVERED = 2,
    BOARD_NEED_COVERED = 3,
    BOARD_NEED_CLOSED = 4,
    BOARD_NEED_WITHDRAWN = 5,
};

/* An offer's status; codes kept by the store, named by proto/domain.h's
 * DOMAIN_OFFER_STATUS table. */
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
    BOARD_R_MALFORMED,     /* not a Payload, no kind, unknown fields (VALIDATE_MALFORMED) */
    BOARD_R_BAD_FIELD,     /* a field the shared rules refuse (VALIDATE_BAD_FIELD) */
    BOARD_R_UNKNOWN_NEED,  /* names a need this board does not hold */
    BOARD_R_UNKNOWN_OFFER, /* names an offer this board does not hold */
    BOARD_R_NOT_OWNER,     /* only the need's owner may do that */
    BOARD_R_NOT_DONOR,     /* only the offer's donor may do that */
    BOARD_R_NEED_FINAL,    /* the need is closed or withdrawn */
    BOARD_R_NEED_NOT_OPEN, /* an offer to a need that is no longer open */
    BOARD_R_TRANSITION,    /* the offer's status does not allow that */
    BOARD_R_CATALOGUE,     /* accept/decline/confirm of a catalogue offer */
    BOARD_R_ROLE,          /* the sender's roster role may not post that */
    BOARD_R_TLP_BELOW,     /* states a label lower than its referent's */
    BOARD_R_RED_RELAYED,   /* about a TLP:RED need or offer, yet not in a direct log */
    BOARD_R_SHARE_ORIGIN,  /* a need share whose need is not the sender's own post */
    BOARD_R_SHARE_HELD,    /* a need share of an id this board holds from another origin */
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
    const uint8_t *id;    /* envelope id, WIRE_ID_BYTES: the id of what it creates */
    const char *sender;   /* the signing member */
    const char *log_peer; /* "" for a relayed log, else the direct log's recipient */
    uint64_t seq;         /* its place in that log */
    int64_t created_at;
    /* The sender's roster role (enum roster_role), checked on receipt as
     * api checks a poster's: observers post nothing to the board, needs
     * come from beneficiaries and coordinators, offers from donors and
     * coordinators. 0: not checked (a sender the roster no longer lists;
     * tests). */
    int role;
};

/* Called once per event with a static counter name ("board.applied",
 * "board.waiting", "board.rejected.<reason>"). */
typedef void (*board_count_fn)(void *arg, const char *counter);

/*
 * Applies one payload (its view msg) to the board inside the store's open
 * batch: records it and replays its cluster in the canonical order (see above), which may
 * change the verdicts of messages recorded earlier. A need share
 * (PROTOCOL.md 6.7) is recorded as the need it shares, under the need's
 * own id and created_at, when the envelope at the share's seq of the
 * sender's relayed log, as this store holds it, has that id: the sender
 * posted the need. A share of a need already held from the same owner
 * changes nothing; one naming another origin's id, or an id the sender's
 * log does not hold there, is refused (share-held, share-not-original). A malformed payload, or
 * one the sender's role may not post, is refused and not recorded. A
 * receipt changes nothing. The same envelope applied twice changes nothing
 * the second time. Rejections are logged here and counted through count
 * (may be NULL): "board.applied", "board.waiting", "board.rejected.<why>"
 * for this message, reported first, then for each earlier message whose
 * verdict changed. Returns 0, or -1 when the store failed (logged): then
 * the caller must not keep the batch's envelope either.
 */
int board_apply(struct store *s, const struct board_msg *m, const struct message *msg,
                board_count_fn count, void *arg) __attribute__((warn_unused_result));

/*
 * Validates a payload that member self is about to post for a client of
 * clearance `clearance`, before it is sealed, against the same rules
 * board_apply will use (the view's field verdict, then the board's state),
 * plus the poster's own: an offer must answer a need this board holds that
 * is open or partially covered, and a client acts only on what it may see.
 * A need or offer above the clearance (an offer also when its need is) is
 * treated exactly as one the board does not hold: same verdict, same
 * reason, so a hidden id and a missing one cannot be told apart. Writes
 * nothing to the store. Returns BOARD_CHECK_OK, or another verdict with a
 * one-line reason for the client written into reason (reason_size bytes;
 * VALIDATE_WHY_MAX is enough).
 */
enum board_verdict board_check_post(struct store *s, const char *self, uint32_t clearance,
                                    const struct message *msg, char *reason, size_t reason_size)
    __attribute__((warn_unused_result));

/*
 * The referent of a message (message_referent) as this board records it.
 * The TLP rules on referents (proto/PROTOCOL.md §6.5):
 *   - effective label = max(the message's own, its referent's), where an
 *     offer's label is max(its own, its need's) and anything that arrived
 *     in a direct log is TLP:RED;
 *   - a stated label below the referent's is refused (tlp-below-referent);
 *   - anything about a TLP:RED need or offer travels only in direct logs
 *     (red-not-direct), between exactly the two members of the direct log
 *     the RED original travelled in: its origin and its log peer. Each
 *     TLP:RED envelope has one recipient, so that pair is the original's
 *     whole audience, recorded with it in the board's update table.
 */
struct board_referent {
    bool is_held; /* the referent is on this board */
    uint32_t tlp; /* its effective label; 0 when not held */
    bool is_red;  /* TLP:RED: updates go only over direct logs */
    /* For a TLP:RED referent: the two ends of the direct log that made it
     * TLP:RED (for an offer, its own log when direct, else its need's). */
    char origin[UTIL_MEMBER_ID_MAX + 1];
    char peer[UTIL_MEMBER_ID_MAX + 1];
};

/* Fills *out for msg (all zero when msg names nothing held). Reads only.
 * Returns 0, or -1 when the store failed. */
int board_referent_of(struct store *s, const struct message *msg, struct board_referent *out)
    __attribute__((warn_unused_result));

/* The effective label of the need or offer with id (an offer's includes its
 * need's); 0 when the board holds neither. Returns 0 or -1 (store). */
int board_label_of(struct store *s, const uint8_t *id, uint32_t *tlp)
    __attribute__((warn_unused_result));

/* The category a payload is filed under, for subscription filters: a
 * need's own; an offer's or an update's is its need's, as this board knows
 * it. 0 when none is known. */
uint32_t board_category_of(struct store *s, const struct message *msg);

/*
 * The board's digest (proto/PROTOCOL.md §6.3): BLAKE2b-256 of "tmbus board
 * v3" and the sum, modulo 2^512, of BLAKE2b-512 of every need's row (id,
 * owner, status, label, quantity, accepted and delivered quantities, the
 * need as last edited) and every offer's (id, donor, its need's id, status,
 * label, quantity, the offer). The store keeps the sum with the rows, so
 * this reads one row. Two members holding the same board messages get the
 * same digest. Returns 0 or -1 (store).
 */
int board_digest(struct store *s, uint8_t out[WIRE_ID_BYTES]) __attribute__((warn_unused_result));

/* One row of a report's totals: EUR cents pledged (offers accepted,
 * delivered or confirmed) and delivered (confirmed). */
struct board_total {
    char donor[UTIL_MEMBER_ID_MAX + 1]; /* per donor: its member id, else "" */
    uint32_t code;                      /* per category or sector: its code, else 0 */
    uint64_t pledged_cents;
    uint64_t delivered_cents;
};

/* One open need (open or partially covered) in a report. */
struct board_open_need {
    uint8_t id[WIRE_ID_BYTES];
    char owner[UTIL_MEMBER_ID_MAX + 1];
    char title[WIRE_TITLE_MAX + 1];
    int status;
    int priority;                     /* tmbus.payload.Priority */
    char deadline[WIRE_DATE_LEN + 1]; /* "YYYY-MM-DD" or "" */
    bool is_overdue;                  /* deadline < today (UTC) */
    uint64_t quantity;
    uint64_t accepted_quantity;
    uint64_t value_cents;
};

/*
 * The board's reports as seen under a clearance: needs and offers
 * whose label is above clearance are left out, and so are offers whose
 * need is. Open needs by priority (critical first), then deadline (none
 * last), then id; totals per donor, per category and per sector (of the
 * offer's need), each sorted by donor or code, and overall. An offer's value counts
 * whole once it is accepted. today is the current UTC day as Unix seconds
 * at 00:00. Reads the board a page at a time (memory grows with the open
 * needs, not with the board). On 0 the arrays are malloc'd and freed by
 * board_report_free.
 */
#define BOARD_REPORT_OPEN_MAX 1000 /* open needs a report lists; it counts them all */
struct board_report {
    struct board_open_need *open; /* the first BOARD_REPORT_OPEN_MAX in that order */
    size_t n_open;
    size_t n_open_total; /* every open need within the clearance */
    struct board_total *donors, *categories, *sectors;
    size_t n_donors, n_categories, n_sectors;
    struct board_total total;
};
int board_report(struct store *s, uint32_t clearance, int64_t today, struct board_report *out)
    __attribute__((warn_unused_result));
void board_report_free(struct board_report *r);

/*
 * Fills in what a store written before schema 9 lacks: the priority of
 * each need, kept in clear since then so that pages filter on it, read
 * from the need itself; before schema 11: the digest's sum, computed
 * once from every row; before schema 13: each need's value, sector and
 * deadline and each offer's value, kept in clear since for reports. Runs its own batches (call it
 * before the loop, with no batch open); finds nothing to do in a store written since. Blocks on the
 * store. Returns 0 or -1.
 */
int board_upgrade(struct store *s) __attribute__((warn_unused_result));

/* Whether board_apply may decide an update that arrives in canonical
 * order on the stored state alone (the default) or always replays its
 * cluster. Tests turn it off to compare the two boards. */
void board_set_incremental(bool is_on);

/* Stable names: a status's shared name (proto/domain.h), "open",
 * "partially_covered", …; "proposed", "accepted", …; a reason's, "not-owner",
 * … Never NULL ("unknown" for a code out of range). */
const char *board_need_status_name(int status);
const char *board_offer_status_name(int status);
const char *board_reason_name(enum board_reason r);

/* "open" … "withdrawn", spelled exactly as board_need_status_name spells
 * it, → its code; -1 when unknown. */
int board_need_status_parse(const char *name);

#endif
