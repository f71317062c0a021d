/*
 * route: the two paths every envelope takes into the store, route_post for
 * this member's own messages and route_accept for what peers relay, plus
 * the open batch they append to and the receipts owed for a round. It is
 * handed the store, the roster, the keyring and the counters at
 * construction and works on nothing else: it never commits a batch (the
 * node does, then calls route_end_round) and never touches a socket.
 */
#ifndef TMBUS_ROUTE_H
#define TMBUS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "envelope.h"
#include "message.h"
#include "roster.h"
#include "stats.h"
#include "store.h"

struct route;

/* What a route works on. Everything is borrowed: the caller keeps it alive
 * for the route's life (the roster until route_set_roster replaces it). */
struct route_parts {
    const char *member;    /* this node's member id; copied */
    const char *coalition; /* copied */
    struct store *store;
    struct envelope_keyring *keyring; /* opens what is addressed to member */
    struct roster *roster;
    struct stats *stats;
    struct audit *audit; /* records what peers send, accepted or refused; may be NULL */
};

/* A route over parts, or NULL when out of memory (logged). */
struct route *route_new(const struct route_parts *parts);

/* Frees the route, never what it borrows; clears *rp. Accepts NULL. */
void route_free(struct route **rp);

/* Puts a newer roster in force; the caller frees the old one after. */
void route_set_roster(struct route *rt, struct roster *roster);

/* Marks the roster in force as expired, or no longer (a fresh one came):
 * while it is, route_post refuses every post and route_accept drops every
 * envelope unacknowledged, both counted; what is held is still served. */
void route_set_roster_expired(struct route *rt, bool is_expired);

/* Puts the node in, or out of, the recovering state (PROTOCOL.md 4.6),
 * decided by the peer links: while in it, route_post refuses every post
 * (its own receipts too, which wait: see route_seal_answers), so that the
 * node never signs a seq its peers may already hold from before its data
 * was lost. */
void route_set_recovering(struct route *rt, bool is_recovering);
/* True while the node recovers its own logs from its peers. */
bool route_is_recovering(const struct route *rt);
/* True once this process sealed an envelope into one of its own logs (a
 * post or a receipt), committed or not. */
bool route_has_posted(const struct route *rt);
/* The one-line reason a post gets while the node recovers. */
#define ROUTE_RECOVERING_REASON                                                                    \
    "node is recovering its own log from peers: posts are refused until it holds its own logs' "   \
    "heads; retry later"
/* The roster in force, borrowed: valid until the next route_set_roster. */
struct roster *route_roster(const struct route *rt);

/* True when member is this node's member. */
bool route_is_self(const struct route *rt, const char *member);

/* Opens the store batch if none is open. Returns 0 or -1 (logged). Every
 * append must happen between this and the end of the loop round. */
int route_batch(struct route *rt);

/* True when something was appended to the open batch since the last
 * route_end_round; how many envelopes it holds. */
bool route_is_batch_dirty(const struct route *rt);
size_t route_batch_count(const struct route *rt);

/* Seals the receipts owed this round (see route_accept) into the open
 * batch, one receipt per sender, so that they commit with what they are
 * about. The node calls it just before committing.
 *
 * Every receipt goes in this member's direct log to the sender, whatever
 * log the envelopes it answers came in. In the relayed log, every relay
 * would see the recipients of seq n of a sender's log answer it in the
 * next round: the recipient list, which a relay never learns otherwise (it
 * is inside the sealed body). A direct log is sent only over the link
 * between its two members, so no third node stores or forwards a receipt.
 * The trade-off: a receipt waits for that link. Between members that link
 * (a mesh) it arrives in the same round as before; between members that
 * never link (a line A-B-C, A and C) the post stays pending at the
 * poster's node until they do, where relayed receipts would have arrived
 * a round later through B. What a relay still learns is what any envelope
 * shows: a relayed post's origin, size bucket and number of recipients
 * (its stanzas), and that two members it links exchange direct envelopes,
 * never whose receipt is about what. */
void route_seal_answers(struct route *rt);
/* Receipt entries kept, while the node recovers, for after it has: at
 * most this many (each is about 1 KiB); more are counted
 * receipts.deferred-dropped and their senders' posts stay pending. */
#define ROUTE_DEFERRED_MAX 4096

/* Forgets the round: receipts owed (kept while recovering), the dirty flag and the batch count.
 * The node calls it after every commit attempt, once listeners were told. */
void route_end_round(struct route *rt);

/* Where a verified envelope was placed. */
struct route_placed {
    uint8_t id[ENVELOPE_HASH_BYTES];
    char log_peer[UTIL_MEMBER_ID_MAX + 1]; /* "" for the relayed log */
    uint64_t seq;
};

/* Why a post's recipients cannot be used; ROUTE_RECIPIENTS_OK when they
 * can. The api answers a client with these before anything is sealed, and
 * route_post checks them again for every post, its own receipts included. */
