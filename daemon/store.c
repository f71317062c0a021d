/*
 * store: the node's durable state in DIR/tmbus.db, behind the interface in
 * store.h. It owns the SQLite connection, the schema and its migrations, the
 * prepared statements, an exclusive lock file that keeps a second tmbusd
 * off the same directory, and the tables of logs, evidence, inbox, client
 * cursors, delivery state and the trusted roster; the board's tables are
 * store_board.c's and sealing at rest is store_seal.c's. It re-checks the
 * log invariants (seq == head + 1, prev == head id, not halted) on every
 * append, and it must never write outside a batch, log a blob's contents or
 * let a partial append survive.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "stats.h"
#include "store_internal.h"

#define DB_NAME          "tmbus.db"
#define ROSTER_BLOB_MAX  (1024 * 1024) /* ROSTER_MAX_SIZE; the store does not see roster.h */
#define LOCK_NAME        "tmbus.lock"
#define PATH_BYTES       4096
#define BUSY_TIMEOUT_MS  5000
#define SYNCHRONOUS_FULL 2 /* what PRAGMA synchronous answers for FULL */
/* SQLite's page cache, in KiB. The store is read by primary key and
 * appended at the end, so a modest cache loses little, and it bounds the
 * node's memory whatever the store grows to (PROTOCOL.md, limits); 8 MiB
 * holds a loop round's transaction without spilling pages mid-way. */
#define CACHE_KIB        "8192" /* (configure) */
#define CHECKPOINT_PAGES "4000" /* WAL pages before a checkpoint (configure) */

/* Migrations: steps[i] takes the schema from version i to i + 1. A step is
 * never edited once released; a change is a new step. All pending steps and
 * the new user_version are applied in one transaction. */
