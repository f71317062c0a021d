/*
 * store: the node's durable state in one SQLite file (WAL,
 * synchronous=FULL): every log's envelopes as ciphertext, equivocation
 * evidence, the inbox of envelopes addressed to this member with local
 * delivery numbers, client cursors and the board's tables. The only module
 * that speaks SQL; nothing here parses envelopes. It holds one key, handed
 * to store_open: the store key the node derives from the member's secrets
 * (keys_derive_store_key). One writer, holding the data directory's lock:
 * the node's event loop, or, with the node stopped, `tmbus-admin bundle
 * import`.
 *
 * At rest, a copy of the data directory without the member's key file
 * shows no payload text. Envelopes and evidence are the wire's ciphertext.
 * The board's payloads (board_needs.need, board_offers.offer,
 * board_updates.body: every title, description, beneficiary, contact,
 * condition and reason) are sealed with the store key, each bound to its
 * column and row id so that a blob moved elsewhere does not open
 * (store_seal.c). What stays plain is what queries select, join or order
 * on, and the board's own bookkeeping, none of it payload text: ids,
 * targets and log positions (32-byte hashes and member ids), owners,
 * donors and senders, created_at, status, kind, action and outcome codes,
 * TLP, category, and the quantity counters. A reader of a copy learns the
 * shape of the board (who posted how many needs of which category and TLP,
 * for what quantities, when, and how far they got), not what they say.
 * Delivery reasons stay plain too: they are the short reasons a
 * recipient's node gives in a receipt, not payload. The blobs are sealed
 * with a random data key that the store keeps wrapped under the key bound
 * to the member's X25519 secret: a store opened with another member's key
 * is refused, and a member that rotates its keys starts once with the
 * previous key file (store_open_rotated) so that the data key is wrapped
 * anew.
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

#define STORE_HASH_BYTES WIRE_ID_BYTES        /* envelope ids and hashes */
#define STORE_CLIENT_MAX WIRE_CLIENT_NAME_MAX /* longest client name */
#define STORE_SCHEMA     20                   /* schema version this build migrates to */
#define STORE_KEY_BYTES  32                   /* the member's store key, and the data key */

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

#define STORE_WHY_MAX 512 /* room for store_check_dir's reason */

/* Checks that the data directory dir and everything in it belong to this
 * user alone: dir owned by the effective uid with no group or other
 * permission bits (0700), each entry owned by the same uid, not a symbolic
 * link, and with no group or other bits (0600 for files). A missing dir
 * passes: store_open makes it. Returns 0, or -1 with a one-line reason in
 * why (size bytes). Reads the directory; touches nothing. */
int store_check_dir(const char *dir, char *why, size_t size);

/* Opens (creating if needed) DIR/tmbus.db, sets WAL and synchronous=FULL,
 * and migrates the schema to STORE_SCHEMA in one transaction. Makes DIR
 * 0700 and every file in it 0600 whatever the umask, and refuses a DIR
 * that store_check_dir refuses, before and after opening. key
 * (STORE_KEY_BYTES, copied into locked memory; the caller keeps and wipes
 * its own) seals and opens the board's blobs; a store sealed with another
 * key is refused, and one written before sealing is sealed in place and
 * vacuumed, so no plaintext page is left behind. Refuses a database whose
 * schema is newer than this build knows. Returns NULL on failure (logged).
 * Blocks on disk. */
struct store *store_open(const char *dir, const uint8_t *key);

/* As store_open, for the first start after the member's keys were
 * rotated: the board is sealed with a data key that the store keeps
 * wrapped under the member's store key, and previous (the store key of the
 * key set the store was written with; NULL for none) unwraps it so that it
 * is wrapped again under key. Without it such a store is refused. */
struct store *store_open_rotated(const char *dir, const uint8_t *key, const uint8_t *previous);

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

/* True from a write that failed for want of disk space (SQLite's
 * SQLITE_FULL: the file system said ENOSPC, or it hit a size limit) until
 * a batch commits again. While it holds, every batch fails the same way,
 * and the store logs no further line for it. */
bool store_is_full(const struct store *s);

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

/* One envelope of a range read. env is the store's, valid only during the
 * call. Returns 0 to take it and go on, 1 to stop without taking it, -1 to
 * fail the read. */
typedef int (*store_range_fn)(void *arg, uint64_t seq, const uint8_t *env, size_t len);

/*
 * Reads log's envelopes from seq `from` up to `to` (inclusive) in seq
 * order, in one statement, handing each to fn without copying it: the
 * stream to a peer reads a frame's worth per call instead of one query per
 * envelope. fn bounds the read (by returning 1). Never writes; does not
 * block beyond the database read. Returns how many envelopes fn took (0
 * when the range holds none), or -1 on a database error, damage or fn's -1.
 */
