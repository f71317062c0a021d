/*
 * node: assembles a running tmbusd from its parts (configuration, keys,
 * roster, store, route, api, peers, ZAP handler, event loop) and owns the
 * group commit: modules append inside the open batch, and after every loop
 * round the node commits and tells each registered listener the outcome,
 * which only then acknowledges. The node's state is private; nothing but
 * main uses this header.
 */
#ifndef TMBUS_NODE_H
#define TMBUS_NODE_H

#include <stdbool.h>

#include "config.h"

struct node;

/* Loads keys, roster and store named by cfg (taking responsibility over
 * cfg), starts the ZAP handler, then binds and dials. Returns NULL on
 * failure (logged); cfg is freed either way. */
struct node *node_new(struct config *cfg);

/* Commits or rolls back, closes every socket, wipes keys. Accepts NULL. */
void node_free(struct node **np);

/* Runs the event loop until SIGTERM or SIGINT. Blocks. Returns 0 or -1. */
int node_run(struct node *n);

/* Called after every commit attempt with arg and whether the batch is now
 * durable; a listener acknowledges only what was committed. */
typedef void (*node_commit_fn)(void *arg, bool is_committed);

/* Registers fn(arg) to hear about every commit attempt, after those
 * registered before it. Returns 0, or -1 when the list is full. */
int node_listen(struct node *n, node_commit_fn fn, void *arg);

#endif