static const char *const migrations[STORE_SCHEMA] = {
    /* 0 -> 1 */
    "CREATE TABLE logs ("
    "  origin   TEXT NOT NULL,"
    "  peer     TEXT NOT NULL,"
    "  head_seq INTEGER NOT NULL CHECK (head_seq >= 0),"
    "  head_id  BLOB NOT NULL CHECK (length(head_id) = 32),"
    "  halted   INTEGER NOT NULL DEFAULT 0 CHECK (halted IN (0, 1)),"
    "  PRIMARY KEY (origin, peer)"
    ") WITHOUT ROWID;"
    /* A rowid table: rows carry ciphertext of a kilobyte or more, which
     * WITHOUT ROWID b-trees handle poorly. */
    "CREATE TABLE envelopes ("
    "  origin     TEXT NOT NULL,"
    "  peer       TEXT NOT NULL,"
    "  seq        INTEGER NOT NULL CHECK (seq >= 1),"
    "  id         BLOB NOT NULL UNIQUE CHECK (length(id) = 32),"
    "  prev       BLOB CHECK (prev IS NULL OR length(prev) = 32),"
    "  expires_at INTEGER NOT NULL,"
    "  data       BLOB NOT NULL,"
    "  PRIMARY KEY (origin, peer, seq),"
    "  FOREIGN KEY (origin, peer) REFERENCES logs (origin, peer)"
    ");"
    "CREATE TABLE evidence ("
    "  origin  TEXT NOT NULL,"
    "  peer    TEXT NOT NULL,"
    "  seq     INTEGER NOT NULL,"
    "  data    BLOB NOT NULL,"
    "  seen_at INTEGER NOT NULL,"
    "  UNIQUE (origin, peer, seq, data),"
    "  FOREIGN KEY (origin, peer, seq) REFERENCES envelopes (origin, peer, seq)"
    ");"
    /* AUTOINCREMENT: a delivery number is never reused, even if rows are
     * deleted one day, because client cursors point at numbers. */
    "CREATE TABLE inbox ("
    "  number     INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  origin     TEXT NOT NULL,"
    "  peer       TEXT NOT NULL,"
    "  seq        INTEGER NOT NULL,"
    "  id         BLOB NOT NULL CHECK (length(id) = 32),"
    "  expires_at INTEGER NOT NULL,"
    "  UNIQUE (origin, peer, seq),"
    "  FOREIGN KEY (origin, peer, seq) REFERENCES envelopes (origin, peer, seq)"
    ");"
    "CREATE TABLE cursors ("
    "  client TEXT PRIMARY KEY CHECK (length(client) BETWEEN 1 AND 64),"
    "  acked  INTEGER NOT NULL CHECK (acked >= 0)"
    ") WITHOUT ROWID;",
    /* 1 -> 2: the board. Codes (status, kind, action, outcome) are the board
     * module's; the store only keeps them. Updates are a rowid table so that
     * waiting ones come back in the order they were recorded. */
    "CREATE TABLE board_needs ("
    "  id         BLOB PRIMARY KEY CHECK (length(id) = 32),"
    "  owner      TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  status     INTEGER NOT NULL,"
    "  tlp        INTEGER NOT NULL,"
    "  category   INTEGER NOT NULL,"
    "  quantity   INTEGER NOT NULL CHECK (quantity >= 0),"
    "  accepted   INTEGER NOT NULL CHECK (accepted >= 0),"
    "  delivered  INTEGER NOT NULL CHECK (delivered >= 0),"
    "  need       BLOB NOT NULL"
    ");"
    "CREATE INDEX board_needs_status ON board_needs (status, created_at);"
    "CREATE TABLE board_offers ("
    "  id         BLOB PRIMARY KEY CHECK (length(id) = 32),"
    "  donor      TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  need_id    BLOB CHECK (need_id IS NULL OR length(need_id) = 32),"
    "  status     INTEGER NOT NULL,"
    "  tlp        INTEGER NOT NULL,"
    "  quantity   INTEGER NOT NULL CHECK (quantity >= 0),"
    "  offer      BLOB NOT NULL"
    ");"
    "CREATE INDEX board_offers_need ON board_offers (need_id, created_at);"
    "CREATE TABLE board_updates ("
    "  id         BLOB NOT NULL UNIQUE CHECK (length(id) = 32),"
    "  origin     TEXT NOT NULL,"
    "  peer       TEXT NOT NULL,"
    "  seq        INTEGER NOT NULL CHECK (seq >= 1),"
    "  sender     TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  kind       INTEGER NOT NULL,"
    "  action     INTEGER NOT NULL,"
    "  target     BLOB NOT NULL CHECK (length(target) = 32),"
    "  outcome    INTEGER NOT NULL,"
    "  awaits     BLOB CHECK (awaits IS NULL OR length(awaits) = 32),"
    "  body       BLOB NOT NULL,"
    "  UNIQUE (origin, peer, seq)"
    ");"
    "CREATE INDEX board_updates_awaits ON board_updates (awaits) WHERE awaits IS NOT NULL;",
    /* 2 -> 3: per-recipient delivery state of this member's own posts
     * (proto/PROTOCOL.md §6.6). post is the id of the post's first envelope: a TLP:RED
     * post is one envelope per recipient, and any of them finds the rest.
     * state is a receipt_state code; at is when it was posted (pending) or
     * when the recipient's receipt was issued. */
    "CREATE TABLE deliveries ("
    "  post   BLOB NOT NULL CHECK (length(post) = 32),"
    "  id     BLOB NOT NULL CHECK (length(id) = 32),"
    "  member TEXT NOT NULL,"
    "  state  INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  at     INTEGER NOT NULL,"
    "  PRIMARY KEY (id, member)"
    ") WITHOUT ROWID;"
    "CREATE INDEX deliveries_post ON deliveries (post);",
    /* 3 -> 4: a board replay reads a need's cluster by target; without an
     * index every arrival scanned every update ever kept. */
    "CREATE INDEX board_updates_target ON board_updates (target);",
    /* 4 -> 5: the board's blobs are sealed with a random data key
     * (store_seal.c converts the rows in the same transaction); key_check's
     * one row keeps that key wrapped under the member's store key. */
    "CREATE TABLE key_check ("
    "  one    INTEGER PRIMARY KEY CHECK (one = 1),"
    "  sealed BLOB NOT NULL"
    ");",
    /* 5 -> 6: the highest roster this node has trusted, whole, so that a
     * roster file rolled back or governed by other keys is refused at the
     * next start, and a successor can be checked against its chain. One row;
     * version and hash repeat what the bytes say, for an operator's eyes. */
    "CREATE TABLE roster_trusted ("
    "  one     INTEGER PRIMARY KEY CHECK (one = 1),"
    "  version INTEGER NOT NULL CHECK (version >= 1),"
    "  hash    BLOB NOT NULL CHECK (length(hash) = 32),"
    "  roster  BLOB NOT NULL"
    ");",
    /* 6 -> 7: the client that posted each of this member's posts, by the
     * post's first envelope id (deliveries.post), so that a post's delivery
     * state (who it went to) is told to that client and to admin clients
     * only. Posts made before this step have no row: only an admin client
     * may read their state. */
    "CREATE TABLE post_clients ("
    "  post   BLOB PRIMARY KEY CHECK (length(post) = 32),"
    "  client TEXT NOT NULL"
    ") WITHOUT ROWID;",
    /* 7 -> 8: envelopes lose the index on id. Nothing reads an envelope
     * by id (every lookup is by origin, peer and seq), an id is a hash
     * over the header that holds those three, so the primary key already
     * refuses the same envelope twice; and an index keyed by random hashes
     * cost every append a write to a random page. SQLite cannot drop a
     * UNIQUE constraint: the table is rebuilt, rows in their order, with
     * foreign keys off for the step (migrate). */
    "CREATE TABLE envelopes_new ("
    "  origin     TEXT NOT NULL,"
    "  peer       TEXT NOT NULL,"
    "  seq        INTEGER NOT NULL CHECK (seq >= 1),"
    "  id         BLOB NOT NULL CHECK (length(id) = 32),"
    "  prev       BLOB CHECK (prev IS NULL OR length(prev) = 32),"
    "  expires_at INTEGER NOT NULL,"
    "  data       BLOB NOT NULL,"
    "  PRIMARY KEY (origin, peer, seq),"
    "  FOREIGN KEY (origin, peer) REFERENCES logs (origin, peer)"
    ");"
    "INSERT INTO envelopes_new (rowid, origin, peer, seq, id, prev, expires_at, data)"
    "  SELECT rowid, origin, peer, seq, id, prev, expires_at, data FROM envelopes ORDER BY rowid;"
    "DROP TABLE envelopes;"
    "ALTER TABLE envelopes_new RENAME TO envelopes;",
    /* 8 -> 9: the board is read a page at a time, by id, with filters
     * (store_board_page_*). The needs and offers tables are rebuilt
     * clustered by id (WITHOUT ROWID), so that a page in id order reads
     * neighbouring rows rather than one random row each. priority is kept
     * in clear beside category (rows written before this step read 0 until
     * the board writes them again); updated_at is when this node last wrote
     * a row (here: the migration). An offer's view_tlp is the higher of its
     * label and its need's (kept so by store_board.c's puts), so that a page
     * of offers applies the clearance without reading the needs table. Each
     * filter has an index ending in id, so a filtered page is an index
     * range. */
    "CREATE TABLE board_needs_9 ("
    "  id         BLOB PRIMARY KEY CHECK (length(id) = 32),"
    "  owner      TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  status     INTEGER NOT NULL,"
    "  tlp        INTEGER NOT NULL,"
    "  category   INTEGER NOT NULL,"
    "  quantity   INTEGER NOT NULL CHECK (quantity >= 0),"
    "  accepted   INTEGER NOT NULL CHECK (accepted >= 0),"
    "  delivered  INTEGER NOT NULL CHECK (delivered >= 0),"
    "  need       BLOB NOT NULL,"
    "  priority   INTEGER NOT NULL DEFAULT 0,"
    "  updated_at INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    "INSERT INTO board_needs_9 (id, owner, created_at, status, tlp, category, quantity, accepted,"
    "  delivered, need, updated_at)"
    "  SELECT id, owner, created_at, status, tlp, category, quantity, accepted, delivered, need,"
    "  CAST(strftime('%s', 'now') AS INTEGER) FROM board_needs;"
    "DROP TABLE board_needs;"
    "ALTER TABLE board_needs_9 RENAME TO board_needs;"
    "CREATE INDEX board_needs_status ON board_needs (status, created_at);"
    "CREATE TABLE board_offers_9 ("
    "  id         BLOB PRIMARY KEY CHECK (length(id) = 32),"
    "  donor      TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  need_id    BLOB CHECK (need_id IS NULL OR length(need_id) = 32),"
    "  status     INTEGER NOT NULL,"
    "  tlp        INTEGER NOT NULL,"
    "  quantity   INTEGER NOT NULL CHECK (quantity >= 0),"
    "  offer      BLOB NOT NULL,"
    "  updated_at INTEGER NOT NULL DEFAULT 0,"
    "  view_tlp   INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    "INSERT INTO board_offers_9 (id, donor, created_at, need_id, status, tlp, quantity, offer,"
    "  updated_at, view_tlp)"
    "  SELECT o.id, o.donor, o.created_at, o.need_id, o.status, o.tlp, o.quantity, o.offer,"
    "  CAST(strftime('%s', 'now') AS INTEGER),"
    "  max(o.tlp, coalesce((SELECT n.tlp FROM board_needs AS n WHERE n.id = o.need_id), 0))"
    "  FROM board_offers AS o;"
    "DROP TABLE board_offers;"
    "ALTER TABLE board_offers_9 RENAME TO board_offers;"
    "CREATE INDEX board_offers_need ON board_offers (need_id, created_at);"
    "CREATE INDEX board_needs_status_id ON board_needs (status, id);"
    "CREATE INDEX board_needs_category ON board_needs (category, id);"
    "CREATE INDEX board_needs_owner ON board_needs (owner, id);"
    "CREATE INDEX board_needs_priority ON board_needs (priority, id);"
    "CREATE INDEX board_needs_updated ON board_needs (updated_at);"
    "CREATE INDEX board_offers_need_id ON board_offers (need_id, id);"
    "CREATE INDEX board_offers_status ON board_offers (status, id);"
    "CREATE INDEX board_offers_donor ON board_offers (donor, id);"
    "CREATE INDEX board_offers_updated ON board_offers (updated_at);",
    /* 9 -> 10: the node's named counters (status), so that they survive a
     * restart. Each row is written in the batch of the commit after its
     * counter moved: the values are those of the last commit. IF NOT
     * EXISTS: a store whose user_version was set back keeps its table. */
    "CREATE TABLE IF NOT EXISTS counters ("
    "  name  TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 127),"
    "  value INTEGER NOT NULL CHECK (value >= 0)"
    ") WITHOUT ROWID;",
    /* 10 -> 11: the board's digest, kept up to date by every board write
     * (store_board.c). A board written before has no sum yet (NULL):
     * board_upgrade computes it once. */
    "CREATE TABLE board_digest ("
    "  one INTEGER PRIMARY KEY CHECK (one = 0),"
    "  sum BLOB CHECK (sum IS NULL OR length(sum) = 64)"
    ");"
    "INSERT INTO board_digest (one, sum) SELECT 0, CASE WHEN"
    "  EXISTS (SELECT 1 FROM board_needs) OR EXISTS (SELECT 1 FROM board_offers)"
    "  THEN NULL ELSE zeroblob(64) END;",
    /* 11 -> 12: the audit log (store_audit.c). An entry's idx is its leaf
     * index and its rowid, so appends go to the end of the b-tree;
     * audit_state is the one-row cache of the tree's frontier. IF NOT
     * EXISTS: a store taken back to an older version (tests do) keeps
     * its audit tables. */
    "CREATE TABLE IF NOT EXISTS audit_entries ("
    "  idx   INTEGER PRIMARY KEY CHECK (idx >= 0),"
    "  entry BLOB NOT NULL CHECK (length(entry) BETWEEN 1 AND 512)"
    ");"
    "CREATE TABLE IF NOT EXISTS audit_checkpoints ("
    "  size   INTEGER PRIMARY KEY CHECK (size >= 0),"
    "  root   BLOB NOT NULL CHECK (length(root) = 32),"
    "  at     INTEGER NOT NULL,"
    "  member TEXT NOT NULL,"
    "  sig    BLOB NOT NULL CHECK (length(sig) = 64)"
    ");"
    "CREATE TABLE IF NOT EXISTS audit_state ("
    "  one      INTEGER PRIMARY KEY CHECK (one = 1),"
    "  size     INTEGER NOT NULL CHECK (size >= 0),"
    "  frontier BLOB NOT NULL"
    ");",
    /* 12 -> 13: what reports need of a need (value, sector, deadline) and
     * of an offer (value), kept in clear beside its status so that a
     * report opens no blob. Rows written before have NULL there until
     * board_upgrade fills them, found through the partial indexes (empty
     * once it ran). */
    "ALTER TABLE board_needs ADD COLUMN value_cents INTEGER CHECK (value_cents >= 0);"
    "ALTER TABLE board_needs ADD COLUMN sector INTEGER;"
    "ALTER TABLE board_needs ADD COLUMN deadline TEXT;"
    "ALTER TABLE board_offers ADD COLUMN value_cents INTEGER CHECK (value_cents >= 0);"
    "CREATE INDEX board_needs_unfilled ON board_needs (id) WHERE value_cents IS NULL;"
    "CREATE INDEX board_offers_unfilled ON board_offers (id) WHERE value_cents IS NULL;"
    /* Covering what a report reads, so that it walks these instead of
     * the tables' rows and their sealed blobs. */
    "CREATE INDEX board_needs_report ON board_needs (tlp, id, owner, status, priority, category,"
    "  quantity, accepted, value_cents, sector, deadline);"
    "CREATE INDEX board_offers_report ON board_offers (view_tlp, need_id, status, donor,"
    "  value_cents);",
    /* 13 -> 14: every roster this node has trusted, by version: the
     * governance log. A peer that lags is sent the versions it lacks from
     * here, and `tmbus-admin roster history` lists it. trusted_at is when
     * this node took it (unix seconds; the roster kept before this step
     * gets the time of the migration). IF NOT EXISTS: a store taken back
     * to an older version (tests do) keeps its history. */
    "CREATE TABLE IF NOT EXISTS roster_history ("
    "  version    INTEGER PRIMARY KEY CHECK (version >= 1),"
    "  hash       BLOB NOT NULL CHECK (length(hash) = 32),"
    "  trusted_at INTEGER NOT NULL,"
    "  roster     BLOB NOT NULL"
    ");"
    "INSERT OR IGNORE INTO roster_history (version, hash, trusted_at, roster)"
    "  SELECT version, hash, CAST(strftime('%s', 'now') AS INTEGER), roster FROM roster_trusted;",
    /* 14 -> 15: the audit checkpoint exchange (store_audit.c): the last
     * checkpoint held of each peer, checked for consistency with the
     * next, and the cosignatures peers returned for ours. IF NOT EXISTS as
     * the audit tables. */
    "CREATE TABLE IF NOT EXISTS audit_peer_checkpoints ("
    "  member TEXT PRIMARY KEY,"
    "  size   INTEGER NOT NULL CHECK (size > 0),"
    "  root   BLOB NOT NULL CHECK (length(root) = 32),"
    "  at     INTEGER NOT NULL,"
    "  sig    BLOB NOT NULL CHECK (length(sig) = 64)"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS audit_cosignatures ("
    "  size     INTEGER NOT NULL CHECK (size > 0),"
    "  cosigner TEXT NOT NULL,"
    "  at       INTEGER NOT NULL,"
    "  sig      BLOB NOT NULL CHECK (length(sig) = 64),"
    "  PRIMARY KEY (size, cosigner)"
    ") WITHOUT ROWID;",
    /* 15 -> 16: retention (store_retention.c). pruned is when this node
     * dropped the envelope's ciphertext (NULL: it holds it); ALTER TABLE
     * adds it without rewriting a row. The partial index lists in expiry
     * order the envelopes that expire and still hold their ciphertext, so
     * a retention round finds what is due without a scan, and a pruned
     * envelope leaves it; envelopes that never expire, most of them, cost
     * no index write. */
    "ALTER TABLE envelopes ADD COLUMN pruned INTEGER;"
    "CREATE INDEX envelopes_expiring ON envelopes (expires_at)"
    "  WHERE expires_at > 0 AND pruned IS NULL;",
    /* 16 -> 17: how many needs (kind 0) and offers (kind 1) the board
     * holds in each status, kept by every board write in its batch
     * (store_board.c) so that a metrics scrape reads a dozen rows instead of
     * counting the tables. Counted here once from the rows; dropped first so
     * that a store taken back to an older version (tests do) counts again. */
    "DROP TABLE IF EXISTS board_counts;" STORE_BOARD_COUNTS_TABLE STORE_BOARD_COUNTS_FILL,
    /* 17 -> 18: key rotation (store_rotation.c): the heads of the
     * member's own logs when its node first signed with a newer key
     * generation, by the generation it replaced: the signed_up_to of the
     * roster that retires it. A relayed-log row ("") is always written,
     * so a fresh node's switch is recorded too. */
    "CREATE TABLE IF NOT EXISTS key_switches ("
    "  key_id   INTEGER NOT NULL CHECK (key_id >= 1),"
    "  log_peer TEXT NOT NULL,"
    "  last_seq INTEGER NOT NULL CHECK (last_seq >= 0),"
    "  PRIMARY KEY (key_id, log_peer)"
    ") WITHOUT ROWID;",
    /* 18 -> 19: admissions (store_admission.c). One row per member this
     * node has seen in a roster in force: admitted_at is when it first did
     * (0 for the members of the first roster it ran); done says whether
     * its member's open needs were shared with it; after is the last need
     * id shared so far, so that a restart neither repeats nor forgets. */
    "CREATE TABLE IF NOT EXISTS admissions ("
    "  member      TEXT PRIMARY KEY,"
    "  admitted_at INTEGER NOT NULL CHECK (admitted_at >= 0),"
    "  done        INTEGER NOT NULL CHECK (done IN (0, 1)),"
    "  after       BLOB CHECK (after IS NULL OR length(after) = 32)"
    ") WITHOUT ROWID;",
    /* 19 -> 20: audit epochs (PROTOCOL.md 13.2). Each checkpoint, ours or
     * the one held of a peer, carries the epoch of the log it is of; rows
     * from before have epoch 0, the epoch their signatures cover. */
    "ALTER TABLE audit_checkpoints ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0"
    "  CHECK (epoch >= 0);"
    "ALTER TABLE audit_peer_checkpoints ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0"
    "  CHECK (epoch >= 0);",
};

/* The first schema whose migration rebuilds a table that others refer to:
 * foreign keys must be off while it runs (SQLite's own procedure). */
#define SCHEMA_REBUILT 8

/* The first schema whose board blobs are sealed. */
#define SCHEMA_SEALED 5

/* The SQL of every statement but the board tables' (store_board.c's own);
 * each statement is in exactly one of the two tables. */
static const char *const stmt_sql[ST_COUNT_] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT one_write",
    [ST_RELEASE] = "RELEASE one_write",
    [ST_ROLLBACK_TO] = "ROLLBACK TO one_write",
    [ST_HEAD] = "SELECT head_seq, head_id, halted FROM logs WHERE origin = ?1 AND peer = ?2",
    [ST_LOG_UPSERT] = "INSERT INTO logs (origin, peer, head_seq, head_id) VALUES (?1, ?2, ?3, ?4)"
                      " ON CONFLICT (origin, peer) DO UPDATE"
                      " SET head_seq = excluded.head_seq, head_id = excluded.head_id",
    [ST_ENV_INSERT] = "INSERT INTO envelopes (origin, peer, seq, id, prev, expires_at, data)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_ENV_GET] = "SELECT id, data FROM envelopes WHERE origin = ?1 AND peer = ?2 AND seq = ?3",
    /* One walk of the primary key for a stream of consecutive envelopes. */
    [ST_ENV_RANGE] = "SELECT seq, data FROM envelopes"
                     " WHERE origin = ?1 AND peer = ?2 AND seq BETWEEN ?3 AND ?4 ORDER BY seq",
    [ST_EVIDENCE_INSERT] = "INSERT INTO evidence (origin, peer, seq, data, seen_at)"
                           " VALUES (?1, ?2, ?3, ?4, CAST(strftime('%s', 'now') AS INTEGER))"
                           " ON CONFLICT DO NOTHING",
    [ST_HALT] = "UPDATE logs SET halted = 1 WHERE origin = ?1 AND peer = ?2",
    [ST_EACH_LOG] = "SELECT origin, peer, head_seq, head_id, halted FROM logs"
                    " ORDER BY origin, peer",
    /* Only an envelope that is held, with that id, can enter the inbox.
     * No ON CONFLICT: with AUTOINCREMENT a skipped insert still uses up a
     * number, so store_inbox_add looks for an existing entry first. */
    [ST_INBOX_INSERT] = "INSERT INTO inbox (origin, peer, seq, id, expires_at)"
                        " SELECT origin, peer, seq, id, ?5 FROM envelopes"
                        " WHERE origin = ?1 AND peer = ?2 AND seq = ?3 AND id = ?4",
    [ST_INBOX_FIND] = "SELECT number, id FROM inbox WHERE origin = ?1 AND peer = ?2 AND seq = ?3",
    [ST_INBOX_NEXT] = "SELECT number, origin, peer, seq, id, expires_at FROM inbox"
                      " WHERE number > ?1 ORDER BY number LIMIT 1",
    [ST_INBOX_LAST] = "SELECT coalesce(max(number), 0) FROM inbox",
    [ST_CURSOR_GET] = "SELECT acked FROM cursors WHERE client = ?1",
    [ST_CURSOR_SET] = "INSERT INTO cursors (client, acked) VALUES (?1, ?2)"
                      " ON CONFLICT (client) DO UPDATE SET acked = excluded.acked"
                      " WHERE excluded.acked > cursors.acked",
    /* Logs have no holes (store_append enforces it), so the sum of the heads
     * is the number of envelopes, without scanning the envelopes table. */
    [ST_COUNT] = "SELECT (SELECT coalesce(sum(head_seq), 0) FROM logs),"
                 " (SELECT count(*) FROM evidence)",
    [ST_DELIVERY_ADD] = "INSERT INTO deliveries (post, id, member, state, reason, at)"
                        " VALUES (?1, ?2, ?3, ?4, '', ?5)",
    /* ?2 NULL: any recipient of envelope ?1. */
    [ST_DELIVERY_FIND] =
        "SELECT state FROM deliveries WHERE id = ?1 AND (?2 IS NULL OR member = ?2)"
        " LIMIT 1",
    /* The first word of a recipient is final: only a pending row moves. */
    [ST_DELIVERY_SET] = "UPDATE deliveries SET state = ?3, reason = ?4, at = ?5"
                        " WHERE id = ?1 AND member = ?2 AND state = 0",
    [ST_DELIVERY_GET] = "SELECT id, member, state, reason, at FROM deliveries"
                        " WHERE post = (SELECT post FROM deliveries WHERE id = ?1 LIMIT 1)"
                        " ORDER BY member, id",
    [ST_POST_CLIENT_SET] = "INSERT INTO post_clients (post, client) VALUES (?1, ?2)",
    /* By any envelope id of the post, as ST_DELIVERY_GET. */
    [ST_POST_CLIENT_GET] = "SELECT client FROM post_clients"
                           " WHERE post = (SELECT post FROM deliveries WHERE id = ?1 LIMIT 1)",
    [ST_COUNTER_PUT] = "INSERT INTO counters (name, value) VALUES (?1, ?2)"
                       " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
};

static const uint8_t zero_id[STORE_HASH_BYTES];

/* ---- helpers ------------------------------------------------------------ */

/* Logs a SQLite failure once, with what we were doing. Returns -1. */
static int db_error(sqlite3 *db, const char *what)
{
    log_warnx("store: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

/* Returns a statement to its pristine state; bound pointers into the
 * caller's memory are dropped here, so nothing dangles. */
void store__done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Steps st once. Returns SQLITE_ROW, SQLITE_DONE, or -1 (logged). */
int store__step(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc;
    /* A full disk fails every write until space returns: the node logs
     * once when it starts and once when it ends, not every write. */
    if ((rc & 0xff) == SQLITE_FULL) {
        log_debug("store: %s: %s", what, sqlite3_errmsg(s->db));
        s->is_full = true;
        return -1;
    }
    return db_error(s->db, what);
}

/* Runs a cached statement that returns no rows. Returns 0 or -1. */
int store__run(struct store *s, enum stmt which, const char *what)
{
    int rc = store__step(s, s->st[which], what);

    store__done(s->st[which]);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Runs SQL text once (open time only). Returns 0 or -1 (logged). */
static int exec(sqlite3 *db, const char *sql, const char *what)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(db, what);
    return 0;
}

/* Runs a one-row, one-column PRAGMA and copies its text answer. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *text;
    int ret = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_error(db, sql);
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_ROW || (text = sqlite3_column_text(st, 0)) == NULL) {
        db_error(db, sql);
        goto out;
    }
    snprintf(out, size, "%s", (const char *)text);
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

static int pragma_int(sqlite3 *db, const char *sql, long long *out)
{
    char buf[32];
    char *end;

    if (pragma_text(db, sql, buf, sizeof(buf)) != 0)
        return -1;
    errno = 0;
    *out = strtoll(buf, &end, 10);
    if (errno != 0 || end == buf || *end != '\0') {
        log_warnx("store: %s: unexpected answer", sql);
        return -1;
    }
    return 0;
}

static bool is_log_name(const struct store_log *log)
{
    size_t olen, plen;

    if (log == NULL)
        return false;
    olen = strnlen(log->origin, sizeof(log->origin));
    plen = strnlen(log->peer, sizeof(log->peer));
    if (olen == sizeof(log->origin) || plen == sizeof(log->peer))
        return false;
    return util_is_member_id(log->origin, olen) &&
           (plen == 0 || util_is_member_id(log->peer, plen));
}

/* Checks a log name; on failure logs why (the name itself may be garbage,
 * so it is not printed). */
int store__check_log(const struct store_log *log, const char *what)
{
    if (is_log_name(log))
        return 0;
    log_warnx("store: %s: invalid log name", what);
    return -1;
}

/* Writes are allowed only inside a batch that SQLite still holds open. An
 * I/O or memory error can make SQLite roll the transaction back behind our
 * back; a write then would autocommit, so it is refused instead and
 * store_commit reports the lost batch. */
int store__check_batch(const struct store *s, const char *what)
{
    if (!s->is_in_batch) {
        log_warnx("store: %s: refused outside a batch", what);
        return -1;
    }
    if (sqlite3_get_autocommit(s->db)) {
        if (!s->is_full)
            log_warnx("store: %s: refused, the batch was rolled back after an error", what);
        return -1;
    }
    return 0;
}

static void bind_log(sqlite3_stmt *st, const struct store_log *log)
{
    sqlite3_bind_text(st, 1, log->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, log->peer, -1, SQLITE_STATIC);
}

/* Copies a 32-byte id column; a wrong size means a corrupt database. */
int store__column_id(sqlite3_stmt *st, int col, uint8_t *out)
{
    const void *p = sqlite3_column_blob(st, col);

    if (sqlite3_column_bytes(st, col) != STORE_HASH_BYTES || p == NULL) {
        log_warnx("store: corrupt id column");
        return -1;
    }
    memcpy(out, p, STORE_HASH_BYTES);
    return 0;
}

int store__column_u64(sqlite3_stmt *st, int col, uint64_t *out)
{
    sqlite3_int64 v = sqlite3_column_int64(st, col);

    if (v < 0) {
        log_warnx("store: corrupt integer column");
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Reads a log's head; an unknown log has seq 0 and a zero id. */
static int read_head(struct store *s, const struct store_log *log, struct store_head *out)
{
    sqlite3_stmt *st = s->st[ST_HEAD];
    int rc, ret = -1;

    memset(out, 0, sizeof(*out));
    bind_log(st, log);
    if ((rc = store__step(s, st, "read head")) < 0)
        goto out;
    if (rc == SQLITE_ROW) {
        if (store__column_u64(st, 0, &out->seq) != 0 || store__column_id(st, 1, out->id) != 0)
            goto out;
        out->is_halted = sqlite3_column_int(st, 2) != 0;
    }
    ret = 0;
out:
    store__done(st);
    return ret;
}

/* Multi-statement writes run inside a savepoint so that a failure half way
 * leaves nothing behind, while the rest of the batch stays intact. */
static int write_begin(struct store *s)
{
    return store__run(s, ST_SAVEPOINT, "savepoint");
}

static int write_end(struct store *s, bool is_ok)
{
    if (is_ok)
        return store__run(s, ST_RELEASE, "release savepoint");
    /* Both may fail if SQLite already rolled the whole batch back; that is
     * then reported by check_batch and store_commit. */
    if (!sqlite3_get_autocommit(s->db)) {
        (void)store__run(s, ST_ROLLBACK_TO, "rollback to savepoint");
        (void)store__run(s, ST_RELEASE, "release savepoint");
    }
    return -1;
}

static int lock_dir(const char *dir)
{
    char path[PATH_BYTES];
    int fd;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, LOCK_NAME) >= sizeof(path)) {
        log_warnx("store: data directory path too long");
        return -1;
    }
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
        log_warn("store: %s", path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        if (errno == EWOULDBLOCK)
            log_warnx("store: %s is in use by another tmbusd (lock %s is held)", dir, path);
        else
            log_warn("store: lock %s", path);
        close(fd);
        return -1;
    }
    return fd;
}

int store_check_dir(const char *dir, char *why, size_t size)
{
    struct stat sb;
    struct dirent *de;
    uid_t me = geteuid();
    DIR *d;
    int ret = -1;

    if (stat(dir, &sb) == -1) {
        if (errno == ENOENT)
            return 0; /* store_open makes it, 0700 */
        snprintf(why, size, "data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(why, size, "data directory %s is not a directory", dir);
        return -1;
    }
    if (sb.st_uid != me) {
        snprintf(why, size, "data directory %s is owned by uid %u, not by this user (uid %u)", dir,
                 (unsigned)sb.st_uid, (unsigned)me);
        return -1;
    }
    if ((sb.st_mode & 0077) != 0) {
        snprintf(why, size, "data directory %s has mode %04o; it must be 0700 (chmod 700 %s)", dir,
                 (unsigned)(sb.st_mode & 07777), dir);
        return -1;
    }
    if ((d = opendir(dir)) == NULL) {
        snprintf(why, size, "data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    while ((errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        /* A symbolic link is judged as itself: what it points to may be
         * anywhere and change at any time. */
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
            snprintf(why, size, "%s/%s: %s", dir, de->d_name, strerror(errno));
            goto out;
        }
        if (S_ISLNK(sb.st_mode)) {
            snprintf(why, size, "%s/%s is a symbolic link; the data directory holds only files",
                     dir, de->d_name);
            goto out;
        }
        if (sb.st_uid != me) {
            snprintf(why, size, "%s/%s is owned by uid %u, not by this user (uid %u)", dir,
                     de->d_name, (unsigned)sb.st_uid, (unsigned)me);
            goto out;
        }
        if ((sb.st_mode & 0077) != 0) {
            snprintf(why, size,
                     "%s/%s has mode %04o; nothing in the data directory may be open to"
                     " group or others (chmod go= it)",
                     dir, de->d_name, (unsigned)(sb.st_mode & 07777));
            goto out;
        }
    }
    if (errno != 0) {
        snprintf(why, size, "data directory %s: %s", dir, strerror(errno));
        goto out;
    }
    ret = 0;
out:
    closedir(d);
    return ret;
}

/* Makes dir 0700 if it is missing, then refuses it unless it and all it
 * holds are this user's alone. */
static int make_dir(const char *dir)
{
    char why[STORE_WHY_MAX];

    if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
        log_warn("store: mkdir %s", dir);
        return -1;
    }
    if (store_check_dir(dir, why, sizeof(why)) != 0) {
        log_warnx("store: %s", why);
        return -1;
    }
    return 0;
}

/* Sets the connection up and checks that each setting really took: a
 * journal mode or synchronous level silently refused would lose acked
 * messages on power loss. */
static int configure(sqlite3 *db)
{
    char mode[16];
    long long v;

    sqlite3_extended_result_codes(db, 1);
    if (sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return db_error(db, "busy_timeout");
    if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK)
        return db_error(db, "defensive mode");
    if (pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != 0)
        return -1;
    if (strcmp(mode, "wal") != 0) {
        log_warnx("store: journal_mode is \"%s\", not \"wal\"", mode);
        return -1;
    }
    /* synchronous = FULL, not NORMAL: in WAL mode NORMAL syncs the WAL
     * only at checkpoints, so a commit this node has acknowledged to a
     * client or a peer could vanish in a power cut. FULL syncs the WAL at
     * every commit; the group commit (one per loop round) is what keeps
     * that affordable.
     * cache_size: a round's transaction dirties a few pages per envelope
     * (its row, and the leaves of indexes keyed by random ids); with
     * SQLite's 2 MiB default a large round spilled dirty pages to the WAL
     * before its commit and read them back. CACHE_KIB bounds it.
     * wal_autocheckpoint: each checkpoint copies the WAL into the
     * database and syncs it, inside a commit; a larger WAL checkpoints a
     * page written by many rounds (an index leaf) once, not once per
     * 1,000 pages. Both are memory and disk, never durability. */
    if (exec(db,
             "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF;"
             " PRAGMA cache_size = -" CACHE_KIB "; PRAGMA wal_autocheckpoint = " CHECKPOINT_PAGES,
             "pragmas") != 0)
        return -1;
    if (pragma_int(db, "PRAGMA synchronous", &v) != 0)
        return -1;
    if (v != SYNCHRONOUS_FULL) {
        log_warnx("store: synchronous is %lld, not FULL", v);
        return -1;
    }
    if (pragma_int(db, "PRAGMA foreign_keys", &v) != 0)
        return -1;
    if (v != 1) {
        log_warnx("store: foreign keys could not be enabled");
        return -1;
    }
    /* No memory map: mapped pages of a large store would count against
     * the node's resident memory. */
    if (exec(db, "PRAGMA mmap_size = 0", "memory map") != 0)
        return -1;
    return 0;
}

/* Whether PRAGMA foreign_key_check finds a row whose parent is missing
 * (logged), or cannot run. */
static bool foreign_keys_broken(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK) {
        db_error(db, "foreign_key_check");
        return true;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        log_warnx("store: %s: a row of %s has no parent row after migration", path,
                  (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        db_error(db, "foreign_key_check");
    sqlite3_finalize(st);
    return rc != SQLITE_DONE;
}

/* Brings the schema to STORE_SCHEMA in one transaction. The version is read
 * inside the transaction, and a newer one is refused before anything is
 * written. Board rows written before sealing are sealed in the same
 * transaction, and *n_sealed counts them; then the key is checked. */
static int migrate(struct store *s, const char *path, uint64_t *n_sealed)
{
    sqlite3 *db = s->db;
    char sql[64];
    long long version;
    int ret = -1;

    *n_sealed = 0;
    /* Only outside a transaction does this pragma take effect; it is set
     * back, and checked, before the store is used (end of migrate). */
    if (exec(db, "PRAGMA foreign_keys = OFF", "foreign keys off for migration") != 0)
        return -1;
    if (exec(db, "BEGIN IMMEDIATE", "begin migration") != 0)
        goto out;
    if (pragma_int(db, "PRAGMA user_version", &version) != 0)
        goto out;
    if (version < 0 || version > STORE_SCHEMA) {
        log_warnx("store: %s has schema version %lld; this build knows up to %d", path, version,
                  STORE_SCHEMA);
        goto out;
    }
    for (long long v = version; v < STORE_SCHEMA; v++) {
        if (exec(db, migrations[v], "migration") != 0)
            goto out;
        if (v + 1 == SCHEMA_SEALED &&
            (store__key_check(s, path) != 0 || store__seal_existing(s, n_sealed) != 0))
            goto out;
    }
    if (store__key_check(s, path) != 0)
        goto out;
    /* A rebuilt table must still hold every row its children point at. */
    if (version < SCHEMA_REBUILT && foreign_keys_broken(db, path))
        goto out;
    if (version < STORE_SCHEMA) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA);
        if (exec(db, sql, "set schema version") != 0)
            goto out;
    }
    if (exec(db, "COMMIT", "commit migration") != 0)
        goto out;
    if (version < STORE_SCHEMA)
        log_info("store: %s migrated from schema %lld to %d", path, version, STORE_SCHEMA);
    ret = 0;
out:
    if (ret != 0 && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (exec(db, "PRAGMA foreign_keys = ON", "foreign keys on after migration") != 0 ||
        pragma_int(db, "PRAGMA foreign_keys", &version) != 0 || version != 1) {
        log_warnx("store: foreign keys could not be enabled again");
        ret = -1;
    }
    return ret;
}

/* After sealing rows that were written in clear, their old pages may still
 * hold the plaintext: VACUUM rewrites the file from the live rows only, and
 * a truncating checkpoint empties the WAL that carried it. */
static int scrub(sqlite3 *db, const char *path, uint64_t n_sealed)
{
    if (exec(db, "VACUUM", "vacuum after sealing") != 0 ||
        exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", "checkpoint after sealing") != 0)
        return -1;
    log_info("store: %s: sealed %llu board rows written before sealing", path,
             (unsigned long long)n_sealed);
    return 0;
}

/* ---- open and close ----------------------------------------------------- */

struct store *store_open(const char *dir, const uint8_t *key)
{
    return store_open_rotated(dir, key, NULL);
}

struct store *store_open_rotated(const char *dir, const uint8_t *key, const uint8_t *previous)
{
    char path[PATH_BYTES];
    struct store *s = NULL;
    long long version;
    mode_t old_mask = 0;
    bool is_mask_set = false;
    uint64_t n_sealed;

    if (dir == NULL || *dir == '\0') {
        log_warnx("store: no data directory");
        return NULL;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, DB_NAME) >= sizeof(path)) {
        log_warnx("store: data directory path too long");
        return NULL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        log_warn("store: calloc");
        return NULL;
    }
    s->lock_fd = -1;
    if (store__key_set(s, key, previous) != 0)
        goto fail;
    /* Every file SQLite or we create here is 0600 whatever the caller's
     * umask: the -wal and -shm files take the database's mode, and the
     * database takes the umask. Checked again once they exist. */
    old_mask = umask(0077);
    is_mask_set = true;
    if (make_dir(dir) != 0)
        goto fail;
    /* The lock comes before the database is touched at all. */
    if ((s->lock_fd = lock_dir(dir)) == -1)
        goto fail;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                            SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK) {
        if (s->db != NULL)
            db_error(s->db, path);
        else
            log_warnx("store: %s: out of memory", path);
        goto fail;
    }
    /* A newer schema is refused before anything, even the journal mode, is
     * written; migrate checks again inside its transaction. */
    if (pragma_int(s->db, "PRAGMA user_version", &version) != 0)
        goto fail;
    if (version > STORE_SCHEMA) {
        log_warnx("store: %s has schema version %lld; this build knows up to %d", path, version,
                  STORE_SCHEMA);
        goto fail;
    }
    if (configure(s->db) != 0 || migrate(s, path, &n_sealed) != 0)
        goto fail;
    if (n_sealed > 0 && scrub(s->db, path, n_sealed) != 0)
        goto fail;
    umask(old_mask);
    is_mask_set = false;
    if (make_dir(dir) != 0)
        goto fail;
    for (int i = 0; i < ST_COUNT_; i++) {
        const char *sql = stmt_sql[i] != NULL ? stmt_sql[i] : store__board_sql[i];

        ensure(sql != NULL && (stmt_sql[i] == NULL || store__board_sql[i] == NULL));
        if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
            SQLITE_OK) {
            db_error(s->db, "prepare");
            goto fail;
        }
    }
    log_debug("store: opened %s", path);
    return s;
fail:
    if (is_mask_set)
        umask(old_mask);
    store_close(&s);
    return NULL;
}

void store_close(struct store **sp)
{
    struct store *s;

    if (sp == NULL || (s = *sp) == NULL)
        return;
    if (s->db != NULL) {
        store_rollback(s);
        for (int i = 0; i < ST_COUNT_; i++)
            sqlite3_finalize(s->st[i]);
        if (sqlite3_close(s->db) != SQLITE_OK)
            db_error(s->db, "close");
    }
    /* The lock file stays: removing it would race with a process that has
     * just opened it. */
    if (s->lock_fd != -1)
        close(s->lock_fd);
    store__key_free(s);
    free(s);
    *sp = NULL;
}

/* ---- batches ------------------------------------------------------------ */

int store_begin(struct store *s)
{
    if (s->is_in_batch)
        return 0;
    if (store__run(s, ST_BEGIN, "begin batch") != 0)
        return -1;
    s->is_in_batch = true;
    return 0;
}

int store_commit(struct store *s)
{
    if (!s->is_in_batch)
        return 0;
    s->is_in_batch = false;
    if (sqlite3_get_autocommit(s->db)) {
        if (!s->is_full)
            log_warnx("store: commit: the batch was rolled back after an earlier error");
        return -1;
    }
    if (store__run(s, ST_COMMIT, "commit batch") == 0) {
        s->is_full = false;
        return 0;
    }
    if (!sqlite3_get_autocommit(s->db))
        (void)store__run(s, ST_ROLLBACK, "rollback failed batch");
    return -1;
}

void store_rollback(struct store *s)
{
    if (!s->is_in_batch)
        return;
    s->is_in_batch = false;
    if (!sqlite3_get_autocommit(s->db))
        (void)store__run(s, ST_ROLLBACK, "rollback batch");
}

int store_group_begin(struct store *s)
{
    if (!s->is_in_batch) {
        log_warnx("store: a write group outside a batch");
        return -1;
    }
    return write_begin(s);
}

int store_group_end(struct store *s, bool is_kept)
{
    return write_end(s, is_kept);
}

bool store_in_batch(const struct store *s)
{
    return s->is_in_batch;
}

bool store_is_full(const struct store *s)
{
    return s->is_full;
}

/* ---- logs --------------------------------------------------------------- */

int store_head(struct store *s, const struct store_log *log, struct store_head *out)
{
    if (store__check_log(log, "head") != 0)
        return -1;
    return read_head(s, log, out);
}

int store_append(struct store *s, const struct store_entry *e)
{
    struct store_head head;
    sqlite3_stmt *st;
    bool is_ok = false;

    if (store__check_batch(s, "append") != 0 || store__check_log(&e->log, "append") != 0)
        return -1;
    if (e->id == NULL || e->envelope == NULL || e->envelope_len == 0 || e->envelope_len > INT_MAX) {
        log_warnx("store: append %s/%s: missing id or envelope", e->log.origin, e->log.peer);
        return -1;
    }
    if (read_head(s, &e->log, &head) != 0)
        return -1;
    if (head.is_halted) {
        log_warnx("store: append %s/%s seq %llu: log is halted", e->log.origin, e->log.peer,
                  (unsigned long long)e->seq);
        return -1;
    }
    if (head.seq >= INT64_MAX || e->seq != head.seq + 1) {
        log_warnx("store: append %s/%s: seq %llu does not follow head %llu", e->log.origin,
                  e->log.peer, (unsigned long long)e->seq, (unsigned long long)head.seq);
        return -1;
    }
    /* An empty log's head id is zeros; a NULL prev stands for that too. */
    if (memcmp(e->prev != NULL ? e->prev : zero_id, head.id, STORE_HASH_BYTES) != 0) {
        log_warnx("store: append %s/%s seq %llu: prev does not match the head id", e->log.origin,
                  e->log.peer, (unsigned long long)e->seq);
        return -1;
    }

    if (write_begin(s) != 0)
        return -1;
    st = s->st[ST_LOG_UPSERT];
    bind_log(st, &e->log);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)e->seq);
    sqlite3_bind_blob(st, 4, e->id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (store__run(s, ST_LOG_UPSERT, "append: move head") != 0)
        goto out;
    st = s->st[ST_ENV_INSERT];
    bind_log(st, &e->log);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)e->seq);
    sqlite3_bind_blob(st, 4, e->id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (e->prev != NULL && e->seq > 1)
        sqlite3_bind_blob(st, 5, e->prev, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, e->expires_at);
    sqlite3_bind_blob(st, 7, e->envelope, (int)e->envelope_len, SQLITE_STATIC);
    if (store__run(s, ST_ENV_INSERT, "append: insert envelope") != 0)
        goto out;
    is_ok = true;
out:
    return write_end(s, is_ok);
}

/* Looks up (log, seq); on a hit copies the id into id (may be NULL) and,
 * if env is not NULL, the envelope into a malloc'd buffer. */
static int get_envelope(struct store *s, const struct store_log *log, uint64_t seq, uint8_t **env,
                        size_t *len, uint8_t *id)
{
    sqlite3_stmt *st = s->st[ST_ENV_GET];
    const void *data;
    int rc, n, ret = -1;

    if (seq == 0 || seq > INT64_MAX)
        return 0;
    bind_log(st, log);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
    if ((rc = store__step(s, st, "get envelope")) < 0)
        goto out;
    if (rc == SQLITE_DONE) {
        ret = 0;
        goto out;
    }
    if (id != NULL && store__column_id(st, 0, id) != 0)
        goto out;
    if (env != NULL) {
        data = sqlite3_column_blob(st, 1);
        n = sqlite3_column_bytes(st, 1);
        if (data == NULL || n <= 0) {
            log_warnx("store: get %s/%s seq %llu: corrupt envelope", log->origin, log->peer,
                      (unsigned long long)seq);
            goto out;
        }
        if ((*env = malloc((size_t)n)) == NULL) {
            log_warn("store: malloc");
            goto out;
        }
        memcpy(*env, data, (size_t)n);
        *len = (size_t)n;
    }
    ret = 1;
out:
    store__done(st);
    return ret;
}

int store_get(struct store *s, const struct store_log *log, uint64_t seq, uint8_t **env,
              size_t *len, uint8_t *id)
{
    if (store__check_log(log, "get") != 0)
        return -1;
    if (env == NULL || len == NULL) {
        log_warnx("store: get: nowhere to put the envelope");
        return -1;
    }
    return get_envelope(s, log, seq, env, len, id);
}

int store_get_range(struct store *s, const struct store_log *log, uint64_t from, uint64_t to,
                    store_range_fn fn, void *arg)
{
    sqlite3_stmt *st = s->st[ST_ENV_RANGE];
    uint64_t expect = from;
    int rc, taken = 0;

    if (store__check_log(log, "range") != 0)
        return -1;
    if (from == 0 || to < from || to > INT64_MAX)
        return 0;
    bind_log(st, log);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)from);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)to);
    while ((rc = store__step(s, st, "range of envelopes")) == SQLITE_ROW) {
        const void *data = sqlite3_column_blob(st, 1);
        int n = sqlite3_column_bytes(st, 1);
        /* A log has no holes (store_append); a row out of step is damage. */
        if ((uint64_t)sqlite3_column_int64(st, 0) != expect || data == NULL || n <= 0) {
            log_warnx("store: range %s/%s: corrupt envelope at seq %llu", log->origin, log->peer,
                      (unsigned long long)expect);
            taken = -1;
            break;
        }
        if ((rc = fn(arg, expect, data, (size_t)n)) != 0) {
            if (rc < 0)
                taken = -1;
            break;
        }
        taken++;
        expect++;
    }
    if (rc < 0)
        taken = -1;
    store__done(st);
    return taken;
}

