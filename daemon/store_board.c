/*
 * store_board: the board's tables (board_needs, board_offers,
 * board_updates, board_digest, board_counts) behind store.h's store_board_*
 * functions: their queries and the SQL of their statements, which
 * store_open prepares with the rest. The board module decides; this file only keeps what it is
 * given, sealed (store_seal.c) on its way to disk and opened on its way back, writes only inside
 * the open batch and never logs a blob's contents. It keeps the board digest's sum and the counts
 * by status current with every need and offer it writes, from the rows in clear before they are
 * sealed.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "store_internal.h"

/* The columns read_need and read_offer read, in their order. */
#define NEED_COLUMNS                                                                               \
    "id, owner, created_at, status, tlp, category, quantity, accepted, delivered, need,"           \
    " priority, updated_at, value_cents, sector, deadline"
#define OFFER_COLUMNS                                                                              \
    "id, donor, created_at, need_id, status, tlp, quantity, offer, updated_at, value_cents"

const char *const store__board_sql[ST_COUNT_] = {
    [ST_BOARD_NEED_PUT] = "INSERT OR REPLACE INTO board_needs (id, owner, created_at, status, tlp,"
                          " category, quantity, accepted, delivered, need, priority, updated_at,"
                          " value_cents, sector, deadline)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                          " CAST(strftime('%s', 'now') AS INTEGER), ?12, ?13, ?14)",
    [ST_BOARD_NEED_EACH] = "SELECT " NEED_COLUMNS " FROM board_needs"
                           " WHERE (?1 IS NULL OR id = ?1) AND (?2 < 0 OR status = ?2)"
                           " ORDER BY created_at, id",
    /* By the primary key alone: an OR with a NULL test would keep SQLite
     * from using it, and every board arrival looks rows up by id. */
    /* A need's label is part of its offers' view_tlp. */
    [ST_BOARD_NEED_VIEW] = "UPDATE board_offers SET view_tlp = max(tlp, ?2)"
                           " WHERE need_id = ?1 AND view_tlp != max(tlp, ?2)",
    [ST_BOARD_NEED_GET] = "SELECT " NEED_COLUMNS " FROM board_needs WHERE id = ?1",
    [ST_BOARD_OFFER_GET] = "SELECT " OFFER_COLUMNS " FROM board_offers WHERE id = ?1",
    [ST_BOARD_OFFER_PUT] = "INSERT OR REPLACE INTO board_offers (id, donor, created_at, need_id,"
                           " status, tlp, quantity, offer, updated_at, view_tlp, value_cents)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                           " CAST(strftime('%s', 'now') AS INTEGER), max(?6, coalesce("
                           " (SELECT tlp FROM board_needs WHERE id = ?4), 0)), ?9)",
    [ST_BOARD_OFFER_DROP] = "DELETE FROM board_offers WHERE id = ?1",
    [ST_BOARD_OFFER_EACH] = "SELECT " OFFER_COLUMNS " FROM board_offers"
                            " WHERE (?1 IS NULL OR need_id = ?1) AND (?2 IS NULL OR id = ?2)"
                            " ORDER BY created_at, id",
    /* An upsert keeps the row (and so its rowid, the arrival order). */
    [ST_BOARD_UPDATE_PUT] = "INSERT INTO board_updates (id, origin, peer, seq, sender, created_at,"
                            " kind, action, target, outcome, awaits, body)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                            " ON CONFLICT (id) DO UPDATE"
                            " SET outcome = excluded.outcome, awaits = excluded.awaits",
    [ST_BOARD_WAITING] = "SELECT id, origin, peer, seq, sender, created_at, kind, action, target,"
                         " outcome, awaits, body FROM board_updates WHERE awaits = ?1"
                         " ORDER BY rowid",
    [ST_BOARD_KNOWS] = "SELECT EXISTS (SELECT 1 FROM board_needs WHERE id = ?1)"
                       " OR EXISTS (SELECT 1 FROM board_offers WHERE id = ?1)"
                       " OR EXISTS (SELECT 1 FROM board_updates WHERE id = ?1)",
    [ST_BOARD_CLUSTER] = "SELECT id, origin, peer, seq, sender, created_at, kind, action, target,"
                         " outcome, awaits, body FROM board_updates WHERE target = ?1"
                         " OR target IN (SELECT id FROM board_updates WHERE target = ?1)"
                         " ORDER BY rowid",
    /* Rows written before their facts were kept in clear (board_upgrade),
     * found through partial indexes that are empty once it ran. */
    [ST_BOARD_NEED_UNFILLED] = "SELECT id FROM board_needs WHERE value_cents IS NULL"
                               " AND id > ?1 ORDER BY id LIMIT ?2",
    [ST_BOARD_OFFER_UNFILLED] = "SELECT id FROM board_offers WHERE value_cents IS NULL"
                                " AND id > ?1 ORDER BY id LIMIT ?2",
    /* What a report reads, in clear, no blob: every need within a
     * clearance, every offer answering one, each from its covering index
     * (board_needs_report, board_offers_report). */
    [ST_BOARD_NEED_FACTS] = "SELECT id, owner, status, priority, category, quantity, accepted,"
                            " value_cents, sector, deadline FROM board_needs"
                            " WHERE tlp <= ?1",
    [ST_BOARD_OFFER_FACTS] = "SELECT donor, need_id, status, value_cents FROM board_offers"
                             " WHERE view_tlp <= ?1 AND need_id IS NOT NULL",
    [ST_BOARD_DIGEST_GET] = "SELECT sum FROM board_digest WHERE one = 0",
    [ST_BOARD_DIGEST_SET] = "UPDATE board_digest SET sum = ?1 WHERE one = 0",
    /* Two statements, not one upsert with a signed step: the CHECK (n >= 0)
     * holds for the row an upsert would insert, and a step down must find
     * its row (if not, the counts are out of step: count_move recounts). */
    [ST_BOARD_COUNT_UP] = "INSERT INTO board_counts (kind, status, n) VALUES (?1, ?2, 1)"
                          " ON CONFLICT (kind, status) DO UPDATE SET n = n + 1",
    [ST_BOARD_COUNT_DOWN] = "UPDATE board_counts SET n = n - 1"
                            " WHERE kind = ?1 AND status = ?2 AND n > 0",
    [ST_BOARD_COUNTS] = "SELECT kind, status, n FROM board_counts",
};

/* ---- board -------------------------------------------------------------- */

/* Opens the sealed blob in column col of the row id into a malloc'd
 * buffer (empty blobs too). */
static int column_unseal(const struct store *s, sqlite3_stmt *st, int col, const char *column,
                         const uint8_t *id, uint8_t **out, size_t *len)
{
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);

    if (n < 0 || p == NULL) {
        log_warnx("store: corrupt board blob");
        return -1;
    }
    return store__unseal(s, column, id, p, (size_t)n, out, len);
}