int store_get_range(struct store *s, const struct store_log *log, uint64_t from, uint64_t to,
                    store_range_fn fn, void *arg);

/* Keeps a second, different envelope for an occupied (log, seq) as
 * equivocation evidence and halts the log: no further appends, and
 * replication stops relaying it. seq is the held envelope env contradicts:
 * env's own seq, or the seq before it when env's prev_hash is not that
 * envelope's id. Inside the open batch. Returns 0 or -1; -1 also when
 * (log, seq) holds nothing or holds exactly env. The same evidence kept
 * twice is stored once. */
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

/* ---- board: needs, offers and the updates about them ------------------- */

/*
 * The board module (board.c) decides; these tables only remember what it
 * decided. Status, kind, action and outcome codes are the board's and are
 * opaque here. The board holds what this member could read (the
 * serialized Need, Offer or update): callers put and get it in clear, and
 * the store seals it on disk (see the top of this file); the fields of the
 * records below are in clear on disk (what pages filter on and reports
 * total: owner, status, label, category, priority, quantities, value,
 * sector, deadline), the free text only in the sealed blob; a blob that does
 * not open makes the read fail. Blobs are at most STORE_BOARD_BLOB_MAX
 * bytes. Writes happen inside the open batch, so
 * the board commits together with the envelope that changed it.
 */
#define STORE_BOARD_BLOB_MAX (1024 * 1024)

/* One need. On put, need is read; on get, need is a malloc'd copy the
 * caller frees; in a store_board_need_fn it is valid during the call. */
struct store_board_need {
    uint8_t id[STORE_HASH_BYTES]; /* envelope id of the message that posted it */
    char owner[UTIL_MEMBER_ID_MAX + 1];
    int64_t created_at;
    int status;
    uint32_t tlp; /* the label it is handled under */
    uint32_t category;
    uint32_t priority; /* the Need's, kept in clear beside category so pages filter on it */
    uint64_t quantity;
    uint64_t accepted_quantity;
    uint64_t delivered_quantity;
    int64_t updated_at; /* on get: when this node last wrote it; ignored on put (now) */
    /* The Need's value, sector and deadline ("YYYY-MM-DD" or ""), kept in
     * clear so that reports read no blob. On get, has_facts is false for a
     * row written before schema 13 that board_upgrade has not filled yet
     * (then the three are zero); ignored on put (always kept). */
    bool has_facts;
    uint64_t value_cents;
    uint32_t sector;
    char deadline[WIRE_DATE_LEN + 1];
    uint8_t *need; /* serialized Need */
    size_t need_len;
};

/* One offer; offer follows the same ownership rules as need above. */
struct store_board_offer {
    uint8_t id[STORE_HASH_BYTES];
    char donor[UTIL_MEMBER_ID_MAX + 1];
    int64_t created_at;
    bool has_need; /* false for a catalogue offer */
    uint8_t need_id[STORE_HASH_BYTES];
    int status;
    uint32_t tlp;
    uint64_t quantity;
    int64_t updated_at;   /* as in store_board_need */
    bool has_facts;       /* as in store_board_need */
    uint64_t value_cents; /* the Offer's, in clear as a need's */
    uint8_t *offer;       /* serialized Offer */
    size_t offer_len;
};

/* One update as received, with its place in its origin's log so that the
 * board can later re-apply every update in a canonical order. body follows
 * the rules of need above. is_waiting: the update names an object (awaits)
 * this board has not seen yet; it is applied when that object arrives. */
struct store_board_update {
    uint8_t id[STORE_HASH_BYTES];
    struct store_log log;
    uint64_t seq;
    char sender[UTIL_MEMBER_ID_MAX + 1];
    int64_t created_at;
    int kind;
    int action;
    uint8_t target[STORE_HASH_BYTES];
    int outcome;
    bool is_waiting;
    uint8_t awaits[STORE_HASH_BYTES];
    uint8_t *body; /* serialized NeedUpdate or OfferUpdate */
    size_t body_len;
};

/* Inserts or replaces the need with n->id inside the open batch. Returns 0
 * or -1. */
int store_board_need_put(struct store *s, const struct store_board_need *n);

/* Looks a need up by id. Returns 1 and fills *out (out->need is the
 * caller's to free), 0 when unknown, -1 on error. */
int store_board_need_get(struct store *s, const uint8_t *id, struct store_board_need *out);

/* Inserts or replaces the offer with o->id inside the open batch. */
int store_board_offer_put(struct store *s, const struct store_board_offer *o);

