/*
 * store_retention: the SQL of retention (store.h, store_retention_round):
 * finds the envelopes whose ciphertext is due to go, under the expiry rule
 * and the closed-need rule, and replaces their stored bytes with the pruned
 * form the caller makes. It never deletes a row, never touches a log's
 * head, the evidence, the inbox or the board, and never prunes an envelope
 * a subscribed client may still be handed. Writes happen only inside the
 * open batch, a bounded number of rows per round.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "store_internal.h"

/* Envelopes that expire, oldest expiry first, through the partial index
 * (schema 16): only rowid and expires_at are read, both in the index. */
#define SQL_EXPIRED                                                                                \
    "SELECT rowid FROM envelopes INDEXED BY envelopes_expiring"                                    \
    " WHERE expires_at > 0 AND pruned IS NULL AND expires_at <= ?1"                                \
    " ORDER BY expires_at LIMIT ?2"

/* Needs that took a final status, in the order they did, after the
 * cursor (updated_at, id); board_needs_updated holds (updated_at, id). */
#define SQL_CLOSED                                                                                 \
    "SELECT id, updated_at FROM board_needs"                                                       \
    " WHERE updated_at <= ?1 AND status IN (?2, ?3) AND (updated_at, id) > (?4, ?5)"               \
    " ORDER BY updated_at, id LIMIT ?6"

/* A need's cluster as the board files it (store_board.c, board cluster):
 * the need, its updates and offers, and the offers' updates; each with the
 * inbox number it has (NULL: not in the inbox) when it still holds its
 * ciphertext. */
#define SQL_CLUSTER                                                                                \
    "SELECT e.rowid, i.number FROM board_updates AS u"                                             \
    " JOIN envelopes AS e ON e.origin = u.origin AND e.peer = u.peer AND e.seq = u.seq"            \
    " LEFT JOIN inbox AS i ON i.origin = u.origin AND i.peer = u.peer AND i.seq = u.seq"           \
    " WHERE (u.target = ?1 OR u.target IN (SELECT id FROM board_updates WHERE target = ?1))"       \
    " AND e.pruned IS NULL"

/* What every subscribed client has acknowledged; with no client at all,
 * nothing in the inbox is known to have been handed out. */
#define SQL_ACKED "SELECT coalesce(min(acked), 0) FROM cursors"

#define SQL_DATA "SELECT data FROM envelopes WHERE rowid = ?1"
/* A row rewritten in place, same rowid and key. Not an UPDATE: SQLite
 * leaves a row that shrank in its leaf page, so the page would stay as full
 * on disk as before; a REPLACE deletes the row first, which lets the b-tree
 * merge the emptied pages and hand them to the free list, where appends
 * reuse them. The inbox and evidence rows that point at it hold on: the
 * key is back before the statement ends, when foreign keys are checked. */
#define SQL_PRUNE                                                                                  \
    "REPLACE INTO envelopes (rowid, origin, peer, seq, id, prev, expires_at, data, pruned)"        \
    " SELECT rowid, origin, peer, seq, id, prev, expires_at, ?2, ?3 FROM envelopes"                \
    " WHERE rowid = ?1"
#define SQL_MARK "UPDATE envelopes SET pruned = ?2 WHERE rowid = ?1"

/* Statements of one round, prepared for it: a round runs about once a
 * second, so keeping them out of store.c's table costs nothing that shows. */
struct round {
    struct store *s;
    const struct store_retention_rules *r;
    store_prune_fn prune;
    struct store_retention_result *out;
    sqlite3_stmt *data, *update, *mark;
};