/* Seals a board blob for column of the row id and binds it; the sealed
 * copy in *sealed is the caller's to free once the statement ran. */
static int bind_sealed(const struct store *s, sqlite3_stmt *st, int col, const char *column,
                       const uint8_t *id, const uint8_t *p, size_t len, uint8_t **sealed)
{
    size_t sealed_len;

    if (store__seal(s, column, id, p, len, sealed, &sealed_len) != 0)
        return -1;
    sqlite3_bind_blob(st, col, *sealed, (int)sealed_len, SQLITE_STATIC);
    return 0;
}

static int check_board_write(struct store *s, const char *who, const uint8_t *blob, size_t len,
                             uint64_t quantity, const char *what)
{
    if (store__check_batch(s, what) != 0)
        return -1;
    if (who == NULL || !util_is_member_id(who, strnlen(who, UTIL_MEMBER_ID_MAX + 1)) ||
        (blob == NULL && len > 0) || len > STORE_BOARD_BLOB_MAX || quantity > INT64_MAX) {
        log_warnx("store: %s: invalid record", what);
        return -1;
    }
    return 0;
}

/* Rows read whole before any callback runs: an array of elem-sized
 * records, each holding one malloc'd blob at blob_offset. */
struct rows {
    uint8_t *v;
    size_t n, cap, elem, blob_offset;
};

typedef int (*read_row_fn)(const struct store *s, sqlite3_stmt *st, void *out);

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        uint8_t **blob = (uint8_t **)(void *)(r->v + i * r->elem + r->blob_offset);
        free(*blob);
    }
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

/* Steps st (already bound) to the end, reading each row with read_row.
 * Resets st either way. Returns 0 or -1 (r is emptied on failure). */
static int collect(struct store *s, sqlite3_stmt *st, read_row_fn read_row, struct rows *r,
                   const char *what)
{
    int rc, ret = -1;

    while ((rc = store__step(s, st, what)) == SQLITE_ROW) {
        if (r->n == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 16;
            uint8_t *grown = realloc(r->v, cap * r->elem);
            if (grown == NULL) {
                log_warn("store: realloc");
                goto out;
            }
            r->v = grown;
            r->cap = cap;
        }
        memset(r->v + r->n * r->elem, 0, r->elem);
        if (read_row(s, st, r->v + r->n * r->elem) != 0) {
            /* read_row frees what it allocated before failing. */
            goto out;
        }
        r->n++;
    }
    if (rc == SQLITE_DONE)
        ret = 0;
out:
    store__done(st);
    if (ret != 0)
        rows_free(r);
    return ret;
}

/* value_cents, sector, deadline from column col on; a row written before
 * they were kept has none (NULL). */
static int read_need_facts(sqlite3_stmt *st, int col, struct store_board_need *n)
{
    const unsigned char *deadline = sqlite3_column_text(st, col + 2);
    int len = sqlite3_column_bytes(st, col + 2);

    n->has_facts = sqlite3_column_type(st, col) != SQLITE_NULL;
    if (!n->has_facts)
        return 0;
    if (store__column_u64(st, col, &n->value_cents) != 0 || deadline == NULL || len < 0 ||
        (size_t)len >= sizeof(n->deadline)) {
        log_warnx("store: corrupt board need facts");
        return -1;
    }
    n->sector = (uint32_t)sqlite3_column_int64(st, col + 1);
    memcpy(n->deadline, deadline, (size_t)len);
    n->deadline[len] = '\0';
    return 0;
}

static int read_need(const struct store *s, sqlite3_stmt *st, void *out)
{
    struct store_board_need *n = out;
    sqlite3_int64 status = sqlite3_column_int64(st, 3);

    if (store__column_id(st, 0, n->id) != 0 || store__column_member(st, 1, n->owner) != 0 ||
        store__column_u64(st, 6, &n->quantity) != 0 ||
        store__column_u64(st, 7, &n->accepted_quantity) != 0 ||
        store__column_u64(st, 8, &n->delivered_quantity) != 0 || status < INT_MIN ||
        status > INT_MAX)
        return -1;
    n->created_at = sqlite3_column_int64(st, 2);
    n->status = (int)status;
    n->tlp = (uint32_t)sqlite3_column_int64(st, 4);
    n->category = (uint32_t)sqlite3_column_int64(st, 5);
    n->priority = (uint32_t)sqlite3_column_int64(st, 10);
    n->updated_at = sqlite3_column_int64(st, 11);
    if (read_need_facts(st, 12, n) != 0)
        return -1;
    return column_unseal(s, st, 9, "board_needs.need", n->id, &n->need, &n->need_len);
}

static int read_offer(const struct store *s, sqlite3_stmt *st, void *out)
{
    struct store_board_offer *o = out;
    sqlite3_int64 status = sqlite3_column_int64(st, 4);

    if (store__column_id(st, 0, o->id) != 0 || store__column_member(st, 1, o->donor) != 0 ||
        store__column_u64(st, 6, &o->quantity) != 0 || status < INT_MIN || status > INT_MAX)
        return -1;
    o->has_need = sqlite3_column_type(st, 3) != SQLITE_NULL;
    if (o->has_need && store__column_id(st, 3, o->need_id) != 0)
        return -1;
    o->created_at = sqlite3_column_int64(st, 2);
    o->status = (int)status;
    o->tlp = (uint32_t)sqlite3_column_int64(st, 5);
    o->updated_at = sqlite3_column_int64(st, 8);
    o->has_facts = sqlite3_column_type(st, 9) != SQLITE_NULL;
    if (o->has_facts && store__column_u64(st, 9, &o->value_cents) != 0)
        return -1;
    return column_unseal(s, st, 7, "board_offers.offer", o->id, &o->offer, &o->offer_len);
}

