/*
 * store_audit: the audit log's tables (audit_entries, audit_checkpoints,
 * audit_state, and for the checkpoint exchange audit_peer_checkpoints and
 * audit_cosignatures) behind store.h's store_audit_* calls, and a
 * read-only walk of them for tmbus-admin. Rows are opaque bytes here:
 * audit.c encodes and checks them. Writes happen only inside the open
 * batch, so the log commits with what it records; nothing here ever
 * updates or deletes an entry, a checkpoint or a cosignature (only the
 * one checkpoint held of each peer is replaced by its successor). Every
 * checkpoint row carries its epoch (PROTOCOL.md 13.2), which its
 * signature covers.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "store_internal.h"

#define DB_NAME         "tmbus.db" /* as store.c */
#define PATH_BYTES      4096
#define BUSY_TIMEOUT_MS 5000
#define ENTRY_MAX       512 /* the table's CHECK */
#define SIG_BYTES       64

/* Logs a SQLite failure with what we were doing. Returns -1. */
static int fail(sqlite3 *db, const char *what)
{
    log_warnx("store: audit: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

static int check_batch(const struct store *s, const char *what)
{
    /* A batch that SQLite already rolled back after an error would take
     * these rows in autocommit mode, outside any batch. */
    if (!s->is_in_batch || sqlite3_get_autocommit(s->db)) {
        log_warnx("store: audit: %s outside a batch", what);
        return -1;
    }
    return 0;
}

/* Prepares sql on db; the statements here run once per flush or per walk,
 * so none is cached on the store. Returns 0 or -1 (logged). */
static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return fail(db, sql);
    return 0;
}

int store_audit_append(struct store *s, uint64_t first, const uint8_t *const *entries,
                       const size_t *lens, size_t n)
{
    sqlite3_stmt *st = NULL;
    int ret = -1;

    if (n == 0)
        return 0;
    if (check_batch(s, "append") != 0 || first > INT64_MAX - n ||
        prepare(s->db, "INSERT INTO audit_entries (idx, entry) VALUES (?1, ?2)", &st) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 0 || lens[i] > ENTRY_MAX) {
            log_warnx("store: audit: entry of %zu bytes", lens[i]);
            goto out;
        }
        sqlite3_bind_int64(st, 1, (sqlite3_int64)(first + i));
        sqlite3_bind_blob(st, 2, entries[i], (int)lens[i], SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fail(s->db, "append entry");
            goto out;
        }
        sqlite3_reset(st);
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

int store_audit_state_put(struct store *s, uint64_t size, const uint8_t *frontier, size_t len)
{
    sqlite3_stmt *st = NULL;
    int ret = -1;

    if (check_batch(s, "state") != 0 || size > INT64_MAX ||
        prepare(s->db,
                "INSERT INTO audit_state (one, size, frontier) VALUES (1, ?1, ?2)"
                " ON CONFLICT (one) DO UPDATE SET size = excluded.size,"
                " frontier = excluded.frontier",
                &st) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    sqlite3_bind_blob(st, 2, frontier, (int)len, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE)
        ret = 0;
    else
        fail(s->db, "write state");
    sqlite3_finalize(st);
    return ret;
}

int store_audit_state_get(struct store *s, uint64_t *size, uint8_t *frontier, size_t cap,
                          size_t *len)
{
    sqlite3_stmt *st = NULL;
    int ret = -1, rc;
    sqlite3_int64 v;
    int n;

    if (prepare(s->db, "SELECT size, frontier FROM audit_state WHERE one = 1", &st) != 0)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ret = 0;
    } else if (rc != SQLITE_ROW) {
        fail(s->db, "read state");
    } else if ((v = sqlite3_column_int64(st, 0)) < 0 || (n = sqlite3_column_bytes(st, 1)) < 0 ||
               (size_t)n > cap) {
        log_warnx("store: audit: malformed state row");
    } else {
        *size = (uint64_t)v;
        *len = (size_t)n;
        if (n > 0)
            memcpy(frontier, sqlite3_column_blob(st, 1), (size_t)n);
        ret = 1;
    }
    sqlite3_finalize(st);
    return ret;
}

int store_audit_checkpoint_put(struct store *s, const struct store_audit_checkpoint *cp)
{
    sqlite3_stmt *st = NULL;
    int ret = -1;

    if (check_batch(s, "checkpoint") != 0 || cp->size > INT64_MAX ||
        prepare(s->db,
                "INSERT INTO audit_checkpoints (size, root, at, member, sig, epoch)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                &st) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)cp->size);
    sqlite3_bind_blob(st, 2, cp->root, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, cp->at);
    sqlite3_bind_text(st, 4, cp->member, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, cp->sig, SIG_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)cp->epoch);
    if (sqlite3_step(st) == SQLITE_DONE)
        ret = 0;
    else
        fail(s->db, "write checkpoint");
    sqlite3_finalize(st);
    return ret;
}

/* Reads the current row of a checkpoint query into out. Returns 0, or -1
 * for a row that breaks the table's shape. */
static int column_checkpoint(sqlite3_stmt *st, struct store_audit_checkpoint *out)
{
    const unsigned char *member = sqlite3_column_text(st, 3);
    sqlite3_int64 size = sqlite3_column_int64(st, 0), epoch = sqlite3_column_int64(st, 5);

    if (size < 0 || epoch < 0 || sqlite3_column_bytes(st, 1) != STORE_HASH_BYTES ||
        sqlite3_column_bytes(st, 4) != SIG_BYTES || member == NULL ||
        strlen((const char *)member) > UTIL_MEMBER_ID_MAX) {
        log_warnx("store: audit: malformed checkpoint row");
        return -1;
    }
    out->epoch = (uint64_t)epoch;
    out->size = (uint64_t)size;
    memcpy(out->root, sqlite3_column_blob(st, 1), STORE_HASH_BYTES);
    out->at = sqlite3_column_int64(st, 2);
    snprintf(out->member, sizeof(out->member), "%s", (const char *)member);
    memcpy(out->sig, sqlite3_column_blob(st, 4), SIG_BYTES);
    return 0;
}

int store_audit_checkpoint_last(struct store *s, struct store_audit_checkpoint *out)
{
    sqlite3_stmt *st = NULL;
    int ret = -1, rc;

    if (prepare(s->db,
                "SELECT size, root, at, member, sig, epoch FROM audit_checkpoints"
                " ORDER BY size DESC LIMIT 1",
                &st) != 0)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        ret = 0;
    else if (rc != SQLITE_ROW)
        fail(s->db, "read checkpoint");
    else if (column_checkpoint(st, out) == 0)
        ret = 1;
    sqlite3_finalize(st);
    return ret;
}

int store_audit_checkpoint_get(struct store *s, uint64_t size, struct store_audit_checkpoint *out)
{
    sqlite3_stmt *st = NULL;
    int ret = -1, rc;

    if (size > INT64_MAX || prepare(s->db,
                                    "SELECT size, root, at, member, sig, epoch"
                                    " FROM audit_checkpoints WHERE size = ?1",
                                    &st) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        ret = 0;
    else if (rc != SQLITE_ROW)
        fail(s->db, "read checkpoint");
    else if (column_checkpoint(st, out) == 0)
        ret = 1;
    sqlite3_finalize(st);
    return ret;
}

struct store_audit_reader {
    struct store *store;
    sqlite3_stmt *st;
    uint64_t next; /* the idx the next step gives; UINT64_MAX: none */
};

struct store_audit_reader *store_audit_reader_new(struct store *s)
{
    struct store_audit_reader *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->store = s;
    r->next = UINT64_MAX;
    if (prepare(s->db, "SELECT idx, entry FROM audit_entries WHERE idx >= ?1 ORDER BY idx",
                &r->st) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

int store_audit_read(struct store_audit_reader *r, uint64_t idx, uint8_t *buf, size_t cap,
                     size_t *len)
{
    int n;

    if (idx > INT64_MAX)
        return -1;
    if (idx != r->next) {
        sqlite3_reset(r->st);
        sqlite3_bind_int64(r->st, 1, (sqlite3_int64)idx);
    }
    r->next = UINT64_MAX;
    if (sqlite3_step(r->st) != SQLITE_ROW || (uint64_t)sqlite3_column_int64(r->st, 0) != idx ||
        (n = sqlite3_column_bytes(r->st, 1)) <= 0 || (size_t)n > cap) {
        log_warnx("store: audit: entry %llu cannot be read", (unsigned long long)idx);
        sqlite3_reset(r->st);
        return -1;
    }
    memcpy(buf, sqlite3_column_blob(r->st, 1), (size_t)n);
    *len = (size_t)n;
    r->next = idx + 1;
    return 0;
}

void store_audit_reader_free(struct store_audit_reader **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    sqlite3_finalize((*rp)->st);
    free(*rp);
    *rp = NULL;
}

int store_audit_peer_put(struct store *s, const struct store_audit_checkpoint *cp)
{
    sqlite3_stmt *st = NULL;
    int ret = -1;

    if (check_batch(s, "peer checkpoint") != 0 || cp->size == 0 || cp->size > INT64_MAX ||
        prepare(s->db,
                "INSERT INTO audit_peer_checkpoints (member, size, root, at, sig, epoch)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (member) DO UPDATE"
                " SET size = excluded.size, root = excluded.root, at = excluded.at,"
                " sig = excluded.sig, epoch = excluded.epoch",
                &st) != 0)
        return -1;
    sqlite3_bind_text(st, 1, cp->member, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)cp->size);
    sqlite3_bind_blob(st, 3, cp->root, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, cp->at);
    sqlite3_bind_blob(st, 5, cp->sig, SIG_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)cp->epoch);
    if (sqlite3_step(st) == SQLITE_DONE)
        ret = 0;
    else
        fail(s->db, "write peer checkpoint");
    sqlite3_finalize(st);
    return ret;
}

/* Walks the peers' checkpoints on db. */
static int walk_peers(sqlite3 *db, store_audit_checkpoint_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    struct store_audit_checkpoint cp;
    int ret = -1, rc;

    if (prepare(db,
                "SELECT size, root, at, member, sig, epoch FROM audit_peer_checkpoints"
                " ORDER BY member",
                &st) != 0)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (column_checkpoint(st, &cp) != 0)
            goto out;
        if ((ret = fn(arg, &cp)) != 0)
            goto out;
    }
    ret = rc == SQLITE_DONE ? 0 : fail(db, "read peer checkpoints");
out:
    sqlite3_finalize(st);
    return ret;
}

int store_audit_peer_each(struct store *s, store_audit_checkpoint_fn fn, void *arg)
{
    return walk_peers(s->db, fn, arg);
}

int store_audit_cosignature_put(struct store *s, const struct store_audit_cosignature *c)
{
    sqlite3_stmt *st = NULL;
    int ret = -1;

    if (check_batch(s, "cosignature") != 0 || c->size == 0 || c->size > INT64_MAX ||
        prepare(s->db,
                "INSERT INTO audit_cosignatures (size, cosigner, at, sig)"
                " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                &st) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)c->size);
    sqlite3_bind_text(st, 2, c->cosigner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->at);
    sqlite3_bind_blob(st, 4, c->sig, SIG_BYTES, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE)
        ret = 0;
    else
        fail(s->db, "write cosignature");
    sqlite3_finalize(st);
    return ret;
}

static int walk_cosignatures(sqlite3 *db, store_audit_cosignature_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    struct store_audit_cosignature c;
    int ret = -1, rc;

    if (prepare(db,
                "SELECT size, cosigner, at, sig FROM audit_cosignatures ORDER BY size, cosigner",
                &st) != 0)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *who = sqlite3_column_text(st, 1);
        sqlite3_int64 size = sqlite3_column_int64(st, 0);

        if (size <= 0 || who == NULL || strlen((const char *)who) > UTIL_MEMBER_ID_MAX ||
            sqlite3_column_bytes(st, 3) != SIG_BYTES) {
            log_warnx("store: audit: malformed cosignature row");
            ret = -1;
            goto out;
        }
        c.size = (uint64_t)size;
        snprintf(c.cosigner, sizeof(c.cosigner), "%s", (const char *)who);
        c.at = sqlite3_column_int64(st, 2);
        memcpy(c.sig, sqlite3_column_blob(st, 3), SIG_BYTES);
        if ((ret = fn(arg, &c)) != 0)
            goto out;
    }
    ret = rc == SQLITE_DONE ? 0 : fail(db, "read cosignatures");
out:
    sqlite3_finalize(st);
    return ret;
}

/* Walks audit_entries from idx from on db. Returns 0 at the end, fn's
 * non-zero return, or -1 (logged). */
static int walk_entries(sqlite3 *db, uint64_t from, store_audit_entry_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    int ret = -1, rc;

    if (from > INT64_MAX ||
        prepare(db, "SELECT idx, entry FROM audit_entries WHERE idx >= ?1 ORDER BY idx", &st) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 idx = sqlite3_column_int64(st, 0);
        const void *blob = sqlite3_column_blob(st, 1);
        int len = sqlite3_column_bytes(st, 1);

        if ((ret = fn(arg, (uint64_t)idx, blob, len > 0 ? (size_t)len : 0)) != 0)
            goto out;
    }
    ret = rc == SQLITE_DONE ? 0 : fail(db, "read entries");
out:
    sqlite3_finalize(st);
    return ret;
}

static int walk_checkpoints(sqlite3 *db, store_audit_checkpoint_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    struct store_audit_checkpoint cp;
    int ret = -1, rc;

    if (prepare(db,
                "SELECT size, root, at, member, sig, epoch FROM audit_checkpoints ORDER BY size",
                &st) != 0)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (column_checkpoint(st, &cp) != 0)
            goto out;
        if ((ret = fn(arg, &cp)) != 0)
            goto out;
    }
    ret = rc == SQLITE_DONE ? 0 : fail(db, "read checkpoints");
out:
    sqlite3_finalize(st);
    return ret;
}

int store_audit_each(struct store *s, uint64_t from, store_audit_entry_fn fn, void *arg)
{
    return walk_entries(s->db, from, fn, arg);
}

/* Opens DIR's store read-only when it has an audit log. Returns 1 with
 * *db, 0 when there is none, -1 (logged). */
static int open_readonly(const char *dir, sqlite3 **db)
{
    char path[PATH_BYTES];
    sqlite3_stmt *st = NULL;
    int ret = -1;

    *db = NULL;
    if (dir == NULL || (size_t)snprintf(path, sizeof(path), "%s/%s", dir, DB_NAME) >= sizeof(path))
        return -1;
    if (access(path, F_OK) != 0)
        return errno == ENOENT ? 0 : -1;
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
        if (*db != NULL)
            fail(*db, path);
        goto out;
    }
    sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);
    if (prepare(*db, "SELECT 1 FROM sqlite_schema WHERE name = 'audit_entries'", &st) != 0)
        goto out;
    ret = sqlite3_step(st) == SQLITE_ROW ? 1 : 0;
out:
    sqlite3_finalize(st);
    if (ret != 1) {
        sqlite3_close(*db);
        *db = NULL;
    }
    return ret;
}

int store_audit_peek(const char *dir, uint64_t from, store_audit_entry_fn efn,
                     store_audit_checkpoint_fn cfn, void *arg)
{
    sqlite3 *db;
    int ret = open_readonly(dir, &db);

    if (ret != 1)
        return ret;
    /* One read transaction: entries and checkpoints from the same state. */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        ret = fail(db, "begin read");
    else if (efn != NULL && (ret = walk_entries(db, from, efn, arg)) != 0)
        ;
    else if (cfn != NULL && (ret = walk_checkpoints(db, cfn, arg)) != 0)
        ;
    else
        ret = 1;
    sqlite3_close(db);
    return ret;
}

/* Whether db has table name (a store from before a migration lacks it). */
static bool has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool is_there = false;

    if (prepare(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1", &st) == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        is_there = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return is_there;
}

int store_audit_peek_exchange(const char *dir, store_audit_cosignature_fn cfn,
                              store_audit_checkpoint_fn pfn, void *arg)
{
    sqlite3 *db;
    int ret = open_readonly(dir, &db);

    if (ret != 1)
        return ret;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        ret = fail(db, "begin read");
    else if (cfn != NULL && has_table(db, "audit_cosignatures") &&
             (ret = walk_cosignatures(db, cfn, arg)) != 0)
        ;
    else if (pfn != NULL && has_table(db, "audit_peer_checkpoints") &&
             (ret = walk_peers(db, pfn, arg)) != 0)
        ;
    else
        ret = 1;
    sqlite3_close(db);
    return ret;
}

int store_audit_peek_count(const char *dir, uint64_t *rows, uint64_t *end)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int ret = open_readonly(dir, &db);

    *rows = *end = 0;
    if (ret != 1)
        return ret;
    ret = -1;
    if (prepare(db, "SELECT count(*), coalesce(max(idx) + 1, 0) FROM audit_entries", &st) == 0) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            *rows = (uint64_t)sqlite3_column_int64(st, 0);
            *end = (uint64_t)sqlite3_column_int64(st, 1);
            ret = 1;
        } else {
            fail(db, "count entries");
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}
