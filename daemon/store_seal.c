/*
 * store_seal: the store's encryption at rest. Every payload-bearing blob
 * the store keeps (see store.h) is sealed here on its way in and opened on
 * its way out, with the key the node derived from the member's secrets
 * (keys_derive_store_key) and handed to store_open. It owns the sealed
 * format and the one-time conversion of a store written before sealing;
 * it must never log a blob's contents or return bytes that failed to
 * authenticate.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "store_internal.h"

#define SEAL_LABEL  "tmbus store v1" /* with its NUL, first in every AD */
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define COLUMN_MAX  64 /* longest "table.column" name */
#define AD_MAX      (sizeof(SEAL_LABEL) + COLUMN_MAX + 1 + STORE_HASH_BYTES)

_Static_assert(NONCE_BYTES + TAG_BYTES == STORE_SEAL_OVERHEAD, "sealed format");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == STORE_KEY_BYTES, "key size");

/* The associated data binds a blob to its place: the label, the column's
 * name and its NUL, and the row's id. A blob copied to another row or
 * column fails to open. Returns the length, or 0 for a bad column name. */
static size_t make_ad(const char *column, const uint8_t *id, uint8_t ad[AD_MAX])
{
    size_t n = strnlen(column, COLUMN_MAX + 1);

    if (n == 0 || n > COLUMN_MAX)
        return 0;
    memcpy(ad, SEAL_LABEL, sizeof(SEAL_LABEL));
    memcpy(ad + sizeof(SEAL_LABEL), column, n + 1);
    memcpy(ad + sizeof(SEAL_LABEL) + n + 1, id, STORE_HASH_BYTES);
    return sizeof(SEAL_LABEL) + n + 1 + STORE_HASH_BYTES;
}

/* A copy of a 32-byte key in sodium_malloc memory, or NULL (logged). */
static uint8_t *key_copy(const uint8_t *key)
{
    uint8_t *k = sodium_malloc(STORE_KEY_BYTES);

    if (k == NULL) {
        log_warn("store: sodium_malloc");
        return NULL;
    }
    if (key != NULL)
        memcpy(k, key, STORE_KEY_BYTES);
    else
        randombytes_buf(k, STORE_KEY_BYTES);
    return k;
}

int store__key_set(struct store *s, const uint8_t *key, const uint8_t *previous)
{
    if (key == NULL) {
        log_warnx("store: no store key");
        return -1;
    }
    /* As keys.c does: a store opened before main's sodium_init (tests,
     * tools) must not find sodium_malloc uninitialised. */
    if (sodium_init() < 0) {
        log_warnx("store: libsodium failed to initialise");
        return -1;
    }
    if ((s->kek = key_copy(key)) == NULL ||
        (previous != NULL && (s->kek_previous = key_copy(previous)) == NULL))
        return -1;
    return 0;
}

/* The key-encryption keys are needed only until store__key_check has the
 * data key. */
static void forget_keks(struct store *s)
{
    if (s->kek != NULL)
        sodium_free(s->kek);
    if (s->kek_previous != NULL)
        sodium_free(s->kek_previous);
    s->kek = s->kek_previous = NULL;
}

void store__key_free(struct store *s)
{
    forget_keks(s);
    if (s->key != NULL)
        sodium_free(s->key);
    s->key = NULL;
}

