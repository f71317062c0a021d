/*
 * results: what libtmbus asks the node and hands back as an object the
 * library owns: the board, the reports, a post's delivery state and the
 * node's status. Each is checked once, when the reply arrives, and turned
 * into the plain structs of tmbus.h that its accessors point into; the
 * board's and reports' cleartext is wiped when they are freed.
 */
#include "tmbus.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "internal.h"
#include "payload.h"
#include "validate.h"
#include "wire_limits.h"

/* ---- the board ---------------------------------------------------------- */

/* One board: the replies of its pages, the payloads decoded from them and
 * the views into both. */
struct tmbus_board {
    Tmbus__Api__Reply **replies;
    size_t n_replies;
    Tmbus__Payload__Need **need_messages; /* decoded BoardNeed.need, one a need */
    Tmbus__Payload__Offer **offer_messages;
    struct tmbus_board_need *needs;
    struct tmbus_board_offer *offers;
    size_t n_needs, n_offers;
    char next[TMBUS_BOARD_CURSOR_BYTES]; /* the next page's cursor in hex, or "" */
};

/* The board's largest cursor, in bytes (two hex digits each). */
#define CURSOR_MAX ((TMBUS_BOARD_CURSOR_BYTES - 1) / 2)

void tmbus_board_free(struct tmbus_board **bp)
{
    struct tmbus_board *b;

    if (bp == NULL || (b = *bp) == NULL)
        return;
    for (size_t i = 0; b->need_messages != NULL && i < b->n_needs; i++) {
        if (b->need_messages[i] != NULL) {
            payload_wipe(&b->need_messages[i]->base);
            tmbus__payload__need__free_unpacked(b->need_messages[i], NULL);
        }
    }
    for (size_t i = 0; b->offer_messages != NULL && i < b->n_offers; i++) {
        if (b->offer_messages[i] != NULL) {
            payload_wipe(&b->offer_messages[i]->base);
            tmbus__payload__offer__free_unpacked(b->offer_messages[i], NULL);
        }
    }
    free(b->need_messages);
    free(b->offer_messages);
    free(b->needs);
    free(b->offers);
    for (size_t i = 0; i < b->n_replies; i++) {
        /* The board holds needs and offers in clear, up to TLP:RED. */
        payload_wipe(&b->replies[i]->base);
        client_free_reply(b->replies[i], false);
    }
    free(b->replies);
    free(b);
    *bp = NULL;
}

/* Grows the arrays of b for nn more needs and no more offers. */
static int board_grow(struct tmbus_board *b, size_t nn, size_t no)
{
    void *p;

    if (nn > 0) {
        if ((p = realloc(b->need_messages, (b->n_needs + nn) * sizeof(*b->need_messages))) == NULL)
            return -1;
        b->need_messages = p;
        if ((p = realloc(b->needs, (b->n_needs + nn) * sizeof(*b->needs))) == NULL)
            return -1;
        b->needs = p;
    }
    if (no > 0) {
        if ((p = realloc(b->offer_messages, (b->n_offers + no) * sizeof(*b->offer_messages))) ==
            NULL)
            return -1;
        b->offer_messages = p;
        if ((p = realloc(b->offers, (b->n_offers + no) * sizeof(*b->offers))) == NULL)
            return -1;
        b->offers = p;
    }
    return 0;
}

/* Whether s is exactly one of the names name gives for 1, 2, ... (until
 * NULL): tmbus.h promises a status from its list, whatever the node sent. */
static bool is_name_in(const char *s, const char *(*name)(int))
{
    const char *n;

    for (int v = 1; (n = name(v)) != NULL; v++)
        if (strcmp(s, n) == 0)
            return true;
    return false;
}

/* Whether s is a member id, as the board's authors, the report's donors
 * and the status's members are. */
static bool is_member(const char *s)
{
    return domain_is_member_id(s, strlen(s));
}

/* Takes r (a board reply) into b, checking every entry and appending its
 * needs and offers to b's views. b owns r from the call on, whatever the
 * result. */
