/*
 * pages: the dashboard's HTML pages, each read from the node through the
 * client's handle at the moment it is asked for (the node applies the
 * client's role and clearance, so a page never shows what the client may
 * not read). Renders into an html buffer; never touches sockets or HTTP.
 * Every call blocks on the node for up to PAGES_CALL_MS per question.
 */
#ifndef TMBUS_WEB_PAGES_H
#define TMBUS_WEB_PAGES_H

#include "feed.h"
#include "html.h"
#include "tmbus.h"

#define PAGES_CALL_MS    10000
#define PAGES_NEEDS_READ 2000 /* needs read from the node for one list page, at most */
#define PAGES_NEEDS_SHOW 500  /* rows one list page shows, at most */
#define PAGES_QUERY_MAX  200  /* longest filter value, in bytes */

/* The filters of the needs page, from its query string (NULL: unset).
 * status, category and owner are names (tmbus_need_status_name,
 * tmbus_category_name, a member id); text is searched for in titles. */
struct pages_filter {
    const char *status;
    const char *category;
    const char *owner;
    const char *text;
};

/* What every page shows in its header. */
struct pages_site {
    const char *member; /* the node's member id */
    const struct feed *feed;
};

/* Each writes a whole page into out and returns the HTTP status to send
 * it with: 200, 400 (a bad filter), 404 (no such need), 502 (the node
 * did not answer or refused). */
int pages_needs(struct tmbus *h, const struct pages_site *site, const struct pages_filter *q,
                struct html *out);
/* Need id_hex (64 hex digits) and its offers. */
int pages_need(struct tmbus *h, const struct pages_site *site, const char *id_hex,
               struct html *out);
/* Pledged and delivered EUR per donor, category and sector, as SVG bar
 * charts. */
int pages_totals(struct tmbus *h, const struct pages_site *site, struct html *out);
/* A short page for an error status (404, 405, …) with a reason. */
void pages_error(const struct pages_site *site, int status, const char *reason, struct html *out);

#endif