int store__seal(const struct store *s, const char *column, const uint8_t *id, const uint8_t *plain,
                size_t len, uint8_t **out, size_t *out_len)
{
    uint8_t ad[AD_MAX];
    size_t ad_len = make_ad(column, id, ad);
    unsigned long long clen;
    uint8_t *buf;

    *out = NULL;
    *out_len = 0;
    if (ad_len == 0 || (plain == NULL && len > 0) || len > STORE_BOARD_BLOB_MAX) {
        log_warnx("store: seal %s: invalid blob", column);
        return -1;
    }
    if ((buf = malloc(NONCE_BYTES + len + TAG_BYTES)) == NULL) {
        log_warn("store: malloc");
        return -1;
    }
    /* A random 192-bit nonce per blob: no counter to keep, and no risk of
     * reuse across restarts or copies of the directory. */
    randombytes_buf(buf, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(buf + NONCE_BYTES, &clen, len > 0 ? plain : buf, len,
                                               ad, ad_len, NULL, buf, s->key);
    *out = buf;
    *out_len = NONCE_BYTES + (size_t)clen;
    return 0;
}

int store__unseal(const struct store *s, const char *column, const uint8_t *id,
                  const uint8_t *sealed, size_t len, uint8_t **out, size_t *out_len)
{
    uint8_t ad[AD_MAX];
    size_t ad_len = make_ad(column, id, ad);
    unsigned long long plen;
    uint8_t *buf;

    *out = NULL;
    *out_len = 0;
    if (ad_len == 0 || sealed == NULL || len < STORE_SEAL_OVERHEAD ||
        len > STORE_BOARD_BLOB_MAX + STORE_SEAL_OVERHEAD) {
        log_warnx("store: %s: corrupt sealed blob", column);
        return -1;
    }
    /* One byte more than the plaintext, so that an empty blob still gets
     * its own allocation. */
    if ((buf = malloc(len - STORE_SEAL_OVERHEAD + 1)) == NULL) {
        log_warn("store: malloc");
        return -1;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, &plen, NULL, sealed + NONCE_BYTES,
                                                   len - NONCE_BYTES, ad, ad_len, sealed,
                                                   s->key) != 0) {
        log_warnx("store: %s: a sealed blob does not authenticate (altered, moved to another row,"
                  " or sealed with another member's key)",
                  column);
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = (size_t)plen;
    return 0;
}

/* ---- the data key ------------------------------------------------------ */

/* The board's blobs are sealed with a random data key. The store keeps it
 * in its one key_check row, wrapped (XChaCha20-Poly1305, AD the label and
 * "key_check.sealed") under the key the node derives from the member's
 * secrets. The indirection is what lets a member rotate its keys: the
 * first start on the new keys, given the previous key file, wraps the same
 * data key again instead of sealing every row anew. */
#define WRAP_AD     SEAL_LABEL "\0key_check.sealed"
#define WRAPPED_LEN (NONCE_BYTES + STORE_KEY_BYTES + TAG_BYTES)

static void wrap(const uint8_t *kek, const uint8_t *key, uint8_t out[WRAPPED_LEN])
{
    randombytes_buf(out, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_BYTES, NULL, key, STORE_KEY_BYTES,
                                               (const uint8_t *)WRAP_AD, sizeof(WRAP_AD), NULL, out,
                                               kek);
}

static int unwrap(const uint8_t *kek, const uint8_t *wrapped, size_t len, uint8_t *key)
{
    if (kek == NULL || len != WRAPPED_LEN)
        return -1;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL, wrapped + NONCE_BYTES,
                                                      len - NONCE_BYTES, (const uint8_t *)WRAP_AD,
                                                      sizeof(WRAP_AD), wrapped, kek);
}

static int put_wrapped(struct store *s, const char *sql, const uint8_t *kek)
{
    uint8_t wrapped[WRAPPED_LEN];
    sqlite3_stmt *st = NULL;
    int ret = -1;

    wrap(kek, s->key, wrapped);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_warnx("store: key check: %s", sqlite3_errmsg(s->db));
        goto out;
    }
    sqlite3_bind_blob(st, 1, wrapped, (int)sizeof(wrapped), SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        log_warnx("store: key check: %s", sqlite3_errmsg(s->db));
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

int store__key_check(struct store *s, const char *path)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = -1;

    if (s->key != NULL)
        return 0;
    if ((s->key = key_copy(NULL)) == NULL)
        return -1;
    if (sqlite3_prepare_v2(s->db, "SELECT sealed FROM key_check WHERE one = 1", -1, &st, NULL) !=
        SQLITE_OK) {
        log_warnx("store: key check: %s", sqlite3_errmsg(s->db));
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        /* A new store, or one being converted: its data key is the random
         * one just made. */
        sqlite3_finalize(st);
        st = NULL;
        ret = put_wrapped(s, "INSERT INTO key_check (one, sealed) VALUES (1, ?1)", s->kek);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        log_warnx("store: key check: %s", sqlite3_errmsg(s->db));
        goto out;
    }
    const uint8_t *p = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);

    if (p != NULL && unwrap(s->kek, p, n, s->key) == 0) {
        ret = 0;
        goto out;
    }
    if (p != NULL && unwrap(s->kek_previous, p, n, s->key) == 0) {
        sqlite3_finalize(st);
        st = NULL;
        ret = put_wrapped(s, "UPDATE key_check SET sealed = ?1 WHERE one = 1", s->kek);
        if (ret == 0)
            log_info("store: %s: the data key is wrapped for the current member keys now;"
                     " previous_keys can leave the configuration",
                     path);
        goto out;
    }
    log_warnx("store: %s belongs to other member keys than the ones loaded: after a rotation,"
              " start once with previous_keys naming the key file it was written with",
              path);