static int read_update(const struct store *s, sqlite3_stmt *st, void *out)
{
    struct store_board_update *u = out;
    const unsigned char *origin = sqlite3_column_text(st, 1);
    const unsigned char *peer = sqlite3_column_text(st, 2);

    if (origin == NULL || peer == NULL ||
        (size_t)sqlite3_column_bytes(st, 1) >= sizeof(u->log.origin) ||
        (size_t)sqlite3_column_bytes(st, 2) >= sizeof(u->log.peer)) {
        log_warnx("store: corrupt board update");
        return -1;
    }
    memcpy(u->log.origin, origin, (size_t)sqlite3_column_bytes(st, 1));
    memcpy(u->log.peer, peer, (size_t)sqlite3_column_bytes(st, 2));
    if (store__column_id(st, 0, u->id) != 0 || store__column_u64(st, 3, &u->seq) != 0 ||
        store__column_member(st, 4, u->sender) != 0 || store__column_id(st, 8, u->target) != 0)
        return -1;
    u->created_at = sqlite3_column_int64(st, 5);
    u->kind = sqlite3_column_int(st, 6);
    u->action = sqlite3_column_int(st, 7);
    u->outcome = sqlite3_column_int(st, 9);
    u->is_waiting = sqlite3_column_type(st, 10) != SQLITE_NULL;
    if (u->is_waiting && store__column_id(st, 10, u->awaits) != 0)
        return -1;
    return column_unseal(s, st, 11, "board_updates.body", u->id, &u->body, &u->body_len);
}

/* ---- digest ------------------------------------------------------------- */

/* Integers big-endian and strings and blobs length-prefixed, so that a
 * row's bytes are unambiguous (proto/PROTOCOL.md §6.3). */
static void hash_u64(crypto_generichash_state *h, uint64_t x)
{
    uint8_t be[8];

    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(x >> (56 - 8 * i));
    crypto_generichash_update(h, be, sizeof(be));
}

static void hash_bytes(crypto_generichash_state *h, const void *p, size_t len)
{
    hash_u64(h, len);
    if (len > 0)
        crypto_generichash_update(h, p, len);
}

static void need_hash(const struct store_board_need *n, uint8_t out[STORE_BOARD_DIGEST_BYTES])
{
    crypto_generichash_state h;

    crypto_generichash_init(&h, NULL, 0, STORE_BOARD_DIGEST_BYTES);
    crypto_generichash_update(&h, (const uint8_t *)"n", 1);
    crypto_generichash_update(&h, n->id, STORE_HASH_BYTES);
    hash_bytes(&h, n->owner, strlen(n->owner));
    hash_u64(&h, (uint64_t)n->status);
    hash_u64(&h, n->tlp);
    hash_u64(&h, n->quantity);
    hash_u64(&h, n->accepted_quantity);
    hash_u64(&h, n->delivered_quantity);
    hash_bytes(&h, n->need, n->need_len);
    crypto_generichash_final(&h, out, STORE_BOARD_DIGEST_BYTES);
}

static void offer_hash(const struct store_board_offer *o, uint8_t out[STORE_BOARD_DIGEST_BYTES])
{
    static const uint8_t none[STORE_HASH_BYTES];
    crypto_generichash_state h;

    crypto_generichash_init(&h, NULL, 0, STORE_BOARD_DIGEST_BYTES);
    crypto_generichash_update(&h, (const uint8_t *)"o", 1);
    crypto_generichash_update(&h, o->id, STORE_HASH_BYTES);
    hash_bytes(&h, o->donor, strlen(o->donor));
    crypto_generichash_update(&h, o->has_need ? o->need_id : none, STORE_HASH_BYTES);
    hash_u64(&h, (uint64_t)o->status);
    hash_u64(&h, o->tlp);
    hash_u64(&h, o->quantity);
    hash_bytes(&h, o->offer, o->offer_len);
    crypto_generichash_final(&h, out, STORE_BOARD_DIGEST_BYTES);
}

/* sum += x (sign 1) or sum -= x (sign -1), little-endian, modulo 2^512. */
static void sum_add(uint8_t sum[STORE_BOARD_DIGEST_BYTES],
                    const uint8_t x[STORE_BOARD_DIGEST_BYTES], int sign)
{
    int carry = 0;

    for (size_t i = 0; i < STORE_BOARD_DIGEST_BYTES; i++) {
        int v = sign > 0 ? sum[i] + x[i] + carry : sum[i] - x[i] - carry;
        carry = sign > 0 ? v >> 8 : v < 0;
        sum[i] = (uint8_t)v;
    }
}

/* The kept sum. Returns 1 and fills sum, 0 when the store has none yet, or
 * -1. */
static int digest_get(struct store *s, uint8_t sum[STORE_BOARD_DIGEST_BYTES])
{
    sqlite3_stmt *st = s->st[ST_BOARD_DIGEST_GET];
    int rc, ret = -1;

    if ((rc = store__step(s, st, "board digest")) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
            ret = 0;
        } else if (sqlite3_column_bytes(st, 0) == STORE_BOARD_DIGEST_BYTES) {
            memcpy(sum, sqlite3_column_blob(st, 0), STORE_BOARD_DIGEST_BYTES);
            ret = 1;
        } else {
            log_warnx("store: corrupt board digest");
        }
    } else if (rc == SQLITE_DONE) {
        log_warnx("store: the board digest's row is missing");
    }
    store__done(st);
    return ret;
}

static int digest_set(struct store *s, const uint8_t sum[STORE_BOARD_DIGEST_BYTES])
{
    sqlite3_bind_blob(s->st[ST_BOARD_DIGEST_SET], 1, sum, STORE_BOARD_DIGEST_BYTES, SQLITE_STATIC);
    return store__run(s, ST_BOARD_DIGEST_SET, "board digest set");
}

