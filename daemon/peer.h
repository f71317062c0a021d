/*
 * peer: links to other members' nodes and replication over them (DESIGN
 * §4.1, proto/peer.proto). Listens with a ROUTER, dials with one DEALER per
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

#include "util.h"

struct node;
struct peers;

/* Binds the peer socket (if configured) and dials every peer the config
 * says to dial; registers everything with the node's loop. The ZAP handler
 * must already be running. Returns NULL on failure (logged). */
struct peers *peers_new(struct node *n);

/* Closes every link. Accepts NULL. */
void peers_free(struct peers **pp);

/* Called by the node after every commit attempt: on success, sends vectors
 * (acks) for what was committed and streams more; on failure, asks every
 * peer to resend from our committed heads. */
void peers_after_commit(struct peers *p, bool is_committed);

/* Re-reads the roster: closes links to members that are gone or whose
 * transport key changed, dials new ones. */
void peers_roster_changed(struct peers *p);

struct peer_status {
    char member[UTIL_MEMBER_ID_MAX + 1];
    const char *state; /* "down", "connecting", "up" */
    int64_t silent_ms; /* -1: never heard */
    uint64_t lag;      /* envelopes it lacks that we hold */
    uint64_t behind;   /* envelopes we lack that it holds */
};

/* Fills out[0..max) with one entry per known peer; returns how many. */
size_t peers_status(struct peers *p, struct peer_status *out, size_t max);

#endif