static int board_take(struct tmbus *h, struct tmbus_board *b, Tmbus__Api__Reply *r)
{
    const Tmbus__Api__Board *m = r->board;
    size_t nn = m->n_needs, no = m->n_offers;
    Tmbus__Api__Reply **replies = realloc(b->replies, (b->n_replies + 1) * sizeof(*replies));

    if (replies == NULL) {
        payload_wipe(&r->base);
        client_free_reply(r, false);
        return client_fail(h, TMBUS_ENOMEM, "out of memory for a board page");
    }
    b->replies = replies;
    b->replies[b->n_replies++] = r;
    if (board_grow(b, nn, no) != 0)
        return client_fail(h, TMBUS_ENOMEM, "out of memory for a board of %zu needs and %zu offers",
                           b->n_needs + nn, b->n_offers + no);
    for (size_t i = 0; i < nn; i++) {
        const Tmbus__Api__BoardNeed *e = m->needs[i];
        struct tmbus_board_need *v = &b->needs[b->n_needs];
        Tmbus__Payload__Need *need;

        if (e->id.len != TMBUS_ID_BYTES || !is_member(e->owner) ||
            !is_name_in(e->status, tmbus_need_status_name) ||
            (need = tmbus__payload__need__unpack(NULL, e->need.len, e->need.data)) == NULL)
            return client_fail(h, TMBUS_EPROTOCOL, "the node sent a board need we cannot read");
        b->need_messages[b->n_needs++] = need;
        memset(v, 0, sizeof(*v));
        memcpy(v->id, e->id.data, TMBUS_ID_BYTES);
        v->owner = e->owner;
        v->created_at = e->created_at;
        payload_need_view(need, &v->need);
        v->status = e->status;
        v->accepted_quantity = e->accepted_quantity;
        v->delivered_quantity = e->delivered_quantity;
        v->updated_at = e->updated_at;
        v->is_author_revoked = e->author_revoked;
    }
    for (size_t i = 0; i < no; i++) {
        const Tmbus__Api__BoardOffer *e = m->offers[i];
        struct tmbus_board_offer *v = &b->offers[b->n_offers];
        Tmbus__Payload__Offer *offer;

        if (e->id.len != TMBUS_ID_BYTES || !is_member(e->donor) ||
            !is_name_in(e->status, tmbus_offer_status_name) ||
            (offer = tmbus__payload__offer__unpack(NULL, e->offer.len, e->offer.data)) == NULL)
            return client_fail(h, TMBUS_EPROTOCOL, "the node sent a board offer we cannot read");
        b->offer_messages[b->n_offers++] = offer;
        memset(v, 0, sizeof(*v));
        memcpy(v->id, e->id.data, TMBUS_ID_BYTES);
        v->donor = e->donor;
        v->created_at = e->created_at;
        payload_offer_view(offer, &v->offer);
        v->status = e->status;
        v->updated_at = e->updated_at;
        v->is_author_revoked = e->author_revoked;
    }
    if (m->next.len > CURSOR_MAX)
        return client_fail(h, TMBUS_EPROTOCOL, "the node sent a cursor of %zu bytes", m->next.len);
    for (size_t i = 0; i < m->next.len; i++)
        snprintf(b->next + 2 * i, 3, "%02x", m->next.data[i]);
    b->next[2 * m->next.len] = '\0';
    return TMBUS_OK;
}

/* One board request and its reply (the caller's to free), of any kind:
 * results_read_board checks it. */
