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

struct node;
struct api;

/* Binds the client socket and registers it with the node's loop. The ZAP
 * handler must already be running. Returns NULL on failure (logged). */
struct api *api_new(struct node *n);

/* Closes the socket; pending receipts are dropped (their posts were not
 * committed, so the clients never got an id). Accepts NULL. */
void api_free(struct api **ap);

/* Called by the node after every commit attempt: on success sends the
 * receipts and cursor acks waiting for it and pushes new deliveries; on
 * failure answers the waiting requests with CODE_INTERNAL. */
void api_after_commit(struct api *a, bool is_committed);

#endif
