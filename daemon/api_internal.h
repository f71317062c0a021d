/*
 * api_internal: what the api's files share and nothing else sees: the
 * api's state, its limits, and the helpers each file offers the others.
 * api.c owns the socket, the dispatch of requests and the commit hook;
 * api_post.c the post policy (role, recipients, TLP, board rules);
 * api_sub.c subscriptions, deliveries and acks; api_query.c the board,
 * report, delivery-state and status replies; api_audit.c the audit log
 * for admin clients. Only api*.c include it.
 */
#ifndef TMBUS_API_INTERNAL_H
#define TMBUS_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "api.pb-c.h"
#include "api_msg.h"
#include "config.h"
#include "envelope.h"
#include "keys.h"
#include "roster.h"
#include "route.h"
#include "util.h"

/* Past this libzmq drops the connection instead of handing us the frame:
 * a little over the limit still gets a reply, a flood does not. */
#define API_HARD_MAX        (2 * API_MSG_MAX_REQUEST)
#define API_ROUTING_MAX     256 /* libzmq routing ids are at most 255 bytes */
#define API_PUMP_BUDGET     256 /* inbox entries looked at per subscriber per pump */
#define API_RETRY_MS        100 /* a subscriber's queue was full: try again after */
#define API_FILTER_BITS     32  /* categories and TLPs a filter can name: 0..31 */
#define API_SUBS_PER_CLIENT 8   /* subscriptions one client may hold at once */
/* Rosters a history reply lists at most (the newest): each entry is under
 * 64 bytes, so the reply stays far below the client's 1 MiB. */
#define API_ROSTER_HISTORY_MAX 1000

/* The reason a post or ack is refused while the store's disk is full. */
#define API_STORE_FULL "the node's disk is full: nothing was committed; retry later"

/* ZMTP heartbeats on the client socket, as libtmbus runs them: a dead
 * connection is closed within the timeout, and its subscription ends at
 * the next delivery (the push finds no route). */
#define API_HEARTBEAT_MS         5000
#define API_HEARTBEAT_TIMEOUT_MS 15000

_Static_assert((int)CONFIG_TLP_CLEAR == (int)MESSAGE_TLP_CLEAR &&
                   (int)CONFIG_TLP_RED == (int)MESSAGE_TLP_RED,
               "configured clearances and payload TLP labels must share one order");

/* One subscription, bound to the connection that asked for it (rid) and to
 * the key that authenticated that connection. A connection holds at most
 * one (subscribing again restarts it); a client may hold up to
 * API_SUBS_PER_CLIENT on different connections, each served on its own
 * from the client's durable cursor, which only moves forward. It ends when
 * its connection is gone or its key is no longer the client's. */
struct subscriber {
    char client[CONFIG_CLIENT_NAME_MAX + 1];
    uint8_t key[KEYS_PUBLIC_BYTES];
    uint8_t rid[API_ROUTING_MAX];
    size_t rid_len;
    uint32_t window;
    uint64_t pushed; /* highest delivery number sent or skipped */
    uint64_t acked;  /* the durable cursor, as committed */
    /* Delivery numbers sent and not yet acked, ascending, as a ring of
     * `window` slots. Skipped entries are never in it. */
    uint64_t *flight;
    size_t head, count;
    /* The filter; a zero mask or no senders means "any". Masks hold one bit
     * per payload kind case, category or TLP value. */
    uint32_t kinds, categories, tlps;
    char (*senders)[UTIL_MEMBER_ID_MAX + 1];
    size_t n_senders;
};

enum pending_kind { PENDING_POST, PENDING_ACK, PENDING_ROSTER };

/* A request whose answer waits for the commit. */
struct pending {
    enum pending_kind kind;
    uint8_t rid[API_ROUTING_MAX];
    size_t rid_len;
    uint64_t request_id;
    char client[CONFIG_CLIENT_NAME_MAX + 1];
    uint8_t key[KEYS_PUBLIC_BYTES];
    uint64_t cursor;             /* ack: the cursor written in the batch */
    struct route_placed *placed; /* post: where its envelopes went */
    size_t n_placed;
};

struct api {
    const struct config *cfg; /* the running one: api_reload swaps it */
    struct loop *loop;
    struct store *store;
    struct route *route;
    struct stats *stats;
    struct peers *peers;
    struct audit *audit;
    api_roster_fn on_roster;
    void *roster_arg;
    uint64_t n_refused; /* api_reject calls: on_request tells a refusal apart */
    void *socket;
    struct zap_watch *watch; /* handshakes refused before ZAP */
    struct subscriber *subs;
    size_t n_subs, cap_subs;
    struct pending *pending;
    size_t n_pending, cap_pending;
    uint64_t timer;     /* pending pump retry, 0 when none */
    int64_t started_ms; /* loop_now_ms() when the node began serving: its uptime */
    /* Why the roster in force revoked this node's own member ("" while it
     * does not): every request but status and audit is refused with it. */
    char revoked[API_REVOKED_REASON_MAX];
};

/* Who sent the request being handled: the key that authenticated its
 * connection, and the client the running configuration gives that key
 * (client and name are NULL when it gives none). */
