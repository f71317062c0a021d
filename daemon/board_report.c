/*
 * board_report: what is computed over the board's state, never part of
 * deciding it: the digest two members compare to know they hold the same
 * board, and the reports (open needs, totals per donor, category and
 * sector) as seen under a clearance. Reads the store's board tables
 * through its functions only; writes nothing and never logs payload text.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "envelope.h"
#include "log.h"
#include "payload.pb-c.h"
#include "util.h"

typedef Tmbus__Payload__Need Need;
typedef Tmbus__Payload__Offer Offer;

/* ---- digest --------------------------------------------------------------- */

/* A growing byte string; on a failed append it is freed and stays NULL. */
struct buf {
    uint8_t *p;
    size_t len, cap;
    bool is_failed;
};

static void put(struct buf *b, const void *data, size_t len)
{
    if (b->is_failed)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        uint8_t *grown;
        while (cap < b->len + len)
            cap *= 2;
        if ((grown = realloc(b->p, cap)) == NULL) {
            log_warn("board: realloc");
            free(b->p);
            *b = (struct buf){.is_failed = true};
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->p + b->len, data, len);
    b->len += len;
}

/* Integers big-endian, strings and blobs length-prefixed: unambiguous. */
static void put_u64(struct buf *b, uint64_t x)
{
    uint8_t be[8];

    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(x >> (56 - 8 * i));
    put(b, be, sizeof(be));
}

static void put_bytes(struct buf *b, const void *data, size_t len)
{
    put_u64(b, len);
    put(b, data, len);
}

/* The digest's input, hashed a chunk at a time so that its memory stays
 * flat whatever the board's size: b collects the serialized rows, and
 * each full chunk's hash goes to chunks. */
#define DIGEST_CHUNK (1024 * 1024)

struct digest_walk {
    struct buf b, chunks;
    uint8_t last[WIRE_ID_BYTES];
    size_t n_rows; /* in the current page */
    uint64_t n_needs, n_offers;
};

static void flush_chunk(struct digest_walk *w)
{
    uint8_t h[WIRE_ID_BYTES];

    if (w->b.is_failed || w->b.len < DIGEST_CHUNK)
        return;
    envelope_hash(w->b.p, w->b.len, h);
    put(&w->chunks, h, sizeof(h));
    w->b.len = 0;
}

static int digest_need(void *arg, const struct store_board_need *n)
{
    struct digest_walk *w = arg;

    put(&w->b, "n", 1);
    put(&w->b, n->id, WIRE_ID_BYTES);
    put_bytes(&w->b, n->owner, strlen(n->owner));
    put_u64(&w->b, (uint64_t)n->status);
    put_u64(&w->b, n->tlp);
    put_u64(&w->b, n->quantity);
    put_u64(&w->b, n->accepted_quantity);
    put_u64(&w->b, n->delivered_quantity);
    put_bytes(&w->b, n->need, n->need_len);
    flush_chunk(w);
    memcpy(w->last, n->id, WIRE_ID_BYTES);
    w->n_rows++;
    w->n_needs++;
    return w->b.is_failed ? -1 : 0;
}

static int digest_offer(void *arg, const struct store_board_offer *o)
{
    static const uint8_t none[WIRE_ID_BYTES];
    struct digest_walk *w = arg;

    put(&w->b, "o", 1);
    put(&w->b, o->id, WIRE_ID_BYTES);
    put_bytes(&w->b, o->donor, strlen(o->donor));
    put(&w->b, o->has_need ? o->need_id : none, WIRE_ID_BYTES);
    put_u64(&w->b, (uint64_t)o->status);
    put_u64(&w->b, o->tlp);
    put_u64(&w->b, o->quantity);
    put_bytes(&w->b, o->offer, o->offer_len);
    flush_chunk(w);
    memcpy(w->last, o->id, WIRE_ID_BYTES);
    w->n_rows++;
    w->n_offers++;
    return w->b.is_failed ? -1 : 0;
}

/* Every row of one list, by id, into the digest. Returns 0 or -1. */
static int digest_list(struct store *s, bool is_offers, struct digest_walk *w)
{
    struct store_board_filter f = {
        .clearance = UINT32_MAX, .need_status = -1, .limit = STORE_BOARD_PAGE_ROWS};

    for (;;) {
        int rc;
        w->n_rows = 0;
        rc = is_offers ? store_board_page_offers(s, &f, digest_offer, w)
                       : store_board_page_needs(s, &f, digest_need, w);
        if (rc != 0)
            return -1;
        if (w->n_rows < f.limit)
            return 0;
        f.after = w->last;
    }
}

