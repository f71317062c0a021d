/*
 * feed: the last messages tmbus-web's subscription delivered, kept in a
 * fixed ring for the live feed (Server-Sent Events) and the feed column
 * of the pages. It owns copies of what it shows, one line each, never the
 * deliveries themselves; it never talks to the node.
 */
#ifndef TMBUS_WEB_FEED_H
#define TMBUS_WEB_FEED_H

#include <stdint.h>

#include "tmbus.h"

#define FEED_KEEP      64                    /* events the ring holds */
#define FEED_LINE_MAX  320                   /* one event's text: kind, sender and title */
#define FEED_EVENT_MAX (FEED_LINE_MAX + 128) /* one event as an SSE record */

struct feed_event {
    uint64_t seq; /* 1, 2, … in arrival order */
    int64_t at;   /* unix seconds the sender created it */
    char kind[16];
    char sender[TMBUS_MEMBER_MAX + 1];
    char id_hex[TMBUS_ID_HEX_BYTES];
    char line[FEED_LINE_MAX]; /* "need: TITLE", …; no control characters */
};

struct feed {
    struct feed_event ring[FEED_KEEP];
    uint64_t next_seq; /* the seq the next event gets */
};

/* An empty feed. */
void feed_init(struct feed *f);
/* Copies what the page shows of delivery d into the ring (receipts and
 * kinds this library cannot read are shown by kind only). */
void feed_add(struct feed *f, const struct tmbus_delivery *d);
/* The event numbered seq, or NULL when it is not yet there or has left
 * the ring. */
const struct feed_event *feed_get(const struct feed *f, uint64_t seq);
/* The oldest seq still in the ring (next_seq when it is empty). */
uint64_t feed_oldest(const struct feed *f);
/* Writes e as one Server-Sent Events record ("id:", "event:", "data:"
 * lines and a blank line) into buf; returns its length, or 0 when it does
 * not fit in size. */
size_t feed_sse(const struct feed_event *e, char *buf, size_t size);

#endif
