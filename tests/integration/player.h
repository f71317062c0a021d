/*
 * player: the test playing roster member M itself on a raw libzmq DEALER,
 * over CurveZMQ with M's real keys and no client library. It owns M's keys,
 * the roster as the node trusts it and the socket to the node's peer
 * endpoint; it speaks the peer protocol by hand so that a test can send
 * what a well-behaved node never would. Test code only: every helper either
 * succeeds or fails the running test.
 */
#ifndef TMBUS_PLAYER_H
#define TMBUS_PLAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "fed.h"
#include "keys.h"
#include "peer.pb-c.h"
#include "roster.h"

#define PLAYER_ANSWER_MS    5000 /* how long the node may take to ack M's log */
#define PLAYER_HEARTBEAT_MS 200  /* how often M speaks while the test waits */
#define PLAYER_PEER_VERSION 1

/* M on a DEALER to one node. */
struct player {
    void *zctx;
    struct fed *fed;
    size_t node;           /* the node under test */
    struct keyset *keys;   /* M's member keys: what it seals and dials with */
    struct roster *roster; /* as the node trusts it */
    struct envelope_keyring *keyring;
    void *sock; /* DEALER to the node's peer socket, once dialled */
    int64_t last_sent_ms;
};

/* Returns a CURVE DEALER connected to endpoint, with linger 0. pk and sk
 * are 32 bytes each, or 40-character Z85 text when is_z85; server_pk is
 * 32 bytes. The caller closes it. Does not block. */
void *player_dealer(void *zctx, const void *pk, const void *sk, bool is_z85,
                    const uint8_t *server_pk, const char *endpoint);

/* Sends len bytes as one frame on s, blocking while the queue is full. */
void player_send_bytes(void *s, const void *data, size_t len);

/* Packs m and sends it as one frame on s. */
void player_send_message(void *s, const Tmbus__Peer__PeerMessage *m);

/* Sends an opening Hello with an empty vector, naming roster_version. */
void player_send_hello(void *s, uint64_t roster_version);

/* Sends env (len bytes, a sealed envelope) in an Envelope message. */
void player_send_envelope(void *s, const uint8_t *env, size_t len);

/* Sends a Heartbeat stamped now. */
void player_send_heartbeat(void *s);

/* Waits at most timeout_ms for one message on s. Returns its size, with
 * the bytes in *out (malloc'd, the caller frees), or -1 with *out NULL
 * when nothing came. */
int player_recv_within(void *s, int timeout_ms, uint8_t **out);

/* The highest seq of origin's relayed log in a list of vector entries, or
 * -1 when that log is not listed. */
int64_t player_entry_seq(Tmbus__Peer__VectorEntry **e, size_t n, const char *origin);

/* Sets p up as M facing node of f: M's keys from its key file, the roster
 * from f's roster file, and a context; nothing is dialled yet. */
void player_open(struct player *p, struct fed *f, size_t node);

/* M switches to the key generation in key_file: what p seals and dials
 * from now on uses it. */
void player_use_keys(struct player *p, const char *key_file);

/* Dials the node's peer socket as M with M's current transport key. */
void player_dial(struct player *p);

/* Closes the socket and frees everything p holds; p may be half open. */
void player_close(struct player *p);

/* Reads what the node sends until a Hello or Vector says it holds M's
 * relayed log up to exactly want (the node's commit ack), speaking a
 * heartbeat now and then so the link stays up. Any other message is read
 * and dropped: Hellos the node sends to resynchronise after a rejection,
 * heartbeats, and M's own envelopes streamed back. Fails the test when the
 * ack says more than want, or none comes within PLAYER_ANSWER_MS. If
 * hello_reply is not NULL it is set when a Hello{reply=true} was seen. */
void player_wait_ack(struct player *p, uint64_t want, bool *hello_reply);

/* Seals payload (a C string) as M at seq of M's relayed log after prev
 * (NULL for seq 1), for the node under test's member alone. Returns the
 * envelope (malloc'd, the caller frees) of *len bytes; info gets its id. */
uint8_t *player_seal(struct player *p, uint64_t seq, const uint8_t *prev, const char *payload,
                     size_t *len, struct envelope_info *info);

#endif
