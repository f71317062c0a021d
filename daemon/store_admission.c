/*
 * store_admission: the admissions table (schema 19) behind store.h's
 * store_admission_* calls, and the one read admission.c needs from the
 * board's tables: an owner's needs by id with the log place that posted
 * them. Status and label codes are the board's, handed in by the caller.
 * Writes happen only inside the open batch, so what a node records as
 * shared commits with the shares themselves.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "store_internal.h"

/* Logs a SQLite failure with what we were doing. Returns -1. */
static int fail(sqlite3 *db, const char *what)
{
    log_warnx("store: admissions: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

/* The statements here run a few times per loop round at most, while a
 * share is under way: none is cached on the store. */
static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return fail(db, sql);
    return 0;
}

int store_admission_note(struct store *s, const char *const *members, size_t n, int64_t now,
                         size_t *n_new)
{
    sqlite3_stmt *st = NULL;
    bool is_first;
    int rc, ret = -1;

    *n_new = 0;
    if (store__check_batch(s, "admission note") != 0 ||
        prepare(s->db, "SELECT 1 FROM admissions LIMIT 1", &st) != 0)
        return -1;
    if ((rc = sqlite3_step(st)) != SQLITE_ROW && rc != SQLITE_DONE) {
        fail(s->db, "read admissions");
        goto out;
    }
    is_first = rc == SQLITE_DONE;
    sqlite3_finalize(st);
    st = NULL;
    if (prepare(s->db,
                "INSERT INTO admissions (member, admitted_at, done) VALUES (?1, ?2, ?3)"
                "  ON CONFLICT (member) DO NOTHING",
                &st) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, 1, members[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, is_first ? 0 : now);
        sqlite3_bind_int(st, 3, is_first ? 1 : 0);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fail(s->db, "add a member");
            goto out;
        }
        if (!is_first && sqlite3_changes(s->db) > 0)
            (*n_new)++;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

int store_admission_each(struct store *s, store_admission_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = -1;

    if (prepare(s->db, "SELECT member, admitted_at, done, after FROM admissions ORDER BY member",
                &st) != 0)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_admission a = {0};
        const char *member = (const char *)sqlite3_column_text(st, 0);
        const void *after = sqlite3_column_blob(st, 3);

        if (member == NULL || strlen(member) > UTIL_MEMBER_ID_MAX) {
            log_warnx("store: admissions: a member id out of bounds");
            goto out;
        }
        snprintf(a.member, sizeof(a.member), "%s", member);
        a.admitted_at = sqlite3_column_int64(st, 1);
        a.is_done = sqlite3_column_int(st, 2) != 0;
        a.has_after = after != NULL && sqlite3_column_bytes(st, 3) == STORE_HASH_BYTES;
        if (a.has_after)
            memcpy(a.after, after, STORE_HASH_BYTES);
        if ((rc = fn(arg, &a)) != 0) {
            ret = rc;
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        fail(s->db, "read admissions");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

int store_admission_advance(struct store *s, const char *member, const uint8_t *after, bool is_done)
{
    sqlite3_stmt *st = NULL;
    int ret = -1;

    if (store__check_batch(s, "admission advance") != 0 ||
        prepare(s->db,
                "UPDATE admissions SET after = coalesce(?2, after), done = ?3 WHERE member = ?1",
                &st) != 0)
        return -1;
    sqlite3_bind_text(st, 1, member, -1, SQLITE_STATIC);
    if (after != NULL)
        sqlite3_bind_blob(st, 2, after, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, is_done ? 1 : 0);
    if (sqlite3_step(st) != SQLITE_DONE)
        fail(s->db, "advance an admission");
    else
        ret = 0;
    sqlite3_finalize(st);
    return ret;
}

int store_admission_needs(struct store *s, const struct store_admission_query *q, size_t max,
                          struct store_admission_need *out, size_t *n)
{
    static const uint8_t zero[STORE_HASH_BYTES];
    sqlite3_stmt *st = NULL;
    int rc, ret = -1;

    *n = 0;
    /* board_needs_owner (owner, id) serves the walk in id order from the
     * cursor (SQLite's plan: a search on owner and id, no sort), so a page
     * costs its own rows; the join finds the message that posted each need
     * by its unique id. */
    if (max == 0 || prepare(s->db,
                            "SELECT n.id, n.created_at, u.seq FROM board_needs n"
                            "  JOIN board_updates u ON u.id = n.id"
                            "  WHERE n.owner = ?1 AND n.id > ?2 AND n.status BETWEEN ?3 AND ?4"
                            "    AND n.tlp <= ?5 AND u.origin = ?1 AND u.peer = ''"
                            "  ORDER BY n.id LIMIT ?6",
                            &st) != 0)
        return max == 0 ? 0 : -1;
    sqlite3_bind_text(st, 1, q->owner, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, q->after != NULL ? q->after : zero, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, q->status_lo);
    sqlite3_bind_int(st, 4, q->status_hi);
    sqlite3_bind_int64(st, 5, q->tlp_max);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_admission_need *e = &out[*n];
        if (sqlite3_column_bytes(st, 0) != STORE_HASH_BYTES || sqlite3_column_int64(st, 2) < 1) {
            log_warnx("store: admissions: a need row out of bounds");
            goto out;
        }
        memcpy(e->id, sqlite3_column_blob(st, 0), STORE_HASH_BYTES);
        e->created_at = sqlite3_column_int64(st, 1);
        e->seq = (uint64_t)sqlite3_column_int64(st, 2);
        (*n)++;
    }
    if (rc != SQLITE_DONE) {
        fail(s->db, "read needs");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}
