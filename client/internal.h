/*
 * internal: what the files of libtmbus share, and no program sees (never
 * installed; nothing here is exported). tmbus.c owns the handle and
 * lends the others its request-reply call and its error recording, named
 * client_* because tmbus_ is the public prefix; delivery.c owns the
 * delivery object that tmbus.c's queue holds; post.c the posts in flight
 * and their outcomes, which the handle holds in a post_queue. Generated protobuf types
 * appear here and in the library's .c files only, never in tmbus.h.
 */
#ifndef TMBUS_CLIENT_INTERNAL_H
#define TMBUS_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "payload.pb-c.h"
#include "tmbus.h"

/* A delivery and the views of its payload, made once when it arrives so
 * that the accessors only read (a delivery may be read from any thread).
 * Only the view of the payload's kind is filled in. */
struct tmbus_delivery {
    Tmbus__Api__Reply *reply;
    Tmbus__Payload__Payload *payload; /* decoded; NULL if it is not one we read */
    struct tmbus_need need;
    struct tmbus_offer offer;
    struct tmbus_need_change need_change;
    struct tmbus_offer_change offer_change;
    struct tmbus_receipt *receipts; /* payload->receipt->n_entries of them */
    struct tmbus_delivery *next;    /* in the handle's queue (tmbus.c) */
};

/* ---- tmbus.c: the handle ---------------------------------------------- */

/* Records why a call on h failed (the reason tmbus_last_error gives) and
 * returns err, so that a failure is one line. h may be NULL: nothing is
 * recorded. */
__attribute__((format(printf, 3, 4))) int client_fail(struct tmbus *h, int err, const char *fmt,
                                                      ...);

/* As client_fail, into a caller's buffer (may be NULL) when there is no
 * handle yet. */
__attribute__((format(printf, 4, 5))) int client_fail_to(char *buf, size_t size, int err,
                                                         const char *fmt, ...);

/* The node's reason in r as the library passes it on: cut in place at
 * its first control character, so that it stays one line whatever the
 * node sent, or fallback when that leaves nothing. Points into r (or is
 * fallback). */
const char *client_reply_reason(Tmbus__Api__Reply *r, const char *fallback);

/* Forgets h's last reason: each public call starts with it. */
void client_clear_error(struct tmbus *h);

/* Sends req under a fresh id and waits up to timeout_ms for its reply.
 * TMBUS_OK with *out, which the caller frees with client_free_reply; an
 * error reply's code (reason recorded) or a transport error otherwise.
 * Deliveries that arrive meanwhile are queued in h. */
int client_call(struct tmbus *h, Tmbus__Api__Request *req, int timeout_ms, Tmbus__Api__Reply **out);

/* Asks for the node's status: TMBUS_OK with a reply of kind status in *out
 * (the caller frees it), or an error. */
int client_status_reply(struct tmbus *h, int timeout_ms, Tmbus__Api__Reply **out);

/* Frees a reply; with is_secret, wipes a delivery's payload first.
 * Accepts NULL. */
void client_free_reply(Tmbus__Api__Reply *r, bool is_secret);

/* ---- delivery.c: received messages --------------------------------------- */

/* Takes responsibility over r, a checked delivery reply: decodes its
 * payload and makes the views its accessors return. NULL when out of
 * memory (r is then freed). */
struct tmbus_delivery *delivery_new(Tmbus__Api__Reply *r);

/* ---- results.c, audit.c: reading the node's answers ---------------------- */

/* Each reader takes responsibility over r, the reply client_call gave for
 * its request (of any kind: a reply of another kind is TMBUS_EPROTOCOL),
 * checks every field the caller will see against what tmbus.h promises,
 * and makes the library-owned object the public call returns. They never
 * block; h may be NULL (nothing recorded), so that a reply can be read
 * without a connection. Each returns TMBUS_OK, TMBUS_EPROTOCOL for a reply
 * it refuses or TMBUS_ENOMEM, with the reason recorded in h. */

/* Appends a board page to *bp, made when *bp is NULL. On an error *bp
 * may hold part of the page: the caller frees it with tmbus_board_free. */
int results_read_board(struct tmbus *h, Tmbus__Api__Reply *r, struct tmbus_board **bp);

/* On TMBUS_OK *out is the caller's (tmbus_report_free); else NULL. */
int results_read_report(struct tmbus *h, Tmbus__Api__Reply *r, struct tmbus_report **out);

/* On TMBUS_OK *out is the caller's (tmbus_delivery_state_free); else NULL. */
int results_read_delivery_state(struct tmbus *h, Tmbus__Api__Reply *r,
                                struct tmbus_delivery_state **out);

/* On TMBUS_OK *out is the caller's (tmbus_status_free); else NULL. */
int results_read_status(struct tmbus *h, Tmbus__Api__Reply *r, struct tmbus_status **out);

/* A roster history (with out NULL, only its kind and length are read).
 * On TMBUS_OK with out, *out is the caller's (tmbus_roster_history_free);
 * else untouched. */
int results_read_roster_history(struct tmbus *h, Tmbus__Api__Reply *r,
                                struct tmbus_roster_history **out);

/* On TMBUS_OK *out is the caller's (tmbus_audit_page_free); else NULL. */
int audit_read_page(struct tmbus *h, Tmbus__Api__Reply *r, struct tmbus_audit_page **out);

/* The proof of entry index (the one asked for), verified here. On
 * TMBUS_OK *out is the caller's (tmbus_audit_proof_free); else NULL. */
int audit_read_proof(struct tmbus *h, Tmbus__Api__Reply *r, uint64_t index,
                     struct tmbus_audit_proof **out);

/* ---- post.c: posts in flight ----------------------------------------------- */

/* A pipelined post sent and not yet answered: its ticket is the id of its
 * request, so that the answer finds it. */
struct post_flight {
    uint64_t ticket;
    int64_t deadline_ms; /* monotonic; -1: none */
};

/* The posts in flight on a handle (at most window, in the order sent) and
 * the outcomes not yet taken (in the order they came). */
struct post_queue {
    struct post_flight *flight;
    size_t n_flight, cap_flight;
    unsigned window;
    struct tmbus_posted *head, *tail;
};

void post_queue_init(struct post_queue *q);

/* Frees what q holds (outcomes not taken, the flight array). */
void post_queue_clear(struct post_queue *q);

/* Whether window posts are in flight already. */
bool post_queue_is_full(const struct post_queue *q);

/* Records a post sent under ticket. Returns TMBUS_OK or TMBUS_ENOMEM. */
int post_queue_track(struct post_queue *q, uint64_t ticket, int64_t deadline_ms);

/* When r answers a post in flight (r->id is its ticket): takes
 * responsibility over r, queues the outcome (result: the library's code
 * for r->code) and returns true. Otherwise returns false and r stays the
 * caller's. */
bool post_queue_answer(struct post_queue *q, Tmbus__Api__Reply *r, int result);

/* Completes every post in flight with err and reason (the connection
 * dropped). */
void post_queue_fail_all(struct post_queue *q, int err, const char *reason);

/* Completes with TMBUS_ETIMEOUT every post whose deadline is past now_ms,
 * and returns the nearest deadline left (-1: none). */
int64_t post_queue_expire(struct post_queue *q, int64_t now_ms);

/* Takes the oldest outcome not yet taken, or NULL. */
struct tmbus_posted *post_queue_take(struct post_queue *q);

#endif