/* Removes the offer with id (STORE_HASH_BYTES), if held, inside the open
 * batch: a replay found that it was never made (board.c). Returns 0 or
 * -1. */
int store_board_offer_drop(struct store *s, const uint8_t *id);

/* Looks an offer up by id; as store_board_need_get. */
int store_board_offer_get(struct store *s, const uint8_t *id, struct store_board_offer *out);

/* Calls fn for each need, oldest first (created_at, then id): only the need
 * with id when id is not NULL, only those with status when status >= 0.
 * Rows are read before the first call, so fn may write to the store.
 * Returns 0, -1 on error, or fn's first non-zero return. */
typedef int (*store_board_need_fn)(void *arg, const struct store_board_need *n);
int store_board_each_need(struct store *s, const uint8_t *id, int status, store_board_need_fn fn,
                          void *arg);

/* Calls fn for each offer, oldest first: only the offers answering need_id
 * when it is not NULL. As store_board_each_need otherwise. */
typedef int (*store_board_offer_fn)(void *arg, const struct store_board_offer *o);
int store_board_each_offer(struct store *s, const uint8_t *need_id, store_board_offer_fn fn,
                           void *arg);

/* One page of a board list: which rows, through which clearance. Every
 * list is ORed within itself and the filters ANDed; NULL or an empty list
 * means any. Values are the board's codes (opaque here). */
struct store_board_filter {
    uint32_t clearance;   /* rows labelled above it, and offers to needs above it, are never read */
    const uint8_t *after; /* only ids above this one (STORE_HASH_BYTES), or NULL */
    const uint8_t *need_id; /* needs: only this one; offers: only those answering it */
    int need_status;        /* -1, or needs (offers: their need) in this status only */
    const int *statuses;    /* the rows' own status codes */
    size_t n_statuses;
    const uint32_t *categories; /* needs only */
    size_t n_categories;
    const uint32_t *priorities; /* needs only */
    size_t n_priorities;
    const char *const *members; /* owners (needs) or donors (offers) */
    size_t n_members;
    int64_t updated_since;  /* 0, or rows written at or after it only */
    const uint8_t *id_from; /* only ids at or above it, or NULL */
    const uint8_t *id_to;   /* only ids below it, or NULL */
    size_t limit;           /* rows read at most (1..STORE_BOARD_PAGE_ROWS) */
};
#define STORE_BOARD_PAGE_ROWS  1001 /* a page of 1,000 and the look-ahead row */
#define STORE_BOARD_FILTER_MAX 16   /* values in each list of a filter */

/* Calls fn for the needs matching f, by increasing id, reading each row
 * as the query steps (one row in memory at a time): fn must not write to
 * the store. Stops when fn returns non-zero. Served by indexes so that a
 * page costs its own rows, not the board's size. Returns 0, -1 on error,
 * or fn's first non-zero return when positive (a negative one is -1). */
int store_board_page_needs(struct store *s, const struct store_board_filter *f,
                           store_board_need_fn fn, void *arg);

/* The same for offers (categories and priorities are ignored). */
int store_board_page_offers(struct store *s, const struct store_board_filter *f,
                            store_board_offer_fn fn, void *arg);

/* Inserts or replaces the update with u->id inside the open batch (a
 * waiting update is replaced when it is finally applied). Returns 0 or -1. */
int store_board_update_put(struct store *s, const struct store_board_update *u);

/* Calls fn for each waiting update whose awaits is id, in the order they
 * were first recorded. As store_board_each_need otherwise. */
typedef int (*store_board_update_fn)(void *arg, const struct store_board_update *u);
int store_board_each_waiting(struct store *s, const uint8_t *id, store_board_update_fn fn,
                             void *arg);

/* Calls fn for every recorded board message (need, offer or update) whose
 * target is id, or whose target is the id of such a message: a superset
 * of the cluster rooted at id, which the board narrows down. In the order
 * they were first recorded; as store_board_each_need otherwise. */
int store_board_each_in_cluster(struct store *s, const uint8_t *id, store_board_update_fn fn,
                                void *arg);

/*
 * What reports read, in clear and without opening any blob (need and
 * offer are NULL): every need labelled at most clearance, in no order,
 * with its id, owner, status, priority, category, quantity, accepted
 * quantity and facts; every offer answering a need whose view label (its
 * own and its need's) is at most clearance, with its donor, need id,
 * status and facts, in no order. Rows are read as the query steps: fn must
 * not write to the store; it stops the walk by returning non-zero.
 * Returns 0, -1 on error, or fn's first non-zero return when positive.
 */
int store_board_need_facts(struct store *s, uint32_t clearance, store_board_need_fn fn, void *arg);
int store_board_offer_facts(struct store *s, uint32_t clearance, store_board_offer_fn fn,
                            void *arg);

