/*
 * store_bundle: a read-only view of a node's store for `tmbus-admin bundle
 * vector` and `bundle export`: the logs and their heads, and ranges of
 * envelopes, read in one transaction so that every read sees one state.
 * It opens the database read-only, without the node's lock and without
 * migrating, so it runs beside a running node (WAL readers never block the
 * writer); it never writes, and needs no key (envelopes are ciphertext).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "store_internal.h"

#define DB_NAME         "tmbus.db" /* as store.c */
#define PATH_BYTES      4096
#define BUSY_TIMEOUT_MS 5000

struct store_view {
    sqlite3 *db;
    sqlite3_stmt *logs, *range, *id, *sizes;
};

static int view_fail(struct store_view *v, const char *what)
{
    log_warnx("store: %s: %s", what, sqlite3_errmsg(v->db));
    return -1;
}

void store_view_close(struct store_view **vp)
{
    struct store_view *v;

    if (vp == NULL || (v = *vp) == NULL)
        return;
    sqlite3_finalize(v->logs);
    sqlite3_finalize(v->range);
    sqlite3_finalize(v->id);
    sqlite3_finalize(v->sizes);
    if (v->db != NULL) {
        sqlite3_exec(v->db, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(v->db);
    }
    free(v);
    *vp = NULL;
}

int store_view_open(const char *dir, struct store_view **out)
{
    char path[PATH_BYTES];
    struct store_view *v;

    *out = NULL;
    if (dir == NULL || (size_t)snprintf(path, sizeof(path), "%s/%s", dir, DB_NAME) >= sizeof(path))
        return -1;
    if (access(path, F_OK) != 0) {
        if (errno == ENOENT)
            return 0;
        log_warn("store: %s", path);
        return -1;
    }
    if ((v = calloc(1, sizeof(*v))) == NULL) {
        log_warnx("store: out of memory");
        return -1;
    }
    if (sqlite3_open_v2(path, &v->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) !=
        SQLITE_OK) {
        if (v->db != NULL)
            view_fail(v, path);
        store_view_close(&v);
        return -1;
    }
    sqlite3_busy_timeout(v->db, BUSY_TIMEOUT_MS);
    /* One read transaction: heads and ranges from the same commit. */
    if (sqlite3_exec(v->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(v->db,
                           "SELECT origin, peer, head_seq, head_id, halted FROM logs"
                           " ORDER BY origin, peer",
                           -1, &v->logs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(v->db,
                           "SELECT seq, data FROM envelopes WHERE origin = ?1 AND peer = ?2"
                           " AND seq BETWEEN ?3 AND ?4 ORDER BY seq",
                           -1, &v->range, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(v->db,
                           "SELECT id FROM envelopes WHERE origin = ?1 AND peer = ?2 AND seq = ?3",
                           -1, &v->id, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(v->db,
                           "SELECT length(data) FROM envelopes WHERE origin = ?1 AND peer = ?2"
                           " AND seq BETWEEN ?3 AND ?4 ORDER BY seq",
                           -1, &v->sizes, NULL) != SQLITE_OK) {
        view_fail(v, "open a read-only view");
        store_view_close(&v);
        return -1;
    }
    *out = v;
    return 1;
}

int store_view_each_log(struct store_view *v, store_log_fn fn, void *arg)
{
    struct entry {
        struct store_log log;
        struct store_head head;
    } *all = NULL, *grown;
    size_t n = 0, cap = 0;
    int rc, ret = -1;

    /* Read first, called after: fn may read ranges meanwhile. */
    while ((rc = sqlite3_step(v->logs)) == SQLITE_ROW) {
        const unsigned char *origin = sqlite3_column_text(v->logs, 0);
        const unsigned char *peer = sqlite3_column_text(v->logs, 1);
        struct entry *e;

        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            if ((grown = realloc(all, cap * sizeof(*all))) == NULL) {
                log_warnx("store: out of memory");
                goto out;
            }
            all = grown;
        }
        e = &all[n];
        memset(e, 0, sizeof(*e));
        if (origin == NULL || peer == NULL ||
            (size_t)sqlite3_column_bytes(v->logs, 0) >= sizeof(e->log.origin) ||
            (size_t)sqlite3_column_bytes(v->logs, 1) >= sizeof(e->log.peer)) {
            log_warnx("store: corrupt log name");
            goto out;
        }
        memcpy(e->log.origin, origin, (size_t)sqlite3_column_bytes(v->logs, 0));
        memcpy(e->log.peer, peer, (size_t)sqlite3_column_bytes(v->logs, 1));
        if (store__column_u64(v->logs, 2, &e->head.seq) != 0 ||
            store__column_id(v->logs, 3, e->head.id) != 0)
            goto out;
        e->head.is_halted = sqlite3_column_int(v->logs, 4) != 0;
        n++;
    }
    if (rc != SQLITE_DONE) {
        view_fail(v, "list logs");
        goto out;
    }
    ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++)
        ret = fn(arg, &all[i].log, &all[i].head);
out:
    sqlite3_reset(v->logs);
    free(all);
    return ret;
}

int store_view_range(struct store_view *v, const struct store_log *log, uint64_t from, uint64_t to,
                     store_range_fn fn, void *arg)
{
    uint64_t expect = from;
    int rc, took, taken = 0;

    if (from == 0 || to < from || to > INT64_MAX)
        return 0;
    sqlite3_bind_text(v->range, 1, log->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(v->range, 2, log->peer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(v->range, 3, (sqlite3_int64)from);
    sqlite3_bind_int64(v->range, 4, (sqlite3_int64)to);
    while ((rc = sqlite3_step(v->range)) == SQLITE_ROW) {
        const void *data = sqlite3_column_blob(v->range, 1);
        int n = sqlite3_column_bytes(v->range, 1);

        if ((uint64_t)sqlite3_column_int64(v->range, 0) != expect || data == NULL || n <= 0) {
            log_warnx("store: range %s/%s: corrupt envelope at seq %llu", log->origin, log->peer,
                      (unsigned long long)expect);
            taken = -1;
            break;
        }
        if ((took = fn(arg, expect, data, (size_t)n)) != 0) {
            if (took < 0)
                taken = -1;
            break;
        }
        taken++;
        expect++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW && taken >= 0) {
        view_fail(v, "range of envelopes");
        taken = -1;
    }
    sqlite3_reset(v->range);
    sqlite3_clear_bindings(v->range);
    return taken;
}

int store_view_id(struct store_view *v, const struct store_log *log, uint64_t seq, uint8_t *id)
{
    int rc, ret = -1;

    sqlite3_bind_text(v->id, 1, log->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(v->id, 2, log->peer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(v->id, 3, (sqlite3_int64)seq);
    rc = sqlite3_step(v->id);
    if (rc == SQLITE_ROW)
        ret = store__column_id(v->id, 0, id) == 0 ? 1 : -1;
    else if (rc == SQLITE_DONE)
        ret = 0;
    else
        view_fail(v, "read an envelope id");
    sqlite3_reset(v->id);
    sqlite3_clear_bindings(v->id);
    return ret;
}

int64_t store_view_fit(struct store_view *v, const struct store_log *log, uint64_t from,
                       uint64_t to, uint64_t budget, uint64_t overhead)
{
    uint64_t used = 0;
    int64_t n = 0;
    int rc;

    if (from == 0 || to < from || to > INT64_MAX)
        return 0;
    sqlite3_bind_text(v->sizes, 1, log->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(v->sizes, 2, log->peer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(v->sizes, 3, (sqlite3_int64)from);
    sqlite3_bind_int64(v->sizes, 4, (sqlite3_int64)to);
    /* length() of a blob reads the record's header, not the blob. */
    while ((rc = sqlite3_step(v->sizes)) == SQLITE_ROW) {
        uint64_t cost = (uint64_t)sqlite3_column_int64(v->sizes, 0) + overhead;
        if (cost > budget - used)
            break;
        used += cost;
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        n = view_fail(v, "sizes of envelopes");
    sqlite3_reset(v->sizes);
    sqlite3_clear_bindings(v->sizes);
    return n;
}