struct request {
    const uint8_t *rid;
    size_t rid_len;
    uint64_t id;
    uint8_t key[KEYS_PUBLIC_BYTES];
    const char *name;
    const struct config_client *client;
    enum audit_kind kind; /* what the audit log records it as */
    const char *what;     /* the request's name, for the audit log */
};

/* ---- api.c ---------------------------------------------------------------- */

/* The running configuration's client whose key is key, or NULL when the
 * key is no longer (or never was) configured. */
const struct config_client *api_find_client(const struct api *a, const uint8_t *key);

/*
 * What a client's role lets it ask, in one place:
 *   reader  subscribe, ack, status, board, report, delivery states, the
 *           roster history;
 *   poster  everything a reader may, and post;
 *   admin   everything a poster may, publish a roster update and read the
 *           audit log.
 */
bool api_client_may_post(const struct config_client *c);

/* Sends one Reply to the connection rid without blocking. A delivery's
 * bytes hold a payload in clear, so is_secret wipes them after use.
 * Returns 0, or -1 with errno EHOSTUNREACH (the connection is gone) or
 * EAGAIN (its queue is full). */
int api_send_reply(struct api *a, const uint8_t *rid, size_t rid_len, const Tmbus__Api__Reply *r,
                   bool is_secret);

/* Answers a request; a reply that cannot be sent is dropped (the client
 * times out and may ask again). api_answer_code answers with a bare code. */
void api_answer(struct api *a, const uint8_t *rid, size_t rid_len, Tmbus__Api__Reply *r);
void api_answer_code(struct api *a, const uint8_t *rid, size_t rid_len, uint64_t id,
                     Tmbus__Api__Code code, const char *reason);

/* Every refusal: one log line (never the payload), one counter (a static
 * string), one reply with a code and a reason. */
void api_reject(struct api *a, const struct request *rq, Tmbus__Api__Code code, const char *counter,
                const char *reason);

/* Records rq in the audit log: its client and key, its kind, outcome o,
 * the envelope id (NULL: none) and seq it is about, and detail (a reason;
 * NULL: the request's name). */
void api_note(struct api *a, const struct request *rq, enum audit_outcome o, const uint8_t *id,
              uint64_t seq, const char *detail);

/* A request whose answer waits for the commit, added to a->pending; the
 * api owns it until api_after_commit answers it. Never NULL (aborts when
 * out of memory). */
struct pending *api_add_pending(struct api *a, enum pending_kind kind, const struct request *rq);

/* ---- api_post.c ----------------------------------------------------------- */

/* Checks a post against the client's role and clearance, the member's
 * roster role, its recipients, its TLP and the board, then seals it in the
 * open batch; answered after the commit. */
void api_on_post(struct api *a, const struct request *rq, const Tmbus__Api__Post *post);

/* ---- api_sub.c ------------------------------------------------------------ */

/* Starts (or takes over) the client's subscription at its durable cursor. */
void api_on_subscribe(struct api *a, const struct request *rq, const Tmbus__Api__Subscribe *sub);

/* Writes the client's cursor in the open batch; answered after the commit. */
void api_on_ack(struct api *a, const struct request *rq, const Tmbus__Api__Ack *ack);

/* After a commit: an ack's cursor is durable, the window opens up to it. */
void api_apply_ack(struct api *a, const struct pending *p);

/* Pushes what every subscriber may see next, within its window. */
void api_pump_all(struct api *a);

/* Ends every subscription whose key the running configuration no longer
 * gives to its client, telling its connection why (a reload calls it). */
void api_end_stale_subs(struct api *a);

/* Ends every subscription, telling each connection "subscription ended: "
 * and why (the node's own member was revoked). */
void api_end_all_subs(struct api *a, const char *why);

/* Frees every subscription. */
void api_subs_free(struct api *a);

/* ---- api_roster.c --------------------------------------------------------- */

/* A roster request: a publish (admin clients only) is judged by the node
 * (api_parts.on_roster) and answered with the history after the commit
 * that keeps it; an empty one is answered with the history at once. */
void api_on_roster(struct api *a, const struct request *rq, const Tmbus__Api__RosterRequest *q);

/* Answers request id on rid with the node's roster history (at most
 * API_ROSTER_HISTORY_MAX entries, the newest). */
void api_answer_roster(struct api *a, const uint8_t *rid, size_t rid_len, uint64_t id);

/* ---- api_query.c ---------------------------------------------------------- */

/* The board, the reports, a post's delivery states and the node's status,
 * each under the client's clearance where it applies. Answered at once. */
void api_on_board(struct api *a, const struct request *rq, const Tmbus__Api__BoardQuery *q);
void api_on_report(struct api *a, const struct request *rq);
void api_on_delivery(struct api *a, const struct request *rq, const Tmbus__Api__DeliveryQuery *q);
void api_on_status(struct api *a, const struct request *rq);

/* ---- api_audit.c ---------------------------------------------------------- */

/* The audit log, to admin clients only (a refusal is logged, counted and
 * recorded like any other): a page of entries newest first, or one
 * entry's inclusion proof in the latest signed checkpoint. Answered at
 * once; a proof reads the log's first checkpoint-size entries. */
void api_on_audit(struct api *a, const struct request *rq, const Tmbus__Api__AuditQuery *q);

#endif