/* Up to max ids above after (NULL: from the start), by increasing id, of
 * needs (is_offers false) or offers written before their facts were kept,
 * into ids; *n says how many. Costs what it finds. Returns 0 or -1. */
int store_board_unfilled(struct store *s, bool is_offers, const uint8_t *after,
                         uint8_t (*ids)[STORE_HASH_BYTES], size_t max, size_t *n);

/*
 * The board's digest sum (proto/PROTOCOL.md §6.3): the sum, modulo 2^512,
 * of BLAKE2b-512 of each need's and offer's canonical row, as a 64-byte little-endian
 * number. Every need and offer put updates it in the same batch (the old
 * row's hash out, the new one's in), so reading it costs one row whatever
 * the board's size. A store migrated from before schema 11 has none until
 * store_board_digest_rebuild ran: then store_board_digest computes it from
 * the rows (every blob opened) without keeping it.
 */
#define STORE_BOARD_DIGEST_BYTES 64
int store_board_digest(struct store *s, uint8_t sum[STORE_BOARD_DIGEST_BYTES])
    __attribute__((warn_unused_result));

/* Computes the sum from every row, ignoring the kept one. Reads only; costs
 * the board's size (tests, upgrades). Returns 0 or -1. */
int store_board_digest_compute(struct store *s, uint8_t sum[STORE_BOARD_DIGEST_BYTES])
    __attribute__((warn_unused_result));

/* Computes the sum from every row and keeps it, inside the open batch, when
 * the store has none yet; does nothing otherwise. Sets *is_done to whether
 * it computed. Returns 0 or -1. */
int store_board_digest_rebuild(struct store *s, bool *is_done) __attribute__((warn_unused_result));

/* Whether the board has recorded anything under id (a need, an offer or an
 * update). Returns 1, 0, or -1 on error. */
int store_board_knows(struct store *s, const uint8_t *id);

/* Status codes store_board_counts tells apart: 0 .. STORE_BOARD_STATUSES - 1
 * (the board's are 1..6); a row in any other counts in the totals only. */
#define STORE_BOARD_STATUSES 8

struct store_board_counts {
    uint64_t needs, offers; /* every status */
    uint64_t need_status[STORE_BOARD_STATUSES];
    uint64_t offer_status[STORE_BOARD_STATUSES];
};

/* How many needs and offers the board holds, in all and by status, as every
 * board write keeps them in its batch (board_counts, schema 17): a read of
 * a dozen rows whatever the board's size, for the metrics endpoint.
 * Returns 0 or -1 (logged). */
int store_board_count(struct store *s, struct store_board_counts *out)
    __attribute__((warn_unused_result));

/* The same, counted afresh from the board's rows: count(*) over both
 * tables, tens of milliseconds at 400,000 rows, so for checks and tests
 * only; what store_board_count must always equal. Returns 0 or -1
 * (logged). */
int store_board_recount(struct store *s, struct store_board_counts *out)
    __attribute__((warn_unused_result));

/* ---- delivery state of this member's own posts ------------------------ */

/* States are the receipt module's codes (0 pending, 1 delivered, 2
 * rejected); the store only keeps them, but 0 must mean pending: only a
 * pending entry takes a receipt. */
#define STORE_DELIVERY_PENDING 0
#define STORE_REASON_MAX       WIRE_REASON_MAX /* a receipt entry's reason */

/* One recipient of one post. */
struct store_delivery {
    uint8_t id[STORE_HASH_BYTES]; /* the envelope that went to member */
    char member[UTIL_MEMBER_ID_MAX + 1];
    int state;
    char reason[STORE_REASON_MAX + 1];
    int64_t at;
};

/* Records, inside the open batch, that envelope id of post (the id of the
 * post's first envelope) went to member, in state (usually pending) since
 * at. Returns 0 or -1 (also when (id, member) is recorded already). */
int store_delivery_add(struct store *s, const uint8_t *post, const uint8_t *id, const char *member,
                       int state, int64_t at);

/* Looks up the state of (id, member); member NULL matches any recipient of
 * id. Returns 1 and fills *state, 0 when there is no such entry, -1 on
 * error. */
int store_delivery_find(struct store *s, const uint8_t *id, const char *member, int *state);

/* Moves (id, member) from pending to state with reason ("" or one line of
 * at most STORE_REASON_MAX bytes) and at, inside the open batch. Returns 1
 * when it moved, 0 when there is no pending entry (unknown, or already
 * settled: the first word is final), -1 on error. */
int store_delivery_set(struct store *s, const uint8_t *id, const char *member, int state,
                       const char *reason, int64_t at);

