/*
 * internal: what the files of libtmbus share, and no program sees (never
 * installed; nothing here is exported). tmbus.c owns the handle and
 * lends the others its request-reply call and its error recording, named
 * client_* because tmbus_ is the public prefix; delivery.c owns the
 * delivery object that tmbus.c's queue holds. Generated protobuf types
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
 * returns err, so that a failure is one line. */
__attribute__((format(printf, 3, 4))) int client_fail(struct tmbus *h, int err, const char *fmt,
                                                      ...);

/* As client_fail, into a caller's buffer (may be NULL) when there is no
 * handle yet. */
__attribute__((format(printf, 4, 5))) int client_fail_to(char *buf, size_t size, int err,
                                                         const char *fmt, ...);

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

#endif