/* Replaces a row's hash old (NULL: a new row) by new (NULL: a removed
 * row) in the kept sum; nothing to do while the store has no sum (the
 * rebuild will count it). */
static int digest_replace(struct store *s, const uint8_t *old, const uint8_t *new)
{
    uint8_t sum[STORE_BOARD_DIGEST_BYTES];
    int rc;

    if (old != NULL && new != NULL && memcmp(old, new, STORE_BOARD_DIGEST_BYTES) == 0)
        return 0;
    if ((rc = digest_get(s, sum)) <= 0)
        return rc;
    if (old != NULL)
        sum_add(sum, old, -1);
    if (new != NULL)
        sum_add(sum, new, 1);
    return digest_set(s, sum);
}

/* The hash of the row id holds now into old and its status into
 * *old_status (-1: none); *has_old says whether there is one. */
static int old_need_hash(struct store *s, const uint8_t *id, uint8_t old[STORE_BOARD_DIGEST_BYTES],
                         bool *has_old, int *old_status)
{
    struct store_board_need prev;
    int rc = store_board_need_get(s, id, &prev);

    if (rc < 0)
        return -1;
    *old_status = -1;
    if ((*has_old = rc == 1)) {
        need_hash(&prev, old);
        *old_status = prev.status;
        free(prev.need);
    }
    return 0;
}

static int old_offer_hash(struct store *s, const uint8_t *id, uint8_t old[STORE_BOARD_DIGEST_BYTES],
                          bool *has_old, int *old_status)
{
    struct store_board_offer prev;
    int rc = store_board_offer_get(s, id, &prev);

    if (rc < 0)
        return -1;
    *old_status = -1;
    if ((*has_old = rc == 1)) {
        offer_hash(&prev, old);
        *old_status = prev.status;
        free(prev.offer);
    }
    return 0;
}

struct digest_walk {
    uint8_t sum[STORE_BOARD_DIGEST_BYTES];
    uint8_t last[STORE_HASH_BYTES];
    size_t n_rows;
};

static int sum_need(void *arg, const struct store_board_need *n)
{
    struct digest_walk *w = arg;
    uint8_t h[STORE_BOARD_DIGEST_BYTES];

    need_hash(n, h);
    sum_add(w->sum, h, 1);
    memcpy(w->last, n->id, STORE_HASH_BYTES);
    w->n_rows++;
    return 0;
}

static int sum_offer(void *arg, const struct store_board_offer *o)
{
    struct digest_walk *w = arg;
    uint8_t h[STORE_BOARD_DIGEST_BYTES];

    offer_hash(o, h);
    sum_add(w->sum, h, 1);
    memcpy(w->last, o->id, STORE_HASH_BYTES);
    w->n_rows++;
    return 0;
}

int store_board_digest_compute(struct store *s, uint8_t sum[STORE_BOARD_DIGEST_BYTES])
{
    struct digest_walk w = {0};

    for (int is_offers = 0; is_offers < 2; is_offers++) {
        struct store_board_filter f = {
            .clearance = UINT32_MAX, .need_status = -1, .limit = STORE_BOARD_PAGE_ROWS};
        for (;;) {
            int rc;
            w.n_rows = 0;
            rc = is_offers ? store_board_page_offers(s, &f, sum_offer, &w)
                           : store_board_page_needs(s, &f, sum_need, &w);
            if (rc != 0)
                return -1;
            if (w.n_rows < f.limit)
                break;
            f.after = w.last;
        }
    }
    memcpy(sum, w.sum, STORE_BOARD_DIGEST_BYTES);
    return 0;
}

int store_board_digest(struct store *s, uint8_t sum[STORE_BOARD_DIGEST_BYTES])
{
    int rc = digest_get(s, sum);

    if (rc < 0)
        return -1;
    return rc == 1 ? 0 : store_board_digest_compute(s, sum);
}

int store_board_digest_rebuild(struct store *s, bool *is_done)
{
    uint8_t sum[STORE_BOARD_DIGEST_BYTES];
    int rc;

    *is_done = false;
    if (store__check_batch(s, "board digest rebuild") != 0 || (rc = digest_get(s, sum)) < 0)
        return -1;
    if (rc == 1)
        return 0;
    if (store_board_digest_compute(s, sum) != 0 || digest_set(s, sum) != 0)
        return -1;
    *is_done = true;
    return 0;
}

/* ---- counts by status ---------------------------------------------------- */

enum { COUNT_NEEDS = 0, COUNT_OFFERS = 1 }; /* board_counts.kind */

static int count_step(struct store *s, enum stmt which, int kind, int status, const char *what)
{
    sqlite3_bind_int(s->st[which], 1, kind);
    sqlite3_bind_int(s->st[which], 2, status);
    return store__run(s, which, what);
}

