/*
 * pages: renders the dashboard from the node's answers. Lists come from
 * board queries (the node filters by status, category and owner and
 * applies the client's clearance); the title search and the order (by
 * priority, then deadline, none last) are applied here to what was read,
 * at most PAGES_NEEDS_READ needs. Every string from the bus is written
 * through html_text; ids are re-encoded as hex here, never echoed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pages.h"

/* After an owner or donor that is no longer in the roster in force: what it
 * posted before a roster update revoked it stays on the board, marked. */
#define REVOKED_MARK " <span class=\"revoked\">revoked</span>"

static void head(struct html *o, const struct pages_site *site, const char *title)
{
    html_raw(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>");
    html_text(o, title);
    html_raw(o, " - tmbus ");
    html_text(o, site->member);
    html_raw(o, "</title><link rel=\"stylesheet\" href=\"/style.css\">"
                "<script src=\"/live.js\" defer></script></head>\n<body><header>"
                "<h1>tmbus board <span class=\"member\">");
    html_text(o, site->member);
    html_raw(o, "</span></h1><nav><a href=\"/\">Open needs</a> <a href=\"/totals\">Totals</a>"
                "</nav></header>\n<div class=\"cols\"><main>");
}

/* The feed column and the end of the page. */
static void tail(struct html *o, const struct pages_site *site)
{
    uint64_t first = site->feed->next_seq > 20 ? site->feed->next_seq - 20 : 1;

    html_raw(o, "</main>\n<aside><h2>Arriving messages</h2><ul id=\"feed\">");
    for (uint64_t s = site->feed->next_seq; s-- > first;) {
        const struct feed_event *e = feed_get(site->feed, s);
        if (e == NULL)
            break;
        html_raw(o, "<li>");
        html_text(o, e->line);
        html_raw(o, "</li>");
    }
    html_raw(o, "</ul><p id=\"live\" class=\"note\">Live updates need the page's script; "
                "reload to refresh.</p></aside></div></body></html>\n");
}

static void node_failed(struct tmbus *h, const struct pages_site *site, int rc, struct html *o)
{
    char why[512];

    snprintf(why, sizeof(why), "the node did not answer: %s (%s)", tmbus_strerror(rc),
             tmbus_last_error(h));
    html_free(o);
    pages_error(site, 502, why, o);
}

void pages_error(const struct pages_site *site, int status, const char *reason, struct html *o)
{
    char title[32];

    snprintf(title, sizeof(title), "Error %d", status);
    head(o, site, title);
    html_printf(o, "<h2>%s</h2><p class=\"error\">", title);
    html_text(o, reason);
    html_raw(o, "</p>");
    tail(o, site);
}

static const char *name_or(const char *name, const char *fallback)
{
    return name != NULL ? name : fallback;
}

/* Deadline order: a date sorts before none. */
static int by_priority_deadline(const void *a, const void *b)
{
    const struct tmbus_board_need *x = *(const struct tmbus_board_need *const *)a;
    const struct tmbus_board_need *y = *(const struct tmbus_board_need *const *)b;
    const char *dx = x->need.deadline, *dy = y->need.deadline;
    int c;

    if (x->need.priority != y->need.priority)
        return x->need.priority < y->need.priority ? -1 : 1;
    if (*dx == '\0' || *dy == '\0')
        return (*dx == '\0') - (*dy == '\0');
    c = strcmp(dx, dy);
    return c != 0 ? c : memcmp(x->id, y->id, TMBUS_ID_BYTES);
}

/* An <option> of a filter's <select>. */
static void option(struct html *o, const char *value, const char *chosen)
{
    html_raw(o, "<option value=\"");
    html_text(o, value);
    html_raw(o, chosen != NULL && strcmp(value, chosen) == 0 ? "\" selected>" : "\">");
    html_text(o, *value != '\0' ? value : "any");
    html_raw(o, "</option>");
}

static void filter_form(struct html *o, const struct pages_filter *q)
{
    static const char *const statuses[] = {"",        "open",   "partially_covered",
                                           "covered", "closed", "withdrawn"};

    html_raw(o, "<form class=\"filters\" method=\"get\" action=\"/\">"
                "<label>Status <select name=\"status\">");
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        option(o, statuses[i], q->status != NULL ? q->status : "");
    html_raw(o, "</select></label> <label>Category <select name=\"category\">");
    option(o, "", q->category != NULL ? q->category : "");
    for (int c = 1; tmbus_category_name(c) != NULL; c++)
        option(o, tmbus_category_name(c), q->category);
    html_raw(o, "</select></label> <label>Owner <input name=\"owner\" size=\"8\" value=\"");
    html_text(o, q->owner);
    html_raw(o, "\"></label> <label>Title <input name=\"q\" value=\"");
    html_text(o, q->text);
    html_raw(o, "\"></label> <button type=\"submit\">Filter</button></form>\n");
}

/* A need status for people ("partially covered"); the node's name is
 * never echoed, so an unknown one reads "unknown". */
static const char *status_label(const char *status)
{
    static const char *const labels[] = {NULL,      "open",   "partially covered",
                                         "covered", "closed", "withdrawn"};
    int v;

    if (tmbus_need_status_parse(status, &v) != TMBUS_OK || v < 1 ||
        (size_t)v >= sizeof(labels) / sizeof(labels[0]))
        return "unknown";
    return labels[v];
}

static void need_row(struct html *o, const struct tmbus_board_need *n, const char *today)
{
    char hex[TMBUS_ID_HEX_BYTES];

    tmbus_id_to_hex(n->id, hex);
    html_printf(o, "<tr class=\"prio-%s\"><td>%s</td><td class=\"date\">",
                name_or(tmbus_priority_name(n->need.priority), "unknown"),
                name_or(tmbus_priority_name(n->need.priority), "?"));
    html_text(o, *n->need.deadline != '\0' ? n->need.deadline : "-");
    if (*n->need.deadline != '\0' && strcmp(n->need.deadline, today) < 0)
        html_raw(o, " <span class=\"overdue\">overdue</span>");
    html_printf(o, "</td><td class=\"title\"><a href=\"/need/%s\">", hex);
    html_text(o, n->need.title);
    html_raw(o, "</a></td><td>");
    html_text(o, n->owner);
    if (n->is_author_revoked)
        html_raw(o, REVOKED_MARK);
    html_printf(o, "</td><td>%s<br><span class=\"sector\">%s</span></td><td>",
                name_or(tmbus_category_name(n->need.category), "unknown"),
                name_or(tmbus_sector_name(n->need.sector), "unknown"));
    html_raw(o, status_label(n->status));
    html_printf(o, "</td><td class=\"num\">%llu ", (unsigned long long)n->need.quantity);
    html_text(o, n->need.unit);
    html_raw(o, "</td><td class=\"cov\">");
    html_coverage(o, n->accepted_quantity, n->delivered_quantity, n->need.quantity);
    html_raw(o, "</td><td class=\"num\">");
    html_eur(o, n->need.value_cents);
    html_raw(o, "</td></tr>\n");
}

static void today_utc(char out[TMBUS_DATE_BYTES + 1])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, TMBUS_DATE_BYTES + 1, "%Y-%m-%d", &tm);
}