int board_digest(struct store *s, uint8_t out[WIRE_ID_BYTES])
{
    struct digest_walk w = {0};
    uint8_t rest[WIRE_ID_BYTES];
    int ret = -1;

    put(&w.b, "tmbus board v2", 14);
    if (digest_list(s, false, &w) != 0)
        goto out;
    put(&w.b, "N", 1);
    put_u64(&w.b, w.n_needs);
    if (digest_list(s, true, &w) != 0)
        goto out;
    put(&w.b, "O", 1);
    put_u64(&w.b, w.n_offers);
    if (w.b.is_failed || w.chunks.is_failed)
        goto out;
    if (w.chunks.len == 0) {
        envelope_hash(w.b.p, w.b.len, out);
    } else {
        /* A board over one chunk: the hash of its chunks' hashes. */
        envelope_hash(w.b.p, w.b.len, rest);
        put(&w.chunks, rest, sizeof(rest));
        if (w.chunks.is_failed)
            goto out;
        envelope_hash(w.chunks.p, w.chunks.len, out);
    }
    ret = 0;
out:
    free(w.b.p);
    free(w.chunks.p);
    return ret;
}

/* ---- reports -------------------------------------------------------------- */

/* What a report needs of a visible need, to file its offers. */
struct need_facts {
    uint8_t id[WIRE_ID_BYTES];
    uint32_t category, sector;
};

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Adds to the row of totals for (donor, code), creating it. Returns 0 or -1. */
static int add_total(struct board_total **rows, size_t *n, const char *donor, uint32_t code,
                     uint64_t pledged, uint64_t delivered)
{
    struct board_total *t = NULL, *grown;

    for (size_t i = 0; i < *n && t == NULL; i++)
        if (strcmp((*rows)[i].donor, donor) == 0 && (*rows)[i].code == code)
            t = &(*rows)[i];
    if (t == NULL) {
        if ((grown = realloc(*rows, (*n + 1) * sizeof(*grown))) == NULL) {
            log_warn("board: realloc");
            return -1;
        }
        *rows = grown;
        t = &grown[(*n)++];
        memset(t, 0, sizeof(*t));
        snprintf(t->donor, sizeof(t->donor), "%s", donor);
        t->code = code;
    }
    t->pledged_cents = add_sat(t->pledged_cents, pledged);
    t->delivered_cents = add_sat(t->delivered_cents, delivered);
    return 0;
}

static int cmp_total(const void *a, const void *b)
{
    const struct board_total *x = a, *y = b;
    int c = strcmp(x->donor, y->donor);

    return c != 0 ? c : (x->code > y->code) - (x->code < y->code);
}

static int cmp_need_facts(const void *key, const void *elem)
{
    return memcmp(key, ((const struct need_facts *)elem)->id, WIRE_ID_BYTES);
}

/* Critical first; within a priority the earliest deadline, none last. */
static int cmp_open(const void *a, const void *b)
{
    const struct board_open_need *x = a, *y = b;
    int c;

    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    if ((x->deadline[0] == '\0') != (y->deadline[0] == '\0'))
        return x->deadline[0] == '\0' ? 1 : -1;
    if ((c = strcmp(x->deadline, y->deadline)) != 0)
        return c;
    return memcmp(x->id, y->id, WIRE_ID_BYTES);
}

static int report_need(struct board_report *r, const struct store_board_need *n, const Need *d,
                       int64_t today)
{
    struct board_open_need *o, *grown;
    int64_t due;

    if (n->status != BOARD_NEED_OPEN && n->status != BOARD_NEED_PARTIALLY_COVERED)
        return 0;
    /* Capacity: 16, then doubled each time it is full. */
    if (r->n_open == 0 || (r->n_open >= 16 && (r->n_open & (r->n_open - 1)) == 0)) {
        size_t cap = r->n_open ? 2 * r->n_open : 16;
        if ((grown = realloc(r->open, cap * sizeof(*grown))) == NULL) {
            log_warn("board: realloc");
            return -1;
        }
        r->open = grown;
    }
    grown = r->open;
    o = &grown[r->n_open++];
    memset(o, 0, sizeof(*o));
    memcpy(o->id, n->id, WIRE_ID_BYTES);
    snprintf(o->owner, sizeof(o->owner), "%s", n->owner);
    snprintf(o->title, sizeof(o->title), "%s", d->title != NULL ? d->title : "");
    o->status = n->status;
    o->priority = d->priority;
    snprintf(o->deadline, sizeof(o->deadline), "%s", d->deadline != NULL ? d->deadline : "");
    o->is_overdue = o->deadline[0] != '\0' && util_parse_utc(o->deadline, &due) == 0 && due < today;
    o->quantity = n->quantity;
    o->accepted_quantity = n->accepted_quantity;
    o->value_cents = d->value_cents;
    return 0;
}

/* A report being built from the board's pages. */
struct report_walk {
    struct board_report *out;
    int64_t today;
    struct need_facts *facts; /* of visible needs, by id (pages come by id) */
    size_t n_facts, cap_facts;
    uint8_t last[WIRE_ID_BYTES]; /* the page's last row, for the next */
    size_t n_rows;               /* rows in the page */
    bool is_failed;
};