/* Fills out[0..*n) with every recipient of the post that envelope id
 * belongs to (id may be any of a TLP:RED post's envelopes), ordered by
 * member; *n is 0 when id is no post of ours. At most max entries; more
 * is an error. Returns 0 or -1. */
int store_delivery_get(struct store *s, const uint8_t *id, struct store_delivery *out, size_t max,
                       size_t *n);

/* Records, inside the open batch, that client posted post (the id of the
 * post's first envelope, as store_delivery_add takes it). Returns 0 or -1
 * (also when post has a client already). */
int store_post_client_set(struct store *s, const uint8_t *post, const char *client);

/* Copies into client (STORE_CLIENT_MAX + 1 bytes) the name of the client
 * that posted the post envelope id belongs to (any of its envelopes).
 * Returns 1, 0 when no client is recorded (no such post, or one made
 * before the store recorded posters), or -1 on error. */
int store_post_client_get(struct store *s, const uint8_t *id, char *client);

/* ---- counters --------------------------------------------------------- */

/* Number of envelopes held in all logs, and in evidence. Returns 0 or -1. */
int store_count(struct store *s, uint64_t *envelopes, uint64_t *evidence);

/* ---- the node's named counters, kept across restarts ------------------- */

#define STORE_COUNTER_NAME_MAX 127 /* longest counter name kept */

/* Records value as the counter called name, inside the open batch (so it
 * is durable with the batch's commit and costs no commit of its own).
 * Returns 0 or -1 (logged; a name over STORE_COUNTER_NAME_MAX bytes is
 * refused). */
int store_counter_put(struct store *s, const char *name, uint64_t value);

/* Calls fn for every counter kept, in name order, until fn returns
 * non-zero. name is valid during the call only. Runs at start. Returns 0,
 * fn's non-zero result, or -1 when the store cannot be read (logged). */
typedef int (*store_counter_fn)(void *arg, const char *name, uint64_t value);
int store_each_counter(struct store *s, store_counter_fn fn, void *arg);

struct stats;

/* Writes the counters of st that moved since they were last marked saved
 * into the open batch: they become durable with it, at no cost of a
 * commit of their own. A failure (logged) leaves the rest unsaved, for the
 * next batch. */
void store_counters_save(struct store *s, const struct stats *st);

/* Puts every counter the store keeps back into st, as a process starts
 * (one that does not fit st's table is logged and left out). Returns 0 or
 * -1 (logged). */
int store_counters_restore(struct store *s, struct stats *st);

/* ---- retention (store_retention.c) ------------------------------------ */

/* What one retention round may prune (PROTOCOL.md 5.8). A time of 0 turns
 * its rule off. */
struct store_retention_rules {
    int64_t now;            /* recorded as when an envelope was pruned */
    int64_t expired_before; /* envelopes with 0 < expires_at <= this */
    int64_t closed_before;  /* every envelope of a need whose row took a final
                               status at or before this (its updated_at) */
    int closed_status[2];   /* the board's final need statuses (closed, withdrawn) */
    size_t max_rows;        /* envelopes examined at most in one round, >= 1 */
};

/* Where the closed-need rule left off, kept by the caller between rounds
 * (zeroed to start over: a restart does, and meets only already pruned
 * rows again). */
struct store_retention_cursor {
    int64_t updated_at;
    uint8_t need_id[STORE_HASH_BYTES];
};

/* What one round did. */
struct store_retention_result {
    uint64_t examined;    /* envelopes looked at */
    uint64_t pruned;      /* envelopes whose ciphertext was dropped */
    uint64_t bytes_freed; /* bytes of envelope rows given back */
    bool is_more;         /* the round stopped at max_rows: call again soon */
    bool is_held;         /* a closed need waits for a client's ack */
};

/* Turns the stored bytes of one envelope into its pruned form: returns 1
 * with a malloc'd *out the store frees, 0 when env is pruned already, -1
 * on failure. (retention.c passes envelope_prune: the store does not parse
 * envelopes.) */
typedef int (*store_prune_fn)(const uint8_t *env, size_t len, uint8_t **out, size_t *out_len);

/* One bounded retention round inside the open batch: replaces the stored
 * bytes of due envelopes with their pruned form and marks them pruned;
 * logs, heads, evidence, the inbox and the board stay as they are. First
 * the expiry rule, oldest expiry first; then, with what is left of
 * max_rows, the closed-need rule, needs in the order they closed from *c
 * on (a need's envelopes are taken together, so a round may pass max_rows
 * by one need's). A closed need's envelope that sits in the inbox beyond
 * what every subscribed client acknowledged (or any inbox entry, when no
 * client ever subscribed) stops the closed rule there until a later round
 * (out->is_held). Does not block beyond the SQL. Returns 0, or -1 (logged;
 * the caller rolls its write group back). */
