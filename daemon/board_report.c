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

/* ---- digest --------------------------------------------------------------- */

/* The digest is the store's kept sum of row hashes (store_board_digest),
 * tagged with the version of its definition and hashed to the size of an
 * id: reading it costs one row, whatever the board's size. */
int board_digest(struct store *s, uint8_t out[WIRE_ID_BYTES])
{
    static const char tag[] = "tmbus board v3";
    uint8_t in[sizeof(tag) - 1 + STORE_BOARD_DIGEST_BYTES];

    memcpy(in, tag, sizeof(tag) - 1);
    if (store_board_digest(s, in + sizeof(tag) - 1) != 0)
        return -1;
    envelope_hash(in, sizeof(in), out);
    return 0;
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

static int cmp_facts(const void *a, const void *b)
{
    return memcmp(((const struct need_facts *)a)->id, ((const struct need_facts *)b)->id,
                  WIRE_ID_BYTES);
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

static int report_need(struct board_report *r, const struct store_board_need *n, int64_t today)
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
    o->status = n->status;
    o->priority = (int)n->priority;
    snprintf(o->deadline, sizeof(o->deadline), "%s", n->deadline);
    o->is_overdue = o->deadline[0] != '\0' && util_parse_utc(o->deadline, &due) == 0 && due < today;
    o->quantity = n->quantity;
    o->accepted_quantity = n->accepted_quantity;
    o->value_cents = n->value_cents;
    return 0;
}

/* The title of a listed open need: the one field of the report that is
 * read from the sealed need (once per listed need, not per row). */
static int fill_title(struct store *s, struct board_open_need *o)
{
    struct store_board_need n;
    Need *d;
    int rc;

    if ((rc = store_board_need_get(s, o->id, &n)) != 1)
        return rc == 0 ? 0 : -1;
    if ((d = tmbus__payload__need__unpack(NULL, n.need_len, n.need)) != NULL) {
        snprintf(o->title, sizeof(o->title), "%s", d->title != NULL ? d->title : "");
        tmbus__payload__need__free_unpacked(d, NULL);
    } else {
        log_warnx("board: a stored need no longer decodes");
    }
    free(n.need);
    return 0;
}

/* A report being built from the board's rows in clear. */
struct report_walk {
    struct board_report *out;
    int64_t today;
    struct need_facts *facts; /* of visible needs, sorted by id before offers */
    size_t n_facts, cap_facts;
};

static int walk_need(void *arg, const struct store_board_need *n)
{
    struct report_walk *w = arg;

    if (w->n_facts == w->cap_facts) {
        size_t cap = w->cap_facts ? 2 * w->cap_facts : 1024;
        struct need_facts *grown = realloc(w->facts, cap * sizeof(*grown));
        if (grown == NULL) {
            log_warn("board: realloc");
            return -1;
        }
        w->facts = grown;
        w->cap_facts = cap;
    }
    memcpy(w->facts[w->n_facts].id, n->id, WIRE_ID_BYTES);
    w->facts[w->n_facts].category = n->category;
    w->facts[w->n_facts].sector = n->sector;
    w->n_facts++;
    return report_need(w->out, n, w->today);
}

static int walk_offer(void *arg, const struct store_board_offer *o)
{
    struct report_walk *w = arg;
    struct board_report *out = w->out;
    const struct need_facts *f;
    uint64_t pledged, delivered;

    if (o->status != BOARD_OFFER_ACCEPTED && o->status != BOARD_OFFER_DELIVERED &&
        o->status != BOARD_OFFER_CONFIRMED)
        return 0;
    /* The store read only offers within the clearance whose need is too;
     * facts has every such need. */
    if ((f = bsearch(o->need_id, w->facts, w->n_facts, sizeof(*w->facts), cmp_need_facts)) == NULL)
        return 0;
    pledged = o->value_cents;
    delivered = o->status == BOARD_OFFER_CONFIRMED ? o->value_cents : 0;
    if (add_total(&out->donors, &out->n_donors, o->donor, 0, pledged, delivered) != 0 ||
        add_total(&out->categories, &out->n_categories, "", f->category, pledged, delivered) != 0 ||
        add_total(&out->sectors, &out->n_sectors, "", f->sector, pledged, delivered) != 0)
        return -1;
    out->total.pledged_cents = add_sat(out->total.pledged_cents, pledged);
    out->total.delivered_cents = add_sat(out->total.delivered_cents, delivered);
    return 0;
}

/* Reads the clear columns the store keeps for reports (store_board_*_facts):
 * no blob is opened but the titles of the open needs listed. */
int board_report(struct store *s, uint32_t clearance, int64_t today, struct board_report *out)
{
    struct report_walk w = {.out = out, .today = today};
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (store_board_need_facts(s, clearance, walk_need, &w) != 0)
        goto out;
    if (w.n_facts > 0)
        qsort(w.facts, w.n_facts, sizeof(*w.facts), cmp_facts);
    if (store_board_offer_facts(s, clearance, walk_offer, &w) != 0)
        goto out;
    if (out->n_open > 0)
        qsort(out->open, out->n_open, sizeof(*out->open), cmp_open);
    out->n_open_total = out->n_open;
    if (out->n_open > BOARD_REPORT_OPEN_MAX)
        out->n_open = BOARD_REPORT_OPEN_MAX;
    for (size_t i = 0; i < out->n_open; i++)
        if (fill_title(s, &out->open[i]) != 0)
            goto out;
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