int store_add_evidence(struct store *s, const struct store_log *log, uint64_t seq,
                       const uint8_t *env, size_t len)
{
    uint8_t *held = NULL;
    size_t held_len = 0;
    sqlite3_stmt *st;
    bool is_ok = false;
    int rc, ret = -1;

    if (store__check_batch(s, "evidence") != 0 || store__check_log(log, "evidence") != 0)
        return -1;
    if (env == NULL || len == 0 || len > INT_MAX) {
        log_warnx("store: evidence %s/%s: no envelope", log->origin, log->peer);
        return -1;
    }
    if ((rc = get_envelope(s, log, seq, &held, &held_len, NULL)) < 0)
        return -1;
    if (rc == 0) {
        log_warnx("store: evidence %s/%s seq %llu: no envelope held there to contradict",
                  log->origin, log->peer, (unsigned long long)seq);
        return -1;
    }
    if (held_len == len && memcmp(held, env, len) == 0) {
        log_warnx("store: evidence %s/%s seq %llu: same envelope as the one held", log->origin,
                  log->peer, (unsigned long long)seq);
        goto out;
    }

    if (write_begin(s) != 0)
        goto out;
    st = s->st[ST_EVIDENCE_INSERT];
    bind_log(st, log);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
    sqlite3_bind_blob(st, 4, env, (int)len, SQLITE_STATIC);
    if (store__run(s, ST_EVIDENCE_INSERT, "evidence: insert") != 0)
        goto end;
    bind_log(s->st[ST_HALT], log);
    if (store__run(s, ST_HALT, "evidence: halt log") != 0)
        goto end;
    is_ok = true;
end:
    ret = write_end(s, is_ok);
    if (ret == 0)
        log_warnx("store: equivocation in log %s/%s at seq %llu: evidence kept, log halted",
                  log->origin, log->peer, (unsigned long long)seq);
out:
    free(held);
    return ret;
}