int store_retention_round(struct store *s, const struct store_retention_rules *r,
                          store_prune_fn prune, struct store_retention_cursor *c,
                          struct store_retention_result *out) __attribute__((warn_unused_result));

/* Bytes of the database file on SQLite's free list: pages that pruning
 * or deletes gave back, which later writes reuse (the file does not
 * shrink). Returns 0 or -1 (logged). */
int store_free_bytes(struct store *s, uint64_t *bytes);

/* ---- key rotation (store_rotation.c) ----------------------------------- */

#define STORE_ROTATION_MAX_LOGS 256 /* = ROSTER_MAX_SIGNED_LOGS */

/* How far this member signed one of its logs with a generation it has
 * replaced: log_peer "" for its relayed log. */
struct store_rotation_head {
    char log_peer[UTIL_MEMBER_ID_MAX + 1];
    uint64_t last_seq;
};

/* Records, once per generation, the heads of member's own logs as they
 * stand now (the open batch included) as what generation key_id signed:
 * the node calls it as it starts signing with a newer generation. Inside
 * the open batch. Returns 1 when it recorded them, 0 when key_id's were
 * recorded before (left as they were), -1 on error (logged). */
int store_rotation_record(struct store *s, const char *member, uint32_t key_id);

/* The heads recorded for the highest generation recorded: *key_id (0 and
 * *n 0 when none) and up to max of its logs with a last seq of at least 1,
 * the relayed log first. Returns 0 or -1 (logged). */
int store_rotation_heads(struct store *s, uint32_t *key_id, struct store_rotation_head *out,
                         size_t max, size_t *n);

/* ---- the trusted roster ------------------------------------------------ */

/* The serialized SignedRoster this node trusts, as the last
 * store_roster_put left it. The store keeps the bytes and never judges
 * them: the roster module does. Returns 1 with *buf (malloc'd, the
 * caller's to free) and *len, 0 when the node has trusted none yet, -1 on
 * error (logged). */
int store_roster_get(struct store *s, uint8_t **buf, size_t *len);

/* Records buf (at most 1 MiB) as the roster this node trusts, with its
 * version and 32-byte hash. A version older than the one kept is refused,
 * so the record only moves forward. Outside a batch it commits at once;
 * inside one it commits with the batch. Returns 0 or -1 (logged). */
int store_roster_put(struct store *s, const uint8_t *buf, size_t len, uint64_t version,
                     const uint8_t *hash);

/* The roster this node trusted at version (the governance log: every
 * roster store_roster_put recorded is kept, the first of each version).
 * Returns 1 with *buf (the caller's to free) and *len, 0 when it never
 * trusted that version, -1 on error (logged). */
int store_roster_at(struct store *s, uint64_t version, uint8_t **buf, size_t *len);

/* One roster of the history, as store_each_roster shows it. */
struct store_roster_entry {
    uint64_t version;
    uint8_t hash[STORE_HASH_BYTES];
    int64_t trusted_at; /* unix seconds when this node took it */
    size_t size;        /* of the SignedRoster bytes */
};

/* Calls fn for every roster this node has trusted, by increasing version,
 * until fn returns non-zero. e is valid during the call only. Returns 0,
 * fn's non-zero result, or -1 when the store cannot be read (logged). */
typedef int (*store_roster_fn)(void *arg, const struct store_roster_entry *e);
int store_each_roster(struct store *s, store_roster_fn fn, void *arg);

/* store_each_roster on DIR/tmbus.db opened read-only, beside a running
 * node or without one (tmbus-admin roster history --data-dir). Returns as
 * store_each_roster; -1 also when there is no store or no history in it
 * (logged). */
int store_roster_history_peek(const char *dir, store_roster_fn fn, void *arg);

/* store_roster_get for `tmbusd -n`: opens DIR/tmbus.db read-only, without
 * the lock and without migrating, so that it works beside a running node.
 * Returns 1 with *buf (the caller's to free), 0 when there is no store or
 * no trusted roster in it, -1 when it could not be read (logged). */
int store_roster_peek(const char *dir, uint8_t **buf, size_t *len);

/* ---- admissions (store_admission.c) ------------------------------------
 * Which members this node has seen admitted, and how far it has shared
 * its member's open needs with each (admission.c decides what to share).
 * Writes happen inside the open batch, with the shares they record. */

