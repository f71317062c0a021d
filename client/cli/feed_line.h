/*
 * feed_line: one line of a tmbus import feed (a JSON object, "type" need
 * or offer) decoded and checked strictly, without the node: duplicate
 * keys, unknown fields, wrong types, bad enum values and everything the
 * library's validators refuse are rejected with a reason. It never posts
 * and never does I/O; tmbus import (feed.c) posts what passes.
 */
#ifndef TMBUS_CLI_FEED_LINE_H
#define TMBUS_CLI_FEED_LINE_H

#include <stddef.h>

#include <jansson.h>

#include "cli.h"
#include "tmbus.h"

#define FEED_LINE_WHY_MAX 512

#define FEED_NEED_FIELDS                                                                           \
    "title, category, quantity, unit, value_eur, priority, tlp, deadline, "                        \
    "beneficiary, sector, description, contact, to"
#define FEED_OFFER_FIELDS                                                                          \
    "need, description, quantity, value_eur, tlp, delivery_date, "                                 \
    "conditions, to"

enum feed_line_kind { FEED_LINE_NEED, FEED_LINE_OFFER };

/* A decoded line. Every string, the recipients' names included, points
 * into json, which the line owns. */
struct feed_line {
    enum feed_line_kind kind;
    struct tmbus_need need;   /* FEED_LINE_NEED: passes tmbus_need_validate */
    struct tmbus_offer offer; /* FEED_LINE_OFFER: need_id NULL; tlp 0 when the line
                                 names a need and gives none (the need's applies) */
    const char *need_ref;     /* FEED_LINE_OFFER: the need's id or id prefix (hex, at
                                 least CLI_ID_PREFIX_MIN digits); NULL for a catalogue
                                 offer, which then passes tmbus_offer_validate */
    struct cli_to to;         /* "all", or names (to.names is malloc'd) */
    json_t *json;
};

/* Decodes text (len bytes, no terminating NUL needed). On success returns
 * 0 and fills *out, which the caller frees with feed_line_free; otherwise
 * returns -1, leaves nothing to free and writes the reason into why (at
 * most whylen bytes). An offer that names a need is checked as fully as
 * it can be without the need (a placeholder id, the need's TLP taken as
 * amber). */
int feed_line_decode(const char *text, size_t len, struct feed_line *out, char *why, size_t whylen);

/* Frees what a decoded line holds and zeroes it. Accepts a zeroed line. */
void feed_line_free(struct feed_line *l);

#endif