out:
    sqlite3_finalize(st);
    if (ret != 0) {
        sodium_free(s->key);
        s->key = NULL;
    } else {
        sodium_mprotect_readonly(s->key);
    }
    forget_keks(s);
    return ret;
}

/* ---- converting a store written before sealing ------------------------- */

/* The blob columns the store seals, with the row id each is bound to. */
static const struct {
    const char *table, *id, *blob, *column;
} sealed_columns[] = {
    {"board_needs", "id", "need", "board_needs.need"},
    {"board_offers", "id", "offer", "board_offers.offer"},
    {"board_updates", "id", "body", "board_updates.body"},
};

/* Seals every blob of one column in place, a row at a time in rowid order.
 * Adds the rows converted to *n. Returns 0 or -1 (logged). */
static int seal_column(struct store *s, size_t c, uint64_t *n)
{
    char sql_next[256], sql_set[256];
    sqlite3_stmt *next = NULL, *set = NULL;
    sqlite3_int64 rowid = 0;
    int rc, ret = -1;

    snprintf(sql_next, sizeof(sql_next),
             "SELECT rowid, %s, %s FROM %s WHERE rowid > ?1 ORDER BY rowid LIMIT 1",
             sealed_columns[c].id, sealed_columns[c].blob, sealed_columns[c].table);
    snprintf(sql_set, sizeof(sql_set), "UPDATE %s SET %s = ?1 WHERE rowid = ?2",
             sealed_columns[c].table, sealed_columns[c].blob);
    if (sqlite3_prepare_v2(s->db, sql_next, -1, &next, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, sql_set, -1, &set, NULL) != SQLITE_OK) {
        log_warnx("store: sealing %s: %s", sealed_columns[c].column, sqlite3_errmsg(s->db));
        goto out;
    }
    for (;;) {
        uint8_t *sealed = NULL;
        size_t sealed_len;
        const uint8_t *id, *plain;
        int plain_len;

        sqlite3_bind_int64(next, 1, rowid);
        if ((rc = sqlite3_step(next)) == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            log_warnx("store: sealing %s: %s", sealed_columns[c].column, sqlite3_errmsg(s->db));
            goto out;
        }
        rowid = sqlite3_column_int64(next, 0);
        id = sqlite3_column_blob(next, 1);
        plain = sqlite3_column_blob(next, 2);
        plain_len = sqlite3_column_bytes(next, 2);
        if (id == NULL || sqlite3_column_bytes(next, 1) != STORE_HASH_BYTES || plain_len < 0 ||
            store__seal(s, sealed_columns[c].column, id, plain, (size_t)plain_len, &sealed,
                        &sealed_len) != 0) {
            log_warnx("store: sealing %s: a corrupt row", sealed_columns[c].column);
            goto out;
        }
        sqlite3_bind_blob(set, 1, sealed, (int)sealed_len, SQLITE_STATIC);
        sqlite3_bind_int64(set, 2, rowid);
        rc = sqlite3_step(set);
        sqlite3_reset(set);
        sqlite3_reset(next);
        free(sealed);
        if (rc != SQLITE_DONE) {
            log_warnx("store: sealing %s: %s", sealed_columns[c].column, sqlite3_errmsg(s->db));
            goto out;
        }
        (*n)++;
    }
    ret = 0;
out:
    sqlite3_finalize(next);
    sqlite3_finalize(set);
    return ret;
}

int store__seal_existing(struct store *s, uint64_t *n)
{
    *n = 0;
    for (size_t c = 0; c < sizeof(sealed_columns) / sizeof(sealed_columns[0]); c++)
        if (seal_column(s, c, n) != 0)
            return -1;
    return 0;
}