int pages_needs(struct tmbus *h, const struct pages_site *site, const struct pages_filter *q,
                struct html *o)
{
    struct tmbus_board *pages[PAGES_NEEDS_READ / TMBUS_BOARD_PAGE_MAX] = {0};
    const struct tmbus_board_need **rows = NULL;
    struct tmbus_board_query bq = {0};
    int statuses[2], category, rc, status = 200;
    size_t n_pages = 0, n_rows = 0, n_read = 0;
    bool is_more = false;
    char today[TMBUS_DATE_BYTES + 1];
    const char *owner = q->owner;

    bq.list = TMBUS_BOARD_NEEDS;
    bq.limit = TMBUS_BOARD_PAGE_MAX;
    if (q->status == NULL || *q->status == '\0') {
        statuses[0] = TMBUS_NEED_OPEN;
        statuses[1] = TMBUS_NEED_PARTIALLY_COVERED;
        bq.statuses = statuses;
        bq.n_statuses = 2;
    } else if (tmbus_need_status_parse(q->status, &statuses[0]) == TMBUS_OK) {
        bq.statuses = statuses;
        bq.n_statuses = 1;
    } else {
        pages_error(site, 400, "unknown status", o);
        return 400;
    }
    if (q->category != NULL && *q->category != '\0') {
        if (tmbus_category_parse(q->category, &category) != TMBUS_OK) {
            pages_error(site, 400, "unknown category", o);
            return 400;
        }
        bq.categories = &category;
        bq.n_categories = 1;
    }
    if (owner != NULL && *owner != '\0') {
        bq.members = &owner;
        bq.n_members = 1;
    }