static int fail(sqlite3 *db, const char *what)
{
    log_warnx("store: retention: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return fail(db, "prepare");
    return 0;
}

/* Prunes the envelope at rowid, if it still holds its ciphertext. Returns 0
 * or -1 (logged). */
static int prune_row(struct round *rd, sqlite3_int64 rowid)
{
    sqlite3_stmt *st = rd->data;
    uint8_t *pruned = NULL;
    size_t len, pruned_len = 0;
    int rc, ret = -1;

    rd->out->examined++;
    sqlite3_bind_int64(st, 1, rowid);
    if ((rc = store__step(rd->s, st, "retention read")) != SQLITE_ROW) {
        store__done(st);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    len = (size_t)sqlite3_column_bytes(st, 0);
    rc = rd->prune(sqlite3_column_blob(st, 0), len, &pruned, &pruned_len);
    store__done(st);
    if (rc == -1) {
        log_warnx("store: retention: a stored envelope cannot be pruned (no memory, or a "
                  "corrupt row)");
        return -1;
    }
    /* Pruned already (it arrived so): only marked, so it leaves the index. */
    st = rc == 1 ? rd->update : rd->mark;
    sqlite3_bind_int64(st, 1, rowid);
    if (rc == 1) {
        sqlite3_bind_blob(st, 2, pruned, (int)pruned_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, rd->r->now);
    } else {
        sqlite3_bind_int64(st, 2, rd->r->now);
    }
    if (store__step(rd->s, st, "retention write") == SQLITE_DONE) {
        if (rc == 1 && pruned_len < len) {
            rd->out->pruned++;
            rd->out->bytes_freed += len - pruned_len;
        }
        ret = 0;
    }
    store__done(st);
    free(pruned);
    return ret;
}

/* The expiry rule, up to budget envelopes. */
static int expired(struct round *rd, size_t budget)
{
    sqlite3_int64 *rows;
    sqlite3_stmt *st;
    size_t n = 0;
    int rc = SQLITE_DONE;

    if (rd->r->expired_before <= 0 || budget == 0)
        return 0;
    if ((rows = calloc(budget, sizeof(*rows))) == NULL) {
        log_warn("store: retention");
        return -1;
    }
    if (prepare(rd->s->db, SQL_EXPIRED, &st) != 0) {
        free(rows);
        return -1;
    }
    sqlite3_bind_int64(st, 1, rd->r->expired_before);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)budget);
    while (n < budget && (rc = store__step(rd->s, st, "retention expired")) == SQLITE_ROW)
        rows[n++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    /* Read first, written after: an update under a running SELECT on the
     * index it walks would move rows out from under it. */
    for (size_t i = 0; rc != -1 && i < n; i++)
        if (prune_row(rd, rows[i]) != 0)
            rc = -1;
    free(rows);
    if (n == budget)
        rd->out->is_more = true;
    return rc == -1 ? -1 : 0;
}

/* One closed need's cluster. Returns 1 when done, 0 when a client still
 * waits for one of its envelopes (nothing pruned), -1 on error. */
static int closed_need(struct round *rd, const uint8_t *id, uint64_t acked)
{
    sqlite3_stmt *st;
    sqlite3_int64 *rows = NULL;
    size_t n = 0, cap = 0;
    int rc, ret = 1;

    if (prepare(rd->s->db, SQL_CLUSTER, &st) != 0)
        return -1;
    sqlite3_bind_blob(st, 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    while ((rc = store__step(rd->s, st, "retention cluster")) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 1) != SQLITE_NULL &&
            (uint64_t)sqlite3_column_int64(st, 1) > acked) {
            ret = 0;
            break;
        }
        if (n == cap) {
            size_t grown_cap = cap == 0 ? 16 : 2 * cap;
            sqlite3_int64 *grown = realloc(rows, grown_cap * sizeof(*grown));
            if (grown == NULL) {
                log_warn("store: retention");
                ret = -1;
                break;
            }
            rows = grown;
            cap = grown_cap;
        }
        rows[n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc == -1)
        ret = -1;
    for (size_t i = 0; ret == 1 && i < n; i++)
        if (prune_row(rd, rows[i]) != 0)
            ret = -1;
    free(rows);
    return ret;
}

static int read_acked(struct store *s, uint64_t *acked)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s->db, SQL_ACKED, &st) != 0)
        return -1;
    rc = store__step(s, st, "retention acked");
    if (rc == SQLITE_ROW)
        *acked = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* The closed-need rule: needs in the order they closed, while the budget
 * lasts. A need's cluster is taken whole, so a round may pass max_rows by
 * one cluster. */