int store_each_log(struct store *s, store_log_fn fn, void *arg)
{
    struct entry {
        struct store_log log;
        struct store_head head;
    } *all = NULL, *grown;
    sqlite3_stmt *st = s->st[ST_EACH_LOG];
    size_t n = 0, cap = 0;
    int rc, ret = -1;

    /* Everything is read first and fn called afterwards, so fn may use the
     * store freely, even append, without disturbing the iteration. */
    while ((rc = store__step(s, st, "list logs")) == SQLITE_ROW) {
        const unsigned char *origin = sqlite3_column_text(st, 0);
        const unsigned char *peer = sqlite3_column_text(st, 1);
        struct entry *e;

        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            if ((grown = realloc(all, cap * sizeof(*all))) == NULL) {
                log_warn("store: realloc");
                goto out;
            }
            all = grown;
        }
        e = &all[n];
        memset(e, 0, sizeof(*e));
        if (origin == NULL || peer == NULL ||
            (size_t)sqlite3_column_bytes(st, 0) >= sizeof(e->log.origin) ||
            (size_t)sqlite3_column_bytes(st, 1) >= sizeof(e->log.peer)) {
            log_warnx("store: corrupt log name");
            goto out;
        }
        memcpy(e->log.origin, origin, (size_t)sqlite3_column_bytes(st, 0));
        memcpy(e->log.peer, peer, (size_t)sqlite3_column_bytes(st, 1));
        if (store__column_u64(st, 2, &e->head.seq) != 0 || store__column_id(st, 3, e->head.id) != 0)
            goto out;
        e->head.is_halted = sqlite3_column_int(st, 4) != 0;
        n++;
    }
    if (rc < 0)
        goto out;
    store__done(st);
    for (size_t i = 0; i < n; i++) {
        if ((ret = fn(arg, &all[i].log, &all[i].head)) != 0)
            goto out;
    }
    ret = 0;