    for (;;) {
        struct tmbus_board *b = NULL;
        rc = tmbus_board_query(h, &bq, PAGES_CALL_MS, &b);
        if (rc != TMBUS_OK) {
            if (rc == TMBUS_EINVALID) {
                pages_error(site, 400, tmbus_last_error(h), o);
                status = 400;
            } else {
                node_failed(h, site, rc, o);
                status = 502;
            }
            goto done;
        }
        pages[n_pages++] = b;
        n_read += tmbus_board_need_count(b);
        if (*tmbus_board_next(b) == '\0')
            break;
        if (n_pages == sizeof(pages) / sizeof(pages[0])) {
            is_more = true;
            break;
        }
        bq.after = tmbus_board_next(b);
    }
    rows = calloc(n_read + 1, sizeof(*rows));
    if (rows == NULL) {
        pages_error(site, 500, "out of memory", o);
        status = 500;
        goto done;
    }
    for (size_t p = 0; p < n_pages; p++)
        for (size_t i = 0; i < tmbus_board_need_count(pages[p]); i++) {
            const struct tmbus_board_need *n = tmbus_board_need_at(pages[p], i);
            if (q->text == NULL || html_contains_folded(n->need.title, q->text))
                rows[n_rows++] = n;
        }
    qsort(rows, n_rows, sizeof(*rows), by_priority_deadline);