static int walk_need(void *arg, const struct store_board_need *n)
{
    struct report_walk *w = arg;
    Need *d;
    int rc;

    memcpy(w->last, n->id, WIRE_ID_BYTES);
    w->n_rows++;
    if ((d = tmbus__payload__need__unpack(NULL, n->need_len, n->need)) == NULL) {
        log_warnx("board: a stored need no longer decodes");
        return 0;
    }
    if (w->n_facts == w->cap_facts) {
        size_t cap = w->cap_facts ? 2 * w->cap_facts : 1024;
        struct need_facts *grown = realloc(w->facts, cap * sizeof(*grown));
        if (grown == NULL) {
            log_warn("board: realloc");
            tmbus__payload__need__free_unpacked(d, NULL);
            return -1;
        }
        w->facts = grown;
        w->cap_facts = cap;
    }
    memcpy(w->facts[w->n_facts].id, n->id, WIRE_ID_BYTES);
    w->facts[w->n_facts].category = d->category;
    w->facts[w->n_facts].sector = d->sector;
    w->n_facts++;
    rc = report_need(w->out, n, d, w->today);
    tmbus__payload__need__free_unpacked(d, NULL);
    return rc;
}

static int walk_offer(void *arg, const struct store_board_offer *o)
{
    struct report_walk *w = arg;
    struct board_report *out = w->out;
    const struct need_facts *f;
    uint64_t pledged, delivered;
    Offer *d;

    memcpy(w->last, o->id, WIRE_ID_BYTES);
    w->n_rows++;
    /* The store read only offers within the clearance whose need is too;
     * facts has every such need. */
    if (!o->has_need ||
        (f = bsearch(o->need_id, w->facts, w->n_facts, sizeof(*w->facts), cmp_need_facts)) == NULL)
        return 0;
    if ((d = tmbus__payload__offer__unpack(NULL, o->offer_len, o->offer)) == NULL) {
        log_warnx("board: a stored offer no longer decodes");
        return 0;
    }
    pledged = d->value_cents;
    delivered = o->status == BOARD_OFFER_CONFIRMED ? d->value_cents : 0;
    tmbus__payload__offer__free_unpacked(d, NULL);
    if (add_total(&out->donors, &out->n_donors, o->donor, 0, pledged, delivered) != 0 ||
        add_total(&out->categories, &out->n_categories, "", f->category, pledged, delivered) != 0 ||
        add_total(&out->sectors, &out->n_sectors, "", f->sector, pledged, delivered) != 0)
        return -1;
    out->total.pledged_cents = add_sat(out->total.pledged_cents, pledged);
    out->total.delivered_cents = add_sat(out->total.delivered_cents, delivered);
    return 0;
}

/* Every page of one list under f, each row to fn. Returns 0 or -1. */
static int walk_pages(struct store *s, struct store_board_filter f, bool is_offers,
                      struct report_walk *w)
{
    for (;;) {
        int rc;
        w->n_rows = 0;
        rc = is_offers ? store_board_page_offers(s, &f, walk_offer, w)
                       : store_board_page_needs(s, &f, walk_need, w);
        if (rc != 0)
            return -1;
        if (w->n_rows < f.limit)
            return 0;
        f.after = w->last;
    }
}

int board_report(struct store *s, uint32_t clearance, int64_t today, struct board_report *out)
{
    static const int counted[] = {BOARD_OFFER_ACCEPTED, BOARD_OFFER_DELIVERED,
                                  BOARD_OFFER_CONFIRMED};
    struct report_walk w = {.out = out, .today = today};
    struct store_board_filter f = {
        .clearance = clearance, .need_status = -1, .limit = STORE_BOARD_PAGE_ROWS};
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (walk_pages(s, f, false, &w) != 0)
        goto out;
    f.statuses = counted;
    f.n_statuses = sizeof(counted) / sizeof(counted[0]);
    if (walk_pages(s, f, true, &w) != 0)
        goto out;
    if (out->n_open > 0)
        qsort(out->open, out->n_open, sizeof(*out->open), cmp_open);
    out->n_open_total = out->n_open;
    if (out->n_open > BOARD_REPORT_OPEN_MAX)
        out->n_open = BOARD_REPORT_OPEN_MAX;
    if (out->n_donors > 0)
        qsort(out->donors, out->n_donors, sizeof(*out->donors), cmp_total);
    if (out->n_categories > 0)
        qsort(out->categories, out->n_categories, sizeof(*out->categories), cmp_total);
    if (out->n_sectors > 0)
        qsort(out->sectors, out->n_sectors, sizeof(*out->sectors), cmp_total);
    ret = 0;
out:
    free(w.facts);
    if (ret != 0)
        board_report_free(out);
    return ret;
}

void board_report_free(struct board_report *r)
{
    free(r->open);
    free(r->donors);
    free(r->categories);
    free(r->sectors);
    memset(r, 0, sizeof(*r));
}