/* Counts the board afresh into board_counts, inside the open batch. */
static int recount(struct store *s)
{
    if (sqlite3_exec(s->db, "DELETE FROM board_counts;" STORE_BOARD_COUNTS_FILL, NULL, NULL,
                     NULL) != SQLITE_OK) {
        log_warnx("store: board recount: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

/* Moves one row of kind from status from (-1: a new row) to status to (-1:
 * a removed row), once the row itself is written. A step down that finds
 * nothing to take from means the counts went out of step with the rows (a
 * bug, or a table edited by hand): they are counted again in this batch,
 * logged, rather than left wrong or the write failed over a metric. */
static int count_move(struct store *s, int kind, int from, int to)
{
    if (from == to)
        return 0;
    if (from >= 0) {
        if (count_step(s, ST_BOARD_COUNT_DOWN, kind, from, "board count down") != 0)
            return -1;
        if (sqlite3_changes(s->db) != 1) {
            log_warnx("store: the board's kept counts were out of step with its rows; counted "
                      "again");
            return recount(s);
        }
    }
    if (to >= 0)
        return count_step(s, ST_BOARD_COUNT_UP, kind, to, "board count up");
    return 0;
}

static void counts_add(struct store_board_counts *c, int kind, int status, uint64_t n)
{
    bool is_known = status >= 0 && status < STORE_BOARD_STATUSES;

    if (kind == COUNT_NEEDS) {
        c->needs += n;
        if (is_known)
            c->need_status[status] += n;
    } else {
        c->offers += n;
        if (is_known)
            c->offer_status[status] += n;
    }
}

/* Reads rows of (kind, status, n) from st into out. */
static int counts_read(struct store *s, sqlite3_stmt *st, struct store_board_counts *out,
                       const char *what)
{
    int rc;

    memset(out, 0, sizeof(*out));
    while ((rc = store__step(s, st, what)) == SQLITE_ROW) {
        uint64_t n;
        int kind = sqlite3_column_int(st, 0);

        if ((kind != COUNT_NEEDS && kind != COUNT_OFFERS) || store__column_u64(st, 2, &n) != 0) {
            log_warnx("store: %s: corrupt row", what);
            rc = SQLITE_ERROR;
            break;
        }
        counts_add(out, kind, sqlite3_column_int(st, 1), n);
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_board_count(struct store *s, struct store_board_counts *out)
{
    sqlite3_stmt *st = s->st[ST_BOARD_COUNTS];
    int ret = counts_read(s, st, out, "board counts");

    store__done(st);
    return ret;
}

/* Prepared on the spot: tests and checks call it, never the write path. */
int store_board_recount(struct store *s, struct store_board_counts *out)
{
    sqlite3_stmt *st = NULL;
    int ret;

    if (sqlite3_prepare_v2(
            s->db,
            "SELECT 0, status, count(*) FROM board_needs GROUP BY status"
            " UNION ALL SELECT 1, status, count(*) FROM board_offers GROUP BY status",
            -1, &st, NULL) != SQLITE_OK) {
        log_warnx("store: board recount: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    ret = counts_read(s, st, out, "board recount");
    sqlite3_finalize(st);
    return ret;
}

/* ---- rows --------------------------------------------------------------- */

int store_board_need_put(struct store *s, const struct store_board_need *n)
{
    sqlite3_stmt *st = s->st[ST_BOARD_NEED_PUT];
    uint8_t old[STORE_BOARD_DIGEST_BYTES], new[STORE_BOARD_DIGEST_BYTES];
    bool has_old;
    uint8_t *sealed = NULL;
    int ret, old_status;

    if (check_board_write(s, n->owner, n->need, n->need_len, n->quantity, "board need put") != 0)
        return -1;
    if (n->accepted_quantity > INT64_MAX || n->delivered_quantity > INT64_MAX ||
        n->value_cents > INT64_MAX) {
        log_warnx("store: board need put: quantity out of range");
        return -1;
    }
    if (old_need_hash(s, n->id, old, &has_old, &old_status) != 0)
        return -1;
    sqlite3_bind_blob(st, 1, n->id, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, n->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, n->created_at);
    sqlite3_bind_int(st, 4, n->status);
    sqlite3_bind_int64(st, 5, n->tlp);
    sqlite3_bind_int64(st, 6, n->category);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)n->quantity);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)n->accepted_quantity);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)n->delivered_quantity);
    sqlite3_bind_int64(st, 11, n->priority);
    sqlite3_bind_int64(st, 12, (sqlite3_int64)n->value_cents);
    sqlite3_bind_int64(st, 13, n->sector);
    sqlite3_bind_text(st, 14, n->deadline, -1, SQLITE_STATIC);
    if (bind_sealed(s, st, 10, "board_needs.need", n->id, n->need, n->need_len, &sealed) != 0) {
        store__done(st);
        return -1;
    }
    ret = store__run(s, ST_BOARD_NEED_PUT, "board need put");
    free(sealed);
    need_hash(n, new);
    if (ret != 0 || digest_replace(s, has_old ? old : NULL, new) != 0 ||
        count_move(s, COUNT_NEEDS, old_status, n->status) != 0)
        return -1;
    sqlite3_bind_blob(s->st[ST_BOARD_NEED_VIEW], 1, n->id, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(s->st[ST_BOARD_NEED_VIEW], 2, n->tlp);
    return store__run(s, ST_BOARD_NEED_VIEW, "board need put (offers' view)");
}

static int need_rows(struct store *s, const uint8_t *id, int status, struct rows *r)
{
    sqlite3_stmt *st = s->st[ST_BOARD_NEED_EACH];

    *r = (struct rows){.elem = sizeof(struct store_board_need),
                       .blob_offset = offsetof(struct store_board_need, need)};
    if (id != NULL)
        sqlite3_bind_blob(st, 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, status < 0 ? -1 : status);
    return collect(s, st, read_need, r, "board needs");
}

int store_board_need_get(struct store *s, const uint8_t *id, struct store_board_need *out)
{
    struct rows r;

    memset(out, 0, sizeof(*out));
    r = (struct rows){.elem = sizeof(struct store_board_need),
                      .blob_offset = offsetof(struct store_board_need, need)};
    sqlite3_bind_blob(s->st[ST_BOARD_NEED_GET], 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (collect(s, s->st[ST_BOARD_NEED_GET], read_need, &r, "board need") != 0)
        return -1;
    if (r.n == 0)
        return 0;
    /* The id is the primary key: one row, whose blob moves to out. */
    memcpy(out, r.v, sizeof(*out));
    free(r.v);
    return 1;
}

int store_board_each_need(struct store *s, const uint8_t *id, int status, store_board_need_fn fn,
                          void *arg)
{
    struct rows r;
    int ret = 0;

    if (need_rows(s, id, status, &r) != 0)
        return -1;
    for (size_t i = 0; i < r.n && ret == 0; i++)
        ret = fn(arg, (const struct store_board_need *)(void *)(r.v + i * r.elem));
    rows_free(&r);
    return ret;
}

int store_board_offer_put(struct store *s, const struct store_board_offer *o)
{
    sqlite3_stmt *st = s->st[ST_BOARD_OFFER_PUT];
    uint8_t old[STORE_BOARD_DIGEST_BYTES], new[STORE_BOARD_DIGEST_BYTES];
    bool has_old;
    uint8_t *sealed = NULL;
    int ret, old_status;

    if (check_board_write(s, o->donor, o->offer, o->offer_len, o->quantity, "board offer put") !=
            0 ||
        old_offer_hash(s, o->id, old, &has_old, &old_status) != 0)
        return -1;
    sqlite3_bind_blob(st, 1, o->id, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, o->donor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, o->created_at);
    if (o->has_need)
        sqlite3_bind_blob(st, 4, o->need_id, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, o->status);
    sqlite3_bind_int64(st, 6, o->tlp);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)o->quantity);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)o->value_cents);
    if (bind_sealed(s, st, 8, "board_offers.offer", o->id, o->offer, o->offer_len, &sealed) != 0) {
        store__done(st);
        return -1;
    }
    ret = store__run(s, ST_BOARD_OFFER_PUT, "board offer put");
    free(sealed);
    offer_hash(o, new);
    if (ret != 0 || digest_replace(s, has_old ? old : NULL, new) != 0 ||
        count_move(s, COUNT_OFFERS, old_status, o->status) != 0)
        return -1;
    return 0;
}