static int board_call(struct tmbus *h, Tmbus__Api__BoardQuery *q, int timeout_ms,
                      Tmbus__Api__Reply **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__Reply *r = NULL;
    int rc;

    *out = NULL;
    req.kind_case = TMBUS__API__REQUEST__KIND_BOARD;
    req.board = q;
    if ((rc = client_call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    *out = r;
    return TMBUS_OK;
}

int results_read_board(struct tmbus *h, Tmbus__Api__Reply *r, struct tmbus_board **bp)
{
    if (r->kind_case != TMBUS__API__REPLY__KIND_BOARD || r->board == NULL) {
        payload_wipe(&r->base);
        client_free_reply(r, false);
        return client_fail(h, TMBUS_EPROTOCOL,
                           "the node answered a board query with something else");
    }
    if (*bp == NULL && (*bp = calloc(1, sizeof(**bp))) == NULL) {
        payload_wipe(&r->base);
        client_free_reply(r, false);
        return client_fail(h, TMBUS_ENOMEM, "out of memory");
    }
    return board_take(h, *bp, r);
}

/* A hex cursor back to bytes in buf (CURSOR_MAX); the length, or -1. */
static int cursor_bytes(const char *hex, uint8_t *buf)
{
    size_t len = strlen(hex);

    if (len % 2 != 0 || len / 2 > CURSOR_MAX)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
            sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        buf[i] = (uint8_t)v;
    }
    return (int)(len / 2);
}

/* The wire query for q; names and codes point into q or static storage,
 * the arrays into the caller's (which must hold TMBUS_BOARD_FILTER_MAX). */
static int board_wire_query(struct tmbus *h, const struct tmbus_board_query *q,
                            Tmbus__Api__BoardQuery *w, uint8_t *cursor, char **statuses,
                            uint32_t *categories, uint32_t *priorities)
{
    bool is_needs = q->list == TMBUS_BOARD_NEEDS;
    int n;

    if (q->list != TMBUS_BOARD_NEEDS && q->list != TMBUS_BOARD_OFFERS)
        return client_fail(h, TMBUS_EINVALID,
                           "list must be TMBUS_BOARD_NEEDS or TMBUS_BOARD_OFFERS");
    if (q->limit > TMBUS_BOARD_PAGE_MAX)
        return client_fail(h, TMBUS_EINVALID, "limit %u is over %d", q->limit,
                           TMBUS_BOARD_PAGE_MAX);
    if (q->n_statuses > TMBUS_BOARD_FILTER_MAX || q->n_categories > TMBUS_BOARD_FILTER_MAX ||
        q->n_priorities > TMBUS_BOARD_FILTER_MAX || q->n_members > TMBUS_BOARD_FILTER_MAX ||
        (q->n_statuses > 0 && q->statuses == NULL) ||
        (q->n_categories > 0 && q->categories == NULL) ||
        (q->n_priorities > 0 && q->priorities == NULL) || (q->n_members > 0 && q->members == NULL))
        return client_fail(h, TMBUS_EINVALID, "a filter list is NULL or longer than %d",
                           TMBUS_BOARD_FILTER_MAX);
    w->list = is_needs ? TMBUS__API__BOARD_LIST__BOARD_LIST_NEEDS
                       : TMBUS__API__BOARD_LIST__BOARD_LIST_OFFERS;
    w->limit = q->limit;
    if (q->after != NULL && q->after[0] != '\0') {
        if ((n = cursor_bytes(q->after, cursor)) < 0)
            return client_fail(h, TMBUS_EINVALID, "after is not a cursor the node gave");
        w->after.data = cursor;
        w->after.len = (size_t)n;
    }
    if (q->need_id != NULL) {
        w->need_id.data = (uint8_t *)q->need_id;
        w->need_id.len = TMBUS_ID_BYTES;
    }
    if (q->need_status != 0) {
        if (tmbus_need_status_name(q->need_status) == NULL)
            return client_fail(h, TMBUS_EINVALID, "unknown need status %d", q->need_status);
        w->need_status = (char *)tmbus_need_status_name(q->need_status);
    }
    for (size_t i = 0; i < q->n_statuses; i++) {
        const char *name = is_needs ? tmbus_need_status_name(q->statuses[i])
                                    : tmbus_offer_status_name(q->statuses[i]);
        if (name == NULL)
            return client_fail(h, TMBUS_EINVALID, "unknown %s status %d",
                               is_needs ? "need" : "offer", q->statuses[i]);
        statuses[i] = (char *)name;
    }
    w->n_statuses = q->n_statuses;
    w->statuses = statuses;
    for (size_t i = 0; i < q->n_categories; i++)
        categories[i] = q->categories[i] > 0 ? (uint32_t)q->categories[i] : UINT32_MAX;
    w->n_categories = q->n_categories;
    w->categories = categories;
    for (size_t i = 0; i < q->n_priorities; i++)
        priorities[i] = q->priorities[i] > 0 ? (uint32_t)q->priorities[i] : UINT32_MAX;
    w->n_priorities = q->n_priorities;
    w->priorities = priorities;
    w->n_members = q->n_members;
    w->members = (char **)q->members;
    if (q->updated_since < 0)
        return client_fail(h, TMBUS_EINVALID, "updated_since is negative");
    w->updated_since = q->updated_since;
    if (q->id_prefix != NULL)
        w->id_prefix = (char *)q->id_prefix;
    return TMBUS_OK;
}

int tmbus_board_query(struct tmbus *h, const struct tmbus_board_query *q, int timeout_ms,
                      struct tmbus_board **out)
{
    Tmbus__Api__BoardQuery w = TMBUS__API__BOARD_QUERY__INIT;
    char *statuses[TMBUS_BOARD_FILTER_MAX];
    uint32_t categories[TMBUS_BOARD_FILTER_MAX], priorities[TMBUS_BOARD_FILTER_MAX];
    uint8_t cursor[CURSOR_MAX];
    Tmbus__Api__Reply *r = NULL;
    struct tmbus_board *b = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || q == NULL || out == NULL)
        return TMBUS_EINVALID;
    client_clear_error(h);
    if ((rc = board_wire_query(h, q, &w, cursor, statuses, categories, priorities)) != TMBUS_OK ||
        (rc = board_call(h, &w, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    if ((rc = results_read_board(h, r, &b)) != TMBUS_OK) {
        tmbus_board_free(&b);
        return rc;
    }
    *out = b;
    return TMBUS_OK;
}

const char *tmbus_board_next(const struct tmbus_board *b)
{
    return b != NULL ? b->next : "";
}

/* Reads every page of one list into b. */
static int board_read_all(struct tmbus *h, struct tmbus_board *b, int list, const uint8_t *need_id,
                          int need_status, int timeout_ms)
{
    struct tmbus_board_query q = {.list = list,
                                  .limit = TMBUS_BOARD_PAGE_MAX,
                                  .need_id = need_id,
                                  .need_status = need_status};
    char after[TMBUS_BOARD_CURSOR_BYTES] = "";
    int rc;

    do {
        Tmbus__Api__BoardQuery w = TMBUS__API__BOARD_QUERY__INIT;
        uint8_t cursor[CURSOR_MAX];
        Tmbus__Api__Reply *r = NULL;

        q.after = after;
        if ((rc = board_wire_query(h, &q, &w, cursor, NULL, NULL, NULL)) != TMBUS_OK ||
            (rc = board_call(h, &w, timeout_ms, &r)) != TMBUS_OK ||
            (rc = results_read_board(h, r, &b)) != TMBUS_OK)
            return rc;
        snprintf(after, sizeof(after), "%s", b->next);
    } while (after[0] != '\0');
    return TMBUS_OK;
}

int tmbus_board(struct tmbus *h, const uint8_t *need_id, const char *need_status, int timeout_ms,
                struct tmbus_board **out)
{
    struct tmbus_board *b = NULL;
    int status = 0, rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    client_clear_error(h);
    if (need_status != NULL && tmbus_need_status_parse(need_status, &status) != TMBUS_OK)
        return client_fail(h, TMBUS_EINVALID, "need status '%s' is not one of %s", need_status,
                           tmbus_need_status_names());
    if ((b = calloc(1, sizeof(*b))) == NULL)
        return client_fail(h, TMBUS_ENOMEM, "out of memory");
    if ((rc = board_read_all(h, b, TMBUS_BOARD_NEEDS, need_id, status, timeout_ms)) != TMBUS_OK)
        goto fail;
    if (need_id != NULL && b->n_needs == 0) {
        /* As the node says it: unknown and above the clearance alike. */
        rc = client_fail(h, TMBUS_ENOTFOUND, "no such need on this board");
        goto fail;
    }
    if ((rc = board_read_all(h, b, TMBUS_BOARD_OFFERS, need_id, status, timeout_ms)) != TMBUS_OK)
        goto fail;
    b->next[0] = '\0';
    *out = b;
    return TMBUS_OK;
fail:
    tmbus_board_free(&b);
    return rc;
}

size_t tmbus_board_need_count(const struct tmbus_board *b)
{
    return b != NULL ? b->n_needs : 0;
}

const struct tmbus_board_need *tmbus_board_need_at(const struct tmbus_board *b, size_t i)
{
    return b != NULL && i < b->n_needs ? &b->needs[i] : NULL;
}

size_t tmbus_board_offer_count(const struct tmbus_board *b)
{
    return b != NULL ? b->n_offers : 0;
}

const struct tmbus_board_offer *tmbus_board_offer_at(const struct tmbus_board *b, size_t i)
{
    return b != NULL && i < b->n_offers ? &b->offers[i] : NULL;
}

/* ---- reports ------------------------------------------------------------- */

/* The totals of one kind (by donor, category or sector). */
struct report_totals {
    struct tmbus_report_total *rows;
    size_t n;
};

struct tmbus_report {
    Tmbus__Api__Reply *reply;
    struct tmbus_report_need *needs;
    size_t n_needs;
    struct report_totals by[TMBUS_REPORT_BY_SECTOR + 1]; /* indexed by enum tmbus_report_by */
    struct tmbus_report_total overall;
};

/* Fills in the rows of totals by by from n rows of the reply: 0, or -1
 * when out of memory. Keys name a donor, or a category's or sector's
 * code ("unknown" for a code this library does not know). */
static int view_totals(struct tmbus_report *rep, enum tmbus_report_by by,
                       Tmbus__Api__ReportTotal *const *rows, size_t n)
{
    struct report_totals *t = &rep->by[by];

    if ((t->rows = calloc(n + 1, sizeof(*t->rows))) == NULL)
        return -1;
    t->n = n;
    for (size_t i = 0; i < n; i++) {
        const char *key;
        if (by == TMBUS_REPORT_BY_DONOR)
            key = rows[i]->donor;
        else if (by == TMBUS_REPORT_BY_CATEGORY)
            key = tmbus_category_name((int)rows[i]->code);
        else
            key = tmbus_sector_name((int)rows[i]->code);
        t->rows[i].key = key != NULL ? key : "unknown";
        t->rows[i].pledged_cents = rows[i]->pledged_cents;
        t->rows[i].delivered_cents = rows[i]->delivered_cents;
    }
    return 0;
}

/* The report reply's fields a reader relies on, checked once. */
static bool is_report_sane(const Tmbus__Api__Report *rp)
{
    if (rp->total == NULL)
        return false;
    for (size_t i = 0; i < rp->n_open_needs; i++) {
        const Tmbus__Api__ReportNeed *n = rp->open_needs[i];
        if (n->id.len != TMBUS_ID_BYTES || !is_member(n->owner) ||
            (strcmp(n->status, tmbus_need_status_name(TMBUS_NEED_OPEN)) != 0 &&
             strcmp(n->status, tmbus_need_status_name(TMBUS_NEED_PARTIALLY_COVERED)) != 0))
            return false;
    }
    for (size_t i = 0; i < rp->n_donors; i++)
        if (!is_member(rp->donors[i]->donor))
            return false;
    return true;
}

int tmbus_report(struct tmbus *h, int timeout_ms, struct tmbus_report **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__ReportRequest q = TMBUS__API__REPORT_REQUEST__INIT;
    Tmbus__Api__Reply *r = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    client_clear_error(h);
    req.kind_case = TMBUS__API__REQUEST__KIND_REPORT;
    req.report = &q;
    if ((rc = client_call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    return results_read_report(h, r, out);
}

int results_read_report(struct tmbus *h, Tmbus__Api__Reply *r, struct tmbus_report **out)
{
    struct tmbus_report *rep = NULL;

    *out = NULL;
    if (r->kind_case != TMBUS__API__REPLY__KIND_REPORT || r->report == NULL ||
        !is_report_sane(r->report)) {
        payload_wipe(&r->base);
        client_free_reply(r, false);
        return client_fail(h, TMBUS_EPROTOCOL,
                           "the node answered a report request with something else");
    }
    if ((rep = calloc(1, sizeof(*rep))) == NULL ||
        (rep->needs = calloc(r->report->n_open_needs + 1, sizeof(*rep->needs))) == NULL) {
        free(rep);
        payload_wipe(&r->base);
        client_free_reply(r, false);
        return client_fail(h, TMBUS_ENOMEM, "out of memory");
    }
    rep->reply = r;
    rep->n_needs = r->report->n_open_needs;
    for (size_t i = 0; i < rep->n_needs; i++) {
        const Tmbus__Api__ReportNeed *n = r->report->open_needs[i];
        struct tmbus_report_need *o = &rep->needs[i];
        o->id = n->id.data;
        o->owner = n->owner;
        o->title = n->title;
        o->status = n->status;
        o->priority = (int)n->priority;
        o->deadline = n->deadline;
        o->is_overdue = n->overdue;
        o->quantity = n->quantity;
        o->accepted_quantity = n->accepted_quantity;
        o->value_cents = n->value_cents;
        o->is_author_revoked = n->author_revoked;
    }
    rep->overall.key = "total";
    rep->overall.pledged_cents = r->report->total->pledged_cents;
    rep->overall.delivered_cents = r->report->total->delivered_cents;
    if (view_totals(rep, TMBUS_REPORT_BY_DONOR, r->report->donors, r->report->n_donors) == -1 ||
        view_totals(rep, TMBUS_REPORT_BY_CATEGORY, r->report->categories,
                    r->report->n_categories) == -1 ||
        view_totals(rep, TMBUS_REPORT_BY_SECTOR, r->report->sectors, r->report->n_sectors) == -1) {
        tmbus_report_free(&rep);
        return client_fail(h, TMBUS_ENOMEM, "out of memory");
    }
    *out = rep;
    return TMBUS_OK;
}

uint64_t tmbus_report_need_total(const struct tmbus_report *r)
{
    if (r == NULL)
        return 0;
    /* A node that does not send the count lists every open need. */
    return r->reply->report->open_needs_total > r->n_needs ? r->reply->report->open_needs_total
                                                           : r->n_needs;
}

size_t tmbus_report_need_count(const struct tmbus_report *r)
{
    return r != NULL ? r->n_needs : 0;
}

const struct tmbus_report_need *tmbus_report_need_at(const struct tmbus_report *r, size_t i)
{
    return r != NULL && i < r->n_needs ? &r->needs[i] : NULL;
}

size_t tmbus_report_total_count(const struct tmbus_report *r, enum tmbus_report_by by)
{
    if (r == NULL || by < TMBUS_REPORT_BY_DONOR || by > TMBUS_REPORT_BY_SECTOR)
        return 0;
    return r->by[by].n;
}

const struct tmbus_report_total *tmbus_report_total_at(const struct tmbus_report *r,
                                                       enum tmbus_report_by by, size_t i)
{
    return i < tmbus_report_total_count(r, by) ? &r->by[by].rows[i] : NULL;
}

const struct tmbus_report_total *tmbus_report_overall(const struct tmbus_report *r)
{
    return r != NULL ? &r->overall : NULL;
}

void tmbus_report_free(struct tmbus_report **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    /* Titles are the board's cleartext. */
    payload_wipe(&(*rp)->reply->base);
    client_free_reply((*rp)->reply, false);
    free((*rp)->needs);
    for (size_t by = 0; by <= TMBUS_REPORT_BY_SECTOR; by++)
        free((*rp)->by[by].rows);
    free(*rp);
    *rp = NULL;
}

/* ---- delivery state ------------------------------------------------------ */

struct tmbus_delivery_state {
    Tmbus__Api__Reply *reply;
    struct tmbus_delivery_entry *entries;
    size_t n;
};

void tmbus_delivery_state_free(struct tmbus_delivery_state **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    free((*sp)->entries);
    client_free_reply((*sp)->reply, false);
    free(*sp);
    *sp = NULL;
}

/* A state name the node may send; anything else is a protocol error. */
/* "pending" (no receipt yet), or the state a receipt gave. */
static bool is_delivery_state_name(const char *s)
{
    if (strcmp(s, "pending") == 0)
        return true;
    for (int v = 1; v <= domain_max(DOMAIN_RECEIPT_STATE); v++)
        if (strcmp(s, domain_name(DOMAIN_RECEIPT_STATE, v)) == 0)
            return true;
    return false;
}

int tmbus_delivery_state(struct tmbus *h, const uint8_t id[TMBUS_ID_BYTES], int timeout_ms,
                         struct tmbus_delivery_state **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__DeliveryQuery q = TMBUS__API__DELIVERY_QUERY__INIT;
    Tmbus__Api__Reply *r = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || id == NULL || out == NULL)
        return TMBUS_EINVALID;
    client_clear_error(h);
    q.id.data = (uint8_t *)(uintptr_t)id;
    q.id.len = TMBUS_ID_BYTES;
    req.kind_case = TMBUS__API__REQUEST__KIND_DELIVERY;
    req.delivery = &q;
    if ((rc = client_call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    return results_read_delivery_state(h, r, out);
}

int results_read_delivery_state(struct tmbus *h, Tmbus__Api__Reply *r,
                                struct tmbus_delivery_state **out)
{
    const Tmbus__Api__DeliveryState *m;
    struct tmbus_delivery_state *ds = NULL;

    *out = NULL;
    if (r->kind_case != TMBUS__API__REPLY__KIND_DELIVERY_STATE || r->delivery_state == NULL) {
        client_free_reply(r, false);
        return client_fail(h, TMBUS_EPROTOCOL,
                           "the node answered a delivery query with something else");
    }
    if ((ds = calloc(1, sizeof(*ds))) == NULL) {
        client_free_reply(r, false);
        return client_fail(h, TMBUS_ENOMEM, "out of memory");
    }
    ds->reply = r;
    m = r->delivery_state;
    if (m->n_entries > TMBUS_MAX_RECIPIENTS ||
        (m->n_entries > 0 && (ds->entries = calloc(m->n_entries, sizeof(*ds->entries))) == NULL)) {
        tmbus_delivery_state_free(&ds);
        return client_fail(h, TMBUS_EPROTOCOL, "the node sent a delivery state we cannot hold");
    }
    for (size_t i = 0; i < m->n_entries; i++) {
        const Tmbus__Api__DeliveryState__Entry *e = m->entries[i];
        if (!domain_is_member_id(e->member, strlen(e->member)) ||
            !is_delivery_state_name(e->state) ||
            validate_text("reason", e->reason, WIRE_REASON_MAX, VALIDATE_ONE_LINE, NULL, 0) !=
                VALIDATE_OK) {
            tmbus_delivery_state_free(&ds);
            return client_fail(h, TMBUS_EPROTOCOL, "the node sent a delivery entry we cannot read");
        }
        ds->entries[i] = (struct tmbus_delivery_entry){e->member, e->state, e->reason, e->at};
    }
    ds->n = m->n_entries;
    *out = ds;
    return TMBUS_OK;
}

size_t tmbus_delivery_state_count(const struct tmbus_delivery_state *s)
{
    return s != NULL ? s->n : 0;
}

const struct tmbus_delivery_entry *tmbus_delivery_state_at(const struct tmbus_delivery_state *s,
                                                           size_t i)
{
    return s != NULL && i < s->n ? &s->entries[i] : NULL;
}

/* ---- status ------------------------------------------------------------- */

struct tmbus_status {
    Tmbus__Api__Reply *reply;
    struct tmbus_peer *peers;       /* reply->status->n_peers of them */
    struct tmbus_counter *counters; /* reply->status->n_counters */
};

int tmbus_status(struct tmbus *h, int timeout_ms, struct tmbus_status **out)
{
    Tmbus__Api__Reply *r = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    if ((rc = client_status_reply(h, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    return results_read_status(h, r, out);
}

/* A peer link's state as tmbus.h lists it. */
static bool is_peer_state(const char *s)
{
    return strcmp(s, "down") == 0 || strcmp(s, "connecting") == 0 || strcmp(s, "up") == 0;
}

int results_read_status(struct tmbus *h, Tmbus__Api__Reply *r, struct tmbus_status **out)
{
    const Tmbus__Api__Status *st;
    struct tmbus_status *s;

    *out = NULL;
    if (r->kind_case != TMBUS__API__REPLY__KIND_STATUS || r->status == NULL) {
        client_free_reply(r, false);
        return client_fail(h, TMBUS_EPROTOCOL,
                           "the node answered a status request with something else");
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        client_free_reply(r, false);
        return client_fail(h, TMBUS_ENOMEM, "out of memory");
    }
    s->reply = r;
    st = r->status;
    s->peers = calloc(st->n_peers + 1, sizeof(*s->peers));
    s->counters = calloc(st->n_counters + 1, sizeof(*s->counters));
    if (s->peers == NULL || s->counters == NULL) {
        tmbus_status_free(&s);
        return client_fail(h, TMBUS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < st->n_peers; i++) {
        const Tmbus__Api__PeerStatus *p = st->peers[i];
        if (!is_member(p->member) || !is_peer_state(p->state)) {
            tmbus_status_free(&s);
            return client_fail(h, TMBUS_EPROTOCOL, "the node sent a peer state we cannot read");
        }
        s->peers[i] = (struct tmbus_peer){.member = p->member,
                                          .state = p->state,
                                          .silent_ms = p->silent_ms,
                                          .lag = p->lag,
                                          .behind = p->behind};
    }
    if (!is_member(st->member)) {
        tmbus_status_free(&s);
        return client_fail(h, TMBUS_EPROTOCOL, "the node sent a member id we cannot read");
    }
    for (size_t i = 0; st->key_switch != NULL && i < st->key_switch->n_heads; i++) {
        const char *peer = st->key_switch->heads[i]->log_peer;
        if (peer[0] != '\0' && !is_member(peer)) {
            tmbus_status_free(&s);
            return client_fail(h, TMBUS_EPROTOCOL, "the node sent a key switch we cannot read");
        }
    }
    for (size_t i = 0; i < st->n_counters; i++)
        s->counters[i] = (struct tmbus_counter){st->counters[i]->name, st->counters[i]->value};
    *out = s;
    return TMBUS_OK;
}

const char *tmbus_status_member(const struct tmbus_status *s)
{
    return s->reply->status->member;
}

uint64_t tmbus_status_roster_version(const struct tmbus_status *s)
{
    return s->reply->status->roster_version;
}

const char *tmbus_status_version(const struct tmbus_status *s)
{
    return s->reply->status->version;
}

uint64_t tmbus_status_uptime_s(const struct tmbus_status *s)
{
    return s->reply->status->uptime_s;
}

bool tmbus_status_store_full(const struct tmbus_status *s)
{
    return s->reply->status->store_full;
}

bool tmbus_status_recovering(const struct tmbus_status *s)
{
    return s->reply->status->recovering;
}

uint64_t tmbus_status_audit_epoch(const struct tmbus_status *s)
{
    return s->reply->status->audit_epoch;
}

uint64_t tmbus_status_retention_pruned(const struct tmbus_status *s)
{
    return s->reply->status->retention_pruned;
}

uint64_t tmbus_status_retention_bytes_freed(const struct tmbus_status *s)
{
    return s->reply->status->retention_bytes_freed;
}

unsigned tmbus_status_key_switch_id(const struct tmbus_status *s)
{
    const Tmbus__Api__KeySwitch *k = s->reply->status->key_switch;

    return k != NULL ? k->key_id : 0;
}

size_t tmbus_status_key_switch_count(const struct tmbus_status *s)
{
    const Tmbus__Api__KeySwitch *k = s->reply->status->key_switch;

    return k != NULL ? k->n_heads : 0;
}

int tmbus_status_key_switch_head(const struct tmbus_status *s, size_t i, const char **log_peer,
                                 uint64_t *last_seq)
{
    const Tmbus__Api__KeySwitch *k = s->reply->status->key_switch;

    if (k == NULL || i >= k->n_heads || log_peer == NULL || last_seq == NULL)
        return TMBUS_EINVALID;
    *log_peer = k->heads[i]->log_peer;
    *last_seq = k->heads[i]->last_seq;
    return TMBUS_OK;
}

uint64_t tmbus_status_envelopes(const struct tmbus_status *s)
{
    return s->reply->status->envelopes;
}

uint64_t tmbus_status_inbox(const struct tmbus_status *s)
{
    return s->reply->status->inbox;
}

const uint8_t *tmbus_status_board_digest(const struct tmbus_status *s)
{
    const ProtobufCBinaryData *d = &s->reply->status->board_digest;

    return d->len == TMBUS_ID_BYTES ? d->data : NULL;
}

size_t tmbus_status_counter_count(const struct tmbus_status *s)
{
    return s->reply->status->n_counters;
}

const struct tmbus_counter *tmbus_status_counter_at(const struct tmbus_status *s, size_t i)
{
    return s != NULL && i < s->reply->status->n_counters ? &s->counters[i] : NULL;
}

size_t tmbus_status_peer_count(const struct tmbus_status *s)
{
    return s->reply->status->n_peers;
}

const struct tmbus_peer *tmbus_status_peer_at(const struct tmbus_status *s, size_t i)
{
    return s != NULL && i < s->reply->status->n_peers ? &s->peers[i] : NULL;
}

void tmbus_status_free(struct tmbus_status **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    free((*sp)->peers);
    free((*sp)->counters);
    client_free_reply((*sp)->reply, false);
    free(*sp);
    *sp = NULL;
}

/* ---- the governance log ------------------------------------------------ */

/* At most what a node lists (API_ROSTER_HISTORY_MAX in the daemon). */
#define ROSTER_HISTORY_MAX 1000

struct tmbus_roster_history {
    struct tmbus_roster_entry *entries;
    size_t n;
};

void tmbus_roster_history_free(struct tmbus_roster_history **rhp)
{
    if (rhp == NULL || *rhp == NULL)
        return;
    free((*rhp)->entries);
    free(*rhp);
    *rhp = NULL;
}

size_t tmbus_roster_history_count(const struct tmbus_roster_history *rh)
{
    return rh != NULL ? rh->n : 0;
}

const struct tmbus_roster_entry *tmbus_roster_history_at(const struct tmbus_roster_history *rh,
                                                         size_t i)
{
    return rh != NULL && i < rh->n ? &rh->entries[i] : NULL;
}

/* Sends a RosterRequest (publish: the update, or empty for the history)
 * and reads the history the node answers with into *out (NULL: dropped). */
static int roster_call(struct tmbus *h, const void *roster, size_t len, int timeout_ms,
                       struct tmbus_roster_history **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__RosterRequest q = TMBUS__API__ROSTER_REQUEST__INIT;
    Tmbus__Api__Reply *r = NULL;
    int rc;

    client_clear_error(h);
    q.publish.data = (uint8_t *)(uintptr_t)roster;
    q.publish.len = len;
    req.kind_case = TMBUS__API__REQUEST__KIND_ROSTER;
    req.roster = &q;
    if ((rc = client_call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    return results_read_roster_history(h, r, out);
}

int results_read_roster_history(struct tmbus *h, Tmbus__Api__Reply *r,
                                struct tmbus_roster_history **out)
{
    const Tmbus__Api__RosterHistory *m;
    struct tmbus_roster_history *rh = NULL;

    if (r->kind_case != TMBUS__API__REPLY__KIND_ROSTER_HISTORY || r->roster_history == NULL) {
        client_free_reply(r, false);
        return client_fail(h, TMBUS_EPROTOCOL,
                           "the node answered a roster request with something else");
    }
    m = r->roster_history;
    if (m->n_entries > ROSTER_HISTORY_MAX) {
        client_free_reply(r, false);
        return client_fail(h, TMBUS_EPROTOCOL, "the node sent a longer history than it may");
    }
    if (out != NULL) {
        if ((rh = calloc(1, sizeof(*rh))) == NULL ||
            (m->n_entries > 0 &&
             (rh->entries = calloc(m->n_entries, sizeof(*rh->entries))) == NULL)) {
            tmbus_roster_history_free(&rh);
            client_free_reply(r, false);
            return client_fail(h, TMBUS_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < m->n_entries; i++) {
            const Tmbus__Api__RosterHistory__Entry *e = m->entries[i];
            if (e->hash.len != TMBUS_ID_BYTES) {
                tmbus_roster_history_free(&rh);
                client_free_reply(r, false);
                return client_fail(h, TMBUS_EPROTOCOL,
                                   "the node sent a roster hash we cannot read");
            }
            rh->entries[i].version = e->version;
            memcpy(rh->entries[i].hash, e->hash.data, TMBUS_ID_BYTES);
            rh->entries[i].trusted_at = e->trusted_at;
            rh->entries[i].size = e->size;
        }
        rh->n = m->n_entries;
        *out = rh;
    }
    client_free_reply(r, false);
    return TMBUS_OK;
}

int tmbus_roster_publish(struct tmbus *h, const void *roster, size_t len, int timeout_ms,
                         struct tmbus_roster_history **out)
{
    if (out != NULL)
        *out = NULL;
    if (h == NULL || roster == NULL || len == 0)
        return TMBUS_EINVALID;
    return roster_call(h, roster, len, timeout_ms, out);
}

int tmbus_roster_history(struct tmbus *h, int timeout_ms, struct tmbus_roster_history **out)
{
    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    return roster_call(h, NULL, 0, timeout_ms, out);
}