out:
    store__done(st);
    free(all);
    return ret;
}

/* ---- inbox -------------------------------------------------------------- */

int store_inbox_add(struct store *s, const struct store_log *log, uint64_t seq, const uint8_t *id,
                    int64_t expires_at, uint64_t *number)
{
    uint8_t held[STORE_HASH_BYTES];
    sqlite3_stmt *st = s->st[ST_INBOX_FIND];
    int rc, ret = -1;

    if (store__check_batch(s, "inbox add") != 0 || store__check_log(log, "inbox add") != 0)
        return -1;
    if (id == NULL || seq == 0 || seq > INT64_MAX) {
        log_warnx("store: inbox add %s/%s: bad seq or no id", log->origin, log->peer);
        return -1;
    }
    bind_log(st, log);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
    if ((rc = store__step(s, st, "inbox find")) < 0)
        goto out;
    if (rc == SQLITE_ROW) {
        if (store__column_u64(st, 0, number) != 0 || store__column_id(st, 1, held) != 0)
            goto out;
        if (memcmp(held, id, STORE_HASH_BYTES) != 0) {
            log_warnx("store: inbox add %s/%s seq %llu: inbox holds another id there", log->origin,
                      log->peer, (unsigned long long)seq);
            goto out;
        }
        ret = 0;
        goto out;
    }
    store__done(st);

    st = s->st[ST_INBOX_INSERT];
    bind_log(st, log);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
    sqlite3_bind_blob(st, 4, id, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, expires_at);
    if (store__step(s, st, "inbox add") != SQLITE_DONE)
        goto out;
    /* No row inserted: no envelope at (log, seq) with that id is held. */
    if (sqlite3_changes(s->db) != 1) {
        log_warnx("store: inbox add %s/%s seq %llu: no such envelope held", log->origin, log->peer,
                  (unsigned long long)seq);
        goto out;
    }
    *number = (uint64_t)sqlite3_last_insert_rowid(s->db);
    ret = 0;
out:
    store__done(st);
    return ret;
}

