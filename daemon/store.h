/*
 * store: the node's durable state in one SQLite file (WAL,
 * synchronous=FULL): every log's envelopes as ciphertext, equivocation
 * evidence, the inbox of envelopes addressed to this member with local
 * delivery numbers, and client cursors. The only module that speaks SQL;
 * nothing here parses envelopes or holds keys. One writer: the event loop.
 *
 * Writes happen inside a batch (store_begin .. store_commit): the loop
 * gathers many appends into one transaction (group commit) and only after
 * store_commit returns 0 does anything that was appended count as
 * acknowledged. A failed commit rolls the whole batch back.
 */
#ifndef TMBUS_STORE_H
#define TMBUS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define STORE_HASH_BYTES 32
#define STORE_CLIENT_MAX 64 /* longest client name */
#define STORE_SCHEMA     1  /* schema version this build migrates to */

/* Names one log: an origin's relayed log (peer == "") or the direct log
 * from origin to peer. */
struct store_log {
    char origin[UTIL_MEMBER_ID_MAX + 1];
    char peer[UTIL_MEMBER_ID_MAX + 1];
};

/* A log's head: the highest seq held (0 when empty) and that envelope's
 * id (zeros when empty). halted is set once equivocation was seen. */
struct store_head {
    uint64_t seq;
    uint8_t id[STORE_HASH_BYTES];
    bool is_halted;
};

/* One envelope to append, already verified by the caller. */
struct store_entry {
    struct store_log log;
    uint64_t seq;
    const uint8_t *id;   /* STORE_HASH_BYTES */
    const uint8_t *prev; /* STORE_HASH_BYTES or NULL when seq == 1 */
    int64_t expires_at;  /* 0: never */
    const uint8_t *envelope;
    size_t envelope_len;
};

struct store;

/* Opens (creating if needed) DIR/tmbus.db, sets WAL and synchronous=FULL,
 * and migrates the schema to STORE_SCHEMA in one transaction. Refuses a
 * database whose schema is newer than this build knows. Returns NULL on
 * failure (logged). Blocks on disk. */
struct store *store_open(const char *dir);

/* Rolls back an open batch, closes, frees, sets *sp to NULL. Accepts NULL. */
void store_close(struct store **sp);

/* Starts a batch if none is open (BEGIN IMMEDIATE). Returns 0 or -1. */
int store_begin(struct store *s);

/* Commits the open batch; returns 0 only once it is durable. On failure the
 * batch is rolled back and -1 returned: nothing in it may be acked. A call
 * with no open batch returns 0. */
int store_commit(struct store *s);

/* Rolls back the open batch, if any. */
void store_rollback(struct store *s);

/* Groups several writes inside the open batch: store_group_end with
 * is_kept false undoes every write since the matching store_group_begin and
 * leaves the rest of the batch intact (a SQLite savepoint; groups nest).
 * store_group_end returns -1 when undoing, or on a database error. */
int store_group_begin(struct store *s);
int store_group_end(struct store *s, bool is_kept);

/* True while a batch is open. */
bool store_in_batch(const struct store *s);

/* Fills *out with the log's head (seq 0 for an unknown log). Returns 0 or
 * -1 on a database error. */
int store_head(struct store *s, const struct store_log *log, struct store_head *out);

/* Appends e inside the open batch. The store enforces, as invariants, that
 * e->seq == head + 1, that e->prev equals the head's id, and that the log is
 * not halted: it returns -1 (logged) on any violation without writing. The
 * caller checks these first and treats them as protocol errors. */
int store_append(struct store *s, const struct store_entry *e);

/* Looks up the envelope at (log, seq). Returns 1 and a malloc'd copy in
 * *env (caller frees), 0 when absent, -1 on error. id (may be NULL) gets
 * its id; env and len must not be NULL. */
int store_get(struct store *s, const struct store_log *log, uint64_t seq, uint8_t **env,
              size_t *len, uint8_t *id);

/* Keeps a second, different envelope for an occupied (log, seq) as
 * equivocation evidence and halts the log: no further appends, and
 * replication stops relaying it. Inside the open batch. Returns 0 or -1;
 * -1 also when (log, seq) holds nothing or holds exactly env. The same
 * evidence kept twice is stored once. */
int store_add_evidence(struct store *s, const struct store_log *log, uint64_t seq,
                       const uint8_t *env, size_t len);

/* Calls fn for every log held, in (origin, peer) order, with its head.
 * The logs are read before the first call, so fn may use the store.
 * Returns 0, -1 on error, or fn's first non-zero return. */
typedef int (*store_log_fn)(void *arg, const struct store_log *log, const struct store_head *head);
int store_each_log(struct store *s, store_log_fn fn, void *arg);

/* ---- inbox: envelopes addressed to this member ----------------------- */

/* What the inbox records about a delivered envelope; the payload itself is
 * never stored in cleartext: it is opened again when read. */
struct store_inbox_entry {
    uint64_t number; /* local delivery number, 1, 2, 3 … */
    struct store_log log;
    uint64_t seq;
    uint8_t id[STORE_HASH_BYTES];
    int64_t expires_at;
};

/* Adds the envelope at (log, seq) to the inbox inside the open batch and
 * returns its delivery number in *number. Adding the same (log, seq) twice
 * returns the existing number. Returns 0 or -1; -1 also when no envelope
 * with that id is held at (log, seq). */
int store_inbox_add(struct store *s, const struct store_log *log, uint64_t seq, const uint8_t *id,
                    int64_t expires_at, uint64_t *number);

/* The first inbox entry with number > after. Returns 1 and fills *out, 0
 * when there is none, -1 on error. */
int store_inbox_next(struct store *s, uint64_t after, struct store_inbox_entry *out);

/* Highest delivery number so far (0 when empty). Returns 0 or -1. */
int store_inbox_last(struct store *s, uint64_t *number);

/* ---- client cursors --------------------------------------------------- */

/* A client's durable cursor: the last delivery number it acked (0 when it
 * never acked). Returns 0 or -1. */
int store_cursor_get(struct store *s, const char *client, uint64_t *acked);

/* Moves a client's cursor forward inside the open batch; a cursor never
 * moves back (a smaller value is ignored). Returns 0 or -1. */
int store_cursor_set(struct store *s, const char *client, uint64_t acked);

/* ---- counters --------------------------------------------------------- */

/* Number of envelopes held in all logs, and in evidence. Returns 0 or -1. */
int store_count(struct store *s, uint64_t *envelopes, uint64_t *evidence);

#endif