    today_utc(today);
    head(o, site, "Needs");
    html_raw(o, "<h2>Needs by priority and deadline</h2>\n");
    filter_form(o, q);
    html_printf(o, "<p class=\"count\" id=\"count\">%zu need%s%s</p>\n", n_rows,
                n_rows == 1 ? "" : "s",
                is_more ? " among the first needs read: narrow the filters to see all" : "");
    html_raw(o, "<table id=\"needs\"><thead><tr><th>Priority</th><th>Deadline</th><th>Title</th>"
                "<th>Owner</th><th>Category, sector</th><th>Status</th>"
                "<th>Quantity</th><th>Coverage</th><th>Value EUR</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n_rows && i < PAGES_NEEDS_SHOW; i++)
        need_row(o, rows[i], today);
    html_raw(o, "</tbody></table>\n");
    if (n_rows > PAGES_NEEDS_SHOW)
        html_printf(o, "<p class=\"note\">The first %d are shown.</p>\n", PAGES_NEEDS_SHOW);
    tail(o, site);
done:
    free(rows);
    for (size_t p = 0; p < n_pages; p++)
        tmbus_board_free(&pages[p]);
    return status;
}

static void dl_text(struct html *o, const char *term, const char *value)
{
    html_printf(o, "<dt>%s</dt><dd>", term);
    html_text(o, *value != '\0' ? value : "-");
    html_raw(o, "</dd>");
}

int pages_need(struct tmbus *h, const struct pages_site *site, const char *id_hex, struct html *o)
{
    uint8_t id[TMBUS_ID_BYTES];
    struct tmbus_board_query bq = {0};
    struct tmbus_board *needs = NULL, *offers = NULL;
    const struct tmbus_board_need *n;
    char hex[TMBUS_ID_HEX_BYTES];
    int rc, status = 200;

    if (tmbus_id_from_hex(id_hex, id) != TMBUS_OK) {
        pages_error(site, 404, "no such need", o);
        return 404;
    }
    bq.list = TMBUS_BOARD_NEEDS;
    bq.need_id = id;
    bq.limit = 1;
    rc = tmbus_board_query(h, &bq, PAGES_CALL_MS, &needs);
    if (rc == TMBUS_OK && (n = tmbus_board_need_at(needs, 0)) != NULL) {
        bq.list = TMBUS_BOARD_OFFERS;
        bq.limit = TMBUS_BOARD_PAGE_MAX;
        rc = tmbus_board_query(h, &bq, PAGES_CALL_MS, &offers);
    } else if (rc == TMBUS_OK) {
        pages_error(site, 404,
                    "no such need on this node's board (or above this client's "
                    "clearance)",
                    o);
        status = 404;
        goto done;
    }
    if (rc != TMBUS_OK) {
        node_failed(h, site, rc, o);
        status = 502;
        goto done;
    }

    head(o, site, n->need.title);
    html_raw(o, "<h2 class=\"title\">");
    html_text(o, n->need.title);
    html_raw(o, "</h2>\n<dl class=\"need\">");
    tmbus_id_to_hex(n->id, hex);
    html_printf(o, "<dt>Id</dt><dd class=\"id\">%s</dd>", hex);
    dl_text(o, "Owner", n->owner);
    if (n->is_author_revoked)
        html_raw(o, "<dt></dt><dd>" REVOKED_MARK "</dd>");
    dl_text(o, "Status", n->status);
    html_printf(o, "<dt>Priority</dt><dd>%s</dd><dt>TLP</dt><dd>%s</dd>",
                name_or(tmbus_priority_name(n->need.priority), "unknown"),
                name_or(tmbus_tlp_name(n->need.tlp), "unknown"));
    html_printf(o, "<dt>Category</dt><dd>%s</dd><dt>Sector</dt><dd>%s</dd>",
                name_or(tmbus_category_name(n->need.category), "unknown"),
                name_or(tmbus_sector_name(n->need.sector), "unknown"));
    dl_text(o, "Deadline", n->need.deadline);
    dl_text(o, "Beneficiary", n->need.beneficiary);
    dl_text(o, "Contact", n->need.contact);
    html_printf(o, "<dt>Quantity</dt><dd>%llu ", (unsigned long long)n->need.quantity);
    html_text(o, n->need.unit);
    html_raw(o, "</dd><dt>Coverage</dt><dd>");
    html_coverage(o, n->accepted_quantity, n->delivered_quantity, n->need.quantity);
    html_raw(o, "</dd><dt>Value EUR</dt><dd>");
    html_eur(o, n->need.value_cents);
    html_raw(o, "</dd></dl>\n<p class=\"description\">");
    html_text(o, n->need.description);
    html_printf(o,
                "</p>\n<h3>Offers (%zu)</h3>\n<table id=\"offers\"><thead><tr><th>Donor</th>"
                "<th>Status</th><th>Quantity</th><th>Value EUR</th><th>Delivery date</th>"
                "<th>Description</th></tr></thead><tbody>\n",
                tmbus_board_offer_count(offers));
    for (size_t i = 0; i < tmbus_board_offer_count(offers); i++) {
        const struct tmbus_board_offer *of = tmbus_board_offer_at(offers, i);
        html_raw(o, "<tr><td>");
        html_text(o, of->donor);
        if (of->is_author_revoked)
            html_raw(o, REVOKED_MARK);
        html_raw(o, "</td><td>");
        html_text(o, of->status);
        html_printf(o, "</td><td class=\"num\">%llu</td><td class=\"num\">",
                    (unsigned long long)of->offer.quantity);
        html_eur(o, of->offer.value_cents);
        html_raw(o, "</td><td>");
        html_text(o, *of->offer.delivery_date != '\0' ? of->offer.delivery_date : "-");
        html_raw(o, "</td><td>");
        html_text(o, of->offer.description);
        html_raw(o, "</td></tr>\n");
    }
    html_raw(o, "</tbody></table>\n");
    tail(o, site);
done:
    tmbus_board_free(&needs);
    tmbus_board_free(&offers);
    return status;
}

#define CHART_WIDTH 720
#define CHART_LABEL 150 /* the keys' column */
#define CHART_VALUE 210 /* the amounts' column */
#define CHART_ROW   28

/* One SVG bar chart: per row, the pledged bar and the delivered bar over
 * it, scaled to the largest pledge, and both amounts. */
static void chart(struct html *o, const struct tmbus_report *r, enum tmbus_report_by by,
                  const char *title, const char *id)
{
    size_t n = tmbus_report_total_count(r, by);
    uint64_t max = 1;
    unsigned bars = CHART_WIDTH - CHART_LABEL - CHART_VALUE;

    for (size_t i = 0; i < n; i++) {
        const struct tmbus_report_total *t = tmbus_report_total_at(r, by, i);
        if (t->pledged_cents > max)
            max = t->pledged_cents;
        if (t->delivered_cents > max)
            max = t->delivered_cents;
    }
    html_printf(o, "<section class=\"chart\" id=\"%s\"><h3>%s</h3>\n", id, title);
    if (n == 0) {
        html_raw(o, "<p class=\"note\">Nothing pledged yet.</p></section>\n");
        return;
    }
    html_printf(o,
                "<svg viewBox=\"0 0 %d %zu\" width=\"%d\" height=\"%zu\" role=\"img\" "
                "aria-label=\"%s\">",
                CHART_WIDTH, n * CHART_ROW + 4, CHART_WIDTH, n * CHART_ROW + 4, title);
    for (size_t i = 0; i < n; i++) {
        const struct tmbus_report_total *t = tmbus_report_total_at(r, by, i);
        size_t y = i * CHART_ROW + 2;
        unsigned wp = (unsigned)((long double)t->pledged_cents * bars / (long double)max);
        unsigned wd = (unsigned)((long double)t->delivered_cents * bars / (long double)max);

        html_printf(o, "<g class=\"row\"><text class=\"key\" x=\"0\" y=\"%zu\">", y + 17);
        html_text(o, t->key);
        html_printf(o,
                    "</text><rect class=\"pledged\" x=\"%d\" y=\"%zu\" width=\"%u\" "
                    "height=\"22\"/><rect class=\"delivered\" x=\"%d\" y=\"%zu\" width=\"%u\" "
                    "height=\"10\"/><text class=\"amount\" x=\"%d\" y=\"%zu\">",
                    CHART_LABEL, y, wp, CHART_LABEL, y + 6, wd, CHART_WIDTH - CHART_VALUE + 6,
                    y + 17);
        html_eur(o, t->pledged_cents);
        html_raw(o, " / ");
        html_eur(o, t->delivered_cents);
        html_raw(o, "</text></g>");
    }
    html_raw(o, "</svg>\n<table class=\"totals\"><thead><tr><th>Key</th><th>Pledged EUR</th>"
                "<th>Delivered EUR</th></tr></thead><tbody>");
    for (size_t i = 0; i < n; i++) {
        const struct tmbus_report_total *t = tmbus_report_total_at(r, by, i);
        html_raw(o, "<tr><td>");
        html_text(o, t->key);
        html_raw(o, "</td><td class=\"num\">");
        html_eur(o, t->pledged_cents);
        html_raw(o, "</td><td class=\"num\">");
        html_eur(o, t->delivered_cents);
        html_raw(o, "</td></tr>");
    }
    html_raw(o, "</tbody></table></section>\n");
}

int pages_totals(struct tmbus *h, const struct pages_site *site, struct html *o)
{
    struct tmbus_report *r = NULL;
    const struct tmbus_report_total *all;
    int rc = tmbus_report(h, PAGES_CALL_MS, &r);

    if (rc != TMBUS_OK) {
        node_failed(h, site, rc, o);
        return 502;
    }
    all = tmbus_report_overall(r);
    head(o, site, "Totals");
    html_raw(o, "<h2>Pledged and delivered</h2>\n<p class=\"overall\" id=\"overall\">"
                "Pledged EUR <strong>");
    html_eur(o, all->pledged_cents);
    html_raw(o, "</strong>, delivered EUR <strong>");
    html_eur(o, all->delivered_cents);
    html_printf(o,
                "</strong>; %llu open need%s.</p>\n<p class=\"legend\"><span "
                "class=\"key-pledged\">pledged</span> <span "
                "class=\"key-delivered\">delivered</span></p>\n",
                (unsigned long long)tmbus_report_need_total(r),
                tmbus_report_need_total(r) == 1 ? "" : "s");
    chart(o, r, TMBUS_REPORT_BY_DONOR, "By donor", "by-donor");
    chart(o, r, TMBUS_REPORT_BY_CATEGORY, "By category", "by-category");
    chart(o, r, TMBUS_REPORT_BY_SECTOR, "By sector", "by-sector");
    tail(o, site);
    tmbus_report_free(&r);
    return 200;
}