int store_board_offer_drop(struct store *s, const uint8_t *id)
{
    uint8_t old[STORE_BOARD_DIGEST_BYTES];
    bool has_old;
    int old_status;

    if (store__check_batch(s, "board offer drop") != 0 ||
        old_offer_hash(s, id, old, &has_old, &old_status) != 0)
        return -1;
    if (!has_old)
        return 0;
    sqlite3_bind_blob(s->st[ST_BOARD_OFFER_DROP], 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (store__run(s, ST_BOARD_OFFER_DROP, "board offer drop") != 0 ||
        digest_replace(s, old, NULL) != 0)
        return -1;
    return count_move(s, COUNT_OFFERS, old_status, -1);
}

static int offer_rows(struct store *s, const uint8_t *need_id, const uint8_t *id, struct rows *r)
{
    sqlite3_stmt *st = s->st[ST_BOARD_OFFER_EACH];

    *r = (struct rows){.elem = sizeof(struct store_board_offer),
                       .blob_offset = offsetof(struct store_board_offer, offer)};
    if (need_id != NULL)
        sqlite3_bind_blob(st, 1, need_id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (id != NULL)
        sqlite3_bind_blob(st, 2, id, STORE_HASH_BYTES, SQLITE_STATIC);
    return collect(s, st, read_offer, r, "board offers");
}

int store_board_offer_get(struct store *s, const uint8_t *id, struct store_board_offer *out)
{
    struct rows r;

    memset(out, 0, sizeof(*out));
    r = (struct rows){.elem = sizeof(struct store_board_offer),
                      .blob_offset = offsetof(struct store_board_offer, offer)};
    sqlite3_bind_blob(s->st[ST_BOARD_OFFER_GET], 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (collect(s, s->st[ST_BOARD_OFFER_GET], read_offer, &r, "board offer") != 0)
        return -1;
    if (r.n == 0)
        return 0;
    memcpy(out, r.v, sizeof(*out));
    free(r.v);
    return 1;
}

int store_board_each_offer(struct store *s, const uint8_t *need_id, store_board_offer_fn fn,
                           void *arg)
{
    struct rows r;
    int ret = 0;

    if (offer_rows(s, need_id, NULL, &r) != 0)
        return -1;
    for (size_t i = 0; i < r.n && ret == 0; i++)
        ret = fn(arg, (const struct store_board_offer *)(void *)(r.v + i * r.elem));
    rows_free(&r);
    return ret;
}

int store_board_update_put(struct store *s, const struct store_board_update *u)
{
    sqlite3_stmt *st = s->st[ST_BOARD_UPDATE_PUT];
    uint8_t *sealed = NULL;
    int ret;

    if (check_board_write(s, u->sender, u->body, u->body_len, 0, "board update put") != 0 ||
        store__check_log(&u->log, "board update put") != 0)
        return -1;
    if (u->seq == 0 || u->seq > INT64_MAX) {
        log_warnx("store: board update put: bad seq");
        return -1;
    }
    sqlite3_bind_blob(st, 1, u->id, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->log.origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->log.peer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)u->seq);
    sqlite3_bind_text(st, 5, u->sender, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, u->created_at);
    sqlite3_bind_int(st, 7, u->kind);
    sqlite3_bind_int(st, 8, u->action);
    sqlite3_bind_blob(st, 9, u->target, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, u->outcome);
    if (u->is_waiting)
        sqlite3_bind_blob(st, 11, u->awaits, STORE_HASH_BYTES, SQLITE_STATIC);
    if (bind_sealed(s, st, 12, "board_updates.body", u->id, u->body, u->body_len, &sealed) != 0) {
        store__done(st);
        return -1;
    }
    ret = store__run(s, ST_BOARD_UPDATE_PUT, "board update put");
    free(sealed);
    return ret;
}

int store_board_each_waiting(struct store *s, const uint8_t *id, store_board_update_fn fn,
                             void *arg)
{
    sqlite3_stmt *st = s->st[ST_BOARD_WAITING];
    struct rows r = {.elem = sizeof(struct store_board_update),
                     .blob_offset = offsetof(struct store_board_update, body)};
    int ret = 0;

    sqlite3_bind_blob(st, 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (collect(s, st, read_update, &r, "board waiting updates") != 0)
        return -1;
    for (size_t i = 0; i < r.n && ret == 0; i++)
        ret = fn(arg, (const struct store_board_update *)(void *)(r.v + i * r.elem));
    rows_free(&r);
    return ret;
}

int store_board_each_in_cluster(struct store *s, const uint8_t *id, store_board_update_fn fn,
                                void *arg)
{
    sqlite3_stmt *st = s->st[ST_BOARD_CLUSTER];
    struct rows r = {.elem = sizeof(struct store_board_update),
                     .blob_offset = offsetof(struct store_board_update, body)};
    int ret = 0;

    sqlite3_bind_blob(st, 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (collect(s, st, read_update, &r, "board cluster") != 0)
        return -1;
    for (size_t i = 0; i < r.n && ret == 0; i++)
        ret = fn(arg, (const struct store_board_update *)(void *)(r.v + i * r.elem));
    rows_free(&r);
    return ret;
}

int store_board_knows(struct store *s, const uint8_t *id)
{
    sqlite3_stmt *st = s->st[ST_BOARD_KNOWS];
    int ret = -1;

    sqlite3_bind_blob(st, 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (store__step(s, st, "board knows") == SQLITE_ROW)
        ret = sqlite3_column_int(st, 0) != 0;
    store__done(st);
    return ret;
}

/* ---- pages ---------------------------------------------------------------- */

/* A page's SQL, built from the filters given: each list becomes an IN of
 * bound parameters, so no value is ever part of the text. */
struct page_sql {
    char text[2048];
    size_t len;
    int n_params;
    bool is_full;
};

static void sql_add(struct page_sql *q, const char *text)
{
    size_t n = strlen(text);

    if (q->len + n >= sizeof(q->text)) {
        q->is_full = true;
        return;
    }
    memcpy(q->text + q->len, text, n + 1);
    q->len += n;
}

/* " AND column IN (?, ?, ...)" for n values (nothing when n is 0). One
 * value is an index range already in id order; several would be ranges
 * SQLite must sort whole on every page (a walk through all the pages would
 * sort the rest of the list each time), so the column is written "+column"
 * to keep its index out: the rows are then read in id order and the list
 * checked on each. */
static void sql_in(struct page_sql *q, const char *column, size_t n)
{
    if (n == 0)
        return;
    sql_add(q, n > 1 ? " AND +" : " AND ");
    sql_add(q, column);
    sql_add(q, " IN (");
    for (size_t i = 0; i < n; i++)
        sql_add(q, i == 0 ? "?" : ", ?");
    sql_add(q, ")");
}

static int page_check(const struct store_board_filter *f, const char *what)
{
    if (f->limit == 0 || f->limit > STORE_BOARD_PAGE_ROWS ||
        f->n_statuses > STORE_BOARD_FILTER_MAX || f->n_categories > STORE_BOARD_FILTER_MAX ||
        f->n_priorities > STORE_BOARD_FILTER_MAX || f->n_members > STORE_BOARD_FILTER_MAX) {
        log_warnx("store: %s: filter out of bounds", what);
        return -1;
    }
    return 0;
}

/* Binds the parameters in the order page_needs_sql and page_offers_sql
 * wrote them: clearance, after, need_id, need_status, statuses, categories,
 * priorities, members, updated_since, id_from, id_to, limit. */
static void page_bind(sqlite3_stmt *st, const struct store_board_filter *f, bool is_offers)
{
    int i = 1;

    sqlite3_bind_int64(st, i++, f->clearance);
    if (f->after != NULL)
        sqlite3_bind_blob(st, i++, f->after, STORE_HASH_BYTES, SQLITE_STATIC);
    if (f->need_id != NULL)
        sqlite3_bind_blob(st, i++, f->need_id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (f->need_status >= 0)
        sqlite3_bind_int(st, i++, f->need_status);
    for (size_t j = 0; j < f->n_statuses; j++)
        sqlite3_bind_int(st, i++, f->statuses[j]);
    for (size_t j = 0; !is_offers && j < f->n_categories; j++)
        sqlite3_bind_int64(st, i++, f->categories[j]);
    for (size_t j = 0; !is_offers && j < f->n_priorities; j++)
        sqlite3_bind_int64(st, i++, f->priorities[j]);
    for (size_t j = 0; j < f->n_members; j++)
        sqlite3_bind_text(st, i++, f->members[j], -1, SQLITE_STATIC);
    if (f->updated_since != 0)
        sqlite3_bind_int64(st, i++, f->updated_since);
    if (f->id_from != NULL)
        sqlite3_bind_blob(st, i++, f->id_from, STORE_HASH_BYTES, SQLITE_STATIC);
    if (f->id_to != NULL)
        sqlite3_bind_blob(st, i++, f->id_to, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, i, (sqlite3_int64)f->limit);
}

static void page_where(struct page_sql *q, const struct store_board_filter *f, const char *t,
                       bool is_offers)
{
    char column[64];

#define COLUMN(name) (snprintf(column, sizeof(column), "%s.%s", t, name), column)
    if (f->after != NULL) {
        sql_add(q, " AND ");
        sql_add(q, COLUMN("id > ?"));
    }
    if (f->need_id != NULL) {
        sql_add(q, " AND ");
        sql_add(q, COLUMN(is_offers ? "need_id = ?" : "id = ?"));
    }
    if (f->need_status >= 0)
        sql_add(q, is_offers ? " AND n.status = ?" : " AND x.status = ?");
    sql_in(q, COLUMN("status"), f->n_statuses);
    if (!is_offers) {
        sql_in(q, COLUMN("category"), f->n_categories);
        sql_in(q, COLUMN("priority"), f->n_priorities);
    }
    sql_in(q, COLUMN(is_offers ? "donor" : "owner"), f->n_members);
    if (f->updated_since != 0) {
        sql_add(q, " AND ");
        sql_add(q, COLUMN("updated_at >= ?"));
    }
    if (f->id_from != NULL) {
        sql_add(q, " AND ");
        sql_add(q, COLUMN("id >= ?"));
    }
    if (f->id_to != NULL) {
        sql_add(q, " AND ");
        sql_add(q, COLUMN("id < ?"));
    }
#undef COLUMN
    sql_add(q, " ORDER BY ");
    sql_add(q, t);
    sql_add(q, ".id LIMIT ?");
}

/* Prepares the page's statement (not cached: its shape follows the
 * filters) and binds it. Returns it, or NULL (logged). */
static sqlite3_stmt *page_prepare(struct store *s, const struct store_board_filter *f,
                                  bool is_offers)
{
    struct page_sql q = {0};
    sqlite3_stmt *st = NULL;

    if (!is_offers) {
        sql_add(&q, "SELECT x.id, x.owner, x.created_at, x.status, x.tlp, x.category, x.quantity,"
                    " x.accepted, x.delivered, x.need, x.priority, x.updated_at,"
                    " x.value_cents, x.sector, x.deadline FROM board_needs AS x WHERE x.tlp <= ?");
    } else {
        /* An offer is read only when its need, if held, is within the
         * clearance too: a hidden need's offers are hidden with it. Its
         * view_tlp is the higher of the two labels; the needs table is
         * joined only to filter on the need's status. */
        sql_add(&q, "SELECT x.id, x.donor, x.created_at, x.need_id, x.status, x.tlp, x.quantity,"
                    " x.offer, x.updated_at, x.value_cents FROM board_offers AS x");
        if (f->need_status >= 0)
            sql_add(&q, " JOIN board_needs AS n ON n.id = x.need_id");
        sql_add(&q, " WHERE x.view_tlp <= ?1");
    }
    page_where(&q, f, "x", is_offers);
    if (q.is_full) {
        log_warnx("store: board page: query too long");
        return NULL;
    }
    if (sqlite3_prepare_v2(s->db, q.text, (int)q.len + 1, &st, NULL) != SQLITE_OK) {
        log_warnx("store: board page: %s", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return NULL;
    }
    page_bind(st, f, is_offers);
    return st;
}

/* Steps a page's statement, handing each row to fn as it is read. */
static int page_run(struct store *s, sqlite3_stmt *st, store_board_need_fn need_fn,
                    store_board_offer_fn offer_fn, void *arg)
{
    bool is_offers = offer_fn != NULL;
    int rc = SQLITE_DONE, ret = 0;

    while (ret == 0 && (rc = store__step(s, st, "board page")) == SQLITE_ROW) {
        if (is_offers) {
            struct store_board_offer o = {0};
            if (read_offer(s, st, &o) != 0) {
                ret = -1;
                break;
            }
            ret = offer_fn(arg, &o);
            free(o.offer);
        } else {
            struct store_board_need n = {0};
            if (read_need(s, st, &n) != 0) {
                ret = -1;
                break;
            }
            ret = need_fn(arg, &n);
            free(n.need);
        }
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = -1;
    sqlite3_finalize(st);
    return ret < 0 ? -1 : ret;
}

int store_board_page_needs(struct store *s, const struct store_board_filter *f,
                           store_board_need_fn fn, void *arg)
{
    sqlite3_stmt *st;

    if (page_check(f, "board need page") != 0 || (st = page_prepare(s, f, false)) == NULL)
        return -1;
    return page_run(s, st, fn, NULL, arg);
}

int store_board_page_offers(struct store *s, const struct store_board_filter *f,
                            store_board_offer_fn fn, void *arg)
{
    sqlite3_stmt *st;

    if (page_check(f, "board offer page") != 0 || (st = page_prepare(s, f, true)) == NULL)
        return -1;
    return page_run(s, st, NULL, fn, arg);
}

/* ---- what reports read in clear ------------------------------------------ */

int store_board_unfilled(struct store *s, bool is_offers, const uint8_t *after,
                         uint8_t (*ids)[STORE_HASH_BYTES], size_t max, size_t *n)
{
    static const uint8_t none[STORE_HASH_BYTES];
    sqlite3_stmt *st = s->st[is_offers ? ST_BOARD_OFFER_UNFILLED : ST_BOARD_NEED_UNFILLED];
    int rc;

    *n = 0;
    sqlite3_bind_blob(st, 1, after != NULL ? after : none, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    while ((rc = store__step(s, st, "board unfilled rows")) == SQLITE_ROW && *n < max) {
        if (store__column_id(st, 0, ids[*n]) != 0) {
            store__done(st);
            return -1;
        }
        (*n)++;
    }
    store__done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_board_need_facts(struct store *s, uint32_t clearance, store_board_need_fn fn, void *arg)
{
    sqlite3_stmt *st = s->st[ST_BOARD_NEED_FACTS];
    int rc = SQLITE_DONE, ret = 0;

    sqlite3_bind_int64(st, 1, clearance);
    while (ret == 0 && (rc = store__step(s, st, "board need facts")) == SQLITE_ROW) {
        struct store_board_need n = {0};
        sqlite3_int64 status = sqlite3_column_int64(st, 2);
        if (store__column_id(st, 0, n.id) != 0 || store__column_member(st, 1, n.owner) != 0 ||
            store__column_u64(st, 5, &n.quantity) != 0 ||
            store__column_u64(st, 6, &n.accepted_quantity) != 0 || status < INT_MIN ||
            status > INT_MAX || read_need_facts(st, 7, &n) != 0) {
            ret = -1;
            break;
        }
        n.status = (int)status;
        n.priority = (uint32_t)sqlite3_column_int64(st, 3);
        n.category = (uint32_t)sqlite3_column_int64(st, 4);
        ret = fn(arg, &n);
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = -1;
    store__done(st);
    return ret < 0 ? -1 : ret;
}

int store_board_offer_facts(struct store *s, uint32_t clearance, store_board_offer_fn fn, void *arg)
{
    sqlite3_stmt *st = s->st[ST_BOARD_OFFER_FACTS];
    int rc = SQLITE_DONE, ret = 0;

    sqlite3_bind_int64(st, 1, clearance);
    while (ret == 0 && (rc = store__step(s, st, "board offer facts")) == SQLITE_ROW) {
        struct store_board_offer o = {.has_need = true};
        sqlite3_int64 status = sqlite3_column_int64(st, 2);
        if (store__column_member(st, 0, o.donor) != 0 || store__column_id(st, 1, o.need_id) != 0 ||
            status < INT_MIN || status > INT_MAX) {
            ret = -1;
            break;
        }
        o.status = (int)status;
        o.has_facts = sqlite3_column_type(st, 3) != SQLITE_NULL;
        if (o.has_facts && store__column_u64(st, 3, &o.value_cents) != 0) {
            ret = -1;
            break;
        }
        ret = fn(arg, &o);
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = -1;
    store__done(st);
    return ret < 0 ? -1 : ret;
}