int store_inbox_next(struct store *s, uint64_t after, struct store_inbox_entry *out)
{
    sqlite3_stmt *st = s->st[ST_INBOX_NEXT];
    const unsigned char *origin, *peer;
    int rc, ret = -1;

    if (after >= INT64_MAX)
        return 0;
    memset(out, 0, sizeof(*out));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
    if ((rc = store__step(s, st, "inbox next")) < 0)
        goto out;
    if (rc == SQLITE_DONE) {
        ret = 0;
        goto out;
    }
    origin = sqlite3_column_text(st, 1);
    peer = sqlite3_column_text(st, 2);
    if (origin == NULL || peer == NULL ||
        (size_t)sqlite3_column_bytes(st, 1) >= sizeof(out->log.origin) ||
        (size_t)sqlite3_column_bytes(st, 2) >= sizeof(out->log.peer)) {
        log_warnx("store: corrupt inbox entry");
        goto out;
    }
    memcpy(out->log.origin, origin, (size_t)sqlite3_column_bytes(st, 1));
    memcpy(out->log.peer, peer, (size_t)sqlite3_column_bytes(st, 2));
    if (store__column_u64(st, 0, &out->number) != 0 || store__column_u64(st, 3, &out->seq) != 0 ||
        store__column_id(st, 4, out->id) != 0)
        goto out;
    out->expires_at = sqlite3_column_int64(st, 5);
    ret = 1;
out:
    store__done(st);
    return ret;
}

