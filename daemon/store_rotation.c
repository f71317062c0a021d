/*
 * store_rotation: what the store keeps of a key rotation, the heads of the
 * member's own logs when its node first signed with a newer generation.
 * They are what a secretariat lists as the old generation's signed_up_to
 * in the roster that retires it (PROTOCOL.md 3.4). Only SQL lives here;
 * whether and when a generation is replaced is the node's to decide.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "store_internal.h"

static int fail(struct store *s, sqlite3_stmt *st, const char *what)
{
    log_warnx("store: %s: %s", what, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return -1;
}

/* Rare (once per rotation): statements are prepared on the spot. */
int store_rotation_record(struct store *s, const char *member, uint32_t key_id)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (store__check_batch(s, "key switch") != 0)
        return -1;
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM key_switches WHERE key_id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, st, "key switch");
    sqlite3_bind_int64(st, 1, key_id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return fail(s, NULL, "key switch");
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO key_switches (key_id, log_peer, last_seq)"
                           " SELECT ?1, peer, head_seq FROM logs WHERE origin = ?2"
                           " UNION ALL SELECT ?1, '', 0 WHERE NOT EXISTS"
                           " (SELECT 1 FROM logs WHERE origin = ?2 AND peer = '')",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, st, "key switch");
    sqlite3_bind_int64(st, 1, key_id);
    sqlite3_bind_text(st, 2, member, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return fail(s, st, "key switch");
    sqlite3_finalize(st);
    return 1;
}

int store_rotation_heads(struct store *s, uint32_t *key_id, struct store_rotation_head *out,
                         size_t max, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *key_id = 0;
    *n = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT key_id, log_peer, last_seq FROM key_switches"
                           " WHERE key_id = (SELECT max(key_id) FROM key_switches)"
                           " ORDER BY log_peer",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, st, "key switch heads");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *peer = sqlite3_column_text(st, 1);
        sqlite3_int64 seq = sqlite3_column_int64(st, 2);
        *key_id = (uint32_t)sqlite3_column_int64(st, 0);
        if (seq < 1 || *n == max || peer == NULL || strlen((const char *)peer) > UTIL_MEMBER_ID_MAX)
            continue;
        snprintf(out[*n].log_peer, sizeof(out[*n].log_peer), "%s", (const char *)peer);
        out[*n].last_seq = (uint64_t)seq;
        (*n)++;
    }
    if (rc != SQLITE_DONE)
        return fail(s, st, "key switch heads");
    sqlite3_finalize(st);
    return 0;
}
