/*
 * store_internal: what store.c shares with store_board.c, store_seal.c,
 * store_audit.c, store_bundle.c, store_retention.c and store_admission.c and nobody
 * else: the store's handle, its prepared statements and the SQLite plumbing every
 * query uses. Include it only from store*.c: it is the one header that names SQLite
 * types, and only the store speaks SQL.
 */
#ifndef TMBUS_STORE_INTERNAL_H
#define TMBUS_STORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"

/* Every statement the store runs after open, prepared once. */
enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_HEAD,
    ST_LOG_UPSERT,
    ST_ENV_INSERT,
    ST_ENV_GET,
    ST_ENV_RANGE,
    ST_EVIDENCE_INSERT,
    ST_HALT,
    ST_EACH_LOG,
    ST_INBOX_INSERT,
    ST_INBOX_FIND,
    ST_INBOX_NEXT,
    ST_INBOX_LAST,
    ST_CURSOR_GET,
    ST_CURSOR_SET,
    ST_COUNT,
    ST_BOARD_NEED_PUT,
    ST_BOARD_NEED_EACH,
    ST_BOARD_NEED_GET,
    ST_BOARD_NEED_VIEW,
    ST_BOARD_OFFER_PUT,
    ST_BOARD_OFFER_DROP,
    ST_BOARD_OFFER_EACH,
    ST_BOARD_OFFER_GET,
    ST_BOARD_UPDATE_PUT,
    ST_BOARD_WAITING,
    ST_BOARD_KNOWS,
    ST_BOARD_CLUSTER,
    ST_BOARD_NEED_UNFILLED,
    ST_BOARD_OFFER_UNFILLED,
    ST_BOARD_NEED_FACTS,
    ST_BOARD_OFFER_FACTS,
    ST_BOARD_DIGEST_GET,
    ST_BOARD_DIGEST_SET,
    ST_BOARD_COUNT_UP,
    ST_BOARD_COUNT_DOWN,
    ST_BOARD_COUNTS,
    ST_DELIVERY_ADD,
    ST_DELIVERY_FIND,
    ST_DELIVERY_SET,
    ST_DELIVERY_GET,
    ST_POST_CLIENT_SET,
    ST_POST_CLIENT_GET,
    ST_COUNTER_PUT,
    ST_COUNT_
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT_];
    int lock_fd;
    bool is_in_batch;
    bool is_full; /* the last write failed for want of disk space (store_is_full) */
    uint8_t *key; /* the data key: STORE_KEY_BYTES of sodium_malloc memory, read-only */
    /* The member's store keys, current and previous (NULL: none), kept
     * only while store_open unwraps the data key (store_seal.c). */
    uint8_t *kek, *kek_previous;
};

/* The board tables' statements (store_board.c), indexed like st; NULL for
 * every other statement. store_open prepares them with the rest. */
extern const char *const store__board_sql[ST_COUNT_];

/* The board_counts table (schema 17), and the SQL that fills the empty
 * table from the board's rows: the migration runs both, store_board.c's
 * recount the second when the kept counts are found out of step. */
#define STORE_BOARD_COUNTS_TABLE                                                                   \
    "CREATE TABLE board_counts ("                                                                  \
    "  kind   INTEGER NOT NULL CHECK (kind IN (0, 1)),"                                            \
    "  status INTEGER NOT NULL,"                                                                   \
    "  n      INTEGER NOT NULL CHECK (n >= 0),"                                                    \
    "  PRIMARY KEY (kind, status)"                                                                 \
    ") WITHOUT ROWID;"
#define STORE_BOARD_COUNTS_FILL                                                                    \
    "INSERT INTO board_counts (kind, status, n)"                                                   \
    "  SELECT 0, status, count(*) FROM board_needs GROUP BY status;"                               \
    "INSERT INTO board_counts (kind, status, n)"                                                   \
    "  SELECT 1, status, count(*) FROM board_offers GROUP BY status;"

/* ---- sealing at rest (store_seal.c) ---- */

/* A sealed blob: a 24-byte random nonce, then XChaCha20-Poly1305 of the
 * plaintext under the store key with associated data "tmbus store v1\0",
 * the column's "table.column" name and its NUL, and the row's 32-byte id. */
#define STORE_SEAL_OVERHEAD (24 + 16)

/* Copies the member's store key, and the previous one when a rotation
 * left one (NULL: none), into sodium_malloc memory until
 * store__key_check has unwrapped the data key with one of them;
 * store__key_free wipes and frees every key. Return 0 or -1 (logged). */
int store__key_set(struct store *s, const uint8_t *key, const uint8_t *previous);
void store__key_free(struct store *s);

/* Seals len bytes of plain for column of the row id (STORE_HASH_BYTES)
 * into a malloc'd *out of len + STORE_SEAL_OVERHEAD bytes that the caller
 * frees. Returns 0 or -1 (logged). */
int store__seal(const struct store *s, const char *column, const uint8_t *id, const uint8_t *plain,
                size_t len, uint8_t **out, size_t *out_len);

/* Opens a blob sealed for column of the row id into a malloc'd *out (at
 * least one byte allocated, even for an empty plaintext) that the caller
 * frees. Returns 0, or -1 (logged, *out NULL) when it does not
 * authenticate: altered, moved from another row or column, or sealed with
 * another key. */
int store__unseal(const struct store *s, const char *column, const uint8_t *id,
                  const uint8_t *sealed, size_t len, uint8_t **out, size_t *out_len)
    __attribute__((warn_unused_result));

/* Inside the open migration transaction, once the key_check table exists:
 * sets s->key to the data key, unwrapped from the key_check row with the
 * member's key (or with the previous one, then wrapped again for the
 * current one), or made at random and wrapped when there is no row yet;
 * then forgets the member's keys. Does nothing when s->key is set. Returns
 * 0 or -1 (logged: the store belongs to other member keys). */
int store__key_check(struct store *s, const char *path);

/* Inside the open migration transaction: seals in place every blob of a
 * store written before sealing, counting the rows in *n. Returns 0 or -1. */
int store__seal_existing(struct store *s, uint64_t *n);

/* Returns a statement to its pristine state; bound pointers into the
 * caller's memory are dropped here, so nothing dangles. */
void store__done(sqlite3_stmt *st);

/* Steps st once. Returns SQLITE_ROW, SQLITE_DONE, or -1 (logged). */
int store__step(struct store *s, sqlite3_stmt *st, const char *what);

/* Runs a cached statement that returns no rows. Returns 0 or -1 (logged). */
int store__run(struct store *s, enum stmt which, const char *what);

/* 0 inside a batch that SQLite has not rolled back; else -1 (logged). */
int store__check_batch(const struct store *s, const char *what);

/* 0 if log names a log (origin a member id, peer "" or one); else -1
 * (logged). */
int store__check_log(const struct store_log *log, const char *what);

/* Copy a column that must be a 32-byte id, a non-negative integer or a
 * member id; a bad one means a corrupt database. Return 0 or -1 (logged). */
int store__column_id(sqlite3_stmt *st, int col, uint8_t *out);
int store__column_u64(sqlite3_stmt *st, int col, uint64_t *out);
int store__column_member(sqlite3_stmt *st, int col, char *out);

#endif