int store_inbox_last(struct store *s, uint64_t *number)
{
    sqlite3_stmt *st = s->st[ST_INBOX_LAST];
    int ret = -1;

    if (store__step(s, st, "inbox last") != SQLITE_ROW)
        goto out;
    if (store__column_u64(st, 0, number) != 0)
        goto out;
    ret = 0;
out:
    store__done(st);
    return ret;
}

/* ---- client cursors ----------------------------------------------------- */

static int check_client(const char *client, const char *what)
{
    size_t n;

    if (client != NULL && (n = strnlen(client, STORE_CLIENT_MAX + 1)) >= 1 && n <= STORE_CLIENT_MAX)
        return 0;
    log_warnx("store: %s: invalid client name", what);
    return -1;
}

int store_cursor_get(struct store *s, const char *client, uint64_t *acked)
{
    sqlite3_stmt *st = s->st[ST_CURSOR_GET];
    int rc, ret = -1;

    if (check_client(client, "cursor get") != 0)
        return -1;
    *acked = 0;
    sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
    if ((rc = store__step(s, st, "cursor get")) < 0)
        goto out;
    if (rc == SQLITE_ROW && store__column_u64(st, 0, acked) != 0)
        goto out;
    ret = 0;
out:
    store__done(st);
    return ret;
}

int store_cursor_set(struct store *s, const char *client, uint64_t acked)
{
    sqlite3_stmt *st = s->st[ST_CURSOR_SET];

    if (store__check_batch(s, "cursor set") != 0 || check_client(client, "cursor set") != 0)
        return -1;
    if (acked > INT64_MAX) {
        log_warnx("store: cursor set %s: %llu out of range", client, (unsigned long long)acked);
        return -1;
    }
    sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)acked);
    return store__run(s, ST_CURSOR_SET, "cursor set");
}

/* ---- delivery state ----------------------------------------------------- */

/* Copies a member id column; a bad one means a corrupt database. */
int store__column_member(sqlite3_stmt *st, int col, char *out)
{
    const unsigned char *p = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);

    if (p == NULL || n < 1 || n > UTIL_MEMBER_ID_MAX) {
        log_warnx("store: corrupt member column");
        return -1;
    }
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    return 0;
}

static bool is_member(const char *member)
{
    return member != NULL && util_is_member_id(member, strnlen(member, UTIL_MEMBER_ID_MAX + 1));
}

int store_delivery_add(struct store *s, const uint8_t *post, const uint8_t *id, const char *member,
                       int state, int64_t at)
{
    sqlite3_stmt *st = s->st[ST_DELIVERY_ADD];

    if (store__check_batch(s, "add delivery") != 0)
        return -1;
    if (post == NULL || id == NULL || !is_member(member)) {
        log_warnx("store: add delivery: invalid record");
        return -1;
    }
    sqlite3_bind_blob(st, 1, post, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, id, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, member, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, state);
    sqlite3_bind_int64(st, 5, at);
    return store__run(s, ST_DELIVERY_ADD, "add delivery");
}

