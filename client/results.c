/*
 * results: what libtmbus asks the node and hands back as an object the
 * library owns: the board, the reports, a post's delivery state and the
 * node's status. Each is checked once, when the reply arrives, and turned
 * into the plain structs of tmbus.h that its accessors point into; the
 * board's and reports' cleartext is wiped when they are freed.
 */
#include "tmbus.h"

#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "internal.h"
#include "payload.h"
#include "wire_limits.h"

/* ---- the board ---------------------------------------------------------- */

struct tmbus_board {
    Tmbus__Api__Reply *reply;
    Tmbus__Payload__Need **need_messages; /* decoded BoardNeed.need, one a need */
    Tmbus__Payload__Offer **offer_messages;
    struct tmbus_board_need *needs;
    struct tmbus_board_offer *offers;
    size_t n_needs, n_offers;
};

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
    if (b->reply != NULL) {
        /* The board holds needs and offers in clear, up to TLP:RED. */
        payload_wipe(&b->reply->base);
        client_free_reply(b->reply, false);
    }
    free(b);
    *bp = NULL;
}

/* Builds the views of b from b->reply, checking every entry. */
static int read_board(struct tmbus *h, struct tmbus_board *b)
{
    const Tmbus__Api__Board *m = b->reply->board;
    size_t nn = m->n_needs, no = m->n_offers;

    if ((nn > 0 && ((b->need_messages = calloc(nn, sizeof(*b->need_messages))) == NULL ||
                    (b->needs = calloc(nn, sizeof(*b->needs))) == NULL)) ||
        (no > 0 && ((b->offer_messages = calloc(no, sizeof(*b->offer_messages))) == NULL ||
                    (b->offers = calloc(no, sizeof(*b->offers))) == NULL)))
        return client_fail(h, TMBUS_ENOMEM, "out of memory for a board of %zu needs and %zu offers",
                           nn, no);
    b->n_needs = nn;
    b->n_offers = no;
    for (size_t i = 0; i < nn; i++) {
        const Tmbus__Api__BoardNeed *e = m->needs[i];
        struct tmbus_board_need *v = &b->needs[i];

        if (e->id.len != TMBUS_ID_BYTES || (b->need_messages[i] = tmbus__payload__need__unpack(
                                                NULL, e->need.len, e->need.data)) == NULL)
            return client_fail(h, TMBUS_EPROTOCOL, "the node sent a board need we cannot read");
        memcpy(v->id, e->id.data, TMBUS_ID_BYTES);
        v->owner = e->owner;
        v->created_at = e->created_at;
        payload_need_view(b->need_messages[i], &v->need);
        v->status = e->status;
        v->accepted_quantity = e->accepted_quantity;
        v->delivered_quantity = e->delivered_quantity;
    }
    for (size_t i = 0; i < no; i++) {
        const Tmbus__Api__BoardOffer *e = m->offers[i];
        struct tmbus_board_offer *v = &b->offers[i];

        if (e->id.len != TMBUS_ID_BYTES || (b->offer_messages[i] = tmbus__payload__offer__unpack(
                                                NULL, e->offer.len, e->offer.data)) == NULL)
            return client_fail(h, TMBUS_EPROTOCOL, "the node sent a board offer we cannot read");
        memcpy(v->id, e->id.data, TMBUS_ID_BYTES);
        v->donor = e->donor;
        v->created_at = e->created_at;
        payload_offer_view(b->offer_messages[i], &v->offer);
        v->status = e->status;
    }
    return TMBUS_OK;
}

int tmbus_board(struct tmbus *h, const uint8_t *need_id, const char *need_status, int timeout_ms,
                struct tmbus_board **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__BoardQuery q = TMBUS__API__BOARD_QUERY__INIT;
    struct tmbus_board *b = NULL;
    Tmbus__Api__Reply *r = NULL;
    int status, rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    client_clear_error(h);
    if (need_status != NULL && tmbus_need_status_parse(need_status, &status) != TMBUS_OK)
        return client_fail(h, TMBUS_EINVALID, "need status '%s' is not one of %s", need_status,
                           tmbus_need_status_names());
    if (need_id != NULL) {
        q.need_id.data = (uint8_t *)need_id;
        q.need_id.len = TMBUS_ID_BYTES;
    }
    if (need_status != NULL)
        q.need_status = (char *)tmbus_need_status_name(status);
    req.kind_case = TMBUS__API__REQUEST__KIND_BOARD;
    req.board = &q;
    if ((rc = client_call(h, &req, timeout_ms, &r)) != TMBUS_OK)
        return rc;
    if (r->kind_case != TMBUS__API__REPLY__KIND_BOARD || r->board == NULL) {
        payload_wipe(&r->base);
        client_free_reply(r, false);
        return client_fail(h, TMBUS_EPROTOCOL,
                           "the node answered a board query with something else");
    }
    if ((b = calloc(1, sizeof(*b))) == NULL) {
        payload_wipe(&r->base);
        client_free_reply(r, false);
        return client_fail(h, TMBUS_ENOMEM, "out of memory");
    }
    b->reply = r;
    if ((rc = read_board(h, b)) != TMBUS_OK) {
        tmbus_board_free(&b);
        return rc;
    }
    *out = b;
    return TMBUS_OK;
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
    for (size_t i = 0; i < rp->n_open_needs; i++)
        if (rp->open_needs[i]->id.len != TMBUS_ID_BYTES)
            return false;
    return true;
}

int tmbus_report(struct tmbus *h, int timeout_ms, struct tmbus_report **out)
{
    Tmbus__Api__Request req = TMBUS__API__REQUEST__INIT;
    Tmbus__Api__ReportRequest q = TMBUS__API__REPORT_REQUEST__INIT;
    struct tmbus_report *rep = NULL;
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
    const Tmbus__Api__DeliveryState *m;
    struct tmbus_delivery_state *ds = NULL;
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
            !is_delivery_state_name(e->state) || strlen(e->reason) > WIRE_REASON_MAX) {
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
    const Tmbus__Api__Status *st;
    struct tmbus_status *s;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (h == NULL || out == NULL)
        return TMBUS_EINVALID;
    if ((rc = client_status_reply(h, timeout_ms, &r)) != TMBUS_OK)
        return rc;
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
        s->peers[i] = (struct tmbus_peer){.member = p->member,
                                          .state = p->state,
                                          .silent_ms = p->silent_ms,
                                          .lag = p->lag,
                                          .behind = p->behind};
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