static int closed(struct round *rd, struct store_retention_cursor *c, size_t budget)
{
    const struct store_retention_rules *r = rd->r;
    struct {
        uint8_t id[STORE_HASH_BYTES];
        int64_t updated_at;
    } * needs;
    sqlite3_stmt *st;
    uint64_t acked = 0;
    size_t n = 0;
    int rc = SQLITE_DONE;

    if (r->closed_before <= 0 || budget == 0)
        return 0;
    if (read_acked(rd->s, &acked) != 0)
        return -1;
    if ((needs = calloc(budget, sizeof(*needs))) == NULL) {
        log_warn("store: retention");
        return -1;
    }
    if (prepare(rd->s->db, SQL_CLOSED, &st) != 0) {
        free(needs);
        return -1;
    }
    sqlite3_bind_int64(st, 1, r->closed_before);
    sqlite3_bind_int(st, 2, r->closed_status[0]);
    sqlite3_bind_int(st, 3, r->closed_status[1]);
    sqlite3_bind_int64(st, 4, c->updated_at);
    sqlite3_bind_blob(st, 5, c->need_id, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)budget);
    while (n < budget && (rc = store__step(rd->s, st, "retention closed")) == SQLITE_ROW) {
        if (store__column_id(st, 0, needs[n].id) != 0) {
            rc = -1;
            break;
        }
        needs[n++].updated_at = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    for (size_t i = 0; rc != -1 && i < n; i++) {
        int done = closed_need(rd, needs[i].id, acked);
        if (done == -1) {
            rc = -1;
        } else if (done == 0) {
            rd->out->is_held = true;
            break;
        } else {
            c->updated_at = needs[i].updated_at;
            memcpy(c->need_id, needs[i].id, STORE_HASH_BYTES);
        }
        if (rd->out->examined >= r->max_rows && i + 1 < n) {
            rd->out->is_more = true;
            break;
        }
    }
    if (n == budget && !rd->out->is_held)
        rd->out->is_more = true;
    free(needs);
    return rc == -1 ? -1 : 0;
}

int store_retention_round(struct store *s, const struct store_retention_rules *r,
                          store_prune_fn prune, struct store_retention_cursor *c,
                          struct store_retention_result *out)
{
    struct round rd = {s, r, prune, out, NULL, NULL, NULL};
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (r->max_rows == 0 || prune == NULL)
        return -1;
    if (store__check_batch(s, "retention round") != 0)
        return -1;
    if (prepare(s->db, SQL_DATA, &rd.data) != 0 || prepare(s->db, SQL_PRUNE, &rd.update) != 0 ||
        prepare(s->db, SQL_MARK, &rd.mark) != 0)
        goto out;
    if (expired(&rd, r->max_rows) != 0)
        goto out;
    if (out->examined < r->max_rows && closed(&rd, c, r->max_rows - out->examined) != 0)
        goto out;
    ret = 0;
out:
    sqlite3_finalize(rd.data);
    sqlite3_finalize(rd.update);
    sqlite3_finalize(rd.mark);
    return ret;
}

int store_free_bytes(struct store *s, uint64_t *bytes)
{
    sqlite3_stmt *st;
    sqlite3_int64 pages = 0, size = 0;
    int rc;

    if (prepare(s->db, "SELECT * FROM pragma_freelist_count, pragma_page_size", &st) != 0)
        return -1;
    if ((rc = store__step(s, st, "free pages")) == SQLITE_ROW) {
        pages = sqlite3_column_int64(st, 0);
        size = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW || pages < 0 || size < 0)
        return -1;
    *bytes = (uint64_t)pages * (uint64_t)size;
    return 0;
}