int store_delivery_find(struct store *s, const uint8_t *id, const char *member, int *state)
{
    sqlite3_stmt *st = s->st[ST_DELIVERY_FIND];
    int rc;

    if (member != NULL && !is_member(member))
        return 0;
    sqlite3_bind_blob(st, 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    if (member != NULL)
        sqlite3_bind_text(st, 2, member, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    rc = store__step(s, st, "find delivery");
    if (rc == SQLITE_ROW)
        *state = sqlite3_column_int(st, 0);
    store__done(st);
    return rc < 0 ? -1 : rc == SQLITE_ROW;
}

int store_delivery_set(struct store *s, const uint8_t *id, const char *member, int state,
                       const char *reason, int64_t at)
{
    sqlite3_stmt *st = s->st[ST_DELIVERY_SET];

    if (store__check_batch(s, "set delivery") != 0)
        return -1;
    if (!is_member(member) || reason == NULL ||
        strnlen(reason, STORE_REASON_MAX + 1) > STORE_REASON_MAX) {
        log_warnx("store: set delivery: invalid record");
        return -1;
    }
    sqlite3_bind_blob(st, 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, member, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, state);
    sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, at);
    if (store__run(s, ST_DELIVERY_SET, "set delivery") != 0)
        return -1;
    return sqlite3_changes(s->db) > 0;
}

int store_delivery_get(struct store *s, const uint8_t *id, struct store_delivery *out, size_t max,
                       size_t *n)
{
    sqlite3_stmt *st = s->st[ST_DELIVERY_GET];
    int rc, ret = -1;

    *n = 0;
    sqlite3_bind_blob(st, 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    while ((rc = store__step(s, st, "get deliveries")) == SQLITE_ROW) {
        struct store_delivery *d = &out[*n];
        const unsigned char *reason = sqlite3_column_text(st, 3);
        int len = sqlite3_column_bytes(st, 3);

        if (*n == max) {
            log_warnx("store: a post with more than %zu recipients", max);
            goto out;
        }
        memset(d, 0, sizeof(*d));
        if (store__column_id(st, 0, d->id) != 0 || store__column_member(st, 1, d->member) != 0)
            goto out;
        if (len < 0 || len > STORE_REASON_MAX || (len > 0 && reason == NULL)) {
            log_warnx("store: corrupt delivery reason");
            goto out;
        }
        if (len > 0)
            memcpy(d->reason, reason, (size_t)len);
        d->state = sqlite3_column_int(st, 2);
        d->at = sqlite3_column_int64(st, 4);
        (*n)++;
    }
    if (rc == SQLITE_DONE)
        ret = 0;
out:
    store__done(st);
    if (ret != 0)
        *n = 0;
    return ret;
}

static bool is_client(const char *client)
{
    size_t n = client != NULL ? strnlen(client, STORE_CLIENT_MAX + 1) : 0;

    return n >= 1 && n <= STORE_CLIENT_MAX;
}

int store_post_client_set(struct store *s, const uint8_t *post, const char *client)
{
    sqlite3_stmt *st = s->st[ST_POST_CLIENT_SET];

    if (store__check_batch(s, "set post client") != 0)
        return -1;
    if (post == NULL || !is_client(client)) {
        log_warnx("store: set post client: invalid record");
        return -1;
    }
    sqlite3_bind_blob(st, 1, post, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, client, -1, SQLITE_STATIC);
    return store__run(s, ST_POST_CLIENT_SET, "set post client");
}

int store_post_client_get(struct store *s, const uint8_t *id, char *client)
{
    sqlite3_stmt *st = s->st[ST_POST_CLIENT_GET];
    int rc, ret = -1;

    client[0] = '\0';
    sqlite3_bind_blob(st, 1, id, STORE_HASH_BYTES, SQLITE_STATIC);
    rc = store__step(s, st, "get post client");
    if (rc == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_text(st, 0);
        int n = sqlite3_column_bytes(st, 0);

        if (p == NULL || n < 1 || n > STORE_CLIENT_MAX) {
            log_warnx("store: corrupt post client");
            goto out;
        }
        memcpy(client, p, (size_t)n);
        client[n] = '\0';
        ret = 1;
    } else if (rc == SQLITE_DONE) {
        ret = 0;
    }
out:
    store__done(st);
    return ret;
}

/* ---- counters ----------------------------------------------------------- */

int store_count(struct store *s, uint64_t *envelopes, uint64_t *evidence)
{
    sqlite3_stmt *st = s->st[ST_COUNT];
    int ret = -1;

    if (store__step(s, st, "count") != SQLITE_ROW)
        goto out;
    if (store__column_u64(st, 0, envelopes) != 0 || store__column_u64(st, 1, evidence) != 0)
        goto out;
    ret = 0;
out:
    store__done(st);
    return ret;
}

int store_counter_put(struct store *s, const char *name, uint64_t value)
{
    sqlite3_stmt *st = s->st[ST_COUNTER_PUT];
    size_t len = strlen(name);
    int ret = -1;

    if (len == 0 || len > STORE_COUNTER_NAME_MAX) {
        log_warnx("store: counter name of %zu bytes not kept", len);
        return -1;
    }
    if (store__check_batch(s, "counter") != 0)
        return -1;
    /* SQLite's integers are signed: a counter past 2^63 stays there. */
    sqlite3_bind_text(st, 1, name, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value > INT64_MAX ? INT64_MAX : (sqlite3_int64)value);
    if (store__step(s, st, "counter") == SQLITE_DONE)
        ret = 0;
    store__done(st);
    return ret;
}

int store_each_counter(struct store *s, store_counter_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = -1;

    /* Once, at start: prepared on the spot. */
    if (sqlite3_prepare_v2(s->db, "SELECT name, value FROM counters ORDER BY name", -1, &st,
                           NULL) != SQLITE_OK)
        return db_error(s->db, "prepare list counters");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 0);
        sqlite3_int64 value = sqlite3_column_int64(st, 1);

        if (name == NULL || value < 0) {
            log_warnx("store: corrupt counter row");
            goto out;
        }
        if ((ret = fn(arg, (const char *)name, (uint64_t)value)) != 0)
            goto out;
        ret = -1;
    }
    if (rc != SQLITE_DONE) {
        db_error(s->db, "list counters");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

void store_counters_save(struct store *s, const struct stats *st)
{
    for (size_t i = 0; i < stats_size(st); i++) {
        const char *name;
        uint64_t value;

        if (stats_is_saved(st, i))
            continue;
        stats_at(st, i, &name, &value);
        if (store_counter_put(s, name, value) == -1)
            return;
    }
}

static int restore_counter(void *arg, const char *name, uint64_t value)
{
    if (stats_restore(arg, name, value) == -1)
        log_warnx("store: counter %s not restored: the counters' table is full", name);
    return 0;
}

int store_counters_restore(struct store *s, struct stats *st)
{
    return store_each_counter(s, restore_counter, st);
}

/* ---- the trusted roster ------------------------------------------------- */

/* These statements run at start and on a reload only, so they are prepared
 * on the spot rather than kept with the per-message ones. */

/* Copies the roster column of a row. Returns 0 or -1 (logged). */
static int column_roster(sqlite3_stmt *st, int col, uint8_t **buf, size_t *len)
{
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);

    if (n <= 0 || n > ROSTER_BLOB_MAX || p == NULL) {
        log_warnx("store: the trusted roster row is corrupt (%d bytes)", n);
        return -1;
    }
    if ((*buf = malloc((size_t)n)) == NULL) {
        log_warn("store: malloc");
        return -1;
    }
    memcpy(*buf, p, (size_t)n);
    *len = (size_t)n;
    return 0;
}

/* The one row of roster_trusted on db. Returns 1 with *buf (ours to free)
 * and *len, 0 when there is none, -1 on error (logged). */
static int read_trusted(sqlite3 *db, uint8_t **buf, size_t *len)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = -1;

    *buf = NULL;
    *len = 0;
    if (sqlite3_prepare_v2(db, "SELECT roster FROM roster_trusted WHERE one = 1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_error(db, "trusted roster get");
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ret = column_roster(st, 0, buf, len) == 0 ? 1 : -1;
    else if (rc == SQLITE_DONE)
        ret = 0;
    else
        db_error(db, "trusted roster get");
    sqlite3_finalize(st);
    return ret;
}

int store_roster_get(struct store *s, uint8_t **buf, size_t *len)
{
    return read_trusted(s->db, buf, len);
}

int store_roster_put(struct store *s, const uint8_t *buf, size_t len, uint64_t version,
                     const uint8_t *hash)
{
    sqlite3_stmt *st = NULL;
    bool is_own = !s->is_in_batch;
    int ret = -1;

    if (buf == NULL || len == 0 || len > ROSTER_BLOB_MAX || version == 0 || version > INT64_MAX) {
        log_warnx("store: trusted roster put: bad arguments");
        return -1;
    }
    /* Outside a batch (at start) the write is its own transaction; inside
     * one (a reload during a round) it commits with the round. */
    if (is_own && store_begin(s) != 0)
        return -1;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO roster_trusted (one, version, hash, roster)"
                           " VALUES (1, ?1, ?2, ?3) ON CONFLICT (one) DO UPDATE"
                           " SET version = excluded.version, hash = excluded.hash,"
                           " roster = excluded.roster WHERE excluded.version >= version",
                           -1, &st, NULL) != SQLITE_OK) {
        db_error(s->db, "trusted roster put");
        goto out;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)version);
    sqlite3_bind_blob(st, 2, hash, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, buf, (int)len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        db_error(s->db, "trusted roster put");
        goto out;
    }
    if (sqlite3_changes(s->db) != 1) {
        log_warnx("store: trusted roster put: version %llu is older than the one kept",
                  (unsigned long long)version);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* The history keeps the first roster trusted at each version: the
     * roster module has refused any other of that version as a fork. */
    if (sqlite3_prepare_v2(
            s->db,
            "INSERT OR IGNORE INTO roster_history (version, hash, trusted_at, roster)"
            " VALUES (?1, ?2, ?3, ?4)",
            -1, &st, NULL) != SQLITE_OK) {
        db_error(s->db, "roster history put");
        goto out;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)version);
    sqlite3_bind_blob(st, 2, hash, STORE_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
    sqlite3_bind_blob(st, 4, buf, (int)len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        db_error(s->db, "roster history put");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    if (is_own) {
        if (ret == 0)
            ret = store_commit(s);
        else
            store_rollback(s);
    }
    return ret;
}

int store_roster_at(struct store *s, uint64_t version, uint8_t **buf, size_t *len)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = -1;

    *buf = NULL;
    *len = 0;
    if (version == 0 || version > INT64_MAX)
        return 0;
    if (sqlite3_prepare_v2(s->db, "SELECT roster FROM roster_history WHERE version = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return db_error(s->db, "roster history get");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)version);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ret = column_roster(st, 0, buf, len) == 0 ? 1 : -1;
    else if (rc == SQLITE_DONE)
        ret = 0;
    else
        db_error(s->db, "roster history get");
    sqlite3_finalize(st);
    return ret;
}

/* Walks roster_history on db in version order. */
static int each_roster(sqlite3 *db, store_roster_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = -1;

    if (sqlite3_prepare_v2(db,
                           "SELECT version, hash, trusted_at, length(roster) FROM roster_history"
                           " ORDER BY version",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(db, "roster history list");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_roster_entry e = {0};
        const void *hash = sqlite3_column_blob(st, 1);

        if (sqlite3_column_int64(st, 0) < 1 || hash == NULL ||
            sqlite3_column_bytes(st, 1) != STORE_HASH_BYTES) {
            log_warnx("store: corrupt roster history row");
            goto out;
        }
        e.version = (uint64_t)sqlite3_column_int64(st, 0);
        memcpy(e.hash, hash, STORE_HASH_BYTES);
        e.trusted_at = sqlite3_column_int64(st, 2);
        e.size = (size_t)sqlite3_column_int64(st, 3);
        if ((ret = fn(arg, &e)) != 0)
            goto out;
        ret = -1;
    }
    if (rc != SQLITE_DONE) {
        db_error(db, "roster history list");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

int store_each_roster(struct store *s, store_roster_fn fn, void *arg)
{
    return each_roster(s->db, fn, arg);
}

int store_roster_history_peek(const char *dir, store_roster_fn fn, void *arg)
{
    char path[PATH_BYTES];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret = -1;

    if (dir == NULL || (size_t)snprintf(path, sizeof(path), "%s/%s", dir, DB_NAME) >= sizeof(path))
        return -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) !=
        SQLITE_OK) {
        log_warnx("store: cannot open %s", path);
        goto out;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE name = 'roster_history'", -1, &st,
                           NULL) != SQLITE_OK) {
        db_error(db, path);
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        log_warnx("store: %s keeps no roster history (a store older than schema 14; start the "
                  "node once)",
                  path);
        goto out;
    }
    ret = each_roster(db, fn, arg);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}

int store_roster_peek(const char *dir, uint8_t **buf, size_t *len)
{
    char path[PATH_BYTES];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret = -1;

    *buf = NULL;
    *len = 0;
    if (dir == NULL || (size_t)snprintf(path, sizeof(path), "%s/%s", dir, DB_NAME) >= sizeof(path))
        return -1;
    if (access(path, F_OK) != 0)
        return errno == ENOENT ? 0 : -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) !=
        SQLITE_OK) {
        if (db != NULL)
            db_error(db, path);
        goto out;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* A store from before the table existed has trusted nothing yet. */
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE name = 'roster_trusted'", -1, &st,
                           NULL) != SQLITE_OK) {
        db_error(db, path);
        goto out;
    }
    ret = sqlite3_step(st) == SQLITE_ROW ? read_trusted(db, buf, len) : 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}