enum route_recipients {
    ROUTE_RECIPIENTS_OK = 0,
    ROUTE_RECIPIENTS_COUNT,       /* not 1..ENVELOPE_MAX_RECIPIENTS names */
    ROUTE_RECIPIENTS_BAD_ID,      /* a name is not a member id */
    ROUTE_RECIPIENTS_UNKNOWN,     /* a name is not a member of the roster in force */
    ROUTE_RECIPIENTS_TWICE,       /* a name appears twice */
    ROUTE_RECIPIENTS_RED_TO_SELF, /* a direct (TLP:RED) post names this member */
};

/* The recipient rule: 1..ENVELOPE_MAX_RECIPIENTS member ids, each in the
 * roster in force, none twice; each name is checked in that order before
 * the next. Returns the first fault found. */
enum route_recipients route_check_recipients(const struct route *rt, const char *const *names,
                                             size_t n);

/* The direct-log rule: a TLP:RED post travels member to member, never to
 * this member itself. Returns ROUTE_RECIPIENTS_OK or _RED_TO_SELF. */
enum route_recipients route_check_direct(const struct route *rt, const char *const *names,
                                         size_t n);

/* A one-line reason for a client; "" for ROUTE_RECIPIENTS_OK. */
const char *route_recipients_reason(enum route_recipients fault);

/* Seals the payload viewed by msg (its bytes are what is sealed) into this
 * member's own log(s) inside the open batch: one
 * relayed envelope for all recipients, or with is_direct one envelope per
 * recipient in the direct log to it (TLP:RED). recipients must be roster
 * members. Fills placed[0..*n_placed) (room for ENVELOPE_MAX_RECIPIENTS).
 * Records every recipient's delivery state (pending; delivered at once for
 * this member itself) in the same write group, for receipts and the api's
 * delivery query. Nothing counts as posted until the batch commits.
 * Returns 0, or -1 with a one-line reason for the client in *reason. */
int route_post(struct route *rt, const struct message *msg, const char *const *recipients,
               size_t n_recipients, bool is_direct, int64_t expires_at, struct route_placed *placed,
               size_t *n_placed, const char **reason);

/* Accepts an envelope from peer member `from` after full relay
 * verification: size, roster key status, direct-log routing, seq == held +
 * 1 and prev_hash first, then the signature, checked only for an envelope
 * that would be appended or kept as evidence (a duplicate or an envelope of
 * a halted log costs no signature check, and a copy of a held envelope,
 * known by its signature, no hashing either). Appends it in the open batch and, when it
 * is addressed to us and not expired, applies it to the board and adds it
 * to the inbox. Equivocation is kept as evidence and alarmed. An envelope
 * addressed to us from another member earns its sender a receipt entry:
 * delivered, or rejected with a reason (expired, refused by the board,
 * cannot be opened), except a receipt, whose entries are recorded against
 * our posts instead. A round's entries go out together when
 * route_seal_answers seals them. Returns 1 when appended, 0 when it was a
 * harmless duplicate, kept as evidence, or dropped because its log is
 * halted or the roster has expired (resending it would change nothing),
 * -1 when rejected (reason logged and counted). */
int route_accept(struct route *rt, const char *from, const uint8_t *env, size_t len);

#define ROUTE_RUN_MAX 4096 /* envelopes in one run: a batch frame holds fewer */

/*
 * Accepts a run: envs[0..n) (lens[i] bytes each, n <= ROUTE_RUN_MAX), meant
 * to be consecutive envelopes of one log, from peer member `from`. Every
 * envelope gets every check route_accept makes but the signature; when the
 * run's first envelope chains to our head and every later one to the one
 * before it (seq + 1, prev_hash = its id), only the last signature is
 * verified: the id covers the signature, so that one signature vouches for
 * the whole chain below it (PROTOCOL.md 4.3). Envelopes we hold already
 * at the front of the run are dropped as duplicates first. When the run
 * does not chain, or its last signature fails (counted run.refused,
 * logged), each envelope goes through
 * route_accept in turn, so the good prefix is kept and the first bad one is
 * refused with its own reason; the rest of the run is then dropped unread.
 * Borrows the buffers for the call. Returns 1 when something was appended,
 * 0 when nothing was and nothing was refused, -1 when an envelope was
 * refused (the caller resynchronises).
 */
int route_accept_run(struct route *rt, const char *from, const uint8_t *const *envs,
                     const size_t *lens, size_t n);

/* Opens an inbox entry again for delivery; its signature is checked again
 * unless this process added the entry under the roster in force. An entry
 * route_accept added lately under that roster is handed out from memory
 * the first time, with no store read or decryption (its body is kept,
 * bounded in count and bytes, until then). On
 * success *body is the caller's to free (envelope_body_free) and *info
 * describes the envelope. Returns 0 or -1 (logged, except for an entry
 * retention pruned, which is counted as retention.inbox-pruned). */
int route_open_inbox(struct route *rt, const struct store_inbox_entry *e,
                     struct envelope_info *info, struct envelope_body **body);

#endif