/* One member as the admissions table keeps it. */
struct store_admission {
    char member[UTIL_MEMBER_ID_MAX + 1];
    int64_t admitted_at; /* when this node first ran a roster listing it; 0: founding */
    bool is_done;        /* nothing more to share with it */
    bool has_after;
    uint8_t after[STORE_HASH_BYTES]; /* the last need id shared so far */
};

/* Records the members[0..n) of a roster in force: when the table is empty
 * (the first roster this store runs) every one as founding and done; else
 * each member not in it yet as admitted at now and not done. *n_new gets
 * how many were added as not done. Inside the open batch. Returns 0 or -1. */
int store_admission_note(struct store *s, const char *const *members, size_t n, int64_t now,
                         size_t *n_new) __attribute__((warn_unused_result));

/* Calls fn for every member of the table, by member id. fn returns 0 to go
 * on, non-zero to stop. Returns 0, -1 on error, or fn's non-zero return. */
typedef int (*store_admission_fn)(void *arg, const struct store_admission *a);
int store_admission_each(struct store *s, store_admission_fn fn, void *arg);

/* Moves member's share on: after (NULL: leave it) becomes the last need id
 * shared, and is_done ends it. Inside the open batch. Returns 0 or -1. */
int store_admission_advance(struct store *s, const char *member, const uint8_t *after, bool is_done)
    __attribute__((warn_unused_result));

/* One need a share may be about, posted in its owner's relayed log at seq. */
struct store_admission_need {
    uint8_t id[STORE_HASH_BYTES];
    int64_t created_at;
    uint64_t seq;
};

/* Which needs store_admission_needs reads: owner's, posted in its
 * relayed log, with a status code in [status_lo, status_hi] and a label at
 * most tlp_max (the board's codes), ids above after (NULL: any). */
struct store_admission_query {
    const char *owner;
    int status_lo, status_hi;
    uint32_t tlp_max;
    const uint8_t *after;
};

/* Up to max needs matching q, by increasing id, into out; *n says how
 * many. Costs the rows it returns (the owner index). Returns 0 or -1. */
int store_admission_needs(struct store *s, const struct store_admission_query *q, size_t max,
                          struct store_admission_need *out, size_t *n)
    __attribute__((warn_unused_result));

/* ---- the audit log's rows (store_audit.c) -------------------------------
 * The store keeps the audit module's entries, checkpoints and frontier as
 * opaque bytes: it neither encodes nor checks them (audit.c does). Entries
 * are plain at rest: they carry ids and reasons, never payload text. */

/* One stored checkpoint, as audit_checkpoints holds it. */
struct store_audit_checkpoint {
    uint64_t epoch;
    uint64_t size;
    uint8_t root[STORE_HASH_BYTES];
    int64_t at;
    char member[UTIL_MEMBER_ID_MAX + 1];
    uint8_t sig[64];
};

/* Called for each entry in index order; a non-zero return stops the walk
 * and is returned. */
typedef int (*store_audit_entry_fn)(void *arg, uint64_t idx, const uint8_t *entry, size_t len);
/* Called for each checkpoint in size order; a non-zero return stops. */
typedef int (*store_audit_checkpoint_fn)(void *arg, const struct store_audit_checkpoint *cp);

/* Writes n entries with indexes first, first + 1, ... into the open batch
 * (entries[i] of lens[i] bytes, at most 512). Returns 0 or -1 (logged). */
int store_audit_append(struct store *s, uint64_t first, const uint8_t *const *entries,
                       const size_t *lens, size_t n);

/* Replaces the frontier cache (size and len opaque bytes) in the open
 * batch. Returns 0 or -1 (logged). */
int store_audit_state_put(struct store *s, uint64_t size, const uint8_t *frontier, size_t len);

/* Reads the frontier cache into frontier (cap bytes). Returns 1 with
 * *size and *len, 0 when there is none, -1 on error (logged). */
int store_audit_state_get(struct store *s, uint64_t *size, uint8_t *frontier, size_t cap,
                          size_t *len);

/* Adds a checkpoint in the open batch. Returns 0 or -1 (logged). */
int store_audit_checkpoint_put(struct store *s, const struct store_audit_checkpoint *cp);

/* The checkpoint of the largest size. Returns 1, 0 when there is none, or
 * -1 (logged). */
int store_audit_checkpoint_last(struct store *s, struct store_audit_checkpoint *out);

/* Walks the entries with idx >= from in index order. Returns 0, fn's
 * non-zero return, or -1 (logged). */
int store_audit_each(struct store *s, uint64_t from, store_audit_entry_fn fn, void *arg);

/* The checkpoint of exactly size. Returns 1, 0 when there is none, -1. */
int store_audit_checkpoint_get(struct store *s, uint64_t size, struct store_audit_checkpoint *out);

