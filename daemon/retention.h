/*
 * retention: drops the ciphertext of old envelopes on a timer of the
 * node's loop, under the [retention] rules of the configuration
 * (PROTOCOL.md 5.8), a bounded batch of rows per round so that the loop
 * never stalls. The store finds what is due and rewrites it
 * (store_retention_round); this module owns the schedule, the rules' clock
 * and the counters. It never deletes an envelope, a log head or a board
 * row, and never runs when both rules are off.
 */
#ifndef TMBUS_RETENTION_H
#define TMBUS_RETENTION_H

#include <stdbool.h>

#include "config.h"
#include "loop.h"
#include "stats.h"
#include "store.h"

struct retention;

/* What retention uses, all borrowed for its life. */
struct retention_parts {
    const struct config *cfg; /* [retention]; read once, here */
    struct loop *loop;
    struct store *store;
    struct stats *stats; /* retention.pruned, retention.bytes-freed, ... */
};

/* Whether cfg turns on either rule. */
bool retention_is_on(const struct config *cfg);

/* Starts the retention timer on the loop; its rounds write into the
 * node's open batch (opening one when none is), which the loop's round
 * hook commits. Returns the retention, or NULL on failure (logged). Call
 * only when retention_is_on(cfg). */
struct retention *retention_new(const struct retention_parts *parts);

/* Stops the timer and frees; sets *rp to NULL. Accepts NULL. */
void retention_free(struct retention **rp);

/* One round now, as the timer runs it, for tests and the timer: returns 1
 * when it left work for another round soon, 0 when it did not, -1 when
 * the store failed (logged; nothing of the round is kept). */
int retention_round(struct retention *r);

#endif
