/*
 * api: the client socket (proto/api.proto). A CurveZMQ ROUTER whose
 * clients the ZAP handler admits from the node's configuration; each
 * request is checked against the client's role and clearance. Posts are
 * answered only after the node committed them; subscriptions push inbox
 * deliveries under a window and move the client's durable cursor on ack.
 * Never shows a client a message above its TLP clearance.
 */
#ifndef TMBUS_API_H
#define TMBUS_API_H

#include <stdbool.h>

#include "audit.h"
#include "config.h"
#include "keys.h"
#include "loop.h"
#include "peer.h"
#include "route.h"
#include "stats.h"
#include "store.h"

struct api;

/* The longest reason api_set_revoked keeps, with its NUL. */
#define API_REVOKED_REASON_MAX 160

/* Hands the node a roster update an admin client published: buf (len
 * bytes, unverified). The node judges it against the roster in force
 * (roster_verify_update), keeps it in the open batch and puts it in force.
 * Returns 0 when taken, -1 with a one-line reason in why (why_size bytes)
 * when refused (the node logged and counted it). Never blocks. */
typedef int (*api_roster_fn)(void *arg, const uint8_t *buf, size_t len, char *why, size_t why_size);

/* What the api works with, all borrowed for its life (cfg until the next
 * api_reload). keys and zctx are used only to open the socket. */
struct api_parts {
    const struct config *cfg;
    const struct keyset *keys;
    void *zctx;
    struct loop *loop;
    struct store *store; /* cursors, board queries, deliveries */
    struct route *route; /* posts, the roster in force, inbox entries */
    struct stats *stats;
    struct peers *peers;     /* for status; may be NULL */
    struct audit *audit;     /* records every request by whom; may be NULL */
    api_roster_fn on_roster; /* roster publishes; NULL: refused */
    void *roster_arg;
};

/* Binds the client socket and registers it with parts->loop. The ZAP
 * handler must already be running. Returns NULL on failure (logged). */
struct api *api_new(const struct api_parts *parts);

/* Puts a reloaded configuration in force: clients, keys, roles and
 * clearances are read from cfg from now on, and every subscription whose
 * key cfg no longer gives its client ends now. The caller frees the old
 * configuration after. */
void api_reload(struct api *a, const struct config *cfg);
/* Tells the api whether the roster in force revoked this node's own
 * member: why is a one-line reason, or NULL when it did not (again). From
 * the call that first gives a reason, every subscription ends (its client
 * is told why) and every request but status and audit is refused with
 * CODE_DENIED and why, until a call with NULL. Copies why. Never blocks. */
void api_set_revoked(struct api *a, const char *why);

/* Closes the socket; pending receipts are dropped (their posts were not
 * committed, so the clients never got an id). Accepts NULL. */
void api_free(struct api **ap);

/* A commit listener (arg is the struct api): after every commit attempt,
 * on success sends the receipts and cursor acks waiting for it and pushes
 * new deliveries; on failure answers the waiting requests with
 * CODE_INTERNAL. Accepts NULL. */
void api_after_commit(void *arg, bool is_committed);

/* Whether a client waits for this node's next commit (arg is the struct
 * api): a request is queued on the client socket, or a post or ack read
 * this round is answered after the commit. What cuts a round that reads
 * peers short (peers_set_waiting). Never blocks. */
bool api_is_waiting(void *arg);

/* How many subscription sessions are open (what /metrics shows as client
 * sessions). Never blocks. */
size_t api_session_count(const struct api *a);

#endif