/* Reads committed entries in index order without a statement per entry:
 * for proofs. Owned by the caller; free with store_audit_reader_free. */
struct store_audit_reader;

/* Returns NULL on failure (logged). */
struct store_audit_reader *store_audit_reader_new(struct store *s);

/* Entry idx into buf (cap bytes). Consecutive indexes cost one step each;
 * any other seeks. Returns 0 with *len, or -1 (no such entry; logged). */
int store_audit_read(struct store_audit_reader *r, uint64_t idx, uint8_t *buf, size_t cap,
                     size_t *len);

/* Frees the reader; clears *rp, accepts NULL. */
void store_audit_reader_free(struct store_audit_reader **rp);

/* Replaces the checkpoint held of a peer (cp->member) in the open batch.
 * Returns 0 or -1 (logged). */
int store_audit_peer_put(struct store *s, const struct store_audit_checkpoint *cp);

/* Walks the peers' checkpoints held, by member. Returns 0, fn's non-zero
 * return, or -1 (logged). */
int store_audit_peer_each(struct store *s, store_audit_checkpoint_fn fn, void *arg);

/* One cosignature of one of our checkpoints. */
struct store_audit_cosignature {
    uint64_t size; /* the checkpoint's */
    char cosigner[UTIL_MEMBER_ID_MAX + 1];
    int64_t at; /* when it arrived, Unix seconds */
    uint8_t sig[64];
};
typedef int (*store_audit_cosignature_fn)(void *arg, const struct store_audit_cosignature *c);

/* Adds a cosignature (a second one by the same cosigner of the same size
 * is ignored) in the open batch. Returns 0 or -1 (logged). */
int store_audit_cosignature_put(struct store *s, const struct store_audit_cosignature *c);

/* For `tmbus-admin audit`, read-only as store_audit_peek: walks the
 * cosignatures by size and cosigner (cfn) and then the peers' checkpoints
 * held (pfn); either may be NULL. A store from before the exchange has
 * none. Returns 1, 0, a callback's return or -1 as store_audit_peek. */
int store_audit_peek_exchange(const char *dir, store_audit_cosignature_fn cfn,
                              store_audit_checkpoint_fn pfn, void *arg);

/* For `tmbus-admin audit`: opens DIR/tmbus.db read-only, without the lock
 * and without migrating (beside a running node, too), and walks every
 * entry row in index order (efn) and then every checkpoint in size order
 * (cfn; either may be NULL). from skips entries below it. Returns 1 when
 * walked to the end, 0 when there is no store or no audit log in it, a
 * callback's non-zero return, or -1 when it could not be read (logged). */
int store_audit_peek(const char *dir, uint64_t from, store_audit_entry_fn efn,
                     store_audit_checkpoint_fn cfn, void *arg);

/* The number of entry rows and the largest idx + 1 (0, 0 when none), from
 * the same read-only view as store_audit_peek. Returns 1, 0 or -1 alike. */
int store_audit_peek_count(const char *dir, uint64_t *rows, uint64_t *end);

/* ---- a read-only view, for bundles (store_bundle.c) ---------------------
 * `tmbus-admin bundle vector` and `bundle export` read a node's logs
 * beside the running node: DIR/tmbus.db opened read-only, without the lock
 * and without migrating, in one read transaction. Nothing here writes. */
struct store_view;

/* Opens the view. Returns 1 with *out, 0 when there is no store, -1 when
 * it cannot be read (logged). Blocks on disk. */
int store_view_open(const char *dir, struct store_view **out);

/* Ends the read transaction and closes; clears *vp. Accepts NULL. */
void store_view_close(struct store_view **vp);

/* store_each_log over the view: every log with its head, read before the
 * first call, so fn may read ranges. Returns 0, -1, or fn's non-zero. */
int store_view_each_log(struct store_view *v, store_log_fn fn, void *arg);

/* store_get_range over the view. Returns how many envelopes fn took, or -1. */
int store_view_range(struct store_view *v, const struct store_log *log, uint64_t from, uint64_t to,
                     store_range_fn fn, void *arg);

/* How many of log's envelopes from seq from up to to (in order) fit in
 * budget bytes, each costing its size plus overhead. Returns that number,
 * or -1 on error (logged). */
int64_t store_view_fit(struct store_view *v, const struct store_log *log, uint64_t from,
                       uint64_t to, uint64_t budget, uint64_t overhead);

/* The id (STORE_HASH_BYTES) of the envelope at (log, seq): returns 1, 0
 * when none is held there, -1 on error (logged). */
int store_view_id(struct store_view *v, const struct store_log *log, uint64_t seq, uint8_t *id);

#endif
