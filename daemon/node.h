/*
 * node: the hub of tmbusd, after Redis's server.h. One struct node holds
 * everything the event loop owns: configuration, roster, keys, store,
 * sockets' modules and counters; every module gets the node and uses only
 * the functions below and its own header. The node owns the group commit:
 * modules append inside the open batch, and after every loop round the node
 * commits and tells peers and api, which only then acknowledge.
 */
#ifndef TMBUS_NODE_H
#define TMBUS_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "envelope.h"
#include "keys.h"
#include "loop.h"
#include "receipt.h"
#include "roster.h"
#include "stats.h"
#include "store.h"
#include "zap.h"

struct peers;
struct api;

/* A receipt entry owed to the sender of an envelope we accepted this round,
 * for its relayed log or its direct log to us. */
struct node_answer {
    char sender[UTIL_MEMBER_ID_MAX + 1];
    bool is_direct;
    bool is_sent; /* scratch while node_commit groups answers */
    struct receipt_entry entry;
};

struct node {
    struct config *cfg;
    struct keyset *keys;
    struct roster *roster;
    struct envelope_keyring *keyring;
    struct store *store;
    void *zctx;
    struct loop *loop;
    struct zap *zap;
    struct peers *peers;
    struct api *api;
    int signal_fd;
    int64_t started_ms;
    bool is_batch_dirty; /* something was appended since the last commit */
    size_t batch_count;  /* envelopes in the open batch */
    struct stats *stats;
    /* Senders already told, since start, that an envelope of theirs could
     * not be opened here: told once each, so that two nodes that cannot
     * read each other do not answer each other's receipts forever. */
    char told_unreadable[ROSTER_MAX_MEMBERS][UTIL_MEMBER_ID_MAX + 1];
    size_t n_told_unreadable;
    /* Receipt entries owed this round: node_commit seals one receipt per
     * sender and log (split beyond RECEIPT_MAX_ENTRIES) into the batch just
     * before it commits, so that receipts commit with what they are about. */
    struct node_answer *answers;
    size_t n_answers, cap_answers;
};

/* Loads keys, roster and store named by cfg (taking responsibility over
 * cfg), starts the ZAP handler, then binds and dials. Returns NULL on
 * failure (logged); cfg is freed either way. */
struct node *node_new(struct config *cfg);

/* Commits or rolls back, closes every socket, wipes keys. Accepts NULL. */
void node_free(struct node **np);

/* Runs the event loop until SIGTERM or SIGINT. Returns 0 or -1. */
int node_run(struct node *n);

/* Opens the store batch if none is open. Returns 0 or -1 (logged). Every
 * append must happen between this and the end of the loop round. */
int node_batch(struct node *n);

/* Seals the receipts owed this round into the open batch, commits it now
 * (also called after every loop round) and notifies peers and api with the
 * outcome. Returns 0 or -1. */
int node_commit(struct node *n);

/* True when member is this node's member. */
bool node_is_self(const struct node *n, const char *member);

/* Where a verified envelope was placed. */
struct node_placed {
    uint8_t id[ENVELOPE_HASH_BYTES];
    char log_peer[UTIL_MEMBER_ID_MAX + 1]; /* "" for the relayed log */
    uint64_t seq;
};

/* Seals payload into this node's own log(s) inside the open batch: one
 * relayed envelope for all recipients, or with is_direct one envelope per
 * recipient in the direct log to it (TLP:RED). recipients must be roster
 * members. Fills placed[0..*n_placed) (room for ENVELOPE_MAX_RECIPIENTS).
 * Records every recipient's delivery state (pending; delivered at once for
 * this member itself) in the same write group, for node receipts and the
 * api's delivery query. Nothing counts as posted until node_commit
 * succeeds. Returns 0, or -1 with a one-line reason for the client in
 * *reason. */
int node_post(struct node *n, const uint8_t *payload, size_t len, const char *const *recipients,
              size_t n_recipients, bool is_direct, int64_t expires_at, struct node_placed *placed,
              size_t *n_placed, const char **reason);

/* Accepts an envelope from peer member `from` after full relay
 * verification: size, signature, roster key status, seq == held + 1,
 * prev_hash, direct-log routing. Appends it in the open batch and, when it
 * is addressed to us and not expired, adds it to the inbox. Equivocation is
 * kept as evidence and alarmed. An envelope addressed to us from another
 * member earns its sender a receipt entry in the same batch (DESIGN §4.11):
 * delivered, or rejected with a reason (expired, refused by the board,
 * cannot be opened), except a receipt, whose entries are recorded against
 * our posts instead. The entries of a round go out together, one receipt per
 * sender and log, when node_commit seals them.
 * Returns 1 when appended, 0 when it was a harmless duplicate, -1 when
 * rejected (reason logged and counted). */
int node_accept(struct node *n, const char *from, const uint8_t *env, size_t len);

/* Opens an inbox entry again for delivery. On success *body is the caller's
 * to free (envelope_body_free) and *info describes the envelope. Returns 0
 * or -1. */
int node_open_inbox(struct node *n, const struct store_inbox_entry *e, struct envelope_info *info,
                    struct envelope_body **body);

#endif
