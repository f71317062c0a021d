/*
 * peer: links to other members' nodes and replication over them
 * (proto/PROTOCOL.md §7, proto/peer.proto). Listens with a ROUTER, dials with one DEALER per
 * peer, CurveZMQ on both; streams what each peer lacks in log order under a
 * credit window and acks by vector after each commit. Never acknowledges
 * anything the store has not committed; never relays a direct (TLP:RED)
 * log to anyone but its named recipient.
 */
#ifndef TMBUS_PEER_H
#define TMBUS_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "config.h"
#include "keys.h"
#include "loop.h"
#include "route.h"
#include "stats.h"
#include "store.h"
#include "util.h"

struct peers;

/* What the node made of a roster a peer sent (peers_roster_fn). */
enum peers_roster_outcome {
    PEERS_ROSTER_TAKEN,   /* the direct successor: checked, kept, in force now */
    PEERS_ROSTER_HELD,    /* one this node trusts already (the one in force or before) */
    PEERS_ROSTER_AHEAD,   /* a later version than the successor: a Hello tells the peer ours */
    PEERS_ROSTER_REFUSED, /* refused: the node logged and counted why */
};

/* Hands the node a roster a peer sent: buf (len bytes, at most
 * ROSTER_MAX_SIZE, unverified) from member `from`. The node judges it
 * against the roster in force (roster_verify_update), keeps it in the open
 * batch and puts it in force at once, and reloads the links after the
 * round (never during this call). *version is the version the roster
 * says, 0 when it could not be read. Never blocks. */
typedef enum peers_roster_outcome (*peers_roster_fn)(void *arg, const char *from,
                                                     const uint8_t *buf, size_t len,
                                                     uint64_t *version);

/* What the links work with, all borrowed for their life (cfg until the
 * next peers_reload). */
struct peers_parts {
    const struct config *cfg;
    const struct keyset *keys; /* the transport key of every socket (peers_set_transport) */
    void *zctx;
    struct loop *loop;
    struct store *store; /* heads and envelopes to stream */
    struct route *route; /* where received envelopes go; the roster */
    struct stats *stats;
    /* Our audit log: checkpoints sent to peers and cosigned, theirs
     * checked and cosigned (PROTOCOL.md 13.1). NULL: no exchange. */
    struct audit *audit;
    peers_roster_fn on_roster; /* rosters peers send; NULL: ignored */
    void *roster_arg;
};

/* Binds the peer socket (if configured) and dials every peer the config
 * says to dial; registers everything with parts->loop. The ZAP handler
 * must already be running. Returns NULL on failure (logged). */
struct peers *peers_new(const struct peers_parts *parts);

/* Whether a client waits for the round's commit (node.c gives
 * api_is_waiting). */
typedef bool (*peers_waiting_fn)(void *arg);

/* Tells p how to learn whether a client waits: while one does, a round
 * reads peers' messages for at most limits.peer_round_ms (PROTOCOL.md
 * 7.6); until this is called, or while none waits, rounds are not timed.
 * Never blocks. */
void peers_set_waiting(struct peers *p, peers_waiting_fn fn, void *arg);

/* Closes every link. Accepts NULL. */
void peers_free(struct peers **pp);

/* A commit listener (arg is the struct peers), called before the route
 * forgets the round: on success, sends vectors (acks) for what was
 * committed and streams more; on failure, asks every peer to resend from
 * our committed heads. */
void peers_after_commit(void *arg, bool is_committed);

/* Puts a reloaded configuration in force and re-reads the route's roster:
 * closes links to members that are gone or whose transport key changed
 * (redialling with the new key) and dials new ones. When it closed any, it
 * also stops and restarts listening, so that every connection to our
 * ROUTER authenticates again under the new roster; the bind is retried on
 * a timer while the port is still held. The caller frees the old
 * configuration after. */
void peers_reload(struct peers *p, const struct config *cfg);

/* Makes keys (borrowed until the next call) our CURVE keys for the links.
 * When its transport key differs from the one in use (a rotation retired
 * the old one, PROTOCOL.md 3.4), every dialled link is dialled again and
 * the ROUTER listens again with the new server key, so that each peer
 * authenticates anew; else only the borrowed pointer changes. */
void peers_set_transport(struct peers *p, const struct keyset *keys);

struct peer_status {
    char member[UTIL_MEMBER_ID_MAX + 1];
    const char *state; /* "down", "connecting", "up" */
    int64_t silent_ms; /* -1: never heard */
    uint64_t lag;      /* envelopes it lacks that we hold */
    uint64_t behind;   /* envelopes we lack that it holds */
};

/* Fills out[0..max) with one entry per known peer; returns how many. */
size_t peers_status(struct peers *p, struct peer_status *out, size_t max);

/* Has every link send a Hello after the next commit, so that each peer
 * streams again from what this node holds: for what was dropped unacked
 * while the roster had expired. Never blocks. */
void peers_resync(struct peers *p);

#endif
